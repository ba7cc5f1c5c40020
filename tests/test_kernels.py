"""Signature kernels: pySigLib and truncated-signature oracles, properties, gradients, errors."""

from __future__ import annotations

import importlib.util
import itertools
import os

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME
from tests._checks import check_torch_compile

# A session listing pysiglib in KERAS_SIG_TEST_REQUIRE_PEERS (the torch one) fails without it.
HAS_PYSIGLIB = importlib.util.find_spec("pysiglib") is not None or "pysiglib" in os.environ.get(
    "KERAS_SIG_TEST_REQUIRE_PEERS", ""
)
KERNEL_TOL = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-5}}


def _paths(rng, shape, scale=0.3):
    return np.cumsum(rng.normal(size=shape) * scale, axis=-2)


def _numpy(backend, x):
    return backend.to_numpy(x)


@pytest.fixture
def backend(backend):
    """The matrix's backends; dask only in its own test (only ``sig_kernel_gram`` takes dask arrays)."""
    if backend.name == "dask":
        pytest.skip("dask arrays: only sig_kernel_gram, in test_dask_gram_is_lazy_and_blockwise")
    return backend


# --------------------------------------------------------------------------- oracles


@pytest.mark.skipif(not HAS_PYSIGLIB, reason="pysiglib is not installed")
@pytest.mark.parametrize("dyadic_order", [0, 1, (1, 2)])
def test_matches_pysiglib(backend, dtype, dyadic_order, rng):
    import pysiglib

    if backend.name == "jax" and dyadic_order == 1:
        pytest.skip("jax: orders 0 and (1, 2) suffice (each compiles five programs)")

    tol = KERNEL_TOL[dtype]
    X = _paths(rng, (3, 6, 2)).astype(dtype)
    Y = _paths(rng, (4, 5, 2)).astype(dtype)
    Xb, Yb = backend.asarray(X), backend.asarray(Y)
    X64, Y64 = X.astype("float64"), Y.astype("float64")
    opts = {"dyadic_order": dyadic_order}

    k = keras_sig.sig_kernel(Xb, backend.asarray(Y[:3]), **opts)
    assert isinstance(k, backend.array_type())
    assert k.dtype == backend.dtype(dtype)
    assert backend.device_of(k) == backend.device
    np.testing.assert_allclose(_numpy(backend, k), pysiglib.sig_kernel(X64, Y64[:3].copy(), **opts), **tol)
    gram = keras_sig.sig_kernel_gram(Xb, Yb, **opts)
    np.testing.assert_allclose(_numpy(backend, gram), pysiglib.sig_kernel_gram(X64, Y64, **opts), **tol)
    self_gram = keras_sig.sig_kernel_gram(Xb, dyadic_order=opts["dyadic_order"])
    np.testing.assert_allclose(
        _numpy(backend, self_gram), pysiglib.sig_kernel_gram(X64, X64.copy(), **opts), **tol
    )
    mmd = keras_sig.sig_mmd(Xb, Yb, **opts)
    score = keras_sig.sig_score(Xb, Yb, lam=0.5, **opts)
    if isinstance(dyadic_order, int):
        np.testing.assert_allclose(_numpy(backend, mmd), pysiglib.sig_mmd(X64, Y64, **opts), **tol)
        want = pysiglib.sig_score(X64, Y64, lam=0.5, **opts)
        np.testing.assert_allclose(_numpy(backend, score), want, **tol)
    else:  # each sample refined by its own order (pySigLib uses the pair within a sample too)
        a, b = dyadic_order

        def within(Z, order):
            gram = pysiglib.sig_kernel_gram(Z, Z.copy(), dyadic_order=order)
            return (gram.sum() - np.trace(gram)) / (len(Z) * (len(Z) - 1))

        cross = pysiglib.sig_kernel_gram(X64, Y64, **opts)
        want = within(X64, a) + within(Y64, b) - 2 * cross.mean()
        np.testing.assert_allclose(_numpy(backend, mmd), want, **tol)
        np.testing.assert_allclose(_numpy(backend, score), 0.5 * within(X64, a) - 2 * cross.mean(0), **tol)


@pytest.mark.skipif(not HAS_PYSIGLIB, reason="pysiglib is not installed")
def test_static_kernels_match_pysiglib(backend, rng):
    import pysiglib

    X, Y = _paths(rng, (2, 5, 2)), _paths(rng, (3, 4, 2))
    pairs = [
        (keras_sig.RBFKernel(sigma=0.7), pysiglib.RBFKernel(0.7)),
        (keras_sig.PolynomialKernel(degree=2, gamma=1.0, scale=0.5), pysiglib.PolynomialKernel(2, 1.0, 0.5)),
        (keras_sig.ScaledLinearKernel(scale=1.3), pysiglib.ScaledLinearKernel(1.3)),
        (keras_sig.LinearKernel(), pysiglib.LinearKernel()),
    ]
    for ours, theirs in pairs:
        got = keras_sig.sig_kernel_gram(
            backend.asarray(X), backend.asarray(Y), dyadic_order=1, static_kernel=ours
        )
        want = pysiglib.sig_kernel_gram(X, Y, dyadic_order=1, static_kernel=theirs)
        np.testing.assert_allclose(_numpy(backend, got), want, rtol=1e-10, atol=1e-12)
    normal = keras_sig.sig_kernel_gram(backend.asarray(X), backend.asarray(Y), normalize=True)
    want = pysiglib.sig_kernel_gram(X, Y, dyadic_order=0, normalize=True)
    np.testing.assert_allclose(_numpy(backend, normal), want, rtol=1e-10, atol=1e-12)


def _truncated_kernel(x, y, depth):
    sx = np.asarray(keras_sig.signature(x, depth, scalar_term=True))
    sy = np.asarray(keras_sig.signature(y, depth, scalar_term=True))
    return float(sx @ sy)


def test_truncated_signature_oracle_and_dyadic_convergence(rng):
    """Independent of every PDE solver: k = sum_k <S_k(x), S_k(y)> (linear static kernel)."""
    x, y = _paths(rng, (4, 2), scale=0.4), _paths(rng, (3, 2), scale=0.4)
    sums = [_truncated_kernel(x, y, depth) for depth in (6, 8, 10, 12)]
    assert abs(sums[-1] - sums[-2]) < 1e-12  # the truncated sum has converged
    exact = sums[-1]
    errors = [abs(float(keras_sig.sig_kernel(x, y, dyadic_order=order)) - exact) for order in range(7)]
    assert errors[0] > 1e-3  # the unrefined grid is visibly off
    # From order 2 on, monotone (the error may change sign below that).
    assert all(b < a for a, b in itertools.pairwise(errors[2:]))
    assert errors[-1] < 1e-6
    assert errors[-1] / errors[-2] < 0.3  # second order: each refinement cuts the error by about 4


# --------------------------------------------------------------------------- properties


def test_properties(backend, rng):
    X = _paths(rng, (5, 6, 2))
    Xb = backend.asarray(X)
    gram = _numpy(backend, keras_sig.sig_kernel_gram(Xb, dyadic_order=1))
    np.testing.assert_allclose(gram, gram.T, rtol=1e-12)
    assert np.all(np.diag(gram) >= 0)
    assert np.linalg.eigvalsh(gram).min() > -1e-10 * np.abs(gram).max()
    full = _numpy(backend, keras_sig.sig_kernel_gram(Xb, Xb, dyadic_order=1))
    np.testing.assert_allclose(gram, full, rtol=1e-12)
    # A constant shift and a repeated point (a reparametrisation) change nothing.
    x, y = X[0], X[1]
    base = float(_numpy(backend, keras_sig.sig_kernel(backend.asarray(x), backend.asarray(y))))
    shifted = keras_sig.sig_kernel(backend.asarray(x + 3.0), backend.asarray(y - 1.0))
    np.testing.assert_allclose(_numpy(backend, shifted), base, rtol=1e-12)
    repeated = np.concatenate([x[:3], x[2:3], x[2:3], x[3:]])
    again = keras_sig.sig_kernel(backend.asarray(repeated), backend.asarray(y))
    np.testing.assert_allclose(_numpy(backend, again), base, rtol=1e-12)
    # Refining one segment (a reparametrisation) agrees up to the scheme's error.
    mid = np.concatenate([x[:3], (x[2:3] + x[3:4]) / 2, x[3:]])
    fine = [
        float(_numpy(backend, keras_sig.sig_kernel(backend.asarray(p), backend.asarray(y), dyadic_order=4)))
        for p in (x, mid)
    ]
    assert abs(fine[0] - fine[1]) < 1e-4
    # normalize gives 1 on the diagonal; a length-1 path has kernel 1.
    normal = keras_sig.sig_kernel(Xb, Xb, normalize=True)
    np.testing.assert_allclose(_numpy(backend, normal), 1.0, rtol=1e-12)
    one = keras_sig.sig_kernel(backend.asarray(X[:, :1]), Xb)
    np.testing.assert_allclose(_numpy(backend, one), 1.0)
    assert _numpy(backend, one).shape == (5,)
    rbf = keras_sig.sig_kernel_gram(Xb, static_kernel="rbf")
    assert np.linalg.eigvalsh(_numpy(backend, rbf)).min() > -1e-10


def test_unbiased_mmd_of_one_distribution_is_near_zero(rng):
    X, Y = _paths(rng, (40, 5, 2), 0.2), _paths(rng, (40, 5, 2), 0.2)
    same = float(keras_sig.sig_mmd(X, Y))
    other = float(keras_sig.sig_mmd(X, Y + np.linspace(0, 1, 5)[:, None]))
    biased = float(keras_sig.sig_mmd(X, Y, unbiased=False))
    assert abs(same) < 0.02 < other
    assert biased > same


def test_user_static_kernel(backend, rng):
    X, Y = _paths(rng, (2, 5, 2)), _paths(rng, (2, 4, 2))

    class Half(keras_sig.StaticKernel):
        def gram(self, x, y, *, xp):
            return xp.matmul(x, xp.matrix_transpose(y)) * 0.5

    got = keras_sig.sig_kernel(backend.asarray(X), backend.asarray(Y), static_kernel=Half())
    want = keras_sig.sig_kernel(X, Y, static_kernel=keras_sig.ScaledLinearKernel(scale=0.5**0.5))
    np.testing.assert_allclose(_numpy(backend, got), want, rtol=1e-10)

    def callable_kernel(x, y):
        dx, dy = x[..., 1:, :] - x[..., :-1, :], y[..., 1:, :] - y[..., :-1, :]
        return 0.5 * (dx @ np.swapaxes(dy, -1, -2))

    np.testing.assert_allclose(keras_sig.sig_kernel(X, Y, static_kernel=callable_kernel), want, rtol=1e-10)


# --------------------------------------------------------------------------- gradients


def _fd_mmd(X, Y, order, wrt):
    def f(p):
        return float(
            keras_sig.sig_mmd(p, Y, dyadic_order=order)
            if wrt == 0
            else keras_sig.sig_mmd(X, p, dyadic_order=order)
        )

    return reference.finite_difference_grad(f, X if wrt == 0 else Y)


@pytest.fixture
def mmd_case(rng):
    X, Y = _paths(rng, (3, 5, 2)), _paths(rng, (2, 4, 2))
    return X, Y, _fd_mmd(X, Y, 1, 0), _fd_mmd(X, Y, 1, 1)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_torch_gradients(mmd_case):
    import torch

    X, Y, gx, gy = mmd_case
    a, b = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
    keras_sig.sig_mmd(a, b, dyadic_order=1).backward()
    np.testing.assert_allclose(a.grad.numpy(), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.grad.numpy(), gy, rtol=1e-6, atol=1e-8)
    small = (torch.tensor(X[:1, :3], requires_grad=True), torch.tensor(Y[:1], requires_grad=True))
    fn = lambda p, q: keras_sig.sig_kernel(p, q, dyadic_order=1, static_kernel="rbf")
    assert torch.autograd.gradcheck(fn, small)
    assert torch.autograd.gradgradcheck(fn, small)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's, raised inside torch.compile
def test_torch_compile(rng):
    """torch.compile traces the solver and its autograd.Function (tiny: Dynamo unrolls the Python loop)."""
    import torch

    X, Y = _paths(rng, (2, 3, 2)), _paths(rng, (2, 4, 2))
    a = torch.tensor(X, requires_grad=True)
    check_torch_compile(keras_sig.sig_kernel, a, torch.tensor(Y), rtol=1e-12, atol=1e-14)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_jax_gradients(mmd_case):
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy
    X, Y, gx, gy = mmd_case

    def loss(a, b):
        return keras_sig.sig_mmd(a, b, dyadic_order=1)

    da, db = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(X), jnp.asarray(Y))
    np.testing.assert_allclose(np.asarray(da), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(db), gy, rtol=1e-6, atol=1e-8)
    # The hand-written adjoint against autodiff through the forward solver, at
    # dyadic orders 0, 1 and 2, on the grid's cells (the rest of the skewed
    # layout is skew's padding).
    from keras_sig._core import _kernel as core
    from keras_sig._lib._scan import jax_scan as _jax_scan

    g = jnp.asarray(np.random.default_rng(1).normal(size=(2, 4, 6)) * 0.3)
    s = core.skew(g, xp=jnp)
    for order in (0, 1, 2):
        plain = jax.grad(
            lambda z, o=order: jnp.sum(core.solve(core.skew(z, xp=jnp), o, xp=jnp, scan=_jax_scan))
        )(g)
        _, tape = core.solve_taped(s, order, xp=jnp, scan=_jax_scan)
        adjoint = core.solve_vjp(s, order, tape, jnp.ones(2), xp=jnp, scan=_jax_scan)
        adjoint = core.unskew(adjoint, 6, xp=jnp)
        np.testing.assert_allclose(np.asarray(adjoint), np.asarray(plain), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("order", [0, 2])
def test_in_step_linear_increments_match_the_skewed_grid(backend, dtype, order, rng):
    """The core's in-step solve (each diagonal's increments formed in the loop) on every namespace."""
    from keras_sig._core import _kernel as core
    from keras_sig._lib._namespace import array_namespace
    from keras_sig._lib._scan import scan_for

    tol = KERNEL_TOL[dtype]
    dx = (rng.normal(size=(3, 1, 4, 2)) * 0.3).astype(dtype)  # batches broadcast: (3, 1) with (1, 2)
    dy = (rng.normal(size=(1, 2, 7, 2)) * 0.3).astype(dtype)
    a, b = backend.asarray(dx), backend.asarray(dy)
    xp = array_namespace(a)
    value = core.solve_linear(a, b, order, xp=xp, scan=scan_for(xp))
    grid = np.matmul(dx.astype("float64"), np.swapaxes(dy, -1, -2).astype("float64"))
    expected = core.solve(core.skew(grid, xp=np), order, xp=np, scan=scan_for(np))
    assert value.dtype == backend.dtype(dtype)
    np.testing.assert_allclose(_numpy(backend, value), expected, **tol)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_jax_in_step_path(monkeypatch, mmd_case, rng):
    """JAX forms large linear grids in-step; forced here on small ones: values and gradients."""
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy
    from keras_sig import _kernels_api

    X, Y, gx, gy = mmd_case
    x = _paths(rng, (3, 1, 6, 2))
    y = _paths(rng, (2, 9, 2))
    cases = {
        "kernel": lambda a, b: keras_sig.sig_kernel(a, b, dyadic_order=(1, 0)),
        "gram": lambda a, b: keras_sig.sig_kernel_gram(a[:, 0], b, dyadic_order=1, normalize=True),
        "gram_self": lambda a, b: keras_sig.sig_kernel_gram(b),
        "score": lambda a, b: keras_sig.sig_score(a[:, 0], b[0]),
        "order2": lambda a, b: keras_sig.sig_kernel(b, a[:2, 0], dyadic_order=2),
    }
    grid = {
        k: (np.asarray(f(x, y)), jax.grad(lambda a, b, f=f: jnp.sum(jnp.sin(f(a, b))), (0, 1)))
        for k, f in cases.items()
    }
    expected = {
        k: [np.asarray(g) for g in grad(jnp.asarray(x), jnp.asarray(y))] for k, (_, grad) in grid.items()
    }
    monkeypatch.setattr(_kernels_api, "_IN_STEP_CELLS", 0)
    for name, f in cases.items():
        np.testing.assert_allclose(
            np.asarray(f(jnp.asarray(x), jnp.asarray(y))), grid[name][0], rtol=1e-11, atol=1e-13
        )
        got = jax.grad(lambda a, b, f=f: jnp.sum(jnp.sin(f(a, b))), (0, 1))(jnp.asarray(x), jnp.asarray(y))
        for g, e in zip(got, expected[name], strict=True):
            assert g.shape == e.shape
            np.testing.assert_allclose(np.asarray(g), e, rtol=1e-9, atol=1e-11)
    da, db = jax.jit(jax.grad(lambda a, b: keras_sig.sig_mmd(a, b, dyadic_order=1), (0, 1)))(
        jnp.asarray(X), jnp.asarray(Y)
    )
    np.testing.assert_allclose(np.asarray(da), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(db), gy, rtol=1e-6, atol=1e-8)
    constant = keras_sig.sig_kernel(jnp.ones((2, 1, 2)), jnp.asarray(y))  # a length-1 path: kernel 1
    np.testing.assert_array_equal(np.asarray(constant), [1.0, 1.0])


@pytest.mark.skipif(
    "tensorflow" not in BACKENDS_BY_NAME, reason="tensorflow is not in this session's backends"
)
def test_tensorflow_gradients(mmd_case):
    tf = BACKENDS_BY_NAME["tensorflow"].module
    X, Y, gx, gy = mmd_case

    def grads(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            value = keras_sig.sig_mmd(a, b, dyadic_order=1)
        return tape.gradient(value, [a, b])

    for fn in (grads, tf.function(grads, jit_compile=True)):
        da, db = fn(tf.constant(X), tf.constant(Y))
        np.testing.assert_allclose(da.numpy(), gx, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db.numpy(), gy, rtol=1e-6, atol=1e-8)
    # An unknown batch size (Keras' last partial batch): the MMD from the whole Gram matrices.
    spec = [tf.TensorSpec([None, *X.shape[1:]], tf.float64), tf.TensorSpec([None, *Y.shape[1:]], tf.float64)]
    da, db = tf.function(grads, input_signature=spec, jit_compile=True)(tf.constant(X), tf.constant(Y))
    np.testing.assert_allclose(da.numpy(), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db.numpy(), gy, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- dask


@pytest.mark.skipif("dask" not in BACKENDS_BY_NAME, reason="dask is not in this session's backends")
def test_dask_gram_is_lazy_and_blockwise(rng):
    da = BACKENDS_BY_NAME["dask"].module
    X, Y = _paths(rng, (6, 5, 2)), _paths(rng, (4, 6, 2))
    gram = keras_sig.sig_kernel_gram(da.from_array(X, chunks=(2, 5, 2)), da.from_array(Y, chunks=(3, 3, 2)))
    assert isinstance(gram, da.Array)
    assert gram.chunks == ((2, 2, 2), (3, 1))
    np.testing.assert_allclose(gram.compute(), keras_sig.sig_kernel_gram(X, Y), rtol=1e-12)
    self_gram = keras_sig.sig_kernel_gram(da.from_array(X, chunks=(3, 5, 2)), dyadic_order=1)
    np.testing.assert_allclose(self_gram.compute(), keras_sig.sig_kernel_gram(X, dyadic_order=1), rtol=1e-12)


# --------------------------------------------------------------------------- errors


def test_bad_input_errors():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="same number of channels"):
        keras_sig.sig_kernel(x, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dyadic_order"):
        keras_sig.sig_kernel(x, x, dyadic_order=-1)
    with pytest.raises(TypeError, match="dyadic_order"):
        keras_sig.sig_kernel(x, x, dyadic_order=1.5)
    with pytest.raises(ValueError, match="dyadic_order"):
        keras_sig.sig_kernel(x, x, dyadic_order=(1, 2, 3))
    with pytest.raises(ValueError, match="static_kernel"):
        keras_sig.sig_kernel(x, x, static_kernel="laplace")
    with pytest.raises(TypeError, match="static_kernel"):
        keras_sig.sig_kernel(x, x, static_kernel=3)
    with pytest.raises(ValueError, match=r"x must have at least one point"):
        keras_sig.sig_kernel(np.zeros((0, 2)), x)
    with pytest.raises(ValueError, match="sigma"):
        keras_sig.RBFKernel(sigma=0.0)
    with pytest.raises(ValueError, match="at least 2 paths"):
        keras_sig.sig_mmd(x[None], np.zeros((3, 4, 2)))
    with pytest.raises(TypeError, match="normalize"):
        keras_sig.sig_kernel(x, x, normalize="yes")
    with pytest.raises(TypeError, match="lam"):
        keras_sig.sig_score(np.zeros((3, 4, 2)), x, lam="1")


# --------------------------------------------------------------------------- documentation


@pytest.mark.parametrize("name", ["sig_kernel", "sig_kernel_gram", "sig_mmd", "sig_score"])
def test_public_functions_have_numpydoc_sections(name):
    import inspect

    doc = inspect.getdoc(getattr(keras_sig, name))
    for section in ("Parameters\n----------", "Returns\n-------", "Examples\n--------"):
        assert section in doc, f"{name} lacks {section.splitlines()[0]}"
