"""Keras dtype policies, the AddTime time grid, unknown-rank shapes and size guards, on the session's backend.

Every policy Keras has (``float32``, ``float64``, ``mixed_float16``,
``mixed_bfloat16``, ``float16``, ``bfloat16``) is checked for the output dtype of
:class:`SigLayer` and :class:`LogSigLayer`, eager and symbolic, and for values
against the float64 reference.
"""

from __future__ import annotations

import contextlib
import json
import time
import zipfile

import numpy as np
import pytest

from tests import reference
from tests._backends import keras_for_session

keras = keras_for_session()

import ml_dtypes  # noqa: E402 - comes with Keras (its dependency), so only where Keras runs

from keras_sig import AddTime, InvisibilityReset, LeadLag, LogSigLayer, SigLayer  # noqa: E402

BACKEND = keras.backend.backend()
POLICIES = ["float32", "float64", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16"]
# the dtype the features come out in, under each policy
OUTPUT = {
    "float32": "float32",
    "float64": "float64",
    "mixed_float16": "float32",
    "mixed_bfloat16": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
}
# how close to the float64 reference: one rounding to the output dtype, a few times over
CLOSE = {
    "float32": 2e-5,
    "float64": 1e-10,
    "float16": 4 * 2.0**-11,
    "bfloat16": 4 * 2.0**-8,
}
HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}

pytestmark = [pytest.mark.keras]


@pytest.fixture
def policy(request: pytest.FixtureRequest):
    """Set the global dtype policy ``request.param`` (with 64-bit JAX for float64); restore it after."""
    name = request.param
    before = keras.config.dtype_policy()
    x64 = contextlib.nullcontext()
    if BACKEND == "jax":
        import jax

        x64 = jax.enable_x64(True)
    with x64:
        keras.config.set_dtype_policy(name)
        try:
            yield name
        finally:
            keras.config.set_dtype_policy(before)


def _numpy(x: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float64")))


def _dtype(x: object) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _paths() -> np.ndarray:
    rng = np.random.default_rng(31)
    return np.cumsum(rng.normal(scale=0.3, size=(3, 8, 3)), axis=1).astype("float32")


LAYERS = {
    "sig": (lambda: SigLayer(3), lambda x: reference.signature(x, 3)),
    "sig_stream": (lambda: SigLayer(2, stream=True), lambda x: reference.signature(x, 2, stream=True)),
    "logsig": (lambda: LogSigLayer(3), lambda x: reference.logsignature(x, 3)),
}


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_policy_is_honoured(policy, layer):
    make, exact = LAYERS[layer]
    x = _paths()
    want = OUTPUT[policy]
    compute = policy.removeprefix("mixed_")
    # The path as the layer sees it: Keras' Input cast to the policy's dtype, then to float32 at least.
    seen = x.astype("float64") if want == "float64" else x
    expected = exact(seen.astype("float64"))
    tol = CLOSE[OUTPUT[policy]] * max(1.0, float(np.abs(expected).max()))

    out = make()(x)  # eager, from NumPy
    assert _dtype(out) == want
    np.testing.assert_allclose(_numpy(out), expected, rtol=CLOSE[want], atol=tol)

    # symbolic, after a layer computing in the policy's dtype: the model's output dtype is the same
    inputs = keras.Input(x.shape[1:])
    hidden = keras.layers.Identity()(inputs)
    feats = make()(hidden)
    assert _dtype(feats) == want
    model = keras.Model(inputs, feats)
    out = model(x)
    assert _dtype(out) == want
    # the Identity layer rounds the input to its compute dtype (16 bits under every 16-bit policy)
    rounded = _numpy(keras.ops.cast(keras.ops.cast(x, compute), "float64"))
    np.testing.assert_allclose(_numpy(out), exact(rounded), rtol=CLOSE[want], atol=tol)


@pytest.fixture
def restore_policy():
    before = keras.config.dtype_policy()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


@pytest.mark.usefixtures("restore_policy")
def test_float64_layer_dtype_argument():
    """``dtype="float64"`` on the layer alone, under the default float32 policy."""
    x64 = contextlib.nullcontext()
    if BACKEND == "jax":
        import jax

        x64 = jax.enable_x64(True)
    with x64:
        x = _paths().astype("float64") + 1e-9  # a float32 round trip would lose the 1e-9
        out = SigLayer(3, dtype="float64")(x)
        assert _dtype(out) == "float64"
        np.testing.assert_allclose(_numpy(out), reference.signature(x, 3), rtol=1e-12, atol=1e-12)
        out = LogSigLayer(3, dtype="float64")(x)
        assert _dtype(out) == "float64"
        np.testing.assert_allclose(_numpy(out), reference.logsignature(x, 3), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(BACKEND != "jax", reason="only JAX turns float64 into float32 (without 64-bit mode)")
@pytest.mark.parametrize("make", [SigLayer, LogSigLayer, lambda d, **kw: AddTime(**kw)])
def test_float64_without_jax_x64_is_a_clear_error(make):
    import jax

    with jax.enable_x64(False):
        layer = make(2, dtype="float64")
        with pytest.raises(ValueError, match=r"float64.*jax_enable_x64"):
            layer(_paths())
        with pytest.raises(ValueError, match=r"float64.*jax_enable_x64"):
            layer(keras.Input((None, 3)))


# --------------------------------------------------------------------------- AddTime's time channel


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16", "float16", "bfloat16"], indirect=True)
@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_add_time_after_dense_is_rounded_once(policy, masked):
    """At length 10 000 every time is ``i / (L - 1)`` rounded to the 16-bit dtype (through float32)."""
    length = 10_000
    half = policy.removeprefix("mixed_")
    inputs = keras.Input((length, 2))
    hidden = keras.layers.Dense(2)(inputs)
    if masked:  # the mask path counts the unmasked points itself
        hidden = keras.layers.Masking(mask_value=7.0)(hidden)  # masks nothing: Dense(0) is its bias, 0
    times = AddTime()(hidden)[..., 0]
    model = keras.Model(inputs, times)
    out = model(np.zeros((1, length, 2), "float32"))
    assert _dtype(out) == half
    got = _numpy(out)[0]
    exact = np.arange(length) / (length - 1)
    # exact rounded once to 16 bits (JAX), or through float32 (PyTorch's and TensorFlow's float64
    # -> 16-bit casts round to float32 first), never counted or divided in 16 bits
    once = exact.astype(HALF[half]).astype(np.float64)
    via_float32 = exact.astype(np.float32).astype(HALF[half]).astype(np.float64)
    assert ((got == once) | (got == via_float32)).all(), np.flatnonzero((got != once) & (got != via_float32))
    # so within half a 16-bit spacing (of the exact value's binade), and float32's rounding, of exact
    _, exponent = np.frexp(exact)
    half_spacing = np.ldexp(1.0, exponent - {"float16": 11, "bfloat16": 8}[half] - 1)
    assert (np.abs(got - exact) <= half_spacing + 2.0**-24).all()
    assert got[0] == 0.0
    assert got[-1] == 1.0
    assert (np.diff(got) >= 0).all()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "make", [lambda: SigLayer(2), lambda: LogSigLayer(2), AddTime, LeadLag, InvisibilityReset]
)
def test_unknown_rank_shapes_are_a_clear_error(make):
    layer = make()
    unknown = [None, 3]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        unknown.append(tf.TensorShape(None))
    for shape in unknown:
        with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, \.\.\., length, channels\)"):
            layer.compute_output_shape(shape)


# --------------------------------------------------------------------------- sizes


def test_layers_refuse_huge_sizes_quickly():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"depth=10000000000: SigLayer's output"):
        SigLayer(depth=10**10)
    with pytest.raises(ValueError, match=r"depth=10000000000: LogSigLayer's output"):
        LogSigLayer(depth=10**10)
    with pytest.raises(ValueError, match=r"channels=5, depth=1000000: SigLayer's signature would have"):
        SigLayer(depth=10**6).compute_output_shape((None, 10, 5))
    with pytest.raises(ValueError, match=r"channels=50, depth=8: LogSigLayer's log-signature"):
        LogSigLayer(depth=8).compute_output_shape((None, 10, 50))
    with pytest.raises(ValueError, match=r"channels=50, depth=8.*set_max_size"):
        keras.Sequential([keras.Input((None, 50)), SigLayer(depth=8)])
    assert time.perf_counter() - start < 5
    assert SigLayer(depth=3).compute_output_shape((None, 10, 50)) == (None, 127550)


def test_a_file_with_a_huge_depth_is_refused_at_load(tmp_path):
    model = keras.Sequential([keras.Input((None, 5)), SigLayer(depth=2)])
    good = tmp_path / "good.keras"
    model.save(good)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                (layer,) = [lay for lay in config["config"]["layers"] if "SigLayer" in lay["class_name"]]
                layer["config"]["depth"] = 200_000
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"channels=5, depth=200000"):
        keras.saving.load_model(bad)
    assert time.perf_counter() - start < 10
