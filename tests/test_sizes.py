"""Sizes: closed-form sigdim/logsigdim, the size guard, and the documented float32 range."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import keras_sig

METHODS = ["sequential", "parallel", "chunked"]
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _mobius(n: int) -> int:
    result, p = 1, 2
    while p * p <= n:
        if n % p == 0:
            n //= p
            if n % p == 0:
                return 0
            result = -result
        p += 1
    return -result if n > 1 else result


def _witt(channels: int, depth: int) -> int:
    """Witt's formula, summed over every divisor of every level (the slow definition)."""
    return sum(
        sum(_mobius(k // j) * channels**j for j in range(1, k + 1) if k % j == 0) // k
        for k in range(1, depth + 1)
    )


@pytest.fixture
def max_size():
    """Restore the size limit whatever the test set."""
    before = keras_sig.get_max_size()
    yield
    keras_sig.set_max_size(before)


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("channels", [1, 2, 3, 5, 7])
def test_sizes_match_their_definitions(channels):
    for depth in range(1, 40):
        assert keras_sig.sigdim(channels, depth) == sum(channels**k for k in range(1, depth + 1))
        assert keras_sig.logsigdim(channels, depth) == _witt(channels, depth)
        if depth <= 6 and channels <= 3:
            assert keras_sig.logsigdim(channels, depth) == len(keras_sig.lyndon_words(channels, depth))


def test_huge_sizes_are_quick():
    start = time.perf_counter()
    assert keras_sig.sigdim(5, 10**6) == 5 * (5 ** (10**6) - 1) // 4
    assert keras_sig.sigdim(1, 2**64) == 2**64
    assert keras_sig.logsigdim(1, 10**18) == 1
    assert keras_sig.logsigdim(5, 3000) == _witt_fast_check(5, 3000)
    assert time.perf_counter() - start < 30


def _witt_fast_check(channels: int, depth: int) -> int:
    """Witt's formula level by level with divisors by trial division (independent of the library's sieve)."""
    total = 0
    for k in range(1, depth + 1):
        level = sum(_mobius(m) * channels ** (k // m) for m in range(1, math.isqrt(k) + 1) if k % m == 0)
        level += sum(
            _mobius(k // m) * channels**m for m in range(1, math.isqrt(k) + 1) if k % m == 0 and m * m != k
        )
        total += level // k
    return total


# --------------------------------------------------------------------------- the guard


def test_max_size_default_and_override(max_size):
    assert keras_sig.get_max_size() == keras_sig.DEFAULT_MAX_SIZE == 2**31
    assert keras_sig.set_max_size(100) == 2**31
    assert keras_sig.get_max_size() == 100
    assert keras_sig.set_max_size(None) == 100
    assert keras_sig.get_max_size() == 2**31
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        keras_sig.set_max_size(0)
    with pytest.raises(TypeError, match="size must be an integer"):
        keras_sig.set_max_size(1.5)


def _refused(match: str = r"channels=\d+, depth=\d+"):
    return pytest.raises(ValueError, match=match)


@pytest.mark.parametrize(
    ("channels", "depth"),
    [(50, 8), (2, 10**9), (2, 10**18), (2, 2**64), (1, 10**18), (1, 2**64), (5, 10**6)],
)
def test_signature_refuses_huge_outputs_before_allocating(backend, channels, depth):
    path = backend.asarray(np.zeros((1, 3, channels)), "float32")
    start = time.perf_counter()
    with _refused(rf"channels={channels}, depth={depth}: the signature would have .* elements per path"):
        keras_sig.signature(path, depth)
    with _refused("set_max_size"):
        keras_sig.logsignature(path, depth)
    assert time.perf_counter() - start < 5


def test_guard_message_states_size_and_limit():
    with pytest.raises(
        ValueError, match=r"would have 39859693877550 elements per path, more than the limit of 2147483648"
    ):
        keras_sig.signature(np.zeros((2, 50)), 8)


def test_limit_is_overridable(max_size):
    path = np.zeros((3, 3))
    assert keras_sig.signature(path, 4).shape == (120,)
    keras_sig.set_max_size(119)
    with _refused("channels=3, depth=4: the signature would have 120 elements"):
        keras_sig.signature(path, 4)
    with _refused("stream"):
        keras_sig.signature(np.zeros((3, 2)), 5, stream=True)  # 2 entries of 62
    assert keras_sig.signature(np.zeros((3, 2)), 5).shape == (62,)
    keras_sig.set_max_size(2**80)  # past what any array can index: that limit stays
    with _refused("more than any array can hold"):
        keras_sig.signature(np.zeros((2, 2)), 64)


def test_whole_batch_past_the_index_limit_is_refused():
    big = np.broadcast_to(np.zeros((1, 2, 2), "float32"), (2**33, 2, 2))  # a view: nothing allocated
    with _refused("whole batch has 18446744056529682432 elements, more than any array can hold"):
        keras_sig.signature(big, 30)  # 2**31 - 2 elements per path: within the limit


def test_traces_are_refused_before_any_array_work(backend):
    """Inside ``jax.jit`` and ``tf.function`` the check runs on the static shape, before tracing on."""
    if backend.name not in ("jax", "tensorflow"):
        pytest.skip("only JAX and TensorFlow trace")
    mod = backend.module
    compile_ = mod.jit if backend.name == "jax" else mod.function
    f = compile_(lambda x: keras_sig.signature(x, 8))
    with _refused("channels=50, depth=8"):
        f(backend.asarray(np.zeros((2, 50)), "float32"))
    if backend.name == "tensorflow":  # an unknown length and batch: the channels suffice
        g = mod.function(
            lambda x: keras_sig.signature(x, 8),
            input_signature=[mod.TensorSpec([None, None, 50], mod.float32)],
        )
        with _refused("channels=50, depth=8"):
            g.get_concrete_function()


def test_combinatorics_are_refused(max_size):
    start = time.perf_counter()
    with _refused("channels=50, depth=8: the list of Lyndon words"):
        keras_sig.lyndon_words(50, 8)
    with _refused("channels=2, depth=40: the list of Lyndon brackets"):
        keras_sig.lyndon_brackets(2, 40)
    with _refused("channels=3, depth=30: the list of words"):
        keras_sig.all_words(3, 30)
    assert keras_sig.lyndon_words(1, 10**18) == [(0,)]
    keras_sig.set_max_size(4)
    with _refused("would have 5 entries"):
        keras_sig.lyndon_words(2, 3)
    assert time.perf_counter() - start < 5


def test_windows_are_refused(max_size):
    path = np.zeros((9, 2))
    start = time.perf_counter()
    with _refused("dyadic_depth=100"):
        keras_sig.dyadic_signature(path, 2, dyadic_depth=100)
    with _refused("dyadic_depth=10\\*\\*18|dyadic_depth=1000000000000000000"):
        keras_sig.dyadic_signature(path, 2, dyadic_depth=10**18)
    with _refused("dyadic_depth=28"):
        keras_sig.dyadic_signature(path, 5, dyadic_depth=28)  # 2**29 - 1 pieces of 62
    assert time.perf_counter() - start < 5
    # a 9-point path in 2 channels at depth 2 (sigdim 6), against a limit of 40 elements a path
    keras_sig.set_max_size(40)
    assert keras_sig.windowed_signature(path, 2, window=8).shape == (2, 6)  # 32 points, 12 features
    with _refused("the 8 windows: their signatures would have 48 elements"):
        keras_sig.windowed_signature(path, 2, window=2)
    with _refused("the 5 windows: the 5 gathered of 5 points per path has 50 elements"):
        keras_sig.windowed_signature(path, 2, window=5)
    with _refused("dyadic_depth=2: the 7 dyadic pieces: their signatures would have 42 elements"):
        keras_sig.dyadic_signature(path, 2, dyadic_depth=2)
    assert keras_sig.dyadic_signature(path, 2, dyadic_depth=1).shape == (3, 6)


# --------------------------------------------------------------------------- float32 range


def _float32_bound(depth: int) -> float:
    """The documented bound on a path's total variation for float32 at ``depth``."""
    return (math.factorial(depth) * 1e38) ** (1 / depth)


def _walk(rng: np.random.Generator) -> np.ndarray:
    """30 increments in 3 channels whose sizes span six orders of magnitude."""
    steps = rng.normal(size=(30, 3)) * 10.0 ** rng.uniform(-6, 0, size=(30, 1))
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("depth", range(2, 9))
def test_float32_stays_finite_within_the_documented_bound(backend, method, depth, rng):
    bound = _float32_bound(depth)
    walk = _walk(rng)
    walk *= bound / np.abs(np.diff(walk, axis=0)).sum()  # total variation exactly at the bound
    line = np.array([[0.0], [bound]])  # one channel: the word 0...0 is bound**depth / depth!
    for path in (walk, line):
        x = backend.asarray(path, "float32")
        for kwargs in ({}, {"stream": True}, {"inverse": True}):
            out = backend.to_numpy(keras_sig.signature(x, depth, method=method, **kwargs))
            assert np.isfinite(out).all(), (kwargs, path.shape)
    # and the bound is nearly tight: four times the variation overflows the word 0...0
    past = backend.asarray(np.array([[0.0], [4 * bound]]), "float32")
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy warns of the overflow
        out = backend.to_numpy(keras_sig.signature(past, depth, method=method))
    assert not np.isfinite(out[-1])


# --------------------------------------------------------------------------- docs


def test_size_docstrings_run_and_have_numpydoc_sections(max_size):
    import doctest
    import inspect

    from keras_sig._lib import _sizes

    result = doctest.testmod(_sizes, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 5
    assert result.failed == 0
    for function in (keras_sig.get_max_size, keras_sig.set_max_size):
        doc = inspect.getdoc(function)
        for section in ("Returns\n-------", "Examples\n--------"):
            assert section in doc
    assert "Float32 range" in inspect.getdoc(keras_sig.signature)
