"""Keras 3 layers: :class:`SigLayer`, :class:`LogSigLayer`, and the path augmentations.

The layer follows Keras' own contract: its whole configuration is fixed in
``__init__``, ``compute_output_shape`` is plain Python (so symbolic
``keras.Input`` tensors never reach the algorithms), and ``get_config`` /
``from_config`` round-trip it through ``.keras`` files. ``call`` hands the
backend's native tensor (a jax array or tracer, a torch tensor, a
``tf.Tensor``) straight to :func:`keras_sig.signature` (or
:func:`keras_sig.logsignature`), which picks the array namespace from the
tensor itself: nothing here asks which Keras backend runs. What both layers
share (validation, dtypes, shapes, config) lives in :class:`_PathLayer`.

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

from collections.abc import Callable
from typing import Any, ClassVar

import keras

from keras_sig._api import METHODS, _signature, prepare_path, sigdim
from keras_sig._compat import check_unroll, method_from_legacy
from keras_sig._lib._sizes import check_count, check_path_size
from keras_sig._lib._validation import (
    check_bool,
    check_choice,
    check_int,
    check_known_rank,
    check_path,
    shape_text,
)
from keras_sig._logsig_api import MODES, _logsignature
from keras_sig._transforms_api import add_time, invisibility_reset, lead_lag
from keras_sig._words_api import logsigdim

__all__ = ["AddTime", "InvisibilityReset", "LeadLag", "LogSigLayer", "SigLayer"]

_HALF_FLOATS = ("float16", "bfloat16")

_LEGACY_NAME = "Custom>SigLayer"  # what keras_sig 1.0.2 registered its layer as


def _check_inputs_rank(layer: keras.layers.Layer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A clear ValueError for a graph tensor of unknown rank, before Keras' own shape code meets it."""
    inputs = args[0] if args else kwargs.get("inputs")
    check_known_rank(f"{type(layer).__name__} input (the path)", inputs)


def _shape_tuple(layer: keras.layers.Layer, input_shape: Any) -> tuple[Any, ...]:
    """``input_shape`` as a tuple, or the layer's shape ValueError where its rank is unknown.

    ``None``, a ``tf.TensorShape(None)`` and anything else that lists no axes
    have no rank, so no output shape.
    """
    try:
        known = input_shape is not None and getattr(input_shape, "rank", 0) is not None
        shape = tuple(input_shape) if known else None
    except (TypeError, ValueError):
        shape = None
    if shape is None:
        msg = (
            f"{type(layer).__name__} expects inputs of shape (batch, ..., length, channels); got a shape of "
            f"unknown rank ({input_shape!r}): the number of axes must be known"
        )
        raise ValueError(msg)
    return shape


def _float64_unavailable() -> bool:
    """Whether the Keras backend is JAX with 64-bit floats off (``float64`` silently becomes float32)."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return bool(jax.dtypes.canonicalize_dtype(jax.numpy.float64) != jax.numpy.float64)


def _check_policy(layer: keras.layers.Layer) -> None:
    """A ValueError where the layer's dtype policy asks for float64 and the backend cannot give it."""
    if layer.compute_dtype == "float64" and _float64_unavailable():
        msg = (
            f"{type(layer).__name__}'s dtype policy {layer.dtype_policy.name!r} computes in float64, "
            "which JAX gives only with 64-bit mode on: call jax.config.update('jax_enable_x64', True) "
            "(or set JAX_ENABLE_X64=1) before building the model, or use a float32 policy"
        )
        raise ValueError(msg)


def _fill_masked(inputs: Any, mask: Any) -> Any:
    """``inputs`` with every masked point replaced by the last unmasked one before it.

    Points masked before the first unmasked one take that one's value; a
    series masked throughout becomes its first point. The path then stays
    still wherever it is masked, and a still stretch adds nothing to a
    signature: the result's signature is exactly that of the unmasked points
    in order (any mask, not only padding at the end), and its stream is
    aligned with the input's time steps. The gathers are ``keras.ops``, so
    this runs, differentiates and compiles on every backend.
    """
    ops = keras.ops
    valid = ops.cast(mask, "int32")  # (batch, ..., length)
    step = ops.cumsum(ops.ones_like(valid), axis=-1) - 1  # 0, 1, ..., length - 1
    count = ops.cumsum(valid, axis=-1)  # unmasked points up to each step
    # Unmasked steps in time order, then the masked ones: all keys differ, so no stable sort is needed.
    order = ops.argsort(ops.where(mask, step, step + ops.sum(ops.ones_like(valid), axis=-1, keepdims=True)))
    source = ops.take_along_axis(order, ops.maximum(count - 1, 0), axis=-1)
    index = ops.broadcast_to(ops.expand_dims(source, -1), ops.shape(inputs))
    return ops.take_along_axis(inputs, index, axis=-2)


def _masked_times(mask: Any, dtype: str) -> Any:
    """Times ``(batch, ..., length, 1)`` from 0 to 1 over each series' unmasked points, held where masked.

    Counted and divided in float64 (float32 where the backend has no float64)
    for 16-bit ``dtype``, then rounded once to ``dtype``: 16-bit floats count
    whole numbers exactly only to 2048 (float16) or 256 (bfloat16).
    """
    ops = keras.ops
    dtype = keras.backend.standardize_dtype(dtype)
    wide = ("float32" if _float64_unavailable() else "float64") if dtype in _HALF_FLOATS else dtype
    count = ops.cast(ops.cumsum(ops.cast(mask, "int32"), axis=-1), wide)
    steps = ops.maximum(count[..., -1:] - 1, 1)  # increments of the unmasked series (1 for a point)
    return ops.cast(ops.expand_dims(ops.maximum(count - 1, 0) / steps, -1), dtype)


class _PathLayer(keras.layers.Layer):
    """What :class:`SigLayer` and :class:`LogSigLayer` share: options, dtypes, shapes, config.

    A subclass sets :attr:`_function` (the public function's name, for messages)
    and defines :meth:`_features` (the output's last size for ``channels``) and
    :meth:`_compute` (the backend tensor's features).
    """

    _function = "keras_sig.signature"

    def __init__(
        self,
        depth: int,
        stream: bool,
        *,
        method: str,
        basepoint: bool,
        inverse: bool,
        **kwargs: Any,
    ) -> None:
        depth = check_int("depth", depth, minimum=1)
        stream = check_bool("stream", stream)
        if not isinstance(basepoint, bool):
            msg = (
                f"{type(self).__name__}'s basepoint must be True (start at the origin) or False; got "
                f"{type(basepoint).__name__} (for an arbitrary basepoint, concatenate it to the path)"
            )
            raise TypeError(msg)
        inverse = check_bool("inverse", inverse)
        # Every channel count has at least ``depth`` features; the rest is checked when built.
        check_count(depth, what=f"depth={depth}: {type(self).__name__}'s output (at least depth features)")
        super().__init__(**kwargs)
        self.supports_masking = True
        self.depth = depth
        self.stream = stream
        self.method = method
        self.basepoint = basepoint
        self.inverse = inverse

    def _features(self, channels: int) -> int:
        raise NotImplementedError

    def _compute(self, inputs: Any) -> Any:
        """The features of ``inputs``, a gradient expected (the planner's ``for_gradient``)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- dtypes

    @property
    def input_dtype(self) -> str:
        """The dtype inputs are cast to: the compute dtype, with float32 for 16-bit floats."""
        dtype = self.compute_dtype
        return "float32" if dtype in _HALF_FLOATS else dtype

    def _output_dtype(self) -> str | None:
        """Under a pure 16-bit policy (``"float16"``, ``"bfloat16"``), its dtype; else None (keep float32)."""
        dtype = self.compute_dtype
        return dtype if dtype in _HALF_FLOATS and self.variable_dtype == dtype else None

    def _signature_dtype(self, dtype: Any) -> str | None:
        """Return the dtype to cast an input of ``dtype`` to before the signature (None: keep it)."""
        dtype = keras.backend.standardize_dtype(dtype)
        if dtype in _HALF_FLOATS:
            return "float32"
        if keras.backend.is_int_dtype(dtype) or dtype == "bool":
            return self.input_dtype
        return None

    # ---------------------------------------------------------------- shapes

    def _checked_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = _shape_tuple(self, input_shape)
        name = type(self).__name__
        if len(shape) < 3:
            msg = (
                f"{name} expects inputs of shape (batch, ..., length, channels); got {shape_text(shape)} "
                f"(for a single path, add a batch axis or call {self._function})"
            )
            raise ValueError(msg)
        check_path(shape, subject=f"{name} input")
        what = f"{name}'s {'log-signature' if self._function.endswith('logsignature') else 'signature'}"
        check_path_size(shape, self.depth, stream=self.stream, basepoint=self.basepoint, what=what)
        return shape

    def build(self, input_shape: Any) -> None:
        """Check the input shape (the layer has no weights)."""
        self._checked_shape(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` ``(batch, ..., length, channels)``; ``None`` allowed."""
        shape = self._checked_shape(input_shape)
        length, channels = shape[-2], shape[-1]
        size = self._features(channels)  # type: ignore[arg-type]
        if not self.stream:
            return (*shape[:-2], size)
        steps = None if length is None else length - 1 + int(self.basepoint)
        return (*shape[:-2], steps, size)

    def compute_output_spec(self, inputs: Any, mask: Any = None) -> keras.KerasTensor:
        """Symbolic output: the shape above, with the dtype :meth:`call` produces."""
        del mask  # the output's mask is compute_mask's
        dtype = self._signature_dtype(inputs.dtype) or keras.backend.standardize_dtype(inputs.dtype)
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self._output_dtype() or dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """No mask without ``stream``; with it, entry ``t`` is masked where its last point is."""
        del inputs
        if mask is None or not self.stream:
            return None
        return mask if self.basepoint else mask[..., 1:]

    # ---------------------------------------------------------------- call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Keras' ``__call__``, after checking the input's rank and that the policy's dtype exists."""
        _check_inputs_rank(self, args, kwargs)
        _check_policy(self)
        return super().__call__(*args, **kwargs)

    def call(self, inputs: Any, mask: Any = None) -> Any:
        """Features of ``inputs``, a backend tensor of shape ``(batch, ..., length, channels)``.

        With a Keras mask ``(batch, ..., length)`` (from ``keras.layers.Masking``,
        an embedding's ``mask_zero``, ...), the masked points are skipped: the
        features are those of the unmasked points in order.
        """
        dtype = self._signature_dtype(inputs.dtype)
        if dtype is not None:
            inputs = keras.ops.cast(inputs, dtype)
        if mask is not None:
            inputs = _fill_masked(inputs, mask)
        out = self._compute(inputs)
        dtype = self._output_dtype()
        return out if dtype is None else keras.ops.cast(out, dtype)

    # ---------------------------------------------------------------- config

    def get_config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs to rebuild the layer."""
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "stream": self.stream,
                "method": self.method,
                "basepoint": self.basepoint,
                "inverse": self.inverse,
            }
        )
        return config


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


class _AugmentLayer(keras.layers.Layer):
    """A weightless layer applying one path augmentation to ``(batch, ..., length, channels)`` inputs.

    A subclass sets :attr:`_augment` (the public function) and defines
    :meth:`_shape` (the output's ``(length, channels)``). Floating inputs keep
    their dtype (an augmentation only moves numbers around); integer and
    boolean inputs are cast to the layer's compute dtype.
    """

    _augment: ClassVar[Callable[..., Any]]

    def _shape(self, length: int | None, channels: int) -> tuple[int | None, int]:
        raise NotImplementedError

    def _dtype(self, dtype: Any) -> str:
        dtype = keras.backend.standardize_dtype(dtype)
        return self.compute_dtype if keras.backend.is_int_dtype(dtype) or dtype == "bool" else dtype

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` ``(batch, ..., length, channels)``; ``None`` allowed."""
        shape = _shape_tuple(self, input_shape)
        name = type(self).__name__
        if len(shape) < 3:
            msg = f"{name} expects inputs of shape (batch, ..., length, channels); got {shape_text(shape)}"
            raise ValueError(msg)
        length, channels = check_path(shape, subject=f"{name} input")
        return (*shape[:-2], *self._shape(length, channels))

    def compute_output_spec(self, inputs: Any, mask: Any = None) -> keras.KerasTensor:
        """Symbolic output: the shape above, with the dtype :meth:`call` produces."""
        del mask  # the output's mask is compute_mask's
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self._dtype(inputs.dtype))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Keras' ``__call__``, after checking the input's rank and that the policy's dtype exists."""
        _check_inputs_rank(self, args, kwargs)
        _check_policy(self)
        return super().__call__(*args, **kwargs)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        """The augmented paths, a backend tensor like ``inputs``.

        With a Keras mask, the masked points are first held at the last
        unmasked one (see :meth:`compute_mask` for the output's mask): the
        result is the augmentation of the unmasked points, stretched by still
        points where the input was masked, which no signature sees.
        """
        dtype = self._dtype(inputs.dtype)
        if dtype != keras.backend.standardize_dtype(inputs.dtype):
            inputs = keras.ops.cast(inputs, dtype)
        if mask is None:
            return type(self)._augment(inputs)
        return self._augment_masked(_fill_masked(inputs, mask), mask)

    def _augment_masked(self, filled: Any, mask: Any) -> Any:
        """The augmentation of the held path ``filled`` (AddTime also reads ``mask``)."""
        del mask
        return type(self)._augment(filled)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input's mask, carried to the output's points (``None`` stays ``None``)."""
        del inputs
        return mask


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
