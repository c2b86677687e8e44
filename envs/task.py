r"""The tracking task: one target trajectory of the task family and the tracking reward.

A target trajectory gives, for every env step :math:`t = 0 .. T-1`, the commanded angular
velocities :math:`\omega^*_t` (rad/s), the joint angles :math:`q^*_t` (rad) reached after the
step and the tool-tip position :math:`x^*_t = FK(q^*_t)` (m). The reward of step :math:`t` is

.. math::
    r_t = -\lVert x^{ee}_t - x^*_t \rVert_2 \quad \text{(m)},

where :math:`x^{ee}_t` is the simulated tool tip after the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_l2l.functional.kinematics_numpy import scorbot_fk_moving_numpy
from robo_l2l.tasks_numpy import JOINT_LIMITS, integrate_omega, sample_targets

# No torch here: reset() and step() run in forked vector-env workers, where torch's thread
# pool hangs once the parent has used it. Torch inputs are converted through their own
# methods (duck typing), which needs no torch import.


@dataclass(frozen=True)
class Target:
    """One target trajectory as float64 arrays: ``omega`` (T, 2) rad/s, ``q`` (T, 2) rad,
    ``xyz`` (T, 3) m."""

    omega: np.ndarray
    q: np.ndarray
    xyz: np.ndarray

    def __len__(self) -> int:
        return len(self.omega)


def _as_real_array(value: Any, name: str) -> np.ndarray:
    """``value`` (numpy array, torch tensor, nested sequence) as a float64 array; complex,
    non-numeric or non-finite entries raise ``ValueError``."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged sequences
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if array.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got complex values ({array.dtype})")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array


def _check_within_limits(q: np.ndarray, name: str) -> None:
    over = (np.abs(q) > JOINT_LIMITS + 1e-6).any(axis=0)
    if over.any():
        joints = [n for n, o in zip(("base", "shoulder"), over.tolist(), strict=True) if o]
        raise ValueError(
            f"{name}: joint angles leave the limits (base 130 deg, shoulder 70 deg) "
            f"for joint(s) {joints}"
        )


def target_from_omega(omega: Any, n_steps: int) -> Target:
    """Validate angular velocities (T, 2) or (1, T, 2) (rad/s) and integrate them (float64).

    The joint path :math:`q_t = 0.01 \\sum_{s \\le t} \\omega_s` must stay within the joint limits
    (base 130 deg, shoulder 70 deg): a path that leaves them raises instead of being clipped.
    """
    omega = _as_real_array(omega, "trajectory omega")
    if omega.ndim == 3 and omega.shape[0] == 1:
        omega = omega[0]
    if omega.ndim != 2 or omega.shape[1] != 2:
        raise ValueError(
            f"trajectory omega must have shape (T, 2) or (1, T, 2), got {np.shape(omega)}"
        )
    _check_length(omega.shape[0], n_steps)
    q = integrate_omega(omega, clip=False)
    _check_within_limits(q, "trajectory")
    return Target(omega, q, scorbot_fk_moving_numpy(q))


def target_from_trajectories(trajectories: Any, n_steps: int) -> Target:
    """Validate a :class:`~robo_l2l.tasks.Trajectories` of batch size 1.

    Its own ``q`` and ``xyz`` are the targets. Tasks of the family clip ``q`` at the joint
    limits while ``omega`` runs on, so here ``q`` (not the integral of ``omega``) must lie
    within the limits.
    """
    if len(trajectories) != 1:
        raise ValueError(f"expected a Trajectories of batch size 1, got {len(trajectories)}")
    expected = {"omega": (1, n_steps, 2), "q": (1, n_steps, 2), "xyz": (1, n_steps, 3)}
    arrays = {}
    for name, shape in expected.items():
        array = _as_real_array(getattr(trajectories, name), f"trajectory {name}")
        if array.shape != shape:
            raise ValueError(f"trajectory {name} must have shape {shape}, got {array.shape}")
        arrays[name] = array[0]
    if (np.abs(arrays["q"]) > JOINT_LIMITS + 1e-6).any():
        raise ValueError("trajectory q leaves the joint limits (base 130 deg, shoulder 70 deg)")
    return Target(arrays["omega"], arrays["q"], arrays["xyz"])


def _check_length(length: int, n_steps: int) -> None:
    if length != n_steps:
        raise ValueError(f"trajectory must have {n_steps} steps (the env's n_steps), got {length}")


def sample_target(rng: np.random.Generator, n_steps: int) -> Target:
    """One task of the family drawn from ``rng``
    (:func:`robo_l2l.tasks_numpy.sample_targets`: the reference's float32 pipeline)."""
    omega, q, xyz = (a[0].astype(np.float64) for a in sample_targets(rng, 1, n_steps))
    return Target(omega, q, xyz)


def _is_trajectories(value: Any) -> bool:
    return all(hasattr(value, name) for name in ("omega", "q", "xyz")) and not isinstance(
        value, Mapping
    )


def parse_target(trajectory: Any, n_steps: int) -> Target:
    """A target from ``reset(options={"trajectory": ...})``: a ``Trajectories`` of batch 1, or
    angular velocities (T, 2) as a numpy array, torch tensor or nested sequence."""
    if _is_trajectories(trajectory):
        return target_from_trajectories(trajectory, n_steps)
    if isinstance(trajectory, (Mapping, str, bytes)) or trajectory is None:
        raise ValueError(
            "options['trajectory'] must be a robo_l2l.tasks.Trajectories or an omega array "
            f"of shape (T, 2); got {type(trajectory).__name__}"
        )
    try:
        return target_from_omega(trajectory, n_steps)
    except ValueError as exc:
        if "numeric array" in str(exc):
            raise ValueError(
                "options['trajectory'] must be a robo_l2l.tasks.Trajectories or an omega array "
                f"of shape (T, 2); got {type(trajectory).__name__}"
            ) from exc
        raise


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
