"""Meta-training configuration of the few-shot classifier (saved in every checkpoint).

Field docstrings are the ``--help`` of ``scripts/fewshot_train.py``
(:func:`robo_l2l.config.field_docs`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any

from robo_l2l.fewshot.maml import ClassifierPCM, InnerLoopConfig, ideal_pcm, reference_pcm

REGIMES = ("hardware", "software")
SYSTEM = "fewshot"
"""The ``system`` marker in a classifier checkpoint's metadata (the robot's is ``robot``)."""


@dataclass(frozen=True)
class FewShotConfig:
    """Everything that defines a meta-training run of the few-shot classifier."""

    regime: str = "hardware"
    """hardware: the classifier's PCM model in the loop (straight-through); software: ideal
    weights (deployed on PCM only at evaluation)."""
    way: int = 5
    """Classes per episode (N)."""
    shot: int = 5
    """Support images per class (K) in meta-training."""
    query: int = 5
    """Query images per class (Q) in meta-training (distinct drawings)."""
    batch_size: int = 32
    """Episodes (tasks) per meta-iteration."""
    iterations: int = 2000
    """Meta-iterations (outer Adam steps)."""
    lr: float = 1e-3
    """Outer Adam learning rate (betas 0.9/0.999, eps 1e-7, as Keras and the reference)."""
    inner_updates: int = 4
    """Readout updates per episode."""
    inner_lr: float = 0.1
    """Inner learning rate (SGD on the readout)."""
    first_order: bool = False
    """First-order MAML (do not differentiate through the inner gradients)."""
    per_task_bn: bool = True
    """Batch statistics per task (as at evaluation with one episode per call) instead of
    pooled over the meta-batch (the reference's training)."""
    channels: int = 56
    """Channels of each convolution block."""
    t_inference_s: float = 32.0
    """Device age (s after programming) in the loop and the run's default deployment."""
    seed: int = 0
    """Seed of the initial weights, the episodes and the device noise."""
    validate_every: int = 50
    """Iterations between validations (and checkpoints)."""
    val_episodes: int = 200
    """Validation episodes (fixed set from the validation split, way-way shot-shot)."""
    threads: int = 1
    """torch CPU threads."""
    init: str = ""
    """Start from this classifier's weights (a run folder or classifier file of ours, or the
    authors' pickle) instead of Glorot-random ones: a fine-tune, e.g. hardware-aware training
    of a software-trained classifier. Empty: random weights from the seed."""
    shift_px: int = 0
    """Meta-training augmentation: shift every training image by up to this many pixels along
    each axis, background-filled (not the reference's; :mod:`robo_l2l.fewshot.augment`). 0: off."""

    def __post_init__(self) -> None:
        checks = [
            (self.regime in REGIMES, f"unknown regime {self.regime!r}; choose one of {REGIMES}"),
            (self.way >= 2, f"way must be >= 2, got {self.way}"),
            (self.shot >= 1, f"shot must be >= 1, got {self.shot}"),
            (self.query >= 1, f"query must be >= 1, got {self.query}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.iterations >= 1, f"iterations must be >= 1, got {self.iterations}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.inner_updates >= 1, f"inner_updates must be >= 1, got {self.inner_updates}"),
            (self.inner_lr > 0, f"inner_lr must be > 0, got {self.inner_lr}"),
            (self.channels >= 1, f"channels must be >= 1, got {self.channels}"),
            (self.t_inference_s > 0, f"t_inference_s must be > 0 s, got {self.t_inference_s}"),
            (self.validate_every >= 1, f"validate_every must be >= 1, got {self.validate_every}"),
            (self.val_episodes >= 1, f"val_episodes must be >= 1, got {self.val_episodes}"),
            (self.threads >= 1, f"threads must be >= 1, got {self.threads}"),
            (0 <= self.shift_px < 28, f"shift_px must be in 0..27 pixels, got {self.shift_px}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def inner(self, track_steps: bool = False) -> InnerLoopConfig:
        return InnerLoopConfig(
            updates=self.inner_updates,
            lr=self.inner_lr,
            second_order=not self.first_order,
            per_task_bn=self.per_task_bn,
            track_steps=track_steps,
        )

    def training_pcm(self) -> ClassifierPCM:
        """The device model in the meta-training loop (ideal in the software regime)."""
        return reference_pcm(self.t_inference_s) if self.regime == "hardware" else ideal_pcm()

    def deployment_pcm(self) -> ClassifierPCM:
        """The run's default PCM deployment (its device age), for either regime."""
        return reference_pcm(self.t_inference_s)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(values: dict[str, Any]) -> FewShotConfig:
        known = {f.name for f in fields(FewShotConfig)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        return FewShotConfig(**values)
