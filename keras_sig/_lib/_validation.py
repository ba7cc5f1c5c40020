"""Argument checks shared by every public function.

Each check names the argument, what was expected and what arrived, and raises
``TypeError`` (a wrong kind of value) or ``ValueError`` (a wrong value or
shape) before anything reaches a backend. Further array arguments follow one
rule (:func:`companion`): see the README's "Arguments from other libraries and
devices".
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from keras_sig._core._algebra import sigdim
from keras_sig._core._ragged import hold_last
from keras_sig._lib._namespace import (
    array_namespace,
    default_float_dtype,
    device_of,
    is_adapter,
    is_array,
    is_dask_array,
    is_jax_namespace,
    normalise_namespace,
    placed_like,
    static_shape,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "as_array",
    "as_float_array",
    "as_floating",
    "basepoint_array",
    "broadcast_shapes",
    "check_batch",
    "check_bool",
    "check_choice",
    "check_int",
    "check_known_rank",
    "check_last_axis",
    "check_path",
    "check_same_device",
    "check_supported",
    "companion",
    "describe",
    "held_path",
    "initial_array",
    "lengths_array",
    "namespace_argument",
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


def _is_plain_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def companion(name: str, value: Any, like: Array, xp: Namespace, *, like_name: str = "path") -> Array:
    """A further array argument (``basepoint``, ``initial``, ``sig2``, ...) in ``like``'s namespace.

    The rule for arguments from other libraries or devices than ``like``
    (README, "Arguments from other libraries and devices"): Python numbers and
    nested sequences, and NumPy arrays, are converted to ``like``'s library,
    dtype and device (a dask ``like`` also takes arrays of its blocks' type);
    an array of another library is a TypeError naming ``name``, and one on
    another device than ``like`` (PyTorch, CuPy, array-api-strict) a
    ValueError naming it. JAX and TensorFlow place arrays themselves.
    """
    check_known_rank(name, value)
    check_supported(name, value)
    if is_array(value):
        arr = value
        try:
            array_namespace(like, value)
        except TypeError as exc:
            block_type = type(getattr(like, "_meta", None)) if is_dask_array(like) else None
            if not (_is_plain_numpy(value) or type(value) is block_type):
                msg = (
                    f"{name} must come from the same array library as {like_name} "
                    f"({type(like).__name__}), or be a NumPy array; got {type(value).__name__}"
                )
                raise TypeError(msg) from exc
            arr = xp.asarray(value) if is_dask_array(like) else xp.asarray(value, device=device_of(like, xp))
        else:
            check_same_device(name, value, like, xp, like_name=like_name)
    else:
        try:
            arr = xp.asarray(value, device=device_of(like, xp))
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array; got {describe(value)}"
            raise TypeError(msg) from exc
    arr = as_floating(name, arr, xp)
    if arr.dtype != like.dtype:
        arr = xp.astype(arr, like.dtype)
    return arr


def check_same_device(
    name: str, value: Array, like: Array, xp: Namespace, *, like_name: str = "path"
) -> None:
    """A ValueError naming ``name`` if ``value`` is on another device than ``like``.

    Only where the library would not place it itself: PyTorch, CuPy and
    array-api-strict (JAX, TensorFlow and dask arrays are not compared).
    """
    if is_jax_namespace(xp) or is_dask_array(like) or is_adapter(xp):
        return
    try:
        mine, theirs = device_of(value, xp), device_of(like, xp)
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - a device-less array
        return
    if mine != theirs:
        msg = f"{name} is on device {mine}, but {like_name} is on {theirs}: move it there first"
        raise ValueError(msg)


def basepoint_array(basepoint: Any, path: Array, xp: Namespace) -> Array | None:
    """``None`` (no basepoint), the origin, or the validated basepoint array."""
    if basepoint is None or basepoint is False:
        return None
    if basepoint is True:
        return xp.zeros_like(path[..., 0, :])
    if isinstance(basepoint, (int, float, complex, str)):
        msg = f"basepoint must be True, False or an array of shape (..., channels); got {describe(basepoint)}"
        raise TypeError(msg)
    arr = companion("basepoint", basepoint, path, xp)
    shape = tuple(arr.shape)
    channels = path.shape[-1]
    if len(shape) < 1 or shape[-1] != channels:
        msg = f"basepoint must have shape (..., {channels}) to match path's channels; got {shape_text(shape)}"
        raise ValueError(msg)
    check_batch("basepoint", shape[:-1], tuple(path.shape[:-2]), f"(..., {channels})")
    return broadcast_batch(arr, path, xp)


def broadcast_batch(arr: Array, path: Array, xp: Namespace) -> Array:
    """``arr`` ``(..., size)`` with its leading dimensions broadcast to ``path``'s batch shape.

    Adding zeros shaped like the path's first point broadcasts where a batch
    size is unknown when tracing too (TensorFlow's ``broadcast_to`` needs a
    known shape), and keeps ``arr``'s values and gradient as they are.
    """
    if static_shape(arr.shape[:-1]) == static_shape(path.shape[:-2]) and None not in static_shape(arr.shape):
        return arr
    return arr + xp.zeros_like(path[..., 0, :1])


def initial_array(initial: Any, path: Array, depth: int, xp: Namespace) -> Array | None:
    """``None`` or the validated initial signature, without its scalar term."""
    if initial is None:
        return None
    arr = companion("initial", initial, path, xp)
    channels = path.shape[-1]
    size = sigdim(channels, depth)
    shape = tuple(arr.shape)
    if len(shape) < 1 or shape[-1] not in (size, size + 1):
        msg = (
            f"initial must be a signature of shape (..., {size}) for channels={channels}, "
            f"depth={depth} (or (..., {size + 1}) with the scalar term); got {shape_text(shape)}"
        )
        raise ValueError(msg)
    check_batch("initial", shape[:-1], tuple(path.shape[:-2]), f"(..., {size})")
    return broadcast_batch(arr[..., 1:] if shape[-1] == size + 1 else arr, path, xp)


def lengths_array(lengths: Any, path: Array, xp: Namespace) -> Array | None:
    """``None`` or the validated per-series lengths, as an array in the path's dtype.

    Integers only, of a shape that broadcasts to the path's batch shape. Where
    the values are on the host (a Python int or sequence, a NumPy array) they
    are checked to lie in ``1..length``; an array of another library is not
    read back (no device round-trip), and there a value above ``length``
    counts as ``length`` and one of 1 or less holds the series at its first
    point.
    """
    if lengths is None:
        return None
    check_known_rank("lengths", lengths)
    host = None
    if isinstance(lengths, bool) or not (is_array(lengths) or isinstance(lengths, (int, list, tuple))):
        msg = f"lengths must be an integer array, one length per series; got {describe(lengths)}"
        raise TypeError(msg)
    if not is_array(lengths) or type(lengths).__module__ == "numpy":
        import numpy as np

        host = np.asarray(lengths)
        if host.dtype.kind not in "iu":
            msg = f"lengths must hold integers (each series' number of points); got dtype {host.dtype}"
            raise TypeError(msg)
    else:
        own = array_namespace(lengths)
        if not own.isdtype(lengths.dtype, "integral"):
            msg = f"lengths must hold integers (each series' number of points); got dtype {lengths.dtype}"
            raise TypeError(msg)
    shape = tuple(host.shape if host is not None else lengths.shape)
    check_batch("lengths", shape, tuple(path.shape[:-2]), "(...) (one length per series)")
    length = static_shape(path.shape)[-2]
    if host is not None and host.size:
        low, high = int(host.min()), int(host.max())
        if low < 1 or (length is not None and high > length):
            bad = low if low < 1 else high
            top = length if length is not None else "length"
            msg = f"lengths must lie in 1..{top} (the path's length); got {bad}"
            raise ValueError(msg)
    return companion("lengths", lengths if host is None else host, path, xp)


def held_path(path: Array, lengths: Any, xp: Namespace) -> Array:
    """``path`` with each series held at its last point (:func:`lengths_array`); as is without lengths."""
    held = lengths_array(lengths, path, xp)
    if held is None:
        return path
    with placed_like(path, xp):
        return hold_last(path, held, xp=xp)


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
