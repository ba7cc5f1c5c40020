"""The signature kernel's PyTorch custom gradient, a :class:`torch.autograd.Function` defined at import.

Imported only once a PyTorch tensor is seen (see :mod:`keras_sig._lib._kernel_gradients`);
defined at module level so that ``torch.compile`` can trace it.
"""

from __future__ import annotations

from typing import Any

import torch

from keras_sig._lib._typing import KernelTaped as Taped
from keras_sig._lib._typing import KernelVjp as Vjp

__all__ = ["KernelSolve"]


class KernelSolve(torch.autograd.Function):
    """``g -> taped(g)[0]`` whose gradient is ``vjp(g, tape, cotangent)``.

    The tape from the forward is kept for a first-order backward; a backward
    asked to build a graph recomputes it from the saved input with
    differentiable operations.
    """

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, taped: Taped, vjp: Vjp) -> torch.Tensor:
        ctx.taped, ctx.vjp = taped, vjp
        value, tape = taped(g)
        ctx.save_for_backward(g, *tape)
        return value

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        g, *tape = ctx.saved_tensors
        if torch.is_grad_enabled():
            _, tape = ctx.taped(g)
        return ctx.vjp(g, tape, cotangent), None, None
