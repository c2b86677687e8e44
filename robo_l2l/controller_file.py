"""Reading a meta-trained controller (``controller.safetensors`` or a training state).

The file's metadata holds the run's config; the parameters are checked against the shapes and
the dtype (float32) that config implies before any work, and mapped to the device the caller
asks for (a controller trained with ``device: cuda`` loads on a CPU-only machine).
"""

from __future__ import annotations

import os

import torch

from robo_l2l.checkpoint import CheckpointFormatError, load_tensors
from robo_l2l.config import MetaConfig
from robo_l2l.controller import ControllerWeights
from robo_l2l.parameters import controller, parameter_shapes

PARAM_DTYPE = torch.float32


def checked_params(
    tensors: dict[str, torch.Tensor], cfg: MetaConfig, path: str | os.PathLike, device: str
) -> dict[str, torch.Tensor]:
    """The ``param.<name>`` tensors of ``cfg``'s rule, validated, on ``device``."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{path}: device cuda was asked for, but torch sees no CUDA device")
    params = {}
    for name, shape in parameter_shapes(cfg).items():
        value = tensors.get(f"param.{name}")
        if value is None or tuple(value.shape) != shape:
            raise CheckpointFormatError(
                f"{path}: parameter {name} missing or of the wrong shape for a {cfg.rule} "
                f"controller (expected {shape})"
            )
        if value.dtype != PARAM_DTYPE:
            raise CheckpointFormatError(
                f"{path}: parameter {name} has dtype {str(value.dtype).removeprefix('torch.')}; "
                "a controller holds float32"
            )
        params[name] = value.to(device)
    return params


def load_controller(
    path: str | os.PathLike, device: str = "cpu"
) -> tuple[ControllerWeights, MetaConfig, dict]:
    """Read a controller written by training; weights on ``device`` whatever the run used.

    Returns the weights, the run's config (as saved) and the file's metadata (iteration,
    validation). Raises ``FileNotFoundError`` or :class:`CheckpointFormatError` when the file
    is missing, corrupt, or does not match the current code's shapes and dtype.
    """
    tensors, info = load_tensors(path)
    if info.get("system", "robot") != "robot":
        raise CheckpointFormatError(
            f"{path} is a {info['system']} checkpoint (the few-shot classifier), not a robot "
            "controller"
        )
    try:
        cfg = MetaConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: no valid run config in metadata: {exc}") from exc
    weights = controller(checked_params(tensors, cfg, path, device), detach=True)
    try:
        weights.check(cfg.rule)
    except ValueError as exc:
        raise CheckpointFormatError(f"{path}: {exc}") from exc
    return weights, cfg, info
