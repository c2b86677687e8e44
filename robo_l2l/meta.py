r"""Learning-to-learn: the outer loop that meta-trains the controller's initial weights.

Each meta-iteration samples a batch of tasks, runs the whole inner loop
(:func:`robo_l2l.inner_loop.inner_loop`: training trial, generator, e-prop update written to the
devices, test trial) and backpropagates the test-trial loss

.. math:: \mathcal L = \tfrac12 \mathrm{MSE}(\omega) + \tfrac12 \mathrm{MSE}(FK) + \mathcal L_{rate}

through all of it to the initial weights (straight-through for clipping and quantisation; device
noise is not differentiated), then takes an Adam step (Ortner et al. 2025: Adam 1.5e-3,
x0.99 every 500 iterations). ``hardware`` regime: the PCM model is in the loop;
``software``: ideal weights (and no quantisation), deployed on PCM only at evaluation.

What is meta-learned: natural rule, the trainee's W_in, W_rec, W_out and the generator's
weights (the paper); readout rule, the trainee's weights and the inner learning rate (one
scalar or one per readout synapse, as ``log`` so that it stays positive).

Every random draw of iteration ``i`` comes from generators seeded by ``(seed, i)``, so a run
resumed from a checkpoint ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from robo_l2l.config import MetaConfig
from robo_l2l.controller import N_LSG_IN, N_OUT, ControllerWeights
from robo_l2l.inner_loop import InnerLoopResult, InnerRule, inner_loop
from robo_l2l.network import KAPPA, N_GENERATOR, N_TRAINEE
from robo_l2l.pcm import PCMConfig
from robo_l2l.tasks import N_CLOCK, sample_trajectories

TRAINEE_NAMES = ("w_in", "w_rec", "w_out")
GENERATOR_NAMES = ("lsg_w_in", "lsg_w_rec", "lsg_w_out")


def _init(n_in: int, n_out: int, generator: torch.Generator, gain: float = 1.0) -> torch.Tensor:
    """:math:`\\mathcal N(0, 1) / \\sqrt{n_{in}}` (times ``gain``)."""
    w = torch.randn(n_in, n_out, generator=generator, device=generator.device)
    return w * (gain / math.sqrt(n_in))


def init_params(
    cfg: MetaConfig, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Random initial parameters (leaf tensors with ``requires_grad``) for ``cfg.rule``."""
    if generator is None:
        generator = torch.Generator().manual_seed(cfg.seed)
    params = {
        "w_in": _init(N_CLOCK, N_TRAINEE, generator),
        "w_rec": _init(N_TRAINEE, N_TRAINEE, generator),
        "w_out": _init(N_TRAINEE, N_OUT, generator, 1.0 - KAPPA),
    }
    if cfg.rule == "natural":
        params |= {
            "lsg_w_in": _init(N_LSG_IN, N_GENERATOR, generator),
            "lsg_w_rec": _init(N_GENERATOR, N_GENERATOR, generator),
            "lsg_w_out": _init(N_GENERATOR, N_TRAINEE, generator),
        }
    else:
        shape = () if cfg.readout_lr_mode == "scalar" else (N_TRAINEE, N_OUT)
        params["log_readout_lr"] = torch.full(shape, math.log(cfg.inner_lr))
    device = torch.device(cfg.device)
    return {k: v.to(device).requires_grad_() for k, v in params.items()}


def init_controller(generator: torch.Generator, natural: bool = True) -> ControllerWeights:
    """Random controller weights (no gradients) of the paper's shapes."""
    cfg = MetaConfig(rule="natural" if natural else "readout")
    return controller(init_params(cfg, generator), detach=True)


def controller(params: dict[str, torch.Tensor], detach: bool = False) -> ControllerWeights:
    """Map meta-parameters to the inner loop's weights (``exp`` of the log learning rate)."""
    p = {k: (v.detach() if detach else v) for k, v in params.items()}
    lr = p.get("log_readout_lr")
    return ControllerWeights(
        p["w_in"],
        p["w_rec"],
        p["w_out"],
        p.get("lsg_w_in"),
        p.get("lsg_w_rec"),
        p.get("lsg_w_out"),
        None if lr is None else torch.exp(lr),
    )


def pcm_deployment(cfg: MetaConfig) -> PCMConfig:
    """The PCM model of this run (used in the loop when hardware-aware, and for evaluation)."""
    return PCMConfig.reference() if cfg.pcm_arithmetic == "reference" else PCMConfig()


def training_deployment(cfg: MetaConfig) -> PCMConfig:
    return pcm_deployment(cfg) if cfg.regime == "hardware" else PCMConfig.ideal_weights()


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
    params: dict[str, torch.Tensor], cfg: MetaConfig, iteration: int
) -> tuple[torch.Tensor, InnerLoopResult]:
    task_gen, noise_gen = iteration_generators(cfg, iteration)
    tasks = sample_trajectories(cfg.batch_size, task_gen).to(cfg.device)
    result = inner_loop(
        controller(params), tasks, inner_rule(cfg), training_deployment(cfg), noise_gen
    )
    loss = result.loss_after.mean() + result.regularizer
    if cfg.write_cost > 0:
        loss = loss + cfg.write_cost * result.update_levels.mean()
    return loss, result


def meta_step(
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    cfg: MetaConfig,
    iteration: int,
) -> StepResult:
    """One outer Adam step on meta-iteration ``iteration``."""
    for group in optimizer.param_groups:
        group["lr"] = outer_lr(cfg, iteration)
    optimizer.zero_grad(set_to_none=True)
    loss, r = meta_loss(params, cfg, iteration)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"meta-loss is {loss.item()} at iteration {iteration}")
    loss.backward()
    grads = [p.grad for p in params.values() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if not torch.isfinite(norm):
        raise FloatingPointError(f"meta-gradient is not finite at iteration {iteration}")
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
    optimizer.step()
    return StepResult(
        loss=loss.item(),
        loss_before=r.loss_before.mean().item(),
        loss_after=r.loss_after.mean().item(),
        rate_hz=r.after.spikes.mean().item() * 1000.0,
        devices_written=r.devices_written.sum(0).double().mean().item(),
        grad_norm=norm.item(),
    )


def make_optimizer(params: dict[str, torch.Tensor], cfg: MetaConfig) -> torch.optim.Adam:
    return torch.optim.Adam(list(params.values()), lr=cfg.lr)


def optimizer_tensors(
    params: dict[str, torch.Tensor], optimizer: torch.optim.Adam
) -> tuple[dict[str, torch.Tensor], int]:
    """Adam's moments as named tensors, and its step count."""
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
    for name, p in params.items():
        key = f"adam.exp_avg.{name}"
        if key not in tensors:
            continue
        optimizer.state[p] = {
            "step": torch.tensor(float(step)),
            "exp_avg": tensors[key].to(p.device).clone(),
            "exp_avg_sq": tensors[f"adam.exp_avg_sq.{name}"].to(p.device).clone(),
        }


def load_controller(path) -> tuple[ControllerWeights, MetaConfig, dict]:
    """Read ``controller.safetensors`` (or a training state) written by ``scripts/train.py``.

    Returns the weights, the run's config and the file's metadata (iteration, validation).
    Raises ``FileNotFoundError`` or :class:`~robo_l2l.checkpoint.CheckpointFormatError` when the
    file is missing, corrupt, or does not match the current code's shapes.
    """
    from robo_l2l.checkpoint import CheckpointFormatError, load_tensors

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
    expected = init_params(cfg, torch.Generator().manual_seed(0))
    params = {}
    for name, ref in expected.items():
        value = tensors.get(f"param.{name}")
        if value is None or value.shape != ref.shape:
            raise CheckpointFormatError(
                f"{path}: parameter {name} missing or of the wrong shape for a {cfg.rule} "
                f"controller (expected {tuple(ref.shape)})"
            )
        params[name] = value
    weights = controller(params, detach=True)
    try:
        weights.check(cfg.rule)
    except ValueError as exc:
        raise CheckpointFormatError(f"{path}: {exc}") from exc
    return weights, cfg, info
