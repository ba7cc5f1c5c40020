"""Register the Keras layers as soon as both keras_sig and Keras are imported.

A ``.keras`` file names its layers (``"keras_sig>SigLayer"``, or
``"Custom>SigLayer"`` for files written by keras_sig 1.0.2), and
:func:`keras.saving.load_model` finds them only once
:mod:`keras_sig.shims.keras` has run its ``register_keras_serializable``
calls. That module imports Keras, which ``import keras_sig`` must not do (it
imports no framework), so the layers cannot simply be imported eagerly.
Instead, :func:`register_when_keras_imported`, called at the end of
``keras_sig/__init__.py``, does one of two things:

* **Keras already imported** (``import keras`` came first): it imports
  :mod:`keras_sig.shims.keras` at once, which registers the layers. Keras
  is in ``sys.modules`` already, so nothing new is imported but keras_sig's
  own layer module.
* **Keras not imported yet**: it puts a :class:`KerasImportHook` at the front
  of :data:`sys.meta_path`. The hook answers only for the top-level name
  ``keras``: it removes itself from ``sys.meta_path``, asks the remaining
  finders for Keras' real spec, and returns that spec with its loader wrapped.
  Once the real loader has finished executing ``keras/__init__.py`` (Keras
  has then imported its backend), the wrapper puts the original loader back
  on the module and its spec and imports :mod:`keras_sig.shims.keras`. So
  ``import keras`` or ``keras.saving.load_model`` after ``import keras_sig``
  finds the layers, and a process that never imports Keras never does.

Re-entrancy: the hook is removed before Keras is looked up, so Keras' own
imports (``keras.src``, its backend, TensorFlow importing Keras, and so on)
never reach it, nor does the ``import keras`` at the top of the layer
module. If that layer module is what imported Keras in the first place
(``keras_sig.SigLayer`` touched first), the import inside the wrapper
returns the partly executed module, which finishes and registers the layers
itself. If Keras is being imported while keras_sig itself is (a Keras
module importing keras_sig), neither branch applies, and the layers register
on first access to ``keras_sig.SigLayer``, as before. A layer module that
fails to import (an unsupported Keras) does not break ``import keras``: it
is reported by a ``RuntimeWarning``, and the same error is raised again on
first access to a layer.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["KerasImportHook", "register_when_keras_imported"]

_LAYERS = "keras_sig.shims.keras"


def _import_layers() -> None:
    """Import the layer module (registering the layers); a failure becomes a warning."""
    try:
        importlib.import_module(_LAYERS)
        importlib.import_module("keras_sig.losses")  # the SigMMD loss, registered the same way
    except Exception as exc:  # an unsupported Keras must not break `import keras`
        msg = (
            f"keras_sig could not register its Keras layers ({type(exc).__name__}: {exc}); "
            "load_model will not find them until keras_sig.SigLayer imports"
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


class _RegisteringLoader(importlib.abc.Loader):
    """Keras' own loader, followed by the import of keras_sig's layer module."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        """What Keras' own loader creates (``None``: the default module)."""
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        """Execute Keras, put its own loader back, then register keras_sig's layers."""
        try:
            self.loader.exec_module(module)
        finally:
            module.__loader__ = self.loader
            if module.__spec__ is not None:
                module.__spec__.loader = self.loader
        _import_layers()


class KerasImportHook(importlib.abc.MetaPathFinder):
    """A one-shot finder that registers keras_sig's layers once ``keras`` has been imported."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Keras' own spec, with a loader that registers the layers after it (other names: ``None``)."""
        del path, target
        if fullname != "keras":
            return None
        remove_hooks()
        spec = importlib.util.find_spec(fullname)  # the remaining finders' answer
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


def remove_hooks() -> None:
    """Take every :class:`KerasImportHook` off :data:`sys.meta_path`."""
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != KerasImportHook.__name__]


def register_when_keras_imported() -> None:
    """Register the layers now if Keras is imported, else as soon as it is (see the module docstring)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        if not getattr(getattr(keras, "__spec__", None), "_initializing", False):
            _import_layers()
        return
    if not any(type(f).__name__ == KerasImportHook.__name__ for f in sys.meta_path):
        sys.meta_path.insert(0, KerasImportHook())
