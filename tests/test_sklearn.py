"""keras_sig.sklearn.SignatureTransformer: sktime's features, scikit-learn's contract."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from keras_sig.sklearn import SignatureTransformer
from tests._backends import BACKENDS_BY_NAME
from tests.data.make_sktime_reference import SETTINGS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent

# 2-D input is read as univariate series whose columns are time points, so these
# checks, which assume the columns are fixed named features, do not apply.
_SERIES_NOT_FEATURES = "columns of 2-D input are time points: a series of another length is valid"
EXPECTED_FAILED = {
    "check_n_features_in_after_fitting": _SERIES_NOT_FEATURES,
    "check_transformer_general": _SERIES_NOT_FEATURES,
}


def _expected_failed(estimator):
    return EXPECTED_FAILED


@parametrize_with_checks(
    [SignatureTransformer(window_name="global", depth=2)],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("k", range(len(SETTINGS)))
def test_matches_sktime_1_2_0(k):
    ref = np.load(DATA / "sktime_reference.npz")
    out = SignatureTransformer(**SETTINGS[k], channels_first=True).fit_transform(ref["X"])
    expected = ref[f"y{k}"]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_backends_agree(backend, dtype, tol, rng):
    x = rng.normal(size=(3, 17, 2))
    tfm = SignatureTransformer(depth=3, augmentation_list=("basepoint", "addtime", "leadlag"))
    expected = tfm.fit_transform(x)
    out = tfm.fit_transform(backend.asarray(x, dtype))
    np.testing.assert_allclose(backend.to_numpy(out), expected, **tol)


def test_ragged_series_equal_their_own_features(rng):
    series = [rng.normal(size=(n, 2)) for n in (9, 12, 9, 20)]
    tfm = SignatureTransformer(depth=3, window_depth=2).fit(series)
    out = tfm.transform(series)
    assert out.shape == (4, 7 * 39)
    for i, s in enumerate(series):
        np.testing.assert_allclose(out[i], tfm.transform(s[None])[0], rtol=1e-12, atol=1e-12)


def test_channels_first_is_the_transposed_layout(rng):
    x = rng.normal(size=(3, 10, 2))
    a = SignatureTransformer(depth=2, window_name="global").fit_transform(x)
    b = SignatureTransformer(depth=2, window_name="global", channels_first=True).fit_transform(
        x.transpose(0, 2, 1)
    )
    np.testing.assert_allclose(a, b)


def test_pipeline_grid_search_and_pandas_output(rng):
    x = rng.normal(size=(24, 16, 2))
    y = np.arange(24) % 2
    x[y == 1] *= 2.0
    pipe = make_pipeline(SignatureTransformer(window_name="global"), LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"signaturetransformer__depth": [2, 3]}, cv=2).fit(x, y)
    assert search.best_params_["signaturetransformer__depth"] in (2, 3)
    import pandas as pd

    frame = (
        SignatureTransformer(depth=2, window_name="global").set_output(transform="pandas").fit_transform(x)
    )
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (24, 3 + 9)
    assert list(frame.columns[:2]) == ["signaturetransformer0", "signaturetransformer1"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"augmentation_list": ("time",)}, "augmentation_list"),
        ({"window_name": "tumbling"}, "window_name"),
        ({"rescaling": "post", "sig_tfm": "logsignature"}, "rescaling"),
        ({"window_name": "sliding"}, "window_length"),
        ({"window_depth": 9}, "window_depth=9"),
        ({"depth": 0}, "depth"),
    ],
)
def test_errors_name_the_parameter(params, match, rng):
    with pytest.raises(ValueError, match=match):
        SignatureTransformer(**params).fit(rng.normal(size=(2, 10, 2)))


def test_import_keras_sig_imports_no_sklearn():
    code = "import sys, keras_sig; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_ragged_log_signatures_on_every_backend(backend, rng):
    series = [rng.normal(size=(n, 2)) for n in (8, 11, 8)]
    tfm = SignatureTransformer(depth=3, sig_tfm="logsignature", window_depth=1)
    expected = tfm.fit_transform(series)
    out = tfm.fit_transform([backend.asarray(s) for s in series])
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-10, atol=1e-12)


# examples/basic_motions.py reads BasicMotions from sktime's wheel, which the numpy
# nox session installs with --no-deps (KERAS_SIG_TEST_REQUIRE_DATASETS=1: missing fails).
_DATASETS_REQUIRED = os.environ.get("KERAS_SIG_TEST_REQUIRE_DATASETS") == "1"


@pytest.mark.skipif("numpy" not in BACKENDS_BY_NAME, reason="the example runs in the numpy session")
def test_basic_motions_example_classifies_a_real_dataset():
    if importlib.util.find_spec("sktime") is None and not _DATASETS_REQUIRED:
        pytest.skip("sktime's wheel (the dataset files) is not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "basic_motions.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BasicMotions: train (40, 100, 6), test (40, 100, 6)" in done.stdout
    accuracy = float(done.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.9


def test_load_ts_reads_channels_and_labels(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from basic_motions import load_ts
    finally:
        sys.path.remove(str(ROOT / "examples"))
    text = "# comment\n@problemName toy\n@dimensions 2\n@data\n1,2,3:4,5,6:a\n7,8,9:1,2,3:b\n"
    (tmp_path / "toy.ts").write_text(text, encoding="utf-8")
    x, y = load_ts(tmp_path / "toy.ts")
    np.testing.assert_array_equal(x[0], [[1, 4], [2, 5], [3, 6]])
    assert x.shape == (2, 3, 2)
    assert y.tolist() == ["a", "b"]
