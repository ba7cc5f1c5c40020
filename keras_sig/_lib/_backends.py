"""Which namespace an array belongs to, and the few backend-specific choices.

Everything here is cheap and imports a framework only once an array of that
framework has been seen (a TensorFlow tensor is recognised by its type's module,
without importing TensorFlow).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any

import array_api_compat

from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "array_namespace",
    "default_float_dtype",
    "device_of",
    "is_array",
    "is_jax_namespace",
    "is_tensorflow_array",
    "is_torch_namespace",
    "jax_runs_on_cpu",
    "method_for_compiler",
    "precise_matmuls",
    "python_scan",
    "scan_for",
    "static_dim",
    "static_shape",
]


def is_tensorflow_array(x: object) -> bool:
    """Whether ``x`` is a TensorFlow tensor or variable (TensorFlow is not imported)."""
    return any(cls.__module__.startswith("tensorflow") for cls in type(x).__mro__)


def _known_namespace(x: object) -> Namespace | None:
    """The namespace of a NumPy, PyTorch or JAX array, found from its type alone.

    A cheap path in front of :func:`array_api_compat.array_namespace`, whose cached
    type checks make ``torch.compile`` warn and cost microseconds per call.
    """
    library = type(x).__module__.partition(".")[0]
    if library == "numpy" and type(x).__name__ == "ndarray":
        import array_api_compat.numpy as compat_numpy

        return compat_numpy
    if library == "torch":
        torch = sys.modules["torch"]
        if isinstance(x, torch.Tensor):
            import array_api_compat.torch as compat_torch

            return compat_torch
    if library in ("jax", "jaxlib"):
        jax = sys.modules.get("jax")
        if jax is not None and isinstance(x, jax.Array):
            return jax.numpy
    return None


def is_array(x: object) -> bool:
    """Whether ``x`` is an array the library accepts (array-API object or TF tensor)."""
    return _known_namespace(x) is not None or array_api_compat.is_array_api_obj(x) or is_tensorflow_array(x)


def array_namespace(*arrays: Array) -> Namespace:
    """The namespace shared by ``arrays`` (``None`` entries are ignored).

    TensorFlow tensors get the adapter of :mod:`keras_sig.shims.tensorflow`; every
    other array goes through :func:`array_api_compat.array_namespace`.
    """
    present = [a for a in arrays if a is not None]
    tf_flags = [is_tensorflow_array(a) for a in present]
    if any(tf_flags):
        if not all(tf_flags):
            kinds = sorted({type(a).__module__.split(".")[0] for a in present})
            msg = f"all arrays must come from one library; got a mix of {kinds}"
            raise TypeError(msg)
        from keras_sig.shims.tensorflow import namespace

        return namespace
    known = [_known_namespace(a) for a in present]
    if known and known[0] is not None and all(k is known[0] for k in known):
        return known[0]
    return array_api_compat.array_namespace(*present)


def is_jax_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is JAX's array namespace.

    Compares the module name (array-api-compat's own check is cached, which
    ``torch.compile`` warns about when it traces through it).
    """
    return getattr(xp, "__name__", None) in ("jax.numpy", "jax.experimental.array_api")


def is_torch_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is (the array-API wrapper of) PyTorch (by module name, as above)."""
    return getattr(xp, "__name__", None) in ("torch", "array_api_compat.torch")


def jax_runs_on_cpu(x: Array) -> bool:
    """Whether JAX computes ``x`` on the CPU (its committed device, else the default backend)."""
    import jax

    devices = getattr(x, "devices", None)
    if callable(devices):
        try:
            return all(d.platform == "cpu" for d in devices())
        except Exception:
            pass
    return jax.default_backend() == "cpu"


def static_dim(size: Any) -> int | None:
    """``size`` if it is a plain int, else ``None`` (unknown).

    Unknown covers TensorFlow's ``None``, JAX's symbolic dimensions
    (``jax.export`` shape polymorphism, ``jax.eval_shape`` on symbolic shapes)
    and PyTorch's ``SymInt`` (``torch.export`` dynamic dimensions,
    ``torch.compile(dynamic=True)``): no arithmetic or comparison is ever done
    on them, so nothing is specialised or found inconclusive.
    """
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def static_shape(shape: Any) -> tuple[int | None, ...]:
    """The sizes of ``shape`` that are known when tracing, ``None`` for the others."""
    return tuple(static_dim(s) for s in shape)


def device_of(x: Array, xp: Namespace) -> Any:
    """The device of ``x`` (the adapter's own answer for TensorFlow)."""
    if getattr(xp, "_keras_sig_adapter", False):
        return xp.device(x)
    if is_torch_namespace(xp):
        return x.device
    return array_api_compat.device(x)


def placed_like(x: Array, xp: Namespace) -> contextlib.AbstractContextManager[Any]:
    """A context running the ops in it on ``x``'s device under TensorFlow, with exact float32 products.

    TensorFlow places eager ops on a GPU when one exists, whatever their inputs'
    device; the other libraries compute where their inputs live. On PyTorch the
    context also holds the float32 matrix products to full precision
    (:func:`precise_matmuls`).
    """
    if getattr(xp, "_keras_sig_adapter", False):
        return xp.placed_like(x)
    return precise_matmuls(xp)


# JAX's name for full float32 (no TF32, no bfloat16 passes) in matrix products.
_JAX_PRECISION = "highest"


def precise_matmuls(xp: Namespace) -> contextlib.AbstractContextManager[Any]:
    """A context in which ``xp.matmul`` on float32 runs in full float32, not TF32.

    NVIDIA GPUs may run float32 matrix products in TF32 (10 mantissa bits):
    JAX does by default, PyTorch once a user calls
    ``torch.set_float32_matmul_precision("high")``. The parallel method's
    products would then lose the float32 accuracy of the CPU (2e-4 of the
    largest coefficient at length 1000). The core is array-API only, so the
    precision is chosen here, around the core's calls:

    * JAX: :func:`jax.default_matmul_precision` ``"highest"``. JAX resolves it
      when an operation is traced, so the traced products (and their
      transposes) keep it inside any outer ``jit`` or ``grad``.
    * PyTorch (eager): ``torch.set_float32_matmul_precision("highest")`` for
      the duration of the call, restored afterwards. The setting is
      process-wide: another thread computing meanwhile sees it too. Under
      ``torch.compile`` nothing is changed (the user's setting applies there).
    * Elsewhere: nothing (NumPy, CuPy and TensorFlow compute float32 products
      in float32 unless told otherwise).
    """
    if is_jax_namespace(xp):
        import jax

        return jax.default_matmul_precision(_JAX_PRECISION)
    if is_torch_namespace(xp):
        torch = sys.modules["torch"]
        if not torch.compiler.is_compiling() and torch.get_float32_matmul_precision() != "highest":
            return _torch_highest(torch)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _torch_highest(torch: Any) -> Any:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def default_float_dtype(xp: Namespace, device: Any) -> Any:
    """The namespace's default real floating dtype on ``device``."""
    return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]


def python_scan(
    step: Callable[[Any, Array], tuple[Any, Array]],
    init: Any,
    xs: Array,
    *,
    stream: bool,
    xp: Namespace,
    reverse: bool = False,
    unroll: bool = True,
) -> tuple[Any, Array | None]:
    """Run ``step`` over axis -2 of ``xs`` with a Python loop.

    ``step(carry, x_t)`` returns ``(carry, y_t)``. With ``stream`` the ``y_t`` are
    stacked along axis -2; otherwise the second result is ``None``. With
    ``reverse`` the steps run from the last entry to the first (the outputs
    keep the entries' order). ``unroll`` is ignored (JAX's option).
    """
    del unroll  # a Python loop has nothing to unroll
    length = xs.shape[-2]
    carry = init
    ys = None
    for t in reversed(range(length)) if reverse else range(length):
        carry, y = step(carry, xs[..., t, :])
        if stream:
            if ys is None:  # written in place: a list and its stacked copy would hold the output twice
                ys = xp.empty((*y.shape[:-1], length, y.shape[-1]), dtype=y.dtype, device=device_of(y, xp))
            ys[..., t, :] = y
    if not stream:
        return carry, None
    if ys is None:
        # No step ran: learn the output's trailing size from one step on a zero increment.
        _, probe = step(init, xp.zeros_like(xp.sum(xs, axis=-2)))
        return carry, probe[..., None, :][..., :0, :]
    return carry, ys


# Steps per iteration of the compiled JAX loop: amortises the loop's per-iteration
# overhead (forward 2-3x faster on the CPU than 1) at a compile time that does not
# depend on the length (benchmarks/README.md).
_JAX_UNROLL = 8


def _jax_scan(
    step: Callable[[Any, Array], tuple[Any, Array]],
    init: Any,
    xs: Array,
    *,
    stream: bool,
    xp: Namespace,
    reverse: bool = False,
    unroll: bool = True,
) -> tuple[Any, Array | None]:
    """Run ``step`` over axis -2 of ``xs`` with :func:`jax.lax.scan` (one traced body).

    ``unroll=False`` runs one step per iteration: for steps that work on whole
    chunks, whose temporaries would otherwise be live :data:`_JAX_UNROLL` times.
    So does a scan over a symbolic length.
    """
    import jax

    def body(carry: Any, x: Array) -> tuple[Any, Array | None]:
        carry, y = step(carry, x)
        return carry, (y if stream else None)

    # JAX cannot unroll a scan whose length is symbolic (``jax.export``).
    steps = _JAX_UNROLL if unroll and static_dim(xs.shape[-2]) is not None else 1
    carry, ys = jax.lax.scan(body, init, xp.moveaxis(xs, -2, 0), unroll=steps, reverse=reverse)
    if not stream:
        return carry, None
    return carry, xp.moveaxis(ys, 0, -2)


def scan_for(xp: Namespace) -> Callable[..., tuple[Any, Array | None]]:
    """The loop construct for ``xp``: ``jax.lax.scan``, a TF loop, or a Python loop."""
    if is_jax_namespace(xp):
        return _jax_scan
    adapter_scan = getattr(xp, "scan", None)
    if getattr(xp, "_keras_sig_adapter", False) and adapter_scan is not None:
        return adapter_scan
    return python_scan


# Under torch.compile the sequential method's Python loop is unrolled by Dynamo, so
# its compile time grows with the length; past this many steps we switch methods.
_TORCH_COMPILE_MAX_STEPS = 64


def method_for_compiler(xp: Namespace, method: str, length: Any) -> str:
    """``method``, or ``"parallel"`` where a compiler would unroll the sequential loop.

    ``torch.compile`` (Dynamo) has no loop construct the sequential scan can use,
    and unrolling a long path makes compilation take minutes. The parallel method
    gives the same signature with no loop over time, so it is used instead. This
    runs inside Dynamo's trace, where a ``warnings.warn`` breaks the graph and
    loses the decision, so the switch is documented rather than warned about.
    """
    if method != "sequential" or not is_torch_namespace(xp):
        return method
    torch = sys.modules.get("torch")
    compiling = torch is not None and torch.compiler.is_compiling()
    if not compiling or (length is not None and length <= _TORCH_COMPILE_MAX_STEPS):
        return method
    return "parallel"


@functools.cache
def jax_jit(fn: Callable[..., Any], static_argnames: tuple[str, ...]) -> Callable[..., Any]:
    """``jax.jit(fn)`` built once per function, so eager JAX calls hit JAX's cache.

    Calls run under :func:`precise_matmuls` (float32 products in full float32).
    """
    import jax

    compiled = jax.jit(fn, static_argnames=static_argnames)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with jax.default_matmul_precision(_JAX_PRECISION):
            return compiled(*args, **kwargs)

    return call
