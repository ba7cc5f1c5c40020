"""The signature kernel's custom gradient, declared once per framework.

The PDE solve (increments -> kernel) and its adjoint are written once in
:mod:`keras_sig._core._kernel`; :func:`kernel_gradient_for` returns, for a
namespace, ``wrap(forward, taped, vjp)`` turning ``forward: g -> k`` into a
function with the same values whose gradient is ``vjp(g, tape, cotangent)``,
where ``taped(g)`` returns ``(k, tape)``. ``None`` where the framework has no
autodiff (NumPy, CuPy, array-api-strict).

* JAX: :func:`jax.custom_vjp`; the tape is the residual, and the backward,
  made of JAX operations on it, can be differentiated again in reverse mode.
* PyTorch: a :class:`torch.autograd.Function` (:mod:`keras_sig._lib._kernel_torch`).
  A backward asked to build a graph (``create_graph=True``) recomputes the tape
  from the saved input with differentiable operations, so double backward works.
* TensorFlow: :func:`tf.custom_gradient`. TensorFlow records none of the
  forward's operations for an outer tape, so the gradient recomputes the tape
  from the input (one more forward solve): second derivatives through nested
  tapes then see how the tape depends on the input.
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
from keras_sig._lib._typing import Array, Forward, Namespace
from keras_sig._lib._typing import KernelTaped as Taped
from keras_sig._lib._typing import KernelVjp as Vjp

__all__ = ["kernel_gradient_for"]

Wrap = Callable[[Forward, Taped, Vjp], Forward]


def kernel_gradient_for(xp: Namespace) -> Wrap | None:
    """The custom-gradient wrapper for ``xp``'s framework, or ``None`` (no autodiff)."""
    if is_jax_namespace(xp):
        return _jax_wrap
    if is_torch_namespace(xp):
        return _torch_wrap
    if is_adapter(xp):
        return _tf_wrap
    return None


def _jax_wrap(forward: Forward, taped: Taped, vjp: Vjp) -> Forward:
    import jax

    @jax.custom_vjp
    def solve(g: Array) -> Array:
        return forward(g)

    def fwd(g: Array) -> tuple[Array, tuple[Array, list[Array]]]:
        value, tape = taped(g)
        return value, (g, tape)

    def bwd(residuals: tuple[Array, list[Array]], cotangent: Array) -> tuple[Array]:
        g, tape = residuals
        return (vjp(g, tape, cotangent),)

    solve.defvjp(fwd, bwd)
    return solve


def _torch_wrap(forward: Forward, taped: Taped, vjp: Vjp) -> Forward:
    torch = sys.modules["torch"]

    def solve(g: Array) -> Array:
        if not (torch.is_grad_enabled() and g.requires_grad) or torch_transforms_active(torch):
            return forward(g)
        from keras_sig._lib._kernel_torch import KernelSolve

        return KernelSolve.apply(g, taped, vjp)

    return solve


def _tf_wrap(forward: Forward, taped: Taped, vjp: Vjp) -> Forward:
    import tensorflow as tf

    @tf.custom_gradient
    def solve(g: Array) -> tuple[Array, Callable[[Array], Array]]:
        def grad(cotangent: Array) -> Array:
            _, tape = taped(g)  # recomputed here (see the module docstring)
            return vjp(g, tape, cotangent)

        return forward(g), grad

    return solve
