r"""Meta-parameters: their random initialisation and their map to the controller's weights.

What is meta-learned: natural rule, the trainee's W_in, W_rec, W_out and the generator's weights
(the paper); readout rule, the trainee's weights and the inner learning rate (one scalar or one
per readout synapse, as ``log`` so that it stays positive).
"""

from __future__ import annotations

import math

import torch

from robo_l2l.config import MetaConfig
from robo_l2l.controller import N_LSG_IN, N_OUT, ControllerWeights
from robo_l2l.network import KAPPA, N_GENERATOR, N_TRAINEE
from robo_l2l.tasks import N_CLOCK

#: Seed of the "random init" baseline of the evaluation protocol (no learning-to-learn).
RANDOM_INIT_SEED = 987_654


def _init(n_in: int, n_out: int, generator: torch.Generator, gain: float = 1.0) -> torch.Tensor:
    """:math:`\\mathcal N(0, 1) / \\sqrt{n_{in}}` (times ``gain``)."""
    w = torch.randn(n_in, n_out, generator=generator, device=generator.device)
    return w * (gain / math.sqrt(n_in))


def parameter_shapes(cfg: MetaConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every meta-parameter of ``cfg.rule`` (what a checkpoint must hold)."""
    shapes: dict[str, tuple[int, ...]] = {
        "w_in": (N_CLOCK, N_TRAINEE),
        "w_rec": (N_TRAINEE, N_TRAINEE),
        "w_out": (N_TRAINEE, N_OUT),
    }
    if cfg.rule == "natural":
        shapes |= {
            "lsg_w_in": (N_LSG_IN, N_GENERATOR),
            "lsg_w_rec": (N_GENERATOR, N_GENERATOR),
            "lsg_w_out": (N_GENERATOR, N_TRAINEE),
        }
    else:
        shapes["log_readout_lr"] = () if cfg.readout_lr_mode == "scalar" else (N_TRAINEE, N_OUT)
    return shapes


def init_params(
    cfg: MetaConfig, generator: torch.Generator | None = None, device: str | None = None
) -> dict[str, torch.Tensor]:
    """Random initial parameters (leaf tensors with ``requires_grad``) for ``cfg.rule``.

    Drawn on the CPU from ``generator`` (default: seeded by ``cfg.seed``), then moved to
    ``device`` (default ``cfg.device``), so the values do not depend on the device.
    """
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
        shape = parameter_shapes(cfg)["log_readout_lr"]
        params["log_readout_lr"] = torch.full(shape, math.log(cfg.inner_lr))
    target = torch.device(device or cfg.device)
    return {k: v.to(target).requires_grad_() for k, v in params.items()}


def init_controller(generator: torch.Generator, natural: bool = True) -> ControllerWeights:
    """Random controller weights (no gradients) of the paper's shapes."""
    cfg = MetaConfig(rule="natural" if natural else "readout")
    return controller(init_params(cfg, generator), detach=True)


def random_controller(cfg: MetaConfig, device: str | None = None) -> ControllerWeights:
    """The evaluation's baseline: random initial weights of ``cfg``'s rule (fixed seed)."""
    generator = torch.Generator().manual_seed(RANDOM_INIT_SEED)
    return controller(init_params(cfg, generator, device), detach=True)


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
