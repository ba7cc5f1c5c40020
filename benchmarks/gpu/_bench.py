"""The in-process implementations the GPU kit times, on a chosen device and dtype.

Each :func:`build` returns a :class:`~benchmarks._impls.Runner` whose
closures finish their work before returning (``block_until_ready``,
``torch.cuda.synchronize``, a CuPy device synchronisation), so wall-clock
times are device times. keras-sig 1.0.2 runs in a subprocess instead
(:mod:`benchmarks._workers.legacy_signature`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._impls import Runner

KINDS = ("forward", "gradient")
JAX_METHODS = ("auto", "sequential", "parallel", "chunked")


@dataclass(frozen=True)
class Impl:
    """One in-process row of the signature table."""

    key: str
    label: str
    framework: str  # "jax", "torch", "cupy"
    family: str = "ours"  # "ours" or "peer"
    method: str = "auto"
    kinds: tuple[str, ...] = KINDS
    requires: tuple[str, ...] = ()
    gpu_only: bool = False


IMPLS = (
    *(Impl(f"ours-jax-{m}", f"ours jax jit [{m}]", "jax", method=m, requires=("jax",)) for m in JAX_METHODS),
    Impl("ours-torch-auto", "ours torch eager [auto]", "torch", requires=("torch",)),
    Impl(
        "ours-torch-parallel", "ours torch eager [parallel]", "torch", method="parallel", requires=("torch",)
    ),
    Impl("ours-torch-compile", "ours torch.compile [auto]", "torch", requires=("torch",)),
    Impl("ours-cupy-auto", "ours cupy [auto]", "cupy", kinds=("forward",), requires=("cupy",), gpu_only=True),
    Impl("signax", "signax jit", "jax", family="peer", requires=("jax", "signax")),
    Impl("pysiglib", "pySigLib (torch)", "torch", family="peer", requires=("torch", "pysiglib")),
)
BY_KEY = {impl.key: impl for impl in IMPLS}


def missing(impl: Impl, device: str) -> str | None:
    """Why ``impl`` cannot run here, or None."""
    if impl.gpu_only and device != "gpu":
        return "needs a GPU"
    for name in impl.requires:
        if importlib.util.find_spec(name) is None:
            return f"{name} not installed"
    return None


def jax_device(device: str) -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def torch_device(device: str) -> str:
    return "cuda" if device == "gpu" else "cpu"


def _jax_runner(x: np.ndarray, device: str, sig: Callable[[Any], Any]) -> Runner:
    import jax

    xj = jax.device_put(x, jax_device(device))
    fwd = jax.jit(sig)
    grad = jax.jit(jax.grad(lambda p: sig(p).sum()))
    return Runner(lambda: fwd(xj).block_until_ready(), lambda: grad(xj).block_until_ready(), np.asarray)


def _torch_runner(
    x: np.ndarray, device: str, sig: Callable[[Any], Any], *, compiled: bool, quick: bool
) -> Runner:
    import torch

    dev = torch_device(device)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    xt = torch.as_tensor(x, device=dev)
    xg = xt.clone().requires_grad_(True)
    fwd, total = sig, (lambda p: sig(p).sum())
    if compiled:
        # On the CPU in quick mode, Dynamo's graph capture alone: checks the tracing, skips the C++ build.
        backend = "eager" if quick and dev == "cpu" else "inductor"
        fwd = torch.compile(sig, dynamic=False, backend=backend)
        total = torch.compile(total, dynamic=False, backend=backend)

    def forward() -> Any:
        with torch.no_grad():
            out = fwd(xt)
        sync()
        return out

    def gradient() -> Any:
        xg.grad = None
        total(xg).backward()
        sync()
        return xg.grad

    return Runner(forward, gradient, lambda t: t.detach().cpu().numpy())


def _cupy_runner(x: np.ndarray, sig: Callable[[Any], Any]) -> Runner:
    import cupy

    xc = cupy.asarray(x)
    sync = cupy.cuda.Device().synchronize

    def forward() -> Any:
        out = sig(xc)
        sync()
        return out

    return Runner(forward, None, lambda a: a.get())


def build(impl: Impl, x: np.ndarray, depth: int, *, device: str, quick: bool = False) -> Runner:
    """A runner of ``impl`` on ``x`` (its dtype kept) on ``device`` (``"gpu"`` or ``"cpu"``)."""
    if impl.key == "signax":
        import signax

        return _jax_runner(x, device, lambda p: signax.signature(p, depth))
    if impl.key == "pysiglib":
        import pysiglib.torch_api as pysiglib_torch

        return _torch_runner(x, device, lambda p: pysiglib_torch.sig(p, depth), compiled=False, quick=quick)
    import keras_sig

    def ours(p: Any) -> Any:
        return keras_sig.signature(p, depth, method=impl.method)

    if impl.framework == "jax":
        return _jax_runner(x, device, ours)
    if impl.framework == "torch":
        return _torch_runner(x, device, ours, compiled=impl.key == "ours-torch-compile", quick=quick)
    if impl.framework == "cupy":
        return _cupy_runner(x, ours)
    msg = f"unknown framework {impl.framework!r}"
    raise ValueError(msg)


def random_walk(shape: tuple[int, int, int], dtype: str, seed: int) -> np.ndarray:
    """The benchmark input: increments of standard deviation ``1/sqrt(length)``."""
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal(shape) / np.sqrt(shape[1])
    return np.cumsum(steps, axis=1).astype(dtype)


def reference(x: np.ndarray, depth: int) -> dict[str, np.ndarray]:
    """Float64 forward and gradient of ``sum(signature)`` of the small check input.

    From iisignature where installed, else from the definition-level NumPy
    signature of ``tests/reference.py`` (the GPU machine has no iisignature);
    the gradient by exact central differences
    (:func:`benchmarks._impls.reference_gradient`).
    """
    from benchmarks._impls import reference_gradient

    if importlib.util.find_spec("iisignature") is not None:
        import iisignature

        sig: Callable[[np.ndarray, int], np.ndarray] = iisignature.sig
    else:
        from tests.reference import signature as sig
    return {"forward": np.asarray(sig(x, depth)), "gradient": reference_gradient(x, depth, sig=sig)}
