r"""Forward kinematics of the ED-Scorbot arm (Ortner et al. 2025, authors' code release).

Joint angles ``q`` are in radians relative to the home pose, positions in metres.
With :math:`t_1=-q_1, t_2=-q_2, t_3=-q_3, t_4=q_4`:

.. math::
    r &= a_1 + a_2 \cos t_2 + a_3 \cos(t_2+t_3) + a_4 \cos(t_2+t_3+t_4) \\
    x &= r \cos t_1 - (d_2+d_3) \sin t_1 \\
    y &= r \sin t_1 + (d_2+d_3) \cos t_1 \\
    z &= d_1 - a_2 \sin t_2 - a_3 \sin(t_2+t_3) - a_4 \sin(t_2+t_3+t_4)

so that :math:`FK(0) = (0.92, -0.033, 0.3585)` m. The geometry and the numpy versions (the
env's kinematics, the reference's float32 arithmetic for task targets) are in
:mod:`robo_l2l.functional.kinematics_numpy`.
"""

from __future__ import annotations

import torch

from robo_l2l.functional.kinematics_numpy import (
    GEOMETRY,
    MOVING_JOINTS,
    N_JOINTS,
    ScorbotGeometry,
)

__all__ = [
    "GEOMETRY",
    "MOVING_JOINTS",
    "N_JOINTS",
    "ScorbotGeometry",
    "moving_joints_to_full",
    "scorbot_fk",
    "scorbot_fk_moving",
]


def scorbot_fk(q: torch.Tensor, geometry: ScorbotGeometry = GEOMETRY) -> torch.Tensor:
    """Tool-tip position of the ED-Scorbot.

    Args:
        q: joint angles (rad) relative to the home pose, shape ``(..., 4)``
            (base, shoulder, elbow, wrist). Any floating dtype; differentiable.
        geometry: link lengths (m).

    Returns:
        Tool-tip position ``(..., 3)`` in metres, in the base frame.
    """
    if q.shape[-1] != N_JOINTS:
        raise ValueError(f"scorbot_fk expects q of shape (..., 4), got {tuple(q.shape)}")
    g = geometry
    t1, t2, t3, t4 = -q[..., 0], -q[..., 1], -q[..., 2], q[..., 3]
    t23 = t2 + t3
    t234 = t23 + t4
    r = g.a1 + g.a2 * torch.cos(t2) + g.a3 * torch.cos(t23) + g.a4 * torch.cos(t234)
    x = r * torch.cos(t1) - g.lateral * torch.sin(t1)
    y = r * torch.sin(t1) + g.lateral * torch.cos(t1)
    z = g.d1 - g.a2 * torch.sin(t2) - g.a3 * torch.sin(t23) - g.a4 * torch.sin(t234)
    return torch.stack((x, y, z), dim=-1)


def moving_joints_to_full(q_moving: torch.Tensor) -> torch.Tensor:
    """Embed angles of the two moving joints ``(..., 2)`` into ``(..., 4)`` (elbow, wrist = 0)."""
    if q_moving.shape[-1] != len(MOVING_JOINTS):
        raise ValueError(
            f"expected angles of the 2 moving joints, shape (..., 2), got {tuple(q_moving.shape)}"
        )
    zeros = torch.zeros_like(q_moving)
    return torch.cat((q_moving, zeros), dim=-1)


def scorbot_fk_moving(q_moving: torch.Tensor, geometry: ScorbotGeometry = GEOMETRY) -> torch.Tensor:
    """:func:`scorbot_fk` for the base and shoulder angles ``(..., 2)``, elbow and wrist at 0."""
    return scorbot_fk(moving_joints_to_full(q_moving), geometry)
