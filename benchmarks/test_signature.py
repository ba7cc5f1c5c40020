"""Signature group: forward and gradient of every implementation, side by side.

One benchmark per (case, implementation, kind). Before its first timing, each
implementation is checked on a small float64 input against iisignature's
signature and an exact gradient of it (max abs difference < 1e-8).
"""

from __future__ import annotations

import functools
import zlib
from typing import Any

import numpy as np
import pytest

from benchmarks import _config, _impls
from benchmarks._record import describe, record_external, replay, time_in_process
from benchmarks._subprocess import WorkerTimeoutError, run_worker

GRID = _config.grid()
PARAMS = [
    pytest.param(case, impl, kind, id=f"{case.name}-{kind}-{impl.key}")
    for case in GRID.cases
    for impl in _impls.ALL
    for kind in impl.kinds
]


@functools.cache
def case_input(case: _config.Case) -> np.ndarray:
    """The float64 paths of ``case``: a random walk with O(1) total variation per channel."""
    rng = np.random.default_rng(_config.SEED + zlib.crc32(case.name.encode()))
    shape = (case.batch, case.length, case.channels)
    return np.cumsum(rng.standard_normal(shape) / np.sqrt(case.length), axis=-2)


@functools.cache
def references() -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """The check input, its depth, iisignature's signature and the exact gradient."""
    x, depth = _impls.check_input(_config.SEED)
    return x, depth, _impls.reference_forward(x, depth), _impls.reference_gradient(x, depth)


_CHECKED: dict[tuple[str, str], tuple[str, Any]] = {}


def check(impl: _impls.Impl, kind: str) -> float:
    """Max abs difference from the reference; fails (or skips) the test if it is wrong."""
    key = (impl.key, kind)
    if key not in _CHECKED:
        _CHECKED[key] = _check(impl, kind)
    return replay(_CHECKED[key])


def _check(impl: _impls.Impl, kind: str) -> tuple[str, Any]:
    x, depth, ref_forward, ref_gradient = references()
    ref = ref_forward if kind == "forward" else ref_gradient
    try:
        runner = _impls.build(impl, x, depth)
        fn = runner.forward if kind == "forward" else runner.gradient
        got = runner.to_numpy(fn())
    except Exception as exc:
        if impl.skip_on_error:
            last = (str(exc).strip().splitlines() or [""])[-1].strip()
            return "skip", f"raises {type(exc).__name__}: {last[:200]}"
        raise
    if got.shape != ref.shape:
        return "fail", f"{impl.label} {kind}: shape {got.shape}, expected {ref.shape}"
    diff = float(np.abs(got - ref).max())
    tol = _impls.tolerance(impl, kind, ref)
    if not diff < tol:
        return (
            "fail",
            f"{impl.label} {kind} disagrees with the reference: max abs diff {diff:.3g} >= {tol:.3g}",
        )
    if got.dtype != np.float64 and not (impl.key == "iisignature" and kind == "gradient"):
        return "fail", f"{impl.label} {kind} returned {got.dtype}, expected float64"
    return "ok", diff


def _run_legacy(benchmark: Any, case: _config.Case, impl: _impls.Impl, kind: str) -> None:
    if _config.legacy_python() is None:
        pytest.skip(
            f"keras-sig 1.0.2's virtualenv not found at {_config.legacy_venv()} "
            "(create it with `python -m benchmarks --setup-legacy`)"
        )
    x, depth, ref_forward, ref_gradient = references()
    spec = {
        "variant": impl.method,
        "kind": kind,
        "depth": case.depth,
        "check_depth": depth,
        "atol": _impls.ATOL,
        "settings": GRID.settings.to_dict(),
    }
    arrays = {
        "x": case_input(case),
        "check_x": x,
        "check_forward": ref_forward,
        "check_gradient": ref_gradient,
    }
    try:
        answer = run_worker(
            "legacy_signature.py",
            spec,
            arrays=arrays,
            ours=False,
            keras_backend="jax",
            timeout=_config.timeout_s(),
        )
    except WorkerTimeoutError as exc:
        pytest.skip(str(exc))
    benchmark.extra_info["check_max_abs_diff"] = answer.get("check_max_abs_diff")
    benchmark.extra_info["legacy_env"] = answer.get("env")
    benchmark.extra_info["threads"] = "XLA CPU (subprocess)"
    if "error" in answer:
        pytest.fail(f"{impl.label} {kind}: {answer['error']}")
    record_external(benchmark, answer["times"])


@pytest.mark.parametrize(("case", "impl", "kind"), PARAMS)
def test_signature(
    benchmark: Any,
    request: pytest.FixtureRequest,
    case: _config.Case,
    impl: _impls.Impl,
    kind: str,
) -> None:
    describe(
        request,
        benchmark,
        "signature",
        case=case.name,
        shape=[case.batch, case.length, case.channels],
        depth=case.depth,
        impl=impl.key,
        label=impl.label,
        family=impl.family,
        framework=impl.framework,
        method=impl.method,
        kind=kind,
        note=impl.note,
    )
    benchmark.group = f"signature {case.name} {kind}"
    if impl.family == "legacy":
        _run_legacy(benchmark, case, impl, kind)
        return
    missing = _impls.missing_requirement(impl)
    if missing is not None:
        pytest.skip(f"{missing} is not installed")
    benchmark.extra_info["check_max_abs_diff"] = check(impl, kind)
    benchmark.extra_info["threads"] = _impls.threads_note(impl)
    runner = _impls.build(impl, case_input(case), case.depth)
    fn = runner.forward if kind == "forward" else runner.gradient
    assert fn is not None
    time_in_process(benchmark, fn, GRID.settings)
