"""Public log-signature and tensor-algebra functions: docstrings, validation, dispatch.

The algorithms live in :mod:`keras_sig._core._logsig` (tensor log and exp,
coordinates) and :mod:`keras_sig._core._words` (Lyndon words and brackets); the
signature itself comes from :func:`keras_sig.signature`. On JAX each function
runs as one compiled call per shape and option set; TensorFlow work runs on the
input's device; dask arrays are processed lazily, block by block.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from keras_sig import _api
from keras_sig._api import (
    METHODS,
    as_array,
    basepoint_array,
    check_bool,
    check_choice,
    check_int,
    check_path,
    choose_method,
    companion,
    floating,
    held_path,
    initial_array,
    shape_text,
)
from keras_sig._core import _logsig, _words
from keras_sig._core import _signature as _sig
from keras_sig._core._algebra import antipode, chen, chen_tree, concat_levels, split_levels
from keras_sig._lib._backends import (
    array_namespace,
    device_of,
    is_array,
    is_jax_namespace,
    is_torch_namespace,
    jax_jit,
    placed_like,
)
from keras_sig._lib._dask import is_dask_array
from keras_sig._lib._sizes import check_lyndon_count, check_path_size, check_signature_size
from keras_sig._lib._typing import Array, Method, Namespace

__all__ = [
    "MODES",
    "all_words",
    "extract_signature_term",
    "logsigdim",
    "logsignature",
    "logsignature_to_signature",
    "lyndon_brackets",
    "lyndon_words",
    "multi_signature_combine",
    "signature_combine",
    "signature_inverse",
    "signature_to_logsignature",
]

MODES = _logsig.MODES
"""The values ``mode=`` accepts: ``"words"``, ``"brackets"``, ``"expand"``."""


# --------------------------------------------------------------------------- helpers


def _channels_depth(channels: Any, depth: Any) -> tuple[int, int]:
    return check_int("channels", channels, minimum=1), check_int("depth", depth, minimum=1)


def _sigdim(channels: int, depth: int) -> int:
    return _sig.sigdim(channels, depth)


def _size(channels: int, depth: int, mode: str) -> int:
    """Size of the last axis of a log-signature in ``mode``."""
    return _sigdim(channels, depth) if mode == "expand" else _words.logsigdim(channels, depth)


def _check_last(name: str, x: Array, size: int, what: str, *, min_rank: int = 1) -> None:
    """``x`` must have shape ``(..., size)`` (rank at least ``min_rank``)."""
    shape = tuple(x.shape)
    if len(shape) < min_rank or shape[-1] != size:
        lead = "..., length, " if min_rank > 1 else "..., "
        msg = f"{name} must have shape ({lead}{size}) for {what}; got {shape_text(shape)}"
        raise ValueError(msg)


def _sig_what(channels: int, depth: int, scalar_term: bool) -> str:
    text = f"a signature with channels={channels}, depth={depth}"
    return text + (" and its scalar term" if scalar_term else "")


def _first(name: str, value: Any, xp: Namespace | None) -> tuple[Array, Namespace]:
    arr, xp = as_array(name, value, xp)
    return floating(name, arr, xp), xp


def _another(name: str, value: Any, like: Array, like_name: str, xp: Namespace) -> Array:
    """A further array argument, in ``like``'s namespace and dtype (the rule of :func:`companion`)."""
    return companion(name, value, like, xp, like_name=like_name)


def _broadcast_batch(named: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[Any, ...]:
    """The common batch shape of ``(name, batch shape)`` pairs, or a ValueError naming them."""
    out: list[Any] = []
    for index, (name, shape) in enumerate(named):
        ok = True
        merged = []
        for a, b in _zip_right(tuple(out), shape):
            if a is None or a == 1:
                merged.append(b)
            elif b is None or b in (1, a):
                merged.append(a)
            else:
                ok = False
                break
        if not ok:
            before = named[0][0] if index == 1 else f"{named[0][0]} to {named[index - 1][0]}"
            msg = (
                f"{name} has batch shape {shape_text(shape)}, which does not broadcast with "
                f"{before}'s {shape_text(tuple(out))}: the leading dimensions must be equal or 1"
            )
            raise ValueError(msg)
        out = merged
    return tuple(out)


def _zip_right(a: tuple[Any, ...], b: tuple[Any, ...]) -> list[tuple[Any, Any]]:
    n = max(len(a), len(b))
    pad_a = (1,) * (n - len(a)) + a
    pad_b = (1,) * (n - len(b)) + b
    return list(zip(pad_a, pad_b, strict=True))


def _run(fn: Callable[..., Array], xp: Namespace, like: Array, *arrays: Any, **static: Any) -> Array:
    """``fn(*arrays, xp=xp, consts=..., **static)``: compiled once per option set on JAX.

    TensorFlow runs it on ``like``'s device (TF would pick a GPU); elsewhere the
    constants are made on ``like``'s device, and kept between calls where the
    code runs eagerly.
    """
    if is_jax_namespace(xp):
        compiled = jax_jit(fn, (*sorted(static), "xp", "consts"))
        return compiled(*arrays, xp=xp, consts=_logsig.Constants(xp), **static)
    adapter = getattr(xp, "_keras_sig_adapter", False)
    consts = _logsig.Constants(xp, device_of(like, xp), keep=not adapter and _eager(xp))
    with placed_like(like, xp):
        return fn(*arrays, xp=xp, consts=consts, **static)


def _eager(xp: Namespace) -> bool:
    """Whether arrays made now may be kept for later calls (not under torch.compile or inference mode)."""
    if not is_torch_namespace(xp):
        return True
    torch = sys.modules["torch"]
    return not (torch.compiler.is_compiling() or torch.is_inference_mode_enabled())


def _apply(
    fn: Callable[..., Array], xp: Namespace, arrays: Sequence[Array], *, size: int, **static: Any
) -> Array:
    """:func:`_run` on ``arrays``, or, for dask arrays, lazily on their blocks.

    Dask: ``fn`` runs on the NumPy (or CuPy) blocks, one batch chunk at a time;
    the last axis is a single chunk, the leading axes are broadcast and chunked
    like the first array's, and ``size`` is the output's last axis.
    """
    if not is_dask_array(arrays[0]):
        return _run(fn, xp, arrays[0], *arrays, **static)
    import dask.array as da

    batch = _broadcast_batch([("", tuple(a.shape[:-1])) for a in arrays])
    full = [da.broadcast_to(a, (*batch, a.shape[-1])) for a in arrays]
    full = [a.rechunk({a.ndim - 1: -1}) for a in full]
    chunks = full[0].chunks[:-1]
    full = [full[0]] + [a.rechunk((*chunks, a.shape[-1])) for a in full[1:]]

    def block(*blocks: Array) -> Array:
        return _run(fn, array_namespace(*blocks), blocks[0], *blocks, **static)

    return da.map_blocks(block, *full, chunks=(*chunks, (size,)), dtype=full[0].dtype, meta=full[0]._meta)


def _with_scalar(x: Array, scalar_term: bool, *, xp: Namespace) -> Array:
    return xp.concat([xp.ones_like(x[..., :1]), x], axis=-1) if scalar_term else x


def _strip(x: Array, scalar_term: bool) -> Array:
    return x[..., 1:] if scalar_term else x


# --------------------------------------------------------------------------- core pipelines


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
    xp: Namespace,
    consts: _logsig.Constants,
) -> Array:
    sig = _api.signature(
        path,
        depth,
        stream=stream,
        basepoint=False if basepoint is None else basepoint,
        initial=initial,
        inverse=inverse,
        method=method,  # type: ignore[arg-type]
    )  # ``path`` is already ``xp``'s: the signature finds ``xp`` again, cheaply
    return _logsig.logsignature_from_signature(sig, path.shape[-1], depth, mode, xp=xp, consts=consts)


def _to_logsignature_impl(
    sig: Array,
    *,
    channels: int,
    depth: int,
    mode: str,
    scalar_term: bool,
    xp: Namespace,
    consts: _logsig.Constants,
) -> Array:
    return _logsig.logsignature_from_signature(
        _strip(sig, scalar_term), channels, depth, mode, xp=xp, consts=consts
    )


def _to_signature_impl(
    logsig: Array,
    *,
    channels: int,
    depth: int,
    mode: str,
    scalar_term: bool,
    xp: Namespace,
    consts: _logsig.Constants,
) -> Array:
    sig = _logsig.signature_from_logsignature(logsig, channels, depth, mode, xp=xp, consts=consts)
    return _with_scalar(sig, scalar_term, xp=xp)


def _combine_impl(
    *sigs: Array, channels: int, depth: int, scalar_term: bool, xp: Namespace, consts: _logsig.Constants
) -> Array:
    del consts
    levels = [split_levels(_strip(s, scalar_term), channels, depth) for s in sigs]
    if len(levels) == 2:
        out = chen(levels[0], levels[1], xp=xp)
    else:
        stacked = xp.stack([_strip(s, scalar_term) for s in sigs], axis=-2)
        out = chen_tree(split_levels(stacked, channels, depth), xp=xp)
    return _with_scalar(concat_levels(out, xp=xp), scalar_term, xp=xp)


def _inverse_impl(
    sig: Array, *, channels: int, depth: int, scalar_term: bool, xp: Namespace, consts: _logsig.Constants
) -> Array:
    del consts
    out = concat_levels(
        antipode(split_levels(_strip(sig, scalar_term), channels, depth), channels, xp=xp), xp=xp
    )
    return xp.concat([sig[..., :1], out], axis=-1) if scalar_term else out


# --------------------------------------------------------------------------- combinatorics


def logsigdim(channels: int, depth: int) -> int:
    """Size of the last axis of a log-signature in the ``"words"`` or ``"brackets"`` mode.

    Parameters
    ----------
    channels : int
        Number of channels ``d`` of the path (``>= 1``).
    depth : int
        Truncation depth ``N`` (``>= 1``).

    Returns
    -------
    int
        The number of Lyndon words of length ``1..N`` over ``d`` letters
        (Witt's formula ``sum_k (1/k) sum_{j | k} mu(k/j) d**j``), which is the
        dimension of the free Lie algebra truncated at depth ``N``. In the
        ``"expand"`` mode a log-signature has :func:`keras_sig.sigdim` entries.

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.logsigdim(2, 3)
    5
    >>> keras_sig.logsigdim(5, 4)
    205
    """
    channels, depth = _channels_depth(channels, depth)
    return _words.logsigdim(channels, depth)


def lyndon_words(channels: int, depth: int) -> list[tuple[int, ...]]:
    """The Lyndon words that index the ``"words"`` and ``"brackets"`` coordinates.

    A Lyndon word is strictly smaller, lexicographically, than each of its proper
    rotations (equivalently, than each of its proper suffixes).

    Parameters
    ----------
    channels : int
        Size of the alphabet: letters are ``0, ..., channels - 1``.
    depth : int
        Longest word length.

    Returns
    -------
    list of tuple of int
        Every Lyndon word of length ``1..depth``, ordered by length, then
        lexicographically: entry ``i`` labels coordinate ``i`` of a
        log-signature (the same list as ``signatory.lyndon_words``).

    Raises
    ------
    ValueError
        If there would be more than :func:`keras_sig.get_max_size` words
        (refused before any is made).

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.lyndon_words(2, 3)
    [(0,), (1,), (0, 1), (0, 0, 1), (0, 1, 1)]
    """
    channels, depth = _channels_depth(channels, depth)
    check_lyndon_count(channels, depth, "the list of Lyndon words")
    return list(_words.lyndon_words(channels, depth))


def lyndon_brackets(channels: int, depth: int) -> list[int | tuple[Any, Any]]:
    """The Lyndon basis of the free Lie algebra: the basis of the ``"brackets"`` mode.

    Parameters
    ----------
    channels : int
        Size of the alphabet: letters are ``0, ..., channels - 1``.
    depth : int
        Longest bracket length.

    Returns
    -------
    list
        The standard bracketing of each of :func:`lyndon_words`, in the same
        order. A letter is an ``int``; the Lie bracket ``[a, b] = ab - ba`` is
        the pair ``(a, b)``, nested: ``(0, (0, 1))`` is ``[0, [0, 1]]``. The
        standard bracketing of a Lyndon word ``w = uv``, where ``v`` is its
        longest proper suffix that is a Lyndon word, is ``[P(u), P(v)]`` (as in
        iisignature's ``basis``, whose letters count from 1).

    Raises
    ------
    ValueError
        If there would be more than :func:`keras_sig.get_max_size` brackets
        (refused before any is made).

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.lyndon_brackets(2, 3)
    [0, 1, (0, 1), (0, (0, 1)), ((0, 1), 1)]
    """
    channels, depth = _channels_depth(channels, depth)
    check_lyndon_count(channels, depth, "the list of Lyndon brackets")
    return list(_words.lyndon_brackets(channels, depth))


def all_words(channels: int, depth: int) -> list[tuple[int, ...]]:
    """The words that index a signature's entries.

    Parameters
    ----------
    channels : int
        Size of the alphabet: letters are ``0, ..., channels - 1``.
    depth : int
        Longest word length.

    Returns
    -------
    list of tuple of int
        Every word of length ``1..depth`` in signature order (by length, then
        lexicographically): entry ``i`` labels entry ``i`` of a signature
        without scalar term, and of an ``"expand"`` log-signature.

    Raises
    ------
    ValueError
        If there would be more than :func:`keras_sig.get_max_size` letters in all
        (refused before any is made).

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.all_words(2, 2)
    [(0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1)]
    """
    channels, depth = _channels_depth(channels, depth)
    check_signature_size(channels, depth, factor=depth, what="the list of words (their letters)")
    return list(_words.all_words(channels, depth))


# --------------------------------------------------------------------------- log-signatures


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
    path, xp = _first("path", path, xp)
    depth = check_int("depth", depth, minimum=1)
    mode = check_choice("mode", mode, MODES)
    stream = check_bool("stream", stream)
    inverse = check_bool("inverse", inverse)
    chosen = check_choice("method", method, METHODS)
    _, channels = check_path(path)
    check_path_size(path.shape, depth, stream=stream, basepoint=basepoint)
    bp = basepoint_array(basepoint, path, xp)
    init = initial_array(initial, path, depth, xp)
    path = held_path(path, lengths, xp)
    if chosen == "auto":
        chosen = choose_method(xp, path, depth=depth, stream=stream)
    if is_dask_array(path):
        sig = _api.signature(
            path,
            depth,
            stream=stream,
            basepoint=False if bp is None else bp,
            initial=init,
            inverse=inverse,
            method=chosen,  # type: ignore[arg-type]
        )
        return signature_to_logsignature(sig, channels, depth, mode=mode, stream=stream)  # lazy, blockwise
    return _run(
        _logsignature_impl,
        xp,
        path,
        path,
        bp,
        init,
        depth=depth,
        mode=mode,
        stream=stream,
        inverse=inverse,
        method=chosen,
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
    channels, depth = _channels_depth(channels, depth)
    mode = check_choice("mode", mode, MODES)
    stream = check_bool("stream", stream)
    scalar_term = check_bool("scalar_term", scalar_term)
    sig, xp = _first("sig", sig, xp)
    size = _sigdim(channels, depth) + int(scalar_term)
    _check_last("sig", sig, size, _sig_what(channels, depth, scalar_term), min_rank=2 if stream else 1)
    return _apply(
        _to_logsignature_impl,
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
    channels, depth = _channels_depth(channels, depth)
    mode = check_choice("mode", mode, MODES)
    scalar_term = check_bool("scalar_term", scalar_term)
    logsig, xp = _first("logsig", logsig, xp)
    what = f'a "{mode}" log-signature with channels={channels}, depth={depth}'
    _check_last("logsig", logsig, _size(channels, depth, mode), what)
    return _apply(
        _to_signature_impl,
        xp,
        [logsig],
        size=_sigdim(channels, depth) + int(scalar_term),
        channels=channels,
        depth=depth,
        mode=mode,
        scalar_term=scalar_term,
    )


# --------------------------------------------------------------------------- the group


def _signatures(
    named: Sequence[tuple[str, Any]], channels: int, depth: int, scalar_term: bool, xp: Namespace | None
) -> tuple[list[Array], Namespace, tuple[Any, ...]]:
    """Validated signature arguments in one namespace and dtype, and their common batch shape."""
    # The first array that is not NumPy's leads: NumPy arrays beside it are converted to its library.
    lead = 0
    if xp is None:
        lead = next((i for i, (_, v) in enumerate(named) if is_array(v) and type(v).__module__ != "numpy"), 0)
    first_name, first_value = named[lead]
    first, xp = _first(first_name, first_value, xp)
    arrays = [
        first if i == lead else _another(name, value, first, first_name, xp)
        for i, (name, value) in enumerate(named)
    ]
    size = _sigdim(channels, depth) + int(scalar_term)
    what = _sig_what(channels, depth, scalar_term)
    for (name, _), arr in zip(named, arrays, strict=True):
        _check_last(name, arr, size, what)
    if is_jax_namespace(xp):
        _check_jax_devices([(name, arr) for (name, _), arr in zip(named, arrays, strict=True)])
    batch = _broadcast_batch(
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
    channels, depth = _channels_depth(channels, depth)
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
    channels, depth = _channels_depth(channels, depth)
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
    size = _sigdim(channels, depth) + int(scalar_term)
    if len(arrays) == 1:
        return arrays[0]
    if len(arrays) > 2 and not is_dask_array(arrays[0]):
        arrays = [a if tuple(a.shape[:-1]) == batch else xp.broadcast_to(a, (*batch, size)) for a in arrays]
    return _apply(
        _combine_impl, xp, arrays, size=size, channels=channels, depth=depth, scalar_term=scalar_term
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
    channels, depth = _channels_depth(channels, depth)
    scalar_term = check_bool("scalar_term", scalar_term)
    (sig,), xp, _ = _signatures([("sig", sig)], channels, depth, scalar_term, xp)
    return _apply(
        _inverse_impl, xp, [sig], size=sig.shape[-1], channels=channels, depth=depth, scalar_term=scalar_term
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
    channels, depth = _channels_depth(channels, depth)
    level = check_int("level", level, minimum=1)
    if level > depth:
        msg = f"level must be between 1 and depth={depth}; got {level}"
        raise ValueError(msg)
    scalar_term = check_bool("scalar_term", scalar_term)
    (sig,), _, _ = _signatures([("sig", sig)], channels, depth, scalar_term, xp)
    start = _sigdim(channels, level - 1) + int(scalar_term)
    return sig[..., start : start + channels**level]
