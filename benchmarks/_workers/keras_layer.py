"""Time a SigLayer (ours or keras-sig 1.0.2's) under one Keras backend.

Usage: ``KERAS_BACKEND=jax python keras_layer.py SPEC.json OUT.json``. Tasks:

``check``
    A float64 ``SigLayer(depth, **layer_kwargs)`` on a small input against the
    reference signature (JAX runs with x64 for this task only).
``train``
    The keras_sig paper's model ``Input((L, channels)) -> Dense(7) ->
    SigLayer(depth) -> Dense(10, relu) -> Dense(1)``, Adam, MSE, float32,
    ``jit_compile`` on JAX and TensorFlow (off on PyTorch). Reports the wall
    time of the first epoch of ``n_batches`` batches (tracing and compilation
    included) and the steady ``train_on_batch`` times.
``forward``
    ``SigLayer(depth)(x)`` on a float32 ``(batch, length, channels)`` input,
    ``eager`` or ``compiled`` (``jax.jit``, ``tf.function(jit_compile=True)``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _protocol import Settings, measure, set_torch_threads

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _sync(y: Any) -> Any:
    if BACKEND == "jax":
        return y.block_until_ready()
    return y


def _layer_class() -> Any:
    import keras_sig

    cls = getattr(keras_sig, "SigLayer", None)
    if cls is None:
        return None
    return cls


def _check(spec: dict[str, Any], arrays: dict[str, np.ndarray], answer: dict[str, Any]) -> None:
    if BACKEND == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    cls = _layer_class()
    if cls is None:
        answer["missing"] = "keras_sig has no SigLayer"
        return
    layer = cls(depth=spec["check_depth"], dtype="float64", **spec["layer_kwargs"])
    got = np.asarray(layer(arrays["check_x"]))
    ref = arrays["check_forward"]
    diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
    answer["check_max_abs_diff"] = diff
    answer["dtype"] = str(got.dtype)
    tol = spec["atol"]
    if got.dtype != np.float64:
        # The timings are float32 anyway; a layer that drops to float32 is checked to that precision.
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        answer["check_note"] = f"returns {got.dtype} for a float64 layer: checked to float32 precision"
    if not diff < tol:
        answer["error"] = (
            f"disagrees with the reference: max abs diff {diff:.3g} >= {tol:.3g}, dtype {got.dtype}"
        )


def _train(spec: dict[str, Any], answer: dict[str, Any]) -> None:
    import keras

    cls = _layer_class()
    if cls is None:
        answer["missing"] = "keras_sig has no SigLayer"
        return
    keras.utils.set_random_seed(spec["seed"])
    rng = np.random.default_rng(spec["seed"])
    length, channels, batch = spec["length"], spec["channels"], spec["batch"]
    n = spec["n_batches"] * batch
    x = np.cumsum(rng.standard_normal((n, length, channels)) / np.sqrt(length), axis=1).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    inputs = keras.Input((length, channels))
    h = keras.layers.Dense(7)(inputs)
    h = cls(depth=spec["depth"], **spec["layer_kwargs"])(h)
    h = keras.layers.Dense(10, activation="relu")(h)
    outputs = keras.layers.Dense(1)(h)
    model = keras.Model(inputs, outputs)
    # Compiled on JAX and TensorFlow unless the spec says (the GPU kit compiles PyTorch too).
    jit_compile = bool(spec.get("jit_compile", BACKEND in ("jax", "tensorflow")))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse", jit_compile=jit_compile)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    answer["first_epoch_s"] = time.perf_counter() - start
    answer["jit_compile"] = jit_compile
    xb, yb = x[:batch], y[:batch]
    answer["times"] = measure(lambda: model.train_on_batch(xb, yb), Settings(**spec["settings"]))


def _forward(spec: dict[str, Any], answer: dict[str, Any]) -> None:
    import keras

    cls = _layer_class()
    if cls is None:
        answer["missing"] = "keras_sig has no SigLayer"
        return
    rng = np.random.default_rng(spec["seed"])
    shape = (spec["batch"], spec["length"], spec["channels"])
    x_np = np.cumsum(rng.standard_normal(shape) / np.sqrt(spec["length"]), axis=1).astype("float32")
    x = keras.ops.convert_to_tensor(x_np)
    layer = cls(depth=spec["depth"], **spec["layer_kwargs"])
    layer(x)  # build

    def call(p: Any) -> Any:
        return layer(p)

    if spec["mode"] == "eager":
        fn = call
    elif BACKEND == "jax":
        import jax

        fn = jax.jit(call)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        fn = tf.function(call, jit_compile=True)
    else:
        answer["unsupported"] = f"no compiled forward on the {BACKEND} backend (jit_compile is off there)"
        return
    answer["times"] = measure(lambda: _sync(fn(x)), Settings(**spec["settings"]))


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    arrays = {name: np.load(path) for name, path in spec["arrays"].items()}
    answer: dict[str, Any] = {"backend": BACKEND}
    if BACKEND == "torch":
        answer["torch_threads"] = set_torch_threads()
    task = spec["task"]
    if task == "check":
        _check(spec, arrays, answer)
    elif task == "train":
        _train(spec, answer)
    elif task == "forward":
        _forward(spec, answer)
    else:
        msg = f"unknown task {task!r}"
        raise ValueError(msg)
    import keras_sig

    answer["keras_sig_version"] = getattr(keras_sig, "__version__", "1.0.2 (no __version__)")
    answer["keras_sig_file"] = keras_sig.__file__
    Path(out_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
