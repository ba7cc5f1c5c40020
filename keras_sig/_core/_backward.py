"""The hand-written backward passes of the signature.

* :func:`parallel_vjp`: the VJP of the parallel method on its tape
  (:func:`parallel_with_tape`), for the whole path at once.
* :func:`light_backward`: the memory-light backward, chunk by chunk from the
  end, rebuilding each prefix signature instead of storing it.

Both are plain array operations (no framework autodiff), so they trace, and
they can be differentiated again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_sig._core._algebra import (
    antipode,
    chen,
    chen_vjp,
    concat_levels,
    outer,
    outer_vjp,
    scale_increment,
    split_levels,
)
from keras_sig._core._chunks import balanced_chunk, unchunk
from keras_sig._core._forward import (
    parallel_with_tape,
    time_last,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "light_backward",
    "parallel_vjp",
    "points_cotangent",
]


def _tape_parts(tape: list[Array], depth: int) -> tuple[list[Array], dict[int, list[Array]]]:
    """The flat tape of :func:`parallel_with_tape` as ``(prefix, chains)``.

    ``chains[k]`` holds the steps of level ``k``'s Horner chain, for the levels
    ``2..N-2`` (cumulative sums) and ``N-1``, ``N`` (contracted; ``[1]`` for
    ``N = 2``).
    """
    prefix, rest = tape[: depth - 2], tape[depth - 2 :]
    chains: dict[int, list[Array]] = {}
    for k in [*range(2, depth - 1), depth - 1, depth]:
        n = k - 1 if k < depth - 1 else max(depth - 2, 1)
        chains[k], rest = rest[:n], rest[n:]
    return prefix, chains


def parallel_vjp(
    z: Array, depth: int, cotangent: Array, *, xp: Namespace, tape: list[Array] | None = None
) -> Array:
    """The cotangent of ``z`` ``(..., T, d)`` for ``z ->`` the flat signature (``stream=False``).

    The hand-written transpose of :func:`signature_parallel`: it walks back
    the forward's intermediates, ``tape`` from :func:`parallel_with_tape`
    (recomputed if not given).
    Matrix products transpose to matrix products, a cumulative sum over time
    to a reversed one, and each outer product to two reductions
    (:func:`~keras_sig._core._algebra.outer_vjp`). It is made of the same
    array operations as the forward, so it is differentiable again (double
    backward), needs no framework autodiff, and lays out its operands for fast
    batched matrix products, which PyTorch's autograd does not.
    """
    channels, steps = z.shape[-1], z.shape[-2]
    # A copy with a dense layout: a broadcast cotangent (as from ``y.sum()``) sends
    # PyTorch's CPU batched matrix product down a per-matrix path, several times slower.
    g_levels = split_levels(cotangent * 1, channels, depth)
    if steps == 0:
        return xp.zeros_like(z)
    zt = time_last(z, xp=xp)
    if depth == 1:
        return xp.matrix_transpose(g_levels[0][..., None] + xp.zeros_like(zt))
    scaled = scale_increment(zt, depth)
    prefix, chains = _tape_parts(parallel_with_tape(z, depth, xp=xp)[1] if tape is None else tape, depth)
    h1, h2 = chains[depth - 1][-1], chains[depth][-1]
    suffix = xp.sum(zt, axis=-1, keepdims=True) - xp.cumulative_sum(zt, axis=-1)
    # The two contracted levels (see signature_parallel).
    lead, width = zt.shape[:-2], channels ** (depth - 2)
    g_top = xp.reshape(g_levels[-1], (*lead, width, channels * channels))
    g_next = xp.reshape(g_levels[-2], (*lead, width, channels))
    half = g_top / 2  # H2 is its chain's last step halved: halve the (small) cotangent instead
    g_heads = {
        depth - 1: xp.matmul(g_top, outer(zt, suffix, xp=xp, time_last=True)) + xp.matmul(g_next, zt),
        depth: xp.matmul(half, outer(zt, zt, xp=xp, time_last=True)),
    }
    gz = xp.matmul(xp.matrix_transpose(g_next), h1)
    ga, g_suffix = outer_vjp(xp.matmul(xp.matrix_transpose(g_top), h1), zt, suffix, xp=xp)
    gz = gz + ga + xp.cumulative_sum(g_suffix, axis=-1) - g_suffix  # suffix_t sums z_s, s > t
    ga, gb = outer_vjp(xp.matmul(xp.matrix_transpose(half), h2), zt, zt, xp=xp)
    gz = gz + ga + gb
    # The Horner chains, from the highest level down, and the prefix levels' sums.
    g_prefix: list[Array | None] = [None] * len(prefix)
    g_scaled: list[Array | None] = [None] * (depth + 1)
    for k in range(depth, 1, -1):
        chain = chains[k]
        if k <= depth - 2:
            # E_k[t] sums inc[s] over s < t, and the level's total sums them all;
            # inc = head ⊗ z.
            g_e = g_prefix[k - 1]
            assert g_e is not None  # every prefix level feeds the chain of level N-1
            g_inc = g_levels[k - 1][..., None] + xp.sum(g_e, axis=-1, keepdims=True)
            g_heads[k], gb = outer_vjp(g_inc - xp.cumulative_sum(g_e, axis=-1), chain[-1], zt, xp=xp)
            gz = gz + gb
        if depth == 2:
            break
        g = g_heads[k]
        for i in range(len(chain), 1, -1):  # head_i = A_i + head_{i-1} ⊗ z/(k-i+1)
            _accumulate(g_prefix, i - 1, g)
            g, gb = outer_vjp(g, chain[i - 2], scaled[k - i + 1], xp=xp)
            _accumulate(g_scaled, k - i + 1, gb)
        _accumulate(g_prefix, 0, g)  # head_1 = A_1 + z/k
        _accumulate(g_scaled, k, g)
    if depth > 2:  # E_1 sums z over s < t, and level 1 is the total
        g_e = g_prefix[0]
        assert g_e is not None
        gz = (
            gz
            + g_levels[0][..., None]
            + xp.sum(g_e, axis=-1, keepdims=True)
            - xp.cumulative_sum(g_e, axis=-1)
        )
    for j in range(2, depth + 1):
        g_j = g_scaled[j]
        if g_j is not None:
            gz = gz + g_j / j
    return xp.matrix_transpose(gz)


def _accumulate(terms: list[Array | None], i: int, term: Array) -> None:
    """``terms[i] += term``, where ``None`` is zero (no zeros array is made)."""
    current = terms[i]
    terms[i] = term if current is None else current + term


def points_cotangent(gz: Array, *, xp: Namespace) -> Array:
    """The cotangent of the points ``(..., T+1, d)`` given that of their increments ``(..., T, d)``."""
    zero = xp.zeros_like(xp.sum(gz, axis=-2, keepdims=True))  # (..., 1, d) even for T = 0
    return xp.concat([zero, gz], axis=-2) - xp.concat([gz, zero], axis=-2)


def tiling_chunk(steps: int, chunk: int) -> int:
    """A chunk length of at most ``chunk`` for ``steps`` increments.

    A divisor of ``steps`` of at least ``chunk / 2`` if there is one (whole
    chunks need no padded copy), else :func:`balanced_chunk`.
    """
    best = 0
    i = 1
    while i * i <= steps:
        if steps % i == 0:
            best = max([best] + [c for c in (i, steps // i) if c <= chunk])
        i += 1
    return best if 2 * best >= chunk else balanced_chunk(steps, chunk)


def light_backward(
    points: Array,
    final: Array,
    cotangent: Array,
    depth: int,
    *,
    chunk: int,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> Array:
    """The cotangent of ``points`` ``(..., M, d)`` for ``points -> signature`` (flat, ``stream=False``).

    Memory does not grow with the length beyond the input and its cotangent
    (no prefix signature, no increment is stored). The walk, over chunks of
    ``chunk`` increments from the last to the first, with ``S`` the
    signature after a chunk ``C`` and ``g`` its cotangent:

    1. the signature before the chunk: ``P = S ⊗ C^{-1}`` (Chen's identity
       with the chunk's antipode);
    2. the cotangents of ``P`` and ``C`` from ``g``
       (:func:`~keras_sig._core._algebra.chen_vjp`);
    3. the chunk's points' cotangent from ``C``'s (:func:`parallel_vjp`);
    4. ``P`` and its cotangent are the next step's ``S`` and ``g``.

    Chunk ``i`` is the ``chunk`` points ending its increments (a reshaped
    view of ``points[..., 1:, :]``); its first increment starts at the last
    point of the chunk before, whose cotangent is carried there. Plain array
    operations: traceable, and differentiable again.
    """
    channels, steps = points.shape[-1], points.shape[-2] - 1
    chunk = tiling_chunk(steps, chunk)
    n = -(-steps // chunk)
    ends = points[..., 1:, :]
    if n * chunk > steps:  # pad with copies of the last point: zero increments
        last = points[..., -1:, :]
        pad = xp.broadcast_to(last, (*last.shape[:-2], n * chunk - steps, channels))
        ends = xp.concat([ends, pad], axis=-2)
    xs = xp.reshape(ends, (*ends.shape[:-2], n, chunk * channels))
    starts = points[..., :steps:chunk, :]  # (..., n, d): where each chunk starts

    def step(carry: tuple[Array, Array, Array, Array], flat: Array) -> tuple[tuple[Array, ...], Array]:
        after, g, g_end, index = carry
        start = xp.take(starts, index, axis=-2)
        pts = xp.concat([start, unchunk(flat, channels, xp=xp)], axis=-2)
        z = pts[..., 1:, :] - pts[..., :-1, :]
        c_levels, tape = parallel_with_tape(z, depth, xp=xp)
        before = chen(split_levels(after, channels, depth), antipode(c_levels, channels, xp=xp), xp=xp)
        g_before, g_chunk = chen_vjp(before, c_levels, split_levels(g, channels, depth), xp=xp)
        g_chunk_flat = concat_levels(g_chunk, xp=xp)
        g_pts = points_cotangent(parallel_vjp(z, depth, g_chunk_flat, xp=xp, tape=tape), xp=xp)
        # The chunk's own points, the last one also ending the chunk after it.
        own = xp.concat([g_pts[..., 1:-1, :], g_pts[..., -1:, :] + g_end], axis=-2)
        carry = (concat_levels(before, xp=xp), concat_levels(g_before, xp=xp), g_pts[..., :1, :], index - 1)
        return carry, xp.reshape(own, (*own.shape[:-2], chunk * channels))

    index = xp.asarray([n - 1])
    init = (final, cotangent, xp.zeros_like(points[..., :1, :]), index)
    (_, _, g_first, _), grads = scan(step, init, xs, stream=True, xp=xp, reverse=True, unroll=False)
    assert grads is not None
    grads = xp.reshape(grads, (*xs.shape[:-2], n * chunk, channels))
    if n * chunk == steps:
        return xp.concat([g_first, grads], axis=-2)
    # The padding repeats the last point: its cotangents are the last point's too.
    last = xp.sum(grads[..., steps - 1 :, :], axis=-2, keepdims=True)
    return xp.concat([g_first, grads[..., : steps - 1, :], last], axis=-2)
