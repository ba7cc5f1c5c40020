"""Keras-layer group (opt-in, slow): the keras_sig paper's model and SigLayer calls.

Each measurement runs in a fresh subprocess with ``KERAS_BACKEND`` set (the
backend is fixed when Keras is imported): ours in this virtualenv, keras-sig
1.0.2's in its own, both through ``benchmarks/_workers/keras_layer.py``, with a
timeout (1.0.2's TensorFlow scan can hang in XLA compilation at length 500).
Each (backend, layer) pair is first checked in float64 against iisignature.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _config, _impls
from benchmarks._record import describe, record_external, replay
from benchmarks._subprocess import WorkerTimeoutError, run_worker

GRID = _config.grid()
BACKENDS = ("jax", "tensorflow", "torch")
CHANNELS, DEPTH = 5, 4


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    ours: bool
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


VARIANTS = (
    Variant("ours", "ours SigLayer (defaults)", ours=True),
    Variant(
        "1.0.2-gpu_optimized",
        "keras-sig 1.0.2 gpu_optimized=True",
        ours=False,
        kwargs={"gpu_optimized": True},
    ),
    Variant(
        "1.0.2-standard", "keras-sig 1.0.2 gpu_optimized=False", ours=False, kwargs={"gpu_optimized": False}
    ),
)
TRAIN = [
    pytest.param(backend, length, v, id=f"{backend}-L{length}-{v.key}")
    for backend in BACKENDS
    for length in GRID.keras.lengths
    for v in VARIANTS
]
FORWARD = [
    pytest.param(backend, mode, v, id=f"{backend}-{mode}-{v.key}")
    for backend in BACKENDS
    for mode in ("eager", "compiled")
    for v in VARIANTS
]


def _require(backend: str, variant: Variant) -> None:
    if variant.ours:
        for name in ("keras", backend):
            if importlib.util.find_spec(name) is None:
                pytest.skip(f"{name} is not installed")
    elif _config.legacy_python() is None:
        pytest.skip(
            f"keras-sig 1.0.2's virtualenv not found at {_config.legacy_venv()} "
            "(create it with `python -m benchmarks --setup-legacy`)"
        )


def _run(
    backend: str, variant: Variant, spec: dict[str, Any], arrays: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = {
        "layer_kwargs": variant.kwargs,
        "channels": CHANNELS,
        "depth": DEPTH,
        "seed": _config.SEED,
        "settings": GRID.settings.to_dict(),
        **spec,
    }
    try:
        answer = run_worker(
            "keras_layer.py",
            spec,
            arrays=arrays,
            ours=variant.ours,
            keras_backend=backend,
            timeout=_config.timeout_s(),
        )
    except WorkerTimeoutError as exc:
        pytest.skip(f"timeout: {exc}")
    where = Path(answer.get("keras_sig_file", "")).resolve()
    home = _config.REPO if variant.ours else _config.legacy_venv().resolve()
    if home not in where.parents:
        pytest.fail(f"{variant.label}: the worker imported keras_sig from {where}, not from {home}")
    if "missing" in answer:
        pytest.skip(answer["missing"])
    if "unsupported" in answer:
        pytest.skip(answer["unsupported"])
    if "error" in answer:
        pytest.fail(f"{variant.label} on {backend}: {answer['error']}")
    return answer


_CHECKED: dict[tuple[str, str], tuple[str, Any]] = {}
_NOTES: dict[tuple[str, str], str] = {}


def _check(backend: str, variant: Variant) -> float:
    """Float64 layer output against iisignature (once per backend and layer)."""
    key = (backend, variant.key)
    if key not in _CHECKED:
        x, depth = _impls.check_input(_config.SEED)
        arrays = {"check_x": x, "check_forward": _impls.reference_forward(x, depth)}
        spec = {"task": "check", "check_depth": depth, "atol": _impls.ATOL}
        try:
            answer = _run(backend, variant, spec, arrays)
            _NOTES[key] = answer.get("check_note", "")
            _CHECKED[key] = ("ok", answer["check_max_abs_diff"])
        except pytest.skip.Exception as exc:
            _CHECKED[key] = ("skip", str(exc.msg))
        except pytest.fail.Exception as exc:
            _CHECKED[key] = ("fail", str(exc.msg))
    return replay(_CHECKED[key])


def _checked(benchmark: Any, backend: str, variant: Variant) -> None:
    benchmark.extra_info["check_max_abs_diff"] = _check(backend, variant)
    note = _NOTES.get((backend, variant.key))
    if note:
        benchmark.extra_info["note"] = f"{note} ({backend})"


@pytest.mark.parametrize(("backend", "length", "variant"), TRAIN)
def test_keras_train(
    benchmark: Any, request: pytest.FixtureRequest, backend: str, length: int, variant: Variant
) -> None:
    describe(
        request,
        benchmark,
        "keras",
        task="train",
        backend=backend,
        length=length,
        batch=GRID.keras.batch,
        impl=variant.key,
        label=variant.label,
        family="ours" if variant.ours else "legacy",
    )
    benchmark.group = f"keras {backend} train L={length}"
    _require(backend, variant)
    _checked(benchmark, backend, variant)
    spec = {"task": "train", "length": length, "batch": GRID.keras.batch, "n_batches": GRID.keras.n_batches}
    answer = _run(backend, variant, spec)
    benchmark.extra_info["first_epoch_s"] = answer["first_epoch_s"]
    benchmark.extra_info["first_epoch_batches"] = GRID.keras.n_batches
    benchmark.extra_info["jit_compile"] = answer["jit_compile"]
    record_external(benchmark, answer["times"])


@pytest.mark.parametrize(("backend", "mode", "variant"), FORWARD)
def test_keras_forward(
    benchmark: Any, request: pytest.FixtureRequest, backend: str, mode: str, variant: Variant
) -> None:
    case = GRID.keras.forward
    describe(
        request,
        benchmark,
        "keras",
        task=f"forward-{mode}",
        backend=backend,
        shape=[case.batch, case.length, case.channels],
        impl=variant.key,
        label=variant.label,
        family="ours" if variant.ours else "legacy",
    )
    benchmark.group = f"keras {backend} SigLayer forward {mode}"
    _require(backend, variant)
    _checked(benchmark, backend, variant)
    spec = {"task": "forward", "mode": mode, "batch": case.batch, "length": case.length}
    answer = _run(backend, variant, {**spec, "channels": case.channels, "depth": case.depth})
    record_external(benchmark, answer["times"])
