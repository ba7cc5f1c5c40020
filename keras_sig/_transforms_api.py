"""Public path augmentations: docstrings, validation, dispatch.

The augmentations (:func:`add_time`, :func:`lead_lag`,
:func:`invisibility_reset`) are array operations from
:mod:`keras_sig._core._transforms`, so they run on every backend, differentiate
and compile like the signature.
"""

from __future__ import annotations

from typing import Any

from keras_sig._core import _transforms
from keras_sig._lib._companions import companion
from keras_sig._lib._namespace import default_float_dtype, device_of, is_jax_namespace, placed_call
from keras_sig._lib._typing import Array, Namespace
from keras_sig._lib._validation import (
    check_batch,
    path_argument,
    shape_text,
)

__all__ = ["add_time", "invisibility_reset", "lead_lag"]


def _wide_dtype(path: Array, xp: Namespace) -> Any:
    """For a 16-bit float path, float64 (float32 on JAX without 64-bit mode) to build times in; else None."""
    dtype = path.dtype
    if int(getattr(dtype, "itemsize", 0) or getattr(dtype, "size", 0)) != 2:
        return None
    if is_jax_namespace(xp) and default_float_dtype(xp, device_of(path, xp)) != xp.float64:
        return xp.float32
    return xp.float64


def add_time(path: Array, *, times: Array | None = None, xp: Namespace | None = None) -> Array:
    """Add time as the first channel of a path.

    Without time, a signature cannot tell a path from any reparametrisation of
    it (the same points visited at another speed); with time as a channel, it
    can, and the path is never tree-like, so the signature determines it.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path (any supported array library; see
        :func:`keras_sig.signature`).
    times : array of shape (..., length), optional
        The time of each point, broadcast to the path's batch shape; by
        default ``length`` equally spaced times from 0 to 1 (0 for a single
        point), which for a 16-bit path are computed in float64 (float32 on
        JAX without 64-bit mode) and rounded once.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., length, channels + 1)``: channel 0 is time, channels
        ``1..channels`` are ``path``'s. Same kind of array, dtype and device
        as ``path``.

    Raises
    ------
    TypeError
        If ``path`` or ``times`` is not numeric, or ``times`` comes from another
        array library.
    ValueError
        If ``path`` has rank below 2, no channels or no points (or, with
        ``times``, an unknown length), or ``times`` does not have shape
        ``(..., length)`` with a batch shape broadcastable to the path's.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> keras_sig.add_time(np.array([[3.0], [5.0], [4.0]]))
    array([[0. , 3. ],
           [0.5, 5. ],
           [1. , 4. ]])
    """
    path, xp, length = path_argument(path, xp, known_length=times is not None)
    if times is None:
        wide = _wide_dtype(path, xp)
        return placed_call(
            lambda: _transforms.add_time(path, _transforms.uniform_times(path, xp=xp, dtype=wide), xp=xp),
            path,
            xp,
        )
    given = companion("times", times, path, xp)
    shape = tuple(given.shape)
    if len(shape) < 1 or shape[-1] != length:
        msg = f"times must have shape (..., {length}) to match path's length; got {shape_text(shape)}"
        raise ValueError(msg)
    check_batch("times", shape[:-1], tuple(path.shape[:-2]), f"(..., {length})")
    # Broadcast by a sum, which needs no target shape (a TF graph's batch may be unknown).
    return placed_call(
        lambda: _transforms.add_time(path, given[..., None] + xp.zeros_like(path[..., :1]), xp=xp), path, xp
    )


def lead_lag(path: Array, *, xp: Namespace | None = None) -> Array:
    """The lead-lag transform of a path.

    The lead steps to each new point first, then the lag follows it:
    ``(x_0, x_0), (x_1, x_0), (x_1, x_1), (x_2, x_1), ...``. The signature of
    the lead-lag path sees the path's quadratic variation: for each channel
    ``c``, the level-2 term of the word ``(lead c, lag c)`` minus that of
    ``(lag c, lead c)`` (twice the Lévy area between the two) is
    ``sum_i (x_{i+1, c} - x_{i, c})**2``.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., 2 * length - 1, 2 * channels)``: channels
        ``0..channels-1`` are the lead, ``channels..2*channels-1`` the lag.
        Same kind of array, dtype and device as ``path``.

    Raises
    ------
    TypeError
        If ``path`` is not numeric.
    ValueError
        If ``path`` has rank below 2, no channels or no points.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> keras_sig.lead_lag(np.array([[1.0], [4.0], [2.0]]))
    array([[1., 1.],
           [4., 1.],
           [4., 4.],
           [2., 4.],
           [2., 2.]])
    """
    path, xp, _ = path_argument(path, xp, known_length=False)
    return placed_call(lambda: _transforms.lead_lag(path, xp=xp), path, xp)


def invisibility_reset(path: Array, *, xp: Namespace | None = None) -> Array:
    """The invisibility-reset transform of a path.

    Adds a visibility channel, 1 along the path, then appends two points: the
    last point with visibility 0, and the origin with visibility 0 (the
    construction of Yang et al., 2017, laid out as in sktime's
    ``SignatureTransformer``). The signature of the result then also carries
    the path's starting point (its level 1 is ``(-1, -x_0)``), which a plain
    signature, being invariant to translation, does not.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., length + 2, channels + 1)``; the visibility is channel 0
        (first, like the time of :func:`add_time`). Same kind of array, dtype and device as ``path``.

    Raises
    ------
    TypeError
        If ``path`` is not numeric.
    ValueError
        If ``path`` has rank below 2, no channels or no points.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> keras_sig.invisibility_reset(np.array([[1.0], [3.0]]))
    array([[1., 1.],
           [1., 3.],
           [0., 3.],
           [0., 0.]])
    """
    path, xp, _ = path_argument(path, xp, known_length=False)
    return placed_call(lambda: _transforms.invisibility_reset(path, xp=xp), path, xp)
