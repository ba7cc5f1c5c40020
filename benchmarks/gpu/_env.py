"""Where the GPU kit runs: the machine, the unpacked wheels, the device check, the pytest stages."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.gpu import _pytest_failures, _wheels

if TYPE_CHECKING:
    from benchmarks.gpu._kit import Kit
    from benchmarks.gpu._results import Results

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WHEELS = REPO / ".gpu-wheels"
# The distributions whose versions go into the results' meta.
VERSIONS = ("numpy", "jax", "jaxlib", "torch", "cupy", "keras", "array_api_compat", "signax", "pysiglib")
# Every test stage's failures, appended as they are reported (the device returns at most 8 files:
# gpu_kit.json, gpu_kit.md, three stage logs and this one).
FAILURES_NAME = "pytest_failures.txt"
# pytest-xdist workers for the whole test body on the GPU machine (16 cores, one GPU shared).
TEST_WORKERS = 12
# Test selections: the whole test body on the GPU; a narrow, fast one in quick CPU mode.
TESTS = {
    "numerics": (["tests/test_gpu_numerics.py"], ["tests/test_gpu_numerics.py", "-k", "highest"]),
    "tests": (["tests"], ["tests/test_signature.py", "-k", "lives_on_the_input_device or integer_input"]),
    "keras-torch": (["tests/test_keras.py"], ["tests/test_keras.py", "-k", "symbolic"]),
}


def meta(device: str, *, quick: bool) -> dict[str, Any]:
    """The machine and the run, for the head of the results."""
    gpu = "none"
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        gpu = proc.stdout.strip() or proc.stderr.strip()
    return {
        "device": device,
        "mode": "quick" if quick else "full",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "gpus": gpu,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def install(wheels: Path, site: Path, results: Results) -> None:
    """Unpack ``wheels`` into ``site``, put ``site/main`` on this process's path, record the versions."""
    start = time.monotonic()
    report = _wheels.install(wheels, site)
    main = site / "main"
    if main.is_dir():
        sys.path.insert(0, str(main))
    importlib.invalidate_caches()
    results.data["install"] = report
    versions = {name: _version(name) for name in VERSIONS}
    results.data["meta"]["versions"] = versions
    results.stage("install", "ok", time.monotonic() - start)


def _version(name: str) -> str:
    """The installed version of ``name``'s distribution (CuPy's is named per CUDA version), or ``-``."""
    candidates = [name.replace("_", "-")]
    if name == "cupy":
        candidates += ["cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x"]
    found = (_wheels.installed_version(c) for c in candidates)
    return next((v for v in found if v), "-")


def require_device(device: str, results: Results) -> None:
    """On ``--device gpu``: every framework must see the GPU (a GPU run never passes by skipping)."""
    if device != "gpu":
        return
    problems = []
    try:
        import jax

        if not jax.devices("gpu"):
            problems.append("jax sees no GPU")
    except Exception as exc:
        problems.append(f"jax: {exc}")
    try:
        import torch

        if not torch.cuda.is_available():
            problems.append("torch sees no CUDA device")
    except Exception as exc:
        problems.append(f"torch: {exc}")
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        problems.append(f"cupy: {exc}")
    if problems:
        results.stage("device", "failed", 0.0, problems=problems)
        msg = "--device gpu but " + "; ".join(problems)
        raise SystemExit(msg)
    results.stage("device", "ok", 0.0)


def release_memory() -> None:
    """Hand cached device memory back (PyTorch's and CuPy's pools), for the subprocesses that follow."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()


def run_tests(kit: Kit, stage: str) -> None:
    """The stage's test selection under pytest on the kit's device, logged under ``--out``."""
    full, quick = TESTS[stage]
    selection = quick if kit.quick else full
    backends = "jax,torch,cupy" if kit.device == "gpu" else "jax,torch"
    env = {
        **os.environ,
        **kit.device_env(),
        "KERAS_SIG_TEST_DEVICE": kit.device,
        "KERAS_SIG_TEST_BACKENDS": "torch" if stage == "keras-torch" else backends,
        "KERAS_BACKEND": "torch" if stage == "keras-torch" else "jax",
        "PYTHONPATH": os.pathsep.join(kit.pythonpath(ours=True)),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        # each failure written to one file as it happens: a stage cut off at its cap still says which
        _pytest_failures.ENV: str(kit.out / FAILURES_NAME),
        _pytest_failures.STAGE_ENV: stage,
    }
    log = kit.out / f"pytest_{stage}.log"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *selection,
        "-q",
        "-rfE",
        "--durations=15",
        "-p",
        "no:cacheprovider",
        "-p",
        "benchmarks.gpu._pytest_failures",
    ]
    if stage == "tests" and kit.device == "gpu" and importlib.util.find_spec("xdist") is not None:
        # The machine has 16 cores: compiling and Python overhead, not the GPU, bound the test body.
        # pytest-benchmark warns under xdist, and the test suite makes warnings errors.
        cmd += ["-n", str(TEST_WORKERS), "-p", "no:benchmark"]
    start = time.monotonic()
    status = "ok"
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd,
                cwd=REPO,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=kit.budget.cap(900),
                check=False,
            )
            if proc.returncode != 0:
                status = f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            status = "timeout"
    tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
    failures = kit.out / FAILURES_NAME
    failed = failures.read_text().count(f"[{stage}] ") if failures.exists() else 0
    kit.results.stage(
        stage, status, time.monotonic() - start, summary=" ".join(tail), log=log.name, failures=failed
    )
