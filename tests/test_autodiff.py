"""Differentiability and compilation: torch.autograd, jax.grad / jit / vmap.

TensorFlow's GradientTape, tf.function and XLA are covered in test_tensorflow.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME
from tests._checks import check_torch_compile

OPTION_SETS = [
    {},
    {"stream": True},
    {"basepoint": True, "inverse": True},
    {"initial": "array", "stream": True},
    {"scalar_term": True, "inverse": True, "initial": "array"},
]


def _weights(rng, shape):
    return rng.normal(size=shape)


def _ref_loss(path, weights, depth, opts):
    return float(np.sum(reference.signature(path, depth, **opts) * weights))


def _opts(raw, rng, channels, depth):
    opts = dict(raw)
    if opts.get("initial") == "array":
        opts["initial"] = reference.signature(rng.normal(size=(2, 3, channels)), depth)
    return opts


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
@pytest.mark.parametrize("method", ["sequential", "parallel"])
@pytest.mark.parametrize("raw", OPTION_SETS, ids=lambda o: "-".join(o) or "plain")
def test_torch_autograd_matches_finite_differences(method, raw, rng):
    import torch

    depth, channels = 3, 2
    path = rng.normal(size=(2, 5, channels))
    opts = _opts(raw, rng, channels, depth)
    expected_shape = reference.signature(path, depth, **opts).shape
    weights = _weights(rng, expected_shape)
    x = torch.tensor(path, requires_grad=True)
    torch_opts = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    out = keras_sig.signature(x, depth, method=method, **torch_opts)
    (out * torch.tensor(weights)).sum().backward()
    expected = reference.finite_difference_grad(lambda p: _ref_loss(p, weights, depth, opts), path)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-7)
    # Second order too: gradcheck/gradgradcheck on a small case.
    small = torch.tensor(rng.normal(size=(1, 4, 2)), requires_grad=True)
    fn = lambda p: keras_sig.signature(p, 2, method=method, **torch_opts)
    if "initial" not in opts:
        assert torch.autograd.gradcheck(fn, (small,))
        assert torch.autograd.gradgradcheck(fn, (small,))


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
@pytest.mark.parametrize("method", ["sequential", "parallel"])
@pytest.mark.parametrize("raw", OPTION_SETS, ids=lambda o: "-".join(o) or "plain")
def test_jax_grad_jit_vmap(method, raw, rng):
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy

    depth, channels = 3, 2
    path = rng.normal(size=(2, 5, channels))
    opts = _opts(raw, rng, channels, depth)
    weights = _weights(rng, reference.signature(path, depth, **opts).shape)
    jax_opts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}

    def loss(p):
        return jnp.sum(keras_sig.signature(p, depth, method=method, **jax_opts) * weights)

    expected = reference.finite_difference_grad(lambda p: _ref_loss(p, weights, depth, opts), path)
    np.testing.assert_allclose(jax.grad(loss)(jnp.asarray(path)), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(jnp.asarray(path)), expected, rtol=1e-6, atol=1e-7)
    # vmap over a new leading axis equals the batched call.
    stacked = jnp.stack([jnp.asarray(path), 2 * jnp.asarray(path)])
    vmapped = jax.vmap(lambda p: keras_sig.signature(p, depth, method=method, **jax_opts))(stacked)
    batched = keras_sig.signature(stacked, depth, method=method, **jax_opts)
    np.testing.assert_allclose(vmapped, batched, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_jax_sequential_is_a_scan_not_an_unrolled_loop():
    """The traced program has the same size for a path of 20 and of 10 000 points."""
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy

    def size(length):
        x = jnp.zeros((2, length, 3))
        jaxpr = jax.make_jaxpr(lambda p: keras_sig.signature(p, 4, method="sequential"))(x)
        return len(str(jaxpr).splitlines()), str(jaxpr).count("scan")

    small, large = size(20), size(10_000)
    assert small == large
    assert small[1] >= 1


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_jax_hessian_vector_product(rng):
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy
    path = jnp.asarray(rng.normal(size=(4, 2)))
    v = jnp.asarray(rng.normal(size=(4, 2)))
    for method in ("sequential", "parallel"):

        def loss(p, method=method):
            return jnp.sum(keras_sig.signature(p, 3, method=method) ** 2)

        hvp = jax.jvp(jax.grad(loss), (path,), (v,))[1]
        eps = 1e-5
        fd = (jax.grad(loss)(path + eps * v) - jax.grad(loss)(path - eps * v)) / (2 * eps)
        np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
@pytest.mark.parametrize("opts", [{}, {"basepoint": True, "inverse": True}])
def test_jax_auto_scans_forward_and_differentiates_the_parallel_method(opts, rng):
    """On the CPU past 256 points, ``auto`` runs the scan and takes the parallel method's derivatives.

    Every mode of differentiation agrees with the sequential method's plain
    autodiff (itself checked against finite differences above): ``grad``,
    ``jvp``, and ``hessian`` (forward over reverse).
    """
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy
    length = 260  # long enough for ``auto`` to scan on the CPU (tests/test_plan.py pins where)
    path = rng.normal(size=(2, length, 2)) * 0.2
    w = jnp.asarray(rng.normal(size=keras_sig.sigdim(2, 3)))

    def loss(p, method="auto"):
        return jnp.sum(keras_sig.signature(p, 3, method=method, **opts) * w)

    x = jnp.asarray(path)
    assert "custom_jvp_call" in str(jax.make_jaxpr(loss)(x))
    assert "scan" in str(jax.make_jaxpr(loss)(x))
    # Differentiated, the values come from the parallel forward the derivatives need.
    value, grad = jax.value_and_grad(loss)(x)
    assert "scan" not in str(jax.make_jaxpr(jax.value_and_grad(loss))(x))
    np.testing.assert_allclose(value, loss(x, "sequential"), rtol=1e-12)
    expected = jax.grad(lambda p: loss(p, "sequential"))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jax.grad(loss)(x), expected, rtol=1e-10, atol=1e-12)
    t = jnp.asarray(rng.normal(size=path.shape))
    np.testing.assert_allclose(jax.jvp(loss, (x,), (t,))[1], jnp.vdot(expected, t), rtol=1e-10)

    def part(p, method="auto"):
        """The loss as a function of the first 6 points of the first path (full length kept)."""
        return loss(jnp.concatenate([jnp.concatenate([p, x[:1, 6:]], axis=1), x[1:]]), method)

    if not opts:  # one Hessian is enough (each compiles for a while)
        hess = jax.hessian(part)(x[:1, :6])
        expected_hess = jax.hessian(lambda p: part(p, "sequential"))(x[:1, :6])
        np.testing.assert_allclose(hess, expected_hess, rtol=1e-8, atol=1e-10)
        assert float(jnp.abs(hess).max()) > 0


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("batch", "length", "channels"), [((), 1, 2), ((3,), 2, 1), ((2, 2), 7, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jax_whole_path_derivatives_are_the_transposed_hand_written_vjp(
    depth, batch, length, channels, dtype, rng
):
    """Where the whole path fits, JAX's derivatives come from the hand-written VJP (a ``custom_jvp``).

    ``grad``, ``jvp`` and forward-over-reverse Hessian-vector products of the
    parallel method agree with the sequential method's plain autodiff through
    its scan, a separate computation; the gradient is also checked against
    finite differences of the reference (in float64).
    """
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy
    path = rng.normal(size=(*batch, length, channels))
    w = rng.normal(size=(*batch, keras_sig.sigdim(channels, depth)))
    x, wt = jnp.asarray(path, dtype=dtype), jnp.asarray(w, dtype=dtype)

    def loss(p, method="parallel"):
        return jnp.sum(keras_sig.signature(p, depth, method=method) * wt)

    assert "custom_jvp_call" in str(jax.make_jaxpr(loss)(x))
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    expected = jax.grad(lambda p: loss(p, "sequential"))(x)
    got = jax.jit(jax.grad(loss))(x)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, expected, **tol)
    if dtype == "float64":
        fd = reference.finite_difference_grad(
            lambda p: float(np.sum(reference.signature(p, depth) * w)), path
        )
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)
    t = jnp.asarray(rng.normal(size=path.shape), dtype=dtype)
    np.testing.assert_allclose(jax.jvp(loss, (x,), (t,))[1], jnp.vdot(expected, t), **tol)

    def square(p, method="parallel"):
        return jnp.sum(keras_sig.signature(p, depth, method=method) ** 2)

    hvp = jax.jvp(jax.grad(square), (x,), (t,))[1]
    expected_hvp = jax.jvp(jax.grad(lambda p: square(p, "sequential")), (x,), (t,))[1]
    np.testing.assert_allclose(hvp, expected_hvp, **tol)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_torch_compile_runs_long_sequential_requests_in_parallel(monkeypatch, rng):
    import array_api_compat.torch as xp
    import torch

    from keras_sig._lib._plan import DEFAULT_MEMORY_BUDGET, plan

    def method(length, asked):
        path = torch.zeros((2, length, 3), dtype=torch.float64)
        options = {"stream": False, "basepoint": False, "memory_budget": DEFAULT_MEMORY_BUDGET}
        return plan(path, 3, xp=xp, method=asked, **options).method

    assert method(500, "sequential") == "sequential"  # eager: as asked
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert method(500, "sequential") == "parallel"
    assert method(64, "sequential") == "sequential"
    assert method(500, "parallel") == "parallel"
    monkeypatch.undo()

    x = torch.tensor(rng.normal(size=(2, 80, 3)), requires_grad=True)
    check_torch_compile(lambda p: keras_sig.signature(p, 3, method="sequential"), x)
