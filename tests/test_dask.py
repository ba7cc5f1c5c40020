"""Dask: a dataset larger than a worker's memory, signed chunk by chunk on a LocalCluster.

The core test body also runs on dask arrays (the ``dask`` backend of the matrix);
this module checks the out-of-core promise: the whole input is never in memory.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import keras_sig
from tests._backends import BACKENDS_BY_NAME

pytestmark = pytest.mark.skipif(
    "dask" not in BACKENDS_BY_NAME, reason="dask is not in this session's backends"
)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS is read from /proc")

WORKER_LIMIT = 320 * 2**20  # bytes a worker may hold
# Bytes of intermediates per task: two tasks run at once (two threads), each also
# holding its 16 MB block and the data generation's temporaries.
BUDGET = 16 * 2**20
PATHS, LENGTH, CHANNELS, CHUNK = 64_000, 500, 4, 1_000  # 1.0 GB of float64 paths, 16 MB chunks


def _reset_peak_rss() -> None:
    """Forget this process's peak RSS so far (Linux): the peak of what comes next is measured.

    A worker's start-up can peak higher than any task (seen: 341 MiB when the
    client process has imported PyTorch), which is not what this test is about.
    """
    from pathlib import Path

    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss() -> int:
    """Peak RSS since the last reset (``VmHWM``), in bytes."""
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


@linux_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_dataset_larger_than_worker_memory():
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    dataset_bytes = PATHS * LENGTH * CHANNELS * 8
    assert dataset_bytes > 3 * WORKER_LIMIT
    # No spilling to disk, and a worker past 95% of its limit is killed (the compute then fails).
    config = {
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.95,
    }
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            memory_limit=WORKER_LIMIT,
            processes=True,
            dashboard_address=":0",  # any free port: never clash with another cluster
        ) as cluster,
        Client(cluster) as client,
    ):
        steps = da.random.default_rng(7).standard_normal(
            (PATHS, LENGTH, CHANNELS), chunks=(CHUNK, LENGTH, CHANNELS)
        )
        paths = (steps / np.sqrt(LENGTH)).cumsum(axis=1)
        lazy = keras_sig.signature(paths, 3, memory_budget=BUDGET)
        assert isinstance(lazy, da.Array)
        assert lazy.chunks[0] == paths.chunks[0]  # chunked along the batch, like the input
        client.run(_reset_peak_rss)
        pids = client.run(os.getpid)
        result = client.compute(lazy).result()
        peaks = client.run(_peak_rss)
        assert client.run(os.getpid) == pids, "a worker was restarted (killed past its memory limit?)"
    peak = max(peaks.values())
    assert peak < WORKER_LIMIT, f"a worker peaked at {peak / 2**20:.0f} MiB"
    # The in-memory result, chunk by chunk in this process (the same random numbers).
    for i in range(paths.numblocks[0]):
        block = paths.blocks[i].compute()
        np.testing.assert_allclose(
            result[i * CHUNK : (i + 1) * CHUNK],
            keras_sig.signature(block, 3, method="sequential"),
            rtol=1e-10,
            atol=1e-13,
        )
    print(
        f"dataset {dataset_bytes / 2**30:.2f} GiB, worker limit {WORKER_LIMIT / 2**20:.0f} MiB, "
        f"peak worker RSS {peak / 2**20:.0f} MiB"
    )


def test_unknown_chunk_sizes_are_a_clear_error():
    import dask.array as da

    x = da.from_array(np.ones((6, 5, 2)), chunks=(3, 5, 2))
    x = x[x[:, 0, 0] > 0]  # boolean mask: unknown batch size
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        keras_sig.signature(x, 2)
