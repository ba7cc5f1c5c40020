"""The GPU kit's results: one JSON file and one Markdown table, rewritten after every step."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON_NAME = "gpu_kit.json"
MARKDOWN_NAME = "gpu_kit.md"


def _sound(value: float | None) -> bool:
    """Missing (None), or a positive finite measurement: what a ratio may be taken of."""
    return value is None or (math.isfinite(value) and value > 0)


@dataclass(frozen=True)
class Target:
    """``ours / theirs <= limit`` on one case (in both dtypes)."""

    name: str
    kind: str  # "forward", "gradient" or "step"
    ours: tuple[str, ...]  # keys of our rows; the fastest counts
    theirs: str
    limit: float
    case: str = "headline"


# The targets for the H200.
TARGETS = (
    Target(
        "JAX forward / 1.0.2 jax_gpu_signature",
        "forward",
        ("ours-jax-auto", "ours-jax-sequential", "ours-jax-parallel", "ours-jax-chunked"),
        "legacy-jax_gpu_signature",
        0.5,
    ),
    Target(
        "ours forward / pySigLib",
        "forward",
        ("ours-jax-auto", "ours-jax-parallel", "ours-torch-auto", "ours-torch-parallel", "ours-cupy-auto"),
        "pysiglib",
        1.0,
    ),
    Target(
        "JAX gradient / signax gradient",
        "gradient",
        ("ours-jax-auto", "ours-jax-sequential", "ours-jax-parallel", "ours-jax-chunked"),
        "signax",
        0.5,
    ),
)
TRAIN_LIMIT = 0.5


def median(times: list[float]) -> float:
    ordered = sorted(times)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


class Results:
    """Everything the kit learns, written to ``out`` (JSON and Markdown) at every :meth:`save`."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {
            "meta": meta,
            "install": {},
            "stages": {},
            "signature": [],
            "training": [],
            "kernels": [],
            "targets": [],
            "profile": [],
        }
        out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ recording

    def stage(self, name: str, status: str, seconds: float, **detail: Any) -> None:
        self.data["stages"][name] = {"status": status, "seconds": round(seconds, 2), **detail}
        self.save()

    def signature(self, row: dict[str, Any]) -> None:
        self.data["signature"].append(row)
        self.save()

    def training(self, row: dict[str, Any]) -> None:
        self.data["training"].append(row)
        self.save()

    def kernel(self, row: dict[str, Any]) -> None:
        self.data["kernels"].append(row)
        self.save()

    def profile(self, row: dict[str, Any]) -> None:
        self.data["profile"].append(row)
        self.save()

    # ------------------------------------------------------------------ targets

    def _sig_median(self, case: str, dtype: str, kind: str, key: str) -> float | None:
        for row in self.data["signature"]:
            if (row["case"], row["dtype"], row["kind"], row["impl"]) == (case, dtype, kind, key):
                return row.get("median_ms")
        return None

    def targets(self) -> list[dict[str, Any]]:
        """Every target with its ratio and PASS / MISS (``n/a`` while a side is missing)."""
        rows = []
        dtypes = sorted({r["dtype"] for r in self.data["signature"]}, reverse=True)
        for target in TARGETS:
            for dtype in dtypes:
                theirs = self._sig_median(target.case, dtype, target.kind, target.theirs)
                mine = {k: self._sig_median(target.case, dtype, target.kind, k) for k in target.ours}
                mine = {k: v for k, v in mine.items() if v is not None}
                row: dict[str, Any] = {"target": target.name, "case": target.case, "dtype": dtype}
                row["limit"] = target.limit
                if not all(_sound(v) for v in [theirs, *mine.values()]):
                    row["verdict"] = "ERROR"  # a zero, negative or non-finite median: no ratio
                elif theirs and mine:
                    best = min(mine, key=lambda k: mine[k])
                    row["ours"] = best
                    row["ratio"] = mine[best] / theirs
                    auto = next((k for k in target.ours if k.endswith("auto") and k in mine), None)
                    if auto is not None:
                        row["auto_ratio"] = mine[auto] / theirs
                    row["verdict"] = "PASS" if row["ratio"] <= target.limit else "MISS"
                else:
                    row["verdict"] = "n/a"
                rows.append(row)
        for backend in sorted({r["backend"] for r in self.data["training"]}):
            for length in sorted({r["length"] for r in self.data["training"]}):
                found = {
                    r["impl"]: r
                    for r in self.data["training"]
                    if r["backend"] == backend and r["length"] == length
                }
                row = {
                    "target": f"{backend} training step / 1.0.2",
                    "case": f"L={length}",
                    "dtype": "float32",
                }
                row["limit"] = TRAIN_LIMIT
                ours, theirs = found.get("ours", {}), found.get("legacy", {})
                if not (_sound(ours.get("step_ms")) and _sound(theirs.get("step_ms"))):
                    row["verdict"] = "ERROR"
                elif ours.get("step_ms") and theirs.get("step_ms"):
                    row["ratio"] = ours["step_ms"] / theirs["step_ms"]
                    row["verdict"] = "PASS" if row["ratio"] <= TRAIN_LIMIT else "MISS"
                else:
                    row["verdict"] = "n/a"
                rows.append(row)
        return rows

    # ------------------------------------------------------------------ writing

    def save(self) -> None:
        self.data["targets"] = self.targets()
        (self.out / JSON_NAME).write_text(json.dumps(self.data, indent=1, default=str))
        (self.out / MARKDOWN_NAME).write_text(self.markdown())

    def markdown(self) -> str:
        meta = self.data["meta"]
        lines = [f"# keras_sig GPU kit ({meta.get('device')}, {meta.get('mode')})", ""]
        lines += [f"- {k}: {v}" for k, v in meta.items() if k not in ("device", "mode")]
        lines += ["", "## Stages", "", "| stage | status | s |", "| --- | --- | --- |"]
        for name, st in self.data["stages"].items():
            status = st["status"]
            if st.get("failures"):
                status += f" ({st['failures']} failed, see pytest_failures.txt)"
            lines.append(f"| {name} | {status} | {st['seconds']:.1f} |")
        lines += self._signature_table()
        lines += self._training_table()
        lines += self._kernel_table()
        lines += ["", "## Targets", "", "| target | case | dtype | ratio | auto | limit | verdict |"]
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for t in self.data["targets"]:
            ratio = f"{t['ratio']:.2f}x ({t.get('ours', 'ours')})" if "ratio" in t else "-"
            auto = f"{t['auto_ratio']:.2f}x" if "auto_ratio" in t else "-"
            lines.append(
                f"| {t['target']} | {t['case']} | {t['dtype']} | {ratio} | {auto} | "
                f"<= {t['limit']}x | {t['verdict']} |"
            )
        if self.data["profile"]:
            lines += ["", "## Profile", "", "| what | kernels | note |", "| --- | --- | --- |"]
            for p in self.data["profile"]:
                kernels = "-" if p.get("kernels") is None else p["kernels"]
                lines.append(f"| {p['what']} | {kernels} | {p.get('note', '')} |")
        return "\n".join(lines) + "\n"

    def _signature_table(self) -> list[str]:
        rows = self.data["signature"]
        if not rows:
            return []
        columns = list(dict.fromkeys((r["case"], r["dtype"], r["kind"]) for r in rows))
        impls = list(dict.fromkeys((r["impl"], r["label"]) for r in rows))
        cells = {(r["impl"], r["case"], r["dtype"], r["kind"]): r for r in rows}
        head = " | ".join(f"{c} {d} {'fwd' if k == 'forward' else 'grad'}" for c, d, k in columns)
        lines = ["", "## Signature (median ms per call, whole batch)", ""]
        lines += [f"| impl | {head} |", "| --- |" + " --- |" * len(columns)]
        for key, label in impls:
            out = []
            for c, d, k in columns:
                r = cells.get((key, c, d, k))
                out.append("" if r is None else _cell(r))
            lines.append(f"| {label} | " + " | ".join(out) + " |")
        cases = list(dict.fromkeys((r["case"], r.get("shape")) for r in rows))
        lines += ["", "Cases: " + "; ".join(f"{c} {s}" for c, s in cases)]
        return lines

    def _training_table(self) -> list[str]:
        rows = self.data["training"]
        if not rows:
            return []
        lines = ["", "## Training (Dense(7) -> SigLayer(4) -> Dense(10) -> Dense(1), Adam, batch 128)", ""]
        lines += [
            "| backend | L | impl | 1st epoch s | step ms | status |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            first = f"{r['first_epoch_s']:.2f}" if r.get("first_epoch_s") is not None else "-"
            step = f"{r['step_ms']:.3g}" if r.get("step_ms") is not None else "-"
            lines.append(
                f"| {r['backend']} | {r['length']} | {r['label']} | {first} | {step} | {r['status']} |"
            )
        return lines

    def _kernel_table(self) -> list[str]:
        """Median ms per call of each kernel row, with its ratio to pySigLib's row beside it."""
        rows = self.data["kernels"]
        if not rows:
            return []
        columns = list(dict.fromkeys((r["case"], r["order"], r["dtype"], r["kind"]) for r in rows))
        impls = list(dict.fromkeys((r["impl"], r["label"]) for r in rows))
        cells = {(r["impl"], r["case"], r["order"], r["dtype"], r["kind"]): r for r in rows}
        head = " | ".join(f"{c} o{o} {d} {k}" for c, o, d, k in columns)
        lines = ["", "## Signature kernels (median ms per call; ratio to pySigLib's)", ""]
        lines += [f"| impl | {head} |", "| --- |" + " --- |" * len(columns)]
        for key, label in impls:
            out = []
            for column in columns:
                r = cells.get((key, *column))
                theirs = cells.get(("pysiglib", *column), {}).get("median_ms")
                text = "" if r is None else _cell(r)
                if r is not None and key != "pysiglib" and theirs and _sound(theirs) and r.get("median_ms"):
                    text += f" ({r['median_ms'] / theirs:.2f}x)"
                out.append(text)
            lines.append(f"| {label} | " + " | ".join(out) + " |")
        shapes = list(dict.fromkeys((r["case"], tuple(r["shape"])) for r in rows))
        listed = "; ".join(f"{c} {s}" for c, s in shapes)
        lines += ["", f"Cases (batch_x, batch_y, length, channels): {listed}"]
        return lines


def _cell(row: dict[str, Any]) -> str:
    value = row.get("median_ms")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return row.get("status", "-")
    return f"{value:.3g}"
