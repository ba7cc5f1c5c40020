"""keras_sig 1.0.2's module ``keras_sig.signature``, kept for ``from keras_sig.signature import signature``.

Reading ``signature`` (or ``get_largest_divisor_under_20``) from this module
works and emits a :class:`DeprecationWarning`: import the function from the
package instead (``from keras_sig import signature``).

Importing this module makes Python bind it to the package's ``signature``
attribute, where the function was. The module is therefore callable:
``keras_sig.signature(path, depth, ...)`` calls :func:`keras_sig.signature`
whichever of the two ``keras_sig.signature`` holds, and ``help`` and
:func:`inspect.signature` show the function's documentation and parameters.
"""

from __future__ import annotations

import inspect
import sys

from keras_sig._api import check_int, signature
from keras_sig._compat import LegacyModule, deprecate_names

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
    >>> import keras_sig.signature as legacy
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     legacy.get_largest_divisor_under_20(42)
    14
    """
    n = check_int("n", n, minimum=-sys.maxsize - 1)
    return max((i for i in range(1, min(n, 20) + 1) if n % i == 0), default=10)


class _SignatureModule(LegacyModule):
    """The class of this module: deprecated names warn, calling it calls :func:`keras_sig.signature`."""

    __call__ = staticmethod(signature)


# help(keras_sig.signature) and inspect.getdoc show the function's docstring, then this module's.
_MODULE_NOTE = inspect.cleandoc(__doc__ or "")
__doc__ = f"{inspect.cleandoc(signature.__doc__ or '')}\n\nThis module\n-----------\n{_MODULE_NOTE}"
__wrapped__ = signature  # inspect.signature(keras_sig.signature) shows the function's parameters
_DEPRECATED = deprecate_names(
    globals(),
    {
        "signature": "use keras_sig.signature (from keras_sig import signature)",
        "get_largest_divisor_under_20": "it has no replacement (unroll= is ignored)",
    },
)
sys.modules[__name__].__class__ = _SignatureModule
