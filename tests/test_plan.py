"""The planner (:mod:`keras_sig._lib._plan`): one table of its decisions, and the chunks' properties.

The table pins :func:`~keras_sig._lib._plan.plan`'s rule (its docstring) on
small cases worked out by hand. The chunk decisions are also checked on the
shapes of the benchmarks' method grid
(benchmarks/_config.py, ``methods``), never by timing: which method and which
chunks each shape gets, that the chunks fit the memory budget, and that no
chunk of time is so short that the Chen products joining the chunks dominate.
The batch-split results are checked against the definition-level reference,
on every backend, forward, stream and gradients (the memory-light custom
gradients walk the same batch chunks).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import keras_sig
from keras_sig._lib._namespace import array_namespace
from keras_sig._lib._plan import (
    CPU_EAGER_BYTES,
    DEFAULT_MEMORY_BUDGET,
    GRADIENT_MEMORY_FACTOR,
    MIN_FOLD_STEPS,
    Plan,
    plan,
    plan_chunks,
    step_bytes,
)
from tests import reference
from tests._backends import BACKENDS_BY_NAME

# The benchmarks' method grid (batch, length, channels), depth 4, and the
# fastest method there on JAX (jit, CPU), measured A/B (benchmarks/README.md).
GRID = {
    "short-wide-large": ((640, 30, 13), "chunked"),
    "short-wide-small": ((8, 30, 13), "chunked"),
    "headline": ((128, 100, 5), "sequential"),
    "long-narrow-large": ((256, 2000, 3), "sequential"),
    "long-narrow-small": ((4, 5000, 3), "sequential"),
}

# Shapes beside the grid, with their measured winners: the dyadic benchmark's finest
# pieces (a large carry: the scan is slow) and a narrow one out of cache (the scan wins).
JAX_EXTRA = {"dyadic-pieces": ((40, 8, 13, 7), "chunked"), "narrow-wide-carry": ((128, 100, 8), "sequential")}


def _per_step(shape, depth=4, itemsize=8, stream=False):
    return step_bytes(shape[-2:], depth, stream=stream, itemsize=itemsize)


# Depth 2, two channels: 288 bytes of intermediates per step and path (step_bytes: 3 arrays of
# 12 float64: 2 Horner heads, 2 d**2 products and the increment).
PER_STEP_D2 = 288
V, J = "custom_vjp", "custom_jvp"

# (backend, shape, depth, options) -> the plan. Defaults: stream=False, method="auto", no basepoint,
# the default budget, no gradient expected.
TABLE = [
    # Everything fits: "auto" is "chunked", which with one chunk is "parallel".
    ("numpy", (8, 10, 3), 3, {}, Plan("parallel")),
    ("tensorflow", (8, 10, 3), 3, {}, Plan("parallel")),  # TF differentiates the whole path itself
    ("torch", (8, 10, 3), 3, {}, Plan("parallel", gradient=V, keep_tape=True)),  # faster than autograd
    ("jax", (8, 10, 2), 2, {}, Plan("parallel", gradient=J)),  # forward mode keeps working
    ("jax", (8, 10, 2), 2, {"method": "sequential"}, Plan("sequential")),  # JAX differentiates the scan
    ("torch", (8, 10, 3), 3, {"method": "sequential"}, Plan("sequential", gradient=V)),  # no tape to keep
    # A stream: plain autodiff everywhere.
    ("torch", (8, 10, 3), 3, {"stream": True}, Plan("parallel")),
    # JAX on the CPU: a long stream is scanned, unless a gradient is expected (a layer's call).
    ("jax", (2, 300, 2), 2, {"stream": True}, Plan("sequential")),
    ("jax", (2, 300, 2), 2, {"stream": True, "for_gradient": True}, Plan("parallel")),
    ("jax", (2, 300, 2), 2, {"for_gradient": True}, Plan("parallel", gradient=J)),
    # Past depth 16: the flat sequential scan, whatever was asked, by plain autodiff.
    ("numpy", (1, 5, 1), 17, {"method": "parallel"}, Plan("sequential")),
    ("torch", (1, 5, 1), 17, {"method": "chunked"}, Plan("sequential")),
    # 4 paths of 100 steps, 28800 bytes each: 2 whole paths fit 60000 bytes, 1 the backward's 40000.
    ("numpy", (4, 101, 2), 2, {"memory_budget": 60000}, Plan("chunked", batch_chunk=2)),
    ("torch", (4, 101, 2), 2, {"memory_budget": 60000}, Plan("chunked", None, 2, V, None, 1)),
    # One path of 1000 steps: 200 steps fit the budget, 133 its backward's (budget / 1.5).
    ("torch", (1, 1001, 2), 2, {"memory_budget": 200 * PER_STEP_D2}, Plan("chunked", 200, None, V, 133)),
    # A basepoint adds a step: 99 steps fit, 100 do not.
    ("numpy", (1, 100, 2), 2, {"memory_budget": 99 * PER_STEP_D2}, Plan("parallel")),
    ("numpy", (1, 100, 2), 2, {"memory_budget": 99 * PER_STEP_D2, "basepoint": True}, Plan("chunked", 99)),
]


@pytest.mark.parametrize(("name", "shape", "depth", "options", "expected"), TABLE)
def test_planner_table(name, shape, depth, options, expected):
    if name not in BACKENDS_BY_NAME:
        pytest.skip(f"{name} is not in this session's backends")
    backend = BACKENDS_BY_NAME[name]
    if name == "jax" and backend.module.default_backend() != "cpu":
        pytest.skip("the JAX rows are about XLA on the CPU")
    assert step_bytes((101, 2), 2, stream=False, itemsize=8) == PER_STEP_D2
    x = backend.asarray(np.zeros(shape), "float64")
    defaults = {"stream": False, "method": "auto", "basepoint": False, "memory_budget": DEFAULT_MEMORY_BUDGET}
    got = plan(x, depth, xp=array_namespace(x), **{**defaults, **options})
    assert got == expected
    hash(got)  # a static argument of jax.jit


@pytest.mark.parametrize("name", list(GRID))
@pytest.mark.parametrize(
    "budget", [CPU_EAGER_BYTES, DEFAULT_MEMORY_BUDGET, 2**20], ids=["eager", "default", "1MiB"]
)
def test_plan_fits_the_budget_and_splits_the_batch_first(name, budget):
    (batch, length, channels), _ = GRID[name]
    steps, per_step = length - 1, _per_step((batch, length, channels))
    batch_chunk, chunk = plan_chunks(batch, steps, per_step, budget)
    paths = batch if batch_chunk is None else batch_chunk
    assert 1 <= paths <= batch
    assert 1 <= chunk <= steps
    if batch * steps * per_step <= budget:
        assert (batch_chunk, chunk) == (None, steps)  # all at once: the parallel method
        return
    assert paths * chunk * per_step <= budget  # within the budget (one step of one path fits here)
    if steps * per_step <= budget:
        assert chunk == steps  # whole paths: no Chen product joins chunks of time
        most = budget // (steps * per_step)
        assert -(-batch // paths) == -(-batch // most)  # as few chunks as fit, evened out
    else:
        assert chunk >= min(MIN_FOLD_STEPS, budget // per_step)  # folds stay a small part of the work


def test_the_reported_case_is_split_along_the_batch_only():
    """(640, 30, 13), depth 4: time chunks of ~5 steps before, each folded in by a Chen product."""
    x = np.zeros((640, 30, 13))
    options = {"stream": False, "method": "auto", "basepoint": False, "memory_budget": DEFAULT_MEMORY_BUDGET}
    planned = plan(x, 4, xp=array_namespace(x), **options)
    assert planned.method == "chunked"
    assert planned.chunk is None  # whole paths
    assert planned.batch_chunk is not None
    assert planned.batch_chunk * 29 * _per_step(x.shape) <= CPU_EAGER_BYTES


def test_unknown_sizes_are_planned_in_time_only():
    per_step = 1000
    assert plan_chunks(None, 100, per_step, 10**5) == (None, 100)  # an unknown batch: per path
    assert plan_chunks(None, 100, per_step, 10**4) == (None, 10)
    assert plan_chunks(4, None, per_step, 10**5) == (None, 25)  # an unknown length: what the batch allows


@pytest.mark.parametrize(
    ("paths", "steps", "budget", "expected"),
    [
        (10, 10, 100, (None, 10)),  # all fits
        (10, 10, 99, (5, 10)),  # 9 whole paths fit: two chunks, evened out to 5 and 5
        (7, 10, 30, (3, 10)),  # 3 whole paths fit: 3 chunks, 3 + 3 + 1 (two rows padded)
        (8, 100, 800, (None, 100)),  # all fits
        (8, 1000, 800, (None, 100)),  # the whole batch, chunks of 100 >= 64 steps
        (8, 1000, 500, (4, 64)),  # 62 steps for the whole batch: too few; 64 steps, half the paths
        (1000, 1000, 500, (7, 64)),  # 7 paths of 64 steps, 143 chunks of paths, evened out
        (3, 1000, 20, (1, 20)),  # less than the minimum fits one path: one path, as many steps as fit
    ],
)
def test_plan_examples(paths, steps, budget, expected):
    assert plan_chunks(paths, steps, 1, budget) == expected


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
@pytest.mark.parametrize("name", [*GRID, *JAX_EXTRA])
def test_jax_auto_picks_the_faster_method_of_the_grid(name):
    jax = BACKENDS_BY_NAME["jax"].module
    shape, fastest = {**GRID, **JAX_EXTRA}[name]
    path = jax.ShapeDtypeStruct(shape, jax.numpy.float64)
    if jax.default_backend() != "cpu":
        pytest.skip("the JAX decision is about XLA on the CPU")

    class Path:  # shape and dtype are all the decision reads
        def __init__(self, spec):
            self.shape, self.dtype = spec.shape, np.dtype("float64")

        def devices(self):
            return {jax.devices("cpu")[0]}

    options = {"xp": jax.numpy, "stream": False, "method": "auto", "basepoint": False}
    got = plan(Path(path), 4, memory_budget=DEFAULT_MEMORY_BUDGET, **options).method
    assert ("sequential" if got == "sequential" else "chunked") == fastest  # "parallel": one chunk
    layer = plan(Path(path), 4, memory_budget=DEFAULT_MEMORY_BUDGET, for_gradient=True, **options).method
    assert layer in ("chunked", "parallel")


# --------------------------------------------------------------------------- results


def _budget(shape, depth, paths, chunk, *, stream=False, itemsize=8):
    """A budget for ``paths`` paths of ``chunk`` steps at a time (as the plan rounds it)."""
    return paths * chunk * _per_step(shape, depth, itemsize, stream)


@pytest.mark.parametrize(
    ("paths", "chunk"),
    [(1, 13), (2, 13), (4, 13), (1, 5), (1, 3)],
    ids=["1x13", "2x13", "4x13", "1x5", "1x3"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_batch_chunks_agree_with_the_reference(backend, dtype, tol, rng, paths, chunk, stream):
    """Batch chunks of whole paths (1, 2, 4 of the 6: padded), and one path in time chunks (1x5, 1x3)."""
    batch, length, channels, depth = (2, 3), 14, 3, 4
    shape = (*batch, length, channels)
    path = rng.normal(size=shape) * 0.5
    budget = _budget(shape, depth, paths, chunk, stream=stream, itemsize=np.dtype(dtype).itemsize)
    if chunk < 13:  # a budget below one whole path: the plan cuts time too
        planned = plan_chunks(6, 13, _per_step(shape, depth, np.dtype(dtype).itemsize, stream), budget)
        assert planned[1] < 13
    x = backend.asarray(path, dtype)
    for method in ("chunked", "auto"):
        got = keras_sig.signature(x, depth, stream=stream, method=method, memory_budget=budget)
        expected = reference.signature(path, depth, stream=stream)
        np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)
    opts = {"basepoint": True, "inverse": True, "scalar_term": True}
    got = keras_sig.signature(x, depth, stream=stream, method="chunked", memory_budget=budget, **opts)
    np.testing.assert_allclose(
        backend.to_numpy(got), reference.signature(path, depth, stream=stream, **opts), **tol
    )


def _grad(framework, fn, x):
    backend = BACKENDS_BY_NAME[framework]
    if framework == "jax":
        jax = backend.module
        return np.asarray(jax.jit(jax.grad(fn))(jax.numpy.asarray(x)))
    if framework == "torch":
        torch = backend.module
        xt = torch.tensor(x, requires_grad=True)
        fn(xt).backward()
        return xt.grad.numpy()
    tf = backend.module
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
    return tape.gradient(y, xt).numpy()


@pytest.mark.parametrize("framework", [f for f in ("jax", "torch", "tensorflow") if f in BACKENDS_BY_NAME])
@pytest.mark.parametrize(("paths", "chunk"), [(2, 13), (1, 13), (1, 4)], ids=["2x13", "1x13", "1x4"])
def test_gradients_of_batch_chunks(framework, rng, paths, chunk):
    """The memory-light backward walks batch chunks (whole-path VJPs, or chunks of time) too."""
    batch, length, channels, depth = (5,), 14, 3, 4
    shape = (*batch, length, channels)
    path = rng.normal(size=shape) * 0.5
    weights = rng.normal(size=(*batch, keras_sig.sigdim(channels, depth)))
    # The backward's chunks are the budget's over GRADIENT_MEMORY_FACTOR.
    budget = math.ceil(_budget(shape, depth, paths, chunk) * GRADIENT_MEMORY_FACTOR)
    backend = BACKENDS_BY_NAME[framework]
    x = backend.asarray(path, "float64")
    options = {"stream": False, "method": "chunked", "basepoint": False}
    planned = plan(x, depth, xp=array_namespace(x), memory_budget=budget, **options)
    assert planned.gradient == "custom_vjp"
    assert planned.grad_batch_chunk == paths
    assert planned.grad_chunk == (None if chunk == 13 else chunk)  # whole-path VJPs, or chunks of time
    w = backend.asarray(weights, "float64")
    reduce_sum = backend.module.reduce_sum if framework == "tensorflow" else (lambda t: t.sum())
    got = _grad(
        framework,
        lambda v: reduce_sum(keras_sig.signature(v, depth, method="chunked", memory_budget=budget) * w),
        path,
    )
    expected = reference.finite_difference_grad(
        lambda v: float(np.sum(reference.signature(v, depth) * weights)), path
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif("numpy" not in BACKENDS_BY_NAME, reason="numpy is not in this session's backends")
def test_batch_chunks_keep_the_intermediates_within_the_budget():
    """NumPy's peak (tracemalloc) beyond the input and the output stays within the budget."""
    rng = np.random.default_rng(0)
    shape, depth, budget = (256, 30, 8), 4, 4 * 2**20
    path = rng.normal(size=shape)
    whole = shape[0] * (shape[1] - 1) * _per_step(shape, depth)
    assert whole > 10 * budget  # all at once would be far over the budget
    out_bytes = shape[0] * keras_sig.sigdim(shape[2], depth) * 8
    keras_sig.signature(path[:2], depth, method="chunked", memory_budget=budget)  # warm caches
    tracemalloc.start()
    try:
        keras_sig.signature(path, depth, method="chunked", memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output is held twice at most (the chunks' results, then the result).
    assert peak - 2 * out_bytes - 2 * path.nbytes <= budget
