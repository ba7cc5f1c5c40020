"""Make the keras_sig 1.0.2 fixtures used by ``tests/test_keras.py`` (not run by the tests).

``keras_sig_1_0_2_model.keras`` is a tiny model saved by keras_sig 1.0.2
(``Input((20, 3)) -> Dense(2) -> SigLayer(depth=3)``, its layer registered as
``"Custom>SigLayer"`` with config keys ``depth``, ``stream``, ``unroll`` and
``gpu_optimized``), and ``keras_sig_1_0_2_io.npz`` holds an input batch ``x``
(float32, shape ``(4, 20, 3)``) with 1.0.2's output ``y`` (shape ``(4, 14)``).
The test loads the file with the current keras_sig, without ``custom_objects``,
and checks it reproduces ``y``.

Run it in a separate virtual environment holding the old release, from the
repository root::

    python3 -m venv /tmp/ks102
    /tmp/ks102/bin/pip install keras-sig==1.0.2 jax keras numpy
    KERAS_BACKEND=jax /tmp/ks102/bin/python tests/data/make_legacy_model.py

The fixtures were made with keras_sig 1.0.2, keras 3.15.1, jax 0.10.2 and
numpy 2.4.6 on CPU.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

from keras_sig import SigLayer

HERE = Path(__file__).parent


def main() -> None:
    """Build, run and save the legacy model and its input/output pair."""
    version = importlib.metadata.version("keras_sig")
    if version != "1.0.2":
        sys.exit(f"run this with keras_sig 1.0.2 installed (see the docstring); found {version}")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((20, 3)), keras.layers.Dense(2), SigLayer(depth=3)],
        name="keras_sig_1_0_2",
    )
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(scale=0.3, size=(4, 20, 3)), axis=1).astype("float32")
    y = np.asarray(model.predict(x, verbose=0))
    model.save(HERE / "keras_sig_1_0_2_model.keras")
    np.savez(HERE / "keras_sig_1_0_2_io.npz", x=x, y=y)
    print(f"keras_sig {version}, keras {keras.__version__}: saved output of shape {y.shape}")


if __name__ == "__main__":
    main()
