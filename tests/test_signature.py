"""The signature contract (DESIGN.md §1) on every backend, dtype and method."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import peer
from tests._checks import bad_input_path, check_rejects, rejection_cases

METHODS = ["sequential", "parallel", "auto", "chunked"]


def _method(method: str) -> dict:
    """Keyword arguments for ``method``; "chunked" with a budget so small that every chunk is one step."""
    return {"method": method, "memory_budget": 1} if method == "chunked" else {"method": method}


OPTIONS = {
    "plain": {},
    "basepoint": {"basepoint": True},
    "basepoint_array": {"basepoint": "array"},
    "initial": {"initial": "array"},
    "inverse": {"inverse": True},
    "inverse_initial": {"inverse": True, "initial": "array"},
    "scalar_term": {"scalar_term": True},
    "everything": {"basepoint": "array", "initial": "array", "inverse": True, "scalar_term": True},
}


def _options(name: str, rng: np.random.Generator, batch: tuple[int, ...], channels: int, depth: int):
    """Library kwargs and reference kwargs for the option set ``name``."""
    opts = dict(OPTIONS[name])
    ref = dict(opts)
    if opts.get("basepoint") == "array":
        ref["basepoint"] = rng.normal(size=(*batch, channels))
    if opts.get("initial") == "array":
        # A genuine signature, so that Chen's identity is meaningful.
        ref["initial"] = reference.signature(rng.normal(size=(*batch, 4, channels)) * 0.5, depth)
    return ref


def _to_backend(backend, dtype, ref_kwargs):
    out = {}
    for key, value in ref_kwargs.items():
        out[key] = backend.asarray(value, dtype) if isinstance(value, np.ndarray) else value
    return out


def _rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    return x.astype(dtype).astype(np.float64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_matches_reference(backend, dtype, tol, rng, method, stream, option):
    batch, length, channels, depth = (2,), 6, 3, 4
    path = rng.normal(size=(*batch, length, channels))
    ref_kwargs = _options(option, rng, batch, channels, depth)
    ref_kwargs = {k: _rounded(v, dtype) if isinstance(v, np.ndarray) else v for k, v in ref_kwargs.items()}
    expected = reference.signature(_rounded(path, dtype), depth, stream=stream, **ref_kwargs)
    got = keras_sig.signature(
        backend.asarray(path, dtype),
        depth,
        stream=stream,
        **_method(method),
        **_to_backend(backend, dtype, ref_kwargs),
    )
    assert isinstance(got, backend.array_type())
    assert tuple(got.shape) == expected.shape
    assert got.dtype == backend.dtype(dtype)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize("method", ["sequential", "parallel", "chunked"])
def test_methods_agree_and_match_iisignature(backend, method, rng):
    iisignature = peer("iisignature")
    path = rng.normal(size=(3, 40, 4)) * 0.3
    for depth, stream in itertools.product([1, 2, 5], [False, True]):
        got = backend.to_numpy(
            keras_sig.signature(backend.asarray(path, "float64"), depth, stream=stream, **_method(method))
        )
        expected = iisignature.sig(path, depth, 2 if stream else 0)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 6, 13, 14])
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_chunked_agrees_for_every_chunk_length(backend, dtype, tol, rng, chunk, stream):
    """Chunk lengths that divide the 13 increments, that don't, one, all of them and more."""
    from keras_sig._lib._plan import step_bytes

    batch, length, channels, depth = (2, 3), 14, 3, 4
    path = rng.normal(size=(*batch, length, channels))
    per_step = step_bytes((*batch, length, channels), depth, stream=stream, itemsize=np.dtype(dtype).itemsize)
    got = keras_sig.signature(
        backend.asarray(path, dtype), depth, stream=stream, method="chunked", memory_budget=chunk * per_step
    )
    expected = reference.signature(_rounded(path, dtype), depth, stream=stream)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize("shape", [(7, 2), (1, 7, 2), (2, 3, 7, 2), (2, 1, 3, 7, 2)])
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_leading_batch_dimensions(backend, rng, shape, stream):
    path = rng.normal(size=shape)
    got = keras_sig.signature(backend.asarray(path, "float64"), 3, stream=stream)
    expected = reference.signature(path, 3, stream=stream)
    assert tuple(got.shape) == expected.shape
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_constant_and_two_point_paths(backend, method, rng):
    one = rng.normal(size=(2, 1, 3))
    sig = keras_sig.signature(backend.asarray(one, "float64"), 3, **_method(method))
    np.testing.assert_array_equal(backend.to_numpy(sig), np.zeros((2, 39)))
    stream = keras_sig.signature(backend.asarray(one, "float64"), 3, stream=True, **_method(method))
    assert tuple(stream.shape) == (2, 0, 39)
    with_bp = keras_sig.signature(
        backend.asarray(one, "float64"), 3, stream=True, basepoint=True, **_method(method)
    )
    np.testing.assert_allclose(
        backend.to_numpy(with_bp), reference.signature(one, 3, stream=True, basepoint=True), rtol=1e-12
    )
    # A two-point path is a straight line: its signature is the tensor exponential of the increment.
    two = rng.normal(size=(2, 3))
    sig = backend.to_numpy(keras_sig.signature(backend.asarray(two, "float64"), 4, **_method(method)))
    np.testing.assert_allclose(sig, reference.flatten(reference.tensor_exp(two[1] - two[0], 4)), rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_depth_one_is_the_total_increment(backend, method, rng):
    path = rng.normal(size=(4, 9, 3))
    got = backend.to_numpy(keras_sig.signature(backend.asarray(path, "float64"), 1, **_method(method)))
    np.testing.assert_allclose(got, path[:, -1] - path[:, 0], rtol=1e-12, atol=1e-12)
    streamed = backend.to_numpy(
        keras_sig.signature(backend.asarray(path, "float64"), 1, stream=True, **_method(method))
    )
    np.testing.assert_allclose(streamed, path[:, 1:] - path[:, :1], rtol=1e-12, atol=1e-12)


def test_integer_input_is_promoted_to_default_float(backend):
    path = backend.asarray(np.array([[0, 0], [1, 0], [1, 2]]), "int32")
    got = keras_sig.signature(path, 2)
    xp = keras_sig._lib._namespace.array_namespace(path)
    default = xp.__array_namespace_info__().default_dtypes(
        device=keras_sig._lib._namespace.device_of(path, xp)
    )
    assert got.dtype == default["real floating"]
    np.testing.assert_allclose(backend.to_numpy(got), [1, 2, 0.5, 2, 0, 2], rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_nan_stays_in_its_own_path(backend, method, rng):
    path = rng.normal(size=(3, 8, 2))
    path[1, 4, 0] = np.nan
    got = backend.to_numpy(keras_sig.signature(backend.asarray(path, "float64"), 3, **_method(method)))
    assert np.isnan(got[1]).any()
    assert np.isfinite(got[[0, 2]]).all()
    np.testing.assert_allclose(got[[0, 2]], reference.signature(path[[0, 2]], 3), rtol=1e-10, atol=1e-12)


def test_output_lives_on_the_input_device(backend, rng):
    path = backend.asarray(rng.normal(size=(2, 5, 3)), "float32")
    for method in ("sequential", "parallel"):
        got = keras_sig.signature(path, 3, **_method(method), basepoint=True, scalar_term=True)
        assert backend.device_of(got) == backend.device


def test_nested_lists_and_xp(rng):
    data = rng.normal(size=(5, 2)).tolist()
    got = keras_sig.signature(data, 3)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, reference.signature(np.asarray(data), 3), rtol=1e-12)
    strict = pytest.importorskip("array_api_strict")
    got = keras_sig.signature(data, 3, xp=strict)
    assert isinstance(got, type(strict.asarray(0.0)))


def test_initial_with_scalar_term_and_broadcast(backend, rng):
    path = rng.normal(size=(2, 3, 6, 2))
    init = reference.signature(rng.normal(size=(3, 4, 2)), 3)  # broadcasts over the leading 2
    init_with_scalar = np.concatenate([np.ones((3, 1)), init], axis=-1)
    expected = reference.signature(path, 3, initial=np.broadcast_to(init, (2, 3, 14)))
    for value in (init, init_with_scalar):
        got = keras_sig.signature(
            backend.asarray(path, "float64"), 3, initial=backend.asarray(value, "float64")
        )
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10)


def test_sigdim():
    assert keras_sig.sigdim(5, 4) == 5 + 25 + 125 + 625
    assert keras_sig.sigdim(1, 3) == 3
    assert keras_sig.sigdim(2, 3, scalar_term=True) == 15
    with pytest.raises(ValueError, match="channels must be an integer >= 1; got 0"):
        keras_sig.sigdim(0, 3)
    with pytest.raises(TypeError, match="depth must be an integer"):
        keras_sig.sigdim(2, 2.0)


BAD_CALLS = [
    (lambda b, p: keras_sig.signature(p, 0), ValueError, r"depth must be an integer >= 1; got 0"),
    (lambda b, p: keras_sig.signature(p, -2), ValueError, r"depth must be an integer >= 1; got -2"),
    (
        lambda b, p: keras_sig.signature(p, 2.5),
        TypeError,
        r"depth must be an integer >= 1; got 2\.5 \(float\)",
    ),
    (lambda b, p: keras_sig.signature(p, True), TypeError, r"depth must be an integer"),
    (lambda b, p: keras_sig.signature(p, "3"), TypeError, r"depth must be an integer"),
    (
        lambda b, p: keras_sig.signature(p[0, 0, :], 2),
        ValueError,
        r"path must have shape \(\.\.\., length, channels\); got \(3,\)",
    ),
    (
        lambda b, p: keras_sig.signature(p[:, :0, :], 2),
        ValueError,
        r"at least one point .*got shape \(2, 0, 3\)",
    ),
    (
        lambda b, p: keras_sig.signature(p[..., :0], 2),
        ValueError,
        r"at least one channel; got shape \(2, 5, 0\)",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, method="fast"),
        ValueError,
        r"method must be one of 'auto', 'sequential', 'parallel', 'chunked'; got 'fast'",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, memory_budget=0),
        ValueError,
        r"memory_budget must be an integer >= 1; got 0",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, memory_budget=1.5e6),
        TypeError,
        r"memory_budget must be an integer >= 1; got 1500000\.0 \(float\)",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, stream=1),
        TypeError,
        r"stream must be True or False; got 1 \(int\)",
    ),
    (lambda b, p: keras_sig.signature(p, 2, inverse="yes"), TypeError, r"inverse must be True or False"),
    (
        lambda b, p: keras_sig.signature(p, 2, scalar_term=None),
        TypeError,
        r"scalar_term must be True or False",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, basepoint=1.0),
        TypeError,
        r"basepoint must be True, False or an array",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, basepoint=b.asarray(np.zeros((2, 4)), "float64")),
        ValueError,
        r"basepoint must have shape \(\.\.\., 3\).*got \(2, 4\)",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, basepoint=b.asarray(np.zeros((5, 3)), "float64")),
        ValueError,
        r"basepoint must have shape .*batch shape \(2,\); got \(5,\)",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, initial=b.asarray(np.zeros((2, 11)), "float64")),
        ValueError,
        r"initial must be a signature of shape \(\.\.\., 12\) for channels=3, depth=2 .*got \(2, 11\)",
    ),
    (
        lambda b, p: keras_sig.signature(p, 2, initial=b.asarray(np.zeros((3, 12)), "float64")),
        ValueError,
        r"initial must have shape .*got \(3,\)",
    ),
    (lambda b, p: keras_sig.signature("path", 2), TypeError, r"path must be an array"),
    (lambda b, p: keras_sig.signature(None, 2), TypeError, r"path must be an array .*got None"),
    (
        lambda b, p: keras_sig.signature(b.asarray(np.ones((2, 5, 3), bool)), 2),
        TypeError,
        r"path must hold real or complex numbers .*dtype",
    ),
]


@rejection_cases(BAD_CALLS)
def test_bad_input_raises_a_clear_error(backend, call, error, match):
    check_rejects(call, error, match, backend, bad_input_path(backend))


def test_non_numeric_numpy_input():
    with pytest.raises(TypeError, match="path must hold real or complex numbers"):
        keras_sig.signature(np.array([["a", "b"], ["c", "d"]]), 2)
    with pytest.raises(TypeError, match="path must be an array or a nested sequence of numbers"):
        keras_sig.signature([[0.0, 1.0], [2.0]], 2)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_float32_stays_accurate_on_long_paths(backend, method, rng):
    """Rounding does not build up along 2000 steps (relative to the largest coefficient)."""
    path = (rng.normal(size=(4, 2000, 3)) / np.sqrt(2000) + 0.02).cumsum(axis=1)
    exact = reference_signature_fast(path, 4)
    got = backend.to_numpy(keras_sig.signature(backend.asarray(path, "float32"), 4, **_method(method)))
    scale = np.abs(exact).max(axis=-1, keepdims=True)
    assert np.abs(got - exact).max() / scale.min() < 2e-5


def reference_signature_fast(path: np.ndarray, depth: int) -> np.ndarray:
    """Float64 signature for long paths, cross-checked against iisignature when present."""
    got = keras_sig.signature(path, depth, method="sequential")
    iisignature = peer("iisignature")
    np.testing.assert_allclose(got, iisignature.sig(path, depth), rtol=1e-9, atol=1e-12)
    return got


# --------------------------------------------------------------------------- high depths


def _exact_one_channel(increment: np.ndarray, depth: int) -> np.ndarray:
    """The signature of a 1-channel path with total increment ``x``: level ``k`` is ``x**k / k!``."""
    return np.cumprod(increment[..., None] / np.arange(1, depth + 1), axis=-1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("option", ["plain", "inverse", "stream_basepoint"])
def test_high_depth_one_channel(backend, method, option):
    """Depth 70: past NumPy's 64 axes and TensorFlow's 31-axis slicing, against ``x**k / k!``.

    Every method gives it (past depth 16 all of them run the flat sequential scan).
    """
    depth = 70
    # Increasing paths: every term of every level is positive, so rounding stays relative.
    x = np.cumsum(np.abs(np.random.default_rng(71).normal(size=(2, 9, 1))), axis=-2) * 0.5
    opts = {"inverse": True} if option == "inverse" else {}
    if option == "stream_basepoint":
        opts = {"stream": True, "basepoint": True}
    out = backend.to_numpy(
        keras_sig.signature(backend.asarray(x, "float64"), depth, **_method(method), **opts)
    )
    assert out.shape == ((2, 9, depth) if option == "stream_basepoint" else (2, depth))
    if option == "stream_basepoint":
        # entry t is the signature of the origin followed by the first t + 1 points
        expected = _exact_one_channel(x[..., 0], depth)
    else:
        expected = _exact_one_channel(x[:, -1, 0] - x[:, 0, 0], depth)
        if option == "inverse":
            expected = expected * (-1.0) ** np.arange(1, depth + 1)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_flat_sequential_scan_matches_reference(backend, method, stream):
    """Depths 9 and 10 (the sequential scan's flat carry; parallel below its limit) against the reference."""
    x = np.cumsum(np.random.default_rng(72).normal(size=(2, 5, 2)), axis=-2) * 0.4
    for depth in (9, 10):
        out = backend.to_numpy(
            keras_sig.signature(
                backend.asarray(x, "float64"), depth, method=method, stream=stream, basepoint=True
            )
        )
        expected = reference.signature(x, depth, stream=stream, basepoint=True)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_inverse_of_long_words(backend):
    """Depth 13, 2 channels: the antipode reverses 13-letter words in halves (the reversed path's)."""
    x = np.cumsum(np.random.default_rng(73).normal(size=(4, 2)), axis=-2) * 0.5
    arr = backend.asarray(x, "float64")
    inverse = backend.to_numpy(keras_sig.signature(arr, 13, inverse=True))
    reversed_path = backend.to_numpy(keras_sig.signature(backend.asarray(x[::-1].copy(), "float64"), 13))
    np.testing.assert_allclose(inverse, reversed_path, rtol=1e-9, atol=1e-12)
