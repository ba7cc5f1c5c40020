"""The signature of a validated path, run as its :class:`~keras_sig._lib._plan.Plan` says.

The forward methods live in :mod:`keras_sig._core._forward`, the hand-written
backward passes in :mod:`keras_sig._core._backward`; this module joins them:
basepoint, custom gradient, inverse, initial signature and scalar term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keras_sig._core._algebra import antipode, chen, concat_levels, split_levels
from keras_sig._core._backward import light_backward, parallel_vjp, points_cotangent
from keras_sig._core._chunks import over_batch, signature_chunked
from keras_sig._core._forward import increments, parallel_with_tape, signature_parallel, signature_sequential
from keras_sig._lib._typing import Array, Namespace

if TYPE_CHECKING:
    from keras_sig._lib._plan import Plan

__all__ = ["signature"]


def signature(
    path: Array,
    depth: int,
    *,
    stream: bool,
    basepoint: Array | None,
    initial: Array | None,
    inverse: bool,
    scalar_term: bool,
    plan: Plan,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
    custom_gradient: Callable[..., Callable[[Array], Array]] | None = None,
) -> Array:
    """Signature of a validated ``path`` as ``plan`` says: ``(..., sigdim)``, ``(..., T, sigdim)`` streamed.

    - ``basepoint``, ``initial``: arrays or ``None`` (``initial`` without its
      scalar term, broadcast to the batch).
    - ``custom_gradient``: the framework's wrapper for ``plan.gradient``
      (``None`` for ``"autodiff"``):
      ``"custom_vjp"``: ``wrap(forward, backward, taped)``, whose backward is
      :func:`~keras_sig._core._backward.light_backward` on
      ``plan.grad_chunk`` steps, or the whole path's
      :func:`~keras_sig._core._backward.parallel_vjp`; ``taped`` (with
      ``plan.keep_tape``) lets the forward keep the parallel method's tape.
      ``"custom_jvp"``: ``wrap(primal, taped)``.
    - The custom gradient takes the points, not the increments: it saves only
      its input and returns the points' cotangent.
    """
    channels = path.shape[-1]

    def paths_forward(z: Array) -> tuple[Array, ...]:
        if plan.chunk is not None:
            return signature_chunked(z, depth, chunk=plan.chunk, stream=stream, xp=xp, scan=scan)
        return signature_parallel(z, depth, stream=stream, xp=xp)

    def forward(z: Array) -> tuple[Array, ...]:
        if plan.method == "sequential":
            return signature_sequential(z, depth, stream=stream, xp=xp, scan=scan)
        if plan.batch_chunk is not None:
            flat = over_batch(
                lambda zc: concat_levels(paths_forward(zc), xp=xp),
                [z],
                batch_ndim=z.ndim - 2,
                size=plan.batch_chunk,
                xp=xp,
                scan=scan,
            )
            return split_levels(flat, channels, depth)
        return paths_forward(z)

    if custom_gradient is None or plan.gradient == "autodiff":
        levels = forward(increments(path, basepoint, xp=xp))
    else:
        points = path if basepoint is None else xp.concat([basepoint[..., None, :], path], axis=-2)
        wrapped = _with_custom_gradient(forward, depth, plan, custom_gradient, xp=xp, scan=scan)
        levels = split_levels(wrapped(points), channels, depth)
    if inverse:
        levels = antipode(levels, channels, xp=xp)
    if initial is not None:
        start = split_levels(initial, channels, depth)
        if stream:
            start = tuple(level[..., None, :] for level in start)
        # With inverse=True, ``initial`` is the inverse signature of what came before:
        # the inverse of (before ⊗ path) is path^{-1} ⊗ before^{-1}.
        levels = chen(levels, start, xp=xp) if inverse else chen(start, levels, xp=xp)
    out = concat_levels(levels, xp=xp)
    if scalar_term:
        out = xp.concat([xp.ones_like(out[..., :1]), out], axis=-1)
    return out


def _with_custom_gradient(
    forward: Callable[[Array], tuple[Array, ...]],
    depth: int,
    plan: Plan,
    wrap: Callable[..., Callable[[Array], Array]],
    *,
    xp: Namespace,
    scan: Callable[..., tuple[Any, Array | None]],
) -> Callable[[Array], Array]:
    """``points -> flat signature`` by ``forward``, with ``plan.gradient``'s derivatives."""

    def forward_points(points: Array) -> Array:
        return concat_levels(forward(increments(points, None, xp=xp)), xp=xp)

    def taped_forward(points: Array) -> tuple[Array, list[Array]]:
        levels, tape = parallel_with_tape(increments(points, None, xp=xp), depth, xp=xp)
        return concat_levels(levels, xp=xp), tape

    def taped_backward(points: Array, tape: list[Array] | None, cotangent: Array) -> Array:
        z = increments(points, None, xp=xp)
        return points_cotangent(parallel_vjp(z, depth, cotangent, xp=xp, tape=tape), xp=xp)

    if plan.gradient == "custom_jvp":
        return wrap(forward_points, (taped_forward, taped_backward))

    def paths_backward(points: Array, final: Array, cotangent: Array) -> Array:
        if plan.grad_chunk is None:
            return taped_backward(points, None, cotangent)
        return light_backward(points, final, cotangent, depth, chunk=plan.grad_chunk, xp=xp, scan=scan)

    def backward(points: Array, final: Array, cotangent: Array) -> Array:
        if plan.grad_batch_chunk is None:
            return paths_backward(points, final, cotangent)
        return over_batch(
            paths_backward,
            [points, final, cotangent],
            batch_ndim=points.ndim - 2,
            size=plan.grad_batch_chunk,
            xp=xp,
            scan=scan,
        )

    return wrap(forward_points, backward, (taped_forward, taped_backward) if plan.keep_tape else None)
