"""Dask arrays: the signature of each batch chunk, lazily, by the same public function.

A signature needs the whole time axis and every channel of a path, so those axes
are rechunked to a single chunk; the leading (batch) axes keep their chunks and each
block is computed with the block's own library (NumPy or CuPy). Nothing is computed
until the caller asks, and no more than a chunk of paths is in memory per task.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

from keras_sig._lib._typing import Array

__all__ = ["blockwise_signature"]


def blockwise_signature(
    path: Array,
    *,
    basepoint: Array | None,
    initial: Array | None,
    out_time: int | None,
    sigdim: int,
    compute: Callable[[Array, Array | None, Array | None], Array],
) -> Array:
    """A lazy dask array: ``compute(path_block, basepoint_block, initial_block)`` per batch chunk.

    ``out_time`` is the stream output's length (``None`` without ``stream``);
    ``sigdim`` the output's last axis. ``basepoint`` ``(..., channels)`` and
    ``initial`` ``(..., size)`` are dask arrays broadcast to the path's batch shape.
    """
    import dask.array as da

    batch_ndim = path.ndim - 2
    if any(math.isnan(s) for s in path.shape):  # unknown chunk sizes
        msg = "path is a dask array with unknown chunk sizes; call .compute_chunk_sizes() first"
        raise ValueError(msg)
    path = path.rechunk({batch_ndim: -1, batch_ndim + 1: -1})
    batch_chunks = path.chunks[:batch_ndim]
    batch = string.ascii_lowercase[:batch_ndim]
    args: list[Any] = [path, batch + "TC"]
    extras = []
    for value, index in ((basepoint, "C"), (initial, "K")):
        if value is None:
            extras.append(False)
            continue
        full = da.broadcast_to(value, (*path.shape[:batch_ndim], value.shape[-1]))
        args += [full.rechunk((*batch_chunks, -1)), batch + index]
        extras.append(True)

    def block(p: Array, *rest: Array) -> Array:
        it = iter(rest)
        bp = next(it) if extras[0] else None
        init = next(it) if extras[1] else None
        return compute(p, bp, init)

    out_index = batch + ("U" if out_time is not None else "") + "S"
    new_axes = {"S": sigdim}
    if out_time is not None:
        new_axes["U"] = out_time
    return da.blockwise(
        block, out_index, *args, new_axes=new_axes, concatenate=True, dtype=path.dtype, meta=path._meta
    )
