"""Our own checkpoints: safetensors files written atomically, read with validation.

A *controller* file holds the meta-learned parameters (``param.<name>``) and, in its metadata,
the run's config (JSON) and iteration. A *training state* file adds Adam's moments so that a
run continues exactly where it stopped. Every write goes to a temporary file in the same
folder, is flushed to disk and then renamed over the old file: a crash never leaves a
half-written checkpoint in place of a good one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from robo_l2l.atomic import atomic_write

FORMAT = "robo_l2l.controller.v1"


class CheckpointFormatError(ValueError):
    """A checkpoint that is corrupt or belongs to another configuration."""


def save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]
) -> None:
    """Atomically save ``tensors`` with JSON-encoded ``metadata`` to a safetensors file."""
    meta = {"format": FORMAT, **{k: json.dumps(v) for k, v in metadata.items()}}
    plain = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(plain, tmp, meta))


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_tensors`; clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointFormatError(
            f"{path} is not a readable safetensors checkpoint: {exc}"
        ) from exc
    if raw_meta.get("format") != FORMAT:
        raise CheckpointFormatError(f"{path} is not a robo_l2l checkpoint (format tag missing)")
    try:
        meta = {k: json.loads(v) for k, v in raw_meta.items() if k != "format"}
    except json.JSONDecodeError as exc:
        raise CheckpointFormatError(f"{path}: corrupt metadata: {exc}") from exc
    for name, value in tensors.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointFormatError(f"{path}: tensor {name} contains NaN or inf")
    return tensors, meta
