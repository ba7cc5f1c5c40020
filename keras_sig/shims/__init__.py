"""Framework-specific pieces: the Keras layer, the pure-JAX entry point, the TensorFlow adapter.

Nothing is imported here: each module imports its framework when it is itself
imported (``keras_sig.SigLayer`` and ``keras_sig.jax_signature`` load them on
first use).
"""

from __future__ import annotations

__all__: list[str] = []
