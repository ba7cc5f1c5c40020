"""Words, Lyndon words and Lyndon brackets: the combinatorics behind log-signatures.

Pure Python (no array library), every result cached per ``(channels, depth)``.
Words are tuples of 0-based letters. A word's *position* is its offset in a
flattened signature without scalar term (levels concatenated, level ``k`` in
row-major word order), so ``flat[..., position(w)]`` is the coefficient of ``w``.

The change between the "words" and the "brackets" coordinates of a Lie element
is linear and preserves the multiset of letters of every word, so its matrix is
block-diagonal by *anagram class* (the words with one multiset of letters).
Relabelling the letters of a class in increasing order (``{1, 4, 4}`` becomes
``{0, 1, 1}``) keeps lexicographic order, Lyndon words, standard bracketings and
their expansions, so a class's block depends only on its *pattern*: the
multiplicities of its letters in increasing order (``(1, 2)`` here). There are at
most ``2**depth - 1`` patterns whatever the number of channels, and each block is
computed once, exactly, in integers. A :class:`BlockMap` applies such a linear
map to arrays: the classes of one pattern are gathered side by side and go
through one matrix product together.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from keras_sig._core._algebra import sigdim

__all__ = [
    "Block",
    "BlockMap",
    "Bracket",
    "Splits",
    "all_words",
    "brackets_to_words_map",
    "expand_bracket",
    "lift_map",
    "logsigdim",
    "lyndon_bracket",
    "lyndon_brackets",
    "lyndon_splits",
    "lyndon_words",
    "position",
    "words_to_brackets_map",
]

_T = TypeVar("_T")


def _memo(fn: Callable[..., _T]) -> Callable[..., _T]:
    """``fn`` with its results kept per (hashable) arguments.

    A plain dictionary rather than :func:`functools.cache`, which
    ``torch.compile`` warns about when it traces through it.
    """
    table: dict[tuple[Any, ...], _T] = {}

    @functools.wraps(fn)
    def cached(*args: Any) -> _T:
        if args not in table:
            table[args] = fn(*args)
        return table[args]

    return cached


Word: TypeAlias = tuple[int, ...]
Bracket: TypeAlias = "int | tuple[Bracket, Bracket]"
"""A letter, or a pair ``(left, right)`` standing for the Lie bracket ``[left, right]``."""


# --------------------------------------------------------------------------- words


@_memo
def logsigdim(channels: int, depth: int) -> int:
    """Number of Lyndon words of length ``1..depth`` (Witt's formula).

    Level ``k`` has ``(1/k) sum_{m | k} mu(m) channels**(k/m)`` words; only
    squarefree ``m`` count (``mu(m) = 0`` otherwise), found from the prime
    factors of ``k`` (a smallest-prime-factor sieve). Each power is kept as a
    running product, one multiplication by ``channels`` per multiple of ``m``,
    so no power is computed twice.
    """
    if channels == 1:
        return 1  # the single letter
    smallest = list(range(depth + 1))
    p = 2
    while p * p <= depth:
        if smallest[p] == p:
            for q in range(p * p, depth + 1, p):
                if smallest[q] == q:
                    smallest[q] = p
        p += 1
    running: dict[int, int] = {}  # m -> channels**(k/m) at the last multiple k of m
    total, power = 0, 1
    for k in range(1, depth + 1):
        power *= channels
        level, divisors, rest = power, [(1, 1)], k
        while rest > 1:
            prime = smallest[rest]
            while rest % prime == 0:
                rest //= prime
            divisors += [(m * prime, -sign) for m, sign in divisors]
        for m, sign in divisors[1:]:
            running[m] = running.get(m, 1) * channels
            level += sign * running[m]
        total += level // k
    return total


def position(word: Word, channels: int) -> int:
    """Offset of ``word``'s coefficient in a flattened signature without scalar term."""
    index = sum(channels**i for i in range(1, len(word)))
    scale = 1
    for letter in reversed(word):
        index += letter * scale
        scale *= channels
    return index


@_memo
def all_words(channels: int, depth: int) -> tuple[Word, ...]:
    """Every word of length ``1..depth``, in signature order."""
    return tuple(w for k in range(1, depth + 1) for w in itertools.product(range(channels), repeat=k))


def _duval(channels: int, depth: int) -> Iterator[Word]:
    """Lyndon words of length at most ``depth``, in lexicographic order (Duval's algorithm)."""
    word = [-1]
    while word:
        word[-1] += 1
        yield tuple(word)
        period = len(word)
        while len(word) < depth:
            word.append(word[-period])
        while word and word[-1] == channels - 1:
            word.pop()


@_memo
def lyndon_words(channels: int, depth: int) -> tuple[Word, ...]:
    """Lyndon words of length ``1..depth``, ordered by length, then lexicographically."""
    if channels == 1:
        return ((0,),)  # Duval's algorithm would first grow the word 0...0 to ``depth`` letters
    return tuple(sorted(_duval(channels, depth), key=lambda w: (len(w), w)))


def _is_lyndon(word: Word) -> bool:
    """Whether ``word`` is strictly smaller than each of its proper suffixes."""
    return all(word < word[i:] for i in range(1, len(word)))


@_memo
def lyndon_bracket(word: Word) -> Bracket:
    """The standard bracketing of a Lyndon word.

    A letter stands for itself; a longer word ``w = uv``, with ``v`` its longest
    proper suffix that is a Lyndon word, is ``[P(u), P(v)]``.
    """
    if len(word) == 1:
        return word[0]
    split = next(i for i in range(1, len(word)) if _is_lyndon(word[i:]))
    return (lyndon_bracket(word[:split]), lyndon_bracket(word[split:]))


@_memo
def lyndon_brackets(channels: int, depth: int) -> tuple[Bracket, ...]:
    """Standard bracketings of :func:`lyndon_words`, in the same order."""
    return tuple(lyndon_bracket(w) for w in lyndon_words(channels, depth))


@_memo
def expand_bracket(bracket: Bracket) -> dict[Word, int]:
    """The bracket as a sum of words, ``[a, b] = ab - ba``: ``{word: nonzero integer}``."""
    if isinstance(bracket, int):
        return {(bracket,): 1}
    left, right = (expand_bracket(b) for b in bracket)
    out: dict[Word, int] = {}
    for (u, a), (v, b) in itertools.product(left.items(), right.items()):
        out[u + v] = out.get(u + v, 0) + a * b
        out[v + u] = out.get(v + u, 0) - a * b
    return {w: c for w, c in out.items() if c}


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


@dataclass(frozen=True)
class Splits:
    """Gathers for the Lyndon words ``w`` of a product ``X ⊗ T``, flattened (see ``_logsig``).

    ``index[j]`` is the position of ``w_j`` in a flattened tensor. ``heads`` and
    ``rests`` run over ``i = 1..depth-1``, then ``j``: the positions of
    ``w_j[:i]`` in ``X`` and of ``w_j[i:]`` in ``T`` (levels ``1..depth-1``), each
    array followed by a zero column, whose position stands in where ``w_j`` is
    not longer than ``i``.
    """

    index: tuple[int, ...]
    heads: tuple[int, ...]
    rests: tuple[int, ...]


@_memo
def lyndon_splits(channels: int, depth: int) -> Splits:
    """The :class:`Splits` of every Lyndon word of length ``1..depth``, in Lyndon order."""
    words = lyndon_words(channels, depth)
    x_zero = sigdim(channels, depth)
    t_zero = x_zero - channels**depth
    pairs = [(w[:i], w[i:]) if len(w) > i else None for i in range(1, depth) for w in words]
    return Splits(
        tuple(position(w, channels) for w in words),
        tuple(x_zero if p is None else position(p[0], channels) for p in pairs),
        tuple(t_zero if p is None else position(p[1], channels) for p in pairs),
    )


def _identity(n: int) -> Matrix:
    return tuple(tuple(int(i == j) for j in range(n)) for i in range(n))


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
