"""What the Keras layers share: input checks, dtypes, masks, and the two base classes.

:class:`_PathLayer` is the base of :class:`~keras_sig.shims.keras.SigLayer` and
:class:`~keras_sig.shims.keras.LogSigLayer` (validation, dtypes, shapes,
config); :class:`_AugmentLayer` that of the augmentation layers. Neither is
registered or saved: only the concrete layers in :mod:`keras_sig.shims.keras` are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import keras

from keras_sig._lib._sizes import check_count, check_path_size
from keras_sig._lib._validation import (
    check_bool,
    check_int,
    check_known_rank,
    check_path,
    shape_text,
)

__all__ = ["_AugmentLayer", "_PathLayer"]

_HALF_FLOATS = ("float16", "bfloat16")


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
