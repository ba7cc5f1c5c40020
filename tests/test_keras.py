"""SigLayer under the session's Keras backend, and the pure-JAX entry point.

One test body for every Keras backend: nox runs this module in the
``tests-{jax,torch,tensorflow}-*`` sessions with ``KERAS_BACKEND`` set to the
session's backend. In a session whose ``KERAS_SIG_TEST_BACKENDS`` does not name
the Keras backend (numpy, array_api_strict, cupy) the module is skipped; run
locally without that variable, it uses ``KERAS_BACKEND`` from the environment
(Keras' own default when unset). When the session asks for this Keras backend,
a missing Keras is an error, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import reference

_SELECTED = [n.strip() for n in os.environ.get("KERAS_SIG_TEST_BACKENDS", "").split(",") if n.strip()]
_KERAS_BACKEND = os.environ.get("KERAS_BACKEND")

if _KERAS_BACKEND is not None and _KERAS_BACKEND not in ("jax", "torch", "tensorflow"):
    pytest.skip(
        f"SigLayer targets the jax, torch and tensorflow Keras backends, not {_KERAS_BACKEND}",
        allow_module_level=True,
    )
if _SELECTED and _KERAS_BACKEND not in _SELECTED:
    pytest.skip(
        f"KERAS_SIG_TEST_BACKENDS={','.join(_SELECTED)} does not name KERAS_BACKEND={_KERAS_BACKEND}",
        allow_module_level=True,
    )
if _SELECTED:
    import keras  # this session is meant to test Keras: a missing Keras fails
else:
    keras = pytest.importorskip("keras")

import keras_sig  # noqa: E402
from keras_sig import AddTime, InvisibilityReset, LeadLag, LogSigLayer, SigLayer  # noqa: E402

BACKEND = keras.backend.backend()
DATA = Path(__file__).parent / "data"
METHODS = ("auto", "sequential", "parallel")

pytestmark = [
    pytest.mark.keras,
    # torch.compile (jit_compile=True on the torch backend) warns, once per helper, that it
    # traces through array_api_compat's lru_cache-wrapped type checks. Third-party; harmless.
    pytest.mark.filterwarnings(
        "ignore:Dynamo detected a call to a `functools.lru_cache`-wrapped function:UserWarning"
    ),
    # torch.compile's inductor imports torch.utils.mkldnn, which uses a deprecated torch.jit API.
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


def to_numpy(x: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def random_paths(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.3) -> np.ndarray:
    """Random-walk paths ``(..., length, channels)`` in float32."""
    return np.cumsum(rng.normal(scale=scale, size=shape), axis=-2).astype("float32")


@pytest.fixture
def float32_policy():
    """Restore the global dtype policy whatever the test set."""
    before = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(before)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("length", [None, 7])
@pytest.mark.parametrize(
    ("stream", "basepoint", "scalar_term"),
    [(False, False, False), (True, False, False), (True, True, True), (False, True, True)],
)
def test_symbolic_shapes(length, stream, basepoint, scalar_term):
    channels, depth = 3, 3
    size = 3 + 9 + 27 + int(scalar_term)
    layer = SigLayer(depth, stream=stream, basepoint=basepoint, scalar_term=scalar_term)
    inputs = keras.Input(shape=(length, channels))
    outputs = layer(inputs)
    if stream:
        steps = None if length is None else length - 1 + int(basepoint)
        expected = (None, steps, size)
    else:
        expected = (None, size)
    assert tuple(outputs.shape) == expected
    assert layer.compute_output_shape((None, length, channels)) == expected
    assert keras.Model(inputs, outputs).output_shape == expected
    # extra leading dimensions are kept
    assert layer.compute_output_shape((None, 4, length, channels)) == (None, 4, *expected[1:])


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_length_input(stream):
    """keras.Input(shape=(None, C)): one model, paths of several lengths."""
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((None, 2)), SigLayer(2, stream=stream)])
    for length in (2, 5, 9):
        x = random_paths(rng, (3, length, 2))
        out = to_numpy(model(x))
        expected = reference.signature(x, 2, stream=stream)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        assert out.shape == ((3, length - 1, 6) if stream else (3, 6))


@pytest.mark.parametrize(
    ("shape", "match"),
    [((None, 5), "shape"), ((None, 5, None), "channels"), ((None, 5, 0), "channel"), ((None, 0, 3), "point")],
)
def test_bad_input_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        SigLayer(2).compute_output_shape(shape)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"basepoint": True},
        {"inverse": True},
        {"scalar_term": True},
        {"basepoint": True, "inverse": True, "scalar_term": True},
    ],
    ids=["plain", "basepoint", "inverse", "scalar", "all"],
)
def test_values(method, stream, options):
    """The layer equals keras_sig.signature on NumPy and the exact reference."""
    rng = np.random.default_rng(2)
    x = random_paths(rng, (4, 6, 3))
    depth = 3
    layer = SigLayer(depth, stream=stream, method=method, **options)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    out = to_numpy(out)
    on_numpy = keras_sig.signature(x.astype("float64"), depth, stream=stream, method=method, **options)
    exact = reference.signature(x.astype("float64"), depth, stream=stream, **options)
    np.testing.assert_allclose(on_numpy, exact, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, exact, rtol=2e-5, atol=2e-5)
    assert out.shape == tuple(layer.compute_output_shape(x.shape))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True])
def test_depth_one(method, stream):
    """Depth 1 is the increment (or every prefix's increment)."""
    rng = np.random.default_rng(3)
    x = random_paths(rng, (2, 5, 3))
    out = to_numpy(SigLayer(1, stream=stream, method=method)(x))
    expected = (x[:, 1:] - x[:, :1]) if stream else (x[:, -1] - x[:, 0])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("length", [1, 2])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("basepoint", [False, True])
def test_short_paths(method, length, stream, basepoint):
    rng = np.random.default_rng(4)
    x = random_paths(rng, (3, length, 2))
    layer = SigLayer(2, stream=stream, method=method, basepoint=basepoint)
    out = to_numpy(layer(x))
    expected = reference.signature(x, 2, stream=stream, basepoint=basepoint)
    assert out.shape == expected.shape == tuple(layer.compute_output_shape(x.shape))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    symbolic = SigLayer(2, stream=stream, method=method, basepoint=basepoint)(keras.Input((length, 2)))
    assert tuple(symbolic.shape) == (None, *expected.shape[1:])


def test_integer_input_is_promoted():
    x = np.array([[[0, 0], [1, 0], [1, 1]]], dtype="int32")
    out = SigLayer(2)(keras.ops.convert_to_tensor(x))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), [[1.0, 1.0, 0.5, 1.0, 0.0, 0.5]])


def test_gradients_flow_to_earlier_layers():
    """Training moves the weights of the Dense layer before the signature."""
    rng = np.random.default_rng(5)
    x = random_paths(rng, (8, 6, 3))
    y = rng.normal(size=(8, 1)).astype("float32")
    keras.utils.set_random_seed(5)
    dense = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((6, 3)), dense, SigLayer(2), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=False)
    before = to_numpy(dense.kernel).copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(to_numpy(dense.kernel), before)


# --------------------------------------------------------------------------- config, saving


def test_config_round_trip():
    layer = SigLayer(
        3, stream=True, method="parallel", basepoint=True, inverse=True, scalar_term=True, name="sig"
    )
    config = layer.get_config()
    for key, value in {
        "depth": 3,
        "stream": True,
        "method": "parallel",
        "basepoint": True,
        "inverse": True,
        "scalar_term": True,
        "name": "sig",
    }.items():
        assert config[key] == value
    assert "gpu_optimized" not in config
    assert "unroll" not in config
    clone = SigLayer.from_config(config)
    assert clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is SigLayer
    assert revived.get_config() == config


def test_registration():
    assert keras.saving.get_registered_name(SigLayer) == "keras_sig>SigLayer"
    assert keras.saving.get_registered_object("keras_sig>SigLayer") is SigLayer
    assert keras.saving.get_registered_object("Custom>SigLayer") is SigLayer  # keras_sig 1.0.2's name


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    keras.utils.set_random_seed(6)
    inputs = keras.Input((None, 3))
    hidden = keras.layers.Dense(2)(inputs)
    layer = SigLayer(3, stream=True, method="sequential", basepoint=True, inverse=True, scalar_term=True)
    feats = layer(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(feats))
    x = random_paths(rng, (4, 7, 3))
    expected = to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed
    np.testing.assert_allclose(to_numpy(loaded(x)), expected, rtol=1e-6, atol=1e-6)
    (revived,) = [lay for lay in loaded.layers if isinstance(lay, SigLayer)]
    assert revived.get_config() == layer.get_config()


_FRESH_LOAD_SCRIPT = """
import sys
order, model_path, io_path = sys.argv[1:]
if order == "keras_first":
    import keras
    import keras_sig
else:
    import keras_sig
    assert "keras" not in sys.modules, "import keras_sig imported Keras"
    import keras
assert "keras_sig.shims.keras" in sys.modules, "the layers were not registered on import"
import numpy as np
model = keras.saving.load_model(model_path, safe_mode=True)  # no custom_objects, no keras_sig.SigLayer
io = np.load(io_path)
out = np.asarray(keras.ops.convert_to_numpy(model(io["x"])))
np.testing.assert_allclose(out, io["y"], rtol=1e-5, atol=1e-5)
names = sorted(type(lay).__name__ for lay in model.layers if type(lay).__module__.startswith("keras_sig"))
print(",".join(names))
"""


def _load_in_fresh_process(order: str, model_path: Path, io_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_LOAD_SCRIPT, order, str(model_path), str(io_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
        timeout=300,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("order", ["keras_first", "keras_sig_first"])
def test_saved_model_loads_after_plain_import(order, tmp_path):
    """A .keras file holding every layer loads in a new process after ``import keras_sig`` alone."""
    rng = np.random.default_rng(21)
    keras.utils.set_random_seed(21)
    inputs = keras.Input((None, 2))
    augmented = InvisibilityReset()(LeadLag()(AddTime()(inputs)))  # 6 channels
    features = keras.layers.Concatenate()([SigLayer(2)(augmented), LogSigLayer(2)(augmented)])
    model = keras.Model(inputs, keras.layers.Dense(1)(features))
    x = random_paths(rng, (3, 5, 2))
    model_path, io_path = tmp_path / "all_layers.keras", tmp_path / "io.npz"
    model.save(model_path)
    np.savez(io_path, x=x, y=to_numpy(model(x)))
    names = _load_in_fresh_process(order, model_path, io_path)
    assert names == "AddTime,InvisibilityReset,LeadLag,LogSigLayer,SigLayer"


@pytest.mark.parametrize("order", ["keras_first", "keras_sig_first"])
def test_legacy_file_loads_after_plain_import(order, tmp_path):
    """keras_sig 1.0.2's file (its layer registered as "Custom>SigLayer") loads likewise."""
    io = np.load(DATA / "keras_sig_1_0_2_io.npz")
    io_path = tmp_path / "io.npz"
    np.savez(io_path, x=io["x"], y=io["y"])
    assert _load_in_fresh_process(order, DATA / "keras_sig_1_0_2_model.keras", io_path) == "SigLayer"


@pytest.mark.skipif(BACKEND != "tensorflow", reason="only TensorFlow graphs have tensors of unknown rank")
@pytest.mark.parametrize(
    "make_layer",
    [lambda: SigLayer(2), lambda: LogSigLayer(2), AddTime, LeadLag, InvisibilityReset],
    ids=["SigLayer", "LogSigLayer", "AddTime", "LeadLag", "InvisibilityReset"],
)
def test_unknown_rank_input_is_a_clear_error(make_layer):
    import tensorflow as tf

    layer = make_layer()
    name = type(layer).__name__
    fn = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec(None, tf.float32)])
    with pytest.raises(ValueError, match=rf"{name} input \(the path\) must have a known rank"):
        fn(np.ones((2, 4, 3), dtype="float32"))
    known = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    x = random_paths(np.random.default_rng(22), (2, 4, 3))
    np.testing.assert_allclose(to_numpy(known(x)), to_numpy(layer(x)), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- keras_sig 1.0.2


def test_legacy_spellings():
    with pytest.deprecated_call(match="gpu_optimized=True.*use method='parallel'") as record:
        assert SigLayer(depth=3, stream=False, gpu_optimized=True).method == "parallel"
    assert record[0].filename == __file__  # the warning points at the caller's line
    with pytest.deprecated_call(match="gpu_optimized=False.*use method='sequential'"):
        assert SigLayer(depth=3, stream=False, gpu_optimized=False).method == "sequential"
    assert SigLayer(depth=3, stream=False, gpu_optimized=None).method == "auto"  # silent
    with pytest.deprecated_call():
        assert SigLayer(depth=3, gpu_optimized=True, method="parallel").method == "parallel"
    layer = SigLayer(3, True, unroll=4)  # depth, stream positionally; unroll accepted and ignored
    assert layer.stream is True
    assert layer.depth == 3
    assert SigLayer(2, unroll=True).method == SigLayer(2, unroll=None).method == "auto"
    with pytest.raises(ValueError, match="contradicts"):
        SigLayer(3, gpu_optimized=True, method="sequential")


def test_legacy_positional_order():
    """keras_sig 1.0.2's order: SigLayer(depth, stream, unroll, gpu_optimized)."""
    layer = SigLayer(3, True, 5)
    assert (layer.depth, layer.stream, layer.method) == (3, True, "auto")
    with pytest.deprecated_call(match="method='sequential'"):
        layer = SigLayer(2, True, None, False)
    assert (layer.depth, layer.stream, layer.method) == (2, True, "sequential")
    with pytest.deprecated_call(match="method='parallel'"):
        layer = SigLayer(2, False, 3, True, name="old")
    assert (layer.stream, layer.method, layer.name) == (False, "parallel", "old")
    with pytest.raises(TypeError, match="positional"):
        SigLayer(2, False, None, None, "parallel")  # method and the rest stay keyword-only
    x = random_paths(np.random.default_rng(2), (2, 5, 3))
    np.testing.assert_allclose(to_numpy(layer(x)), reference.signature(x, 2), rtol=2e-5, atol=2e-5)


def test_legacy_layer_module():
    import keras_sig.layer

    with pytest.deprecated_call(match="from keras_sig import SigLayer") as record:
        from keras_sig.layer import SigLayer as legacy
    assert legacy is SigLayer
    assert record[0].filename == __file__
    with pytest.deprecated_call():
        assert keras_sig.layer.SigLayer is SigLayer
    assert keras_sig.layer.__all__ == ["SigLayer"]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = keras_sig.layer.nothing


def _levels(flat: np.ndarray, channels: int, depth: int) -> list[np.ndarray]:
    """A flat signature ``(batch, sigdim)`` in 1.0.2's layout: level k of shape ``(batch, n, ..., n)``."""
    out, start = [], 0
    for k in range(1, depth + 1):
        out.append(flat[:, start : start + channels**k].reshape(-1, *(channels,) * k))
        start += channels**k
    return out


def test_legacy_tensor_ops_module():
    """1.0.2's keras.ops helpers, on the session's Keras backend: Chen's identity in its layout."""
    import keras_sig.tensor_ops as ops_module

    names = set(ops_module.__all__)
    assert len(names) == 9
    funcs = {}
    for name in names:
        with pytest.deprecated_call(match=f"keras_sig.tensor_ops.{name} is keras_sig 1.0.2's spelling"):
            funcs[name] = getattr(ops_module, name)
    rng = np.random.default_rng(21)
    x = random_paths(rng, (3, 6, 2))
    inc = np.diff(x, axis=-2)
    tensor = keras.ops.convert_to_tensor
    levels = funcs["batch_restricted_exp"](tensor(inc[:, 0]), 3)
    for t in range(1, inc.shape[1]):
        levels = funcs["batch_mult_fused_restricted_exp"](tensor(inc[:, t]), levels)
    flat = np.concatenate([to_numpy(level).reshape(3, -1) for level in levels], axis=-1)
    np.testing.assert_allclose(flat, reference.signature(x, 3), rtol=1e-4, atol=1e-5)
    single = funcs["restricted_exp"](tensor(inc[0, 0]), 2)
    single = funcs["mult_fused_restricted_exp"](tensor(inc[0, 1]), single)
    expected = _levels(reference.signature(x[:1, :3], 2), 2, 2)
    for got, want in zip(single, expected, strict=True):
        np.testing.assert_allclose(to_numpy(got), want[0], rtol=1e-5, atol=1e-6)
    a, b = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(funcs["otimes"](tensor(a[0]), tensor(b[0]))), np.outer(a[0], b[0]), rtol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(funcs["batch_otimes"](tensor(a), tensor(b))), np.einsum("bi,bj->bij", a, b), rtol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(funcs["batch_seq_otimes"](tensor(a[None]), tensor(b[None]))),
        np.einsum("sbi,sbj->sbij", a[None], b[None]),
        rtol=1e-6,
    )
    c = rng.normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(funcs["batch_addcmul"](tensor(c), tensor(a), tensor(b))),
        c + np.einsum("bi,bj->bij", a, b),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        to_numpy(funcs["addcmul"](tensor(c[0]), tensor(a[0]), tensor(b[0]))),
        c[0] + np.outer(a[0], b[0]),
        rtol=1e-6,
    )


def test_legacy_modules_are_package_attributes():
    """1.0.2's ``import keras_sig`` made its modules attributes: they are imported on first access."""
    with pytest.deprecated_call():
        assert keras_sig.layer.SigLayer is SigLayer
    assert keras_sig.tensor_ops.__name__ == "keras_sig.tensor_ops"
    assert "layer" not in keras_sig.__all__


def test_legacy_file_loads():
    """A model saved by keras_sig 1.0.2 (tests/data/make_legacy_model.py) loads and agrees."""
    model = keras.saving.load_model(DATA / "keras_sig_1_0_2_model.keras")
    io = np.load(DATA / "keras_sig_1_0_2_io.npz")
    (layer,) = [lay for lay in model.layers if isinstance(lay, SigLayer)]
    assert (layer.depth, layer.stream, layer.method) == (3, False, "auto")
    out = to_numpy(model.predict(io["x"], verbose=0))
    assert out.shape == io["y"].shape == (4, 14)
    np.testing.assert_allclose(out, io["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"depth": 0}, ValueError, "depth"),
        ({"depth": 2.0}, TypeError, "depth"),
        ({"depth": "3"}, TypeError, "depth"),
        ({"depth": True}, TypeError, "depth"),
        ({"depth": 2, "stream": "yes"}, TypeError, "stream"),
        ({"depth": 2, "method": "fast"}, ValueError, "method"),
        ({"depth": 2, "basepoint": np.zeros(3)}, TypeError, "basepoint"),
        ({"depth": 2, "inverse": 1}, TypeError, "inverse"),
        ({"depth": 2, "scalar_term": None}, TypeError, "scalar_term"),
        ({"depth": 2, "gpu_optimized": "yes"}, TypeError, "gpu_optimized"),
        ({"depth": 2, "unroll": "yes"}, TypeError, "unroll"),
        ({"depth": 2, "unroll": 0}, ValueError, "unroll"),
    ],
)
def test_constructor_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        SigLayer(**kwargs)


# --------------------------------------------------------------------------- training


def levy_area_data(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 2-D paths and their Levy areas ``(S^{12} - S^{21}) / 2``."""
    x = random_paths(np.random.default_rng(seed), (n, length, 2))
    sig = reference.signature(x.astype("float64"), 2)
    return x, (0.5 * (sig[:, 3] - sig[:, 4]))[:, None].astype("float32")


@pytest.mark.parametrize(
    ("jit_compile", "make_layer"),
    [
        (False, lambda: SigLayer(2)),
        (True, lambda: SigLayer(2)),
        (False, lambda: LogSigLayer(2, "words")),
        (True, lambda: LogSigLayer(2, "brackets")),
    ],
    ids=["sig-eager", "sig-jit", "logsig-words-eager", "logsig-brackets-jit"],
)
def test_fit_learns_levy_area(jit_compile, make_layer):
    """Signature and log-signature features make the Levy area learnable.

    The MSE falls below 1% of its start. On the torch backend ``jit_compile=True``
    runs the train step through ``torch.compile``; on JAX and TensorFlow through XLA.
    """
    x, y = levy_area_data(256, 12, seed=7)
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((None, 2)), make_layer(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=jit_compile)
    assert model.jit_compile is jit_compile
    start = model.evaluate(x, y, batch_size=64, verbose=0)
    history = model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    end = model.evaluate(x, y, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert end < 0.01 * start, (start, end)


# --------------------------------------------------------------------------- mixed precision


@pytest.mark.usefixtures("float32_policy")
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    """Under a 16-bit compute policy the signature is computed and returned in float32."""
    rng = np.random.default_rng(8)
    x = random_paths(rng, (4, 10, 3))
    expected = to_numpy(SigLayer(3)(x))

    keras.config.set_dtype_policy(policy)
    layer = SigLayer(3)
    assert layer.compute_dtype == policy.removeprefix("mixed_")
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5, atol=1e-5)

    # 16-bit input (as from a 16-bit layer before it): upcast, not computed in 16 bits
    half = keras.ops.cast(x, policy.removeprefix("mixed_"))
    out = layer(half)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    upcast = to_numpy(keras.ops.cast(half, "float32"))
    np.testing.assert_allclose(to_numpy(out), reference.signature(upcast, 3), rtol=1e-5, atol=1e-5)

    # in a model: the symbolic output and the concrete one are float32
    inputs = keras.Input((10, 3))
    feats = SigLayer(3)(keras.layers.Dense(3)(inputs))
    assert keras.backend.standardize_dtype(feats.dtype) == "float32"
    model = keras.Model(inputs, feats)
    assert keras.backend.standardize_dtype(model(x).dtype) == "float32"


# --------------------------------------------------------------------------- docs, imports


def test_docstring_examples_run():
    import doctest

    from keras_sig.shims import keras as shim

    result = doctest.testmod(shim, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 6
    assert result.failed == 0


def test_lazy_exports():
    for name in (
        "SigLayer",
        "LogSigLayer",
        "AddTime",
        "LeadLag",
        "InvisibilityReset",
        "jax_signature",
        "jax_gpu_signature",
    ):
        assert name in keras_sig.__all__
        assert name in dir(keras_sig)
    assert keras_sig.SigLayer is SigLayer
    assert keras_sig.LogSigLayer is LogSigLayer
    assert keras_sig.LeadLag is LeadLag
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = keras_sig.no_such_name


_NO_JAX_SCRIPT = """
import sys
names = ("keras", "jax", "torch", "tensorflow")
import keras_sig
loaded = [m for m in sys.modules if m.split(".")[0] in names]
assert not loaded, f"import keras_sig imported {loaded}"
if sys.argv[1] != "jax":
    class BlockJax:
        def find_spec(self, name, path=None, target=None):
            if name == "jax" or name.startswith("jax."):
                raise ModuleNotFoundError(f"blocked import of {name}")
    sys.meta_path.insert(0, BlockJax())
    import numpy as np
    from keras_sig import SigLayer
    out = SigLayer(2)(np.ones((2, 4, 3), dtype="float32"))
    assert tuple(out.shape) == (2, 12), out.shape
    assert "jax" not in sys.modules
print("ok")
"""


def test_import_needs_no_framework():
    """``import keras_sig`` imports no framework; under torch/TF, SigLayer works without JAX."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    result = subprocess.run(
        [sys.executable, "-c", _NO_JAX_SCRIPT, BACKEND],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


# --------------------------------------------------------------------------- LogSigLayer

LOG_MODES = ("words", "brackets", "expand")


@pytest.mark.parametrize("mode", LOG_MODES)
@pytest.mark.parametrize("length", [None, 7])
@pytest.mark.parametrize(("stream", "basepoint"), [(False, False), (True, False), (True, True)])
def test_logsig_symbolic_shapes(mode, length, stream, basepoint):
    size = {"words": 14, "brackets": 14, "expand": 39}[mode]  # channels 3, depth 3
    layer = LogSigLayer(3, mode, stream=stream, basepoint=basepoint)
    outputs = layer(keras.Input(shape=(length, 3)))
    steps = None if length is None else length - 1 + int(basepoint)
    expected = (None, steps, size) if stream else (None, size)
    assert tuple(outputs.shape) == expected
    assert layer.compute_output_shape((None, length, 3)) == expected
    assert layer.compute_output_shape((None, 4, length, 3)) == (None, 4, *expected[1:])
    with pytest.raises(ValueError, match="LogSigLayer expects inputs of shape"):
        layer.compute_output_shape((None, 3))


@pytest.mark.parametrize("mode", LOG_MODES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "options",
    [{}, {"basepoint": True, "inverse": True}, {"method": "sequential"}],
    ids=["plain", "bp-inv", "seq"],
)
def test_logsig_values(mode, stream, options):
    """LogSigLayer equals keras_sig.logsignature on NumPy and the exact reference."""
    rng = np.random.default_rng(12)
    x = random_paths(rng, (4, 6, 3))
    layer = LogSigLayer(3, mode, stream=stream, **options)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    ref_options = {k: v for k, v in options.items() if k != "method"}
    exact = reference.logsignature(x.astype("float64"), 3, mode=mode, stream=stream, **ref_options)
    on_numpy = keras_sig.logsignature(x.astype("float64"), 3, mode=mode, stream=stream, **options)
    np.testing.assert_allclose(on_numpy, exact, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out), exact, rtol=2e-5, atol=2e-5)
    assert tuple(out.shape) == tuple(layer.compute_output_shape(x.shape))


def test_logsig_config_registration_and_validation():
    layer = LogSigLayer(
        4, "brackets", stream=True, method="parallel", basepoint=True, inverse=True, name="ls"
    )
    config = layer.get_config()
    for key, value in {
        "depth": 4,
        "mode": "brackets",
        "stream": True,
        "method": "parallel",
        "basepoint": True,
        "inverse": True,
        "name": "ls",
    }.items():
        assert config[key] == value
    assert LogSigLayer.from_config(config).get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is LogSigLayer
    assert revived.get_config() == config
    assert keras.saving.get_registered_name(LogSigLayer) == "keras_sig>LogSigLayer"
    assert keras.saving.get_registered_object("keras_sig>LogSigLayer") is LogSigLayer
    for kwargs, error in [
        ({"depth": 2, "mode": "lie"}, ValueError),
        ({"depth": 0}, ValueError),
        ({"depth": 2, "stream": 1}, TypeError),
        ({"depth": 2, "method": "fast"}, ValueError),
        ({"depth": 2, "basepoint": np.zeros(3)}, TypeError),
        ({"depth": 2, "inverse": "no"}, TypeError),
    ]:
        with pytest.raises(error, match=next(iter(set(kwargs) - {"depth"}), "depth")):
            LogSigLayer(**kwargs)


def test_logsig_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(13)
    keras.utils.set_random_seed(13)
    inputs = keras.Input((None, 3))
    layer = LogSigLayer(3, "brackets", stream=True, basepoint=True, inverse=True)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(keras.layers.Dense(2)(inputs))))
    x = random_paths(rng, (4, 7, 3))
    expected = to_numpy(model(x))
    path = tmp_path / "logsig.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), expected, rtol=1e-6, atol=1e-6)
    (revived,) = [lay for lay in loaded.layers if isinstance(lay, LogSigLayer)]
    assert revived.get_config() == layer.get_config()


@pytest.mark.usefixtures("float32_policy")
def test_logsig_mixed_precision():
    rng = np.random.default_rng(15)
    x = random_paths(rng, (4, 10, 3))
    expected = reference.logsignature(x.astype("float64"), 3, mode="brackets")
    keras.config.set_dtype_policy("mixed_float16")
    out = LogSigLayer(3, "brackets")(keras.ops.cast(x, "float16"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), expected, rtol=5e-3, atol=5e-3)
    feats = LogSigLayer(3)(keras.layers.Dense(3)(keras.Input((10, 3))))
    assert keras.backend.standardize_dtype(feats.dtype) == "float32"


# --------------------------------------------------------------------------- pure JAX


def _jax():
    if _SELECTED and "jax" not in _SELECTED:
        pytest.skip("jax is not among KERAS_SIG_TEST_BACKENDS")
    if _SELECTED:
        import jax
    else:
        jax = pytest.importorskip("jax")
    return jax


def test_jax_signature_values():
    jax = _jax()
    from keras_sig import jax_gpu_signature, jax_signature

    assert jax_gpu_signature is jax_signature
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 5, 2))
    with jax.enable_x64(True):
        for stream in (False, True):
            out = jax_signature(x, 3, stream)  # NumPy in, any leading batch dimensions
            assert isinstance(out, jax.Array)
            assert out.dtype == jax.numpy.float64
            np.testing.assert_allclose(
                np.asarray(out), reference.signature(x, 3, stream=stream), rtol=1e-10, atol=1e-12
            )
        out = jax_signature(x, 2, basepoint=x[..., 0, :] + 1.0, inverse=True, scalar_term=True)
        expected = reference.signature(x, 2, basepoint=x[..., 0, :] + 1.0, inverse=True, scalar_term=True)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-10, atol=1e-12)
    with jax.enable_x64(False):
        out = jax_signature(x.astype("float32").tolist(), 2, basepoint=True)  # nested lists
    assert out.dtype == jax.numpy.float32
    np.testing.assert_allclose(
        np.asarray(out), reference.signature(x, 2, basepoint=True), rtol=2e-5, atol=2e-5
    )
    with pytest.raises(ValueError, match="depth"):
        jax_signature(x, 0)


def test_legacy_quick_sig_module():
    """keras_sig 1.0.2's ``keras_sig.quick_sig``: its pure-JAX names, deprecated."""
    jax = _jax()
    import keras_sig.quick_sig as quick_sig
    from keras_sig import jax_signature

    with pytest.deprecated_call(match="use keras_sig.jax_signature"):
        from keras_sig.quick_sig import batch_signature_pure_jax
    assert batch_signature_pure_jax is jax_signature
    rng = np.random.default_rng(8)
    x = random_paths(rng, (3, 5, 2))
    for stream in (False, True):  # 1.0.2's call: (path, depth, stream) on a batch
        out = batch_signature_pure_jax(jax.numpy.asarray(x), 3, stream)
        np.testing.assert_allclose(
            np.asarray(out), reference.signature(x, 3, stream=stream), rtol=2e-5, atol=2e-5
        )
    with pytest.deprecated_call(match="no replacement"):
        exp = quick_sig.batch_restricted_exp_pure_jax
    inc = jax.numpy.asarray(x[:, 1] - x[:, 0])
    levels = jax.jit(exp, static_argnames="depth")(inc, depth=3)
    flat = np.concatenate([np.asarray(level).reshape(3, -1) for level in levels], axis=-1)
    np.testing.assert_allclose(flat, reference.signature(x[:, :2], 3), rtol=2e-5, atol=2e-6)
    a, b = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    with pytest.deprecated_call():
        otimes, seq_otimes = quick_sig.batch_otimes_pure_jax, quick_sig.batch_seq_otimes_pure_jax
    np.testing.assert_allclose(np.asarray(otimes(a, b)), np.einsum("bi,bj->bij", a, b), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(seq_otimes(a[None], b[None])), np.einsum("sbi,sbj->sbij", a[None], b[None]), rtol=1e-6
    )
    assert sorted(quick_sig.__all__) == [
        "batch_otimes_pure_jax",
        "batch_restricted_exp_pure_jax",
        "batch_seq_otimes_pure_jax",
        "batch_signature_pure_jax",
    ]


def test_jax_docstring_examples_run():
    jax = _jax()
    import doctest

    from keras_sig.shims import jax as shim

    with jax.enable_x64(False):
        result = doctest.testmod(shim, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 4
    assert result.failed == 0


def test_jax_signature_composes_and_does_not_recompile():
    jax = _jax()
    from keras_sig import jax_signature
    from keras_sig.shims.jax import _compiled

    x = jax.numpy.asarray(np.random.default_rng(10).normal(size=(3, 6, 2)), dtype="float32")
    jax_signature(x, 2, method="parallel")
    size = _compiled._cache_size()
    first = jax_signature(x, 2, method="parallel")
    second = jax_signature(np.asarray(x), 2, method="parallel")
    assert _compiled._cache_size() == size  # eager calls reuse the compiled code
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    jax_signature(x[:, :5], 2, method="parallel")
    assert _compiled._cache_size() == size + 1  # a new shape compiles once
    # under jit, grad and vmap
    jitted = jax.jit(lambda p: jax_signature(p, 2, True))(x)
    np.testing.assert_allclose(
        np.asarray(jitted), reference.signature(np.asarray(x), 2, stream=True), atol=1e-5
    )
    mapped = jax.vmap(lambda p: jax_signature(p, 2))(x)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(jax_signature(x, 2)), atol=1e-6)
    grad = jax.grad(lambda p: jax_signature(p, 2)[..., 3].sum())(x)
    assert grad.shape == x.shape
    assert bool(jax.numpy.isfinite(grad).all())


# --------------------------------------------------------------------------- augmentation layers

# layer class, the public function it applies, output (length, channels) for (length, channels)
AUGMENTATIONS = [
    (AddTime, keras_sig.add_time, lambda n, c: (n, c + 1)),
    (LeadLag, keras_sig.lead_lag, lambda n, c: (None if n is None else 2 * n - 1, 2 * c)),
    (InvisibilityReset, keras_sig.invisibility_reset, lambda n, c: (None if n is None else n + 2, c + 1)),
]
AUGMENTATION_IDS = [a[0].__name__ for a in AUGMENTATIONS]


@pytest.mark.parametrize(("layer_class", "function", "shape"), AUGMENTATIONS, ids=AUGMENTATION_IDS)
@pytest.mark.parametrize("length", [None, 7])
def test_augmentation_layer_shapes(layer_class, function, shape, length):
    layer = layer_class()
    outputs = layer(keras.Input(shape=(length, 3)))
    assert tuple(outputs.shape) == (None, *shape(length, 3))
    assert layer.compute_output_shape((None, 4, length, 3)) == (None, 4, *shape(length, 3))
    with pytest.raises(ValueError, match=f"{layer_class.__name__} expects inputs of shape"):
        layer.compute_output_shape((None, 3))
    with pytest.raises(ValueError, match="channels"):
        layer.compute_output_shape((None, 5, None))


@pytest.mark.parametrize(("layer_class", "function", "shape"), AUGMENTATIONS, ids=AUGMENTATION_IDS)
def test_augmentation_layer_values_for_every_length(layer_class, function, shape):
    """One model with an unknown length equals the function on paths of several lengths."""
    rng = np.random.default_rng(13)
    model = keras.Sequential([keras.Input((None, 2)), layer_class()])
    for length in (1, 2, 6):
        x = random_paths(rng, (3, length, 2))
        out = to_numpy(model(x))
        assert out.shape == (3, *shape(length, 2))
        np.testing.assert_allclose(out, function(x.astype("float64")), rtol=1e-6, atol=1e-6)
    ints = np.arange(12).reshape(2, 3, 2)
    out = layer_class()(ints)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), function(ints.astype("float64")), rtol=1e-6)


def quadratic_variation_data(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 1-D paths and their quadratic variations (not a function of the plain signature)."""
    x = random_paths(np.random.default_rng(seed), (n, length, 1))
    return x, np.sum(np.diff(x, axis=1) ** 2, axis=1).astype("float32")


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "jit"])
def test_lead_lag_model_learns_quadratic_variation_and_round_trips(jit_compile, tmp_path):
    """AddTime -> LeadLag -> SigLayer makes the quadratic variation learnable; the model saves and loads.

    For a 1-D path the plain signature is a function of the total increment only,
    so without the lead-lag no Dense layer could fit this target.
    """
    x, y = quadratic_variation_data(256, 10, seed=14)
    keras.utils.set_random_seed(14)
    model = keras.Sequential(
        [keras.Input((None, 1)), AddTime(), LeadLag(), SigLayer(2), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=jit_compile)
    start = model.evaluate(x, y, batch_size=64, verbose=0)
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    end = model.evaluate(x, y, batch_size=64, verbose=0)
    assert end < 0.01 * start, (start, end)
    path = tmp_path / "augmented.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed
    np.testing.assert_allclose(to_numpy(loaded(x[:8])), to_numpy(model(x[:8])), rtol=1e-6, atol=1e-6)
    assert [type(layer) for layer in loaded.layers[:2]] == [AddTime, LeadLag]
    for name in ("AddTime", "LeadLag", "InvisibilityReset"):
        assert keras.saving.get_registered_object(f"keras_sig>{name}").__name__ == name


@pytest.mark.parametrize(
    "make",
    [
        lambda: SigLayer(3),
        lambda: SigLayer(3, stream=True),
        lambda: LogSigLayer(3),
        AddTime,
        LeadLag,
        InvisibilityReset,
    ],
    ids=["sig", "sig-stream", "logsig", "addtime", "leadlag", "ir"],
)
def test_layers_take_an_empty_batch(make):
    layer = make()
    out = layer(np.zeros((0, 10, 3), "float32"))
    expected = layer.compute_output_shape((None, 10, 3))
    assert tuple(out.shape) == (0, *expected[1:])
    assert keras.ops.convert_to_numpy(out).size == 0
