"""The memory-light gradient (``stream=False``) on JAX, PyTorch and TensorFlow.

Its backward rebuilds prefix signatures in reverse instead of storing them.
Checked here: values against finite differences of the exact reference, every
option, several chunk lengths (one step per chunk included), float32 on long
and large paths against plain autodiff, second derivatives, that the custom
gradient is really the one used, and that what the forward keeps for the
backward does not grow with the length beyond the path itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import keras_sig
from keras_sig._lib._plan import GRADIENT_MEMORY_FACTOR, step_bytes
from tests import reference
from tests._backends import BACKENDS_BY_NAME
from tests._checks import check_torch_compile

FRAMEWORKS = [name for name in ("jax", "torch", "tensorflow") if name in BACKENDS_BY_NAME]
if not FRAMEWORKS:
    pytest.skip("no framework with autodiff in this session's backends", allow_module_level=True)

OPTION_SETS = {
    "plain": {},
    "basepoint": {"basepoint": True},
    "inverse_scalar": {"inverse": True, "scalar_term": True},
    "initial": {"initial": "array"},
    "everything": {"basepoint": "array", "initial": "array", "inverse": True},
}


def _budget_for(chunk: int, shape: tuple[int, ...], depth: int, itemsize: int = 8) -> int:
    """A memory budget whose backward chunks are ``chunk`` steps long."""
    per_step = step_bytes(shape, depth, stream=False, itemsize=itemsize)
    return math.ceil(chunk * GRADIENT_MEMORY_FACTOR) * per_step


def _options(name, rng, batch, channels, depth):
    opts = dict(OPTION_SETS[name])
    if opts.get("basepoint") == "array":
        opts["basepoint"] = rng.normal(size=(*batch, channels))
    if opts.get("initial") == "array":
        opts["initial"] = reference.signature(rng.normal(size=(*batch, 3, channels)) * 0.5, depth)
    return opts


def _grad(framework, fn, x):
    """Gradient of the scalar ``fn(x)`` at the NumPy array ``x``, as NumPy."""
    backend = BACKENDS_BY_NAME[framework]
    if framework == "jax":
        jax = backend.module
        return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)))
    if framework == "torch":
        torch = backend.module
        xt = torch.tensor(x, requires_grad=True)
        fn(xt).backward()
        return xt.grad.detach().numpy()
    tf = backend.module
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
    return tape.gradient(y, xt).numpy()


def _reduce(framework):
    """Sum of all entries, in the framework's spelling."""
    if framework == "tensorflow":
        return BACKENDS_BY_NAME[framework].module.reduce_sum
    return lambda t: t.sum()


def _convert(framework, opts, dtype="float64"):
    backend = BACKENDS_BY_NAME[framework]
    return {k: backend.asarray(v, dtype) if isinstance(v, np.ndarray) else v for k, v in opts.items()}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("chunk", [1, 3, 100])
@pytest.mark.parametrize("option", list(OPTION_SETS))
def test_gradient_matches_finite_differences(framework, chunk, option, rng):
    batch, length, channels, depth = (2,), 8, 2, 3
    path = rng.normal(size=(*batch, length, channels))
    opts = _options(option, rng, batch, channels, depth)
    weights = rng.normal(size=reference.signature(path, depth, **opts).shape)
    budget = _budget_for(chunk, path.shape, depth)
    lib_opts = _convert(framework, opts)
    backend = BACKENDS_BY_NAME[framework]
    w = backend.asarray(weights)

    reduce = _reduce(framework)

    def loss(p):
        return reduce(keras_sig.signature(p, depth, memory_budget=budget, **lib_opts) * w)

    got = _grad(framework, loss, path)
    expected = reference.finite_difference_grad(
        lambda p: float(np.sum(reference.signature(p, depth, **opts) * weights)), path
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("length", "scale"), [(1500, 0.3), (400, 10.0)])
def test_long_and_large_paths_are_as_accurate_as_plain_autodiff(framework, dtype, length, scale, rng):
    """A path that goes far out and comes back: huge prefixes, a small final signature.

    That is where rebuilding prefixes by multiplying with inverses cancels most.
    Observed (README, "Memory"): the error is at most a few times plain
    autodiff's own rounding error in float32 and 1e-13 relative in float64.
    """
    depth, channels = 4, 3
    out = rng.normal(size=(2, length // 2, channels)) * scale
    steps = np.concatenate([out, -out[:, ::-1]], axis=1)
    path = np.concatenate([np.zeros((2, 1, channels)), np.cumsum(steps, axis=1)], axis=1)
    weights = rng.normal(size=(2, keras_sig.sigdim(channels, depth)))
    backend = BACKENDS_BY_NAME[framework]
    w = backend.asarray(weights, dtype)
    cast = (lambda p: p) if dtype == "float64" else (lambda p: _cast32(framework, p))
    reduce = _reduce(framework)

    def light(p):
        return reduce(
            keras_sig.signature(cast(p), depth, memory_budget=_budget_for(16, path.shape, depth)) * w
        )

    def plain(p):  # the stream's last entry is differentiated by plain autodiff
        return reduce(keras_sig.signature(cast(p), depth, stream=True, method="parallel")[..., -1, :] * w)

    exact = _grad(framework, plain if dtype == "float64" else _as64(framework, plain, weights, depth), path)
    scale_g = np.abs(exact).max()
    light_err = np.abs(_grad(framework, light, path) - exact).max() / scale_g
    plain_err = np.abs(_grad(framework, plain, path) - exact).max() / scale_g
    if dtype == "float64":
        assert light_err < 1e-12
    else:
        assert light_err < max(8 * plain_err, 1e-6), (light_err, plain_err)


def _cast32(framework, p):
    backend = BACKENDS_BY_NAME[framework]
    mod = backend.module
    if framework == "torch":
        return p.to(mod.float32)
    if framework == "tensorflow":
        return mod.cast(p, mod.float32)
    return p.astype(mod.numpy.float32)


def _as64(framework, plain, weights, depth):
    """The float64 plain-autodiff loss (the exact answer the float32 runs are judged by)."""
    backend = BACKENDS_BY_NAME[framework]
    w = backend.asarray(weights, "float64")
    reduce = _reduce(framework)
    return lambda p: reduce(keras_sig.signature(p, depth, stream=True, method="parallel")[..., -1, :] * w)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("batch", "length", "channels"), [((), 1, 2), ((3,), 2, 1), ((2, 2), 9, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_written_vjp_matches_the_frameworks_autodiff(
    framework, depth, batch, length, channels, dtype, rng
):
    """``parallel_vjp`` (the whole-path backward, and every chunk's) against plain autodiff.

    The cotangent is a broadcast view, as ``y.sum()`` gives.
    """
    from keras_sig._core import _backward, _forward
    from keras_sig._core._algebra import concat_levels
    from keras_sig._lib._namespace import array_namespace

    backend = BACKENDS_BY_NAME[framework]
    path = rng.normal(size=(*batch, length, channels))
    size = keras_sig.sigdim(channels, depth)
    w = rng.normal(size=size)
    x = backend.asarray(path, dtype)
    xp = array_namespace(x)
    wt = backend.asarray(w, dtype)
    reduce = _reduce(framework)

    def loss(p):
        z = _forward.increments(p, None, xp=xp)
        return reduce(concat_levels(_forward.signature_parallel(z, depth, stream=False, xp=xp), xp=xp) * wt)

    def vjp(p):
        cotangent = xp.broadcast_to(wt, (*batch, size))
        return _backward.points_cotangent(
            _backward.parallel_vjp(_forward.increments(p, None, xp=xp), depth, cotangent, xp=xp), xp=xp
        )

    if framework == "jax":  # compiled once rather than dispatched op by op
        loss, vjp = backend.module.jit(loss), backend.module.jit(vjp)
    expected = _grad(
        framework, loss, backend.asarray(path, dtype) if framework == "jax" else path.astype(dtype)
    )
    got = vjp(x)
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(np.asarray(got), expected, rtol=tol, atol=tol)
    assert tuple(got.shape) == path.shape


@pytest.mark.parametrize("chunk", [1, 100])
def test_torch_double_backward(chunk, rng):
    if "torch" not in BACKENDS_BY_NAME:
        pytest.skip("torch is not in this session's backends")
    torch = BACKENDS_BY_NAME["torch"].module
    x = torch.tensor(rng.normal(size=(2, 5, 2)), requires_grad=True)
    budget = _budget_for(chunk, tuple(x.shape), 3)
    assert torch.autograd.gradcheck(lambda p: keras_sig.signature(p, 3, memory_budget=budget), (x,))
    assert torch.autograd.gradgradcheck(lambda p: keras_sig.signature(p, 3, memory_budget=budget), (x,))


def _hvp_reference(path, v, depth):
    """Finite differences of the reference gradient along ``v``."""

    def grad(p):
        return reference.finite_difference_grad(
            lambda q: float(np.sum(reference.signature(q, depth) ** 2)), p
        )

    eps = 1e-4
    return (grad(path + eps * v) - grad(path - eps * v)) / (2 * eps)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_hessian_vector_products(framework, rng):
    path, v = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    depth = 3
    expected = _hvp_reference(path, v, depth)
    budget = _budget_for(1, path.shape, depth)
    backend = BACKENDS_BY_NAME[framework]
    mod = backend.module
    results = []
    if framework == "jax":
        jnp = mod.numpy

        def loss(p):
            return jnp.sum(keras_sig.signature(p, depth, memory_budget=budget) ** 2)

        p, vj = jnp.asarray(path), jnp.asarray(v)
        results.append(mod.grad(lambda q: jnp.vdot(mod.grad(loss)(q), vj))(p))  # reverse over reverse
        results.append(mod.jvp(mod.grad(loss), (p,), (vj,))[1])  # forward over reverse
    elif framework == "torch":
        p = mod.tensor(path, requires_grad=True)
        (g,) = mod.autograd.grad(
            (keras_sig.signature(p, depth, memory_budget=budget) ** 2).sum(), p, create_graph=True
        )
        (h,) = mod.autograd.grad((g * mod.tensor(v)).sum(), p)
        results.append(h.numpy())
    else:
        p = mod.constant(path)
        with mod.GradientTape() as outer:
            outer.watch(p)
            with mod.GradientTape() as inner:
                inner.watch(p)
                y = mod.reduce_sum(keras_sig.signature(p, depth, memory_budget=budget) ** 2)
            g = inner.gradient(y, p)
            s = mod.reduce_sum(g * v)
        results.append(outer.gradient(s, p).numpy())
    for got in results:
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-6)


def test_jax_forward_mode_of_the_signature_itself_is_refused_by_jax(rng):
    """Documented limitation: ``jax.jvp`` of a ``custom_vjp`` function is refused by JAX."""
    if "jax" not in BACKENDS_BY_NAME:
        pytest.skip("jax is not in this session's backends")
    jax = BACKENDS_BY_NAME["jax"].module
    p = jax.numpy.asarray(rng.normal(size=(4, 2)))
    small = _budget_for(1, tuple(p.shape), 2)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda q: keras_sig.signature(q, 2, memory_budget=small), (p,), (p,))
    # The stream output keeps plain autodiff, and forward mode with it.
    tangent = jax.jvp(lambda q: keras_sig.signature(q, 2, stream=True)[-1], (p,), (p,))[1]
    assert tangent.shape == (6,)


def test_the_custom_gradient_is_the_one_used(rng):
    """Each framework's graph holds the wrapper when the gradient would not fit the budget.

    When it fits (the default budget and a short path), no recomputation is
    needed: PyTorch keeps the wrapper, whose backward is then the hand-written
    VJP of the whole path on the forward's tape, and JAX takes that VJP as a
    ``custom_jvp`` (forward mode keeps working), except for an explicit
    ``method="sequential"``, which JAX differentiates through its scan.
    """
    path = rng.normal(size=(2, 6, 2))
    small = _budget_for(2, path.shape, 3)
    if "torch" in BACKENDS_BY_NAME:
        torch = BACKENDS_BY_NAME["torch"].module
        out = keras_sig.signature(torch.tensor(path, requires_grad=True), 3, memory_budget=small)
        assert "LightSignatureBackward" in _graph_nodes(out.grad_fn)
        fits = keras_sig.signature(torch.tensor(path, requires_grad=True), 3)
        assert "LightSignatureBackward" in _graph_nodes(fits.grad_fn)
        stream = keras_sig.signature(
            torch.tensor(path, requires_grad=True), 3, stream=True, memory_budget=small
        )
        assert "LightSignatureBackward" not in _graph_nodes(stream.grad_fn)
    if "jax" in BACKENDS_BY_NAME:
        jax = BACKENDS_BY_NAME["jax"].module
        p = jax.numpy.asarray(path)
        assert "custom_vjp_call" in str(
            jax.make_jaxpr(lambda q: keras_sig.signature(q, 3, memory_budget=small))(p)
        )
        fits = str(jax.make_jaxpr(lambda q: keras_sig.signature(q, 3))(p))
        assert "custom_vjp_call" not in fits
        assert "custom_jvp_call" in fits
        scan = str(jax.make_jaxpr(lambda q: keras_sig.signature(q, 3, method="sequential"))(p))
        assert "custom_jvp_call" not in scan
        assert "custom_vjp_call" not in scan


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
@pytest.mark.parametrize("chunk", [2, None])
def test_torch_compile_traces_the_custom_gradient_in_one_graph(chunk, rng):
    """``fullgraph=True``: the Function (whole-path VJP or chunked backward) compiles without a break."""
    torch = BACKENDS_BY_NAME["torch"].module
    path = rng.normal(size=(2, 9, 2))
    budget = None if chunk is None else _budget_for(chunk, path.shape, 3)
    x = torch.tensor(path, requires_grad=True)
    w = rng.normal(size=keras_sig.sigdim(2, 3))
    _, (grad,) = check_torch_compile(
        lambda p: keras_sig.signature(p, 3, memory_budget=budget), x, cotangent=w, fullgraph=True
    )
    expected = reference.finite_difference_grad(lambda q: float(np.sum(reference.signature(q, 3) * w)), path)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6, atol=1e-8)


# torch.func's first use imports a module that calls the deprecated torch.jit.script.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torch_func_transforms_take_plain_autodiff(rng):
    """``torch.func.grad``/``jacfwd`` and dual tensors, which the Function does not define, still work."""
    if "torch" not in BACKENDS_BY_NAME:
        pytest.skip("torch is not in this session's backends")
    torch = BACKENDS_BY_NAME["torch"].module
    path = rng.normal(size=(2, 7, 2))
    w = torch.tensor(rng.normal(size=keras_sig.sigdim(2, 3)))

    def loss(p):
        return (keras_sig.signature(p, 3) * w).sum()

    x = torch.tensor(path, requires_grad=True)
    loss(x).backward()
    np.testing.assert_allclose(torch.func.grad(loss)(torch.tensor(path)).numpy(), x.grad.numpy(), rtol=1e-12)
    jac = torch.func.jacfwd(loss)(torch.tensor(path))
    np.testing.assert_allclose(jac.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-12)


def _graph_nodes(node) -> set[str]:
    """Names of every node of a torch autograd graph."""
    names, stack, seen = set(), [node], set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        names.add(type(current).__name__)
        stack.extend(n for n, _ in current.next_functions)
    return names


@pytest.mark.parametrize("method", ["sequential", "parallel", "chunked", "auto"])
def test_torch_keeps_only_the_path_and_the_signature_for_the_backward(method, rng):
    """Bytes saved for the backward grow like the path itself, not like length x sigdim."""
    if "torch" not in BACKENDS_BY_NAME:
        pytest.skip("torch is not in this session's backends")
    torch = BACKENDS_BY_NAME["torch"].module
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    def saved_bytes(length):
        saved.clear()
        x = torch.tensor(rng.normal(size=(4, length, 3)), requires_grad=True)
        budget = _budget_for(16, tuple(x.shape), 4)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            keras_sig.signature(x, 4, method=method, memory_budget=budget)
        return sum(saved), x.numel() * 8

    for length in (50, 2000):
        got, path_bytes = saved_bytes(length)
        sig_bytes = 4 * keras_sig.sigdim(3, 4) * 8
        assert got <= path_bytes + sig_bytes + 1024, (length, got)


def test_jax_gradient_temporaries_do_not_grow_with_the_length():
    """XLA's own accounting of the compiled gradient's temporaries, at two lengths."""
    if "jax" not in BACKENDS_BY_NAME:
        pytest.skip("jax is not in this session's backends")
    jax = BACKENDS_BY_NAME["jax"].module
    jnp = jax.numpy

    def temp_bytes(length, budget):
        grad = jax.jit(jax.grad(lambda p: keras_sig.signature(p, 4, memory_budget=budget).sum()))
        x = jnp.zeros((4, length, 3))
        stats = grad.lower(x).compile().memory_analysis()
        return stats.temp_size_in_bytes, x.nbytes

    budget = 2**20
    short, path_short = temp_bytes(1000, budget)
    long, path_long = temp_bytes(8000, budget)
    # Growth beyond what the input itself (the increments, their gradient) costs stays small.
    assert long - short <= 4 * (path_long - path_short) + budget // 2, (short, long)
