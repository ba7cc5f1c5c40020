"""Keras losses built on the signature kernel (this module imports Keras).

``import keras_sig`` does not import it: ``keras_sig.losses`` is imported on
first access, and when Keras is imported (so ``keras.saving.load_model`` finds
:class:`SigMMD` in a ``.keras`` file after a plain ``import keras_sig``).
"""

from __future__ import annotations

from typing import Any

import keras

from keras_sig._kernels_api import sig_mmd
from keras_sig._static_kernels import (
    PolynomialKernel,
    RBFKernel,
    ScaledLinearKernel,
    StaticKernel,
    as_static_kernel,
    dyadic_orders,
)

__all__ = ["SigMMD"]

_KERNEL_CLASSES: dict[str, type[StaticKernel]] = {
    cls.__name__: cls for cls in (RBFKernel, PolynomialKernel, ScaledLinearKernel)
}


def _kernel_config(kernel: Any) -> Any:
    """A JSON-friendly form of ``static_kernel`` (a name, ``None`` or a built-in kernel)."""
    if kernel is None or isinstance(kernel, str):
        return kernel
    name = type(kernel).__name__
    if _KERNEL_CLASSES.get(name) is type(kernel):
        return {"class_name": name, "config": dict(vars(kernel))}
    if name == "LinearKernel":
        return None
    msg = f"SigMMD can serialise only the built-in static kernels; got {kernel!r}"
    raise TypeError(msg)


def _kernel_from_config(config: Any) -> Any:
    if isinstance(config, dict):
        return _KERNEL_CLASSES[config["class_name"]](**config["config"])
    return config


@keras.saving.register_keras_serializable(package="keras_sig")
class SigMMD(keras.losses.Loss):
    """The squared signature-kernel MMD between a batch of generated paths and a batch of real ones.

    ``loss(y_true, y_pred)`` is :func:`keras_sig.sig_mmd` ``(y_pred, y_true)``
    (the unbiased estimator): both are batches of paths ``(batch, length,
    channels)``; the value is one number for the whole batch (``sample_weight``
    scales it). Works under every Keras backend, in ``model.compile(loss=...)``
    with ``jit_compile`` True or False, and round-trips through ``.keras`` files.

    Parameters
    ----------
    dyadic_order : int or (int, int), default 0
        As in :func:`keras_sig.sig_kernel`.
    static_kernel : None, str or StaticKernel, default None
        As in :func:`keras_sig.sig_kernel` (a built-in kernel, to be serialisable).
    unbiased : bool, default True
        The U-statistic (batches of at least 2 paths) or the biased V-statistic.
    name, reduction, dtype
        As in :class:`keras.losses.Loss`.

    Examples
    --------
    >>> import numpy as np
    >>> from keras_sig.losses import SigMMD
    >>> rng = np.random.default_rng(0)
    >>> real = np.cumsum(rng.normal(size=(8, 10, 2)) * 0.1, axis=1).astype("float32")
    >>> loss = SigMMD(dyadic_order=1)
    >>> bool(np.isfinite(float(loss(real, real[::-1] * 1.5))))
    True
    """

    def __init__(  # noqa: PLR0917 - Keras passes a loss's config as keywords, and users as positionals
        self,
        dyadic_order: int | tuple[int, int] = 0,
        static_kernel: Any = None,
        unbiased: bool = True,
        name: str = "sig_mmd",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.dyadic_order = dyadic_orders(dyadic_order)
        as_static_kernel(static_kernel)  # validated now, not at the first batch
        self.static_kernel = static_kernel
        self.unbiased = bool(unbiased)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The MMD of ``y_pred`` against ``y_true`` (backend tensors, passed straight through)."""
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        return sig_mmd(
            y_pred,
            y_true,
            unbiased=self.unbiased,
            dyadic_order=self.dyadic_order,
            static_kernel=self.static_kernel,
        )

    def get_config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs to rebuild the loss."""
        config: dict[str, Any] = super().get_config()
        config.update(
            dyadic_order=list(self.dyadic_order),
            static_kernel=_kernel_config(self.static_kernel),
            unbiased=self.unbiased,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SigMMD:
        """The loss :meth:`get_config` describes."""
        config = dict(config)
        config["dyadic_order"] = tuple(config.get("dyadic_order", (0, 0)))
        config["static_kernel"] = _kernel_from_config(config.get("static_kernel"))
        return cls(**config)
