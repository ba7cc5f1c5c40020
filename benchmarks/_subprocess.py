"""Run a worker script in a fresh interpreter, ours or keras-sig 1.0.2's.

A worker reads a JSON spec (plus ``.npy`` arrays) from a temporary directory
and writes a JSON answer there; its stdout and stderr are kept only to explain
a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _config
from benchmarks._workers import _protocol


class WorkerTimeoutError(RuntimeError):
    """The worker ran past its timeout and was killed (``partial``: what it had written, or None)."""

    partial: dict[str, Any] | None = None


class WorkerError(RuntimeError):
    """The worker crashed or wrote no answer."""


def worker_env(
    *, ours: bool, keras_backend: str | None = None, pythonpath: list[str] | None = None
) -> dict[str, str]:
    """The environment of a worker: our checkout on the path, or nothing of it.

    ``pythonpath`` is put on the path after the checkout (the GPU kit's unpacked wheels).
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for key in [k for k in env if k.startswith("KERAS_SIG_BENCH_") and k != _protocol.ENV_TORCH_THREADS]:
        env.pop(key)  # the torch thread count stays: the workers set it too
    entries = ([str(_config.REPO)] if ours else []) + list(pythonpath or [])
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    return env


def run_worker(
    script: str,
    spec: dict[str, Any],
    *,
    arrays: dict[str, np.ndarray] | None = None,
    ours: bool,
    keras_backend: str | None = None,
    timeout: float,
    python: Path | None = None,
    pythonpath: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``benchmarks/_workers/<script>`` and return its JSON answer.

    ``ours=True`` runs this interpreter with the checkout on ``PYTHONPATH``;
    ``ours=False`` runs keras-sig 1.0.2's interpreter from a scratch directory,
    so only its own ``keras_sig`` can be imported. ``python`` overrides the
    interpreter and ``pythonpath`` adds folders to the path (the GPU kit runs
    1.0.2 in its own interpreter with 1.0.2's unpacked wheel on the path).
    """
    if python is None and ours:
        python = Path(sys.executable)
    elif python is None:
        python = _config.legacy_python()
        if python is None:
            msg = f"keras-sig 1.0.2's virtualenv not found at {_config.legacy_venv()}"
            raise FileNotFoundError(msg)
    with tempfile.TemporaryDirectory(prefix="keras_sig_bench_") as tmp:
        work = Path(tmp)
        files = {}
        for name, arr in (arrays or {}).items():
            path = work / f"{name}.npy"
            np.save(path, arr)
            files[name] = str(path)
        spec = {**spec, "arrays": files}
        spec_path, out_path = work / "spec.json", work / "out.json"
        spec_path.write_text(json.dumps(spec))
        cmd = [str(python), str(_config.WORKERS / script), str(spec_path), str(out_path)]
        try:
            proc = subprocess.run(
                cmd,
                cwd=work,
                env=worker_env(ours=ours, keras_backend=keras_backend, pythonpath=pythonpath),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            msg = f"timeout after {timeout:g} s"
            error = WorkerTimeoutError(msg)
            if out_path.exists():
                error.partial = json.loads(out_path.read_text())
            raise error from exc
        if proc.returncode != 0 or not out_path.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            msg = f"{script} exited with {proc.returncode}:\n{tail}"
            raise WorkerError(msg)
        return json.loads(out_path.read_text())
