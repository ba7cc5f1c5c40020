"""The GPU kit's plumbing (benchmarks/gpu): wheels, results, targets, kernel counts, CUDA parsing.

Cheap checks that run in every session; the kit itself runs end to end in quick
CPU mode in the ``gpu-kit-cpu`` nox session, and on a GPU per benchmarks/README.md.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import zipfile
from pathlib import Path

import pytest

from benchmarks.gpu import _kit, _profile, _results, _wheels

ROOT = Path(__file__).resolve().parents[1]


def _make_wheel(folder: Path, dist: str, module: str, *, data: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            f"{dist}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n"
        )
        if data:
            archive.writestr(f"{dist}-1.0.data/purelib/{module}/__init__.py", "VALUE = 2\n")
        else:
            archive.writestr(f"{module}/__init__.py", "VALUE = 1\n")
    return wheel


def test_install_unpacks_missing_wheels_and_keeps_present_ones(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    _make_wheel(wheels / "main", "kit_test_pkg", "kit_test_pkg")
    _make_wheel(wheels / "main", "kit_test_data", "kit_test_data", data=True)
    _make_wheel(wheels / "main", "numpy", "numpy_shadow")  # numpy is installed: must be left alone
    _make_wheel(wheels / "legacy", "keras_sig", "keras_sig")
    report = _wheels.install(wheels, site)
    assert report["main"]["kit_test_pkg"].startswith("installed")
    assert report["main"]["numpy"].startswith("present")
    assert (site / "main" / "kit_test_pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (site / "main" / "kit_test_data" / "__init__.py").read_text() == "VALUE = 2\n"
    assert not (site / "main" / "numpy_shadow").exists()
    assert not list((site / "main").glob("*.data"))
    # keras-sig 1.0.2 shares our import name: it goes into its own folder only.
    assert (site / "legacy" / "keras_sig" / "__init__.py").exists()
    assert not (site / "main" / "keras_sig").exists()


def test_install_without_a_wheel_folder_reports_it(tmp_path):
    report = _wheels.install(tmp_path / "absent", tmp_path / "site")
    assert "no wheel folder" in report["note"]


def test_download_command_fetches_binary_wheels_for_the_gpu_python(tmp_path):
    cmd = _wheels.download_command(tmp_path, ("keras==3.15.1",), "3.12")
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in cmd
    assert "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert cmd[-1] == "keras==3.15.1"
    assert "keras-sig==1.0.2" in _wheels.LEGACY


def _sig_row(impl: str, kind: str, ms: float, dtype: str = "float32") -> dict:
    return {"case": "headline", "shape": (128, 100, 5, 4), "dtype": dtype, "kind": kind, "impl": impl}


def test_targets_take_our_fastest_row_and_say_pass_or_miss(tmp_path):
    res = _results.Results(tmp_path, {"device": "gpu", "mode": "full"})
    for impl, kind, ms in [
        ("ours-jax-auto", "forward", 1.0),
        ("ours-jax-parallel", "forward", 0.4),
        ("legacy-jax_gpu_signature", "forward", 1.0),
        ("pysiglib", "forward", 0.3),
        ("ours-jax-auto", "gradient", 3.0),
        ("signax", "gradient", 4.0),
    ]:
        res.signature({**_sig_row(impl, kind, ms), "label": impl, "status": "ok", "median_ms": ms})
    res.training(
        {"backend": "jax", "length": 20, "impl": "ours", "label": "o", "status": "ok", "step_ms": 1.0}
    )
    res.training(
        {"backend": "jax", "length": 20, "impl": "legacy", "label": "l", "status": "ok", "step_ms": 4.0}
    )
    by_name = {t["target"]: t for t in res.data["targets"]}
    legacy = by_name["JAX forward / 1.0.2 jax_gpu_signature"]
    assert legacy["ours"] == "ours-jax-parallel"
    assert legacy["ratio"] == pytest.approx(0.4)
    assert legacy["auto_ratio"] == pytest.approx(1.0)
    assert legacy["verdict"] == "PASS"
    assert by_name["ours forward / pySigLib"]["verdict"] == "MISS"
    assert by_name["JAX gradient / signax gradient"]["verdict"] == "MISS"  # 0.75x > 0.5x
    assert by_name["jax training step / 1.0.2"]["ratio"] == pytest.approx(0.25)
    saved = json.loads((tmp_path / _results.JSON_NAME).read_text())
    assert saved["targets"] == res.data["targets"]
    table = (tmp_path / _results.MARKDOWN_NAME).read_text()
    assert "| JAX forward / 1.0.2 jax_gpu_signature | headline | float32 | 0.40x" in table
    assert "PASS" in table
    assert "MISS" in table


def test_a_target_of_a_broken_median_is_an_error_not_a_pass(tmp_path):
    res = _results.Results(tmp_path, {"device": "gpu", "mode": "full"})
    for impl, kind, ms in [("ours-jax-auto", "forward", -0.5), ("legacy-jax_gpu_signature", "forward", 1.0)]:
        res.signature({**_sig_row(impl, kind, ms), "label": impl, "status": "ok", "median_ms": ms})
    res.training(
        {"backend": "jax", "length": 20, "impl": "ours", "label": "o", "status": "ok", "step_ms": 0.0}
    )
    res.training(
        {"backend": "jax", "length": 20, "impl": "legacy", "label": "l", "status": "ok", "step_ms": 4.0}
    )
    by_name = {t["target"]: t for t in res.data["targets"]}
    assert by_name["JAX forward / 1.0.2 jax_gpu_signature"]["verdict"] == "ERROR"
    assert by_name["jax training step / 1.0.2"]["verdict"] == "ERROR"
    assert "ratio" not in by_name["jax training step / 1.0.2"]


def test_a_missing_side_gives_no_verdict(tmp_path):
    res = _results.Results(tmp_path, {"device": "cpu", "mode": "quick"})
    row = {**_sig_row("ours-jax-auto", "forward", 1.0), "label": "a", "status": "ok", "median_ms": 1.0}
    res.signature(row)
    res.signature(
        {**_sig_row("legacy-jax_gpu_signature", "forward", 0), "label": "l", "status": "skip: no wheel"}
    )
    verdicts = {t["target"]: t["verdict"] for t in res.data["targets"]}
    assert verdicts["JAX forward / 1.0.2 jax_gpu_signature"] == "n/a"
    assert "skip: no wheel" in (tmp_path / _results.MARKDOWN_NAME).read_text()


def test_hlo_kernel_count_counts_device_work_in_the_entry_computation():
    text = """HloModule m

fused_computation {
  p = f32[4] parameter(0)
  ROOT e = f32[4] exponential(p)
}

ENTRY main {
  x = f32[4] parameter(0)
  c = f32[] constant(1)
  f = f32[4] fusion(x), kind=kLoop, calls=fused_computation
  d = f32[4,4] custom-call(f, f), custom_call_target="__cublas$gemm"
  t = (f32[4,4]) tuple(d)
  ROOT g = f32[4,4] get-tuple-element(t), index=0
}
"""
    assert _profile.hlo_kernel_count(text) == 2


def test_kit_refuses_unknown_stages_and_requires_an_output_folder(tmp_path):
    with pytest.raises(SystemExit):
        _kit.main(["--device", "cpu", "--out", str(tmp_path), "--stages", "nonsense"])
    with pytest.raises(SystemExit):
        _kit.main(["--device", "cpu"])


def test_budget_caps_a_step_by_what_is_left():
    budget = _kit.Budget(100.0, reserve=10.0)
    assert budget.cap(30.0) == pytest.approx(30.0)
    assert budget.cap(500.0) <= 90.0
    assert _kit.Budget(None, reserve=10.0).cap(500.0) == 500.0
    assert _kit.Budget(0.0, reserve=10.0).cap(500.0) == 1.0


@functools.cache
def _load_noxfile():
    """The noxfile as a module, loaded once (nox warns when a session is registered twice)."""
    spec = importlib.util.spec_from_file_location("keras_sig_noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _noxfile():
    pytest.importorskip("nox")
    return _load_noxfile()


@pytest.mark.parametrize(
    ("banner", "major"), [("CUDA Version: 13.0 ", 13), ("| CUDA Version: 12.8     |", 12)]
)
def test_gpu_sessions_read_the_cuda_version_from_nvidia_smi(banner, major):
    noxfile = _noxfile()
    text = f"+----+\n| NVIDIA-SMI 580.65   Driver Version: 580.65   {banner}\n+----+\n"
    assert noxfile.cuda_major(text) == major
    jax_gpu = [r.format(cuda=major) for r in noxfile.BACKENDS["jax"][1]]
    cupy_gpu = [r.format(cuda=major) for r in noxfile.BACKENDS["cupy"][1]]
    assert f"jax[cuda{major}]" in jax_gpu
    assert cupy_gpu == [f"cupy-cuda{major}x"]


@pytest.mark.parametrize("text", ["no banner here", "CUDA Version: 11.8"])
def test_gpu_sessions_refuse_an_unknown_cuda(text):
    noxfile = _noxfile()
    with pytest.raises(ValueError, match="CUDA"):
        noxfile.cuda_major(text)


def test_reference_without_iisignature_matches_the_one_with_it(monkeypatch):
    """The GPU machine has no iisignature: the kit's fallback reference must agree with it."""
    pytest.importorskip("iisignature")
    from benchmarks._impls import check_input
    from benchmarks.gpu import _bench

    x, depth = check_input(0)
    with_ii = _bench.reference(x, depth)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "iisignature" else real_find_spec(name, *a),
    )
    without = _bench.reference(x, depth)
    for kind in ("forward", "gradient"):
        assert without[kind].shape == with_ii[kind].shape
        assert abs(without[kind] - with_ii[kind]).max() < 1e-10


def test_kernel_table_gives_each_row_its_ratio_to_pysiglib(tmp_path):
    res = _results.Results(tmp_path, {"device": "gpu", "mode": "full"})
    base = {"case": "gram-100x5", "shape": (32, 32, 100, 5), "order": 0, "dtype": "float64", "kind": "gram"}
    res.kernel({**base, "impl": "jax", "label": "ours jax jit", "status": "ok", "median_ms": 3.0})
    res.kernel({**base, "impl": "cupy", "label": "ours cupy", "status": "skip: needs a GPU"})
    res.kernel({**base, "impl": "pysiglib", "label": "pySigLib", "status": "ok", "median_ms": 2.0})
    other = {**base, "order": 2}
    res.kernel({**other, "impl": "jax", "label": "ours jax jit", "status": "ok", "median_ms": 5.0})
    table = (tmp_path / _results.MARKDOWN_NAME).read_text()
    jax_row = next(line for line in table.splitlines() if line.startswith("| ours jax jit |"))
    assert jax_row == "| ours jax jit | 3 (1.50x) | 5 |"  # no pySigLib row at order 2: no ratio
    assert "| ours cupy | skip: needs a GPU |" in table
    assert json.loads((tmp_path / _results.JSON_NAME).read_text())["kernels"][0]["median_ms"] == 3.0


def test_failures_plugin_names_each_failure_as_it_is_reported(tmp_path):
    import os
    import subprocess
    import sys

    from benchmarks.gpu import _pytest_failures

    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def broken():\n    raise RuntimeError('fixture broke')\n"
        "def test_ok():\n    pass\n"
        "def test_bad():\n    assert 1 == 2, 'one is not two'\n"
        "def test_error(broken):\n    pass\n"
    )
    out = tmp_path / "failures.txt"
    env = {
        **os.environ,
        _pytest_failures.ENV: str(out),
        _pytest_failures.STAGE_ENV: "tests",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "benchmarks.gpu._pytest_failures",
    ]
    proc = subprocess.run([*cmd, str(tmp_path)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = out.read_text()
    assert "[tests] FAILED test_sample.py::test_bad (call)" in text
    assert "one is not two" in text
    assert "[tests] ERROR test_sample.py::test_error (setup)" in text
    assert "fixture broke" in text
    assert "test_ok" not in text


def test_worker_error_shows_the_exception_not_the_layer_arguments():
    from benchmarks.gpu import _timing

    message = (
        "keras_layer.py exited with 1:\nTraceback (most recent call last):\n"
        "torch._inductor.exc.InductorError: RuntimeError: out of resource\n"
        "Arguments received by SigLayer.call():\n  • inputs=torch.Tensor(shape=(128, 500, 7))\n  • mask=None"
    )
    status = _timing._worker_error(RuntimeError(message))
    assert status == "error: torch._inductor.exc.InductorError: RuntimeError: out of resource"
    assert _timing._worker_error(RuntimeError("just one line")) == "error: just one line"
