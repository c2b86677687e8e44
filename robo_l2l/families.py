r"""Task families: the paper's Brownian paths and paths of other shapes, in joint space.

``brownian`` is the training family (:func:`robo_l2l.tasks.sample_trajectories`: a Hann-smoothed
random walk of angular velocities, clipped at the joint limits). The others are written here from
their geometry, as joint paths :math:`q(u)` of the base and shoulder over the trial,
:math:`u = (t + 1) / T` for steps :math:`t = 0 \ldots T - 1` and :math:`q(0) = 0` (the arm starts
at its home pose, as every task does):

* ``figure8``: a 1:2 Lissajous figure, :math:`q = (a \sin 2\pi u,\ b \sin 4\pi u)`;
* ``circle``: :math:`k \in \{2, 3\}` loops through the home pose,
  :math:`q = (a \sin 2\pi k u,\ b (1 - \cos 2\pi k u))`;
* ``reach``: reach a goal and return, then another, :math:`q = g_i \sin^2 2\pi u` with
  :math:`g_i = (a\cos\theta_i, b\sin\theta_i)`, :math:`i = 1` for :math:`u \le 1/2`, else 2;
* ``spiral``: two turns of growing radius, :math:`q = u\,(a \sin 4\pi u,\ b (1 - \cos 4\pi u))`.

Each task draws its shape (aspect :math:`b/a \in [0.5, 1.5]`, signs, :math:`\theta`, :math:`k`)
and a speed, then is scaled so that its RMS angular velocity over both joints equals that speed.
Speeds are uniform over ``SPEED_RANGE``, the 10th to 90th percentile of the Brownian family's
per-task RMS speed (0.32-1.02 rad/s, measured over 2,000 tasks of seed 12345), so the new
families move as fast as the training family. Angular velocities are the differences
:math:`\omega_t = (q_t - q_{t-1}) / \Delta t` (:math:`\Delta t` = 10 ms of arm time); a path
that would leave the joint limits (base 130 deg, shoulder 70 deg) raises ``ValueError``; nothing
is clipped.
"""

from __future__ import annotations

import math

import torch

from robo_l2l.functional.kinematics import scorbot_fk_moving
from robo_l2l.tasks import (
    DT_ARM,
    JOINT_LIMITS,
    N_STEPS,
    Trajectories,
    integrate_omega,
    sample_trajectories,
)

FAMILIES = ("brownian", "figure8", "circle", "reach", "spiral")
SPEED_RANGE = (0.32, 1.02)  #: rad/s, RMS over both joints (Brownian 10th-90th percentile)


def check_family(name: str) -> str:
    if name not in FAMILIES:
        raise ValueError(f"unknown task family {name!r}; choose one of {', '.join(FAMILIES)}")
    return name


def _shape(name: str, u: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Unscaled joint path ``(B, T, 2)`` of family ``name`` at ``u (B, T)``."""
    batch = u.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, 1, generator=g, dtype=u.dtype)

    sign = torch.where(torch.rand(batch, 2, generator=g) < 0.5, -1.0, 1.0).to(u.dtype)
    a, b = torch.ones_like(u[:, :1]), uniform(0.5, 1.5)
    two_pi = 2 * math.pi
    if name == "figure8":
        q = (a * torch.sin(two_pi * u), b * torch.sin(2 * two_pi * u))
    elif name == "circle":
        k = torch.randint(2, 4, (batch, 1), generator=g).to(u.dtype)
        q = (a * torch.sin(two_pi * k * u), b * (1 - torch.cos(two_pi * k * u)))
    elif name == "reach":
        first = u <= 0.5
        theta = torch.where(first, uniform(0.0, two_pi), uniform(0.0, two_pi))
        bump = torch.sin(two_pi * u) ** 2
        q = (a * torch.cos(theta) * bump, b * torch.sin(theta) * bump)
    elif name == "spiral":
        q = (a * u * torch.sin(2 * two_pi * u), b * u * (1 - torch.cos(2 * two_pi * u)))
    else:
        raise ValueError(f"no shape for family {name!r}")
    return torch.stack(q, -1) * sign.unsqueeze(1)


def sample_family(
    name: str,
    batch_size: int,
    generator: torch.Generator,
    n_steps: int = N_STEPS,
    speed_range: tuple[float, float] = SPEED_RANGE,
) -> Trajectories:
    """``batch_size`` tasks of family ``name`` (float32), every draw from ``generator``.

    Raises ``ValueError`` for an unknown family, an empty or non-positive speed range, or a
    task whose joint path leaves the limits.
    """
    check_family(name)
    if name == "brownian":
        return sample_trajectories(batch_size, generator, n_steps)
    low, high = speed_range
    if not (0 < low <= high and math.isfinite(high)):
        raise ValueError(f"speed range must satisfy 0 < low <= high, got {speed_range}")
    if batch_size < 1 or n_steps < 2:
        raise ValueError(f"need batch_size >= 1 and n_steps >= 2, got {batch_size}, {n_steps}")
    u = ((torch.arange(n_steps, dtype=torch.float64) + 1) / n_steps).expand(batch_size, -1)
    q = _shape(name, u, generator)
    speed = low + (high - low) * torch.rand(batch_size, 1, 1, generator=generator, dtype=q.dtype)
    omega = torch.diff(q, dim=1, prepend=torch.zeros_like(q[:, :1])) / DT_ARM
    rms = omega.square().mean((1, 2), keepdim=True).sqrt()
    omega = (omega * speed / rms).float()
    q = integrate_omega(omega, clip=False)
    over = q.abs().amax(1) > JOINT_LIMITS.to(q.dtype)  # (B, 2)
    if over.any():
        tasks = torch.nonzero(over.any(1)).flatten().tolist()
        raise ValueError(
            f"{name}: task(s) {tasks[:10]} leave the joint limits (base 130 deg, shoulder "
            f"70 deg) at speeds {speed_range} rad/s; nothing is clipped: choose lower speeds"
        )
    return Trajectories(omega=omega, q=q, xyz=scorbot_fk_moving(q))
