"""Ragged batches: series of different lengths in one padded array.

A series of ``n`` points stored in a longer array is held at its last point:
every point from ``n - 1`` on is replaced by point ``n - 1``. The increments past
the series' end are then zero, and a zero increment changes no signature, so the
padded array's signature is each series' own, exactly (no arithmetic touches a
kept point). Array-API operations only, with no shape that depends on the data.
"""

from __future__ import annotations

from keras_sig._lib._typing import Array, Namespace

__all__ = ["hold_last"]


def hold_last(path: Array, lengths: Array, *, xp: Namespace) -> Array:
    """``path`` with each series held at its point ``lengths - 1`` from there on.

    ``path`` is ``(..., length, channels)``; ``lengths`` has the path's dtype
    and a shape that broadcasts to its batch shape. A length of at least
    ``length`` keeps the whole series; one of 1 holds it at its first point.
    Point indices are counted from the path itself (as in
    :func:`~keras_sig._core._transforms.uniform_times`), so ``length`` may be
    unknown until run time, and they are exact in the path's dtype (up to
    ``2**24`` points in float32).
    """
    index = xp.cumulative_sum(xp.ones_like(path[..., :1]), axis=-2) - 1  # (..., length, 1)
    last = lengths[..., None, None] - 1
    zeros = xp.zeros_like(path)
    end = xp.sum(xp.where(index == last, path, zeros), axis=-2, keepdims=True)  # point lengths - 1
    return xp.where(index > last, end, path)
