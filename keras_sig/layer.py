"""keras_sig 1.0.2's module ``keras_sig.layer``, kept for ``from keras_sig.layer import SigLayer``.

Reading ``SigLayer`` from this module works and emits a
:class:`DeprecationWarning`: import it from the package instead
(``from keras_sig import SigLayer``), which is the same class. Importing this
module imports Keras.
"""

from __future__ import annotations

import sys

from keras_sig._compat import LegacyModule, deprecate_names
from keras_sig.shims.keras import SigLayer

__all__ = ["SigLayer"]

_DEPRECATED = deprecate_names(
    globals(), {"SigLayer": "use keras_sig.SigLayer (from keras_sig import SigLayer), the same class"}
)

sys.modules[__name__].__class__ = LegacyModule
