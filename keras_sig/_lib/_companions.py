"""The rule for further array arguments (``basepoint``, ``initial``, ``lengths``, ``sig2``, ...).

A further array follows the main one (README, "Arguments from other libraries
and devices"): Python numbers, nested sequences and NumPy arrays are converted
to its library, dtype and device; an array of another library is a
``TypeError``, one on another device a ``ValueError``, each naming the argument.
"""

from __future__ import annotations

from typing import Any

from keras_sig._core._algebra import sigdim
from keras_sig._core._ragged import hold_last
from keras_sig._lib._namespace import (
    array_namespace,
    device_of,
    is_adapter,
    is_array,
    is_dask_array,
    is_jax_namespace,
    placed_like,
    static_shape,
)
from keras_sig._lib._typing import Array, Namespace
from keras_sig._lib._validation import (
    as_floating,
    check_batch,
    check_known_rank,
    check_supported,
    describe,
    shape_text,
)

__all__ = [
    "basepoint_array",
    "broadcast_batch",
    "check_same_device",
    "companion",
    "held_path",
    "initial_array",
    "lengths_array",
]


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
