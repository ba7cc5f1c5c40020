"""Methods group: every method and ``method="auto"`` on a grid of shapes; windowed and dyadic signatures.

Forward only, float64. Rows:

* **grid**: for each case of the grid (short and wide, long and narrow, large
  and small batches), ours on NumPy, JAX (jitted) and PyTorch (eager) with
  each method; the report gives ``auto``'s ratio to the fastest method of the
  same framework (target <= 1.2x). The four methods of a case and framework
  are timed together, interleaved round by round (each round in a rotated
  order), so the machine's drift affects all four alike;
* **windowed**: ``windowed_signature`` over the sliding windows of a
  BasicMotions-sized data set, lead-lag transformed, beside iisignature's
  ``sig`` of the same windows stacked into one batch (the stacking timed too);
  target <= 1.0x;
* **dyadic**: ``dyadic_signature`` beside one whole-path ``signature`` on the
  same backend; target <= ``dyadic_depth + 1`` x.

Each row is first checked against iisignature on a small float64 input (max
abs difference < 1e-8).
"""

from __future__ import annotations

import functools
import itertools
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks import _config, _impls
from benchmarks._record import describe, record_external, replay, time_in_process
from benchmarks._workers._protocol import Settings, rounds_for, warm_up

GROUP = "methods"
GRID = _config.grid()
FRAMEWORKS = ("numpy", "jax", "torch")
METHODS = ("sequential", "parallel", "chunked", "auto")


@functools.cache
def walk(shape: tuple[int, ...], name: str) -> np.ndarray:
    """A float64 random walk of ``shape`` with O(1) total variation per channel."""
    rng = np.random.default_rng(_config.SEED + zlib.crc32(name.encode()))
    return np.cumsum(rng.standard_normal(shape) / np.sqrt(shape[-2]), axis=-2)


def _framework(framework: str) -> tuple[Callable[[np.ndarray], Any], Callable[[Any], Any], Callable]:
    """``(to_array, finish, compile)`` for ``framework``: convert, block on a result, jit a function."""
    if framework == "jax":
        jax = _impls.jax_module()
        return jax.numpy.asarray, lambda y: y.block_until_ready(), jax.jit
    if framework == "torch":
        import torch

        return torch.tensor, lambda y: y, lambda f: f
    return np.asarray, lambda y: y, lambda f: f


def _runner(framework: str, fn: Callable[[Any], Any], x: np.ndarray) -> Callable[[], Any]:
    to_array, finish, compile_ = _framework(framework)
    xa, compiled = to_array(x), compile_(fn)
    return lambda: finish(compiled(xa))


def _to_numpy(y: Any) -> np.ndarray:
    return np.asarray(y.detach().numpy() if hasattr(y, "detach") else y)


_CHECKED: dict[str, tuple[str, Any]] = {}


def _check(key: str, got: Callable[[], Any], expected: Callable[[], np.ndarray]) -> float:
    """Max abs difference of ``got()`` from ``expected()`` (cached); fails the test if too large."""
    if key not in _CHECKED:
        diff = float(np.abs(_to_numpy(got()) - expected()).max())
        _CHECKED[key] = ("ok", diff) if diff < _impls.ATOL else ("fail", f"{key}: max abs diff {diff:.3g}")
    return replay(_CHECKED[key])


def _skip_missing(framework: str) -> None:
    for name in {"jax": ("jax",), "torch": ("torch",), "numpy": ()}[framework]:
        pytest.importorskip(name)


# --------------------------------------------------------------------------- the method grid


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", GRID.methods, ids=lambda c: c.name)
def test_method_grid(
    benchmark: Any, request: pytest.FixtureRequest, case: _config.Case, framework: str, method: str
) -> None:
    import keras_sig

    _skip_missing(framework)
    pytest.importorskip("iisignature")
    describe(
        request,
        benchmark,
        GROUP,
        table="grid",
        case=case.name,
        shape=[case.batch, case.length, case.channels],
        depth=case.depth,
        framework=framework,
        method=method,
        label=f"ours {framework} [{method}]",
        threads=_impls.threads_note(_impls.BY_KEY[f"ours-{framework}-{method}"]),
    )
    benchmark.group = f"methods {case.name}"
    x, depth = _impls.check_input(_config.SEED)
    benchmark.extra_info["check_max_abs_diff"] = _check(
        f"grid-{framework}-{method}",
        _runner(framework, lambda p: keras_sig.signature(p, depth, method=method), x),
        lambda: _impls.reference_forward(x, depth),
    )
    if benchmark.disabled:
        path = walk((case.batch, case.length, case.channels), case.name)
        benchmark.pedantic(
            _runner(framework, lambda p: keras_sig.signature(p, case.depth, method=method), path)
        )
        return
    record_external(benchmark, _interleaved(case, framework, GRID.settings)[method])


_INTERLEAVED: dict[tuple[str, str], dict[str, list[float]]] = {}


def _interleaved(case: _config.Case, framework: str, settings: Settings) -> dict[str, list[float]]:
    """Every method's times on ``case``, measured together: one call of each per round, in rotated order.

    As many rounds as the slowest method's budget allows (at least
    ``settings.min_rounds``); computed once per case and framework, by the
    first of the four tests to run.
    """
    key = (case.name, framework)
    if key not in _INTERLEAVED:
        import keras_sig

        path = walk((case.batch, case.length, case.channels), case.name)
        fns = {
            m: _runner(framework, functools.partial(_signature, keras_sig, depth=case.depth, method=m), path)
            for m in METHODS
        }
        rounds = min(rounds_for(warm_up(fn, settings), settings) for fn in fns.values())
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        for r in range(rounds):
            for m in METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]:
                start = time.perf_counter()
                fns[m]()
                times[m].append(time.perf_counter() - start)
        _INTERLEAVED[key] = times
    return _INTERLEAVED[key]


def _signature(keras_sig: Any, p: Any, *, depth: int, method: str) -> Any:
    return keras_sig.signature(p, depth, method=method)


# --------------------------------------------------------------------------- windows


def _starts(length: int, window: int, step: int) -> range:
    return range(0, length - window + 1, step)


def _iisignature_windows(path: np.ndarray, depth: int, window: int, step: int) -> np.ndarray:
    """iisignature's ``sig`` of the sliding windows stacked into one batch ``(series, windows, sigdim)``."""
    import iisignature

    windows = np.stack([path[..., s : s + window, :] for s in _starts(path.shape[-2], window, step)], axis=-3)
    return iisignature.sig(windows, depth)


WINDOW_ROWS = [*FRAMEWORKS, "iisignature"]


@pytest.mark.skipif(GRID.windows is None, reason="no window case in this grid")
@pytest.mark.parametrize("impl", WINDOW_ROWS)
@pytest.mark.parametrize("depth", GRID.windows.depths if GRID.windows else (), ids=lambda d: f"depth{d}")
def test_windowed(benchmark: Any, request: pytest.FixtureRequest, depth: int, impl: str) -> None:
    import keras_sig

    spec = GRID.windows
    assert spec is not None
    pytest.importorskip("iisignature")
    if impl != "iisignature":
        _skip_missing(impl)
    describe(
        request,
        benchmark,
        GROUP,
        table="windowed",
        shape=[spec.series, spec.points, spec.channels],
        depth=depth,
        window=spec.window,
        step=spec.step,
        framework=impl,
        label="iisignature sig (stacked windows)" if impl == "iisignature" else f"ours {impl} [auto]",
    )
    benchmark.group = f"methods windowed depth {depth}"
    lead_lag = keras_sig.lead_lag(walk((spec.series, spec.points, spec.channels), "windows"))
    check_path = lead_lag[:3, :23]
    expected = _iisignature_windows(check_path, 3, 7, 4)
    if impl == "iisignature":
        benchmark.extra_info["check_max_abs_diff"] = _check(
            "windowed-iisignature", lambda: _iisignature_windows(check_path, 3, 7, 4), lambda: expected
        )
        fn = functools.partial(_iisignature_windows, lead_lag, depth, spec.window, spec.step)
    else:
        benchmark.extra_info["check_max_abs_diff"] = _check(
            f"windowed-{impl}",
            _runner(impl, lambda p: keras_sig.windowed_signature(p, 3, 7, step=4), check_path),
            lambda: expected,
        )
        fn = _runner(
            impl, lambda p: keras_sig.windowed_signature(p, depth, spec.window, step=spec.step), lead_lag
        )
    time_in_process(benchmark, fn, GRID.settings)


@pytest.mark.skipif(GRID.windows is None, reason="no window case in this grid")
@pytest.mark.parametrize("op", ["dyadic", "whole"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dyadic(benchmark: Any, request: pytest.FixtureRequest, framework: str, op: str) -> None:
    import keras_sig

    spec = GRID.windows
    assert spec is not None
    case, level = spec.dyadic, spec.dyadic_depth
    _skip_missing(framework)
    pytest.importorskip("iisignature")
    describe(
        request,
        benchmark,
        GROUP,
        table="dyadic",
        shape=[case.batch, case.length, case.channels],
        depth=case.depth,
        dyadic_depth=level,
        framework=framework,
        op=op,
        label=f"ours {framework} {'dyadic_signature' if op == 'dyadic' else 'signature'} [auto]",
    )
    benchmark.group = f"methods dyadic {framework}"
    x, depth = _impls.check_input(_config.SEED)

    def sig(p: Any, n: int) -> Any:
        return keras_sig.dyadic_signature(p, n, level) if op == "dyadic" else keras_sig.signature(p, n)

    def expected() -> np.ndarray:
        if op == "whole":
            return _impls.reference_forward(x, depth)
        steps = x.shape[-2] - 1
        pieces = []
        for j in range(level + 1):
            cuts = [(i * steps) >> j for i in range(2**j + 1)]
            pieces += [
                _impls.reference_forward(x[..., a : b + 1, :], depth) for a, b in itertools.pairwise(cuts)
            ]
        return np.stack(pieces, axis=-2)

    benchmark.extra_info["check_max_abs_diff"] = _check(
        f"dyadic-{framework}-{op}", _runner(framework, lambda p: sig(p, depth), x), expected
    )
    path = walk((case.batch, case.length, case.channels), case.name)
    time_in_process(benchmark, _runner(framework, lambda p: sig(p, case.depth), path), GRID.settings)
