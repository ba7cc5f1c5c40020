"""Optional profiling for the GPU kit (``--profile``): how many kernels one call launches.

JAX: the compiled program's top-level operations (each fusion, copy, custom
call or library call of the entry computation runs as one kernel or more),
read from the optimized HLO, plus a :func:`jax.profiler.trace` written under the
profile folder for TensorBoard or Perfetto. PyTorch: :mod:`torch.profiler`'s
device events (CUDA kernels, memcpys) of one eager call, and its table of the
busiest operators, written beside.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.gpu._bench import jax_device, random_walk, torch_device

# Entry-computation instructions that are bookkeeping, not device work.
_NOT_KERNELS = ("parameter", "constant", "tuple", "get-tuple-element", "bitcast")


def hlo_kernel_count(hlo_text: str) -> int:
    """Device operations in the entry computation of an optimized HLO module's text."""
    in_entry, count = False, 0
    for line in hlo_text.splitlines():
        if line.startswith("ENTRY"):
            in_entry = True
            continue
        if in_entry and line.startswith("}"):
            break
        if in_entry:
            match = re.search(r"=\s*\S+\s+([a-z][a-z0-9-]*)\(", line)
            if match and match.group(1) not in _NOT_KERNELS:
                count += 1
    return count


def _jax_rows(shape: tuple[int, int, int], depth: int, device: str, folder: Path) -> list[dict[str, Any]]:
    import jax

    import keras_sig

    x = jax.device_put(random_walk(shape, "float32", 0), jax_device(device))
    rows = []
    for method in ("auto", "parallel", "sequential"):

        def sig(p: Any, method: str = method) -> Any:
            return keras_sig.signature(p, depth, method=method)

        for kind, fn in (("forward", sig), ("gradient", jax.grad(lambda p, f=sig: f(p).sum()))):
            compiled = jax.jit(fn).lower(x).compile()
            text = compiled.as_text() or ""
            rows.append({"what": f"jax {kind} [{method}] float32", "kernels": hlo_kernel_count(text)})
    trace = folder / "jax_trace"
    try:
        fwd = jax.jit(lambda p: keras_sig.signature(p, depth))
        fwd(x).block_until_ready()
        with jax.profiler.trace(str(trace)):
            fwd(x).block_until_ready()
        rows.append({"what": "jax trace [auto] forward", "note": f"written to {trace.name}/"})
    except Exception as exc:
        rows.append({"what": "jax trace", "note": f"error: {exc}"[:200]})
    return rows


def _torch_rows(shape: tuple[int, int, int], depth: int, device: str, folder: Path) -> list[dict[str, Any]]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    import keras_sig

    dev = torch_device(device)
    x = torch.as_tensor(random_walk(shape, "float32", 0), device=dev).requires_grad_(True)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev == "cuda" else [])
    rows = []
    for method in ("auto", "parallel"):
        for kind in ("forward", "gradient"):

            def call(method: str = method, kind: str = kind) -> None:
                if kind == "forward":
                    with torch.no_grad():
                        keras_sig.signature(x, depth, method=method)
                else:
                    keras_sig.signature(x, depth, method=method).sum().backward()
                if dev == "cuda":
                    torch.cuda.synchronize()

            call()  # warm-up
            with profile(activities=activities) as prof:
                call()
            events = prof.events() or []
            on_device = [e for e in events if str(getattr(e, "device_type", "")).endswith("CUDA")]
            ops = [e for e in events if str(getattr(e, "device_type", "")).endswith("CPU")]
            name = f"torch_{kind}_{method}.txt"
            (folder / name).write_text(prof.key_averages().table(row_limit=25))
            rows.append(
                {
                    "what": f"torch {kind} [{method}] float32",
                    "kernels": len(on_device) if dev == "cuda" else None,
                    "note": f"{len(ops)} CPU-side operator events; table in {name}",
                }
            )
    return rows


def profile_all(
    shape: tuple[int, int, int], depth: int, *, device: str, folder: Path
) -> list[dict[str, Any]]:
    """Kernel counts of ours on the headline case, JAX and PyTorch, float32."""
    rows: list[dict[str, Any]] = []
    for name, fn in (("jax", _jax_rows), ("torch", _torch_rows)):
        try:
            rows.extend(fn(shape, depth, device, folder))
        except Exception as exc:  # noqa: PERF203 - one framework failing keeps the other's rows
            rows.append({"what": name, "note": f"error: {type(exc).__name__}: {exc}"[:200]})
    return rows
