"""Peak memory of one gradient of ``sum(signature(path))`` in a fresh process.

Usage: ``python memory.py SPEC.json OUT.json``. After the imports, the input,
the correctness check and (on JAX) the ahead-of-time compilation, the peak
resident set size is reset (``/proc/self/clear_refs``, Linux) and the current
RSS taken as the baseline; one gradient runs; the answer is
``getrusage(RUSAGE_SELF).ru_maxrss`` minus that baseline. Where the peak
cannot be reset, the baseline is ``ru_maxrss`` itself (a lower bound then).
On JAX, XLA's own estimate of the compiled program's temporaries is reported
too.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MIB = 2**20


def _current_rss() -> int:
    with Path("/proc/self/statm").open() as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _reset_peak() -> tuple[int, bool]:
    """Reset the peak RSS if the kernel lets us; return (baseline bytes, reset worked)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _current_rss(), True
    except OSError:
        return _max_rss(), False


def _gradient(impl: str, method: str | None, depth: int) -> tuple[Any, Any, Any]:
    """(make_input, grad_fn, to_numpy) for ``impl``."""
    if impl in ("ours-jax", "signax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        if impl == "signax":
            import signax

            def sig(p: Any) -> Any:
                return signax.signature(p, depth)
        else:
            import keras_sig

            def sig(p: Any) -> Any:
                return keras_sig.signature(p, depth, method=method)

        grad = jax.jit(jax.grad(lambda p: sig(p).sum()))
        return jax.numpy.asarray, grad, np.asarray
    if impl == "ours-torch":
        import torch

        import keras_sig

        def grad_torch(p: Any) -> Any:
            p.grad = None
            keras_sig.signature(p, depth, method=method).sum().backward()
            return p.grad

        return (lambda a: torch.tensor(a, requires_grad=True)), grad_torch, (lambda t: t.detach().numpy())
    msg = f"unknown implementation {impl!r}"
    raise ValueError(msg)


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    arrays = {name: np.load(path) for name, path in spec["arrays"].items()}
    impl, method, depth = spec["impl"], spec["method"], spec["depth"]
    answer: dict[str, Any] = {}
    make_input, grad, to_numpy = _gradient(impl, method, depth)
    check_grad = _gradient(impl, method, spec["check_depth"])[1]
    got = to_numpy(check_grad(make_input(arrays["check_x"])))
    ref = arrays["check_gradient"]
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    answer["check_max_abs_diff"] = diff
    if not diff < spec["atol"]:
        answer["error"] = f"gradient disagrees with the reference: max abs diff {diff:.3g}"
        Path(out_path).write_text(json.dumps(answer))
        return
    rng = np.random.default_rng(spec["seed"])
    shape = (spec["batch"], spec["length"], spec["channels"])
    x = make_input(np.cumsum(rng.standard_normal(shape) / np.sqrt(spec["length"]), axis=1))
    run = grad
    if impl in ("ours-jax", "signax"):
        compiled = grad.lower(x).compile()
        try:
            stats = compiled.memory_analysis()
            answer["xla_temp_mib"] = stats.temp_size_in_bytes / MIB
        except Exception as exc:
            answer["xla_temp_mib"] = None
            answer["xla_note"] = f"{type(exc).__name__}: {exc}"

        def run(p: Any) -> Any:
            return compiled(p).block_until_ready()

    baseline, reset = _reset_peak()
    start = time.perf_counter()
    run(x)
    answer["wall_s"] = time.perf_counter() - start
    peak = _max_rss()
    answer["peak_mib"] = (peak - baseline) / MIB
    answer["baseline_mib"] = baseline / MIB
    answer["peak_reset"] = reset
    Path(out_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
