"""Public functions: docstrings, validation, namespace lookup and method choice.

The algorithms live in :mod:`keras_sig._core`; this module turns what a user
passes into validated, normalised arguments and picks the loop strategy.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import array_api_compat

from keras_sig._core import _ragged
from keras_sig._core import _signature as _sig
from keras_sig._lib._backends import (
    array_namespace,
    default_float_dtype,
    device_of,
    is_array,
    is_jax_namespace,
    is_torch_namespace,
    jax_jit,
    jax_runs_on_cpu,
    method_for_compiler,
    placed_like,
    scan_for,
    static_shape,
)
from keras_sig._lib._dask import blockwise_signature, is_dask_array
from keras_sig._lib._gradients import jax_tangent_wrap, light_gradient_for
from keras_sig._lib._sizes import check_path_size
from keras_sig._lib._typing import Array, Method, Namespace

__all__ = ["METHODS", "sigdim", "signature"]

METHODS = ("auto", "sequential", "parallel", "chunked")
"""The values ``method=`` accepts."""

DEFAULT_MEMORY_BUDGET = 64 * 2**20
"""Bytes the parallel method's intermediates may use at once unless told otherwise."""

# On the CPU in eager mode (NumPy, PyTorch) the parallel method is bound by memory
# traffic: chunks of at most this many bytes of intermediates keep its passes over
# the data in cache (see benchmarks/README.md, "Method grid").
_CPU_EAGER_BYTES = 8 * 2**20
# A chunk of time steps is folded into the signature so far by a Chen product,
# which costs about as much per path as a step or two of the parallel method;
# with chunks of at least this many steps the folds stay a few percent of the work
# (see :func:`plan_chunks`).
_MIN_FOLD_STEPS = 64

# How many bytes of intermediates a plain-autodiff gradient of the parallel method
# needs per byte of the forward's estimate (:func:`step_bytes`), rounded up from
# measured peaks: PyTorch 0.7x at (32, 1000, 5, depth 4) and 1.4x at
# (128, 100, 5, depth 4) (RSS); XLA's temporaries 0.4x at (32, 1000, 5, depth 4).
_GRADIENT_MEMORY_FACTOR = 1.5
# On JAX, ``method="auto"`` uses the parallel method only up to this length
# (with ``stream=True``, or where the depth is not known; see :func:`choose_method`).
_JAX_PARALLEL_MAX_LENGTH = 256
# The cost model of :func:`_jax_scan_is_faster`: the scan's cost relative to the
# parallel method's per unit of ``sigdim / width``, with the parallel method's
# intermediates within and beyond this many bytes.
_JAX_CACHE_BYTES = 16 * 2**20
_JAX_SCAN_IN_CACHE = 0.2
_JAX_SCAN_OUT_OF_CACHE = 0.045
# ... and the scan only while its carry (the batch's signature) stays within this
# many bytes: 320 paths of 7 channels at depth 4 (7.2 MB) scan 3.7x slower than
# the parallel method, 128 paths of 8 channels (4.8 MB) still 1.75x faster.
_JAX_SCAN_CARRY_BYTES = 6 * 2**20


# --------------------------------------------------------------------------- checks


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        msg = f"{name} must be an integer >= {minimum}; got {_describe(value)}"
        raise TypeError(msg)
    try:  # a 0-d integer array is an int; an array of another shape is not
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        msg = (
            f"{name} must be an integer >= {minimum} (a Python int or a 0-d integer array); "
            f"got {_describe(value)}"
        )
        if "Tracer" in type(value).__name__:  # a traced value: jax.jit made it an argument
            msg = (
                f"{name} must be a static Python int, not a traced value; got {_describe(value)}: "
                f"under jax.jit, mark it static (jax.jit(f, static_argnums=...) or static_argnames=...)"
            )
        raise TypeError(msg) from None
    if number < minimum:
        msg = f"{name} must be an integer >= {minimum}; got {number}"
        raise ValueError(msg)
    return number


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool, else a TypeError naming ``name``."""
    if not isinstance(value, bool):
        msg = f"{name} must be True or False; got {_describe(value)}"
        raise TypeError(msg)
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}; got {_describe(value)}"
        raise ValueError(msg)
    return value


def normalise_namespace(xp: Namespace) -> Namespace:
    """Map a plain library module passed as ``xp=`` onto its array-API namespace.

    Anything that is not a namespace (a module-like object with a ``__name__``
    and an ``asarray``) is a TypeError naming ``xp``.
    """
    if getattr(xp, "__name__", None) != "tensorflow" and not (
        isinstance(getattr(xp, "__name__", None), str) and callable(getattr(xp, "asarray", None))
    ):
        msg = (
            "xp must be an array namespace (a module such as numpy, jax.numpy, torch or "
            f"array_api_strict, or None to infer it from the arrays); got {_describe(xp)}"
        )
        raise TypeError(msg)
    for is_ns, name in (
        (array_api_compat.is_numpy_namespace, "numpy"),
        (array_api_compat.is_torch_namespace, "torch"),
        (array_api_compat.is_cupy_namespace, "cupy"),
        (array_api_compat.is_dask_namespace, "dask.array"),
    ):
        if is_ns(xp):
            import importlib

            return importlib.import_module(f"array_api_compat.{name}")
    if getattr(xp, "__name__", None) == "tensorflow":  # the module itself: use keras_sig's adapter
        from keras_sig.shims.tensorflow import namespace

        return namespace
    return xp


def check_known_rank(name: str, value: Any) -> None:
    """A ValueError naming ``name`` if ``value`` is a graph tensor of unknown rank.

    Only TensorFlow has such tensors (``tf.TensorSpec(None)`` in a
    ``tf.function``): their ``shape.rank`` is ``None``, and every shape check
    and output shape needs the rank.
    """
    if getattr(getattr(value, "shape", None), "rank", 0) is None:
        msg = (
            f"{name} must have a known rank (number of axes); got a {type(value).__name__} of unknown "
            "rank: give tf.function an input_signature whose shape lists every axis (None for an "
            "unknown size), such as tf.TensorSpec([None, None, 3])"
        )
        raise ValueError(msg)


def as_array(name: str, value: Any, xp: Namespace | None) -> tuple[Array, Namespace]:
    """``value`` as an array with its namespace; nested sequences go through NumPy."""
    check_known_rank(name, value)
    check_supported(name, value)
    if is_array(value):
        own = array_namespace(value)
        if xp is None:
            return value, own
        xp = normalise_namespace(xp)
        if own is xp:
            return value, xp
        try:  # another library's array, converted as the caller asked
            return xp.asarray(value), xp
        except (TypeError, ValueError, RuntimeError) as exc:
            msg = f"{name} is a {type(value).__name__}, which xp={xp!r} cannot convert"
            raise TypeError(msg) from exc
    if xp is not None:
        xp = normalise_namespace(xp)
        try:
            return xp.asarray(value), xp
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array or a nested sequence of numbers; got {_describe(value)}"
            raise TypeError(msg) from exc
    if isinstance(value, (list, tuple)):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is nearly always present
            msg = f"{name} is a {type(value).__name__}: pass an array, or install numpy"
            raise TypeError(msg) from None
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array or a nested sequence of numbers; got {_describe(value)}"
            raise TypeError(msg) from exc
        return arr, array_namespace(arr)
    msg = f"{name} must be an array (NumPy, CuPy, JAX, PyTorch, TensorFlow, ...); got {_describe(value)}"
    raise TypeError(msg)


def floating(name: str, x: Array, xp: Namespace) -> Array:
    """``x`` with a floating dtype: integers promoted to the default float, others refused."""
    dtype = x.dtype
    try:
        if xp.isdtype(dtype, ("real floating", "complex floating")):
            return x
        if xp.isdtype(dtype, "integral"):
            return xp.astype(x, default_float_dtype(xp, device_of(x, xp)))
    except (TypeError, ValueError):
        pass
    msg = f"{name} must hold real or complex numbers (integers are promoted); got dtype {dtype}"
    raise TypeError(msg)


def shape_text(shape: Any) -> str:
    return (
        "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")
    )


def check_path(path: Array, *, subject: str = "path") -> tuple[Any, Any]:
    """Validate the shape ``(..., length, channels)``; return ``(length, channels)``.

    ``path`` is an array or a shape tuple; messages call it ``subject``. A size
    that is not known when tracing (TensorFlow's ``None``, a JAX symbolic
    dimension, a PyTorch ``SymInt``) is returned as ``None``.
    """
    raw = path if isinstance(path, (tuple, list)) else path.shape
    if any(isinstance(s, float) and math.isnan(s) for s in raw):  # a dask array's unknown chunk sizes
        msg = f"{subject} is a dask array with unknown chunk sizes; call .compute_chunk_sizes() first"
        raise ValueError(msg)
    shape = static_shape(raw)
    if len(shape) < 2:
        msg = f"{subject} must have shape (..., length, channels); got {shape_text(shape)}"
        raise ValueError(msg)
    length, channels = shape[-2], shape[-1]
    if channels is None:
        msg = f"{subject} must have a known number of channels (last axis); got shape {shape_text(shape)}"
        raise ValueError(msg)
    if channels == 0:
        msg = f"{subject} must have at least one channel; got shape {shape_text(shape)}"
        raise ValueError(msg)
    if length == 0:
        msg = f"{subject} must have at least one point (length >= 1); got shape {shape_text(shape)}"
        raise ValueError(msg)
    return length, channels


def check_batch(name: str, shape: tuple[Any, ...], batch: tuple[Any, ...], what: str) -> None:
    """``shape`` (leading dimensions of ``name``) must broadcast to the path's ``batch``.

    Sizes unknown when tracing (``None``, symbolic) are taken to fit.
    """
    shape, batch = static_shape(shape), static_shape(batch)
    ok = len(shape) <= len(batch) and all(
        s in (1, b) or s is None or b is None for s, b in zip(reversed(shape), reversed(batch), strict=False)
    )
    if not ok:
        msg = (
            f"{name} must have shape {what} with leading dimensions broadcastable to the "
            f"path's batch shape {shape_text(batch)}; got {shape_text(shape)}"
        )
        raise ValueError(msg)


_UNSUPPORTED = {
    "RaggedTensor": "pad it with .to_tensor() and pass each series' number of points as lengths= "
    "(.row_lengths()), which gives each series' own signature",
    "SparseTensor": "densify it first (tf.sparse.to_dense)",
    "matrix": "pass a plain ndarray (np.asarray)",
    "MaskedArray": "fill it first (.filled()), or pass each series' number of points as lengths=",
}


def check_supported(name: str, value: Any) -> None:
    """A TypeError naming ``name`` for array types whose values are not a plain dense array.

    ``tf.RaggedTensor``, ``tf.SparseTensor``, ``np.matrix`` (always 2-d), NumPy
    masked arrays (the mask would be ignored) and torch sparse tensors.
    """
    kind = type(value).__name__
    module = type(value).__module__.split(".")[0]
    hint = _UNSUPPORTED.get(kind) if module in ("tensorflow", "numpy") else None
    layout = str(getattr(value, "layout", "torch.strided"))
    if hint is None and module == "torch" and layout != "torch.strided":
        kind, hint = f"{type(value).__name__} of layout {layout}", "densify it first (.to_dense())"
    if hint is not None:
        msg = f"{name} must be a dense array; got a {kind}: {hint}"
        raise TypeError(msg)


def _is_plain_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def companion(name: str, value: Any, like: Array, xp: Namespace, *, like_name: str = "path") -> Array:
    """A further array argument (``basepoint``, ``initial``, ``sig2``, ...) in ``like``'s namespace.

    The rule for arguments from other libraries or devices than ``like``
    (README, "Arguments from other libraries and devices"): Python numbers and
    nested sequences, and NumPy arrays, are converted to ``like``'s library,
    dtype and device (a dask ``like`` also takes arrays of its blocks' type);
    an array of another library is a TypeError naming ``name``, and one on
    another device than ``like`` (PyTorch, CuPy, array-api-strict) a
    ValueError naming it. JAX and TensorFlow place arrays themselves.
    """
    check_known_rank(name, value)
    check_supported(name, value)
    if is_array(value):
        arr = value
        try:
            array_namespace(like, value)
        except TypeError as exc:
            block_type = type(getattr(like, "_meta", None)) if is_dask_array(like) else None
            if not (_is_plain_numpy(value) or type(value) is block_type):
                msg = (
                    f"{name} must come from the same array library as {like_name} "
                    f"({type(like).__name__}), or be a NumPy array; got {type(value).__name__}"
                )
                raise TypeError(msg) from exc
            arr = xp.asarray(value) if is_dask_array(like) else xp.asarray(value, device=device_of(like, xp))
        else:
            check_same_device(name, value, like, xp, like_name=like_name)
    else:
        try:
            arr = xp.asarray(value, device=device_of(like, xp))
        except (TypeError, ValueError) as exc:
            msg = f"{name} must be an array; got {_describe(value)}"
            raise TypeError(msg) from exc
    arr = floating(name, arr, xp)
    if arr.dtype != like.dtype:
        arr = xp.astype(arr, like.dtype)
    return arr


def check_same_device(
    name: str, value: Array, like: Array, xp: Namespace, *, like_name: str = "path"
) -> None:
    """A ValueError naming ``name`` if ``value`` is on another device than ``like``.

    Only where the library would not place it itself: PyTorch, CuPy and
    array-api-strict (JAX, TensorFlow and dask arrays are not compared).
    """
    if is_jax_namespace(xp) or is_dask_array(like) or getattr(xp, "_keras_sig_adapter", False):
        return
    try:
        mine, theirs = device_of(value, xp), device_of(like, xp)
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - a device-less array
        return
    if mine != theirs:
        msg = f"{name} is on device {mine}, but {like_name} is on {theirs}: move it there first"
        raise ValueError(msg)


def basepoint_array(basepoint: Any, path: Array, xp: Namespace) -> Array | None:
    """``None`` (no basepoint), the origin, or the validated basepoint array."""
    if basepoint is None or basepoint is False:
        return None
    if basepoint is True:
        return xp.zeros_like(path[..., 0, :])
    if isinstance(basepoint, (int, float, complex, str)):
        msg = (
            f"basepoint must be True, False or an array of shape (..., channels); got {_describe(basepoint)}"
        )
        raise TypeError(msg)
    arr = companion("basepoint", basepoint, path, xp)
    shape = tuple(arr.shape)
    channels = path.shape[-1]
    if len(shape) < 1 or shape[-1] != channels:
        msg = f"basepoint must have shape (..., {channels}) to match path's channels; got {shape_text(shape)}"
        raise ValueError(msg)
    check_batch("basepoint", shape[:-1], tuple(path.shape[:-2]), f"(..., {channels})")
    return broadcast_batch(arr, path, xp)


def broadcast_batch(arr: Array, path: Array, xp: Namespace) -> Array:
    """``arr`` ``(..., size)`` with its leading dimensions broadcast to ``path``'s batch shape.

    Adding zeros shaped like the path's first point broadcasts where a batch
    size is unknown when tracing too (TensorFlow's ``broadcast_to`` needs a
    known shape), and keeps ``arr``'s values and gradient as they are.
    """
    if static_shape(arr.shape[:-1]) == static_shape(path.shape[:-2]) and None not in static_shape(arr.shape):
        return arr
    return arr + xp.zeros_like(path[..., 0, :1])


def initial_array(initial: Any, path: Array, depth: int, xp: Namespace) -> Array | None:
    """``None`` or the validated initial signature, without its scalar term."""
    if initial is None:
        return None
    arr = companion("initial", initial, path, xp)
    channels = path.shape[-1]
    size = _sig.sigdim(channels, depth)
    shape = tuple(arr.shape)
    if len(shape) < 1 or shape[-1] not in (size, size + 1):
        msg = (
            f"initial must be a signature of shape (..., {size}) for channels={channels}, "
            f"depth={depth} (or (..., {size + 1}) with the scalar term); got {shape_text(shape)}"
        )
        raise ValueError(msg)
    check_batch("initial", shape[:-1], tuple(path.shape[:-2]), f"(..., {size})")
    return broadcast_batch(arr[..., 1:] if shape[-1] == size + 1 else arr, path, xp)


def lengths_array(lengths: Any, path: Array, xp: Namespace) -> Array | None:
    """``None`` or the validated per-series lengths, as an array in the path's dtype.

    Integers only, of a shape that broadcasts to the path's batch shape. Where
    the values are on the host (a Python int or sequence, a NumPy array) they
    are checked to lie in ``1..length``; an array of another library is not
    read back (no device round-trip), and there a value above ``length``
    counts as ``length`` and one of 1 or less holds the series at its first
    point.
    """
    if lengths is None:
        return None
    check_known_rank("lengths", lengths)
    host = None
    if isinstance(lengths, bool) or not (is_array(lengths) or isinstance(lengths, (int, list, tuple))):
        msg = f"lengths must be an integer array, one length per series; got {_describe(lengths)}"
        raise TypeError(msg)
    if not is_array(lengths) or type(lengths).__module__ == "numpy":
        import numpy as np

        host = np.asarray(lengths)
        if host.dtype.kind not in "iu":
            msg = f"lengths must hold integers (each series' number of points); got dtype {host.dtype}"
            raise TypeError(msg)
    else:
        own = array_namespace(lengths)
        if not own.isdtype(lengths.dtype, "integral"):
            msg = f"lengths must hold integers (each series' number of points); got dtype {lengths.dtype}"
            raise TypeError(msg)
    shape = tuple(host.shape if host is not None else lengths.shape)
    check_batch("lengths", shape, tuple(path.shape[:-2]), "(...) (one length per series)")
    length = static_shape(path.shape)[-2]
    if host is not None and host.size:
        low, high = int(host.min()), int(host.max())
        if low < 1 or (length is not None and high > length):
            bad = low if low < 1 else high
            top = length if length is not None else "length"
            msg = f"lengths must lie in 1..{top} (the path's length); got {bad}"
            raise ValueError(msg)
    return companion("lengths", lengths if host is None else host, path, xp)


def held_path(path: Array, lengths: Any, xp: Namespace) -> Array:
    """``path`` with each series held at its last point (:func:`lengths_array`); as is without lengths."""
    held = lengths_array(lengths, path, xp)
    if held is None:
        return path
    with placed_like(path, xp):
        return _ragged.hold_last(path, held, xp=xp)


def step_bytes(shape: tuple[Any, ...], depth: int, *, stream: bool, itemsize: int) -> int:
    """Bytes of the parallel method's intermediates per time step, for all paths of the batch.

    A model fitted to NumPy's measured peaks (``tracemalloc``), rounded up: the
    widest arrays are every level with ``stream``, else the levels up to
    ``depth - 2`` plus the Horner heads and the ``d**2``-sized products of the
    summation by parts.
    """
    numel = 1
    for s in static_shape(shape[:-2]):
        numel *= s if s is not None else 1  # an unknown batch size is planned per path
    d = shape[-1]
    if stream:
        width = _sig.sigdim(d, depth) + d
    else:
        width = sum(d**k for k in range(1, depth - 1)) + 2 * d ** max(depth - 2, 0) + 2 * d * d + d
    return 3 * numel * width * itemsize


def chunk_length(shape: tuple[Any, ...], depth: int, *, stream: bool, itemsize: int, budget: int) -> int:
    """The longest chunk of time steps whose parallel-method intermediates fit in ``budget`` bytes."""
    return max(1, budget // max(1, step_bytes(shape, depth, stream=stream, itemsize=itemsize)))


def _balanced(total: int, most: int) -> int:
    """The chunk size for ``total`` items in as few chunks of at most ``most`` as possible, evened out."""
    if total <= 0:  # an empty batch: nothing to split
        return max(1, most)
    n = -(-total // max(1, most))
    return -(-total // n)


def plan_chunks(paths: int | None, steps: int | None, per_step: int, budget: int) -> tuple[int | None, int]:
    """How the chunked method splits a batch: ``(batch_chunk, chunk)``.

    ``paths`` paths of ``steps`` increments (``None`` where unknown when
    tracing), each needing ``per_step`` bytes of intermediates per step
    (:func:`step_bytes` of one path). The result: chunks of ``batch_chunk``
    paths (``None``: the whole batch at once), each computed in chunks of
    ``chunk`` time steps, such that ``batch_chunk * chunk * per_step`` stays
    within ``budget`` bytes wherever that is possible (one step of one path is
    the least there is).

    The batch is split first: independent paths need no Chen product to be
    joined, while every chunk of time is folded into the signature so far by
    one (about a step or two of work per path, and a pass over the whole
    batch's signature). So where one whole path fits, the chunks are whole
    paths; only paths too long for the budget are cut in time, into chunks of
    at least :data:`_MIN_FOLD_STEPS` steps (fewer paths at a time instead),
    so the folds never dominate. An unknown batch size is planned per path
    with time chunks only (the batch axis can only be split when its size is
    known); an unknown length gets chunks as long as the batch allows.
    """
    per_step = max(1, per_step)
    if paths is None or steps is None:
        return None, max(1, budget // (per_step * (paths or 1)))
    if paths * steps * per_step <= budget:
        return None, max(1, steps)
    if steps * per_step <= budget:  # whole paths, several at a time
        return _balanced(paths, budget // (steps * per_step)), steps
    whole_batch = budget // (paths * per_step)
    chunk = max(1, whole_batch, min(_MIN_FOLD_STEPS, budget // per_step))
    size = budget // (chunk * per_step)
    return (None if size >= paths else _balanced(paths, max(1, size))), chunk


def _jax_scan_is_faster(path: Array, depth: int) -> bool:
    """Whether XLA on the CPU computes this path's signature (``stream=False``) faster by the scan.

    A cost model fitted to A/B timings of both methods (``jax.jit``, float64,
    depth 4, 13 shapes from 8 x 10 x 5 to 640 x 30 x 13; benchmarks/README.md,
    "Method grid"): per step and path the scan updates every one of the
    ``sigdim`` coefficients (elementwise), the parallel method moves its
    ``width`` intermediates (:func:`step_bytes`) and leaves the top level to
    matrix products. While all the parallel intermediates fit in cache
    (:data:`_JAX_CACHE_BYTES`) it wins unless ``sigdim / width`` is below 5
    (three channels at depth 4: 2.4; five: 5.8); beyond that its memory
    traffic costs it about 4x, and the scan wins below ``sigdim / width`` of
    about 22 (ten channels at depth 4: 21; wide paths, thirteen channels:
    36, still go to the parallel method). Nor does the scan win once its
    carry, the batch's signature, outgrows the cache (:data:`_JAX_SCAN_CARRY_BYTES`).
    """
    shape = static_shape(path.shape)
    channels, length = int(shape[-1] or 1), shape[-2]
    itemsize = int(getattr(path.dtype, "itemsize", 0) or getattr(path.dtype, "size", 8))
    per_step = step_bytes(shape[-2:], depth, stream=False, itemsize=itemsize)
    ratio = _sig.sigdim(channels, depth) / (per_step / (3 * itemsize))
    lead = [s for s in shape[:-2] if s is not None]
    if length is None or len(lead) < len(shape) - 2:
        return True  # an unknown size: the scan's cost does not depend on it
    paths = math.prod(lead)
    if paths * _sig.sigdim(channels, depth) * itemsize > _JAX_SCAN_CARRY_BYTES:
        return False  # the scan's carry outgrows the cache: every step is a pass over memory
    total = paths * length * per_step
    return ratio * (_JAX_SCAN_IN_CACHE if total < _JAX_CACHE_BYTES else _JAX_SCAN_OUT_OF_CACHE) < 1


def choose_method(
    xp: Namespace, path: Array, *, for_gradient: bool = False, depth: int | None = None, stream: bool = False
) -> str:
    """The method ``"auto"`` stands for (see the README's "Choosing a method").

    ``chunked`` (which is ``parallel`` when the whole path fits in one chunk),
    except on JAX on the CPU when only the forward matters, where XLA's fused
    ``lax.scan`` body often beats its parallel method (whose cumulative sums
    are slow there): with ``depth`` given and ``stream=False``, where the cost
    model of :func:`_jax_scan_is_faster` says so; otherwise (no ``depth``,
    or ``stream``) for paths longer than :data:`_JAX_PARALLEL_MAX_LENGTH`.
    :func:`signature` then takes the parallel method's derivatives, where
    they fit the budget. With ``for_gradient`` (what the layers ask, as
    layers are trained) that exception is dropped.
    """
    if for_gradient or not is_jax_namespace(xp) or not jax_runs_on_cpu(path):
        return "chunked"
    if depth is not None and not stream and depth >= 3:
        return "sequential" if _jax_scan_is_faster(path, depth) else "chunked"
    length = static_shape(path.shape)[-2]
    return "sequential" if length is None or length > _JAX_PARALLEL_MAX_LENGTH else "chunked"


def _dask_signature(
    path: Array, depth: int, bp: Array | None, init: Array | None, *, stream: bool, **options: Any
) -> Array:
    """Lazy signature of a dask array, one batch chunk at a time (see ``_lib._dask``)."""
    length = path.shape[-2] + (bp is not None)
    channels = path.shape[-1]

    def compute(block: Array, bp_block: Array | None, init_block: Array | None) -> Array:
        return signature(block, depth, stream=stream, basepoint=bp_block, initial=init_block, **options)

    size = _sig.sigdim(channels, depth) + int(options["scalar_term"])
    return blockwise_signature(
        path,
        basepoint=bp,
        initial=init,
        out_time=length - 1 if stream else None,
        sigdim=size,
        compute=compute,
    )


# --------------------------------------------------------------------------- public


def sigdim(channels: int, depth: int, scalar_term: bool = False) -> int:
    """Size of the last axis of a signature.

    Parameters
    ----------
    channels : int
        Number of channels ``d`` of the path (``>= 1``).
    depth : int
        Truncation depth ``N`` (``>= 1``).
    scalar_term : bool, default False
        Count the leading scalar term 1.

    Returns
    -------
    int
        ``d + d**2 + ... + d**N``, plus one with ``scalar_term``.

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.sigdim(3, 4)
    120
    >>> keras_sig.sigdim(2, 3, scalar_term=True)
    15
    """
    channels = check_int("channels", channels, minimum=1)
    depth = check_int("depth", depth, minimum=1)
    return _sig.sigdim(channels, depth) + int(check_bool("scalar_term", scalar_term))


def signature(
    path: Array,
    depth: int,
    stream: bool = False,
    unroll: bool | int | None = None,
    gpu_optimized: bool | None = None,
    *,
    basepoint: bool | Array = False,
    initial: Array | None = None,
    inverse: bool = False,
    scalar_term: bool = False,
    lengths: Array | None = None,
    method: Method = "auto",
    memory_budget: int | None = None,
    xp: Namespace | None = None,
) -> Array:
    """Truncated signature of a piecewise-linear path.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path: any leading batch dimensions, then time, then
        channels. NumPy, CuPy, JAX, PyTorch, TensorFlow and array-api-strict
        arrays are accepted (a nested list goes through NumPy). Integer input is
        promoted to the library's default floating dtype.
    depth : int
        Truncation depth ``N >= 1``.
    stream : bool, default False
        If True, return the signature of every prefix: entry ``t`` along the
        second-to-last output axis is the signature of ``path[..., :t+2, :]``.
    unroll : None, bool or int, optional
        Accepted for compatibility with keras_sig 1.0.2 and ignored: the loop
        construct is the backend's (``jax.lax.scan``, a TF loop, a Python loop).
    gpu_optimized : bool, optional
        keras_sig 1.0.2's spelling of ``method``, deprecated: True means
        ``method="parallel"``, False ``method="sequential"`` (each with a
        :class:`DeprecationWarning`), None (the default) leaves ``method`` as
        given. ``stream``, ``unroll`` and ``gpu_optimized`` may be passed
        positionally, as in 1.0.2; the arguments after them are keyword-only.
    basepoint : bool or array of shape (..., channels), default False
        Prepend a point to the path: True for the origin, or the given point.
        Its leading dimensions broadcast to the path's batch shape (a
        ``(channels,)`` point serves every path). A NumPy array or a nested
        list is converted to the path's library, dtype and device; this holds
        for ``initial`` and ``lengths`` too (see Raises).
    initial : array of shape (..., sigdim), optional
        A signature to continue from (by Chen's identity the result is the
        signature of the path represented by ``initial`` followed by ``path``).
        With ``inverse=True`` it is read as an inverse signature and the result
        is the inverse signature of that concatenation. The scalar term may be
        included (size ``sigdim + 1``). Its leading dimensions broadcast to
        the path's batch shape.
    inverse : bool, default False
        Return the inverse signature, which is the signature of the
        time-reversed path.
    scalar_term : bool, default False
        Prepend the level-0 term (always 1).
    lengths : int array of shape (...), optional
        For a ragged batch padded to one length: the number of points of
        each series (its leading dimensions broadcast to the path's batch
        shape). Series ``i`` is ``path[i, :lengths[i]]``, whatever the padding
        holds: each is held at its last point, which changes no signature, so
        the result is exactly each series' own. With ``stream=True`` the
        entries from ``lengths - 1`` on repeat the series' signature. Values
        given on the host (ints, lists, NumPy) must lie in ``1..length``; an
        array of another library is not read back: there a value above
        ``length`` counts as ``length``, and one of 1 or less gives a constant
        path (zero signature). A basepoint is prepended to each series and is
        not counted.
    method : {"auto", "sequential", "parallel", "chunked"}, default "auto"
        ``"sequential"`` applies Chen's identity one increment at a time (a
        ``jax.lax.scan`` on JAX, a graph loop on TensorFlow); memory does not
        grow with the length. ``"parallel"`` computes each level over the whole
        time axis with cumulative sums; fewest operations, so fastest in eager
        mode, with memory ``O(batch x length x channels**(depth-2))``
        (``channels**depth`` with ``stream``). ``"chunked"`` runs the parallel
        method on chunks of the time axis sized to ``memory_budget``, one chunk
        at a time, multiplying each into the result so far (Chen's identity); with a
        single chunk it is ``"parallel"``. ``"auto"`` picks as described in
        the README. Under ``torch.compile``, ``"sequential"`` on a path of more
        than 64 steps runs as ``"parallel"`` (same result): Dynamo would unroll
        its loop, making compilation slow. Past depth 16, every method runs
        as ``"sequential"`` (same result), whose program, unlike the parallel
        method's, does not grow with the depth's square; from depth 9 its
        scan carries the flat signature, so any depth works (a 1-channel path
        at depth 1000, say). All methods give the same result to rounding.
    memory_budget : int, optional
        Bytes the intermediates of ``"chunked"`` (and ``"auto"``) may use at
        once, which sets the chunk length; default
        :data:`DEFAULT_MEMORY_BUDGET` (64 MiB). It also bounds the memory of
        the gradient (see Notes).
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., sigdim)``, or ``(..., length - 1, sigdim)`` with
        ``stream=True`` (``length`` entries with a basepoint). Same kind of
        array, dtype and device as ``path``. Level ``k`` is flattened in
        row-major word order, as in iisignature and signatory.

    Raises
    ------
    TypeError
        If an argument has the wrong type (a non-integer ``depth`` or
        ``memory_budget``, a traced ``depth`` under ``jax.jit``, a non-numeric
        ``path``, a non-bool flag), if ``path`` is not a dense array (a
        ``tf.RaggedTensor``, ``tf.SparseTensor``, ``np.matrix``, masked
        array or torch sparse tensor), or if ``basepoint``, ``initial`` or
        ``lengths`` is an array of another library than ``path`` that is not
        a NumPy array.
    ValueError
        If a value is out of range or a shape does not fit (``depth < 1``, rank
        below 2, zero length or channels, a basepoint or initial of the wrong
        shape, an unknown method), or if one path's output would have more
        than :func:`keras_sig.get_max_size` elements (``2**31`` unless
        :func:`keras_sig.set_max_size` changed it), refused before anything is
        allocated, or if ``basepoint``, ``initial`` or ``lengths`` is on
        another device than ``path`` (PyTorch, CuPy, array-api-strict).

    Notes
    -----
    **Float32 range.** The level-``k`` coefficients of a path of total
    variation ``V`` (the sum of ``|increment|`` over every step and channel)
    are at most ``V**k / k!``, and every method's intermediates stay within a
    few times that, so in float32 the signature to depth ``N`` is finite when
    ``V <= (N! * 1e38) ** (1 / N)``: about ``1.4e19`` at depth 2, ``8.4e12`` at
    3, ``7.0e9`` at 4, ``1.0e8`` at 5, ``6.4e6`` at 6, ``9.1e5`` at 7 and
    ``2.1e5`` at 8. Past it, rescale the path or use float64.

    **Memory-light gradient.** With ``stream=False``, on JAX, PyTorch and
    TensorFlow, when plain autodiff of the whole path would not fit in
    ``memory_budget``, the gradient stores no prefix signature: the backward pass
    walks the path in reverse, chunk by chunk (chunks sized to
    ``memory_budget``), rebuilding the signature before each chunk from the
    one after it by multiplying with the chunk's inverse signature, and
    recomputing the chunk. Its memory does not grow with the length beyond
    the path itself (as in signatory and iisignature). It is differentiable
    again: PyTorch double backward, JAX reverse-over-reverse
    (``jax.grad`` of a gradient), TensorFlow nested tapes. JAX forward-mode
    (``jax.jvp``, ``jax.hessian``) of it is refused by JAX; use
    ``stream=True`` and take the last entry, or a reverse-mode
    Hessian-vector product, there. When the whole path fits, a hand-written
    VJP of the whole path on the forward's intermediates is used instead
    (faster than the frameworks' autodiff): on PyTorch in the same custom
    gradient (``torch.compile`` traces it; ``torch.func`` transforms and
    forward-mode AD get plain autodiff), on JAX as a ``jax.custom_jvp`` whose
    tangent map is that VJP's linear transpose, so forward mode works there.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> keras_sig.signature(path, 2)
    array([1. , 1. , 0.5, 1. , 0. , 0.5])
    >>> keras_sig.signature(path, depth=2, stream=True).shape
    (2, 6)
    """
    path, xp = as_array("path", path, xp)
    depth = check_int("depth", depth, minimum=1)
    stream = check_bool("stream", stream)
    inverse = check_bool("inverse", inverse)
    scalar_term = check_bool("scalar_term", scalar_term)
    chosen = check_choice("method", method, METHODS)
    if unroll is not None or gpu_optimized is not None:  # keras_sig 1.0.2's options
        from keras_sig._compat import check_unroll, method_from_legacy

        check_unroll(unroll)
        chosen = method_from_legacy(chosen, gpu_optimized, stacklevel=2)
    path = floating("path", path, xp)
    check_path(path)
    check_path_size(path.shape, depth, stream=stream, basepoint=basepoint)
    bp = basepoint_array(basepoint, path, xp)
    init = initial_array(initial, path, depth, xp)
    path = held_path(path, lengths, xp)
    budget = (
        DEFAULT_MEMORY_BUDGET
        if memory_budget is None
        else check_int("memory_budget", memory_budget, minimum=1)
    )
    # An explicit sequential method is differentiated through its scan; when
    # ``auto`` picks the scan (JAX on the CPU, for its faster forward), the
    # parallel method's derivatives are taken where they fit the budget.
    through_scan = chosen == "sequential"
    if chosen == "auto":
        chosen = choose_method(xp, path, depth=depth, stream=stream)
    chosen = method_for_compiler(xp, chosen, static_shape(path.shape)[-2])
    # Past PARALLEL_MAX_DEPTH the parallel method's program (and its custom
    # gradients') grows with the depth's square: the flat sequential scan instead.
    deep = depth > _sig.PARALLEL_MAX_DEPTH
    if deep:
        chosen, through_scan = "sequential", True
    kwargs = {
        "stream": stream,
        "inverse": inverse,
        "scalar_term": scalar_term,
        "method": chosen,
        "xp": xp,
        "scan": scan_for(xp),
        **_chunking(
            path,
            depth,
            stream=stream,
            budget=budget,
            xp=xp,
            basepoint=bp is not None,
            through_scan=through_scan,
        ),
    }
    if deep:
        kwargs.update(light=None, tangent=None)  # plain autodiff through the flat scan
    if is_dask_array(path):
        return _dask_signature(
            path,
            depth,
            bp,
            init,
            stream=stream,
            inverse=inverse,
            scalar_term=scalar_term,
            method=chosen,
            memory_budget=budget,
        )
    if is_jax_namespace(xp):
        fn = jax_jit(_sig.signature, ("depth", *kwargs))
        return fn(path, depth=depth, basepoint=bp, initial=init, **kwargs)
    with placed_like(path, xp):
        return _sig.signature(path, depth, basepoint=bp, initial=init, **kwargs)


def _eager_on_cpu(path: Array, xp: Namespace) -> bool:
    """Whether ``path`` is a NumPy array or a PyTorch CPU tensor (eager, cache-bound)."""
    if is_torch_namespace(xp):
        return bool(path.device.type == "cpu")
    return array_api_compat.is_numpy_namespace(xp)


def _chunking(
    path: Array,
    depth: int,
    *,
    stream: bool,
    budget: int,
    xp: Namespace,
    basepoint: bool,
    through_scan: bool,
) -> dict[str, Any]:
    """Chunk lengths (``chunk``, ``grad_chunk``) and the custom gradient (``light``, ``tangent``).

    The backward differentiates one chunk at a time (the hand-written VJP on
    the chunk's intermediates), which needs :data:`_GRADIENT_MEMORY_FACTOR`
    times the forward's memory, so its chunks are that much shorter. When the
    whole path fits in one such chunk, differentiating the whole path at once
    stays within the budget and is faster (no recomputation), so there is no
    memory-light wrapper: TensorFlow takes plain autodiff, and JAX the
    hand-written VJP of the whole path as ``tangent``
    (:func:`~keras_sig._lib._gradients.jax_tangent_wrap`), unless the
    sequential method was asked for (``through_scan``: JAX differentiates its
    scan). PyTorch, whose eager autograd of the parallel method is several
    times its forward, keeps the wrapper, whose backward is then that VJP.
    Nor is there a wrapper without a known length or where the framework has
    no autodiff.
    """
    shape = static_shape(path.shape)
    itemsize = int(getattr(path.dtype, "itemsize", 0) or getattr(path.dtype, "size", 8))
    length = shape[-2]
    steps = None if length is None else length - 1 + int(basepoint)  # the number of increments
    lead = [s for s in shape[:-2] if s is not None]
    paths = math.prod(lead) if len(lead) == len(shape) - 2 else None
    per_step = step_bytes(shape[-2:], depth, stream=stream, itemsize=itemsize)  # one path's
    forward_budget = min(budget, _CPU_EAGER_BYTES) if _eager_on_cpu(path, xp) else budget
    batch_chunk, chunk = plan_chunks(paths, steps, per_step, forward_budget)
    grad_budget = int(budget / _GRADIENT_MEMORY_FACTOR)
    grad_batch_chunk, grad_chunk = plan_chunks(paths, steps, per_step, grad_budget)
    fits = steps is not None and grad_batch_chunk is None and grad_chunk >= steps
    # PyTorch's autograd of the whole path is slower than the hand-written VJP.
    whole = fits and is_torch_namespace(xp)
    light = None if stream or steps is None or (fits and not whole) else light_gradient_for(xp)
    tangent = None
    if fits and not stream and not through_scan and is_jax_namespace(xp):
        tangent = jax_tangent_wrap  # forward mode keeps working (a custom JVP)
    return {
        # No chunks where the length is unknown when tracing, or one chunk holds it all.
        "chunk": None if steps is None or chunk >= steps else chunk,
        "grad_chunk": None if fits or (steps is not None and grad_chunk >= steps) else grad_chunk,
        "light": light,
        "tangent": tangent,
        "batch_chunk": batch_chunk,
        "grad_batch_chunk": None if fits else grad_batch_chunk,
    }
