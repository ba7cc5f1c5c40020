"""Running an array-API pipeline where its arrays live: compiled on JAX, placed on TF, blockwise on Dask."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from keras_sig._core._logsig import Constants
from keras_sig._lib._namespace import (
    array_namespace,
    device_of,
    is_adapter,
    is_dask_array,
    is_jax_namespace,
    is_torch_namespace,
    jax_jit,
    placed_like,
)
from keras_sig._lib._typing import Array, Namespace
from keras_sig._lib._validation import broadcast_shapes

__all__ = ["apply_pipeline", "run_pipeline"]


def run_pipeline(fn: Callable[..., Array], xp: Namespace, like: Array, *arrays: Any, **static: Any) -> Array:
    """``fn(*arrays, xp=xp, consts=..., **static)``: compiled once per option set on JAX.

    TensorFlow runs it on ``like``'s device (TF would pick a GPU); elsewhere the
    constants are made on ``like``'s device, and kept between calls where the
    code runs eagerly.
    """
    if is_jax_namespace(xp):
        compiled = jax_jit(fn, (*sorted(static), "xp", "consts"))
        return compiled(*arrays, xp=xp, consts=Constants(xp), **static)
    adapter = is_adapter(xp)
    consts = Constants(xp, device_of(like, xp), keep=not adapter and _eager(xp))
    with placed_like(like, xp):
        return fn(*arrays, xp=xp, consts=consts, **static)


def _eager(xp: Namespace) -> bool:
    """Whether arrays made now may be kept for later calls (not under torch.compile or inference mode)."""
    if not is_torch_namespace(xp):
        return True
    torch = sys.modules["torch"]
    return not (torch.compiler.is_compiling() or torch.is_inference_mode_enabled())


def apply_pipeline(
    fn: Callable[..., Array], xp: Namespace, arrays: Sequence[Array], *, size: int, **static: Any
) -> Array:
    """:func:`run_pipeline` on ``arrays``, or, for dask arrays, lazily on their blocks.

    Dask: ``fn`` runs on the NumPy (or CuPy) blocks, one batch chunk at a time;
    the last axis is a single chunk, the leading axes are broadcast and chunked
    like the first array's, and ``size`` is the output's last axis.
    """
    if not is_dask_array(arrays[0]):
        return run_pipeline(fn, xp, arrays[0], *arrays, **static)
    import dask.array as da

    batch = broadcast_shapes([("", tuple(a.shape[:-1])) for a in arrays])
    full = [da.broadcast_to(a, (*batch, a.shape[-1])) for a in arrays]
    full = [a.rechunk({a.ndim - 1: -1}) for a in full]
    chunks = full[0].chunks[:-1]
    full = [full[0]] + [a.rechunk((*chunks, a.shape[-1])) for a in full[1:]]

    def block(*blocks: Array) -> Array:
        return run_pipeline(fn, array_namespace(*blocks), blocks[0], *blocks, **static)

    return da.map_blocks(block, *full, chunks=(*chunks, (size,)), dtype=full[0].dtype, meta=full[0]._meta)
