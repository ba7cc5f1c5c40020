"""Signatures of piecewise-linear paths: the sequential and the time-parallel method.

Both methods apply the same Horner kernel (:func:`~keras_sig._core._algebra.exp_head`)
to the same increments, so they agree to rounding:

* ``sequential``: Chen's identity ``S <- S ⊗ exp(z_t)`` one increment at a time,
  through the backend's ``scan`` strategy. Memory ``O(batch x sigdim)``.
* ``parallel``: level by level over the whole time axis. With ``E_j`` the exclusive
  prefix signatures, the level-``k`` increment at step ``t`` is
  ``head_k(E(t), z_t) ⊗ z_t`` and level ``k`` itself is its cumulative sum over
  time. For ``stream=False`` the top level needs only the sum over time, which is a
  matrix product ``head^T z`` (no ``length x d**depth`` intermediate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_sig._core._algebra import (
    antipode,
    chen,
    concat_levels,
    exp_head,
    level_sizes,
    mult_exp,
    outer,
    scale_increment,
    split_levels,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = ["increments", "signature", "signature_parallel", "signature_sequential"]


def increments(path: Array, basepoint: Array | None, *, xp: Namespace) -> Array:
    """Increments ``(..., length-1, d)`` of ``path``, or ``(..., length, d)`` from a basepoint."""
    z = path[..., 1:, :] - path[..., :-1, :]
    if basepoint is None:
        return z
    first = path[..., :1, :] - basepoint[..., None, :]
    return xp.concat([first, z], axis=-2)


def _zero_levels(z: Array, depth: int, *, xp: Namespace) -> tuple[Array, ...]:
    """Zero levels ``(..., d**k)`` with ``z``'s batch shape, dtype and device.

    Built from ``z`` itself so that unknown (symbolic) batch sizes and empty time
    axes work alike.
    """
    zero = xp.zeros_like(xp.sum(z, axis=-2))
    levels = [zero]
    for _ in range(1, depth):
        levels.append(outer(levels[-1], zero, xp=xp))
    return tuple(levels)


def signature_sequential(
    z: Array,
    depth: int,
    *,
    stream: bool,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> tuple[Array, ...]:
    """Levels of the signature by one fused multiply-exponential step per increment."""

    def step(levels: tuple[Array, ...], z_t: Array) -> tuple[tuple[Array, ...], Array | None]:
        new = mult_exp(levels, z_t, xp=xp)
        return new, (concat_levels(new, xp=xp) if stream else None)

    final, ys = scan(step, _zero_levels(z, depth, xp=xp), z, stream=stream, xp=xp)
    if stream:
        return split_levels(ys, z.shape[-1], depth)
    return final


def signature_parallel(z: Array, depth: int, *, stream: bool, xp: Namespace) -> tuple[Array, ...]:
    """Levels of the signature computed level by level over the whole time axis."""
    scaled = scale_increment(z, depth)
    prefix: list[Array] = []  # exclusive prefix signatures, (..., T, d**k)
    out: list[Array] = []
    for k in range(1, depth + 1):
        last = k == depth
        if k == 1:
            inc = z
        else:
            head = exp_head(prefix, scaled, k, xp=xp)
            if last and not stream:
                top = xp.matmul(xp.matrix_transpose(head), z)
                out.append(xp.reshape(top, (*top.shape[:-2], top.shape[-2] * top.shape[-1])))
                break
            inc = outer(head, z, xp=xp)
        if last and not stream:
            out.append(xp.sum(inc, axis=-2))
            break
        total = xp.cumulative_sum(inc, axis=-2, include_initial=True)
        if not last:
            prefix.append(total[..., :-1, :])
        out.append(total[..., 1:, :] if stream else total[..., -1, :])
    return tuple(out)


def signature(
    path: Array,
    depth: int,
    *,
    stream: bool,
    basepoint: Array | None,
    initial: Array | None,
    inverse: bool,
    scalar_term: bool,
    method: str,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> Array:
    """Signature of ``path`` with validated, normalised arguments.

    ``basepoint`` and ``initial`` are arrays or ``None`` (``initial`` without its
    scalar term); ``method`` is ``"sequential"`` or ``"parallel"``.
    """
    channels = path.shape[-1]
    z = increments(path, basepoint, xp=xp)
    if method == "sequential":
        levels = signature_sequential(z, depth, stream=stream, xp=xp, scan=scan)
    else:
        levels = signature_parallel(z, depth, stream=stream, xp=xp)
    if inverse:
        levels = antipode(levels, channels, xp=xp)
    if initial is not None:
        start = split_levels(initial, channels, depth)
        if stream:
            start = tuple(level[..., None, :] for level in start)
        # With inverse=True, ``initial`` is the inverse signature of what came before:
        # the inverse of (before ⊗ path) is path^{-1} ⊗ before^{-1}.
        levels = chen(levels, start, xp=xp) if inverse else chen(start, levels, xp=xp)
    out = concat_levels(levels, xp=xp)
    if scalar_term:
        out = xp.concat([xp.ones_like(out[..., :1]), out], axis=-1)
    return out


def sigdim(channels: int, depth: int) -> int:
    """``channels + channels**2 + ... + channels**depth``."""
    return sum(level_sizes(channels, depth))
