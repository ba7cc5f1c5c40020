"""The static kernels a signature kernel lifts (``static_kernel=``), and the argument checks of the kernels.

A static kernel ``k(x, y)`` of two points is applied to every pair of the two
paths' points; the signature kernel solves its PDE on the increments of that
grid. The built-in ones are those of pySigLib, as frozen dataclasses (hashable:
static arguments of ``jax.jit``); any other callable works too.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

from keras_sig._core import _kernel_gram as _core
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "LinearKernel",
    "PolynomialKernel",
    "RBFKernel",
    "ScaledLinearKernel",
    "StaticKernel",
    "as_static_kernel",
    "dyadic_orders",
]


@dataclasses.dataclass(frozen=True)
class StaticKernel:
    r"""Base class of the static kernels :math:`\kappa` lifted to paths by the signature kernel.

    A subclass defines :meth:`gram`, the pairwise values
    :math:`\kappa(x_i, y_j)` of two batches of points, with array-API
    operations on the namespace ``xp`` it is given; :meth:`increments` (the
    double differences the PDE takes) follows. Subclasses are frozen
    dataclasses, so they hash (JAX compiles one program per kernel) and
    serialise (their fields are their configuration).

    Instead of a subclass, any callable ``f(x, y)`` may be passed as
    ``static_kernel``: it receives paths ``x`` ``(..., L1, d)`` and ``y``
    ``(..., L2, d)`` (leading axes broadcast) and returns the increments
    ``(..., L1 - 1, L2 - 1)``, :math:`\kappa(x_{i+1}, y_{j+1}) -
    \kappa(x_i, y_{j+1}) - \kappa(x_{i+1}, y_j) + \kappa(x_i, y_j)`, as
    ``pysiglib.StaticKernel.__call__`` does; it is differentiated by the framework.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> def linear(x, y):
    ...     dx, dy = np.diff(x, axis=-2), np.diff(y, axis=-2)
    ...     return dx @ np.swapaxes(dy, -1, -2)
    >>> x = np.array([[0.0, 0.0], [1.0, 0.5]])
    >>> bool(np.isclose(keras_sig.sig_kernel(x, x, static_kernel=linear), keras_sig.sig_kernel(x, x)))
    True
    """

    def gram(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``kappa(x_i, y_j)`` of ``x`` ``(..., L1, d)`` and ``y`` ``(..., L2, d)``: ``(..., L1, L2)``."""
        raise NotImplementedError

    def increments(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """The double differences of :meth:`gram`: ``(..., L1 - 1, L2 - 1)``."""
        return _core.double_difference(self.gram(x, y, xp=xp))


@dataclasses.dataclass(frozen=True)
class LinearKernel(StaticKernel):
    r"""The linear kernel :math:`\kappa(x, y) = \langle x, y\rangle` (the default: the signature kernel)."""

    def gram(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``<x_i, y_j>``."""
        return xp.matmul(x, xp.matrix_transpose(y))

    def increments(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``<dx_i, dy_j>`` (one matrix product of the increments)."""
        return _core.linear_increments(x, y, xp=xp)


@dataclasses.dataclass(frozen=True)
class ScaledLinearKernel(StaticKernel):
    r"""The scaled linear kernel :math:`\kappa(x, y) = \text{scale}^2 \langle x, y\rangle` (as pySigLib's)."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_number("scale", self.scale, positive=False)

    def gram(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``scale**2 <x_i, y_j>``."""
        return xp.matmul(x, xp.matrix_transpose(y)) * float(self.scale) ** 2

    def increments(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``scale**2 <dx_i, dy_j>``."""
        return _core.linear_increments(x, y, xp=xp) * float(self.scale) ** 2


@dataclasses.dataclass(frozen=True)
class RBFKernel(StaticKernel):
    r"""The Gaussian kernel :math:`\kappa(x, y) = \exp(-\lVert x - y\rVert^2 / \sigma)` (as pySigLib's).

    Note the scaling: ``sigma`` divides the squared distance itself (sigkernel's
    ``RBFKernel(sigma)`` divides it by ``sigma**2``).
    """

    sigma: float = 1.0

    def __post_init__(self) -> None:
        _check_number("sigma", self.sigma, positive=True)

    def gram(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``exp(-|x_i - y_j|**2 / sigma)``."""
        inner = xp.matmul(x, xp.matrix_transpose(y))
        x2 = xp.sum(x * x, axis=-1)[..., :, None]
        y2 = xp.sum(y * y, axis=-1)[..., None, :]
        return xp.exp((2.0 * inner - x2 - y2) / float(self.sigma))


@dataclasses.dataclass(frozen=True)
class PolynomialKernel(StaticKernel):
    r"""The polynomial kernel :math:`\kappa(x, y) = s\,(\langle x, y\rangle + \gamma)^{d}`.

    ``s`` is ``scale`` and ``d`` is ``degree``.

    pySigLib's convention. A non-integer ``degree`` needs ``<x, y> + gamma >= 0``
    (pySigLib clamps negative bases to 0 with a warning; here they give NaN).
    """

    degree: float = 3.0
    gamma: float = 1.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_number("degree", self.degree, positive=False)
        _check_number("gamma", self.gamma, positive=False, signed=True)
        _check_number("scale", self.scale, positive=False)

    def gram(self, x: Array, y: Array, *, xp: Namespace) -> Array:
        """``scale * (<x_i, y_j> + gamma) ** degree``."""
        base = xp.matmul(x, xp.matrix_transpose(y)) + float(self.gamma)
        degree = float(self.degree)
        power = base ** int(degree) if degree.is_integer() else base**degree
        return power * float(self.scale)


def _check_number(name: str, value: object, *, positive: bool, signed: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{name} must be a real number; got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    if positive and not value > 0:
        msg = f"{name} must be > 0; got {value!r}"
        raise ValueError(msg)
    if not signed and not value >= 0:
        msg = f"{name} must be >= 0; got {value!r}"
        raise ValueError(msg)


_NAMED: dict[str, Callable[[], StaticKernel]] = {
    "linear": LinearKernel,
    "scaled_linear": ScaledLinearKernel,
    "rbf": RBFKernel,
    "polynomial": PolynomialKernel,
}


def as_static_kernel(value: Any) -> Any:
    """``None`` for the linear kernel, a :class:`StaticKernel`, or a user's callable."""
    if value is None or isinstance(value, LinearKernel):
        return None
    if isinstance(value, str):
        if value not in _NAMED:
            names = ", ".join(map(repr, _NAMED))
            msg = f"static_kernel must be one of {names}, a StaticKernel or a callable; got {value!r}"
            raise ValueError(msg)
        made = _NAMED[value]()
        return None if isinstance(made, LinearKernel) else made
    if isinstance(value, StaticKernel):
        return value
    if callable(value):
        return value
    msg = (
        "static_kernel must be None, a name ('linear', 'rbf', ...), a StaticKernel or a callable "
        f"f(x, y) returning increments; got {value!r} ({type(value).__name__})"
    )
    raise TypeError(msg)


def dyadic_orders(dyadic_order: Any) -> tuple[int, int]:
    """``dyadic_order`` (an int >= 0 or a pair of them) as a pair."""
    pair = dyadic_order if isinstance(dyadic_order, (tuple, list)) else (dyadic_order, dyadic_order)
    if len(pair) != 2:
        msg = f"dyadic_order must be an integer >= 0 or a pair of them; got {dyadic_order!r}"
        raise ValueError(msg)
    out = []
    for v in pair:
        if isinstance(v, bool) or not hasattr(type(v), "__index__"):
            msg = f"dyadic_order must be an integer >= 0 or a pair of them; got {dyadic_order!r}"
            raise TypeError(msg)
        number = operator.index(v)
        if number < 0:
            msg = f"dyadic_order must be >= 0; got {dyadic_order!r}"
            raise ValueError(msg)
        out.append(number)
    return out[0], out[1]
