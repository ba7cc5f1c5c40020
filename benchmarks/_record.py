"""Feeding measurements to pytest-benchmark, and the metadata the report reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from benchmarks._workers._protocol import Settings, rounds_for, warm_up

META_KEY = "keras_sig_bench"


def describe(request: pytest.FixtureRequest, benchmark: Any, group: str, **meta: Any) -> dict[str, Any]:
    """Attach ``meta`` to the test (for the outcome log) and to the benchmark (for its JSON)."""
    meta = {"group": group, **meta}
    request.node.user_properties.append((META_KEY, meta))
    benchmark.extra_info.update(meta)
    return meta


def time_in_process(benchmark: Any, fn: Callable[[], Any], settings: Settings) -> None:
    """The protocol of :mod:`benchmarks._workers._protocol` through ``benchmark.pedantic``."""
    if benchmark.disabled:
        benchmark.pedantic(fn)
        return
    rounds = rounds_for(warm_up(fn, settings), settings)
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def record_external(benchmark: Any, times: list[float]) -> None:
    """Record times measured by a subprocess (same protocol) as this benchmark's rounds.

    pytest-benchmark has no public way to do this; ``_make_stats`` has been its
    internal entry point since 3.x. Marking the fixture used keeps it from
    warning that it was not.
    """
    benchmark._mode = "external (subprocess)"
    if benchmark.disabled or not times:
        return
    stats = benchmark._make_stats(1)
    for t in times:
        stats.update(t)


def replay(outcome: tuple[str, Any]) -> Any:
    """Replay a cached correctness check: skip or fail the test, or return its value."""
    status, value = outcome
    if status == "skip":
        pytest.skip(value)
    if status == "fail":
        pytest.fail(value)
    return value
