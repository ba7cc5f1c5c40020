"""The forward methods: the sequential scan, the time-parallel method and its chunks.

Both methods apply the same Horner kernel (:func:`~keras_sig._core._algebra.exp_head`)
to the same increments, so they agree to rounding:

* ``sequential``: Chen's identity ``S <- S ⊗ exp(z_t)`` one increment at a time,
  through the backend's ``scan`` strategy. Memory ``O(batch x sigdim)``.
* ``parallel``: level by level over the whole time axis. With ``E_j`` the
  exclusive prefix signatures, the level-``k`` increment at step ``t`` is
  ``head_k(E(t), z_t) ⊗ z_t``, and level ``k`` is its cumulative sum over time.
  With ``stream=False`` the top level needs only the sum over time: a matrix
  product ``head^T z`` (no ``length x d**depth`` intermediate).
The chunked method, built on the parallel one, is :mod:`keras_sig._core._chunks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_sig._core._algebra import (
    concat_levels,
    exp_head,
    flatten,
    horner_heads,
    horner_step_flat,
    level_sizes,
    lift,
    mult_exp,
    outer,
    scale_increment,
    split_levels,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "increments",
    "parallel_with_tape",
    "signature_parallel",
    "signature_sequential",
    "signature_sequential_flat",
]


def increments(path: Array, basepoint: Array | None, *, xp: Namespace) -> Array:
    """Increments ``(..., length-1, d)`` of ``path``, or ``(..., length, d)`` from a basepoint."""
    z = path[..., 1:, :] - path[..., :-1, :]
    if basepoint is None:
        return z
    first = path[..., :1, :] - basepoint[..., None, :]
    return xp.concat([first, z], axis=-2)


UNFLATTENED_MAX_DEPTH = 8
"""The deepest signature whose sequential scan carries unflattened levels (see below)."""

PARALLEL_MAX_DEPTH = 16
"""The deepest signature the parallel and chunked methods compute; deeper ones run sequentially.

Their programs (and those of their hand-written derivatives) hold a Horner chain
per level, so they grow with the depth's square, and compiling them (XLA) takes
minutes past depth 50 or so; the flat sequential scan
(:func:`signature_sequential`) grows linearly and gives the same result. Depths
this high are practical only with one or two channels (``2**16`` entries for
level 16), where the sequential scan is not slower per step.
"""


def signature_sequential(
    z: Array,
    depth: int,
    *,
    stream: bool,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> tuple[Array, ...]:
    """Levels of the signature by one fused multiply-exponential step per increment.

    Up to depth :data:`UNFLATTENED_MAX_DEPTH` the scan carries unflattened
    levels ``(..., d, ..., d)`` (see :func:`~keras_sig._core._algebra.mult_exp`);
    they are flattened once at the end (or per step for the stream output).
    Beyond it, that form needs as many axes as the depth (more than NumPy or
    TensorFlow allow past 64 or 31) and a program that grows with the depth's
    square, so :func:`signature_sequential_flat` is used. Both give the same
    result to rounding.
    """
    channels = z.shape[-1]
    if depth > UNFLATTENED_MAX_DEPTH:
        return signature_sequential_flat(z, depth, stream=stream, xp=xp, scan=scan)
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


def _filled(like: Array, size: int, axis: int, *, xp: Namespace) -> Array:
    """``like`` (size 1 along ``axis``) repeated to ``size`` along it, by doubling: ``log2(size)`` joins."""
    out = like
    while out.shape[axis] < size:
        out = xp.concat([out, out], axis=axis)
    return out[..., :size] if axis == -1 else out[..., :size, :]


FLAT_UNROLLED_STEPS = 8
"""How many of the last Horner steps :func:`signature_sequential_flat` writes out (the rest loop)."""


def signature_sequential_flat(
    z: Array,
    depth: int,
    *,
    stream: bool,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> tuple[Array, ...]:
    """The sequential method carrying the flat signature ``(..., sigdim)``, for any depth.

    Each increment ``z`` multiplies the carry ``A`` by its exponential by
    Horner's scheme on the whole algebra, ``W <- A + W ⊗ z/j`` for ``j = N,
    ..., 1`` from ``W = A``. The ``i``-th of these steps needs only levels
    ``1..i`` (level ``k`` of the result takes level ``k-1`` of the step
    before), so the last :data:`FLAT_UNROLLED_STEPS` are written out on
    growing prefixes of the flat layout (levels ``1..i``, where the work is),
    and the first ``N - FLAT_UNROLLED_STEPS`` run in an inner ``scan`` over
    their divisors on levels ``1..N - FLAT_UNROLLED_STEPS`` (arrays
    ``d**FLAT_UNROLLED_STEPS`` times smaller than the signature;
    :func:`~keras_sig._core._algebra.horner_step_flat`). Both loop bodies have
    a fixed size, so the program (and XLA's compile time) does not grow with
    the depth, and no array has more axes than the batch plus one.
    """
    channels = z.shape[-1]
    sizes = [0]
    for size in level_sizes(channels, depth):
        sizes.append(sizes[-1] + size)  # sizes[i] = sigdim(d, i)
    low = max(0, depth - FLAT_UNROLLED_STEPS)  # levels the inner loop works on
    start = _filled(xp.zeros_like(xp.sum(z, axis=-2)[..., :1]), sizes[-1], -1, xp=xp)
    divisors = None
    if low:
        # The divisors N, ..., N - low + 1 as (..., low, 1), scanned along axis -2
        # (made from z, so there is no device to ask for).
        counts = xp.cumulative_sum(_filled(xp.ones_like(z[..., :1, :1]), low, -2, xp=xp), axis=-2)
        divisors = (depth + 1) - counts

    def step(carry: Array, z_t: Array) -> tuple[Array, Array | None]:
        w = None
        if divisors is not None:
            base = carry[..., : sizes[low]]

            def horner(w: Array, j: Array) -> tuple[Array, None]:
                return horner_step_flat(base, w, z_t / j, sizes[low - 1], xp=xp), None

            w, _ = scan(horner, base, divisors, stream=False, xp=xp, unroll=False)
        for i in range(low + 1, depth + 1):
            j = depth - i + 1
            inc = z_t if j == 1 else z_t / j
            head = inc if w is None else xp.concat([inc, outer(w, inc, xp=xp)], axis=-1)
            w = carry[..., : sizes[i]] + head
        assert w is not None
        return w, (w if stream else None)

    # One step per iteration: unrolling (as the unflattened scan does) multiplies
    # the compile time and, at these depths, gains nothing.
    final, ys = scan(step, start, z, stream=stream, xp=xp, unroll=False)
    return split_levels(ys if stream else final, channels, depth)


def contract_time(a: Array, b: Array, *, xp: Namespace) -> Array:
    """``sum_t a[..., :, t] ⊗ b[..., :, t]``, flattened, as one batched matrix product."""
    prod = xp.matmul(a, xp.matrix_transpose(b))
    return xp.reshape(prod, (*prod.shape[:-2], prod.shape[-2] * prod.shape[-1]))


def time_last(z: Array, *, xp: Namespace) -> Array:
    """``z`` as ``(..., d, T)``, laid out with time innermost.

    A transposed view keeps its time-major memory order in NumPy and PyTorch (and
    elementwise results follow it); flattening it forces the copy into the new
    order, which the outer products of the parallel method need to be fast.
    """
    view = xp.matrix_transpose(z)
    return xp.reshape(xp.reshape(view, (*view.shape[:-2], flat_size(*view.shape[-2:]))), view.shape)


def flat_size(*sizes: Any) -> Any:
    """The product of ``sizes``, or ``-1`` (for ``reshape``) where one is unknown when tracing.

    A known size keeps a reshape valid on an empty batch, where ``-1`` is
    ambiguous (NumPy and PyTorch refuse it; JAX divides by zero).
    """
    total = 1
    for s in sizes:
        if s is None:
            return -1
        total = total * s
    return total


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
    if stream or depth == 1:
        zt = time_last(z, xp=xp)
        levels = _prefix_levels(zt, scale_increment(zt, depth), depth, stream=stream, xp=xp)[1]
        return tuple(xp.matrix_transpose(level) for level in levels) if stream else tuple(levels)
    return parallel_with_tape(z, depth, xp=xp)[0]


def parallel_with_tape(z: Array, depth: int, *, xp: Namespace) -> tuple[tuple[Array, ...], list[Array]]:
    """The levels of :func:`signature_parallel` (``stream=False``) and its tape.

    The tape is what :func:`parallel_vjp` walks back, as a flat list: the
    exclusive prefix levels ``1..N-2``, then every step of the Horner chain of
    each level ``2..N`` (see :func:`_tape_parts`); empty for ``depth = 1``.
    """
    if depth == 1:
        return (xp.sum(z, axis=-2),), []
    zt = time_last(z, xp=xp)
    scaled = scale_increment(zt, depth)
    prefix: list[Array] = []
    out: list[Array] = []
    tape: list[Array] = []
    for k in range(1, depth - 1):
        inc = zt
        if k > 1:
            chain = horner_heads(prefix, scaled, k, k - 1, xp=xp, time_last=True)
            tape.extend(chain)
            inc = outer(chain[-1], zt, xp=xp, time_last=True)
        total = xp.cumulative_sum(inc, axis=-1, include_initial=True)
        prefix.append(total[..., :-1])
        out.append(total[..., -1])
    one = xp.ones_like(zt[..., :1, :])
    h1_chain, h2_chain = (
        [horner_heads(prefix, scaled, k, depth - 2, xp=xp, time_last=True) for k in (depth - 1, depth)]
        if depth > 2
        else [[one], [one]]
    )
    tape.extend([*h1_chain, *h2_chain])
    h1, h2 = h1_chain[-1], h2_chain[-1] / 2
    suffix = xp.sum(zt, axis=-1, keepdims=True) - xp.cumulative_sum(zt, axis=-1)
    out.append(contract_time(h1, zt, xp=xp))
    left = xp.concat([h1, h2], axis=-1)
    right = xp.concat(
        [outer(zt, suffix, xp=xp, time_last=True), outer(zt, zt, xp=xp, time_last=True)], axis=-1
    )
    out.append(contract_time(left, right, xp=xp))
    return tuple(out), prefix + tape
