"""Docstring examples run, and the public API is documented."""

from __future__ import annotations

import doctest
import inspect

import pytest

import keras_sig
from keras_sig import _api
from tests._backends import BACKENDS_BY_NAME


@pytest.mark.skipif(
    "numpy" not in BACKENDS_BY_NAME, reason="docstring examples use NumPy; run in the numpy session"
)
def test_docstring_examples_run():
    result = doctest.testmod(_api, optionflags=doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert result.attempted >= 4
    assert result.failed == 0


@pytest.mark.parametrize(
    "name",
    [
        "signature",
        "sigdim",
        "add_time",
        "lead_lag",
        "invisibility_reset",
        "windowed_signature",
        "dyadic_signature",
    ],
)
def test_public_functions_have_numpydoc_sections(name):
    doc = inspect.getdoc(getattr(keras_sig, name))
    for section in ("Parameters\n----------", "Returns\n-------", "Examples\n--------"):
        assert section in doc, f"{name} lacks {section.splitlines()[0]}"
