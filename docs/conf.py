"""Sphinx configuration of keras_sig's documentation (``nox -s docs`` builds it).

The user guide includes the README's sections (MyST's ``include`` between headings), so the
two cannot drift; the API reference is one autosummary page per public name, and the build
fails if ``api.rst`` leaves a public name out. Figures are drawn at build time by matplotlib's
``plot`` directive from keras_sig's own functions and a saved benchmark JSON.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # `benchmarks._plot` for the benchmark figure
os.environ.setdefault("KERAS_BACKEND", "jax")  # the Keras layers' pages import Keras

import keras_sig  # noqa: E402

project = "keras_sig"
author = "The keras_sig developers"
copyright = "the keras_sig developers, CC BY-NC-SA 4.0"
release = keras_sig.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
root_doc = "index"

# --- API reference
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc sections give the types; no unresolvable annotations
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# Nitpicky (-n): our own references must resolve. Other projects' names cannot, since the build
# runs offline (no intersphinx inventories to fetch), so they are let through by name.
nitpick_ignore_regex = [(r"py:.*", r"(keras|jax|numpy|np|torch|tensorflow|tf|sklearn|dask|cupy)(\..*)?")]
# keras_sig._api's private constant, named in signature's docstring (64 MiB), has no page.
nitpick_ignore = [("py:data", "DEFAULT_MEMORY_BUDGET")]

# --- MyST (the guide and the README's sections)
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# --- figures: matplotlib's plot directive runs each figure's code at build time
plot_working_directory = str(DOCS)
plot_basedir = str(DOCS)  # `.. plot:: _scripts/x.py` means docs/_scripts/x.py on every page
plot_formats = [("png", 110)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = False
plot_rcparams = {"figure.autolayout": False}

# --- doctest builder: the docstrings' examples
doctest_global_setup = "import numpy as np\nimport keras_sig"

# --- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"keras_sig {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # The figures' pages give their width to the figures.
    "secondary_sidebar_items": {
        "**": ["page-toc", "sourcelink"],
        "guide/augmentations": [],
        "guide/performance": [],
    },
}
html_sidebars = {"index": [], "install": []}  # pages without sub-pages: no empty side bar

# Every public name is on the API page (a name added to __all__ and forgotten fails the build).
_NOT_PAGES = {"__version__", "losses"}  # losses: its module's names are listed instead


def _public_names() -> set[str]:
    import keras_sig.losses
    import keras_sig.sklearn

    names = {f"keras_sig.{n}" for n in keras_sig.__all__ if n not in _NOT_PAGES}
    names |= {f"keras_sig.losses.{n}" for n in keras_sig.losses.__all__}
    names |= {f"keras_sig.sklearn.{n}" for n in keras_sig.sklearn.__all__}
    return names


def _check_api_page(_app: object) -> None:
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed: set[str] = set()
    module = "keras_sig"
    for line in text.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
        entry = re.fullmatch(r"\s{3,}(~?[A-Za-z_][\w.]*)", line)
        if entry and not line.strip().startswith(":"):
            listed.add(f"{module}.{entry.group(1).lstrip('~')}")
    missing = sorted(_public_names() - listed)
    if missing:
        msg = f"docs/api.rst lists no page for the public name(s) {', '.join(missing)}"
        raise RuntimeError(msg)


# The README links to files of the repository (benchmarks/README.md, LICENSE, ...), which are
# not pages of this site: in the included text they become the file's name in code.
_REPO_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|#|mailto:)([^)\s]+)\)")


def _repository_link(match: re.Match[str]) -> str:
    text, target = match.group(1), match.group(2)
    return f"`{target}`" if text.strip("`") == target else f"{text} (`{target}` in the repository)"


def _readme_links(_app: object, relative_path: Path, _parent: str, content: list[str]) -> None:
    if Path(relative_path).name == "README.md":
        content[0] = _REPO_LINK.sub(_repository_link, content[0])


def setup(app: object) -> None:
    """Check the API page at the start; rewrite the README's repository links as it is included."""
    app.connect("builder-inited", _check_api_page)  # type: ignore[attr-defined]
    app.connect("include-read", _readme_links)  # type: ignore[attr-defined]
