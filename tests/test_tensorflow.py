"""TensorFlow specifics: tf.function, XLA, GradientTape, unknown dimensions, tf.Variable, graph size, device.

The shared contract tests (test_signature.py, test_properties.py) already run on
TensorFlow eagerly through the ``backend`` fixture; this module covers what only
TensorFlow has. Everything is compared with the exact NumPy reference.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_sig
from keras_sig import sigdim
from tests import reference
from tests._backends import BACKENDS_BY_NAME

if "tensorflow" not in BACKENDS_BY_NAME:
    pytest.skip("tensorflow is not in this session's backends", allow_module_level=True)

BACKEND = BACKENDS_BY_NAME["tensorflow"]
tf = BACKEND.module

METHODS = ["sequential", "parallel"]
MODES = ["eager", "function", "xla"]
CLOSE = {"rtol": 1e-10, "atol": 1e-12}

OPTIONS = {
    "plain": {},
    "basepoint": {"basepoint": True},
    "basepoint_array": {"basepoint": "array"},
    "initial": {"initial": "array"},
    "inverse_initial": {"inverse": True, "initial": "array"},
    "scalar_term": {"scalar_term": True},
    "everything": {"basepoint": "array", "initial": "array", "inverse": True, "scalar_term": True},
}


def _arrays(option, rng, batch, channels, depth):
    """Static keyword arguments and the NumPy arrays (basepoint, initial) of an option set."""
    static = {k: v for k, v in OPTIONS[option].items() if v != "array"}
    arrays = {}
    if OPTIONS[option].get("basepoint") == "array":
        arrays["basepoint"] = rng.normal(size=(batch, channels))
    if OPTIONS[option].get("initial") == "array":
        arrays["initial"] = reference.signature(rng.normal(size=(batch, 3, channels)) * 0.5, depth)
    return static, arrays


def _compile(fn, mode, specs):
    """``fn`` run eagerly, as a tf.function, or XLA-compiled, with ``specs`` as input signature."""
    if mode == "eager":
        return fn
    return tf.function(fn, input_signature=specs, jit_compile=mode == "xla")


def _specs(channels, names, size, dtype="float64"):
    """Input signatures with unknown batch size and unknown length."""
    dt = BACKEND.dtype(dtype)
    shapes = {"basepoint": [None, channels], "initial": [None, size]}
    return [tf.TensorSpec([None, None, channels], dt)] + [tf.TensorSpec(shapes[n], dt) for n in names]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_modes_match_reference_with_unknown_batch_and_length(rng, mode, method, stream, option):
    channels, depth = 3, 3
    static, arrays = _arrays(option, rng, 3, channels, depth)
    names = list(arrays)

    def sig(path, *args):
        return keras_sig.signature(
            path, depth, stream=stream, method=method, **static, **dict(zip(names, args, strict=True))
        )

    fn = _compile(sig, mode, _specs(channels, names, sigdim(channels, depth)))
    # One traced function, several batch sizes and lengths (length 1: a constant path).
    for batch, length in [(3, 6), (2, 1), (1, 9)]:
        path = rng.normal(size=(batch, length, channels))
        ref_arrays = {k: v[:batch] for k, v in arrays.items()}
        expected = reference.signature(path, depth, stream=stream, **static, **ref_arrays)
        got = fn(
            BACKEND.asarray(path, "float64"), *(BACKEND.asarray(v, "float64") for v in ref_arrays.values())
        )
        assert isinstance(got, tf.Tensor)
        assert got.dtype == tf.float64
        assert tuple(got.shape) == expected.shape
        np.testing.assert_allclose(got.numpy(), expected, **CLOSE)


@pytest.mark.parametrize("mode", ["function", "xla"])
@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_float32_and_single_path_in_graph_mode(rng, mode, method):
    path = rng.normal(size=(7, 2)).astype("float32")
    fn = _compile(
        lambda p: keras_sig.signature(p, 4, stream=True, basepoint=True, method=method),
        mode,
        [tf.TensorSpec([None, 2], tf.float32)],
    )
    got = fn(BACKEND.asarray(path))
    assert got.dtype == tf.float32
    expected = reference.signature(path.astype(np.float64), 4, stream=True, basepoint=True)
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-5, atol=2e-5)


# --------------------------------------------------------------------------- gradients


GRAD_OPTIONS = ["plain", "basepoint", "everything"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("option", GRAD_OPTIONS)
def test_gradient_tape_matches_finite_differences(rng, mode, method, stream, option):
    """d/d(path, basepoint, initial) of sum(signature * weights): the tape runs inside the function."""
    batch, length, channels, depth = 2, 4, 2, 3
    static, arrays = _arrays(option, rng, batch, channels, depth)
    names = list(arrays)
    path = rng.normal(size=(batch, length, channels))
    out_shape = reference.signature(path, depth, stream=stream, **static, **arrays).shape
    weights = rng.normal(size=out_shape)
    w = BACKEND.asarray(weights, "float64")

    def grads(path, *args):
        with tf.GradientTape() as tape:
            tape.watch([path, *args])
            sig = keras_sig.signature(
                path, depth, stream=stream, method=method, **static, **dict(zip(names, args, strict=True))
            )
            loss = tf.reduce_sum(sig * w)
        return tape.gradient(loss, [path, *args])

    fn = _compile(grads, mode, _specs(channels, names, sigdim(channels, depth)))
    got = fn(BACKEND.asarray(path, "float64"), *(BACKEND.asarray(v, "float64") for v in arrays.values()))
    inputs = {"path": path, **arrays}
    for (name, value), grad in zip(inputs.items(), got, strict=True):

        def loss(x, name=name):
            kwargs = {**static, **arrays, "stream": stream}
            if name == "path":
                return float(np.sum(reference.signature(x, depth, **kwargs) * weights))
            kwargs[name] = x
            return float(np.sum(reference.signature(path, depth, **kwargs) * weights))

        np.testing.assert_allclose(
            grad.numpy(), reference.finite_difference_grad(loss, value), rtol=1e-6, atol=1e-7, err_msg=name
        )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_tape_outside_a_tf_function(rng, method, stream):
    path = BACKEND.asarray(rng.normal(size=(2, 5, 3)), "float64")

    def loss(p):
        return tf.reduce_sum(keras_sig.signature(p, 3, stream=stream, method=method, basepoint=True) ** 2)

    with tf.GradientTape() as tape:
        tape.watch(path)
        eager = loss(path)
    expected = tape.gradient(eager, path)
    with tf.GradientTape() as tape:
        tape.watch(path)
        graph = tf.function(loss, input_signature=[tf.TensorSpec([None, None, 3], tf.float64)])(path)
    np.testing.assert_allclose(tape.gradient(graph, path).numpy(), expected.numpy(), **CLOSE)


@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_tape_outside_an_xla_function_parallel(rng, stream):
    """The parallel method has no loop, so an XLA function can be differentiated from outside.

    (TensorFlow cannot do this for any XLA function holding a while-loop, such as
    the sequential method: "Support for TensorList crossing the XLA/TF boundary is
    not implemented". Put the tape inside the compiled function instead, as Keras does.)
    """
    path = BACKEND.asarray(rng.normal(size=(2, 5, 3)), "float64")

    def loss(p):
        return tf.reduce_sum(keras_sig.signature(p, 3, stream=stream, method="parallel") ** 2)

    with tf.GradientTape() as tape:
        tape.watch(path)
        eager = loss(path)
    expected = tape.gradient(eager, path)
    with tf.GradientTape() as tape:
        tape.watch(path)
        compiled = tf.function(loss, jit_compile=True)(path)
    np.testing.assert_allclose(tape.gradient(compiled, path).numpy(), expected.numpy(), **CLOSE)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_variable_input(rng, mode, method):
    values = rng.normal(size=(2, 6, 3))
    var = tf.Variable(values)
    weights = rng.normal(size=(2, 39))

    def run():
        with tf.GradientTape() as tape:
            sig = keras_sig.signature(var, 3, method=method, basepoint=True)
            loss = tf.reduce_sum(sig * weights)
        return sig, tape.gradient(loss, var)

    sig, grad = run() if mode == "eager" else tf.function(run, jit_compile=mode == "xla")()
    assert isinstance(sig, tf.Tensor)
    assert sig.dtype == tf.float64
    np.testing.assert_allclose(sig.numpy(), reference.signature(values, 3, basepoint=True), **CLOSE)
    expected = reference.finite_difference_grad(
        lambda x: float(np.sum(reference.signature(x, 3, basepoint=True) * weights)), values
    )
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- graph size


def _op_count(method, length, stream):
    fn = tf.function(lambda p: keras_sig.signature(p, 4, stream=stream, method=method))
    graph = fn.get_concrete_function(tf.TensorSpec([4, length, 3], tf.float32)).graph
    return graph.get_operations()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
def test_graph_does_not_grow_with_length(method, stream):
    short, long = _op_count(method, 50, stream), _op_count(method, 500, stream)
    # An unrolled loop would add hundreds of ops per extra step; constants for the
    # larger shapes may add one or two.
    assert len(long) <= len(short) + 4, (len(short), len(long))
    if method == "sequential":
        assert any(op.type in ("While", "StatelessWhile") for op in long)


def test_xla_compiles_a_long_path(rng):
    path = rng.normal(size=(2, 2000, 2)) * 0.05
    fn = tf.function(lambda p: keras_sig.signature(p, 3, method="sequential"), jit_compile=True)
    got = fn(BACKEND.asarray(path, "float64")).numpy()
    expected = keras_sig.signature(path, 3, method="parallel")
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([None], r"path must have shape \(\.\.\., length, channels\); got \(None,\)"),
        ([None, None, None], r"known number of channels .*got shape \(None, None, None\)"),
        ([None, None, 0], r"at least one channel; got shape \(None, None, 0\)"),
        ([None, 0, 3], r"at least one point .*got shape \(None, 0, 3\)"),
    ],
)
def test_bad_shapes_are_caught_while_tracing(shape, match):
    fn = tf.function(lambda p: keras_sig.signature(p, 2))
    with pytest.raises(ValueError, match=match):
        fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))


def test_bad_companions_are_caught_while_tracing():
    def with_basepoint(p, b):
        return keras_sig.signature(p, 2, basepoint=b)

    fn = tf.function(with_basepoint)
    with pytest.raises(ValueError, match=r"basepoint must have shape \(\.\.\., 3\).*got \(None, 4\)"):
        fn.get_concrete_function(tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, 4]))
    with pytest.raises(ValueError, match=r"basepoint must have shape .*batch shape \(2,\); got \(5,\)"):
        fn.get_concrete_function(tf.TensorSpec([2, None, 3]), tf.TensorSpec([5, 3]))
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="basepoint must come from the same array library"):
        keras_sig.signature(BACKEND.asarray(np.zeros((2, 5, 3))), 2, basepoint=strict.zeros((2, 3)))
    converted = keras_sig.signature(BACKEND.asarray(np.zeros((2, 5, 3))), 2, basepoint=np.ones((2, 3)))
    np.testing.assert_allclose(
        converted.numpy(), keras_sig.signature(np.zeros((2, 5, 3)), 2, basepoint=np.ones((2, 3)))
    )


# --------------------------------------------------------------------------- device


def test_output_device_is_the_input_device(rng):
    path = BACKEND.asarray(rng.normal(size=(2, 5, 3)), "float32")
    for method in METHODS:
        for stream in (False, True):
            got = keras_sig.signature(path, 3, method=method, stream=stream, basepoint=True, scalar_term=True)
            assert got.device == path.device


def test_ops_follow_the_input_to_a_non_default_device():
    """With two logical CPUs, a tensor on /CPU:1 gets its signature on /CPU:1.

    Plain TensorFlow ops would run on the default device (/CPU:0, or a GPU), so this
    checks that keras_sig places its work explicitly. A fresh process, because
    logical devices must be configured before TensorFlow starts.
    """
    script = textwrap.dedent(
        """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras_sig
        with tf.device("/CPU:1"):
            x = tf.random.normal((2, 5, 3))
        assert (x * 2).device.endswith("CPU:0"), (x * 2).device  # TF's own default
        for method in ("sequential", "parallel"):
            for stream in (False, True):
                out = keras_sig.signature(x, 3, method=method, stream=stream, basepoint=True)
                assert out.device.endswith("CPU:1"), (method, stream, out.device)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


# --------------------------------------------------------------------------- the adapter


def test_adapter_is_the_namespace_of_tensors_and_variables():
    from keras_sig._lib._namespace import array_namespace
    from keras_sig._lib._scan import scan_for, tf_scan
    from keras_sig.shims.tensorflow import namespace

    x = BACKEND.asarray(np.zeros((2, 3)))
    assert array_namespace(x) is namespace
    assert array_namespace(tf.Variable(x)) is namespace
    assert namespace._keras_sig_adapter is True
    assert scan_for(namespace) is tf_scan
    info = namespace.__array_namespace_info__().default_dtypes(device=namespace.device(x))
    assert info["real floating"] == tf.float32
    assert namespace.isdtype(tf.float64, ("real floating", "complex floating"))
    assert namespace.isdtype(tf.int32, "integral")
    assert not namespace.isdtype(tf.bool, ("real floating", "complex floating", "integral"))
    assert namespace.isdtype(tf.float16, tf.float16)
    with pytest.raises(ValueError, match="unknown dtype kind"):
        namespace.isdtype(tf.float32, "floating")


def test_reshape_reads_unknown_leading_dimensions_at_run_time():
    """The reshapes the core does, with an unknown batch (B) and length (T): (B, T, d) <-> (B, d, T) etc."""
    from keras_sig.shims.tensorflow import namespace as xp

    seen = {}

    @tf.function(input_signature=[tf.TensorSpec([None, None, 2, 3], tf.float32)])
    def fn(x):
        merged = xp.reshape(x, (*x.shape[:-2], 6))  # leading unknowns carried over
        seen["merged"] = merged.shape
        view = xp.matrix_transpose(merged)  # (B, 6, T)
        flat = xp.reshape(view, (*view.shape[:-2], -1))  # (B, 6 * T)
        seen["flat"] = flat.shape
        back = xp.reshape(flat, view.shape)  # B read at run time, T inferred
        seen["back"] = back.shape
        with pytest.raises(ValueError, match="more than one dimension is unknown"):
            xp.reshape(flat, (6, None, None))
        return xp.reshape(xp.matrix_transpose(back), x.shape)

    x = tf.reshape(tf.range(2 * 4 * 6, dtype=tf.float32), (2, 4, 2, 3))
    np.testing.assert_array_equal(fn(x).numpy(), x.numpy())
    assert seen["merged"].as_list() == [None, None, 6]
    assert seen["flat"].as_list() == [None, None]
    assert seen["back"].as_list() == [None, 6, None]
    np.testing.assert_array_equal(
        xp.cumulative_sum(tf.constant([[1.0, 2.0], [3.0, 4.0]]), axis=0, include_initial=True).numpy(),
        [[0.0, 0.0], [1.0, 2.0], [4.0, 6.0]],
    )


def test_xp_tensorflow_module_takes_nested_lists():
    got = keras_sig.signature([[0, 0], [1, 0], [1, 2]], 2, xp=tf)
    assert isinstance(got, tf.Tensor)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), [1, 2, 0.5, 2, 0, 2])


def test_adapter_docstring_examples_run():
    from keras_sig._lib import _tf_namespace

    result = doctest.testmod(_tf_namespace, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 1
    assert result.failed == 0


# --------------------------------------------------------------------------- unknown rank

_UNKNOWN_RANK_PATH = np.cumsum(np.random.default_rng(30).normal(size=(2, 5, 2)), axis=-2)
_UNKNOWN_RANK_SIG = keras_sig.signature(_UNKNOWN_RANK_PATH, 2)
_UNKNOWN_RANK_LOGSIG = keras_sig.logsignature(_UNKNOWN_RANK_PATH, 2)

# name -> (the argument given tf.TensorSpec(None), a call on it, a NumPy value for it)
UNKNOWN_RANK = {
    "signature": ("path", lambda x: keras_sig.signature(x, 2), _UNKNOWN_RANK_PATH),
    "logsignature": ("path", lambda x: keras_sig.logsignature(x, 2), _UNKNOWN_RANK_PATH),
    "add_time": ("path", lambda x: keras_sig.add_time(x), _UNKNOWN_RANK_PATH),
    "lead_lag": ("path", lambda x: keras_sig.lead_lag(x), _UNKNOWN_RANK_PATH),
    "invisibility_reset": ("path", lambda x: keras_sig.invisibility_reset(x), _UNKNOWN_RANK_PATH),
    "windowed_signature": (
        "path",
        lambda x: keras_sig.windowed_signature(x, 2, window=3),
        _UNKNOWN_RANK_PATH,
    ),
    "dyadic_signature": ("path", lambda x: keras_sig.dyadic_signature(x, 2, 1), _UNKNOWN_RANK_PATH),
    "signature_combine": ("sig1", lambda x: keras_sig.signature_combine(x, x, 2, 2), _UNKNOWN_RANK_SIG),
    "signature_combine_second": (
        "sig2",
        lambda x: keras_sig.signature_combine(tf.constant(_UNKNOWN_RANK_SIG), x, 2, 2),
        _UNKNOWN_RANK_SIG,
    ),
    "multi_signature_combine": (
        "sigs[0]",
        lambda x: keras_sig.multi_signature_combine([x, x], 2, 2),
        _UNKNOWN_RANK_SIG,
    ),
    "signature_inverse": ("sig", lambda x: keras_sig.signature_inverse(x, 2, 2), _UNKNOWN_RANK_SIG),
    "signature_to_logsignature": (
        "sig",
        lambda x: keras_sig.signature_to_logsignature(x, 2, 2),
        _UNKNOWN_RANK_SIG,
    ),
    "logsignature_to_signature": (
        "logsig",
        lambda x: keras_sig.logsignature_to_signature(x, 2, 2),
        _UNKNOWN_RANK_LOGSIG,
    ),
    "extract_signature_term": (
        "sig",
        lambda x: keras_sig.extract_signature_term(x, 2, 2, 1),
        _UNKNOWN_RANK_SIG,
    ),
}


@pytest.mark.parametrize("name", list(UNKNOWN_RANK))
def test_unknown_rank_is_a_clear_error(name):
    """In a tf.function traced for ``tf.TensorSpec(None)`` the argument's rank is unknown."""
    argument, call, value = UNKNOWN_RANK[name]
    fn = tf.function(call, input_signature=[tf.TensorSpec(None, tf.float64)])
    pattern = rf"(^|\s){re.escape(argument)} must have a known rank"  # tf.function prefixes a traceback
    with pytest.raises(ValueError, match=pattern):
        fn(tf.constant(value))
    # A known rank (with an unknown batch size) traces fine and gives the eager result.
    spec = tf.TensorSpec([None, *value.shape[1:]], tf.float64)
    known = tf.function(call, input_signature=[spec])
    np.testing.assert_allclose(known(tf.constant(value)).numpy(), call(tf.constant(value)).numpy(), **CLOSE)


# --------------------------------------------------------------------------- high depth


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_high_depth_in_graphs_and_xla(mode, method):
    """Depth 40 (past the 31 axes TensorFlow's slicing masks hold), with its gradient: ``x**k / k!``."""
    depth = 40
    values = np.cumsum(np.abs(np.random.default_rng(41).normal(size=(2, 7, 1))), axis=-2) * 0.5
    var = tf.Variable(values)

    def run():
        with tf.GradientTape() as tape:
            sig = keras_sig.signature(var, depth, method=method, inverse=True)
            loss = tf.reduce_sum(sig[..., -1])
        return sig, tape.gradient(loss, var)

    sig, grad = run() if mode == "eager" else tf.function(run, jit_compile=mode == "xla")()
    total = values[:, -1, 0] - values[:, 0, 0]
    exact = np.cumprod(-total[:, None] / np.arange(1, depth + 1), axis=-1)
    np.testing.assert_allclose(sig.numpy(), exact, rtol=1e-9, atol=1e-300)
    # d/dx_T of (-(x_T - x_0))**N / N! is -(-(x_T - x_0))**(N-1) / (N-1)!, and its negative at x_0
    top = -exact[:, depth - 2]
    expected = np.zeros_like(values)
    expected[:, -1, 0], expected[:, 0, 0] = top, -top
    # (the interior points' derivatives vanish up to rounding, relative to each path's ends')
    error = np.abs(grad.numpy() - expected)[..., 0]
    assert (error <= 1e-7 * np.abs(top)[:, None]).all(), (error, top)
