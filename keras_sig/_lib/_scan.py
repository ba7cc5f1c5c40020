"""The loop strategies the core's scans run on: a Python loop, ``jax.lax.scan``, a TF while-loop.

The core never asks which backend it runs on: it receives one of these as
``scan=`` (:func:`scan_for` picks it) and calls it as the :class:`Scan`
protocol says. Each imports its framework only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from keras_sig._lib._namespace import device_of, is_adapter, is_jax_namespace, static_dim
from keras_sig._lib._typing import Array, Namespace

__all__ = ["Scan", "jax_scan", "python_scan", "scan_for", "tf_scan"]


class Scan(Protocol):
    """``scan(step, init, xs, *, stream, xp, reverse=False, unroll=True) -> (carry, ys)``.

    - ``step(carry, x_t) -> (carry, y_t)`` runs over axis -2 of ``xs``;
      ``carry`` is a nested structure of arrays whose shapes do not change.
    - ``xs`` may be a tuple of arrays of one length along axis -2; ``x_t`` is
      then the tuple of their entries.
    - With ``stream`` the ``y_t`` come back stacked along axis -2 (in the
      entries' order, also with ``reverse``); otherwise ``ys`` is ``None``.
    - ``reverse`` runs from the last entry to the first.
    - ``unroll=False`` asks for one step per iteration (JAX unrolls otherwise).
    - The ``y_t`` have the dtype of the carry's first array.
    """

    def __call__(
        self,
        step: Callable[[Any, Array], tuple[Any, Array | None]],
        init: Any,
        xs: Array,
        *,
        stream: bool,
        xp: Namespace,
        reverse: bool = False,
        unroll: bool = True,
    ) -> tuple[Any, Array | None]: ...


def python_scan(
    step: Callable[[Any, Array], tuple[Any, Array]],
    init: Any,
    xs: Array,
    *,
    stream: bool,
    xp: Namespace,
    reverse: bool = False,
    unroll: bool = True,
) -> tuple[Any, Array | None]:
    """Run ``step`` over axis -2 of ``xs`` with a Python loop.

    ``step(carry, x_t)`` returns ``(carry, y_t)``. With ``stream`` the ``y_t`` are
    stacked along axis -2; otherwise the second result is ``None``. With
    ``reverse`` the steps run from the last entry to the first (the outputs
    keep the entries' order). ``unroll`` is ignored (JAX's option).
    """
    del unroll  # a Python loop has nothing to unroll
    length = (xs[0] if isinstance(xs, tuple) else xs).shape[-2]
    carry = init
    ys = None
    for t in reversed(range(length)) if reverse else range(length):
        carry, y = step(carry, _entry(xs, t))
        if stream:
            if ys is None:  # written in place: a list and its stacked copy would hold the output twice
                ys = xp.empty((*y.shape[:-1], length, y.shape[-1]), dtype=y.dtype, device=device_of(y, xp))
            ys[..., t, :] = y
    if not stream:
        return carry, None
    if ys is None:
        # No step ran: learn the output's trailing size from one step on a zero increment.
        _, probe = step(init, _zero_entry(xs, xp))
        return carry, probe[..., None, :][..., :0, :]
    return carry, ys


def _entry(xs: Any, t: int) -> Any:
    """Entry ``t`` along axis -2 of ``xs`` (an array or a tuple of arrays)."""
    if isinstance(xs, tuple):
        return tuple(a[..., t, :] for a in xs)
    return xs[..., t, :]


def _zero_entry(xs: Any, xp: Namespace) -> Any:
    """An entry of zeros shaped like one of ``xs`` (an array or a tuple of arrays)."""
    if isinstance(xs, tuple):
        return tuple(xp.zeros_like(xp.sum(a, axis=-2)) for a in xs)
    return xp.zeros_like(xp.sum(xs, axis=-2))


# Steps per iteration of the compiled JAX loop: amortises the loop's per-iteration
# overhead (``python -m benchmarks`` times it) at a compile time that does not
# depend on the length (benchmarks/README.md).
_JAX_UNROLL = 8


def jax_scan(
    step: Callable[[Any, Array], tuple[Any, Array]],
    init: Any,
    xs: Array,
    *,
    stream: bool,
    xp: Namespace,
    reverse: bool = False,
    unroll: bool = True,
) -> tuple[Any, Array | None]:
    """Run ``step`` over axis -2 of ``xs`` with :func:`jax.lax.scan` (one traced body).

    ``unroll=False`` runs one step per iteration: for steps that work on whole
    chunks, whose temporaries would otherwise be live :data:`_JAX_UNROLL` times.
    So does a scan over a symbolic length.
    """
    import jax

    def body(carry: Any, x: Array) -> tuple[Any, Array | None]:
        carry, y = step(carry, x)
        return carry, (y if stream else None)

    # JAX cannot unroll a scan whose length is symbolic (``jax.export``).
    first = xs[0] if isinstance(xs, tuple) else xs
    steps = _JAX_UNROLL if unroll and static_dim(first.shape[-2]) is not None else 1
    major = jax.tree_util.tree_map(lambda a: xp.moveaxis(a, -2, 0), xs)
    carry, ys = jax.lax.scan(body, init, major, unroll=steps, reverse=reverse)
    if not stream:
        return carry, None
    return carry, xp.moveaxis(ys, 0, -2)


def tf_scan(
    step: Callable[[Any, Array], tuple[Any, Array | None]],
    init: Any,
    xs: Array,
    *,
    stream: bool,
    xp: Namespace,
    reverse: bool = False,
    unroll: bool = True,
) -> tuple[Any, Array | None]:
    """Run ``step`` over axis -2 of ``xs`` (an array or a tuple of arrays) with one ``tf.while_loop``.

    With ``reverse`` the steps run from the last entry to the first (the
    outputs keep the entries' order); ``unroll`` is ignored (JAX's option).

    ``step(carry, x_t)`` returns ``(carry, y_t)``; ``carry`` is a nested
    structure of tensors whose shapes do not change. With ``stream`` the
    ``y_t`` are returned stacked along axis -2, else the second result is
    ``None``. The body is traced once: the graph does not grow with the
    length, which may be unknown (``None``) in graph mode.
    """
    import tensorflow as tf

    del unroll  # JAX's option; a tf.while_loop runs one step per iteration
    leaves = list(xs) if isinstance(xs, tuple) else [xs]
    length = leaves[0].shape[-2]
    if length == 0:
        # Nothing to loop over; the Python loop learns the stream's shape from a probe.
        return python_scan(step, init, xs, stream=stream, xp=xp)
    if reverse and length is None:
        msg = "a reversed TensorFlow scan needs a known length"
        raise ValueError(msg)
    arrays = []
    for leaf in leaves:
        rank = leaf.shape.rank
        time_major = tf.transpose(leaf, perm=[rank - 2, *range(rank - 2), rank - 1])
        if length is None:
            # A zero row at the end keeps the body's read in bounds when the
            # run-time length is 0 (XLA compiles the body even if it never runs).
            pad = tf.zeros_like(tf.reduce_sum(time_major[:1], axis=0, keepdims=True))
            time_major = tf.concat([time_major, pad], axis=0)
        entries = tf.TensorArray(leaf.dtype, size=tf.shape(time_major)[0], clear_after_read=False)
        arrays.append(entries.unstack(time_major))
    n = tf.shape(leaves[0])[leaves[0].shape.rank - 2]  # the run-time length (before any padding)

    def read(index: tf.Tensor) -> Any:
        got = [entries.read(index) for entries in arrays]
        return tuple(got) if isinstance(xs, tuple) else got[0]

    kind = tf.nest.flatten(init)[0].dtype  # the y_t's dtype: the carry's (xs may hold indices)
    outputs = tf.TensorArray(kind, size=n + 1 if length is None else n) if stream else None

    def body(t: tf.Tensor, carry: Any, out: Any) -> tuple[tf.Tensor, Any, Any]:
        index = n - 1 - t if reverse else t
        carry, y = step(carry, read(index))
        if stream:
            out = out.write(index, y)
        return t + 1, carry, out

    _, carry, outputs = tf.while_loop(
        lambda t, *_: t < n,
        body,
        (tf.constant(0), init, outputs if stream else ()),
        maximum_iterations=n,
    )
    if not stream:
        return carry, None
    if length is None:
        # An empty TensorArray with a partly unknown element shape cannot be
        # stacked: one extra entry, from a step on the zero row, fixes the
        # shape at run time and is dropped again.
        _, probe = step(carry, read(n))
        ys = outputs.write(n, probe).stack()[:n]
    else:
        ys = outputs.stack()
    rank_y = ys.shape.rank
    return carry, tf.transpose(ys, perm=[*range(1, rank_y - 1), 0, rank_y - 1])


def scan_for(xp: Namespace) -> Scan:
    """The loop construct for ``xp``: ``jax.lax.scan``, a TF while-loop, or a Python loop."""
    if is_jax_namespace(xp):
        return jax_scan
    if is_adapter(xp):
        return tf_scan
    return python_scan
