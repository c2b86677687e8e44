"""The translation augmentation (robo_l2l.fewshot.augment) and its use in meta-training: each
image moves by its own offset with background filling in, the episodes' classes and drawings
are those of the run without it, and bad arguments are refused."""

import numpy as np
import pytest

from robo_l2l.fewshot import training
from robo_l2l.fewshot.augment import translate
from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.preprocess import BACKGROUND
from robo_l2l.fewshot.splits import CharacterSet


def _shift_by_loops(image, dy, dx):
    out = np.full_like(image, BACKGROUND)
    h, w = image.shape
    for r in range(h):
        for c in range(w):
            if 0 <= r - dy < h and 0 <= c - dx < w:
                out[r, c] = image[r - dy, c - dx]
    return out


@pytest.mark.parametrize("max_shift", [1, 3])
def test_each_image_moves_by_its_own_offset(max_shift):
    images = np.random.default_rng(0).random((2, 6, 28, 28)).astype(np.float32)
    out = translate(images, max_shift, np.random.default_rng(5))
    assert out.shape == images.shape and out.dtype == np.float32
    offsets = np.random.default_rng(5).integers(-max_shift, max_shift + 1, size=(12, 2))
    assert np.abs(offsets).max() == max_shift  # the draw reaches the bound
    flat_in, flat_out = images.reshape(12, 28, 28), out.reshape(12, 28, 28)
    for i, (dy, dx) in enumerate(offsets):
        np.testing.assert_array_equal(flat_out[i], _shift_by_loops(flat_in[i], dy, dx))
    assert not np.shares_memory(out, images)


def test_zero_shift_is_a_copy_and_bad_arguments_are_refused():
    images = np.random.default_rng(1).random((3, 28, 28)).astype(np.float32)
    same = translate(images, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(same, images)
    assert not np.shares_memory(same, images)
    for bad in (-1, 28, 1.5):
        with pytest.raises(ValueError, match="max_shift"):
            translate(images, bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="images must be"):
        translate(np.zeros(5, np.float32), 1, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        translate(images, 1, 0)
    with pytest.raises(ValueError, match="shift_px"):
        FewShotConfig(shift_px=28)


def test_training_episodes_keep_their_draw_and_only_move():
    rng = np.random.default_rng(2)
    images = (rng.random((8, 4, 28, 28)) > 0.1).astype(np.float32) * BACKGROUND
    train = CharacterSet(images, tuple(f"A/character{k:02d}" for k in range(8)))
    base = dict(seed=3, batch_size=2, way=3, shot=2, query=1, channels=6)
    plain = training.training_episodes(train, FewShotConfig(**base), 4)
    moved = training.training_episodes(train, FewShotConfig(**base, shift_px=2), 4)
    again = training.training_episodes(train, FewShotConfig(**base, shift_px=2), 4)
    np.testing.assert_array_equal(moved.support_labels, plain.support_labels)
    np.testing.assert_array_equal(moved.query_labels, plain.query_labels)
    np.testing.assert_array_equal(moved.support_images, again.support_images)
    assert not np.array_equal(moved.support_images, plain.support_images)
    # every moved image is its plain image under some offset within the bound
    pairs = zip(
        moved.support_images.reshape(-1, 28, 28),
        plain.support_images.reshape(-1, 28, 28),
        strict=True,
    )
    for a, b in pairs:
        assert any(
            np.array_equal(a, _shift_by_loops(b, dy, dx))
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )
