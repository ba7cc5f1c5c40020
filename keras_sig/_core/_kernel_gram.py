r"""Signature kernels of pairs, Gram matrices, MMD and the scoring rule, on the PDE solver.

- The static kernel's increments of the two *unrefined* paths are formed here
  (:func:`increments`); :mod:`keras_sig._core._kernel` refines and solves.
- How one call solves (static kernel, namespace, loop, custom gradient) is
  one :class:`Solver`.
- Gram matrices of one batch against itself solve each unordered pair once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from keras_sig._core._kernel import (
    skew,
    skew_padded,
    solve,
    solve_linear,
    solve_linear_taped,
    solve_linear_vjp,
    solve_taped,
    solve_vjp,
)
from keras_sig._lib._namespace import device_of
from keras_sig._lib._scan import Scan
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "Solver",
    "double_difference",
    "gram",
    "increments",
    "linear_increments",
    "mmd",
    "score",
    "sig_kernel",
]


# --------------------------------------------------------------------------- static kernels


def _steps(x: Array) -> Array:
    """The increments of a path ``(..., L, d)`` along its time axis: ``(..., L - 1, d)``."""
    return x[..., 1:, :] - x[..., :-1, :]


def linear_increments(x: Array, y: Array, *, xp: Namespace) -> Array:
    """``<dx_i, dy_j>`` for all pairs of increments: ``(..., M-1, N-1)`` (leading axes broadcast)."""
    return xp.matmul(_steps(x), xp.matrix_transpose(_steps(y)))


def double_difference(gram: Array) -> Array:
    """``k(x_{i+1}, y_{j+1}) - k(x_i, y_{j+1}) - k(x_{i+1}, y_j) + k(x_i, y_j)`` from a point Gram."""
    rows = gram[..., 1:, :] - gram[..., :-1, :]
    return rows[..., :, 1:] - rows[..., :, :-1]


def increments(static_kernel: Any, x: Array, y: Array, *, xp: Namespace) -> Array:
    """The static kernel's increments ``(..., M-1, N-1)``.

    ``static_kernel`` is an object with an ``increments(x, y, *, xp)`` method,
    or a plain callable ``f(x, y)`` returning the increments itself (the
    linear kernel, ``None``, is formed by :func:`_skewed` directly).
    """
    method = getattr(static_kernel, "increments", None)
    if method is not None:
        return method(x, y, xp=xp)
    return static_kernel(x, y)


# --------------------------------------------------------------------------- the kernel


class Solver(NamedTuple):
    """How the kernels of one call are solved (built by :mod:`keras_sig._kernels_api`).

    - ``static_kernel``: ``None`` (linear) or the increments' maker (:func:`increments`).
    - ``xp``, ``scan``: the namespace and its loop.
    - ``wrap(forward, taped, vjp)``: declares the solver's hand-written gradient;
      ``None`` where the framework has no autodiff. The static kernel and the
      skewing are differentiated by the framework.
    - ``in_step``: the least grid (cells, pairs included) on which the linear
      kernel's increments are formed from products of the paths' increments,
      not as a matrix product: in-step for the value, the gradient's tape and
      its adjoint (:func:`_kernel_in_step`); ``None``: never.
    - ``pieces``: the solver's loop pieces per triangle
      (:func:`keras_sig._core._kernel.solve`).
    """

    static_kernel: Any
    xp: Namespace
    scan: Scan
    wrap: Callable[..., Callable[[Array], Array]] | None
    in_step: int | None = None
    pieces: int = 1


def sig_kernel(
    x: Array,
    y: Array,
    *,
    orders: tuple[int, int],
    normalize: bool,
    solver: Solver,
) -> Array:
    """k(x, y) of paths ``(..., L1, d)`` and ``(..., L2, d)`` (leading axes broadcast)."""
    value = _kernel(x, y, orders=orders, solver=solver)
    if not normalize:
        return value
    kx = _kernel(x, x, orders=(orders[0], orders[0]), solver=solver)
    ky = _kernel(y, y, orders=(orders[1], orders[1]), solver=solver)
    return value / (kx * ky) ** 0.5


def _kernel(x: Array, y: Array, *, orders: tuple[int, int], solver: Solver) -> Array:
    xp, scan, wrap, pieces = solver.xp, solver.scan, solver.wrap, solver.pieces
    if solver.static_kernel is None and solver.in_step is not None and _cells(x, y) >= solver.in_step:
        return _kernel_in_step(x, y, orders=orders, solver=solver)
    s, order = _skewed(x, y, orders=orders, static_kernel=solver.static_kernel, xp=xp)
    if s.shape[-1] == 0:  # a constant path: only the scalar term, 1
        return xp.sum(s, axis=(-2, -1)) * 0.0 + 1.0

    def forward(z: Array) -> Array:
        return solve(z, order, xp=xp, scan=scan, pieces=pieces)

    if wrap is None:
        return forward(s)

    def taped(z: Array) -> tuple[Array, list[Array]]:
        return solve_taped(z, order, xp=xp, scan=scan, pieces=pieces)

    def vjp(z: Array, tape: list[Array], cotangent: Array) -> Array:
        return solve_vjp(z, order, tape, cotangent, xp=xp, scan=scan, pieces=pieces)

    return wrap(forward, taped, vjp)(s)


def _cells(x: Array, y: Array) -> float:
    """The cells of the grids of ``x`` ``(..., L1, d)`` against ``y`` (batches broadcast).

    ``inf`` where a size is unknown (traced).
    """
    sizes = [
        n if m == 1 else m for n, m in itertools.zip_longest(x.shape[-3::-1], y.shape[-3::-1], fillvalue=1)
    ]
    cells = 1.0
    for n in (*sizes, x.shape[-2] - 1, y.shape[-2] - 1):
        if not isinstance(n, int):
            return math.inf
        cells *= n
    return cells


def _kernel_in_step(x: Array, y: Array, *, orders: tuple[int, int], solver: Solver) -> Array:
    """:func:`_kernel` of the linear kernel formed in-step (``Solver.in_step``): no grid at all.

    The solver's input is the pair ``(dx, dy)`` (JAX's custom gradient takes a
    tuple): the value forms each diagonal's increments in-step
    (:func:`~keras_sig._core._kernel.solve_linear`), so does the gradient's
    tape, and the adjoint pulls each diagonal's cotangents back to ``dx`` and
    ``dy`` in-step too (:func:`~keras_sig._core._kernel.solve_linear_vjp`).
    """
    xp, scan, wrap = solver.xp, solver.scan, solver.wrap
    dx, dy, order = _linear_steps(x, y, orders=orders, xp=xp)
    if dx.shape[-2] == 0:  # a constant path: only the scalar term, 1
        return xp.sum(dx, axis=(-2, -1)) * 0.0 + xp.sum(dy, axis=(-2, -1)) * 0.0 + 1.0

    def forward(g: tuple[Array, Array]) -> Array:
        return solve_linear(*g, order, xp=xp, scan=scan)

    if wrap is None:
        return forward((dx, dy))

    def taped(g: tuple[Array, Array]) -> tuple[Array, list[Array]]:
        return solve_linear_taped(*g, order, xp=xp, scan=scan)

    def vjp(g: tuple[Array, Array], tape: list[Array], cotangent: Array) -> tuple[Array, Array]:
        return solve_linear_vjp(*g, order, tape, cotangent, xp=xp, scan=scan)

    return wrap(forward, taped, vjp)((dx, dy))


def _split(g: Array, parts: int, axis: int, *, xp: Namespace) -> Array:
    """Each entry along ``axis`` (-2 or -1) as ``parts`` entries, each ``1/parts`` of it."""
    if parts == 1:
        return g
    shape = tuple(g.shape)
    if axis == -2:
        tiled = xp.concat([g[..., :, None, :]] * parts, axis=-2)
        return xp.reshape(tiled, (*shape[:-2], shape[-2] * parts, shape[-1])) / float(parts)
    tiled = xp.concat([g[..., None]] * parts, axis=-1)
    return xp.reshape(tiled, (*shape[:-2], shape[-2], shape[-1] * parts)) / float(parts)


def _skewed(
    x: Array, y: Array, *, orders: tuple[int, int], static_kernel: Any, xp: Namespace
) -> tuple[Array, int]:
    """The solver's input: the skewed unrefined increments (:func:`skew`), and the common dyadic order.

    - Unequal orders ``(a, b)``: the path (or the grid's side) with the higher
      order is split ``2**|a - b|`` times first, so both sides are refined by
      ``2**min(a, b)`` in the solver.
    - The grid's shorter side goes first (the scheme is symmetric).
    - The linear kernel's increments are one matrix product, formed with the
      skew's ``M0 + 1`` zero columns (:func:`_padded`).
    """
    if static_kernel is None:
        dx, dy, order = _linear_steps(x, y, orders=orders, xp=xp)
        return skew_padded(xp.matmul(dx, xp.matrix_transpose(_padded(dx, dy, xp=xp))), xp=xp), order
    a, b = orders
    order = min(a, b)
    g = increments(static_kernel, x, y, xp=xp)
    g = _split(_split(g, 1 << (a - order), -2, xp=xp), 1 << (b - order), -1, xp=xp)
    if g.shape[-2] > g.shape[-1]:
        g = xp.matrix_transpose(g)
    return skew(g, xp=xp), order


def _linear_steps(x: Array, y: Array, *, orders: tuple[int, int], xp: Namespace) -> tuple[Array, Array, int]:
    """The paths' increments ``dx``, ``dy`` split to the common order (the shorter first), and the order."""
    a, b = orders
    order = min(a, b)
    dx = _split(_steps(x), 1 << (a - order), -2, xp=xp)
    dy = _split(_steps(y), 1 << (b - order), -2, xp=xp)
    return (dy, dx, order) if dx.shape[-2] > dy.shape[-2] else (dx, dy, order)


def _padded(dx: Array, dy: Array, *, xp: Namespace) -> Array:
    """``dy`` with the skew's ``M0 + 1`` zero rows after it (:func:`skew_padded`).

    The grid's zero columns then come from the same product: a grid-sized
    concatenation is slow on PyTorch.
    """
    return xp.concat([dy, xp.zeros_like(dy[..., :1, :]), xp.zeros_like(dy[..., : dx.shape[-2], :])], axis=-2)


# --------------------------------------------------------------------------- Gram matrices, MMD, score


def _outer(x: Array, y: Array, nx: int, ny: int) -> tuple[Array, Array]:
    """``x`` ``(*b1, L1, d)`` as ``(*b1, 1.., L1, d)`` and ``y`` ``(*b2, L2, d)`` as ``(1.., *b2, L2, d)``."""
    full = (slice(None), slice(None))
    return x[(..., *([None] * ny), *full)], y[(*([None] * nx), ...)]


def _indices(values: list[int], like: Array, *, xp: Namespace) -> Array:
    """``values`` as an integer index array on ``like``'s device."""
    return xp.asarray(values, device=device_of(like, xp))


def _pair_indices(n: int, *, strict: bool) -> tuple[list[int], list[int]]:
    rows, cols = [], []
    for i in range(n):
        for j in range(i + 1 if strict else i, n):
            rows.append(i)
            cols.append(j)
    return rows, cols


def gram(
    x: Array,
    y: Array | None,
    *,
    orders: tuple[int, int],
    normalize: bool,
    solver: Solver,
) -> Array:
    """The Gram matrix ``(*b1, *b2)`` of ``x`` ``(*b1, L1, d)`` against ``y`` (``None``: ``x``, symmetric)."""
    xp = solver.xp
    b1 = tuple(x.shape[:-2])
    symmetric = y is None and None not in b1 and orders[0] == orders[1]
    if y is None and not symmetric:
        y = x
    if symmetric:
        flat, n = _flat(x, xp=xp)
        rows, cols = _pair_indices(n, strict=False)
        r, c = _indices(rows, flat, xp=xp), _indices(cols, flat, xp=xp)
        tri = _kernel(xp.take(flat, r, axis=0), xp.take(flat, c, axis=0), orders=orders, solver=solver)
        position = {pair: t for t, pair in enumerate(zip(rows, cols, strict=True))}
        index = [position[(min(i, j), max(i, j))] for i in range(n) for j in range(n)]
        idx = _indices(index, flat, xp=xp)
        out = xp.reshape(xp.take(tri, idx, axis=0), (*b1, *b1))
        if not normalize:
            return out
        y = x
    assert y is not None
    b2 = tuple(y.shape[:-2])
    if not symmetric:
        xo, yo = _outer(x, y, len(b1), len(b2))
        out = _kernel(xo, yo, orders=orders, solver=solver)
        if not normalize:
            return out
    kx = _kernel(x, x, orders=(orders[0], orders[0]), solver=solver)
    ky = _kernel(y, y, orders=(orders[1], orders[1]), solver=solver) if not symmetric else kx
    kxo, kyo = kx[(..., *([None] * len(b2)))], ky[(*([None] * len(b1)), ...)]
    return out / (kxo * kyo) ** 0.5


def _flat(x: Array, *, xp: Namespace) -> tuple[Array, Any]:
    """``x`` as ``(n, L, d)``, and ``n`` (``None`` when unknown while tracing)."""
    batch = tuple(x.shape[:-2])
    if len(batch) == 1:
        return x, batch[0] if isinstance(batch[0], int) else None
    n = 1
    for s in batch:
        n *= s
    return xp.reshape(x, (n, *x.shape[-2:])), n


def _within(x: Array, *, orders: tuple[int, int], unbiased: bool, solver: Solver) -> Array:
    """The mean of ``k(x_i, x_j)`` over ``i != j`` (``unbiased``) or over all pairs, ``x`` ``(n, L, d)``."""
    xp = solver.xp
    n = x.shape[0]
    if not isinstance(n, int):  # unknown when tracing: the whole Gram matrix, less its diagonal
        xo, yo = _outer(x, x, 1, 1)
        everything = xp.sum(_kernel(xo, yo, orders=orders, solver=solver))
        diagonal = _kernel(x, x, orders=orders, solver=solver)
        count = xp.sum(xp.ones_like(diagonal))
        if unbiased:
            return (everything - xp.sum(diagonal)) / (count * (count - 1.0))
        return everything / (count * count)
    rows, cols = _pair_indices(n, strict=True)
    total = None
    if rows:
        r, c = _indices(rows, x, xp=xp), _indices(cols, x, xp=xp)
        total = 2.0 * xp.sum(
            _kernel(xp.take(x, r, axis=0), xp.take(x, c, axis=0), orders=orders, solver=solver)
        )
    if unbiased:
        assert total is not None
        return total / float(n * (n - 1))
    diag = xp.sum(_kernel(x, x, orders=orders, solver=solver))
    return (diag if total is None else total + diag) / float(n * n)


def mmd(
    x: Array,
    y: Array,
    *,
    unbiased: bool,
    orders: tuple[int, int],
    solver: Solver,
) -> Array:
    """The squared MMD of the samples ``x`` ``(..., L1, d)`` and ``y`` ``(..., L2, d)`` (a 0-d array)."""
    xp = solver.xp
    xf, _ = _flat(x, xp=xp)
    yf, _ = _flat(y, xp=xp)
    kxx = _within(xf, orders=(orders[0], orders[0]), unbiased=unbiased, solver=solver)
    kyy = _within(yf, orders=(orders[1], orders[1]), unbiased=unbiased, solver=solver)
    xo, yo = _outer(xf, yf, 1, 1)
    cross = _kernel(xo, yo, orders=orders, solver=solver)
    kxy = xp.sum(cross) / xp.sum(xp.ones_like(cross))
    return kxx + kyy - 2.0 * kxy


def score(
    x: Array,
    y: Array,
    *,
    lam: float,
    orders: tuple[int, int],
    solver: Solver,
) -> Array:
    """``lam * mean_{i != j} k(x_i, x_j) - 2 mean_i k(x_i, y)``, one per path of ``y`` ``(*b, L2, d)``."""
    xp = solver.xp
    xf, _ = _flat(x, xp=xp)
    kxx = _within(xf, orders=(orders[0], orders[0]), unbiased=True, solver=solver)
    b2 = tuple(y.shape[:-2])
    xo, yo = _outer(xf, y, 1, len(b2))
    cross = _kernel(xo, yo, orders=orders, solver=solver)
    kxy = xp.sum(cross, axis=0) / xp.sum(xp.ones_like(cross), axis=0)
    return lam * kxx - 2.0 * kxy
