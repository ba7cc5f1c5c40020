"""The wheel folder that lets the GPU kit run on a machine without network.

:func:`fill` runs on a machine with network (``pip download``, no
dependencies resolved, binary wheels for the GPU machine's Python);
:func:`install` runs on the GPU machine and unpacks, without pip, the wheels
of the distributions its interpreter lacks. keras-sig 1.0.2 is imported as
``keras_sig`` too, so it goes into a folder of its own that only its
subprocesses put on their path.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

# Keras and what it needs beyond NumPy, ml-dtypes and packaging (which jax and
# pytest bring), the array-API pieces, and the peers timed beside ours. Pinned
# to the versions the CPU environment is tested with.
MAIN = (
    "array-api-compat==1.16.0",
    "array-api-strict==2.6.1",
    "keras==3.15.1",
    "absl-py==2.5.1",
    "rich==15.0.0",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "pygments==2.21.0",
    "namex==0.1.0",
    "optree==0.20.0",
    "h5py==3.14.0",
    "signax==0.2.1",
)
# pySigLib and its CUDA plugin (about 30 MB together; the plugin bundles the CUDA 12.9 runtime).
PYSIGLIB = ("pysiglib==4.0.0", "pysiglib-cuda==4.0.0")
# pySigLib's pure-Python dependency, published as an sdist only: built into a wheel here.
PYSIGLIB_SDISTS = ("kauri==2.3.0",)
LEGACY = ("keras-sig==1.0.2",)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# What may travel with the working tree in one device call, less room for the tree itself.
CARRY_LIMIT = 64 * 2**20
TREE_ALLOWANCE = 8 * 2**20


def folder_bytes(folder: Path) -> int:
    """The total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def download_command(dest: Path, requirements: tuple[str, ...], python_version: str) -> list[str]:
    """The ``pip download`` command that fetches ``requirements`` as wheels into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python_version, "--implementation", "cp", "--dest", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    return [*cmd, *requirements]


def fill(dest: Path, *, python_version: str = "3.12", pysiglib: bool = True) -> int:
    """Download the kit's wheels into ``dest/main`` and ``dest/legacy``; print and return their size.

    Raises
    ------
    RuntimeError
        If ``pip download`` fails or the wheels leave too little of the
        device call's 64 MiB for the working tree.
    """
    main = MAIN + (PYSIGLIB if pysiglib else ())
    commands = [download_command(dest / "main", main, python_version)]
    commands.append(download_command(dest / "legacy", LEGACY, python_version))
    if pysiglib:
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dest / "main")]
        commands.append([*build, *PYSIGLIB_SDISTS])
    for cmd in commands:
        Path(cmd[cmd.index("--dest") + 1] if "--dest" in cmd else cmd[cmd.index("--wheel-dir") + 1]).mkdir(
            parents=True, exist_ok=True
        )
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0:
            msg = f"{' '.join(cmd[2:4])} failed (exit {proc.returncode}): {' '.join(cmd)}"
            raise RuntimeError(msg)
    total = folder_bytes(dest)
    for wheel in sorted(dest.rglob("*.whl")):
        print(f"{wheel.stat().st_size / 2**20:8.2f} MiB  {wheel.relative_to(dest)}")
    print(f"{total / 2**20:8.2f} MiB  in all (a device call carries {CARRY_LIMIT // 2**20} MiB)")
    if total > CARRY_LIMIT - TREE_ALLOWANCE:
        msg = f"the wheels take {total / 2**20:.1f} MiB: too much to travel with the tree; drop pySigLib"
        raise RuntimeError(msg)
    return total


def distribution_of(wheel: Path) -> str:
    """The distribution name in a wheel's file name (``keras_sig-1.0.2-py3-none-any.whl``)."""
    return wheel.name.split("-", 1)[0]


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` in this interpreter, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def unpack(wheel: Path, target: Path) -> None:
    """Install ``wheel`` into ``target`` by unpacking it (what pip does, minus scripts)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    for data in target.glob("*.data"):
        for kind in ("purelib", "platlib"):
            src = data / kind
            if src.is_dir():
                for item in src.iterdir():
                    shutil.move(str(item), str(target / item.name))
        shutil.rmtree(data)


def install(wheels: Path, site: Path) -> dict[str, Any]:
    """Unpack what this interpreter lacks from ``wheels/main`` into ``site/main``, 1.0.2 into ``site/legacy``.

    Returns what was done: ``{"main": {dist: "installed" | "present <version>"}, "legacy": ...}``.
    A missing wheel folder is reported, not an error (the rows that need it say so).
    """
    report: dict[str, Any] = {"wheels": str(wheels), "site": str(site), "main": {}, "legacy": {}}
    if not wheels.is_dir():
        report["note"] = f"no wheel folder at {wheels}: nothing installed"
        return report
    for wheel in sorted((wheels / "main").glob("*.whl")):
        name = distribution_of(wheel)
        have = installed_version(name)
        if have is not None:
            report["main"][name] = f"present {have}"
            continue
        unpack(wheel, site / "main")
        report["main"][name] = f"installed {wheel.name}"
    for wheel in sorted((wheels / "legacy").glob("*.whl")):
        unpack(wheel, site / "legacy")
        report["legacy"][distribution_of(wheel)] = f"installed {wheel.name}"
    return report
