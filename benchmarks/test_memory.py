"""Memory group (opt-in): peak memory of one gradient of ``sum(signature(path))``.

A fresh subprocess per measurement (see ``benchmarks/_workers/memory.py``).
The timed number pytest-benchmark records is that single gradient's wall time;
the memory figures are in ``extra_info`` (``peak_mib``, and ``xla_temp_mib`` on
JAX).

Besides the gradients (ours on JAX and PyTorch at every length, signax), the
forward of ``method="chunked"`` at the longest length is measured against its
``memory_budget`` (NumPy: exact bytes from ``tracemalloc``; JAX: XLA's
temporaries), and timed against the sequential method on JAX.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from benchmarks import _config, _impls
from benchmarks._record import describe, record_external
from benchmarks._subprocess import WorkerTimeoutError, run_worker
from keras_sig._api import DEFAULT_MEMORY_BUDGET

GRID = _config.grid()
MEM = GRID.memory
BUDGET = DEFAULT_MEMORY_BUDGET  # passed explicitly so the report can quote it
PARAMS = [
    *(
        pytest.param(impl, method, length, "gradient", id=f"L{length}-{impl}-{method}")
        for impl in ("ours-jax", "ours-torch")
        for method in _impls.METHODS
        for length in MEM.lengths
    ),
    *(
        pytest.param("signax", None, length, "gradient", id=f"L{length}-signax")
        for length in MEM.signax_lengths
    ),
    *(
        pytest.param(
            impl, method, MEM.lengths[-1], "forward", id=f"L{MEM.lengths[-1]}-{impl}-{method}-forward"
        )
        for impl, method in (("ours-numpy", "chunked"), ("ours-jax", "chunked"), ("ours-jax", "sequential"))
    ),
]
REQUIRES = {"ours-jax": ("jax",), "ours-torch": ("torch",), "signax": ("jax", "signax"), "ours-numpy": ()}
LABELS = {
    "ours-jax": "ours jax jit",
    "ours-torch": "ours torch autograd",
    "signax": "signax jit",
    "ours-numpy": "ours numpy",
}


@pytest.mark.parametrize(("impl", "method", "length", "kind"), PARAMS)
def test_memory(
    benchmark: Any, request: pytest.FixtureRequest, impl: str, method: str | None, length: int, kind: str
) -> None:
    label = LABELS[impl] + (f" [{method}]" if method else "") + (" forward" if kind == "forward" else "")
    describe(
        request,
        benchmark,
        "memory",
        impl=impl if method is None else f"{impl}-{method}",
        label=label,
        method=method,
        length=length,
        shape=[MEM.batch, length, MEM.channels],
        depth=MEM.depth,
        kind=kind,
        memory_budget=BUDGET if kind == "forward" else None,
    )
    benchmark.group = f"memory L={length}"
    for name in REQUIRES[impl]:
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed")
    x, depth = _impls.check_input(_config.SEED)
    spec = {
        "impl": impl,
        "method": method,
        "batch": MEM.batch,
        "length": length,
        "channels": MEM.channels,
        "depth": MEM.depth,
        "check_depth": depth,
        "atol": _impls.ATOL,
        "seed": _config.SEED,
        "kind": kind,
        "memory_budget": BUDGET if kind == "forward" else None,
        "repeat": 5 if kind == "forward" else 0,
    }
    if kind == "forward":
        arrays = {"check_x": x, "check_signature": _impls.reference_forward(x, depth)}
    else:
        arrays = {"check_x": x, "check_gradient": _impls.reference_gradient(x, depth)}
    try:
        answer = run_worker("memory.py", spec, arrays=arrays, ours=True, timeout=_config.timeout_s())
    except WorkerTimeoutError as exc:
        pytest.skip(f"timeout: {exc}")
    benchmark.extra_info.update({k: v for k, v in answer.items() if k != "error"})
    if "error" in answer:
        pytest.fail(f"{label}: {answer['error']}")
    record_external(benchmark, [answer["wall_s"]])
