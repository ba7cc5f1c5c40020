"""An exact, slow, definition-level signature in plain NumPy float64.

Independent of the library: dense tensors (``np.multiply.outer``), the tensor
exponential as its power series, and Chen's identity as a full truncated product.
For a piecewise-linear path the signature is exactly the product of the
exponentials of its increments.
"""

from __future__ import annotations

from math import factorial

import numpy as np


def tensor_exp(z: np.ndarray, depth: int) -> list[np.ndarray]:
    """Levels 0..depth of exp(z) as dense tensors: z^{⊗k} / k!."""
    levels = [np.ones(())]
    for k in range(1, depth + 1):
        levels.append(np.multiply.outer(levels[-1], z) * (factorial(k - 1) / factorial(k)))
    return levels


def tensor_mul(a: list[np.ndarray], b: list[np.ndarray], depth: int) -> list[np.ndarray]:
    """Truncated product of two dense tensor series (levels 0..depth)."""
    return [sum(np.multiply.outer(a[i], b[k - i]) for i in range(k + 1)) for k in range(depth + 1)]


def flatten(levels: list[np.ndarray], scalar_term: bool = False) -> np.ndarray:
    parts = [np.reshape(level, -1) for level in levels[(0 if scalar_term else 1) :]]
    return np.concatenate(parts)


def dense(flat: np.ndarray, channels: int, depth: int) -> list[np.ndarray]:
    """The inverse of :func:`flatten` (no scalar term in ``flat``; level 0 set to 1)."""
    levels = [np.ones(())]
    start = 0
    for k in range(1, depth + 1):
        size = channels**k
        levels.append(np.reshape(flat[start : start + size], (channels,) * k))
        start += size
    return levels


def signature_levels(path: np.ndarray, depth: int) -> list[list[np.ndarray]]:
    """Dense levels of the signature of every prefix ``path[:t+1]`` of one path ``(L, d)``."""
    channels = path.shape[-1]
    current = tensor_exp(np.zeros(channels), depth)
    out = [current]
    for t in range(1, path.shape[0]):
        current = tensor_mul(current, tensor_exp(path[t] - path[t - 1], depth), depth)
        out.append(current)
    return out


def signature(
    path: np.ndarray,
    depth: int,
    *,
    stream: bool = False,
    basepoint: bool | np.ndarray = False,
    initial: np.ndarray | None = None,
    inverse: bool = False,
    scalar_term: bool = False,
) -> np.ndarray:
    """Reference signature with the library's conventions, for ``(..., L, d)`` input."""
    path = np.asarray(path, dtype=np.float64)
    batch = path.shape[:-2]
    channels = path.shape[-1]
    results = []
    for index in np.ndindex(*batch):
        p = path[index]
        if basepoint is not False:
            bp = (
                np.zeros(channels)
                if basepoint is True
                else np.broadcast_to(basepoint, (*batch, channels))[index]
            )
            p = np.concatenate([bp[None, :], p], axis=0)
        prefixes = signature_levels(p, depth)[1:] if stream else [signature_levels(p, depth)[-1]]
        if not prefixes:  # a stream of a one-point path is empty
            results.append(np.zeros((0, sum(channels**k for k in range(int(not scalar_term), depth + 1)))))
            continue
        rows = []
        for levels in prefixes:
            if inverse:
                levels = [level.transpose() * (-1) ** k for k, level in enumerate(levels)]
            if initial is not None:
                init = dense(np.broadcast_to(initial, (*batch, initial.shape[-1]))[index], channels, depth)
                levels = tensor_mul(levels, init, depth) if inverse else tensor_mul(init, levels, depth)
            rows.append(flatten(levels, scalar_term))
        results.append(np.stack(rows) if stream else rows[0])
    if not results:  # an empty batch
        size = sum(channels**k for k in range(int(not scalar_term), depth + 1))
        steps = path.shape[-2] - 1 + int(basepoint is not False)
        return np.zeros((*batch, steps, size) if stream else (*batch, size))
    out = np.stack(results)
    return np.reshape(out, (*batch, *out.shape[1:]))


def finite_difference_grad(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``fn`` at ``x`` (float64)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad


# --------------------------------------------------------------------------- log-signatures
#
# Brute force and dense linear algebra, sharing nothing with the library's
# combinatorics (no Duval's algorithm, no anagram classes, no triangular inverse).


def tensor_log(levels: list[np.ndarray], depth: int) -> list[np.ndarray]:
    """Levels 0..depth of log(S) for dense ``S`` with S_0 = 1: sum_n (-1)**(n+1) (S - 1)**n / n."""
    x = [np.zeros(()), *levels[1 : depth + 1]]
    out = [np.zeros(())] + [np.zeros_like(level) for level in x[1:]]
    power = [np.ones(())] + [np.zeros_like(level) for level in x[1:]]
    for n in range(1, depth + 1):
        power = tensor_mul(power, x, depth)
        out = [o + (-1) ** (n + 1) * p / n for o, p in zip(out, power, strict=True)]
    return out


def lie_exp(levels: list[np.ndarray], depth: int) -> list[np.ndarray]:
    """Levels 0..depth of exp(L) for dense ``L`` with L_0 = 0: sum_n L**n / n!."""
    out = [np.ones(())] + [np.zeros_like(level) for level in levels[1:]]
    power = [np.ones(())] + [np.zeros_like(level) for level in levels[1:]]
    for n in range(1, depth + 1):
        power = tensor_mul(power, levels, depth)
        out = [o + p / factorial(n) for o, p in zip(out, power, strict=True)]
    return out


def is_lyndon(word: tuple[int, ...]) -> bool:
    """A word is Lyndon iff it is strictly smaller than each of its proper rotations."""
    return all(word < word[i:] + word[:i] for i in range(1, len(word)))


def lyndon_words(channels: int, depth: int) -> list[tuple[int, ...]]:
    """Every word, filtered by :func:`is_lyndon`, ordered by length then lexicographically."""
    import itertools

    return [
        w for k in range(1, depth + 1) for w in itertools.product(range(channels), repeat=k) if is_lyndon(w)
    ]


def standard_bracket(word: tuple[int, ...]):
    """Standard bracketing: ``w = uv`` with ``v`` the longest proper Lyndon suffix -> (P(u), P(v))."""
    if len(word) == 1:
        return word[0]
    for i in range(1, len(word)):
        if is_lyndon(word[i:]):
            return (standard_bracket(word[:i]), standard_bracket(word[i:]))
    raise AssertionError(word)


def bracket_tensor(bracket, channels: int) -> np.ndarray:
    """A bracket expanded into a dense tensor: a letter is a basis vector, [a, b] = a⊗b - b⊗a."""
    if isinstance(bracket, int):
        return np.eye(channels)[bracket]
    a, b = (bracket_tensor(part, channels) for part in bracket)
    return np.multiply.outer(a, b) - np.multiply.outer(b, a)


def logsignature(path: np.ndarray, depth: int, *, mode: str = "words", stream: bool = False, **options):
    """Reference log-signature ``(..., [length-1,] size)`` in ``mode``, for the library's options."""
    sig = signature(path, depth, stream=stream, **options)
    return signature_to_logsignature(sig, path.shape[-1], depth, mode)


def signature_to_logsignature(sig: np.ndarray, channels: int, depth: int, mode: str) -> np.ndarray:
    """Dense log of every signature in ``sig`` ``(..., sigdim)``, in ``mode``'s coordinates.

    "words": the entries of the Lyndon words. "brackets": the coordinates in the
    basis of expanded standard brackets, by a dense solve of the Lyndon-word rows
    of that basis (for a Lie element this is the unique expansion; the solve also
    fixes how the map extends off the Lie algebra, as the gradient sees it).
    "expand": the whole log.
    """
    words = lyndon_words(channels, depth)
    rows = []
    for flat in np.reshape(sig, (-1, sig.shape[-1])):
        log = tensor_log(dense(flat, channels, depth), depth)
        at_words = np.array([log[len(w)][w] for w in words])
        if mode == "expand":
            rows.append(flatten(log))
        elif mode == "words":
            rows.append(at_words)
        else:
            coords = []
            for k in range(1, depth + 1):
                level = [i for i, w in enumerate(words) if len(w) == k]
                coords.append(_bracket_coordinates(at_words[level], [words[i] for i in level], channels))
            rows.append(np.concatenate(coords))
    empty = sum(channels**k for k in range(1, depth + 1)) if mode == "expand" else len(words)
    out = np.stack(rows) if rows else np.zeros((0, empty))
    return np.reshape(out, (*sig.shape[:-1], out.shape[-1]))


def _bracket_coordinates(
    at_words: np.ndarray, level_words: list[tuple[int, ...]], channels: int
) -> np.ndarray:
    """Bracket coordinates from Lyndon-word coefficients: solve ``A c = at_words``.

    ``A[i, j]`` is the coefficient of Lyndon word ``i`` in the expansion of bracket ``j``.
    """
    if not level_words:  # one channel: no Lyndon word longer than 1
        return np.zeros(0)
    a = np.array(
        [[bracket_tensor(standard_bracket(w), channels)[u] for w in level_words] for u in level_words]
    )
    return np.linalg.solve(a, at_words)


def lie_element(coords: np.ndarray, channels: int, depth: int, mode: str) -> list[np.ndarray]:
    """Dense levels 0..depth of the Lie element with ``mode`` coordinates ``coords`` (one vector).

    "brackets": the sum of coefficients times expanded brackets. "words": the Lie
    element whose Lyndon-word entries are ``coords``, by solving for its bracket
    coordinates with a dense solve.
    """
    words = lyndon_words(channels, depth)
    if mode == "expand":
        levels = dense(coords, channels, depth)
        levels[0] = np.zeros(())
        return levels
    levels = [np.zeros(())]
    start = 0
    for k in range(1, depth + 1):
        level_words = [w for w in words if len(w) == k]
        basis = np.stack([bracket_tensor(standard_bracket(w), channels).ravel() for w in level_words], axis=1)
        c = coords[start : start + len(level_words)]
        start += len(level_words)
        if mode == "words":
            c = _bracket_coordinates(c, level_words, channels)
        levels.append(np.reshape(basis @ c, (channels,) * k))
    return levels


def logsignature_to_signature(coords: np.ndarray, channels: int, depth: int, mode: str) -> np.ndarray:
    """Dense exp of every Lie element ``(..., size)`` in ``mode``'s coordinates -> ``(..., sigdim)``."""
    rows = [
        flatten(lie_exp(lie_element(c, channels, depth, mode), depth))
        for c in np.reshape(coords, (-1, coords.shape[-1]))
    ]
    return np.reshape(np.stack(rows), (*coords.shape[:-1], -1))
