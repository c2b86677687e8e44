"""Adam's state as named tensors, so that a training state file resumes a run exactly."""

from __future__ import annotations

import torch


def optimizer_tensors(
    params: dict[str, torch.Tensor], optimizer: torch.optim.Adam
) -> tuple[dict[str, torch.Tensor], int]:
    """Adam's moments as ``adam.exp_avg.<name>`` / ``adam.exp_avg_sq.<name>``, and its step."""
    out, step = {}, 0
    for name, p in params.items():
        state = optimizer.state.get(p)
        if not state:
            continue
        out[f"adam.exp_avg.{name}"] = state["exp_avg"]
        out[f"adam.exp_avg_sq.{name}"] = state["exp_avg_sq"]
        step = int(state["step"])
    return out, step


def restore_optimizer(
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Adam,
    tensors: dict[str, torch.Tensor],
    step: int,
) -> None:
    """Inverse of :func:`optimizer_tensors` (moments moved to each parameter's device)."""
    for name, p in params.items():
        key = f"adam.exp_avg.{name}"
        if key not in tensors:
            continue
        optimizer.state[p] = {
            "step": torch.tensor(float(step)),
            "exp_avg": tensors[key].to(p.device, p.dtype).clone(),
            "exp_avg_sq": tensors[f"adam.exp_avg_sq.{name}"].to(p.device, p.dtype).clone(),
        }
