"""Make ``sktime_reference.npz``, sktime 1.2.0's SignatureTransformer features (not run by the tests).

sktime 1.2.0 needs scikit-learn < 1.8, so run it in a separate virtual environment::

    python3 -m venv /tmp/sktvenv
    /tmp/sktvenv/bin/pip install "sktime==1.2.0" "scikit-learn<1.8" pandas esig
    /tmp/sktvenv/bin/python tests/data/make_sktime_reference.py

The file holds the input ``X`` (float64, sktime's layout ``(n_series, channels,
length)``) and, for each setting ``k`` of ``SETTINGS``, sktime's output ``y{k}``
(default esig backend).  Made with sktime 1.2.0, esig 1.0.0, scikit-learn 1.7.2.
"""

from __future__ import annotations

from pathlib import Path

SETTINGS = [
    {"depth": 3},
    {"depth": 3, "window_name": "global", "augmentation_list": ("basepoint", "addtime", "leadlag")},
    {"depth": 3, "window_name": "dyadic", "window_depth": 4, "augmentation_list": ("ir", "addtime")},
    {"depth": 2, "window_name": "sliding", "window_length": 5, "window_step": 3, "rescaling": "post"},
    {
        "depth": 3,
        "window_name": "expanding",
        "window_length": 4,
        "window_step": 5,
        "augmentation_list": ("cumsum",),
    },
    {"depth": 4, "window_name": "global", "sig_tfm": "logsignature", "augmentation_list": ("addtime",)},
    {"depth": 3, "window_name": "dyadic", "window_depth": 2, "sig_tfm": "logsignature", "rescaling": "pre"},
    {
        "depth": 3,
        "window_name": "sliding",
        "window_length": 6,
        "window_step": 4,
        "sig_tfm": "logsignature",
        "augmentation_list": ("leadlag", "basepoint"),
    },
    {"depth": 2, "window_name": "dyadic", "window_depth": 4, "augmentation_list": None},
]


def main() -> None:
    import numpy as np
    from sktime.transformations.signature_based import SignatureTransformer

    X = np.random.default_rng(17).normal(size=(4, 2, 19))
    out = {"X": X}
    for k, params in enumerate(SETTINGS):
        out[f"y{k}"] = SignatureTransformer(**params).fit_transform(X)
    np.savez_compressed(Path(__file__).with_name("sktime_reference.npz"), **out)


if __name__ == "__main__":
    main()
