"""Path augmentations and windowed signatures, on every backend, against loop-built references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._checks import autodiff_params, bad_input_path, check_gradient, check_rejects, rejection_cases

# --------------------------------------------------------------------------- references (loops)


def _lead_lag_ref(path):
    """Lead-lag built point by point: (x_0, x_0), (x_1, x_0), (x_1, x_1), ..."""
    out = []
    for index in np.ndindex(*path.shape[:-2]):
        p = path[index]
        points = [np.concatenate([p[0], p[0]])]
        for i in range(1, len(p)):
            points.append(np.concatenate([p[i], p[i - 1]]))
            points.append(np.concatenate([p[i], p[i]]))
        out.append(points)
    return np.asarray(out).reshape(*path.shape[:-2], 2 * path.shape[-2] - 1, 2 * path.shape[-1])


def _invisibility_reset_ref(path):
    out = np.zeros((*path.shape[:-2], path.shape[-2] + 2, path.shape[-1] + 1))
    out[..., :-2, 1:] = path
    out[..., :-2, 0] = 1.0
    out[..., -2, 1:] = path[..., -1, :]
    return out


def _window_refs(path, depth, bounds, **kwargs):
    """Reference signatures of ``path[..., first:last+1, :]`` for each ``(first, last)``, stacked."""
    return np.stack(
        [reference.signature(path[..., a : b + 1, :], depth, **kwargs) for a, b in bounds], axis=-2
    )


def _dyadic_bounds(length, dyadic_depth):
    """Dyadic pieces by real-valued cut points rounded down, written independently of the library."""
    bounds = []
    for level in range(dyadic_depth + 1):
        cuts = [int(np.floor(i * (length - 1) / 2**level)) for i in range(2**level + 1)]
        bounds.extend(itertools.pairwise(cuts))
    return bounds


# --------------------------------------------------------------------------- augmentations


@pytest.mark.parametrize("shape", [(6, 2), (3, 5, 1), (2, 2, 4, 3), (1, 2)])
def test_augmentations_match_loop_references(backend, dtype, tol, rng, shape):
    path = rng.normal(size=shape)
    x = backend.asarray(path, dtype)

    got = keras_sig.lead_lag(x)
    assert isinstance(got, backend.array_type())
    assert got.dtype == x.dtype
    np.testing.assert_allclose(backend.to_numpy(got), _lead_lag_ref(path), **tol)

    got = keras_sig.invisibility_reset(x)
    assert isinstance(got, backend.array_type())
    assert got.dtype == x.dtype
    np.testing.assert_allclose(backend.to_numpy(got), _invisibility_reset_ref(path), **tol)

    got = keras_sig.add_time(x)
    expected_time = np.linspace(0.0, 1.0, shape[-2]) if shape[-2] > 1 else np.zeros(1)
    np.testing.assert_allclose(
        backend.to_numpy(got)[..., 0], np.broadcast_to(expected_time, shape[:-1]), **tol
    )
    np.testing.assert_allclose(backend.to_numpy(got)[..., 1:], path, **tol)
    assert backend.device_of(got) == backend.device_of(x)


def test_add_time_with_given_times_broadcasts(backend, dtype, tol, rng):
    path = rng.normal(size=(3, 2, 5, 2))
    times = np.cumsum(rng.uniform(size=(2, 5)), axis=-1)  # one time grid per second batch entry
    got = backend.to_numpy(
        keras_sig.add_time(backend.asarray(path, dtype), times=backend.asarray(times, dtype))
    )
    np.testing.assert_allclose(got[..., 0], np.broadcast_to(times, (3, 2, 5)), **tol)
    np.testing.assert_allclose(got[..., 1:], path, **tol)


def test_augmented_signatures_have_their_defining_properties(backend, rng):
    path = np.cumsum(rng.normal(size=(4, 12, 2)), axis=-2)
    x = backend.asarray(path, "float64")
    tol = {"rtol": 1e-10, "atol": 1e-10}

    # Lead-lag: the area between lead and lag of one channel is half its quadratic variation.
    sig = backend.to_numpy(keras_sig.signature(keras_sig.lead_lag(x), 2))
    level2 = sig[..., 4:].reshape(4, 4, 4)
    for c in range(2):
        quadratic_variation = np.sum(np.diff(path[..., c], axis=-1) ** 2, axis=-1)
        np.testing.assert_allclose(level2[:, c, 2 + c] - level2[:, 2 + c, c], quadratic_variation, **tol)

    # Invisibility reset: level 1 is (-1, -x_0), which a plain signature cannot see.
    sig = backend.to_numpy(keras_sig.signature(keras_sig.invisibility_reset(x), 3))
    np.testing.assert_allclose(sig[..., 0], -1.0, **tol)
    np.testing.assert_allclose(sig[..., 1:3], -path[..., 0, :], **tol)

    # Time: level 1 of the time channel is the elapsed time, and the time-x area tells
    # the path from its reparametrisation (same points, other speeds), which the plain
    # signature does not.
    times = np.cumsum(rng.uniform(0.1, 1.0, size=(4, 12)), axis=-1)
    plain = backend.to_numpy(keras_sig.signature(x, 3))
    timed = backend.to_numpy(keras_sig.signature(keras_sig.add_time(x, times=backend.asarray(times)), 3))
    uniform = backend.to_numpy(keras_sig.signature(keras_sig.add_time(x), 3))
    np.testing.assert_allclose(timed[..., 0], times[..., -1] - times[..., 0], **tol)
    np.testing.assert_allclose(uniform[..., 0], 1.0, **tol)
    assert np.abs(timed[..., 3:] - uniform[..., 3:]).max() > 1e-3
    np.testing.assert_allclose(reference.signature(path, 3), plain, **tol)


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("length", "window", "step"), [(9, 4, 1), (9, 4, 2), (10, 3, 4), (7, 7, 1), (6, 1, 2), (8, 2, 3)]
)
def test_windowed_signature_matches_the_signature_of_each_window(
    backend, dtype, tol, rng, length, window, step
):
    path = rng.normal(size=(2, 3, length, 2)) * 0.5
    starts = range(0, length - window + 1, step)
    expected = _window_refs(path, 3, [(s, s + window - 1) for s in starts])
    got = keras_sig.windowed_signature(backend.asarray(path, dtype), 3, window, step=step)
    assert isinstance(got, backend.array_type())
    assert got.shape == (2, 3, len(starts), keras_sig.sigdim(2, 3))
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize("options", [{"inverse": True}, {"scalar_term": True}, {"method": "sequential"}])
def test_windowed_signature_passes_options_on(backend, tol, dtype, rng, options):
    path = rng.normal(size=(3, 8, 3)) * 0.5
    kwargs = {k: v for k, v in options.items() if k != "method"}
    expected = _window_refs(path, 3, [(0, 4), (3, 7)], **kwargs)
    got = keras_sig.windowed_signature(backend.asarray(path, dtype), 3, 5, step=3, **options)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize(("length", "dyadic_depth"), [(9, 0), (9, 2), (12, 3), (5, 3), (1, 1), (2, 2)])
def test_dyadic_signature_matches_each_piece_and_chen(backend, dtype, tol, rng, length, dyadic_depth):
    path = rng.normal(size=(2, length, 2)) * 0.5
    bounds = _dyadic_bounds(length, dyadic_depth)
    got = keras_sig.dyadic_signature(backend.asarray(path, dtype), 3, dyadic_depth)
    assert got.shape == (2, 2 ** (dyadic_depth + 1) - 1, keras_sig.sigdim(2, 3))
    np.testing.assert_allclose(backend.to_numpy(got), _window_refs(path, 3, bounds), **tol)
    # Chen: each level's pieces, multiplied in order, are the whole path.
    whole = reference.signature(path, 3)
    sigs = backend.to_numpy(got)
    for level in range(1, dyadic_depth + 1):
        pieces = [sigs[:, i] for i in range(2**level - 1, 2 ** (level + 1) - 1)]
        np.testing.assert_allclose(
            keras_sig.multi_signature_combine(pieces, 2, 3), whole, rtol=1e-4, atol=1e-5
        )


def _loss_cases():
    """(name, keras_sig function of any backend's path, reference function of a NumPy path)."""
    return [
        (
            "windowed",
            lambda v: keras_sig.windowed_signature(v, 3, 4, step=2),
            lambda p: _window_refs(p, 3, [(0, 3), (2, 5), (4, 7)]),
        ),
        (
            "dyadic",
            lambda v: keras_sig.dyadic_signature(v, 3, 2),
            lambda p: _window_refs(p, 3, _dyadic_bounds(8, 2)),
        ),
        (
            "lead_lag",
            lambda v: keras_sig.signature(keras_sig.lead_lag(v), 3),
            lambda p: reference.signature(_lead_lag_ref(p), 3),
        ),
        (
            "invisibility_reset",
            lambda v: keras_sig.signature(keras_sig.invisibility_reset(v), 3),
            lambda p: reference.signature(_invisibility_reset_ref(p), 3),
        ),
    ]


CASES = _loss_cases()


@pytest.mark.parametrize(("framework", "jit"), autodiff_params())
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_gradients(rng, name, framework, jit):
    (case,) = [c for c in CASES if c[0] == name]
    path = rng.normal(size=(2, 8, 2)) * 0.5
    check_gradient(case[1], path, case[2], backend=framework, jit=jit, rng=rng)


# --------------------------------------------------------------------------- bad input

BAD_CALLS = [
    (
        lambda p: keras_sig.windowed_signature(p, 2, 6),
        ValueError,
        r"window must be at most the path's length \(5",
    ),
    (lambda p: keras_sig.windowed_signature(p, 2, 0), ValueError, r"window must be an integer >= 1; got 0"),
    (
        lambda p: keras_sig.windowed_signature(p, 2, 2.5),
        TypeError,
        r"window must be an integer >= 1; got 2\.5",
    ),
    (
        lambda p: keras_sig.windowed_signature(p, 2, 3, step=0),
        ValueError,
        r"step must be an integer >= 1; got 0",
    ),
    (lambda p: keras_sig.windowed_signature(p, 0, 3), ValueError, r"depth must be an integer >= 1; got 0"),
    (lambda p: keras_sig.windowed_signature(p, 2, 3, inverse=1), TypeError, r"inverse must be True or False"),
    (lambda p: keras_sig.windowed_signature(p, 2, 3, method="fast"), ValueError, r"method must be one of"),
    (
        lambda p: keras_sig.dyadic_signature(p, 2, -1),
        ValueError,
        r"dyadic_depth must be an integer >= 0; got -1",
    ),
    (lambda p: keras_sig.dyadic_signature(p, 2, "2"), TypeError, r"dyadic_depth must be an integer >= 0"),
    (
        lambda p: keras_sig.lead_lag(p[0, 0, ...]),
        ValueError,
        r"path must have shape \(\.\.\., length, channels\); got \(3,\)",
    ),
    (lambda p: keras_sig.invisibility_reset("path"), TypeError, r"path must be an array"),
    (
        lambda p: keras_sig.add_time(p, times=p[..., 0][:, :4]),
        ValueError,
        r"times must have shape \(\.\.\., 5\) to match path's length; got \(2, 4\)",
    ),
]


@rejection_cases(BAD_CALLS)
def test_bad_input_raises_a_clear_error(backend, call, error, match):
    check_rejects(call, error, match, bad_input_path(backend))


def test_add_time_refuses_times_of_another_batch(backend):
    path = backend.asarray(np.zeros((2, 5, 3)), "float64")
    with pytest.raises(ValueError, match=r"times must have shape \(\.\.\., 5\) with leading dimensions"):
        keras_sig.add_time(path, times=backend.asarray(np.zeros((3, 5)), "float64"))


def test_add_time_of_a_float16_path_is_rounded_once(backend):
    """At length 10 000 the times are ``i / (L - 1)`` rounded to float16, not counted in float16."""
    if backend.name == "array_api_strict":
        pytest.skip("the array API standard has no float16")
    length = 10_000
    out = keras_sig.add_time(backend.asarray(np.zeros((length, 1)), "float16"))
    got = backend.to_numpy(out)
    assert got.dtype == np.float16
    exact = np.arange(length) / (length - 1)
    # rounded once (NumPy, JAX) or through float32 (PyTorch's and TensorFlow's float64 -> float16)
    once, via_float32 = exact.astype(np.float16), exact.astype(np.float32).astype(np.float16)
    assert ((got[:, 0] == once) | (got[:, 0] == via_float32)).all()
