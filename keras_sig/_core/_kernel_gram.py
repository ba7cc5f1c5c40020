r"""Signature kernels of pairs, Gram matrices, MMD and the scoring rule, on the PDE solver.

- The static kernel's increments of the two *unrefined* paths are formed here
  (:func:`increments`); :mod:`keras_sig._core._kernel` refines and solves.
- How one call solves (static kernel, namespace, loop, custom gradient) is
  one :class:`Solver`.
- Gram matrices of one batch against itself solve each unordered pair once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from keras_sig._core._kernel import skew, skew_padded, solve, solve_taped, solve_vjp
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
    - ``windows``: the linear kernel's increments formed diagonal by diagonal
      (:func:`_skewed`).
    - ``pieces``: the solver's loop pieces per triangle
      (:func:`keras_sig._core._kernel.solve`).
    """

    static_kernel: Any
    xp: Namespace
    scan: Scan
    wrap: Callable[..., Callable[[Array], Array]] | None
    windows: bool = False
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
    s, order = _skewed(x, y, orders=orders, static_kernel=solver.static_kernel, windows=solver.windows, xp=xp)
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
    x: Array, y: Array, *, orders: tuple[int, int], static_kernel: Any, windows: bool, xp: Namespace
) -> tuple[Array, int]:
    """The solver's input: the skewed unrefined increments (:func:`skew`), and the common dyadic order.

    - Unequal orders ``(a, b)``: the path (or the grid's side) with the higher
      order is split ``2**|a - b|`` times first, so both sides are refined by
      ``2**min(a, b)`` in the solver.
    - The grid's shorter side goes first (the scheme is symmetric).
    - ``windows`` (the linear kernel): each diagonal's increments are products
      of ``x``'s increments with a window of ``y``'s, gathered per path (no
      grid-sized intermediate but the result); otherwise the grid of the
      static kernel's increments is skewed by reshapes.
    """
    a, b = orders
    order = min(a, b)
    if static_kernel is None:
        dx = _split(_steps(x), 1 << (a - order), -2, xp=xp)
        dy = _split(_steps(y), 1 << (b - order), -2, xp=xp)
        if dx.shape[-2] > dy.shape[-2]:
            dx, dy = dy, dx
        if windows:
            return _windowed(dx, dy, xp=xp), order
        # The skew's M0 + 1 zero columns from the same product (zero increments after
        # y's): a grid-sized concatenation is slow on PyTorch.
        pad = [dy, xp.zeros_like(dy[..., :1, :]), xp.zeros_like(dy[..., : dx.shape[-2], :])]
        return skew_padded(xp.matmul(dx, xp.matrix_transpose(xp.concat(pad, axis=-2))), xp=xp), order
    g = increments(static_kernel, x, y, xp=xp)
    g = _split(_split(g, 1 << (a - order), -2, xp=xp), 1 << (b - order), -1, xp=xp)
    if g.shape[-2] > g.shape[-1]:
        g = xp.matrix_transpose(g)
    return skew(g, xp=xp), order


def _windowed(dx: Array, dy: Array, *, xp: Namespace) -> Array:
    """``<dx_i, dy_{q - i}>`` at ``(q, i)``, zero off the grid: ``(..., M0 + N0, M0)``.

    The layout of :func:`~keras_sig._core._kernel.skew`.
    """
    m0, n0 = dx.shape[-2], dy.shape[-2]
    rank = max(len(dx.shape), len(dy.shape))  # leading axes aligned, as they broadcast
    dx = xp.reshape(dx, (1,) * (rank - len(dx.shape)) + tuple(dx.shape))
    dy = xp.reshape(dy, (1,) * (rank - len(dy.shape)) + tuple(dy.shape))
    q = xp.arange(m0 + n0, device=device_of(dy, xp))[:, None]
    j = q - xp.arange(m0, device=device_of(dy, xp))[None, :]
    rows = xp.reshape(xp.where((j >= 0) & (j < n0), j, j * 0 + n0), (-1,))  # row n0: zero
    padded = xp.concat([dy, xp.zeros_like(dy[..., :1, :])], axis=-2)
    window = xp.reshape(xp.take(padded, rows, axis=-2), (*dy.shape[:-2], m0 + n0, m0, dy.shape[-1]))
    # Formed diagonal-major, the layout the loop reads (XLA then drops the loop's own transpose).
    rank = len(window.shape)
    major = xp.permute_dims(window, (rank - 3, *range(rank - 3), rank - 2, rank - 1))
    s = xp.sum(dx[None, ...] * major, axis=-1)  # (M0 + N0, ..., M0)
    return xp.moveaxis(s, 0, -2)


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
