"""A pytest plugin for the GPU kit: each failure written down the moment it is reported.

The kit's test stages run under a wall-clock cap; a stage killed at the cap
never prints pytest's summary, so its log shows ``F`` without saying which
test failed. Loaded with ``-p benchmarks.gpu._pytest_failures``, this plugin
appends, to the file named by ``KERAS_SIG_KIT_FAILURES``, one block per failed
or erroring test (its node id, the phase, and the lines of its report that
start with ``E``) as soon as pytest reports it. Under pytest-xdist only the
controlling process writes (the workers' reports reach it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ENV = "KERAS_SIG_KIT_FAILURES"
STAGE_ENV = "KERAS_SIG_KIT_STAGE"
MAX_LINES = 12


class _Recorder:
    """Appends each failed report to ``path``."""

    def __init__(self, path: Path, stage: str) -> None:
        self.path, self.stage = path, stage

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            with self.path.open("a") as fh:
                fh.write(f"[{self.stage}] {describe(report)}")


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(ENV)
    if path and not hasattr(config, "workerinput"):  # not an xdist worker
        config.pluginmanager.register(_Recorder(Path(path), os.environ.get(STAGE_ENV, "")))


def describe(report: Any) -> str:
    """One failure: ``FAILED <node id> (<phase>)`` and the report's ``E`` lines (else its last ones)."""
    text = str(getattr(report, "longreprtext", "") or report.longrepr or "")
    lines = text.splitlines()
    errors = [line for line in lines if line.startswith("E ")] or lines[-MAX_LINES:]
    head = f"{'FAILED' if report.when == 'call' else 'ERROR'} {report.nodeid} ({report.when})"
    return "\n".join([head, *errors[:MAX_LINES]]) + "\n"
