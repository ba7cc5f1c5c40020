"""Package hygiene: public names, version metadata, lazy framework imports, what ships."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import re
import subprocess
import sys
from pathlib import Path

import pytest

import keras_sig

ROOT = Path(__file__).resolve().parent.parent
# What an unpacked sdist needs for the README's two set-up commands (`pip install ".[jax,keras]"
# && python examples/quickstart.py`, and `nox`: noxfile.py reads constraints/ and runs tests/;
# its bench and gpu-kit-cpu sessions run benchmarks/, its docs session docs/), plus the release
# notes and citation.
SDIST_NEEDS = (
    "keras_sig",
    "tests",
    "examples",
    "benchmarks",
    "docs",
    "constraints",
    "noxfile.py",
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "CITATION.cff",
    "LICENSE",
)


def test_all_lists_exactly_the_public_names():
    listed = set(keras_sig.__all__) - {"__version__"}
    public = {name for name in dir(keras_sig) if not name.startswith("_")}
    public.discard("shims")  # a subpackage appears as an attribute once imported
    assert listed == public
    # The framework-free names are there without importing anything heavy; the lazy
    # ones (SigLayer imports Keras, jax_signature imports JAX) are checked in their sessions.
    for name in ("signature", "sigdim"):
        assert callable(getattr(keras_sig, name))


def test_installed_version_matches():
    assert importlib.metadata.version("keras_sig") == keras_sig.__version__


def test_import_loads_no_framework():
    code = (
        "import sys, keras_sig\n"
        "heavy = {'jax', 'torch', 'tensorflow', 'keras', 'cupy', 'numpy', 'dask'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_sdist_includes_what_the_readme_commands_need():
    include = _pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    names = {entry.strip("/") for entry in include}
    assert set(SDIST_NEEDS) <= names, sorted(set(SDIST_NEEDS) - names)
    for name in names:
        assert (ROOT / name).exists(), name
        assert not name.startswith("."), name  # no .nox, .ci-venv, .bench-venvs, .gpu-wheels


def test_readme_setup_commands_use_only_shipped_paths():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install ".[jax,keras]" && python examples/quickstart.py' in readme
    assert (ROOT / "examples" / "quickstart.py").is_file()


def test_type_hints_are_shipped():
    assert importlib.resources.files("keras_sig").joinpath("py.typed").is_file()


def test_changelog_and_citation_name_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{keras_sig.__version__}]" in changelog
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^version: (.+)$", citation, re.MULTILINE).group(1) == keras_sig.__version__
