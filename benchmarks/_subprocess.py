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


class WorkerTimeoutError(RuntimeError):
    """The worker ran past its timeout and was killed."""


class WorkerError(RuntimeError):
    """The worker crashed or wrote no answer."""


def worker_env(*, ours: bool, keras_backend: str | None = None) -> dict[str, str]:
    """The environment of a worker: our checkout on the path, or nothing of it."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for key in [k for k in env if k.startswith("KERAS_SIG_BENCH_")]:
        env.pop(key)
    if ours:
        env["PYTHONPATH"] = str(_config.REPO)
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
) -> dict[str, Any]:
    """Run ``benchmarks/_workers/<script>`` and return its JSON answer.

    ``ours=True`` runs this interpreter with the checkout on ``PYTHONPATH``;
    ``ours=False`` runs keras-sig 1.0.2's interpreter from a scratch directory,
    so only its own ``keras_sig`` can be imported.
    """
    if ours:
        python = Path(sys.executable)
    else:
        found = _config.legacy_python()
        if found is None:
            msg = f"keras-sig 1.0.2's virtualenv not found at {_config.legacy_venv()}"
            raise FileNotFoundError(msg)
        python = found
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
                env=worker_env(ours=ours, keras_backend=keras_backend),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            msg = f"timeout after {timeout:g} s"
            raise WorkerTimeoutError(msg) from exc
        if proc.returncode != 0 or not out_path.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            msg = f"{script} exited with {proc.returncode}:\n{tail}"
            raise WorkerError(msg)
        return json.loads(out_path.read_text())
