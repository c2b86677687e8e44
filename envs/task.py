r"""The tracking task: one target trajectory of the task family and the tracking reward.

A target trajectory gives, for every env step :math:`t = 0 .. T-1`, the commanded angular
velocities :math:`\omega^*_t` (rad/s), the joint angles :math:`q^*_t` (rad) reached after the
step and the tool-tip position :math:`x^*_t = FK(q^*_t)` (m). The reward of step :math:`t` is

.. math::
    r_t = -\lVert x^{ee}_t - x^*_t \rVert_2 \quad \text{(m)},

where :math:`x^{ee}_t` is the simulated tool tip after the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robo_l2l.functional.kinematics import scorbot_fk_moving
from robo_l2l.tasks import (
    JOINT_LIMITS,
    Trajectories,
    check_trajectory,
    integrate_omega,
    sample_trajectories,
)


@dataclass(frozen=True)
class Target:
    """One target trajectory as float64 arrays: ``omega`` (T, 2) rad/s, ``q`` (T, 2) rad,
    ``xyz`` (T, 3) m."""

    omega: np.ndarray
    q: np.ndarray
    xyz: np.ndarray

    def __len__(self) -> int:
        return len(self.omega)


def target_from_omega(omega: Any, n_steps: int) -> Target:
    """Validate angular velocities (T, 2) or (1, T, 2) (rad/s) and integrate them.

    The joint path :math:`q_t = 0.01 \\sum_{s \\le t} \\omega_s` must stay within the joint limits
    (base 130 deg, shoulder 70 deg): a path that leaves them raises instead of being clipped.
    """
    omega_t = torch.as_tensor(np.asarray(omega, dtype=np.float64))
    if omega_t.ndim == 2:
        omega_t = omega_t.unsqueeze(0)
    if omega_t.ndim != 3 or omega_t.shape[0] != 1 or omega_t.shape[2] != 2:
        raise ValueError(
            f"trajectory omega must have shape (T, 2) or (1, T, 2), got {tuple(omega_t.shape)}"
        )
    _check_length(omega_t.shape[1], n_steps)
    check_trajectory(omega_t, name="trajectory")
    q = integrate_omega(omega_t, clip=False)
    xyz = scorbot_fk_moving(q)
    return Target(omega_t[0].numpy(), q[0].numpy(), xyz[0].numpy())


def target_from_trajectories(trajectories: Trajectories, n_steps: int) -> Target:
    """Validate a :class:`~robo_l2l.tasks.Trajectories` of batch size 1.

    Its own ``q`` and ``xyz`` are the targets. Tasks of the family clip ``q`` at the joint
    limits while ``omega`` runs on, so here ``q`` (not the integral of ``omega``) must lie
    within the limits.
    """
    if len(trajectories) != 1:
        raise ValueError(f"expected a Trajectories of batch size 1, got {len(trajectories)}")
    omega, q, xyz = (
        t.detach().cpu().double() for t in (trajectories.omega, trajectories.q, trajectories.xyz)
    )
    expected = {"omega": (1, n_steps, 2), "q": (1, n_steps, 2), "xyz": (1, n_steps, 3)}
    for name, tensor in (("omega", omega), ("q", q), ("xyz", xyz)):
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(
                f"trajectory {name} must have shape {expected[name]}, got {tuple(tensor.shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise ValueError(f"trajectory {name} contains NaN or inf")
    if (q.abs() > JOINT_LIMITS + 1e-6).any():
        raise ValueError("trajectory q leaves the joint limits (base 130 deg, shoulder 70 deg)")
    return Target(omega[0].numpy(), q[0].numpy(), xyz[0].numpy())


def _check_length(length: int, n_steps: int) -> None:
    if length != n_steps:
        raise ValueError(f"trajectory must have {n_steps} steps (the env's n_steps), got {length}")


def sample_target(rng: np.random.Generator, n_steps: int) -> Target:
    """One task of the family; the torch generator is seeded by an integer drawn from ``rng``."""
    seed = int(rng.integers(0, 2**63 - 1))
    generator = torch.Generator().manual_seed(seed)
    task = sample_trajectories(1, generator, n_steps=n_steps)
    omega, q, xyz = (t[0].double().numpy() for t in (task.omega, task.q, task.xyz))
    return Target(omega, q, xyz)


def parse_target(trajectory: Any, n_steps: int) -> Target:
    """A target from ``reset(options={"trajectory": ...})``: a ``Trajectories`` of batch 1, or
    angular velocities (T, 2) as a numpy array, torch tensor or nested sequence."""
    if isinstance(trajectory, Trajectories):
        return target_from_trajectories(trajectory, n_steps)
    if isinstance(trajectory, torch.Tensor):
        trajectory = trajectory.detach().cpu().double().numpy()
    try:
        array = np.asarray(trajectory, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "options['trajectory'] must be a robo_l2l.tasks.Trajectories or an omega array "
            f"of shape (T, 2); got {type(trajectory).__name__}"
        ) from exc
    return target_from_omega(array, n_steps)


class TrackingTask:
    """Holds the current target and scores the tool tip against it."""

    def __init__(self, n_steps: int) -> None:
        self.n_steps = int(n_steps)
        self.target: Target | None = None

    def reset(self, rng: np.random.Generator, trajectory: Any = None) -> Target:
        """Take ``trajectory`` (see :func:`parse_target`) or sample one from the family."""
        if trajectory is None:
            self.target = sample_target(rng, self.n_steps)
        else:
            self.target = parse_target(trajectory, self.n_steps)
        return self.target

    def target_xyz(self, t: int) -> np.ndarray:
        """Target tool tip of step ``t`` (m); past the end, the last target."""
        return self.target.xyz[min(t, self.n_steps - 1)]

    def evaluate(self, t: int, ee_xyz: np.ndarray, q_moving: np.ndarray) -> tuple[float, dict]:
        """Reward of step ``t`` and its parts."""
        target_xyz = self.target.xyz[t]
        error = float(np.linalg.norm(ee_xyz - target_xyz))
        info = {
            "tracking_error_m": error,
            "joint_error_rad": np.abs(q_moving - self.target.q[t]),
            "target_xyz": target_xyz.copy(),
            "ee_xyz": ee_xyz.copy(),
            "target_q": self.target.q[t].copy(),
        }
        return -error, info
