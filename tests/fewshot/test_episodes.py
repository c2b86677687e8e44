"""Episodes files: round trip and every bad input the evaluation command must reject."""

from __future__ import annotations

import numpy as np
import pytest

from robo_l2l.fewshot.episodes import (
    EpisodeError,
    Episodes,
    load_episodes,
    save_episodes,
    validate_episodes,
)
from robo_l2l.fewshot.sampler import sample_episodes


@pytest.fixture
def episodes() -> Episodes:
    images = np.random.default_rng(0).random((10, 20, 28, 28), dtype=np.float32)
    return sample_episodes(images, 5, 2, 3, 4, np.random.default_rng(1))


def test_round_trip(tmp_path, episodes):
    path = tmp_path / "ep.npz"
    save_episodes(path, episodes)
    loaded = load_episodes(path, n_way=5)
    assert all(
        np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(loaded, episodes, strict=True)
    )
    assert (loaded.num_episodes, loaded.n_way, loaded.k_shot) == (4, 5, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["ep.npz"]


def _replace(ep: Episodes, **changes) -> Episodes:
    return ep._replace(**changes)


BAD = [
    (
        lambda e: _replace(e, support_images=e.support_images.astype(np.float64)),
        "support_images must be float32",
    ),
    (
        lambda e: _replace(e, query_images=np.zeros((4, 15, 32, 32), np.float32)),
        "query_images must have shape",
    ),
    (lambda e: _replace(e, support_images=e.support_images * 2), r"must lie in \[0, 1\]"),
    (
        lambda e: _replace(
            e,
            query_images=np.where(e.query_images > 0.5, np.nan, e.query_images).astype(np.float32),
        ),
        "NaN",
    ),
    (
        lambda e: _replace(e, support_labels=e.support_labels.astype(np.int32)),
        "support_labels must be int64",
    ),
    (lambda e: _replace(e, query_labels=e.query_labels[:, :-1]), "query_labels must have shape"),
    (lambda e: _replace(e, query_labels=e.query_labels + 1), r"query_labels must lie in 0..4"),
    (lambda e: _replace(e, support_labels=-e.support_labels), "fewer than N = 2|must lie in"),
    (
        lambda e: _replace(e, query_images=e.query_images[:3], query_labels=e.query_labels[:3]),
        "number of episodes",
    ),
    (
        lambda e: _replace(e, support_labels=np.where(e.support_labels == 3, 2, e.support_labels)),
        "episode 0 has fewer than N = 5 classes",
    ),
    (
        lambda e: _replace(e, support_labels=np.where(e.support_labels == 4, 3, e.support_labels)),
        "fewer than N = 5 classes|different numbers",
    ),
    (
        lambda e: _replace(
            e, support_images=e.support_images[:0], support_labels=e.support_labels[:0]
        ),
        "empty",
    ),
    (lambda e: _replace(e, support_labels=e.support_labels.tolist()), "numpy array"),
]


@pytest.mark.parametrize("edit, match", BAD)
def test_bad_episodes(tmp_path, episodes, edit, match):
    bad = edit(episodes)
    with pytest.raises(EpisodeError, match=match):
        validate_episodes(bad, n_way=5)
    path = tmp_path / "bad.npz"
    with pytest.raises(EpisodeError):
        save_episodes(path, bad)
    assert not list(tmp_path.iterdir())  # nothing partially written
    if isinstance(bad.support_labels, np.ndarray):
        np.savez(path, **bad._asdict())
        with pytest.raises(EpisodeError, match=match):
            load_episodes(path, n_way=5)


def test_uneven_support_and_inferred_n(episodes):
    labels = episodes.support_labels.copy()  # class-major: 0, 0, 1, 1, ..., 4, 4
    labels[2, 0] = 1  # class 0 once, class 1 three times
    with pytest.raises(EpisodeError, match=r"episode 2: .* \[1, 3, 2, 2, 2\]"):
        validate_episodes(episodes._replace(support_labels=labels))
    assert validate_episodes(episodes) is episodes  # N inferred as 5


def test_bad_files(tmp_path, episodes):
    path = tmp_path / "e.npz"
    np.savez(path, **episodes._asdict(), extra=np.zeros(1))
    with pytest.raises(EpisodeError, match=r"unexpected \['extra'\]"):
        load_episodes(path)
    np.savez(path, **{k: v for k, v in episodes._asdict().items() if k != "query_labels"})
    with pytest.raises(EpisodeError, match=r"missing \['query_labels'\]"):
        load_episodes(path)
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(EpisodeError, match="not a readable"):
        load_episodes(tmp_path / "text.npz")
    np.save(tmp_path / "one.npy", episodes.support_images)
    with pytest.raises(EpisodeError, match="single array"):
        load_episodes(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError):
        load_episodes(tmp_path / "missing.npz")


def test_reference_episodes_pass(golden_fewshot):
    """The reference's own episodes (quirks included) are valid episodes."""
    ep = Episodes(
        golden_fewshot["support_images"][..., 0],
        golden_fewshot["support_labels"],
        golden_fewshot["query_images"][..., 0],
        golden_fewshot["query_labels"],
    )
    assert validate_episodes(ep, n_way=5) is ep and (ep.n_way, ep.k_shot) == (5, 5)
