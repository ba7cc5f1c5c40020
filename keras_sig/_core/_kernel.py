r"""The signature kernel's PDE solver: an anti-diagonal wavefront (array API only).

The signature kernel of two paths, :math:`k(x, y) = \langle S(x), S(y)\rangle`,
is the far corner of the solution of the Goursat PDE
:math:`\partial_s\partial_t k = \langle \dot x_s, \dot y_t\rangle k`, with
:math:`k(0, \cdot) = k(\cdot, 0) = 1` (Salvi et al. 2021). On the grid of the
two (dyadically refined) paths, with the static kernel's increment ``h`` of a
cell, the explicit scheme of sigkernel and pySigLib is::

    K[i+1, j+1] = (K[i+1, j] + K[i, j+1]) * A - K[i, j] * B
    A = 1 + h/2 + h**2/12,   B = 1 - h**2/12

How it is laid out:

- The cells of one anti-diagonal ``i + j = q`` depend only on the two
  previous anti-diagonals of nodes, so one step updates a whole anti-diagonal
  of every pair's grid at once. The loop is a
  :class:`~keras_sig._lib._scan.Scan` (a Python loop, ``jax.lax.scan``, a TF
  while-loop): a compiled program does not grow with the lengths.
- Only the *unrefined* grid ``(..., M0, N0)`` of increments is stored,
  skewed (cell ``(i, j)`` at ``(i + j, i)``, by reshapes); the scheme's
  coefficients are formed in-step. For the linear kernel's value the grid
  need not be stored at all: :func:`solve_linear` forms each diagonal's
  increments in-step from the two paths' increments. Both paths are refined ``r = 2**order``
  times (unequal orders first split the grid's rows or columns).
- A refined anti-diagonal ``q = r Q + w`` (``0 <= w < r``) crosses only the
  unrefined anti-diagonals ``Q`` and ``Q - 1`` (refined row ``r i0 + u``
  reads ``Q``'s cell where ``u <= w``), so one iteration takes one unrefined
  anti-diagonal and runs its ``r`` refined steps, unrolled: the refined grid
  is never formed.
- The shorter side ``M0`` runs along the anti-diagonal (the scheme is
  symmetric). Cells off the grid have zero increments (``A = B = 1``) in the
  forward, zero coefficients in the adjoint; the loop runs in pieces that
  skip most of them (:func:`_pieces`).
- The backward (:func:`solve_vjp`) is the adjoint scheme, from the far
  corner back, on the same iterations, with each refined cell's
  sensitivity ``dK/dh`` taped by the forward (:func:`solve_taped`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from keras_sig._lib._namespace import device_of, static_dim
from keras_sig._lib._scan import Scan
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "skew",
    "skew_padded",
    "solve",
    "solve_linear",
    "solve_linear_taped",
    "solve_linear_vjp",
    "solve_taped",
    "solve_vjp",
    "unskew",
]


def skew(t: Array, *, xp: Namespace) -> Array:
    """``(..., M0, N0)`` to ``(..., M0 + N0, M0)``: cell ``(i, j)`` at ``(i + j, i)``, zeros elsewhere.

    The last row is all padding (the loop's iteration past the corner); see
    :func:`skew_padded`.
    """
    m = t.shape[-2]
    return skew_padded(
        xp.concat([t, xp.zeros_like(t[..., :, :1]), xp.zeros_like(t[..., :, :m])], axis=-1), xp=xp
    )


def skew_padded(padded: Array, *, xp: Namespace) -> Array:
    """:func:`skew` of a grid given with its ``M0 + 1`` zero columns, ``(..., M0, N0 + M0 + 1)``.

    Reshapes only (views where the backend can): row ``i`` of the flat array,
    cut to rows one entry shorter, starts ``i`` entries early.
    """
    batch = tuple(padded.shape[:-2])
    m, width = padded.shape[-2], padded.shape[-1]
    flat = xp.reshape(padded, (*batch, m * width))[..., : m * (width - 1)]
    return xp.matrix_transpose(xp.reshape(flat, (*batch, m, width - 1)))


def unskew(s: Array, n: int, *, xp: Namespace) -> Array:
    """The inverse of :func:`skew` on its first ``M0 + N0 - 1`` rows: ``(..., M0, N0)``."""
    batch = tuple(s.shape[:-2])
    m = s.shape[-1]
    p = m + n - 1
    flat = xp.reshape(xp.matrix_transpose(s[..., :p, :]), (*batch, m * p))
    flat = xp.concat([flat, xp.zeros_like(flat[..., :m])], axis=-1)
    return xp.reshape(flat, (*batch, m, p + 1))[..., :, :n]


def _rows(h: Array, taped: bool) -> list[Array]:
    """The scheme's coefficients ``A, B`` of the increments ``h`` and, with ``taped``, the sensitivity's."""
    t = h / 12.0
    rows = [1.0 + h * (0.5 + t), 1.0 - h * t]
    return [*rows, 0.5 + 2.0 * t, 2.0 * t] if taped else rows


def _refined(now: Array, before: Array, w: int, r: int, *, xp: Namespace) -> Array:
    """The coefficients ``(..., r M0)`` of refined diagonal ``r Q + w``.

    From the rows ``(..., M0)`` of unrefined diagonals ``Q`` (``now``) and
    ``Q - 1`` (``before``): refined row ``r i0 + u`` takes ``now[i0]`` where
    ``u <= w``, else ``before[i0]``.
    """
    if r == 1:
        return now
    parts = [now[..., None]] * (w + 1) + [before[..., None]] * (r - 1 - w)
    return xp.reshape(xp.concat(parts, axis=-1), (*now.shape[:-1], now.shape[-1] * r))


def _pieces(s: Array, pieces: int) -> list[tuple[int, int, int, int]]:
    """The loop's pieces ``(Qa, Qb, lo, hi)``: unrefined diagonals ``Qa <= Q < Qb`` on rows ``lo <= i0 < hi``.

    The live cells of diagonal ``Q`` are rows ``max(0, Q - N0) <= i0 <=
    min(Q, M0 - 1)`` (with the previous diagonal's, which a refined step
    reads), so a piece needs only the rows its diagonals cross. The two
    triangles of the grid (the first and last ``M0`` diagonals) are cut into
    ``pieces`` pieces each and the band between them is one. On a square grid
    ``1 / (pieces + 1)`` of the cells worked on are off the grid (half with
    one piece). A compiled program holds one loop per piece: its size grows
    with ``pieces``, not with the lengths. Needs ``M0 <= N0``, as :func:`skew`.
    """
    return _cuts(s.shape[-1], s.shape[-2], pieces)


def _cuts(m0: int, p: int, pieces: int) -> list[tuple[int, int, int, int]]:
    """:func:`_pieces` of a skewed grid of ``p`` diagonals of ``m0`` rows."""
    n0 = p - m0
    cuts = {0, p, min(m0, n0), max(m0, n0)}
    for k in range(1, pieces):
        cuts |= {k * m0 // pieces, n0 + k * m0 // pieces}
    ends = sorted(c for c in cuts if 0 <= c <= p)
    return [(a, b, max(0, a - n0), min(b, m0)) for a, b in itertools.pairwise(ends) if b > a]


def _window(s: Array, qa: int, qb: int, lo: int, hi: int, *, xp: Namespace) -> Array:
    """Diagonals ``qa .. qb - 1``, rows ``lo .. hi - 1`` of ``s``, row-major.

    - ``s`` itself when that is all of it: an identity slice stops XLA from
      fusing the windowed increments into the loop.
    - Copied row-major where it is a strided view (NumPy, PyTorch; a reshape
      copies only then): a skewed view's diagonal is strided across the
      whole grid, which a loop reading it row by row pays for at every step.
    """
    whole = (qa, qb, lo, hi) == (0, s.shape[-2], 0, s.shape[-1])
    window = s if whole else s[..., qa:qb, lo:hi]
    shape = tuple(window.shape)
    if any(static_dim(n) is None for n in shape):  # a traced batch (TF graphs): dense already
        return window
    return xp.reshape(xp.reshape(window, (-1,)), shape)


def _zeros(like: Array, k: int, *, xp: Namespace) -> Array:
    """Zeros ``(..., k)`` with ``like``'s leading axes, dtype and device (the batch may be unknown)."""
    return like[..., :1] * 0.0 + xp.astype(xp.arange(k, device=device_of(like, xp)), like.dtype) * 0.0


def _moved(a: Array, drop: int, grow: int, fill: Array, *, xp: Namespace) -> Array:
    """``a`` without its first ``drop`` entries (axis -1), ``grow`` entries of ``fill`` ``(..., 1)`` after."""
    if drop:
        a = a[..., drop:]
    return xp.concat([a, fill + _zeros(fill, grow, xp=xp)], axis=-1) if grow else a


def _trimmed(a: Array, drop: int, grow: int, *, xp: Namespace) -> Array:
    """``a`` with ``grow`` zeros before it (axis -1) and its last ``drop`` entries cut."""
    if drop:
        a = a[..., : a.shape[-1] - drop]
    return xp.concat([_zeros(a, grow, xp=xp), a], axis=-1) if grow else a


class _Skewed:
    """The loop's input from skewed increments ``(..., M0 + N0, M0)``: each piece reads its window."""

    def __init__(self, s: Array, pieces: int, *, xp: Namespace) -> None:
        self.s, self.xp = s, xp
        self.cuts = _pieces(s, pieces)
        self.unit = s[..., 0, :1] * 0.0 + 1.0
        self.start: tuple[Array, ...] = ()  # what ``read`` carries

    def inputs(self, piece: tuple[int, int, int, int]) -> Array:
        """The loop's input for ``piece`` (:func:`_pieces`)."""
        return _window(self.s, *piece, xp=self.xp)

    @staticmethod
    def read(extra: tuple[Array, ...], now: Array) -> tuple[tuple[Array, ...], Array]:
        """The carry ``extra`` and the diagonal's increments from the loop's entry (here the same)."""
        return extra, now


class _Paths:
    """The loop's input from the two paths' increments: the linear kernel's diagonal formed in-step.

    ``dx`` ``(..., M0, d)`` and ``dy`` ``(..., N0, d)`` with ``M0 <= N0`` (leading
    axes broadcast). The loop carries a window ``W`` ``(..., d, M0)``,
    ``W[..., :, i] = dy[q - i]`` (zero off the grid), shifted by one of ``dy``'s
    rows per diagonal; the diagonal's increments are ``sum_c dx[..., i, c] W[..., c, i]``.
    No grid-sized array is formed: for a Gram matrix of broadcast batches the
    window is one per path of ``dy``. The pieces of ``pieces=1`` (the window
    carried across them), so a tape matches :func:`solve_taped`'s.
    """

    def __init__(self, dx: Array, dy: Array, *, xp: Namespace) -> None:
        self.xp = xp
        m0, n0 = dx.shape[-2], dy.shape[-2]
        self.dxc = xp.matrix_transpose(dx)  # (..., d, M0)
        self.rows = xp.concat([dy, xp.zeros_like(dy[..., :m0, :])], axis=-2)  # diagonal q reads row q
        window = xp.zeros_like(xp.matrix_transpose(self.rows[..., :m0, :]))
        self.start = (window,)
        self.unit = self.dxc[..., 0, :1] * 0.0 + window[..., 0, :1] * 0.0 + 1.0
        self.cuts = _cuts(m0, m0 + n0, 1)  # the pieces of solve_taped's tape, all on all rows

    def inputs(self, piece: tuple[int, int, int, int]) -> Array:
        """``dy``'s rows of the piece's diagonals, one per diagonal."""
        qa, qb, lo, hi = piece
        assert (lo, hi) == (0, self.dxc.shape[-1])  # M0 <= N0: one piece per triangle spans all rows
        return self.rows[..., qa:qb, :]

    def read(self, extra: tuple[Array, ...], row: Array) -> tuple[tuple[Array, ...], Array]:
        """The window shifted by ``dy``'s ``row``, and the diagonal's increments ``(..., M0)``."""
        xp = self.xp
        (window,) = extra
        window = xp.concat([row[..., :, None], window[..., :, :-1]], axis=-1)
        return (window,), xp.sum(self.dxc * window, axis=-2)


def _forward(
    source: _Skewed | _Paths, order: int, *, xp: Namespace, scan: Scan, taped: bool
) -> tuple[Array, list[Array]]:
    """K at the far corner ``(...)``; with ``taped`` also each refined cell's ``dK/dh``.

    The sensitivities come as one array per piece (:func:`_pieces`),
    ``(..., Qb - Qa, r * r * (hi - lo))``; without ``taped`` the list is empty.

    Iteration ``Q`` takes the unrefined diagonal ``Q``'s increments on rows
    ``lo:hi`` (from ``source``) and runs the refined diagonals ``r Q .. r Q
    + r - 1``. The carry holds the last two anti-diagonals of nodes, ``d2``
    (diagonal ``q``) and ``d1`` (diagonal ``q + 1``), rows ``r lo .. r hi``,
    the previous unrefined diagonal's coefficients and what ``source`` reads
    with; refined step ``q`` computes the nodes ``(i + 1, q - i + 1)``. A
    node's sensitivity to its cell's increment, ``(K[i+1, j] + K[i, j+1])
    (1/2 + h/6) + K[i, j] h/6``, reads the same two diagonals.

    Between pieces the carry loses rows at the bottom (past the grid: their
    values are never read again) and gains rows at the top (before the grid:
    nodes of value 1, cells of zero increment).
    """
    r = 1 << order
    scale = 1.0 / float(r * r)  # the refined cells' share of an increment
    unit = source.unit

    def step(carry: tuple[Any, ...], x: Array) -> tuple[tuple[Any, ...], Array]:
        d2, d1, before, extra = carry
        extra, now = source.read(extra, x)
        rows = _rows(now * scale if r > 1 else now, taped)  # one read of the diagonal
        out = []
        for w in range(r):
            c = rows if r == 1 else [_refined(a, b, w, r, xp=xp) for a, b in zip(rows, before, strict=True)]
            pair = d1[..., 1:] + d1[..., :-1]
            inner = pair * c[0] - d2[..., :-1] * c[1]
            if taped:
                out.append(pair * c[2] + d2[..., :-1] * c[3])
            d2, d1 = d1, xp.concat([d1[..., :1], inner], axis=-1)
        # The coefficients are carried only where a refined step reads the previous diagonal's.
        carry = (d2, d1, tuple(rows) if r > 1 else (), extra)
        return carry, (xp.concat(out, axis=-1) if taped else d1)

    pad = _rows(unit * 0.0, taped)  # the coefficients of a zero increment
    d2 = d1 = unit  # node row 0 alone
    before: tuple[Array, ...] = ()
    lo = hi = 0
    tapes = []
    extra = source.start
    for qa, qb, new_lo, new_hi in source.cuts:
        drop, grow = new_lo - lo, new_hi - hi
        d2, d1 = (_moved(d, r * drop, r * grow, unit, xp=xp) for d in (d2, d1))
        if r > 1:
            # Diagonal -1 (zero increments) before the first piece.
            old = before or tuple(p[..., :0] for p in pad)
            before = tuple(_moved(b, drop, grow, p, xp=xp) for b, p in zip(old, pad, strict=True))
        lo, hi = new_lo, new_hi
        # One unrefined diagonal per iteration: its r steps are already unrolled.
        carry = (d2, d1, before, extra)
        (d2, d1, before, extra), ys = scan(
            step, carry, source.inputs((qa, qb, lo, hi)), stream=taped, xp=xp, unroll=False
        )
        if taped:
            assert ys is not None
            tapes.append(ys)
    # Node diagonal M + N: the loop ran one refined step past the corner (node row M, the last).
    return d2[..., -1], tapes


def solve(s: Array, order: int, *, xp: Namespace, scan: Scan, pieces: int = 1) -> Array:
    """The kernel from skewed unrefined increments ``s`` ``(..., M0 + N0, M0)`` (:func:`skew`).

    Both paths refined ``2**order`` times; the loop cut in :func:`_pieces`.
    """
    value, _ = _forward(_Skewed(s, pieces, xp=xp), order, xp=xp, scan=scan, taped=False)
    return value


def solve_linear(dx: Array, dy: Array, order: int, *, xp: Namespace, scan: Scan) -> Array:
    """:func:`solve` of the linear kernel's increments ``<dx_i, dy_j>``, formed diagonal by diagonal.

    ``dx`` ``(..., M0, d)``, ``dy`` ``(..., N0, d)``, ``M0 <= N0``, leading axes
    broadcast. The same value as ``solve(skew(dx @ dy^T))`` without the grid.
    """
    value, _ = _forward(_Paths(dx, dy, xp=xp), order, xp=xp, scan=scan, taped=False)
    return value


def solve_linear_taped(
    dx: Array, dy: Array, order: int, *, xp: Namespace, scan: Scan
) -> tuple[Array, list[Array]]:
    """:func:`solve_linear` and its tape (that of :func:`solve_taped` with one piece)."""
    return _forward(_Paths(dx, dy, xp=xp), order, xp=xp, scan=scan, taped=True)


def solve_taped(
    s: Array, order: int, *, xp: Namespace, scan: Scan, pieces: int = 1
) -> tuple[Array, list[Array]]:
    """:func:`solve`, and the tape :func:`solve_vjp` takes with the same ``pieces``: each cell's ``dK/dh``."""
    return _forward(_Skewed(s, pieces, xp=xp), order, xp=xp, scan=scan, taped=True)


def solve_vjp(
    s: Array, order: int, tape: list[Array], cotangent: Array, *, xp: Namespace, scan: Scan, pieces: int = 1
) -> Array:
    """The cotangent of ``s`` for the cotangent of :func:`solve`'s value (same layout).

    The adjoint scheme, from the far corner back, one refined anti-diagonal
    of nodes per step, on the forward's pieces in reverse:

    - The adjoint of node ``(r, c)`` is
      ``L[r, c+1] A[r-1, c] + L[r+1, c] A[r, c-1] - L[r+1, c+1] B[r, c]``,
      with the coefficients of cells off the grid zero (a mask from the
      diagonal's index). Adjoints off the grid are zero, so the rows a piece
      adds at the bottom start at zero.
    - The cotangent of refined cell ``(i, j)`` is ``L[i+1, j+1]`` times its
      sensitivity. Each iteration sums its refined cells' cotangents into the
      two unrefined diagonals they belong to (``u <= w``: ``Q``, else ``Q - 1``).
    - Entries of the result off the grid are not those of plain autodiff
      (:func:`skew` maps them to its padding).
    """
    r = 1 << order
    cuts = _pieces(s, pieces)
    _, _, lo, hi = cuts[-1]
    carry = _adjoint_start(s[..., 0, :1] * 0.0, cotangent, r * (hi - lo), xp=xp)
    parts: list[Array] = []  # each iteration's cotangents on all M0 rows, in order
    for piece, sensitivity in zip(reversed(cuts), reversed(tape), strict=True):
        _, _, new_lo, new_hi = piece
        grow, drop = lo - new_lo, hi - new_hi
        carry = tuple(_trimmed(a, r * drop, r * grow, xp=xp) for a in carry)
        lo, hi = new_lo, new_hi
        carry, outs = _adjoint_piece(carry, s, sensitivity, piece, r, xp=xp, scan=scan)
        parts[:0] = outs  # the pieces run backwards
    out = _gathered(xp.concat(parts, axis=-2), r, xp=xp)
    return out * (1.0 / float(r * r)) if r > 1 else out


def solve_linear_vjp(
    dx: Array, dy: Array, order: int, tape: list[Array], cotangent: Array, *, xp: Namespace, scan: Scan
) -> tuple[Array, Array]:
    """The cotangents of ``dx`` and ``dy`` for :func:`solve_linear`'s value: :func:`solve_vjp` in-step.

    The adjoint iterations of :func:`solve_vjp` on the tape of
    :func:`solve_linear_taped`, with no grid: each iteration ``Q`` forms the
    increments of diagonals ``Q`` and ``Q - 1`` from a window of ``dy``'s rows
    (:class:`_Paths`'s, shifted backwards by one per iteration), and pulls its
    cells' cotangents ``g`` back at once (:func:`_linear_adjoint_step`).
    Leading axes broadcast as in :func:`solve_linear`; the cotangents are
    summed back to ``dx``'s and ``dy``'s shapes.
    """
    r = 1 << order
    m0, n0 = dx.shape[-2], dy.shape[-2]
    outer = m0 + n0
    dxc = xp.matrix_transpose(dx)  # (..., d, M0)
    # Iteration Q moves the window from diagonal Q to Q - 1: row Q - M0 of dy enters it.
    entering = xp.concat([xp.zeros_like(dy[..., :m0, :]), dy], axis=-2)  # (..., M0 + N0, d)
    zero = dx[..., 0, :1] * 0.0 + dy[..., 0, :1] * 0.0  # (pairs..., 1)
    pairs = tuple(zero.shape[:-1])
    core = _adjoint_start(zero, cotangent, r * m0, xp=xp)
    window = xp.zeros_like(xp.matrix_transpose(dy[..., :m0, :]))  # diagonal M0 + N0 - 1: off the grid
    sums = window * 0.0 + dxc * 0.0  # (pairs..., d, M0)
    carry: tuple[Any, ...] = (core, window, xp.sum(dxc * window, axis=-2), sums, sums)
    inside = _on_grid(zero, range(-1, outer), range(m0), n0, xp=xp)  # row Q + 1: diagonal Q

    def step(steps: range) -> Callable[[tuple[Any, ...], tuple[Array, ...]], tuple[tuple[Any, ...], Array]]:
        return functools.partial(_linear_adjoint_step, steps=steps, r=r, dxc=dxc, xp=xp)

    parts: list[Array] = []  # the cotangents of dy's rows, one per iteration, in order
    for (qa, qb, _, _), sensitivity in zip(reversed(_cuts(m0, outer, 1)), reversed(tape), strict=True):
        sens = xp.reshape(sensitivity, (*pairs, qb - qa, r * r * m0))
        b = qb
        if qb == outer:  # the last iteration's final refined step lies past the corner
            b = outer - 1
            x = (entering[..., b, :], sens[..., b - qa, :], inside[b + 1], inside[b])
            carry, done = step(range(r - 2, -1, -1))(carry, x)
            parts.insert(0, done[..., None, :])
        if b > qa:
            xs = (entering[..., qa:b, :], sens[..., : b - qa, :], inside[qa + 1 : b + 1], inside[qa:b])
            full = step(range(r - 1, -1, -1))
            carry, ys = scan(full, carry, xs, stream=True, xp=xp, reverse=True, unroll=False)
            assert ys is not None
            parts.insert(0, xp.reshape(ys, (*pairs, b - qa, ys.shape[-1])))
    scale = 1.0 / float(r * r)
    dx_cot = xp.matrix_transpose(carry[3]) * scale
    dy_cot = xp.concat(parts, axis=-2)[..., :n0, :] * scale
    return _unbroadcast(dx_cot, tuple(dx.shape), xp=xp), _unbroadcast(dy_cot, tuple(dy.shape), xp=xp)


def _linear_adjoint_step(
    carry: tuple[Any, ...], x: tuple[Array, ...], *, steps: range, r: int, dxc: Array, xp: Namespace
) -> tuple[tuple[Any, ...], Array]:
    """One iteration ``Q`` of :func:`solve_linear_vjp`: :func:`_adjoint_block` and the pull-back.

    The carry: the adjoint's own carry, the window ``W`` of diagonal ``Q``
    (``W[..., :, i] = dy[Q - i]``), diagonal ``Q``'s increments, the sum of
    ``dx``'s cotangents ``(..., d, M0)`` and a window ``V`` aligned with ``W``
    (``V[..., :, i]`` sums ``dy[Q - i]``'s). ``x``: the row of ``dy`` that
    enters the window for diagonal ``Q - 1``, the iteration's sensitivities,
    and which cells of ``Q`` and ``Q - 1`` are on the grid. A cell ``(i, Q - i)``
    of cotangent ``g`` adds ``g dy[Q - i]`` to ``dx[i]`` and ``g dx[i]`` to
    ``dy[Q - i]``; once diagonal ``Q``'s cells are in, ``V``'s entry for ``dy[Q]``
    is complete (its column's cells lie on diagonals ``Q`` and later): it is
    the output, and ``V`` moves on with ``W``.
    """
    core, window, now, dx_sum, dy_sum = carry
    row, sens, inside_now, inside_before = x
    m0 = dxc.shape[-1]
    before_window = xp.concat([window[..., :, 1:], row[..., :, None]], axis=-1)
    before = xp.sum(dxc * before_window, axis=-2)
    entry = (now, sens, inside_now, before, inside_before) if r > 1 else (now, sens, inside_now)
    core, cells = _adjoint_block(core, entry, steps, r=r, pads=None, xp=xp)
    own = cells[..., :m0]
    dx_sum = dx_sum + own[..., None, :] * window
    dy_sum = dy_sum + own[..., None, :] * dxc
    done = dy_sum[..., :, 0]
    dy_sum = xp.concat([dy_sum[..., :, 1:], dy_sum[..., :, :1] * 0.0], axis=-1)
    if r > 1:
        last = cells[..., m0:]
        dx_sum = dx_sum + last[..., None, :] * before_window
        dy_sum = dy_sum + last[..., None, :] * dxc
    return (core, before_window, before, dx_sum, dy_sum), done


def _unbroadcast(g: Array, shape: tuple[Any, ...], *, xp: Namespace) -> Array:
    """``g`` summed over the leading axes that ``shape`` lacks or has of size 1."""
    extra = len(g.shape) - len(shape)
    if extra:
        g = xp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, (n, m) in enumerate(zip(g.shape, shape, strict=True)) if m == 1 and n != 1)
    return xp.sum(g, axis=axes, keepdims=True) if axes else g


def _adjoint_start(zero: Array, cotangent: Array, rows: int, *, xp: Namespace) -> tuple[Array, ...]:
    """The adjoint's first carry on ``rows`` refined rows: node diagonal ``M + N`` holds the cotangent alone.

    ``zero`` ``(..., 1)`` carries the batch, dtype and device; the carry is
    the adjoint node diagonals ``q + 2``, ``q + 3`` and the next ``B``
    (:func:`_adjoint_block`).
    """
    cot = xp.astype(cotangent, zero.dtype) if hasattr(cotangent, "dtype") else cotangent
    nodes = _zeros(zero, rows + 1, xp=xp)
    return (xp.concat([nodes[..., 1:], zero + cot[..., None]], axis=-1), nodes, nodes[..., 1:])


def _on_grid(like: Array, diagonals: range, rows: range, n0: int, *, xp: Namespace) -> Array:
    """Which cells of ``diagonals`` (consecutive) and ``rows`` (consecutive) are on the grid.

    ``(len(diagonals), len(rows))`` in ``like``'s dtype and device (1 on the
    grid, 0 off it), shared by the batch: row ``i0`` of diagonal ``Q`` is cell
    ``(i0, Q - i0)``, on the grid where ``0 <= Q - i0 < N0``.
    """
    device = device_of(like, xp)
    q = xp.astype(xp.arange(len(diagonals), device=device), like.dtype)[:, None] + float(diagonals.start)
    i0 = xp.astype(xp.arange(len(rows), device=device), like.dtype)[None, :] + float(rows.start)
    return xp.astype((i0 <= q) & (i0 >= q - float(n0 - 1)), like.dtype)


def _adjoint_piece(
    carry: tuple[Array, ...],
    s: Array,
    sensitivity: Array,
    piece: tuple[int, int, int, int],
    r: int,
    *,
    xp: Namespace,
    scan: Scan,
) -> tuple[tuple[Array, ...], list[Array]]:
    """The adjoint's iterations ``Qb - 1 .. Qa`` of one piece: the carry, and their cotangents in order.

    The final refined step of the last iteration lies past the corner: that
    iteration runs its other steps alone, and so does iteration 0 (its
    previous diagonal is all zeros); the loop runs the rest. Which cells are
    on the grid is one small array per piece, ``(Qb - Qa + 1, hi - lo)``
    (diagonals ``Qa - 1 .. Qb - 1``), shared by the batch.
    """
    qa, qb, lo, hi = piece
    outer, m0 = s.shape[-2], s.shape[-1]
    n0 = outer - m0
    batch = tuple(s.shape[:-2])
    inside = _on_grid(s, range(qa - 1, qb), range(lo, hi), n0, xp=xp)
    # The sizes from the shapes: a TF loop's stacked tape may not know them.
    sens = xp.reshape(sensitivity, (*batch, qb - qa, r * r * (hi - lo)))
    full = range(r - 1, -1, -1)
    pads = None
    if (lo, hi) != (0, m0):  # the cotangents come on all M0 rows
        pads = (_zeros(s[..., 0, :], lo, xp=xp), _zeros(s[..., 0, :], m0 - hi, xp=xp))

    first = max(qa - 1, 0)
    d = _window(s, first, qb, lo, hi, xp=xp)  # diagonals first .. Qb - 1

    def entry(q: int) -> tuple[Array, ...]:
        now = (d[..., q - first, :], sens[..., q - qa, :], inside[q - qa + 1, :])
        if r == 1:
            return now
        before = d[..., q - 1 - first, :] if q > 0 else d[..., 0, :] * 0.0
        return (*now, before, inside[q - qa, :])

    def step(carry: tuple[Array, ...], x: tuple[Array, ...]) -> tuple[tuple[Array, ...], Array]:
        return _adjoint_block(carry, x, full, r=r, pads=pads, xp=xp)

    outs = []
    if qb == outer:
        carry, tail = _adjoint_block(carry, entry(outer - 1), range(r - 2, -1, -1), r=r, pads=pads, xp=xp)
        outs.append(tail[..., None, :])
    a, b = max(qa, 1), min(qb, outer - 1)
    if b > a:
        inner: tuple[Array, ...] = (
            d[..., a - first : b - first, :],
            sens[..., a - qa : b - qa, :],
            inside[a - qa + 1 : b - qa + 1],
        )
        if r > 1:
            inner = (*inner, d[..., a - 1 - first : b - 1 - first, :], inside[a - qa : b - qa])
        carry, ys = scan(step, carry, inner, stream=True, xp=xp, reverse=True, unroll=False)
        assert ys is not None
        # A TF loop's stack may not know its length.
        outs.append(xp.reshape(ys, (*batch, b - a, (2 if r > 1 else 1) * m0)))
    if qa == 0:
        carry, head = _adjoint_block(carry, entry(0), full, r=r, pads=pads, xp=xp)
        outs.append(head[..., None, :])
    return carry, outs[::-1]


def _adjoint_block(
    carry: tuple[Array, ...],
    x: tuple[Array, ...],
    steps: range,
    *,
    r: int,
    pads: tuple[Array, Array] | None,
    xp: Namespace,
) -> tuple[tuple[Array, ...], Array]:
    """The refined ``steps`` (descending) of one adjoint iteration ``Q``.

    The carry is the adjoint node diagonals ``q + 2``, ``q + 3`` and the ``B``
    of the next refined diagonal; ``x`` is the unrefined diagonal ``Q``, the
    iteration's sensitivities and which of ``Q``'s cells are on the grid
    (with ``r > 1`` also diagonal ``Q - 1`` and its cells on the grid).
    Returns the cotangents of diagonal ``Q``'s cells and (``r > 1``) of
    ``Q - 1``'s, on all ``M0`` rows (``pads``: the zeros of the rows before and after).
    """
    l2, l3, b_next = carry
    now, sens, inside = x[:3]
    width = now.shape[-1]
    m = width * r
    zero = now[..., :1] * 0.0

    def coefficients(h: Array, inside: Array) -> list[Array]:
        """``A, B`` of an unrefined diagonal, zero off the grid."""
        return [c * inside for c in _rows(h * (1.0 / float(r * r)) if r > 1 else h, taped=False)]

    a_now, b_now = coefficients(now, inside)
    a_before, b_before = coefficients(*x[3:]) if r > 1 else (a_now, b_now)
    own = last = now * 0.0  # cotangents of diagonals Q and Q - 1
    for w in steps:
        a = _refined(a_now, a_before, w, r, xp=xp)
        b = _refined(b_now, b_before, w, r, xp=xp)
        grad = l2[..., 1:] * sens[..., w * m : (w + 1) * m]
        padded = xp.concat([zero, l2[..., 1:] * a, zero], axis=-1)
        l1 = padded[..., 1:] + padded[..., :-1] - xp.concat([l3[..., 1:] * b_next, zero], axis=-1)
        l2, l3, b_next = l1, l2, b
        if r == 1:
            own = grad
            continue
        cells = xp.reshape(grad, (*grad.shape[:-1], width, r))
        own = own + xp.sum(cells[..., : w + 1], axis=-1)
        if w < r - 1:
            last = last + xp.sum(cells[..., w + 1 :], axis=-1)
    halves = [own, last] if r > 1 else [own]
    if pads is not None:  # on all M0 rows
        halves = [xp.concat([pads[0], h, pads[1]], axis=-1) for h in halves]
    return (l2, l3, b_next), (xp.concat(halves, axis=-1) if r > 1 else halves[0])


def _gathered(ys: Array, r: int, *, xp: Namespace) -> Array:
    """The cotangents per unrefined diagonal from :func:`solve_vjp`'s iterations ``(..., M0 + N0, width)``.

    With ``r > 1`` an iteration ``Q`` gives ``(own, last)``: unrefined diagonal
    ``Q`` takes its own share from iteration ``Q`` and the rest from ``Q + 1``.
    """
    if r == 1:
        return ys
    m0 = ys.shape[-1] // 2
    shifted = xp.concat([ys[..., 1:, m0:], xp.zeros_like(ys[..., :1, m0:])], axis=-2)
    return ys[..., :m0] + shifted
