"""A user's script that mypy checks against the *installed* keras_sig (the ``lint`` nox session).

The session installs the wheel (not editable) and runs ``mypy --strict`` on a copy of this file
outside the checkout, so mypy sees only what the wheel ships: without ``keras_sig/py.typed`` it
reports the import as untyped and every name below as ``Any``, and the checks here fail.
"""

from __future__ import annotations

import numpy as np
from typing_extensions import assert_type

import keras_sig

assert_type(keras_sig.__version__, str)
assert_type(keras_sig.sigdim(3, 4), int)
assert_type(keras_sig.logsigdim(3, 4), int)
assert_type(keras_sig.lyndon_words(2, 3), list[tuple[int, ...]])

path = np.cumsum(np.random.default_rng(0).normal(size=(4, 20, 3)), axis=1)
keras_sig.signature(path, 3, method="auto")
keras_sig.signature(path, 3, method="sequential")
keras_sig.signature(path, 3, method="parallel")
keras_sig.signature(path, 3, method="chunked")


def wrong_calls() -> None:
    """Calls mypy must reject (never run: they raise).

    Each ignore is needed only if mypy sees the annotations; with --warn-unused-ignores (part of
    --strict) an untyped keras_sig leaves them unused, which is an error.
    """
    keras_sig.signature(path, "3")  # type: ignore[arg-type]
    keras_sig.signature(path, 3, method="fastest")  # type: ignore[arg-type]
    keras_sig.sigdim(3, depth=4, stream=True)  # type: ignore[call-arg]
