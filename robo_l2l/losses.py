r"""Task loss and firing-rate regulariser (Ortner et al. 2025).

.. math::
    \mathcal L_{task} = \tfrac12 \mathrm{MSE}(\omega^{out}, \omega^*) +
    \tfrac12 \mathrm{MSE}(FK(q^{out}), x^*), \qquad q^{out}_t = 0.01 \sum_{s\le t} \omega^{out}_s

(angles in rad, positions in m, the network's joint angles unclipped), and

.. math:: \mathcal L_{rate} = c \sum_j (\bar z_j - f^*)^2

with :math:`\bar z_j` the mean spike count per 1-ms step of neuron j over tasks and time,
:math:`f^*` = 0.020 (20 Hz) for the trainee, 0.010 for the generator, :math:`c = 0.25`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from robo_l2l.functional.kinematics import scorbot_fk_moving
from robo_l2l.tasks import Trajectories, integrate_omega

TRAINEE_RATE_HZ = 20.0
GENERATOR_RATE_HZ = 10.0
RATE_WEIGHT = 0.25


def tip_mse(omega_out: torch.Tensor, target: Trajectories) -> torch.Tensor:
    """Per-task MSE ``(B,)`` of the tool tip (m^2): the network's angular velocities
    ``omega_out (B, T, 2)`` integrated to joint angles (:math:`q_t = 0.01 \\sum_{s \\le t}
    \\omega_s`, unclipped) and mapped through the differentiable kinematics, against the
    target path."""
    if omega_out.shape != target.omega.shape:
        raise ValueError(
            f"network output {tuple(omega_out.shape)} does not match the targets "
            f"{tuple(target.omega.shape)}"
        )
    xyz = scorbot_fk_moving(integrate_omega(omega_out, clip=False))
    return ((xyz - target.xyz) ** 2).mean((1, 2))


def task_loss(omega_out: torch.Tensor, target: Trajectories) -> torch.Tensor:
    """Per-task loss ``(B,)`` of angular velocities ``omega_out (B, T, 2)`` (rad/s), the
    reference's: :math:`\\tfrac12 \\mathrm{MSE}(\\omega) + \\tfrac12 \\mathrm{MSE}(FK)`."""
    mse_xyz = tip_mse(omega_out, target)
    mse_omega = ((omega_out - target.omega) ** 2).mean((1, 2))
    return 0.5 * mse_omega + 0.5 * mse_xyz


def rate_regularizer(
    spikes: torch.Tensor,
    target_hz: float,
    weight: float = RATE_WEIGHT,
    dt_s: float = 1e-3,
    task_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """:math:`c \\sum_j (\\bar z_j - f^* \\Delta t)^2` over spikes ``(B, T, N)``.

    The rate :math:`\\bar z_j` is pooled over time and tasks; ``task_mean`` (optional) maps
    per-task rates ``(B, N)`` to their mean over a meta-batch split across processes
    (:meth:`robo_l2l.distributed.Shard.task_mean`).
    """
    # sum / count is torch's own CPU mean, bit for bit; its backward is an expanded view
    # instead of mean's (B, T, N) quotient (90 ms at the generator's size, a 72 MB tensor)
    batch, n_steps = spikes.shape[:2]
    if task_mean is None:
        rate = spikes.sum((0, 1)) / (batch * n_steps)
    else:
        rate = task_mean(spikes.sum(1) / n_steps)
    return weight * ((rate - target_hz * dt_s) ** 2).sum()


def tracking_error(xyz: torch.Tensor, target_xyz: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance per task (m) between paths ``(B, T, 3)``."""
    return (xyz - target_xyz).norm(dim=-1).mean(-1)
