"""Lyndon words and brackets, and the tensor-algebra utilities, on every backend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import keras_sig
from keras_sig._core import _algebra
from tests import reference
from tests._backends import BACKENDS_BY_NAME, peer
from tests._checks import autodiff_params, check_gradient, check_rejects, rejection_cases

MODES = ["words", "brackets", "expand"]


def _paths(rng, batch, lengths, channels, scale=0.5):
    """One path cut into consecutive pieces: the whole path, and each piece with its basepoint."""
    whole = np.cumsum(rng.normal(size=(*batch, sum(lengths), channels)) * scale, axis=-2)
    pieces, start = [], 0
    for n in lengths:
        piece = whole[..., start : start + n, :]
        bp = whole[..., start - 1, :] if start else None
        pieces.append((piece, bp))
        start += n
    return whole, pieces


def _piece_signature(piece, bp, depth, **kwargs):
    return reference.signature(piece, depth, basepoint=False if bp is None else bp, **kwargs)


# --------------------------------------------------------------------------- combinatorics


@pytest.mark.parametrize(("channels", "depth"), [(1, 4), (2, 6), (3, 5), (4, 4), (5, 3)])
def test_lyndon_words_brackets_and_dimensions(channels, depth):
    words = keras_sig.lyndon_words(channels, depth)
    assert words == reference.lyndon_words(channels, depth)
    assert keras_sig.logsigdim(channels, depth) == len(words)
    assert keras_sig.lyndon_brackets(channels, depth) == [reference.standard_bracket(w) for w in words]
    assert keras_sig.all_words(channels, depth) == [
        w for k in range(1, depth + 1) for w in itertools.product(range(channels), repeat=k)
    ]
    assert len(keras_sig.all_words(channels, depth)) == keras_sig.sigdim(channels, depth)


def test_witt_formula_values():
    # Necklace polynomial values: free Lie algebra dimensions per level, summed.
    assert keras_sig.logsigdim(2, 6) == 2 + 1 + 2 + 3 + 6 + 9
    assert keras_sig.logsigdim(3, 4) == 3 + 3 + 8 + 18
    assert keras_sig.logsigdim(10, 6) == sum(
        sum(mu * 10 ** (k // j) for j, mu in _mobius_divisors(k)) // k for k in range(1, 7)
    )
    assert keras_sig.logsigdim(1, 5) == 1


def _mobius_divisors(k):
    mobius = {1: 1, 2: -1, 3: -1, 4: 0, 5: -1, 6: 1}
    return [(j, mobius[j]) for j in range(1, k + 1) if k % j == 0]


def test_results_are_fresh_lists():
    words = keras_sig.lyndon_words(2, 3)
    words.append("junk")
    assert keras_sig.lyndon_words(2, 3) == [(0,), (1,), (0, 1), (0, 0, 1), (0, 1, 1)]


def test_brackets_match_iisignature_basis():
    iisignature = peer("iisignature")

    def text(bracket):
        if isinstance(bracket, int):
            return str(bracket + 1)
        return f"[{text(bracket[0])},{text(bracket[1])}]"

    for channels, depth in [(2, 5), (3, 4)]:
        expected = list(iisignature.basis(iisignature.prepare(channels, depth)))
        assert [text(b) for b in keras_sig.lyndon_brackets(channels, depth)] == expected


def test_words_and_brackets_match_signatory():
    signatory = peer("signatory")
    for channels, depth in [(2, 5), (3, 4)]:
        assert keras_sig.lyndon_words(channels, depth) == [
            tuple(w) for w in signatory.lyndon_words(channels, depth)
        ]
        assert keras_sig.all_words(channels, depth) == [
            tuple(w) for w in signatory.all_words(channels, depth)
        ]

        def nested(b):
            return b if isinstance(b, int) else tuple(nested(part) for part in b)

        assert keras_sig.lyndon_brackets(channels, depth) == [
            nested(b) for b in signatory.lyndon_brackets(channels, depth)
        ]


@pytest.mark.parametrize(
    "call",
    [
        lambda: keras_sig.lyndon_words(0, 2),
        lambda: keras_sig.lyndon_brackets(2, 0),
        lambda: keras_sig.all_words(-1, 2),
        lambda: keras_sig.logsigdim(2, 0),
    ],
)
def test_combinatorics_validate(call):
    with pytest.raises(ValueError, match=r"(channels|depth) must be an integer >= 1"):
        call()
    with pytest.raises(TypeError, match="depth must be an integer"):
        keras_sig.logsigdim(2, 2.0)


# --------------------------------------------------------------------------- combine, inverse


@pytest.mark.parametrize("scalar_term", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
def test_signature_combine_is_the_signature_of_the_joined_path(
    backend, dtype, tol, rng, scalar_term, inverse
):
    whole, [(a, _), (b, bp)] = _paths(rng, (2,), [4, 3], 3)
    kw = {"scalar_term": scalar_term, "inverse": inverse}
    sig1 = backend.asarray(_piece_signature(a, None, 4, **kw), dtype)
    sig2 = backend.asarray(_piece_signature(b, bp, 4, **kw), dtype)
    got = keras_sig.signature_combine(sig1, sig2, 3, 4, **kw)
    assert isinstance(got, backend.array_type())
    assert got.dtype == backend.dtype(dtype)
    np.testing.assert_allclose(backend.to_numpy(got), reference.signature(whole, 4, **kw), **tol)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("inverse", [False, True])
def test_multi_signature_combine(backend, dtype, tol, rng, count, inverse):
    whole, pieces = _paths(rng, (2,), [3] * count, 2)
    sigs = [backend.asarray(_piece_signature(p, bp, 4, inverse=inverse), dtype) for p, bp in pieces]
    got = keras_sig.multi_signature_combine(sigs, 2, 4, inverse=inverse)
    np.testing.assert_allclose(backend.to_numpy(got), reference.signature(whole, 4, inverse=inverse), **tol)
    as_tuple = keras_sig.multi_signature_combine(tuple(sigs), 2, 4, inverse=inverse)
    np.testing.assert_allclose(backend.to_numpy(as_tuple), backend.to_numpy(got), rtol=1e-12, atol=1e-12)


def test_multi_combine_is_a_tree_not_a_left_fold(monkeypatch):
    """All signatures go to one log-depth tree product (chen_tree), stacked, in order."""
    calls = []
    tree = _algebra.chen_tree

    def spy(levels, *, xp):
        calls.append(tuple(levels[0].shape))
        return tree(levels, xp=xp)

    monkeypatch.setattr(_algebra, "chen_tree", spy)
    rng = np.random.default_rng(0)
    whole, pieces = _paths(rng, (2,), [3] * 6, 2)
    sigs = [_piece_signature(p, bp, 3) for p, bp in pieces]
    got = keras_sig.multi_signature_combine(sigs, 2, 3)
    assert calls == [(2, 6, 2)]
    np.testing.assert_allclose(got, reference.signature(whole, 3), rtol=1e-12, atol=1e-12)


def test_combine_broadcasts_batch_dimensions(backend, rng):
    a = reference.signature(rng.normal(size=(3, 1, 4, 2)), 3)  # (3, 1, 14)
    b = reference.signature(rng.normal(size=(5, 4, 2)), 3)  # (5, 14)
    got = keras_sig.signature_combine(backend.asarray(a, "float64"), backend.asarray(b, "float64"), 2, 3)
    assert tuple(got.shape) == (3, 5, 14)
    expected = [
        [
            reference.flatten(
                reference.tensor_mul(reference.dense(a[i, 0], 2, 3), reference.dense(b[j], 2, 3), 3)
            )
        ]
        for i in range(3)
        for j in range(5)
    ]
    np.testing.assert_allclose(
        backend.to_numpy(got), np.reshape(expected, (3, 5, 14)), rtol=1e-12, atol=1e-12
    )
    multi = keras_sig.multi_signature_combine(
        [backend.asarray(a, "float64"), backend.asarray(b, "float64"), backend.asarray(b[0], "float64")], 2, 3
    )
    assert tuple(multi.shape) == (3, 5, 14)


def test_inverse_combined_with_the_signature_is_the_identity(backend, dtype, tol, rng):
    path = rng.normal(size=(2, 3, 6, 3)) * 0.5
    sig = backend.asarray(reference.signature(path, 4), dtype)
    inv = keras_sig.signature_inverse(sig, 3, 4)
    np.testing.assert_allclose(
        backend.to_numpy(inv), reference.signature(path[..., ::-1, :].copy(), 4), **tol
    )
    for product in (keras_sig.signature_combine(sig, inv, 3, 4), keras_sig.signature_combine(inv, sig, 3, 4)):
        np.testing.assert_allclose(backend.to_numpy(product), 0.0, atol=tol["atol"] * 10)
    with_scalar = keras_sig.signature_inverse(
        backend.asarray(reference.signature(path, 4, scalar_term=True), dtype), 3, 4, scalar_term=True
    )
    np.testing.assert_allclose(
        backend.to_numpy(with_scalar), reference.signature(path, 4, inverse=True, scalar_term=True), **tol
    )


def test_combine_matches_signatory(rng):
    if "torch" not in BACKENDS_BY_NAME:
        pytest.skip("signatory works on torch tensors")
    signatory = peer("signatory")
    import torch

    sigs = [signatory.signature(torch.tensor(rng.normal(size=(3, 5, 3))), 4) for _ in range(4)]
    for inverse in (False, True):
        expected = signatory.multi_signature_combine(sigs, 3, 4, inverse=inverse)
        got = keras_sig.multi_signature_combine(sigs, 3, 4, inverse=inverse)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-13)
        expected = signatory.signature_combine(sigs[0], sigs[1], 3, 4, inverse=inverse)
        got = keras_sig.signature_combine(sigs[0], sigs[1], 3, 4, inverse=inverse)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-13)
    for mode in MODES:
        expected = signatory.signature_to_logsignature(sigs[0], 3, 4, mode=mode)
        got = keras_sig.signature_to_logsignature(sigs[0], 3, 4, mode=mode)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- log and exp


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scalar_term", [False, True])
def test_signature_to_logsignature(backend, dtype, tol, rng, mode, scalar_term):
    path = rng.normal(size=(2, 5, 6, 2)) * 0.5
    sig = reference.signature(path, 4, stream=True, scalar_term=scalar_term)  # (2, 5, 5, sigdim)
    got = keras_sig.signature_to_logsignature(
        backend.asarray(sig, dtype), 2, 4, mode=mode, stream=True, scalar_term=scalar_term
    )
    expected = reference.logsignature(path, 4, mode=mode, stream=True)
    assert tuple(got.shape) == expected.shape
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


@pytest.mark.parametrize("mode", MODES)
def test_exponential_of_arbitrary_lie_elements(backend, dtype, tol, rng, mode):
    """exp of random coordinates against the dense series, and log(exp(x)) = x."""
    size = keras_sig.sigdim(3, 4) if mode == "expand" else keras_sig.logsigdim(3, 4)
    coords = rng.normal(size=(2, 2, size)) * 0.5
    if mode == "expand":  # a Lie element, so that log(exp(x)) = x holds
        coords = reference.signature_to_logsignature(
            reference.signature(rng.normal(size=(2, 2, 4, 3)), 4), 3, 4, mode
        )
    coords = coords.astype(dtype).astype(np.float64)
    got = keras_sig.logsignature_to_signature(backend.asarray(coords, dtype), 3, 4, mode=mode)
    expected = reference.logsignature_to_signature(coords, 3, 4, mode)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)
    back = keras_sig.signature_to_logsignature(got, 3, 4, mode=mode)
    np.testing.assert_allclose(backend.to_numpy(back), coords, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


def test_extract_signature_term(backend, rng):
    path = rng.normal(size=(2, 5, 3))
    sig = reference.signature(path, 4)
    levels = reference.signature_levels(path[0], 4)[-1]
    for level in range(1, 5):
        got = keras_sig.extract_signature_term(backend.asarray(sig, "float64"), 3, 4, level)
        assert tuple(got.shape) == (2, 3**level)
        np.testing.assert_allclose(backend.to_numpy(got)[0], levels[level].ravel(), rtol=1e-12)
    with_scalar = backend.asarray(reference.signature(path, 4, scalar_term=True), "float64")
    got = keras_sig.extract_signature_term(with_scalar, 3, 4, 2, scalar_term=True)
    np.testing.assert_allclose(backend.to_numpy(got)[0], levels[2].ravel(), rtol=1e-12)


# --------------------------------------------------------------------------- gradients


def _functions():
    """(name, function of the backend array x, NumPy reference of the same, input shape).

    Both take the constants ``other`` and ``third`` (signatures) as keywords; see ``_constants``.
    """

    def mul(a, b):
        return reference.flatten(reference.tensor_mul(reference.dense(a, 2, 3), reference.dense(b, 2, 3), 3))

    def rowwise(fn, x):
        return np.stack([fn(row) for row in x])

    return [
        (
            "combine",
            lambda x, other, third: keras_sig.signature_combine(x, other, 2, 3),
            lambda x, other, third: np.stack([mul(x[i], other[i]) for i in range(2)]),
            (2, 14),
        ),
        (
            "multi_combine",
            lambda x, other, third: keras_sig.multi_signature_combine([other, x, third], 2, 3),
            lambda x, other, third: np.stack([mul(mul(other[i], x[i]), third[i]) for i in range(2)]),
            (2, 14),
        ),
        (
            "inverse",
            lambda x, other, third: keras_sig.signature_inverse(x, 2, 3),
            lambda x, other, third: rowwise(
                lambda r: reference.flatten(
                    [lvl.transpose() * (-1) ** k for k, lvl in enumerate(reference.dense(r, 2, 3))]
                ),
                x,
            ),
            (2, 14),
        ),
        (
            "to_logsignature",
            lambda x, other, third: keras_sig.signature_to_logsignature(x, 2, 3, mode="brackets"),
            lambda x, other, third: reference.signature_to_logsignature(x, 2, 3, "brackets"),
            (2, 14),
        ),
        (
            "to_signature",
            lambda x, other, third: keras_sig.logsignature_to_signature(x, 2, 3, mode="words"),
            lambda x, other, third: reference.logsignature_to_signature(x, 2, 3, "words"),
            (2, 5),
        ),
        (
            "extract",
            lambda x, other, third: keras_sig.extract_signature_term(x, 2, 3, 2),
            lambda x, other, third: x[:, 2:6],
            (2, 14),
        ),
    ]


FUNCTION_NAMES = ["combine", "multi_combine", "inverse", "to_logsignature", "to_signature", "extract"]


@pytest.mark.parametrize(("framework", "jit"), autodiff_params())
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_gradients(rng, name, framework, jit):
    constants = {
        "other": reference.signature(rng.normal(size=(2, 3, 2)), 3),
        "third": reference.signature(rng.normal(size=(2, 3, 2)), 3),
    }
    (found,) = [f for f in _functions() if f[0] == name]
    _, fn, ref, shape = found
    x = rng.normal(size=shape) * 0.5
    check_gradient(fn, x, ref, backend=framework, jit=jit, rng=rng, constants=constants)


# --------------------------------------------------------------------------- bad input


def _bad_calls():
    sig = np.zeros((2, 14))
    return [
        (
            lambda b: keras_sig.signature_combine(b(sig), b(np.zeros((2, 13))), 2, 3),
            ValueError,
            r"sig2 must have shape \(\.\.\., 14\) for a signature with channels=2, depth=3; got \(2, 13\)",
        ),
        (
            lambda b: keras_sig.signature_combine(b(sig), b(sig), 2, 3, scalar_term=True),
            ValueError,
            r"sig1 must have shape \(\.\.\., 15\) for a signature with channels=2, depth=3 "
            r"and its scalar term",
        ),
        (
            lambda b: keras_sig.signature_combine(b(sig), b(np.zeros((3, 14))), 2, 3),
            ValueError,
            r"sig2 has batch shape \(3,\), which does not broadcast with sig1's \(2,\)",
        ),
        (
            lambda b: keras_sig.multi_signature_combine([b(sig), b(sig), b(np.zeros((4, 14)))], 2, 3),
            ValueError,
            r"sigs\[2\] has batch shape \(4,\), which does not broadcast with "
            r"sigs\[0\] to sigs\[1\]'s \(2,\)",
        ),
        (
            lambda b: keras_sig.multi_signature_combine([b(sig), b(np.zeros((2, 30)))], 2, 3),
            ValueError,
            r"sigs\[1\] must have shape \(\.\.\., 14\)",
        ),
        (lambda b: keras_sig.multi_signature_combine([], 2, 3), ValueError, r"at least one signature"),
        (
            lambda b: keras_sig.multi_signature_combine(b(sig), 2, 3),
            TypeError,
            r"sigs must be a list or tuple",
        ),
        (
            lambda b: keras_sig.signature_inverse(b(sig), 3, 3),
            ValueError,
            r"sig must have shape \(\.\.\., 39\) for a signature with channels=3, depth=3; got \(2, 14\)",
        ),
        (
            lambda b: keras_sig.signature_to_logsignature(b(sig), 2, 3, mode="lie"),
            ValueError,
            r"mode must be one of 'words', 'brackets', 'expand'; got 'lie'",
        ),
        (
            lambda b: keras_sig.signature_to_logsignature(b(sig[0]), 2, 3, stream=True),
            ValueError,
            r"sig must have shape \(\.\.\., length, 14\)",
        ),
        (
            lambda b: keras_sig.logsignature_to_signature(b(sig), 2, 3),
            ValueError,
            r'logsig must have shape \(\.\.\., 5\) for a "words" log-signature with channels=2, '
            r"depth=3; got \(2, 14\)",
        ),
        (
            lambda b: keras_sig.logsignature_to_signature(b(np.zeros((2, 5))), 2, 3, mode="expand"),
            ValueError,
            r"logsig must have shape \(\.\.\., 14\) for a \"expand\" log-signature",
        ),
        (
            lambda b: keras_sig.extract_signature_term(b(sig), 2, 3, 4),
            ValueError,
            r"level must be between 1 and depth=3; got 4",
        ),
        (
            lambda b: keras_sig.extract_signature_term(b(sig), 2, 3, 0),
            ValueError,
            r"level must be an integer >= 1",
        ),
        (
            lambda b: keras_sig.signature_inverse(b(sig), 0, 3),
            ValueError,
            r"channels must be an integer >= 1; got 0",
        ),
        (lambda b: keras_sig.signature_combine(b(sig), "x", 2, 3), TypeError, r"sig2 must"),
    ]


BAD = _bad_calls()


@rejection_cases(BAD)
def test_bad_input_raises_a_clear_error(backend, call, error, match):
    check_rejects(call, error, match, lambda a: backend.asarray(a, "float64"))


def test_mixing_libraries_is_refused():
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    sig = torch.zeros(2, 14, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"sig2 must come from the same array library as sig1 \(Tensor\)"):
        keras_sig.signature_combine(sig, strict.zeros((2, 14), dtype=strict.float64), 2, 3)


def test_a_numpy_argument_is_converted_to_the_other_library():
    torch = pytest.importorskip("torch")
    sig = keras_sig.signature(np.cumsum(np.ones((2, 4, 2)), axis=1), 3)
    combined = keras_sig.signature_combine(sig, torch.as_tensor(sig), 2, 3)
    assert isinstance(combined, torch.Tensor)
    np.testing.assert_allclose(combined.numpy(), keras_sig.signature_combine(sig, sig, 2, 3))


# --------------------------------------------------------------------------- docs


# (Docstring examples and numpydoc sections: tests/test_docs.py, for every public module.)
