"""``python -m benchmarks.gpu``: the GPU kit (see the "GPU run" section of benchmarks/README.md).

One command for a CUDA machine with no network: unpack the wheels that travel
with the tree, run the GPU test body (JAX, PyTorch, CuPy; the Keras layer on
JAX and PyTorch), time ours against keras-sig 1.0.2, signax and pySigLib, and
write ``gpu_kit.json`` and ``gpu_kit.md`` under ``--out`` after every step, so
that a timeout still returns what was done. ``--device cpu --quick`` runs the
same stages on tiny inputs on the CPU (the CI check that keeps the kit alive).

This module holds the command line, the budget and the order of the stages;
:mod:`benchmarks.gpu._env` the machine, the wheels and the pytest stages;
:mod:`benchmarks.gpu._timing` the signature, training and profile stages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._workers._protocol import QUICK
from benchmarks.gpu import _env, _kernels, _timing, _wheels
from benchmarks.gpu._results import Results

# The default order puts correctness first: the first GPU run (2026-12-04) spent 270 s of its
# budget on the training stage before the test body had run.
STAGES = (
    "numerics",
    "tests",
    "keras-torch",
    "kernels",
    "bench-headline",
    "train",
    "bench-rest",
    "profile",
)
# Seconds for the whole GPU run: with the machine's start (about 25 s seen) some 9.5 of the session's 15
# minutes, so that a warm rerun of a cut-off stage still fits.
DEFAULT_BUDGET_S = 540.0


class Budget:
    """Seconds left of the kit's wall-clock budget, keeping ``reserve`` for the last writes."""

    def __init__(self, total: float | None, reserve: float) -> None:
        self.start = time.monotonic()
        self.total, self.reserve = total, reserve

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        if self.total is None:
            return float("inf")
        return self.total - self.elapsed() - self.reserve

    def cap(self, seconds: float) -> float:
        """``seconds``, or less when the budget has less left (at least 1)."""
        return max(1.0, min(seconds, self.left()))


class Kit:
    """The state of one run: options, where things are, the results being written."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        # One GPU is shared by this process (the in-process rows) and its subprocesses (1.0.2,
        # training, pytest): JAX must not take 75% of it up front in each of them.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.device: str = args.device
        self.quick: bool = args.quick
        self.out = Path(args.out).resolve()
        # A temporary site (no --site) is removed when the run ends.
        self.temporary_site = not args.site
        self.site = Path(args.site or tempfile.mkdtemp(prefix="keras_sig_gpu_site_")).resolve()
        budget = args.budget_s if args.budget_s is not None else (None if self.quick else DEFAULT_BUDGET_S)
        self.budget = Budget(budget, reserve=5.0 if self.quick else 15.0)
        self.cases = _timing.QUICK_CASES if self.quick else _timing.FULL_CASES
        self.dtypes = ("float32",) if self.quick else _timing.DTYPES
        self.settings = QUICK if self.quick else _timing.GPU_SETTINGS
        self.train_settings = QUICK if self.quick else _timing.TRAIN_SETTINGS
        self.results = Results(self.out, _env.meta(self.device, quick=self.quick))
        self.checks = _timing.Checks(self.device, quick=self.quick)

    def pythonpath(self, *, ours: bool) -> list[str]:
        """A subprocess's path: the checkout (or 1.0.2's unpacked wheel), then the unpacked wheels."""
        main = [str(self.site / "main")] if (self.site / "main").is_dir() else []
        if ours:
            return [str(_env.REPO), *main]
        return [str(self.site / "legacy"), *main]

    def device_env(self) -> dict[str, str]:
        """Variables that keep subprocesses on the kit's device."""
        if self.device == "cpu":
            return {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
        return {}

    def run(self, stages: list[str]) -> int:
        """Install, check the device, run ``stages`` in order within the budget; 1 if any failed."""
        _env.install(Path(self.args.wheels), self.site, self.results)
        _env.require_device(self.device, self.results)
        actions: dict[str, Callable[[], None]] = {
            "numerics": lambda: _env.run_tests(self, "numerics"),
            "bench-headline": lambda: _timing.bench(self, "bench-headline", ["headline"]),
            "train": lambda: _timing.train(self),
            "tests": lambda: _env.run_tests(self, "tests"),
            "kernels": lambda: _kernels.kernels(self),
            "keras-torch": lambda: _env.run_tests(self, "keras-torch"),
            "bench-rest": lambda: _timing.bench(self, "bench-rest", _timing.rest_cases(self)),
            "profile": lambda: _timing.profile(self),
        }
        for stage in stages:
            if self.budget.left() <= 0:
                self.results.stage(stage, "skip: budget", 0.0)
                continue
            print(f"[gpu kit {self.budget.elapsed():6.1f} s] {stage}", flush=True)
            try:
                actions[stage]()
            except Exception as exc:
                self.results.stage(stage, f"error: {type(exc).__name__}: {exc}"[:300], 0.0)
        self.results.data["meta"]["seconds"] = round(self.budget.elapsed(), 1)
        self.results.save()
        print(self.results.markdown())
        failed = [
            name
            for name, st in self.results.data["stages"].items()
            if st["status"].startswith(("failed", "error", "timeout"))
        ]
        return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--quick", action="store_true", help="tiny inputs, few rounds, narrow test selections")
    p.add_argument("--out", help="folder for gpu_kit.json, gpu_kit.md and the logs (required to run)")
    p.add_argument(
        "--wheels", default=str(_env.DEFAULT_WHEELS), help="the wheel folder (default .gpu-wheels)"
    )
    p.add_argument("--site", help="where to unpack the wheels (default: a new temporary folder)")
    p.add_argument("--budget-s", type=float, help="wall-clock budget; later steps are skipped (default 540)")
    p.add_argument("--stages", default=",".join(s for s in STAGES if s != "profile"), help="comma-separated")
    p.add_argument("--profile", action="store_true", help="add the profile stage (kernel counts)")
    p.add_argument(
        "--fill-wheels", metavar="DIR", help="download the wheels into DIR (needs network) and exit"
    )
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python, for --fill-wheels")
    p.add_argument("--no-pysiglib", action="store_true", help="--fill-wheels without pySigLib (30 MB)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.fill_wheels:
        _wheels.fill(
            Path(args.fill_wheels), python_version=args.python_version, pysiglib=not args.no_pysiglib
        )
        return 0
    if not args.out:
        parser().error("--out is required")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if args.profile and "profile" not in stages:
        stages.append("profile")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser().error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    kit = Kit(args)
    try:
        return kit.run(stages)
    finally:
        if kit.temporary_site:
            shutil.rmtree(kit.site, ignore_errors=True)
