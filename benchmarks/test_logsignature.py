"""Log-signature group: keras_sig's log-signature beside iisignature, signatory and signax.

One forward benchmark per (case, implementation), float64, the headline case
only (batch 128, length 100, channels 5, depth 4). Rows:

* ours ``logsignature`` in ``"brackets"`` and ``"words"`` mode on NumPy, JAX (jitted)
  and PyTorch (eager), and ours ``signature`` on the same backends, for the ratio
  log-signature / signature;
* iisignature ``logsig`` (default method, Lyndon brackets; ``prepare`` is not
  timed), signatory ``logsignature(mode="words")``, signax ``logsignature``
  (jitted; the words coordinates).

Before its first timing each implementation is checked on a small float64
input against iisignature: the brackets against ``logsig``, the words against
the Lyndon-word entries of ``logsig(..., "x")`` (the expanded logarithm), the
signatures against ``sig`` (max abs difference < 1e-8).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from benchmarks import _config, _impls
from benchmarks._record import describe, replay, time_in_process

GROUP = "logsignature"


@dataclass(frozen=True)
class LogImpl:
    """One row: what is timed (``op`` and ``mode``) on which framework, by whom."""

    key: str
    label: str
    family: str  # "ours" or "peer"
    framework: str
    op: str  # "logsignature" or "signature"
    mode: str | None  # "brackets", "words" (None for a signature)
    method: str | None = None
    requires: tuple[str, ...] = ()


def _ours(framework: str, op: str, mode: str | None, method: str) -> LogImpl:
    what = f"{op} {mode}" if mode else op
    label = {"numpy": "numpy", "jax": "jax jit", "torch": "torch eager"}[framework]
    requires = () if framework == "numpy" else (framework,)
    key = f"ours-{framework}-{op}-{mode or 'sig'}-{method}"
    return LogImpl(key, f"ours {label} {what} [{method}]", "ours", framework, op, mode, method, requires)


def _our_rows() -> list[LogImpl]:
    rows = []
    for framework in ("numpy", "jax", "torch"):
        methods = ("auto", "sequential") if framework == "jax" else ("auto",)
        for method in methods:
            rows += [_ours(framework, "logsignature", mode, method) for mode in ("brackets", "words")]
            rows.append(_ours(framework, "signature", None, method))
    return rows


IMPLS = (
    *_our_rows(),
    LogImpl(
        "iisignature",
        "iisignature logsig",
        "peer",
        "numpy",
        "logsignature",
        "brackets",
        None,
        ("iisignature",),
    ),
    LogImpl(
        "signatory",
        "signatory logsignature words",
        "peer",
        "torch",
        "logsignature",
        "words",
        None,
        ("signatory", "torch"),
    ),
    LogImpl(
        "signax", "signax logsignature jit", "peer", "jax", "logsignature", "words", None, ("signax", "jax")
    ),
)
CASES = [case for case in _config.grid().cases if case.name == "headline"]
PARAMS = [pytest.param(case, impl, id=f"{case.name}-{impl.key}") for case in CASES for impl in IMPLS]


@functools.cache
def case_input(case: _config.Case) -> np.ndarray:
    rng = np.random.default_rng(_config.SEED + 1)
    shape = (case.batch, case.length, case.channels)
    return np.cumsum(rng.standard_normal(shape) / np.sqrt(case.length), axis=-2)


# --------------------------------------------------------------------------- runners


def _function(impl: LogImpl, channels: int, depth: int) -> Callable[[Any], Any]:
    """The call timed for ``impl``, on the framework's array."""
    if impl.family == "ours":
        import keras_sig

        if impl.op == "signature":
            return lambda p: keras_sig.signature(p, depth, method=impl.method)
        return lambda p: keras_sig.logsignature(p, depth, mode=impl.mode, method=impl.method)
    if impl.key == "iisignature":
        import iisignature

        prepared = iisignature.prepare(channels, depth)
        return lambda p: iisignature.logsig(p, prepared)
    if impl.key == "signatory":
        import signatory

        return lambda p: signatory.logsignature(p, depth, mode="words")
    import signax

    return lambda p: signax.logsignature(p, depth)


def build(impl: LogImpl, x: np.ndarray, depth: int) -> tuple[Callable[[], Any], Callable[[Any], np.ndarray]]:
    """An argument-free call returning a finished result, and its conversion to NumPy."""
    fn = _function(impl, x.shape[-1], depth)
    if impl.framework == "jax":
        jax = _impls.jax_module()
        xj = jax.numpy.asarray(x)
        jitted = jax.jit(fn)
        return lambda: jitted(xj).block_until_ready(), np.asarray
    if impl.framework == "torch":
        import torch

        xt = torch.tensor(x)
        return lambda: fn(xt), lambda t: t.detach().cpu().numpy()
    return lambda: fn(x), np.asarray


# --------------------------------------------------------------------------- checks


def _lyndon_columns(channels: int, depth: int) -> list[int]:
    """Positions of the Lyndon words (by length, then lexicographically) in a flat signature."""
    words = [
        w
        for k in range(1, depth + 1)
        for w in np.ndindex(*(channels,) * k)
        if all(w < w[i:] + w[:i] for i in range(1, k))
    ]
    offsets = np.cumsum([0] + [channels**k for k in range(1, depth)])
    return [int(offsets[len(w) - 1] + np.ravel_multi_index(w, (channels,) * len(w))) for w in words]


@functools.cache
def references() -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
    import iisignature

    x, depth = _impls.check_input(_config.SEED)
    channels = x.shape[-1]
    expanded = iisignature.logsig(x, iisignature.prepare(channels, depth, "x"), "x")
    return (
        x,
        depth,
        {
            "brackets": iisignature.logsig(x, iisignature.prepare(channels, depth)),
            "words": expanded[..., _lyndon_columns(channels, depth)],
            "signature": iisignature.sig(x, depth),
        },
    )


_CHECKED: dict[str, tuple[str, Any]] = {}


def check(impl: LogImpl) -> float:
    if impl.key not in _CHECKED:
        _CHECKED[impl.key] = _check(impl)
    return replay(_CHECKED[impl.key])


def _check(impl: LogImpl) -> tuple[str, Any]:
    x, depth, refs = references()
    ref = refs["signature" if impl.op == "signature" else impl.mode]
    run, to_numpy = build(impl, x, depth)
    got = to_numpy(run())
    if got.shape != ref.shape:
        return "fail", f"{impl.label}: shape {got.shape}, expected {ref.shape}"
    diff = float(np.abs(got - ref).max())
    if not diff < _impls.ATOL:
        return "fail", f"{impl.label} disagrees with iisignature: max abs diff {diff:.3g} >= {_impls.ATOL:g}"
    return "ok", diff


# --------------------------------------------------------------------------- the benchmark


@pytest.mark.parametrize(("case", "impl"), PARAMS)
def test_logsignature(
    benchmark: Any, request: pytest.FixtureRequest, case: _config.Case, impl: LogImpl
) -> None:
    describe(
        request,
        benchmark,
        GROUP,
        case=case.name,
        shape=[case.batch, case.length, case.channels],
        depth=case.depth,
        impl=impl.key,
        label=impl.label,
        family=impl.family,
        framework=impl.framework,
        op=impl.op,
        mode=impl.mode,
        method=impl.method,
        kind="forward",
    )
    benchmark.group = f"logsignature {case.name}"
    for name in impl.requires:
        pytest.importorskip(name)
    benchmark.extra_info["check_max_abs_diff"] = check(impl)
    benchmark.extra_info["threads"] = _impls.threads_note(
        _impls.Impl(impl.key, impl.label, impl.family, impl.framework)
    )
    run, _ = build(impl, case_input(case), case.depth)
    time_in_process(benchmark, run, _config.grid().settings)
