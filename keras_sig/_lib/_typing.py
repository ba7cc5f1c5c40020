"""Typing aliases shared by the public API."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

Array: TypeAlias = Any
"""Any array the library accepts: NumPy, CuPy, JAX, PyTorch, TensorFlow, array-api-strict."""

Namespace: TypeAlias = Any
"""An array-API namespace (or the TensorFlow adapter)."""

Method: TypeAlias = Literal["auto", "sequential", "parallel", "chunked"]
