"""The implementations of the signature group and how each is run and checked.

Every in-process implementation becomes a :class:`Runner`: argument-free
``forward()`` and ``gradient()`` closures over one input, each returning a
finished result (JAX results are blocked on; PyTorch and TensorFlow run
synchronously on the CPU). ``gradient`` is the gradient of ``sum(signature)``
with respect to the path. keras-sig 1.0.2 lives in its own virtualenv and is
run by :mod:`benchmarks._workers.legacy_signature` instead.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("sequential", "parallel", "chunked", "auto")
KINDS = ("forward", "gradient")
ATOL = 1e-8


@dataclass(frozen=True)
class Impl:
    """One implementation: how it is named, what it needs, what it can do."""

    key: str  # used in test ids and JSON
    label: str  # used in tables
    family: str  # "ours", "peer" or "legacy" (keras-sig 1.0.2, run in its own virtualenv)
    framework: str  # "numpy", "jax", "torch" or "tensorflow"
    method: str | None = None
    kinds: tuple[str, ...] = KINDS
    requires: tuple[str, ...] = ()
    skip_on_error: bool = False  # an exception skips (TensorFlow adapter not there yet)
    note: str = ""


@dataclass
class Runner:
    forward: Callable[[], Any]
    gradient: Callable[[], Any] | None
    to_numpy: Callable[[Any], np.ndarray]


def _ours(framework: str, method: str) -> Impl:
    label = {
        "numpy": "numpy",
        "jax": "jax jit",
        "torch": "torch eager",
        "tensorflow": "tf.function(XLA)",
    }[framework]
    requires = {"numpy": (), "jax": ("jax",), "torch": ("torch",), "tensorflow": ("tensorflow",)}[framework]
    return Impl(
        key=f"ours-{framework}-{method}",
        label=f"ours {label} [{method}]",
        family="ours",
        framework=framework,
        method=method,
        kinds=("forward",) if framework == "numpy" else KINDS,
        requires=requires,
        skip_on_error=framework == "tensorflow",
    )


OURS = tuple(_ours(fw, m) for fw in ("numpy", "jax", "torch", "tensorflow") for m in METHODS)
PEERS = (
    Impl(
        "iisignature",
        "iisignature",
        "peer",
        "numpy",
        requires=("iisignature",),
        note="sigbackprop returns float32: its gradient is checked to float32 precision",
    ),
    Impl("signax", "signax jit", "peer", "jax", requires=("signax", "jax")),
    Impl(
        "pysiglib",
        "pySigLib",
        "peer",
        "numpy",
        requires=("pysiglib",),
        note="n_jobs=1 (its default, one thread); gradient = sig + sig_backprop",
    ),
    Impl("signatory", "signatory", "peer", "torch", requires=("signatory", "torch")),
)
LEGACY = (
    Impl(
        "keras_sig_1.0.2-jax_gpu_signature",
        "keras-sig 1.0.2 jax_gpu_signature jit",
        "legacy",
        "jax",
        method="jax_gpu_signature",
    ),
    Impl(
        "keras_sig_1.0.2-signature",
        "keras-sig 1.0.2 signature jit",
        "legacy",
        "jax",
        method="signature",
        note="1.0.2's keras_sig.signature on KERAS_BACKEND=jax, default gpu_optimized (a scan on CPU)",
    ),
)
ALL = OURS + PEERS + LEGACY
BY_KEY = {impl.key: impl for impl in ALL}


def missing_requirement(impl: Impl) -> str | None:
    """The first module ``impl`` needs that is not installed, or None."""
    for name in impl.requires:
        if importlib.util.find_spec(name) is None:
            return name
    return None


# --------------------------------------------------------------------------- frameworks


def jax_module() -> Any:
    """JAX with float64 enabled (before any array is made)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def threads_note(impl: Impl) -> str:
    """How many threads ``impl`` may use, as far as can be told."""
    if impl.key == "iisignature":
        return "1 thread"
    if impl.key == "pysiglib":
        return "1 thread (n_jobs=1, default)"
    if impl.framework in ("torch",):
        import torch

        return f"torch intra-op threads {torch.get_num_threads()}"
    if impl.framework == "jax":
        return f"XLA CPU, {os.cpu_count()} cores visible"
    if impl.framework == "tensorflow":
        import tensorflow as tf

        n = tf.config.threading.get_intra_op_parallelism_threads()
        return f"TF intra-op threads {n or 'auto'}"
    return "NumPy (BLAS threads per its defaults)"


# --------------------------------------------------------------------------- builders


def _ours_numpy(x: np.ndarray, depth: int, method: str) -> Runner:
    import keras_sig

    return Runner(lambda: keras_sig.signature(x, depth, method=method), None, np.asarray)


def _ours_jax(x: np.ndarray, depth: int, method: str) -> Runner:
    jax = jax_module()
    import keras_sig

    xj = jax.numpy.asarray(x)
    fwd = jax.jit(lambda p: keras_sig.signature(p, depth, method=method))
    grad = jax.jit(jax.grad(lambda p: keras_sig.signature(p, depth, method=method).sum()))
    return Runner(lambda: fwd(xj).block_until_ready(), lambda: grad(xj).block_until_ready(), np.asarray)


def _torch_grad_runner(x: np.ndarray, sig: Callable[[Any], Any]) -> Runner:
    import torch

    xt = torch.tensor(x)
    xg = torch.tensor(x, requires_grad=True)

    def gradient() -> Any:
        xg.grad = None
        sig(xg).sum().backward()
        return xg.grad

    return Runner(lambda: sig(xt), gradient, lambda t: t.detach().cpu().numpy())


def _ours_torch(x: np.ndarray, depth: int, method: str) -> Runner:
    import keras_sig

    return _torch_grad_runner(x, lambda p: keras_sig.signature(p, depth, method=method))


def _ours_tensorflow(x: np.ndarray, depth: int, method: str) -> Runner:
    import tensorflow as tf

    import keras_sig

    xt = tf.constant(x)

    def grad_impl(p: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(p)
            total = tf.reduce_sum(keras_sig.signature(p, depth, method=method))
        return tape.gradient(total, p)

    fwd = tf.function(lambda p: keras_sig.signature(p, depth, method=method), jit_compile=True)
    grad = tf.function(grad_impl, jit_compile=True)
    return Runner(lambda: fwd(xt), lambda: grad(xt), lambda t: t.numpy())


def _iisignature(x: np.ndarray, depth: int) -> Runner:
    import iisignature

    ones = np.ones((*x.shape[:-2], iisignature.siglength(x.shape[-1], depth)))
    return Runner(
        lambda: iisignature.sig(x, depth),
        lambda: iisignature.sigbackprop(ones, x, depth),
        np.asarray,
    )


def _signax(x: np.ndarray, depth: int) -> Runner:
    jax = jax_module()
    import signax

    xj = jax.numpy.asarray(x)
    fwd = jax.jit(lambda p: signax.signature(p, depth))
    grad = jax.jit(jax.grad(lambda p: signax.signature(p, depth).sum()))
    return Runner(lambda: fwd(xj).block_until_ready(), lambda: grad(xj).block_until_ready(), np.asarray)


def _pysiglib(x: np.ndarray, depth: int) -> Runner:
    import pysiglib

    channels = x.shape[-1]
    ones = np.ones((*x.shape[:-2], sum(channels**k for k in range(1, depth + 1))))

    def gradient() -> np.ndarray:
        sig = pysiglib.signature(x, depth)
        return pysiglib.sig_backprop(x, sig, ones, depth)

    return Runner(lambda: pysiglib.signature(x, depth), gradient, np.asarray)


def _signatory(x: np.ndarray, depth: int) -> Runner:
    import signatory

    return _torch_grad_runner(x, lambda p: signatory.signature(p, depth))


def build(impl: Impl, x: np.ndarray, depth: int) -> Runner:
    """A :class:`Runner` of ``impl`` on the float64 input ``x``."""
    if impl.family == "ours":
        builder = {
            "numpy": _ours_numpy,
            "jax": _ours_jax,
            "torch": _ours_torch,
            "tensorflow": _ours_tensorflow,
        }[impl.framework]
        return builder(x, depth, impl.method)
    peers = {"iisignature": _iisignature, "signax": _signax, "pysiglib": _pysiglib, "signatory": _signatory}
    if impl.key not in peers:
        msg = f"{impl.key} is not run in this process"
        raise ValueError(msg)
    return peers[impl.key](x, depth)


# --------------------------------------------------------------------------- references


def check_input(seed: int) -> tuple[np.ndarray, int]:
    """The small float64 input every implementation is checked on (and its depth)."""
    rng = np.random.default_rng(seed)
    return np.cumsum(0.3 * rng.standard_normal((3, 9, 4)), axis=-2), 4


def reference_forward(x: np.ndarray, depth: int) -> np.ndarray:
    import iisignature

    return iisignature.sig(x, depth)


def reference_gradient(
    x: np.ndarray, depth: int, h: float = 0.5, sig: Callable[[np.ndarray, int], np.ndarray] | None = None
) -> np.ndarray:
    """Gradient of ``sum(iisignature.sig(x, depth))`` (or of ``sum(sig(x, depth))``), exact up to rounding.

    Along any line the signature is a polynomial of degree ``depth`` in the
    step, so central differences with Richardson extrapolation over
    ``(depth - 1) // 2`` halvings of ``h`` cancel every error term: no
    truncation error whatever ``h``, hence a large ``h`` and float64 accuracy.
    (``iisignature.sigbackprop`` itself returns float32.)
    """
    if sig is None:
        import iisignature

        sig = iisignature.sig
    *batch, length, channels = x.shape
    n = length * channels
    # Perturb coordinate i of every path in the batch at once: (n, *batch, length, channels).
    basis = np.eye(n).reshape(n, *([1] * len(batch)), length, channels)

    def total(paths: np.ndarray) -> np.ndarray:
        flat = paths.reshape(-1, length, channels)
        return np.asarray(sig(flat, depth)).sum(axis=-1).reshape(n, *batch)

    levels = (depth - 1) // 2 + 1
    table = []
    for j in range(levels):
        step = h / 2**j
        table.append((total(x + step * basis) - total(x - step * basis)) / (2 * step))
    for m in range(1, levels):
        table = [(4**m * table[j] - table[j - 1]) / (4**m - 1) for j in range(1, len(table))]
    # table[0] has shape (n, *batch): coordinate first.
    return np.moveaxis(table[0], 0, -1).reshape(*batch, length, channels)


def tolerance(impl: Impl, kind: str, reference: np.ndarray) -> float:
    """Max abs difference allowed: float64 everywhere but iisignature's float32 gradient."""
    if impl.key == "iisignature" and kind == "gradient":
        return 1e-5 * max(1.0, float(np.abs(reference).max()))
    return ATOL
