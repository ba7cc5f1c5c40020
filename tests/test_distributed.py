"""Signatures on several JAX devices: Keras data parallelism and batch-sharded input.

Runs under the JAX Keras backend with at least two devices; on CPU, two virtual
devices come from ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (set
before JAX starts). The nox jax session sets that flag, ``KERAS_BACKEND=jax`` and
``KERAS_SIG_TEST_BACKENDS=jax``; there, fewer than two devices is an error, not a
skip, so the session cannot pass without testing anything. Elsewhere the module
is skipped unless JAX is importable, ``KERAS_BACKEND`` is ``jax`` and two devices
are visible.

Checked:

* ``SigLayer`` in a model trained with ``keras.distribution.DataParallel`` and
  ``jit_compile=True``: finite, falling loss, and the same predictions as the
  undistributed model with the same weights; a batch that does not split evenly
  across the devices is rejected by Keras/JAX while the data are being
  distributed, before the model (and keras_sig) runs.
* ``keras_sig.jax_signature`` and ``keras_sig.signature`` on an input sharded
  along the batch: the values of the unsharded call, and the output stays
  sharded along the batch (it is not gathered onto one device).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

_IN_JAX_SESSION = os.environ.get("KERAS_SIG_TEST_BACKENDS", "") == "jax"
_FLAG_HINT = "XLA_FLAGS=--xla_force_host_platform_device_count=2 (set before JAX starts)"

if os.environ.get("KERAS_BACKEND") != "jax":
    if _IN_JAX_SESSION:
        msg = "KERAS_SIG_TEST_BACKENDS=jax but KERAS_BACKEND is not 'jax': these tests need the JAX backend"
        raise RuntimeError(msg)
    pytest.skip("the distributed tests need KERAS_BACKEND=jax", allow_module_level=True)

if _IN_JAX_SESSION:
    import jax  # the jax session is meant to test JAX: a missing JAX fails
else:
    jax = pytest.importorskip("jax")

if len(jax.devices()) < 2:
    if _IN_JAX_SESSION:
        msg = (
            f"KERAS_SIG_TEST_BACKENDS=jax but JAX sees {len(jax.devices())} device(s); the distributed "
            f"tests need 2. Set {_FLAG_HINT}: refusing to pass by skipping."
        )
        raise RuntimeError(msg)
    pytest.skip(f"the distributed tests need 2 JAX devices; set {_FLAG_HINT}", allow_module_level=True)

if _IN_JAX_SESSION:
    import keras
else:
    keras = pytest.importorskip("keras")

from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import keras_sig  # noqa: E402

if keras.backend.backend() != "jax":  # pragma: no cover - KERAS_BACKEND was checked above
    pytest.skip(f"Keras runs on {keras.backend.backend()}, not jax", allow_module_level=True)

DEVICES = jax.devices()[:2]
KERAS_SIG_DIR = Path(keras_sig.__file__).resolve().parent

pytestmark = pytest.mark.keras


# ---------------------------------------------------------------- Keras DataParallel


@pytest.fixture
def data_parallel() -> Iterator[None]:
    """Distribute Keras data-parallel over the two devices for one test, then undo it."""
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=DEVICES))
    try:
        yield
    finally:
        keras.distribution.set_distribution(None)


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((20, 3))
    hidden = keras.layers.Dense(4)(inputs)
    hidden = keras_sig.SigLayer(depth=3)(hidden)
    outputs = keras.layers.Dense(1)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=True)
    return model


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk paths and, as the target, the Levy area of their first two channels."""
    rng = np.random.default_rng(20261126)
    x = (0.3 * rng.normal(size=(n, 20, 3)).cumsum(axis=1)).astype("float32")
    sig = np.asarray(keras_sig.signature(x, 2))  # level 2 starts at index 3: entry (i, j) is 3 + 3 * i + j
    levy_area = 0.5 * (sig[:, 3 + 1] - sig[:, 3 + 3])
    return x, levy_area.reshape(-1, 1).astype("float32")


def test_data_parallel_training_matches_undistributed(data_parallel: None) -> None:
    x, y = _data(64)
    model = _model()
    # the variables really are laid out over both devices
    assert len(model.trainable_variables[0].value.sharding.device_set) == 2

    history = model.fit(x, y, batch_size=16, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses

    distributed = model.predict(x, batch_size=16, verbose=0)
    weights = model.get_weights()
    keras.distribution.set_distribution(None)  # the fixture's finally undoes it again, harmlessly
    plain = _model()
    plain.set_weights(weights)
    undistributed = plain.predict(x, batch_size=16, verbose=0)
    assert np.all(np.isfinite(distributed))
    np.testing.assert_allclose(distributed, undistributed, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["predict", "evaluate", "fit"])
def test_data_parallel_batch_not_divisible_by_devices(data_parallel: None, method: str) -> None:
    """33 samples in batches of 11: Keras/JAX cannot split 11 rows over 2 devices.

    With keras 3.15 / jax 0.10 the batch is rejected (JAX's ``IndivisibleError``,
    a ``ValueError``) while Keras puts it on the devices, before the step
    function, so keras_sig never runs. Pin that: the error comes from JAX's
    sharding code and no keras_sig frame is on the stack. (Should a later Keras
    pad or accept such batches, this test fails and should then check that the
    layer simply works.)
    """
    x, y = _data(33)
    model = _model()
    args = (x,) if method == "predict" else (x, y)
    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()  # keep every frame, to look for ours
    try:
        with pytest.raises(ValueError, match="divide") as excinfo:
            getattr(model, method)(*args, batch_size=11, verbose=0)
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()
    frames = [Path(entry.path).resolve() for entry in excinfo.traceback]
    ours = [str(f) for f in frames if f.is_relative_to(KERAS_SIG_DIR)]
    assert not ours, f"the error passes through keras_sig: {ours}"
    assert "jax" in frames[-1].parts, frames[-1]  # raised by JAX's sharding check


# ---------------------------------------------------------------- batch-sharded input


def _sharded_input() -> tuple[np.ndarray, jax.Array]:
    x = np.random.default_rng(7).normal(size=(8, 30, 3)).astype("float32")
    sharding = NamedSharding(Mesh(DEVICES, ("batch",)), P("batch"))
    return x, jax.device_put(x, sharding)


def _assert_batch_sharded(out: jax.Array, rows: int = 4) -> None:
    assert isinstance(out.sharding, NamedSharding), out.sharding
    assert len(out.sharding.device_set) == 2, out.sharding
    assert out.sharding.spec[0] == "batch", out.sharding
    shards = out.addressable_shards
    assert len(shards) == 2
    assert {shard.device for shard in shards} == set(DEVICES)
    assert all(shard.data.shape[0] == rows for shard in shards), [shard.data.shape for shard in shards]


@pytest.mark.parametrize("stream", [False, True], ids=["signature", "stream"])
@pytest.mark.parametrize("entry", ["jax_signature", "signature"])
def test_batch_sharded_input_stays_sharded(entry: str, stream: bool) -> None:
    x, x_sharded = _sharded_input()
    _assert_batch_sharded(x_sharded)
    if entry == "jax_signature":
        out = keras_sig.jax_signature(x_sharded, 3, stream)
        expected = np.asarray(keras_sig.jax_signature(x, 3, stream))
    else:
        out = keras_sig.signature(x_sharded, 3, stream=stream)
        expected = np.asarray(keras_sig.signature(jax.numpy.asarray(x), 3, stream=stream))

    assert isinstance(out, jax.Array)
    assert out.shape == expected.shape == ((8, 29, 39) if stream else (8, 39))
    _assert_batch_sharded(out)
    # float32 rounding differs with the partitioning: relative to the result's scale
    np.testing.assert_allclose(
        np.asarray(out), expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max())
    )


# ---------------------------------------------------------------- arguments on different devices


@pytest.mark.parametrize("inverse", [False, True])
def test_combine_on_different_devices_names_the_arguments(inverse: bool) -> None:
    """Signatures committed to two devices: a ValueError naming ``sig1`` and ``sig2``."""
    path = np.random.default_rng(8).normal(size=(5, 2)).astype("float32")
    sig = np.asarray(keras_sig.signature(path, 2))
    first, second = (jax.device_put(sig, device) for device in DEVICES[:2])
    with pytest.raises(ValueError, match=r"^sig1 and sig2 must live on the same device") as info:
        keras_sig.signature_combine(first, second, 2, 2, inverse=inverse)
    assert "_combine_impl" not in str(info.value)
    assert str(DEVICES[0]).lower() in str(info.value).lower() or "cpu:0" in str(info.value)
    with pytest.raises(ValueError, match=r"^sigs\[0\] and sigs\[2\] must live on the same device"):
        keras_sig.multi_signature_combine([first, first, second], 2, 2, inverse=inverse)
    # Arrays on one device, or uncommitted ones beside a committed one, still combine.
    expected = keras_sig.signature_combine(sig, sig, 2, 2, inverse=inverse)
    for a, b in [(second, second), (first, jax.numpy.asarray(sig))]:
        np.testing.assert_allclose(
            np.asarray(keras_sig.signature_combine(a, b, 2, 2, inverse=inverse)), expected, rtol=1e-6
        )
