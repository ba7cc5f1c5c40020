"""Docstring examples run, and the public API is documented."""

from __future__ import annotations

import doctest
import importlib
import inspect
import sys

import pytest

import keras_sig
from tests._backends import BACKENDS_BY_NAME

# The modules holding keras_sig's public functions and classes: the names bound at import
# (the framework shims and the keras/sklearn modules load on first use, in their own sessions).
_EAGER = {name for name in keras_sig.__all__ if name in vars(keras_sig)}
PUBLIC_MODULES = sorted(
    {
        getattr(keras_sig, name).__module__
        for name in keras_sig.__all__
        if name in _EAGER
        and (inspect.isfunction(getattr(keras_sig, name)) or inspect.isclass(getattr(keras_sig, name)))
    }
    - {"builtins"}
)


def test_every_public_module_is_listed():
    assert "keras_sig._api" in PUBLIC_MODULES
    assert "keras_sig._windows_api" in PUBLIC_MODULES
    assert all(name.startswith("keras_sig.") for name in PUBLIC_MODULES), PUBLIC_MODULES


@pytest.mark.skipif(
    "numpy" not in BACKENDS_BY_NAME, reason="docstring examples use NumPy; run in the numpy session"
)
@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 1, f"{module} has no docstring example"
    assert result.failed == 0
    assert module in sys.modules


PUBLIC_FUNCTIONS = sorted(
    name for name in keras_sig.__all__ if name in _EAGER and inspect.isfunction(getattr(keras_sig, name))
)


def test_public_functions_are_many():
    assert {"signature", "logsignature", "sig_kernel", "windowed_signature"} <= set(PUBLIC_FUNCTIONS)


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_functions_have_numpydoc_sections(name):
    fn = getattr(keras_sig, name)
    doc = inspect.getdoc(fn)
    sections = ["Returns\n-------", "Examples\n--------"]
    if inspect.signature(fn).parameters:
        sections.append("Parameters\n----------")
    for section in sections:
        assert section in doc, f"{name} lacks {section.splitlines()[0]}"
