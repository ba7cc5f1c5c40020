"""The chunked method: the parallel method on chunks of time or of the batch, joined by Chen's identity.

* :func:`signature_chunked`: chunks of time, each multiplied into the
  signature so far (Chen's identity) as the backend's ``scan`` walks them.
* :func:`over_batch`: chunks of paths, which need no product to be joined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_sig._core._algebra import chen, concat_levels, outer, split_levels
from keras_sig._core._forward import signature_parallel
from keras_sig._lib._typing import Array, Namespace

__all__ = ["balanced_chunk", "over_batch", "signature_chunked", "unchunk"]


def balanced_chunk(length: int, chunk: int) -> int:
    """The chunk length for ``length`` steps in as few chunks of at most ``chunk`` as possible, evened out.

    ``ceil(length / n)`` for ``n = ceil(length / chunk)`` chunks: the same
    number of chunks with the least zero padding.
    """
    n = max(1, -(-length // chunk))
    return max(1, -(-length // n))


def _chunks(z: Array, chunk: int, *, xp: Namespace) -> Array:
    """``z`` ``(..., T, d)`` as ``(..., n, chunk * d)``: ``n = ceil(T / chunk)`` flat chunks.

    ``chunk`` comes from :func:`balanced_chunk`, so the last chunk lacks fewer
    than ``n <= T`` steps; it is padded with zero increments, whose exponential
    is the identity, so padding changes no signature.
    """
    length, channels = z.shape[-2], z.shape[-1]
    n = max(1, -(-length // chunk))
    pad = n * chunk - length
    if pad:
        z = xp.concat([z, xp.zeros_like(z[..., :pad, :])], axis=-2)
    return xp.reshape(z, (*z.shape[:-2], n, chunk * channels))


def unchunk(flat: Array, channels: int, *, xp: Namespace) -> Array:
    """``(..., chunk * d)`` -> ``(..., chunk, d)``."""
    return xp.reshape(flat, (*flat.shape[:-1], flat.shape[-1] // channels, channels))


def signature_chunked(
    z: Array,
    depth: int,
    *,
    chunk: int,
    stream: bool,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> tuple[Array, ...]:
    """Levels of the signature by the parallel method on chunks of ``chunk`` increments.

    The backend's ``scan`` walks the chunks one at a time, so the parallel
    method's intermediates never hold more than ``chunk`` steps, and carries
    the signature so far, into which each chunk's signature (or stream) is
    multiplied by Chen's identity. Folding as the chunks are made keeps one
    signature, where a tree over all of them would hold ``n`` (for a large
    batch of short paths, more than the chunks' intermediates); it is the same
    number of products, and the scan runs them one after another either way.
    """
    channels, length = z.shape[-1], z.shape[-2]
    chunk = balanced_chunk(length, chunk)
    zero = xp.zeros_like(xp.sum(z, axis=-2))
    start = [zero]
    for _ in range(1, depth):
        start.append(outer(start[-1], zero, xp=xp))

    if not stream:
        # The whole chunks are a reshaped view (no padded copy); the rest is one more chunk.
        whole = length // chunk * chunk

        def step(carry: tuple[Array, ...], flat: Array) -> tuple[tuple[Array, ...], None]:
            levels = signature_parallel(unchunk(flat, channels, xp=xp), depth, stream=False, xp=xp)
            return chen(carry, levels, xp=xp), None

        xs = xp.reshape(z[..., :whole, :], (*z.shape[:-2], whole // chunk, chunk * channels))
        final, _ = scan(step, tuple(start), xs, stream=False, xp=xp, unroll=False)
        if whole < length:
            final = chen(final, signature_parallel(z[..., whole:, :], depth, stream=False, xp=xp), xp=xp)
        return tuple(final)

    xs = _chunks(z, chunk, xp=xp)

    def stream_step(carry: tuple[Array, ...], flat: Array) -> tuple[tuple[Array, ...], Array]:
        levels = signature_parallel(unchunk(flat, channels, xp=xp), depth, stream=True, xp=xp)
        levels = chen(tuple(c[..., None, :] for c in carry), levels, xp=xp)
        out = concat_levels(levels, xp=xp)
        return tuple(level[..., -1, :] for level in levels), xp.reshape(out, (*out.shape[:-2], -1))

    _, ys = scan(stream_step, tuple(start), xs, stream=True, xp=xp, unroll=False)
    assert ys is not None
    ys = xp.reshape(ys, (*xs.shape[:-2], xs.shape[-2] * chunk, ys.shape[-1] // chunk))
    return split_levels(ys[..., :length, :], channels, depth)


def over_batch(
    fn: Callable[..., Array],
    arrays: list[Array],
    *,
    batch_ndim: int,
    size: int,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> Array:
    """``fn`` applied to chunks of ``size`` paths at a time, the results joined.

    Every array of ``arrays`` has the same ``batch_ndim`` leading (batch)
    dimensions, of known sizes; ``fn(*chunks)`` takes each array's rows for
    ``size`` paths, flattened to one batch axis ``(size, ...)``, and returns
    ``(size, ...)``. The paths are independent, so this is exact: no Chen
    product joins the chunks. The backend's ``scan`` walks the chunks (one
    traced body on JAX and TensorFlow; shapes never depend on data), so only
    one chunk's intermediates are alive at a time. Where ``size`` does not
    divide the number of paths, the last chunk is padded with zero rows (a
    zero path, whose signature and cotangents are zero) that are cut off at
    the end.
    """
    lead = tuple(arrays[0].shape[:batch_ndim])
    total = 1
    for s in lead:
        total *= s
    n = max(1, -(-total // size))
    rests, widths, rows = [], [], []
    for a in arrays:
        rest = tuple(a.shape[batch_ndim:])
        width = 1
        for s in rest:
            width *= s
        flat = xp.reshape(a, (total, width))
        if n * size > total:
            flat = xp.concat([flat, xp.zeros_like(flat[: n * size - total, :])], axis=0)
        rests.append(rest)
        widths.append(width)
        rows.append(xp.reshape(flat, (n, size * width)))
    xs = rows[0] if len(rows) == 1 else xp.concat(rows, axis=-1)
    out_rest: list[tuple[int, ...]] = []

    def step(carry: Array, x: Array) -> tuple[Array, Array]:
        parts, start = [], 0
        for rest, width in zip(rests, widths, strict=True):
            parts.append(xp.reshape(x[..., start : start + size * width], (size, *rest)))
            start += size * width
        y = fn(*parts)
        out_rest[:] = [tuple(y.shape[1:])]
        return carry, xp.reshape(y, (-1,))

    _, ys = scan(step, xp.zeros_like(xs[0, :1]), xs, stream=True, xp=xp, unroll=False)
    assert ys is not None
    ys = xp.reshape(ys, (n * size, *out_rest[0]))
    if n * size > total:
        ys = ys[:total, ...]
    return xp.reshape(ys, (*lead, *out_rest[0]))
