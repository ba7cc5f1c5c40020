# ruff: noqa: N803, N806 (scikit-learn's convention: the data is X)
"""A scikit-learn transformer computing signature features (sktime's ``SignatureTransformer``).

Import it explicitly (it needs scikit-learn, ``pip install keras_sig[sklearn]``)::

    from keras_sig.sklearn import SignatureTransformer

The parameters have the names and meanings of sktime's
``sktime.transformations.panel.signature_based.SignatureTransformer`` (the
generalised signature method of Morrill et al., 2020), and the features come in
its order, so a pipeline built on sktime's transformer keeps its features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

import keras_sig
from keras_sig._lib._namespace import array_namespace, device_of, is_array

__all__ = ["SignatureTransformer"]

_AUGMENTATIONS = ("basepoint", "addtime", "leadlag", "ir", "cumsum")
_WINDOWS = ("global", "sliding", "expanding", "dyadic")


def _windows(
    name: str, length: int, depth: int, window_length: Any, window_step: Any
) -> list[tuple[int, int]]:
    """The windows of sktime, ``(start, end)`` meaning ``path[start:end]``, in order."""
    if name == "global":
        return [(0, length)]
    if name == "dyadic":
        max_depth = math.floor(math.log2(length))
        if depth > max_depth:
            msg = (
                f"window_depth={depth} is too high for paths of {length} points "
                f"(after augmentation): at most {max_depth}"
            )
            raise ValueError(msg)
        return [
            ((i * length) // 2**j, ((i + 1) * length) // 2**j) for j in range(depth + 1) for i in range(2**j)
        ]
    start_step = window_step if name == "sliding" else 0
    out = []
    start, end = 0, window_length
    while end <= length:
        out.append((start, end))
        start += start_step
        end += window_step
    if not out:
        msg = f"paths of {length} points (after augmentation) are too short for window_length={window_length}"
        raise ValueError(msg)
    return out


def _hall_change(channels: int, depth: int) -> np.ndarray:
    """The matrix from Lyndon-word coefficients to libalgebra's Hall basis (esig's log-signature).

    Row ``w``, column ``h``: ``words @ matrix`` gives the Hall coordinates.
    """
    # libalgebra's Hall set: letters, then for each degree n the brackets [i, j] with
    # deg i + deg j = n, deg i <= deg j, i < j and (j a letter or left(j) <= i), in that loop order.
    elems: list[tuple[int, int]] = [(0, 0)] + [(0, k) for k in range(1, channels + 1)]
    degree = [0] + [1] * channels
    ranges = {1: (1, channels + 1)}
    for n in range(2, depth + 1):
        first = len(elems)
        for e in range(1, n // 2 + 1):
            i_lo, i_hi = ranges[e]
            j_lo, j_hi = ranges[n - e]
            for i in range(i_lo, i_hi):
                for j in range(max(j_lo, i + 1), j_hi):
                    if elems[j][0] <= i:
                        elems.append((i, j))
                        degree.append(n)
        ranges[n] = (first, len(elems))
    polys: list[dict[tuple[int, ...], float]] = [{}]
    for k, (a, b) in enumerate(elems[1:], start=1):
        if degree[k] == 1:
            polys.append({(b - 1,): 1.0})
            continue
        p: dict[tuple[int, ...], float] = {}
        for u, cu in polys[a].items():
            for v, cv in polys[b].items():
                p[u + v] = p.get(u + v, 0.0) + cu * cv
                p[v + u] = p.get(v + u, 0.0) - cu * cv
        polys.append(p)
    words = keras_sig.lyndon_words(channels, depth)
    index = {w: r for r, w in enumerate(words)}
    m = np.zeros((len(words), len(words)))
    for h, p in enumerate(polys[1:]):
        for w, c in p.items():
            if w in index:
                m[h, index[w]] = c
    return np.linalg.inv(m)


class SignatureTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Signature features of time series: sktime's ``SignatureTransformer``, on keras_sig.

    Parameters
    ----------
    augmentation_list : sequence of str or None, default ("basepoint", "addtime")
        Augmentations applied in this order: ``"basepoint"`` (prepend the origin),
        ``"addtime"`` (time in [0, 1] as channel 0), ``"leadlag"``, ``"ir"``
        (invisibility reset), ``"cumsum"`` (cumulative sum over time).
    window_name : {"global", "sliding", "expanding", "dyadic"}, default "dyadic"
        The windows whose signatures are concatenated (sktime's windows:
        ``"sliding"`` windows of ``window_length`` points every ``window_step``;
        ``"expanding"`` windows from the start, ``window_length`` points then
        ``window_step`` more each; ``"dyadic"`` the whole path, its halves,
        quarters, ... down to ``2**window_depth`` pieces, cut at
        ``(i * length) // 2**j`` with no point shared).
    window_depth : int, default 3
        Finest dyadic level (``window_name="dyadic"`` only).
    window_length, window_step : int or None, default None
        For the sliding and expanding windows (required there).
    rescaling : {"pre", "post", None}, default None
        ``"pre"``: multiply the path by ``depth! ** (1 / depth)``; ``"post"``:
        multiply level ``k`` of each signature by ``k!`` (signatures only).
    sig_tfm : {"signature", "logsignature"}, default "signature"
        Signatures (iisignature's layout) or log-signatures (coordinates in the
        Hall basis of esig/libalgebra, sktime's default backend).
    depth : int, default 4
        Truncation depth.
    channels_first : bool, default False
        Read 3-D input as sktime's ``(n_series, channels, length)`` instead of
        ``(n_series, length, channels)`` (and ragged series as ``(channels, length)``).

    Notes
    -----
    ``X`` is an array of shape ``(n_series, length, channels)`` from any
    library keras_sig supports (the output is then of that library), a 2-D
    array ``(n_series, length)`` of univariate series, or a list of arrays
    ``(length_i, channels)`` of different lengths. ``transform`` returns
    ``(n_series, n_windows * dim)``, window by window in sktime's order.

    Examples
    --------
    >>> import numpy as np
    >>> from keras_sig.sklearn import SignatureTransformer
    >>> X = np.random.default_rng(0).normal(size=(5, 20, 2))
    >>> SignatureTransformer(depth=2, window_name="global").fit_transform(X).shape
    (5, 12)
    """

    def __init__(  # noqa: PLR0917 (sktime's positional order)
        self,
        augmentation_list: Sequence[str] | str | None = ("basepoint", "addtime"),
        window_name: str = "dyadic",
        window_depth: int = 3,
        window_length: int | None = None,
        window_step: int | None = None,
        rescaling: str | None = None,
        sig_tfm: str = "signature",
        depth: int = 4,
        channels_first: bool = False,
    ) -> None:
        self.augmentation_list = augmentation_list
        self.window_name = window_name
        self.window_depth = window_depth
        self.window_length = window_length
        self.window_step = window_step
        self.rescaling = rescaling
        self.sig_tfm = sig_tfm
        self.depth = depth
        self.channels_first = channels_first

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.requires_fit = True
        return tags

    # -- validation -------------------------------------------------------------------------

    def _augmentations(self) -> tuple[str, ...]:
        augs = self.augmentation_list
        if augs is None:
            return ()
        if isinstance(augs, str):
            augs = (augs,)
        augs = tuple(augs)
        bad = [a for a in augs if a not in _AUGMENTATIONS]
        if bad:
            msg = f"augmentation_list must contain only {list(_AUGMENTATIONS)}; got {list(augs)}"
            raise ValueError(msg)
        return augs

    def _check_params(self) -> None:
        self._augmentations()
        if self.window_name not in _WINDOWS:
            msg = f"window_name must be one of {list(_WINDOWS)}; got {self.window_name!r}"
            raise ValueError(msg)
        if self.rescaling not in ("pre", "post", None):
            msg = f"rescaling must be 'pre', 'post' or None; got {self.rescaling!r}"
            raise ValueError(msg)
        if self.sig_tfm not in ("signature", "logsignature"):
            msg = f"sig_tfm must be 'signature' or 'logsignature'; got {self.sig_tfm!r}"
            raise ValueError(msg)
        if self.rescaling == "post" and self.sig_tfm == "logsignature":
            msg = "rescaling='post' is for signatures only (as in sktime); use rescaling=None or 'pre'"
            raise ValueError(msg)
        _positive_int("depth", self.depth)
        if self.window_name == "dyadic":
            _positive_int("window_depth", self.window_depth, zero=True)
        if self.window_name in ("sliding", "expanding"):
            _positive_int("window_length", self.window_length)
            _positive_int("window_step", self.window_step)

    def _series_groups(self, X: Any) -> tuple[list[tuple[list[int], Any]], int, int | None]:
        """``X`` as groups of equal-length series ``(indices, array (n, length, channels))``."""
        if isinstance(X, (list, tuple)) and X and _rank(X[0]) == 2:
            series = [_prepare(x, self.channels_first) for x in X]
            by_length: dict[int, list[int]] = {}
            for i, s in enumerate(series):
                by_length.setdefault(int(s.shape[0]), []).append(i)
            xp = array_namespace(series[0])
            groups = [(idx, xp.stack([series[i] for i in idx], axis=0)) for idx in by_length.values()]
            return groups, len(series), None
        if not is_array(X) or isinstance(X, np.ndarray):
            X = check_array(X, dtype=[np.float64, np.float32], allow_nd=True, ensure_min_features=1)
            if X.ndim == 2:
                n2d = X.shape[1]
                return [(list(range(X.shape[0])), X[:, :, None])], X.shape[0], n2d
        if len(X.shape) != 3:
            msg = f"X must have shape (n_series, length, channels); got {tuple(X.shape)}"
            raise ValueError(msg)
        if self.channels_first:
            X = array_namespace(X).permute_dims(X, (0, 2, 1))
        return [(list(range(int(X.shape[0]))), X)], int(X.shape[0]), None

    # -- estimator API --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> SignatureTransformer:  # noqa: ARG002 (scikit-learn's signature)
        """Check the parameters and the data's channels; compute the number of features."""
        self._check_params()
        groups, _, n2d = self._series_groups(X)
        self.n_channels_in_ = int(groups[0][1].shape[2])
        if n2d is not None:
            self.n_features_in_ = n2d
        out = self._features(groups[0][1][:1, ...])
        self._n_features_out = int(out.shape[1])
        return self

    def transform(self, X: Any) -> Any:
        """Signature features, shape ``(n_series, n_features)``."""
        check_is_fitted(self)
        self._check_params()
        groups, _, _ = self._series_groups(X)
        channels = int(groups[0][1].shape[2])
        if channels != self.n_channels_in_:
            msg = f"X has {channels} channels, but SignatureTransformer was fitted with {self.n_channels_in_}"
            raise ValueError(msg)
        if len(groups) == 1:
            return self._features(groups[0][1])
        parts = [(idx, self._features(g)) for idx, g in groups]
        dims = {int(p.shape[1]) for _, p in parts}
        if len(dims) != 1:
            msg = "these windows give series of different lengths different numbers of features"
            raise ValueError(msg)
        xp = array_namespace(parts[0][1])
        order = np.argsort(np.concatenate([np.asarray(idx) for idx, _ in parts]))
        stacked = xp.concat([p for _, p in parts], axis=0)
        return xp.take(stacked, xp.asarray(order, device=device_of(stacked, xp)), axis=0)

    # -- the signature method ------------------------------------------------------------------

    def _features(self, x: Any) -> Any:
        xp = array_namespace(x)
        for aug in self._augmentations():
            if aug == "basepoint":
                x = xp.concat([x[:, :1, :] * 0, x], axis=1)
            elif aug == "addtime":
                x = keras_sig.add_time(x)
            elif aug == "leadlag":
                x = keras_sig.lead_lag(x)
            elif aug == "ir":
                x = keras_sig.invisibility_reset(x)
            else:
                x = xp.cumulative_sum(x, axis=1)
        depth = int(self.depth)
        if self.rescaling == "pre":
            x = x * math.factorial(depth) ** (1 / depth)
        n, length, channels = (int(s) for s in x.shape)
        windows = _windows(self.window_name, length, self.window_depth, self.window_length, self.window_step)
        log = self.sig_tfm == "logsignature"

        def sig(p: Any, **kw: Any) -> Any:
            if log:
                return keras_sig.logsignature(p, depth, mode="words", **kw)
            return keras_sig.signature(p, depth, **kw)

        if self.window_name == "global":
            per_window = sig(x)[:, None, :]
        elif self.window_name == "sliding" and not log:
            per_window = keras_sig.windowed_signature(
                x, depth, window=int(self.window_length or 0), step=int(self.window_step or 0)
            )
        else:
            found: dict[int, Any] = {}
            by_len: dict[int, list[int]] = {}
            for k, (s, e) in enumerate(windows):
                by_len.setdefault(e - s, []).append(k)
            for ks in by_len.values():
                pieces = xp.stack([x[:, windows[k][0] : windows[k][1], :] for k in ks], axis=1)
                sigs = sig(pieces)
                for j, k in enumerate(ks):
                    found[k] = sigs[:, j, :]
            per_window = xp.stack([found[k] for k in range(len(windows))], axis=1)
        if log and channels > 1 and depth > 1:
            change = xp.asarray(
                _hall_change(channels, depth), dtype=per_window.dtype, device=device_of(x, xp)
            )
            per_window = xp.matmul(per_window, change)
        if self.rescaling == "post":
            blocks, start = [], 0
            for k in range(1, depth + 1):
                blocks.append(per_window[..., start : start + channels**k] * float(math.factorial(k)))
                start += channels**k
            per_window = xp.concat(blocks, axis=-1)
        return xp.reshape(per_window, (n, -1))


def _positive_int(name: str, value: Any, *, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if zero else 1):
        msg = f"{name} must be an integer >= {0 if zero else 1}; got {value!r}"
        raise ValueError(msg)


def _rank(x: Any) -> int:
    shape = getattr(x, "shape", None)
    return len(shape) if shape is not None else int(np.ndim(x))


def _prepare(x: Any, channels_first: bool) -> Any:
    if not is_array(x):
        x = check_array(x, dtype=[np.float64, np.float32])
    if channels_first:
        x = array_namespace(x).permute_dims(x, (1, 0))
    return x
