"""Animated GIFs of rollouts: frames (optionally in captioned segments) at real-time speed."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from robo_l2l.atomic import atomic_write_bytes
from robo_l2l.tasks import DT_ARM

CAPTION_HEIGHT_PX = 22
COLORS = 64  #: palette size (the GIF limit is 256; 64 keeps files small)


def gif_bytes(
    segments: Sequence[tuple[Sequence[np.ndarray], str | None]], frame_every: int
) -> bytes:
    """A looping GIF of ``segments`` (frames ``(H, W, 3)`` uint8 and a caption drawn on top).

    One frame per ``frame_every`` steps of :data:`~robo_l2l.tasks.DT_ARM` = 10 ms: real time
    (GIF delays come in 10 ms units).
    """
    from PIL import Image, ImageDraw

    if frame_every < 1:
        raise ValueError(f"frame_every must be >= 1, got {frame_every}")
    images = []
    for frames, caption in segments:
        for frame in frames:
            image = Image.fromarray(np.asarray(frame))
            if caption:
                draw = ImageDraw.Draw(image)
                draw.rectangle((0, 0, image.width, CAPTION_HEIGHT_PX), fill=(255, 255, 255))
                draw.text((6, 5), caption, fill=(0, 0, 0))
            images.append(image.quantize(colors=COLORS, dither=Image.Dither.NONE))
    if not images:
        raise ValueError("no frames to write")
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 * DT_ARM * frame_every),
        loop=0,
        optimize=True,
    )
    return buffer.getvalue()


def write_gif(
    path: str | os.PathLike,
    segments: Sequence[tuple[Sequence[np.ndarray], str | None]],
    frame_every: int,
) -> Path:
    """Write :func:`gif_bytes` atomically to ``path``."""
    return atomic_write_bytes(path, gif_bytes(segments, frame_every))


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """An RGB(A) image ``(H, W, 3|4)`` uint8 as a PNG, atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
