"""The split by alphabet of the merged small archives (the figures of splits.py's docstring)."""

from __future__ import annotations

import numpy as np
import pytest

from robo_l2l.fewshot.omniglot import merge_omniglot
from robo_l2l.fewshot.preprocess import preprocess
from robo_l2l.fewshot.splits import (
    CharacterSet,
    load_splits,
    omniglot_splits,
    save_splits,
    split_by_alphabet,
    with_rotations,
)
from tests.fewshot.synthetic import layout, write_zip

TRAIN = {
    "Balinese": 20,
    "Early_Aramaic": 18,
    "Japanese_(katakana)": 38,
    "Korean": 32,
    "Sanskrit": 34,
    "Tagalog": 14,
}
VALIDATION = {
    "Balinese": 4,
    "Early_Aramaic": 4,
    "Japanese_(katakana)": 9,
    "Korean": 8,
    "Sanskrit": 8,
    "Tagalog": 3,
}
TEST = {"Greek": 24, "Latin": 26}


@pytest.fixture(scope="module")
def splits(merged, merged_images):
    return split_by_alphabet(merged_images, merged.names)


def test_documented_split(splits):
    summary = splits.summary()
    assert summary["train"] == {a: 4 * n for a, n in TRAIN.items()}
    assert summary["validation"] == VALIDATION and summary["test"] == TEST
    assert splits.train.images.shape == (624, 20, 28, 28)
    assert splits.validation.images.shape == (36, 20, 28, 28)
    assert splits.test.images.shape == (50, 20, 28, 28)
    for part in splits:
        assert part.images.dtype == np.float32 and part.images.flags.c_contiguous
        assert len(set(part.names)) == len(part.names)


def test_splits_are_disjoint(splits):
    base = {n.split("/rot")[0] for n in splits.train.names}
    assert len(base) == 156
    assert not base & set(splits.validation.names)
    assert not set(splits.train.alphabets) & set(splits.test.alphabets)
    assert set(splits.validation.alphabets) == set(splits.train.alphabets)
    # no image of the validation or test split appears in meta-training, in any rotation
    seen = {img.tobytes() for img in splits.train.images.reshape(-1, 28, 28)}
    for part in (splits.validation, splits.test):
        assert not any(img.tobytes() in seen for img in part.images.reshape(-1, 28, 28))


def test_rotated_classes(splits, merged, merged_images):
    train = splits.train
    first = merged.names.index(train.names[0])
    assert np.array_equal(train.images[0], merged_images[first])
    for k, deg in enumerate((0, 90, 180, 270)):
        assert train.names[k] == train.names[0] + (f"/rot{deg}" if deg else "")
        assert np.array_equal(train.images[k], np.rot90(merged_images[first], k, axes=(1, 2)))
    # np.rot90 turns counter-clockwise: the top row becomes the left column, reversed
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    turned = with_rotations(CharacterSet(x, ("A/character01",))).images[1, 0]
    assert turned.tolist() == [[1.0, 3.0], [0.0, 2.0]]


def test_split_depends_only_on_the_data(small_raw, splits):
    """Merging in the other order gives the same split, array for array."""
    other = merge_omniglot(*reversed(small_raw))
    again = split_by_alphabet(preprocess(other.raw), other.names)
    for a, b in zip(splits, again, strict=True):
        assert a.names == b.names and np.array_equal(a.images, b.images)


def test_bad_split_arguments(merged, merged_images):
    with pytest.raises(ValueError, match="Cyrillic"):
        split_by_alphabet(merged_images, merged.names, test_alphabets=("Cyrillic",))
    with pytest.raises(ValueError, match="meta-train split is empty"):
        split_by_alphabet(merged_images, merged.names, test_alphabets=sorted(set(merged.alphabets)))
    with pytest.raises(ValueError, match="len\\(names\\)"):
        split_by_alphabet(merged_images[:3], merged.names)


def test_omniglot_splits_and_cache(tmp_path):
    """End to end on two tiny synthetic archives sharing one alphabet; cache round trip."""
    files = layout(("Alpha", "Beta", "Gamma"), characters=5, drawings=4)
    first = {k: v for k, v in files.items() if not k.startswith("Gamma")}
    second = {k: v for k, v in files.items() if not k.startswith("Alpha")}
    splits = omniglot_splits(
        write_zip(tmp_path / "a.zip", first),
        write_zip(tmp_path / "b.zip", second),
        test_alphabets=("Beta",),
        min_drawings=4,
    )
    assert splits.summary() == {
        "train": {"Alpha": 16, "Gamma": 16},
        "validation": {"Alpha": 1, "Gamma": 1},
        "test": {"Beta": 5},
    }
    assert splits.validation.names == ("Alpha/character05", "Gamma/character05")
    save_splits(tmp_path / "splits.npz", splits)
    again = load_splits(tmp_path / "splits.npz")
    for a, b in zip(splits, again, strict=True):
        assert a.names == b.names and np.array_equal(a.images, b.images)
    with pytest.raises(ValueError, match="no train split"):
        np.savez(tmp_path / "other.npz", x=np.zeros(1))
        load_splits(tmp_path / "other.npz")
