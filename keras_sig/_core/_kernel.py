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
- Only the *unrefined* grid ``(..., M0, N0)`` is stored, skewed (cell
  ``(i, j)`` at ``(i + j, i)``, by reshapes), with the coefficients of each
  cell beside it. Both paths are refined ``r = 2**order`` times (a pair of
  unequal orders first splits the grid's rows or columns to equalise them).
- A refined anti-diagonal ``q = r Q + w`` (``0 <= w < r``) crosses only the
  unrefined anti-diagonals ``Q`` and ``Q - 1``: refined row ``r i0 + u``
  reads unrefined cell ``(i0, Q - i0)`` where ``u <= w``, else
  ``(i0, Q - 1 - i0)``. So one iteration of the loop takes one unrefined
  anti-diagonal and runs its ``r`` refined steps (unrolled), each picking
  its coefficients with one ``where``: no gather, and the refined grid is
  never formed.
- The grid's shorter side ``M0`` runs along the anti-diagonal (the scheme is
  symmetric in the two paths). Cells off the grid hold a zero increment
  (``A = B = 1``) in the forward, which keeps the boundary value 1 left of
  the grid, and zero coefficients in the adjoint.
- The backward (:func:`solve_vjp`) is the adjoint scheme, solved from the far
  corner back, with the same iterations. It needs each refined cell's
  sensitivity ``dK/dh``, which the forward's own steps write
  (:func:`solve_taped`): a tape of the refined grid's size. The cotangents of
  the refined cells are summed per unrefined cell inside the loop.
"""

from __future__ import annotations

from typing import Any

from keras_sig._lib._namespace import device_of
from keras_sig._lib._scan import Scan
from keras_sig._lib._typing import Array, Namespace

__all__ = ["skew", "skew_padded", "solve", "solve_taped", "solve_vjp", "unskew"]


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


def _forward(s: Array, order: int, *, xp: Namespace, scan: Scan, taped: bool) -> tuple[Array, Array | None]:
    """K at the far corner ``(...)``; with ``taped`` also each refined cell's ``dK/dh``.

    The sensitivities are ``(..., M0 + N0, r M)``.

    Iteration ``Q`` takes the unrefined diagonal ``s[..., Q, :]`` and runs the
    refined diagonals ``r Q .. r Q + r - 1``. The carry holds the last two
    anti-diagonals of nodes, ``d2`` (diagonal ``q``) and ``d1`` (diagonal
    ``q + 1``), rows ``0..M``, and the previous unrefined diagonal's
    coefficients; refined step ``q`` computes the nodes ``(i + 1, q - i + 1)``.
    A node's sensitivity to its cell's increment, ``(K[i+1, j] + K[i, j+1])
    (1/2 + h/6) + K[i, j] h/6``, reads the same two diagonals.
    """
    r = 1 << order
    m = s.shape[-1] * r
    scale = 1.0 / float(r * r)  # the refined cells' share of an increment
    unit = s[..., 0, :1] * 0.0 + 1.0
    ones = xp.concat([unit] * (m + 1), axis=-1)  # (..., M + 1)

    def step(carry: tuple[Any, ...], now: Array) -> tuple[tuple[Any, ...], Array]:
        d2, d1, before = carry
        rows = _rows(now * scale, taped)  # one read of the diagonal (strided in a skewed view)
        out = []
        for w in range(r):
            c = rows if r == 1 else [_refined(a, b, w, r, xp=xp) for a, b in zip(rows, before, strict=True)]
            pair = d1[..., 1:] + d1[..., :-1]
            inner = pair * c[0] - d2[..., :-1] * c[1]
            if taped:
                out.append(pair * c[2] + d2[..., :-1] * c[3])
            d2, d1 = d1, xp.concat([d1[..., :1], inner], axis=-1)
        # The coefficients are carried only where a refined step reads the previous diagonal's.
        return (d2, d1, tuple(rows) if r > 1 else ()), (xp.concat(out, axis=-1) if taped else d1)

    start = tuple(_rows(s[..., 0, :] * 0.0, taped)) if r > 1 else ()  # diagonal -1: zero increments
    # One unrefined diagonal per iteration: its r steps are already unrolled.
    (last, _, _), ys = scan(step, (ones, ones, start), s, stream=taped, xp=xp, unroll=False)
    return last[..., m], ys  # node diagonal M + N: the loop ran one refined step past the corner


def solve(s: Array, order: int, *, xp: Namespace, scan: Scan) -> Array:
    """The kernel from skewed unrefined increments ``s`` ``(..., M0 + N0, M0)`` (:func:`skew`).

    Both paths refined ``2**order`` times.
    """
    value, _ = _forward(s, order, xp=xp, scan=scan, taped=False)
    return value


def solve_taped(s: Array, order: int, *, xp: Namespace, scan: Scan) -> tuple[Array, list[Array]]:
    """:func:`solve` and the tape :func:`solve_vjp` takes: each refined cell's ``dK/dh``."""
    value, sensitivity = _forward(s, order, xp=xp, scan=scan, taped=True)
    assert sensitivity is not None
    return value, [sensitivity]


def solve_vjp(
    s: Array, order: int, tape: list[Array], cotangent: Array, *, xp: Namespace, scan: Scan
) -> Array:
    """The cotangent of ``s`` for the cotangent of :func:`solve`'s value (same layout).

    The adjoint scheme, from the far corner back, one refined anti-diagonal
    of nodes per step: the adjoint of node ``(r, c)`` is
    ``L[r, c+1] A[r-1, c] + L[r+1, c] A[r, c-1] - L[r+1, c+1] B[r, c]``
    (coefficients of cells off the grid zero: a mask from the diagonal's
    index), and the cotangent of refined cell ``(i, j)`` is ``L[i+1, j+1]``
    times its sensitivity. Each iteration sums its refined cells' cotangents
    into the two unrefined diagonals they belong to (``u <= w``: ``Q``, else
    ``Q - 1``). Entries of the result off the grid are not those of plain
    autodiff (:func:`skew` maps them to its padding).
    """
    r = 1 << order
    outer, m0 = s.shape[-2], s.shape[-1]
    n0, m = outer - m0, m0 * r
    batch = tuple(s.shape[:-2])
    # The sizes from the shapes: a TF loop's stacked tape may not know them.
    sensitivity = xp.reshape(tape[0], (*batch, outer, r * m))
    cot = xp.astype(cotangent, s.dtype) if hasattr(cotangent, "dtype") else cotangent
    zeros = s[..., 0, :1] * 0.0 + xp.astype(xp.arange(m, device=device_of(s, xp)), s.dtype) * 0.0  # (..., M)
    zero = zeros[..., :1]
    rows = zeros[..., :m0] * 0.0 + xp.astype(xp.arange(m0, device=device_of(s, xp)), s.dtype)  # i0

    def coefficients(h: Array, q: Array) -> list[Array]:
        """``A, B`` of unrefined diagonal ``q``, zero off the grid."""
        inside = xp.astype((rows <= q) & (rows >= q - float(n0 - 1)), s.dtype)
        return [c * inside for c in _rows(h * scale, taped=False)]

    scale = 1.0 / float(r * r)

    def block(
        carry: tuple[Array, ...], x: tuple[Array, ...], steps: range
    ) -> tuple[tuple[Array, ...], Array]:
        l2, l3, b_next, q = carry  # node diagonals q + 2, q + 3; B of the next refined diagonal; Q
        now, before, sens = x
        a_now, b_now = coefficients(now, q)
        a_before, b_before = coefficients(before, q - 1.0) if r > 1 else (a_now, b_now)
        own, last = zeros[..., :m0], zeros[..., :m0]  # cotangents of diagonals Q and Q - 1
        for w in steps:
            a = _refined(a_now, a_before, w, r, xp=xp)
            b = _refined(b_now, b_before, w, r, xp=xp)
            grad = l2[..., 1:] * sens[..., w * m : (w + 1) * m]
            u = l2[..., 1:] * a
            padded = xp.concat([zero, u, zero], axis=-1)
            l1 = padded[..., 1:] + padded[..., :-1] - xp.concat([l3[..., 1:] * b_next, zero], axis=-1)
            l2, l3, b_next = l1, l2, b
            if r == 1:
                own = grad
                continue
            cells = xp.reshape(grad, (*grad.shape[:-1], m0, r))
            own = own + xp.sum(cells[..., : w + 1], axis=-1)
            if w < r - 1:
                last = last + xp.sum(cells[..., w + 1 :], axis=-1)
        out = xp.concat([own, last], axis=-1) if r > 1 else own
        return (l2, l3, b_next, q - 1.0), out

    corner = xp.concat([zeros, zero + cot[..., None]], axis=-1)  # node diagonal M + N: (M, N) alone
    q_last = xp.sum(zero) * 0.0 + float(outer - 1)  # a 0-d array on the device
    carry: tuple[Array, ...] = (corner, xp.zeros_like(corner), zeros, q_last)

    def entry(q: int) -> tuple[Array, ...]:
        before = s[..., q - 1, :] if q > 0 else s[..., 0, :] * 0.0
        return s[..., q, :], before, sensitivity[..., q, :]

    # The last iteration's final refined step lies past the corner: the rest of it
    # runs here, then iterations outer - 2 .. 1 in the loop, then iteration 0.
    carry, tail = block(carry, entry(outer - 1), range(r - 2, -1, -1))
    full = range(r - 1, -1, -1)

    def step(carry: tuple[Array, ...], x: tuple[Array, ...]) -> tuple[tuple[Array, ...], Array]:
        return block(carry, x, full)

    inner = (s[..., 1 : outer - 1, :], s[..., : outer - 2, :], sensitivity[..., 1 : outer - 1, :])
    carry, ys = scan(step, carry, inner, stream=True, xp=xp, reverse=True, unroll=False)
    _, head = block(carry, entry(0), full)
    assert ys is not None
    return _gathered(head, ys, tail, r, xp=xp) * scale


def _gathered(head: Array, ys: Array, tail: Array, r: int, *, xp: Namespace) -> Array:
    """The cotangents per unrefined diagonal from :func:`solve_vjp`'s iterations (``head``, ``ys``, ``tail``).

    With ``r > 1`` an iteration ``Q`` gives ``(own, last)``: unrefined diagonal
    ``Q`` takes its own share from iteration ``Q`` and the rest from ``Q + 1``.
    """
    width = head.shape[-1]
    ys = xp.reshape(ys, (*head.shape[:-1], -1, width))  # a TF loop's stack may not know its length
    ys = xp.concat([head[..., None, :], ys, tail[..., None, :]], axis=-2)  # (..., M0 + N0, width)
    if r == 1:
        return ys
    m0 = width // 2
    shifted = xp.concat([ys[..., 1:, m0:], xp.zeros_like(ys[..., :1, m0:])], axis=-2)
    return ys[..., :m0] + shifted
