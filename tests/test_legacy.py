"""keras_sig 1.0.2 compatibility without Keras: version, ``signature``'s old arguments, its module.

The Keras-side spellings (``SigLayer``'s positional arguments, ``keras_sig.layer``,
``keras_sig.tensor_ops``, ``keras_sig.quick_sig``) are tested in test_keras.py, and
sigkan, a 1.0.2 dependent, in test_sigkan.py.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import keras_sig
from keras_sig import _api, _compat
from tests import reference

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (a clean ``sys.modules``) and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# --------------------------------------------------------------------------- version


def test_version_satisfies_the_predecessors_pins():
    """Dependents of 1.0.2 (sigkan) pin ``keras_sig>=1.0.0,<2.0.0``: pip must keep this release."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", keras_sig.__version__)
    assert match is not None, f"{keras_sig.__version__!r} is not a final release X.Y.Z"
    release = tuple(int(part) for part in match.groups())
    assert (1, 0, 2) < release < (2, 0, 0)


# --------------------------------------------------------------------------- signature's arguments


def test_signature_takes_1_0_2_positional_and_legacy_arguments(backend):
    rng = np.random.default_rng(13)
    x_np = np.cumsum(rng.normal(size=(2, 6, 3)), axis=-2)
    x = backend.asarray(x_np, "float64")
    expected = reference.signature(x_np, 3, stream=True)
    tol = {"rtol": 1e-10, "atol": 1e-12}
    # stream positionally and unroll (ignored) warn of nothing: warnings are errors here
    np.testing.assert_allclose(backend.to_numpy(keras_sig.signature(x, 3, True)), expected, **tol)
    for unroll in (None, False, True, 5):
        out = keras_sig.signature(x, 3, True, unroll)
        np.testing.assert_allclose(backend.to_numpy(out), expected, **tol)
    for gpu_optimized, method in ((True, "parallel"), (False, "sequential")):
        with pytest.warns(
            DeprecationWarning, match=f"gpu_optimized={gpu_optimized}.*method='{method}'"
        ) as rec:
            out = keras_sig.signature(x, 3, True, None, gpu_optimized)
        assert rec[0].filename == __file__  # the warning points at the caller's line
        np.testing.assert_allclose(backend.to_numpy(out), expected, **tol)
        with pytest.deprecated_call():
            out = keras_sig.signature(x, depth=3, stream=False, unroll=2, gpu_optimized=gpu_optimized)
        np.testing.assert_allclose(backend.to_numpy(out), expected[..., -1, :], **tol)
    with pytest.deprecated_call():  # agreeing with method= is allowed
        keras_sig.signature(x, 2, gpu_optimized=True, method="parallel")


def test_signature_chooses_the_method_gpu_optimized_names(monkeypatch):
    seen = []
    real = _api._core.signature

    def spy(*args, **kwargs):
        seen.append(kwargs["plan"].method)
        return real(*args, **kwargs)

    monkeypatch.setattr(_api._core, "signature", spy)
    x = np.ones((4, 2)).cumsum(axis=0)
    with pytest.deprecated_call():
        keras_sig.signature(x, 2, gpu_optimized=True)
    with pytest.deprecated_call():
        keras_sig.signature(x, 2, gpu_optimized=False)
    keras_sig.signature(x, 2, gpu_optimized=None, method="sequential")
    assert seen == ["parallel", "sequential", "sequential"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gpu_optimized": "yes"}, TypeError, "gpu_optimized must be True or False; got 'yes'"),
        ({"gpu_optimized": 1}, TypeError, "gpu_optimized must be True or False; got 1"),
        ({"gpu_optimized": True, "method": "sequential"}, ValueError, "contradicts method='sequential'"),
        ({"gpu_optimized": False, "method": "parallel"}, ValueError, "contradicts method='parallel'"),
        ({"unroll": "yes"}, TypeError, "unroll must be an integer >= 1; got 'yes'"),
        ({"unroll": 0}, ValueError, "unroll must be an integer >= 1; got 0"),
        ({"unroll": 2.5}, TypeError, "unroll must be an integer"),
    ],
)
def test_signature_legacy_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):  # raised before any deprecation warning
        keras_sig.signature(np.zeros((3, 2)), 2, **kwargs)


def test_too_many_positional_arguments_are_refused():
    with pytest.raises(TypeError, match="positional"):
        keras_sig.signature(np.zeros((3, 2)), 2, False, None, None, True)  # basepoint is keyword-only


# --------------------------------------------------------------------------- the module keras_sig.signature


@pytest.mark.parametrize("order", ["module_first", "function_first"])
def test_package_signature_stays_callable_after_importing_the_module(order):
    steps = {
        "function_first": (
            "import keras_sig\nfirst = keras_sig.signature(x, 3, True)\n"
            "import keras_sig.signature\n"
            "with warnings.catch_warnings(record=True) as rec:\n"
            "    warnings.simplefilter('always')\n"
            "    from keras_sig.signature import signature\n"
        ),
        "module_first": (
            "with warnings.catch_warnings(record=True) as rec:\n"
            "    warnings.simplefilter('always')\n"
            "    from keras_sig.signature import signature\n"
            "import keras_sig\nfirst = keras_sig.signature(x, 3, True)\n"
        ),
    }[order]
    code = (
        "import sys, warnings\nimport numpy as np\n"
        "x = np.cumsum(np.sin(np.arange(18.0)).reshape(6, 3), axis=0)\n"
        f"{steps}"
        "from keras_sig import _api\n"
        "assert signature is _api.signature, signature\n"
        "assert [w.category for w in rec] == [DeprecationWarning], [str(w.message) for w in rec]\n"
        "assert 'from keras_sig import signature' in str(rec[0].message)\n"
        "assert rec[0].filename == '<string>', rec[0].filename\n"
        "assert isinstance(sys.modules['keras_sig.signature'], type(sys))\n"
        "assert keras_sig.signature is _api.signature, keras_sig.signature  # never the module\n"
        "again = keras_sig.signature(x, 3, True)\n"
        "from keras_sig import signature as package_attribute\n"
        "assert package_attribute(x, depth=3, stream=True).tolist() == first.tolist()\n"
        "assert again.tolist() == first.tolist() == _api.signature(x, 3, stream=True).tolist()\n"
        "print('ok')\n"
    )
    assert _run(code).strip() == "ok"


def test_importing_the_legacy_signature_module_loads_no_framework():
    code = (
        "import sys\nimport keras_sig.signature\n"
        "heavy = {'jax', 'torch', 'tensorflow', 'keras', 'cupy', 'numpy', 'dask'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    assert _run(code).strip() == "[]"


def test_package_attribute_stays_the_function_compilers_trace():
    import keras_sig.signature as named  # what `import ... as` binds: the package attribute

    module = sys.modules["keras_sig.signature"]
    assert named is keras_sig.signature is _api.signature
    assert isinstance(module, type(sys))
    assert module is not keras_sig.signature
    text = pydoc.render_doc(module)  # help() of the module: no deprecation warning (they are errors here)
    assert "from keras_sig.signature import signature" in text
    assert set(module.__all__) == {"signature", "get_largest_divisor_under_20"}
    assert inspect.isfunction(keras_sig.signature)


def test_signature_module_names_warn():
    module = sys.modules["keras_sig.signature"]

    with pytest.deprecated_call(match="from keras_sig import signature"):
        function = module.signature
    assert function is _api.signature
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module.__name__ == "keras_sig.signature"  # dunder and private names do not warn


@pytest.mark.parametrize(
    ("n", "expected"), [(42, 14), (20, 20), (100, 20), (37, 1), (19, 19), (0, 10), (-3, 10)]
)
def test_get_largest_divisor_under_20(n, expected):
    module = sys.modules["keras_sig.signature"]

    with pytest.deprecated_call(match="no replacement"):
        function = module.get_largest_divisor_under_20
    assert function(n) == expected
    with pytest.raises(TypeError, match="n must be an integer"):
        function(4.0)


# --------------------------------------------------------------------------- 1.0.2's tensor algebra


def _flat(levels: list[np.ndarray], shared: int) -> np.ndarray:
    return np.concatenate([level.reshape(*level.shape[:shared], -1) for level in levels], axis=-1)


def test_level_list_algebra_matches_the_signature():
    """exp_levels is a segment's signature, times_exp_levels Chen's identity, in 1.0.2's layout."""
    rng = np.random.default_rng(3)
    path = np.cumsum(rng.normal(size=(4, 5, 3)), axis=-2)
    increments = np.diff(path, axis=-2)
    depth = 4
    levels = _compat.exp_levels(increments[:, 0], depth, shared=1, expand_dims=np.expand_dims)
    assert [level.shape for level in levels] == [(4,) + (3,) * k for k in range(1, depth + 1)]
    np.testing.assert_allclose(_flat(levels, 1), reference.signature(path[:, :2], depth), rtol=1e-12)
    for t in range(1, increments.shape[1]):
        levels = _compat.times_exp_levels(increments[:, t], levels, shared=1, expand_dims=np.expand_dims)
    np.testing.assert_allclose(_flat(levels, 1), reference.signature(path, depth), rtol=1e-10, atol=1e-12)
    single = _compat.exp_levels(increments[0, 0], 2, shared=0, expand_dims=np.expand_dims)
    single = _compat.times_exp_levels(increments[0, 1], single, shared=0, expand_dims=np.expand_dims)
    np.testing.assert_allclose(_flat(single, 0), reference.signature(path[0, :3], 2), rtol=1e-12)


def test_outer_products_keep_the_shared_axes():
    rng = np.random.default_rng(4)
    x, y, z = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(2, 3, 4, 5))
    out = _compat.outer(x, y, shared=2, expand_dims=np.expand_dims)
    np.testing.assert_allclose(out, np.einsum("bsi,bsjk->bsijk", x, y))
    out = _compat.outer(x, y, shared=1, expand_dims=np.expand_dims)
    np.testing.assert_allclose(out, np.einsum("bsi,btjk->bsitjk", x, y))
    out = _compat.outer(x[0, 0], y[0, 0], shared=0, expand_dims=np.expand_dims)
    np.testing.assert_allclose(out, np.multiply.outer(x[0, 0], y[0, 0]))
    added = _compat.add_outer(z, x, y[..., 0, :], shared=2, expand_dims=np.expand_dims)
    np.testing.assert_allclose(added, z + np.einsum("bsi,bsj->bsij", x, y[..., 0, :]))
