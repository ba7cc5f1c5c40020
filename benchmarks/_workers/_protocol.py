"""The timing protocol, one copy for the pytest suite and the subprocess workers.

Standard library only: the workers import it by file location from another
virtualenv. A measurement is: one first call (compilation, caches), ``warmup``
more untimed calls, then ``rounds`` timed calls of ``time.perf_counter`` around
one call each (as pytest-benchmark's ``pedantic`` mode does), where ``rounds``
fills about ``budget_s`` seconds, clamped to ``[min_rounds, max_rounds]``.
Reports use the median.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "DEFAULT_TORCH_THREADS",
    "ENV_TORCH_THP",
    "ENV_TORCH_THREADS",
    "FULL",
    "QUICK",
    "Settings",
    "measure",
    "rounds_for",
    "set_torch_threads",
    "torch_threads",
    "warm_up",
]

# PyTorch's intra-op threads in every measurement (the suite and the workers). Not torch's
# default (one per core): on a small shared machine its OpenMP threads, spinning beside another
# busy process, made torch rows 20-60x slower. One thread by default, as pySigLib (n_jobs=1) and
# iisignature run; ``python -m benchmarks --torch-threads N`` sets it.
ENV_TORCH_THREADS = "KERAS_SIG_BENCH_TORCH_THREADS"
# PyTorch's own switch (read by its CPU allocator at the first large allocation): madvise large
# tensors onto transparent huge pages, as NumPy does for its arrays. ``--torch-thp`` sets it.
ENV_TORCH_THP = "THP_MEM_ALLOC_ENABLE"
DEFAULT_TORCH_THREADS = 1


@dataclass(frozen=True)
class Settings:
    """How many rounds a measurement takes."""

    warmup: int = 2
    min_rounds: int = 5
    max_rounds: int = 100
    budget_s: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Settings()
QUICK = Settings(warmup=2, min_rounds=3, max_rounds=5, budget_s=0.05)


def warm_up(fn: Callable[[], Any], settings: Settings) -> float:
    """Call ``fn`` once (compile) and ``settings.warmup`` more times; return the last call's time."""
    fn()
    elapsed = 0.0
    for _ in range(max(settings.warmup, 1)):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
    return elapsed


def rounds_for(estimate: float, settings: Settings) -> int:
    """Rounds that fill ``settings.budget_s`` at ``estimate`` seconds a call."""
    if estimate <= 0:
        return settings.max_rounds
    wanted = math.ceil(settings.budget_s / estimate)
    return int(min(settings.max_rounds, max(settings.min_rounds, wanted)))


def torch_threads() -> int:
    """The thread count ``KERAS_SIG_BENCH_TORCH_THREADS`` asks for (default 1)."""
    raw = os.environ.get(ENV_TORCH_THREADS, "").strip()
    if not raw:
        return DEFAULT_TORCH_THREADS
    if not raw.isdigit() or int(raw) < 1:
        msg = f"{ENV_TORCH_THREADS} must be a positive integer; got {raw!r}"
        raise ValueError(msg)
    return int(raw)


def set_torch_threads() -> int:
    """Set PyTorch's intra-op threads to :func:`torch_threads` (imports torch); the count now set."""
    import torch

    torch.set_num_threads(torch_threads())
    return int(torch.get_num_threads())


def measure(fn: Callable[[], Any], settings: Settings) -> list[float]:
    """Warm up, then time ``rounds_for(...)`` single calls; the list of seconds."""
    rounds = rounds_for(warm_up(fn, settings), settings)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
