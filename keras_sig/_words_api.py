"""Public combinatorics of the log-signature: its size, the Lyndon words and brackets, all words.

Computed on the host by :mod:`keras_sig._core._words` (cached), with the size guard first.
"""

from __future__ import annotations

from typing import Any

from keras_sig._core import _words
from keras_sig._lib._sizes import check_lyndon_count, check_signature_size
from keras_sig._lib._validation import check_channels_depth

__all__ = ["all_words", "logsigdim", "lyndon_brackets", "lyndon_words"]


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
    channels, depth = check_channels_depth(channels, depth)
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
    channels, depth = check_channels_depth(channels, depth)
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
    channels, depth = check_channels_depth(channels, depth)
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
    channels, depth = check_channels_depth(channels, depth)
    check_signature_size(channels, depth, factor=depth, what="the list of words (their letters)")
    return list(_words.all_words(channels, depth))
