"""``--plot``: median time against the length and against the depth, ours beside the peers.

The figure is drawn from the signature group's records, those of this run or those of a JSON
written by ``--json`` (``--from-json``). A panel needs a sweep: records that differ only in the
length (or only in the depth) of the paths, as ``--sweep`` measures them. Ours is shown at
``method="auto"`` (what users get); every peer library that was timed is shown beside it.
matplotlib is only needed here (``pip install "keras_sig[plot]"`` or ``pip install matplotlib``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

# What a signature record must hold to be placed on a panel.
REQUIRED = ("kind", "shape", "depth", "impl", "label", "family", "status")
AXES = {
    "length": ("length", "path length (points)", "log"),
    "depth": ("depth", "truncation depth", "linear"),
}


def load(path: str | Path) -> dict[str, Any]:
    """The summary ``python -m benchmarks --json`` wrote to ``path``, checked for plotting."""
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"cannot read benchmark results from {path}: {exc}"
        raise ValueError(msg) from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("records"), list):
        msg = (
            f"{path} is not a results file of `python -m benchmarks --json`: "
            "it has no 'records' list at the top level"
        )
        raise ValueError(msg)
    signature_records(summary, source=str(path))
    return summary


def signature_records(summary: dict[str, Any], source: str = "the results") -> list[dict[str, Any]]:
    """The signature group's records; a record lacking a field the plot needs is an error."""
    records = [r for r in summary.get("records", []) if isinstance(r, dict) and r.get("group") == "signature"]
    if not records:
        msg = f"{source} holds no records of the signature group (group 'signature') to plot"
        raise ValueError(msg)
    for rec in records:
        missing = [key for key in REQUIRED if key not in rec]
        if missing:
            msg = (
                f"{source}: the record {rec.get('nodeid', '?')!r} lacks the field(s) "
                f"{', '.join(missing)} that --plot needs"
            )
            raise ValueError(msg)
    return records


def _point(rec: dict[str, Any]) -> dict[str, Any] | None:
    """A timed record as (series, kind, batch, length, channels, depth, seconds), or None."""
    if rec["status"] != "passed" or not isinstance(rec.get("median_s"), (int, float)):
        return None
    if rec["family"] == "ours" and rec.get("method") not in (None, "auto"):
        return None
    batch, length, channels = rec["shape"]
    return {
        "series": rec["label"],
        "ours": rec["family"] == "ours",
        "kind": rec["kind"],
        "batch": batch,
        "length": length,
        "channels": channels,
        "depth": rec["depth"],
        "seconds": float(rec["median_s"]),
    }


def sweeps(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (axis, kind), the largest sweep: the fixed sizes and each series' (x, seconds)."""
    points = [p for p in map(_point, signature_records(summary)) if p is not None]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for axis in AXES:
        fixed_keys = [k for k in ("batch", "length", "channels", "depth") if k != axis]
        for kind in sorted({p["kind"] for p in points}):
            groups: dict[tuple[int, ...], list[dict[str, Any]]] = defaultdict(list)
            for p in points:
                if p["kind"] == kind:
                    groups[tuple(p[k] for k in fixed_keys)].append(p)
            best = max(groups.items(), key=lambda kv: len({p[axis] for p in kv[1]}), default=None)
            if best is None or len({p[axis] for p in best[1]}) < 2:
                continue
            series: dict[str, list[tuple[int, float]]] = defaultdict(list)
            ours = set()
            for p in best[1]:
                series[p["series"]].append((p[axis], p["seconds"]))
                if p["ours"]:
                    ours.add(p["series"])
            found[axis, kind] = {
                "fixed": dict(zip(fixed_keys, best[0], strict=True)),
                "series": {name: sorted(xy) for name, xy in series.items()},
                "ours": ours,
            }
    if not found:
        msg = (
            "nothing to plot: no timed signature records vary only the length or only the depth "
            "(the default grid's two cases differ in every size); measure a sweep with "
            "`python -m benchmarks --sweep --json FILE`"
        )
        raise ValueError(msg)
    return found


def caption(summary: dict[str, Any], note: str = "") -> str:
    """Date, machine and versions of the run, from the raw pytest-benchmark metadata."""
    bench = summary.get("pytest_benchmark") or {}
    machine = bench.get("machine_info") or {}
    extra = machine.get("keras_sig_bench") or {}
    parts = []
    if bench.get("datetime"):
        parts.append(str(bench["datetime"])[:16].replace("T", " ") + " UTC")
    cpu = (machine.get("cpu") or {}).get("brand_raw")
    cores = extra.get("cpu_count")
    if cpu or cores:
        parts.append(", ".join(str(v) for v in (cpu, f"{cores} cores" if cores else None) if v))
    versions = summary.get("versions") or extra.get("versions") or {}
    if "keras_sig" in versions:
        parts.append(f"keras_sig {versions['keras_sig']}")
    if summary.get("grid"):
        parts.append(f"{summary['grid']} grid, float64, medians")
    text = "; ".join(parts)
    return f"{text}\n{note}" if note else text


def draw(summary: dict[str, Any], note: str = "") -> Any:
    """A pyplot figure: one panel per (kind, axis) swept, time on a log scale."""
    import matplotlib.pyplot as plt

    found = sweeps(summary)
    kinds = sorted({kind for _, kind in found})
    axes_used = [a for a in AXES if any(axis == a for axis, _ in found)]
    fig, grid = plt.subplots(
        len(kinds), len(axes_used), figsize=(5.2 * len(axes_used), 3.9 * len(kinds) + 0.9), squeeze=False
    )
    names = sorted({name for sweep in found.values() for name in sweep["series"]})
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for row, kind in enumerate(kinds):
        for col, axis in enumerate(axes_used):
            ax = grid[row][col]
            sweep = found.get((axis, kind))
            if sweep is None:
                ax.set_axis_off()
                continue
            _, xlabel, xscale = AXES[axis]
            for name, xy in sweep["series"].items():
                xs, ys = zip(*xy, strict=True)
                ours = name in sweep["ours"]
                ax.plot(
                    xs,
                    [y * 1e3 for y in ys],
                    marker="o" if ours else "s",
                    linestyle="-" if ours else "--",
                    linewidth=2.2 if ours else 1.3,
                    markersize=5 if ours else 4,
                    color=colours[name],
                    label=name,
                )
            ax.set_xscale(xscale)
            ax.set_yscale("log")
            if axis == "depth":
                ax.set_xticks(sorted({x for xy in sweep["series"].values() for x, _ in xy}))
            fixed = ", ".join(f"{k} {v}" for k, v in sweep["fixed"].items())
            ax.set_title(f"{kind} vs {axis} ({fixed})", fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("median ms per call")
            ax.grid(visible=True, which="both", alpha=0.3)
            ax.legend(fontsize=7.5, loc="upper left")
    fig.suptitle("keras_sig signature: median time per call (solid: ours, method='auto'; dashed: peers)")
    fig.text(0.5, 0.005, caption(summary, note), ha="center", va="bottom", fontsize=8.5, color="0.3")
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    return fig


def save(summary: dict[str, Any], out: str | Path, note: str = "") -> Path:
    """Draw the figure (Agg, no display) and write it to ``out`` (PNG, SVG, PDF: by its suffix)."""
    try:
        import matplotlib
    except ImportError as exc:
        msg = '--plot needs matplotlib: pip install matplotlib (or "keras_sig[plot]")'
        raise ValueError(msg) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(summary, note)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=120)
    finally:
        plt.close(fig)
    return out
