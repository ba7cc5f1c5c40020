"""The backend matrix the tests run on.

Each backend knows how to make its arrays from NumPy, how to read them back, and
which device it targets. ``KERAS_SIG_TEST_BACKENDS`` (comma-separated names) and
``KERAS_SIG_TEST_DEVICE`` (``cpu`` or ``gpu``) narrow the run, as the nox sessions
do; without them every installed backend runs on the CPU.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL = ("numpy", "array_api_strict", "jax", "torch", "tensorflow", "cupy", "dask")


@dataclass
class Backend:
    """How the tests drive one array library."""

    name: str
    device: str = "cpu"
    _module: Any = field(default=None, repr=False)

    @property
    def module(self) -> Any:
        if self._module is None:
            self._module = _load(self.name)
        return self._module

    def dtype(self, name: str) -> Any:
        """The library's dtype object called ``name`` (``"float32"``, ``"float64"``, ...)."""
        if self.name == "tensorflow":
            return getattr(self.module, name)
        if self.name == "jax":
            return getattr(self.module.numpy, name)
        if self.name == "dask":
            return np.dtype(name)
        return getattr(self.module, name)

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """A library array holding ``x`` (a NumPy array or nested list) on the device."""
        x = np.asarray(x)
        if dtype is not None:
            x = x.astype(dtype)
        mod = self.module
        if self.name == "numpy":
            return x
        if self.name == "array_api_strict":
            return mod.asarray(x)
        if self.name == "jax":
            device = mod.devices(self.device)[0]
            return mod.device_put(mod.numpy.asarray(x), device)
        if self.name == "torch":
            return mod.as_tensor(x, device="cuda" if self.device == "gpu" else "cpu")
        if self.name == "tensorflow":
            with mod.device("/GPU:0" if self.device == "gpu" else "/CPU:0"):
                return mod.constant(x)
        if self.name == "cupy":
            return mod.asarray(x)
        if self.name == "dask":
            # Chunked along every axis, time and channels included, which the library rechunks.
            return mod.from_array(x, chunks=tuple(max(1, (s + 1) // 2) for s in x.shape))
        raise AssertionError(self.name)

    def to_numpy(self, x: Any) -> np.ndarray:
        """``x`` as a NumPy array (tests only: the library itself never does this)."""
        if self.name == "torch":
            return x.detach().cpu().numpy()
        if self.name == "cupy":
            return x.get()
        if self.name == "tensorflow":
            return x.numpy()
        if self.name == "array_api_strict":
            return np.asarray(x._array)
        if self.name == "dask":
            return np.asarray(x.compute())
        return np.asarray(x)

    def array_type(self) -> type:
        mod = self.module
        if self.name == "numpy":
            return np.ndarray
        if self.name == "array_api_strict":
            return type(mod.asarray(0.0))
        if self.name == "dask":
            return mod.Array
        attribute = {"jax": "Array", "torch": "Tensor", "tensorflow": "Tensor", "cupy": "ndarray"}[self.name]
        return getattr(mod, attribute)

    def device_of(self, x: Any) -> str:
        """``"cpu"`` or ``"gpu"``: where ``x`` lives."""
        if self.name == "torch":
            return "gpu" if x.device.type == "cuda" else "cpu"
        if self.name == "jax":
            return "gpu" if next(iter(x.devices())).platform in ("gpu", "cuda", "rocm") else "cpu"
        if self.name == "tensorflow":
            return "gpu" if "GPU" in x.device.upper() else "cpu"
        if self.name == "cupy":
            return "gpu"
        return "cpu"


def _load(name: str) -> Any:
    if name == "dask":
        import dask.array

        return dask.array
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax
    return importlib.import_module(name)


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def gpu_available(backend: Backend) -> bool:
    mod = backend.module
    if backend.name == "torch":
        return bool(mod.cuda.is_available())
    if backend.name == "jax":
        try:
            return bool(mod.devices("gpu"))
        except RuntimeError:
            return False
    if backend.name == "tensorflow":
        return bool(mod.config.list_physical_devices("GPU"))
    if backend.name == "cupy":
        try:
            return mod.cuda.runtime.getDeviceCount() > 0
        except Exception:
            return False
    return False


def selected() -> list[Backend]:
    """The backends this run covers (see the module docstring)."""
    device = os.environ.get("KERAS_SIG_TEST_DEVICE", "cpu")
    wanted = os.environ.get("KERAS_SIG_TEST_BACKENDS")
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        unknown = sorted(set(names) - set(ALL))
        if unknown:
            msg = f"KERAS_SIG_TEST_BACKENDS names unknown backends {unknown}; known: {ALL}"
            raise RuntimeError(msg)
        missing = [n for n in names if not installed(n)]
        if missing:
            msg = f"KERAS_SIG_TEST_BACKENDS asks for {missing}, which are not installed"
            raise RuntimeError(msg)
    else:
        names = [n for n in ALL if installed(n) and n not in ("cupy", "dask")]
    backends = [Backend(n, device) for n in names]
    if device == "gpu":
        for b in backends:
            if b.name in ("numpy", "array_api_strict", "dask"):
                msg = f"backend {b.name} has no GPU device"
                raise RuntimeError(msg)
            if not gpu_available(b):
                msg = f"KERAS_SIG_TEST_DEVICE=gpu but {b.name} sees no GPU: refusing to pass by skipping"
                raise RuntimeError(msg)
    return backends


BACKENDS_BY_NAME = {b.name: b for b in selected()}


def keras_for_session() -> Any:
    """Keras, when this run tests the Keras layers; otherwise skip the calling module.

    As in ``tests/test_keras.py``: the layers run under ``KERAS_BACKEND`` when the
    session names that backend (a missing Keras then fails), and are skipped in the
    sessions of backends Keras does not run on.
    """
    import pytest

    wanted = [n.strip() for n in os.environ.get("KERAS_SIG_TEST_BACKENDS", "").split(",") if n.strip()]
    keras_backend = os.environ.get("KERAS_BACKEND")
    if keras_backend is not None and keras_backend not in ("jax", "torch", "tensorflow"):
        msg = f"the layers target jax, torch and tensorflow, not {keras_backend}"
        pytest.skip(msg, allow_module_level=True)
    if wanted and keras_backend not in wanted:
        msg = f"KERAS_SIG_TEST_BACKENDS does not name KERAS_BACKEND={keras_backend}"
        pytest.skip(msg, allow_module_level=True)
    if wanted:
        return importlib.import_module("keras")
    return pytest.importorskip("keras")


def peer(name: str) -> Any:
    """A peer library used as an oracle (signatory, signax, iisignature, pysiglib), or a skip.

    A session that installs the peer lists it in ``KERAS_SIG_TEST_REQUIRE_PEERS``
    (comma-separated; noxfile.py sets it): there a missing peer fails the test
    instead of skipping it, so a broken install cannot pass as a green run.
    """
    import pytest

    required = {n.strip() for n in os.environ.get("KERAS_SIG_TEST_REQUIRE_PEERS", "").split(",")}
    if name in required:
        return importlib.import_module(name)
    return pytest.importorskip(name)
