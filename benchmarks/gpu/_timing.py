"""The GPU kit's measuring stages: the signature table, the training steps, the kernel counts.

``bench-headline`` and ``bench-rest`` time the in-process rows of
:mod:`benchmarks.gpu._bench` and keras-sig 1.0.2's ``jax_gpu_signature`` (in a
subprocess), each row checked once against a float64 reference first;
``train`` times the Keras layer in subprocesses; ``profile`` records
:mod:`benchmarks.gpu._profile`'s kernel counts.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks._workers._protocol import Settings, measure
from benchmarks.gpu._env import release_memory
from benchmarks.gpu._results import median

if TYPE_CHECKING:
    from benchmarks._impls import Runner
    from benchmarks.gpu._bench import Impl
    from benchmarks.gpu._kit import Kit

SEED = 20261126
DEPTH = 4
KINDS = ("forward", "gradient")

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

LEGACY_KEY = "legacy-jax_gpu_signature"


def _skip(kit: Kit, *, legacy: bool) -> str | None:
    """Why a row does not run: no keras-sig 1.0.2 unpacked (for its rows), or no budget left."""
    if legacy and not (kit.site / "legacy").is_dir():
        return "skip: no keras-sig 1.0.2 wheel"
    if kit.budget.left() <= 0:
        return "skip: budget"
    return None


_EXCEPTION_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Interrupt)\b")


def _worker_error(exc: Exception) -> str:
    """A worker's failure as a row's status: its last exception line, else its last line.

    Keras appends the layer's call arguments (``• mask=None``) after the
    exception itself; the line naming the exception is what the table needs.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()] or [""]
    named = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return f"error: {(named or lines)[-1].strip()[:300]}"


def _closure(runner: Runner, kind: str) -> Callable[[], Any]:
    fn = runner.forward if kind == "forward" else runner.gradient
    assert fn is not None
    return fn


# ---------------------------------------------------------------------- signature benchmark


class Checks:
    """Each row's ``kind`` checked once, on the small float64 input on the device, to 1e-8."""

    def __init__(self, device: str, *, quick: bool) -> None:
        self.device, self.quick = device, quick
        self.done: dict[tuple[str, str], tuple[str, float]] = {}
        self._reference: tuple[np.ndarray, dict[str, np.ndarray]] | None = None

    def reference(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The check input and its float64 ``{"forward": ..., "gradient": ...}``, made on first use."""
        if self._reference is None:
            from benchmarks._impls import check_input
            from benchmarks.gpu._bench import reference

            x, _ = check_input(SEED)
            self._reference = x, reference(x, DEPTH)
        return self._reference

    def __call__(self, impl: Impl, kind: str) -> tuple[str, float]:
        """``("ok", diff)``, or ``("wrong: ...", diff)`` with the largest absolute difference."""
        from benchmarks.gpu._bench import build

        key = (impl.key, kind)
        if key not in self.done:
            x, refs = self.reference()
            runner = build(impl, x, DEPTH, device=self.device, quick=self.quick)
            got = runner.to_numpy(_closure(runner, kind)())
            ref = refs[kind]
            diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
            self.done[key] = ("ok" if diff < 1e-8 else f"wrong: max abs diff {diff:.3g}", diff)
        return self.done[key]


def _row(kit: Kit, case: str, dtype: str, kind: str, key: str, label: str, family: str) -> dict[str, Any]:
    return {
        "case": case,
        "shape": (*kit.cases[case], DEPTH),
        "dtype": dtype,
        "kind": kind,
        "impl": key,
        "label": label,
        "family": family,
    }


def time_impl(kit: Kit, impl: Impl, case: str, dtype: str, kind: str, x: np.ndarray) -> None:
    """One in-process row: checked, then timed on ``x``, or the reason it was not."""
    from benchmarks.gpu._bench import build, missing

    if kind not in impl.kinds:
        return
    row = _row(kit, case, dtype, kind, impl.key, impl.label, impl.family)
    why = missing(impl, kit.device)
    skip = f"skip: {why}" if why is not None else _skip(kit, legacy=False)
    if skip is not None:
        kit.results.signature({**row, "status": skip})
        return
    began = time.monotonic()
    try:
        status, diff = kit.checks(impl, kind)
        row["check_max_abs_diff"] = diff
        if status != "ok":
            kit.results.signature({**row, "status": status})
            return
        runner = build(impl, x, DEPTH, device=kit.device, quick=kit.quick)
        times = measure(_closure(runner, kind), kit.settings)
        row.update(status="ok", median_ms=1e3 * median(times), rounds=len(times))
        row["seconds"] = round(time.monotonic() - began, 2)
    except Exception as exc:
        row["status"] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    kit.results.signature(row)


def time_legacy(kit: Kit, cases: list[str], dtype: str, inputs: dict[str, np.ndarray]) -> None:
    """keras-sig 1.0.2's ``jax_gpu_signature``, every case of one dtype in one subprocess."""
    from benchmarks._subprocess import WorkerError, WorkerTimeoutError, run_worker

    label = "keras-sig 1.0.2 jax_gpu_signature jit"
    rows = [_row(kit, c, dtype, k, LEGACY_KEY, label, "legacy") for c in cases for k in KINDS]
    skip = _skip(kit, legacy=True)
    if skip is not None:
        for row in rows:
            kit.results.signature({**row, "status": skip})
        return
    check_x, refs = kit.checks.reference()
    arrays = {"check_x": check_x, "check_forward": refs["forward"], "check_gradient": refs["gradient"]}
    arrays.update({f"x_{c}": inputs[c] for c in cases})
    spec = {
        "jobs": [{"variant": "jax_gpu_signature", "kind": r["kind"], "x": f"x_{r['case']}"} for r in rows],
        "check_depth": DEPTH,
        "depth": DEPTH,
        "atol": 1e-8,
        "settings": kit.settings.to_dict(),
    }
    os.environ.update(kit.device_env())
    try:
        answer = run_worker(
            "legacy_signature.py",
            spec,
            arrays=arrays,
            ours=False,
            timeout=kit.budget.cap(300),
            python=Path(sys.executable),
            pythonpath=kit.pythonpath(ours=False),
        )
        results, note = answer.get("results", []), None
        kit.results.data["meta"]["legacy_signature_env"] = answer.get("env")
    except WorkerTimeoutError as exc:
        results, note = (exc.partial or {}).get("results", []), "timeout"
    except WorkerError as exc:
        results, note = [], _worker_error(exc)
    for i, row in enumerate(rows):
        got: dict[str, Any] = results[i] if i < len(results) else {"error": note or "no answer"}
        if "times" in got:
            row.update(status="ok", median_ms=1e3 * median(got["times"]), rounds=len(got["times"]))
            row["check_max_abs_diff"] = got.get("check_max_abs_diff")
        else:
            row["status"] = got.get("error", "no answer")
        kit.results.signature(row)


def _time_impls(
    kit: Kit, impls: Sequence[Impl], cases: list[str], dtype: str, inputs: dict[str, np.ndarray]
) -> None:
    for case in cases:
        for impl in impls:
            for kind in KINDS:
                time_impl(kit, impl, case, dtype, kind, inputs[case])


def bench(kit: Kit, stage: str, cases: list[str]) -> None:
    """The signature table on ``cases``, per dtype: our first row, then 1.0.2's, then the others."""
    from benchmarks.gpu._bench import IMPLS, random_walk

    start = time.monotonic()
    for dtype in kit.dtypes:
        inputs = {c: random_walk(kit.cases[c], dtype, SEED) for c in cases}
        _time_impls(kit, IMPLS[:1], cases, dtype, inputs)
        time_legacy(kit, cases, dtype, inputs)
        _time_impls(kit, IMPLS[1:], cases, dtype, inputs)
    release_memory()
    kit.results.stage(stage, "ok", time.monotonic() - start, cases=cases)


def rest_cases(kit: Kit) -> list[str]:
    """The cases after the headline: all, or one in quick mode (the code path, not the figures)."""
    rest = [c for c in kit.cases if c != "headline"]
    return rest[1:2] if kit.quick else rest


# ---------------------------------------------------------------------- training benchmark


def train(kit: Kit) -> None:
    """Training steps of the Keras layer, ours against 1.0.2's, per length and backend."""
    from benchmarks._subprocess import WorkerError, WorkerTimeoutError, run_worker

    start = time.monotonic()
    lengths = (6,) if kit.quick else (20, 500)
    batch, n_batches = (8, 2) if kit.quick else (128, 4)
    os.environ.update(kit.device_env())
    for length in lengths:
        for backend in ("jax", "torch"):
            for impl, label in (("ours", "ours SigLayer(depth=4)"), ("legacy", "1.0.2 gpu_optimized=True")):
                row: dict[str, Any] = {"backend": backend, "length": length, "impl": impl, "label": label}
                legacy = impl == "legacy"
                skip = _skip(kit, legacy=legacy)
                if skip is not None:
                    kit.results.training({**row, "status": skip})
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
                    "jit_compile": backend == "jax" or not kit.quick,
                    "settings": kit.train_settings.to_dict(),
                }
                try:
                    answer = run_worker(
                        "keras_layer.py",
                        spec,
                        ours=not legacy,
                        keras_backend=backend,
                        timeout=kit.budget.cap(60 if kit.quick else 120),
                        python=Path(sys.executable),
                        pythonpath=kit.pythonpath(ours=False) if legacy else kit.pythonpath(ours=True)[1:],
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
                    row["status"] = _worker_error(exc)
                    row["error_detail"] = str(exc)[-3000:]
                kit.results.training(row)
    kit.results.stage("train", "ok", time.monotonic() - start)


# ---------------------------------------------------------------------- profiling


def profile(kit: Kit) -> None:
    """``--profile``: kernel counts of one call on the headline case (:mod:`benchmarks.gpu._profile`)."""
    from benchmarks.gpu._profile import profile_all

    start = time.monotonic()
    folder = kit.out / "profile"
    folder.mkdir(exist_ok=True)
    for row in profile_all(kit.cases["headline"], DEPTH, device=kit.device, folder=folder):
        kit.results.profile(row)
    kit.results.stage("profile", "ok", time.monotonic() - start)
