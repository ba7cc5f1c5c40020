"""Algebraic properties of the signature, checked with hypothesis on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import keras_sig
from tests import reference

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
values = st.floats(-2, 2, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def paths(draw, min_length=2, max_length=7, max_channels=3):
    length = draw(st.integers(min_length, max_length))
    channels = draw(st.integers(1, max_channels))
    return draw(arrays(np.float64, (length, channels), elements=values))


def sig(backend, path, depth, **kwargs):
    kwargs = {k: backend.asarray(v, "float64") if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return backend.to_numpy(keras_sig.signature(backend.asarray(path, "float64"), depth, **kwargs))


CLOSE = {"rtol": 1e-9, "atol": 1e-9}


@pytest.mark.parametrize("method", ["sequential", "parallel"])
@SETTINGS
@given(path=paths(min_length=3), data=st.data())
def test_chen_identity(backend, method, path, data):
    """sig(x[:k+1]) continued by x[k:] equals sig(x)."""
    k = data.draw(st.integers(1, path.shape[0] - 2))
    head = sig(backend, path[: k + 1], 4, method=method)
    whole = sig(backend, path, 4, method=method)
    np.testing.assert_allclose(sig(backend, path[k:], 4, initial=head, method=method), whole, **CLOSE)


@SETTINGS
@given(path=paths(), data=st.data())
def test_reparametrisation_invariance(backend, path, data):
    """Points inserted on a segment, or repeated, do not change the signature."""
    i = data.draw(st.integers(0, path.shape[0] - 2))
    frac = data.draw(st.floats(0.0, 1.0))
    middle = path[i] + frac * (path[i + 1] - path[i])
    refined = np.concatenate([path[: i + 1], middle[None], path[i + 1 :], path[-1:]])
    np.testing.assert_allclose(sig(backend, refined, 4), sig(backend, path, 4), **CLOSE)


@SETTINGS
@given(z=arrays(np.float64, st.integers(1, 4), elements=values), depth=st.integers(1, 5))
def test_straight_line_is_the_tensor_exponential(backend, z, depth):
    line = np.stack([np.zeros_like(z), z])
    expected = reference.flatten(reference.tensor_exp(z, depth))
    np.testing.assert_allclose(sig(backend, line, depth), expected, **CLOSE)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
@SETTINGS
@given(path=paths())
def test_inverse_times_signature_is_identity(backend, method, path):
    s = sig(backend, path, 4, method=method)
    # inverse=True with initial=s gives sig(x)^{-1} ⊗ s = 1: every level vanishes.
    ident = sig(backend, path, 4, inverse=True, initial=s, method=method)
    np.testing.assert_allclose(ident, np.zeros_like(ident), atol=1e-9 * (1 + np.abs(s).max()))
    np.testing.assert_allclose(
        sig(backend, path, 4, inverse=True), sig(backend, path[::-1].copy(), 4), **CLOSE
    )


@SETTINGS
@given(path=paths(max_channels=2))
def test_shuffle_identity(backend, path):
    """<w1, S><w2, S> = <w1 ш w2, S> for the words (i) and (j, k)."""
    d = path.shape[1]
    s = sig(backend, path, 3)
    level1, level2, level3 = s[:d], s[d : d + d * d].reshape(d, d), s[d + d * d :].reshape(d, d, d)
    for i in range(d):
        for j in range(d):
            for k in range(d):
                # (i) ш (j, k) = (i, j, k) + (j, i, k) + (j, k, i)
                lhs = level1[i] * level2[j, k]
                rhs = level3[i, j, k] + level3[j, i, k] + level3[j, k, i]
                np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)
