"""What the suite measures: cases, grids, groups, and the environment variables.

``python -m benchmarks`` sets the ``KERAS_SIG_BENCH_*`` variables and runs
pytest; a plain ``pytest benchmarks/ --benchmark-only`` reads the same
variables (unset: the full signature group).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks._workers._protocol import FULL, QUICK, Settings

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "_workers"

ENV_GRID = "KERAS_SIG_BENCH_GRID"  # "full" (default) or "quick"
ENV_GROUPS = "KERAS_SIG_BENCH_GROUPS"  # comma-separated names of _config.GROUPS
ENV_ONLY = "KERAS_SIG_BENCH_ONLY"  # a glob matched against test ids
ENV_LEGACY_VENV = "KERAS_SIG_BENCH_LEGACY_VENV"  # keras-sig 1.0.2's virtualenv
ENV_TIMEOUT = "KERAS_SIG_BENCH_TIMEOUT"  # seconds for one keras-group subprocess
ENV_OUTCOMES = "KERAS_SIG_BENCH_OUTCOMES"  # where conftest writes skips/failures
# KERAS_SIG_BENCH_TORCH_THREADS (torch's intra-op threads, default 1) is _protocol's
# ENV_TORCH_THREADS: the workers read it too.

GROUPS = ("signature", "keras", "memory", "logsignature", "methods", "kernels")
DEFAULT_LEGACY_VENV = REPO / ".bench-venvs" / "keras_sig_1_0_2"
LEGACY_REQUIREMENTS = ("keras-sig==1.0.2", "jax", "keras", "torch==2.13.0", "tensorflow-cpu")
DEFAULT_TIMEOUT_S = 300.0
SEED = 20261126


@dataclass(frozen=True)
class Case:
    """One input shape of the signature group (float64)."""

    name: str
    batch: int
    length: int
    channels: int
    depth: int

    def describe(self) -> str:
        return (
            f"{self.name}: batch {self.batch}, length {self.length}, "
            f"channels {self.channels}, depth {self.depth}, float64"
        )


@dataclass(frozen=True)
class KerasGrid:
    """Sizes of the Keras-layer group (float32, Keras' default)."""

    batch: int
    lengths: tuple[int, ...]
    n_batches: int  # batches in the first (compiling) epoch
    forward: Case  # the SigLayer forward-call case


@dataclass(frozen=True)
class MemoryGrid:
    """Sizes of the memory group (gradient of signature(stream=False), float64)."""

    batch: int
    channels: int
    depth: int
    lengths: tuple[int, ...]
    signax_lengths: tuple[int, ...]


@dataclass(frozen=True)
class WindowCase:
    """Windowed and dyadic signatures of the methods group (float64).

    ``series`` paths of ``points`` points and ``channels`` channels (a
    BasicMotions-sized data set), lead-lag transformed before the sliding
    windows of ``window`` points every ``step`` points; the dyadic case is its
    own shape, ``dyadic``, to ``dyadic_depth``.
    """

    series: int
    points: int
    channels: int
    depths: tuple[int, ...]
    window: int
    step: int
    dyadic: Case
    dyadic_depth: int


@dataclass(frozen=True)
class Grid:
    name: str
    cases: tuple[Case, ...]
    settings: Settings
    keras: KerasGrid
    memory: MemoryGrid
    methods: tuple[Case, ...] = ()
    windows: WindowCase | None = None


FULL_GRID = Grid(
    name="full",
    cases=(Case("headline", 128, 100, 5, 4), Case("long", 32, 2000, 3, 4)),
    settings=FULL,
    keras=KerasGrid(batch=128, lengths=(20, 500), n_batches=4, forward=Case("headline", 128, 100, 5, 4)),
    memory=MemoryGrid(batch=32, channels=5, depth=4, lengths=(1000, 10000), signax_lengths=(10000,)),
    methods=(
        Case("short-wide-large", 640, 30, 13, 4),
        Case("short-wide-small", 8, 30, 13, 4),
        Case("headline", 128, 100, 5, 4),
        Case("long-narrow-large", 256, 2000, 3, 4),
        Case("long-narrow-small", 4, 5000, 3, 4),
    ),
    windows=WindowCase(40, 100, 6, (3, 4), 20, 5, Case("dyadic", 40, 101, 7, 4), 3),
)
QUICK_GRID = Grid(
    name="quick",
    cases=(Case("headline", 8, 16, 5, 4), Case("long", 4, 128, 3, 4)),
    settings=QUICK,
    keras=KerasGrid(batch=8, lengths=(6, 12), n_batches=2, forward=Case("headline", 8, 16, 5, 4)),
    memory=MemoryGrid(batch=4, channels=5, depth=4, lengths=(50, 200), signax_lengths=(200,)),
    methods=(Case("short-wide", 64, 6, 6, 3), Case("long-narrow", 2, 300, 3, 3)),
    windows=WindowCase(4, 20, 3, (3,), 6, 3, Case("dyadic", 4, 17, 3, 3), 2),
)

# The signature group on a sweep (``--sweep``): time against the length at a fixed depth, and
# against the depth at a fixed length, for the plots of ``--plot`` (benchmarks/_plot.py).
# Shorter rounds (about 0.5 s a measurement) than the full grid: there are many cases.
SWEEP_LENGTHS = (10, 30, 100, 300, 1000, 3000)
SWEEP_DEPTHS = (2, 3, 4, 5, 6)
SWEEP_GRID = Grid(
    name="sweep",
    cases=(
        *(Case(f"length{n}", 32, n, 3, 4) for n in SWEEP_LENGTHS),
        *(Case(f"depth{n}", 32, 100, 3, n) for n in SWEEP_DEPTHS if n != 4),
    ),
    settings=Settings(warmup=2, min_rounds=5, max_rounds=50, budget_s=0.5),
    keras=FULL_GRID.keras,
    memory=FULL_GRID.memory,
    methods=FULL_GRID.methods,
    windows=FULL_GRID.windows,
)
GRIDS = {g.name: g for g in (FULL_GRID, QUICK_GRID, SWEEP_GRID)}


def grid() -> Grid:
    name = os.environ.get(ENV_GRID, "full").strip().lower()
    if name not in GRIDS:
        msg = f"{ENV_GRID} must be one of {', '.join(map(repr, GRIDS))}; got {name!r}"
        raise ValueError(msg)
    return GRIDS[name]


def groups() -> tuple[str, ...]:
    raw = os.environ.get(ENV_GROUPS, "signature")
    names = tuple(g.strip() for g in raw.split(",") if g.strip())
    unknown = sorted(set(names) - set(GROUPS))
    if unknown:
        msg = f"{ENV_GROUPS} names unknown groups {unknown}; known: {', '.join(GROUPS)}"
        raise ValueError(msg)
    return names


def legacy_venv() -> Path:
    return Path(os.environ.get(ENV_LEGACY_VENV) or DEFAULT_LEGACY_VENV).expanduser()


def legacy_python() -> Path | None:
    """The 1.0.2 virtualenv's interpreter, or None if it does not exist."""
    venv = legacy_venv()
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def timeout_s() -> float:
    return float(os.environ.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT_S)
