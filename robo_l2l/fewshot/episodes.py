"""Few-shot episodes (support + query sets of E tasks): the container, its checks, its file.

File format (``.npz``, the evaluation command's ``--episodes``): exactly the four arrays of
:class:`Episodes`, images preprocessed as the reference (:mod:`robo_l2l.fewshot.preprocess`).
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import NamedTuple

import numpy as np

from robo_l2l.atomic import atomic_write

IMAGE_SIDE = 28
"""Side of a preprocessed image in pixels."""


class EpisodeError(ValueError):
    """Episodes that break the format (the message names the array and the problem)."""


class Episodes(NamedTuple):
    """E tasks of N-way K-shot Q-query classification.

    Attributes:
        support_images: float32 (E, N*K, 28, 28), values in [0, 1].
        support_labels: int64 (E, N*K), each of 0..N-1 exactly K times per task.
        query_images: float32 (E, N*Q, 28, 28), values in [0, 1].
        query_labels: int64 (E, N*Q), in 0..N-1.
    """

    support_images: np.ndarray
    support_labels: np.ndarray
    query_images: np.ndarray
    query_labels: np.ndarray

    @property
    def n_way(self) -> int:
        return int(self.support_labels.max()) + 1

    @property
    def k_shot(self) -> int:
        return self.support_labels.shape[1] // self.n_way

    @property
    def num_episodes(self) -> int:
        return self.support_images.shape[0]

    def to_torch(self, device=None):
        """The same episodes as torch tensors (zero-copy on the CPU), float32 and int64.

        Returns an :class:`Episodes` whose fields are ``torch.Tensor``.
        """
        import torch

        return Episodes(*(torch.as_tensor(np.ascontiguousarray(a), device=device) for a in self))

    def select(self, index) -> Episodes:
        """The tasks at ``index`` (an int array or a slice), as numpy arrays."""
        return Episodes(*(np.asarray(a)[index] for a in self))


def validate_episodes(episodes: Episodes, n_way: int | None = None) -> Episodes:
    """Check episodes against the format; return them unchanged.

    Checks: numpy arrays; images float32 (E, S, 28, 28) with finite values in [0, 1]; labels
    int64 (E, S) matching their images; the same E everywhere and E >= 1; N (``n_way``, or the
    largest support label + 1) >= 2; labels in 0..N-1; every task's support set holds each of
    the N classes, all the same number K of times (S = N*K). The query set needs no balance.

    Raises:
        EpisodeError: naming the array, the episode and the problem.
    """
    names = Episodes._fields
    for name, array in zip(names, episodes, strict=True):
        if not isinstance(array, np.ndarray):
            raise EpisodeError(f"{name} must be a numpy array, got {type(array).__name__}")
    for kind in ("support", "query"):
        images = getattr(episodes, f"{kind}_images")
        labels = getattr(episodes, f"{kind}_labels")
        if images.dtype != np.float32:
            raise EpisodeError(f"{kind}_images must be float32, got {images.dtype}")
        if images.ndim != 4 or images.shape[2:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise EpisodeError(
                f"{kind}_images must have shape (E, N*{'K' if kind == 'support' else 'Q'}, "
                f"{IMAGE_SIDE}, {IMAGE_SIDE}), got {images.shape}"
            )
        if images.shape[0] < 1 or images.shape[1] < 1:
            raise EpisodeError(f"{kind}_images is empty: shape {images.shape}")
        if labels.dtype != np.int64:
            raise EpisodeError(f"{kind}_labels must be int64, got {labels.dtype}")
        if labels.shape != images.shape[:2]:
            raise EpisodeError(
                f"{kind}_labels must have shape {images.shape[:2]} (one per image), "
                f"got {labels.shape}"
            )
        finite = np.isfinite(images)
        if not finite.all():
            episode = int(np.argwhere(~finite)[0, 0])
            raise EpisodeError(f"{kind}_images holds NaN or infinite values (episode {episode})")
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise EpisodeError(
                f"{kind}_images must lie in [0, 1] (preprocessed as the reference), "
                f"got [{low:g}, {high:g}]"
            )
    n_episodes = episodes.support_images.shape[0]
    if episodes.query_images.shape[0] != n_episodes:
        raise EpisodeError(
            f"support and query disagree on the number of episodes E: {n_episodes} vs "
            f"{episodes.query_images.shape[0]}"
        )
    n = int(episodes.support_labels.max()) + 1 if n_way is None else int(n_way)
    if n < 2:
        raise EpisodeError(f"an episode needs at least 2 classes, got N = {n}")
    for kind in ("support", "query"):
        labels = getattr(episodes, f"{kind}_labels")
        bad = (labels < 0) | (labels >= n)
        if bad.any():
            e, i = (int(v) for v in np.argwhere(bad)[0])
            raise EpisodeError(
                f"{kind}_labels must lie in 0..{n - 1} (N = {n}), episode {e} has {labels[e, i]}"
            )
    counts = np.stack([(episodes.support_labels == c).sum(axis=1) for c in range(n)], axis=1)
    missing = counts.min(axis=1) == 0
    if missing.any():
        e = int(np.argmax(missing))
        present = sorted(set(episodes.support_labels[e].tolist()))
        raise EpisodeError(
            f"episode {e} has fewer than N = {n} classes in its support set (labels {present})"
        )
    uneven = counts.min(axis=1) != counts.max(axis=1)
    if uneven.any():
        e = int(np.argmax(uneven))
        raise EpisodeError(
            f"episode {e}: support classes have different numbers of images "
            f"{counts[e].tolist()}; the format is N*K, K images of each class"
        )
    return episodes


def save_episodes(path: str | os.PathLike, episodes: Episodes) -> None:
    """Write validated episodes to ``path`` (.npz, atomic: no partial file on failure)."""
    validate_episodes(episodes)
    atomic_write(path, lambda tmp: _write_npz(tmp, episodes))


def _write_npz(tmp: str, episodes: Episodes) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **episodes._asdict())


def load_episodes(path: str | os.PathLike, n_way: int | None = None) -> Episodes:
    """Read and validate an episodes file with exactly the four arrays of :class:`Episodes`.

    Raises:
        FileNotFoundError: no such file.
        EpisodeError: not an .npz archive, missing or extra arrays, or a format violation
            (:func:`validate_episodes`).
    """
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise EpisodeError(f"{path}: a single array, not an .npz archive of the four arrays")
        with data:
            keys = set(data.files)
            expected = set(Episodes._fields)
            if keys != expected:
                missing, extra = sorted(expected - keys), sorted(keys - expected)
                raise EpisodeError(
                    f"{path}: episodes file must hold exactly {list(Episodes._fields)}; "
                    f"missing {missing}, unexpected {extra}"
                )
            arrays = {k: data[k] for k in Episodes._fields}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, io.UnsupportedOperation, EOFError) as exc:
        if isinstance(exc, EpisodeError):
            raise
        raise EpisodeError(f"{path}: not a readable .npz episodes file ({exc})") from exc
    return validate_episodes(Episodes(**arrays), n_way)
