"""The signature's public functions, and their validated private twin :func:`_signature`.

Validation lives in :mod:`keras_sig._lib._validation`, the method choice in
:mod:`keras_sig._lib._plan`, the algorithms in :mod:`keras_sig._core`.
"""

from __future__ import annotations

from typing import Any

from keras_sig._core import _algebra
from keras_sig._core import _signature as _core
from keras_sig._lib._companions import basepoint_array, held_path, initial_array
from keras_sig._lib._dask import blockwise_signature
from keras_sig._lib._gradients import custom_gradient_for
from keras_sig._lib._namespace import array_namespace, is_dask_array, is_jax_namespace, jax_jit, placed_like
from keras_sig._lib._plan import DEFAULT_MEMORY_BUDGET, plan
from keras_sig._lib._scan import scan_for
from keras_sig._lib._sizes import check_path_size
from keras_sig._lib._typing import Array, Method, Namespace
from keras_sig._lib._validation import (
    as_array,
    as_floating,
    check_bool,
    check_choice,
    check_int,
    check_path,
)

__all__ = ["DEFAULT_MEMORY_BUDGET", "METHODS", "prepare_path", "sigdim", "signature", "signature_options"]

METHODS = ("auto", "sequential", "parallel", "chunked")
"""The values ``method=`` accepts."""


def sigdim(channels: int, depth: int, scalar_term: bool = False) -> int:
    """Size of the last axis of a signature.

    Parameters
    ----------
    channels : int
        Number of channels ``d`` of the path (``>= 1``).
    depth : int
        Truncation depth ``N`` (``>= 1``).
    scalar_term : bool, default False
        Count the leading scalar term 1.

    Returns
    -------
    int
        ``d + d**2 + ... + d**N``, plus one with ``scalar_term``.

    Examples
    --------
    >>> import keras_sig
    >>> keras_sig.sigdim(3, 4)
    120
    >>> keras_sig.sigdim(2, 3, scalar_term=True)
    15
    """
    channels = check_int("channels", channels, minimum=1)
    depth = check_int("depth", depth, minimum=1)
    return _algebra.sigdim(channels, depth) + int(check_bool("scalar_term", scalar_term))


def signature(
    path: Array,
    depth: int,
    stream: bool = False,
    unroll: bool | int | None = None,
    gpu_optimized: bool | None = None,
    *,
    basepoint: bool | Array = False,
    initial: Array | None = None,
    inverse: bool = False,
    scalar_term: bool = False,
    lengths: Array | None = None,
    method: Method = "auto",
    memory_budget: int | None = None,
    xp: Namespace | None = None,
) -> Array:
    """Truncated signature of a piecewise-linear path.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path: any leading batch dimensions, then time, then
        channels. NumPy, CuPy, JAX, PyTorch, TensorFlow and array-api-strict
        arrays are accepted (a nested list goes through NumPy). Integer input is
        promoted to the library's default floating dtype.
    depth : int
        Truncation depth ``N >= 1``.
    stream : bool, default False
        If True, return the signature of every prefix: entry ``t`` along the
        second-to-last output axis is the signature of ``path[..., :t+2, :]``.
    unroll : None, bool or int, optional
        Accepted for compatibility with keras_sig 1.0.2 and ignored: the loop
        construct is the backend's (``jax.lax.scan``, a TF loop, a Python loop).
    gpu_optimized : bool, optional
        keras_sig 1.0.2's spelling of ``method``, deprecated: True means
        ``method="parallel"``, False ``method="sequential"`` (each with a
        :class:`DeprecationWarning`), None (the default) leaves ``method`` as
        given. ``stream``, ``unroll`` and ``gpu_optimized`` may be passed
        positionally, as in 1.0.2; the arguments after them are keyword-only.
    basepoint : bool or array of shape (..., channels), default False
        Prepend a point to the path: True for the origin, or the given point.
        Its leading dimensions broadcast to the path's batch shape (a
        ``(channels,)`` point serves every path). A NumPy array or a nested
        list is converted to the path's library, dtype and device; this holds
        for ``initial`` and ``lengths`` too (see Raises).
    initial : array of shape (..., sigdim), optional
        A signature to continue from (by Chen's identity the result is the
        signature of the path represented by ``initial`` followed by ``path``).
        With ``inverse=True`` it is read as an inverse signature and the result
        is the inverse signature of that concatenation. The scalar term may be
        included (size ``sigdim + 1``). Its leading dimensions broadcast to
        the path's batch shape.
    inverse : bool, default False
        Return the inverse signature, which is the signature of the
        time-reversed path.
    scalar_term : bool, default False
        Prepend the level-0 term (always 1).
    lengths : int array of shape (...), optional
        For a ragged batch padded to one length: the number of points of
        each series (its leading dimensions broadcast to the path's batch
        shape). Series ``i`` is ``path[i, :lengths[i]]``, whatever the padding
        holds: each is held at its last point, which changes no signature, so
        the result is exactly each series' own. With ``stream=True`` the
        entries from ``lengths - 1`` on repeat the series' signature. Values
        given on the host (ints, lists, NumPy) must lie in ``1..length``; an
        array of another library is not read back: there a value above
        ``length`` counts as ``length``, and one of 1 or less gives a constant
        path (zero signature). A basepoint is prepended to each series and is
        not counted.
    method : {"auto", "sequential", "parallel", "chunked"}, default "auto"
        ``"sequential"`` applies Chen's identity one increment at a time (a
        ``jax.lax.scan`` on JAX, a graph loop on TensorFlow); memory does not
        grow with the length. ``"parallel"`` computes each level over the whole
        time axis with cumulative sums; fewest operations, so fastest in eager
        mode, with memory ``O(batch x length x channels**(depth-2))``
        (``channels**depth`` with ``stream``). ``"chunked"`` runs the parallel
        method on chunks of the time axis sized to ``memory_budget``, one chunk
        at a time, multiplying each into the result so far (Chen's identity); with a
        single chunk it is ``"parallel"``. ``"auto"`` picks as described in
        the README. Under ``torch.compile``, ``"sequential"`` on a path of more
        than 64 steps runs as ``"parallel"`` (same result): Dynamo would unroll
        its loop, making compilation slow. Past depth 16, every method runs
        as ``"sequential"`` (same result), whose program, unlike the parallel
        method's, does not grow with the depth's square; from depth 9 its
        scan carries the flat signature, so any depth works (a 1-channel path
        at depth 1000, say). All methods give the same result to rounding.
    memory_budget : int, optional
        Bytes the intermediates of ``"chunked"`` (and ``"auto"``) may use at
        once, which sets the chunk length; default
        :data:`DEFAULT_MEMORY_BUDGET` (64 MiB). It also bounds the memory of
        the gradient (see Notes).
    xp : namespace, optional
        Array namespace to use instead of the one inferred from ``path``.

    Returns
    -------
    array
        Shape ``(..., sigdim)``, or ``(..., length - 1, sigdim)`` with
        ``stream=True`` (``length`` entries with a basepoint). Same kind of
        array, dtype and device as ``path``. Level ``k`` is flattened in
        row-major word order, as in iisignature and signatory.

    Raises
    ------
    TypeError
        If an argument has the wrong type (a non-integer ``depth`` or
        ``memory_budget``, a traced ``depth`` under ``jax.jit``, a non-numeric
        ``path``, a non-bool flag), if ``path`` is not a dense array (a
        ``tf.RaggedTensor``, ``tf.SparseTensor``, ``np.matrix``, masked
        array or torch sparse tensor), or if ``basepoint``, ``initial`` or
        ``lengths`` is an array of another library than ``path`` that is not
        a NumPy array.
    ValueError
        If a value is out of range or a shape does not fit (``depth < 1``, rank
        below 2, zero length or channels, a basepoint or initial of the wrong
        shape, an unknown method), or if one path's output would have more
        than :func:`keras_sig.get_max_size` elements (``2**31`` unless
        :func:`keras_sig.set_max_size` changed it), refused before anything is
        allocated, or if ``basepoint``, ``initial`` or ``lengths`` is on
        another device than ``path`` (PyTorch, CuPy, array-api-strict).

    Notes
    -----
    **Float32 range.** The level-``k`` coefficients of a path of total
    variation ``V`` (the sum of ``|increment|`` over every step and channel)
    are at most ``V**k / k!``, and every method's intermediates stay within a
    few times that, so in float32 the signature to depth ``N`` is finite when
    ``V <= (N! * 1e38) ** (1 / N)``: about ``1.4e19`` at depth 2, ``8.4e12`` at
    3, ``7.0e9`` at 4, ``1.0e8`` at 5, ``6.4e6`` at 6, ``9.1e5`` at 7 and
    ``2.1e5`` at 8. Past it, rescale the path or use float64.

    **Memory-light gradient.** With ``stream=False``, on JAX, PyTorch and
    TensorFlow, when plain autodiff of the whole path would not fit in
    ``memory_budget``, the gradient stores no prefix signature: the backward pass
    walks the path in reverse, chunk by chunk (chunks sized to
    ``memory_budget``), rebuilding the signature before each chunk from the
    one after it by multiplying with the chunk's inverse signature, and
    recomputing the chunk. Its memory does not grow with the length beyond
    the path itself (as in signatory and iisignature). It is differentiable
    again: PyTorch double backward, JAX reverse-over-reverse
    (``jax.grad`` of a gradient), TensorFlow nested tapes. JAX forward-mode
    (``jax.jvp``, ``jax.hessian``) of it is refused by JAX; use
    ``stream=True`` and take the last entry, or a reverse-mode
    Hessian-vector product, there. When the whole path fits, a hand-written
    VJP of the whole path on the forward's intermediates is used instead
    (faster than the frameworks' autodiff): on PyTorch in the same custom
    gradient (``torch.compile`` traces it; ``torch.func`` transforms and
    forward-mode AD get plain autodiff), on JAX as a ``jax.custom_jvp`` whose
    tangent map is that VJP's linear transpose, so forward mode works there.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    >>> keras_sig.signature(path, 2)
    array([1. , 1. , 0.5, 1. , 0. , 0.5])
    >>> keras_sig.signature(path, depth=2, stream=True).shape
    (2, 6)
    """
    path, depth, xp, bp, init = prepare_path(
        path, depth, stream=stream, basepoint=basepoint, initial=initial, lengths=lengths, xp=xp
    )
    options = signature_options(inverse, scalar_term, method, memory_budget)
    if unroll is not None or gpu_optimized is not None:  # keras_sig 1.0.2's options
        from keras_sig._compat import check_unroll, method_from_legacy

        check_unroll(unroll)
        options["method"] = method_from_legacy(options["method"], gpu_optimized, stacklevel=2)
    return _signature(path, depth, xp=xp, stream=stream, basepoint=bp, initial=init, **options)


def signature_options(inverse: Any, scalar_term: Any, method: Any, memory_budget: Any) -> dict[str, Any]:
    """The checked options :func:`_signature` takes besides the path (``memory_budget`` defaulted)."""
    return {
        "inverse": check_bool("inverse", inverse),
        "scalar_term": check_bool("scalar_term", scalar_term),
        "method": check_choice("method", method, METHODS),
        "memory_budget": (
            DEFAULT_MEMORY_BUDGET
            if memory_budget is None
            else check_int("memory_budget", memory_budget, minimum=1)
        ),
    }


def prepare_path(
    path: Any,
    depth: Any,
    *,
    stream: Any,
    basepoint: Any = False,
    initial: Any = None,
    lengths: Any = None,
    xp: Namespace | None = None,
) -> tuple[Array, int, Namespace, Array | None, Array | None]:
    """The checks every signature-like function makes: ``(path, depth, xp, basepoint, initial)``.

    - ``path``: a floating array of ``xp`` of shape ``(..., length, channels)``,
      its output within the size limit, each series held at its last point
      where ``lengths`` is given;
    - ``basepoint``, ``initial``: arrays broadcast to the batch, or ``None``
      (``initial`` without its scalar term).

    ``depth`` and ``stream`` are checked too (raising, as every check here,
    a ``TypeError`` or ``ValueError`` that names the argument).
    """
    path, xp = as_array("path", path, xp)
    depth = check_int("depth", depth, minimum=1)
    stream = check_bool("stream", stream)
    path = as_floating("path", path, xp)
    check_path(path)
    check_path_size(path.shape, depth, stream=stream, basepoint=basepoint)
    bp = basepoint_array(basepoint, path, xp)
    init = initial_array(initial, path, depth, xp)
    return held_path(path, lengths, xp), depth, xp, bp, init


def _signature(
    path: Array,
    depth: int,
    *,
    xp: Namespace,
    stream: bool = False,
    basepoint: Array | None = None,
    initial: Array | None = None,
    inverse: bool = False,
    scalar_term: bool = False,
    method: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    for_gradient: bool = False,
) -> Array:
    """:func:`signature` of arguments already checked (:func:`prepare_path`); nothing is checked again.

    What the other public functions, the Keras layers and the Dask blocks
    call. ``method`` is one of :data:`METHODS`; ``for_gradient`` tells the
    planner a gradient will be taken (a layer's call).
    """
    if is_dask_array(path):
        return _dask_signature(
            path,
            depth,
            basepoint,
            initial,
            stream=stream,
            inverse=inverse,
            scalar_term=scalar_term,
            method=method,
            memory_budget=memory_budget,
            for_gradient=for_gradient,
        )
    chosen = plan(
        path,
        depth,
        xp=xp,
        stream=stream,
        method=method,
        basepoint=basepoint is not None,
        memory_budget=memory_budget,
        for_gradient=for_gradient,
    )
    options = {
        "stream": stream,
        "inverse": inverse,
        "scalar_term": scalar_term,
        "plan": chosen,
        "xp": xp,
        "scan": scan_for(xp),
        "custom_gradient": custom_gradient_for(xp, chosen.gradient),
    }
    if is_jax_namespace(xp):
        compiled = jax_jit(_core.signature, ("depth", *options))
        return compiled(path, depth=depth, basepoint=basepoint, initial=initial, **options)
    with placed_like(path, xp):
        return _core.signature(path, depth, basepoint=basepoint, initial=initial, **options)


def _dask_signature(
    path: Array, depth: int, bp: Array | None, init: Array | None, *, stream: bool, **options: Any
) -> Array:
    """Lazy signature of a dask array, one batch chunk at a time (see ``_lib._dask``)."""
    length = path.shape[-2] + (bp is not None)

    def compute(block: Array, bp_block: Array | None, init_block: Array | None) -> Array:
        xp = array_namespace(block)
        return _signature(
            block, depth, xp=xp, stream=stream, basepoint=bp_block, initial=init_block, **options
        )

    return blockwise_signature(
        path,
        basepoint=bp,
        initial=init,
        out_time=length - 1 if stream else None,
        sigdim=_algebra.sigdim(path.shape[-1], depth) + int(options["scalar_term"]),
        compute=compute,
    )
