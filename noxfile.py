"""Test sessions, one per backend and device: ``nox`` runs the CPU set.

``nox -l`` lists every session. GPU sessions (``tests-<backend>-gpu``) install the
CUDA builds and fail loudly when no GPU is visible: they never pass by skipping.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
CPU_PINS = str(ROOT / "constraints" / "cpu.txt")

# backend -> (requirements on CPU, requirements on GPU)
BACKENDS: dict[str, tuple[list[str], list[str]]] = {
    "numpy": (["numpy"], []),
    "array_api_strict": (["array-api-strict"], []),
    "jax": (["jax", "keras"], ["jax[cuda12]", "keras"]),
    "torch": (["torch", "keras", "pysiglib"], ["torch", "keras"]),
    "tensorflow": (["tensorflow-cpu", "keras"], ["tensorflow[and-cuda]", "keras"]),
    "cupy": ([], ["cupy-cuda12x"]),
    "dask": (["dask[array]", "distributed"], []),
}
CPU_BACKENDS = ["numpy", "array_api_strict", "jax", "torch", "tensorflow", "dask"]
GPU_BACKENDS = ["jax", "torch", "tensorflow", "cupy"]


def _install_common(session: nox.Session, pins: list[str]) -> None:
    session.install(*pins, "numpy", "setuptools", "wheel")
    # iisignature's build imports numpy, so it builds against the numpy just installed.
    session.install(*pins, "--no-build-isolation", *nox.project.dependency_groups(PYPROJECT, "oracle"))
    session.install(*pins, *nox.project.dependency_groups(PYPROJECT, "test"))


def _require_gpu(session: nox.Session) -> None:
    if shutil.which("nvidia-smi") is None:
        session.error("this is a GPU session but no NVIDIA GPU is visible (nvidia-smi not found): failing")
    session.run("nvidia-smi", "-L", external=True)


def _make_session(backend: str, device: str) -> None:
    cpu_reqs, gpu_reqs = BACKENDS[backend]
    reqs = cpu_reqs if device == "cpu" else gpu_reqs

    @nox.session(name=f"tests-{backend}-{device}", default=device == "cpu")
    def tests(session: nox.Session) -> None:
        if device == "gpu":
            _require_gpu(session)
        pins = ["-c", CPU_PINS] if device == "cpu" else []
        _install_common(session, pins)
        if reqs:
            session.install(*pins, *reqs)
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
        session.run("pytest", *session.posargs, env=env)


for _backend in CPU_BACKENDS:
    _make_session(_backend, "cpu")
for _backend in GPU_BACKENDS:
    _make_session(_backend, "gpu")


@nox.session(default=True)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format check) and mypy on the package."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"), "array-api-compat")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the established libraries (see benchmarks/README.md)."""
    pins = ["-c", CPU_PINS]
    session.install(*pins, "numpy", "setuptools", "wheel")
    session.install(*pins, "--no-build-isolation", "iisignature")
    session.install(*pins, *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.install(*pins, "jax", "torch", "signax", "pysiglib", "-e", ".")
    session.run("python", "-m", "benchmarks", *session.posargs)
