"""What keeps code written for keras_sig 1.0.2 working: its option spellings and module paths.

1.0.2's options ``gpu_optimized=`` (now ``method=``) and ``unroll=`` (now
chosen by the backend) are checked and mapped here, for
:func:`keras_sig.signature` and :class:`keras_sig.SigLayer`. 1.0.2's modules
(``keras_sig.signature``, ``keras_sig.layer``, ``keras_sig.quick_sig``,
``keras_sig.tensor_ops``) are :class:`LegacyModule` objects: reading one of
their public names works and emits a :class:`DeprecationWarning` naming the
replacement. Their tensor-algebra helpers, which work on 1.0.2's list-of-levels
layout (level ``k`` an array of shape ``(*shared, n, ..., n)`` with ``k``
trailing axes), are written once here over an ``expand_dims`` function.

This module imports no framework.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keras_sig._lib._validation import check_bool, check_int

__all__ = [
    "LegacyModule",
    "add_outer",
    "check_unroll",
    "deprecate_names",
    "exp_levels",
    "method_from_legacy",
    "outer",
    "times_exp_levels",
    "warn_deprecated",
]

ExpandDims = Callable[[Any, int], Any]


def warn_deprecated(old: str, advice: str, *, stacklevel: int) -> None:
    """Warn that keras_sig 1.0.2's spelling ``old`` is deprecated; ``advice`` says what to do.

    ``stacklevel`` counts from the caller of this function, as in :func:`warnings.warn`.
    """
    msg = f"{old} is keras_sig 1.0.2's spelling, deprecated and to be removed in keras_sig 2.0: {advice}"
    warnings.warn(msg, DeprecationWarning, stacklevel=stacklevel + 1)


def method_from_legacy(method: str, gpu_optimized: object, *, stacklevel: int) -> str:
    """``method``, or what keras_sig 1.0.2's ``gpu_optimized=`` asks for (with a warning).

    ``gpu_optimized=None`` (1.0.2's default, "decide for me") leaves ``method`` as
    it is and warns of nothing. True means ``"parallel"`` and False
    ``"sequential"``; ``method`` must then be ``"auto"`` or that same value.
    ``stacklevel`` is the caller's, as in :func:`warn_deprecated`.
    """
    if gpu_optimized is None:
        return method
    gpu_optimized = check_bool("gpu_optimized", gpu_optimized)
    legacy = "parallel" if gpu_optimized else "sequential"
    if method not in ("auto", legacy):
        msg = (
            f"gpu_optimized={gpu_optimized} (the keras_sig 1.0.2 spelling of method={legacy!r}) "
            f"contradicts method={method!r}: pass only method="
        )
        raise ValueError(msg)
    warn_deprecated(f"gpu_optimized={gpu_optimized}", f"use method={legacy!r}", stacklevel=stacklevel + 1)
    return legacy


def check_unroll(unroll: object) -> None:
    """Accept keras_sig 1.0.2's ``unroll=``: None, a bool, or an int ``>= 1`` (it is ignored)."""
    if unroll is None or isinstance(unroll, bool):
        return
    check_int("unroll", unroll, minimum=1)


# --------------------------------------------------------------------------- modules


def deprecate_names(namespace: dict[str, Any], advice: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Take 1.0.2's public names out of a module's ``namespace`` (its ``globals()``).

    Returns the ``_DEPRECATED`` table of a :class:`LegacyModule`: each name with
    its value and ``advice[name]``, the advice its warning gives. Out of the
    namespace, the names are found only through :meth:`LegacyModule.__getattr__`
    (which warns), so ``dir()`` and ``help()`` do not warn.
    """
    return {name: (namespace.pop(name), text) for name, text in advice.items()}


class LegacyModule(types.ModuleType):
    """A keras_sig 1.0.2 module: reading a name of its ``_DEPRECATED`` table warns.

    A module becomes one by ``sys.modules[__name__].__class__ = LegacyModule``,
    after building its table with :func:`deprecate_names`.
    """

    def __getattr__(self, name: str) -> Any:
        """Return 1.0.2's name ``name``, with a :class:`DeprecationWarning`."""
        table = self.__dict__.get("_DEPRECATED", {})
        if name not in table:
            msg = f"module {self.__name__!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value, advice = table[name]
        warn_deprecated(f"{self.__name__}.{name}", advice, stacklevel=2)
        return value


# --------------------------------------------------------------------------- 1.0.2's tensor algebra


def outer(x: Any, y: Any, *, shared: int, expand_dims: ExpandDims) -> Any:
    """Tensor product of ``x`` and ``y`` over their trailing axes.

    The first ``shared`` axes (batch, sequence) are common to both and kept once:
    shapes ``(*s, *a)`` and ``(*s, *b)`` give ``(*s, *a, *b)``, with
    ``out[..., i, j] = x[..., i] * y[..., j]`` for multi-indices ``i``, ``j``.
    """
    x_axes = x.ndim - shared
    y_axes = y.ndim - shared
    for _ in range(y_axes):
        x = expand_dims(x, -1)
    for _ in range(x_axes):
        y = expand_dims(y, shared)
    return x * y


def add_outer(x: Any, y: Any, z: Any, *, shared: int, expand_dims: ExpandDims) -> Any:
    """``x + y (x) z``: :func:`outer` added to ``x`` (1.0.2's ``addcmul``)."""
    return x + outer(y, z, shared=shared, expand_dims=expand_dims)


def exp_levels(z: Any, depth: int, *, shared: int, expand_dims: ExpandDims) -> list[Any]:
    """Levels ``1..depth`` of the tensor exponential of ``z``: ``z``, ``z (x) z / 2``, ...

    This is the signature of the straight line with increment ``z`` (shape
    ``(*shared, n)``), as a list whose level ``k`` has ``k`` trailing axes of size ``n``.
    """
    depth = check_int("depth", depth, minimum=1)
    levels = [z]
    for k in range(2, depth + 1):
        levels.append(outer(levels[-1], z / k, shared=shared, expand_dims=expand_dims))
    return levels


def times_exp_levels(z: Any, levels: Sequence[Any], *, shared: int, expand_dims: ExpandDims) -> list[Any]:
    """Levels of ``levels (x) exp(z)``, truncated at ``len(levels)`` (Chen's identity).

    ``levels`` holds levels ``1..N`` of a signature (the scalar level 0 is 1);
    the result is the signature of that path followed by a straight segment of
    increment ``z``. Level ``k`` is ``sum_j levels[k-j] (x) z^(x)j / j!``,
    evaluated from the highest power of ``z`` down (Horner's scheme).
    """
    result = []
    for k in range(1, len(levels) + 1):
        term = levels[0] + z / k
        for j in range(1, k):
            term = add_outer(levels[j], term, z / (k - j), shared=shared, expand_dims=expand_dims)
        result.append(term)
    return result
