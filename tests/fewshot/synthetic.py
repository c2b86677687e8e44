"""Tiny synthetic Omniglot sets (random 1-bit PNGs) written as zips or folders for tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png(seed: int, size=(105, 105), mode="1") -> bytes:
    """A random stroke image as a PNG (1-bit by default, like Omniglot's)."""
    pixels = np.random.default_rng(seed).random(size[::-1]) > 0.08
    image = Image.fromarray(pixels.astype(np.uint8) * 255, "L").convert(mode)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def layout(alphabets=("Alpha", "Beta"), characters=2, drawings=3) -> dict[str, bytes]:
    files, seed = {}, 0
    for a in alphabets:
        for c in range(1, characters + 1):
            for d in range(1, drawings + 1):
                files[f"{a}/character{c:02d}/{seed:04d}_{d:02d}.png"] = png(seed)
                seed += 1
    return files


def write_zip(path: Path, files: dict[str, bytes], root: str | None = "set") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(f"{root}/{name}" if root else name, data)
    return path


def write_folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path
