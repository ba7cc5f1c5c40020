"""Symbolic (polymorphic) dimensions on every backend that has them.

A size unknown when tracing (JAX's symbolic dimensions under ``jax.export`` and
``jax.eval_shape``, TensorFlow's ``None`` in a ``tf.function`` signature,
PyTorch's dynamic dimensions under ``torch.export`` and
``torch.compile(dynamic=True)``) must never reach the memory planner's
arithmetic: the planner treats it as unknown. Each check traces once with the
unknown sizes and then runs the traced program on concrete arrays of several
shapes, comparing with the exact reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import keras_sig
from tests import reference
from tests._backends import BACKENDS_BY_NAME

CLOSE = {"rtol": 1e-10, "atol": 1e-12}
DEPTH = 3
CHANNELS = 3


def paths(batch: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=0.4, size=(batch, length, CHANNELS)), axis=-2)


def expected_signature(x: np.ndarray, **options: Any) -> np.ndarray:
    """The exact signature of every path of the batch (``stream``: of every prefix)."""
    options = {k: v for k, v in options.items() if k not in ("method", "memory_budget")}
    return reference.signature(x, DEPTH, **options)


def lead_lag_points(x: np.ndarray) -> np.ndarray:
    """Lead-lag points by their definition: lead advances first, then lag catches up."""
    lead = np.repeat(x, 2, axis=-2)[..., 1:, :]
    lag = np.repeat(x, 2, axis=-2)[..., :-1, :]
    return np.concatenate([lead, lag], axis=-1)


# Functions of a path, each with what it must equal on concrete input.
def _sig(**options: Any) -> tuple[Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]:
    return (lambda x: keras_sig.signature(x, DEPTH, **options)), (lambda x: expected_signature(x, **options))


FUNCTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]] = {
    **{f"signature-{m}": _sig(method=m) for m in ("auto", "sequential", "parallel", "chunked")},
    **{f"stream-{m}": _sig(method=m, stream=True) for m in ("auto", "sequential", "parallel", "chunked")},
    "chunked-small-budget": _sig(method="chunked", memory_budget=4096),
    "basepoint": (
        lambda x: keras_sig.signature(x, DEPTH, basepoint=True),
        lambda x: expected_signature(x, basepoint=True),
    ),
    "logsignature-expand": (
        lambda x: keras_sig.logsignature(x, DEPTH, mode="expand"),
        lambda x: reference.logsignature(x, DEPTH, mode="expand"),
    ),
    "lead_lag-signature": (
        lambda x: keras_sig.signature(keras_sig.lead_lag(x), DEPTH),
        lambda x: expected_signature(lead_lag_points(x)),
    ),
}

# Functions that need a known length (their windows are planned from it).
KNOWN_LENGTH = {
    "windowed": (
        lambda x: keras_sig.windowed_signature(x, DEPTH, 5, step=3),
        lambda x: np.stack(
            [
                np.stack([reference.signature(p[i : i + 5], DEPTH) for i in range(0, p.shape[0] - 4, 3)])
                for p in x
            ]
        ),
    ),
}


def _check(fn_out: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(fn_out, want, **CLOSE)


# --------------------------------------------------------------------------- JAX


@pytest.fixture(scope="module")
def jax_export() -> Any:
    if "jax" not in BACKENDS_BY_NAME:
        pytest.skip("jax is not in this session's backends")
    BACKENDS_BY_NAME["jax"].module  # noqa: B018 - enables float64
    from jax import export

    return export


@pytest.mark.parametrize("polymorphic", ["batch", "batch-and-length"])
@pytest.mark.parametrize("name", [*FUNCTIONS, *KNOWN_LENGTH])
def test_jax_export_polymorphic(jax_export: Any, name: str, polymorphic: str) -> None:
    import jax
    import jax.numpy as jnp

    fn, want = {**FUNCTIONS, **KNOWN_LENGTH}[name]
    if polymorphic == "batch":
        shape = (*jax_export.symbolic_shape("b, 12"), CHANNELS)
    else:
        # Symbolic sizes are >= 1; a path needs an increment for its lowering to be decidable.
        shape = (*jax_export.symbolic_shape("b, L", constraints=["L >= 2"]), CHANNELS)
    arg = jax.ShapeDtypeStruct(shape, jnp.float64)
    if polymorphic != "batch" and name in KNOWN_LENGTH:
        with pytest.raises(ValueError, match="known length"):
            jax.eval_shape(fn, arg)
        return
    exported = jax_export.export(jax.jit(fn))(arg)
    lengths = (12, 12) if polymorphic == "batch" else (7, 12)
    for batch, length in zip((3, 5), lengths, strict=True):
        x = paths(batch, length, seed=batch)
        _check(np.asarray(exported.call(jnp.asarray(x))), want(x))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jax_eval_shape_symbolic(jax_export: Any, name: str) -> None:
    import jax
    import jax.numpy as jnp

    fn, want = FUNCTIONS[name]
    b, length = jax_export.symbolic_shape("b, L")
    out = jax.eval_shape(fn, jax.ShapeDtypeStruct((b, length, CHANNELS), jnp.float32))
    concrete = want(paths(2, 6))
    assert out.shape[0] == b
    assert out.shape[-1] == concrete.shape[-1]
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("method", ["auto", "parallel", "chunked", "sequential"])
def test_jax_grad_exported_with_polymorphic_batch(jax_export: Any, method: str) -> None:
    import jax
    import jax.numpy as jnp

    def loss(x: Any) -> Any:
        return jnp.sum(keras_sig.signature(x, DEPTH, method=method) ** 2)

    shape = (*jax_export.symbolic_shape("b"), 9, CHANNELS)
    exported = jax_export.export(jax.jit(jax.grad(loss)))(jax.ShapeDtypeStruct(shape, jnp.float64))
    x = jnp.asarray(paths(4, 9))
    np.testing.assert_allclose(np.asarray(exported.call(x)), np.asarray(jax.grad(loss)(x)), **CLOSE)


def test_jax_signature_entry_point_polymorphic(jax_export: Any) -> None:
    import jax
    import jax.numpy as jnp

    shape = (*jax_export.symbolic_shape("b"), 10, CHANNELS)
    exported = jax_export.export(jax.jit(lambda x: keras_sig.jax_signature(x, DEPTH)))(
        jax.ShapeDtypeStruct(shape, jnp.float64)
    )
    x = paths(3, 10)
    _check(np.asarray(exported.call(jnp.asarray(x))), expected_signature(x))


# --------------------------------------------------------------------------- TensorFlow


@pytest.mark.parametrize("jit_compile", [False, True], ids=["function", "xla"])
@pytest.mark.parametrize("unknown", ["batch", "batch-and-length"])
@pytest.mark.parametrize("name", [*FUNCTIONS, *KNOWN_LENGTH])
def test_tensorflow_unknown_dimensions(name: str, unknown: str, jit_compile: bool) -> None:
    if "tensorflow" not in BACKENDS_BY_NAME:
        pytest.skip("tensorflow is not in this session's backends")
    tf = BACKENDS_BY_NAME["tensorflow"].module
    fn, want = {**FUNCTIONS, **KNOWN_LENGTH}[name]
    spec = tf.TensorSpec((None, 12 if unknown == "batch" else None, CHANNELS), tf.float64)
    if unknown != "batch" and name in KNOWN_LENGTH:
        with pytest.raises(ValueError, match="known length"):
            tf.function(fn, input_signature=[spec]).get_concrete_function()
        return
    compiled = tf.function(fn, input_signature=[spec], jit_compile=jit_compile)
    lengths = (12, 12) if unknown == "batch" else (7, 12)
    for batch, length in zip((3, 5), lengths, strict=True):
        x = paths(batch, length, seed=batch)
        _check(compiled(tf.constant(x)).numpy(), want(x))


# --------------------------------------------------------------------------- PyTorch


@pytest.fixture(scope="module")
def torch() -> Any:
    if "torch" not in BACKENDS_BY_NAME:
        pytest.skip("torch is not in this session's backends")
    return BACKENDS_BY_NAME["torch"].module


@pytest.mark.parametrize("dynamic", ["batch", "batch-and-length"])
@pytest.mark.parametrize("name", [*FUNCTIONS, *KNOWN_LENGTH])
def test_torch_export_dynamic_dimensions(torch: Any, name: str, dynamic: str) -> None:
    fn, want = {**FUNCTIONS, **KNOWN_LENGTH}[name]

    class Module(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return fn(x)

    dims = {0: torch.export.Dim("b")}
    if dynamic != "batch":
        # torch specialises sizes 0 and 1; the increments' axis needs two steps.
        dims[1] = torch.export.Dim("L", min=3, max=512)
    example = torch.as_tensor(paths(4, 12))
    if dynamic != "batch" and name in KNOWN_LENGTH:
        with pytest.raises(ValueError, match="known length"):
            torch.export.export(Module(), (example,), dynamic_shapes={"x": dims})
        return
    program = torch.export.export(Module(), (example,), dynamic_shapes={"x": dims})
    lengths = (12, 12) if dynamic == "batch" else (7, 20)
    for batch, length in zip((3, 6), lengths, strict=True):
        x = paths(batch, length, seed=batch)
        _check(program.module()(torch.as_tensor(x)).detach().numpy(), want(x))


@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`-wrapped function")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_torch_compile_dynamic(torch: Any) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: keras_sig.signature(x, DEPTH), dynamic=True, fullgraph=True)
    for batch, length in ((3, 8), (5, 13), (2, 21)):
        x = paths(batch, length, seed=length)
        _check(compiled(torch.as_tensor(x)).numpy(), expected_signature(x))
