"""Valid input at the edges, and arguments from elsewhere, on every backend of the session.

Empty batches (a batch axis of size 0), basepoints, initial signatures and
combined signatures whose leading dimensions broadcast to the path's batch
shape, the rule for arguments from another library or device (README,
"Arguments from other libraries and devices"), and the array types refused
with a TypeError naming ``path``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME, Backend

METHODS = ("auto", "sequential", "parallel", "chunked")
CLOSE = {"rtol": 1e-10, "atol": 1e-12}

# name -> call(backend array maker, batch shape): every public function that takes an array.
Make = Callable[[np.ndarray], Any]


def _paths(batch: tuple[int, ...], length: int = 5, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(18)
    return np.cumsum(rng.normal(size=(*batch, length, channels)), axis=-2)


def _sigs(batch: tuple[int, ...]) -> np.ndarray:
    return keras_sig.signature(_paths(batch), 3)


def _logsigs(batch: tuple[int, ...]) -> np.ndarray:
    return keras_sig.logsignature(_paths(batch), 3)


CALLS: dict[str, Callable[[Make, tuple[int, ...]], Any]] = {
    "signature_lengths": lambda a, b: keras_sig.signature(
        a(_paths(b)), 3, lengths=np.full(b, 4, dtype=np.int64)
    ),
    "signature_basepoint_initial": lambda a, b: keras_sig.signature(
        a(_paths(b)), 3, basepoint=True, initial=a(_sigs(b)), inverse=True, scalar_term=True
    ),
    "logsignature_brackets": lambda a, b: keras_sig.logsignature(a(_paths(b)), 3, mode="brackets"),
    "logsignature_expand_stream": lambda a, b: keras_sig.logsignature(
        a(_paths(b)), 3, mode="expand", stream=True
    ),
    "signature_combine": lambda a, b: keras_sig.signature_combine(a(_sigs(b)), a(_sigs(b)), 2, 3),
    "multi_signature_combine": lambda a, b: keras_sig.multi_signature_combine(
        [a(_sigs(b)), a(_sigs(b)), a(_sigs(b))], 2, 3
    ),
    "signature_inverse": lambda a, b: keras_sig.signature_inverse(a(_sigs(b)), 2, 3),
    "signature_to_logsignature": lambda a, b: keras_sig.signature_to_logsignature(a(_sigs(b)), 2, 3),
    "logsignature_to_signature": lambda a, b: keras_sig.logsignature_to_signature(a(_logsigs(b)), 2, 3),
    "extract_signature_term": lambda a, b: keras_sig.extract_signature_term(a(_sigs(b)), 2, 3, 2),
    "add_time": lambda a, b: keras_sig.add_time(a(_paths(b))),
    "lead_lag": lambda a, b: keras_sig.lead_lag(a(_paths(b))),
    "invisibility_reset": lambda a, b: keras_sig.invisibility_reset(a(_paths(b))),
    "windowed_signature": lambda a, b: keras_sig.windowed_signature(a(_paths(b)), 2, window=3),
    "dyadic_signature": lambda a, b: keras_sig.dyadic_signature(a(_paths(b)), 2, 1),
    "sig_kernel": lambda a, b: keras_sig.sig_kernel(a(_paths(b)), a(_paths(b))),
}


def _maker(backend: Backend) -> Make:
    return lambda x: backend.asarray(x, "float64")


# --------------------------------------------------------------------------- empty batches


@pytest.mark.parametrize("empty", [(0,), (2, 0), (0, 3)], ids=["0", "2x0", "0x3"])
@pytest.mark.parametrize("name", list(CALLS))
def test_every_function_takes_an_empty_batch(backend, name, empty):
    if name == "sig_kernel" and backend.name == "dask":
        pytest.skip("sig_kernel refuses dask arrays (sig_kernel_gram computes them)")
    full = CALLS[name](_maker(backend), (3,))
    out = CALLS[name](_maker(backend), empty)
    assert isinstance(out, backend.array_type())
    assert tuple(out.shape) == (*empty, *tuple(full.shape)[1:])


@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("method", METHODS)
def test_signature_of_an_empty_batch_in_every_method(backend, method, stream):
    out = keras_sig.signature(backend.asarray(_paths((0, 2)), "float64"), 3, method=method, stream=stream)
    assert tuple(out.shape) == ((0, 2, 4, 14) if stream else (0, 2, 14))


@pytest.mark.parametrize("mode", ["words", "brackets", "expand"])
@pytest.mark.parametrize("method", METHODS)
def test_logsignature_of_an_empty_batch_in_every_method(backend, method, mode):
    out = keras_sig.logsignature(backend.asarray(_paths((0,)), "float64"), 3, mode=mode, method=method)
    assert tuple(out.shape) == (0, 14 if mode == "expand" else keras_sig.logsigdim(2, 3))


def _gradient(backend: Backend, fn: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    """The gradient of ``sum(fn(path))`` at ``x``, by the backend's autodiff."""
    if backend.name == "torch":
        torch = backend.module
        t = torch.as_tensor(x, device="cuda" if backend.device == "gpu" else "cpu").requires_grad_(True)
        fn(t).sum().backward()
        return backend.to_numpy(t.grad)
    if backend.name == "jax":
        jax = backend.module
        return np.asarray(jax.grad(lambda p: fn(p).sum())(backend.asarray(x)))
    if backend.name == "tensorflow":
        tf = backend.module
        v = tf.Variable(backend.asarray(x))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(fn(v))
        return tape.gradient(y, v).numpy()
    pytest.skip(f"{backend.name} has no autodiff")
    raise AssertionError  # pragma: no cover


GRADIENTS: dict[str, Callable[[Any], Any]] = {
    **{f"signature_{m}": lambda p, m=m: keras_sig.signature(p, 3, method=m) for m in METHODS},
    **{f"stream_{m}": lambda p, m=m: keras_sig.signature(p, 3, method=m, stream=True) for m in METHODS},
    "light": lambda p: keras_sig.signature(p, 3, memory_budget=1),
    "logsignature": lambda p: keras_sig.logsignature(p, 3),
    "lead_lag": lambda p: keras_sig.signature(keras_sig.lead_lag(p), 2),
    "windowed_signature": lambda p: keras_sig.windowed_signature(p, 2, window=3),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradient_of_an_empty_batch_is_empty(backend, name):
    grad = _gradient(backend, GRADIENTS[name], _paths((0,)))
    assert grad.shape == (0, 5, 2)


# --------------------------------------------------------------------------- broadcasting


@pytest.mark.parametrize("shape", [(2,), (1, 2), (3, 2), (4, 1, 2)], ids=["d", "1xd", "3xd", "4x1xd"])
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("method", METHODS)
def test_basepoint_broadcasts_to_the_batch(backend, method, stream, shape):
    path = _paths((4, 3))
    bp = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7
    out = keras_sig.signature(
        backend.asarray(path), 3, basepoint=backend.asarray(bp), method=method, stream=stream
    )
    expected = reference.signature(path, 3, basepoint=bp, stream=stream)
    np.testing.assert_allclose(backend.to_numpy(out), expected, **CLOSE)


@pytest.mark.parametrize("shape", [(14,), (1, 14), (3, 15), (4, 1, 14)], ids=["s", "1xs", "3xs+1", "4x1xs"])
@pytest.mark.parametrize("stream", [False, True], ids=["final", "stream"])
@pytest.mark.parametrize("method", METHODS)
def test_initial_broadcasts_to_the_batch(backend, method, stream, shape):
    path = _paths((4, 3))
    lead = shape[:-1]
    init = keras_sig.signature(_paths(lead or (1,))[..., ::-1, :], 3, scalar_term=shape[-1] == 15)
    init = init.reshape(shape)
    out = keras_sig.signature(
        backend.asarray(path), 3, initial=backend.asarray(init), method=method, stream=stream
    )
    plain = init[..., 1:] if shape[-1] == 15 else init
    expected = reference.signature(path, 3, initial=plain, stream=stream)
    np.testing.assert_allclose(backend.to_numpy(out), expected, **CLOSE)


def test_logsignature_options_broadcast(backend):
    path = _paths((4,))
    bp, init = np.array([0.5, -1.0]), keras_sig.signature(_paths(()), 3)
    out = keras_sig.logsignature(backend.asarray(path), 3, basepoint=backend.asarray(bp), initial=init)
    expected = keras_sig.logsignature(
        path, 3, basepoint=np.broadcast_to(bp, (4, 2)), initial=np.broadcast_to(init, (4, 14))
    )
    np.testing.assert_allclose(backend.to_numpy(out), expected, **CLOSE)


@pytest.mark.parametrize(
    ("first", "second"), [((), (4, 3)), ((1, 3), (4, 1)), ((4, 3), (1,))], ids=["s+4x3", "1x3+4x1", "4x3+1"]
)
def test_combined_signatures_broadcast(backend, first, second):
    sig1, sig2 = _sigs(first), _sigs(second)
    batch = np.broadcast_shapes(first, second)
    expected = keras_sig.signature_combine(
        np.broadcast_to(sig1, (*batch, 14)), np.broadcast_to(sig2, (*batch, 14)), 2, 3
    )
    out = keras_sig.signature_combine(backend.asarray(sig1), backend.asarray(sig2), 2, 3)
    np.testing.assert_allclose(backend.to_numpy(out), expected, **CLOSE)
    many = keras_sig.multi_signature_combine([backend.asarray(sig1), backend.asarray(sig2)], 2, 3)
    np.testing.assert_allclose(backend.to_numpy(many), expected, **CLOSE)


# --------------------------------------------------------------------------- other libraries


def _foreign(backend: Backend, size: int) -> Any:
    """An array ``(size,)`` of a library other than ``backend``'s and NumPy, or a skip."""
    if backend.name != "array_api_strict":
        strict = pytest.importorskip("array_api_strict")
        return strict.zeros((size,), dtype=strict.float64)
    torch = pytest.importorskip("torch")
    return torch.zeros(size, dtype=torch.float64)


def test_a_numpy_companion_is_converted_to_the_paths_library(backend):
    path = _paths((3,))
    bp, init = np.array([1.0, 2.0]), _sigs((3,))
    out = keras_sig.signature(backend.asarray(path), 3, basepoint=bp, initial=init)
    assert isinstance(out, backend.array_type())
    assert backend.device_of(out) == backend.device
    np.testing.assert_allclose(
        backend.to_numpy(out), keras_sig.signature(path, 3, basepoint=bp, initial=init)
    )


def test_a_numpy_signature_is_converted_to_the_other_signatures_library(backend):
    sig = _sigs((3,))
    for out in (
        keras_sig.signature_combine(sig, backend.asarray(sig), 2, 3),
        keras_sig.signature_combine(backend.asarray(sig), sig, 2, 3),
        keras_sig.multi_signature_combine([sig, backend.asarray(sig), sig], 2, 3),
    ):
        assert isinstance(out, backend.array_type())


def test_another_librarys_array_is_refused_naming_the_argument(backend):
    path = backend.asarray(_paths((3,)))
    with pytest.raises(TypeError, match=r"^basepoint must come from the same array library as path"):
        keras_sig.signature(path, 3, basepoint=_foreign(backend, 2))
    with pytest.raises(TypeError, match=r"^times must come from the same array library as path"):
        keras_sig.add_time(path, times=_foreign(backend, 5))
    if backend.name == "numpy":
        return  # a NumPy signature beside another library's is converted to that library
    with pytest.raises(TypeError, match=r"^sig2 must come from the same array library as sig1"):
        keras_sig.signature_combine(backend.asarray(_sigs((3,))), _foreign(backend, 14), 2, 3)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_a_torch_companion_on_another_device_is_refused():
    torch = BACKENDS_BY_NAME["torch"].module
    path = torch.as_tensor(_paths((3,)))
    meta = torch.zeros(2, dtype=torch.float64, device="meta")
    with pytest.raises(ValueError, match=r"^basepoint is on device meta, but path is on cpu"):
        keras_sig.signature(path, 3, basepoint=meta)
    sig = torch.as_tensor(_sigs((3,)))
    with pytest.raises(ValueError, match=r"^sig2 is on device meta, but sig1 is on cpu"):
        keras_sig.signature_combine(sig, torch.zeros(14, dtype=torch.float64, device="meta"), 2, 3)


@pytest.mark.skipif(
    "array_api_strict" not in BACKENDS_BY_NAME, reason="array_api_strict is not in this session"
)
def test_an_array_api_strict_companion_on_another_device_is_refused():
    strict = BACKENDS_BY_NAME["array_api_strict"].module
    path = strict.asarray(_paths((3,)))
    other = strict.asarray(_sigs((3,)), device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"^initial is on device .*device1.*, but path is on"):
        keras_sig.signature(path, 3, initial=other)


@pytest.mark.skipif("dask" not in BACKENDS_BY_NAME, reason="dask is not in this session's backends")
def test_a_torch_companion_of_a_dask_path_is_refused():
    torch = pytest.importorskip("torch")
    path = BACKENDS_BY_NAME["dask"].asarray(_paths((3,)))
    with pytest.raises(TypeError, match=r"^initial must come from the same array library as path"):
        keras_sig.signature(path, 3, initial=torch.as_tensor(_sigs((3,))))


# --------------------------------------------------------------------------- refused types


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_numpy_matrix_and_masked_arrays_are_refused_naming_path():
    with pytest.raises(TypeError, match=r"^path must be a dense array; got a matrix"):
        keras_sig.signature(np.matrix(_paths(())), 2)
    with pytest.raises(TypeError, match=r"^path must be a dense array; got a MaskedArray"):
        keras_sig.lead_lag(np.ma.masked_array(_paths((2,))))
    with pytest.raises(TypeError, match=r"^basepoint must be a dense array; got a MaskedArray"):
        keras_sig.signature(_paths((2,)), 2, basepoint=np.ma.masked_array([0.0, 1.0]))


@pytest.mark.skipif("tensorflow" not in BACKENDS_BY_NAME, reason="tensorflow is not in this session")
def test_ragged_and_sparse_tf_tensors_are_refused_naming_path():
    tf = BACKENDS_BY_NAME["tensorflow"].module
    ragged = tf.ragged.constant([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0]]], ragged_rank=1)
    with pytest.raises(TypeError, match=r"^path must be a dense array; got a RaggedTensor.*lengths="):
        keras_sig.signature(ragged, 2)
    with pytest.raises(TypeError, match=r"^path must be a dense array; got a SparseTensor"):
        keras_sig.logsignature(tf.sparse.from_dense(tf.constant(_paths((2,)))), 2)


@pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="torch is not in this session's backends")
def test_sparse_torch_tensors_are_refused_naming_path():
    torch = BACKENDS_BY_NAME["torch"].module
    with pytest.raises(
        TypeError, match=r"^path must be a dense array; got a Tensor of layout torch.sparse_coo"
    ):
        keras_sig.signature(torch.as_tensor(_paths((2,))).to_sparse(), 2)


@pytest.mark.skipif("jax" not in BACKENDS_BY_NAME, reason="jax is not in this session's backends")
def test_a_traced_depth_says_it_must_be_static():
    jax = BACKENDS_BY_NAME["jax"].module
    path = BACKENDS_BY_NAME["jax"].asarray(_paths((2,)))
    with pytest.raises(TypeError, match=r"^depth must be a static Python int.*static_argnums"):
        jax.jit(keras_sig.signature)(path, 3)
    out = jax.jit(keras_sig.signature, static_argnums=1)(path, 3)
    np.testing.assert_allclose(np.asarray(out), keras_sig.signature(_paths((2,)), 3), **CLOSE)


DASK_CALLS: dict[str, Callable[[Any], Any]] = {
    "signature": lambda p: keras_sig.signature(p, 2),
    "logsignature": lambda p: keras_sig.logsignature(p, 2),
    "add_time": keras_sig.add_time,
    "lead_lag": keras_sig.lead_lag,
    "invisibility_reset": keras_sig.invisibility_reset,
    "windowed_signature": lambda p: keras_sig.windowed_signature(p, 2, window=2),
    "dyadic_signature": lambda p: keras_sig.dyadic_signature(p, 2, 1),
}


@pytest.mark.skipif("dask" not in BACKENDS_BY_NAME, reason="dask is not in this session's backends")
@pytest.mark.parametrize("name", list(DASK_CALLS))
def test_dask_unknown_chunk_sizes_are_a_clear_error(name):
    path = BACKENDS_BY_NAME["dask"].asarray(_paths((4,)))
    unknown = path[path[:, 0, 0] > -np.inf]  # boolean indexing: the batch size is unknown (nan)
    with pytest.raises(
        ValueError, match=r"^path is a dask array with unknown chunk sizes; call .compute_chunk_sizes"
    ):
        DASK_CALLS[name](unknown)
