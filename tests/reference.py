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
    out = np.stack(results) if results else np.zeros((0,))
    return np.reshape(out, (*batch, *out.shape[1:]))


def finite_difference_grad(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``fn`` at ``x`` (float64)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad
