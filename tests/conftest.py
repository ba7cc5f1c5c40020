"""Fixtures: one test body, every backend and dtype (see tests/_backends.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests._backends import Backend, selected

try:  # the test sessions have hypothesis (the "test" group); the docs session runs a few tests without it
    from hypothesis import settings
except ImportError:  # pragma: no cover - only where no property-based test is collected
    settings = None

if settings is not None:
    # The fuzz suite's (tests/test_fuzz.py) example counts: small by default, for CI; longer with
    # KERAS_SIG_FUZZ=1 or ``pytest --hypothesis-profile=fuzz``. Tests setting max_examples keep theirs.
    settings.register_profile("keras_sig", max_examples=50)
    settings.register_profile("fuzz", max_examples=int(os.environ.get("KERAS_SIG_FUZZ_EXAMPLES", "500")))
    settings.load_profile("fuzz" if os.environ.get("KERAS_SIG_FUZZ") else "keras_sig")

BACKENDS = selected()

TOLERANCES = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 2e-5}}


def pytest_report_header(config: pytest.Config) -> str:
    names = ", ".join(f"{b.name}[{b.device}]" for b in BACKENDS)
    return f"keras_sig backends: {names} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'unset')})"


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param


@pytest.fixture(params=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tol(dtype: str) -> dict[str, float]:
    return TOLERANCES[dtype]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261126)
