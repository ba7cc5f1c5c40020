"""Ragged batches: ``lengths=`` on every backend, dtype and method.

Each series of a padded batch is compared with the exact reference signature of
its own points alone (the padding is garbage, never zeros, so a result that
reads it cannot pass).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME

METHODS = ["sequential", "parallel", "auto", "chunked"]
DEPTH = 3
TOL64 = {"rtol": 1e-10, "atol": 1e-12}


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


def _own_dyadic(x: np.ndarray, lengths: list[int], dyadic_depth: int, **options) -> np.ndarray:
    """Each series' dyadic signatures from its own points, cut by its own length."""
    out = []
    for series, n in zip(x, lengths, strict=True):
        steps = n - 1
        sigs = []
        for level in range(dyadic_depth + 1):
            cuts = [(i * steps) >> level for i in range(2**level + 1)]
            for first, last in itertools.pairwise(cuts):
                sigs.append(reference.signature(series[first : last + 1], DEPTH, **options))
        out.append(np.stack(sigs))
    return np.stack(out)


@pytest.mark.parametrize("dyadic_depth", [0, 2, 3])
@pytest.mark.parametrize("device_lengths", [False, True], ids=["host", "device"])
def test_dyadic_signature_lengths(backend, dtype, tol, rng, dyadic_depth, device_lengths):
    lengths = [13, 8, 2, 1, 5]
    x = _ragged(rng, lengths, 13)
    given = backend.asarray(np.asarray(lengths)) if device_lengths else lengths
    got = keras_sig.dyadic_signature(backend.asarray(x, dtype), DEPTH, dyadic_depth, lengths=given)
    assert got.shape == (5, 2 ** (dyadic_depth + 1) - 1, keras_sig.sigdim(3, DEPTH))
    np.testing.assert_allclose(backend.to_numpy(got), _own_dyadic(x, lengths, dyadic_depth), **tol)


def test_dyadic_signature_lengths_options_and_broadcast(backend, tol, rng):
    lengths = [[9, 4], [6, 9]]
    x = _ragged(rng, [9, 4, 6, 9], 9).reshape(2, 2, 9, 3)
    got = keras_sig.dyadic_signature(
        backend.asarray(x), DEPTH, 2, lengths=lengths, inverse=True, scalar_term=True, method="parallel"
    )
    flat = _own_dyadic(x.reshape(4, 9, 3), [9, 4, 6, 9], 2, inverse=True, scalar_term=True)
    np.testing.assert_allclose(backend.to_numpy(got), flat.reshape(2, 2, 7, -1), **TOL64)
    # one length for every series broadcasts
    same = keras_sig.dyadic_signature(backend.asarray(x), DEPTH, 2, lengths=4)
    np.testing.assert_allclose(
        backend.to_numpy(same), _own_dyadic(x.reshape(4, 9, 3), [4] * 4, 2).reshape(2, 2, 7, -1), **TOL64
    )


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_dyadic_signature_traced_lengths_jax(rng):
    import jax
    import jax.numpy as jnp

    lengths = [11, 3, 7]
    x = _ragged(rng, lengths, 11)
    fn = jax.jit(lambda p, n: keras_sig.dyadic_signature(p, DEPTH, 2, lengths=n))
    got = fn(jnp.asarray(x), jnp.asarray(lengths))
    np.testing.assert_allclose(np.asarray(got), _own_dyadic(x, lengths, 2), **TOL64)


@pytest.mark.skipif("tensorflow" not in BACKENDS_BY_NAME, reason="tensorflow is not in this session")
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_dyadic_signature_traced_lengths_tensorflow(rng, jit_compile):
    import tensorflow as tf

    lengths = [11, 3, 7]
    x = _ragged(rng, lengths, 11)
    spec = (tf.TensorSpec((None, 11, 3), tf.float64), tf.TensorSpec((None,), tf.int32))
    fn = tf.function(
        lambda p, n: keras_sig.dyadic_signature(p, DEPTH, 2, lengths=n),
        input_signature=spec,
        jit_compile=jit_compile,
    )
    got = fn(tf.constant(x), tf.constant(lengths, tf.int32))
    np.testing.assert_allclose(got.numpy(), _own_dyadic(x, lengths, 2), **TOL64)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_dyadic_signature_lengths_gradient_ignores_the_padding(rng):
    import torch

    lengths = [9, 5]
    x = torch.tensor(_ragged(rng, lengths, 9), requires_grad=True)
    keras_sig.dyadic_signature(x, DEPTH, 2, lengths=lengths).sum().backward()
    assert torch.all(x.grad[1, 5:] == 0)
    own = torch.tensor(x.detach().numpy()[1, :5], requires_grad=True)
    keras_sig.dyadic_signature(own, DEPTH, 2).sum().backward()
    torch.testing.assert_close(x.grad[1, :5], own.grad, rtol=1e-10, atol=1e-12)
