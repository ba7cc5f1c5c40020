"""The changes of coordinates of Lie elements, as block-diagonal maps on arrays.

Lie elements are held in ``"words"``, ``"brackets"`` or ``"expand"``
coordinates (see :mod:`keras_sig._core._words`).

* Block structure: the changes are linear and keep the multiset of letters
  of every word, so they are block-diagonal by *anagram class* (the words
  with one multiset of letters).
* Patterns: relabelling a class's letters in increasing order (``{1, 4, 4}``
  to ``{0, 1, 1}``) keeps lexicographic order, Lyndon words and standard
  brackets, so a block depends only on the class's *pattern*, the
  multiplicities of its letters (``(1, 2)`` here).
* Exact: at most ``2**depth - 1`` patterns whatever the number of channels,
  each block computed once, in integers, and cached per ``(channels, depth)``.
* :class:`BlockMap`: such a map applied to arrays, the classes of one pattern
  gathered side by side into one matrix product.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from keras_sig._core._algebra import sigdim
from keras_sig._core._words import (
    Word,
    _is_lyndon,
    _memo,
    expand_bracket,
    lyndon_bracket,
    lyndon_words,
    position,
)

__all__ = [
    "Block",
    "BlockMap",
    "brackets_to_words_map",
    "lift_map",
    "words_to_brackets_map",
]


# --------------------------------------------------------------------------- patterns


def _multiset_permutations(letters: Word) -> Iterator[Word]:
    """Distinct permutations of the sorted ``letters``, in lexicographic order."""
    word = list(letters)
    while True:
        yield tuple(word)
        i = len(word) - 2
        while i >= 0 and word[i] >= word[i + 1]:
            i -= 1
        if i < 0:
            return
        j = len(word) - 1
        while word[j] <= word[i]:
            j -= 1
        word[i], word[j] = word[j], word[i]
        word[i + 1 :] = reversed(word[i + 1 :])


def _compositions(total: int) -> Iterator[tuple[int, ...]]:
    """Ordered tuples of positive integers summing to ``total``."""
    for cuts in itertools.product((False, True), repeat=total - 1):
        parts, run = [], 1
        for cut in cuts:
            if cut:
                parts.append(run)
                run = 1
            else:
                run += 1
        parts.append(run)
        yield tuple(parts)


Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class _Pattern:
    """The canonical anagram class of a pattern, with letters ``0..len(pattern)-1``."""

    words: tuple[Word, ...]  # every word of the class, lexicographic
    lyndon: tuple[Word, ...]  # its Lyndon words, lexicographic
    expand: Matrix  # (words x lyndon): coefficient of each word in each standard bracket
    to_words: Matrix  # (lyndon x lyndon): the Lyndon rows of ``expand`` (unitriangular)
    to_brackets: Matrix  # its exact inverse


def _inverse_unitriangular(matrix: Matrix) -> Matrix:
    """Exact inverse of a lower unitriangular integer matrix (forward substitution by rows)."""
    n = len(matrix)
    rows: list[list[int]] = []
    for i in range(n):
        row = [0] * n
        row[i] = 1
        for k in range(i):
            coeff = matrix[i][k]
            if coeff:
                row = [r - coeff * s for r, s in zip(row, rows[k], strict=True)]
        rows.append(row)
    return tuple(tuple(r) for r in rows)


@_memo
def _pattern(pattern: tuple[int, ...]) -> _Pattern:
    letters = tuple(letter for letter, count in enumerate(pattern) for _ in range(count))
    words = tuple(_multiset_permutations(letters))
    lyndon = tuple(w for w in words if _is_lyndon(w))
    expansions = [expand_bracket(lyndon_bracket(w)) for w in lyndon]
    expand = tuple(tuple(e.get(w, 0) for e in expansions) for w in words)
    to_words = tuple(tuple(e.get(w, 0) for e in expansions) for w in lyndon)
    for i, row in enumerate(to_words):  # P(w) = w + larger words (Reutenauer, Thm 5.1)
        if row[i] != 1 or any(row[i + 1 :]):
            msg = f"the bracket matrix of pattern {pattern} is not unitriangular"
            raise AssertionError(msg)
    return _Pattern(words, lyndon, expand, to_words, _inverse_unitriangular(to_words))


def _classes(channels: int, depth: int) -> Iterator[tuple[tuple[int, ...], list[tuple[int, ...]]]]:
    """Each pattern with the relabelling maps of its classes (the letters, increasing)."""
    for k in range(1, depth + 1):
        for pattern in _compositions(k):
            if len(pattern) <= channels:
                yield pattern, list(itertools.combinations(range(channels), len(pattern)))


# --------------------------------------------------------------------------- block maps


@dataclass(frozen=True)
class Block:
    """``count`` classes of one pattern: ``x[..., index]`` viewed ``(..., count, n_in)``, times ``matrix``.

    ``matrix`` is ``(n_in, n_out)`` (already transposed for ``x @ matrix``).
    """

    count: int
    index: tuple[int, ...]
    matrix: Matrix


@dataclass(frozen=True)
class BlockMap:
    """A linear map ``(..., size_in) -> (..., size_out)``, block-diagonal up to a permutation.

    Applied as: ``parts = [x[..., direct]] + [x[..., b.index] @ b.matrix per block]``
    (each block's result flattened), a zero column if ``zeros``, all concatenated,
    then ``out = joined[..., order]`` (skipped when ``order`` is the identity).
    """

    size_in: int
    size_out: int
    direct: tuple[int, ...]
    blocks: tuple[Block, ...]
    zeros: bool
    order: tuple[int, ...] | None


def _transpose(matrix: Matrix) -> Matrix:
    return tuple(zip(*matrix, strict=True)) if matrix else ()


def _is_identity(matrix: Matrix) -> bool:
    return all(len(row) == len(matrix) for row in matrix) and all(
        v == (i == j) for i, row in enumerate(matrix) for j, v in enumerate(row)
    )


def _build(
    size_in: int,
    size_out: int,
    pieces: list[tuple[Matrix, list[tuple[list[int], list[int]]]]],
    zero_outputs: list[int],
) -> BlockMap:
    """A :class:`BlockMap` from ``(matrix (n_out x n_in), [(inputs, outputs) per class])`` pieces."""
    direct_in: list[int] = []
    direct_out: list[int] = []
    blocks: list[Block] = []
    block_out: list[int] = []
    for matrix, classes in pieces:
        if _is_identity(matrix):
            for inputs, outputs in classes:
                direct_in += inputs
                direct_out += outputs
            continue
        blocks.append(Block(len(classes), tuple(i for c in classes for i in c[0]), _transpose(matrix)))
        block_out += [o for c in classes for o in c[1]]
    # Direct entries in output order, so that a map made only of them needs no final permutation.
    pairs = sorted(zip(direct_out, direct_in, strict=True))
    direct_out = [o for o, _ in pairs]
    direct_in = [i for _, i in pairs]
    joined = direct_out + block_out
    order = [0] * size_out
    for slot, out in enumerate(joined):
        order[out] = slot
    zero_slot = len(joined)
    for out in zero_outputs:
        order[out] = zero_slot
    identity = order == list(range(size_out))
    return BlockMap(
        size_in,
        size_out,
        tuple(direct_in),
        tuple(blocks),
        bool(zero_outputs),
        None if identity else tuple(order),
    )


def _lyndon_positions(channels: int, depth: int) -> dict[Word, int]:
    return {w: i for i, w in enumerate(lyndon_words(channels, depth))}


@_memo
def words_to_brackets_map(channels: int, depth: int) -> BlockMap:
    """From ``"words"`` to ``"brackets"`` coordinates (both in Lyndon order)."""
    return _coordinates_map(channels, depth, to_brackets=True)


@_memo
def brackets_to_words_map(channels: int, depth: int) -> BlockMap:
    """From ``"brackets"`` to ``"words"`` coordinates (both in Lyndon order)."""
    return _coordinates_map(channels, depth, to_brackets=False)


def _coordinates_map(channels: int, depth: int, *, to_brackets: bool) -> BlockMap:
    lyndon = _lyndon_positions(channels, depth)
    pieces = []
    for pattern, classes in _classes(channels, depth):
        canon = _pattern(pattern)
        if not canon.lyndon:
            continue
        members = []
        for letters in classes:
            index = [lyndon[tuple(letters[c] for c in w)] for w in canon.lyndon]
            members.append((index, index))
        pieces.append((canon.to_brackets if to_brackets else canon.to_words, members))
    return _build(len(lyndon), len(lyndon), pieces, [])


@_memo
def lift_map(channels: int, depth: int) -> BlockMap:
    """From ``"brackets"`` coordinates to the flattened tensor of the Lie element."""
    lyndon = _lyndon_positions(channels, depth)
    size = sigdim(channels, depth)
    pieces = []
    zero_outputs = []
    for pattern, classes in _classes(channels, depth):
        canon = _pattern(pattern)
        if not canon.lyndon:  # no Lie element has these words (a repeated single letter)
            zero_outputs += [
                position(tuple(letters[c] for c in w), channels) for letters in classes for w in canon.words
            ]
            continue
        members = []
        for letters in classes:
            inputs = [lyndon[tuple(letters[c] for c in w)] for w in canon.lyndon]
            outputs = [position(tuple(letters[c] for c in w), channels) for w in canon.words]
            members.append((inputs, outputs))
        pieces.append((canon.expand, members))
    return _build(len(lyndon), size, pieces, zero_outputs)
