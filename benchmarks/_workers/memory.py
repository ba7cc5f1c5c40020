"""Peak memory of one gradient of ``sum(signature(path))`` (or one forward) in a fresh process.

Usage: ``python memory.py SPEC.json OUT.json``. After the imports, the input,
the correctness check and (on JAX) the ahead-of-time compilation, the peak
resident set size is reset (``/proc/self/clear_refs``, Linux) and the current
RSS taken as the baseline; one gradient runs; the answer is
``getrusage(RUSAGE_SELF).ru_maxrss`` minus that baseline. Where the peak
cannot be reset, the baseline is ``ru_maxrss`` itself (a lower bound then).
On JAX, XLA's own estimate of the compiled program's temporaries is reported
too. With ``"kind": "forward"`` the forward alone is measured, and on NumPy
its peak is also taken from :mod:`tracemalloc` (NumPy reports every buffer to
it), which counts exactly the bytes allocated during the call. ``wall_s`` is
the median of ``repeat`` runs after the measured one.
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


def _forward(impl: str, method: str | None, depth: int, budget: int | None) -> tuple[Any, Any, Any]:
    """(make_input, forward_fn, to_numpy) for ``impl``."""
    import keras_sig

    if impl == "ours-numpy":
        return (
            np.asarray,
            (lambda p: keras_sig.signature(p, depth, method=method, memory_budget=budget)),
            np.asarray,
        )
    if impl == "ours-jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        fn = jax.jit(lambda p: keras_sig.signature(p, depth, method=method, memory_budget=budget))
        return jax.numpy.asarray, fn, np.asarray
    msg = f"no forward measurement for {impl!r}"
    raise ValueError(msg)


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
        from _protocol import set_torch_threads

        import keras_sig

        set_torch_threads()

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
    kind = spec.get("kind", "gradient")
    budget = spec.get("memory_budget")
    answer: dict[str, Any] = {}
    if kind == "forward":
        make_input, run_fn, to_numpy = _forward(impl, method, depth, budget)
        check = _forward(impl, method, spec["check_depth"], budget)[1]
        ref = arrays["check_signature"]
    else:
        make_input, run_fn, to_numpy = _gradient(impl, method, depth)
        check = _gradient(impl, method, spec["check_depth"])[1]
        ref = arrays["check_gradient"]
    got = to_numpy(check(make_input(arrays["check_x"])))
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    answer["check_max_abs_diff"] = diff
    if not diff < spec["atol"]:
        answer["error"] = f"{kind} disagrees with the reference: max abs diff {diff:.3g}"
        Path(out_path).write_text(json.dumps(answer))
        return
    rng = np.random.default_rng(spec["seed"])
    shape = (spec["batch"], spec["length"], spec["channels"])
    x = make_input(np.cumsum(rng.standard_normal(shape) / np.sqrt(spec["length"]), axis=1))
    run = run_fn
    if impl in ("ours-jax", "signax"):
        compiled = run_fn.lower(x).compile()
        try:
            stats = compiled.memory_analysis()
            answer["xla_temp_mib"] = stats.temp_size_in_bytes / MIB
        except Exception as exc:
            answer["xla_temp_mib"] = None
            answer["xla_note"] = f"{type(exc).__name__}: {exc}"

        def run(p: Any) -> Any:
            return compiled(p).block_until_ready()

    if impl == "ours-numpy":
        import tracemalloc

        tracemalloc.start()
        out = run(x)
        answer["tracemalloc_mib"] = (tracemalloc.get_traced_memory()[1] - out.nbytes) / MIB
        tracemalloc.stop()
        del out
    baseline, reset = _reset_peak()
    start = time.perf_counter()
    run(x)
    first = time.perf_counter() - start
    peak = _max_rss()
    times = []
    for _ in range(int(spec.get("repeat", 0))):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    answer["wall_s"] = float(np.median(times)) if times else first
    answer["peak_mib"] = (peak - baseline) / MIB
    answer["baseline_mib"] = baseline / MIB
    answer["peak_reset"] = reset
    Path(out_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
