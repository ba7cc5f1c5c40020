"""Which namespace an array belongs to; the only module that imports array-api-compat.

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
    "is_adapter",
    "is_array",
    "is_dask_array",
    "is_eager_cpu",
    "is_jax_namespace",
    "is_tensorflow_array",
    "is_torch_namespace",
    "jax_jit",
    "jax_runs_on_cpu",
    "normalise_namespace",
    "placed_call",
    "placed_like",
    "precise_matmuls",
    "static_dim",
    "static_shape",
    "torch_transforms_active",
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

    TensorFlow tensors get the adapter of :mod:`keras_sig._lib._tf_namespace`; every
    other array goes through :func:`array_api_compat.array_namespace`.
    """
    present = [a for a in arrays if a is not None]
    tf_flags = [is_tensorflow_array(a) for a in present]
    if any(tf_flags):
        if not all(tf_flags):
            kinds = sorted({type(a).__module__.split(".")[0] for a in present})
            msg = f"all arrays must come from one library; got a mix of {kinds}"
            raise TypeError(msg)
        from keras_sig._lib._tf_namespace import namespace

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


def torch_transforms_active(torch: Any) -> bool:
    """Whether forward-mode AD (dual tensors) or a ``torch.func`` transform is active."""
    functorch = getattr(torch._C, "_are_functorch_transforms_active", None)
    forward_ad = sys.modules.get("torch.autograd.forward_ad")
    level = getattr(forward_ad, "_current_level", -1) if forward_ad is not None else -1
    return bool(level >= 0 or (functorch is not None and functorch()))


def is_adapter(xp: Namespace) -> bool:
    """Whether ``xp`` is keras_sig's TensorFlow adapter (:mod:`keras_sig._lib._tf_namespace`)."""
    return getattr(xp, "_keras_sig_adapter", False) is True


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a dask array (dask is not imported)."""
    return type(x).__module__.startswith("dask.") and type(x).__name__ == "Array"


def is_eager_cpu(x: Array, xp: Namespace) -> bool:
    """Whether ``x`` is a NumPy array or a PyTorch CPU tensor (eager, cache-bound)."""
    if is_torch_namespace(xp):
        return bool(x.device.type == "cpu")
    return bool(array_api_compat.is_numpy_namespace(xp))


def normalise_namespace(xp: Namespace) -> Namespace | None:
    """The array-API namespace for a library module passed as ``xp=``; ``None`` if it is none.

    NumPy, PyTorch, CuPy and dask modules map onto array-api-compat's wrappers,
    ``tensorflow`` onto keras_sig's adapter; other namespaces are returned as
    they are. Anything that is not module-like (a ``__name__`` and an
    ``asarray``) gives ``None``, for the caller to refuse by name.
    """
    name = getattr(xp, "__name__", None)
    if name != "tensorflow" and not (isinstance(name, str) and callable(getattr(xp, "asarray", None))):
        return None
    for is_ns, wrapper in (
        (array_api_compat.is_numpy_namespace, "numpy"),
        (array_api_compat.is_torch_namespace, "torch"),
        (array_api_compat.is_cupy_namespace, "cupy"),
        (array_api_compat.is_dask_namespace, "dask.array"),
    ):
        if is_ns(xp):
            import importlib

            return importlib.import_module(f"array_api_compat.{wrapper}")
    if name == "tensorflow":
        from keras_sig._lib._tf_namespace import namespace

        return namespace
    return xp


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
    if is_adapter(xp):
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
    if is_adapter(xp):
        return xp.placed_like(x)
    return precise_matmuls(xp)


def placed_call(fn: Callable[[], Array], like: Array, xp: Namespace) -> Array:
    """``fn()`` inside :func:`placed_like` ``like``: on its device under TensorFlow (which picks a GPU)."""
    with placed_like(like, xp):
        return fn()


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
