"""``python -m benchmarks.gpu``: the GPU kit (see the "GPU run" section of benchmarks/README.md).

One command for a CUDA machine with no network: unpack the wheels that travel
with the tree, run the GPU test body (JAX, PyTorch, CuPy; the Keras layer on
JAX and PyTorch), time ours against keras-sig 1.0.2, signax and pySigLib, and
write ``gpu_kit.json`` and ``gpu_kit.md`` under ``--out`` after every step, so
that a timeout still returns what was done. ``--device cpu --quick`` runs the
same stages on tiny inputs on the CPU (the CI check that keeps the kit alive).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._workers._protocol import QUICK, Settings, measure
from benchmarks.gpu import _wheels
from benchmarks.gpu._results import Results, median

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WHEELS = REPO / ".gpu-wheels"
SEED = 20261126
DEPTH = 4

# name -> (batch, length, channels); depth 4 throughout. The headline case comes first.
FULL_CASES = {
    "headline": (128, 100, 5),
    "short": (128, 20, 5),
    "long": (32, 2000, 3),
    "longest": (32, 10_000, 5),
}
QUICK_CASES = {"headline": (8, 16, 5), "short": (8, 6, 5), "long": (4, 128, 3), "longest": (4, 256, 5)}
GPU_SETTINGS = Settings(warmup=2, min_rounds=5, max_rounds=50, budget_s=0.3)
TRAIN_SETTINGS = Settings(warmup=2, min_rounds=5, max_rounds=30, budget_s=0.5)
DTYPES = ("float32", "float64")

STAGES = ("numerics", "bench-headline", "train", "tests", "keras-torch", "bench-rest", "profile")
# Test selections: the whole test body on the GPU; a narrow, fast one in quick CPU mode.
TESTS = {
    "numerics": (["tests/test_gpu_numerics.py"], ["tests/test_gpu_numerics.py", "-k", "highest"]),
    "tests": (["tests"], ["tests/test_signature.py", "-k", "lives_on_the_input_device or integer_input"]),
    "keras-torch": (["tests/test_keras.py"], ["tests/test_keras.py", "-k", "symbolic"]),
}
LEGACY_KEY = "legacy-jax_gpu_signature"
# Seconds for the whole GPU run: about 8 minutes with start-up, so that a rerun fits the session.
DEFAULT_BUDGET_S = 420.0


def release_memory() -> None:
    """Hand cached device memory back (PyTorch's and CuPy's pools), for the subprocesses that follow."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()


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
        self.cases = QUICK_CASES if self.quick else FULL_CASES
        self.dtypes = ("float32",) if self.quick else DTYPES
        self.settings = QUICK if self.quick else GPU_SETTINGS
        self.train_settings = QUICK if self.quick else TRAIN_SETTINGS
        self.results = Results(self.out, self.meta())
        self.checks: dict[tuple[str, str], tuple[str, float]] = {}
        self.check_x: np.ndarray | None = None
        self.refs: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ environment

    def meta(self) -> dict[str, Any]:
        gpu = "none"
        if shutil.which("nvidia-smi"):
            proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
            gpu = proc.stdout.strip() or proc.stderr.strip()
        return {
            "device": self.device,
            "mode": "quick" if self.quick else "full",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "gpus": gpu,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    def pythonpath(self, *, ours: bool) -> list[str]:
        main = [str(self.site / "main")] if (self.site / "main").is_dir() else []
        if ours:
            return [str(REPO), *main]
        return [str(self.site / "legacy"), *main]

    def device_env(self) -> dict[str, str]:
        """Variables that keep subprocesses on the kit's device."""
        if self.device == "cpu":
            return {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
        return {}

    def install(self) -> None:
        start = time.monotonic()
        report = _wheels.install(Path(self.args.wheels), self.site)
        main = self.site / "main"
        if main.is_dir():
            sys.path.insert(0, str(main))
        import importlib

        importlib.invalidate_caches()
        self.results.data["install"] = report
        versions = {}
        for name in (
            "numpy",
            "jax",
            "jaxlib",
            "torch",
            "cupy",
            "keras",
            "array_api_compat",
            "signax",
            "pysiglib",
        ):
            versions[name] = _wheels.installed_version(name.replace("_", "-")) or "-"
        self.results.data["meta"]["versions"] = versions
        self.results.stage("install", "ok", time.monotonic() - start)

    def require_device(self) -> None:
        """On ``--device gpu``: every framework must see the GPU (a GPU run never passes by skipping)."""
        if self.device != "gpu":
            return
        problems = []
        try:
            import jax

            if not jax.devices("gpu"):
                problems.append("jax sees no GPU")
        except Exception as exc:
            problems.append(f"jax: {exc}")
        try:
            import torch

            if not torch.cuda.is_available():
                problems.append("torch sees no CUDA device")
        except Exception as exc:
            problems.append(f"torch: {exc}")
        try:
            import cupy

            cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:
            problems.append(f"cupy: {exc}")
        if problems:
            self.results.stage("device", "failed", 0.0, problems=problems)
            msg = "--device gpu but " + "; ".join(problems)
            raise SystemExit(msg)
        self.results.stage("device", "ok", 0.0)

    # ------------------------------------------------------------------ tests

    def run_tests(self, stage: str) -> None:
        full, quick = TESTS[stage]
        selection = quick if self.quick else full
        backends = "jax,torch,cupy" if self.device == "gpu" else "jax,torch"
        env = {
            **os.environ,
            **self.device_env(),
            "KERAS_SIG_TEST_DEVICE": self.device,
            "KERAS_SIG_TEST_BACKENDS": "torch" if stage == "keras-torch" else backends,
            "KERAS_BACKEND": "torch" if stage == "keras-torch" else "jax",
            "PYTHONPATH": os.pathsep.join(self.pythonpath(ours=True)),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        log = self.out / f"pytest_{stage}.log"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *selection,
            "-q",
            "-rfE",
            "--durations=15",
            "-p",
            "no:cacheprovider",
        ]
        cmd += ["--junitxml", str(self.out / f"pytest_{stage}.xml")]
        start = time.monotonic()
        status = "ok"
        with log.open("w") as fh:
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=REPO,
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=self.budget.cap(900),
                    check=False,
                )
                if proc.returncode != 0:
                    status = f"failed (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                status = "timeout"
        tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        self.results.stage(stage, status, time.monotonic() - start, summary=" ".join(tail), log=log.name)

    # ------------------------------------------------------------------ signature benchmark

    def _reference(self) -> None:
        if self.check_x is None:
            from benchmarks._impls import check_input
            from benchmarks.gpu._bench import reference

            self.check_x, _ = check_input(SEED)
            self.refs = reference(self.check_x, DEPTH)

    def _check(self, impl: Any, kind: str) -> tuple[str, float]:
        """Check ``impl``'s ``kind`` once, on the small float64 input on the device."""
        from benchmarks.gpu._bench import build

        key = (impl.key, kind)
        if key not in self.checks:
            self._reference()
            assert self.check_x is not None
            runner = build(impl, self.check_x, DEPTH, device=self.device, quick=self.quick)
            fn = runner.forward if kind == "forward" else runner.gradient
            assert fn is not None
            got = runner.to_numpy(fn())
            ref = self.refs[kind]
            diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
            self.checks[key] = ("ok" if diff < 1e-8 else f"wrong: max abs diff {diff:.3g}", diff)
        return self.checks[key]

    def _row(self, case: str, dtype: str, kind: str, key: str, label: str, family: str) -> dict[str, Any]:
        return {
            "case": case,
            "shape": (*self.cases[case], DEPTH),
            "dtype": dtype,
            "kind": kind,
            "impl": key,
            "label": label,
            "family": family,
        }

    def time_impl(self, impl: Any, case: str, dtype: str, kind: str, x: np.ndarray) -> None:
        from benchmarks.gpu._bench import build, missing

        row = self._row(case, dtype, kind, impl.key, impl.label, impl.family)
        why = missing(impl, self.device)
        if kind not in impl.kinds:
            return
        if why is not None:
            self.results.signature({**row, "status": f"skip: {why}"})
            return
        if self.budget.left() <= 0:
            self.results.signature({**row, "status": "skip: budget"})
            return
        began = time.monotonic()
        try:
            status, diff = self._check(impl, kind)
            row["check_max_abs_diff"] = diff
            if status != "ok":
                self.results.signature({**row, "status": status})
                return
            runner = build(impl, x, DEPTH, device=self.device, quick=self.quick)
            fn = runner.forward if kind == "forward" else runner.gradient
            assert fn is not None
            times = measure(fn, self.settings)
            row.update(status="ok", median_ms=1e3 * median(times), rounds=len(times))
            row["seconds"] = round(time.monotonic() - began, 2)
        except Exception as exc:
            row["status"] = (
                f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            )
        self.results.signature(row)

    def time_legacy(self, cases: list[str], dtype: str, inputs: dict[str, np.ndarray]) -> None:
        """keras-sig 1.0.2's ``jax_gpu_signature``, every case of one dtype in one subprocess."""
        from benchmarks._subprocess import WorkerError, WorkerTimeoutError, run_worker

        label = "keras-sig 1.0.2 jax_gpu_signature jit"
        rows = [
            self._row(c, dtype, k, LEGACY_KEY, label, "legacy")
            for c in cases
            for k in ("forward", "gradient")
        ]
        if not (self.site / "legacy").is_dir():
            for row in rows:
                self.results.signature({**row, "status": "skip: no keras-sig 1.0.2 wheel"})
            return
        if self.budget.left() <= 0:
            for row in rows:
                self.results.signature({**row, "status": "skip: budget"})
            return
        self._reference()
        assert self.check_x is not None
        arrays = {"check_x": self.check_x, "check_forward": self.refs["forward"]}
        arrays["check_gradient"] = self.refs["gradient"]
        arrays.update({f"x_{c}": inputs[c] for c in cases})
        spec = {
            "jobs": [
                {"variant": "jax_gpu_signature", "kind": r["kind"], "x": f"x_{r['case']}"} for r in rows
            ],
            "check_depth": DEPTH,
            "depth": DEPTH,
            "atol": 1e-8,
            "settings": self.settings.to_dict(),
        }
        os.environ.update(self.device_env())
        try:
            answer = run_worker(
                "legacy_signature.py",
                spec,
                arrays=arrays,
                ours=False,
                timeout=self.budget.cap(300),
                python=Path(sys.executable),
                pythonpath=self.pythonpath(ours=False),
            )
            results, note = answer.get("results", []), None
            self.results.data["meta"]["legacy_signature_env"] = answer.get("env")
        except WorkerTimeoutError as exc:
            results, note = (exc.partial or {}).get("results", []), "timeout"
        except WorkerError as exc:
            results, note = [], f"error: {str(exc).splitlines()[-1][:200]}"
        for i, row in enumerate(rows):
            got = results[i] if i < len(results) else {"error": note or "no answer"}
            if "times" in got:
                row.update(status="ok", median_ms=1e3 * median(got["times"]), rounds=len(got["times"]))
                row["check_max_abs_diff"] = got.get("check_max_abs_diff")
            else:
                row["status"] = got.get("error", "no answer")
            self.results.signature(row)

    def bench(self, stage: str, cases: list[str]) -> None:
        from benchmarks.gpu._bench import IMPLS, random_walk

        start = time.monotonic()
        first, rest = IMPLS[:1], IMPLS[1:]
        for dtype in self.dtypes:
            inputs = {c: random_walk(self.cases[c], dtype, SEED) for c in cases}
            for case in cases:
                for impl in first:
                    for kind in ("forward", "gradient"):
                        self.time_impl(impl, case, dtype, kind, inputs[case])
            self.time_legacy(cases, dtype, inputs)
            for case in cases:
                for impl in rest:
                    for kind in ("forward", "gradient"):
                        self.time_impl(impl, case, dtype, kind, inputs[case])
        release_memory()
        self.results.stage(stage, "ok", time.monotonic() - start, cases=cases)

    def rest_cases(self) -> list[str]:
        """The cases after the headline: all, or one in quick mode (the code path, not the figures)."""
        rest = [c for c in self.cases if c != "headline"]
        return rest[1:2] if self.quick else rest

    # ------------------------------------------------------------------ training benchmark

    def train(self) -> None:
        from benchmarks._subprocess import WorkerError, WorkerTimeoutError, run_worker

        start = time.monotonic()
        lengths = (6,) if self.quick else (20, 500)
        batch, n_batches = (8, 2) if self.quick else (128, 4)
        os.environ.update(self.device_env())
        for length in lengths:
            for backend in ("jax", "torch"):
                for impl, label in (
                    ("ours", "ours SigLayer(depth=4)"),
                    ("legacy", "1.0.2 gpu_optimized=True"),
                ):
                    row: dict[str, Any] = {"backend": backend, "length": length, "impl": impl, "label": label}
                    legacy = impl == "legacy"
                    if legacy and not (self.site / "legacy").is_dir():
                        self.results.training({**row, "status": "skip: no keras-sig 1.0.2 wheel"})
                        continue
                    if self.budget.left() <= 0:
                        self.results.training({**row, "status": "skip: budget"})
                        continue
                    spec = {
                        "task": "train",
                        "seed": SEED,
                        "length": length,
                        "channels": 5,
                        "batch": batch,
                        "n_batches": n_batches,
                        "depth": DEPTH,
                        "layer_kwargs": {"gpu_optimized": True} if legacy else {},
                        # Quick CPU runs leave PyTorch eager: torch.compile of a model takes minutes there.
                        "jit_compile": backend == "jax" or not self.quick,
                        "settings": self.train_settings.to_dict(),
                    }
                    try:
                        answer = run_worker(
                            "keras_layer.py",
                            spec,
                            ours=not legacy,
                            keras_backend=backend,
                            timeout=self.budget.cap(60 if self.quick else 120),
                            python=Path(sys.executable),
                            pythonpath=self.pythonpath(ours=False)
                            if legacy
                            else self.pythonpath(ours=True)[1:],
                        )
                        if "times" in answer:
                            row.update(
                                status="ok",
                                first_epoch_s=answer["first_epoch_s"],
                                step_ms=1e3 * median(answer["times"]),
                                keras_sig=answer.get("keras_sig_version"),
                            )
                        else:
                            row["status"] = answer.get("missing") or answer.get("error") or "no times"
                    except WorkerTimeoutError:
                        row["status"] = "timeout"
                    except WorkerError as exc:
                        row["status"] = f"error: {str(exc).splitlines()[-1][:200]}"
                    self.results.training(row)
        self.results.stage("train", "ok", time.monotonic() - start)

    # ------------------------------------------------------------------ profiling

    def profile(self) -> None:
        from benchmarks.gpu._profile import profile_all

        start = time.monotonic()
        folder = self.out / "profile"
        folder.mkdir(exist_ok=True)
        for row in profile_all(self.cases["headline"], DEPTH, device=self.device, folder=folder):
            self.results.profile(row)
        self.results.stage("profile", "ok", time.monotonic() - start)

    # ------------------------------------------------------------------ the run

    def run(self, stages: list[str]) -> int:
        self.install()
        self.require_device()
        actions: dict[str, Callable[[], None]] = {
            "numerics": lambda: self.run_tests("numerics"),
            "bench-headline": lambda: self.bench("bench-headline", ["headline"]),
            "train": self.train,
            "tests": lambda: self.run_tests("tests"),
            "keras-torch": lambda: self.run_tests("keras-torch"),
            "bench-rest": lambda: self.bench("bench-rest", self.rest_cases()),
            "profile": self.profile,
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
    p.add_argument("--wheels", default=str(DEFAULT_WHEELS), help="the wheel folder (default .gpu-wheels)")
    p.add_argument("--site", help="where to unpack the wheels (default: a new temporary folder)")
    p.add_argument("--budget-s", type=float, help="wall-clock budget; later steps are skipped (default 420)")
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
