"""Preprocessing: bit-exact against the reference, plus properties that hold for any image."""

from __future__ import annotations

import numpy as np
import pytest

from robo_l2l.fewshot.preprocess import (
    BACKGROUND,
    GRAYSCALE_WEIGHTS,
    bilinear_taps,
    grayscale_table,
    preprocess,
)


def test_bit_exact_against_reference(golden_fewshot):
    """Every network input of the fixture (200 images) from its raw decoded PNG."""
    for kind in ("support", "query"):
        raw, expected = golden_fewshot[f"{kind}_raw"], golden_fewshot[f"{kind}_images"]
        out = preprocess(raw)
        assert out.dtype == np.float32 and out.shape == expected.shape[:-1]
        assert np.array_equal(out, expected[..., 0])


def test_value_set_on_the_data(merged_images):
    images = merged_images
    assert images.shape == (242, 20, 28, 28) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == BACKGROUND
    assert BACKGROUND == np.float32(0.99990004)
    # background dominates: the median pixel is pure background in every image
    assert (np.median(images.reshape(-1, 784), axis=1) == BACKGROUND).all()


def test_constants():
    table = grayscale_table()
    assert table[0] == 0.0 and table[255] == BACKGROUND
    assert np.all(np.diff(table) > 0)
    assert abs(float(GRAYSCALE_WEIGHTS.astype(np.float64).sum()) - 0.9999) < 1e-7
    lo, hi, t = bilinear_taps(105, 28)
    assert t[:4].tolist() == [0.375, 0.125, 0.875, 0.625] and np.array_equal(
        t[4:], np.tile(t[:4], 6)
    )
    assert lo[0] == 1 and hi[-1] == 103 and np.array_equal(hi - lo, np.ones(28, int))


def _reference_float64(raw: np.ndarray) -> np.ndarray:
    """An independent float64 bilinear with the same taps (half-pixel centres)."""
    gray = raw.astype(np.float64) / 255.0 * GRAYSCALE_WEIGHTS.astype(np.float64).sum()
    p = (np.arange(28) + 0.5) * 105 / 28 - 0.5
    lo, hi, t = np.floor(p).astype(int), np.ceil(p).astype(int), p - np.floor(p)
    top = gray[lo][:, lo] * (1 - t) + gray[lo][:, hi] * t
    bottom = gray[hi][:, lo] * (1 - t) + gray[hi][:, hi] * t
    return top * (1 - t[:, None]) + bottom * t[:, None]


def test_interpolation_identities():
    """Each output reads only its 2x2 source pixels; affine images map to affine images."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (105, 105), dtype=np.uint8)
    out = preprocess(raw)
    assert np.allclose(out, _reference_float64(raw), rtol=0, atol=2e-6)
    # changing the pixels no output reads changes nothing
    lo, hi, _ = bilinear_taps(105, 28)
    read = np.zeros(105, bool)
    read[lo] = read[hi] = True
    other = raw.copy()
    other[~read[:, None] | ~read[None, :]] = rng.integers(
        0, 256, (~read[:, None] | ~read[None, :]).sum()
    )
    assert np.array_equal(preprocess(other), out)
    # an affine image v = row + col stays affine at the source coordinates p_i + p_j
    ramp = np.add.outer(np.arange(105), np.arange(105)).astype(np.uint8)
    p = (np.arange(28) + 0.5) * 105 / 28 - 0.5
    expected = np.add.outer(p, p) / 255.0 * 0.9999
    assert np.allclose(preprocess(ramp), expected, rtol=0, atol=2e-6)
    # constants stay constant (exactly, for binary levels)
    for level, value in ((0, 0.0), (255, BACKGROUND)):
        assert np.all(preprocess(np.full((3, 105, 105), level, np.uint8)) == value)


def test_binary_images_stay_in_range():
    raw = (np.random.default_rng(1).random((50, 105, 105)) > 0.1).astype(np.uint8) * 255
    out = preprocess(raw)
    assert out.min() >= 0.0 and out.max() <= BACKGROUND


def test_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((105, 105), np.float32))
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros(105, np.uint8))
