"""Typing aliases shared by the public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias

Array: TypeAlias = Any
"""Any array the library accepts: NumPy, CuPy, JAX, PyTorch, TensorFlow, array-api-strict."""

Namespace: TypeAlias = Any
"""An array-API namespace (or the TensorFlow adapter)."""

Method: TypeAlias = Literal["auto", "sequential", "parallel", "chunked"]

# The signature's custom gradients (:mod:`keras_sig._lib._gradients`).
Forward: TypeAlias = Callable[[Array], Array]
"""``points -> signature``."""
Backward: TypeAlias = Callable[[Array, Array, Array], Array]
"""``(points, signature, cotangent) -> the points' cotangent``."""
Taped: TypeAlias = tuple[Callable[[Array], tuple[Array, list[Array]]], Callable[[Array, Any, Array], Array]]
"""``(forward_tape, backward_tape)``: a forward that also returns its tape, and a backward taking it."""

# The signature kernel's custom gradient (:mod:`keras_sig._lib._kernel_gradients`).
KernelTaped: TypeAlias = Callable[[Array], tuple[Array, list[Array]]]
"""``increments' products -> (kernel, tape)``."""
KernelVjp: TypeAlias = Callable[[Array, list[Array], Array], Array]
"""``(products, tape, cotangent) -> the products' cotangent``."""
