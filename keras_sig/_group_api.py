"""Public group operations on signatures: product, inverse, and one level's coefficients.

Signatures of a path's pieces form a group under Chen's identity, so
:func:`signature_combine` and :func:`multi_signature_combine` join them and
:func:`signature_inverse` undoes one (the signature of the reversed path).
The array work is :func:`keras_sig._core._algebra.combine_flat` and
:func:`~keras_sig._core._algebra.inverse_flat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras_sig._core import _algebra
from keras_sig._core._algebra import sigdim
from keras_sig._lib._companions import companion
from keras_sig._lib._namespace import is_array, is_dask_array, is_jax_namespace
from keras_sig._lib._pipeline import apply_pipeline
from keras_sig._lib._typing import Array, Namespace
from keras_sig._lib._validation import (
    as_float_array,
    broadcast_shapes,
    check_bool,
    check_channels_depth,
    check_int,
    check_last_axis,
    signature_what,
)

__all__ = ["extract_signature_term", "multi_signature_combine", "signature_combine", "signature_inverse"]


def _signatures(
    named: Sequence[tuple[str, Any]], channels: int, depth: int, scalar_term: bool, xp: Namespace | None
) -> tuple[list[Array], Namespace, tuple[Any, ...]]:
    """Validated signature arguments in one namespace and dtype, and their common batch shape."""
    # The first array that is not NumPy's leads: NumPy arrays beside it are converted to its library.
    lead = 0
    if xp is None:
        lead = next((i for i, (_, v) in enumerate(named) if is_array(v) and type(v).__module__ != "numpy"), 0)
    first_name, first_value = named[lead]
    first, xp = as_float_array(first_name, first_value, xp)
    arrays = [
        first if i == lead else companion(name, value, first, xp, like_name=first_name)
        for i, (name, value) in enumerate(named)
    ]
    size = sigdim(channels, depth) + int(scalar_term)
    what = signature_what(channels, depth, scalar_term)
    for (name, _), arr in zip(named, arrays, strict=True):
        check_last_axis(name, arr, size, what)
    if is_jax_namespace(xp):
        _check_jax_devices([(name, arr) for (name, _), arr in zip(named, arrays, strict=True)])
    batch = broadcast_shapes(
        [(name, tuple(a.shape[:-1])) for (name, _), a in zip(named, arrays, strict=True)]
    )
    return arrays, xp, batch


def _check_jax_devices(named: Sequence[tuple[str, Array]]) -> None:
    """A ValueError naming the arguments if JAX arrays committed to different devices meet.

    JAX would refuse them too, but naming the compiled helper's parameters.
    Uncommitted arrays (made without an explicit device) follow the others, and
    tracers (inside ``jax.jit``) have no devices to compare.
    """
    import jax

    placed = []
    for name, arr in named:
        if isinstance(arr, jax.core.Tracer) or not getattr(arr, "committed", False):
            continue
        placed.append((name, frozenset(arr.devices())))
    for name, devices in placed[1:]:
        first_name, first = placed[0]
        if devices != first:
            msg = (
                f"{first_name} and {name} must live on the same device(s); got {first_name} on "
                f"{sorted(map(str, first))} and {name} on {sorted(map(str, devices))} "
                "(move one with jax.device_put)"
            )
            raise ValueError(msg)


def signature_combine(
    sig1: Array,
    sig2: Array,
    channels: int,
    depth: int,
    *,
    inverse: bool = False,
    scalar_term: bool = False,
    xp: Namespace | None = None,
) -> Array:
    """The signature of two paths joined end to end, by Chen's identity ``sig1 ⊗ sig2``.

    Parameters
    ----------
    sig1, sig2 : array of shape (..., sigdim)
        Signatures of a path and of its continuation (compute ``sig2`` with
        ``basepoint`` set to the last point of the first path, or the join
        misses the step between them). Leading dimensions broadcast; ``sig2``
        is converted to ``sig1``'s dtype. A NumPy array beside another
        library's is converted to that library (and device); arrays of two
        other libraries are a TypeError naming ``sig2``.
    channels : int
        Number of channels ``d`` of the paths.
    depth : int
        Depth ``N`` of both signatures.
    inverse : bool, default False
        Whether both are inverse signatures (``signature(..., inverse=True)``);
        the result is then the inverse signature of the joined path,
        ``sig2 ⊗ sig1``.
    scalar_term : bool, default False
        Whether both include the scalar term, which the result then includes
        too. Scalar terms are taken to be 1, as for every signature.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``sig1``.

    Returns
    -------
    array
        The signature of the joined path, shape ``(broadcast batch, sigdim)``.

    Raises
    ------
    ValueError
        If a last axis does not have the size of a signature with ``channels``
        and ``depth``, or the batch shapes do not broadcast.

    See Also
    --------
    multi_signature_combine : any number of signatures, as a log-depth tree.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> first = keras_sig.signature(path[:2], 3)
    >>> rest = keras_sig.signature(path[2:], 3, basepoint=path[1])
    >>> np.allclose(keras_sig.signature_combine(first, rest, 2, 3), keras_sig.signature(path, 3))
    True
    """
    channels, depth = check_channels_depth(channels, depth)
    inverse = check_bool("inverse", inverse)
    scalar_term = check_bool("scalar_term", scalar_term)
    (a, b), xp, batch = _signatures([("sig1", sig1), ("sig2", sig2)], channels, depth, scalar_term, xp)
    return _combine(xp, [b, a] if inverse else [a, b], channels, depth, scalar_term=scalar_term, batch=batch)


def multi_signature_combine(
    sigs: Sequence[Array],
    channels: int,
    depth: int,
    *,
    inverse: bool = False,
    scalar_term: bool = False,
    xp: Namespace | None = None,
) -> Array:
    """The signature of several paths joined end to end: ``sigs[0] ⊗ sigs[1] ⊗ ...``.

    The product is taken as a balanced tree (``ceil(log2(len(sigs)))`` rounds,
    each over all pairs at once), not one factor after another.

    Parameters
    ----------
    sigs : list or tuple of arrays of shape (..., sigdim)
        Signatures of consecutive pieces of a path (each computed with the
        previous piece's last point as ``basepoint``), as in
        ``signatory.multi_signature_combine``. Leading dimensions broadcast;
        all are converted to the first one's dtype. NumPy arrays are converted
        to the library of the first that is not one (as in
        :func:`signature_combine`).
    channels : int
        Number of channels ``d`` of the paths.
    depth : int
        Depth ``N`` of the signatures.
    inverse : bool, default False
        Whether all are inverse signatures; the result is then the inverse
        signature of the joined path (the product in reverse order).
    scalar_term : bool, default False
        As in :func:`signature_combine`.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``sigs[0]``.

    Returns
    -------
    array
        The signature of the joined path, shape ``(broadcast batch, sigdim)``.

    Raises
    ------
    TypeError
        If ``sigs`` is not a list or tuple (an array of stacked signatures is
        refused: pass ``list(...)`` of its entries).
    ValueError
        If ``sigs`` is empty, a last axis has the wrong size, or the batch
        shapes do not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.cumsum(np.ones((7, 2)), axis=0) ** 2
    >>> pieces = [keras_sig.signature(path[:3], 3)] + [
    ...     keras_sig.signature(path[i : i + 2], 3, basepoint=path[i - 1]) for i in (3, 5)
    ... ]
    >>> np.allclose(keras_sig.multi_signature_combine(pieces, 2, 3), keras_sig.signature(path, 3))
    True
    """
    channels, depth = check_channels_depth(channels, depth)
    inverse = check_bool("inverse", inverse)
    scalar_term = check_bool("scalar_term", scalar_term)
    if is_array(sigs) or not isinstance(sigs, (list, tuple)):
        msg = f"sigs must be a list or tuple of signature arrays; got {type(sigs).__name__}"
        raise TypeError(msg)
    if not sigs:
        msg = "sigs must hold at least one signature; got an empty sequence"
        raise ValueError(msg)
    named = [(f"sigs[{i}]", s) for i, s in enumerate(sigs)]
    arrays, xp, batch = _signatures(named, channels, depth, scalar_term, xp)
    return _combine(
        xp, arrays[::-1] if inverse else arrays, channels, depth, scalar_term=scalar_term, batch=batch
    )


def _combine(
    xp: Namespace,
    arrays: list[Array],
    channels: int,
    depth: int,
    *,
    scalar_term: bool,
    batch: tuple[Any, ...],
) -> Array:
    size = sigdim(channels, depth) + int(scalar_term)
    if len(arrays) == 1:
        return arrays[0]
    if len(arrays) > 2 and not is_dask_array(arrays[0]):
        arrays = [a if tuple(a.shape[:-1]) == batch else xp.broadcast_to(a, (*batch, size)) for a in arrays]
    return apply_pipeline(
        _algebra.combine_flat, xp, arrays, size=size, channels=channels, depth=depth, scalar_term=scalar_term
    )


def signature_inverse(
    sig: Array, channels: int, depth: int, *, scalar_term: bool = False, xp: Namespace | None = None
) -> Array:
    """The inverse of a signature in the tensor algebra: the signature of the reversed path.

    Parameters
    ----------
    sig : array of shape (..., sigdim)
        Signatures, any leading dimensions.
    channels : int
        Number of channels ``d`` of the paths.
    depth : int
        Depth ``N`` of ``sig``.
    scalar_term : bool, default False
        Whether ``sig`` includes the scalar term (the result then does too).
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``sig``.

    Returns
    -------
    array
        Same shape as ``sig``: level ``k`` with every word reversed, times
        ``(-1)**k`` (the antipode), so that
        ``signature_combine(sig, signature_inverse(sig), ...)`` is the identity
        (all zeros but the scalar term).

    Raises
    ------
    ValueError
        If the last axis of ``sig`` has the wrong size.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> inv = keras_sig.signature_inverse(keras_sig.signature(path, 3), 2, 3)
    >>> np.allclose(inv, keras_sig.signature(path[::-1], 3))
    True
    """
    channels, depth = check_channels_depth(channels, depth)
    scalar_term = check_bool("scalar_term", scalar_term)
    (sig,), xp, _ = _signatures([("sig", sig)], channels, depth, scalar_term, xp)
    return apply_pipeline(
        _algebra.inverse_flat,
        xp,
        [sig],
        size=sig.shape[-1],
        channels=channels,
        depth=depth,
        scalar_term=scalar_term,
    )


def extract_signature_term(
    sig: Array,
    channels: int,
    depth: int,
    level: int,
    *,
    scalar_term: bool = False,
    xp: Namespace | None = None,
) -> Array:
    """One level of a signature: the coefficients of the words of length ``level``.

    Parameters
    ----------
    sig : array of shape (..., sigdim)
        Signatures (or ``"expand"`` log-signatures), any leading dimensions.
    channels : int
        Number of channels ``d``.
    depth : int
        Depth ``N`` of ``sig``.
    level : int
        Which level, ``1 <= level <= depth``.
    scalar_term : bool, default False
        Whether ``sig`` includes the scalar term.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``sig``.

    Returns
    -------
    array
        Shape ``(..., channels**level)``, words in row-major order (a view
        where the library has views).

    Raises
    ------
    ValueError
        If ``level`` is out of range or the last axis of ``sig`` has the wrong
        size.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> keras_sig.extract_signature_term(keras_sig.signature(path, 3), 2, 3, 2)
    array([0.5, 1. , 0. , 0.5])
    """
    channels, depth = check_channels_depth(channels, depth)
    level = check_int("level", level, minimum=1)
    if level > depth:
        msg = f"level must be between 1 and depth={depth}; got {level}"
        raise ValueError(msg)
    scalar_term = check_bool("scalar_term", scalar_term)
    (sig,), _, _ = _signatures([("sig", sig)], channels, depth, scalar_term, xp)
    start = sigdim(channels, level - 1) + int(scalar_term)
    return sig[..., start : start + channels**level]
