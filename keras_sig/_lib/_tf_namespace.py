"""A TensorFlow namespace adapter: only what the core and the public layer use.

TensorFlow has no array-API namespace, so :func:`keras_sig._lib._namespace.array_namespace`
hands TensorFlow tensors (and ``tf.Variable``) this module's :data:`namespace`: an
object with the handful of array-API functions the algorithms call, written with
TensorFlow ops that work eagerly, inside ``tf.function`` and under XLA
(``jit_compile=True``), and that TensorFlow can differentiate.

Two things differ from a plain array-API namespace:

* **Unknown dimensions.** In graph mode ``x.shape`` may hold ``None`` (an unknown
  batch size or path length). The core builds new shapes from ``x.shape``, so
  :meth:`reshape` accepts ``None`` entries: a ``None`` in the leading run of the
  new shape that repeats the input's own leading dimensions is read from
  ``tf.shape(x)`` at run time, and one remaining ``None`` is inferred (``-1``).
* **The loop.** :func:`keras_sig._lib._scan.tf_scan` runs the sequential method's step with one
  ``tf.while_loop`` (reading increments from, and writing the stream to,
  ``tf.TensorArray``), so the graph and XLA's compile time do not grow with the
  path's length. Reading the increments from a ``TensorArray`` (rather than
  slicing a captured tensor) keeps the backward pass linear in the length.

Two TensorFlow limitations apply to that loop (as to every ``tf.while_loop`` or
``tf.scan``, Keras' LSTM included), and ``method="parallel"``, which has no loop,
avoids both:

* a ``tf.function(jit_compile=True)`` holding it cannot be differentiated by a
  ``tf.GradientTape`` *outside* the compiled function ("Support for TensorList
  crossing the XLA/TF boundary is not implemented"): put the tape inside the
  compiled function, as Keras' ``fit(jit_compile=True)`` does;
* under XLA, the gradient through the loop's ``TensorArray`` output
  (``stream=True``) grows faster than linearly with the length.

Importing this module imports TensorFlow; :mod:`keras_sig` imports it only once a
TensorFlow tensor has been seen.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from keras_sig._lib._typing import Array

__all__ = ["TensorFlowNamespace", "namespace"]

_KINDS: dict[str, Callable[[tf.DType], bool]] = {
    "bool": lambda d: d.is_bool,
    "signed integer": lambda d: d.is_integer and not d.is_unsigned,
    "unsigned integer": lambda d: d.is_integer and d.is_unsigned,
    "integral": lambda d: d.is_integer,
    "real floating": lambda d: d.is_floating,
    "complex floating": lambda d: d.is_complex,
    "numeric": lambda d: d.is_integer or d.is_floating or d.is_complex,
}


class _Info:
    """What ``namespace.__array_namespace_info__()`` returns (only ``default_dtypes``)."""

    def default_dtypes(self, *, device: Any = None) -> dict[str, tf.DType]:
        """TensorFlow's default dtypes (those of ``tf.constant(1.0)`` and ``tf.constant(1)``)."""
        del device
        return {
            "real floating": tf.float32,
            "complex floating": tf.complex64,
            "integral": tf.int32,
            "indexing": tf.int64,
        }


class TensorFlowNamespace:
    """The array-API subset keras_sig's algorithms use, for ``tf.Tensor`` and ``tf.Variable``.

    Every method mirrors the array-API function of the same name (keyword
    arguments included) for the arguments keras_sig passes. Use the module's
    :data:`namespace` instance; ``keras_sig.signature`` picks it automatically.

    Examples
    --------
    >>> import tensorflow as tf
    >>> from keras_sig.shims.tensorflow import namespace as xp
    >>> xp.cumulative_sum(tf.constant([1.0, 2.0, 3.0]), axis=0, include_initial=True).numpy()
    array([0., 1., 3., 6.], dtype=float32)
    """

    _keras_sig_adapter = True
    """Marks this object as keras_sig's own adapter (:func:`keras_sig._lib._namespace.is_adapter`)."""

    __name__ = "keras_sig.shims.tensorflow.namespace"  # its public home

    float32 = tf.float32
    float64 = tf.float64

    def __repr__(self) -> str:
        return "<keras_sig TensorFlow namespace adapter>"

    # ------------------------------------------------------------ arrays and dtypes

    def __array_namespace_info__(self) -> _Info:
        """An inspection object whose ``default_dtypes()`` gives TensorFlow's defaults."""
        return _Info()

    def asarray(self, obj: Any, /, *, dtype: tf.DType | None = None, device: Any = None) -> tf.Tensor:
        """``obj`` (a number, nested sequence or NumPy array) as a tensor on ``device``."""
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.convert_to_tensor(obj, dtype=dtype)

    def arange(self, stop: int, /, *, dtype: tf.DType | None = None, device: Any = None) -> tf.Tensor:
        """``0, 1, ..., stop - 1`` (int32 unless ``dtype`` says otherwise) on ``device``."""
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.range(stop, dtype=dtype or tf.int32)

    def astype(self, x: Array, dtype: tf.DType, /) -> tf.Tensor:
        """``x`` cast to ``dtype``."""
        return tf.cast(x, dtype)

    def isdtype(self, dtype: tf.DType, kind: Any) -> bool:
        """Whether ``dtype`` is of ``kind`` (a dtype, an array-API kind name, or a tuple of them)."""
        if isinstance(kind, tuple):
            return any(self.isdtype(dtype, k) for k in kind)
        if isinstance(kind, str):
            if kind not in _KINDS:
                msg = f"unknown dtype kind {kind!r}; expected one of {sorted(_KINDS)}"
                raise ValueError(msg)
            return _KINDS[kind](tf.as_dtype(dtype))
        return tf.as_dtype(dtype) == tf.as_dtype(kind)

    def device(self, x: Array, /) -> str:
        """The device ``x`` lives on (an empty string for a graph tensor not yet placed)."""
        return x.device

    def placed_like(self, x: Array) -> contextlib.AbstractContextManager[Any]:
        """A context running TensorFlow ops on ``x``'s device (no-op when it is unplaced).

        TensorFlow places eager ops on a GPU when one exists, whatever their
        inputs' device; keras_sig promises that the output lives where the input
        does, so :func:`keras_sig.signature` runs the algorithm inside this context.
        """
        device = getattr(x, "device", "")
        return tf.device(device) if device else contextlib.nullcontext()

    def zeros_like(self, x: Array, /, *, dtype: tf.DType | None = None) -> tf.Tensor:
        """Zeros with ``x``'s shape (known at run time) and dtype."""
        return tf.zeros_like(x, dtype=dtype)

    def ones_like(self, x: Array, /, *, dtype: tf.DType | None = None) -> tf.Tensor:
        """Ones with ``x``'s shape (known at run time) and dtype."""
        return tf.ones_like(x, dtype=dtype)

    # ------------------------------------------------------------ shapes

    def reshape(self, x: Array, /, shape: Sequence[int | None]) -> tf.Tensor:
        """``x`` reshaped to ``shape``, which may hold ``None`` for dimensions unknown in graph mode.

        A ``None`` at position ``i`` of the leading run of ``shape`` that repeats
        ``x.shape`` entry for entry is ``tf.shape(x)[i]``; at most one other
        ``None`` (or ``-1``) is inferred.
        """
        shape = tuple(shape)
        if all(s is not None for s in shape):
            return tf.reshape(x, shape)
        static = x.shape
        rank = static.rank if static.rank is not None else 0
        dynamic = tf.shape(x)
        dims: list[Any] = []
        leading = True
        inferred = 0
        for i, size in enumerate(shape):
            leading = leading and i < rank and size == static[i]
            if leading and size is None:
                dims.append(dynamic[i])
            elif size is None or size == -1:
                dims.append(-1)
                inferred += 1
            else:
                dims.append(size)
        if inferred > 1:
            msg = (
                f"cannot reshape a tensor of shape {static} to {shape}: more than one "
                "dimension is unknown and not carried over from the input"
            )
            raise ValueError(msg)
        out = tf.reshape(x, tf.stack(dims))
        out.set_shape(self._static_reshape(static, dims))
        return out

    @staticmethod
    def _static_reshape(static: tf.TensorShape, dims: list[Any]) -> list[int | None]:
        """The static shape of ``reshape(x, dims)``: carried dimensions, given ones, the inferred one.

        ``tf.reshape`` with a shape tensor loses what is known statically; the
        inferred ``-1`` is known when the input's other dimensions are.
        """
        out: list[int | None] = [d if isinstance(d, int) and d >= 0 else None for d in dims]
        carried = 0
        while carried < len(dims) and not isinstance(dims[carried], int):
            out[carried] = static[carried]  # a leading dimension taken from tf.shape(x)
            carried += 1
        rest = static[carried:].as_list()
        inferred = [i for i, d in enumerate(dims) if isinstance(d, int) and d == -1]
        if inferred and None not in rest:
            given = math.prod(d for d in out[carried:] if d is not None)
            if given > 0 and math.prod(rest) % given == 0:
                out[inferred[0]] = math.prod(rest) // given
        return out
        for i in range(carried):
            out[i] = static[i]
        rest = static[carried:].as_list()
        known = [d for i, d in enumerate(out) if i >= carried and d is not None]
        if all(d is not None for d in rest) and all(isinstance(d, int) for d in dims[carried:]):
            numel = math.prod(rest)
            given = math.prod(known)
            if given > 0 and numel % given == 0:
                out[dims.index(-1)] = numel // given
        return out

    def permute_dims(self, x: Array, /, axes: Sequence[int]) -> tf.Tensor:
        """``x`` with its axes permuted."""
        return tf.transpose(x, perm=list(axes))

    def matrix_transpose(self, x: Array, /) -> tf.Tensor:
        """``x`` with its last two axes swapped."""
        return tf.linalg.matrix_transpose(x)

    def concat(self, arrays: Sequence[Array], /, *, axis: int = 0) -> tf.Tensor:
        """``arrays`` joined along ``axis``."""
        return tf.concat(list(arrays), axis=axis)

    def stack(self, arrays: Sequence[Array], /, *, axis: int = 0) -> tf.Tensor:
        """``arrays`` stacked along a new ``axis``."""
        return tf.stack(list(arrays), axis=axis)

    def take(self, x: Array, indices: Array, /, *, axis: int) -> tf.Tensor:
        """The entries of ``x`` at ``indices`` (1-D, integer) along ``axis``."""
        return tf.gather(x, indices, axis=axis)

    def take_along_axis(self, x: Array, indices: Array, /, *, axis: int = -1) -> tf.Tensor:
        """The entries of ``x`` at ``indices`` along ``axis``.

        ``indices`` has ``x``'s shape except along ``axis`` (no broadcasting).
        A batched ``tf.gather`` over the other axes, with ``axis`` moved last:
        ``tf.experimental.numpy.take_along_axis`` miscomputes its shape under
        XLA when the batch size is unknown.
        """
        rank = x.shape.rank
        axis %= rank
        order = [a for a in range(rank) if a != axis] + [axis]
        back = [order.index(a) for a in range(rank)]
        moved = tf.gather(
            tf.transpose(x, order), tf.transpose(indices, order), axis=rank - 1, batch_dims=rank - 1
        )
        return tf.transpose(moved, back)

    def broadcast_to(self, x: Array, /, shape: Sequence[int]) -> tf.Tensor:
        """``x`` broadcast to ``shape`` (fully known)."""
        return tf.broadcast_to(x, shape)

    # ------------------------------------------------------------ arithmetic

    def where(self, condition: Array, x1: Array, x2: Array, /) -> tf.Tensor:
        """``x1`` where ``condition`` holds, else ``x2`` (broadcast together)."""
        return tf.where(condition, x1, x2)

    def matmul(self, x1: Array, x2: Array, /) -> tf.Tensor:
        """Batched matrix product (leading dimensions broadcast)."""
        return tf.linalg.matmul(x1, x2)

    def exp(self, x: Array, /) -> tf.Tensor:
        """The exponential of ``x``, entry by entry."""
        return tf.exp(x)

    def sum(
        self, x: Array, /, *, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> tf.Tensor:
        """Sum over ``axis``."""
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def cumulative_sum(self, x: Array, /, *, axis: int, include_initial: bool = False) -> tf.Tensor:
        """Inclusive cumulative sum along ``axis``, optionally preceded by a zero."""
        out = tf.cumsum(x, axis=axis)
        if not include_initial:
            return out
        rank = x.shape.rank
        pad = [[0, 0]] * rank
        pad[axis % rank] = [1, 0]
        return tf.pad(out, pad)


namespace = TensorFlowNamespace()
"""The adapter :func:`keras_sig._lib._namespace.array_namespace` returns for TensorFlow tensors."""
