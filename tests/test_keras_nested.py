"""Our layers and functions inside other layers, where Keras infers shapes symbolically.

Keras infers the output of a layer that has no ``compute_output_shape`` by
tracing its ``call`` on symbolic tensors (on JAX through ``jax.eval_shape``
with a symbolic batch size). A ``SigLayer`` built inside such a layer (as
sigkan's ``SigDense`` does), or :func:`keras_sig.signature` in a ``Lambda``,
must trace there, then train and predict with the right values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests import reference
from tests._backends import keras_for_session

keras = keras_for_session()

import keras_sig  # noqa: E402
from keras_sig import LeadLag, LogSigLayer, SigLayer  # noqa: E402

BACKEND = keras.backend.backend()
DEPTH = 3
CHANNELS = 4
LENGTH = 12

pytestmark = [
    pytest.mark.keras,
    pytest.mark.filterwarnings(
        "ignore:Dynamo detected a call to a `functools.lru_cache`-wrapped function:UserWarning"
    ),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


class Wrapped(keras.layers.Layer):
    """A layer that owns one of ours and calls it, with no output shape of its own."""

    def __init__(self, inner: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x: Any) -> Any:
        return self.inner(x)


def _inputs(batch: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=0.3, size=(batch, LENGTH, CHANNELS)), axis=-2).astype("float32")


def _lead_lag(x: np.ndarray) -> np.ndarray:
    doubled = np.repeat(x, 2, axis=-2)
    return np.concatenate([doubled[..., 1:, :], doubled[..., :-1, :]], axis=-1)


def _logsig_expand(x: np.ndarray) -> np.ndarray:
    return reference.logsignature(x.astype("float64"), DEPTH, mode="expand")


CASES = {
    "nested-SigLayer": (lambda: Wrapped(SigLayer(DEPTH)), lambda x: reference.signature(x, DEPTH)),
    "nested-stream-SigLayer": (
        lambda: Wrapped(SigLayer(DEPTH, stream=True)),
        lambda x: reference.signature(x, DEPTH, stream=True),
    ),
    "nested-LogSigLayer": (lambda: Wrapped(LogSigLayer(DEPTH, mode="expand")), _logsig_expand),
    "nested-LeadLag": (lambda: Wrapped(LeadLag()), _lead_lag),
    "lambda-signature": (
        lambda: keras.layers.Lambda(lambda t: keras_sig.signature(t, DEPTH)),
        lambda x: reference.signature(x, DEPTH),
    ),
    "lambda-logsignature": (
        lambda: keras.layers.Lambda(lambda t: keras_sig.logsignature(t, DEPTH, mode="expand")),
        _logsig_expand,
    ),
    "lambda-windowed": (
        lambda: keras.layers.Lambda(lambda t: keras_sig.windowed_signature(t, DEPTH, 5, step=2)),
        lambda x: np.stack([reference.signature(x[:, i : i + 5], DEPTH) for i in range(0, LENGTH - 4, 2)], 1),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_shape_is_inferred_and_values_are_right(name: str) -> None:
    make, want = CASES[name]
    model = keras.Sequential([keras.Input((LENGTH, CHANNELS)), make()])
    x = _inputs()
    expected = want(x)
    assert tuple(model.output_shape) == (None, *expected.shape[1:])
    got = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


# torch.compile of Keras' training step is slow to compile and covered in tests/test_keras.py.
@pytest.mark.parametrize("jit_compile", [False] if BACKEND == "torch" else [False, True])
@pytest.mark.parametrize("name", ["nested-SigLayer", "lambda-signature"])
def test_nested_model_trains(name: str, jit_compile: bool) -> None:
    make, _ = CASES[name]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((LENGTH, CHANNELS)), keras.layers.Dense(CHANNELS), make(), keras.layers.Dense(1)]
    )
    x = _inputs(batch=32, seed=1)
    y = reference.signature(x, 2)[:, CHANNELS : CHANNELS + 1].astype("float32")  # one Lévy-area term
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
