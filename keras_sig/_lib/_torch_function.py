"""The PyTorch custom gradient, a :class:`torch.autograd.Function` defined at import.

This module imports torch, so :mod:`keras_sig._lib._gradients` imports it only
once a PyTorch tensor is seen. The class lives at module level (not built on
first use) so that ``torch.compile`` can trace it: Dynamo cannot trace a class
definition, but traces the forward and the backward of an existing Function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["LightSignature"]

Forward = Callable[[torch.Tensor], torch.Tensor]
Backward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class LightSignature(torch.autograd.Function):
    """``z -> forward(z)`` whose gradient is ``backward(z, forward(z), cotangent)``.

    The backward recomputes from the saved input with differentiable
    operations, so with ``create_graph=True`` it records its own graph (double
    backward).
    """

    @staticmethod
    def forward(z: torch.Tensor, forward: Forward, _backward: Backward) -> torch.Tensor:
        return forward(z)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        z, _, backward = inputs
        ctx.save_for_backward(z, output)
        ctx.backward_fn = backward

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        z, final = ctx.saved_tensors
        return ctx.backward_fn(z, final, cotangent), None, None
