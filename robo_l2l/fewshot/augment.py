"""Random translation of preprocessed images: a meta-training augmentation (not the reference's).

Each image moves by integer offsets :math:`(d_y, d_x)`, each uniform in
:math:`\\{-s, \\dots, s\\}` and independent per image, and the pixels that enter are filled with
the preprocessed background (:data:`~robo_l2l.fewshot.preprocess.BACKGROUND`, a white pixel):

.. math:: y[r, c] = x[r - d_y, c - d_x]\\ \\text{if}\\ 0 \\le r - d_y, c - d_x < 28,
    \\ \\text{else}\\ 0.9999

Omniglot drawings are centred only roughly, so a shift of a pixel or two is within-class
variation; it gives the 156 meta-training characters more distinct images. The reference
augments with quarter turns only (:mod:`robo_l2l.fewshot.sampler`); this is off unless a run's
``shift_px`` is positive.
"""

from __future__ import annotations

import numpy as np

from robo_l2l.fewshot.preprocess import BACKGROUND


def translate(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift every image of ``images`` (..., H, W) by its own random offset, background-filled.

    Args:
        images: float32 (..., H, W), preprocessed (strokes 0, background 0.9999).
        max_shift: s, the largest shift in pixels along either axis (0 returns a copy).
        rng: the only source of randomness; draws (dy, dx) for every image, in C order.

    Returns:
        A new float32 array of the same shape.

    Raises:
        ValueError: ``max_shift`` negative or not smaller than the image side, or ``images``
            with fewer than two dimensions. TypeError: ``rng`` is not a numpy ``Generator``.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"images must be (..., H, W), got shape {images.shape}")
    h, w = images.shape[-2:]
    if not isinstance(max_shift, (int, np.integer)) or not 0 <= max_shift < min(h, w):
        raise ValueError(f"max_shift must be an integer in 0..{min(h, w) - 1}, got {max_shift!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if max_shift == 0:
        return images.astype(np.float32, copy=True)
    flat = images.reshape(-1, h, w)
    n, s = flat.shape[0], int(max_shift)
    offsets = rng.integers(-s, s + 1, size=(n, 2))
    padded = np.pad(flat, ((0, 0), (s, s), (s, s)), constant_values=BACKGROUND)
    rows = np.arange(h)[None, :] + s - offsets[:, :1]  # (n, H): source row of each output row
    cols = np.arange(w)[None, :] + s - offsets[:, 1:]  # (n, W)
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.astype(np.float32, copy=False).reshape(images.shape)
