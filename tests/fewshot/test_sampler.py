"""Episode sampler: shapes, determinism, content, and statistics within sampling error."""

from __future__ import annotations

import numpy as np
import pytest

from robo_l2l.fewshot.episodes import validate_episodes
from robo_l2l.fewshot.sampler import draw_episodes, sample_episodes


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """50 synthetic classes x 20 drawings whose pixels encode (class, drawing) uniquely."""
    rng = np.random.default_rng(123)
    return rng.random((50, 20, 28, 28), dtype=np.float32)


def locate(images: np.ndarray, image: np.ndarray) -> tuple[int, int, int]:
    """(class, drawing, quarter turns) of an image of the synthetic set."""
    for k in range(4):
        flat = np.rot90(image, -k).ravel()
        hit = np.flatnonzero((images.reshape(-1, 784) == flat).all(axis=1))
        if hit.size:
            return int(hit[0] // images.shape[1]), int(hit[0] % images.shape[1]), k
    raise AssertionError("image not found")


def test_shapes_dtypes_and_format(images):
    ep = sample_episodes(images, 5, 3, 4, 8, np.random.default_rng(0))
    assert ep.support_images.shape == (8, 15, 28, 28) and ep.query_images.shape == (8, 20, 28, 28)
    assert ep.support_labels.shape == (8, 15) and ep.query_labels.shape == (8, 20)
    assert ep.support_images.dtype == np.float32 and ep.support_labels.dtype == np.int64
    assert ep.support_labels[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    validate_episodes(ep, n_way=5)
    quirky = sample_episodes(images, 5, 3, 4, 8, np.random.default_rng(0), reference_quirks=True)
    validate_episodes(quirky, n_way=5)
    torch_ep = ep.to_torch()
    assert tuple(torch_ep.support_images.shape) == (8, 15, 28, 28)
    assert str(torch_ep.query_labels.dtype) == "torch.int64"


@pytest.mark.parametrize("quirks", [False, True])
def test_same_seed_same_episodes(images, quirks):
    a = sample_episodes(
        images, 5, 5, 5, 4, np.random.default_rng(7), rotate=True, reference_quirks=quirks
    )
    b = sample_episodes(
        images, 5, 5, 5, 4, np.random.default_rng(7), rotate=True, reference_quirks=quirks
    )
    c = sample_episodes(
        images, 5, 5, 5, 4, np.random.default_rng(8), rotate=True, reference_quirks=quirks
    )
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a.support_images, c.support_images)


def test_content_default(images):
    """Labels map to one class each; support and query drawings are distinct; no rotation."""
    rng = np.random.default_rng(1)
    draw = draw_episodes(50, 20, 5, 5, 5, 6, np.random.default_rng(1))
    ep = sample_episodes(images, 5, 5, 5, 6, rng)
    for b in range(6):
        assert len(set(draw.classes[b].tolist())) == 5
        found = {}
        for kind in ("support", "query"):
            imgs, labels = getattr(ep, f"{kind}_images")[b], getattr(ep, f"{kind}_labels")[b]
            for image, label in zip(imgs, labels, strict=True):
                c, d, k = locate(images, image)
                assert k == 0 and c == draw.classes[b, label]
                found.setdefault(int(label), []).append(d)
        for label, drawings in found.items():
            assert len(set(drawings)) == 10 == len(drawings)
            assert sorted(drawings) == sorted(draw.drawings[b, label].tolist())


def test_rotation_same_for_support_and_query(images):
    ep = sample_episodes(images, 5, 2, 3, 6, np.random.default_rng(2), rotate=True)
    draw = draw_episodes(50, 20, 5, 2, 3, 6, np.random.default_rng(2), rotate=True)
    for b in range(6):
        for kind in ("support", "query"):
            imgs, labels = getattr(ep, f"{kind}_images")[b], getattr(ep, f"{kind}_labels")[b]
            for image, label in zip(imgs, labels, strict=True):
                assert locate(images, image)[2] == draw.rotations[b, label]


def test_reference_quirks_content(images):
    ep = sample_episodes(images, 5, 5, 5, 20, np.random.default_rng(3), reference_quirks=True)
    for b in range(20):
        for kind, shots in (("support", 5), ("query", 5)):
            labels = getattr(ep, f"{kind}_labels")[b].reshape(shots, 5)
            # shot-major: every block of N holds each label once
            assert (np.sort(labels, axis=1) == np.arange(5)).all()
        # the Q query images of a class are one image repeated
        for label in range(5):
            q = ep.query_images[b][ep.query_labels[b] == label]
            assert all(np.array_equal(q[0], x) for x in q[1:])
            s = ep.support_images[b][ep.support_labels[b] == label]
            assert not any(np.array_equal(q[0], x) for x in s)
    # blocks are permuted: identity order in 1/120 of blocks
    blocks = ep.support_labels.reshape(-1, 5)
    assert (blocks == np.arange(5)).all(axis=1).mean() < 0.1


def _within(observed: float, expected: float, n: int, z: float = 4.0) -> bool:
    return abs(observed - expected) <= z * np.sqrt(expected * (1 - expected) / n) + 1e-12


def test_statistics():
    """Repeats with/without replacement, rotation and label uniformity, within 4 sigma."""
    n, classes, way = 20000, 50, 5
    rng = np.random.default_rng(4)
    with_rep = draw_episodes(classes, 20, way, 1, 1, n, rng, replace_classes=True)
    repeats = np.array([len(set(c)) < way for c in with_rep.classes.tolist()])
    expected = 1 - np.prod([1 - i / classes for i in range(way)])  # 0.186
    assert _within(repeats.mean(), expected, n)
    without = draw_episodes(classes, 20, way, 1, 1, n, rng, rotate=True)
    assert all(len(set(c)) == way for c in without.classes.tolist())
    # every rotation a quarter of the time
    counts = np.bincount(without.rotations.ravel(), minlength=4)
    assert all(_within(c / without.rotations.size, 0.25, without.rotations.size) for c in counts)
    # label 0 lands on every class equally often: each class 1/C of the time
    first = np.bincount(without.classes[:, 0], minlength=classes) / n
    assert np.abs(first - 1 / classes).max() <= 4.5 * np.sqrt((1 / classes) * (1 - 1 / classes) / n)
    # drawings: each of the 20 equally likely to be the first support image
    d = np.bincount(without.drawings[..., 0].ravel(), minlength=20) / without.drawings[..., 0].size
    assert np.abs(d - 0.05).max() <= 4.5 * np.sqrt(0.05 * 0.95 / without.drawings[..., 0].size)


def test_bad_arguments(images):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="20 drawings, fewer than the K \\+ Q = 21"):
        sample_episodes(images, 5, 16, 5, 1, rng)
    with pytest.raises(ValueError, match="50 classes cannot make a 60-way task"):
        sample_episodes(images, 60, 1, 1, 1, rng)
    assert sample_episodes(images, 60, 1, 1, 1, rng, replace_classes=True).support_labels.shape == (
        1,
        60,
    )
    with pytest.raises(TypeError, match="Generator"):
        sample_episodes(images, 5, 1, 1, 1, 0)
    with pytest.raises(ValueError, match="float32"):
        sample_episodes(images.astype(np.float64), 5, 1, 1, 1, rng)
    with pytest.raises(ValueError, match="n_way must be >= 2"):
        sample_episodes(images, 1, 1, 1, 1, rng)
    with pytest.raises(ValueError, match="k_shot"):
        sample_episodes(images, 5, 0, 1, 1, rng)
