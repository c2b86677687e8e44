"""The controller's weights: the trainee (on PCM) and the learning-signal generator (off-chip)."""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from robo_l2l.network import N_GENERATOR, N_TRAINEE
from robo_l2l.reference_checkpoint import load_reference_checkpoint
from robo_l2l.tasks import N_BITS, N_CLOCK

N_OUT = 2  #: angular velocities of base and shoulder
N_LSG_IN = N_CLOCK + 3 * N_BITS


class ControllerWeights(NamedTuple):
    """Initial (meta-learned) weights; generator weights only for the natural rule."""

    w_in: torch.Tensor  #: (5, 250)
    w_rec: torch.Tensor  #: (250, 250)
    w_out: torch.Tensor  #: (250, 2)
    lsg_w_in: torch.Tensor | None = None  #: (53, 800)
    lsg_w_rec: torch.Tensor | None = None  #: (800, 800)
    lsg_w_out: torch.Tensor | None = None  #: (800, 250)
    readout_lr: torch.Tensor | None = None  #: () or (250, 2): meta-learned readout learning rate

    def to(self, device: str | torch.device) -> ControllerWeights:
        """The same weights on ``device``."""
        return ControllerWeights(*(None if x is None else x.to(device) for x in self))

    def check(self, rule_kind: str) -> None:
        """Raise ``ValueError`` naming the first weight of the wrong shape or with NaN."""
        expected = {
            "w_in": (N_CLOCK, N_TRAINEE),
            "w_rec": (N_TRAINEE, N_TRAINEE),
            "w_out": (N_TRAINEE, N_OUT),
        }
        if rule_kind == "natural":
            expected |= {
                "lsg_w_in": (N_LSG_IN, N_GENERATOR),
                "lsg_w_rec": (N_GENERATOR, N_GENERATOR),
                "lsg_w_out": (N_GENERATOR, N_TRAINEE),
            }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is None:
                raise ValueError(f"the {rule_kind} rule needs {name} {shape}, got None")
            if tuple(value.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise ValueError(f"{name} contains NaN or inf")
        if self.readout_lr is not None and self.readout_lr.shape not in ((), (N_TRAINEE, N_OUT)):
            raise ValueError(
                f"readout_lr must be a scalar or (250, 2), got {tuple(self.readout_lr.shape)}"
            )


def controller_from_reference(path: str | os.PathLike) -> ControllerWeights:
    """The authors' published weights (see :func:`load_reference_checkpoint`) as float32 tensors."""
    c = {k: torch.from_numpy(v) for k, v in load_reference_checkpoint(path).items()}
    return ControllerWeights(
        c["W_in_trainee"],
        c["W_rec_trainee"],
        c["W_out_trainee"],
        c["W_in_lsg"],
        c["W_rec_lsg"],
        c["W_out_lsg"],
    )
