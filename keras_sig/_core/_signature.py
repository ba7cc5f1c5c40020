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
    flatten,
    horner_chain,
    level_sizes,
    lift,
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


def signature_sequential(
    z: Array,
    depth: int,
    *,
    stream: bool,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> tuple[Array, ...]:
    """Levels of the signature by one fused multiply-exponential step per increment.

    The scan carries unflattened levels ``(..., d, ..., d)`` (see
    :func:`~keras_sig._core._algebra.mult_exp`); they are flattened once at the end
    (or per step for the stream output).
    """
    channels = z.shape[-1]
    zero = xp.zeros_like(xp.sum(z, axis=-2))
    start = [zero]
    for k in range(2, depth + 1):
        start.append(start[-1][..., None] * lift(zero, k))

    def flat(levels: tuple[Array, ...]) -> tuple[Array, ...]:
        return tuple(flatten(level, k, xp=xp) for k, level in enumerate(levels, start=1))

    def step(levels: tuple[Array, ...], z_t: Array) -> tuple[tuple[Array, ...], Array | None]:
        new = mult_exp(levels, z_t)
        return new, (concat_levels(flat(new), xp=xp) if stream else None)

    final, ys = scan(step, tuple(start), z, stream=stream, xp=xp)
    if stream:
        return split_levels(ys, channels, depth)
    return flat(final)


def _contract_time(a: Array, b: Array, *, xp: Namespace) -> Array:
    """``sum_t a[..., :, t] ⊗ b[..., :, t]``, flattened, as one batched matrix product."""
    prod = xp.matmul(a, xp.matrix_transpose(b))
    return xp.reshape(prod, (*prod.shape[:-2], prod.shape[-2] * prod.shape[-1]))


def _time_last(z: Array, *, xp: Namespace) -> Array:
    """``z`` as ``(..., d, T)``, laid out with time innermost.

    A transposed view keeps its time-major memory order in NumPy and PyTorch (and
    elementwise results follow it); flattening it forces the copy into the new
    order, which the outer products of the parallel method need to be fast.
    """
    view = xp.matrix_transpose(z)
    return xp.reshape(xp.reshape(view, (*view.shape[:-2], -1)), view.shape)


def _prefix_levels(
    z: Array, scaled: list[Array], depth: int, *, stream: bool, xp: Namespace
) -> tuple[list[Array], list[Array]]:
    """Levels ``1..depth`` by cumulative sums over time, in the time-last layout.

    ``z`` is ``(..., d, T)``. Returns ``(prefix, out)``: the exclusive prefix
    signatures ``(..., d**k, T)`` of levels ``1..depth`` (slices, no copies) and the
    output levels: every prefix ``(..., d**k, T)`` with ``stream``, else the total.
    """
    prefix: list[Array] = []
    out: list[Array] = []
    for k in range(1, depth + 1):
        inc = z
        if k > 1:
            inc = outer(exp_head(prefix, scaled, k, xp=xp, time_last=True), z, xp=xp, time_last=True)
        total = xp.cumulative_sum(inc, axis=-1, include_initial=True)
        prefix.append(total[..., :-1])
        out.append(total[..., 1:] if stream else total[..., -1])
    return prefix, out


def signature_parallel(z: Array, depth: int, *, stream: bool, xp: Namespace) -> tuple[Array, ...]:
    """Levels of the signature computed level by level over the whole time axis.

    The work is done in the time-last layout ``(..., d**k, T)``. With ``stream``
    every prefix of every level is a cumulative sum over time of the Horner
    increments. Without it, the two top levels come from time contractions
    (batched matrix products) by summation by parts: with ``E`` the exclusive
    prefix signatures and ``R_t = z_{t+1} + ... + z_{T-1}``,

    * ``S_{N-1} = sum_t H1_t ⊗ z_t`` with ``H1`` the Horner head of level ``N-1``;
    * ``S_N = sum_t H1_t ⊗ (z_t ⊗ R_t) + H2_t ⊗ (z_t ⊗ z_t)``, where ``H2`` is the
      Horner chain of level ``N`` stopped before its last step, halved.

    So no array larger than ``(..., d**(N-2), T)`` (besides ``d**2``-sized ones) is
    formed, and the widest cumulative sum is of level ``N-2``.
    """
    zt = _time_last(z, xp=xp)
    scaled = scale_increment(zt, depth)
    if stream or depth == 1:
        levels = _prefix_levels(zt, scaled, depth, stream=stream, xp=xp)[1]
        return tuple(xp.matrix_transpose(level) for level in levels) if stream else tuple(levels)
    prefix, out = _prefix_levels(zt, scaled, depth - 2, stream=False, xp=xp) if depth > 2 else ([], [])
    one = xp.ones_like(zt[..., :1, :])
    # H1: the Horner head of level N-1 (1 for N = 2).
    h1 = exp_head(prefix, scaled, depth - 1, xp=xp, time_last=True) if depth > 2 else one
    # H2: the chain of level N before its last step (1 for N = 2), halved.
    h2 = (horner_chain(prefix, scaled, depth, depth - 2, xp=xp, time_last=True) if depth > 2 else one) / 2
    suffix = xp.sum(zt, axis=-1, keepdims=True) - xp.cumulative_sum(zt, axis=-1)
    out.append(_contract_time(h1, zt, xp=xp))
    left = xp.concat([h1, h2], axis=-1)
    right = xp.concat(
        [outer(zt, suffix, xp=xp, time_last=True), outer(zt, zt, xp=xp, time_last=True)], axis=-1
    )
    out.append(_contract_time(left, right, xp=xp))
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
