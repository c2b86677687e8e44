"""Held-out evaluation of an inner rule: losses before/after the on-chip update(s), devices."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from robo_l2l import device_cost
from robo_l2l.controller import ControllerWeights
from robo_l2l.deployment import sample_ages
from robo_l2l.families import sample_family
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.pcm import PCMConfig


@dataclass
class BatchStats:
    """Per-batch means (task loss excludes the rate regularisers)."""

    loss_before: list[float] = field(default_factory=list)
    loss_after: list[float] = field(default_factory=list)
    losses_per_update: list[list[float]] = field(default_factory=list)  #: [batch][k]
    devices_written: list[float] = field(default_factory=list)  #: per task, all updates
    device_cost: list[dict[str, float]] = field(default_factory=list)  #: per batch, per task
    #: means (:func:`robo_l2l.device_cost.of_inner_loop`)
    n_tasks: int = 0

    @staticmethod
    def _mean_std(values: list[float]) -> tuple[float, float]:
        t = torch.tensor(values, dtype=torch.float64)
        return t.mean().item(), (t.std().item() if len(values) > 1 else 0.0)

    def summary(self) -> dict[str, float]:
        before, before_std = self._mean_std(self.loss_before)
        after, after_std = self._mean_std(self.loss_after)
        devices, _ = self._mean_std(self.devices_written)
        return {
            "loss_before_mean": before,
            "loss_before_std": before_std,
            "loss_after_mean": after,
            "loss_after_std": after_std,
            "devices_written_mean": devices,
            "n_tasks": self.n_tasks,
        }


def task_seed(seed: int, batch: int) -> int:
    """Seed of held-out task batch ``batch`` (independent of any training stream)."""
    return 1_000_003 * (seed + 1) + batch


@torch.no_grad()
def evaluate(
    weights: ControllerWeights,
    rule: InnerRule,
    pcm: PCMConfig,
    n_batches: int,
    batch_size: int,
    seed: int,
    family: str = "brownian",
    age_range: tuple[float, float] | None = None,
) -> BatchStats:
    """Run the inner loop on ``n_batches`` fresh batches of tasks of ``family`` (seeded by
    ``seed``; :mod:`robo_l2l.families`), read at ``pcm.t_inference_s`` or, given
    ``age_range`` (s), each task at its own log-uniform age (drawn after its batch's tasks)."""
    if n_batches < 1 or batch_size < 1:
        raise ValueError(f"need n_batches >= 1 and batch_size >= 1, got {n_batches}, {batch_size}")
    stats = BatchStats()
    device = weights.w_in.device
    noise = torch.Generator(device=device).manual_seed(seed)
    for b in range(n_batches):
        generator = torch.Generator().manual_seed(task_seed(seed, b))
        tasks = sample_family(family, batch_size, generator)
        ages = None if age_range is None else sample_ages(batch_size, *age_range, generator)
        r = inner_loop(weights, tasks, rule, pcm, noise, ages=ages)
        stats.loss_before.append(r.loss_before.mean().item())
        stats.loss_after.append(r.loss_after.mean().item())
        stats.losses_per_update.append(r.losses.mean(1).tolist())
        stats.devices_written.append(r.devices_written.sum(0).double().mean().item())
        stats.device_cost.append(device_cost.of_inner_loop(r, rule.kind, rule.k_updates))
        stats.n_tasks += batch_size
    return stats
