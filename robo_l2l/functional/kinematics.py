r"""Forward kinematics of the ED-Scorbot arm (Ortner et al. 2025, authors' code release).

Joint angles ``q`` are in radians relative to the home pose, positions in metres.
With :math:`t_1=-q_1, t_2=-q_2, t_3=-q_3, t_4=q_4`:

.. math::
    r &= a_1 + a_2 \cos t_2 + a_3 \cos(t_2+t_3) + a_4 \cos(t_2+t_3+t_4) \\
    x &= r \cos t_1 - (d_2+d_3) \sin t_1 \\
    y &= r \sin t_1 + (d_2+d_3) \cos t_1 \\
    z &= d_1 - a_2 \sin t_2 - a_3 \sin(t_2+t_3) - a_4 \sin(t_2+t_3+t_4)

so that :math:`FK(0) = (0.92, -0.033, 0.3585)` m.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ScorbotGeometry(NamedTuple):
    """Link lengths of the ED-Scorbot (metres), as in the authors' kinematics."""

    d1: float = 0.3585  #: height of the shoulder axis above the floor
    a1: float = 0.050  #: horizontal offset base axis -> shoulder axis
    a2: float = 0.300  #: upper arm (shoulder -> elbow)
    a3: float = 0.350  #: forearm (elbow -> wrist)
    a4: float = 0.22  #: wrist -> tool tip
    d2: float = -0.098  #: lateral offset of the shoulder
    d3: float = 0.065  #: lateral offset of the elbow

    @property
    def lateral(self) -> float:
        """Total lateral offset d2 + d3 (m)."""
        return self.d2 + self.d3


GEOMETRY = ScorbotGeometry()
N_JOINTS = 4
#: Joints driven by the controller (base and shoulder); the others stay at 0.
MOVING_JOINTS = (0, 1)


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
