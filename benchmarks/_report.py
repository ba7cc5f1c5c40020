"""Tables and target ratios from a pytest-benchmark JSON and the outcome log."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from benchmarks import _impls

Rec = dict[str, Any]
# A ratio of a zero, negative or non-finite time (or peak) is a broken measurement: it gets no
# PASS or MISS, and ``python -m benchmarks`` exits non-zero.
ERROR = "ERROR"
_FWS = ("numpy", "jax", "torch")
_J, _P = "ours-jax-auto", "ours-torch-auto"  # in the memory targets
_FORWARDS = ("forward-eager", "forward-compiled")  # the Keras group's SigLayer calls
_STATUS = {"skipped": "skip", "failed": "FAIL", "timeout": "timeout"}


class Target(NamedTuple):
    """``ours / versus <= limit``; what ``ours`` and ``versus`` name is said per group below."""

    title: str
    ours: Any
    versus: Any
    limit: Any  # float; None where the code says (the dyadic one: its depth + 1)


T = Target
TARGETS: dict[str, tuple[Target, ...]] = {
    # per case: ours (framework, kind) at its fastest method / a peer (impl key), same kind
    "signature": (
        T("JAX jit forward / pySigLib forward", ("jax", "forward"), "pysiglib", 1.5),
        T("JAX jit forward / signax forward", ("jax", "forward"), "signax", 0.4),
        T("JAX gradient / signax gradient", ("jax", "gradient"), "signax", 1.0),
        T("JAX gradient / pySigLib sig+sig_backprop", ("jax", "gradient"), "pysiglib", 1.0),
        T("PyTorch eager forward / iisignature forward", ("torch", "forward"), "iisignature", 1.0),
        T("PyTorch autograd gradient / signatory gradient", ("torch", "gradient"), "signatory", 1.0),
        T("NumPy forward / iisignature forward", ("numpy", "forward"), "iisignature", 1.0),
    ),
    # per case, backward = gradient - forward medians: ours-<framework>-auto / its forward or a peer's
    "backward": (
        T("jax backward / forward", "jax", "forward", 3.0),
        T("torch backward / forward", "torch", "forward", 3.0),
        T("tensorflow backward / forward", "tensorflow", "forward", 3.0),
        T("torch backward / signatory backward", "torch", "signatory", 1.0),
    ),
    # per backend (and length, for "train"): ours / the best keras-sig 1.0.2 variant; task, measure
    "keras": (
        T("step", "train", "median_s", 0.5),
        T("first epoch (compile)", "train", "first_epoch_s", 1.0),
        T("SigLayer forward eager", "forward-eager", "median_s", 0.5),
        T("SigLayer forward compiled", "forward-compiled", "median_s", 0.5),
    ),
    # (impl, what): a gradient's peak at the "long"/"short" length, or a forward's peak/budget/time
    "memory": (
        T(f"{_J} gradient peak L={{long}} / L={{short}}", (_J, "long"), (_J, "short"), 1.5),
        T(f"{_J} gradient peak L={{long}} / signax's", (_J, "long"), ("signax", "long"), 0.5),
        T(f"{_P} gradient peak L={{long}} / L={{short}}", (_P, "long"), (_P, "short"), 1.5),
        T(f"{_P} gradient peak L={{long}} / signax's", (_P, "long"), ("signax", "long"), 0.5),
        *(
            T(f"{i} forward L={{long}} peak / memory_budget", (i, "peak"), (i, "budget"), 1.2)
            for i in ("ours-numpy-chunked", "ours-jax-chunked")
        ),
        T(
            "ours-jax forward L={long}: chunked time / sequential time",
            ("ours-jax-chunked", "time"),
            ("ours-jax-sequential", "time"),
            1.0,
        ),
    ),
    # ours (framework, op, mode) at its fastest method / a peer (impl key) or ours again
    "logsignature": (
        T("JAX brackets / iisignature logsig", ("jax", "logsignature", "brackets"), "iisignature", 1.0),
        T("NumPy brackets / iisignature logsig", ("numpy", "logsignature", "brackets"), "iisignature", 2.0),
        T("PyTorch brackets / iisignature logsig", ("torch", "logsignature", "brackets"), "iisignature", 2.0),
        T("PyTorch words / signatory logsignature", ("torch", "logsignature", "words"), "signatory", 1.0),
        T("JAX words / signax logsignature", ("jax", "logsignature", "words"), "signax", 0.5),
        *(
            T(f"{name} {mode} / {name} signature", (fw, "logsignature", mode), (fw, "signature", None), 1.5)
            for fw, name in (("jax", "JAX"), ("numpy", "NumPy"), ("torch", "PyTorch"))
            for mode in ("brackets", "words")
        ),
    ),
    "methods": (
        T("grid", "auto", "the fastest method, same framework and case", 1.2),
        T("windowed", "ours", "iisignature's sig of the stacked windows", 1.0),
        T("dyadic", "dyadic", "whole", None),  # limit: the dyadic depth + 1
    ),
    # Gram matrices, ours (framework) / pySigLib with n_jobs=1; the MMD gradient / its forward
    "kernels": (
        T("gram", "jax", "pysiglib", 1.0),
        T("gram", "torch", "pysiglib", 2.0),
        T("gram", "numpy", "pysiglib", 3.0),
        T("mmd", "gradient", "forward", 3.0),
    ),
}


_LIMIT = {t.title: t.limit for group in ("methods", "kernels") for t in TARGETS[group]}


def records(bench: dict[str, Any] | None, outcomes: Iterable[Rec]) -> list[Rec]:
    """One dict per test: its metadata, status and (when timed) median seconds."""
    by_id: dict[str, Rec] = {}
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
            rec |= {"median_s": stats["median"], "rounds": stats.get("rounds")}
    for rec in by_id.values():
        if rec.get("status") == "skipped" and str(rec.get("reason", "")).startswith("timeout"):
            rec["status"] = "timeout"
    return list(by_id.values())


def _where(recs: Iterable[Rec], **match: Any) -> list[Rec]:
    return [r for r in recs if all(r.get(k) == v for k, v in match.items())]


def _find(recs: Iterable[Rec], **match: Any) -> Rec | None:
    return next(iter(_where(recs, **match)), None)


def _value(rec: Rec | None, key: str = "median_s") -> Any:
    """``rec[key]`` of a passed record, else None."""
    return None if rec is None or rec.get("status") != "passed" else rec.get(key)


def _best(recs: list[Rec], key: str = "median_s", **match: Any) -> Rec | None:
    """The matching passed record with the smallest ``key``."""
    rows = [r for r in _where(recs, **match) if _value(r, key) is not None]
    return min(rows, key=lambda r: _value(r, key), default=None)


def _least(values: Iterable[Any]) -> Any:
    return min((v for v in values if v is not None), default=None)


class BadMeasurementError(ValueError):
    """A ratio was asked of a measurement that is zero, negative or not finite."""


def _quotient(num: float | None, den: float | None) -> float | None:
    """``num / den``; None if either is missing; BadMeasurementError if either is broken."""
    if not all(math.isfinite(v) and v > 0 for v in (num, den) if v is not None):
        msg = f"ratio {num!r} / {den!r}: both measurements must be positive and finite"
        raise BadMeasurementError(msg)
    return None if num is None or den is None else num / den


def _verdict(ratio: float | None, limit: float) -> str:
    if ratio is None:
        return "n/a"
    if not (math.isfinite(ratio) and ratio > 0):
        return ERROR  # a ratio of positive, finite measurements is positive and finite
    return "PASS" if ratio <= limit else "MISS"


def _judged(num: float | None, den: float | None, limit: float) -> tuple[float | None, str]:
    """(ratio, verdict) of ``num / den`` against ``limit``: ERROR for a broken measurement."""
    try:
        ratio = _quotient(num, den)
    except BadMeasurementError:
        return None, ERROR
    return ratio, _verdict(ratio, limit)


def _add(found: list[Rec], num: Any, den: Any, **fields: Any) -> tuple[float | None, str]:
    """Judge ``num / den`` against ``fields["limit"]``; append ``fields`` + ratio and result."""
    ratio, result = _judged(num, den, fields["limit"])
    found.append({**fields, "ratio": ratio, "result": result})
    return ratio, result


def errors(summary: dict[str, Any]) -> list[Rec]:
    """Every target row of ``summary`` (lists of dicts with a ``result``) whose verdict is ERROR."""
    rows = [row for rows in summary.values() if isinstance(rows, list) for row in rows]
    return [row for row in rows if isinstance(row, dict) and row.get("result") == ERROR]


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else _num(v * 1e3)


def _ratio(v: float | None, result: str = "") -> str:
    """A ratio's cell: ERROR when its verdict is, "n/a" when there is none."""
    return ERROR if result == ERROR else "n/a" if v is None else f"{v:.2f}x"


def _shown(num: float | None, den: float | None) -> str:
    """``num / den`` as a table cell (no verdict): "-" if absent, ERROR if broken."""
    ratio, result = _judged(num, den, math.inf)
    return "-" if ratio is None and result != ERROR else _ratio(ratio, result)


def _vs_peer(ratio: float | None, result: str, judged: bool = True) -> list[str]:
    """The ratio and verdict cells against a peer: "-" for what is missing or not judged."""
    if ratio is None and result != ERROR:
        return ["-", "-"]
    return [_ratio(ratio, result), result if judged or result == ERROR else "-"]


def _cell(rec: Rec | None) -> str:
    """A record's median in ms, else what became of it ("-": no record)."""
    if (value := _value(rec)) is not None:
        return _num(value * 1e3)
    return "-" if rec is None else _STATUS.get(rec.get("status", ""), "n/a")


def _table(title: str, header: list[str], rows: list[list[Any]], left: int = 1) -> list[str]:
    """A titled table (the first ``left`` columns flush left, the rest right) and a blank line."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    just = [str.ljust] * left + [str.rjust] * (len(header) - left)
    lines = [header, ["-" * w for w in widths], *rows]
    cells = ("  ".join(j(str(c), w) for j, c, w in zip(just, r, widths, strict=True)) for r in lines)
    return [title, "\n".join(line.rstrip() for line in cells), ""]


# The columns of the target tables: a header and the cell it shows of a target row (else its field).
COLUMNS: dict[str, Callable[[Rec], str]] = {
    "target": lambda r: r["title"],
    "limit": lambda r: f"<= {r['limit']:g}x",
    "ours ms": lambda r: _ms(r["ours_s"]) + (f" [{r['ours_method']}]" if r.get("ours_method") else ""),
    "peer ms": lambda r: _ms(r["peer_s"]),
    "vs ms": lambda r: _ms(r["vs_s"]),
    "ratio": lambda r: _ratio(r["ratio"], r["result"]),
    "auto ratio": lambda r: _ratio(r["ratio_auto"], r["result_auto"]),
    "1.0.2 best": lambda r: r["legacy_best"] or "n/a",
    "measured": lambda r: _ratio(r["ratio"]),
}


def _targets(title: str, found: list[Rec], headers: str, left: int = 2, **cells: Any) -> list[str]:
    """Target rows ``found`` in the COLUMNS named by ``headers`` ("|"-separated), or ``cells``' own."""
    names = headers.split("|")
    columns = [cells.get(h.replace(" ", "_"), COLUMNS.get(h, lambda r, h=h: r[h])) for h in names]
    return _table(title, names, [[f(r) for f in columns] for r in found], left) if found else []


def _versus(found: list[Rec], recs: list[Rec], title: str, key: str, heads: dict, **how: Any) -> list[str]:
    """Per framework, the records whose ``key`` is each of ``heads`` and their judged ratio (``flip``ped)."""
    rows = []
    for fw in how.get("frameworks", _FWS):
        pair = [_find(recs, framework=fw, **{key: v}) for v in heads]
        if any(pair):
            num, den = (_value(r) for r in (pair[::-1] if how.get("flip") else pair))
            ratio, result = _add(found, num, den, table=how["table"], framework=fw, limit=how["limit"])
            rows.append([fw, *map(_cell, pair), _ratio(ratio, result), result])
    return _table(title, ["framework", *heads.values(), "ratio", "result"], rows)


def signature_section(recs: list[Rec], cases: list[Any]) -> tuple[str, list[Rec]]:
    """Per case, each implementation's medians and ratios to the fastest peer; the targets."""
    if not (sig := _where(recs, group="signature")):
        return "", []
    index = {(r.get("case"), r.get("impl"), r.get("kind")): r for r in sig}
    peers = [i.key for i in _impls.ALL if i.family != "ours"]  # keras-sig 1.0.2 included
    out, header = [], ["implementation", "forward", "gradient", "fwd / fastest", "grad / fastest"]
    for case in (c for c in cases if _find(sig, case=c.name)):
        fastest = [_least(_value(index.get((case.name, i, k))) for i in peers) for k in _impls.KINDS]
        rows = []
        for impl in _impls.ALL:
            pair = [index.get((case.name, impl.key, kind)) for kind in _impls.KINDS]
            cells = [*map(_cell, pair), *(_shown(_value(r), f) for r, f in zip(pair, fastest, strict=True))]
            if "gradient" not in impl.kinds:
                cells[1] = cells[3] = "-"
            rows += [[impl.label, *cells]] if any(pair) else []
        title = f"Signature, {case.describe()}: median ms, and ratio to the fastest peer library"
        out += _table(title, header, rows)
    ratios = signature_ratios(sig, [c.name for c in cases])
    title = "Targets (ours at its best method / peer; 'auto' = ours with method='auto')"
    out += _targets(title, ratios, "case|target|limit|ours ms|peer ms|ratio|auto ratio|result")
    title = "Backward targets (backward = gradient - forward medians, method='auto')"
    backward = backward_ratios(sig, [c.name for c in cases])
    out += _targets(title, backward, "case|target|limit|ours ms|vs ms|ratio|result")
    return "\n".join(out), ratios


def signature_ratios(sig: list[Rec], case_names: list[str]) -> list[Rec]:
    """Per case, ours at its fastest method (and with method='auto') / a peer library."""
    found = []
    for case, t in ((case, t) for case in case_names for t in TARGETS["signature"]):
        ours = {"case": case, "family": "ours", "framework": t.ours[0], "kind": t.ours[1]}
        best, auto = _best(sig, **ours), _best(sig, **ours, method="auto")
        peer_s, best_s = _value(_find(sig, case=case, impl=t.versus, kind=t.ours[1])), _value(best)
        if best_s is None and peer_s is None:
            continue  # neither side ran (filtered out, skipped): no row
        ratio, result = _judged(best_s, peer_s, t.limit)
        ratio_auto, result_auto = _judged(_value(auto), peer_s, t.limit)
        row = {"case": case, "title": t.title, "limit": t.limit, "ours_s": best_s}
        row |= {"ours_method": best.get("method") if best else None, "peer": t.versus, "peer_s": peer_s}
        row |= {"ratio": ratio, "ratio_auto": ratio_auto, "result_auto": result_auto}
        found.append(row | {"result": ERROR if ERROR in (result, result_auto) else result})
    return found


def backward_ratios(sig: list[Rec], case_names: list[str]) -> list[Rec]:
    """Issue 5's speed targets: backward <= 3x forward (same backend); torch backward <= signatory's."""

    def backward(case: str, impl: str) -> tuple[Any, Any]:  # gradient - forward medians, forward
        fwd, grad = (_value(_find(sig, case=case, impl=impl, kind=k)) for k in _impls.KINDS)
        return (grad - fwd if grad is not None and fwd is not None else None), fwd

    found: list[Rec] = []
    for case, t in ((case, t) for case in case_names for t in TARGETS["backward"]):
        bwd, fwd = backward(case, f"ours-{t.ours}-auto")
        vs = fwd if t.versus == "forward" else backward(case, t.versus)[0]
        if bwd is not None and vs is not None:
            _add(found, bwd, vs, case=case, title=t.title, limit=t.limit, ours_s=bwd, vs_s=vs)
    return found


def keras_section(recs: list[Rec], lengths: tuple[int, ...]) -> tuple[str, list[Rec]]:
    """Per backend, each layer's medians (first epoch: one run, s); ours / keras-sig 1.0.2's best."""
    ker = _where(recs, group="keras")
    out: list[str] = []
    ratios: list[Rec] = []
    header = ["layer", *(f"L={n} {what}" for n in lengths for what in ("1st epoch s", "step ms"))]
    targets = [(t, n) for t in TARGETS["keras"] for n in (lengths if t.ours == "train" else (None,))]
    for backend in (b for b in ("jax", "tensorflow", "torch") if _find(ker, backend=b)):
        mine, rows = _where(ker, backend=backend), []
        for label in dict.fromkeys(r["label"] for r in mine):
            cells = [label]
            for rec in (_find(mine, label=label, task="train", length=n) for n in lengths):
                first = _value(rec, "first_epoch_s")
                cells += [_num(first) if first is not None else _cell(rec), _cell(rec)]
            rows.append(cells + [_cell(_find(mine, label=label, task=t)) for t in _FORWARDS])
        title = f"Keras layer, backend {backend}: median ms (first epoch: one run, s)"
        out += _table(title, [*header, "fwd eager ms", "fwd compiled ms"], rows)
        for t, length in targets:
            match = {"task": t.ours} | ({} if length is None else {"length": length})
            ours_v = _value(_find(mine, family="ours", **match), t.versus)
            best = _best(mine, t.versus, family="legacy", **match)
            if ours_v is None and _value(best, t.versus) is None:
                continue  # neither side ran (filtered out, skipped): no row
            title = t.title + (f" L={length}" if length is not None else "")
            legacy_best = best.get("label", "").removeprefix("keras-sig 1.0.2 ") if best else None
            legacy = _value(best, t.versus)
            row = {"backend": backend, "title": title, "limit": t.limit, "ours": ours_v, "legacy": legacy}
            _add(ratios, ours_v, legacy, **row, legacy_best=legacy_best)
    title = "Keras targets (ours / best keras-sig 1.0.2 variant)"
    out += _targets(title, ratios, "backend|target|limit|ratio|1.0.2 best|result", ratio=COLUMNS["measured"])
    return "\n".join(out), ratios


def memory_section(recs: list[Rec]) -> str:
    """The memory group's table (peak MiB per implementation and length) and its targets."""
    if not (mem := _where(recs, group="memory")):
        return ""
    grads = [r for r in mem if r.get("kind", "gradient") == "gradient"]
    lengths = sorted({r["length"] for r in grads})
    rows = []
    for label in dict.fromkeys(r["label"] for r in grads):
        row = [label]
        for rec in (_find(grads, label=label, length=length) for length in lengths):
            if rec is None or _value(rec, "peak_mib") is None:
                row.append(_cell(rec))
                continue
            text = _num(rec["peak_mib"])
            text += f" (XLA {_num(rec['xla_temp_mib'])})" if rec.get("xla_temp_mib") is not None else ""
            row.append(text if rec.get("peak_reset", True) else ">= " + text)
        rows.append(row)
    shape = mem[0].get("shape") or ["?", "?", "?"]
    title = f"Memory: peak RSS MiB of one gradient, batch {shape[0]}, channels {shape[2]}, depth "
    title += f"{mem[0].get('depth')}, float64 (XLA: its temp-buffer estimate)"
    out = _table(title, ["implementation"] + [f"L={n}" for n in lengths], rows)
    limit = lambda r: _num(r["limit"])  # noqa: E731
    out += _targets("Memory targets", memory_targets(mem), "target|limit|measured|result", 1, limit=limit)
    return "\n".join(out)


def memory_targets(mem: list[Rec]) -> list[Rec]:
    """Issue 5's memory targets from the memory group's records (ratios, one run)."""
    grads = [r for r in mem if r.get("kind", "gradient") == "gradient"]
    lengths = sorted({r["length"] for r in grads})
    if len(lengths) < 2:
        return []
    at = {"short": lengths[0], "long": lengths[-1]}

    def measure(impl: str, what: str, *, xla: bool) -> Any:
        """A gradient's or a forward's peak (MiB: XLA's temporaries if ``xla``, else RSS or tracemalloc)."""
        rec = (
            _find(grads, impl=impl, length=at[what]) if what in at else _find(mem, impl=impl, kind="forward")
        )
        if what in ("budget", "time"):
            budget = (rec or {}).get("memory_budget")
            return (budget / 2**20 if budget else None) if what == "budget" else _value(rec, "wall_s")
        if rec is None or rec.get("status") != "passed":
            return None
        keys = ("xla_temp_mib", "tracemalloc_mib") if xla or what == "peak" else ("tracemalloc_mib",)
        return next((float(rec[k]) for k in keys if rec.get(k) is not None), rec.get("peak_mib"))

    found: list[Rec] = []
    for t in TARGETS["memory"]:
        xla = not t.ours[0].startswith("ours-torch")  # XLA's estimate, not RSS, wherever there is one
        _add(
            found,
            measure(*t.ours, xla=xla),
            measure(*t.versus, xla=xla),
            title=t.title.format(**at),
            limit=t.limit,
        )
    return found


def notes_section(recs: list[Rec]) -> str:
    """The threads each implementation ran on, its notes, and what was skipped, failed or timed out."""
    threads: dict[str, Any] = {}
    for r in recs:
        if r.get("threads") and r.get("label"):
            threads.setdefault(r["label"].split(" [")[0], r["threads"])
    out = ["Threads: " + "; ".join(f"{k}: {v}" for k, v in threads.items())] if threads else []
    notes = dict.fromkeys((r["label"], r["note"]) for r in recs if r.get("note") and r.get("label"))
    out += [f"Note, {label}: {note}" for label, note in notes]
    problems: dict[tuple[str, str, str], int] = {}
    for r in (r for r in recs if r.get("status") in ("skipped", "failed", "timeout")):
        label: str = r["label"] if "label" in r else r["nodeid"]
        key = (label.split(" [", maxsplit=1)[0], r["status"], str(r.get("reason", ""))[:160])
        problems[key] = problems.get(key, 0) + 1
    out += [f"{status} ({n}x) {label}: {reason}" for (label, status, reason), n in problems.items()]
    return "\n".join(out)


def logsignature_section(recs: list[Rec]) -> tuple[str, list[Rec]]:
    """The log-signature group's table (ratio to iisignature) and its targets."""
    if not (log := _where(recs, group="logsignature")):
        return "", []
    iisig = _value(_find(log, impl="iisignature"))
    rows = [[r.get("label", r["nodeid"]), _cell(r), _shown(_value(r), iisig)] for r in log]
    shape = log[0].get("shape") or ["?", "?", "?"]
    title = f"Log-signature, batch {shape[0]}, length {shape[1]}, channels {shape[2]}, depth "
    title += f"{log[0].get('depth')}, float64: median ms, and ratio to iisignature's logsig"
    out = _table(title, ["implementation", "forward", "/ iisignature"], rows)
    keys = ("framework", "op", "mode")
    ours_of = lambda spec: _best(log, family="ours", **dict(zip(keys, spec, strict=True)))  # noqa: E731
    found: list[Rec] = []
    for t in TARGETS["logsignature"]:
        ours = ours_of(t.ours)
        ours_s = _value(ours)
        vs_s = _value(ours_of(t.versus) if isinstance(t.versus, tuple) else _find(log, impl=t.versus))
        if ours_s is not None or vs_s is not None:
            row = {"title": t.title, "limit": t.limit, "ours_s": ours_s}
            _add(found, ours_s, vs_s, **row, ours_method=ours.get("method") if ours else None, vs_s=vs_s)
    title = "Log-signature targets (ours at its best method)"
    out += _targets(title, found, "target|limit|ours ms|vs ms|ratio|result", ratio=COLUMNS["measured"])
    return "\n".join(out), found


def methods_section(recs: list[Rec], cases: list[Any]) -> tuple[str, list[Rec]]:
    """The methods group's tables: the method grid, windowed and dyadic signatures, with their targets."""
    rows_in, out = _where(recs, group="methods"), []
    found: list[Rec] = []
    table: list[list[Any]] = []
    if grid := _where(rows_in, table="grid"):
        limit, table = _LIMIT["grid"], []
        for case, fw in ((case, fw) for case in cases for fw in _FWS):
            cells = {m: _find(grid, case=case.name, framework=fw, method=m) for m in _impls.METHODS}
            if not any(cells.values()):
                continue
            times = {m: _value(c) for m, c in cells.items()}
            row = {"table": "grid", "case": case.name, "framework": fw, "limit": limit}
            best = _least(t for m, t in times.items() if m != "auto")
            ratio, result = _add(found, times["auto"], best, **row)
            name = f"{case.name} {case.batch}x{case.length}x{case.channels} N={case.depth}"
            table.append([name, fw, *map(_cell, cells.values()), _ratio(ratio, result), result])
        title = "Methods grid, forward, float64: median ms per method, and auto / fastest method "
        title += f"(target <= {limit:g}x)"
        out += _table(title, ["case", "framework", *_impls.METHODS, "auto/best", "result"], table, 2)
    if windowed := _where(rows_in, table="windowed"):
        first, limit, table = windowed[0], _LIMIT["windowed"], []
        depths: set[Any] = {r.get("depth") for r in windowed}
        for depth in sorted(depths):
            peer = _value(_find(windowed, depth=depth, framework="iisignature"))
            for r in _where(windowed, depth=depth):
                ratio, result = None, "-"
                if r.get("framework") != "iisignature":
                    row = {
                        "table": "windowed",
                        "depth": depth,
                        "framework": r.get("framework"),
                        "limit": limit,
                    }
                    ratio, result = _add(found, _value(r), peer, **row)
                table.append([str(depth), r.get("label", r["nodeid"]), _cell(r), *_vs_peer(ratio, result)])
        title = f"Windowed signatures, {first.get('shape')} lead-lag, window {first.get('window')}, step "
        title += f"{first.get('step')}: median ms, and ratio to iisignature (target <= {limit:g}x)"
        out += _table(title, ["depth", "implementation", "ms", "/ iisignature", "result"], table, 2)
    if dyadic := _where(rows_in, table="dyadic"):
        first = dyadic[0]
        level = int(first.get("dyadic_depth") or 0)
        title = f"Dyadic signatures, {first.get('shape')}, depth {first.get('depth')}, dyadic depth {level}: "
        title += f"median ms, and dyadic / whole-path signature (target <= {level + 1.0:g}x)"
        heads = {"dyadic": "dyadic", "whole": "whole path"}
        out += _versus(found, dyadic, title, "op", heads, table="dyadic", limit=float(level + 1))
    return "\n".join(out), found


def kernels_section(recs: list[Rec]) -> tuple[str, list[Rec]]:
    """The kernels group's tables: each row against pySigLib, and the MMD gradient against its forward."""
    rows_in = _where(recs, group="kernels")
    out: list[str] = []
    found: list[Rec] = []
    if forward := _where(rows_in, table="forward"):
        gram = {t.ours: t.limit for t in TARGETS["kernels"] if t.title == "gram"}
        table = []
        for case, order in sorted({(r.get("case"), r.get("order")) for r in forward}, key=str):
            peer = _value(_find(forward, case=case, order=order, framework="pysiglib"))
            for fw in (*_FWS, "pysiglib"):
                if (rec := _find(forward, case=case, order=order, framework=fw)) is None:
                    continue
                limit = gram.get(fw) if str(case).startswith("gram") else None
                # No limit (not a Gram case): the ratio is shown, with no verdict unless ERROR.
                ratio, result = None, "-"
                if fw != "pysiglib":
                    ratio, result = _judged(_value(rec), peer, math.inf if limit is None else limit)
                shown, verdict = _vs_peer(ratio, result, judged=limit is not None)
                if limit is not None:
                    row = {"case": case, "order": order, "framework": fw, "limit": limit}
                    found.append(row | {"ratio": ratio, "result": verdict})
                table.append([f"{case} order {order}", fw, _cell(rec), shown, verdict])
        title = "Signature kernels, float64, CPU: median ms, and ratio to pySigLib (n_jobs=1); Gram targets "
        title += ", ".join(f"{k} <= {v:g}x" for k, v in gram.items())
        out += _table(title, ["case", "framework", "ms", "/pySigLib", "result"], table, 2)
    if mmd := _where(rows_in, table="mmd"):
        limit = _LIMIT["mmd"]
        title = f"sig_mmd gradient / forward (target <= {limit:g}x)"
        heads = {"forward": "forward ms", "gradient": "gradient ms"}
        how = {"table": "mmd", "limit": limit, "frameworks": ("jax", "torch"), "flip": True}
        out += _versus(found, mmd, title, "mode", heads, **how)
    return "\n".join(out), found
