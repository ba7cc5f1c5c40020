"""Signature features and a linear classifier on a real dataset: BasicMotions.

BasicMotions (Bagnall et al., the UEA multivariate archive) holds 80 recordings of
a smart watch's 3-D accelerometer and 3-D gyroscope (six channels, 100 points, ten
seconds) while four people were standing, walking, running or playing badminton;
40 recordings train, 40 test. sktime's wheel ships the archive's files, and this
script reads them straight from the installed package (no download, and sktime
itself is never imported)::

    pip install ".[sklearn]" && pip install --no-deps sktime==1.2.0
    python examples/basic_motions.py

The features are sktime's ``SignatureTransformer`` recipe (basepoint and time
augmentations, dyadic windows, depth-3 signatures), computed by
:class:`keras_sig.sklearn.SignatureTransformer`; a random forest classifies
them, as in sktime's ``SignatureClassifier``. The script prints the test accuracy and exits with
status 1 if it is below :data:`MIN_ACCURACY`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline

from keras_sig.sklearn import SignatureTransformer

MIN_ACCURACY = 0.9


def dataset_dir(name: str) -> Path:
    """The folder of ``name``'s ``.ts`` files inside the installed sktime wheel."""
    spec = importlib.util.find_spec("sktime")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        msg = "the dataset files come with sktime's wheel: pip install --no-deps sktime==1.2.0"
        raise SystemExit(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name


def load_ts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Series ``(n, length, channels)`` and labels ``(n,)`` of an equal-length ``.ts`` file.

    After the ``@data`` line, each line is one series: its channels separated
    by ``:``, each channel's values by ``,``, and the class label last.
    """
    series, labels = [], []
    in_data = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        series.append(np.array([[float(v) for v in c.split(",")] for c in channels]).T)
        labels.append(label)
    return np.stack(series), np.array(labels)


def main() -> int:
    """Fit on the training split, score on the test split; 0 if accurate enough."""
    folder = dataset_dir("BasicMotions")
    x_train, y_train = load_ts(folder / "BasicMotions_TRAIN.ts")
    x_test, y_test = load_ts(folder / "BasicMotions_TEST.ts")
    classes = sorted(set(y_train.tolist()))
    print(f"BasicMotions: train {x_train.shape}, test {x_test.shape}, classes {classes}")
    model = make_pipeline(
        SignatureTransformer(
            augmentation_list=("basepoint", "addtime"), window_name="dyadic", window_depth=3, depth=3
        ),
        RandomForestClassifier(n_estimators=100, random_state=0),
    )
    model.fit(x_train, y_train)
    features = model[0].transform(x_test[:1]).shape[-1]
    accuracy = float(model.score(x_test, y_test))
    print(f"{features} signature features per series; test accuracy {accuracy:.3f}")
    if accuracy < MIN_ACCURACY:
        print(f"FAILED: accuracy below {MIN_ACCURACY}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
