"""sigkan 0.2.0, written for keras_sig 1.0.2, trains, saves and reloads on this library.

sigkan pins ``keras_sig>=1.0.0,<2.0.0`` and builds ``SigLayer(sig_level)`` inside
its ``SigDense`` and ``SigKAN`` layers. The ``tests-{jax,torch,tensorflow}-cpu``
nox sessions install sigkan and keras-efficient-kan with ``--no-deps`` and set
``KERAS_SIG_TEST_REQUIRE_SIGKAN=1``: there a missing sigkan is a failure. Elsewhere
(a plain ``pytest`` without sigkan installed) the module is skipped.

The models are compiled with ``jit_compile=True`` on JAX and TensorFlow (XLA) and
run eagerly on PyTorch: sigkan's ``Gate`` layer creates a ``Multiply`` layer inside
``call``, which ``torch.compile`` cannot trace (sigkan's bug, not worked around here).
"""

from __future__ import annotations

import importlib.metadata
import os

import numpy as np
import pytest

_SELECTED = [n.strip() for n in os.environ.get("KERAS_SIG_TEST_BACKENDS", "").split(",") if n.strip()]
_KERAS_BACKEND = os.environ.get("KERAS_BACKEND")
_REQUIRED = os.environ.get("KERAS_SIG_TEST_REQUIRE_SIGKAN") == "1"

if not _REQUIRED:
    if _KERAS_BACKEND is not None and _KERAS_BACKEND not in ("jax", "torch", "tensorflow"):
        pytest.skip(
            f"sigkan needs the jax, torch or tensorflow Keras backend, not {_KERAS_BACKEND}",
            allow_module_level=True,
        )
    if _SELECTED and _KERAS_BACKEND not in _SELECTED:
        pytest.skip(
            f"KERAS_SIG_TEST_BACKENDS={','.join(_SELECTED)} does not name KERAS_BACKEND={_KERAS_BACKEND}",
            allow_module_level=True,
        )
    pytest.importorskip("keras")
    pytest.importorskip("keras_efficient_kan")
    pytest.importorskip("sigkan")

# In the nox sessions (KERAS_SIG_TEST_REQUIRE_SIGKAN=1) these imports fail loudly.
import keras  # noqa: E402
import sigkan  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402 (pytest depends on packaging)

import keras_sig  # noqa: E402
from tests import reference  # noqa: E402

BACKEND = keras.backend.backend()
# XLA on JAX and TensorFlow; PyTorch eager (sigkan's Gate defeats torch.compile).
JIT_COMPILE = BACKEND in ("jax", "tensorflow")
CUSTOM_OBJECTS = {  # sigkan registers none of its layers with Keras
    name: getattr(sigkan, name) for name in ("SigDense", "SigKAN", "GRKAN", "GRN")
} | {name: getattr(sigkan.grns, name) for name in ("Gate", "AddAndNorm")}

pytestmark = pytest.mark.keras


def test_sigkan_pin_accepts_this_release():
    """pip keeps this library when it installs sigkan: its keras_sig requirement holds."""
    (pin,) = [
        Requirement(text)
        for text in importlib.metadata.requires("sigkan") or []
        if Requirement(text).name.replace("-", "_") == "keras_sig"
    ]
    assert pin.specifier.contains(keras_sig.__version__), (str(pin), keras_sig.__version__)


def test_sigkan_uses_this_siglayer():
    layer = sigkan.SigDense(4, 2)
    assert type(layer.sig_layer) is keras_sig.SigLayer
    assert layer.sig_layer.depth == 2


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tiny paths and a target their signature determines (the Lévy area of channels 0 and 1)."""
    x = np.cumsum(rng.normal(scale=0.3, size=(16, 8, 3)), axis=-2).astype("float32")
    sig = reference.signature(x, 2)
    area = 0.5 * (sig[:, 3 + 1] - sig[:, 3 + 3])  # words (0, 1) and (1, 0) of level 2
    return x, area[:, None].astype("float32")


@pytest.mark.parametrize("layer_name", ["SigDense", "SigKAN"])
def test_sigkan_model_trains_saves_and_reloads(layer_name, tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data(np.random.default_rng(0))
    inputs = keras.Input((x.shape[1], x.shape[2]))
    hidden = getattr(sigkan, layer_name)(4, 2, name="sig_block")(inputs)  # (batch, length, 4)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(hidden))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=JIT_COMPILE)
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # two compiled steps
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    after = model.get_weights()
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True)), "no weight moved"
    # Predictions by calling the models: compiling predict() twice more would triple the test's time.
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    assert expected.shape == (16, 1)
    assert np.all(np.isfinite(expected))

    path = tmp_path / f"{layer_name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS)
    block = loaded.get_layer("sig_block")
    assert type(block) is getattr(sigkan, layer_name)
    assert type(block.sig_layer) is keras_sig.SigLayer
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x, training=False)), expected)
