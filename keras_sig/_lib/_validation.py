"""Argument checks shared by every public function: kinds, values, shapes.

Each check names the argument, what was expected and what arrived, and raises
``TypeError`` (a wrong kind of value) or ``ValueError`` (a wrong value or
shape) before anything reaches a backend. Further array arguments follow one
rule, in :mod:`keras_sig._lib._companions`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from keras_sig._lib._namespace import (
    array_namespace,
    default_float_dtype,
    device_of,
    is_array,
    normalise_namespace,
    static_shape,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "as_array",
    "as_float_array",
    "as_floating",
    "broadcast_shapes",
    "check_batch",
    "check_bool",
    "check_channels_depth",
    "check_choice",
    "check_int",
    "check_known_rank",
    "check_last_axis",
    "check_path",
    "check_supported",
    "describe",
    "namespace_argument",
    "path_argument",
    "shape_text",
    "signature_what",
]


def describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        msg = f"{name} must be an integer >= {minimum}; got {describe(value)}"
        raise TypeError(msg)
    try:  # a 0-d integer array is an int; an array of another shape is not
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        msg = (
            f"{name} must be an integer >= {minimum} (a Python int or a 0-d integer array); "
            f"got {describe(value)}"
        )
        if "Tracer" in type(value).__name__:  # a traced value: jax.jit made it an argument
            msg = (
                f"{name} must be a static Python int, not a traced value; got {describe(value)}: "
                f"under jax.jit, mark it static (jax.jit(f, static_argnums=...) or static_argnames=...)"
            )
        raise TypeError(msg) from None
    if number < minimum:
        msg = f"{name} must be an integer >= {minimum}; got {number}"
        raise ValueError(msg)
    return number


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool, else a TypeError naming ``name``."""
    if not isinstance(value, bool):
        msg = f"{name} must be True or False; got {describe(value)}"
        raise TypeError(msg)
    return value


def check_channels_depth(channels: object, depth: object) -> tuple[int, int]:
    """``(channels, depth)`` as ints ``>= 1``, or :func:`check_int`'s error naming the bad one."""
    return check_int("channels", channels, minimum=1), check_int("depth", depth, minimum=1)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}; got {describe(value)}"
        raise ValueError(msg)
    return value


def namespace_argument(xp: Namespace) -> Namespace:
    """The array-API namespace for ``xp=`` (a library module maps onto its wrapper), or a TypeError."""
    normalised = normalise_namespace(xp)
    if normalised is None:
        msg = (
            "xp must be an array namespace (a module such as numpy, jax.numpy, torch or "
            f"array_api_strict, or None to infer it from the arrays); got {describe(xp)}"
        )
        raise TypeError(msg)
    return normalised


def check_known_rank(name: str, value: Any) -> None:
    """A ValueError naming ``name`` if ``value`` is a graph tensor of unknown rank.

    Only TensorFlow has such tensors (``tf.TensorSpec(None)`` in a
    ``tf.function``): their ``shape.rank`` is ``None``, and every shape check
    and output shape needs the rank.
    """
    if getattr(getattr(value, "shape", None), "rank", 0) is None:
        msg = (
            f"{name} must have a known rank (number of axes); got a {type(value).__name__} of unknown "
            "rank: give tf.function an input_signature whose shape lists every axis (None for an "
            "unknown size), such as tf.TensorSpec([None, None, 3])"
        )
        raise ValueError(msg)


def as_array(name: str, value: Any, xp: Namespace | None) -> tuple[Array, Namespace]:
    """``value`` as an array with its namespace; nested sequences go through NumPy."""
    check_known_rank(name, value)
    check_supported(name, value)
    if is_array(value):
        own = array_namespace(value)
        if xp is None:
            return value, own
        xp = namespace_argument(xp)
        if own is xp:
            return value, xp
        try:  # another library's array, converted as the caller asked
            return xp.asarray(value), xp
        except (TypeError, ValueError, RuntimeError) as exc:
            msg = f"{name} is a {type(value).__name__}, which xp={xp!r} cannot convert"
            raise TypeError(msg) from exc
    if xp is not None:
        xp = namespace_argument(xp)
        try:
            return xp.asarray(value), xp
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array or a nested sequence of numbers; got {describe(value)}"
            raise TypeError(msg) from exc
    if isinstance(value, (list, tuple)):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is nearly always present
            msg = f"{name} is a {type(value).__name__}: pass an array, or install numpy"
            raise TypeError(msg) from None
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array or a nested sequence of numbers; got {describe(value)}"
            raise TypeError(msg) from exc
        return arr, array_namespace(arr)
    msg = f"{name} must be an array (NumPy, CuPy, JAX, PyTorch, TensorFlow, ...); got {describe(value)}"
    raise TypeError(msg)


def as_floating(name: str, x: Array, xp: Namespace) -> Array:
    """``x`` with a floating dtype: integers promoted to the default float, others refused."""
    dtype = x.dtype
    try:
        if xp.isdtype(dtype, ("real floating", "complex floating")):
            return x
        if xp.isdtype(dtype, "integral"):
            return xp.astype(x, default_float_dtype(xp, device_of(x, xp)))
    except (TypeError, ValueError):
        pass
    msg = f"{name} must hold real or complex numbers (integers are promoted); got dtype {dtype}"
    raise TypeError(msg)


def shape_text(shape: Any) -> str:
    return (
        "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")
    )


def check_path(path: Array, *, subject: str = "path") -> tuple[Any, Any]:
    """Validate the shape ``(..., length, channels)``; return ``(length, channels)``.

    ``path`` is an array or a shape tuple; messages call it ``subject``. A size
    that is not known when tracing (TensorFlow's ``None``, a JAX symbolic
    dimension, a PyTorch ``SymInt``) is returned as ``None``.
    """
    raw = path if isinstance(path, (tuple, list)) else path.shape
    if any(isinstance(s, float) and math.isnan(s) for s in raw):  # a dask array's unknown chunk sizes
        msg = f"{subject} is a dask array with unknown chunk sizes; call .compute_chunk_sizes() first"
        raise ValueError(msg)
    shape = static_shape(raw)
    if len(shape) < 2:
        msg = f"{subject} must have shape (..., length, channels); got {shape_text(shape)}"
        raise ValueError(msg)
    length, channels = shape[-2], shape[-1]
    if channels is None:
        msg = f"{subject} must have a known number of channels (last axis); got shape {shape_text(shape)}"
        raise ValueError(msg)
    if channels == 0:
        msg = f"{subject} must have at least one channel; got shape {shape_text(shape)}"
        raise ValueError(msg)
    if length == 0:
        msg = f"{subject} must have at least one point (length >= 1); got shape {shape_text(shape)}"
        raise ValueError(msg)
    return length, channels


def check_batch(name: str, shape: tuple[Any, ...], batch: tuple[Any, ...], what: str) -> None:
    """``shape`` (leading dimensions of ``name``) must broadcast to the path's ``batch``.

    Sizes unknown when tracing (``None``, symbolic) are taken to fit.
    """
    shape, batch = static_shape(shape), static_shape(batch)
    ok = len(shape) <= len(batch) and all(
        s in (1, b) or s is None or b is None for s, b in zip(reversed(shape), reversed(batch), strict=False)
    )
    if not ok:
        msg = (
            f"{name} must have shape {what} with leading dimensions broadcastable to the "
            f"path's batch shape {shape_text(batch)}; got {shape_text(shape)}"
        )
        raise ValueError(msg)


_UNSUPPORTED = {
    "RaggedTensor": "pad it with .to_tensor() and pass each series' number of points as lengths= "
    "(.row_lengths()), which gives each series' own signature",
    "SparseTensor": "densify it first (tf.sparse.to_dense)",
    "matrix": "pass a plain ndarray (np.asarray)",
    "MaskedArray": "fill it first (.filled()), or pass each series' number of points as lengths=",
}


def check_supported(name: str, value: Any) -> None:
    """A TypeError naming ``name`` for array types whose values are not a plain dense array.

    ``tf.RaggedTensor``, ``tf.SparseTensor``, ``np.matrix`` (always 2-d), NumPy
    masked arrays (the mask would be ignored) and torch sparse tensors.
    """
    kind = type(value).__name__
    module = type(value).__module__.split(".")[0]
    hint = _UNSUPPORTED.get(kind) if module in ("tensorflow", "numpy") else None
    layout = str(getattr(value, "layout", "torch.strided"))
    if hint is None and module == "torch" and layout != "torch.strided":
        kind, hint = f"{type(value).__name__} of layout {layout}", "densify it first (.to_dense())"
    if hint is not None:
        msg = f"{name} must be a dense array; got a {kind}: {hint}"
        raise TypeError(msg)


def check_last_axis(name: str, x: Array, size: int, what: str, *, min_rank: int = 1) -> None:
    """``x`` must have shape ``(..., size)`` (rank at least ``min_rank``)."""
    shape = tuple(x.shape)
    if len(shape) < min_rank or shape[-1] != size:
        lead = "..., length, " if min_rank > 1 else "..., "
        msg = f"{name} must have shape ({lead}{size}) for {what}; got {shape_text(shape)}"
        raise ValueError(msg)


def signature_what(channels: int, depth: int, scalar_term: bool) -> str:
    text = f"a signature with channels={channels}, depth={depth}"
    return text + (" and its scalar term" if scalar_term else "")


def as_float_array(name: str, value: Any, xp: Namespace | None) -> tuple[Array, Namespace]:
    """:func:`as_array`, then :func:`as_floating`."""
    arr, xp = as_array(name, value, xp)
    return as_floating(name, arr, xp), xp


def broadcast_shapes(named: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[Any, ...]:
    """The common batch shape of ``(name, batch shape)`` pairs, or a ValueError naming them."""
    out: list[Any] = []
    for index, (name, shape) in enumerate(named):
        ok = True
        merged = []
        for a, b in zip_right(tuple(out), shape):
            if a is None or a == 1:
                merged.append(b)
            elif b is None or b in (1, a):
                merged.append(a)
            else:
                ok = False
                break
        if not ok:
            before = named[0][0] if index == 1 else f"{named[0][0]} to {named[index - 1][0]}"
            msg = (
                f"{name} has batch shape {shape_text(shape)}, which does not broadcast with "
                f"{before}'s {shape_text(tuple(out))}: the leading dimensions must be equal or 1"
            )
            raise ValueError(msg)
        out = merged
    return tuple(out)


def zip_right(a: tuple[Any, ...], b: tuple[Any, ...]) -> list[tuple[Any, Any]]:
    n = max(len(a), len(b))
    pad_a = (1,) * (n - len(a)) + a
    pad_b = (1,) * (n - len(b)) + b
    return list(zip(pad_a, pad_b, strict=True))


def path_argument(
    path: Any, xp: Namespace | None, *, known_length: bool = True
) -> tuple[Array, Namespace, Any]:
    """The checked floating ``path``, its namespace, and its length (which must be known by default)."""
    path, xp = as_float_array("path", path, xp)
    length, _ = check_path(path)
    if known_length and length is None:
        msg = f"path must have a known length (second-to-last axis); got shape {shape_text(path.shape)}"
        raise ValueError(msg)
    return path, xp, length
