"""Words, Lyndon words and Lyndon brackets: the combinatorics behind log-signatures.

* Pure Python (no array library), every result cached per ``(channels, depth)``.
* Words are tuples of 0-based letters.
* A word's *position* is its offset in a flattened signature without scalar
  term (levels concatenated, level ``k`` in row-major word order), so
  ``flat[..., position(w)]`` is the coefficient of ``w``.
* The maps between the coordinates of Lie elements built on these are in
  :mod:`keras_sig._core._blockmaps`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from keras_sig._core._algebra import sigdim

__all__ = [
    "Bracket",
    "Splits",
    "all_words",
    "expand_bracket",
    "logsigdim",
    "lyndon_bracket",
    "lyndon_brackets",
    "lyndon_splits",
    "lyndon_words",
    "position",
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


# --------------------------------------------------------------------------- splits


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
