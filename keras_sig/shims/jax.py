"""A pure-JAX, jitted entry point: :func:`jax_signature` (1.0.2's ``jax_gpu_signature``).

:func:`keras_sig.signature` already jits its JAX work; this module adds a single
compiled function around its checks and its validated twin, with keras_sig 1.0.2's calling convention
(``stream`` may be passed positionally), for code that wants a JAX function to
compose with ``jax.jit``, ``jax.grad`` and ``jax.vmap``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from keras_sig._api import _signature, prepare_path, signature_options
from keras_sig._lib._typing import Array, Method
from keras_sig._lib._validation import check_bool, check_int

__all__ = ["jax_gpu_signature", "jax_signature"]


@functools.partial(jax.jit, static_argnames=("depth", "stream", "origin", "inverse", "scalar_term", "method"))
def _compiled(
    path: Array,
    basepoint: Array | None,
    initial: Array | None,
    *,
    depth: int,
    stream: bool,
    origin: bool,
    inverse: bool,
    scalar_term: bool,
    method: str,
) -> Array:
    """The signature as one compiled call per shape, dtype and static option set (checked once, traced)."""
    path, _, xp, bp, init = prepare_path(
        path, depth, stream=stream, basepoint=origin if basepoint is None else basepoint, initial=initial
    )
    return _signature(
        path,
        depth,
        xp=xp,
        stream=stream,
        basepoint=bp,
        initial=init,
        inverse=inverse,
        scalar_term=scalar_term,
        method=method,
    )


def _as_jax(value: Any) -> Array:
    return value if isinstance(value, jax.Array) else jnp.asarray(value)


def jax_signature(
    path: Any,
    depth: int,
    stream: bool = False,
    *,
    basepoint: bool | Any = False,
    initial: Any | None = None,
    inverse: bool = False,
    scalar_term: bool = False,
    method: Method = "auto",
) -> Array:
    """Compute the truncated signature as one jitted JAX computation.

    The same computation as :func:`keras_sig.signature`, for JAX: non-JAX input
    (NumPy arrays, nested lists) is converted with :func:`jax.numpy.asarray`,
    and the whole call is compiled once per input shape, dtype and option set
    (later eager calls reuse the compiled code). Works on tracers too, so it
    composes with ``jax.jit``, ``jax.grad`` and ``jax.vmap``. ``float64`` input
    stays ``float64`` when ``jax_enable_x64`` is on.

    ``jax_gpu_signature`` (keras_sig 1.0.2's name) is the same function.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Any leading batch dimensions, then time, then channels.
    depth : int
        Truncation depth ``N >= 1``.
    stream : bool, default False
        Return the signature of every prefix (may be passed positionally, as in
        keras_sig 1.0.2).
    basepoint, initial, inverse, scalar_term, method
        As in :func:`keras_sig.signature`.

    Returns
    -------
    jax.Array
        Shape ``(..., sigdim)``, or ``(..., length - 1, sigdim)`` with
        ``stream=True``; the input's floating dtype.

    Raises
    ------
    TypeError, ValueError
        As :func:`keras_sig.signature`, for a bad argument or shape.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from keras_sig import jax_signature
    >>> path = jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> jax_signature(path, 2)
    Array([1. , 1. , 0.5, 1. , 0. , 0.5], dtype=float32)
    >>> jax_signature(jnp.stack([path, 2 * path]), 2, True).shape
    (2, 2, 6)
    """
    depth = check_int("depth", depth, minimum=1)
    stream = check_bool("stream", stream)
    options = signature_options(inverse, scalar_term, method, None)
    del options["memory_budget"]  # the default
    origin = isinstance(basepoint, bool) and basepoint
    array_basepoint = None if basepoint is None or isinstance(basepoint, bool) else _as_jax(basepoint)
    initial = None if initial is None else _as_jax(initial)
    return _compiled(
        _as_jax(path), array_basepoint, initial, depth=depth, stream=stream, origin=origin, **options
    )


jax_gpu_signature = jax_signature
"""keras_sig 1.0.2's name for :func:`jax_signature`."""
