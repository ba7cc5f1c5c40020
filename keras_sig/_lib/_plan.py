"""The planner: how one signature call runs, decided once.

:func:`plan` turns what is known before the computation (backend, device,
compiler, shape, dtype, ``stream``, the ``method`` asked for, the memory
budget, and whether a gradient is expected) into a :class:`Plan`. Every
caller (the public functions, the Keras layers, the Dask blocks) asks it
once, and the core only reads the plan's fields.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

from keras_sig._core._algebra import sigdim
from keras_sig._core._forward import PARALLEL_MAX_DEPTH
from keras_sig._lib._gradients import has_autodiff
from keras_sig._lib._namespace import (
    is_eager_cpu,
    is_jax_namespace,
    is_torch_namespace,
    jax_runs_on_cpu,
    static_shape,
)
from keras_sig._lib._typing import Array, Namespace

__all__ = [
    "CPU_EAGER_BYTES",
    "DEFAULT_MEMORY_BUDGET",
    "GRADIENT_MEMORY_FACTOR",
    "JAX_PARALLEL_MAX_LENGTH",
    "MIN_FOLD_STEPS",
    "TORCH_COMPILE_MAX_STEPS",
    "Plan",
    "plan",
    "plan_chunks",
    "step_bytes",
]

DEFAULT_MEMORY_BUDGET = 64 * 2**20
"""Bytes the parallel method's intermediates may use at once unless told otherwise."""

CPU_EAGER_BYTES = 8 * 2**20
"""The forward's chunks on NumPy and PyTorch CPU: the parallel method is memory-bound there.

Chunks of at most this many bytes keep its passes over the data in cache
(``python -m benchmarks --methods`` measures it).
"""

MIN_FOLD_STEPS = 64
"""The shortest chunk of time :func:`plan_chunks` cuts (each chunk costs one Chen product to fold in)."""

GRADIENT_MEMORY_FACTOR = 1.5
"""Bytes a chunk's backward needs per byte of :func:`step_bytes`: measured peaks, rounded up.

``python -m benchmarks --memory`` measures them (``benchmarks/test_memory.py``).
"""

JAX_PARALLEL_MAX_LENGTH = 256
"""On JAX's CPU, ``"auto"`` with ``stream=True`` (or depth below 3) scans paths longer than this."""

TORCH_COMPILE_MAX_STEPS = 64
"""Under ``torch.compile``, a longer sequential path runs as ``"parallel"`` (Dynamo unrolls loops)."""

# The cost model of :func:`_jax_scan_is_faster`: the scan's cost relative to the
# parallel method's per unit of ``sigdim / width``, with the parallel method's
# intermediates within and beyond this many bytes.
_JAX_CACHE_BYTES = 16 * 2**20
_JAX_SCAN_IN_CACHE = 0.2
_JAX_SCAN_OUT_OF_CACHE = 0.045
# ... and the scan only while its carry (the batch's signature) stays within this
# many bytes (tests/test_plan.py's JAX_EXTRA shapes sit on either side of it).
_JAX_SCAN_CARRY_BYTES = 6 * 2**20


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one signature runs. Frozen and hashable: a static argument of ``jax.jit``.

    Attributes
    ----------
    method : {"sequential", "parallel", "chunked"}
        ``"chunked"`` only where it splits something (else ``"parallel"``).
    chunk, batch_chunk : int or None
        ``"chunked"``: time steps and paths per chunk (``None``: all of them).
    gradient : {"autodiff", "custom_vjp", "custom_jvp"}
        ``"autodiff"``: the framework differentiates the forward.
        ``"custom_vjp"``: the hand-written backward, memory-light where
        ``grad_chunk`` or ``grad_batch_chunk`` is set, else the whole path's
        VJP. ``"custom_jvp"`` (JAX): that VJP's transpose as the tangent map.
    grad_chunk, grad_batch_chunk : int or None
        The ``"custom_vjp"`` backward's chunks (``None``: all at once).
    keep_tape : bool
        The ``"custom_vjp"`` forward keeps the parallel method's tape for the
        backward instead of recomputing it.
    """

    method: str
    chunk: int | None = None
    batch_chunk: int | None = None
    gradient: str = "autodiff"
    grad_chunk: int | None = None
    grad_batch_chunk: int | None = None
    keep_tape: bool = False


def plan(
    path: Array,
    depth: int,
    *,
    xp: Namespace,
    stream: bool,
    method: str,
    basepoint: bool,
    memory_budget: int,
    for_gradient: bool = False,
) -> Plan:
    """The :class:`Plan` for the signature of ``path`` (validated; ``basepoint``: one is prepended).

    The method:

    1. ``"auto"`` is ``"chunked"``, except on JAX on the CPU without
       ``for_gradient`` (a layer's call), where XLA's fused scan often beats
       the parallel method: with depth >= 3 and ``stream=False`` where
       :func:`_jax_scan_is_faster` says so, otherwise for paths longer than
       :data:`JAX_PARALLEL_MAX_LENGTH`. Such a scan is still differentiated
       by the parallel method's derivatives.
    2. Under ``torch.compile``, ``"sequential"`` on more than
       :data:`TORCH_COMPILE_MAX_STEPS` points runs as ``"parallel"``.
    3. Past depth :data:`~keras_sig._core._forward.PARALLEL_MAX_DEPTH`
       every method runs as ``"sequential"``, differentiated by autodiff.

    The chunks (:func:`plan_chunks`): the forward's within the budget
    (:data:`CPU_EAGER_BYTES` at most on NumPy and PyTorch CPU), the
    backward's within the budget over :data:`GRADIENT_MEMORY_FACTOR`.
    ``"chunked"`` with one chunk is ``"parallel"``.

    The gradient (``stream=False``, a known length, a framework with autodiff):

    - the whole path's backward does not fit: ``"custom_vjp"``, memory-light;
    - it fits: PyTorch takes ``"custom_vjp"`` with the tape kept (its autograd
      is slower); JAX ``"custom_jvp"``, unless ``"sequential"`` was asked for
      (JAX differentiates its scan); TensorFlow ``"autodiff"``.
    - otherwise ``"autodiff"``.
    """
    requested = method
    shape = static_shape(path.shape)
    length = shape[-2]
    if method == "auto":
        method = _auto(path, depth, xp=xp, stream=stream, for_gradient=for_gradient)
    if (
        method == "sequential"
        and _torch_compiling(xp)
        and (length is None or length > TORCH_COMPILE_MAX_STEPS)
    ):
        method = "parallel"
    if depth > PARALLEL_MAX_DEPTH:
        return Plan("sequential")
    itemsize = int(getattr(path.dtype, "itemsize", 0) or getattr(path.dtype, "size", 8))
    steps = None if length is None else length - 1 + int(basepoint)  # the number of increments
    lead = [s for s in shape[:-2] if s is not None]
    paths = math.prod(lead) if len(lead) == len(shape) - 2 else None
    per_step = step_bytes(shape[-2:], depth, stream=stream, itemsize=itemsize)  # one path's
    forward_budget = min(memory_budget, CPU_EAGER_BYTES) if is_eager_cpu(path, xp) else memory_budget
    batch_chunk, time_chunk = plan_chunks(paths, steps, per_step, forward_budget)
    grad_batch_chunk, grad_time_chunk = plan_chunks(
        paths, steps, per_step, int(memory_budget / GRADIENT_MEMORY_FACTOR)
    )
    chunk = None if steps is None or time_chunk >= steps else time_chunk
    if method == "chunked" and chunk is None and batch_chunk is None:
        method = "parallel"
    if method != "chunked":
        chunk = batch_chunk = None
    fits = steps is not None and grad_batch_chunk is None and grad_time_chunk >= steps
    gradient = "autodiff"
    if not stream and steps is not None and has_autodiff(xp):
        if not fits or is_torch_namespace(xp):
            gradient = "custom_vjp"
        elif is_jax_namespace(xp) and requested != "sequential":
            gradient = "custom_jvp"
    grad_chunk = grad_time_chunk if steps is not None and grad_time_chunk < steps else None
    if gradient != "custom_vjp" or fits:
        grad_chunk = grad_batch_chunk = None
    keep_tape = (
        gradient == "custom_vjp"
        and grad_chunk is None
        and grad_batch_chunk is None
        and method != "sequential"
    )
    return Plan(method, chunk, batch_chunk, gradient, grad_chunk, grad_batch_chunk, keep_tape)


def _auto(path: Array, depth: int, *, xp: Namespace, stream: bool, for_gradient: bool) -> str:
    """What ``method="auto"`` stands for (rule 1 of :func:`plan`)."""
    if for_gradient or not is_jax_namespace(xp) or not jax_runs_on_cpu(path):
        return "chunked"
    if not stream and depth >= 3:
        return "sequential" if _jax_scan_is_faster(path, depth) else "chunked"
    length = static_shape(path.shape)[-2]
    return "sequential" if length is None or length > JAX_PARALLEL_MAX_LENGTH else "chunked"


def _torch_compiling(xp: Namespace) -> bool:
    """Whether PyTorch code is being traced by ``torch.compile`` (Dynamo)."""
    if not is_torch_namespace(xp):
        return False
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def step_bytes(shape: tuple[Any, ...], depth: int, *, stream: bool, itemsize: int) -> int:
    """Bytes of the parallel method's intermediates per time step, for all paths of the batch.

    A model of NumPy's measured peaks (``tracemalloc``), rounded up. The
    widest arrays: with ``stream`` every level; otherwise the levels up to
    ``depth - 2``, the Horner heads and the ``d**2``-sized products.
    """
    numel = 1
    for s in static_shape(shape[:-2]):
        numel *= s if s is not None else 1  # an unknown batch size is planned per path
    d = shape[-1]
    if stream:
        width = sigdim(d, depth) + d
    else:
        width = sum(d**k for k in range(1, depth - 1)) + 2 * d ** max(depth - 2, 0) + 2 * d * d + d
    return 3 * numel * width * itemsize


def _balanced(total: int, most: int) -> int:
    """The chunk size for ``total`` items in as few chunks of at most ``most`` as possible, evened out."""
    if total <= 0:  # an empty batch: nothing to split
        return max(1, most)
    n = -(-total // max(1, most))
    return -(-total // n)


def plan_chunks(paths: int | None, steps: int | None, per_step: int, budget: int) -> tuple[int | None, int]:
    """How the chunked method splits a batch: ``(batch_chunk, chunk)``.

    For ``paths`` paths of ``steps`` increments (``None``: unknown when
    tracing) needing ``per_step`` bytes each per step (:func:`step_bytes` of
    one path): chunks of ``batch_chunk`` paths (``None``: all), each in chunks
    of ``chunk`` steps, with ``batch_chunk * chunk * per_step <= budget``
    wherever one step of one path fits.

    - All fits: ``(None, steps)``.
    - Whole paths fit: the batch is split, evenly (paths need no Chen
      product to be joined).
    - Otherwise time is cut too, into chunks of at least
      :data:`MIN_FOLD_STEPS` steps (each chunk costs a Chen product to fold
      in), with fewer paths at a time.
    - An unknown batch size: time chunks only. An unknown length: chunks as
      long as the batch allows.
    """
    per_step = max(1, per_step)
    if paths is None or steps is None:
        return None, max(1, budget // (per_step * (paths or 1)))
    if paths * steps * per_step <= budget:
        return None, max(1, steps)
    if steps * per_step <= budget:  # whole paths, several at a time
        return _balanced(paths, budget // (steps * per_step)), steps
    whole_batch = budget // (paths * per_step)
    chunk = max(1, whole_batch, min(MIN_FOLD_STEPS, budget // per_step))
    size = budget // (chunk * per_step)
    return (None if size >= paths else _balanced(paths, max(1, size))), chunk


def _jax_scan_is_faster(path: Array, depth: int) -> bool:
    """Whether XLA on the CPU computes this path's signature (``stream=False``) faster by the scan.

    A cost model fitted to A/B timings of both methods
    (``python -m benchmarks --methods``; the grid's winners are pinned by
    ``tests/test_plan.py``):

    - per step and path the scan updates all ``sigdim`` coefficients; the
      parallel method moves its ``width`` intermediates (:func:`step_bytes`);
    - with those within :data:`_JAX_CACHE_BYTES`, the scan wins while
      ``sigdim / width < 1 / _JAX_SCAN_IN_CACHE``; beyond, while it is below
      ``1 / _JAX_SCAN_OUT_OF_CACHE``;
    - never once the scan's carry (the batch's signature) passes
      :data:`_JAX_SCAN_CARRY_BYTES`.
    """
    shape = static_shape(path.shape)
    channels, length = int(shape[-1] or 1), shape[-2]
    itemsize = int(getattr(path.dtype, "itemsize", 0) or getattr(path.dtype, "size", 8))
    per_step = step_bytes(shape[-2:], depth, stream=False, itemsize=itemsize)
    ratio = sigdim(channels, depth) / (per_step / (3 * itemsize))
    lead = [s for s in shape[:-2] if s is not None]
    if length is None or len(lead) < len(shape) - 2:
        return True  # an unknown size: the scan's cost does not depend on it
    paths = math.prod(lead)
    if paths * sigdim(channels, depth) * itemsize > _JAX_SCAN_CARRY_BYTES:
        return False  # the scan's carry outgrows the cache: every step is a pass over memory
    total = paths * length * per_step
    return ratio * (_JAX_SCAN_IN_CACHE if total < _JAX_CACHE_BYTES else _JAX_SCAN_OUT_OF_CACHE) < 1
