"""Test sessions, one per backend and device: ``nox`` runs the CPU set.

``nox -l`` lists every session. GPU sessions (``tests-<backend>-gpu``) install the
CUDA builds and fail loudly when no GPU is visible: they never pass by skipping.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
CPU_PINS = str(ROOT / "constraints" / "cpu.txt")

# backend -> (requirements on CPU, requirements on GPU); "{cuda}" becomes the CUDA major
# version nvidia-smi reports (12 or 13), so the GPU builds match the driver's CUDA.
BACKENDS: dict[str, tuple[list[str], list[str]]] = {
    "numpy": (["numpy"], []),
    "array_api_strict": (["array-api-strict"], []),
    # signax: tests/test_logsignature.py checks the "words" log-signature against it on JAX.
    "jax": (["jax", "keras", "signax"], ["jax[cuda{cuda}]", "keras"]),
    "torch": (["torch", "keras", "pysiglib"], ["torch", "keras"]),
    "tensorflow": (["tensorflow-cpu", "keras"], ["tensorflow[and-cuda]", "keras"]),
    "cupy": ([], ["cupy-cuda{cuda}x"]),
    "dask": (["dask[array]", "distributed"], []),
}
CPU_BACKENDS = ["numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask"]
# sigkan, written for keras_sig 1.0.2 (tests/test_sigkan.py), in the CPU sessions of the Keras backends.
# Installed with --no-deps: its pins would otherwise let pip swap this library for 1.0.2.
SIGKAN = ["sigkan==0.2.0", "keras-efficient-kan==0.1.10"]
SIGNATORY = "signatory==1.2.6.1.9.0"  # 1.2.6 (the suffix names the torch it was released for)
# The oracles each CPU session installs (iisignature, from the "oracle" group, in all of them).
PEERS = {"jax": ["signax"], "torch": ["signatory", "pysiglib"]}
# sktime's wheel ships the UEA/UCR files examples/basic_motions.py reads (tests/test_sklearn.py);
# with --no-deps nothing else comes, and sktime itself is never imported.
DATASETS = ["sktime==1.2.0"]
GPU_BACKENDS = ["jax", "torch", "tensorflow", "cupy"]


def _install_common(session: nox.Session, pins: list[str]) -> None:
    session.install(*pins, "numpy", "setuptools", "wheel")
    # iisignature's build imports numpy, so it builds against the numpy just installed.
    session.install(*pins, "--no-build-isolation", *nox.project.dependency_groups(PYPROJECT, "oracle"))
    session.install(*pins, *nox.project.dependency_groups(PYPROJECT, "test"))


CUDA_MAJORS = (12, 13)  # the CUDA versions jax[cudaNN] and cupy-cudaNNx are published for


def cuda_major(nvidia_smi_output: str) -> int:
    """The CUDA major version in ``nvidia-smi``'s banner (``CUDA Version: 13.0``)."""
    match = re.search(r"CUDA Version:\s*(\d+)\.\d+", nvidia_smi_output)
    if match is None:
        raise ValueError("nvidia-smi reports no CUDA version (no 'CUDA Version: N.M' in its output)")
    major = int(match.group(1))
    if major not in CUDA_MAJORS:
        raise ValueError(f"CUDA {major} found; the GPU sessions know CUDA {CUDA_MAJORS}")
    return major


def _require_gpu(session: nox.Session) -> int:
    """Fail unless an NVIDIA GPU is visible; return the driver's CUDA major version."""
    if shutil.which("nvidia-smi") is None:
        session.error("this is a GPU session but no NVIDIA GPU is visible (nvidia-smi not found): failing")
    session.run("nvidia-smi", "-L", external=True)
    try:
        return cuda_major(str(session.run("nvidia-smi", external=True, silent=True)))
    except ValueError as exc:
        session.error(str(exc))
        raise  # unreachable: session.error raises


def _make_session(backend: str, device: str) -> None:
    cpu_reqs, gpu_reqs = BACKENDS[backend]
    reqs = cpu_reqs if device == "cpu" else gpu_reqs

    @nox.session(name=f"tests-{backend}-{device}", default=device == "cpu")
    def tests(session: nox.Session) -> None:
        wanted = reqs
        if device == "gpu":
            # PyPI's torch wheel brings its own CUDA runtime; a build for one CUDA comes from
            # download.pytorch.org (--index-url .../whl/cu130), which this setup does not reach.
            cuda = _require_gpu(session)
            wanted = [r.format(cuda=cuda) for r in reqs]
        pins = ["-c", CPU_PINS] if device == "cpu" else []
        _install_common(session, pins)
        if wanted:
            session.install(*pins, *wanted)
        session.install(*pins, "-e", ".")
        env = {
            "KERAS_SIG_TEST_BACKENDS": backend,
            "KERAS_SIG_TEST_DEVICE": device,
            "PYTHONHASHSEED": "0",
        }
        if backend in ("jax", "torch", "tensorflow"):
            env["KERAS_BACKEND"] = backend
        if backend == "jax" and device == "cpu":
            env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        if backend in ("jax", "torch", "tensorflow") and device == "cpu":
            session.install("--no-deps", *SIGKAN)
            env["KERAS_SIG_TEST_REQUIRE_SIGKAN"] = "1"  # a missing sigkan fails, never skips
        if device == "cpu":
            # The peers the session installs as oracles: tests/_backends.py's peer() fails without them.
            env["KERAS_SIG_TEST_REQUIRE_PEERS"] = ",".join(["iisignature", *PEERS.get(backend, [])])
        if backend == "torch" and device == "cpu":
            # signatory 1.2.6 has no wheel for today's torch: built from its sdist against the pinned
            # torch (no build isolation), about 5 minutes on 2 cores.
            session.install(*pins, "--no-build-isolation", "--no-deps", SIGNATORY)
        if backend == "numpy" and device == "cpu":
            session.install("--no-deps", *DATASETS)
            env["KERAS_SIG_TEST_REQUIRE_DATASETS"] = "1"  # missing dataset files fail, never skip
        # CPU sessions spread the tests over up to 4 worker processes (pytest-xdist); GPU
        # sessions run in one process, so the workers do not contend for one device's memory.
        workers = ["-n", "auto", "--maxprocesses", "4"] if device == "cpu" else []
        session.run("pytest", *workers, *session.posargs, env=env)


for _backend in CPU_BACKENDS:
    _make_session(_backend, "cpu")
for _backend in GPU_BACKENDS:
    _make_session(_backend, "gpu")


@nox.session(default=True)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format check), mypy on the package, and mypy on a user's script."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"), "array-api-compat")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # A user's script checked against the installed wheel, from outside the checkout (no config
    # file, no source tree on mypy's path): a wheel without keras_sig/py.typed fails here.
    session.install("--no-deps", ".")
    with tempfile.TemporaryDirectory(prefix="keras_sig_typing_") as tmp:
        shutil.copy(ROOT / "tests" / "typecheck" / "user_script.py", tmp)
        with session.chdir(tmp):
            session.run("mypy", "--strict", "--no-incremental", "user_script.py")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the established libraries (see benchmarks/README.md)."""
    pins = ["-c", CPU_PINS]
    session.install(*pins, "numpy", "setuptools", "wheel")
    session.install(*pins, "--no-build-isolation", "iisignature")
    session.install(*pins, *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.install(*pins, "jax", "torch", "signax", "pysiglib", "-e", ".")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(name="gpu-kit-cpu", default=True)
def gpu_kit_cpu(session: nox.Session) -> None:
    """The GPU kit (python -m benchmarks.gpu) in quick CPU mode, so it cannot rot between GPU runs."""
    pins = ["-c", CPU_PINS]
    _install_common(session, pins)
    session.install(*pins, "jax", "torch", "keras", "signax", "pysiglib", "-e", ".")
    out = Path(session.create_tmp()) / "gpu-kit"
    kit = ["python", "-m", "benchmarks.gpu", "--device", "cpu", "--quick", "--out", str(out)]
    session.run(*kit, *session.posargs)


@nox.session(default=True)
def docs(session: nox.Session) -> None:
    """The documentation (docs/): Sphinx with warnings as errors, its doctests, and --plot's tests."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"), "-e", ".")
    out = Path(session.create_tmp()) / "docs"
    env = {"KERAS_BACKEND": "jax", "KERAS_SIG_TEST_REQUIRE_MATPLOTLIB": "1", "MPLBACKEND": "Agg"}
    # -n: our own references must resolve (docs/conf.py lets other projects' names through).
    build = ["sphinx-build", "-W", "--keep-going", "-n", "-E", "docs"]
    session.run(*build, "-b", "html", str(out / "html"), env=env)
    session.run(*build, "-b", "doctest", str(out / "doctest"), env=env)  # the docstrings' examples
    session.run("pytest", "tests/test_plot.py", *session.posargs, env=env)
    session.log(f"HTML in {out / 'html'}")
