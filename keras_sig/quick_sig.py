"""keras_sig 1.0.2's module ``keras_sig.quick_sig``: its pure-JAX functions.

``batch_signature_pure_jax`` is :func:`keras_sig.jax_signature` (also
exported as ``keras_sig.jax_gpu_signature``, 1.0.2's name for it); the three
tensor-product helpers work on 1.0.2's list-of-levels layout (level ``k`` of
shape ``(batch, n, ..., n)``, ``k`` trailing axes). Reading any of these
names from this module works and emits a :class:`DeprecationWarning`.
Importing this module imports JAX.
"""

from __future__ import annotations

import sys
from typing import Any

import jax.numpy as jnp

from keras_sig._compat import LegacyModule, deprecate_names, exp_levels, outer
from keras_sig.shims.jax import jax_signature

__all__ = [
    "batch_otimes_pure_jax",
    "batch_restricted_exp_pure_jax",
    "batch_seq_otimes_pure_jax",
    "batch_signature_pure_jax",
]

batch_signature_pure_jax = jax_signature


def batch_otimes_pure_jax(x: Any, y: Any) -> Any:
    """Tensor product sharing the first (batch) axis: ``(b, *p) x (b, *q) -> (b, *p, *q)``."""
    return outer(x, y, shared=1, expand_dims=jnp.expand_dims)


def batch_seq_otimes_pure_jax(x: Any, y: Any) -> Any:
    """Tensor product sharing the batch and sequence axes: ``(b, s, *p), (b, s, *q) -> (b, s, *p, *q)``."""
    return outer(x, y, shared=2, expand_dims=jnp.expand_dims)


def batch_restricted_exp_pure_jax(input: Any, depth: int) -> list[Any]:
    """Levels ``1..depth`` of the tensor exponential of each increment in ``input`` (shape ``(b, n)``)."""
    return exp_levels(input, depth, shared=1, expand_dims=jnp.expand_dims)


_NO_REPLACEMENT = "it has no replacement (keras_sig.signature_combine multiplies flat signatures)"
_DEPRECATED = deprecate_names(
    globals(),
    {
        "batch_signature_pure_jax": "use keras_sig.jax_signature (same arguments: path, depth, stream)",
        "batch_otimes_pure_jax": _NO_REPLACEMENT,
        "batch_seq_otimes_pure_jax": _NO_REPLACEMENT,
        "batch_restricted_exp_pure_jax": _NO_REPLACEMENT,
    },
)
sys.modules[__name__].__class__ = LegacyModule
