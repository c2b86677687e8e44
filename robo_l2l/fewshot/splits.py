"""Meta-train / validation / test split of Omniglot by alphabet, ready for episode sampling.

The split of the shipped data (``images_background_small1.zip`` + ``small2.zip``, merged and
deduplicated: 8 alphabets, 242 characters, 20 drawings each), made by :func:`split_by_alphabet`
with its defaults:

============  ===========================================================  ==========  =======
split         alphabets                                                    characters  classes
============  ===========================================================  ==========  =======
meta-train    Balinese 20, Early_Aramaic 18, Japanese_(katakana) 38,          156        624
              Korean 32, Sanskrit 34, Tagalog 14; each also rotated by
              90/180/270 degrees as 3 more classes
validation    the held-out characters of those 6 alphabets: Balinese 4,       36          36
              Early_Aramaic 4, Japanese_(katakana) 9, Korean 8, Sanskrit 8,
              Tagalog 3 (every 5th character of an alphabet: positions
              5, 10, 15, ... in the sorted order), no rotation
test          Greek 24, Latin 26: alphabets never seen in meta-training,      50          50
              no rotation
============  ===========================================================  ==========  =======

Why Greek and Latin for the test: they are the two alphabets both archives contain, and they
are related scripts with many near-identical glyphs (A/Alpha, B/Beta, E, H, K, M, N, O, P, T, X,
Y, Z); keeping both on the test side means no near-duplicate of a test character is seen in
meta-training. The split is a deterministic function of the character names (no random draw),
so the same data always gives the same split. Other data (e.g. the full background and
evaluation sets merged) takes its test alphabets as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from robo_l2l.atomic import atomic_write
from robo_l2l.fewshot.omniglot import merge_omniglot, read_omniglot
from robo_l2l.fewshot.preprocess import preprocess

DEFAULT_TEST_ALPHABETS = ("Greek", "Latin")
"""Test alphabets of the shipped small archives (see the module docstring for why)."""

VALIDATION_EVERY = 5
"""Every ``VALIDATION_EVERY``-th character of a meta-training alphabet is held out."""

ROTATIONS_DEG = (0, 90, 180, 270)
"""Rotations (counter-clockwise, ``np.rot90``) that make new meta-training classes."""


class CharacterSet(NamedTuple):
    """Classes ready for sampling.

    Attributes:
        images: float32 (C, D, 28, 28), preprocessed (strokes 0, background 0.9999), D drawings.
        names: ``alphabet/characterNN`` of each class, ``.../rot90`` etc. for rotated classes.
    """

    images: np.ndarray
    names: tuple[str, ...]

    @property
    def alphabets(self) -> tuple[str, ...]:
        return tuple(n.split("/")[0] for n in self.names)

    @property
    def num_classes(self) -> int:
        return self.images.shape[0]


class OmniglotSplits(NamedTuple):
    """The three splits; see the module docstring."""

    train: CharacterSet
    validation: CharacterSet
    test: CharacterSet

    def summary(self) -> dict[str, dict[str, int]]:
        """Per split: number of classes per alphabet (rotated classes counted)."""
        out = {}
        for split, cs in self._asdict().items():
            alphabets, counts = np.unique(np.array(cs.alphabets, dtype=str), return_counts=True)
            out[split] = {str(a): int(n) for a, n in zip(alphabets, counts, strict=True)}
        return out


def with_rotations(characters: CharacterSet) -> CharacterSet:
    """Each class plus its rotations by 90, 180, 270 degrees as new classes (4C classes).

    Order: character-major, ``[c0 rot0, c0 rot90, c0 rot180, c0 rot270, c1 rot0, ...]``;
    rotation by ``np.rot90`` over the image axes (counter-clockwise, as the reference), applied
    to the preprocessed 28x28 images as the reference does.
    """
    rotated = [np.rot90(characters.images, k, axes=(-2, -1)) for k in range(4)]
    images = np.ascontiguousarray(np.stack(rotated, axis=1)).reshape(
        -1, *characters.images.shape[1:]
    )
    names = tuple(
        f"{name}/rot{deg}" if deg else name for name in characters.names for deg in ROTATIONS_DEG
    )
    return CharacterSet(images, names)


def split_by_alphabet(
    images: np.ndarray,
    names: Sequence[str],
    test_alphabets: Sequence[str] = DEFAULT_TEST_ALPHABETS,
    validation_every: int = VALIDATION_EVERY,
    rotations: bool = True,
) -> OmniglotSplits:
    """Split characters by alphabet into meta-train, validation and test.

    Args:
        images: float32 (C, D, 28, 28), preprocessed characters.
        names: ``alphabet/characterNN`` of each character, in a fixed order (that of
            :func:`~robo_l2l.fewshot.omniglot.read_omniglot`).
        test_alphabets: alphabets held out entirely for the test.
        validation_every: within each other alphabet, the characters at positions
            ``validation_every, 2 validation_every, ...`` (1-based) of its order are the
            validation split, the rest meta-train.
        rotations: add the 90/180/270-degree rotations of the meta-train characters as new
            classes (:func:`with_rotations`).

    Raises:
        ValueError: a test alphabet absent from the data, an empty split, or shapes that
            disagree.
    """
    names = tuple(names)
    if images.ndim != 4 or images.shape[0] != len(names):
        raise ValueError(
            f"images must be (C, D, H, W) with C = len(names) = {len(names)}, got {images.shape}"
        )
    if validation_every < 2:
        raise ValueError(f"validation_every must be >= 2, got {validation_every}")
    alphabets = [n.split("/")[0] for n in names]
    missing = sorted(set(test_alphabets) - set(alphabets))
    if missing:
        raise ValueError(f"test alphabets {missing} are not in the data ({sorted(set(alphabets))})")
    train, validation, test = [], [], []
    position: dict[str, int] = {}
    for i, alphabet in enumerate(alphabets):
        if alphabet in test_alphabets:
            test.append(i)
            continue
        position[alphabet] = position.get(alphabet, 0) + 1
        (validation if position[alphabet] % validation_every == 0 else train).append(i)
    for split, index in (("meta-train", train), ("validation", validation), ("test", test)):
        if not index:
            raise ValueError(f"the {split} split is empty")

    def subset(index: list[int]) -> CharacterSet:
        return CharacterSet(images[index], tuple(names[i] for i in index))

    train_set = subset(train)
    return OmniglotSplits(
        with_rotations(train_set) if rotations else train_set, subset(validation), subset(test)
    )


def omniglot_splits(
    *sources: str | os.PathLike,
    test_alphabets: Sequence[str] = DEFAULT_TEST_ALPHABETS,
    validation_every: int = VALIDATION_EVERY,
    rotations: bool = True,
    min_drawings: int = 1,
) -> OmniglotSplits:
    """Read, merge (deduplicated), preprocess and split Omniglot archives or folders.

    ``omniglot_splits(small1_zip, small2_zip)`` gives the split of the module docstring.
    About 2-6 s on a shared 2-core machine, almost all of it PNG decoding;
    :func:`save_splits` / :func:`load_splits` cache the result (0.1 s to load).
    """
    if not sources:
        raise ValueError("give at least one Omniglot archive or folder")
    data = merge_omniglot(*(read_omniglot(s, min_drawings=min_drawings) for s in sources))
    return split_by_alphabet(
        preprocess(data.raw), data.names, test_alphabets, validation_every, rotations
    )


def save_splits(path: str | os.PathLike, splits: OmniglotSplits) -> None:
    """Write the splits to one ``.npz`` (atomic): ``<split>_images`` and ``<split>_names``."""
    arrays = {}
    for split, part in splits._asdict().items():
        arrays[f"{split}_images"] = part.images
        arrays[f"{split}_names"] = np.array(part.names, dtype=str)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def load_splits(path: str | os.PathLike) -> OmniglotSplits:
    """Read splits written by :func:`save_splits` (no pickle).

    Raises:
        ValueError: the file lacks a split's arrays or they disagree in length or dtype.
    """
    with np.load(path, allow_pickle=False) as data:
        parts = []
        for split in OmniglotSplits._fields:
            if f"{split}_images" not in data.files or f"{split}_names" not in data.files:
                raise ValueError(f"{path}: no {split} split (not written by save_splits)")
            images, names = data[f"{split}_images"], data[f"{split}_names"]
            if images.dtype != np.float32 or images.ndim != 4 or len(names) != len(images):
                raise ValueError(f"{path}: malformed {split} split: images {images.shape}")
            parts.append(CharacterSet(images, tuple(str(n) for n in names)))
    return OmniglotSplits(*parts)
