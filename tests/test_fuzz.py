"""A property-based fuzz suite: drawn shapes, dtypes, options and methods on every backend.

Each property draws its input with hypothesis (batch shapes of zero to three
leading dimensions, sizes 0 to 3, so empty and length-1 axes come up; paths of
1 to 5 points; float64 and float32), runs a public function on the session's
backend and checks the result against the definition-level reference of
``tests/reference.py``, or the documented error. A NaN or an infinity placed
in one path must reach that path's result only (README, "Conventions").

The example count comes from the hypothesis profile: ``keras_sig`` (the
default, small enough for CI) or ``fuzz`` (a longer run), chosen with
``KERAS_SIG_FUZZ=1`` or ``pytest --hypothesis-profile=fuzz`` (both profiles
are registered in ``tests/conftest.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import keras_sig
from tests import reference
from tests._backends import Backend

FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
METHODS = ("auto", "sequential", "parallel", "chunked")
values = st.floats(-2, 2, allow_nan=False, allow_infinity=False, width=64)


def _tol(dtype: str, expected: np.ndarray) -> dict[str, float]:
    scale = float(np.max(np.abs(expected), initial=1.0))
    if dtype == "float32":
        return {"rtol": 1e-4, "atol": 1e-4 * scale}
    return {"rtol": 1e-9, "atol": 1e-10 * scale}


@st.composite
def batch_shapes(draw: Any) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(0, 3), max_size=3)))


@st.composite
def broadcastable(draw: Any, batch: tuple[int, ...]) -> tuple[int, ...]:
    """A shape whose leading dimensions broadcast to ``batch``: a suffix of it, some sizes 1."""
    start = draw(st.integers(0, len(batch)))
    return tuple(1 if draw(st.booleans()) else s for s in batch[start:])


def _run(backend: Backend, fn: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    # NumPy warns of inf - inf in a poisoned path, as it should (dask when it computes).
    with np.errstate(all="ignore"):
        out = fn(*args, **kwargs)
        assert isinstance(out, backend.array_type())
        return backend.to_numpy(out)


def _poison(draw: Any, path: np.ndarray) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """``path`` with NaN or +-inf at one drawn point of one drawn path, and that path's index."""
    batch = path.shape[:-2]
    if 0 in batch or not draw(st.booleans()):
        return path, None
    index = tuple(draw(st.integers(0, s - 1)) for s in batch)
    t = draw(st.integers(0, path.shape[-2] - 1))
    c = draw(st.integers(0, path.shape[-1] - 1))
    bad = path.copy()
    bad[(*index, t, c)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return bad, index


def _check_poisoned(
    out: np.ndarray, expected: np.ndarray, index: tuple[int, ...] | None, held: bool, tol: dict[str, float]
) -> None:
    """Every other path equals the reference; the poisoned one is not all finite (unless in padding)."""
    if index is None or held:
        np.testing.assert_allclose(out, expected, **tol)
        return
    mask = np.ones(out.shape[: len(index)], dtype=bool)
    mask[index] = False
    np.testing.assert_allclose(out[mask], expected[mask], **tol)
    assert not np.all(np.isfinite(out[index]))


# --------------------------------------------------------------------------- signature


@FUZZ
@given(data=st.data())
def test_signature(backend, data):
    batch = data.draw(batch_shapes(), "batch")
    length = data.draw(st.integers(1, 5), "length")
    channels = data.draw(st.integers(1, 3), "channels")
    depth = data.draw(st.integers(1, 4 if channels < 3 else 3), "depth")
    dtype = data.draw(st.sampled_from(["float64", "float32"]), "dtype")
    options = {
        "stream": data.draw(st.booleans(), "stream"),
        "inverse": data.draw(st.booleans(), "inverse"),
        "scalar_term": data.draw(st.booleans(), "scalar_term"),
        "method": data.draw(st.sampled_from(METHODS), "method"),
        "memory_budget": data.draw(st.sampled_from([None, 1, 512, 8192]), "memory_budget"),
    }
    path = data.draw(arrays(np.float64, (*batch, length, channels), elements=values), "path")
    path, poisoned = _poison(data.draw, path)
    kind = data.draw(st.sampled_from(["none", "origin", "array"]), "basepoint")
    ref: dict[str, Any] = {}
    if kind == "origin":
        options["basepoint"] = ref["basepoint"] = True
    elif kind == "array":
        bp = data.draw(arrays(np.float64, (*data.draw(broadcastable(batch)), channels), elements=values))
        options["basepoint"], ref["basepoint"] = backend.asarray(bp, dtype), bp
    if data.draw(st.booleans(), "initial"):
        size = keras_sig.sigdim(channels, depth)
        init = data.draw(
            arrays(np.float64, (*data.draw(broadcastable(batch)), size), elements=st.floats(-1, 1))
        )
        options["initial"], ref["initial"] = backend.asarray(init, dtype), init
    source, points = path, length
    if batch and data.draw(st.booleans(), "lengths"):
        lengths = data.draw(arrays(np.int64, batch, elements=st.integers(1, length)), "lengths")
        options["lengths"] = lengths
        steps = np.arange(length).reshape((1,) * len(batch) + (length, 1))
        last = np.take_along_axis(path, (lengths - 1)[..., None, None], axis=-2)
        source = np.where(steps < lengths[..., None, None], path, last)
        points = int(lengths[poisoned]) if poisoned is not None else length
    # A poisoned point changes nothing in the padding, nor in a one-point path (no increment).
    held = poisoned is not None and (
        int(np.argwhere(~np.isfinite(path[poisoned]))[0][0]) >= points or points + int(kind != "none") < 2
    )
    out = _run(backend, keras_sig.signature, backend.asarray(path, dtype), depth, **options)
    with np.errstate(all="ignore"):
        expected = reference.signature(
            source,
            depth,
            stream=options["stream"],
            inverse=options["inverse"],
            scalar_term=options["scalar_term"],
            **ref,
        )
    assert out.shape == expected.shape
    assert out.dtype == np.dtype(dtype)
    _check_poisoned(out, expected, poisoned, held, _tol(dtype, expected[np.isfinite(expected)]))


# --------------------------------------------------------------------------- log-signature


@FUZZ
@given(data=st.data())
def test_logsignature(backend, data):
    batch = data.draw(batch_shapes(), "batch")
    length = data.draw(st.integers(1, 5), "length")
    channels = data.draw(st.integers(1, 3), "channels")
    depth = data.draw(st.integers(1, 4 if channels < 3 else 3), "depth")
    mode = data.draw(st.sampled_from(["words", "brackets", "expand"]), "mode")
    stream = data.draw(st.booleans(), "stream")
    basepoint = data.draw(st.booleans(), "basepoint")
    method = data.draw(st.sampled_from(METHODS), "method")
    path = data.draw(arrays(np.float64, (*batch, length, channels), elements=values), "path")
    path, poisoned = _poison(data.draw, path)
    out = _run(
        backend,
        keras_sig.logsignature,
        backend.asarray(path),
        depth,
        mode=mode,
        stream=stream,
        basepoint=basepoint,
        method=method,
    )
    size = keras_sig.sigdim(channels, depth) if mode == "expand" else keras_sig.logsigdim(channels, depth)
    steps = length - 1 + int(basepoint)
    shape = (*batch, steps, size) if stream else (*batch, size)
    assert out.shape == shape
    if 0 in shape:
        return
    with np.errstate(all="ignore"):
        expected = reference.logsignature(path, depth, mode=mode, stream=stream, basepoint=basepoint)
    held = length + int(basepoint) < 2  # a one-point path has no increment to poison
    _check_poisoned(out, expected, poisoned, held, _tol("float64", expected[np.isfinite(expected)]))


# --------------------------------------------------------------------------- the tensor algebra


@FUZZ
@given(data=st.data())
def test_tensor_algebra(backend, data):
    """Combine, inverse, log and exp of signatures with broadcast batch shapes."""
    batch = data.draw(batch_shapes(), "batch")
    channels = data.draw(st.integers(1, 3), "channels")
    depth = data.draw(st.integers(1, 4 if channels < 3 else 3), "depth")
    mode = data.draw(st.sampled_from(["words", "brackets", "expand"]), "mode")
    shapes = [data.draw(broadcastable(batch)) for _ in range(3)]
    paths = [data.draw(arrays(np.float64, (*s, 3, channels), elements=values)) for s in shapes]
    sigs = [reference.signature(p, depth) for p in paths]
    a = [backend.asarray(s) for s in sigs]
    full = np.broadcast_shapes(*shapes)
    size = keras_sig.sigdim(channels, depth)

    combined = _run(backend, keras_sig.signature_combine, a[0], a[1], channels, depth)
    many = _run(backend, keras_sig.multi_signature_combine, a, channels, depth)
    inverse = _run(backend, keras_sig.signature_inverse, a[0], channels, depth)
    term = _run(backend, keras_sig.extract_signature_term, a[0], channels, depth, depth)
    log = _run(backend, keras_sig.signature_to_logsignature, a[0], channels, depth, mode=mode)
    assert combined.shape == (*np.broadcast_shapes(shapes[0], shapes[1]), size)
    assert many.shape == (*full, size)
    assert term.shape == (*shapes[0], channels**depth)

    def product(*series: np.ndarray) -> np.ndarray:
        lead = np.broadcast_shapes(*(s.shape[:-1] for s in series))
        flat = [np.broadcast_to(s, (*lead, size)).reshape(-1, size) for s in series]
        rows = []
        for row in zip(*flat, strict=True):
            levels = reference.dense(row[0], channels, depth)
            for r in row[1:]:
                levels = reference.tensor_mul(levels, reference.dense(r, channels, depth), depth)
            rows.append(reference.flatten(levels))
        return np.reshape(np.array(rows).reshape(-1, size), (*lead, size))

    tol = {"rtol": 1e-9, "atol": 1e-9}
    np.testing.assert_allclose(combined, product(sigs[0], sigs[1]), **tol)
    np.testing.assert_allclose(many, product(*sigs), **tol)
    np.testing.assert_allclose(inverse, reference.signature(paths[0], depth, inverse=True), **tol)
    np.testing.assert_allclose(term, sigs[0][..., size - channels**depth :], **tol)
    if 0 not in shapes[0]:
        np.testing.assert_allclose(
            log, reference.signature_to_logsignature(sigs[0], channels, depth, mode), **tol
        )
        back = _run(
            backend, keras_sig.logsignature_to_signature, backend.asarray(log), channels, depth, mode=mode
        )
        np.testing.assert_allclose(back, sigs[0], **tol)


# --------------------------------------------------------------------------- augmentations and windows


@FUZZ
@given(data=st.data())
def test_augmentations_and_windows(backend, data):
    batch = data.draw(batch_shapes(), "batch")
    length = data.draw(st.integers(1, 5), "length")
    channels = data.draw(st.integers(1, 3), "channels")
    path = data.draw(arrays(np.float64, (*batch, length, channels), elements=values), "path")
    x = backend.asarray(path)

    twice = np.repeat(path, 2, axis=-2)
    lead_lag = np.concatenate([twice[..., 1:, :], twice[..., :-1, :]], axis=-1)
    np.testing.assert_array_equal(_run(backend, keras_sig.lead_lag, x), lead_lag)
    times = np.broadcast_to(
        np.linspace(0.0, 1.0, length)[:, None] if length > 1 else np.zeros((1, 1)), (*batch, length, 1)
    )
    np.testing.assert_allclose(
        _run(backend, keras_sig.add_time, x), np.concatenate([times, path], axis=-1), rtol=1e-12, atol=1e-15
    )
    reset = _run(backend, keras_sig.invisibility_reset, x)
    assert reset.shape == (*batch, length + 2, channels + 1)
    np.testing.assert_array_equal(reset, keras_sig.invisibility_reset(path))

    window = data.draw(st.integers(1, length), "window")
    step = data.draw(st.integers(1, 3), "step")
    depth = data.draw(st.integers(1, 3), "depth")
    out = _run(backend, keras_sig.windowed_signature, x, depth, window=window, step=step)
    starts = range(0, length - window + 1, step)
    expected = np.stack([reference.signature(path[..., s : s + window, :], depth) for s in starts], axis=-2)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- documented errors


BAD_PATHS = [(5,), (3, 0), (0, 2), (2, 0, 2)]


@FUZZ
@given(
    data=st.data(),
    shape=st.sampled_from(BAD_PATHS),
    name=st.sampled_from(["signature", "logsignature", "lead_lag", "add_time", "windowed_signature"]),
)
def test_bad_paths_name_path(backend, data, shape, name):
    calls = {
        "signature": lambda p: keras_sig.signature(p, 2),
        "logsignature": lambda p: keras_sig.logsignature(p, 2),
        "lead_lag": keras_sig.lead_lag,
        "add_time": keras_sig.add_time,
        "windowed_signature": lambda p: keras_sig.windowed_signature(p, 2, window=1),
    }
    with pytest.raises(ValueError, match=r"^path must have"):
        calls[name](backend.asarray(np.zeros(shape)))


@FUZZ
@given(
    depth=st.one_of(st.integers(-3, 0), st.booleans(), st.floats(0.5, 3.5), st.just("2")),
    name=st.sampled_from(["signature", "logsignature", "windowed_signature", "signature_inverse"]),
)
def test_bad_depths_name_depth(backend, depth, name):
    path = backend.asarray(np.zeros((2, 3, 2)))
    calls = {
        "signature": lambda d: keras_sig.signature(path, d),
        "logsignature": lambda d: keras_sig.logsignature(path, d),
        "windowed_signature": lambda d: keras_sig.windowed_signature(path, d, window=2),
        "signature_inverse": lambda d: keras_sig.signature_inverse(backend.asarray(np.zeros((2, 6))), 2, d),
    }
    error = ValueError if isinstance(depth, int) and not isinstance(depth, bool) else TypeError
    with pytest.raises(error, match=r"^depth must be an integer >= 1"):
        calls[name](depth)
