"""Our classifier files: safetensors with the run's config and a ``system: fewshot`` marker.

A *classifier* file (``classifier.safetensors``) holds the five tensors (``param.<name>``,
PyTorch layout) and, in its metadata, ``system`` = ``"fewshot"``, the run's config, the
iteration and the validation figures. A *training state* adds Adam's moments for ``--resume``.
:func:`load_classifier` also reads a run folder of ours or the authors' pickle, and refuses a
robot controller with a message that says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import torch

from robo_l2l.checkpoint import CheckpointFormatError, load_tensors, save_tensors
from robo_l2l.fewshot import cnn
from robo_l2l.fewshot.checkpoint import load_reference_classifier
from robo_l2l.fewshot.config import SYSTEM, FewShotConfig

CLASSIFIER_FILE = "classifier.safetensors"
STATE_FILE = "state.safetensors"


class Classifier(NamedTuple):
    params: dict[str, torch.Tensor]  #: the five tensors (no gradients)
    config: FewShotConfig  #: the run's config (defaults for the authors' checkpoint)
    info: dict[str, Any]  #: metadata: iteration, validation, source


def save_classifier(
    path: str | os.PathLike,
    params: dict[str, torch.Tensor],
    cfg: FewShotConfig,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    **metadata: Any,
) -> None:
    """Atomically write the classifier (plus ``extra_tensors``, e.g. Adam's state)."""
    tensors = {f"param.{k}": v.detach() for k, v in params.items()}
    tensors |= extra_tensors or {}
    save_tensors(path, tensors, {"system": SYSTEM, "config": cfg.to_dict(), **metadata})


def _from_file(path: Path) -> tuple[dict[str, torch.Tensor], Classifier]:
    tensors, info = load_tensors(path)
    system = info.get("system", "robot")
    if system != SYSTEM:
        raise CheckpointFormatError(
            f"{path} is a {system} checkpoint (a robot-arm controller?), not a few-shot classifier"
        )
    try:
        cfg = FewShotConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: no valid run config in metadata: {exc}") from exc
    shapes = {
        k: v.shape for k, v in cnn.init_params(torch.Generator(), cfg.channels, cfg.way).items()
    }
    params = {}
    for name, shape in shapes.items():
        value = tensors.get(f"param.{name}")
        if value is None or value.shape != shape:
            raise CheckpointFormatError(
                f"{path}: parameter {name} missing or not of shape {tuple(shape)}"
            )
        params[name] = value
    return tensors, Classifier(params, cfg, {**info, "source": str(path)})


def _is_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file opens with its header's length (u64, little-endian) and then ``{``.

    The length's low byte can be 0x80, a pickle's first byte, so that alone does not tell.
    """
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 8 + n <= size


def load_classifier(path: str | os.PathLike) -> Classifier:
    """Read a classifier: our file, our run folder (its ``classifier.safetensors``), or the
    authors' pickle (config defaults: hardware regime, 32 s).

    Raises:
        FileNotFoundError: nothing there.
        CheckpointFormatError / CheckpointError: corrupt, or a checkpoint of another system.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CLASSIFIER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path.parent} holds no {CLASSIFIER_FILE} (not a run folder)")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        head = f.read(9)
    if not _is_safetensors(head, path.stat().st_size) and head[:1] == b"\x80":
        # a pickle (protocol >= 2): the authors' checkpoint
        arrays = load_reference_classifier(path)
        params = cnn.params_from_reference(arrays)
        return Classifier(params, FewShotConfig(), {"source": str(path), "authors": True})
    return _from_file(path)[1]


def load_training_state(
    path: str | os.PathLike,
) -> tuple[Classifier, dict[str, torch.Tensor]]:
    """Read a training state: the classifier and every other tensor (Adam's moments)."""
    tensors, classifier = _from_file(Path(path))
    rest = {k: v for k, v in tensors.items() if not k.startswith("param.")}
    return classifier, rest
