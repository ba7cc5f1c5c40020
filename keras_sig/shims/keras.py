"""Keras 3 layers: :class:`SigLayer`.

The layer follows Keras' own contract: its whole configuration is fixed in
``__init__``, ``compute_output_shape`` is plain Python (so symbolic
``keras.Input`` tensors never reach the algorithms), and ``get_config`` /
``from_config`` round-trip it through ``.keras`` files. ``call`` hands the
backend's native tensor (a jax array or tracer, a torch tensor, a
``tf.Tensor``) straight to :func:`keras_sig.signature`, which picks the array
namespace from the tensor itself: nothing here asks which Keras backend runs.

The layer is registered with Keras' serialization under ``"keras_sig>SigLayer"``
and, for files written by keras_sig 1.0.2, also under that release's name
``"Custom>SigLayer"`` (unless another class already holds that name), so
:func:`keras.saving.load_model` needs no ``custom_objects``.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_sig._api import (
    METHODS,
    check_bool,
    check_choice,
    check_int,
    check_path,
    choose_method,
    shape_text,
    sigdim,
    signature,
)
from keras_sig._lib._backends import array_namespace

__all__ = ["SigLayer"]

_HALF_FLOATS = ("float16", "bfloat16")

_LEGACY_NAME = "Custom>SigLayer"  # what keras_sig 1.0.2 registered its layer as


def _method_from_legacy(method: str, gpu_optimized: object) -> str:
    """Map keras_sig 1.0.2's ``gpu_optimized=`` onto ``method=``."""
    if gpu_optimized is None:
        return method
    gpu_optimized = check_bool("gpu_optimized", gpu_optimized)
    legacy = "parallel" if gpu_optimized else "sequential"
    if method not in ("auto", legacy):
        msg = (
            f"gpu_optimized={gpu_optimized} (the keras_sig 1.0.2 spelling of method={legacy!r}) "
            f"contradicts method={method!r}: pass only method="
        )
        raise ValueError(msg)
    return legacy


def _check_unroll(unroll: object) -> None:
    if unroll is None or isinstance(unroll, bool):
        return
    check_int("unroll", unroll, minimum=1)


class SigLayer(keras.layers.Layer):
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
        whole path's (see :func:`keras_sig.signature`). The remaining
        arguments are keyword-only.
    method : {"auto", "sequential", "parallel"}, default "auto"
        How the signature is computed (see :func:`keras_sig.signature`). A
        layer is trained, so ``"auto"`` chooses for the fastest gradient:
        ``"parallel"`` whenever its intermediates fit in 256 MiB (on JAX too,
        whatever the length), ``"sequential"`` beyond that.
    basepoint : bool, default False
        Start every path at the origin (prepend a zero point).
    inverse : bool, default False
        Return the signature of the time-reversed path.
    scalar_term : bool, default False
        Prepend the level-0 term 1 to every signature.
    unroll : None, bool or int, optional
        Accepted for compatibility with keras_sig 1.0.2 and ignored: the loop
        construct is chosen by the backend (``jax.lax.scan``, a TF loop, or a
        Python loop that ``torch.compile`` unrolls), not by this layer.
    gpu_optimized : bool, optional
        keras_sig 1.0.2's spelling of ``method``: True means
        ``method="parallel"``, False ``method="sequential"``, None (the
        default) leaves ``method`` as given. It is not stored in the config.
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

    **Mixed precision.** Under a ``mixed_float16`` or ``mixed_bfloat16`` policy
    (or any policy whose compute dtype is 16-bit) the signature is computed in
    float32: floating inputs are cast to float32, not to 16 bits, before the
    signature, and the output is float32. Signature levels are products of up
    to ``depth`` increments, which 16-bit floats represent poorly. Cast the
    output yourself if the following layers should see 16 bits. Under other
    policies, inputs are cast to the compute dtype as for any Keras layer.
    Integer inputs are cast to the float dtype described above.

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
        *,
        method: str = "auto",
        basepoint: bool = False,
        inverse: bool = False,
        scalar_term: bool = False,
        unroll: bool | int | None = None,
        gpu_optimized: bool | None = None,
        **kwargs: Any,
    ) -> None:
        depth = check_int("depth", depth, minimum=1)
        stream = check_bool("stream", stream)
        method = _method_from_legacy(check_choice("method", method, METHODS), gpu_optimized)
        if not isinstance(basepoint, bool):
            msg = (
                "SigLayer's basepoint must be True (start at the origin) or False; got "
                f"{type(basepoint).__name__} (for an arbitrary basepoint, concatenate it to the path)"
            )
            raise TypeError(msg)
        inverse = check_bool("inverse", inverse)
        scalar_term = check_bool("scalar_term", scalar_term)
        _check_unroll(unroll)
        super().__init__(**kwargs)
        self.depth = depth
        self.stream = stream
        self.method = method
        self.basepoint = basepoint
        self.inverse = inverse
        self.scalar_term = scalar_term

    # ---------------------------------------------------------------- dtypes

    @property
    def input_dtype(self) -> str:
        """The dtype inputs are cast to: the compute dtype, with float32 for 16-bit floats."""
        dtype = self.compute_dtype
        return "float32" if dtype in _HALF_FLOATS else dtype

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
        shape = tuple(input_shape)
        if len(shape) < 3:
            msg = (
                f"SigLayer expects inputs of shape (batch, ..., length, channels); got {shape_text(shape)} "
                "(for a single path, add a batch axis or call keras_sig.signature)"
            )
            raise ValueError(msg)
        check_path(shape, subject="SigLayer input")
        return shape

    def build(self, input_shape: Any) -> None:
        """Check the input shape (the layer has no weights)."""
        self._checked_shape(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` ``(batch, ..., length, channels)``; ``None`` allowed."""
        shape = self._checked_shape(input_shape)
        length, channels = shape[-2], shape[-1]
        size = sigdim(channels, self.depth, scalar_term=self.scalar_term)  # type: ignore[arg-type]
        if not self.stream:
            return (*shape[:-2], size)
        steps = None if length is None else length - 1 + int(self.basepoint)
        return (*shape[:-2], steps, size)

    def compute_output_spec(self, inputs: Any) -> keras.KerasTensor:
        """Symbolic output: the shape above, with the dtype :meth:`call` produces."""
        dtype = self._signature_dtype(inputs.dtype) or keras.backend.standardize_dtype(inputs.dtype)
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    # ---------------------------------------------------------------- call

    def call(self, inputs: Any) -> Any:
        """Signature of ``inputs``, a backend tensor of shape ``(batch, ..., length, channels)``."""
        dtype = self._signature_dtype(inputs.dtype)
        if dtype is not None:
            inputs = keras.ops.cast(inputs, dtype)
        method = self.method
        if method == "auto":
            # A layer is trained: choose the method whose gradient is fastest.
            method = choose_method(
                array_namespace(inputs), inputs, self.depth, stream=self.stream, for_gradient=True
            )
        return signature(
            inputs,
            self.depth,
            stream=self.stream,
            basepoint=self.basepoint,
            inverse=self.inverse,
            scalar_term=self.scalar_term,
            method=method,  # type: ignore[arg-type]
        )

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
                "scalar_term": self.scalar_term,
            }
        )
        return config


if keras.saving.get_registered_object(_LEGACY_NAME) is None:
    # Files saved by keras_sig 1.0.2 name the layer "Custom>SigLayer"; registered
    # first so that the canonical name (used when saving) stays "keras_sig>SigLayer".
    keras.saving.register_keras_serializable(package="Custom", name="SigLayer")(SigLayer)
keras.saving.register_keras_serializable(package="keras_sig")(SigLayer)
