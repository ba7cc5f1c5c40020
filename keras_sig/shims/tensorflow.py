"""The TensorFlow shim's public home: the namespace adapter TensorFlow tensors get.

The adapter lives below the public layer, in :mod:`keras_sig._lib._tf_namespace`
(its loop in :func:`keras_sig._lib._scan.tf_scan`); this module re-exports it.
Importing it imports TensorFlow.
"""

from __future__ import annotations

from keras_sig._lib._tf_namespace import TensorFlowNamespace, namespace

__all__ = ["TensorFlowNamespace", "namespace"]
