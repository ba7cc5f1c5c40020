"""Truncated tensor-algebra kernels shared by every algorithm.

An element of the truncated tensor algebra T((R^d)) up to depth N is held as a
tuple of ``N`` arrays ``(A_1, ..., A_N)`` with ``A_k`` of shape ``(..., d**k)``:
level ``k`` flattened in row-major word order, the scalar term implicit (1 for
group-like elements, 0 for Lie elements, as each function says).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "antipode",
    "chen",
    "chen_tree",
    "chen_vjp",
    "combine_flat",
    "concat_levels",
    "exp_head",
    "flatten",
    "horner_heads",
    "horner_step_flat",
    "inverse_flat",
    "level_sizes",
    "lift",
    "mult_exp",
    "outer",
    "outer_vjp",
    "reverse_words",
    "scale_increment",
    "sigdim",
    "split_levels",
    "with_scalar_term",
    "without_scalar_term",
]


def sigdim(channels: int, depth: int) -> int:
    """``channels + channels**2 + ... + channels**depth``: the flat signature's size (a geometric sum)."""
    if channels == 1:
        return depth
    return channels * (channels**depth - 1) // (channels - 1)


def level_sizes(channels: int, depth: int) -> list[int]:
    """``[d, d**2, ..., d**depth]``."""
    return [channels**k for k in range(1, depth + 1)]


def outer(a: Array, b: Array, *, xp: Namespace, time_last: bool = False) -> Array:
    """Batched outer product, flattened: ``(..., m)`` x ``(..., n)`` -> ``(..., m*n)``.

    Leading dimensions broadcast. Entry ``i*n + j`` is ``a[..., i] * b[..., j]``,
    which is the row-major word order of the tensor product. With ``time_last``
    the operands are ``(..., m, T)`` and ``(..., n, T)`` and the result is
    ``(..., m*n, T)``: the layout the time-parallel method uses, whose innermost
    loop runs over time (several times faster in eager NumPy and PyTorch).
    """
    if time_last:
        prod = a[..., :, None, :] * b[..., None, :, :]
        return xp.reshape(prod, (*prod.shape[:-3], a.shape[-2] * b.shape[-2], prod.shape[-1]))
    prod = a[..., :, None] * b[..., None, :]
    return xp.reshape(prod, (*prod.shape[:-2], a.shape[-1] * b.shape[-1]))


def outer_vjp(g: Array, a: Array, b: Array, *, xp: Namespace) -> tuple[Array, Array]:
    """The cotangents of ``a`` ``(..., m, T)`` and ``b`` ``(..., n, T)`` for ``outer(a, b, time_last=True)``.

    ``g`` is ``(..., m*n, T)``. Each is a product with the other operand summed
    over that operand's axis, an elementwise reduction (time is a batch axis of
    the contraction, so it is not a matrix product).
    """
    m, n = a.shape[-2], b.shape[-2]
    cube = xp.reshape(g, (*g.shape[:-2], m, n, g.shape[-1]))
    return xp.sum(cube * b[..., None, :, :], axis=-2), xp.sum(cube * a[..., :, None, :], axis=-3)


def horner_heads(
    levels: Sequence[Array],
    scaled: Sequence[Array],
    k: int,
    stop: int,
    *,
    xp: Namespace,
    time_last: bool = False,
) -> list[Array]:
    """The first steps of the Horner head of level ``k``, up to and including ``A_stop``.

    ``[head_1, ..., head_stop]`` with ``head_1 = z/k + A_1`` and ``head_i =
    head_{i-1} ⊗ z/(k-i+1) + A_i``, for ``1 <= stop <= k-1``; ``levels`` holds
    at least ``A_1, ..., A_stop``; ``scaled[j]`` is ``z / j``. Every step is
    returned because the VJP of the parallel method walks them back.
    ``time_last`` as in :func:`outer`.
    """
    heads = [levels[0] + scaled[k]]
    for i in range(2, stop + 1):
        heads.append(levels[i - 1] + outer(heads[-1], scaled[k - i + 1], xp=xp, time_last=time_last))
    return heads


def exp_head(
    levels: Sequence[Array], scaled: Sequence[Array], k: int, *, xp: Namespace, time_last: bool = False
) -> Array:
    """Horner head of level ``k`` (``k >= 2``) of ``A ⊗ exp(z)``.

    The level-``k`` part of ``A ⊗ exp(z) - A`` equals ``exp_head(...) ⊗ z``, where::

        head = (((z/k + A_1) ⊗ z/(k-1) + A_2) ⊗ z/(k-2) + ... + A_{k-1})

    ``levels`` holds ``A_1, ..., A_{k-1}`` (more are ignored); ``scaled[j]`` is
    ``z / j`` for ``j = 1, ..., depth`` (``scaled[0]`` is unused).
    """
    return horner_heads(levels, scaled, k, k - 1, xp=xp, time_last=time_last)[-1]


def scale_increment(z: Array, depth: int) -> list[Array]:
    """``[z, z/1, z/2, ..., z/depth]``: the divided increments Horner's scheme uses."""
    return [z, z] + [z / j for j in range(2, depth + 1)]


def lift(z: Array, k: int) -> Array:
    """``z`` of shape ``(..., d)`` viewed as ``(..., 1, ..., 1, d)`` with ``k`` trailing axes."""
    return z[(Ellipsis, *([None] * (k - 1)), slice(None))]


def mult_exp(levels: Sequence[Array], z: Array) -> tuple[Array, ...]:
    """``A ⊗ exp(z)`` for group-like ``A`` (scalar term 1) and an increment ``z``.

    One fused Horner step per level: the tensor exponential is never formed.
    Levels are *unflattened* tensors: ``A_k`` has shape ``(..., d, ..., d)`` with
    ``k`` trailing axes, so every product is a plain broadcast multiplication
    (no reshape), which XLA fuses inside a ``jax.lax.scan`` body several times
    better than the flattened form.
    """
    depth = len(levels)
    out = [levels[0] + z]
    for k in range(2, depth + 1):
        head = levels[0] + z / k
        for i in range(2, k + 1):
            j = k - i + 1
            head = levels[i - 1] + head[..., None] * lift(z if j == 1 else z / j, i)
        out.append(head)
    return tuple(out)


def horner_step_flat(a: Array, w: Array, step: Array, lower: int, *, xp: Namespace) -> Array:
    """One step ``A + W ⊗ step`` of Horner's scheme for ``A ⊗ exp(z)`` on flat elements ``(..., sigdim)``.

    Starting from ``W = A``, the steps ``W <- A + W ⊗ z/j`` for ``j = N, ...,
    1`` give ``A ⊗ exp(z)`` (``A`` group-like: scalar term 1, implicit).
    Right multiplication by ``step`` maps levels ``0..N-1`` onto levels
    ``1..N``; in the flat row-major layout that is ``step`` itself (from the
    scalar term) followed by one outer product of the first ``lower =
    sigdim(d, N-1)`` entries with ``step``. So a step is a few operations on
    arrays of the signature's size whatever the depth, with no array of more
    than one axis beyond the batch (unlike :func:`mult_exp`, whose program
    grows with the depth's square and whose levels have as many axes as the
    depth).
    """
    return a + xp.concat([step, outer(w[..., :lower], step, xp=xp)], axis=-1)


def flatten(level: Array, k: int, *, xp: Namespace) -> Array:
    """``(..., d, ..., d)`` (``k`` trailing axes) -> ``(..., d**k)``."""
    size = 1
    for s in level.shape[level.ndim - k :]:
        size *= s
    return xp.reshape(level, (*level.shape[: level.ndim - k], size))


def chen(a: Sequence[Array], b: Sequence[Array], *, xp: Namespace) -> tuple[Array, ...]:
    """Truncated product ``A ⊗ B`` of two elements with scalar term 1.

    ``(A ⊗ B)_k = A_k + B_k + sum_{i=1}^{k-1} A_i ⊗ B_{k-i}``. Leading dimensions
    broadcast.
    """
    out = []
    for k in range(1, len(a) + 1):
        term = a[k - 1] + b[k - 1]
        for i in range(1, k):
            term = term + outer(a[i - 1], b[k - i - 1], xp=xp)
        out.append(term)
    return tuple(out)


def chen_vjp(
    a: Sequence[Array], b: Sequence[Array], g: Sequence[Array], *, xp: Namespace
) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """The cotangents of ``A`` and ``B`` for :func:`chen` ``(A, B) -> A ⊗ B`` given ``g``.

    ``A ⊗ B`` is bilinear, so its VJP is two transposed products (flat levels):

    * ``ga_i = g_i + sum_j g_{i+j} · B_j``, contracting the last ``j`` letters;
    * ``gb_j = g_j + sum_i A_i · g_{i+j}``, contracting the first ``i`` letters.

    Each contraction is one batched matrix product on ``g_{i+j}`` viewed as a
    ``(d**i, d**j)`` matrix. Leading dimensions broadcast.
    """
    depth = len(g)
    channels = g[0].shape[-1]
    ga, gb = [], []
    for i in range(1, depth + 1):
        term_a, term_b = g[i - 1], g[i - 1]
        for j in range(1, depth - i + 1):
            block = g[i + j - 1]
            lead = block.shape[:-1]
            # g_{i+j} as (d**i, d**j) for ga_i and (d**j, d**i) for gb_i.
            as_ij = xp.reshape(block, (*lead, channels**i, channels**j))
            as_ji = xp.reshape(block, (*lead, channels**j, channels**i))
            term_a = term_a + xp.matmul(as_ij, b[j - 1][..., :, None])[..., 0]
            term_b = term_b + xp.matmul(a[j - 1][..., None, :], as_ji)[..., 0, :]
        ga.append(term_a)
        gb.append(term_b)
    return tuple(ga), tuple(gb)


def chen_tree(levels: Sequence[Array], *, xp: Namespace) -> tuple[Array, ...]:
    """The ordered product ``X_0 ⊗ X_1 ⊗ ... ⊗ X_{n-1}`` along axis -2, as a log-depth tree.

    ``levels[k-1]`` has shape ``(..., n, d**k)``: ``n`` elements with scalar term 1
    stacked along axis -2 (``n`` must be known). Neighbours are multiplied pairwise
    (``ceil(log2 n)`` rounds of :func:`chen`, each over all pairs at once); an odd
    element out is carried to the next round unchanged. Returns ``(..., d**k)``.
    """
    current = tuple(levels)
    n = current[0].shape[-2]
    while n > 1:
        pairs = n // 2
        left = tuple(level[..., 0 : 2 * pairs : 2, :] for level in current)
        right = tuple(level[..., 1 : 2 * pairs : 2, :] for level in current)
        merged = chen(left, right, xp=xp)
        if n % 2:
            merged = tuple(
                xp.concat([m, level[..., n - 1 :, :]], axis=-2)
                for m, level in zip(merged, current, strict=True)
            )
        current = merged
        n = pairs + n % 2
    return tuple(level[..., 0, :] for level in current)


def antipode(levels: Sequence[Array], channels: int, *, xp: Namespace) -> tuple[Array, ...]:
    """The antipode: level ``k`` reversed word by word and multiplied by ``(-1)**k``.

    For a signature this is its inverse in the tensor algebra, and equals the
    signature of the time-reversed path.
    """
    out = []
    for k, level in enumerate(levels, start=1):
        flipped = reverse_words(level, k, channels, xp=xp)
        out.append(flipped if k % 2 == 0 else -flipped)
    return tuple(out)


# Words longer than this are reversed in halves (see reverse_words), keeping every
# array's number of axes small (NumPy allows 64; TensorFlow's ops fewer).
_CUBE_MAX_LETTERS = 12


def reverse_words(level: Array, k: int, channels: int, *, xp: Namespace) -> Array:
    """Level ``k`` ``(..., d**k)`` with the coefficient of each word moved to the reversed word.

    Up to :data:`_CUBE_MAX_LETTERS` letters by one permutation of the level as
    a cube ``(..., d, ..., d)``; longer words as halves, since the reverse of
    ``uv`` is ``rev(v) rev(u)``: the level as a ``(d**a, d**b)`` matrix, each
    half reversed (recursively) and the matrix transposed. One channel has one
    word per level, which is its own reverse.
    """
    if k == 1 or channels == 1:
        return level
    lead = level.shape[:-1]
    if k <= _CUBE_MAX_LETTERS:
        n_lead = len(lead)
        cube = xp.reshape(level, (*lead, *([channels] * k)))
        perm = (*range(n_lead), *reversed(range(n_lead, n_lead + k)))
        return xp.reshape(xp.permute_dims(cube, perm), (*lead, channels**k))
    a = k // 2
    b = k - a
    matrix = reverse_words(xp.reshape(level, (*lead, channels**a, channels**b)), b, channels, xp=xp)
    swapped = reverse_words(xp.matrix_transpose(matrix), a, channels, xp=xp)  # rows rev(v), columns rev(u)
    return xp.reshape(swapped, (*lead, channels**k))


def split_levels(flat: Array, channels: int, depth: int) -> tuple[Array, ...]:
    """Cut ``(..., sigdim)`` (no scalar term) into its levels."""
    out = []
    start = 0
    for size in level_sizes(channels, depth):
        out.append(flat[..., start : start + size])
        start += size
    return tuple(out)


def concat_levels(levels: Sequence[Array], *, xp: Namespace) -> Array:
    """Join levels into ``(..., sigdim)``."""
    if len(levels) == 1:
        return levels[0]
    return xp.concat(list(levels), axis=-1)


def with_scalar_term(x: Array, scalar_term: bool, *, xp: Namespace) -> Array:
    """``x`` with the scalar term 1 prepended if ``scalar_term``."""
    return xp.concat([xp.ones_like(x[..., :1]), x], axis=-1) if scalar_term else x


def without_scalar_term(x: Array, scalar_term: bool) -> Array:
    """``x`` without its leading scalar term if ``scalar_term``."""
    return x[..., 1:] if scalar_term else x


def combine_flat(
    *sigs: Array, channels: int, depth: int, scalar_term: bool, xp: Namespace, consts: Any = None
) -> Array:
    """The product (Chen's identity) of flat signatures, left to right; ``consts`` is unused."""
    del consts
    levels = [split_levels(without_scalar_term(s, scalar_term), channels, depth) for s in sigs]
    if len(levels) == 2:
        out = chen(levels[0], levels[1], xp=xp)
    else:
        stacked = xp.stack([without_scalar_term(s, scalar_term) for s in sigs], axis=-2)
        out = chen_tree(split_levels(stacked, channels, depth), xp=xp)
    return with_scalar_term(concat_levels(out, xp=xp), scalar_term, xp=xp)


def inverse_flat(
    sig: Array, *, channels: int, depth: int, scalar_term: bool, xp: Namespace, consts: Any = None
) -> Array:
    """The inverse of a flat signature (its antipode); ``consts`` is unused."""
    del consts
    out = concat_levels(
        antipode(split_levels(without_scalar_term(sig, scalar_term), channels, depth), channels, xp=xp), xp=xp
    )
    return xp.concat([sig[..., :1], out], axis=-1) if scalar_term else out
