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


@pytest.mark.parametrize("bad", [0.0, -1e-3, math.nan, math.inf, -math.inf])
def test_a_ratio_of_a_broken_time_is_an_error(bad):
    with pytest.raises(_report.BadMeasurementError, match="positive and finite"):
        _report._quotient(bad, 1.0)
    with pytest.raises(_report.BadMeasurementError, match="positive and finite"):
        _report._quotient(1.0, bad)
    assert _report._judged(bad, 1.0, 3.0) == (None, "ERROR")
    assert _report._judged(1.0, bad, 3.0) == (None, "ERROR")
    assert _report._shown(bad, 1.0) == "ERROR"
    assert _report._judged(bad, None, 3.0) == (None, "ERROR")  # broken even with no partner


def test_good_and_missing_ratios_keep_their_verdicts():
    assert _report._judged(2.0, 1.0, 3.0) == (2.0, "PASS")
    assert _report._judged(4.0, 1.0, 3.0) == (4.0, "MISS")
    assert _report._judged(None, 1.0, 3.0) == (None, "n/a")
    assert _report._shown(None, 1.0) == "-"


@pytest.mark.parametrize("ratio", [-0.46, 0.0, math.nan])
def test_verdict_of_a_non_positive_ratio_is_never_pass(ratio):
    assert _report._verdict(ratio, 3.0) == "ERROR"


def test_backward_faster_than_nothing_is_an_error_not_a_pass():
    # The quick run that printed `backward / forward -0.46x PASS`: the gradient's median under
    # the forward's, so backward = gradient - forward < 0.
    recs = [_rec("ours-jax-auto", "forward", 0.010), _rec("ours-jax-auto", "gradient", 0.0054)]
    (row,) = _report.backward_ratios(recs, [CASE.name])
    assert row["result"] == "ERROR"
    assert row["ratio"] is None
    text, _ = _report.signature_section(recs, [CASE])
    line = next(line for line in text.splitlines() if "jax backward / forward" in line)
    assert line.split()[-2:] == ["ERROR", "ERROR"]
    assert "PASS" not in line


def test_both_backwards_negative_is_still_an_error():
    # Two negative backwards give a positive quotient: each time must be checked, not the ratio.
    recs = [
        _rec("ours-torch-auto", "forward", 0.010),
        _rec("ours-torch-auto", "gradient", 0.008),
        _rec("signatory", "forward", 0.010, framework="torch"),
        _rec("signatory", "gradient", 0.009, framework="torch"),
    ]
    rows = {r["title"]: r for r in _report.backward_ratios(recs, [CASE.name])}
    assert rows["torch backward / signatory backward"]["result"] == "ERROR"


def test_a_zero_median_is_an_error_in_the_targets():
    recs = [_rec("ours-numpy-auto", "forward", 0.0), _rec("iisignature", "forward", 0.002)]
    rows = {r["title"]: r for r in _report.signature_ratios(recs, [CASE.name])}
    row = rows["NumPy forward / iisignature forward"]
    assert row["result"] == "ERROR"
    summary = {"targets": [row], "records": recs}
    assert _report.errors(summary) == [row]


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
        _section_rec("methods", -0.001, table="dyadic", framework="numpy", op="dyadic", label="dy"),
        _section_rec("methods", 0.002, table="dyadic", framework="numpy", op="whole", label="whole"),
    ]
    text, rows = _report.methods_section(dyadic, [])
    assert [r["result"] for r in rows] == ["ERROR"]
    assert "PASS" not in text
    mmd = [
        _section_rec("kernels", 0.0, table="mmd", framework="jax", mode="forward"),
        _section_rec("kernels", 0.002, table="mmd", framework="jax", mode="gradient"),
    ]
    text, rows = _report.kernels_section(mmd)
    assert [r["result"] for r in rows] == ["ERROR"]
    assert "PASS" not in text
    gram = [
        _section_rec("kernels", math.nan, table="forward", case="gram", order=0, framework="jax"),
        _section_rec("kernels", 0.002, table="forward", case="gram", order=0, framework="pysiglib"),
    ]
    text, rows = _report.kernels_section(gram)
    assert [r["result"] for r in rows] == ["ERROR"]
    assert "PASS" not in text
    log = [
        _section_rec("logsignature", 0.002, impl="iisignature", label="iisignature"),
        _section_rec(
            "logsignature", -0.001, family="ours", framework="jax", op="logsignature", mode="brackets"
        ),
    ]
    text, rows = _report.logsignature_section(log)
    assert {r["result"] for r in rows if r["title"].startswith("JAX brackets")} == {"ERROR"}
    assert {r["result"] for r in rows} == {"ERROR", "n/a"}  # n/a: NumPy and PyTorch did not run
    assert "PASS" not in text


def test_memory_targets_give_a_zero_peak_no_verdict():
    mem = [
        {"status": "passed", "group": "memory", "impl": "ours-torch-auto", "length": n, "peak_mib": peak}
        for n, peak in ((100, 0.0), (1000, 50.0))
    ]
    rows = {r["title"]: r for r in _report.memory_targets(mem)}
    assert rows["ours-torch-auto gradient peak L=1000 / L=100"]["result"] == "ERROR"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_set_torch_threads_sets_what_the_variable_says():
    # In a subprocess: torch's thread count is global to a process.
    code = "from benchmarks._workers import _protocol; print(_protocol.set_torch_threads())"
    env = {**os.environ, _protocol.ENV_TORCH_THREADS: "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "3"
