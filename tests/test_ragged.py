"""Ragged batches: ``lengths=`` on every backend, dtype and method.

Each series of a padded batch is compared with the exact reference signature of
its own points alone (the padding is garbage, never zeros, so a result that
reads it cannot pass).
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME

METHODS = ["sequential", "parallel", "auto", "chunked"]
DEPTH = 3


def _method(method: str) -> dict:
    return {"method": method, "memory_budget": 1} if method == "chunked" else {"method": method}


def _ragged(rng: np.random.Generator, lengths: list[int], total: int, channels: int = 3) -> np.ndarray:
    """A padded batch whose padding is large random noise."""
    x = rng.normal(scale=50.0, size=(len(lengths), total, channels))
    for i, n in enumerate(lengths):
        x[i, :n] = np.cumsum(rng.normal(scale=0.4, size=(n, channels)), axis=0)
    return x


def _own(x: np.ndarray, lengths: list[int], **options) -> np.ndarray:
    """Each series' signature from its own points (the stream held after its end)."""
    out = []
    for series, n in zip(x, lengths, strict=True):
        if not options.get("stream"):
            out.append(reference.signature(series[:n], DEPTH, **options))
            continue
        prefix = reference.signature(series[:n], DEPTH, **options)  # (n - 1 [+ 1], sigdim)
        steps = x.shape[1] - 1 + int(bool(options.get("basepoint")))
        final = prefix[-1:] if len(prefix) else np.zeros((1, prefix.shape[-1]))
        out.append(np.concatenate([prefix, np.repeat(final, steps - len(prefix), axis=0)]))
    return np.stack(out)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("basepoint", [False, True], ids=["", "basepoint"])
def test_each_series_is_its_own(backend, dtype, tol, rng, method, stream, basepoint):
    lengths = [7, 4, 2, 1, 5]
    x = _ragged(rng, lengths, 7)
    want = _own(x, lengths, stream=stream, basepoint=basepoint)
    for given in (backend.asarray(np.array(lengths)), lengths):
        got = keras_sig.signature(
            backend.asarray(x, dtype),
            DEPTH,
            lengths=given,
            stream=stream,
            basepoint=basepoint,
            **_method(method),
        )
        np.testing.assert_allclose(backend.to_numpy(got), want, **tol)


def test_lengths_broadcast_over_leading_dimensions(backend, tol, rng, dtype):
    x = np.stack([_ragged(rng, [5, 3, 2], 5) for _ in range(2)])  # (2, 3, 5, 3)
    got = keras_sig.signature(backend.asarray(x, dtype), DEPTH, lengths=backend.asarray(np.array([5, 3, 2])))
    want = np.stack([_own(x[i], [5, 3, 2]) for i in range(2)])
    np.testing.assert_allclose(backend.to_numpy(got), want, **tol)
    single = keras_sig.signature(backend.asarray(x[0, 1], dtype), DEPTH, lengths=3)
    np.testing.assert_allclose(backend.to_numpy(single), reference.signature(x[0, 1, :3], DEPTH), **tol)


@pytest.mark.parametrize("mode", ["words", "brackets", "expand"])
def test_logsignature_lengths(backend, dtype, tol, rng, mode):
    lengths = [6, 3, 1]
    x = _ragged(rng, lengths, 6)
    got = keras_sig.logsignature(backend.asarray(x, dtype), DEPTH, mode=mode, lengths=np.array(lengths))
    want = np.stack(
        [reference.logsignature(s[:n], DEPTH, mode=mode) for s, n in zip(x, lengths, strict=True)]
    )
    np.testing.assert_allclose(backend.to_numpy(got), want, **tol)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_gradient_ignores_the_padding(rng):
    torch = BACKENDS_BY_NAME["torch"].module
    lengths = [5, 3]
    x = torch.tensor(_ragged(rng, lengths, 5), requires_grad=True)
    keras_sig.signature(x, DEPTH, lengths=lengths).sum().backward()
    grad = x.grad.numpy()
    assert np.all(grad[1, 3:] == 0.0)
    assert np.any(grad[1, :3] != 0.0)
    for i, n in enumerate(lengths):
        own = torch.tensor(x.detach().numpy()[i, :n], requires_grad=True)
        keras_sig.signature(own, DEPTH).sum().backward()
        np.testing.assert_allclose(grad[i, :n], own.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        ([0, 2], ValueError, r"lengths must lie in 1\.\.4 .*got 0"),
        ([5, 2], ValueError, r"lengths must lie in 1\.\.4 .*got 5"),
        ([1.5, 2.0], TypeError, "lengths must hold integers"),
        ("2", TypeError, "lengths must be an integer array"),
        (True, TypeError, "lengths must be an integer array"),
        ([[1, 2, 3]], ValueError, "lengths must have shape"),
    ],
)
def test_bad_lengths(backend, rng, lengths, error, match):
    x = backend.asarray(rng.normal(size=(2, 4, 3)))
    with pytest.raises(error, match=match):
        keras_sig.signature(x, 2, lengths=lengths)


def test_windowed_signature_lengths(backend, dtype, tol, rng):
    lengths = [9, 6, 3]
    x = _ragged(rng, lengths, 9)
    got = keras_sig.windowed_signature(backend.asarray(x, dtype), DEPTH, 4, step=2, lengths=lengths)
    want = np.stack(
        [
            np.stack(
                [
                    reference.signature(s[i : min(i + 4, n)], DEPTH) if i < n else np.zeros(got.shape[-1])
                    for i in range(0, 6, 2)
                ]
            )
            for s, n in zip(x, lengths, strict=True)
        ]
    )
    np.testing.assert_allclose(backend.to_numpy(got), want, **tol)
