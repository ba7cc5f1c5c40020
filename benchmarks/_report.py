"""Tables and target ratios from a pytest-benchmark JSON and the outcome log.

Every table and target is data (``TABLES``, ``TARGETS``), drawn by :func:`_pivot` and judged by
:func:`_evaluate`. A spec ``"field=pattern|pattern ..."`` picks the records whose fields, as
text, match one of their fnmatch patterns; names of fields are space-separated too.
"""

from __future__ import annotations

import glob
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from benchmarks import _impls

Rec = dict[str, Any]
# A ratio of a zero, negative or non-finite time (or peak) is a broken measurement: it gets no
# PASS or MISS, and ``python -m benchmarks`` exits non-zero.
ERROR = "ERROR"
_STATUS = {"skipped": "skip", "failed": "FAIL", "timeout": "timeout"}
_UNITS = {"median_s": ("ms", 1e3), "wall_s": ("ms", 1e3), "first_epoch_s": ("s", 1.0)}  # else MiB


class Table(NamedTuple):
    """Per value of ``per``, a row per value of ``rows`` and a column of ``key`` per value of ``cols``."""

    title: str  # formatted with the table's first record
    match: str  # a spec
    rows: str
    cols: str = ""  # "": one column
    per: str = ""
    key: str = "median_s"
    versus: tuple[str, ...] = ()  # (header, spec, fields): after each column, the ratio of its
    # record to the least of the spec's records that share those fields with it


class Target(NamedTuple):
    """``ours / versus <= limit`` per value of ``per``: the least value of each side's records."""

    title: str  # formatted with the fields of ``per``, and so are the specs
    limit: float | Callable[[Rec], float]  # of the fields of ``per``
    per: str
    ours: str  # a spec; of several records, "ours at its best method" and the like
    versus: str
    key: str = "median_s"  # a record's value: the first of these fields it has


T = Target
_SHAPE = "{shape[0]}x{shape[1]}x{shape[2]} (batch x length x channels), depth {depth}, float64"
_GRADIENTS = "kind=gradient|None"  # a memory record without a kind is a gradient's
_XLA, _RSS = "xla_temp_mib tracemalloc_mib peak_mib", "tracemalloc_mib peak_mib"  # XLA's estimate on JAX
_GRAM = "table=forward case=gram*"
_NAMES = {"numpy": "NumPy", "jax": "JAX", "torch": "PyTorch"}
# fmt: off
TABLES: dict[str, tuple[Table, ...]] = {
    "signature": (
        Table(f"Signature, {{case}}, {_SHAPE}: median ms", "kind=forward|gradient", "label", "kind", "case",
              versus=("/ fastest peer", "family=peer|legacy", "case kind")),
    ),
    "keras": (
        Table("Keras layer, training step, batch {batch}: median ms", "task=train", "backend label",
              "length"),
        Table("Keras layer, first epoch (compiling): one run, s", "task=train", "backend label", "length",
              key="first_epoch_s"),
        Table("Keras layer, SigLayer forward {shape}: median ms", "task=forward-*", "backend label", "task"),
    ),
    "memory": (
        Table("Memory: peak RSS MiB of one gradient, batch {shape[0]}, channels {shape[2]}, depth {depth}",
              _GRADIENTS, "label", "length", key="peak_mib"),
        Table("Memory: XLA's estimate of their temporary buffers, MiB",
              f"{_GRADIENTS} impl=ours-jax-*|signax", "label", "length", key="xla_temp_mib"),
    ),
    "logsignature": (
        Table(f"Log-signature, {{case}}, {_SHAPE}: median ms", "", "label", per="case",
              versus=("/ iisignature logsig", "impl=iisignature", "case")),
    ),
    "methods": (
        Table("Methods grid, forward, float64: median ms", "table=grid", "case shape depth framework",
              "method"),
        Table("Windowed signatures, {shape} lead-lag, window {window}, step {step}: median ms",
              "table=windowed", "label", "depth", versus=("/ iisignature", "framework=iisignature", "depth")),
        Table("Dyadic signatures, {shape}, depth {depth}, dyadic depth {dyadic_depth}: median ms",
              "table=dyadic", "framework", "op"),
    ),
    "kernels": (
        Table("Signature kernels, float64, CPU: median ms", "table=forward", "case order framework",
              versus=("/ pySigLib (n_jobs=1)", "framework=pysiglib", "case order")),
        Table("sig_mmd: median ms", "table=mmd", "case framework", "mode"),
    ),
}
TARGETS: dict[tuple[str, str, str], tuple[Target, ...]] = {  # (group, list, heading): the list
    ("signature", "signature", "Targets (ours at its best method / peer; auto: ours with method='auto')"):
    tuple(
        T(title, limit, "case", f"family=ours framework={fw} kind={kind}", f"impl={peer} kind={kind}")
        for title, fw, kind, peer, limit in (
            ("JAX jit forward / pySigLib forward", "jax", "forward", "pysiglib", 1.5),
            ("JAX jit forward / signax forward", "jax", "forward", "signax", 0.4),
            ("JAX gradient / signax gradient", "jax", "gradient", "signax", 1.0),
            ("JAX gradient / pySigLib sig+sig_backprop", "jax", "gradient", "pysiglib", 1.0),
            ("PyTorch eager forward / iisignature forward", "torch", "forward", "iisignature", 1.0),
            ("PyTorch autograd gradient / signatory gradient", "torch", "gradient", "signatory", 1.0),
            ("NumPy forward / iisignature forward", "numpy", "forward", "iisignature", 1.0),
        )
    ),
    ("signature", "backward", "Backward targets (backward = gradient - forward medians, method='auto')"): (
        *(T(f"{fw} backward / forward", 3.0, "case", f"impl=ours-{fw}-auto kind=backward",
            f"impl=ours-{fw}-auto kind=forward") for fw in ("jax", "torch", "tensorflow")),
        T("torch backward / signatory backward", 1.0, "case", "impl=ours-torch-auto kind=backward",
          "impl=signatory kind=backward"),
    ),
    ("keras", "keras", "Keras targets (ours / the best keras-sig 1.0.2 variant)"): tuple(
        T(title, limit, per, f"task={task} family=ours", f"task={task} family=legacy", key)
        for title, limit, per, task, key in (
            ("step L={length}", 0.5, "backend length", "train", "median_s"),
            ("first epoch (compile) L={length}", 1.0, "backend length", "train", "first_epoch_s"),
            ("SigLayer forward eager", 0.5, "backend", "forward-eager", "median_s"),
            ("SigLayer forward compiled", 0.5, "backend", "forward-compiled", "median_s"),
        )
    ),
    ("memory", "memory", "Memory targets (MiB: XLA's estimate if there is one, else tracemalloc's or RSS)"): (
        *(T(f"{i} gradient peak L={{long}} / {vs}", limit, "short long", f"impl={i} length={{long}}",
            versus, key)
          for i, key in (("ours-jax-auto", _XLA), ("ours-torch-auto", _RSS))
          for vs, limit, versus in (("L={short}", 1.5, f"impl={i} length={{short}}"),
                                    ("signax's", 0.5, "impl=signax length={long}"))),
        *(T(f"{i} forward L={{long}} peak / memory_budget", 1.2, "long", f"impl={i} kind=forward",
            f"impl={i} kind=budget", f"budget_mib {_XLA}")
          for i in ("ours-numpy-chunked", "ours-jax-chunked")),
        T("ours-jax forward L={long}: chunked time / sequential time", 1.0, "long",
          "impl=ours-jax-chunked kind=forward", "impl=ours-jax-sequential kind=forward", "wall_s"),
    ),
    ("logsignature", "logsignature", "Log-signature targets (ours at its best method)"): tuple(
        T(title, limit, "case", f"family=ours framework={fw} op=logsignature mode={mode}", versus)
        for title, fw, mode, versus, limit in (
            ("JAX brackets / iisignature logsig", "jax", "brackets", "impl=iisignature", 1.0),
            ("NumPy brackets / iisignature logsig", "numpy", "brackets", "impl=iisignature", 2.0),
            ("PyTorch brackets / iisignature logsig", "torch", "brackets", "impl=iisignature", 2.0),
            ("PyTorch words / signatory logsignature", "torch", "words", "impl=signatory", 1.0),
            ("JAX words / signax logsignature", "jax", "words", "impl=signax", 0.5),
            *((f"{name} {mode} / {name} signature", fw, mode, f"family=ours framework={fw} op=signature", 1.5)
              for fw, name in _NAMES.items() for mode in ("brackets", "words")),
        )
    ),
    ("methods", "methods", "Methods targets"): (
        T("auto / the fastest other method", 1.2, "case framework", "table=grid method=auto",
          "table=grid method=sequential|parallel|chunked"),
        *(T(f"{fw} windowed / iisignature's sig of the stacked windows", 1.0, "depth",
            f"table=windowed framework={fw}", "table=windowed framework=iisignature") for fw in _NAMES),
        T("dyadic / whole-path signature", lambda at: at["dyadic_depth"] + 1.0, "framework dyadic_depth",
          "table=dyadic op=dyadic", "table=dyadic op=whole"),
    ),
    ("kernels", "kernels", "Kernel targets"): (
        *(T(f"{fw} Gram / pySigLib Gram (n_jobs=1)", limit, "case order", f"{_GRAM} framework={fw}",
            f"{_GRAM} framework=pysiglib") for fw, limit in (("jax", 1.0), ("torch", 2.0), ("numpy", 3.0))),
        T("sig_mmd gradient / forward", 3.0, "case framework", "table=mmd mode=gradient",
          "table=mmd mode=forward"),
    ),
}
# fmt: on


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


def _where(recs: Iterable[Rec], spec: str = "", **exact: Any) -> list[Rec]:
    """The records that match ``spec`` and whose fields named in ``exact`` read as its values."""
    words = [w.split("=", 1) for w in spec.split()] + [[f, glob.escape(str(v))] for f, v in exact.items()]
    return [
        r for r in recs if all(any(fnmatchcase(str(r.get(f)), p) for p in ps.split("|")) for f, ps in words)
    ]


def _groups(recs: Iterable[Rec], fields: list[str]) -> dict[tuple[Any, ...], list[Rec]]:
    """``recs`` by their values of ``fields`` (a list as a tuple), in order of first appearance."""
    out: dict[tuple[Any, ...], list[Rec]] = {}
    for r in recs:
        key = tuple(tuple(v) if isinstance(v := r.get(f), list) else v for f in fields)
        out.setdefault(key, []).append(r)
    return out


def _value(rec: Rec | None, keys: Iterable[str]) -> Any:
    """The first of ``keys`` a passed record has, else None."""
    if rec is None or rec.get("status") != "passed":
        return None
    return next((rec[k] for k in keys if rec.get(k) is not None), None)


def _least(recs: Iterable[Rec], keys: Iterable[str]) -> tuple[Any, Rec | None]:
    """The least value of ``recs`` and its record; a broken value first (its ratios are ERROR)."""
    valued = [(v, r) for r in recs if (v := _value(r, keys)) is not None]
    return min(valued, key=lambda vr: vr[0] if 0 < vr[0] < math.inf else -math.inf, default=(None, None))


def _judged(num: float | None, den: float | None, limit: float) -> tuple[float | None, str]:
    """(ratio, verdict) of ``num / den``: ERROR if either is broken, n/a if either is missing."""
    if not all(0 < v < math.inf for v in (num, den) if v is not None):  # so is NaN
        return None, ERROR
    if num is None or den is None:
        return None, "n/a"
    ratio = num / den
    return ratio, ERROR if not 0 < ratio < math.inf else "PASS" if ratio <= limit else "MISS"


def errors(summary: dict[str, Any]) -> list[Rec]:
    """Every target row of ``summary`` (lists of dicts with a ``result``) whose verdict is ERROR."""
    rows = [row for rows in summary.values() if isinstance(rows, list) for row in rows]
    return [row for row in rows if isinstance(row, dict) and row.get("result") == ERROR]


def _prepared(group: str, recs: Iterable[Rec]) -> list[Rec]:
    """Copies of ``group``'s records, and what its targets compare: a signature's backward (gradient
    - forward), a memory forward's budget (MiB), the memory gradients' shortest and longest length."""
    recs = [dict(r) for r in recs if r.get("group") == group]
    for pair in _groups(recs, ["case", "impl"]).values() if group == "signature" else ():
        fwd, grad = (_value(next(iter(_where(pair, kind=k)), None), ["median_s"]) for k in _impls.KINDS)
        if fwd is not None and grad is not None:
            recs.append(pair[0] | {"kind": "backward", "status": "passed", "median_s": grad - fwd})
    if group == "memory":
        budgets = [r for r in recs if r.get("memory_budget")]
        recs += [r | {"kind": "budget", "budget_mib": r["memory_budget"] / 2**20} for r in budgets]
        lengths = sorted({r["length"] for r in _where(recs, _GRADIENTS) if r.get("length") is not None})
        for r in recs if len(lengths) > 1 else ():
            r |= {"short": lengths[0], "long": lengths[-1]}
    return recs


def _evaluate(targets: Iterable[Target], recs: list[Rec]) -> list[Rec]:
    """A row per target and value of its ``per`` fields for which either side has records."""
    found = []
    for t in targets:
        per, keys = t.per.split(), t.key.split()
        unit, scale = _UNITS.get(keys[-1], ("MiB", 1.0))
        for values in (v for v in _groups(recs, per) if None not in v):
            at = dict(zip(per, values, strict=True))
            specs = {"ours": t.ours.format(**at), "versus": t.versus.format(**at)}
            sides = {side: _where(recs, spec, **at) for side, spec in specs.items()}
            if not any(sides.values()):
                continue
            least = {side: _least(candidates, keys) for side, candidates in sides.items()}
            limit = t.limit(at) if callable(t.limit) else t.limit
            ratio, result = _judged(least["ours"][0], least["versus"][0], limit)
            named = [w.split("=") for w in t.ours.split() if not set(w) & set("*?[|{")]  # name the row too
            row = {"title": t.title.format(**at), **at, **dict(named), "limit": limit, "unit": unit}
            for side, (value, rec) in least.items():
                row[side] = None if value is None else value * scale
                if rec is not None and len(sides[side]) > 1:  # which of several was the least
                    row[f"{side}_best"] = rec.get("method") or rec.get("label")
            if len(sides["ours"]) > 1 and (auto := _where(sides["ours"], method="auto")):  # users' default
                row["ratio_auto"], row["result_auto"] = _judged(
                    _value(auto[0], keys), least["versus"][0], limit
                )
                result = ERROR if row["result_auto"] == ERROR else result
            found.append(row | {"ratio": ratio, "result": result})
    return found


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def _text(value: Any, field: str = "") -> str:
    """A value as a table cell or header: a shape as 8x16x5, a number after its field's name."""
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return "-" if value is None else str(value) if isinstance(value, str) or not field else f"{field} {value}"


def _shown(ratio: float | None, result: str) -> str:
    return ERROR if result == ERROR else "n/a" if ratio is None else f"{ratio:.2f}x"


def _cell(rec: Rec | None, key: str) -> str:
    """A record's value (in the unit of ``_UNITS``), else what became of it ("-": no record)."""
    if rec is None or (value := _value(rec, [key])) is None:
        return "-" if rec is None else _STATUS.get(rec.get("status", ""), "n/a")
    if isinstance(value, str):  # a target table's
        return value
    lower = ">= " if key == "peak_mib" and rec.get("peak_reset") is False else ""  # its mark not reset
    return lower + _num(value * _UNITS.get(key, ("MiB", 1.0))[1])


def _table(title: str, header: list[str], rows: list[list[Any]], left: int = 1) -> list[str]:
    """A titled table (the first ``left`` columns flush left, the rest right) and a blank line."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    just = [str.ljust] * left + [str.rjust] * (len(header) - left)
    lines = [header, ["-" * w for w in widths], *rows]
    cells = ("  ".join(j(str(c), w) for j, c, w in zip(just, r, widths, strict=True)) for r in lines)
    return [title, "\n".join(line.rstrip() for line in cells), ""]


def _pivot(spec: Table, recs: list[Rec]) -> list[str]:
    """The tables ``spec`` draws of ``recs``."""
    out, mine, rows, key = [], _where(recs, spec.match), spec.rows.split(), [spec.key]
    for part in _groups(mine, spec.per.split()).values():
        cols = list(dict.fromkeys(r.get(spec.cols) for r in part))  # [None] if spec.cols is ""
        header = ["implementation" if f == "label" else f for f in rows]
        for c in cols:  # a column: its value (a number after its field's name), and its ratios'
            header += [
                _UNITS.get(spec.key, ("MiB",))[0] if c is None else _text(c, spec.cols),
                *spec.versus[:1],
            ]
        body = []
        for values, group in _groups(part, rows).items():
            body.append([_text(v) for v in values])
            for rec in (next((r for r in group if r.get(spec.cols) == c), None) for c in cols):
                body[-1].append(_cell(rec, spec.key))
                if spec.versus:  # its ratio to the least of the versus records sharing those fields
                    same = {f: (rec or {}).get(f) for f in spec.versus[2].split()}
                    least, _ = _least(_where(mine, spec.versus[1], **same), key)
                    body[-1].append(_shown(*_judged(_value(rec, key), least, math.inf)) if rec else "-")
        title = spec.title.format_map(defaultdict(lambda: "?", {"shape": "???", **part[0]}))  # "?": lacking
        out += _table(title, header, body, len(rows))
    return out


def _targets_table(heading: str, targets: Iterable[Target], rows: list[Rec]) -> list[str]:
    """Target rows: their ``per`` fields, limit, both sides' values, ratio (and auto's), verdict."""
    per = dict.fromkeys(f for t in targets for f in t.per.split())
    auto, cells = any("ratio_auto" in r for r in rows), []
    for r in rows:  # each cell a record of the pivot
        texts = {"limit": f"<= {r['limit']:g}x"}
        for side in ("ours", "versus"):
            best = f" [{r[side + '_best']}]" if side + "_best" in r else ""
            texts[side] = ("n/a" if r[side] is None else f"{_num(r[side])} {r['unit']}") + best
        texts["ratio"] = _shown(r["ratio"], r["result"])
        texts |= {"auto ratio": _shown(r.get("ratio_auto"), r.get("result_auto", ""))} if auto else {}
        texts["result"] = r["result"]
        cells += [r | {"status": "passed", "column": column, "text": text} for column, text in texts.items()]
    return _pivot(Table(heading, "", " ".join(["title", *per]), "column", key="text"), cells)


def section(group: str, recs: Iterable[Rec]) -> tuple[str, dict[str, list[Rec]]]:
    """A group's tables and target tables, and the rows of its target lists (by name)."""
    if not (recs := _prepared(group, recs)):
        return "", {}
    out, found = [line for spec in TABLES[group] for line in _pivot(spec, recs)], {}
    for (of, name, heading), targets in TARGETS.items():
        if of == group:
            found[name] = _evaluate(targets, recs)
            out += _targets_table(heading, targets, found[name])
    return "\n".join(out), found


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
