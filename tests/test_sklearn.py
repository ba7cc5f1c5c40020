"""keras_sig.sklearn.SignatureTransformer: sktime's features, scikit-learn's contract."""

from __future__ import annotations

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
