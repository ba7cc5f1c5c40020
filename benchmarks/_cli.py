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
from benchmarks._workers import _protocol

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
        "--sweep",
        action="store_true",
        help="the signature group on a sweep of lengths (10-3000) and depths (2-6), for --plot",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        type=Path,
        help="draw time vs length and vs depth, ours beside the peers (needs matplotlib and a --sweep)",
    )
    p.add_argument(
        "--from-json",
        metavar="SAVED",
        type=Path,
        help="with --plot: draw from results saved by --json instead of running anything",
    )
    p.add_argument("--plot-note", metavar="TEXT", default="", help="a line added to the figure's caption")
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
    p.add_argument(
        "--torch-threads",
        metavar="N",
        type=_positive_int,
        default=None,
        help=f"PyTorch's intra-op threads in every torch measurement (default: "
        f"${_protocol.ENV_TORCH_THREADS} or {_protocol.DEFAULT_TORCH_THREADS}); the report states it",
    )
    p.add_argument(
        "--torch-thp",
        action="store_true",
        help=f"set {_protocol.ENV_TORCH_THP}=1: PyTorch's CPU allocator puts large tensors on "
        "transparent huge pages (Linux; the report states it)",
    )
    p.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        msg = f"must be a positive integer; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


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
    if args.from_json is not None:
        if args.plot is None:
            print("--from-json only says where --plot reads from: give --plot FILE.png too", file=sys.stderr)
            return 2
        return plot(args.plot, args.plot_note, json_path=args.from_json)
    if args.quick and args.sweep:
        print("--quick and --sweep are two grids: give one", file=sys.stderr)
        return 2
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
    grid = _config.QUICK_GRID if args.quick else _config.SWEEP_GRID if args.sweep else _config.FULL_GRID
    env = dict(os.environ)
    env.update(
        {
            _config.ENV_GRID: grid.name,
            _config.ENV_GROUPS: ",".join(groups),
            _config.ENV_LEGACY_VENV: str(venv),
            _config.ENV_TIMEOUT: str(args.timeout),
            _protocol.ENV_TORCH_THREADS: str(args.torch_threads or _protocol.torch_threads()),
        }
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.torch_thp:
        env[_protocol.ENV_TORCH_THP] = "1"
    if args.only:
        env[_config.ENV_ONLY] = args.only
    else:
        env.pop(_config.ENV_ONLY, None)
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
    if args.plot is not None:
        plot_rc = plot(args.plot, args.plot_note, summary={**summary, "pytest_benchmark": bench})
        rc = rc or plot_rc
    # A ratio of a zero, negative or non-finite measurement is shown as ERROR, never judged.
    if _report.errors(summary) or _report.ERROR in text.split():
        print(
            "ERROR: some ratios were taken of a zero, negative or non-finite time (or memory peak): "
            "broken measurements, given no verdict (the cells marked ERROR); exit status 3",
            file=sys.stderr,
        )
        rc = rc or 3
    if rc == 5 and args.only:
        print(f"no benchmark matches --only {args.only!r}", file=sys.stderr)
    return rc


def plot(
    out: Path, note: str, *, json_path: Path | None = None, summary: dict[str, Any] | None = None
) -> int:
    """Draw ``--plot`` from a saved JSON or this run's summary; 2 (and why) if it cannot."""
    from benchmarks import _plot

    try:
        data = _plot.load(json_path) if json_path is not None else summary or {}
        _plot.save(data, out, note)
    except ValueError as exc:
        print(f"--plot: {exc}", file=sys.stderr)
        return 2
    print(f"figure written to {out}")
    return 0


def _torch_line(machine: dict[str, Any]) -> str:
    """The header's line on PyTorch's threads, as the benchmark process recorded them."""
    info = machine.get("keras_sig_bench", {})
    if "torch_threads" not in info:
        return "torch threads: not recorded (no pytest-benchmark results)"
    if info["torch_threads"] is None:
        return "torch threads: torch not installed (no torch rows)"
    line = f"torch threads: {info['torch_threads']} intra-op (torch.set_num_threads; --torch-threads)"
    if info.get("torch_thp"):
        line += f"; {_protocol.ENV_TORCH_THP}=1 (large tensors on huge pages; --torch-thp)"
    return line


def render(
    recs: list[dict[str, Any]], bench: dict[str, Any] | None, grid: _config.Grid, groups: list[str]
) -> tuple[str, dict[str, Any]]:
    machine = (bench or {}).get("machine_info", {})
    versions = machine.get("keras_sig_bench", {}).get("versions", {})
    torch_threads = machine.get("keras_sig_bench", {}).get("torch_threads")
    cpu = machine.get("cpu", {}).get("brand_raw") or platform.processor() or platform.machine()
    smoke = "; SMOKE TEST, NOT A MEASUREMENT" if grid.name == "quick" else ""
    lines = [
        "=" * 78,
        f"keras_sig benchmarks ({grid.name} grid{smoke})",
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        _torch_line(machine),
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
        "torch_threads": torch_threads,
        "records": recs,
    }
    for group in _config.GROUPS:  # each group's tables and targets; its target lists in the summary
        text, found = _report.section(group, recs)
        lines += [text] if text else []
        for name, rows in found.items():  # "targets", "backward_targets", "keras_targets", ...
            summary["targets" if name == "signature" else f"{name}_targets"] = rows
    lines.append(_report.notes_section(recs))
    return "\n".join(lines), summary
