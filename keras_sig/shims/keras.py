"""Keras 3 layers: :class:`SigLayer`, :class:`LogSigLayer`, and the path augmentations.

The layer follows Keras' own contract: its whole configuration is fixed in
``__init__``, ``compute_output_shape`` is plain Python (so symbolic
``keras.Input`` tensors never reach the algorithms), and ``get_config`` /
``from_config`` round-trip it through ``.keras`` files. ``call`` hands the
backend's native tensor (a jax array or tracer, a torch tensor, a
``tf.Tensor``) to the checks and the validated twin of :func:`keras_sig.signature`
(or :func:`keras_sig.logsignature`), telling the planner that a gradient will
be taken; the array namespace comes from the tensor itself: nothing here asks
which Keras backend runs. What the layers
share (validation, dtypes, shapes, config) lives in :mod:`keras_sig.shims._keras_base`.

The augmentation layers (:class:`AddTime`, :class:`LeadLag`,
:class:`InvisibilityReset`) apply :func:`keras_sig.add_time`,
:func:`keras_sig.lead_lag` and :func:`keras_sig.invisibility_reset` the same way.

The layers are registered with Keras' serialization under ``"keras_sig>SigLayer"``
(``"keras_sig>LogSigLayer"``, ``"keras_sig>AddTime"``, ...); SigLayer, for files written by keras_sig 1.0.2,
also under that release's name
``"Custom>SigLayer"`` (unless another class already holds that name), so
:func:`keras.saving.load_model` needs no ``custom_objects``.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_sig._api import METHODS, _signature, prepare_path, sigdim
from keras_sig._compat import check_unroll, method_from_legacy
from keras_sig._lib._validation import (
    check_bool,
    check_choice,
)
from keras_sig._logsig_api import MODES, _logsignature
from keras_sig._transforms_api import add_time, invisibility_reset, lead_lag
from keras_sig._words_api import logsigdim
from keras_sig.shims._keras_base import _AugmentLayer, _masked_times, _PathLayer

__all__ = ["AddTime", "InvisibilityReset", "LeadLag", "LogSigLayer", "SigLayer"]

_LEGACY_NAME = "Custom>SigLayer"  # what keras_sig 1.0.2 registered its layer as


class SigLayer(_PathLayer):
    """Keras 3 layer computing the truncated signature of its input paths.

    Works under every Keras backend (JAX, PyTorch, TensorFlow): ``call`` passes
    the backend's tensor to :func:`keras_sig.signature`. The layer has no
    weights; gradients flow through it to the layers before it.

    Parameters
    ----------
    depth : int
        Truncation depth ``N >= 1``.
    stream : bool, default False
        Return the signature of every prefix of the path instead of only the
        whole path's (see :func:`keras_sig.signature`).
    unroll : None, bool or int, optional
        Accepted for compatibility with keras_sig 1.0.2 and ignored: the loop
        construct is chosen by the backend (``jax.lax.scan``, a TF loop, or a
        Python loop that ``torch.compile`` unrolls), not by this layer.
    gpu_optimized : bool, optional
        keras_sig 1.0.2's spelling of ``method``, deprecated: True means
        ``method="parallel"``, False ``method="sequential"`` (each with a
        :class:`DeprecationWarning`), None (the default) leaves ``method`` as
        given. It is not stored in the config. ``depth``, ``stream``,
        ``unroll`` and ``gpu_optimized`` may be passed positionally, in
        1.0.2's order; the remaining arguments are keyword-only.
    method : {"auto", "sequential", "parallel", "chunked"}, default "auto"
        How the signature is computed (see :func:`keras_sig.signature`). A
        layer is trained, so ``"auto"`` chooses for the fastest gradient:
        ``"chunked"`` on every backend, JAX included, whatever the length
        (``"parallel"`` when the path fits the 64 MiB memory budget in one
        chunk). Gradients with ``stream=False`` are memory-light (see
        :func:`keras_sig.signature`).
    basepoint : bool, default False
        Start every path at the origin (prepend a zero point).
    inverse : bool, default False
        Return the signature of the time-reversed path.
    scalar_term : bool, default False
        Prepend the level-0 term 1 to every signature.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``,
        ``trainable``, ...).

    Notes
    -----
    Input shape ``(batch, ..., length, channels)`` (the channel count must be
    known); output shape ``(batch, ..., sigdim)``, or
    ``(batch, ..., length - 1, sigdim)`` with ``stream=True`` (``length`` with
    ``basepoint=True``), where ``sigdim = channels + ... + channels**depth``
    (plus one with ``scalar_term``). ``None`` batch and time dimensions are
    kept ``None``.

    **Dtype policies.** Under ``"float32"`` and ``"float64"`` (the global
    policy or the layer's ``dtype=``) inputs are cast to that dtype, as for
    any Keras layer, and the signature is computed and returned in it. On
    JAX, float64 needs 64-bit mode (``jax.config.update("jax_enable_x64",
    True)``); without it the layer raises a ValueError rather than silently
    computing in float32. Under a ``mixed_float16`` or ``mixed_bfloat16``
    policy the signature is computed in the variable dtype, float32:
    floating inputs are cast to float32, not to 16 bits, and the output is
    float32 (cast it yourself if the following layers should see 16 bits).
    Under the pure ``"float16"`` and ``"bfloat16"`` policies it is computed
    in float32 too, and the output is cast to the policy's 16-bit dtype.
    Signature levels are products of up to ``depth`` increments, which
    16-bit floats represent poorly. Integer inputs are cast to the dtype
    the signature is computed in.

    **Sizes.** A ``depth`` past :func:`keras_sig.get_max_size` is refused at
    construction, and an output of more elements per path than that when the
    layer is built (also when a ``.keras`` file is loaded), with a ValueError
    naming ``channels`` and ``depth``.

    **Compilation.** ``model.compile(jit_compile=True)`` compiles the layer
    with the rest of the model: XLA on JAX and TensorFlow, ``torch.compile``
    on PyTorch (the signature is traced into the compiled graph).

    Examples
    --------
    >>> import numpy as np
    >>> import keras
    >>> from keras_sig import SigLayer
    >>> SigLayer(depth=2).compute_output_shape((None, 10, 3))
    (None, 12)
    >>> SigLayer(depth=2, stream=True).compute_output_shape((None, None, 3))
    (None, None, 12)
    >>> model = keras.Sequential([keras.Input((None, 3)), SigLayer(depth=2), keras.layers.Dense(1)])
    >>> model.output_shape
    (None, 1)
    >>> path = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]], dtype="float32")
    >>> np.asarray(keras.ops.convert_to_numpy(SigLayer(depth=2)(path)))
    array([[1. , 1. , 0.5, 1. , 0. , 0.5]], dtype=float32)
    """

    def __init__(
        self,
        depth: int,
        stream: bool = False,
        unroll: bool | int | None = None,
        gpu_optimized: bool | None = None,
        *,
        method: str = "auto",
        basepoint: bool = False,
        inverse: bool = False,
        scalar_term: bool = False,
        **kwargs: Any,
    ) -> None:
        # unroll and gpu_optimized: keras_sig 1.0.2's options, in its positional order
        method = method_from_legacy(check_choice("method", method, METHODS), gpu_optimized, stacklevel=2)
        scalar_term = check_bool("scalar_term", scalar_term)
        check_unroll(unroll)
        super().__init__(depth, stream, method=method, basepoint=basepoint, inverse=inverse, **kwargs)
        self.scalar_term = scalar_term

    def _features(self, channels: int) -> int:
        return sigdim(channels, self.depth, scalar_term=self.scalar_term)

    def _compute(self, inputs: Any) -> Any:
        path, _, xp, bp, _ = prepare_path(inputs, self.depth, stream=self.stream, basepoint=self.basepoint)
        return _signature(
            path,
            self.depth,
            xp=xp,
            stream=self.stream,
            basepoint=bp,
            inverse=self.inverse,
            scalar_term=self.scalar_term,
            method=self.method,
            for_gradient=True,
        )

    def get_config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs to rebuild the layer."""
        return {**super().get_config(), "scalar_term": self.scalar_term}


class LogSigLayer(_PathLayer):
    """Keras 3 layer computing the truncated log-signature of its input paths.

    The log-signature carries the same information as the signature in far
    fewer numbers (:func:`keras_sig.logsigdim`). Contract, backends, mixed
    precision and compilation as :class:`SigLayer`; ``call`` passes the
    backend's tensor to :func:`keras_sig.logsignature`.

    Parameters
    ----------
    depth : int
        Truncation depth ``N >= 1``.
    mode : {"words", "brackets", "expand"}, default "words"
        The coordinates of the output (see :func:`keras_sig.logsignature`).
    stream : bool, default False
        Return the log-signature of every prefix of the path. The remaining
        arguments are keyword-only.
    method : {"auto", "sequential", "parallel", ...}, default "auto"
        How the signature is computed; ``"auto"`` chooses for the fastest
        gradient, as in :class:`SigLayer`.
    basepoint : bool, default False
        Start every path at the origin (prepend a zero point).
    inverse : bool, default False
        Return the log-signature of the time-reversed path.
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``,
        ``trainable``, ...).

    Notes
    -----
    Input shape ``(batch, ..., length, channels)``; output shape
    ``(batch, ..., logsigdim)`` (``sigdim`` with ``mode="expand"``), or
    ``(batch, ..., length - 1, logsigdim)`` with ``stream=True`` (``length``
    with ``basepoint=True``). Dtype policies and sizes are handled as in
    :class:`SigLayer`: a mixed policy computes and returns float32, a pure
    16-bit one computes in float32 and returns 16 bits.

    Examples
    --------
    >>> import numpy as np
    >>> import keras
    >>> from keras_sig import LogSigLayer
    >>> LogSigLayer(depth=3).compute_output_shape((None, 10, 2))
    (None, 5)
    >>> LogSigLayer(depth=2, mode="expand", stream=True).compute_output_shape((None, None, 3))
    (None, None, 12)
    >>> path = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]], dtype="float32")
    >>> np.asarray(keras.ops.convert_to_numpy(LogSigLayer(depth=2)(path)))
    array([[1. , 1. , 0.5]], dtype=float32)
    """

    _function = "keras_sig.logsignature"

    def __init__(
        self,
        depth: int,
        mode: str = "words",
        stream: bool = False,
        *,
        method: str = "auto",
        basepoint: bool = False,
        inverse: bool = False,
        **kwargs: Any,
    ) -> None:
        mode = check_choice("mode", mode, MODES)
        method = check_choice("method", method, METHODS)
        super().__init__(depth, stream, method=method, basepoint=basepoint, inverse=inverse, **kwargs)
        self.mode = mode

    def _features(self, channels: int) -> int:
        return sigdim(channels, self.depth) if self.mode == "expand" else logsigdim(channels, self.depth)

    def _compute(self, inputs: Any) -> Any:
        path, _, xp, bp, _ = prepare_path(inputs, self.depth, stream=self.stream, basepoint=self.basepoint)
        return _logsignature(
            path,
            self.depth,
            xp=xp,
            basepoint=bp,
            mode=self.mode,
            stream=self.stream,
            inverse=self.inverse,
            method=self.method,
            for_gradient=True,
        )

    def get_config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs to rebuild the layer."""
        return {**super().get_config(), "mode": self.mode}


class AddTime(_AugmentLayer):
    """Keras 3 layer adding time, equally spaced from 0 to 1, as the first channel.

    Applies :func:`keras_sig.add_time` on every Keras backend: ``(batch, ...,
    length, channels)`` to ``(batch, ..., length, channels + 1)``. The length
    may be unknown (``None``) until the model runs. No weights. With 16-bit
    inputs (a ``mixed_float16`` model, say) the times are counted and divided
    in float64 (float32 on JAX without 64-bit mode) and rounded once to 16
    bits, so each is within a 16-bit rounding of ``i / (length - 1)`` at any
    length.

    Parameters
    ----------
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Examples
    --------
    >>> import keras
    >>> from keras_sig import AddTime, SigLayer
    >>> model = keras.Sequential([keras.Input((None, 2)), AddTime(), SigLayer(depth=2)])
    >>> model.output_shape
    (None, 12)
    """

    _augment = staticmethod(add_time)

    def _shape(self, length: int | None, channels: int) -> tuple[int | None, int]:
        return length, channels + 1

    def _augment_masked(self, filled: Any, mask: Any) -> Any:
        # Time runs from 0 to 1 over the unmasked points, as for the series alone.
        return keras.ops.concatenate([_masked_times(mask, filled.dtype), filled], axis=-1)


class LeadLag(_AugmentLayer):
    """Keras 3 layer applying the lead-lag transform (see :func:`keras_sig.lead_lag`).

    ``(batch, ..., length, channels)`` to ``(batch, ..., 2 * length - 1,
    2 * channels)``, the lead channels first. The length may be unknown
    (``None``) until the model runs. No weights.

    Parameters
    ----------
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Examples
    --------
    >>> from keras_sig import LeadLag
    >>> LeadLag().compute_output_shape((None, 10, 3))
    (None, 19, 6)
    >>> LeadLag().compute_output_shape((None, None, 3))
    (None, None, 6)
    """

    _augment = staticmethod(lead_lag)

    def _shape(self, length: int | None, channels: int) -> tuple[int | None, int]:
        return (None if length is None else 2 * length - 1), 2 * channels

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Point ``2i`` unmasked where input point ``i`` is, ``2i + 1`` where ``i + 1`` is (the lead's)."""
        del inputs
        if mask is None:
            return None
        return keras.ops.repeat(mask, 2, axis=-1)[..., 1:]


class InvisibilityReset(_AugmentLayer):
    """Keras 3 layer applying the invisibility-reset transform (see :func:`keras_sig.invisibility_reset`).

    ``(batch, ..., length, channels)`` to ``(batch, ..., length + 2,
    channels + 1)``, the visibility channel first. The length may be unknown
    (``None``) until the model runs. No weights.

    Parameters
    ----------
    **kwargs
        Standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    Examples
    --------
    >>> from keras_sig import InvisibilityReset
    >>> InvisibilityReset().compute_output_shape((None, 10, 3))
    (None, 12, 4)
    """

    _augment = staticmethod(invisibility_reset)

    def _shape(self, length: int | None, channels: int) -> tuple[int | None, int]:
        return (None if length is None else length + 2), channels + 1

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input's mask, and the two appended points unmasked."""
        del inputs
        if mask is None:
            return None
        ops = keras.ops
        end = ops.ones_like(mask[..., -1:])
        return ops.concatenate([mask, end, end], axis=-1)


if keras.saving.get_registered_object(_LEGACY_NAME) is None:
    # Files saved by keras_sig 1.0.2 name the layer "Custom>SigLayer"; registered
    # first so that the canonical name (used when saving) stays "keras_sig>SigLayer".
    keras.saving.register_keras_serializable(package="Custom", name="SigLayer")(SigLayer)
keras.saving.register_keras_serializable(package="keras_sig")(SigLayer)
keras.saving.register_keras_serializable(package="keras_sig")(LogSigLayer)
for _layer in (AddTime, LeadLag, InvisibilityReset):
    keras.saving.register_keras_serializable(package="keras_sig")(_layer)
