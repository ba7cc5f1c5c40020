"""Tables and target ratios from a pytest-benchmark JSON and the outcome log."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from benchmarks import _impls


@dataclass(frozen=True)
class Target:
    """``ours(framework, kind) / peer(kind) <= limit``, ours at its best method."""

    title: str
    framework: str
    kind: str
    peer: str
    limit: float


TARGETS = (
    Target("JAX jit forward / pySigLib forward", "jax", "forward", "pysiglib", 1.5),
    Target("JAX jit forward / signax forward", "jax", "forward", "signax", 0.4),
    Target("JAX gradient / signax gradient", "jax", "gradient", "signax", 1.0),
    Target("JAX gradient / pySigLib sig+sig_backprop", "jax", "gradient", "pysiglib", 1.0),
    Target("PyTorch eager forward / iisignature forward", "torch", "forward", "iisignature", 1.0),
    Target("PyTorch autograd gradient / signatory gradient", "torch", "gradient", "signatory", 1.0),
    Target("NumPy forward / iisignature forward", "numpy", "forward", "iisignature", 1.0),
)
# (task, label, limit): ours / best keras-sig 1.0.2 variant, per backend.
KERAS_TARGETS = (
    ("train", "step", 0.5),
    ("train", "first epoch (compile)", 1.0),
    ("forward-eager", "SigLayer forward eager", 0.5),
    ("forward-compiled", "SigLayer forward compiled", 0.5),
)


# --------------------------------------------------------------------------- records


def records(bench: dict[str, Any] | None, outcomes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per test: its metadata, status and (when timed) median seconds."""
    by_id: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        rec = by_id.setdefault(o["nodeid"], {"nodeid": o["nodeid"]})
        rec.update(o.get("meta") or {})
        rec["status"] = o["outcome"]
        if o.get("reason"):
            rec["reason"] = o["reason"]
    for b in (bench or {}).get("benchmarks", []):
        rec = by_id.setdefault(b["fullname"], {"nodeid": b["fullname"], "status": "passed"})
        rec.update(b.get("extra_info") or {})
        stats = b.get("stats") or {}
        if "median" in stats:
            rec["median_s"] = stats["median"]
            rec["rounds"] = stats.get("rounds")
    for rec in by_id.values():
        if rec.get("status") == "skipped" and str(rec.get("reason", "")).startswith("timeout"):
            rec["status"] = "timeout"
    return list(by_id.values())


def _timed(rec: dict[str, Any] | None) -> float | None:
    if rec is None or rec.get("status") != "passed":
        return None
    return rec.get("median_s")


# The verdict of a ratio taken of a time (or memory peak) that is zero, negative or not finite:
# such a number is a broken measurement (a timer, or a gradient-minus-forward subtraction, gone
# wrong), so no PASS or MISS is given, and ``python -m benchmarks`` exits non-zero.
ERROR = "ERROR"


class BadMeasurementError(ValueError):
    """A ratio was asked of a measurement that is zero, negative or not finite."""


def _quotient(num: float | None, den: float | None) -> float | None:
    """``num / den`` of two measurements; None if either is missing.

    Raises BadMeasurementError if either is zero, negative or not finite (even when the other is
    missing): such a measurement is broken, and a ratio of it must never pass a target.
    """
    if not all(math.isfinite(v) and v > 0 for v in (num, den) if v is not None):
        msg = f"ratio {num!r} / {den!r}: both measurements must be positive and finite"
        raise BadMeasurementError(msg)
    if num is None or den is None:
        return None
    return num / den


def _judged(num: float | None, den: float | None, limit: float) -> tuple[float | None, str]:
    """(ratio, verdict) of ``num / den`` against ``limit``: ERROR for a broken measurement."""
    try:
        ratio = _quotient(num, den)
    except BadMeasurementError:
        return None, ERROR
    return ratio, _verdict(ratio, limit)


def _shown(num: float | None, den: float | None, missing: str = "-") -> str:
    """``num / den`` as a table cell (no verdict): ``missing`` if absent, ERROR if broken."""
    try:
        ratio = _quotient(num, den)
    except BadMeasurementError:
        return ERROR
    return missing if ratio is None else _ratio(ratio)


def errors(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target row of ``summary`` (lists of dicts with a ``result``) whose verdict is ERROR."""
    return [
        row
        for rows in summary.values()
        if isinstance(rows, list)
        for row in rows
        if isinstance(row, dict) and row.get("result") == ERROR
    ]


def _cell(rec: dict[str, Any] | None, scale: float = 1e3) -> str:
    if rec is None:
        return "-"
    value = _timed(rec)
    if value is not None:
        return _num(value * scale)
    return {"skipped": "skip", "failed": "FAIL", "timeout": "timeout"}.get(rec.get("status", ""), "n/a")


def _num(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _table(header: list[str], rows: list[list[str]], align_left: int = 1) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [
            str(c).ljust(w) if i < align_left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


# --------------------------------------------------------------------------- signature group


def signature_section(recs: list[dict[str, Any]], cases: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    sig = [r for r in recs if r.get("group") == "signature"]
    if not sig:
        return "", []
    index = {(r.get("case"), r.get("impl"), r.get("kind")): r for r in sig}
    out = []
    for case in cases:
        if not any(r.get("case") == case.name for r in sig):
            continue
        # The fastest peer (any other library, keras-sig 1.0.2 included) per kind.
        fastest = {}
        for kind in ("forward", "gradient"):
            times = [
                _timed(index.get((case.name, impl.key, kind))) for impl in _impls.ALL if impl.family != "ours"
            ]
            times = [t for t in times if t is not None]
            fastest[kind] = min(times) if times else None

        def vs_fastest(rec: dict[str, Any] | None, kind: str, fastest: dict = fastest) -> str:
            return _shown(_timed(rec), fastest[kind])

        rows = []
        for impl in _impls.ALL:
            fwd = index.get((case.name, impl.key, "forward"))
            grad = index.get((case.name, impl.key, "gradient"))
            if fwd is None and grad is None:
                continue
            has_grad = "gradient" in impl.kinds
            rows.append(
                [
                    impl.label,
                    _cell(fwd),
                    _cell(grad) if has_grad else "-",
                    vs_fastest(fwd, "forward"),
                    vs_fastest(grad, "gradient") if has_grad else "-",
                ]
            )
        out.append(f"Signature, {case.describe()}: median ms, and ratio to the fastest peer library")
        out.append(_table(["implementation", "forward", "gradient", "fwd / fastest", "grad / fastest"], rows))
        out.append("")
    ratios = signature_ratios(sig, [c.name for c in cases])
    if ratios:
        out.append("Targets (ours at its best method / peer; 'auto' = ours with method='auto')")
        rows = [
            [
                r["case"],
                r["title"],
                f"<= {r['limit']:g}x",
                _ms(r["ours_s"]) + (f" [{r['ours_method']}]" if r["ours_method"] else ""),
                _ms(r["peer_s"]),
                _ratio(r["ratio"]) if r["result"] != ERROR else ERROR,
                _ratio(r["ratio_auto"]) if r["result_auto"] != ERROR else ERROR,
                r["result"],
            ]
            for r in ratios
        ]
        out.append(
            _table(
                ["case", "target", "limit", "ours ms", "peer ms", "ratio", "auto ratio", "result"],
                rows,
                align_left=2,
            )
        )
        out.append("")
    backward = backward_ratios(sig, [c.name for c in cases])
    if backward:
        out.append("Backward targets (backward = gradient - forward medians, method='auto')")
        out.append(
            _table(
                ["case", "target", "limit", "ours ms", "vs ms", "ratio", "result"],
                [
                    [
                        b["case"],
                        b["title"],
                        f"<= {b['limit']:g}x",
                        _ms(b["ours_s"]),
                        _ms(b["vs_s"]),
                        _ratio(b["ratio"]) if b["result"] != ERROR else ERROR,
                        b["result"],
                    ]
                    for b in backward
                ],
                align_left=2,
            )
        )
        out.append("")
    return "\n".join(out), ratios


def _backward(sig: list[dict[str, Any]], case: str, impl: str) -> tuple[float | None, float | None]:
    """(backward, forward) seconds of ``impl``: the gradient's median minus the forward's."""
    fwd = _timed(_find(sig, case=case, impl=impl, kind="forward"))
    grad = _timed(_find(sig, case=case, impl=impl, kind="gradient"))
    return (grad - fwd if grad is not None and fwd is not None else None), fwd


def backward_ratios(sig: list[dict[str, Any]], case_names: list[str]) -> list[dict[str, Any]]:
    """Issue 5's speed targets: backward <= 3x forward (same backend); torch backward <= signatory's."""
    found = []
    for case in case_names:
        for framework in ("jax", "torch", "tensorflow"):
            bwd, fwd = _backward(sig, case, f"ours-{framework}-auto")
            if bwd is None:
                continue
            ratio, result = _judged(bwd, fwd, 3.0)
            found.append(
                {
                    "case": case,
                    "title": f"{framework} backward / forward",
                    "limit": 3.0,
                    "ours_s": bwd,
                    "vs_s": fwd,
                }
                | {"ratio": ratio, "result": result}
            )
        bwd, _ = _backward(sig, case, "ours-torch-auto")
        peer, _ = _backward(sig, case, "signatory")
        if bwd is not None and peer is not None:
            ratio, result = _judged(bwd, peer, 1.0)
            found.append(
                {"case": case, "title": "torch backward / signatory backward", "limit": 1.0, "ours_s": bwd}
                | {"vs_s": peer, "ratio": ratio, "result": result}
            )
    return found


def _ms(v: float | None) -> str:
    return "n/a" if v is None else _num(v * 1e3)


def _ratio(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _verdict(ratio: float | None, limit: float) -> str:
    if ratio is None:
        return "n/a"
    if not (math.isfinite(ratio) and ratio > 0):
        return ERROR  # a ratio of positive, finite measurements is positive and finite
    return "PASS" if ratio <= limit else "MISS"


def signature_ratios(sig: list[dict[str, Any]], case_names: list[str]) -> list[dict[str, Any]]:
    found = []
    for case in case_names:
        for t in TARGETS:
            ours = [
                r
                for r in sig
                if r.get("case") == case
                and r.get("family") == "ours"
                and r.get("framework") == t.framework
                and r.get("kind") == t.kind
                and _timed(r) is not None
            ]
            best = min(ours, key=_timed, default=None)
            auto = next((r for r in ours if r.get("method") == "auto"), None)
            peer = next(
                (
                    r
                    for r in sig
                    if r.get("case") == case and r.get("impl") == t.peer and r.get("kind") == t.kind
                ),
                None,
            )
            peer_s, best_s, auto_s = _timed(peer), _timed(best), _timed(auto)
            ratio, result = _judged(best_s, peer_s, t.limit)
            ratio_auto, result_auto = _judged(auto_s, peer_s, t.limit)
            if best_s is None and peer_s is None:
                continue  # neither side ran (filtered out, skipped): no row
            found.append(
                {
                    "case": case,
                    "title": t.title,
                    "limit": t.limit,
                    "ours_s": best_s,
                    "ours_method": best.get("method") if best else None,
                    "peer": t.peer,
                    "peer_s": peer_s,
                    "ratio": ratio,
                    "ratio_auto": ratio_auto,
                    "result_auto": result_auto,
                    "result": ERROR if ERROR in (result, result_auto) else result,
                }
            )
    return found


# --------------------------------------------------------------------------- keras group


def keras_section(recs: list[dict[str, Any]], lengths: tuple[int, ...]) -> tuple[str, list[dict[str, Any]]]:
    ker = [r for r in recs if r.get("group") == "keras"]
    if not ker:
        return "", []
    out, ratios = [], []
    backends = [b for b in ("jax", "tensorflow", "torch") if any(r.get("backend") == b for r in ker)]
    for backend in backends:
        mine = [r for r in ker if r.get("backend") == backend]
        labels = list(dict.fromkeys(r["label"] for r in mine))
        header = ["layer"]
        for length in lengths:
            header += [f"L={length} 1st epoch s", f"L={length} step ms"]
        header += ["fwd eager ms", "fwd compiled ms"]
        rows = []
        for label in labels:
            row = [label]
            for length in lengths:
                rec = _find(mine, label=label, task="train", length=length)
                first = rec.get("first_epoch_s") if rec and rec.get("status") == "passed" else None
                row += [_num(first) if first is not None else _cell(rec), _cell(rec)]
            for task in ("forward-eager", "forward-compiled"):
                row.append(_cell(_find(mine, label=label, task=task)))
            rows.append(row)
        out.append(f"Keras layer, backend {backend}: median ms (first epoch: one run, s)")
        out.append(_table(header, rows))
        out.append("")
        ratios += _keras_ratios(backend, mine, lengths)
    if ratios:
        out.append("Keras targets (ours / best keras-sig 1.0.2 variant)")
        rows = [
            [
                r["backend"],
                r["title"],
                f"<= {r['limit']:g}x",
                _ratio(r["ratio"]),
                r["legacy_best"] or "n/a",
                r["result"],
            ]
            for r in ratios
        ]
        out.append(
            _table(["backend", "target", "limit", "ratio", "1.0.2 best", "result"], rows, align_left=2)
        )
        out.append("")
    return "\n".join(out), ratios


def _find(recs: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in recs if all(r.get(k) == v for k, v in match.items())), None)


def _keras_ratios(backend: str, recs: list[dict[str, Any]], lengths: tuple[int, ...]) -> list[dict[str, Any]]:
    found = []
    for task, title, limit in KERAS_TARGETS:
        for length in lengths if task == "train" else (None,):
            match = {"task": task} if length is None else {"task": task, "length": length}
            pick = _first_epoch if title.startswith("first epoch") else _timed
            ours = [r for r in recs if r.get("family") == "ours" and _matches(r, match)]
            legacy = [
                r for r in recs if r.get("family") == "legacy" and _matches(r, match) and pick(r) is not None
            ]
            ours_v = pick(ours[0]) if ours else None
            best = min(legacy, key=pick, default=None)
            legacy_v = pick(best) if best else None
            ratio, result = _judged(ours_v, legacy_v, limit)
            if ours_v is None and legacy_v is None:
                continue  # neither side ran (filtered out, skipped): no row
            found.append(
                {
                    "backend": backend,
                    "title": title + (f" L={length}" if length is not None else ""),
                    "limit": limit,
                    "ours": ours_v,
                    "legacy": legacy_v,
                    "legacy_best": best.get("label", "").removeprefix("keras-sig 1.0.2 ") if best else None,
                    "ratio": ratio,
                    "result": result,
                }
            )
    return found


def _matches(rec: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(rec.get(k) == v for k, v in match.items())


def _first_epoch(rec: dict[str, Any]) -> float | None:
    if rec.get("status") != "passed":
        return None
    return rec.get("first_epoch_s")


# --------------------------------------------------------------------------- memory group


def memory_section(recs: list[dict[str, Any]]) -> str:
    mem = [r for r in recs if r.get("group") == "memory"]
    if not mem:
        return ""
    grads = [r for r in mem if r.get("kind", "gradient") == "gradient"]
    lengths = sorted({r["length"] for r in grads})
    labels = list(dict.fromkeys(r["label"] for r in grads))
    rows = []
    for label in labels:
        row = [label]
        for length in lengths:
            rec = _find(grads, label=label, length=length)
            if rec is None:
                row.append("-")
            elif rec.get("status") == "passed" and rec.get("peak_mib") is not None:
                text = _num(rec["peak_mib"])
                if rec.get("xla_temp_mib") is not None:
                    text += f" (XLA {_num(rec['xla_temp_mib'])})"
                if not rec.get("peak_reset", True):
                    text = ">= " + text
                row.append(text)
            else:
                row.append(_cell(rec))
        rows.append(row)
    shape = mem[0].get("shape", [])
    head = f"Memory: peak RSS MiB of one gradient, batch {shape[0] if shape else '?'}, channels "
    head += (
        f"{shape[2] if shape else '?'}, depth {mem[0].get('depth')}, float64 (XLA: its temp-buffer estimate)"
    )
    out = [head, _table(["implementation"] + [f"L={n}" for n in lengths], rows), ""]
    targets = memory_targets(mem)
    if targets:
        out += [
            "Memory targets",
            _table(
                ["target", "limit", "measured", "result"],
                [[t["title"], _num(t["limit"]), _ratio(t["ratio"]), t["result"]] for t in targets],
            ),
            "",
        ]
    return "\n".join(out)


def _peak(rec: dict[str, Any] | None, *, xla: bool = False) -> float | None:
    """A passed record's peak (MiB): XLA's temporaries on JAX, else RSS (numpy: tracemalloc)."""
    if rec is None or rec.get("status") != "passed":
        return None
    if xla and rec.get("xla_temp_mib") is not None:
        return float(rec["xla_temp_mib"])
    if rec.get("tracemalloc_mib") is not None:
        return float(rec["tracemalloc_mib"])
    return rec.get("peak_mib")


def memory_targets(mem: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 5's memory targets from the memory group's records (ratios, one run)."""
    found = []
    grads = [r for r in mem if r.get("kind", "gradient") == "gradient"]
    lengths = sorted({r["length"] for r in grads})
    if len(lengths) < 2:
        return found
    short, long = lengths[0], lengths[-1]

    def add(title: str, limit: float, num: float | None, den: float | None) -> None:
        ratio, result = _judged(num, den, limit)
        found.append({"title": title, "limit": limit, "ratio": ratio, "result": result})

    signax = _find(grads, impl="signax", length=long)
    for impl, xla in (("ours-jax-auto", True), ("ours-torch-auto", False)):
        a, b = _find(grads, impl=impl, length=long), _find(grads, impl=impl, length=short)
        add(f"{impl} gradient peak L={long} / L={short}", 1.5, _peak(a, xla=xla), _peak(b, xla=xla))
        add(f"{impl} gradient peak L={long} / signax's", 0.5, _peak(a, xla=xla), _peak(signax, xla=xla))
    for impl in ("ours-numpy-chunked", "ours-jax-chunked"):
        rec = _find(mem, impl=impl, kind="forward")
        budget = (rec or {}).get("memory_budget")
        add(
            f"{impl} forward L={long} peak / memory_budget",
            1.2,
            _peak(rec, xla=True),
            budget / 2**20 if budget else None,
        )
    chunked = _find(mem, impl="ours-jax-chunked", kind="forward")
    sequential = _find(mem, impl="ours-jax-sequential", kind="forward")
    add(
        f"ours-jax forward L={long}: chunked time / sequential time",
        1.0,
        (chunked or {}).get("wall_s") if (chunked or {}).get("status") == "passed" else None,
        (sequential or {}).get("wall_s") if (sequential or {}).get("status") == "passed" else None,
    )
    return found


# --------------------------------------------------------------------------- notes


def notes_section(recs: list[dict[str, Any]]) -> str:
    out = []
    threads = {}
    for r in recs:
        if r.get("threads") and r.get("label"):
            threads.setdefault(r["label"].split(" [")[0], r["threads"])
    if threads:
        out.append("Threads: " + "; ".join(f"{k}: {v}" for k, v in threads.items()))
    notes = dict.fromkeys((r["label"], r["note"]) for r in recs if r.get("note") and r.get("label"))
    out += [f"Note, {label}: {note}" for label, note in notes]
    problems = {}
    for r in recs:
        if r.get("status") in ("skipped", "failed", "timeout"):
            key = (r.get("label", r["nodeid"]).split(" [")[0], r["status"], str(r.get("reason", ""))[:160])
            problems.setdefault(key, 0)
            problems[key] += 1
    for (label, status, reason), n in problems.items():
        out.append(f"{status} ({n}x) {label}: {reason}")
    return "\n".join(out)


# --------------------------------------------------------------------------- log-signature group

# (title, ours: (framework, op, mode), versus: an implementation key or ours (framework, op, mode), limit)
LOGSIG_TARGETS = (
    ("JAX brackets / iisignature logsig", ("jax", "logsignature", "brackets"), "iisignature", 1.0),
    ("NumPy brackets / iisignature logsig", ("numpy", "logsignature", "brackets"), "iisignature", 2.0),
    ("PyTorch brackets / iisignature logsig", ("torch", "logsignature", "brackets"), "iisignature", 2.0),
    ("PyTorch words / signatory logsignature", ("torch", "logsignature", "words"), "signatory", 1.0),
    ("JAX words / signax logsignature", ("jax", "logsignature", "words"), "signax", 0.5),
    *(
        (f"{name} {mode} / {name} signature", (fw, "logsignature", mode), (fw, "signature", None), 1.5)
        for fw, name in (("jax", "JAX"), ("numpy", "NumPy"), ("torch", "PyTorch"))
        for mode in ("brackets", "words")
    ),
)


def _best_ours(
    recs: list[dict[str, Any]], framework: str, op: str, mode: str | None
) -> dict[str, Any] | None:
    """Ours at its fastest method for (framework, op, mode)."""
    rows = [
        r
        for r in recs
        if r.get("family") == "ours"
        and (r.get("framework"), r.get("op"), r.get("mode")) == (framework, op, mode)
        and _timed(r) is not None
    ]
    return min(rows, key=_timed, default=None)


def logsignature_section(recs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The log-signature group's table (ratio to iisignature) and its targets."""
    log = [r for r in recs if r.get("group") == "logsignature"]
    if not log:
        return "", []
    iisig = _timed(_find(log, impl="iisignature"))
    rows = [[r.get("label", r["nodeid"]), _cell(r), _shown(_timed(r), iisig)] for r in log]
    first = log[0]
    shape = first.get("shape") or ["?", "?", "?"]
    out = [
        f"Log-signature, batch {shape[0]}, length {shape[1]}, channels {shape[2]}, depth "
        f"{first.get('depth')}, float64: median ms, and ratio to iisignature's logsig",
        _table(["implementation", "forward", "/ iisignature"], rows),
        "",
    ]
    found = []
    for title, ours_key, versus, limit in LOGSIG_TARGETS:
        ours = _best_ours(log, *ours_key)
        other = _best_ours(log, *versus) if isinstance(versus, tuple) else _find(log, impl=versus)
        ours_s, other_s = _timed(ours), _timed(other)
        if ours_s is None and other_s is None:
            continue
        ratio, result = _judged(ours_s, other_s, limit)
        found.append(
            {
                "title": title,
                "limit": limit,
                "ours_s": ours_s,
                "ours_method": ours.get("method") if ours else None,
                "vs_s": other_s,
                "ratio": ratio,
                "result": result,
            }
        )
    if found:
        out.append("Log-signature targets (ours at its best method)")
        table = [
            [
                f["title"],
                f"<= {f['limit']:g}x",
                _ms(f["ours_s"]) + (f" [{f['ours_method']}]" if f["ours_method"] else ""),
                _ms(f["vs_s"]),
                _ratio(f["ratio"]),
                f["result"],
            ]
            for f in found
        ]
        out.append(_table(["target", "limit", "ours ms", "vs ms", "ratio", "result"], table, align_left=2))
        out.append("")
    return "\n".join(out), found


# --------------------------------------------------------------------------- methods group

# ``method="auto"`` / the fastest method of the same framework, on every case of the grid.
AUTO_LIMIT = 1.2
# ``windowed_signature`` / iisignature's ``sig`` of the same windows stacked.
WINDOWED_LIMIT = 1.0


def methods_section(recs: list[dict[str, Any]], cases: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The methods group's tables: the method grid, windowed and dyadic signatures, with their targets."""
    rows_in = [r for r in recs if r.get("group") == "methods"]
    if not rows_in:
        return "", []
    out: list[str] = []
    found: list[dict[str, Any]] = []
    grid = [r for r in rows_in if r.get("table") == "grid"]
    if grid:
        out.append(
            f"Methods grid, forward, float64: median ms per method, and auto / fastest method "
            f"(target <= {AUTO_LIMIT:g}x)"
        )
        table = []
        for case in cases:
            for framework in ("numpy", "jax", "torch"):
                cells = {
                    m: _find(grid, case=case.name, framework=framework, method=m) for m in _impls.METHODS
                }
                if not any(cells.values()):
                    continue
                times = {m: _timed(c) for m, c in cells.items()}
                best = min((t for m, t in times.items() if m != "auto" and t is not None), default=None)
                auto = times.get("auto")
                ratio, result = _judged(auto, best, AUTO_LIMIT)
                found.append(
                    {
                        "table": "grid",
                        "case": case.name,
                        "framework": framework,
                        "limit": AUTO_LIMIT,
                        "ratio": ratio,
                        "result": result,
                    }
                )
                table.append(
                    [
                        f"{case.name} {case.batch}x{case.length}x{case.channels} N={case.depth}",
                        framework,
                        *(_cell(cells[m]) for m in _impls.METHODS),
                        _ratio(ratio) if result != ERROR else ERROR,
                        result,
                    ]
                )
        out.append(_table(["case", "framework", *_impls.METHODS, "auto/best", "result"], table, align_left=2))
        out.append("")
    windowed = [r for r in rows_in if r.get("table") == "windowed"]
    if windowed:
        first = windowed[0]
        out.append(
            f"Windowed signatures, {first.get('shape')} lead-lag, window {first.get('window')}, step "
            f"{first.get('step')}: median ms, and ratio to iisignature (target <= {WINDOWED_LIMIT:g}x)"
        )
        table = []
        for depth in sorted({r.get("depth") for r in windowed}):
            peer = _timed(_find(windowed, depth=depth, framework="iisignature"))
            for r in (w for w in windowed if w.get("depth") == depth):
                ratio, result = None, "-"
                if r.get("framework") != "iisignature":
                    ratio, result = _judged(_timed(r), peer, WINDOWED_LIMIT)
                    found.append(
                        {
                            "table": "windowed",
                            "depth": depth,
                            "framework": r.get("framework"),
                            "limit": WINDOWED_LIMIT,
                            "ratio": ratio,
                            "result": result,
                        }
                    )
                table.append(
                    [
                        str(depth),
                        r.get("label", r["nodeid"]),
                        _cell(r),
                        ERROR if result == ERROR else _ratio(ratio) if ratio is not None else "-",
                        result if ratio is not None or result == ERROR else "-",
                    ]
                )
        out.append(_table(["depth", "implementation", "ms", "/ iisignature", "result"], table, align_left=2))
        out.append("")
    dyadic = [r for r in rows_in if r.get("table") == "dyadic"]
    if dyadic:
        first = dyadic[0]
        level = int(first.get("dyadic_depth") or 0)
        limit = float(level + 1)
        out.append(
            f"Dyadic signatures, {first.get('shape')}, depth {first.get('depth')}, dyadic depth {level}: "
            f"median ms, and dyadic / whole-path signature (target <= {limit:g}x)"
        )
        table = []
        for framework in ("numpy", "jax", "torch"):
            dy = _find(dyadic, framework=framework, op="dyadic")
            whole = _find(dyadic, framework=framework, op="whole")
            if dy is None and whole is None:
                continue
            ratio, result = _judged(_timed(dy), _timed(whole), limit)
            found.append(
                {
                    "table": "dyadic",
                    "framework": framework,
                    "limit": limit,
                    "ratio": ratio,
                    "result": result,
                }
            )
            shown = _ratio(ratio) if result != ERROR else ERROR
            table.append([framework, _cell(dy), _cell(whole), shown, result])
        out.append(_table(["framework", "dyadic", "whole path", "ratio", "result"], table))
        out.append("")
    return "\n".join(out), found


# --------------------------------------------------------------------------- kernels group

# Gram matrices: ours / pySigLib (one thread) per framework; the MMD gradient / its forward.
KERNEL_GRAM_LIMITS = {"jax": 1.0, "torch": 2.0, "numpy": 3.0}
KERNEL_GRADIENT_LIMIT = 3.0


def kernels_section(recs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The kernels group's tables: each row against pySigLib, and the MMD gradient against its forward."""
    rows_in = [r for r in recs if r.get("group") == "kernels"]
    if not rows_in:
        return "", []
    out: list[str] = []
    found: list[dict[str, Any]] = []
    forward = [r for r in rows_in if r.get("table") == "forward"]
    if forward:
        out.append(
            "Signature kernels, float64, CPU: median ms, and ratio to pySigLib (n_jobs=1); Gram targets "
            + ", ".join(f"{k} <= {v:g}x" for k, v in KERNEL_GRAM_LIMITS.items())
        )
        table = []
        for case, order in sorted({(r.get("case"), r.get("order")) for r in forward}, key=str):
            peer = _timed(_find(forward, case=case, order=order, framework="pysiglib"))
            for framework in ("numpy", "jax", "torch", "pysiglib"):
                rec = _find(forward, case=case, order=order, framework=framework)
                if rec is None:
                    continue
                limit = KERNEL_GRAM_LIMITS.get(framework) if str(case).startswith("gram") else None
                ratio, verdict = None, "-"
                if framework != "pysiglib":
                    # No limit (not a Gram case): the ratio is shown, with no verdict unless ERROR.
                    ratio, verdict = _judged(_timed(rec), peer, math.inf if limit is None else limit)
                    if verdict != ERROR and (limit is None or ratio is None):
                        verdict = "-"
                if limit is not None:
                    found.append(
                        {
                            "case": case,
                            "order": order,
                            "framework": framework,
                            "limit": limit,
                            "ratio": ratio,
                            "result": verdict,
                        }
                    )
                shown = ERROR if verdict == ERROR else _ratio(ratio) if ratio else "-"
                table.append([f"{case} order {order}", framework, _cell(rec), shown, verdict])
        out.append(_table(["case", "framework", "ms", "/pySigLib", "result"], table, align_left=2))
        out.append("")
    mmd = [r for r in rows_in if r.get("table") == "mmd"]
    if mmd:
        out.append(f"sig_mmd gradient / forward (target <= {KERNEL_GRADIENT_LIMIT:g}x)")
        table = []
        for framework in ("jax", "torch"):
            fwd = _find(mmd, framework=framework, mode="forward")
            grad = _find(mmd, framework=framework, mode="gradient")
            if fwd is None and grad is None:
                continue
            ratio, verdict = _judged(_timed(grad), _timed(fwd), KERNEL_GRADIENT_LIMIT)
            found.append(
                {
                    "table": "mmd",
                    "framework": framework,
                    "limit": KERNEL_GRADIENT_LIMIT,
                    "ratio": ratio,
                    "result": verdict,
                }
            )
            shown = _ratio(ratio) if verdict != ERROR else ERROR
            table.append([framework, _cell(fwd), _cell(grad), shown, verdict])
        out.append(_table(["framework", "forward ms", "gradient ms", "ratio", "result"], table))
        out.append("")
    return "\n".join(out), found
