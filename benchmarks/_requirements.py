"""What ``python -m benchmarks`` needs before it can run, checked with the standard library only."""

from __future__ import annotations

import importlib.util
import sys

# import name -> the name pip installs it by
NEEDED = {"pytest": "pytest", "pytest_benchmark": "pytest-benchmark", "numpy": "numpy"}


def missing() -> list[str]:
    """The pip names of the modules in NEEDED that cannot be imported here."""
    return [pip for module, pip in NEEDED.items() if importlib.util.find_spec(module) is None]


def message(names: list[str]) -> str:
    """Why ``python -m benchmarks`` cannot run without ``names``, and what to install."""
    return (
        f"python -m benchmarks needs {', '.join(names)}, which this Python ({sys.executable}) "
        f"cannot import. Install the runner with `pip install {' '.join(NEEDED.values())}` (and "
        "the peer libraries: see benchmarks/README.md), or run `nox -s bench`, which installs "
        "everything in its own environment."
    )


def exit_if_missing() -> None:
    """Exit with :func:`message` (status 1) if a module in NEEDED is missing."""
    names = missing()
    if names:
        raise SystemExit(message(names))
