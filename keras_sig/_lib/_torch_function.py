"""The PyTorch custom gradient, a :class:`torch.autograd.Function` defined at import.

This module imports torch, so :mod:`keras_sig._lib._gradients` imports it only
once a PyTorch tensor is seen. The class lives at module level (not built on
first use) so that ``torch.compile`` can trace it: Dynamo cannot trace a class
definition, but traces the forward and the backward of an existing Function.
"""

from __future__ import annotations

from typing import Any

import torch

from keras_sig._lib._namespace import array_namespace, precise_matmuls
from keras_sig._lib._typing import Backward, Forward, Taped

__all__ = ["LightSignature"]


class LightSignature(torch.autograd.Function):
    """``z -> forward(z)`` whose gradient is ``backward(z, forward(z), cotangent)``.

    With ``taped = (forward_tape, backward_tape)`` the forward keeps the tape
    ``forward_tape(z)`` returns and a first-order backward takes it,
    ``backward_tape(z, tape, cotangent)``, instead of recomputing it. A
    backward asked to build a graph (``create_graph=True``) recomputes from
    the saved input with differentiable operations, so that the second
    derivatives see how the tape depends on it.
    """

    @staticmethod
    def forward(
        ctx: Any, z: torch.Tensor, forward: Forward, backward: Backward, taped: Taped | None
    ) -> torch.Tensor:
        ctx.backward_fn, ctx.taped = backward, taped
        if taped is None:
            out = forward(z)
            ctx.save_for_backward(z, out)
            return out
        out, tape = taped[0](z)
        ctx.save_for_backward(z, out, *tape)
        return out

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, final, *tape = ctx.saved_tensors
        # The backward runs after the forward's context has closed (on CUDA, in autograd's thread).
        with precise_matmuls(array_namespace(z)):
            if ctx.taped is not None and not torch.is_grad_enabled():
                return ctx.taped[1](z, tape, cotangent), None, None, None
            return ctx.backward_fn(z, final, cotangent), None, None, None
