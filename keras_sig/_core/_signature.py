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
    chen_vjp,
    concat_levels,
    exp_head,
    flatten,
    horner_heads,
    horner_step_flat,
    level_sizes,
    lift,
    mult_exp,
    outer,
    outer_vjp,
    scale_increment,
    split_levels,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "increments",
    "light_backward",
    "over_batch",
    "parallel_vjp",
    "parallel_with_tape",
    "points_cotangent",
    "signature",
    "signature_chunked",
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
        zt = _time_last(z, xp=xp)
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
    zt = _time_last(z, xp=xp)
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
    out.append(_contract_time(h1, zt, xp=xp))
    left = xp.concat([h1, h2], axis=-1)
    right = xp.concat(
        [outer(zt, suffix, xp=xp, time_last=True), outer(zt, zt, xp=xp, time_last=True)], axis=-1
    )
    out.append(_contract_time(left, right, xp=xp))
    return tuple(out), prefix + tape


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
    zt = _time_last(z, xp=xp)
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


def _unchunk(flat: Array, channels: int, *, xp: Namespace) -> Array:
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
            levels = signature_parallel(_unchunk(flat, channels, xp=xp), depth, stream=False, xp=xp)
            return chen(carry, levels, xp=xp), None

        xs = xp.reshape(z[..., :whole, :], (*z.shape[:-2], whole // chunk, chunk * channels))
        final, _ = scan(step, tuple(start), xs, stream=False, xp=xp, unroll=False)
        if whole < length:
            final = chen(final, signature_parallel(z[..., whole:, :], depth, stream=False, xp=xp), xp=xp)
        return tuple(final)

    xs = _chunks(z, chunk, xp=xp)

    def stream_step(carry: tuple[Array, ...], flat: Array) -> tuple[tuple[Array, ...], Array]:
        levels = signature_parallel(_unchunk(flat, channels, xp=xp), depth, stream=True, xp=xp)
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


def _tiling_chunk(steps: int, chunk: int) -> int:
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

    Memory does not grow with the length beyond the input and its cotangent:
    no prefix signature and no increment is stored. Walking the chunks of
    ``chunk`` increments from the last to the first, the signature ``P``
    before a chunk is rebuilt from the one after it, ``S``, by Chen's identity
    with the chunk's inverse signature, ``P = S ⊗ C^{-1}`` (``C^{-1}`` is the
    antipode of ``C``, the product of the increments' inverse exponentials).
    With ``g`` the cotangent of ``S = P ⊗ C``, the cotangents of ``P`` and
    ``C`` are the transposed products of
    :func:`~keras_sig._core._algebra.chen_vjp`; the chunk's points get theirs
    from :func:`parallel_vjp`, and ``P``'s becomes the next ``g``. No framework
    autodiff is taken, so the backward is plain array operations (traceable,
    and differentiable again).

    Chunk ``i`` is the ``chunk`` points ending its increments (a reshaped view
    of ``points[..., 1:, :]``); the point it starts from ends the chunk before,
    so its value is picked from every ``chunk``-th point and its cotangent is
    carried into that earlier chunk, which the walk reaches next.
    """
    channels, steps = points.shape[-1], points.shape[-2] - 1
    chunk = _tiling_chunk(steps, chunk)
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
        pts = xp.concat([start, _unchunk(flat, channels, xp=xp)], axis=-2)
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
    chunk: int | None = None,
    grad_chunk: int | None = None,
    light: Callable[..., Callable[[Array], Array]] | None = None,
    tangent: Callable[..., Callable[[Array], Array]] | None = None,
    batch_chunk: int | None = None,
    grad_batch_chunk: int | None = None,
) -> Array:
    """Signature of ``path`` with validated, normalised arguments.

    ``basepoint`` and ``initial`` are arrays or ``None`` (``initial`` without its
    scalar term); ``method`` is ``"sequential"``, ``"parallel"`` or ``"chunked"``
    (``chunk`` increments at a time). ``light(forward, backward, taped)``, where
    given (with ``stream=False``), wraps ``points -> signature`` in the framework's
    custom gradient whose backward is :func:`light_backward` on chunks of
    ``grad_chunk`` increments, or :func:`parallel_vjp` of the whole path if
    ``grad_chunk`` is ``None``; then ``taped`` is ``(forward, backward)`` that
    keep and take the parallel method's tape instead of recomputing it, which a
    wrapper may use. Otherwise ``tangent(primal, taped)``, where given
    (with ``stream=False``), gives ``points -> signature`` by ``method`` the
    derivatives of the whole path's :func:`parallel_vjp` at the taped
    forward's tape. With ``method="chunked"``, ``batch_chunk`` (where given)
    splits the batch first: the forward runs on ``batch_chunk`` paths at a
    time (:func:`over_batch`), each in chunks of ``chunk`` steps; likewise
    ``grad_batch_chunk`` for the custom gradient's backward.
    """
    channels = path.shape[-1]

    def paths_forward(z: Array) -> tuple[Array, ...]:
        length = z.shape[-2]
        if method == "chunked" and chunk is not None and length is not None and chunk < length:
            return signature_chunked(z, depth, chunk=chunk, stream=stream, xp=xp, scan=scan)
        return signature_parallel(z, depth, stream=stream, xp=xp)

    def forward(z: Array) -> tuple[Array, ...]:
        if method == "sequential":
            return signature_sequential(z, depth, stream=stream, xp=xp, scan=scan)
        if method == "chunked" and batch_chunk is not None:
            flat = over_batch(
                lambda zc: concat_levels(paths_forward(zc), xp=xp),
                [z],
                batch_ndim=z.ndim - 2,
                size=batch_chunk,
                xp=xp,
                scan=scan,
            )
            return split_levels(flat, channels, depth)
        return paths_forward(z)

    if (light is not None or tangent is not None) and not stream:
        # The custom gradient takes the points, not the increments: it saves only
        # its input, and returns the points' cotangent (chunk by chunk).
        points = path if basepoint is None else xp.concat([basepoint[..., None, :], path], axis=-2)

        def forward_points(points: Array) -> Array:
            return concat_levels(forward(increments(points, None, xp=xp)), xp=xp)

        def taped_forward(points: Array) -> tuple[Array, list[Array]]:
            levels, tape = parallel_with_tape(increments(points, None, xp=xp), depth, xp=xp)
            return concat_levels(levels, xp=xp), tape

        def taped_backward(points: Array, tape: list[Array] | None, cotangent: Array) -> Array:
            z = increments(points, None, xp=xp)
            return points_cotangent(parallel_vjp(z, depth, cotangent, xp=xp, tape=tape), xp=xp)

        if light is not None:

            def paths_backward(points: Array, final: Array, cotangent: Array) -> Array:
                if grad_chunk is None:
                    return taped_backward(points, None, cotangent)
                return light_backward(points, final, cotangent, depth, chunk=grad_chunk, xp=xp, scan=scan)

            def backward(points: Array, final: Array, cotangent: Array) -> Array:
                if grad_batch_chunk is None:
                    return paths_backward(points, final, cotangent)
                return over_batch(
                    paths_backward,
                    [points, final, cotangent],
                    batch_ndim=points.ndim - 2,
                    size=grad_batch_chunk,
                    xp=xp,
                    scan=scan,
                )

            # The whole path's VJP may keep the parallel method's tape (it fits the budget).
            whole = grad_chunk is None and grad_batch_chunk is None and method != "sequential"
            taped = (taped_forward, taped_backward) if whole else None
            wrapped = light(forward_points, backward, taped)
        else:
            assert tangent is not None
            wrapped = tangent(forward_points, (taped_forward, taped_backward))
        levels = split_levels(wrapped(points), channels, depth)
    else:
        levels = forward(increments(path, basepoint, xp=xp))
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
    """``channels + channels**2 + ... + channels**depth``, as a geometric sum (no loop over levels)."""
    if channels == 1:
        return depth
    return channels * (channels**depth - 1) // (channels - 1)
