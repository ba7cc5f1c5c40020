"""Package hygiene: public names, version metadata, lazy framework imports."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import keras_sig


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
