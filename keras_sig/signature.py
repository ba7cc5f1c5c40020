"""keras_sig 1.0.2's module ``keras_sig.signature``, kept for ``from keras_sig.signature import signature``.

Reading ``signature`` (or ``get_largest_divisor_under_20``) from this module
works and emits a :class:`DeprecationWarning`: import the function from the
package instead (``from keras_sig import signature``).

``import keras_sig`` loads this module into :data:`sys.modules` without
binding it to the package, so the package attribute ``keras_sig.signature``
stays the function (``torch.compile``, ``tf.function`` and ``jax.jit`` trace it
as one), and ``from keras_sig.signature import signature`` finds the module
loaded. (``import keras_sig.signature as name`` therefore names the function.)
"""

from __future__ import annotations

import sys

from keras_sig._api import signature
from keras_sig._compat import LegacyModule, deprecate_names
from keras_sig._lib._validation import check_int

__all__ = ["get_largest_divisor_under_20", "signature"]


def get_largest_divisor_under_20(n: int) -> int:
    """Return the largest divisor of ``n`` not above 20 (10 when ``n < 1``).

    keras_sig 1.0.2 used it to choose ``unroll=``, which is now ignored.

    Parameters
    ----------
    n : int
        The number to divide.

    Returns
    -------
    int
        The largest ``i <= min(n, 20)`` dividing ``n``; 10 if ``n < 1``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from keras_sig.signature import get_largest_divisor_under_20
    >>> get_largest_divisor_under_20(42)
    14
    """
    n = check_int("n", n, minimum=-sys.maxsize - 1)
    return max((i for i in range(1, min(n, 20) + 1) if n % i == 0), default=10)


_DEPRECATED = deprecate_names(
    globals(),
    {
        "signature": "use keras_sig.signature (from keras_sig import signature)",
        "get_largest_divisor_under_20": "it has no replacement (unroll= is ignored)",
    },
)
sys.modules[__name__].__class__ = LegacyModule
