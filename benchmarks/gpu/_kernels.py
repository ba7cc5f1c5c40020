"""The GPU kit's ``kernels`` stage: signature-kernel Gram matrices and the MMD gradient on the device.

Rows: ours on JAX (jit), PyTorch (eager) and CuPy (forward only), and
pySigLib's CUDA solver (``pysiglib.torch_api`` on CUDA tensors), on the sizes
of issue 16 (32 x 32 Gram matrices of (100, 5) paths at dyadic orders 0 and 2,
8 x 8 of (1000, 3)) and one larger batch (128 x 128 of (100, 5)), float64 and
float32; then ``sig_mmd`` of two samples of 32 (100, 5) paths, forward and
gradient with respect to both samples. Each row's function is first checked
once, on a small float64 input on the device, against pySigLib on the CPU (or,
where pySigLib does not import, ours on NumPy) to 1e-8; a row that disagrees
shows ``wrong: ...`` instead of a time.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks._workers._protocol import measure
from benchmarks.gpu._bench import jax_device, torch_device
from benchmarks.gpu._env import release_memory
from benchmarks.gpu._results import median

if TYPE_CHECKING:
    from benchmarks.gpu._kit import Kit

SEED = 20261204
FRAMEWORKS = ("jax", "torch", "cupy", "pysiglib")
LABELS = {
    "jax": "ours jax jit",
    "torch": "ours torch eager",
    "cupy": "ours cupy",
    "pysiglib": "pySigLib (torch_api)",
}
REQUIRES = {"jax": ("jax",), "torch": ("torch",), "cupy": ("cupy",), "pysiglib": ("torch", "pysiglib")}
ATOL = 1e-8


@dataclass(frozen=True)
class Case:
    """A Gram matrix of ``batch_x`` against ``batch_y`` paths of ``(length, channels)``."""

    name: str
    batch_x: int
    batch_y: int
    length: int
    channels: int
    order: int


FULL_CASES = (
    Case("gram-100x5", 32, 32, 100, 5, 0),
    Case("gram-100x5", 32, 32, 100, 5, 2),
    Case("gram-1000x3", 8, 8, 1000, 3, 0),
    Case("gram-128x100x5", 128, 128, 100, 5, 0),
)
QUICK_CASES = (Case("gram-20x3", 4, 4, 20, 3, 1),)
# (batch, length, channels) of each MMD sample
FULL_MMD = (32, 100, 5)
QUICK_MMD = (4, 20, 3)


def walk(batch: int, length: int, channels: int, dtype: str, seed: int) -> np.ndarray:
    """Random walks with increments of standard deviation ``1/sqrt(length)``."""
    rng = np.random.default_rng(SEED + seed)
    steps = rng.standard_normal((batch, length, channels)) / np.sqrt(length)
    return np.cumsum(steps, axis=-2).astype(dtype)


def missing(framework: str, device: str) -> str | None:
    """Why ``framework``'s row cannot run here, or None."""
    if framework == "cupy" and device != "gpu":
        return "needs a GPU"
    for name in REQUIRES[framework]:
        if importlib.util.find_spec(name) is None:
            return f"{name} not installed"
    return None


class _Arrays:
    """Conversions to and from one framework's arrays on the kit's device, and its synchronisation."""

    def __init__(self, framework: str, device: str) -> None:
        if framework == "jax":
            import jax

            where = jax_device(device)
            self.put: Callable[[np.ndarray], Any] = lambda a: jax.device_put(a, where)
            self.done: Callable[[Any], Any] = lambda y: y.block_until_ready()
            self.get: Callable[[Any], np.ndarray] = np.asarray
        elif framework in ("torch", "pysiglib"):
            import torch

            dev = torch_device(device)
            sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
            self.put = lambda a: torch.as_tensor(a, device=dev)
            self.done = lambda y: (sync(), y)[1]
            self.get = lambda t: t.detach().cpu().numpy()
        else:
            import cupy

            self.put = cupy.asarray
            self.done = lambda y: (cupy.cuda.Device().synchronize(), y)[1]
            self.get = lambda a: a.get()


def _gram(framework: str, order: int) -> Callable[[Any, Any], Any]:
    if framework == "pysiglib":
        import pysiglib.torch_api as pysiglib_torch

        return lambda x, y: pysiglib_torch.sig_kernel_gram(x, y, dyadic_order=order)
    import keras_sig

    def gram(x: Any, y: Any) -> Any:
        return keras_sig.sig_kernel_gram(x, y, dyadic_order=order)

    if framework == "jax":
        import jax

        return jax.jit(gram)
    return gram


def _mmd(framework: str, kind: str) -> Callable[[Any, Any], Any]:
    """``sig_mmd(x, y)`` (``kind="forward"``) or its gradient with respect to ``x`` and ``y``."""
    if framework == "pysiglib":
        import pysiglib.torch_api as pysiglib_torch

        def mmd(x: Any, y: Any) -> Any:
            return pysiglib_torch.sig_mmd(x, y, dyadic_order=0)

    else:
        import keras_sig

        mmd = keras_sig.sig_mmd  # type: ignore[assignment]
    if framework == "jax":
        import jax

        return jax.jit(mmd if kind == "forward" else jax.grad(mmd, argnums=(0, 1)))
    if kind == "forward" or framework == "cupy":
        return mmd

    def gradient(x: Any, y: Any) -> Any:
        a, b = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        mmd(a, b).reshape(()).backward()
        return a.grad, b.grad

    return gradient


def _reference(what: str, x: np.ndarray, y: np.ndarray, order: int) -> Any:
    """Float64 reference values: pySigLib on the CPU where it imports, else ours on NumPy."""
    try:
        import pysiglib
    except ImportError:  # the CPU extension may not load on a given machine
        pysiglib = None
    if what == "gram":
        if pysiglib is not None:
            return np.asarray(pysiglib.sig_kernel_gram(x, y, dyadic_order=order))
        import keras_sig

        return np.asarray(keras_sig.sig_kernel_gram(x, y, dyadic_order=order))
    import torch

    import keras_sig

    a, b = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    value = keras_sig.sig_mmd(a, b)
    if what == "mmd-forward":
        return value.detach().numpy()
    value.backward()
    assert a.grad is not None
    assert b.grad is not None
    return a.grad.numpy(), b.grad.numpy()


def _max_diff(got: Any, want: Any) -> float:
    if isinstance(want, tuple):
        return max(_max_diff(g, w) for g, w in zip(got, want, strict=True))
    got, want = np.asarray(got), np.asarray(want)
    return float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")


def _row(
    kit: Kit,
    framework: str,
    what: str,
    make: Callable[[], Callable[[Any, Any], Any]],
    x: np.ndarray,
    y: np.ndarray,
    *,
    order: int,
    row: dict[str, Any],
) -> None:
    """Check ``make()`` on a small float64 input, then time it on ``x``, ``y``; record the row."""
    row = {**row, "impl": framework, "label": LABELS[framework]}
    why = missing(framework, kit.device)
    if why is None and kit.budget.left() <= 0:
        why = "budget"
    if why is not None:
        kit.results.kernel({**row, "status": f"skip: {why}"})
        return
    began = time.monotonic()
    try:
        arrays, fn = _Arrays(framework, kit.device), make()
        sx, sy = walk(3, 7, x.shape[-1], "float64", 3), walk(4, 6, x.shape[-1], "float64", 4)
        got = fn(arrays.put(sx), arrays.put(sy))
        got = tuple(arrays.get(g) for g in got) if isinstance(got, tuple) else arrays.get(got)
        diff = _max_diff(got, _reference(what, sx, sy, order))
        row["check_max_abs_diff"] = diff
        if not diff < ATOL:
            kit.results.kernel({**row, "status": f"wrong: max abs diff {diff:.3g}"})
            return
        xa, ya = arrays.put(x), arrays.put(y)

        def call() -> Any:
            out = fn(xa, ya)
            return arrays.done(out[0] if isinstance(out, tuple) else out)

        times = measure(call, kit.settings)
        row.update(status="ok", median_ms=1e3 * median(times), rounds=len(times))
        row["seconds"] = round(time.monotonic() - began, 2)
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        row["status"] = f"error: {type(exc).__name__}: {first}"
    kit.results.kernel(row)


def kernels(kit: Kit) -> None:
    """The kernel table: each case, dtype and framework, then the MMD forward and gradient."""
    start = time.monotonic()
    cases = QUICK_CASES if kit.quick else FULL_CASES
    for dtype in kit.dtypes:
        for case in cases:
            x = walk(case.batch_x, case.length, case.channels, dtype, 1)
            y = walk(case.batch_y, case.length, case.channels, dtype, 2)
            shape = (case.batch_x, case.batch_y, case.length, case.channels)
            row = {"case": case.name, "shape": shape, "order": case.order, "dtype": dtype, "kind": "gram"}
            for framework in FRAMEWORKS:
                make = functools.partial(_gram, framework, case.order)
                _row(kit, framework, "gram", make, x, y, order=case.order, row=row)
        batch, length, channels = QUICK_MMD if kit.quick else FULL_MMD
        x, y = walk(batch, length, channels, dtype, 5), walk(batch, length, channels, dtype, 6)
        for kind in ("forward", "gradient"):
            for framework in FRAMEWORKS:
                if framework == "cupy" and kind == "gradient":
                    continue
                row = {
                    "case": f"mmd-{length}x{channels}",
                    "shape": (batch, batch, length, channels),
                    "order": 0,
                    "dtype": dtype,
                    "kind": f"mmd-{kind}",
                }
                make = functools.partial(_mmd, framework, kind)
                _row(kit, framework, f"mmd-{kind}", make, x, y, order=0, row=row)
        release_memory()
    kit.results.stage("kernels", "ok", time.monotonic() - start)
