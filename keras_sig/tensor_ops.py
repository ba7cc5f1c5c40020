"""keras_sig 1.0.2's module ``keras_sig.tensor_ops``: tensor algebra on lists of levels.

These helpers work on 1.0.2's layout of a truncated signature, a list whose
level ``k`` is a tensor with ``k`` trailing axes of size ``n`` (after one
batch axis for the ``batch_*`` functions, two for ``batch_seq_otimes``), with
:mod:`keras.ops`, so on any Keras backend's tensors. keras_sig itself now
works on flat signatures (:func:`keras_sig.signature_combine`,
:func:`keras_sig.extract_signature_term`); these have no direct replacement.
Reading any of them from this module works and emits a
:class:`DeprecationWarning`. Importing this module imports Keras.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from keras import ops

from keras_sig._compat import LegacyModule, add_outer, deprecate_names, exp_levels, outer, times_exp_levels

__all__ = [
    "addcmul",
    "batch_addcmul",
    "batch_mult_fused_restricted_exp",
    "batch_otimes",
    "batch_restricted_exp",
    "batch_seq_otimes",
    "mult_fused_restricted_exp",
    "otimes",
    "restricted_exp",
]


def otimes(x: Any, y: Any) -> Any:
    """Tensor product: shapes ``p`` and ``q`` give ``(*p, *q)``, ``out[i, j] = x[i] * y[j]``."""
    return outer(x, y, shared=0, expand_dims=ops.expand_dims)


def addcmul(x: Any, y: Any, z: Any) -> Any:
    """``x + otimes(y, z)``."""
    return add_outer(x, y, z, shared=0, expand_dims=ops.expand_dims)


def restricted_exp(input: Any, depth: int) -> list[Any]:
    """Levels ``1..depth`` of the tensor exponential of the vector ``input`` (shape ``(n,)``)."""
    return exp_levels(input, depth, shared=0, expand_dims=ops.expand_dims)


def mult_fused_restricted_exp(z: Any, A: Sequence[Any]) -> list[Any]:  # noqa: N803 (1.0.2's name)
    """Levels of ``A (x) exp(z)`` (Chen's identity): ``A`` levels ``1..N`` of a signature, ``z`` ``(n,)``."""
    return times_exp_levels(z, A, shared=0, expand_dims=ops.expand_dims)


def batch_otimes(x: Any, y: Any) -> Any:
    """Tensor product sharing the first (batch) axis: ``(b, *p) x (b, *q) -> (b, *p, *q)``."""
    return outer(x, y, shared=1, expand_dims=ops.expand_dims)


def batch_seq_otimes(x: Any, y: Any) -> Any:
    """Tensor product sharing the batch and sequence axes: ``(b, s, *p), (b, s, *q) -> (b, s, *p, *q)``."""
    return outer(x, y, shared=2, expand_dims=ops.expand_dims)


def batch_addcmul(x: Any, y: Any, z: Any) -> Any:
    """``x + batch_otimes(y, z)``."""
    return add_outer(x, y, z, shared=1, expand_dims=ops.expand_dims)


def batch_restricted_exp(input: Any, depth: int) -> list[Any]:
    """Levels ``1..depth`` of the tensor exponential of each row of ``input`` (shape ``(b, n)``)."""
    return exp_levels(input, depth, shared=1, expand_dims=ops.expand_dims)


def batch_mult_fused_restricted_exp(z: Any, A: Sequence[Any]) -> list[Any]:  # noqa: N803 (1.0.2's name)
    """Levels of ``A (x) exp(z)`` per batch row: ``A`` levels of shape ``(b, n, ..., n)``, ``z`` (b, n)."""
    return times_exp_levels(z, A, shared=1, expand_dims=ops.expand_dims)


_DEPRECATED = deprecate_names(
    globals(),
    dict.fromkeys(
        __all__,
        "it has no replacement (keras_sig.signature_combine and keras_sig.extract_signature_term "
        "work on flat signatures)",
    ),
)
sys.modules[__name__].__class__ = LegacyModule
