"""Path signatures and log-signatures for NumPy, CuPy, JAX, PyTorch and TensorFlow arrays, and Keras 3.

Importing this package imports no array framework: each one is imported the
first time an array of it is seen, and the Keras layers (``SigLayer``,
``LogSigLayer``, ``AddTime``, ``LeadLag``, ``InvisibilityReset``) and the
pure-JAX entry point (``jax_signature``, alias ``jax_gpu_signature``) on first
access, which imports Keras or JAX respectively. The layers import no JAX under
the torch or TensorFlow Keras backend. They are registered with Keras'
serialization as soon as both this package and Keras are imported, in
either order, so ``keras.saving.load_model`` finds them after a plain
``import keras_sig`` (see :mod:`keras_sig._lib._keras_hook`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from keras_sig._api import sigdim, signature
from keras_sig._group_api import (
    extract_signature_term,
    multi_signature_combine,
    signature_combine,
    signature_inverse,
)
from keras_sig._kernels_api import (
    LinearKernel,
    PolynomialKernel,
    RBFKernel,
    ScaledLinearKernel,
    StaticKernel,
    sig_kernel,
    sig_kernel_gram,
    sig_mmd,
    sig_score,
)
from keras_sig._lib._sizes import DEFAULT_MAX_SIZE, get_max_size, set_max_size
from keras_sig._logsig_api import logsignature, logsignature_to_signature, signature_to_logsignature
from keras_sig._transforms_api import add_time, invisibility_reset, lead_lag
from keras_sig._windows_api import dyadic_signature, windowed_signature
from keras_sig._words_api import all_words, logsigdim, lyndon_brackets, lyndon_words

if TYPE_CHECKING:
    from keras_sig.shims.jax import jax_gpu_signature, jax_signature
    from keras_sig.shims.keras import AddTime, InvisibilityReset, LeadLag, LogSigLayer, SigLayer

# 1.x: a drop-in successor of keras_sig 1.0.2, which dependents pin as ">=1.0.0,<2.0.0"
__version__ = "1.1.0"

# name -> module defining it, imported on first access (see __getattr__)
_LAZY = {
    "AddTime": "keras_sig.shims.keras",
    "InvisibilityReset": "keras_sig.shims.keras",
    "LeadLag": "keras_sig.shims.keras",
    "LogSigLayer": "keras_sig.shims.keras",
    "SigLayer": "keras_sig.shims.keras",
    "jax_signature": "keras_sig.shims.jax",
    "jax_gpu_signature": "keras_sig.shims.jax",
}
# keras_sig 1.0.2's modules that its ``import keras_sig`` made attributes (keras_sig.signature,
# the fourth, is also the function); imported on first access, their names warn as deprecated
_LEGACY_MODULES = ("layer", "quick_sig", "tensor_ops")
# submodules imported on first access: ``keras_sig.losses`` imports Keras
_SUBMODULES = ("losses",)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "AddTime",
    "InvisibilityReset",
    "LeadLag",
    "LinearKernel",
    "LogSigLayer",
    "PolynomialKernel",
    "RBFKernel",
    "ScaledLinearKernel",
    "SigLayer",
    "StaticKernel",
    "__version__",
    "add_time",
    "all_words",
    "dyadic_signature",
    "extract_signature_term",
    "get_max_size",
    "invisibility_reset",
    "jax_gpu_signature",
    "jax_signature",
    "lead_lag",
    "logsigdim",
    "logsignature",
    "logsignature_to_signature",
    "losses",
    "lyndon_brackets",
    "lyndon_words",
    "multi_signature_combine",
    "set_max_size",
    "sig_kernel",
    "sig_kernel_gram",
    "sig_mmd",
    "sig_score",
    "sigdim",
    "signature",
    "signature_combine",
    "signature_inverse",
    "signature_to_logsignature",
    "windowed_signature",
]


def __getattr__(name: str) -> Any:
    """Import ``SigLayer`` and ``LogSigLayer`` (Keras) and ``jax_signature`` (JAX) on first access."""
    if name in _LEGACY_MODULES or name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # also binds it here
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'keras_sig' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    """List the public names, the lazy ones included."""
    return sorted(__all__)


# 1.0.2's module keras_sig.signature (``from keras_sig.signature import signature``) is loaded
# into sys.modules now, without binding it here: importing it later finds it loaded, and the
# package attribute ``signature`` stays the function (which compilers can trace).
_spec = importlib.util.find_spec(f"{__name__}.signature")
if _spec is not None and _spec.loader is not None and f"{__name__}.signature" not in sys.modules:
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _module
    _spec.loader.exec_module(_module)
    del _module
del _spec

# Last, once every name above exists: register the Keras layers with Keras'
# serialization now if Keras is imported, else when it is (no Keras import here).
from keras_sig._lib._keras_hook import register_when_keras_imported  # noqa: E402

register_when_keras_imported()
del register_when_keras_imported
