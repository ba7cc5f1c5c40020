"""Keras masks (``Masking``, ``mask_zero`` embeddings) through our layers, on the session's backend.

Every padded series is compared with the exact reference of its unmasked points
alone, for padding at the end and at the start (``pad_sequences``' default), in
eager calls and in a compiled training step.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import reference
from tests._backends import keras_for_session

keras = keras_for_session()

from keras_sig import AddTime, InvisibilityReset, LeadLag, LogSigLayer, SigLayer  # noqa: E402

BACKEND = keras.backend.backend()
LENGTHS = [9, 5, 2, 1]
TOTAL, CHANNELS = 9, 3
CLOSE = {"rtol": 2e-4, "atol": 2e-5}

pytestmark = [
    pytest.mark.keras,
    pytest.mark.filterwarnings(
        "ignore:Dynamo detected a call to a `functools.lru_cache`-wrapped function:UserWarning"
    ),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


def _series() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [np.cumsum(rng.normal(scale=0.4, size=(n, CHANNELS)), axis=0).astype("float32") for n in LENGTHS]


def _padded(series: list[np.ndarray], where: str) -> np.ndarray:
    out = np.zeros((len(series), TOTAL, CHANNELS), "float32")
    for i, s in enumerate(series):
        if where == "post":
            out[i, : len(s)] = s
        else:
            out[i, TOTAL - len(s) :] = s
    return out


def _time(s: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, len(s)) if len(s) > 1 else np.zeros(1)
    return np.concatenate([t[:, None], s], axis=1)


def _lead_lag(s: np.ndarray) -> np.ndarray:
    doubled = np.repeat(s, 2, axis=0)
    return np.concatenate([doubled[1:], doubled[:-1]], axis=1)


def _invisibility_reset(s: np.ndarray) -> np.ndarray:
    visible = np.concatenate([np.ones((len(s), 1)), s], axis=1)
    hidden = np.concatenate([[0.0], s[-1]])[None]
    return np.concatenate([visible, hidden, np.zeros_like(hidden)])


CASES = {
    "SigLayer": (lambda: [SigLayer(3)], lambda s: reference.signature(s, 3)),
    "SigLayer-basepoint": (
        lambda: [SigLayer(3, basepoint=True)],
        lambda s: reference.signature(s, 3, basepoint=True),
    ),
    "LogSigLayer": (
        lambda: [LogSigLayer(3, mode="brackets")],
        lambda s: reference.logsignature(s, 3, mode="brackets"),
    ),
    "AddTime": (lambda: [AddTime(), SigLayer(3)], lambda s: reference.signature(_time(s), 3)),
    "LeadLag": (lambda: [LeadLag(), SigLayer(2)], lambda s: reference.signature(_lead_lag(s), 2)),
    "InvisibilityReset": (
        lambda: [InvisibilityReset(), SigLayer(2)],
        lambda s: reference.signature(_invisibility_reset(s), 2),
    ),
    "AddTime-LeadLag": (
        lambda: [AddTime(), LeadLag(), SigLayer(2)],
        lambda s: reference.signature(_lead_lag(_time(s)), 2),
    ),
}


@pytest.mark.parametrize("where", ["post", "pre"])
@pytest.mark.parametrize("name", list(CASES))
def test_masked_points_are_skipped(name: str, where: str) -> None:
    make, want = CASES[name]
    series = _series()
    model = keras.Sequential([keras.Input((None, CHANNELS)), keras.layers.Masking(0.0), *make()])
    got = keras.ops.convert_to_numpy(model(_padded(series, where)))
    np.testing.assert_allclose(got, np.stack([want(s.astype("float64")) for s in series]), **CLOSE)


def test_masks_in_the_middle_are_skipped() -> None:
    series = _series()[0]
    x = series.copy()[None]
    x[0, [2, 3, 6]] = 0.0
    model = keras.Sequential([keras.Input((TOTAL, CHANNELS)), keras.layers.Masking(0.0), SigLayer(3)])
    want = reference.signature(np.delete(series, [2, 3, 6], axis=0).astype("float64"), 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x))[0], want, **CLOSE)


def test_stream_output_is_aligned_and_masked() -> None:
    series = _series()
    layer = SigLayer(3, stream=True)
    x = _padded(series, "post")
    mask = np.arange(TOTAL)[None] < np.array(LENGTHS)[:, None]
    got = keras.ops.convert_to_numpy(layer(x, mask=keras.ops.convert_to_tensor(mask)))
    out_mask = keras.ops.convert_to_numpy(layer.compute_mask(x, keras.ops.convert_to_tensor(mask)))
    np.testing.assert_array_equal(out_mask, mask[:, 1:])
    for i, s in enumerate(series):
        prefix = reference.signature(s.astype("float64"), 3, stream=True)
        np.testing.assert_allclose(got[i, : len(prefix)], prefix, **CLOSE)
        held = prefix[-1] if len(prefix) else np.zeros(got.shape[-1])
        np.testing.assert_allclose(
            got[i, len(prefix) :], np.broadcast_to(held, got[i, len(prefix) :].shape), **CLOSE
        )
    assert SigLayer(3).compute_mask(x, mask) is None


def test_lead_lag_mask_follows_the_lead() -> None:
    mask = np.array([[True, True, False, True]])
    got = keras.ops.convert_to_numpy(LeadLag().compute_mask(None, keras.ops.convert_to_tensor(mask)))
    np.testing.assert_array_equal(got, [[True, True, True, False, False, True, True]])


def test_embedding_mask_zero_feeds_sig_layer() -> None:
    tokens = np.array([[3, 1, 4, 1, 5, 0, 0], [2, 7, 0, 0, 0, 0, 0]])
    embed = keras.layers.Embedding(8, CHANNELS, mask_zero=True)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), embed, SigLayer(3)])
    got = keras.ops.convert_to_numpy(model(tokens))
    table = keras.ops.convert_to_numpy(embed.embeddings).astype("float64")
    want = np.stack([reference.signature(table[row[row > 0]], 3) for row in tokens])
    np.testing.assert_allclose(got, want, **CLOSE)


@pytest.mark.parametrize("jit_compile", [False] if BACKEND == "torch" else [False, True])
def test_masked_model_trains(jit_compile: bool) -> None:
    keras.utils.set_random_seed(0)
    series = _series() * 8
    x = _padded(series, "pre")
    y = np.array([[reference.signature(s.astype("float64"), 2)[CHANNELS + 1]] for s in series], "float32")
    model = keras.Sequential(
        [
            keras.Input((None, CHANNELS)),
            keras.layers.Masking(0.0),
            AddTime(),
            LeadLag(),
            SigLayer(2),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", jit_compile=jit_compile)
    losses = model.fit(x, y, batch_size=8, epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
