"""N-way K-shot Q-query episode sampler, seeded through an explicit numpy ``Generator``.

Default behaviour (sane): the N classes of a task are distinct (drawn without replacement),
the K + Q drawings of a class are distinct, so the Q query images are distinct and disjoint
from the support set; images are class-major (``[class 0 x K, class 1 x K, ...]``); label i is
the i-th drawn class, and the draw order is uniformly random, so no label favours any class.

The reference's quirks (FEWSHOT.md sections 5 and 9), each behind its own flag, all on with
``reference_quirks=True`` (its rotation, for meta-training only, is the separate ``rotate``):

* ``replace_classes``: classes drawn with replacement (Python ``random.choices``): a task can
  hold one character under two labels (an ambiguous task); share of 5-way tasks with a repeat
  :math:`1 - \\prod_{i<N} (1 - i/C)`.
* ``repeat_query``: every query slot of a class holds the same image (drawing K + 1 of the
  K + Q drawn); the other Q - 1 are discarded.
* ``shot_major``: images reordered shot-major ``[class 0 shot 0, class 1 shot 0, ..., class 0
  shot 1, ...]`` and then permuted independently within every block of N (one image per
  class), support and query separately; labels follow.

``rotate=True`` rotates all K + Q images of a class by k x 90 degrees (``np.rot90``,
counter-clockwise), k uniform in {0, 1, 2, 3}, one k per class of a task, the same for its
support and query images (the reference's augmentation for meta-training). With
:func:`~robo_l2l.fewshot.splits.with_rotations` classes instead, leave it off.

Random draws, in this order, all from ``rng``: classes (B, N), drawings (B, N, D) ranks,
rotations (B, N) if ``rotate``, block permutations (B, K, N) and (B, Q, N) if ``shot_major``.
The same seed therefore gives the same episodes; the reference's own episodes (Python
``random`` on its tfds file order) cannot be replayed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from robo_l2l.fewshot.episodes import Episodes


class EpisodeDraw(NamedTuple):
    """What a batch of tasks drew (indices into the class array), before gathering images.

    Attributes:
        classes: int64 (B, N), class index of label i in task b.
        drawings: int64 (B, N, K + Q), drawing indices; the first K are the support set.
        rotations: int64 (B, N), quarter turns per class (all 0 without ``rotate``).
    """

    classes: np.ndarray
    drawings: np.ndarray
    rotations: np.ndarray


def _check(shape: tuple[int, ...], n_way: int, k_shot: int, q_query: int, batch: int) -> None:
    for name, value in (("n_way", n_way), ("k_shot", k_shot), ("q_query", q_query)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if n_way < 2:
        raise ValueError(f"n_way must be >= 2 (a task needs two classes), got {n_way}")
    if len(shape) != 4:
        raise ValueError(f"images must be (classes C, drawings D, H, W), got shape {shape}")
    if shape[1] < k_shot + q_query:
        raise ValueError(
            f"each class has {shape[1]} drawings, fewer than the K + Q = {k_shot + q_query} "
            "distinct drawings an episode needs"
        )


def draw_episodes(
    num_classes: int,
    num_drawings: int,
    n_way: int,
    k_shot: int,
    q_query: int,
    batch: int,
    rng: np.random.Generator,
    *,
    rotate: bool = False,
    replace_classes: bool = False,
) -> EpisodeDraw:
    """Draw class, drawing and rotation indices of ``batch`` tasks (no images touched)."""
    _check((num_classes, num_drawings, 1, 1), n_way, k_shot, q_query, batch)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not replace_classes and num_classes < n_way:
        raise ValueError(
            f"{num_classes} classes cannot make a {n_way}-way task without repeating a class"
        )
    if replace_classes:
        classes = rng.integers(0, num_classes, size=(batch, n_way))
    else:  # the first N of a uniform random permutation: distinct, in random order
        classes = np.argsort(rng.random((batch, num_classes)), axis=1)[:, :n_way]
    ranks = rng.random((batch, n_way, num_drawings))
    drawings = np.argsort(ranks, axis=-1)[..., : k_shot + q_query]
    rotations = (
        rng.integers(0, 4, size=(batch, n_way)) if rotate else np.zeros((batch, n_way), np.int64)
    )
    return EpisodeDraw(classes.astype(np.int64), drawings.astype(np.int64), rotations)


def _shot_major(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """(B, N, S, H, W) class-major -> (B, S*N, H, W) shot-major, each block of N permuted."""
    b, n, s = images.shape[:3]
    images = images.transpose(0, 2, 1, 3, 4)  # (B, S, N, H, W)
    labels = np.broadcast_to(labels[:, None, :], (b, s, n))
    perm = np.argsort(rng.random((b, s, n)), axis=-1)
    task, shot = np.arange(b)[:, None, None], np.arange(s)[None, :, None]
    images, labels = images[task, shot, perm], labels[task, shot, perm]
    return images.reshape(b, s * n, *images.shape[3:]), labels.reshape(b, s * n)


def sample_episodes(
    images: np.ndarray,
    n_way: int,
    k_shot: int,
    q_query: int,
    batch: int,
    rng: np.random.Generator,
    *,
    rotate: bool = False,
    replace_classes: bool = False,
    repeat_query: bool = False,
    shot_major: bool = False,
    reference_quirks: bool = False,
) -> Episodes:
    """Sample ``batch`` N-way K-shot Q-query tasks from ``images``.

    Args:
        images: float32 (C, D, H, W): C classes of D drawings each (a
            :class:`~robo_l2l.fewshot.splits.CharacterSet`'s ``images``).
        n_way, k_shot, q_query: N classes per task, K support and Q query images per class.
        batch: B tasks.
        rng: the only source of randomness (``np.random.default_rng(seed)``).
        rotate: random quarter turn per class (meta-training augmentation; see the module).
        replace_classes, repeat_query, shot_major: the reference's quirks (module docstring).
        reference_quirks: turn all three quirks on.

    Returns:
        :class:`~robo_l2l.fewshot.episodes.Episodes` with support_images (B, N*K, H, W) and
        query_images (B, N*Q, H, W) float32, labels (B, N*K) / (B, N*Q) int64 in 0..N-1.

    Raises:
        ValueError: bad sizes, fewer than K + Q drawings per class, or fewer than N classes
            without replacement. TypeError: ``rng`` is not a ``numpy.random.Generator``.
    """
    images = np.asarray(images)
    _check(images.shape, n_way, k_shot, q_query, batch)
    if images.dtype != np.float32:
        raise ValueError(f"images must be float32 (preprocessed), got {images.dtype}")
    if rotate and images.shape[2] != images.shape[3]:
        raise ValueError(f"rotation needs square images, got {images.shape[2:]}")
    if reference_quirks:
        replace_classes = repeat_query = shot_major = True
    draw = draw_episodes(
        images.shape[0],
        images.shape[1],
        n_way,
        k_shot,
        q_query,
        batch,
        rng,
        rotate=rotate,
        replace_classes=replace_classes,
    )
    picked = images[draw.classes[..., None], draw.drawings]  # (B, N, K+Q, H, W), a copy
    if repeat_query:
        picked[:, :, k_shot:] = picked[:, :, k_shot : k_shot + 1]
    for quarter in (1, 2, 3):
        mask = draw.rotations == quarter
        if mask.any():
            picked[mask] = np.rot90(picked[mask], quarter, axes=(-2, -1))
    labels = np.broadcast_to(np.arange(n_way, dtype=np.int64), (batch, n_way))
    support, query = picked[:, :, :k_shot], picked[:, :, k_shot:]
    if shot_major:
        support_images, support_labels = _shot_major(support, labels, rng)
        query_images, query_labels = _shot_major(query, labels, rng)
    else:
        side = images.shape[2:]
        support_images = support.reshape(batch, n_way * k_shot, *side)
        query_images = query.reshape(batch, n_way * q_query, *side)
        support_labels = np.repeat(labels, k_shot, axis=1)
        query_labels = np.repeat(labels, q_query, axis=1)
    return Episodes(
        np.ascontiguousarray(support_images),
        np.ascontiguousarray(support_labels, dtype=np.int64),
        np.ascontiguousarray(query_images),
        np.ascontiguousarray(query_labels, dtype=np.int64),
    )
