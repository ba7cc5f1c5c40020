"""keras_sig.losses.SigMMD under the session's Keras backend (see tests/_backends.py::keras_for_session)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_sig
from tests._backends import keras_for_session

keras = keras_for_session()


def _real(rng, n=32):
    steps = rng.normal(size=(n, 6, 2)) * 0.1 + np.array([0.1, -0.05])
    return np.cumsum(steps, axis=1).astype("float32")


def _generator():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(12, kernel_initializer=keras.initializers.RandomNormal(stddev=0.05)),
            keras.layers.Reshape((6, 2)),
            keras.layers.Lambda(lambda z: keras.ops.cumsum(z, axis=1)),
        ]
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_sig_mmd_loss_trains(jit_compile, rng):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("torch: eager Keras only (jit_compile with torch means torch.compile, not tested here)")
    real = _real(rng, 40)  # 40 = 2 batches of 16 and a partial one of 8
    noise = rng.normal(size=(40, 4)).astype("float32")
    model = _generator()
    loss = keras_sig.losses.SigMMD(dyadic_order=1)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss, jit_compile=jit_compile)
    before = float(model.evaluate(noise, real, batch_size=40, verbose=0))
    history = model.fit(noise, real, batch_size=16, epochs=4, verbose=0)
    after = float(model.evaluate(noise, real, batch_size=40, verbose=0))
    assert np.all(np.isfinite(history.history["loss"]))
    assert after < before


def test_sig_mmd_loss_value_and_round_trip(tmp_path, rng):
    real, fake = _real(rng, 6), _real(rng, 6) * 1.5
    loss = keras_sig.losses.SigMMD(dyadic_order=(1, 0), static_kernel=keras_sig.RBFKernel(sigma=0.5))
    want = keras_sig.sig_mmd(fake, real, dyadic_order=(1, 0), static_kernel=keras_sig.RBFKernel(sigma=0.5))
    got = keras.ops.convert_to_numpy(
        loss(keras.ops.convert_to_tensor(real), keras.ops.convert_to_tensor(fake))
    )
    np.testing.assert_allclose(got, want, rtol=1e-4)
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(rebuilt, keras_sig.losses.SigMMD)
    assert rebuilt.get_config() == loss.get_config()
    model = _generator()
    model.compile(optimizer="adam", loss=keras_sig.losses.SigMMD(dyadic_order=1))
    model.fit(rng.normal(size=(6, 4)).astype("float32"), real, batch_size=6, epochs=1, verbose=0)
    path = tmp_path / "generator.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=False)
    assert isinstance(loaded.loss, keras_sig.losses.SigMMD)
    assert loaded.loss.dyadic_order == (1, 1)
