"""GPU numerics: float32 matrix products at full precision, and no host round trips.

These run in every session; they matter on a GPU (``KERAS_SIG_TEST_DEVICE=gpu``),
where JAX's default and PyTorch's ``set_float32_matmul_precision("high")`` run
float32 products in TF32, and where a host round trip is a device
synchronisation. On the CPU the accuracy bound holds trivially, but the checks
that the precision is chosen explicitly (JAX's traced products, PyTorch's
setting during the call) and JAX's transfer guard fail there too if it is not.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import keras_sig
from tests._backends import BACKENDS_BY_NAME, Backend

LENGTH = 1000
BOUND = 2e-4  # of the largest coefficient, float32 against float64, as on the CPU


def need(name: str) -> Backend:
    if name not in BACKENDS_BY_NAME:
        pytest.skip(f"{name} is not in this run's backends")
    return BACKENDS_BY_NAME[name]


def long_path(rng: np.random.Generator) -> np.ndarray:
    return (rng.normal(size=(4, LENGTH, 4)) / np.sqrt(LENGTH) + 0.02).cumsum(axis=1)


@contextlib.contextmanager
def low_precision(backend: Backend) -> Iterator[None]:
    """The framework's TF32 setting for float32 matrix products, as a user may set it."""
    if backend.name == "jax":
        with backend.module.default_matmul_precision("tensorfloat32"):
            yield
        return
    torch = backend.module
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def relative_error(got: np.ndarray, exact: np.ndarray) -> float:
    return float(np.abs(got - exact).max() / np.abs(exact).max())


@pytest.mark.parametrize("name", ["jax", "torch"])
@pytest.mark.parametrize("method", ["parallel", "auto"])
def test_float32_signature_keeps_cpu_accuracy_under_tf32(name, method, rng):
    backend = need(name)
    path = long_path(rng)
    exact = keras_sig.signature(path, 4, method="sequential")
    with low_precision(backend):
        got = backend.to_numpy(keras_sig.signature(backend.asarray(path, "float32"), 4, method=method))
    assert relative_error(got, exact) < BOUND


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_float32_gradient_keeps_cpu_accuracy_under_tf32(name, rng):
    backend = need(name)
    path = long_path(rng)
    weights = np.random.default_rng(1).normal(size=keras_sig.sigdim(4, 4))
    exact_grad = _gradient(backend, path, weights, "float64")
    with low_precision(backend):
        got = _gradient(backend, path, weights, "float32")
    assert relative_error(got, exact_grad) < BOUND


def _gradient(backend: Backend, path: np.ndarray, weights: np.ndarray, dtype: str) -> np.ndarray:
    """Gradient of ``signature(path) @ weights`` (parallel method) on ``backend``, as NumPy."""
    if backend.name == "jax":
        jax = backend.module
        w = backend.asarray(weights, dtype)
        grad = jax.jit(jax.grad(lambda p: (keras_sig.signature(p, 4, method="parallel") @ w).sum()))
        return np.asarray(grad(backend.asarray(path, dtype)))
    x = backend.asarray(path, dtype).requires_grad_(True)
    (keras_sig.signature(x, 4, method="parallel") * backend.asarray(weights, dtype)).sum().backward()
    return backend.to_numpy(x.grad)


def _dot_precisions(jaxpr: Any) -> list[Any]:
    """The ``precision`` of every ``dot_general`` in a jaxpr, its sub-jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(eqn.params["precision"])
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    found.extend(_dot_precisions(inner))
                elif hasattr(sub, "eqns"):
                    found.extend(_dot_precisions(sub))
    return found


@pytest.mark.parametrize(
    ("call", "products"),
    [
        pytest.param(lambda p: keras_sig.signature(p, 4, method="parallel"), True, id="signature-parallel"),
        # auto may take the scan (no matrix products) on the CPU: then there is nothing to hold.
        pytest.param(lambda p: keras_sig.signature(p, 4), False, id="signature-auto"),
        pytest.param(
            lambda p: keras_sig.signature(p, 4, method="chunked", memory_budget=4096), True, id="chunked"
        ),
        pytest.param(
            lambda p: keras_sig.logsignature(p, 4, mode="brackets", method="parallel"),
            True,
            id="logsignature",
        ),
    ],
)
@pytest.mark.parametrize("grad", [False, True], ids=["forward", "gradient"])
def test_jax_products_are_highest_precision_under_a_tf32_default(call, products, grad, rng):
    backend = need("jax")
    jax = backend.module
    x = backend.asarray(rng.normal(size=(2, 40, 3)).cumsum(axis=1), "float32")
    fn = jax.grad(lambda p: call(p).sum()) if grad else call
    with jax.default_matmul_precision("tensorfloat32"):
        precisions = _dot_precisions(jax.make_jaxpr(fn)(x).jaxpr)
    highest = jax.lax.Precision.HIGHEST
    assert precisions or not products, "expected matrix products in the trace"
    assert all(p == (highest, highest) for p in precisions), precisions


def test_torch_products_run_at_highest_precision_and_restore_the_setting(rng):
    backend = need("torch")
    torch = backend.module
    from torch.overrides import TorchFunctionMode

    seen: list[str] = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.matmul, torch.bmm, torch.mm, torch.Tensor.matmul, torch.Tensor.__matmul__):
                seen.append(torch.get_float32_matmul_precision())
            return func(*args, **(kwargs or {}))

    x = backend.asarray(long_path(rng)[:, :50], "float32").requires_grad_(True)
    with low_precision(backend):
        with Record():
            keras_sig.signature(x, 4, method="parallel").sum().backward()
            keras_sig.logsignature(x.detach(), 4)
        after = torch.get_float32_matmul_precision()
    assert seen, "expected matrix products"
    assert set(seen) == {"highest"}
    assert after == "high"


def _calls() -> list[Any]:
    return [
        pytest.param(lambda p: keras_sig.signature(p, 4), id="signature-auto"),
        pytest.param(lambda p: keras_sig.signature(p, 4, method="parallel"), id="signature-parallel"),
        pytest.param(lambda p: keras_sig.signature(p, 4, method="sequential"), id="signature-sequential"),
        pytest.param(lambda p: keras_sig.signature(p, 3, stream=True), id="signature-stream"),
        pytest.param(lambda p: keras_sig.logsignature(p, 4), id="logsignature-words"),
        pytest.param(lambda p: keras_sig.logsignature(p, 4, mode="brackets"), id="logsignature-brackets"),
    ]


@pytest.mark.parametrize("call", _calls())
def test_jax_runs_without_host_transfers(call, rng):
    backend = need("jax")
    jax = backend.module
    x = backend.asarray(rng.normal(size=(3, 30, 3)).cumsum(axis=1), "float32")
    # Eager jax.grad sends its scalar seed from the host (JAX's own doing, with any
    # function), so the gradient is checked jitted, as training code runs it.
    grad = jax.jit(jax.grad(lambda p: call(p).sum()))
    call(x)  # compile outside the guard
    grad(x)
    with jax.transfer_guard("disallow"):
        out = call(x)
        dx = grad(x)
        for y in (out, dx):
            y.block_until_ready()
    for y in (out, dx):
        assert backend.device_of(y) == backend.device
        assert y.devices() == x.devices()


@pytest.mark.parametrize("call", _calls())
def test_torch_cuda_runs_without_synchronising(call, rng):
    backend = need("torch")
    torch = backend.module
    if backend.device != "gpu":
        pytest.skip("torch.cuda.set_sync_debug_mode needs a CUDA device")
    x = backend.asarray(rng.normal(size=(3, 30, 3)).cumsum(axis=1), "float32").requires_grad_(True)
    call(x).sum().backward()  # first calls build caches; then no synchronisation is allowed
    x.grad = None
    try:
        with warnings.catch_warnings():
            # torch warns that the mode is a prototype; the suite's warnings-as-errors would raise
            # after the mode is set, leaving it on for every later test in the process
            warnings.simplefilter("ignore", UserWarning)
            torch.cuda.set_sync_debug_mode("error")
        out = call(x)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.device == x.device
    assert x.grad is not None
    assert x.grad.device == x.device


@pytest.mark.parametrize("call", _calls())
def test_cupy_never_converts_to_numpy(call, rng, monkeypatch):
    backend = need("cupy")
    cupy = backend.module
    x = backend.asarray(rng.normal(size=(3, 30, 3)).cumsum(axis=1), "float32")

    def refuse(original: Any) -> Any:
        def guarded(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(obj, cupy.ndarray):
                msg = "a CuPy array was converted to NumPy"
                raise AssertionError(msg)
            return original(obj, *args, **kwargs)

        return guarded

    monkeypatch.setattr(np, "asarray", refuse(np.asarray))
    monkeypatch.setattr(np, "array", refuse(np.array))
    monkeypatch.setattr(cupy, "asnumpy", refuse(cupy.asnumpy))
    out = call(x)
    monkeypatch.undo()
    assert isinstance(out, cupy.ndarray)
    assert out.device == x.device
