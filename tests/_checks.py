"""Checks the feature tests share: gradients, bad input and ``torch.compile``.

- :func:`check_gradient`, parametrised by :func:`autodiff_params`: the gradient of
  ``sum(fn(*inputs) * cotangent)`` on PyTorch, JAX (optionally under ``jax.jit``, and
  ``jax.vmap``) and TensorFlow (``tf.function``, optionally XLA), against central
  finite differences of a NumPy reference, in float64.
- :func:`rejection_cases` and :func:`check_rejects`: a table of bad calls, each raising
  its exception with a message matching its pattern.
- :func:`check_torch_compile`: ``torch.compile(fn)`` gives eager's values and gradients.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from tests import reference
from tests._backends import BACKENDS_BY_NAME

AUTODIFF = ("torch", "jax", "tensorflow")

_JIT_NAMES = {"jax": "jit", "tensorflow": "xla"}

# --------------------------------------------------------------------------- gradients


def autodiff_params(*, jit: Sequence[bool] = (True,)) -> list[Any]:
    """``pytest.param``s of ``(framework, jit)`` for :func:`check_gradient`.

    PyTorch runs eagerly (``torch.compile``: :func:`check_torch_compile`); JAX and
    TensorFlow once per entry of ``jit``: ``False`` is ``jax.grad`` as is and a
    ``tf.function`` graph, ``True`` is ``jax.jit`` and ``tf.function(jit_compile=True)``.
    The ids read ``torch``, ``jax``, ``jax-jit``, ``tensorflow``, ``tensorflow-xla``; a
    framework this session does not run is skipped.
    """
    params = []
    for name in AUTODIFF:
        skip = pytest.mark.skipif(
            name not in BACKENDS_BY_NAME, reason=f"{name} is not in this session's backends"
        )
        for compiled in (False,) if name == "torch" else jit:
            ident = f"{name}-{_JIT_NAMES[name]}" if compiled else name
            params.append(pytest.param(name, compiled, id=ident, marks=skip))
    return params


def _converted(constants: Mapping[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    return {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}


def check_gradient(
    fn: Callable[..., Any],
    inputs: np.ndarray | Sequence[np.ndarray],
    ref: Callable[..., np.ndarray],
    *,
    backend: str,
    rng: np.random.Generator,
    jit: bool = False,
    constants: Mapping[str, Any] | None = None,
    vmap: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-7,
    eps: float = 1e-6,
) -> list[np.ndarray]:
    """The ``backend`` gradient of ``sum(fn(*inputs, **constants) * w)`` matches finite differences.

    ``fn`` takes the framework's arrays (``inputs``, float64 NumPy arrays, converted) and
    ``constants`` as keywords (their NumPy arrays converted, anything else as is); ``ref``
    takes the same as NumPy. The cotangent ``w`` is drawn from ``rng``; the expected
    gradient, with respect to each input, is central differences (step ``eps``) of
    ``sum(ref(...) * w)``. ``jit`` (JAX and TensorFlow): under ``jax.jit`` or XLA.
    ``vmap`` (JAX only): ``jax.vmap(fn)`` over ``[inputs, 2 * inputs]`` also matches
    ``fn`` of the stacked inputs, jitted when ``jit``. Returns the framework's gradients.
    """
    inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    constants = dict(constants or {})
    weights = rng.normal(size=np.shape(ref(*inputs, **constants)))

    def ref_loss(i: int) -> Callable[[np.ndarray], float]:
        def loss(x: np.ndarray) -> float:
            args = [*inputs[:i], x, *inputs[i + 1 :]]
            return float(np.sum(ref(*args, **constants) * weights))

        return loss

    expected = [reference.finite_difference_grad(ref_loss(i), x, eps) for i, x in enumerate(inputs)]
    label = f"{backend}{' (compiled)' if jit else ''}"

    if backend == "torch":
        if jit:
            msg = "torch gradients run eagerly here; torch.compile is check_torch_compile's"
            raise ValueError(msg)
        import torch

        xs = [torch.tensor(x, requires_grad=True) for x in inputs]
        out = fn(*xs, **_converted(constants, torch.tensor))
        grads = [g.numpy() for g in torch.autograd.grad((out * torch.tensor(weights)).sum(), xs)]
    elif backend == "jax":
        jax = BACKENDS_BY_NAME["jax"].module
        jnp = jax.numpy
        consts = _converted(constants, jnp.asarray)
        argnums = tuple(range(len(inputs)))
        grad = jax.grad(lambda *xs: jnp.sum(fn(*xs, **consts) * weights), argnums=argnums)
        grads = [np.asarray(g) for g in (jax.jit(grad) if jit else grad)(*map(jnp.asarray, inputs))]
        if vmap:
            stacked = [jnp.stack([jnp.asarray(x), 2 * jnp.asarray(x)]) for x in inputs]
            mapped = jax.vmap(lambda *xs: fn(*xs, **consts))
            np.testing.assert_allclose(
                (jax.jit(mapped) if jit else mapped)(*stacked),
                fn(*stacked, **consts),
                rtol=1e-12,
                atol=1e-12,
                err_msg=f"{label}: jax.vmap differs from the batched call",
            )
    elif backend == "tensorflow":
        tf = BACKENDS_BY_NAME["tensorflow"].module
        consts = _converted(constants, tf.constant)

        @tf.function(jit_compile=jit)
        def tf_grad(*xs: Any) -> Any:
            with tf.GradientTape() as tape:
                for x in xs:
                    tape.watch(x)
                loss = tf.reduce_sum(fn(*xs, **consts) * weights)
            return tape.gradient(loss, list(xs))

        grads = [g.numpy() for g in tf_grad(*map(tf.constant, inputs))]
    else:
        msg = f"no autodiff check for backend {backend!r}; one of {AUTODIFF}"
        raise ValueError(msg)

    assert len(grads) == len(expected)
    for i, (got, want) in enumerate(zip(grads, expected, strict=True)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{label}: gradient of input {i}")
    return grads


# --------------------------------------------------------------------------- bad input


def rejection_cases(cases: Sequence[tuple[Callable[..., Any], type[BaseException], str]]) -> Any:
    """Parametrise a test over ``(call, error, match)``, each case named by its pattern's start."""
    return pytest.mark.parametrize(("call", "error", "match"), cases, ids=[c[2][:40] for c in cases])


def bad_input_path(backend: Any) -> Any:
    """The path the bad-input tables are written against: float64 zeros of shape (2, 5, 3)."""
    return backend.asarray(np.zeros((2, 5, 3)), "float64")


def check_rejects(
    call: Callable[..., Any], error: type[BaseException], match: str, *args: Any
) -> pytest.ExceptionInfo[BaseException]:
    """``call(*args)`` raises ``error`` with a message matching ``match`` (``re.search``)."""
    with pytest.raises(error, match=match) as info:
        call(*args)
    return info


# --------------------------------------------------------------------------- torch.compile


def check_torch_compile(
    fn: Callable[..., Any],
    *args: Any,
    cotangent: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    **options: Any,
) -> tuple[Any, tuple[Any, ...]]:
    """``torch.compile(fn, **options)(*args)`` matches ``fn(*args)``: the value, and the gradient.

    The gradient is of ``sum(out * cotangent)`` (``cotangent`` defaults to ones) with
    respect to every argument that requires grad, compiled first, then eager. Dynamo's
    warnings about the torch internals and the lru_cache-wrapped array-namespace lookup
    it traces through are ignored. Returns the compiled output (detached) and gradients.
    """
    import torch

    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]

    def run(f: Callable[..., Any]) -> tuple[Any, tuple[Any, ...]]:
        out = f(*args)
        weights = torch.ones_like(out) if cotangent is None else torch.as_tensor(cotangent)
        grads = torch.autograd.grad((out * weights).sum(), leaves) if leaves else ()
        return out.detach(), grads

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.script_method` is deprecated", DeprecationWarning)
        warnings.filterwarnings(
            "ignore", r"Dynamo detected a call to a `functools\.lru_cache`-wrapped function", UserWarning
        )
        got, got_grads = run(torch.compile(fn, **options))
    want, want_grads = run(fn)
    np.testing.assert_allclose(
        got.cpu().numpy(), want.cpu().numpy(), rtol=rtol, atol=atol, err_msg="torch.compile's value"
    )
    for i, (g, w) in enumerate(zip(got_grads, want_grads, strict=True)):
        np.testing.assert_allclose(
            g.cpu().numpy(), w.cpu().numpy(), rtol=rtol, atol=atol, err_msg=f"torch.compile's gradient {i}"
        )
    return got, got_grads
