r"""Custom gradients: one wrapper per framework.

The backward pass itself is written once, in the array-API core (the
memory-light :func:`keras_sig._core._backward.light_backward`, or the
hand-written :func:`~keras_sig._core._backward.parallel_vjp` of the whole
path); it takes no framework autodiff, only array operations. What differs
between frameworks is only how a custom gradient is declared.
:func:`custom_vjp_for` returns, for a namespace, a function
``wrap(forward, backward, taped)`` that turns ``forward: x -> signature`` into
a function with the same values whose gradient is ``backward(x, signature,
cotangent)``, or ``None`` where the framework has no autodiff. ``taped``, where
given, is ``(forward_tape, backward_tape)``: a forward that also returns the
intermediates a backward can take instead of recomputing them (only the
PyTorch wrapper uses it; JAX and TensorFlow get no ``taped`` in practice).
Where the whole path's derivatives fit the budget, JAX takes no custom VJP
but :func:`jax_custom_jvp`: a ``custom_jvp`` whose tangent map is the
transposed hand-written VJP, so forward mode keeps working.

* JAX (memory-light): :func:`jax.custom_vjp`. The residuals are the input
  (the path's points) and the final signature. The backward is made of JAX
  operations, so it can be differentiated again in reverse mode (``jax.grad``
  of a gradient, and Hessian-vector products written as ``jax.grad`` of
  ``vdot(grad, v)``); forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) of a
  ``custom_vjp`` function is refused by JAX itself.
* PyTorch: a :class:`torch.autograd.Function`
  (:mod:`keras_sig._lib._torch_function`). A backward asked to build a graph
  recomputes from the saved input with differentiable operations, so double
  backward (``create_graph=True``, ``gradgradcheck``, Hessian-vector
  products) works.
  ``torch.compile`` traces it (forward and backward). Under ``torch.func``
  transforms and forward-mode AD (dual tensors), which the Function does not
  define, the gradient is plain autodiff, with the same values.
* TensorFlow: :func:`tf.custom_gradient`; nested ``GradientTape``\\ s give
  second derivatives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from keras_sig._lib._namespace import (
    is_adapter,
    is_jax_namespace,
    is_torch_namespace,
    torch_transforms_active,
)
from keras_sig._lib._typing import Array, Backward, Forward, Namespace, Taped

__all__ = ["custom_gradient_for", "custom_vjp_for", "has_autodiff", "jax_custom_jvp"]

Wrap = Callable[[Forward, Backward, Taped | None], Forward]


def has_autodiff(xp: Namespace) -> bool:
    """Whether ``xp``'s framework differentiates (JAX, PyTorch, TensorFlow), so custom gradients apply."""
    return is_jax_namespace(xp) or is_torch_namespace(xp) or is_adapter(xp)


def custom_gradient_for(xp: Namespace, gradient: str) -> Callable[..., Forward] | None:
    """The wrapper a plan's ``gradient`` names (``None`` for ``"autodiff"``, or without autodiff)."""
    if gradient == "custom_jvp":
        return jax_custom_jvp
    if gradient == "custom_vjp":
        return custom_vjp_for(xp)
    return None


def custom_vjp_for(xp: Namespace) -> Wrap | None:
    """The custom-gradient wrapper for ``xp``'s framework, or ``None`` (no autodiff)."""
    if is_jax_namespace(xp):
        return _jax_wrap
    if is_torch_namespace(xp):
        return _torch_wrap
    if is_adapter(xp):
        return _tf_wrap
    return None


# --------------------------------------------------------------------------- JAX


def _jax_wrap(forward: Forward, backward: Backward, _taped: Taped | None = None) -> Forward:
    import jax

    @jax.custom_vjp
    def with_custom_vjp(z: Array) -> Array:
        return forward(z)

    def fwd(z: Array) -> tuple[Array, tuple[Array, Array]]:
        final = forward(z)
        return final, (z, final)

    def bwd(residuals: tuple[Array, Array], cotangent: Array) -> tuple[Array]:
        z, final = residuals
        # Traced when the gradient is transposed, outside the forward's context.
        with jax.default_matmul_precision("highest"):
            return (backward(z, final, cotangent),)

    with_custom_vjp.defvjp(fwd, bwd)
    return with_custom_vjp


def jax_custom_jvp(primal: Forward, taped: Taped) -> Forward:
    """A function with :func:`jax.custom_jvp` derivatives from the hand-written VJP.

    ``taped`` is ``(forward_tape, backward_tape)`` of the parallel method (see
    :func:`custom_vjp_for`). Undifferentiated, the values are
    ``primal``'s (the parallel method itself, or another method of the
    signature, as JAX's fast CPU scan); differentiated, they are the taped
    forward's, which the derivatives need anyway (so ``jax.value_and_grad``
    runs no second forward; the two agree to rounding). The tangent map is the linear transpose
    (:func:`jax.linear_transpose`) of the hand-written VJP at the forward's
    tape, so ``jax.jvp`` runs that transpose, and ``jax.grad``, transposing it
    back, runs the hand-written VJP itself on the tape kept from the forward:
    no recomputation, and faster than XLA's transpose of the parallel method
    (``python -m benchmarks`` times both, as the gradient rows). Being linear
    operations on the tape, which is made of the input by array operations,
    the derivatives are differentiable again: forward
    mode, reverse mode and their compositions (``jax.hessian``) all work.
    """
    import jax

    forward_tape, backward_tape = taped

    @jax.custom_jvp
    def wrapped(x: Array) -> Array:
        return primal(x)

    @wrapped.defjvp
    def wrapped_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
        (x,), (dx,) = primals, tangents
        out, tape = forward_tape(x)

        def vjp(cotangent: Array) -> Array:
            return backward_tape(x, tape, cotangent)

        (tangent_out,) = jax.linear_transpose(vjp, jax.ShapeDtypeStruct(out.shape, out.dtype))(dx)
        return out, tangent_out

    return wrapped


# --------------------------------------------------------------------------- PyTorch


def _torch_wrap(forward: Forward, backward: Backward, taped: Taped | None = None) -> Forward:
    torch = sys.modules["torch"]

    def with_custom_vjp(z: Array) -> Array:
        if not (torch.is_grad_enabled() and z.requires_grad) or torch_transforms_active(torch):
            return forward(z)
        from keras_sig._lib._torch_function import LightSignature

        return LightSignature.apply(z, forward, backward, taped)

    return with_custom_vjp


# --------------------------------------------------------------------------- TensorFlow


def _tf_wrap(forward: Forward, backward: Backward, _taped: Taped | None = None) -> Forward:
    import tensorflow as tf

    @tf.custom_gradient
    def with_custom_vjp(z: Array) -> tuple[Array, Callable[[Array], Array]]:
        final = forward(z)

        def grad(cotangent: Array) -> Array:
            return backward(z, final, cotangent)

        return final, grad

    return with_custom_vjp
