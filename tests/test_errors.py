"""Argument validation shared by every public function: ``xp=`` and the integer parameters.

These checks happen before any array work, so they are backend-independent
and run on NumPy (the TensorFlow-only unknown-rank error is in
test_tensorflow.py and test_keras.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import keras_sig

_PATH = np.cumsum(np.random.default_rng(20).normal(size=(6, 2)), axis=0)
_SIG = keras_sig.signature(_PATH, 3)
_LOGSIG = keras_sig.logsignature(_PATH, 3)

# Every public function taking ``xp``, called on valid arguments with ``**kwargs`` added.
WITH_XP: dict[str, Callable[..., Any]] = {
    "signature": lambda **k: keras_sig.signature(_PATH, 3, **k),
    "logsignature": lambda **k: keras_sig.logsignature(_PATH, 3, **k),
    "signature_to_logsignature": lambda **k: keras_sig.signature_to_logsignature(_SIG, 2, 3, **k),
    "logsignature_to_signature": lambda **k: keras_sig.logsignature_to_signature(_LOGSIG, 2, 3, **k),
    "signature_combine": lambda **k: keras_sig.signature_combine(_SIG, _SIG, 2, 3, **k),
    "multi_signature_combine": lambda **k: keras_sig.multi_signature_combine([_SIG, _SIG], 2, 3, **k),
    "signature_inverse": lambda **k: keras_sig.signature_inverse(_SIG, 2, 3, **k),
    "extract_signature_term": lambda **k: keras_sig.extract_signature_term(_SIG, 2, 3, 2, **k),
    "add_time": lambda **k: keras_sig.add_time(_PATH, **k),
    "lead_lag": lambda **k: keras_sig.lead_lag(_PATH, **k),
    "invisibility_reset": lambda **k: keras_sig.invisibility_reset(_PATH, **k),
    "windowed_signature": lambda **k: keras_sig.windowed_signature(_PATH, 3, window=3, **k),
    "dyadic_signature": lambda **k: keras_sig.dyadic_signature(_PATH, 3, 1, **k),
}

# Every public function taking ``depth``, called with the given depth.
WITH_DEPTH: dict[str, Callable[[Any], Any]] = {
    "sigdim": lambda d: keras_sig.sigdim(2, d),
    "logsigdim": lambda d: keras_sig.logsigdim(2, d),
    "lyndon_words": lambda d: keras_sig.lyndon_words(2, d),
    "lyndon_brackets": lambda d: keras_sig.lyndon_brackets(2, d),
    "all_words": lambda d: keras_sig.all_words(2, d),
    "signature": lambda d: keras_sig.signature(_PATH, d),
    "logsignature": lambda d: keras_sig.logsignature(_PATH, d),
    "signature_to_logsignature": lambda d: keras_sig.signature_to_logsignature(_SIG, 2, d),
    "logsignature_to_signature": lambda d: keras_sig.logsignature_to_signature(_LOGSIG, 2, d),
    "signature_combine": lambda d: keras_sig.signature_combine(_SIG, _SIG, 2, d),
    "multi_signature_combine": lambda d: keras_sig.multi_signature_combine([_SIG, _SIG], 2, d),
    "signature_inverse": lambda d: keras_sig.signature_inverse(_SIG, 2, d),
    "extract_signature_term": lambda d: keras_sig.extract_signature_term(_SIG, 2, d, 2),
    "windowed_signature": lambda d: keras_sig.windowed_signature(_PATH, d, window=3),
    "dyadic_signature": lambda d: keras_sig.dyadic_signature(_PATH, d, 1),
}

# Other integer parameters: (name, call with that parameter set to the value).
OTHER_INTS: dict[str, Callable[[Any], Any]] = {
    "channels": lambda c: keras_sig.sigdim(c, 3),
    "window": lambda w: keras_sig.windowed_signature(_PATH, 2, window=w),
    "step": lambda s: keras_sig.windowed_signature(_PATH, 2, window=2, step=s),
    "dyadic_depth": lambda n: keras_sig.dyadic_signature(_PATH, 2, n),
    "level": lambda n: keras_sig.extract_signature_term(_SIG, 2, 3, n),
    "memory_budget": lambda b: keras_sig.signature(_PATH, 2, memory_budget=b),
}


@pytest.mark.parametrize("name", list(WITH_XP))
@pytest.mark.parametrize("bad", ["numpy", 42, object(), int], ids=["str", "int", "object", "class"])
def test_xp_that_is_not_a_namespace_is_a_type_error(name, bad):
    with pytest.raises(TypeError, match=r"^xp must be an array namespace.*; got ") as info:
        WITH_XP[name](xp=bad)
    assert type(bad).__name__ in str(info.value)  # what arrived


@pytest.mark.parametrize("name", list(WITH_XP))
def test_xp_namespace_still_accepted(name):
    plain = WITH_XP[name]()
    np.testing.assert_allclose(WITH_XP[name](xp=np), plain)


@pytest.mark.parametrize("name", list(WITH_DEPTH))
@pytest.mark.parametrize(
    "bad",
    [np.array([3]), np.array([[2]]), np.array(3.0), np.float64(3.0)],
    ids=["1d", "2d", "0d_float", "float"],
)
def test_depth_array_is_a_type_error(name, bad):
    with pytest.raises(
        TypeError, match=r"^depth must be an integer >= 1.*; got array|^depth must .*got np"
    ) as info:
        WITH_DEPTH[name](bad)
    assert "ndarray" in str(info.value) or "float64" in str(info.value)


@pytest.mark.parametrize("name", list(WITH_DEPTH))
@pytest.mark.parametrize(
    "good", [np.int64(3), np.array(3), np.array(3, dtype=np.int8)], ids=["int64", "0d", "0d_int8"]
)
def test_depth_numpy_integer_scalar_accepted(name, good):
    expected = WITH_DEPTH[name](3)
    result = WITH_DEPTH[name](good)
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(result, expected)
    else:
        assert result == expected


@pytest.mark.parametrize("name", list(OTHER_INTS))
def test_other_integer_parameters(name):
    call = OTHER_INTS[name]
    with pytest.raises(TypeError, match=rf"^{name} must be an integer"):
        call(np.array([2]))
    good = call(2)
    result = call(np.int64(2))
    if isinstance(good, np.ndarray):
        np.testing.assert_array_equal(result, good)
    else:
        assert result == good
