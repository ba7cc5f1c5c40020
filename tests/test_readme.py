"""Every Python block in README.md runs (in the sessions that have its libraries)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests._backends import BACKENDS_BY_NAME

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
FRAMEWORKS = ("jax", "torch", "tensorflow", "keras", "cupy", "dask")


def _needs(code: str) -> set[str]:
    imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, flags=re.MULTILINE))
    return imported & set(FRAMEWORKS)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(code, monkeypatch):
    needs = _needs(code)
    backends = needs - {"keras"}
    if "keras" in needs:
        # A Keras block runs in the session of the backend Keras runs on (which the
        # jax, torch and tensorflow sessions set), whatever else it imports.
        if importlib.util.find_spec("keras") is None:
            pytest.skip("keras is not installed in this session")
        import keras

        backends.add(keras.backend.backend())
    # A block runs in the session of the backend it uses (the numpy session runs the plain ones).
    if backends and not backends <= set(BACKENDS_BY_NAME):
        pytest.skip(f"block needs {sorted(backends)}; this session runs {sorted(BACKENDS_BY_NAME)}")
    if not backends and "numpy" not in BACKENDS_BY_NAME:
        pytest.skip("framework-free blocks run in the numpy session")
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
