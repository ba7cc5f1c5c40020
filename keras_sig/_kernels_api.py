r"""Signature kernels: the public functions (the static kernels are :mod:`keras_sig._static_kernels`).

The signature kernel :math:`k(x, y) = \langle S(x), S(y) \rangle` of two paths is
computed without forming a signature, by solving the Goursat PDE on the grid of
the two paths (:mod:`keras_sig._core._kernel`, :mod:`keras_sig._core._kernel_gram`).
The conventions are pySigLib's:
the same finite-difference scheme, dyadic refinement and static kernels, so the
values agree with ``pysiglib.sig_kernel`` (and sigkernel) to rounding.

Differences from pySigLib: ``dyadic_order`` defaults to 0 (pySigLib requires
it); ``sig_score`` of a single path ``y`` returns a 0-d array (pySigLib: shape
``(1,)``); no ``time_aug`` / ``lead_lag`` options (use :func:`keras_sig.add_time`
and :func:`keras_sig.lead_lag` first); a user's static kernel is a plain
callable differentiated by the framework (no ``grad_x`` / ``grad_y``);
``sig_kernel_gram(X)`` with two different dyadic orders computes every entry
(``k(X_i, X_j)`` refines ``X_i`` by the first order and ``X_j`` by the second,
which is not symmetric), where ``pysiglib.sig_kernel_gram(X, X)`` fills the
lower triangle from the upper one; likewise, with a pair of dyadic orders,
``sig_mmd`` and ``sig_score`` refine each sample by its own order (the first
for ``X``, the second for ``Y`` / ``y``) in every term, where pySigLib uses the
pair within one sample too (the two agree for a single order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from keras_sig._core import _kernel_gram as _core
from keras_sig._lib._kernel_gradients import kernel_gradient_for
from keras_sig._lib._namespace import (
    array_namespace,
    is_dask_array,
    is_jax_namespace,
    jax_jit,
    placed_like,
    static_shape,
)
from keras_sig._lib._scan import python_scan, scan_for
from keras_sig._lib._typing import Array, Namespace
from keras_sig._lib._validation import as_array, as_floating, check_bool, check_path
from keras_sig._static_kernels import (
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
    ScaledLinearKernel,
    StaticKernel,
    as_static_kernel,
    dyadic_orders,
)

__all__ = [
    "LinearKernel",
    "PolynomialKernel",
    "RBFKernel",
    "ScaledLinearKernel",
    "StaticKernel",
    "sig_kernel",
    "sig_kernel_gram",
    "sig_mmd",
    "sig_score",
]


# --------------------------------------------------------------------------- dispatch


def _paths(x: Any, y: Any, names: tuple[str, str], xp: Namespace | None) -> tuple[Array, Array, Namespace]:
    for name, value in zip(names, (x, y), strict=True):
        if is_dask_array(value):
            msg = f"{name} is a dask array: only sig_kernel_gram computes dask arrays (block by block)"
            raise TypeError(msg)
    a, xp_a = as_array(names[0], x, xp)
    b, _ = as_array(names[1], y, xp)
    own = array_namespace(a, b) if xp is None else xp_a
    a, b = as_floating(names[0], a, own), as_floating(names[1], b, own)
    for name, arr in ((names[0], a), (names[1], b)):
        length, _ = check_path(arr, subject=name)
        if length is None:
            msg = f"{name} must have a known length (axis -2) for signature kernels; got {tuple(arr.shape)}"
            raise ValueError(msg)
    if a.shape[-1] != b.shape[-1]:
        msg = (
            f"{names[0]} and {names[1]} must have the same number of channels; "
            f"got {a.shape[-1]} and {b.shape[-1]}"
        )
        raise ValueError(msg)
    return a, b, own


def _known_batch(name: str, arr: Array, what: str) -> int:
    """The number of paths in ``arr``'s leading axes, which must be known when tracing."""
    count = 1
    sizes = static_shape(arr.shape[:-2])
    if len(sizes) == 1 and sizes[0] is None:
        return 2  # one unknown batch axis: computed from the whole Gram matrix (at least 2 assumed)
    for size in sizes:
        if size is None:
            msg = (
                f"{name} must have known batch sizes for {what}, except a single batch axis; "
                f"got shape {tuple(arr.shape)}"
            )
            raise ValueError(msg)
        count *= size
    return count


# Pieces per triangle of the solver's loop (``_core._kernel._pieces``): a Python loop
# pays a few concatenations per piece; a compiled one a loop body each, in compile time.
_LOOP_PIECES = 16
_COMPILED_PIECES = 1
# When JAX forms the linear kernel's increments from products (``Solver.in_step``): up to this
# many channels, on grids of at least this many cells (paths' increments, times the pairs).
_PRODUCT_CHANNELS = 16
_IN_STEP_CELLS = 1 << 20


def _call(fn: Callable[..., Array], xp: Namespace, arrays: tuple[Any, ...], **static: Any) -> Array:
    """``fn(*arrays, **static)``, jitted on JAX, its ``static_kernel`` made a ``Solver``.

    The :class:`~keras_sig._core._kernel_gram.Solver` also holds the
    namespace's scan and gradient and these choices:

    - ``in_step``: on JAX, with at most :data:`_PRODUCT_CHANNELS` channels,
      kernels on grids of at least :data:`_IN_STEP_CELLS` cells form the
      linear kernel's increments from the paths' increments, each diagonal's
      in the loop (no grid-sized array: allocating one costs XLA as much as
      the solve), and so do their gradient's tape and adjoint (which pulls
      each diagonal's cotangents back to the paths in the loop). Measured
      (one thread, float64): the Gram matrix of 32 against 32 paths (100, 5)
      46 ms against 132 from the grid, 8 x 8 of (1000, 3) 233 ms against
      727; pairs of (100, 5) paths: 64 pairs (0.6 M cells) 7.3 ms against
      3.5, 256 pairs 17 ms against 42. The gradient of ``sig_mmd`` of two
      samples of 8 (1000, 3) paths: 3.8 s against 6.4 s with the adjoint on
      a grid of products. With 32 channels the gradient of ``sig_mmd`` was
      faster from the grid's matrix product.
    - ``pieces``: the solver's loop skips the cells off the grid in
      :data:`_LOOP_PIECES` pieces per triangle on a Python loop,
      :data:`_COMPILED_PIECES` in a compiled loop (``lax.scan``, a TF while-loop),
      where more pieces measured no faster and compile one loop body each.

    ``python -m benchmarks --kernels`` times what they give.
    """
    scan = scan_for(xp)
    pieces = _LOOP_PIECES if scan is python_scan else _COMPILED_PIECES
    on_jax = is_jax_namespace(xp)
    kernel = static.pop("static_kernel")
    in_step = _IN_STEP_CELLS if on_jax and arrays[0].shape[-1] <= _PRODUCT_CHANNELS else None
    static["solver"] = _core.Solver(kernel, xp, scan, kernel_gradient_for(xp), in_step, pieces)
    if on_jax:
        return jax_jit(fn, tuple(static))(*arrays, **static)
    with placed_like(arrays[0], xp):
        return fn(*arrays, **static)


# --------------------------------------------------------------------------- public functions


def sig_kernel(
    x: Any,
    y: Any,
    *,
    dyadic_order: int | tuple[int, int] = 0,
    static_kernel: Any = None,
    normalize: bool = False,
    xp: Any = None,
) -> Array:
    r"""The signature kernel :math:`k(x, y) = \langle S(x), S(y)\rangle` of paired paths.

    Solves the Goursat PDE on the grid of the two paths (no signature is
    formed), with pySigLib's finite-difference scheme.

    Parameters
    ----------
    x, y : array
        Paths ``(..., length_1, channels)`` and ``(..., length_2, channels)``; the
        leading axes broadcast and the lengths may differ. Any array type
        (NumPy, CuPy, JAX, PyTorch, TensorFlow, array-API-strict).
    dyadic_order : int or (int, int), default 0
        Refine each path ``2**order`` times (one order for both, or one per path).
    static_kernel : None, str, StaticKernel or callable, default None
        The kernel lifted to paths: ``None`` / ``"linear"`` (the signature's own
        inner product), ``"scaled_linear"``, ``"rbf"``, ``"polynomial"`` (default
        parameters), an instance of :class:`RBFKernel` etc., or a callable (see
        :class:`StaticKernel`).
    normalize : bool, default False
        Divide by ``sqrt(k(x, x) k(y, y))`` (so ``k(x, x) = 1``).
    xp : namespace, optional
        The array namespace, inferred from the inputs when ``None``.

    Returns
    -------
    array
        The kernels, of the broadcast leading shape, with the input's kind,
        dtype and device. Differentiable in both paths on JAX, PyTorch and
        TensorFlow (a hand-written adjoint of the PDE).

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([[0.0, 0.0], [0.5, 1.0]])
    >>> round(float(keras_sig.sig_kernel(x, y, dyadic_order=3)), 4)
    3.1668
    >>> float(keras_sig.sig_kernel(x, x, normalize=True))
    1.0
    """
    orders = dyadic_orders(dyadic_order)
    kernel = as_static_kernel(static_kernel)
    normalize = check_bool("normalize", normalize)
    a, b, ns = _paths(x, y, ("x", "y"), xp)
    static = {"orders": orders, "static_kernel": kernel, "normalize": normalize}
    return _call(_core.sig_kernel, ns, (a, b), **static)


def sig_kernel_gram(
    X: Any,  # noqa: N803 - the Gram matrix's conventional names
    Y: Any = None,  # noqa: N803
    *,
    dyadic_order: int | tuple[int, int] = 0,
    static_kernel: Any = None,
    normalize: bool = False,
    xp: Any = None,
) -> Array:
    r"""The Gram matrix :math:`(k(X_i, Y_j))_{i, j}` of two batches of paths.

    Parameters
    ----------
    X : array
        Paths ``(*batch_1, length_1, channels)``.
    Y : array, optional
        Paths ``(*batch_2, length_2, channels)``; ``None`` means ``X`` against
        itself, computing each pair once (half the work) by symmetry.
    dyadic_order, static_kernel, normalize, xp
        As in :func:`sig_kernel`.

    Returns
    -------
    array
        ``(*batch_1, *batch_2)``. Dask arrays give a lazy dask array, computed
        block by block over both batch axes.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> X = np.random.default_rng(0).normal(size=(4, 10, 2)) * 0.3
    >>> K = keras_sig.sig_kernel_gram(X)
    >>> K.shape, bool(np.allclose(K, K.T))
    ((4, 4), True)
    """
    orders = dyadic_orders(dyadic_order)
    kernel = as_static_kernel(static_kernel)
    normalize = check_bool("normalize", normalize)
    if is_dask_array(X) or is_dask_array(Y):
        return _dask_gram(X, Y, dyadic_order=orders, static_kernel=static_kernel, normalize=normalize)
    if Y is None:
        a, _, ns = _paths(X, X, ("X", "X"), xp)
        b = None
    else:
        a, b, ns = _paths(X, Y, ("X", "Y"), xp)
    static = {"orders": orders, "static_kernel": kernel, "normalize": normalize}
    if b is None:
        return _call(_gram_self, ns, (a,), **static)
    return _call(_core.gram, ns, (a, b), **static)


def _gram_self(x: Array, **kwargs: Any) -> Array:
    return _core.gram(x, None, **kwargs)


def _dask_gram(x: Any, y: Any, **kwargs: Any) -> Any:
    """A lazy Gram matrix of dask arrays, one block per pair of batch chunks."""
    import dask.array as da

    y_given = y is not None
    y = x if y is None else y
    for name, arr in (("X", x), ("Y", y)):
        if not is_dask_array(arr):
            msg = f"{name} must be a dask array when the other one is; got {type(arr).__name__}"
            raise TypeError(msg)
        check_path(arr, subject=name)
        if any(math.isnan(s) for s in arr.shape):  # unknown chunk sizes
            msg = f"{name} is a dask array with unknown chunk sizes; call .compute_chunk_sizes() first"
            raise ValueError(msg)
    if x.shape[-1] != y.shape[-1]:
        msg = f"X and Y must have the same number of channels; got {x.shape[-1]} and {y.shape[-1]}"
        raise ValueError(msg)
    nx, ny = x.ndim - 2, y.ndim - 2
    letters = "abcdefghijklmnopqrstuvw"
    bx, by = letters[:nx], letters[nx : nx + ny]
    x = x.rechunk({nx: -1, nx + 1: -1})
    y = y.rechunk({ny: -1, ny + 1: -1})

    def block(xb: Array, yb: Array) -> Array:
        return sig_kernel_gram(xb, yb, **kwargs)

    del y_given  # blocks off the diagonal have no symmetry to use
    return da.blockwise(
        block, bx + by, x, bx + "XZ", y, by + "YZ", concatenate=True, dtype=x.dtype, meta=x._meta
    )


def sig_mmd(
    X: Any,  # noqa: N803
    Y: Any,  # noqa: N803
    *,
    unbiased: bool = True,
    dyadic_order: int | tuple[int, int] = 0,
    static_kernel: Any = None,
    xp: Any = None,
) -> Array:
    r"""The squared maximum mean discrepancy of two samples of paths under the signature kernel.

    .. math::

        \widehat{\mathrm{MMD}}^2 = \frac{1}{n(n-1)} \sum_{i \ne j} k(X_i, X_j)
        - \frac{2}{nm} \sum_{i, j} k(X_i, Y_j) + \frac{1}{m(m-1)} \sum_{i \ne j} k(Y_i, Y_j)

    (``unbiased=True``, pySigLib's estimator), or the biased V-statistic with
    the diagonals included and ``1/n**2``, ``1/m**2``.

    Parameters
    ----------
    X, Y : array
        Samples ``(..., length_1, channels)`` and ``(..., length_2, channels)``;
        all leading axes are flattened into one sample each (sizes may differ).
    unbiased : bool, default True
        The U-statistic (needs at least two paths in each sample).
    dyadic_order, static_kernel, xp
        As in :func:`sig_kernel`.

    Returns
    -------
    array
        A 0-d array (differentiable in both samples).

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> rng = np.random.default_rng(0)
    >>> X = np.cumsum(rng.normal(size=(8, 10, 2)) * 0.1, axis=1)
    >>> Y = np.cumsum(rng.normal(size=(8, 10, 2)) * 0.1 + 0.05, axis=1)
    >>> bool(keras_sig.sig_mmd(X, Y) > 0)
    True
    """
    orders = dyadic_orders(dyadic_order)
    kernel = as_static_kernel(static_kernel)
    unbiased = check_bool("unbiased", unbiased)
    a, b, ns = _paths(X, Y, ("X", "Y"), xp)
    for name, arr in (("X", a), ("Y", b)):
        count = _known_batch(name, arr, "sig_mmd")
        if unbiased and count < 2:
            msg = f"{name} must hold at least 2 paths for the unbiased MMD; got shape {tuple(arr.shape)}"
            raise ValueError(msg)
    return _call(_core.mmd, ns, (a, b), unbiased=unbiased, orders=orders, static_kernel=kernel)


def sig_score(
    X: Any,  # noqa: N803
    y: Any,
    *,
    lam: float = 1.0,
    dyadic_order: int | tuple[int, int] = 0,
    static_kernel: Any = None,
    xp: Any = None,
) -> Array:
    r"""The signature kernel scoring rule of a sample ``X`` against observed paths ``y``.

    .. math::

        \widehat\phi(X, y) = \frac{\lambda}{m(m-1)} \sum_{i \ne j} k(X_i, X_j) - \frac{2}{m} \sum_i k(X_i, y)

    (pySigLib's estimator; ``lam=1`` is the proper score of Issa et al.).

    Parameters
    ----------
    X : array
        The sample ``(..., length_1, channels)`` (leading axes flattened; at least 2 paths).
    y : array
        One path ``(length_2, channels)`` or several ``(*batch, length_2, channels)``,
        each scored on its own.
    lam : float, default 1.0
        The weight of the sample's self-similarity.
    dyadic_order, static_kernel, xp
        As in :func:`sig_kernel`.

    Returns
    -------
    array
        ``(*batch)``: a 0-d array for one path ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> X = np.cumsum(np.random.default_rng(0).normal(size=(6, 10, 2)) * 0.1, axis=1)
    >>> keras_sig.sig_score(X, X[0]).shape
    ()
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float)):
        msg = f"lam must be a real number; got {lam!r} ({type(lam).__name__})"
        raise TypeError(msg)
    orders = dyadic_orders(dyadic_order)
    kernel = as_static_kernel(static_kernel)
    a, b, ns = _paths(X, y, ("X", "y"), xp)
    count = _known_batch("X", a, "sig_score")
    if count < 2:
        msg = f"X must hold at least 2 paths for the score; got shape {tuple(a.shape)}"
        raise ValueError(msg)
    return _call(_core.score, ns, (a, b), lam=float(lam), orders=orders, static_kernel=kernel)
