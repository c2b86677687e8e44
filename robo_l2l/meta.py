r"""Learning-to-learn: the outer step that meta-trains the controller's initial weights.

Each meta-iteration samples a batch of tasks, runs the whole inner loop
(:func:`robo_l2l.inner_loop.inner_loop`: training trial, generator, e-prop update written to the
devices, test trial) and backpropagates the test-trial loss

.. math:: \mathcal L = \tfrac12 \mathrm{MSE}(\omega) + \tfrac12 \mathrm{MSE}(FK) + \mathcal L_{rate}

through all of it to the initial weights (straight-through for clipping and quantisation; device
noise is not differentiated), then takes an Adam step (Ortner et al. 2025: Adam 1.5e-3,
x0.99 every 500 iterations). ``hardware`` regime: the run's PCM deployment is in the loop,
each task read at its own device age when the config gives an age range; ``software``: ideal
weights (and no quantisation); ``agnostic``: generic perturbations without a PCM model
(:meth:`robo_l2l.pcm.PCMConfig.generic`). The last two meet the PCM model at evaluation only.

Every random draw of iteration ``i`` comes from generators seeded by ``(seed, i)`` and, with
``draws="task"`` (the default), the task's index in the batch, so a run resumed from a
checkpoint ends with exactly the weights of an uninterrupted one, and a batch split over
``torchrun`` processes (:mod:`robo_l2l.distributed`) gives the weights of one process.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from robo_l2l.config import MetaConfig
from robo_l2l.deployment import sample_ages
from robo_l2l.distributed import Shard
from robo_l2l.functional.draws import PerTask
from robo_l2l.inner_loop import InnerLoopResult, InnerRule, inner_loop
from robo_l2l.losses import tip_mse
from robo_l2l.parameters import controller
from robo_l2l.pcm import PCMConfig
from robo_l2l.tasks import Trajectories, sample_trajectories


def training_deployment(cfg: MetaConfig) -> PCMConfig:
    """The deployment in the loop: the run's when hardware-aware, generic perturbations when
    agnostic, ideal weights when software-only."""
    if cfg.regime == "hardware":
        return cfg.deployment
    if cfg.regime == "agnostic":
        return PCMConfig.generic(cfg.agnostic_weight_noise, cfg.deployment.update_levels)
    return PCMConfig.ideal_weights()


def inner_rule(cfg: MetaConfig) -> InnerRule:
    return InnerRule(cfg.rule, cfg.k_updates, cfg.inner_lr)


def iteration_generators(
    cfg: MetaConfig, iteration: int
) -> tuple[torch.Generator, torch.Generator]:
    """(task generator on CPU, device-noise generator) of meta-iteration ``iteration``."""
    base = (cfg.seed + 1) * 1_000_000_007 + iteration * 2
    tasks = torch.Generator().manual_seed(base)
    noise = torch.Generator(device=cfg.device).manual_seed(base + 1)
    return tasks, noise


def task_generators(
    cfg: MetaConfig, iteration: int, index: int
) -> tuple[torch.Generator, torch.Generator]:
    """(trajectory generator on CPU, device-noise generator) of task ``index`` of iteration
    ``iteration`` (``draws="task"``): keyed by the task alone, whatever the batch split."""
    base = (((cfg.seed + 1) * 1_000_000_007 + iteration) * 1_000_003 + index) * 2
    base %= 2**62
    tasks = torch.Generator().manual_seed(base)
    noise = torch.Generator(device=cfg.device).manual_seed(base + 1)
    return tasks, noise


def draw_batch(
    cfg: MetaConfig, iteration: int, shard: Shard | None = None
) -> tuple[Trajectories, torch.Generator | PerTask]:
    """The tasks of this process (all of them on one process) and their noise generator(s)."""
    shard = shard or Shard(batch_size=cfg.batch_size)
    if cfg.draws == "batch":
        if shard.distributed:
            raise ValueError("draws='batch' cannot be split over processes; use draws='task'")
        task_gen, noise_gen = iteration_generators(cfg, iteration)
        return sample_trajectories(cfg.batch_size, task_gen).to(cfg.device), noise_gen
    pairs = [task_generators(cfg, iteration, i) for i in shard.indices]
    parts = [sample_trajectories(1, task_gen) for task_gen, _ in pairs]
    tasks = Trajectories(
        *(torch.cat([getattr(t, f) for t in parts]) for f in ("omega", "q", "xyz"))
    )
    return tasks.to(cfg.device), PerTask([noise for _, noise in pairs])


def age_generator(cfg: MetaConfig, iteration: int, index: int) -> torch.Generator:
    """The generator of task ``index``'s device age at iteration ``iteration`` (CPU), its own
    stream beside :func:`task_generators`'."""
    base = (((cfg.seed + 1) * 1_000_000_007 + iteration) * 1_000_003 + index) * 2
    return torch.Generator().manual_seed((base + 2**61 + 1) % 2**62)


def draw_ages(cfg: MetaConfig, iteration: int, shard: Shard | None = None) -> torch.Tensor | None:
    """Device ages (s) of this process's tasks, log-uniform over ``cfg.age_range`` and keyed by
    (seed, iteration, task index); ``None`` when the run trains at one age."""
    if cfg.age_range is None:
        return None
    shard = shard or Shard(batch_size=cfg.batch_size)
    low, high = cfg.age_range
    return torch.cat(
        [sample_ages(1, low, high, age_generator(cfg, iteration, i)) for i in shard.indices]
    )


def outer_lr(cfg: MetaConfig, iteration: int) -> float:
    """Step schedule: ``lr * lr_decay ** (iteration // lr_decay_every)``."""
    return cfg.lr * cfg.lr_decay ** (iteration // cfg.lr_decay_every)


class StepResult(NamedTuple):
    loss: float  #: meta-loss (task loss after the update + regularisers)
    loss_before: float  #: task loss of the training trial
    loss_after: float  #: task loss of the test trial
    rate_hz: float  #: trainee's mean firing rate (Hz)
    devices_written: float  #: per task, all updates
    grad_norm: float


def meta_loss(
    params: dict[str, torch.Tensor], cfg: MetaConfig, iteration: int, shard: Shard | None = None
) -> tuple[torch.Tensor, InnerLoopResult]:
    """This process's part of the meta-loss (the whole of it on one process): summed over the
    ranks, the value and the gradient are those of the whole batch (see
    :mod:`robo_l2l.distributed`)."""
    shard = shard or Shard(batch_size=cfg.batch_size)
    tasks, noise = draw_batch(cfg, iteration, shard)
    pooled = cfg.draws == "task"
    result = inner_loop(
        controller(params),
        tasks,
        inner_rule(cfg),
        training_deployment(cfg),
        noise,
        task_mean=shard.task_mean if pooled else None,
        ages=draw_ages(cfg, iteration, shard),
    )
    tip = tip_mse(result.after.output, tasks) if cfg.tip_weight > 0 else None
    if not pooled:  # as runs before draws="task" computed it (bit for bit)
        loss = result.loss_after.mean() + result.regularizer
        if cfg.write_cost > 0:
            loss = loss + cfg.write_cost * result.update_levels.mean()
        if tip is not None:
            loss = loss + cfg.tip_weight * tip.mean()
        return loss, result
    loss = result.loss_after.sum() / cfg.batch_size + result.regularizer / shard.world_size
    if cfg.write_cost > 0:
        loss = loss + cfg.write_cost * result.update_levels.sum() / cfg.batch_size
    if tip is not None:
        loss = loss + cfg.tip_weight * tip.sum() / cfg.batch_size
    return loss, result


def meta_step(
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    cfg: MetaConfig,
    iteration: int,
    shard: Shard | None = None,
) -> StepResult:
    """One outer Adam step on meta-iteration ``iteration`` (every rank takes the same one)."""
    shard = shard or Shard(batch_size=cfg.batch_size)
    for group in optimizer.param_groups:
        group["lr"] = outer_lr(cfg, iteration)
    optimizer.zero_grad(set_to_none=True)
    loss, r = meta_loss(params, cfg, iteration, shard)
    # every rank learns whether any rank's loss is not finite, so all stop together
    (loss_value, bad) = shard.sum_values([loss.item(), float(not torch.isfinite(loss))])
    if bad:
        raise FloatingPointError(f"meta-loss is {loss_value} at iteration {iteration}")
    loss.backward()
    shard.sum_gradients(list(params.values()))
    grads = [p.grad for p in params.values() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if not torch.isfinite(norm):
        raise FloatingPointError(f"meta-gradient is not finite at iteration {iteration}")
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
    optimizer.step()
    if not shard.distributed:
        return StepResult(
            loss=loss_value,
            loss_before=r.loss_before.mean().item(),
            loss_after=r.loss_after.mean().item(),
            rate_hz=r.after.spikes.mean().item() * 1000.0,
            devices_written=r.devices_written.sum(0).double().mean().item(),
            grad_norm=norm.item(),
        )
    sums = shard.sum_values(
        [
            r.loss_before.sum().item(),
            r.loss_after.sum().item(),
            r.after.spikes.mean((1, 2)).sum().item(),
            r.devices_written.sum(0).double().sum().item(),
        ]
    )
    n = cfg.batch_size
    return StepResult(
        loss=loss_value,
        loss_before=sums[0] / n,
        loss_after=sums[1] / n,
        rate_hz=sums[2] / n * 1000.0,
        devices_written=sums[3] / n,
        grad_norm=norm.item(),
    )


def make_optimizer(params: dict[str, torch.Tensor], cfg: MetaConfig) -> torch.optim.Adam:
    return torch.optim.Adam(list(params.values()), lr=cfg.lr)
