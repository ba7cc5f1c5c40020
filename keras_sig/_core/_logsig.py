"""The tensor logarithm and exponential, and the coordinates of Lie elements.

Elements of the truncated tensor algebra are held as in
:mod:`keras_sig._core._algebra`: a tuple of levels ``(..., d**k)``. A group-like
element (a signature) has scalar term 1; a Lie element (a log-signature) has
scalar term 0. Both series are evaluated by a truncated Horner scheme, which
needs ``depth - 1`` products, each computing only the levels that can still
reach the result.

Coordinates (see :mod:`keras_sig._core._words`): ``"expand"`` is the flattened
tensor itself; ``"words"`` the coefficients of the Lyndon words in it;
``"brackets"`` the coordinates in the Lyndon bracket basis. Changes between them
are :class:`~keras_sig._core._blockmaps.BlockMap` objects (built in
:mod:`keras_sig._core._blockmaps`) applied by :func:`apply_block_map`: a few
gathers (``take``) and matrix products.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keras_sig._core import _blockmaps, _words
from keras_sig._core._algebra import concat_levels, outer, split_levels, with_scalar_term, without_scalar_term
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "MODES",
    "Constants",
    "apply_block_map",
    "from_coordinates",
    "log_at_lyndon_words",
    "logsignature_from_signature",
    "signature_from_logsignature",
    "tensor_exp",
    "tensor_log",
]

MODES = ("words", "brackets", "expand")


def _times(
    x: Sequence[Array], scalar: float, tail: Sequence[Array], top: int, *, xp: Namespace
) -> list[Array]:
    """Levels ``1..top`` of ``X ⊗ (scalar + T)``; ``X`` and ``T`` have scalar term 0.

    ``(X ⊗ (c + T))_k = c X_k + sum_{i=1}^{k-1} X_i ⊗ T_{k-i}``; ``tail`` holds at
    least ``T_1, ..., T_{top-1}``.
    """
    out = []
    for k in range(1, top + 1):
        term = x[k - 1] if scalar == 1 else x[k - 1] * scalar
        for i in range(1, k):
            term = term + outer(x[i - 1], tail[k - i - 1], xp=xp)
        out.append(term)
    return out


def _log_tail(levels: Sequence[Array], *, xp: Namespace) -> list[Array]:
    """Levels ``1..depth-1`` of ``Q_1``: ``log(1 + X) = X ⊗ (1 + Q_1)`` (see :func:`tensor_log`)."""
    depth = len(levels)
    tail: list[Array] = []
    for n in range(depth - 1, 0, -1):
        # Q_n's levels 1..depth-n are those of X ⊗ Q_{n+1}, Q_{n+1} = c_{n+1} + tail.
        tail = _times(levels, (-1) ** n / (n + 1), tail, depth - n, xp=xp)
    return tail


def tensor_log(levels: Sequence[Array], *, xp: Namespace) -> tuple[Array, ...]:
    """``log(1 + X)`` for ``X = levels`` (a group-like element without its scalar term 1).

    ``log(1 + X) = sum_n (-1)**(n+1) X**n / n``, by Horner's scheme:
    ``Q_N = c_N``, ``Q_n = c_n + X ⊗ Q_{n+1}`` with ``c_n = (-1)**(n+1) / n``, and
    the result is ``X ⊗ Q_1``. ``Q_n`` is multiplied by ``X`` ``n`` more times, so
    only its levels ``1..depth-n`` are formed.
    """
    return tuple(_times(levels, 1.0, _log_tail(levels, xp=xp), len(levels), xp=xp))


def log_at_lyndon_words(flat: Array, channels: int, depth: int, *, xp: Namespace, consts: Constants) -> Array:
    """The coefficients of the Lyndon words in ``log(1 + X)``, ``X = flat`` ``(..., sigdim)``.

    The last Horner step ``X ⊗ (1 + Q_1)`` is taken only at the Lyndon words
    ``w``: ``X[w] + sum_i X[w[:i]] * Q_1[w[i:]]``. All the ``X[w[:i]]`` are one
    gather from ``X``, all the ``Q_1[w[i:]]`` one from ``Q_1`` (flattened, each
    with a zero column for the splits past a word's end). The result is in
    Lyndon order: the ``"words"`` coordinates.
    """
    table = _words.lyndon_splits(channels, depth)
    out = xp.take(flat, consts.index(table.index), axis=-1)
    if depth == 1:
        return out
    zero = xp.zeros_like(flat[..., :1])
    x = xp.concat([flat, zero], axis=-1)
    q = xp.concat([*_log_tail(split_levels(flat, channels, depth), xp=xp), zero], axis=-1)
    shape = (*flat.shape[:-1], depth - 1, len(table.index))
    heads = xp.reshape(xp.take(x, consts.index(table.heads), axis=-1), shape)
    rests = xp.reshape(xp.take(q, consts.index(table.rests), axis=-1), shape)
    return out + xp.sum(heads * rests, axis=-2)


def tensor_exp(levels: Sequence[Array], *, xp: Namespace) -> tuple[Array, ...]:
    """``exp(L)`` without its scalar term 1, for ``L = levels`` (scalar term 0).

    ``exp(L) = 1 + L ⊗ (1 + L/2 ⊗ (1 + L/3 ⊗ (...)))``: ``Q_{N+1} = 1``,
    ``Q_n = 1 + (L ⊗ Q_{n+1}) / n`` and the result is ``Q_1``; only the levels of
    ``Q_n`` that can reach depth ``N`` (``1..N-n+1``) are formed.
    """
    depth = len(levels)
    tail: list[Array] = []
    for n in range(depth, 0, -1):
        tail = _times(levels, 1.0, tail, depth - n + 1, xp=xp)
        if n > 1:
            tail = [level / n for level in tail]
    return tuple(tail)


# --------------------------------------------------------------------------- coordinates


_KEPT: OrderedDict[tuple[Any, ...], tuple[Any, Array]] = OrderedDict()
_KEPT_MAX = 256


@dataclass(frozen=True)
class Constants:
    """Makes the constant arrays (indices, matrices) of one namespace on one device.

    ``device=None`` is the namespace's default (as inside ``jax.jit``). With
    ``keep`` an array is made once per table, dtype and device and reused: only
    for eager code, as a traced constant must not outlive its trace (the
    caller decides).
    """

    xp: Namespace
    device: Any = None
    keep: bool = False

    def index(self, data: Sequence[int]) -> Array:
        """``data`` as an array of the namespace's indexing dtype."""
        return self._make(data, None)

    def matrix(self, data: _blockmaps.Matrix, dtype: Any) -> Array:
        """The integer matrix ``data`` as a ``dtype`` array."""
        return self._make(data, dtype)

    def _make(self, data: Any, dtype: Any) -> Array:
        key = (id(data), id(self.xp), repr(dtype), repr(self.device))
        if self.keep:
            kept = _KEPT.get(key)
            if kept is not None and kept[0] is data:
                return kept[1]
        xp, device = self.xp, self.device
        if dtype is None:
            dtype = xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
        values = [list(row) for row in data] if data and isinstance(data[0], tuple) else list(data)
        array = (
            xp.asarray(values, dtype=dtype)
            if device is None
            else xp.asarray(values, dtype=dtype, device=device)
        )
        if self.keep:
            _KEPT[key] = (data, array)
            while len(_KEPT) > _KEPT_MAX:
                _KEPT.popitem(last=False)
        return array


def apply_block_map(x: Array, table: _blockmaps.BlockMap, *, xp: Namespace, consts: Constants) -> Array:
    """``table`` applied to the last axis of ``x`` (see :class:`~keras_sig._core._blockmaps.BlockMap`).

    The index and matrix constants come from ``consts``; matrices in ``x``'s dtype.
    """

    def gather(index: Sequence[int]) -> Array:
        return xp.take(x, consts.index(index), axis=-1)

    parts = []
    if table.direct:
        parts.append(gather(table.direct))
    for block in table.blocks:
        n_in, n_out = len(block.matrix), len(block.matrix[0])
        picked = gather(block.index)
        picked = xp.reshape(picked, (*picked.shape[:-1], block.count, n_in))
        matrix = consts.matrix(block.matrix, x.dtype)
        product = xp.matmul(picked, matrix)
        parts.append(xp.reshape(product, (*product.shape[:-2], block.count * n_out)))
    if table.zeros:
        parts.append(xp.zeros_like(x[..., :1]))
    joined = parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)
    if table.order is None:
        return joined
    return xp.take(joined, consts.index(table.order), axis=-1)


def from_coordinates(
    coords: Array, channels: int, depth: int, mode: str, *, xp: Namespace, consts: Constants
) -> Array:
    """The flattened Lie element ``(..., sigdim)`` whose ``mode`` coordinates are ``coords``."""
    if mode == "expand":
        return coords
    if mode == "words":
        coords = apply_block_map(
            coords, _blockmaps.words_to_brackets_map(channels, depth), xp=xp, consts=consts
        )
    return apply_block_map(coords, _blockmaps.lift_map(channels, depth), xp=xp, consts=consts)


def logsignature_from_signature(
    sig: Array, channels: int, depth: int, mode: str, *, xp: Namespace, consts: Constants
) -> Array:
    """``(..., sigdim)`` signature (no scalar term) to its log-signature in ``mode``."""
    if mode == "expand":
        return concat_levels(tensor_log(split_levels(sig, channels, depth), xp=xp), xp=xp)
    words = log_at_lyndon_words(sig, channels, depth, xp=xp, consts=consts)
    if mode == "words":
        return words
    return apply_block_map(words, _blockmaps.words_to_brackets_map(channels, depth), xp=xp, consts=consts)


def signature_from_logsignature(
    logsig: Array, channels: int, depth: int, mode: str, *, xp: Namespace, consts: Constants
) -> Array:
    """A log-signature in ``mode`` to its signature ``(..., sigdim)`` (no scalar term)."""
    flat = from_coordinates(logsig, channels, depth, mode, xp=xp, consts=consts)
    return concat_levels(tensor_exp(split_levels(flat, channels, depth), xp=xp), xp=xp)


def to_logsignature(
    sig: Array,
    *,
    channels: int,
    depth: int,
    mode: str,
    scalar_term: bool,
    xp: Namespace,
    consts: Constants,
) -> Array:
    """The log-signature of a flat signature (its scalar term dropped first with ``scalar_term``)."""
    return logsignature_from_signature(
        without_scalar_term(sig, scalar_term), channels, depth, mode, xp=xp, consts=consts
    )


def to_signature(
    logsig: Array,
    *,
    channels: int,
    depth: int,
    mode: str,
    scalar_term: bool,
    xp: Namespace,
    consts: Constants,
) -> Array:
    """The flat signature of a log-signature (with its scalar term with ``scalar_term``)."""
    sig = signature_from_logsignature(logsig, channels, depth, mode, xp=xp, consts=consts)
    return with_scalar_term(sig, scalar_term, xp=xp)
