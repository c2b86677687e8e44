r"""Meta-training runs of the few-shot classifier: MAML's outer loop with validation.

Runs are configured by :class:`~robo_l2l.fewshot.config.FewShotConfig`: batch statistics per
task (as at evaluation) by default, no rotation of the episodes (the meta-training split already
holds every rotation as a class), optionally a random shift of every training image
(``shift_px``, :mod:`robo_l2l.fewshot.augment`), a device age, and a fixed validation set.

Each meta-iteration samples ``batch_size`` episodes from the meta-training classes, adapts
every task's readout on its support set (:func:`robo_l2l.fewshot.maml.inner_loop`: ideal
weights in the ``software`` regime; in the ``hardware`` regime all five tensors deployed on the
classifier's PCM model, clips and quantisers straight-through, noise not differentiated) and
takes an Adam step on the mean query loss after the last update,

.. math::
    \theta \leftarrow \mathrm{Adam}\Big(\nabla_\theta \tfrac{1}{B}\sum_b
    \mathcal L^{query}_b\big(\theta_{conv}, W_b^{(U)}(\theta)\big)\Big),

second order through the inner gradients unless ``first_order``. Adam as Keras (the
reference): lr 1e-3, betas 0.9/0.999, eps 1e-7.

Every random draw of iteration ``i`` comes from generators seeded by ``(seed, i)`` (episodes:
numpy, device noise: torch), so a run resumed from a checkpoint ends with exactly the weights of
an uninterrupted one. Validation uses one fixed episode set keyed by the seed alone.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from robo_l2l.fewshot import cnn
from robo_l2l.fewshot.augment import translate
from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.fewshot.evaluate import EvaluationResult, evaluate
from robo_l2l.fewshot.maml import inner_loop
from robo_l2l.fewshot.sampler import sample_episodes
from robo_l2l.fewshot.splits import CharacterSet

TRAIN_STREAM, VALIDATION_STREAM, AUGMENT_STREAM = 0, 1, 2


def iteration_generators(
    seed: int, iteration: int, stream: int = TRAIN_STREAM
) -> tuple[np.random.Generator, torch.Generator]:
    """(episode rng, device-noise generator) keyed by ``(seed, iteration, stream)``."""
    episodes_ss, noise_ss = np.random.SeedSequence([seed, iteration, stream]).spawn(2)
    noise_seed = int(noise_ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
    return np.random.default_rng(episodes_ss), torch.Generator().manual_seed(noise_seed)


def init_params(cfg: FewShotConfig) -> dict[str, torch.Tensor]:
    """Glorot-uniform initial weights from ``cfg.seed`` (leaf tensors with gradients)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    params = cnn.init_params(generator, channels=cfg.channels, way=cfg.way)
    return {k: v.requires_grad_() for k, v in params.items()}


def training_episodes(train: CharacterSet, cfg: FewShotConfig, iteration: int) -> Episodes:
    """The meta-batch of iteration ``iteration`` (distinct classes and drawings).

    With ``cfg.shift_px`` > 0 every image is then translated (:func:`augment.translate`) with
    offsets from a third stream keyed by ``(seed, iteration)``: the classes and drawings are
    those of the same run without the augmentation.
    """
    rng, _ = iteration_generators(cfg.seed, iteration)
    episodes = sample_episodes(train.images, cfg.way, cfg.shot, cfg.query, cfg.batch_size, rng)
    if cfg.shift_px == 0:
        return episodes
    shift_rng, _ = iteration_generators(cfg.seed, iteration, AUGMENT_STREAM)
    return episodes._replace(
        support_images=translate(episodes.support_images, cfg.shift_px, shift_rng),
        query_images=translate(episodes.query_images, cfg.shift_px, shift_rng),
    )


def validation_episodes(validation: CharacterSet, cfg: FewShotConfig) -> Episodes:
    """The fixed validation set: ``val_episodes`` episodes, way-way shot-shot, one per call."""
    rng, _ = iteration_generators(cfg.seed, 0, VALIDATION_STREAM)
    return sample_episodes(validation.images, cfg.way, cfg.shot, cfg.query, cfg.val_episodes, rng)


def make_optimizer(params: dict[str, torch.Tensor], cfg: FewShotConfig) -> torch.optim.Adam:
    """Adam as Keras, the reference's optimiser (lr ``cfg.lr``, betas 0.9/0.999, eps 1e-7)."""
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
    train: CharacterSet,
    cfg: FewShotConfig,
    iteration: int,
) -> StepResult:
    """One outer Adam step on meta-iteration ``iteration``."""
    episodes = training_episodes(train, cfg, iteration)
    _, noise = iteration_generators(cfg.seed, iteration)
    optimizer.zero_grad(set_to_none=True)
    r = inner_loop(params, episodes, cfg.inner(), cfg.training_pcm(), noise)
    if not torch.isfinite(r.query_loss):
        raise FloatingPointError(f"meta-loss is {r.query_loss.item()} at iteration {iteration}")
    r.query_loss.backward()
    grads = [p.grad for p in params.values() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if not torch.isfinite(norm):
        raise FloatingPointError(f"meta-gradient is not finite at iteration {iteration}")
    optimizer.step()
    return StepResult(
        loss=r.query_loss.item(),
        accuracy=r.query_acc.item(),
        devices_written=r.devices_written.sum(0).double().mean().item(),
        grad_norm=norm.item(),
    )


def validate(
    params: dict[str, torch.Tensor], episodes: Episodes, cfg: FewShotConfig
) -> EvaluationResult:
    """Adapt on each validation episode in the regime's deployment (fixed noise seed)."""
    detached = {k: v.detach() for k, v in params.items()}
    pcm = cfg.deployment_pcm() if cfg.regime == "hardware" else None
    return evaluate(detached, episodes, cfg.inner(), pcm, seed=cfg.seed)
