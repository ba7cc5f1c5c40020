"""keras_sig in one minute: signatures with NumPy, then a Keras model that uses them.

Run from the repository root after ``pip install ".[jax,keras]"``::

    python examples/quickstart.py

1. Computes the signatures of a batch of random paths with plain NumPy arrays
   (no deep-learning framework involved) and checks one small case by hand.
2. Trains a small Keras model with ``SigLayer`` to tell whether a noisy loop is
   drawn clockwise or anticlockwise, and prints its accuracy on new loops.

Keras runs on JAX unless ``KERAS_BACKEND`` says otherwise (``torch`` and
``tensorflow`` work too). The script exits with status 1 if the model did not
learn. It takes a few seconds on two CPU cores.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported

import numpy as np

import keras_sig

SEED = 0
MIN_ACCURACY = 0.95


def numpy_signatures() -> None:
    """Part 1: framework-free signatures of NumPy arrays."""
    rng = np.random.default_rng(SEED)
    paths = rng.normal(size=(32, 100, 3)).cumsum(axis=1)  # (batch, length, channels)
    sig = keras_sig.signature(paths, depth=4)
    stream = keras_sig.signature(paths, depth=3, stream=True)
    print(f"paths {paths.shape} -> signature depth 4 {sig.shape} (sigdim(3, 4) = {keras_sig.sigdim(3, 4)})")
    print(f"paths {paths.shape} -> stream=True depth 3 {stream.shape}: the signature of every prefix")

    # Right, then up: level 1 is the displacement (1, 1); level 2 holds
    # S^{11} = 1/2, S^{12} = 1 (right happens before up), S^{21} = 0, S^{22} = 1/2.
    corner = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    got = keras_sig.signature(corner, depth=2)
    expected = np.array([1.0, 1.0, 0.5, 1.0, 0.0, 0.5])
    print(f"signature of the path (0,0) -> (1,0) -> (1,1) to depth 2: {got}")
    if not np.allclose(got, expected):
        print(f"FAILED: expected {expected}", file=sys.stderr)
        sys.exit(1)


def loops(n: int, rng: np.random.Generator, length: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Noisy closed loops in the plane and their orientation (1 = anticlockwise)."""
    label = rng.integers(0, 2, size=n)
    direction = np.where(label == 1, 1.0, -1.0)
    t = np.linspace(0.0, 2.0 * np.pi, length)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1))
    angle = phase + direction[:, None] * t
    wobble = 1.0 + 0.3 * rng.uniform(-1.0, 1.0, size=(n, 1)) * np.sin(2.0 * t)
    radius = rng.uniform(0.5, 1.5, size=(n, 1)) * wobble
    centre = rng.normal(scale=2.0, size=(n, 1, 2))
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1) + centre
    xy += rng.normal(scale=0.05, size=xy.shape)
    return xy.astype("float32"), label.astype("float32")[:, None]


def keras_model() -> float:
    """Part 2: a Keras model with SigLayer learns the orientation of loops."""
    import keras

    from keras_sig import SigLayer

    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    x_train, y_train = loops(1024, rng)
    x_test, y_test = loops(512, rng)

    model = keras.Sequential(
        [
            keras.Input(shape=(None, 2)),  # any number of points, 2 channels
            SigLayer(depth=3),  # (batch, 2 + 4 + 8)
            keras.layers.LayerNormalization(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(
        f"Keras ({keras.backend.backend()}): SigLayer model, clockwise vs anticlockwise loops, "
        f"test accuracy {accuracy:.3f} after {time.perf_counter() - start:.1f} s of training"
    )
    return float(accuracy)


def main() -> None:
    """Run both parts; exit 1 if the model did not learn."""
    numpy_signatures()
    accuracy = keras_model()
    if accuracy < MIN_ACCURACY:
        print(f"FAILED: accuracy {accuracy:.3f} < {MIN_ACCURACY}", file=sys.stderr)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
