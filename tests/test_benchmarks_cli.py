"""The benchmark runner's report (benchmarks/_report.py, _cli.py): verdicts that never lie.

No benchmark runs here: the report is fed records, and ``main`` a fake pytest run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _cli, _config, _report, _requirements
from benchmarks._workers import _protocol

ROOT = Path(__file__).resolve().parents[1]
CASE = _config.QUICK_GRID.cases[0]


def _rec(impl: str, kind: str, median_s: float, **meta: Any) -> dict[str, Any]:
    family = "ours" if impl.startswith("ours-") else "peer"
    framework = impl.split("-")[1] if family == "ours" else meta.pop("framework", "numpy")
    method = impl.split("-")[2] if family == "ours" else None
    return {
        "nodeid": f"benchmarks/test_signature.py::test_x[{CASE.name}-{impl}-{kind}]",
        "status": "passed",
        "group": "signature",
        "case": CASE.name,
        "impl": impl,
        "kind": kind,
        "family": family,
        "framework": framework,
        "method": method,
        "label": impl,
        "median_s": median_s,
    } | meta


def _targets(group: str, recs: list[dict[str, Any]], name: str | None = None) -> dict[Any, dict[str, Any]]:
    """The rows of a target list, by title (and case, where a list has one row per case)."""
    _, found = _report.section(group, recs)
    return {(r["title"], r.get("case")): r for r in found[name or group]}


def _line(text: str, start: str, *words: str) -> list[str]:
    """The cells (split on spaces) of the one line of ``text`` that starts so and holds ``words``."""
    (line,) = [line for line in text.splitlines() if line.startswith(start) and all(w in line for w in words)]
    return line.split()


NUMPY_VS_IISIG = ("NumPy forward / iisignature forward", CASE.name)


@pytest.mark.parametrize("bad", [0.0, -1e-3, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("side", ["ours", "peer", "alone"])
def test_a_ratio_of_a_broken_time_is_an_error(bad, side):
    ours, peer = (bad, 0.002) if side != "peer" else (0.002, bad)
    recs = [_rec("ours-numpy-auto", "forward", ours)]
    recs += [] if side == "alone" else [_rec("iisignature", "forward", peer)]  # broken with no partner
    text, found = _report.section("signature", recs)
    (row,) = [r for r in found["signature"] if r["title"] == NUMPY_VS_IISIG[0]]
    assert (row["ratio"], row["result"]) == (None, "ERROR")
    assert _line(text, NUMPY_VS_IISIG[0])[-2:] == ["ERROR", "ERROR"]  # the ratio and the verdict
    assert row in _report.errors({"targets": found["signature"]})  # python -m benchmarks exits 3
    if side != "alone":  # the table's ratio to the fastest peer is no ratio either
        assert _line(text, "ours-numpy-auto")[-1] == "ERROR"
    assert "PASS" not in text
    assert "MISS" not in text


@pytest.mark.parametrize(
    ("ours", "peer", "ratio", "result"),
    [
        (0.004, 0.002, 2.0, "MISS"),
        (0.002, 0.002, 1.0, "PASS"),
        (0.001, 0.002, 0.5, "PASS"),
        (0.001, None, None, "n/a"),
    ],
)
def test_good_and_missing_ratios_keep_their_verdicts(ours, peer, ratio, result):
    recs = [_rec("ours-numpy-auto", "forward", ours)]
    if peer is None:  # the peer skipped: a missing side
        recs.append(_rec("iisignature", "forward", 0.0) | {"status": "skipped", "reason": "not installed"})
    else:
        recs.append(_rec("iisignature", "forward", peer))
    text, found = _report.section("signature", recs)
    row = _targets("signature", recs)[NUMPY_VS_IISIG]
    assert (row["ratio"], row["result"], row["limit"]) == (ratio, result, 1.0)
    assert (row["ours"], row["unit"]) == (pytest.approx(ours * 1e3), "ms")
    assert _line(text, NUMPY_VS_IISIG[0])[-1] == result
    assert _line(text, "iisignature ")[1] == ("skip" if peer is None else f"{peer * 1e3:.2f}")
    assert "ERROR" not in text
    assert _report.errors({"targets": found["signature"]}) == []


def test_ours_is_judged_at_its_best_method_and_at_auto():
    recs = [
        _rec("ours-jax-sequential", "forward", 0.001),
        _rec("ours-jax-auto", "forward", 0.005),
        _rec("signax", "forward", 0.010, framework="jax"),
    ]
    row = _targets("signature", recs)[("JAX jit forward / signax forward", CASE.name)]
    assert (row["ours_best"], row["ours"]) == ("sequential", pytest.approx(1.0))
    assert (row["ratio"], row["result"]) == (pytest.approx(0.1), "PASS")
    assert (row["ratio_auto"], row["result_auto"]) == (pytest.approx(0.5), "MISS")
    text, _ = _report.section("signature", recs)
    cells = _line(text, "JAX jit forward / signax forward")[6:]  # case, limit, ours, versus, ratios
    assert cells == [
        CASE.name,
        "<=",
        "0.4x",
        "1.00",
        "ms",
        "[sequential]",
        "10.0",
        "ms",
        "0.10x",
        "0.50x",
        "PASS",
    ]
    # and the table: the medians in ms and their ratio to the fastest peer library (signax here)
    assert _line(text, "ours-jax-sequential") == ["ours-jax-sequential", "1.00", "0.10x"]
    assert _line(text, "ours-jax-auto") == ["ours-jax-auto", "5.00", "0.50x"]
    assert _line(text, "signax ") == ["signax", "10.0", "1.00x"]


def test_a_broken_method_of_several_is_an_error_not_ignored():
    # The fastest of several methods: a broken one among them is picked (ERROR), never skipped.
    recs = [
        _rec("ours-torch-auto", "forward", 0.001),
        _rec("ours-torch-parallel", "forward", math.inf),  # a plain min() would pass it over
        _rec("iisignature", "forward", 0.002),
    ]
    row = _targets("signature", recs)[("PyTorch eager forward / iisignature forward", CASE.name)]
    assert row["result"] == "ERROR"


def test_backward_faster_than_nothing_is_an_error_not_a_pass():
    # The quick run that printed `backward / forward -0.46x PASS`: the gradient's median under
    # the forward's, so backward = gradient - forward < 0.
    recs = [_rec("ours-jax-auto", "forward", 0.010), _rec("ours-jax-auto", "gradient", 0.0054)]
    text, found = _report.section("signature", recs)
    (row,) = found["backward"]
    assert (row["title"], row["case"], row["result"], row["ratio"]) == (
        "jax backward / forward",
        CASE.name,
        "ERROR",
        None,
    )
    assert row["ours"] == pytest.approx(-4.6)  # ms: shown, never judged
    line = _line(text, "jax backward / forward")
    assert line[-2:] == ["ERROR", "ERROR"]
    assert "PASS" not in line


def test_both_backwards_negative_is_still_an_error():
    # Two negative backwards give a positive quotient: each time must be checked, not the ratio.
    recs = [
        _rec("ours-torch-auto", "forward", 0.010),
        _rec("ours-torch-auto", "gradient", 0.008),
        _rec("signatory", "forward", 0.010, framework="torch"),
        _rec("signatory", "gradient", 0.009, framework="torch"),
    ]
    rows = _targets("signature", recs, "backward")
    assert rows[("torch backward / signatory backward", CASE.name)]["result"] == "ERROR"
    assert rows[("torch backward / forward", CASE.name)]["result"] == "ERROR"


def test_a_sound_backward_is_judged():
    recs = [_rec("ours-torch-auto", "forward", 0.010), _rec("ours-torch-auto", "gradient", 0.035)]
    row = _targets("signature", recs, "backward")[("torch backward / forward", CASE.name)]
    assert (row["ratio"], row["result"], row["limit"]) == (pytest.approx(2.5), "PASS", 3.0)


def _fake_pytest(recs: list[dict[str, Any]]) -> Any:
    """A stand-in for the pytest subprocess: writes the JSON files ``main`` reads."""

    def call(cmd: list[str], cwd: Any = None, env: dict[str, str] | None = None) -> int:
        assert env is not None
        raw = next(a.split("=", 1)[1] for a in cmd if a.startswith("--benchmark-json="))
        bench = {
            "machine_info": {
                "keras_sig_bench": {
                    "versions": {},
                    "torch_threads": int(env[_protocol.ENV_TORCH_THREADS]),
                    "torch_thp": env.get(_protocol.ENV_TORCH_THP) == "1",
                }
            },
            "benchmarks": [
                {"fullname": r["nodeid"], "extra_info": r, "stats": {"median": r["median_s"], "rounds": 5}}
                for r in recs
            ],
        }
        Path(raw).write_text(json.dumps(bench))
        Path(env[_config.ENV_OUTCOMES]).write_text("[]")
        return 0

    return call


def test_main_exits_non_zero_on_an_error_verdict(monkeypatch, capsys):
    recs = [_rec("ours-jax-auto", "forward", 0.010), _rec("ours-jax-auto", "gradient", 0.0054)]
    monkeypatch.setattr(subprocess, "call", _fake_pytest(recs))
    assert _cli.main(["--quick"]) == 3
    out, err = capsys.readouterr()
    assert "ERROR" in out
    assert "PASS" not in out
    assert "exit status 3" in err


def test_main_passes_when_every_time_is_sound(monkeypatch, capsys):
    recs = [_rec("ours-jax-auto", "forward", 0.010), _rec("ours-jax-auto", "gradient", 0.025)]
    monkeypatch.setattr(subprocess, "call", _fake_pytest(recs))
    assert _cli.main(["--quick"]) == 0
    out, _ = capsys.readouterr()
    line = next(line for line in out.splitlines() if "jax backward / forward" in line)
    assert line.split()[-2:] == ["1.50x", "PASS"]
    assert "ERROR" not in out


@pytest.mark.parametrize(
    ("argv", "env", "threads"), [([], None, 1), (["--torch-threads", "2"], None, 2), ([], "3", 3)]
)
def test_report_states_the_torch_threads(monkeypatch, capsys, argv, env, threads):
    if env is None:
        monkeypatch.delenv(_protocol.ENV_TORCH_THREADS, raising=False)
    else:
        monkeypatch.setenv(_protocol.ENV_TORCH_THREADS, env)
    recs = [_rec("ours-jax-auto", "forward", 0.010)]
    monkeypatch.setattr(subprocess, "call", _fake_pytest(recs))
    assert _cli.main(["--quick", *argv]) == 0
    out, _ = capsys.readouterr()
    assert f"torch threads: {threads} intra-op (torch.set_num_threads; --torch-threads)" in out


@pytest.mark.parametrize("argv", [[], ["--torch-thp"]])
def test_torch_thp_reaches_the_run_and_the_report(monkeypatch, capsys, argv):
    monkeypatch.delenv(_protocol.ENV_TORCH_THP, raising=False)
    monkeypatch.setattr(subprocess, "call", _fake_pytest([_rec("ours-jax-auto", "forward", 0.010)]))
    assert _cli.main(["--quick", *argv]) == 0
    out, _ = capsys.readouterr()
    assert (f"{_protocol.ENV_TORCH_THP}=1 (large tensors on huge pages" in out) is bool(argv)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_torch_threads_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv(_protocol.ENV_TORCH_THREADS, value)
    with pytest.raises(ValueError, match=_protocol.ENV_TORCH_THREADS):
        _protocol.torch_threads()
    with pytest.raises(SystemExit):
        _cli.parse(["--torch-threads", value])


@pytest.mark.parametrize("module", ["pytest", "pytest_benchmark", "numpy"])
def test_python_m_benchmarks_without_its_runner_says_what_to_install(module):
    # The interpreter cannot import `module` (sys.modules[name] = None blocks an import).
    code = (
        f"import sys; sys.modules[{module!r}] = None; import runpy; sys.argv = ['benchmarks']; "
        "runpy.run_module('benchmarks', run_name='__main__')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert _requirements.NEEDED[module] in out.stderr
    assert "pip install pytest pytest-benchmark numpy" in out.stderr
    assert "nox -s bench" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_names_what_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytest_benchmark", None)
    assert "pytest-benchmark" in _requirements.missing()
    assert "pytest" not in _requirements.missing()  # this very run imports it


def _section_rec(group: str, median_s: float, **meta: Any) -> dict[str, Any]:
    return (
        {"nodeid": f"{group}-{sorted(meta.items())}", "status": "passed", "group": group}
        | meta
        | {"median_s": median_s}
    )


def test_every_section_gives_a_broken_time_no_verdict():
    dyadic = [
        _section_rec("methods", -0.001, table="dyadic", framework="numpy", op="dyadic", dyadic_depth=3),
        _section_rec("methods", 0.002, table="dyadic", framework="numpy", op="whole", dyadic_depth=3),
    ]
    text, found = _report.section("methods", dyadic)
    assert [(r["result"], r["limit"]) for r in found["methods"]] == [("ERROR", 4.0)]
    assert "PASS" not in text
    mmd = [
        _section_rec("kernels", 0.0, table="mmd", case="mmd", framework="jax", mode="forward"),
        _section_rec("kernels", 0.002, table="mmd", case="mmd", framework="jax", mode="gradient"),
    ]
    text, found = _report.section("kernels", mmd)
    assert [r["result"] for r in found["kernels"]] == ["ERROR"]
    assert "PASS" not in text
    gram = [
        _section_rec("kernels", math.nan, table="forward", case="gram", order=0, framework="jax"),
        _section_rec("kernels", 0.002, table="forward", case="gram", order=0, framework="pysiglib"),
    ]
    text, found = _report.section("kernels", gram)
    # the jax row is ERROR; numpy and torch did not run: n/a (pySigLib's time alone)
    assert {r["framework"]: r["result"] for r in found["kernels"]} == {
        "jax": "ERROR",
        "torch": "n/a",
        "numpy": "n/a",
    }
    assert "PASS" not in text
    log = [
        _section_rec("logsignature", 0.002, impl="iisignature", case="headline", label="iisignature"),
        _section_rec(
            "logsignature",
            -0.001,
            family="ours",
            framework="jax",
            op="logsignature",
            mode="brackets",
            case="headline",
            label="ours jax",
        ),
    ]
    text, found = _report.section("logsignature", log)
    rows = found["logsignature"]
    assert {r["result"] for r in rows if r["title"].startswith("JAX brackets")} == {"ERROR"}
    assert {r["result"] for r in rows} == {"ERROR", "n/a"}  # n/a: NumPy and PyTorch did not run
    assert "PASS" not in text


def _mem(impl: str, length: int, peak: float, **meta: Any) -> dict[str, Any]:
    return {"status": "passed", "group": "memory", "impl": impl, "length": length, "peak_mib": peak} | meta


def test_memory_targets_give_a_zero_peak_no_verdict():
    mem = [_mem("ours-torch-auto", n, peak) for n, peak in ((100, 0.0), (1000, 50.0))]
    rows = _targets("memory", mem)
    assert rows[("ours-torch-auto gradient peak L=1000 / L=100", None)]["result"] == "ERROR"


def test_memory_targets_and_table():
    mem = [
        _mem("ours-jax-auto", 100, 40.0, xla_temp_mib=10.0, label="ours jax jit [auto]", shape=[4, 100, 5]),
        _mem("ours-jax-auto", 1000, 60.0, xla_temp_mib=12.0, label="ours jax jit [auto]"),
        _mem("ours-torch-auto", 100, 20.0, label="ours torch [auto]", peak_reset=False),
        _mem("ours-torch-auto", 1000, 40.0, label="ours torch [auto]"),
        _mem("ours-numpy-chunked", 1000, 99.0, kind="forward", tracemalloc_mib=6.0, memory_budget=8 * 2**20),
    ]
    rows = _targets("memory", mem)
    jax = rows[("ours-jax-auto gradient peak L=1000 / L=100", None)]  # XLA's estimate on JAX
    assert (jax["ratio"], jax["result"], jax["ours"], jax["unit"]) == (
        pytest.approx(1.2),
        "PASS",
        12.0,
        "MiB",
    )
    torch = rows[("ours-torch-auto gradient peak L=1000 / L=100", None)]  # RSS on PyTorch
    assert (torch["ratio"], torch["result"]) == (pytest.approx(2.0), "MISS")
    budget = rows[("ours-numpy-chunked forward L=1000 peak / memory_budget", None)]  # tracemalloc's
    assert (budget["ours"], budget["versus"], budget["result"]) == (6.0, 8.0, "PASS")
    assert rows[("ours-jax-auto gradient peak L=1000 / signax's", None)]["result"] == "n/a"
    text, _ = _report.section("memory", mem)
    assert "batch 4, channels 5" in text
    assert _line(text, "ours torch [auto]") == ["ours", "torch", "[auto]", ">=", "20.0", "40.0"]
    jax_lines = [line.split()[-2:] for line in text.splitlines() if line.startswith("ours jax jit [auto]")]
    assert jax_lines == [["40.0", "60.0"], ["10.0", "12.0"]]  # peak RSS, then XLA's estimate


def test_keras_targets_take_the_best_legacy_variant():
    def keras(label: str, family: str, task: str, median_s: float, **meta: Any) -> dict[str, Any]:
        return _section_rec("keras", median_s, backend="jax", label=label, family=family, task=task) | meta

    recs = [
        keras("ours", "ours", "train", 0.002, length=20, first_epoch_s=3.0, batch=128),
        keras("1.0.2 a", "legacy", "train", 0.010, length=20, first_epoch_s=2.0),
        keras("1.0.2 b", "legacy", "train", 0.005, length=20, first_epoch_s=4.0),
        keras("ours", "ours", "forward-eager", 0.001, shape=[128, 100, 5]),
        keras("1.0.2 a", "legacy", "forward-eager", 0.0, shape=[128, 100, 5]),
    ]
    text, found = _report.section("keras", recs)
    rows = {r["title"]: r for r in found["keras"]}
    step = rows["step L=20"]
    assert (step["backend"], step["length"], step["versus_best"]) == ("jax", 20, "1.0.2 b")
    assert (step["ratio"], step["result"]) == (pytest.approx(0.4), "PASS")
    first = rows["first epoch (compile) L=20"]
    assert (first["versus_best"], first["unit"], first["ratio"], first["result"]) == (
        "1.0.2 a",
        "s",
        pytest.approx(1.5),
        "MISS",
    )
    assert rows["SigLayer forward eager"]["result"] == "ERROR"  # 1.0.2's zero median
    assert "SigLayer forward compiled" not in rows  # neither side ran
    lines = [line.split() for line in text.splitlines() if line.startswith("jax") and "1.0.2 b" in line]
    assert [cells[-1] for cells in lines] == ["5.00", "4.00"]  # the step table (ms), the first epoch's (s)


def test_methods_tables_and_targets():
    grid = [
        _section_rec(
            "methods", t, table="grid", case="wide", shape=[64, 6, 6], depth=3, framework="numpy", method=m
        )
        for m, t in (("sequential", 0.004), ("parallel", 0.002), ("chunked", 0.003), ("auto", 0.0022))
    ]
    windowed = [
        _section_rec(
            "methods", t, table="windowed", depth=3, framework=fw, label=f"win {fw}", shape=[4, 20, 3]
        )
        for fw, t in (("numpy", 0.001), ("iisignature", 0.002))
    ]
    text, found = _report.section("methods", grid + windowed)
    rows = {(r["title"], r.get("case"), r.get("depth")): r for r in found["methods"]}
    auto = rows[("auto / the fastest other method", "wide", None)]
    assert (auto["versus_best"], auto["ratio"], auto["result"]) == ("parallel", pytest.approx(1.1), "PASS")
    win = rows[("numpy windowed / iisignature's sig of the stacked windows", None, 3)]
    assert (win["ratio"], win["result"]) == (pytest.approx(0.5), "PASS")
    assert _line(text, "wide", "64x6x6") == ["wide", "64x6x6", "3", "numpy", "4.00", "2.00", "3.00", "2.20"]
    assert _line(text, "win iisignature") == ["win", "iisignature", "2.00", "1.00x"]
    assert _line(text, "win numpy") == ["win", "numpy", "1.00", "0.50x"]


def test_main_writes_every_target_list_in_the_summary(monkeypatch, capsys, tmp_path):
    recs = [_rec("ours-jax-auto", "forward", 0.010), _rec("ours-jax-auto", "gradient", 0.025)]
    monkeypatch.setattr(subprocess, "call", _fake_pytest(recs))
    assert _cli.main(["--quick", "--json", str(tmp_path / "out.json")]) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "out.json").read_text())
    (row,) = [r for r in summary["backward_targets"] if r["case"] == CASE.name]
    assert (row["title"], row["ratio"], row["result"]) == ("jax backward / forward", 1.5, "PASS")
    assert [r["result"] for r in summary["targets"]] == ["n/a"] * 4  # the JAX targets: no peer ran
    assert "keras_targets" not in summary  # no keras record, no keras section


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_set_torch_threads_sets_what_the_variable_says():
    # In a subprocess: torch's thread count is global to a process.
    code = "from benchmarks._workers import _protocol; print(_protocol.set_torch_threads())"
    env = {**os.environ, _protocol.ENV_TORCH_THREADS: "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "3"
