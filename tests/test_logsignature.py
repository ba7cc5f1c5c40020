"""The log-signature contract (DESIGN.md §1) on every backend, dtype and mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME, peer
from tests._checks import (
    autodiff_params,
    bad_input_path,
    check_gradient,
    check_rejects,
    check_torch_compile,
    rejection_cases,
)

MODES = ["words", "brackets", "expand"]

OPTIONS = {
    "plain": {},
    "basepoint": {"basepoint": True},
    "basepoint_array": {"basepoint": "array"},
    "initial": {"initial": "array"},
    "inverse_initial": {"inverse": True, "initial": "array"},
}


def _rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    return x.astype(dtype).astype(np.float64)


def _options(name, rng, batch, channels, depth, dtype):
    """Reference kwargs (rounded to ``dtype``) for the option set ``name``."""
    opts = dict(OPTIONS[name])
    if opts.get("basepoint") == "array":
        opts["basepoint"] = _rounded(rng.normal(size=(*batch, channels)), dtype)
    if opts.get("initial") == "array":
        sig = reference.signature(rng.normal(size=(*batch, 4, channels)) * 0.5, depth)
        opts["initial"] = _rounded(sig, dtype)
    return opts


def _on(backend, dtype, opts):
    return {k: backend.asarray(v, dtype) if isinstance(v, np.ndarray) else v for k, v in opts.items()}


def _size(channels, depth, mode):
    return keras_sig.sigdim(channels, depth) if mode == "expand" else keras_sig.logsigdim(channels, depth)


# Every mode with and without stream; each further option set with one mode (they act on the
# signature, before the mode's change of coordinates), so that JAX compiles fewer variants.
CASES = [(mode, stream, "plain") for mode in MODES for stream in (False, True)] + [
    (MODES[i % 3], stream, option) for i, option in enumerate(list(OPTIONS)[1:]) for stream in (False, True)
]


@pytest.mark.parametrize(
    ("mode", "stream", "option"), CASES, ids=[f"{m}-{'stream' if s else 'final'}-{o}" for m, s, o in CASES]
)
def test_matches_reference(backend, dtype, tol, rng, mode, stream, option):
    batch, length, channels, depth = (2,), 5, 3, 4
    path = _rounded(rng.normal(size=(*batch, length, channels)) * 0.7, dtype)
    opts = _options(option, rng, batch, channels, depth, dtype)
    expected = reference.logsignature(path, depth, mode=mode, stream=stream, **opts)
    got = keras_sig.logsignature(
        backend.asarray(path, dtype), depth, mode=mode, stream=stream, **_on(backend, dtype, opts)
    )
    assert isinstance(got, backend.array_type())
    assert got.dtype == backend.dtype(dtype)
    steps = length - 1 + int("basepoint" in opts)
    size = _size(channels, depth, mode)
    assert tuple(got.shape) == expected.shape == ((*batch, steps, size) if stream else (*batch, size))
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize("mode", MODES)
def test_inverse_is_minus_the_log_signature(backend, rng, mode):
    path = backend.asarray(rng.normal(size=(3, 6, 2)), "float64")
    forward = backend.to_numpy(keras_sig.logsignature(path, 4, mode=mode))
    backward = backend.to_numpy(keras_sig.logsignature(path, 4, mode=mode, inverse=True))
    np.testing.assert_allclose(backward, -forward, rtol=1e-10, atol=1e-12)
    reversed_path = backend.to_numpy(path)[:, ::-1].copy()
    np.testing.assert_allclose(
        backend.to_numpy(keras_sig.logsignature(backend.asarray(reversed_path, "float64"), 4, mode=mode)),
        backward,
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_through_the_exponential(backend, dtype, tol, rng, mode):
    """logsignature_to_signature(logsignature(x)) == signature(x), with and without the scalar term."""
    path = backend.asarray(rng.normal(size=(2, 3, 7, 3)) * 0.5, dtype)
    logsig = keras_sig.logsignature(path, 4, mode=mode)
    sig = keras_sig.logsignature_to_signature(logsig, 3, 4, mode=mode)
    np.testing.assert_allclose(backend.to_numpy(sig), backend.to_numpy(keras_sig.signature(path, 4)), **tol)
    with_scalar = keras_sig.logsignature_to_signature(logsig, 3, 4, mode=mode, scalar_term=True)
    np.testing.assert_allclose(
        backend.to_numpy(with_scalar), backend.to_numpy(keras_sig.signature(path, 4, scalar_term=True)), **tol
    )


@pytest.mark.parametrize("mode", MODES)
def test_straight_line_is_its_increment(backend, rng, mode):
    """A straight line's log-signature is the increment: every higher term is zero."""
    start, step = rng.normal(size=(4, 1, 3)), rng.normal(size=(4, 1, 3))
    line = start + np.linspace(0.0, 1.0, 6)[None, :, None] * step
    got = backend.to_numpy(keras_sig.logsignature(backend.asarray(line, "float64"), 4, mode=mode))
    np.testing.assert_allclose(got[:, :3], step[:, 0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got[:, 3:], 0.0, atol=1e-13)
    assert np.abs(got[:, 3:]).max() < 1e-13
    # ... and not for a path that turns (the test can fail)
    turning = backend.to_numpy(
        keras_sig.logsignature(backend.asarray(rng.normal(size=(4, 3, 3)), "float64"), 4)
    )
    assert np.abs(turning[:, 3:]).max() > 1e-3


@pytest.mark.parametrize("mode", ["words"])
def test_stream_entries_are_prefixes(backend, rng, mode):
    path = rng.normal(size=(2, 6, 2))
    stream = backend.to_numpy(
        keras_sig.logsignature(backend.asarray(path, "float64"), 3, mode=mode, stream=True)
    )
    for t in range(5):
        prefix = backend.asarray(path[:, : t + 2], "float64")
        np.testing.assert_allclose(
            stream[:, t],
            backend.to_numpy(keras_sig.logsignature(prefix, 3, mode=mode)),
            rtol=1e-10,
            atol=1e-12,
        )


@pytest.mark.parametrize("shape", [(7, 2), (1, 7, 2), (2, 3, 7, 2)])
def test_leading_batch_dimensions_and_short_paths(backend, rng, shape):
    path = rng.normal(size=shape)
    for mode in MODES:
        got = keras_sig.logsignature(backend.asarray(path, "float64"), 3, mode=mode)
        expected = reference.logsignature(path, 3, mode=mode)
        assert tuple(got.shape) == expected.shape
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10, atol=1e-12)
    one = backend.asarray(rng.normal(size=(2, 1, 3)), "float64")
    np.testing.assert_array_equal(backend.to_numpy(keras_sig.logsignature(one, 3)), np.zeros((2, 14)))
    assert tuple(keras_sig.logsignature(one, 3, stream=True).shape) == (2, 0, 14)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_depths_and_methods_agree(backend, rng, depth):
    path = backend.asarray(rng.normal(size=(2, 9, 2)) * 0.5, "float64")
    results = [
        backend.to_numpy(keras_sig.logsignature(path, depth, mode="brackets", method=m))
        for m in ("sequential", "parallel", "auto")
    ]
    expected = reference.logsignature(backend.to_numpy(path), depth, mode="brackets")
    for got in results:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_output_lives_on_the_input_device(backend, rng):
    path = backend.asarray(rng.normal(size=(2, 5, 3)), "float32")
    for mode in MODES:
        got = keras_sig.logsignature(path, 3, mode=mode, basepoint=True)
        assert backend.device_of(got) == backend.device


def test_integer_input_is_promoted(backend):
    path = backend.asarray(np.array([[0, 0], [1, 0], [1, 2]]), "int32")
    got = keras_sig.logsignature(path, 2)
    xp = keras_sig._lib._namespace.array_namespace(path)
    default = xp.__array_namespace_info__().default_dtypes(
        device=keras_sig._lib._namespace.device_of(path, xp)
    )
    assert got.dtype == default["real floating"]
    np.testing.assert_allclose(backend.to_numpy(got), [1.0, 2.0, 1.0], rtol=1e-6)


def test_nested_lists_and_xp(rng):
    data = rng.normal(size=(5, 2)).tolist()
    got = keras_sig.logsignature(data, 3, mode="brackets")
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, reference.logsignature(np.asarray(data), 3, mode="brackets"), rtol=1e-10)
    strict = pytest.importorskip("array_api_strict")
    got = keras_sig.logsignature(data, 3, xp=strict)
    assert isinstance(got, type(strict.asarray(0.0)))
    sig = keras_sig.signature(np.asarray(data), 3).tolist()
    combined = keras_sig.signature_combine(sig, sig, 2, 3, xp=strict)
    assert isinstance(combined, type(strict.asarray(0.0)))


# --------------------------------------------------------------------------- cross-checks


@pytest.mark.parametrize(("channels", "depth"), [(2, 6), (3, 4), (5, 4), (4, 5)])
def test_brackets_and_expand_match_iisignature(backend, rng, channels, depth):
    iisignature = peer("iisignature")
    path = np.cumsum(rng.normal(size=(3, 12, channels)) * 0.3, axis=1)
    x = backend.asarray(path, "float64")
    brackets = iisignature.logsig(path, iisignature.prepare(channels, depth))
    expand = iisignature.logsig(path, iisignature.prepare(channels, depth, "x"), "x")
    got = backend.to_numpy(keras_sig.logsignature(x, depth, mode="brackets"))
    np.testing.assert_allclose(got, brackets, rtol=1e-10, atol=1e-12)
    got = backend.to_numpy(keras_sig.logsignature(x, depth, mode="expand"))
    np.testing.assert_allclose(got, expand, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="signax runs on JAX")
@pytest.mark.parametrize("stream", [False, True])
def test_words_match_signax(rng, stream):
    signax = peer("signax")
    jnp = BACKENDS_BY_NAME["jax"].module.numpy
    path = jnp.asarray(np.cumsum(rng.normal(size=(3, 10, 3)) * 0.3, axis=1))
    expected = np.asarray(signax.logsignature(path, 4, stream=stream))
    got = np.asarray(keras_sig.logsignature(path, 4, stream=stream))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="signatory works on torch tensors")
@pytest.mark.parametrize("mode", MODES)
def test_every_option_matches_signatory(rng, mode):
    signatory = peer("signatory")
    import torch

    x = torch.tensor(rng.normal(size=(3, 9, 3)))
    for stream, basepoint in itertools.product([False, True], repeat=2):
        expected = signatory.logsignature(x, 4, stream=stream, basepoint=basepoint, mode=mode)
        got = keras_sig.logsignature(x, 4, mode=mode, stream=stream, basepoint=basepoint)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- gradients


GRAD_CASES = [
    ("words", {}),
    ("brackets", {"stream": True}),
    ("expand", {"basepoint": True, "inverse": True}),
    ("brackets", {"initial": "array"}),
]


def _grad_case(rng, raw):
    opts = dict(raw)
    if opts.get("initial") == "array":
        opts["initial"] = reference.signature(rng.normal(size=(2, 3, 2)), 3)
    return opts


@pytest.mark.parametrize(("framework", "jit"), autodiff_params(jit=(False, True)))
@pytest.mark.parametrize(("mode", "raw"), GRAD_CASES)
def test_gradient_matches_finite_differences(rng, mode, raw, framework, jit):
    """Eager PyTorch; JAX's grad, jit and vmap; TensorFlow's graph and XLA (its parallel scan)."""
    path = rng.normal(size=(2, 4, 2))
    opts = _grad_case(rng, raw)
    method = {"method": "parallel"} if framework == "tensorflow" else {}
    check_gradient(
        lambda p, **o: keras_sig.logsignature(p, 3, mode=mode, **method, **o),
        path,
        lambda p, **o: reference.logsignature(p, 3, mode=mode, **o),
        backend=framework,
        jit=jit,
        rng=rng,
        constants=opts,
        vmap=True,
    )


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_torch_compile(rng):
    import torch

    x = torch.tensor(rng.normal(size=(2, 6, 3)), requires_grad=True)
    check_torch_compile(lambda p: keras_sig.logsignature(p, 3, mode="brackets"), x)


# --------------------------------------------------------------------------- bad input


BAD_CALLS = [
    (
        lambda p: keras_sig.logsignature(p, 2, mode="lyndon"),
        ValueError,
        r"mode must be one of 'words', 'brackets', 'expand'; got 'lyndon'",
    ),
    (lambda p: keras_sig.logsignature(p, 0), ValueError, r"depth must be an integer >= 1; got 0"),
    (lambda p: keras_sig.logsignature(p, 2, stream="no"), TypeError, r"stream must be True or False"),
    (lambda p: keras_sig.logsignature(p, 2, inverse=None), TypeError, r"inverse must be True or False"),
    (lambda p: keras_sig.logsignature(p, 2, method="fast"), ValueError, r"method must be one of"),
    (
        lambda p: keras_sig.logsignature(p[0, 0, :], 2),
        ValueError,
        r"path must have shape \(\.\.\., length, channels\); got \(3,\)",
    ),
    (
        lambda p: keras_sig.logsignature(p, 2, initial=p[:, 0, :]),
        ValueError,
        r"initial must be a signature of shape \(\.\.\., 12\) for channels=3, depth=2",
    ),
]


@rejection_cases(BAD_CALLS)
def test_bad_input_raises_a_clear_error(backend, call, error, match):
    check_rejects(call, error, match, bad_input_path(backend))
