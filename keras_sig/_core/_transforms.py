"""Path augmentations, and the gather plans of windowed signatures.

The augmentations are array-API operations on paths ``(..., length, channels)``.
A window plan lists, for each window, the points it spans (``first`` and
``last``, inclusive); :func:`gather_indices` turns a plan into one flat index
list of equal-length windows, the shorter ones padded by repeating their last
point, whose zero increments leave a signature unchanged.
"""

from __future__ import annotations

import itertools
from typing import Any

from keras_sig._core._algebra import chen, concat_levels, split_levels
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "add_time",
    "dyadic_levels",
    "dyadic_plan",
    "gather_indices",
    "invisibility_reset",
    "lead_lag",
    "ragged_dyadic_pieces",
    "sliding_plan",
    "uniform_times",
]

Plan = list[tuple[int, int]]


def uniform_times(path: Array, *, xp: Namespace, dtype: Any = None) -> Array:
    """Times ``(..., length, 1)`` equally spaced from 0 to 1 along ``path`` (0 for one point).

    Counted from the path itself, so the length may be unknown until run time
    (a TensorFlow graph): ``i / max(length - 1, 1)`` with the maximum of the
    whole numbers written as ``(a + 1 + |a - 1|) / 2``. With ``dtype`` the
    counting and the division are done in it and the result is then cast,
    once, to the path's dtype (16-bit floats count exactly only to 2048).
    """
    count = xp.cumulative_sum(xp.ones_like(path[..., :1], dtype=dtype), axis=-2)
    steps = count[..., -1:, :] - 1
    times = (count - 1) / ((steps + 1 + abs(steps - 1)) / 2)
    return times if dtype is None else xp.astype(times, path.dtype)


def add_time(path: Array, times: Array, *, xp: Namespace) -> Array:
    """``path`` with ``times`` ``(..., length, 1)`` as a new first channel."""
    return xp.concat([times, path], axis=-1)


def lead_lag(path: Array, *, xp: Namespace) -> Array:
    """The lead-lag path ``(..., 2 * length - 1, 2 * channels)``: lead channels, then lag.

    Point ``2i`` is ``(x_i, x_i)`` and point ``2i + 1`` is ``(x_{i+1}, x_i)``:
    every point repeated twice, the lead dropping the first copy and the lag
    the last.
    """
    length = path.shape[-2]
    points = -1 if length is None else 2 * length  # known: a reshape of an empty batch needs it
    twice = xp.reshape(xp.stack([path, path], axis=-2), (*path.shape[:-2], points, path.shape[-1]))
    return xp.concat([twice[..., 1:, :], twice[..., :-1, :]], axis=-1)


def invisibility_reset(path: Array, *, xp: Namespace) -> Array:
    """The invisibility-reset path ``(..., length + 2, channels + 1)``.

    A visibility channel (channel 0), 1 along the path; then the last point
    with visibility 0; then the origin with visibility 0.
    """
    ones = xp.ones_like(path[..., :1])
    visible = xp.concat([ones, path], axis=-1)
    hidden = xp.concat([xp.zeros_like(ones[..., -1:, :]), path[..., -1:, :]], axis=-1)
    return xp.concat([visible, hidden, xp.zeros_like(hidden)], axis=-2)


def sliding_plan(length: int, window: int, step: int) -> Plan:
    """Windows of ``window`` points, the ``i``-th starting at point ``i * step``, as long as they fit."""
    return [(start, start + window - 1) for start in range(0, length - window + 1, step)]


def dyadic_plan(length: int, dyadic_depth: int) -> Plan:
    """The dyadic pieces of levels ``0..dyadic_depth``, coarsest first.

    Level ``j`` cuts the ``length - 1`` increments into ``2**j`` consecutive
    pieces at points ``(i * (length - 1)) // 2**j``; consecutive pieces share
    their boundary point. A piece with no increment (more pieces than
    increments) is a single point.
    """
    steps = length - 1
    plan: Plan = []
    for level in range(dyadic_depth + 1):
        cuts = [(i * steps) >> level for i in range(2**level + 1)]
        plan.extend(itertools.pairwise(cuts))
    return plan


def dyadic_width(length: int, dyadic_depth: int) -> int:
    """The most points a piece of level ``dyadic_depth`` has in a series of at most ``length`` points."""
    return -(-(length - 1) // 2**dyadic_depth) + 1


def ragged_dyadic_pieces(path: Array, lengths: Array, piece: Array, point: Array, *, xp: Namespace) -> Array:
    """The finest dyadic pieces of each series of a ragged batch: ``(..., 2**D, width, channels)``.

    Series ``b`` has ``lengths[b]`` points (``lengths`` in the path's dtype,
    broadcasting to its batch shape; values are clipped to ``1..length``),
    and its pieces are cut as :func:`dyadic_plan` cuts a path of that many
    points: piece ``i`` spans points ``(i * (n - 1)) // 2**D`` to
    ``((i + 1) * (n - 1)) // 2**D``, padded to ``width`` points by repeating
    its last one (a zero increment). ``piece`` ``(2**D, 1)`` and ``point``
    ``(1, width)`` hold ``0, 1, ...`` in the path's dtype. The cuts depend on
    the data, so the points are gathered with ``take_along_axis`` where the
    namespace has it, and otherwise picked by a comparison with every point
    (memory ``2**D * width * length`` per path). The arithmetic is exact in
    the path's dtype: ``piece * (n - 1)`` is an integer below ``2**24`` for
    any path float32 can index, and the division is by a power of two.
    """
    length = path.shape[-2]
    pieces, width = piece.shape[-2], point.shape[-1]
    n = lengths[..., None, None]
    n = xp.where(n > length, xp.zeros_like(n) + length, n)
    steps = xp.where(n < 1, xp.zeros_like(n), n - 1)  # (..., 1, 1)
    start = (piece * steps) // pieces
    end = ((piece + 1) * steps) // pieces
    index = start + point
    index = xp.where(index > end, end, index) + xp.zeros_like(path[..., :1, :1])  # (*batch, P, W)
    flat = xp.reshape(index, (*path.shape[:-2], pieces * width))[..., None]  # (*batch, P * W, 1)
    if hasattr(xp, "take_along_axis"):
        kind = xp.__array_namespace_info__().default_dtypes()["indexing"]
        full = flat + xp.zeros_like(path[..., :1, :])  # one index per channel: no broadcasting asked of it
        points = xp.take_along_axis(path, xp.astype(full, kind), axis=-2)
    else:
        positions = xp.cumulative_sum(xp.ones_like(path[..., :1]), axis=-2) - 1  # (*batch, L, 1)
        chosen = flat[..., None, :] == positions[..., None, :, :]  # (*batch, P * W, L, 1)
        zeros = xp.zeros_like(path[..., None, :1, :])
        points = xp.sum(xp.where(chosen, path[..., None, :, :], zeros), axis=-2)
    return xp.reshape(points, (*path.shape[:-2], pieces, width, path.shape[-1]))


def gather_indices(plan: Plan) -> tuple[list[int], int]:
    """``(indices, width)``: the points of every window of ``plan``, each padded to ``width`` points."""
    width = max(last - first + 1 for first, last in plan)
    indices = [min(first + j, last) for first, last in plan for j in range(width)]
    return indices, width


def dyadic_levels(finest: Array, channels: int, depth: int, *, inverse: bool, xp: Namespace) -> Array:
    """The signatures of every dyadic level from those of the finest one.

    ``finest`` ``(..., 2**D, sigdim)`` holds the signatures (no scalar term) of
    the ``2**D`` pieces of level ``D`` of :func:`dyadic_plan`, in time order.
    Level ``j - 1``'s cut points are level ``j``'s even ones, so each of its
    pieces is two neighbouring pieces of level ``j`` joined, and its signature
    is their product by Chen's identity (exact: products and sums only, no
    inverse is taken). With ``inverse`` the pieces hold inverse signatures,
    and a joined piece's is the product in the opposite order. Returns
    ``(..., 2**(D + 1) - 1, sigdim)``, coarsest level first, as
    :func:`dyadic_plan` orders the pieces.
    """
    current = finest
    levels = [current]
    while current.shape[-2] > 1:
        parts = split_levels(current, channels, depth)
        left = tuple(level[..., 0::2, :] for level in parts)
        right = tuple(level[..., 1::2, :] for level in parts)
        current = concat_levels(chen(right, left, xp=xp) if inverse else chen(left, right, xp=xp), xp=xp)
        levels.append(current)
    return levels[0] if len(levels) == 1 else xp.concat(levels[::-1], axis=-2)
