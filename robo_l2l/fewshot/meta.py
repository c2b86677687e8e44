r"""Meta-training of the few-shot classifier (the outer loop; FEWSHOT.md section 3).

Adam (Keras defaults: :math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-7}`), lr 1e-3, on the
five tensors, minimising the mean query loss after the inner loop of
:func:`robo_l2l.fewshot.maml.inner_loop` over a meta-batch of ``batch_size`` tasks (batch
statistics pooled over the meta-batch, as the reference). Two regimes: software
(``hardware_aware=False``, the authors' README training) and hardware-aware (the PCM model in the
loop, straight-through gradients). Every random draw of iteration ``i`` comes from generators
keyed by ``(seed, i)``, so a run resumed from a checkpoint continues exactly.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from robo_l2l.checkpoint import CheckpointFormatError, load_tensors, save_tensors
from robo_l2l.fewshot import cnn
from robo_l2l.fewshot.maml import InnerLoopConfig, inner_loop, reference_pcm
from robo_l2l.fewshot.sampler import sample_episodes

SYSTEM = "fewshot_classifier"  #: metadata tag of our classifier checkpoints


@dataclass(frozen=True)
class FewShotMetaConfig:
    """One meta-training run (reference values from FEWSHOT.md sections 0 and 3)."""

    seed: int = 1234
    """Keys every random draw (initial weights, tasks, device noise)."""
    iterations: int = 30000
    """Outer steps."""
    batch_size: int = 32
    """Tasks per meta-batch (the authors' README)."""
    lr: float = 1e-3
    """Adam's learning rate."""
    way: int = 5
    shot: int = 5
    query: int = 5
    channels: int = 56
    inner_updates: int = 4
    inner_lr: float = 0.1
    second_order: bool = True
    """Differentiate through the inner gradients (the reference)."""
    hardware_aware: bool = False
    """PCM model in the loop (the reference's PCMNoise) instead of software weights."""
    rotate: bool = True
    """Random quarter turn per class of a task (the reference's augmentation)."""
    reference_quirks: bool = False
    """Sample tasks with the reference's quirks (classes with replacement, repeated queries)."""

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "way", "shot", "query", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        InnerLoopConfig(self.inner_updates, self.inner_lr)  # validates them

    def inner(self) -> InnerLoopConfig:
        return InnerLoopConfig(
            self.inner_updates, self.inner_lr, self.second_order, track_steps=False
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FewShotMetaConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**data)


def iteration_generators(
    cfg: FewShotMetaConfig, iteration: int
) -> tuple[np.random.Generator, torch.Generator]:
    """(task sampler, device-noise generator) of meta-iteration ``iteration``."""
    base = (cfg.seed + 1) * 1_000_000_007 + iteration * 2
    return np.random.default_rng(base), torch.Generator().manual_seed(base + 1)


def init_classifier(cfg: FewShotMetaConfig) -> dict[str, torch.Tensor]:
    """Glorot-uniform initial weights keyed by the run's seed."""
    return cnn.init_params(torch.Generator().manual_seed(cfg.seed), cfg.channels, cfg.way)


def make_optimizer(params: dict[str, torch.Tensor], cfg: FewShotMetaConfig) -> torch.optim.Adam:
    for p in params.values():
        p.requires_grad_(True)
    return torch.optim.Adam(list(params.values()), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-7)


class StepResult(NamedTuple):
    loss: float  #: mean query loss after the inner loop
    accuracy: float  #: mean query accuracy after the inner loop
    devices_written: float  #: readout devices written per task over all updates
    grad_norm: float


def meta_step(
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    images: np.ndarray,
    cfg: FewShotMetaConfig,
    iteration: int,
) -> StepResult:
    """One Adam step on the tasks of iteration ``iteration`` drawn from ``images`` (C, D, 28, 28)."""
    task_rng, noise = iteration_generators(cfg, iteration)
    episodes = sample_episodes(
        images,
        cfg.way,
        cfg.shot,
        cfg.query,
        cfg.batch_size,
        task_rng,
        rotate=cfg.rotate,
        reference_quirks=cfg.reference_quirks,
    )
    pcm = reference_pcm() if cfg.hardware_aware else None
    optimizer.zero_grad(set_to_none=True)
    r = inner_loop(params, episodes, cfg.inner(), pcm, noise)
    if not torch.isfinite(r.query_loss):
        raise FloatingPointError(f"meta-loss is {r.query_loss.item()} at iteration {iteration}")
    r.query_loss.backward()
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad) for p in params.values()])
    )
    if not torch.isfinite(norm):
        raise FloatingPointError(f"meta-gradient is not finite at iteration {iteration}")
    optimizer.step()
    return StepResult(
        loss=r.query_loss.item(),
        accuracy=r.query_acc.item(),
        devices_written=r.devices_written.sum(0).double().mean().item(),
        grad_norm=norm.item(),
    )


def save_classifier(
    path: str | os.PathLike,
    params: dict[str, torch.Tensor],
    cfg: FewShotMetaConfig,
    iteration: int,
    optimizer: torch.optim.Adam | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write the classifier (and Adam's state, to resume) as safetensors."""
    tensors = {f"param.{k}": v for k, v in params.items()}
    if optimizer is not None:
        for name, p in params.items():
            state = optimizer.state.get(p, {})
            if state:
                tensors[f"adam.exp_avg.{name}"] = state["exp_avg"]
                tensors[f"adam.exp_avg_sq.{name}"] = state["exp_avg_sq"]
                tensors[f"adam.step.{name}"] = torch.as_tensor(state["step"]).reshape(1)
    meta = {"system": SYSTEM, "config": dataclasses.asdict(cfg), "iteration": iteration}
    save_tensors(path, tensors, {**meta, **(extra or {})})


def load_classifier(
    path: str | os.PathLike, optimizer_for: dict[str, torch.Tensor] | None = None
) -> tuple[dict[str, torch.Tensor], FewShotMetaConfig, dict[str, Any]]:
    """Read a classifier written by :func:`save_classifier`.

    Returns (params, config, metadata). Raises ``FileNotFoundError`` or
    :class:`~robo_l2l.checkpoint.CheckpointFormatError` for a missing, corrupt or foreign file
    (a robot controller checkpoint is named as such).
    """
    tensors, info = load_tensors(path)
    if info.get("system") != SYSTEM:
        kind = (
            "a robot-arm controller"
            if any(k.startswith("param.W_") for k in tensors)
            else ("not a few-shot classifier")
        )
        raise CheckpointFormatError(
            f"{path} is {kind} checkpoint, not a few-shot classifier (metadata system="
            f"{info.get('system')!r})"
        )
    try:
        cfg = FewShotMetaConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: no valid classifier config: {exc}") from exc
    expected = init_classifier(cfg)
    params = {}
    for name, ref in expected.items():
        value = tensors.get(f"param.{name}")
        if value is None or value.shape != ref.shape:
            raise CheckpointFormatError(
                f"{path}: tensor {name} missing or not of shape {tuple(ref.shape)}"
            )
        params[name] = value
    return params, cfg, info


def restore_optimizer(
    path: str | os.PathLike, params: dict[str, torch.Tensor], optimizer: torch.optim.Adam
) -> None:
    """Load Adam's moments saved by :func:`save_classifier` into ``optimizer``."""
    tensors, _ = load_tensors(path)
    for name, p in params.items():
        key = f"adam.exp_avg.{name}"
        if key not in tensors:
            raise CheckpointFormatError(f"{path}: no optimizer state for {name}")
        optimizer.state[p] = {
            "step": tensors[f"adam.step.{name}"].reshape(()).clone(),
            "exp_avg": tensors[key].clone(),
            "exp_avg_sq": tensors[f"adam.exp_avg_sq.{name}"].clone(),
        }
