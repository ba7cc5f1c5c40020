"""The command line: run pytest-benchmark over the suite, then print tables and targets."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import _config, _report

HERE = Path(__file__).resolve().parent
DEFAULT_VENV_SHOWN = _config.DEFAULT_LEGACY_VENV.relative_to(_config.REPO)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Time keras_sig side by side with iisignature, signax, pySigLib, signatory and "
            "keras-sig 1.0.2 (pytest-benchmark), then print median times and the target ratios."
        ),
        epilog="Arguments after `--` go to pytest unchanged. Nothing is written unless --json is given.",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes and few rounds: a smoke test, not a measurement"
    )
    p.add_argument(
        "--json",
        metavar="OUT",
        type=Path,
        help="also write the results (and the raw pytest-benchmark JSON) here",
    )
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="run only tests whose id matches this glob anywhere (e.g. 'headline*jax')",
    )
    p.add_argument(
        "--keras", action="store_true", help="add the Keras-layer group (slow: a subprocess per measurement)"
    )
    p.add_argument(
        "--memory", action="store_true", help="add the memory group (peak RSS of a fresh subprocess)"
    )
    p.add_argument(
        "--logsig",
        action="store_true",
        help="add the log-signature group (keras_sig vs iisignature, signatory, signax)",
    )
    p.add_argument(
        "--methods",
        action="store_true",
        help="add the methods group (each method and 'auto' on a grid of shapes; windowed, dyadic)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="add the signature-kernel group (sig_kernel, Gram, MMD gradient; keras_sig vs pySigLib)",
    )
    p.add_argument("--no-signature", action="store_true", help="leave out the signature group")
    p.add_argument(
        "--legacy-venv",
        metavar="PATH",
        type=Path,
        help=f"keras-sig 1.0.2's virtualenv (default: {DEFAULT_VENV_SHOWN})",
    )
    p.add_argument(
        "--setup-legacy",
        action="store_true",
        help="create that virtualenv (pip install keras-sig==1.0.2 ...) and exit",
    )
    p.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=_config.DEFAULT_TIMEOUT_S,
        help="seconds before a subprocess measurement is reported as 'timeout' (default %(default)g)",
    )
    p.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def setup_legacy(venv: Path) -> int:
    """Create keras-sig 1.0.2's virtualenv with pip (torch pinned: an unpinned one is a CUDA build)."""
    print(f"creating {venv} ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    rc = subprocess.call([sys.executable, "-m", "venv", str(venv)])
    if rc:
        return rc
    pip = venv / ("Scripts" if os.name == "nt" else "bin") / "pip"
    return subprocess.call([str(pip), "install", *_config.LEGACY_REQUIREMENTS])


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    venv = (args.legacy_venv or _config.DEFAULT_LEGACY_VENV).expanduser().resolve()
    if args.setup_legacy:
        return setup_legacy(venv)
    groups = [
        g
        for g, on in (
            ("signature", not args.no_signature),
            ("keras", args.keras),
            ("memory", args.memory),
            ("logsignature", args.logsig),
            ("methods", args.methods),
            ("kernels", args.kernels),
        )
        if on
    ]
    if not groups:
        print(
            "nothing to run: --no-signature without --keras, --memory, --logsig or --methods", file=sys.stderr
        )
        return 2
    env = dict(os.environ)
    env.update(
        {
            _config.ENV_GRID: "quick" if args.quick else "full",
            _config.ENV_GROUPS: ",".join(groups),
            _config.ENV_LEGACY_VENV: str(venv),
            _config.ENV_TIMEOUT: str(args.timeout),
        }
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.only:
        env[_config.ENV_ONLY] = args.only
    else:
        env.pop(_config.ENV_ONLY, None)
    grid = _config.QUICK_GRID if args.quick else _config.FULL_GRID
    with tempfile.TemporaryDirectory(prefix="keras_sig_bench_") as tmp:
        raw_path, outcomes_path = Path(tmp) / "pytest-benchmark.json", Path(tmp) / "outcomes.json"
        env[_config.ENV_OUTCOMES] = str(outcomes_path)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            str(HERE),
            "--benchmark-only",
            f"--benchmark-json={raw_path}",
            f"--benchmark-storage=file://{Path(tmp) / 'storage'}",
            "--benchmark-columns=median,iqr,rounds",
            "--benchmark-sort=name",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rfE",
            "--tb=short",
            *args.pytest_args,
        ]
        rc = subprocess.call(cmd, cwd=_config.REPO, env=env)
        bench = json.loads(raw_path.read_text()) if raw_path.exists() else None
        outcomes = json.loads(outcomes_path.read_text()) if outcomes_path.exists() else []
    recs = _report.records(bench, outcomes)
    text, summary = render(recs, bench, grid, groups)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary, "pytest_benchmark": bench}, indent=1, default=str))
        print(f"results written to {args.json}")
    if rc == 5 and args.only:
        print(f"no benchmark matches --only {args.only!r}", file=sys.stderr)
    return rc


def render(
    recs: list[dict[str, Any]], bench: dict[str, Any] | None, grid: _config.Grid, groups: list[str]
) -> tuple[str, dict[str, Any]]:
    machine = (bench or {}).get("machine_info", {})
    versions = machine.get("keras_sig_bench", {}).get("versions", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or platform.processor() or platform.machine()
    smoke = "; SMOKE TEST, NOT A MEASUREMENT" if grid.name == "quick" else ""
    lines = [
        "=" * 78,
        f"keras_sig benchmarks ({grid.name} grid{smoke})",
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"protocol: first call + {grid.settings.warmup} warm-up calls untimed, then median of "
        f"{grid.settings.min_rounds}-{grid.settings.max_rounds} rounds (~{grid.settings.budget_s:g} s each); "
        "all implementations side by side in one run; expect ~20% machine noise",
        "=" * 78,
        "",
    ]
    summary: dict[str, Any] = {
        "grid": grid.name,
        "groups": groups,
        "protocol": grid.settings.to_dict(),
        "versions": versions,
        "records": recs,
    }
    text, ratios = _report.signature_section(recs, list(grid.cases))
    if text:
        lines.append(text)
        summary["targets"] = ratios
    text, kratios = _report.keras_section(recs, grid.keras.lengths)
    if text:
        lines.append(text)
        summary["keras_targets"] = kratios
    text = _report.memory_section(recs)
    if text:
        lines.append(text)
    text, lratios = _report.logsignature_section(recs)
    if text:
        lines.append(text)
        summary["logsignature_targets"] = lratios
    text, mratios = _report.methods_section(recs, list(grid.methods))
    if text:
        lines.append(text)
        summary["methods_targets"] = mratios
    text, kratios = _report.kernels_section(recs)
    if text:
        lines.append(text)
        summary["kernels_targets"] = kratios
    lines.append(_report.notes_section(recs))
    return "\n".join(lines), summary
