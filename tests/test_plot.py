"""``python -m benchmarks --plot``: the figure from a saved JSON, and clear errors.

matplotlib is not in the backend sessions: there these tests skip, and the ``docs`` nox session
(which installs it) runs them with KERAS_SIG_TEST_REQUIRE_MATPLOTLIB=1, so a missing matplotlib
fails there instead of skipping.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

if importlib.util.find_spec("matplotlib") is None:
    if os.environ.get("KERAS_SIG_TEST_REQUIRE_MATPLOTLIB") == "1":
        pytest.fail("matplotlib is not installed but KERAS_SIG_TEST_REQUIRE_MATPLOTLIB=1", pytrace=False)
    pytest.skip("matplotlib is not installed (the docs session runs these tests)", allow_module_level=True)

from benchmarks import _cli, _plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record(impl, label, family, shape, depth, seconds, kind="forward", method=None):
    return {
        "nodeid": f"benchmarks/test_signature.py::test_signature[{impl}-{shape[1]}-{depth}]",
        "group": "signature",
        "case": f"length{shape[1]}-depth{depth}",
        "shape": list(shape),
        "depth": depth,
        "impl": impl,
        "label": label,
        "family": family,
        "framework": "numpy",
        "method": method,
        "kind": kind,
        "status": "passed",
        "median_s": seconds,
    }


def _saved(tmp_path: Path, records: list[dict]) -> Path:
    """A results file in the layout `python -m benchmarks --json` writes (times are made up)."""
    path = tmp_path / "saved.json"
    summary = {
        "grid": "sweep",
        "groups": ["signature"],
        "versions": {"keras_sig": "test"},
        "records": records,
        "pytest_benchmark": {
            "datetime": "2026-12-02T12:00:00",
            "machine_info": {"cpu": {"brand_raw": "test CPU"}, "keras_sig_bench": {"cpu_count": 2}},
        },
    }
    path.write_text(json.dumps(summary))
    return path


def _sweep_records() -> list[dict]:
    ours = ("ours-numpy-auto", "ours numpy [auto]", "ours")
    peer = ("iisignature", "iisignature", "peer")
    records = []
    for n in (10, 100, 1000):
        records.append(_record(*ours, (4, n, 3), 4, n * 1e-6, method="auto"))
        records.append(_record(*peer, (4, n, 3), 4, n * 2e-6))
    for depth in (2, 3):
        records.append(_record(*ours, (4, 100, 3), depth, depth * 1e-5, method="auto"))
        records.append(_record(*peer, (4, 100, 3), depth, depth * 3e-5))
    return records


def test_plot_from_saved_json_writes_a_png(tmp_path, capsys):
    out = tmp_path / "figures" / "sweep.png"
    rc = _cli.main(["--plot", str(out), "--from-json", str(_saved(tmp_path, _sweep_records()))])
    assert rc == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert out.stat().st_size > 10_000
    assert f"figure written to {out}" in capsys.readouterr().out


def test_sweeps_find_both_axes():
    found = _plot.sweeps({"records": _sweep_records()})
    assert set(found) == {("length", "forward"), ("depth", "forward")}
    assert found["length", "forward"]["fixed"] == {"batch": 4, "channels": 3, "depth": 4}
    depths, seconds = zip(*found["depth", "forward"]["series"]["iisignature"], strict=True)
    assert depths == (2, 3, 4)
    assert seconds == pytest.approx((6e-5, 9e-5, 2e-4))


def test_json_missing_fields_is_a_clear_error(tmp_path, capsys):
    records = _sweep_records()
    del records[0]["shape"], records[0]["median_s"]
    del records[0]["status"]
    out = tmp_path / "sweep.png"
    rc = _cli.main(["--plot", str(out), "--from-json", str(_saved(tmp_path, records))])
    assert rc == 2
    err = capsys.readouterr().err
    assert "lacks the field(s) shape, status that --plot needs" in err
    assert not out.exists()


def test_json_without_records_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "raw.json"
    path.write_text(json.dumps({"benchmarks": []}))  # a raw pytest-benchmark file, say
    assert _cli.main(["--plot", str(tmp_path / "x.png"), "--from-json", str(path)]) == 2
    assert "has no 'records' list at the top level" in capsys.readouterr().err


def test_records_without_a_sweep_say_how_to_get_one(tmp_path, capsys):
    records = [
        _record("iisignature", "iisignature", "peer", (128, 100, 5), 4, 1e-3),
        _record("iisignature", "iisignature", "peer", (32, 2000, 3), 4, 1e-3),
    ]
    assert _cli.main(["--plot", str(tmp_path / "x.png"), "--from-json", str(_saved(tmp_path, records))]) == 2
    assert "python -m benchmarks --sweep" in capsys.readouterr().err


def test_from_json_needs_plot(tmp_path, capsys):
    assert _cli.main(["--from-json", str(tmp_path / "saved.json")]) == 2
    assert "give --plot FILE.png too" in capsys.readouterr().err
