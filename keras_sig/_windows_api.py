"""Public windowed signatures: sliding windows and the dyadic pieces of a path.

The windows of a path are gathered into one batch of equal-length paths (the
shorter ones padded with their last point, which changes no signature) and
their signatures taken by the validated twin :func:`keras_sig._api._signature`:
every window's signature is computed from its own points, exactly, never by
dividing prefix signatures, which loses accuracy on long paths. The dyadic
signature computes its finest level so and builds the coarser ones from it by
Chen's identity (products, no division).
"""

from __future__ import annotations

from typing import Any

from keras_sig import _api
from keras_sig._core import _transforms
from keras_sig._lib._companions import held_path, lengths_array
from keras_sig._lib._namespace import device_of, placed_call
from keras_sig._lib._sizes import check_count, check_signature_size
from keras_sig._lib._typing import Array, Method, Namespace
from keras_sig._lib._validation import check_bool, check_int, path_argument

__all__ = ["dyadic_signature", "windowed_signature"]


def _windows_signature(
    path: Array,
    xp: Namespace,
    plan: _transforms.Plan | tuple[Any, int, int],
    depth: int,
    options: dict[str, Any],
) -> Array:
    """:func:`keras_sig.signature` of the windows of ``plan``: shape ``(..., len(plan), sigdim)``.

    ``plan`` may also be ``(indices, width, windows)``, the gather indices already made.
    """
    if isinstance(plan, tuple):
        indices, width, windows = plan
    else:
        (indices, width), windows = _transforms.gather_indices(plan), len(plan)

    def gather() -> Array:
        index = xp.asarray(indices, device=device_of(path, xp))
        flat = xp.take(path, index, axis=-2)
        return xp.reshape(flat, (*path.shape[:-2], windows, width, path.shape[-1]))

    return _api._signature(placed_call(gather, path, xp), depth, xp=xp, **options)


def _dyadic_gather(length: int, dyadic_depth: int) -> _transforms.Plan | tuple[Any, int, int]:
    """The finest dyadic pieces: as gather indices made by NumPy on the host where it is installed.

    The same indices as :func:`~keras_sig._core._transforms.gather_indices` of
    the finest level of :func:`~keras_sig._core._transforms.dyadic_plan`, in
    array operations rather than a Python loop over ``2**dyadic_depth`` pieces
    (a minute at ``dyadic_depth=25``). ``2**dyadic_depth * length`` fits int64:
    the size guard admits at most ``2**31`` pieces.
    """
    pieces = 2**dyadic_depth
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is nearly always present
        return _transforms.dyadic_plan(length, dyadic_depth)[pieces - 1 :]
    cuts = (np.arange(pieces + 1, dtype=np.int64) * (length - 1)) >> dyadic_depth
    first, last = cuts[:-1, None], cuts[1:, None]
    width = int((last - first).max()) + 1
    indices = np.minimum(first + np.arange(width, dtype=np.int64), last).reshape(-1)
    return indices, width, pieces


def _check_windows(
    shape: tuple[Any, ...], depth: int, *, signatures: int, gathered: int, width: int, what: str
) -> None:
    """A ValueError if the ``signatures`` per path, or the ``gathered`` pieces' points, pass the limits."""
    channels = shape[-1]
    check_count(
        gathered * width * channels, what=f"{what}: the {gathered} gathered of {width} points per path"
    )
    check_signature_size(
        channels, depth, factor=signatures, what=f"{what}: their signatures", batch=shape[:-2]
    )


def windowed_signature(
    path: Array,
    depth: int,
    window: int,
    *,
    step: int = 1,
    inverse: bool = False,
    scalar_term: bool = False,
    lengths: Array | None = None,
    method: Method = "auto",
    memory_budget: int | None = None,
    xp: Namespace | None = None,
) -> Array:
    """Signatures of a path over sliding windows.

    Window ``i`` is ``path[..., i * step : i * step + window, :]``; windows
    are taken while they fit, so there are ``(length - window) // step + 1``.
    (For windows that all start at the first point, use
    ``signature(..., stream=True)``, which is cheaper.)

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path (any supported array library).
    depth : int
        Truncation depth ``N >= 1``.
    window : int
        Points per window, ``1 <= window <= length`` (a window of one point
        has the signature of a constant path: zero).
    step : int, default 1
        Points between the starts of consecutive windows, ``>= 1``.
    lengths : int array of shape (...), optional
        The number of points of each series of a ragged batch, as in
        :func:`keras_sig.signature`: the windows are laid out on the padded
        length, and each sees only its series' points (a window reaching past
        a series' end stops there; one starting at or after it has signature
        zero).
    inverse, scalar_term, method, memory_budget, xp
        As for :func:`keras_sig.signature`, applied to every window.

    Returns
    -------
    array
        Shape ``(..., n_windows, sigdim)``. Same kind of array, dtype and
        device as ``path``; differentiable like :func:`keras_sig.signature`.

    Raises
    ------
    TypeError
        If ``depth``, ``window`` or ``step`` is not an integer, or another
        argument has the wrong type.
    ValueError
        If ``window`` is not in ``1..length``, ``step < 1``, the path's length
        is unknown, or as for :func:`keras_sig.signature`.

    Notes
    -----
    Every window's signature is computed from its own points (the windows are
    gathered into one batch of shape ``(..., n_windows, window, channels)``),
    so accuracy does not depend on where the window sits; the memory of that
    batch is ``n_windows * window * channels`` numbers per path.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> keras_sig.windowed_signature(path, 2, window=3).shape
    (2, 6)
    >>> bool(np.allclose(keras_sig.windowed_signature(path, 2, window=3)[1],
    ...                  keras_sig.signature(path[1:4], 2)))
    True
    """
    path, xp, length = path_argument(path, xp)
    depth = check_int("depth", depth, minimum=1)
    window = check_int("window", window, minimum=1)
    step = check_int("step", step, minimum=1)
    if window > length:
        msg = f"window must be at most the path's length ({length} points); got {window}"
        raise ValueError(msg)
    windows = (length - window) // step + 1
    what = f"the {windows} windows"
    _check_windows(path.shape, depth, signatures=windows, gathered=windows, width=window, what=what)
    path = held_path(path, lengths, xp)
    plan = _transforms.sliding_plan(length, window, step)
    return _windows_signature(
        path, xp, plan, depth, _api.signature_options(inverse, scalar_term, method, memory_budget)
    )


def dyadic_signature(
    path: Array,
    depth: int,
    dyadic_depth: int,
    *,
    inverse: bool = False,
    scalar_term: bool = False,
    lengths: Array | None = None,
    method: Method = "auto",
    memory_budget: int | None = None,
    xp: Namespace | None = None,
) -> Array:
    """Signatures of a path over its dyadic pieces, levels ``0..dyadic_depth``.

    Level ``j`` cuts the path's ``length - 1`` increments into ``2**j``
    consecutive pieces at points ``(i * (length - 1)) // 2**j``, ``i = 0..2**j``
    (as even as whole points allow; neighbouring pieces share their boundary
    point). Level 0 is the whole path. By Chen's identity the signatures of
    one level's pieces, multiplied in order
    (:func:`keras_sig.multi_signature_combine`), give the whole path's.

    Parameters
    ----------
    path : array of shape (..., length, channels)
        Points of the path (any supported array library).
    depth : int
        Truncation depth ``N >= 1``.
    dyadic_depth : int
        The finest level, ``>= 0``. Where a level has more pieces than the
        path has increments, some pieces are a single point (signature zero).
    lengths : int array of shape (...), optional
        The number of points of each series of a ragged batch, as in
        :func:`keras_sig.signature`: each series is cut by its own length, so
        its pieces are those of ``path[i, :lengths[i]]`` alone. The cuts then
        depend on the data: the finest pieces are gathered with
        ``take_along_axis`` (on the device, no round-trip), their batch padded
        to the longest piece a series of ``length`` points can have.
    inverse, scalar_term, method, memory_budget, xp
        As for :func:`keras_sig.signature`, applied to every piece.

    Returns
    -------
    array
        Shape ``(..., 2**(dyadic_depth + 1) - 1, sigdim)``: level 0's piece,
        then level 1's two pieces in time order, then level 2's four, and so
        on; level ``j`` starts at index ``2**j - 1``. Same kind of array, dtype
        and device as ``path``; differentiable like :func:`keras_sig.signature`.

    Raises
    ------
    TypeError
        If ``depth`` or ``dyadic_depth`` is not an integer, or another argument
        has the wrong type.
    ValueError
        If ``dyadic_depth < 0``, the path's length is unknown, or as for
        :func:`keras_sig.signature`.

    Notes
    -----
    Only the finest level's pieces are computed from their points: they are
    gathered into one batch of equal-length paths (the shorter ones padded by
    repeating their last point, a zero increment, which changes no
    signature), about one signature of the whole path. Each coarser level's
    pieces are the finer level's joined in pairs, so their signatures are the
    finer ones multiplied in pairs by Chen's identity: exact (products and
    sums, no inverse signature is taken), and ``2**dyadic_depth - 1``
    products in all, cheap beside the signature of the path.

    Examples
    --------
    >>> import numpy as np
    >>> import keras_sig
    >>> path = np.cumsum(np.ones((9, 2)), axis=0)
    >>> sigs = keras_sig.dyadic_signature(path, 2, dyadic_depth=2)
    >>> sigs.shape
    (7, 6)
    >>> bool(np.allclose(keras_sig.multi_signature_combine(list(sigs[3:7]), 2, 2), sigs[0]))
    True
    """
    path, xp, length = path_argument(path, xp)
    depth = check_int("depth", depth, minimum=1)
    dyadic_depth = check_int("dyadic_depth", dyadic_depth, minimum=0)
    options = _api.signature_options(inverse, False, method, memory_budget)
    inverse, scalar_term = options["inverse"], check_bool("scalar_term", scalar_term)
    if dyadic_depth > 61:  # 2**62 pieces or more: no array could hold them
        check_count(2**63, what=f"dyadic_depth={dyadic_depth}: the dyadic pieces per path", per_path=False)
    width = _transforms.dyadic_width(length, dyadic_depth)  # the points of the longest finest piece
    _check_windows(
        path.shape,
        depth,
        signatures=2 ** (dyadic_depth + 1) - 1,
        gathered=2**dyadic_depth,
        width=width,
        what=f"dyadic_depth={dyadic_depth}: the {2 ** (dyadic_depth + 1) - 1} dyadic pieces",
    )
    held = lengths_array(lengths, path, xp)
    if held is None:
        sigs = _windows_signature(path, xp, _dyadic_gather(length, dyadic_depth), depth, options)
    else:

        def pieces() -> Array:
            device = device_of(path, xp)
            piece = xp.asarray([[float(i)] for i in range(2**dyadic_depth)], dtype=path.dtype, device=device)
            point = xp.asarray([[float(t) for t in range(width)]], dtype=path.dtype, device=device)
            return _transforms.ragged_dyadic_pieces(path, held, piece, point, xp=xp)

        sigs = _api._signature(placed_call(pieces, path, xp), depth, xp=xp, **options)

    def combine() -> Array:
        out = _transforms.dyadic_levels(sigs, path.shape[-1], depth, inverse=inverse, xp=xp)
        return xp.concat([xp.ones_like(out[..., :1]), out], axis=-1) if scalar_term else out

    return placed_call(combine, path, xp)
