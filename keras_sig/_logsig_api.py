"""Public log-signature functions: docstrings, validation, dispatch.

The algorithms live in :mod:`keras_sig._core._logsig` (tensor log and exp,
coordinates) and :mod:`keras_sig._core._words` (Lyndon words and brackets);
the signature itself comes from the validated twin :func:`keras_sig._api._signature`.
On JAX each function runs as one compiled call per shape and option set;
TensorFlow work runs on the input's device; dask arrays are processed lazily,
block by block.
"""

from __future__ import annotations

from keras_sig import _api
from keras_sig._core import _logsig, _words
from keras_sig._core._algebra import sigdim
from keras_sig._lib._namespace import is_dask_array
from keras_sig._lib._pipeline import apply_pipeline, run_pipeline
from keras_sig._lib._typing import Array, Method, Namespace
from keras_sig._lib._validation import (
    as_float_array,
    check_bool,
    check_channels_depth,
    check_choice,
    check_last_axis,
    signature_what,
)

__all__ = ["MODES", "logsignature", "logsignature_to_signature", "signature_to_logsignature"]

MODES = _logsig.MODES
"""The values ``mode=`` accepts: ``"words"``, ``"brackets"``, ``"expand"``."""


def _size(channels: int, depth: int, mode: str) -> int:
    """Size of the last axis of a log-signature in ``mode``."""
    return sigdim(channels, depth) if mode == "expand" else _words.logsigdim(channels, depth)


def _logsignature_impl(
    path: Array,
    basepoint: Array | None,
    initial: Array | None,
    *,
    depth: int,
    mode: str,
    stream: bool,
    inverse: bool,
    method: str,
    for_gradient: bool,
    xp: Namespace,
    consts: _logsig.Constants,
) -> Array:
    """The log-signature of a path from :func:`keras_sig._api.prepare_path`: one compiled call on JAX."""
    sig = _api._signature(
        path,
        depth,
        xp=xp,
        stream=stream,
        basepoint=basepoint,
        initial=initial,
        inverse=inverse,
        method=method,
        for_gradient=for_gradient,
    )
    return _logsig.logsignature_from_signature(sig, path.shape[-1], depth, mode, xp=xp, consts=consts)


def logsignature(
    path: Array,
    depth: int,
    *,
    mode: str = "words",
    stream: bool = False,
    basepoint: bool | Array = False,
    initial: Array | None = None,
    inverse: bool = False,
    lengths: Array | None = None,
    method: Method = "auto",
    xp: Namespace | None = None,
) -> Array:
    """Truncated log-signature of a piecewise-linear path.

    The logarithm, in the truncated tensor algebra, of :func:`keras_sig.signature`:
    a Lie element, presented in the coordinates ``mode`` names.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        As in :func:`keras_sig.signature`.
    depth : int
        Truncation depth ``N >= 1``.
    mode : {"words", "brackets", "expand"}, default "words"
        ``"words"``: the coefficients of the Lyndon words in the expanded
        logarithm (signatory's default; signax's output). ``"brackets"``: the
        coordinates in the Lyndon bracket basis (:func:`lyndon_brackets`;
        iisignature's ``logsig`` default). ``"expand"``: the whole logarithm,
        laid out like a signature. Both Lyndon modes are ordered as
        :func:`lyndon_words`; the change between them is exact and linear.
    stream : bool, default False
        Return the log-signature of every prefix: entry ``t`` along the
        second-to-last axis is that of ``path[..., :t+2, :]``.
    basepoint : bool or array of shape (..., channels), default False
        As in :func:`keras_sig.signature`.
    initial : array of shape (..., sigdim), optional
        A *signature* to continue from, as in :func:`keras_sig.signature` (the
        result is the log-signature of the concatenated path).
    inverse : bool, default False
        The log-signature of the inverse signature (of the reversed path),
        which is minus the log-signature.
    lengths : int array of shape (...), optional
        The number of points of each series of a ragged batch, as in
        :func:`keras_sig.signature`.
    method : {"auto", "sequential", "parallel", ...}, default "auto"
        How the signature is computed (see :func:`keras_sig.signature`).
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., logsigdim)`` (:func:`logsigdim`; ``sigdim`` in the
        ``"expand"`` mode), or ``(..., length - 1, logsigdim)`` with
        ``stream=True`` (``length`` entries with a basepoint). Same kind of
        array, dtype and device as ``path``.

    Raises
    ------
    TypeError
        As :func:`keras_sig.signature`.
    ValueError
        As :func:`keras_sig.signature`, and for an unknown ``mode``.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> keras_sig.logsignature(path, 2)  # words 0, 1 and 01: increment and Levy area
    array([1. , 1. , 0.5])
    >>> keras_sig.logsignature(path, 2, mode="expand")
    array([ 1. ,  1. ,  0. ,  0.5, -0.5,  0. ])
    >>> keras_sig.logsignature(path, 3, mode="brackets", stream=True).shape
    (2, 5)
    """
    path, depth, xp, bp, init = _api.prepare_path(
        path, depth, stream=stream, basepoint=basepoint, initial=initial, lengths=lengths, xp=xp
    )
    mode = check_choice("mode", mode, MODES)
    inverse = check_bool("inverse", inverse)
    chosen = check_choice("method", method, _api.METHODS)
    return _logsignature(
        path,
        depth,
        xp=xp,
        basepoint=bp,
        initial=init,
        mode=mode,
        stream=stream,
        inverse=inverse,
        method=chosen,
    )


def _logsignature(
    path: Array,
    depth: int,
    *,
    xp: Namespace,
    basepoint: Array | None = None,
    initial: Array | None = None,
    mode: str = "words",
    stream: bool = False,
    inverse: bool = False,
    method: str = "auto",
    for_gradient: bool = False,
) -> Array:
    """:func:`logsignature` of checked arguments (``path`` from :func:`keras_sig._api.prepare_path`)."""
    if is_dask_array(path):
        sig = _api._signature(
            path,
            depth,
            xp=xp,
            stream=stream,
            basepoint=basepoint,
            initial=initial,
            inverse=inverse,
            method=method,
        )
        return signature_to_logsignature(
            sig, path.shape[-1], depth, mode=mode, stream=stream
        )  # lazy, blockwise
    static = {"depth": depth, "mode": mode, "stream": stream, "inverse": inverse, "method": method}
    return run_pipeline(
        _logsignature_impl, xp, path, path, basepoint, initial, for_gradient=for_gradient, **static
    )


def signature_to_logsignature(
    sig: Array,
    channels: int,
    depth: int,
    *,
    mode: str = "words",
    stream: bool = False,
    scalar_term: bool = False,
    xp: Namespace | None = None,
) -> Array:
    """The log-signature of a signature: its tensor logarithm, in ``mode``'s coordinates.

    Parameters
    ----------
    sig : array of shape (..., sigdim)
        Signatures (any leading dimensions), as returned by
        :func:`keras_sig.signature`, or any group-like element of the truncated
        tensor algebra.
    channels : int
        Number of channels ``d`` of the paths.
    depth : int
        Depth ``N`` of ``sig``.
    mode : {"words", "brackets", "expand"}, default "words"
        As in :func:`logsignature`.
    stream : bool, default False
        Whether ``sig`` is a stream of signatures ``(..., length, sigdim)``
        (``signature(..., stream=True)``). Leading dimensions are batch
        dimensions either way; with ``stream=True`` the rank must be at least 2.
    scalar_term : bool, default False
        Whether ``sig`` includes the scalar term (size ``sigdim + 1``).
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``sig``.

    Returns
    -------
    array
        Shape ``(..., logsigdim)`` (``sigdim`` in the ``"expand"`` mode, never
        with a scalar term: the logarithm's is 0).

    Raises
    ------
    ValueError
        If the last axis of ``sig`` does not have the size of a signature with
        ``channels`` and ``depth``, or ``mode`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> sig = keras_sig.signature(path, 3)
    >>> np.allclose(keras_sig.signature_to_logsignature(sig, 2, 3), keras_sig.logsignature(path, 3))
    True
    """
    channels, depth = check_channels_depth(channels, depth)
    mode = check_choice("mode", mode, MODES)
    stream = check_bool("stream", stream)
    scalar_term = check_bool("scalar_term", scalar_term)
    sig, xp = as_float_array("sig", sig, xp)
    size = sigdim(channels, depth) + int(scalar_term)
    check_last_axis(
        "sig", sig, size, signature_what(channels, depth, scalar_term), min_rank=2 if stream else 1
    )
    return apply_pipeline(
        _logsig.to_logsignature,
        xp,
        [sig],
        size=_size(channels, depth, mode),
        channels=channels,
        depth=depth,
        mode=mode,
        scalar_term=scalar_term,
    )


def logsignature_to_signature(
    logsig: Array,
    channels: int,
    depth: int,
    *,
    mode: str = "words",
    scalar_term: bool = False,
    xp: Namespace | None = None,
) -> Array:
    """The signature of a log-signature: the tensor exponential of the Lie element.

    Parameters
    ----------
    logsig : array of shape (..., logsigdim)
        Log-signatures in ``mode``'s coordinates (any leading dimensions);
        ``(..., sigdim)`` in the ``"expand"`` mode. Any coordinates are
        accepted: every vector is the log-signature of some path.
    channels : int
        Number of channels ``d``.
    depth : int
        Truncation depth ``N``.
    mode : {"words", "brackets", "expand"}, default "words"
        The coordinates of ``logsig`` (see :func:`logsignature`).
    scalar_term : bool, default False
        Prepend the scalar term 1 to the result.
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``logsig``.

    Returns
    -------
    array
        Shape ``(..., sigdim)`` (``sigdim + 1`` with ``scalar_term``), laid out
        as :func:`keras_sig.signature`.

    Raises
    ------
    ValueError
        If the last axis of ``logsig`` does not have the size of a
        log-signature with ``channels``, ``depth`` and ``mode``, or ``mode`` is
        unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> logsig = keras_sig.logsignature(path, 3, mode="brackets")
    >>> sig = keras_sig.logsignature_to_signature(logsig, 2, 3, mode="brackets")
    >>> np.allclose(sig, keras_sig.signature(path, 3))
    True
    """
    channels, depth = check_channels_depth(channels, depth)
    mode = check_choice("mode", mode, MODES)
    scalar_term = check_bool("scalar_term", scalar_term)
    logsig, xp = as_float_array("logsig", logsig, xp)
    what = f'a "{mode}" log-signature with channels={channels}, depth={depth}'
    check_last_axis("logsig", logsig, _size(channels, depth, mode), what)
    return apply_pipeline(
        _logsig.to_signature,
        xp,
        [logsig],
        size=sigdim(channels, depth) + int(scalar_term),
        channels=channels,
        depth=depth,
        mode=mode,
        scalar_term=scalar_term,
    )
