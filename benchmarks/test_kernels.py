"""Kernels group: the signature kernel beside pySigLib (CPU, float64, one thread).

Rows, on the sizes of issue 16: ``sig_kernel`` of paired paths and
``sig_kernel_gram`` of two batches, at dyadic orders 0 and 2, ours on NumPy,
JAX (jitted) and PyTorch (eager) and pySigLib (``n_jobs=1``); and the gradient
of ``sig_mmd`` (JAX, PyTorch) beside its forward. The report gives each row's
ratio to pySigLib (Gram target: JAX <= 1.0x, PyTorch <= 2x, NumPy <= 3x) and
the gradient's ratio to its forward (target <= 3x). Each framework's value is
first checked against pySigLib's (max abs difference < 1e-8).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks import _config
from benchmarks._record import describe, time_in_process

GROUP = "kernels"
FULL = [
    # (case, what, batch_x, batch_y, length, channels, dyadic order)
    ("pairs-100x5", "pairs", 32, 32, 100, 5, 0),
    ("pairs-100x5", "pairs", 32, 32, 100, 5, 2),
    ("gram-100x5", "gram", 32, 32, 100, 5, 0),
    ("gram-100x5", "gram", 32, 32, 100, 5, 2),
    ("pairs-1000x3", "pairs", 8, 8, 1000, 3, 0),
    ("gram-1000x3", "gram", 8, 8, 1000, 3, 0),
]
QUICK = [
    ("pairs-20x3", "pairs", 4, 4, 20, 3, 0),
    ("gram-20x3", "gram", 4, 4, 20, 3, 1),
]
CASES = QUICK if _config.grid().name == "quick" else FULL
FRAMEWORKS = ("numpy", "jax", "torch", "pysiglib")


@functools.cache
def walk(batch: int, length: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(_config.SEED + seed)
    return np.cumsum(rng.standard_normal((batch, length, channels)) / np.sqrt(length), axis=-2)


def _convert(framework: str) -> tuple[Callable[[np.ndarray], Any], Callable[[Any], Any]]:
    if framework == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray, lambda y: y.block_until_ready()
    if framework == "torch":
        import torch

        # one thread unless --torch-threads says otherwise: conftest sets torch's threads
        return torch.tensor, lambda y: y
    return np.asarray, lambda y: y


def _function(framework: str, what: str, order: int) -> Callable[[Any, Any], Any]:
    if framework == "pysiglib":
        import pysiglib

        fn = pysiglib.sig_kernel if what == "pairs" else pysiglib.sig_kernel_gram
        return lambda x, y: fn(x, y, dyadic_order=order, n_jobs=1)
    import keras_sig

    fn = keras_sig.sig_kernel if what == "pairs" else keras_sig.sig_kernel_gram
    return lambda x, y: fn(x, y, dyadic_order=order)


def _to_numpy(y: Any) -> np.ndarray:
    return np.asarray(y.detach().numpy() if hasattr(y, "detach") else y)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-order{c[6]}")
def test_kernel(
    benchmark: Any, request: pytest.FixtureRequest, case: tuple[Any, ...], framework: str
) -> None:
    name, what, bx, by, length, channels, order = case
    pytest.importorskip("pysiglib")
    if framework in ("jax", "torch"):
        pytest.importorskip(framework)
    describe(
        request,
        benchmark,
        GROUP,
        table="forward",
        case=name,
        order=order,
        framework=framework,
        label=f"{'pySigLib' if framework == 'pysiglib' else 'ours ' + framework}",
    )
    benchmark.group = f"kernels {name} order {order}"
    to_array, finish = _convert(framework)
    x, y = walk(bx, length, channels, 1), walk(by, length, channels, 2)
    fn = _function(framework, what, order)
    small_x, small_y = walk(3, 7, channels, 3), walk(3, 6, channels, 4)
    got = _to_numpy(fn(to_array(small_x), to_array(small_y)))
    want = _function("pysiglib", what, order)(small_x, small_y)
    diff = float(np.abs(got - want).max())
    benchmark.extra_info["check_max_abs_diff"] = diff
    assert diff < 1e-8
    xa, ya = to_array(x), to_array(y)
    time_in_process(benchmark, lambda: finish(fn(xa, ya)), _config.grid().settings)


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("mode", ["forward", "gradient"])
def test_mmd_gradient(benchmark: Any, request: pytest.FixtureRequest, framework: str, mode: str) -> None:
    pytest.importorskip(framework)
    import keras_sig

    bx, length, channels = (4, 20, 3) if _config.grid().name == "quick" else (32, 100, 5)
    describe(
        request,
        benchmark,
        GROUP,
        table="mmd",
        case=f"mmd-{length}x{channels}",
        framework=framework,
        mode=mode,
    )
    benchmark.group = f"kernels mmd {framework}"
    x, y = walk(bx, length, channels, 5), walk(bx, length, channels, 6)
    if framework == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        xa, ya = jax.numpy.asarray(x), jax.numpy.asarray(y)
        f = jax.jit(keras_sig.sig_mmd)
        g = jax.jit(jax.grad(keras_sig.sig_mmd, argnums=(0, 1)))

        def run() -> Any:
            return (f(xa, ya) if mode == "forward" else g(xa, ya)[0]).block_until_ready()

    else:
        import torch

        # one thread unless --torch-threads says otherwise: conftest sets torch's threads

        def run() -> Any:
            a = torch.tensor(x, requires_grad=mode == "gradient")
            b = torch.tensor(y, requires_grad=mode == "gradient")
            value = keras_sig.sig_mmd(a, b)
            if mode == "gradient":
                value.backward()
            return value

    time_in_process(benchmark, run, _config.grid().settings)
