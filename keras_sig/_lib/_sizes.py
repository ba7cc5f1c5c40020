"""Size guards: refuse an output too large to allocate before any array work starts.

Every function that allocates a signature-sized array checks, in plain Python
and before any array is made (so also when a JAX or TensorFlow function is
being traced, and in a Keras layer's constructor and ``build``), that

- one path's output (and the largest intermediate per path that the output
  size does not already bound) has at most :func:`get_max_size` elements
  (default :data:`DEFAULT_MAX_SIZE`, ``2**31``; raise it with
  :func:`set_max_size`), and
- the whole output, where the batch is known, has fewer than ``2**63``
  elements, which no array library can index (not overridable).

The limit is per path, not per call, because what makes a signature too big
is ``channels`` and ``depth`` (which the message names), not the batch, whose
memory ``memory_budget`` and the caller's batching already manage. The default
``2**31`` is one past the largest int32 index (the feature axis of one path
stays indexable by 32-bit GPU kernels) and 16 GiB of float64: far beyond any
useful feature vector, yet it stops the ``10**13``-element mistakes at once. A
process-wide setting (like :func:`sys.setrecursionlimit`) rather than a keyword,
so that it reaches the Keras layers, the scikit-learn transformer and every
function that calls :func:`keras_sig.signature` without new parameters.

The sizes are compared without building them: ``channels**depth`` for a depth
of ``10**18`` is never computed, its bit length is bounded from
``depth * log2(channels)`` first.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

__all__ = [
    "DEFAULT_MAX_SIZE",
    "INDEX_LIMIT",
    "check_count",
    "check_lyndon_count",
    "check_path_size",
    "check_signature_size",
    "get_max_size",
    "set_max_size",
    "sigdim_within",
]

DEFAULT_MAX_SIZE = 2**31
"""Default limit on the elements of one path's output (16 GiB in float64, 8 GiB in float32)."""

INDEX_LIMIT = 2**63 - 1
"""The most elements any array may have: the largest signed 64-bit index (NumPy's ``intp``)."""

_limit = [DEFAULT_MAX_SIZE]


def _effective() -> int:
    return min(_limit[0], INDEX_LIMIT)


def get_max_size() -> int:
    """The current limit on the number of elements of one path's output.

    Returns
    -------
    int
        The limit :func:`set_max_size` last set, else :data:`DEFAULT_MAX_SIZE`
        (``2**31``).

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.get_max_size() == 2**31
    True
    """
    return _limit[0]


def set_max_size(size: int | None) -> int:
    """Set the limit on the number of elements of one path's output; return the previous one.

    :func:`keras_sig.signature`, :func:`keras_sig.logsignature`, the window
    functions, :func:`keras_sig.lyndon_words` and the Keras layers refuse,
    with a ValueError naming ``channels`` and ``depth``, any output (or
    intermediate) with more elements per path than this, before allocating
    anything. Sizes past ``2**63 - 1`` elements are refused whatever the limit.

    Parameters
    ----------
    size : int or None
        The new limit (``>= 1``), or None for :data:`DEFAULT_MAX_SIZE`.

    Returns
    -------
    int
        The limit before the call, to restore it later.

    Examples
    --------
    >>> import keras_sig
    >>> previous = keras_sig.set_max_size(2**34)
    >>> keras_sig.get_max_size()
    17179869184
    >>> keras_sig.set_max_size(previous) == 2**34
    True
    """
    if size is None:
        size = DEFAULT_MAX_SIZE
    if isinstance(size, bool) or not hasattr(type(size), "__index__"):
        msg = f"size must be an integer >= 1 or None; got {size!r} ({type(size).__name__})"
        raise TypeError(msg)
    size = operator.index(size)
    if size < 1:
        msg = f"size must be an integer >= 1 or None; got {size}"
        raise ValueError(msg)
    previous, _limit[0] = _limit[0], size
    return previous


def sigdim_within(channels: int, depth: int, limit: int) -> int | None:
    """``channels + ... + channels**depth`` if it is at most ``limit``, else None (quickly)."""
    if channels == 1:
        return depth if depth <= limit else None
    # sigdim >= channels**depth >= 2**depth: more than ``limit`` once depth * log2(channels)
    # passes its bit length (the first test keeps a huge depth out of the float product)
    bits = limit.bit_length() + 1
    if depth > bits or depth * math.log2(channels) > bits:
        return None
    from keras_sig._core._algebra import sigdim

    size = sigdim(channels, depth)
    return size if size <= limit else None


def _fix(message: str, limit: int) -> str:
    if limit >= INDEX_LIMIT:
        return f"{message}, more than any array can hold (2**63 - 1 elements)"
    return (
        f"{message}, more than the limit of {limit} (keras_sig.get_max_size()); "
        "lower channels or depth, or raise the limit with keras_sig.set_max_size(n) if the memory is there"
    )


def check_signature_size(
    channels: int, depth: int, *, factor: int = 1, what: str = "the signature", batch: Iterable[object] = ()
) -> int:
    """``sigdim(channels, depth)``, or a ValueError if ``factor`` times it exceeds the limits.

    ``factor`` counts signatures per path (stream entries, windows); ``batch``
    the known leading sizes (``None`` entries are skipped), for the
    ``2**63 - 1`` limit on the whole output.
    """
    limit, factor = _effective(), max(factor, 1)
    size = sigdim_within(channels, depth, limit // factor)
    if size is None:
        exact = depth if channels == 1 else sigdim_within(channels, depth, INDEX_LIMIT)
        count = f"{exact * factor}" if exact is not None else f"more than {channels}**{depth}"
        message = f"channels={channels}, depth={depth}: {what} would have {count} elements per path"
        raise ValueError(_fix(message, limit))
    known = [operator.index(b) for b in batch if isinstance(b, int)]
    check_count(size * factor * math.prod(known), what=f"{what} of the whole batch", per_path=False)
    return size


def check_count(count: int, *, what: str, per_path: bool = True) -> None:
    """A ValueError if ``count`` elements exceed the per-path limit (or the index limit)."""
    limit = _effective() if per_path else INDEX_LIMIT
    if count > limit:
        raise ValueError(_fix(f"{what} has {count} elements", limit))


def check_path_size(
    shape: tuple[object, ...], depth: int, *, stream: bool, basepoint: object, what: str = "the signature"
) -> int:
    """:func:`check_signature_size` for a path of ``shape`` ``(..., length, channels)``.

    ``basepoint`` is the argument as given: anything but None and False adds a point.
    """
    from keras_sig._lib._namespace import static_shape

    dims = static_shape(shape)
    length, channels = dims[-2], dims[-1]
    factor = 1
    if stream and isinstance(length, int):
        factor = length - 1 + int(basepoint is not None and basepoint is not False)
        what = f"{what} stream ({factor} entries)"
    return check_signature_size(channels, depth, factor=factor, what=what, batch=dims[:-2])  # type: ignore[arg-type]


def check_lyndon_count(channels: int, depth: int, what: str) -> None:
    """A ValueError if there are more Lyndon words of length ``1..depth`` than the limit allows.

    Refused at once where ``sigdim`` passes ``4 * depth`` times the limit
    (then the longest level alone, at least ``channels**depth / (2 * depth)``
    words, does); otherwise the exact count (Witt's formula) is compared.
    """
    from keras_sig._core import _words

    limit = _effective()
    if sigdim_within(channels, depth, 4 * depth * limit) is None:
        count = f"more than {channels}**{depth} / {2 * depth}"
    else:
        number = _words.logsigdim(channels, depth)
        if number <= limit:
            return
        count = str(number)
    raise ValueError(_fix(f"channels={channels}, depth={depth}: {what} would have {count} entries", limit))
