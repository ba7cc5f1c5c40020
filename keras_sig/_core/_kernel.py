r"""The signature kernel: the Goursat PDE solved on an anti-diagonal wavefront (array API only).

The signature kernel of two paths, :math:`k(x, y) = \langle S(x), S(y)\rangle`,
is the value at the far corner of the solution of the Goursat PDE
:math:`\partial_s\partial_t k = \langle \dot x_s, \dot y_t\rangle k` with
:math:`k(0, \cdot) = k(\cdot, 0) = 1` (Salvi et al. 2021). On the grid of the
two (dyadically refined) paths, with increments ``g[i, j]`` of the static
kernel, the second-order explicit scheme used by sigkernel and pySigLib is::

    K[i+1, j+1] = (K[i+1, j] + K[i, j+1]) * (1 + g/2 + g**2/12) - K[i, j] * (1 - g**2/12)

Cells on one anti-diagonal ``i + j = q`` depend only on the two previous
anti-diagonals, so each step of the loop updates a whole anti-diagonal of every
pair's grid at once (vectorised over pairs and cells); the loop over the
``M + N - 1`` anti-diagonals is a ``scan`` strategy (a Python loop, ``jax.lax.scan``,
a TF while-loop), so a compiled program does not grow with the lengths.

The grid is stored skewed: ``skew`` moves entry ``(i, j)`` of an ``(M, N)`` array to
``(i + j, i)`` of a ``(M + N - 1, M)`` array with reshapes only (no gather), the
cells outside the grid holding zero increments. Outside the grid's left edge the
scheme with ``g = 0`` keeps the value 1, which is the boundary condition, so no
masking is needed in the forward.

Each step computes its scheme coefficients from its own anti-diagonal of
increments, so the only grid-sized arrays are the increments and their skewed
copy. The backward is the adjoint of the same scheme, solved from the far corner
back to the origin (:func:`solve_vjp`), with the same per-step coefficients; it
needs each cell's sensitivity ``dK/dg``, which the forward's steps of
:func:`solve_taped` write as they go: a tape of the grid's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "increments",
    "refine",
    "sig_kernel",
    "solve",
    "solve_taped",
    "solve_vjp",
]

Scan = Callable[..., tuple[Any, Array | None]]


# --------------------------------------------------------------------------- static kernels


def linear_increments(x: Array, y: Array, *, xp: Namespace) -> Array:
    """``<dx_i, dy_j>`` for all pairs of increments: ``(..., M-1, N-1)`` (leading axes broadcast)."""
    dx = x[..., 1:, :] - x[..., :-1, :]
    dy = y[..., 1:, :] - y[..., :-1, :]
    return xp.matmul(dx, xp.matrix_transpose(dy))


def double_difference(gram: Array) -> Array:
    """``k(x_{i+1}, y_{j+1}) - k(x_i, y_{j+1}) - k(x_{i+1}, y_j) + k(x_i, y_j)`` from a point Gram."""
    rows = gram[..., 1:, :] - gram[..., :-1, :]
    return rows[..., :, 1:] - rows[..., :, :-1]


def increments(static_kernel: Any, x: Array, y: Array, *, xp: Namespace) -> Array:
    """The static kernel's increments ``(..., M-1, N-1)``.

    ``static_kernel`` is ``None`` (linear), an object with an
    ``increments(x, y, *, xp)`` method, or a plain callable ``f(x, y)``
    returning the increments itself.
    """
    if static_kernel is None:
        return linear_increments(x, y, xp=xp)
    method = getattr(static_kernel, "increments", None)
    if method is not None:
        return method(x, y, xp=xp)
    return static_kernel(x, y)


def refine(g: Array, orders: tuple[int, int], *, xp: Namespace) -> Array:
    """Increments of the paths refined ``2**orders[0]`` and ``2**orders[1]`` times (piecewise linear)."""
    a, b = orders
    if a == 0 and b == 0:
        return g
    ra, rb = 2**a, 2**b
    batch = tuple(g.shape[:-2])
    m, n = g.shape[-2], g.shape[-1]
    expanded = g[..., :, None, :, None] / float(ra * rb)
    tiled = xp.concat([expanded] * ra, axis=-3) if ra > 1 else expanded
    tiled = xp.concat([tiled] * rb, axis=-1) if rb > 1 else tiled
    return xp.reshape(tiled, (*batch, m * ra, n * rb))


# --------------------------------------------------------------------------- skewed layout


def skew_padded(padded: Array, *, xp: Namespace) -> Array:
    """A grid ``(..., M, N)`` given with ``M`` zero columns after it, ``(..., M, N + M)``, skewed.

    Returns ``(..., M + N - 1, M)`` with entry ``(i, j)`` of the grid at
    ``(i + j, i)`` (reshapes of the contiguous padded array only: row ``i``
    of the flat array cut to ``M (N + M - 1)`` entries starts ``i`` entries
    early); every other position holds one of the zeros of the padding.
    """
    batch = tuple(padded.shape[:-2])
    m, width = padded.shape[-2], padded.shape[-1]
    flat = xp.reshape(padded, (*batch, m * width))[..., : m * (width - 1)]
    return xp.matrix_transpose(xp.reshape(flat, (*batch, m, width - 1)))


def skew(g: Array, *, xp: Namespace) -> Array:
    """``(..., M, N)`` with ``M <= N`` to ``(..., M + N - 1, M)``: entry ``(i, j)`` at ``(i + j, i)``."""
    m = g.shape[-2]
    return skew_padded(xp.concat([g, xp.zeros_like(g[..., :, :m])], axis=-1), xp=xp)


def unskew(s: Array, n: int, *, xp: Namespace) -> Array:
    """The inverse of :func:`skew`: ``(..., M + N - 1, M)`` back to ``(..., M, N)``."""
    batch = tuple(s.shape[:-2])
    m = s.shape[-1]
    p = m + n - 1  # from the sizes: a TF loop's stacked output may not know it
    rows = xp.matrix_transpose(s)  # (M, P)
    flat = xp.reshape(rows, (*batch, m * p))
    flat = xp.concat([flat, xp.zeros_like(flat[..., :m])], axis=-1)
    return xp.reshape(flat, (*batch, m, p + 1))[..., :, :n]


def _coefficients(gs: Array) -> tuple[Array, Array]:
    g2 = gs * gs / 12.0
    return 1.0 + gs / 2.0 + g2, 1.0 - g2


# --------------------------------------------------------------------------- forward


def _forward(xs: Array, *, xp: Namespace, scan: Scan, taped: bool) -> tuple[Array, Array | None]:
    """K at the far corner ``(...)``; with ``taped`` also each cell's ``dK/dg`` ``(..., P, M)``.

    The carry is the last two anti-diagonals of nodes, ``d2`` (diagonal ``q``)
    and ``d1`` (diagonal ``q + 1``), rows ``0..M``; step ``q`` computes the
    nodes ``(i + 1, q - i + 1)`` of the cells ``(i, q - i)``. The sensitivity of
    a node to its cell's increment, ``(K[i+1, j] + K[i, j+1]) (1/2 + g/6) +
    K[i, j] g/6``, reads the same two diagonals, so the tape is written by the
    forward's own steps (no second pass over the grid).
    """
    m = xs.shape[-1]
    ones = xp.concat([xp.ones_like(xs[..., 0, :]), xp.ones_like(xs[..., 0, :1])], axis=-1)  # (..., M + 1)

    def step(carry: tuple[Array, Array], x: Array) -> tuple[tuple[Array, Array], Array]:
        d2, d1 = carry
        a, b = _coefficients(x)  # in the step: no grid-sized arrays of coefficients
        pair = d1[..., 1:] + d1[..., :-1]
        inner = pair * a - d2[..., :-1] * b
        sensitivity = pair * (0.5 + x / 6.0) + d2[..., :-1] * (x / 6.0) if taped else inner
        return (d1, xp.concat([d1[..., :1], inner], axis=-1)), sensitivity

    # One anti-diagonal per iteration: a step is a few vector operations over every
    # pair's diagonal, and unrolling them (JAX) only lengthens the loop body.
    (_, last), ys = scan(step, (ones, ones), xs, stream=taped, xp=xp, unroll=False)
    return last[..., m], ys


def solve(xs: Array, *, xp: Namespace, scan: Scan) -> Array:
    """The kernel from the skewed increments ``xs`` ``(..., M + N - 1, M)`` (:func:`skew`), ``M <= N``."""
    value, _ = _forward(xs, xp=xp, scan=scan, taped=False)
    return value


def solve_taped(xs: Array, *, xp: Namespace, scan: Scan) -> tuple[Array, list[Array]]:
    """:func:`solve` and the tape :func:`solve_vjp` takes: each cell's sensitivity ``dK/dg``.

    The tape is one ``(..., M + N - 1, M)`` array, the size of the grid, in the
    skewed layout (entry ``(q, i)`` for cell ``(i, q - i)``).
    """
    value, sensitivity = _forward(xs, xp=xp, scan=scan, taped=True)
    assert sensitivity is not None
    return value, [sensitivity]


def solve_vjp(xs: Array, tape: list[Array], cotangent: Array, *, xp: Namespace, scan: Scan) -> Array:
    """The cotangent of the skewed increments ``xs`` for the cotangent of :func:`solve`'s value.

    The adjoint scheme, from the far corner back, one anti-diagonal of nodes
    per step: the adjoint of node ``(r, c)`` is
    ``L[r, c+1] A[r-1, c] + L[r+1, c] A[r, c-1] - L[r+1, c+1] B[r, c]``, with
    the coefficients of cells outside the grid zero, and the cotangent of
    cell ``(i, j)``'s increment is ``L[i+1, j+1]`` times its sensitivity. The
    coefficients and the grid's mask are computed in the step from the
    increments and the diagonal's index (no grid-sized arrays but the tape,
    the increments and the result). The result is skewed like ``xs``; its
    entries outside the grid are not those of plain autodiff (they belong to
    no increment: :func:`skew` maps them to its padding).
    """
    (sensitivity,) = tape
    p, m = xs.shape[-2], xs.shape[-1]
    n = p - m + 1
    both = xp.concat([xs, sensitivity], axis=-1)  # (..., P, 2M)
    row = _indices([float(i) for i in range(m)], xs, xp=xp, dtype=xs.dtype)  # (M,): 0, 1, ..., M-1
    cot = xp.astype(cotangent, xs.dtype) if hasattr(cotangent, "dtype") else cotangent
    zeros = xp.zeros_like(xs[..., 0, :])  # (..., M)
    zero = zeros[..., :1]
    corner = xp.concat([zeros, zero + cot[..., None]], axis=-1)  # node diagonal P + 1: (M, N) alone
    first = zero + float(p - 1)  # the index of the last cell diagonal

    def step(carry: tuple[Array, Array, Array, Array], x: Array) -> tuple[tuple[Array, ...], Array]:
        l2, l3, b_next, q = carry  # node diagonals q + 2 and q + 3; B of cell diagonal q + 1
        g_q, s_q = x[..., :m], x[..., m:]
        inside = (row <= q) & (row >= q - float(n - 1))
        a, b = _coefficients(g_q)
        a = xp.where(inside, a, zeros)
        b = xp.where(inside, b, zeros)
        grad = l2[..., 1:] * s_q
        u = l2[..., 1:] * a
        l1 = (
            xp.concat([zero, u], axis=-1)
            + xp.concat([u, zero], axis=-1)
            - xp.concat([l3[..., 1:] * b_next, zero], axis=-1)
        )
        return (l1, l2, b, q - 1.0), grad

    init = (corner, xp.zeros_like(corner), zeros, first)
    _, grads = scan(step, init, both, stream=True, xp=xp, reverse=True, unroll=False)
    assert grads is not None
    return xp.reshape(grads, (*xs.shape[:-2], p, m))  # a TF loop's stacked output may not know P


# --------------------------------------------------------------------------- the kernel


def sig_kernel(
    x: Array,
    y: Array,
    *,
    orders: tuple[int, int],
    static_kernel: Any,
    normalize: bool,
    xp: Namespace,
    scan: Scan,
    wrap: Callable[..., Callable[[Array], Array]] | None,
) -> Array:
    """k(x, y) of paths ``(..., L1, d)`` and ``(..., L2, d)`` (leading axes broadcast).

    ``wrap(forward, taped, vjp)``, where given, declares the hand-written
    gradient of the PDE solve (the increments -> kernel map); the static kernel
    and the refinement are differentiated by the framework.
    """
    value = _kernel(x, y, orders=orders, static_kernel=static_kernel, xp=xp, scan=scan, wrap=wrap)
    if not normalize:
        return value
    kx = _kernel(
        x, x, orders=(orders[0], orders[0]), static_kernel=static_kernel, xp=xp, scan=scan, wrap=wrap
    )
    ky = _kernel(
        y, y, orders=(orders[1], orders[1]), static_kernel=static_kernel, xp=xp, scan=scan, wrap=wrap
    )
    return value / (kx * ky) ** 0.5


def _steps(x: Array, order: int, *, xp: Namespace) -> Array:
    """The increments ``(..., L - 1, d)`` of the path refined ``2**order`` times (piecewise linear)."""
    dx = x[..., 1:, :] - x[..., :-1, :]
    if order == 0:
        return dx
    r = 2**order
    part = dx[..., :, None, :] / float(r)
    return xp.reshape(xp.concat([part] * r, axis=-2), (*dx.shape[:-2], dx.shape[-2] * r, dx.shape[-1]))


def _skewed_grid(x: Array, y: Array, *, orders: tuple[int, int], static_kernel: Any, xp: Namespace) -> Array:
    """The grid of increments of the refined paths, skewed (:func:`skew`): ``(..., M + N - 1, M)``.

    The grid's shorter side is ``M`` (the scheme is symmetric in the two
    paths, so the wavefront runs along the shorter one); ``M = 0`` for a
    constant path. With the linear kernel the refined increments of the
    paths are multiplied against ``M`` zero increments after ``y``'s, which
    writes the padding :func:`skew_padded` needs in the same product; another
    static kernel's grid is refined, then padded.
    """
    if static_kernel is None:
        dx, dy = _steps(x, orders[0], xp=xp), _steps(y, orders[1], xp=xp)
        if dx.shape[-2] > dy.shape[-2]:
            dx, dy = dy, dx
        m = dx.shape[-2]
        padded = xp.concat([dy, xp.zeros_like(dy[..., :m, :])], axis=-2)  # (..., N + M, d)
        return skew_padded(xp.matmul(dx, xp.matrix_transpose(padded)), xp=xp)
    g = refine(increments(static_kernel, x, y, xp=xp), orders, xp=xp)
    if g.shape[-2] > g.shape[-1]:
        g = xp.matrix_transpose(g)
    return skew(g, xp=xp)


def _kernel(
    x: Array,
    y: Array,
    *,
    orders: tuple[int, int],
    static_kernel: Any,
    xp: Namespace,
    scan: Scan,
    wrap: Callable[..., Callable[[Array], Array]] | None,
) -> Array:
    g = _skewed_grid(x, y, orders=orders, static_kernel=static_kernel, xp=xp)
    if g.shape[-1] == 0:  # a constant path: only the scalar term, 1
        return xp.sum(g, axis=(-2, -1)) * 0.0 + 1.0

    def forward(z: Array) -> Array:
        return solve(z, xp=xp, scan=scan)

    if wrap is None:
        return forward(g)

    def taped(z: Array) -> tuple[Array, list[Array]]:
        return solve_taped(z, xp=xp, scan=scan)

    def vjp(z: Array, tape: list[Array], cotangent: Array) -> Array:
        return solve_vjp(z, tape, cotangent, xp=xp, scan=scan)

    return wrap(forward, taped, vjp)(g)


# --------------------------------------------------------------------------- Gram matrices, MMD, score


def _outer(x: Array, y: Array, nx: int, ny: int) -> tuple[Array, Array]:
    """``x`` ``(*b1, L1, d)`` as ``(*b1, 1.., L1, d)`` and ``y`` ``(*b2, L2, d)`` as ``(1.., *b2, L2, d)``."""
    full = (slice(None), slice(None))
    return x[(..., *([None] * ny), *full)], y[(*([None] * nx), ...)]


def _indices(values: list[Any], like: Array, *, xp: Namespace, dtype: Any = None) -> Array:
    """``values`` as an array (an integer index array by default) on ``like``'s device."""
    if getattr(xp, "_keras_sig_adapter", False):
        return xp.asarray(values, dtype=dtype)  # placed by the caller's device context
    from keras_sig._lib._namespace import device_of

    return xp.asarray(values, dtype=dtype, device=device_of(like, xp))


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
    static_kernel: Any,
    normalize: bool,
    xp: Namespace,
    scan: Scan,
    wrap: Any,
) -> Array:
    """The Gram matrix ``(*b1, *b2)`` of ``x`` ``(*b1, L1, d)`` against ``y`` (``None``: ``x``, symmetric)."""
    opts = {"static_kernel": static_kernel, "xp": xp, "scan": scan, "wrap": wrap}
    b1 = tuple(x.shape[:-2])
    symmetric = y is None and None not in b1 and orders[0] == orders[1]
    if y is None and not symmetric:
        y = x
    if symmetric:
        n = 1
        for s in b1:
            n *= s
        flat = xp.reshape(x, (n, *x.shape[-2:]))
        rows, cols = _pair_indices(n, strict=False)
        r, c = _indices(rows, flat, xp=xp), _indices(cols, flat, xp=xp)
        tri = _kernel(xp.take(flat, r, axis=0), xp.take(flat, c, axis=0), orders=orders, **opts)
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
        out = _kernel(xo, yo, orders=orders, **opts)
        if not normalize:
            return out
    kx = _kernel(x, x, orders=(orders[0], orders[0]), **opts)
    ky = _kernel(y, y, orders=(orders[1], orders[1]), **opts) if not symmetric else kx
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


def _within(
    x: Array, *, orders: tuple[int, int], unbiased: bool, opts: dict[str, Any], xp: Namespace
) -> Array:
    """The mean of ``k(x_i, x_j)`` over ``i != j`` (``unbiased``) or over all pairs, ``x`` ``(n, L, d)``."""
    n = x.shape[0]
    if not isinstance(n, int):  # unknown when tracing: the whole Gram matrix, less its diagonal
        xo, yo = _outer(x, x, 1, 1)
        everything = xp.sum(_kernel(xo, yo, orders=orders, **opts))
        diagonal = _kernel(x, x, orders=orders, **opts)
        count = xp.sum(xp.ones_like(diagonal))
        if unbiased:
            return (everything - xp.sum(diagonal)) / (count * (count - 1.0))
        return everything / (count * count)
    rows, cols = _pair_indices(n, strict=True)
    total = None
    if rows:
        r, c = _indices(rows, x, xp=xp), _indices(cols, x, xp=xp)
        total = 2.0 * xp.sum(_kernel(xp.take(x, r, axis=0), xp.take(x, c, axis=0), orders=orders, **opts))
    if unbiased:
        assert total is not None
        return total / float(n * (n - 1))
    diag = xp.sum(_kernel(x, x, orders=orders, **opts))
    return (diag if total is None else total + diag) / float(n * n)


def mmd(
    x: Array,
    y: Array,
    *,
    unbiased: bool,
    orders: tuple[int, int],
    static_kernel: Any,
    xp: Namespace,
    scan: Scan,
    wrap: Any,
) -> Array:
    """The squared MMD of the samples ``x`` ``(..., L1, d)`` and ``y`` ``(..., L2, d)`` (a 0-d array)."""
    opts = {"static_kernel": static_kernel, "xp": xp, "scan": scan, "wrap": wrap}
    xf, _ = _flat(x, xp=xp)
    yf, _ = _flat(y, xp=xp)
    kxx = _within(xf, orders=(orders[0], orders[0]), unbiased=unbiased, opts=opts, xp=xp)
    kyy = _within(yf, orders=(orders[1], orders[1]), unbiased=unbiased, opts=opts, xp=xp)
    xo, yo = _outer(xf, yf, 1, 1)
    cross = _kernel(xo, yo, orders=orders, **opts)
    kxy = xp.sum(cross) / xp.sum(xp.ones_like(cross))
    return kxx + kyy - 2.0 * kxy


def score(
    x: Array,
    y: Array,
    *,
    lam: float,
    orders: tuple[int, int],
    static_kernel: Any,
    xp: Namespace,
    scan: Scan,
    wrap: Any,
) -> Array:
    """``lam * mean_{i != j} k(x_i, x_j) - 2 mean_i k(x_i, y)``, one per path of ``y`` ``(*b, L2, d)``."""
    opts = {"static_kernel": static_kernel, "xp": xp, "scan": scan, "wrap": wrap}
    xf, _ = _flat(x, xp=xp)
    kxx = _within(xf, orders=(orders[0], orders[0]), unbiased=True, opts=opts, xp=xp)
    b2 = tuple(y.shape[:-2])
    xo, yo = _outer(xf, y, 1, len(b2))
    cross = _kernel(xo, yo, orders=orders, **opts)
    kxy = xp.sum(cross, axis=0) / xp.sum(xp.ones_like(cross), axis=0)
    return lam * kxx - 2.0 * kxy
