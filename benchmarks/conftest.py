"""pytest configuration of the benchmark suite (see benchmarks/README.md)."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:  # plain `pytest benchmarks/` does not put the checkout on the path
    sys.path.insert(0, _REPO)

from benchmarks import _config  # noqa: E402
from benchmarks._record import META_KEY  # noqa: E402
from benchmarks._workers import _protocol  # noqa: E402

_GROUP_FILES = {
    "signature": "test_signature.py",
    "keras": "test_keras_layer.py",
    "memory": "test_memory.py",
    "logsignature": "test_logsignature.py",
    "methods": "test_methods.py",
    "kernels": "test_kernels.py",
}
collect_ignore = [name for group, name in _GROUP_FILES.items() if group not in _config.groups()]

_OUTCOMES: dict[str, dict[str, Any]] = {}

_VERSIONED = (
    "keras_sig",
    "numpy",
    "jax",
    "jaxlib",
    "torch",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "iisignature",
    "signax",
    "pysiglib",
    "signatory",
    "pytest-benchmark",
)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    found = {name: _version(name) for name in _VERSIONED}
    return {name: v for name, v in found.items() if v is not None}


def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark warns at session end when nothing was timed (all skipped,
    # --only matching nothing): a message, not an error.
    config.addinivalue_line("filterwarnings", "default::pytest_benchmark.logger.PytestBenchmarkWarning")
    # Every torch row (ours, signatory) runs on the same, explicit thread count.
    if importlib.util.find_spec("torch") is not None:
        _protocol.set_torch_threads()


def torch_threads() -> int | None:
    """PyTorch's intra-op threads in this process, or None if torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return int(torch.get_num_threads())


def pytest_report_header(config: pytest.Config) -> list[str]:
    grid = _config.grid()
    legacy = _config.legacy_python()
    return [
        f"keras_sig benchmarks: grid {grid.name}, groups {', '.join(_config.groups())}, "
        f"protocol {grid.settings.to_dict()}",
        f"keras-sig 1.0.2 virtualenv: {legacy or 'not found at ' + str(_config.legacy_venv())}",
        f"torch intra-op threads: {torch_threads() or 'torch not installed'}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Third-party warnings must not turn a measurement into a failure (the
    # project's pytest settings make warnings errors for the tests).
    for item in items:
        item.add_marker(pytest.mark.filterwarnings("default"))
    pattern = os.environ.get(_config.ENV_ONLY)
    if not pattern:
        return
    glob = f"*{pattern}*".lower()
    keep, drop = [], []
    for item in items:
        (keep if fnmatch.fnmatchcase(item.nodeid.lower(), glob) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    machine_info["keras_sig_bench"] = {
        "versions": versions(),
        "grid": _config.grid().name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch_threads(),
        "torch_thp": os.environ.get(_protocol.ENV_TORCH_THP) == "1",
    }


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    meta = next((value for key, value in report.user_properties if key == META_KEY), None)
    entry = _OUTCOMES.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed"})
    if meta is not None:
        entry["meta"] = meta
    if report.skipped:
        entry["outcome"] = "skipped"
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        entry["reason"] = reason.removeprefix("Skipped: ")
    elif report.failed:
        entry["outcome"] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        lines = (report.longreprtext or "").strip().splitlines()
        entry["reason"] = getattr(crash, "message", None) or (lines[-1] if lines else "failed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(_config.ENV_OUTCOMES)
    if path:
        Path(path).write_text(json.dumps(list(_OUTCOMES.values()), indent=1))


@pytest.fixture(scope="session")
def grid() -> _config.Grid:
    return _config.grid()
