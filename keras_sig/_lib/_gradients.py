r"""Memory-light gradients: one custom-gradient wrapper per framework.

The backward pass itself is written once, in the array-API core
(:func:`keras_sig._core._signature.light_backward`); what differs between
frameworks is only how a custom gradient is declared and how the pullback of
one chunk is taken. :func:`light_gradient_for` returns, for a namespace, a
function ``wrap(forward, backward)`` that turns ``forward: x -> signature`` into
a function with the same values whose gradient is ``backward(x, signature,
cotangent, vjp)``, or ``None`` where the framework has no autodiff.

* JAX: :func:`jax.custom_vjp`. The residuals are the input (the path's points)
  and the final signature. The backward is made of JAX operations, so it can be
  differentiated again in reverse mode (``jax.grad`` of a gradient, and
  Hessian-vector products written as ``jax.grad`` of ``vdot(grad, v)``);
  forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) of a
  ``custom_vjp`` function is refused by JAX itself.
* PyTorch: a :class:`torch.autograd.Function`. With ``create_graph=True`` the
  backward records its own graph, so double backward (``gradgradcheck``,
  Hessian-vector products) works. Inside ``torch.compile`` the Function is
  not used (Dynamo cannot trace a backward that takes pullbacks): compiled
  code gets plain autodiff, with the same values.
* TensorFlow: :func:`tf.custom_gradient`; nested ``GradientTape``\\ s give
  second derivatives.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from keras_sig._lib._backends import is_jax_namespace, is_torch_namespace
from keras_sig._lib._typing import Array, Namespace

__all__ = ["light_gradient_for"]

Forward = Callable[[Array], Array]
Backward = Callable[[Array, Array, Array, Callable[..., Any]], Array]
Wrap = Callable[[Forward, Backward], Forward]


def light_gradient_for(xp: Namespace) -> Wrap | None:
    """The custom-gradient wrapper for ``xp``'s framework, or ``None`` (no autodiff)."""
    if is_jax_namespace(xp):
        return _jax_wrap
    if is_torch_namespace(xp):
        return _torch_wrap
    if getattr(xp, "_keras_sig_adapter", False):
        return _tf_wrap
    return None


# --------------------------------------------------------------------------- JAX


def _jax_vjp(fn: Forward, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    import jax

    y, pullback = jax.vjp(fn, x)
    return y, lambda g: pullback(g)[0]


def _jax_wrap(forward: Forward, backward: Backward) -> Forward:
    import jax

    @jax.custom_vjp
    def light(z: Array) -> Array:
        return forward(z)

    def fwd(z: Array) -> tuple[Array, tuple[Array, Array]]:
        final = forward(z)
        return final, (z, final)

    def bwd(residuals: tuple[Array, Array], cotangent: Array) -> tuple[Array]:
        z, final = residuals
        return (backward(z, final, cotangent, _jax_vjp),)

    light.defvjp(fwd, bwd)
    return light


# --------------------------------------------------------------------------- PyTorch


def _torch_vjp(fn: Forward, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    torch = sys.modules["torch"]
    # Grad mode is on inside a backward only when it was asked to build a graph
    # (create_graph=True): then the pullback stays connected for double backward.
    create = torch.is_grad_enabled()
    leaf = x if create and x.requires_grad else x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(leaf)

    def pullback(g: Array) -> Array:
        return torch.autograd.grad(y, leaf, g, create_graph=create)[0]

    return y, pullback


@functools.cache
def _torch_function() -> type:
    """The one ``torch.autograd.Function``, built on first use (torch is imported lazily)."""
    torch = sys.modules["torch"]

    class LightSignature(torch.autograd.Function):  # type: ignore[name-defined]
        """``z -> forward(z)`` whose gradient is ``backward(z, forward(z), cotangent, vjp)``."""

        @staticmethod
        def forward(ctx: Any, z: Array, forward: Forward, backward: Backward) -> Array:
            final = forward(z)
            ctx.save_for_backward(z, final)
            ctx.backward_fn = backward
            return final

        @staticmethod
        def backward(ctx: Any, cotangent: Array) -> tuple[Array, None, None]:
            z, final = ctx.saved_tensors
            return ctx.backward_fn(z, final, cotangent, _torch_vjp), None, None

    return LightSignature


def _torch_apply(forward: Forward, backward: Backward, z: Array) -> Array:
    torch = sys.modules["torch"]
    if not (torch.is_grad_enabled() and z.requires_grad):
        return forward(z)
    return _torch_function().apply(z, forward, backward)  # type: ignore[attr-defined]


def _torch_wrap(forward: Forward, backward: Backward) -> Forward:
    torch = sys.modules["torch"]

    def light(z: Array) -> Array:
        if torch.compiler.is_compiling():
            # Dynamo cannot trace a backward that itself takes pullbacks, and a
            # graph break around the Function makes Dynamo touch the non-leaf
            # increments' .grad (a warning per compile): under torch.compile the
            # gradient is plain autodiff of the compiled forward.
            return forward(z)
        return _torch_apply(forward, backward, z)

    return light


# --------------------------------------------------------------------------- TensorFlow


def _tf_vjp(fn: Forward, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return y, lambda g: tape.gradient(y, x, output_gradients=g)


def _tf_wrap(forward: Forward, backward: Backward) -> Forward:
    import tensorflow as tf

    @tf.custom_gradient
    def light(z: Array) -> tuple[Array, Callable[[Array], Array]]:
        final = forward(z)

        def grad(cotangent: Array) -> Array:
            return backward(z, final, cotangent, _tf_vjp)

        return final, grad

    return light
