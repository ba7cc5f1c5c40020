"""Cross-checks against signatory (PyTorch) where it is installed.

signatory builds from source against the installed torch; the nox torch session does
not build it (it takes minutes), so there this module is reported as skipped and the
same conventions are checked against iisignature and the exact reference instead.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from tests._backends import BACKENDS_BY_NAME, peer

pytestmark = pytest.mark.skipif("torch" not in BACKENDS_BY_NAME, reason="signatory works on torch tensors")


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_every_option_matches_signatory(method, rng):
    signatory = peer("signatory")
    import torch

    x = torch.tensor(rng.normal(size=(3, 12, 3)))
    init = signatory.signature(torch.tensor(rng.normal(size=(3, 5, 3))), 4)
    for stream, basepoint, inverse, initial in itertools.product([False, True], repeat=4):
        kwargs = {"stream": stream, "basepoint": basepoint, "inverse": inverse}
        if initial:
            kwargs["initial"] = init
            if not basepoint:  # signatory warns that initial without basepoint is unusual
                kwargs["basepoint"] = torch.tensor(rng.normal(size=(3, 3)))
        expected = signatory.signature(x, 4, **kwargs)
        got = keras_sig.signature(x, 4, method=method, **kwargs)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
