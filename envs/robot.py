"""The ED-Scorbot in PyBullet: URDF loading, joint indices and limits, velocity control.

Joint angles are in rad relative to the home pose (the arm stretched along +x), angular
velocities in rad/s, torques in N m, positions in m. Only the base and the shoulder are driven
(velocity control with the URDF's effort limits); the elbow and the wrist are held at 0 by
position control, as in the task family.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
from pathlib import Path

import numpy as np
import pybullet

from robo_l2l.envs.simulator import Simulator

JOINT_NAMES = ("base", "shoulder", "elbow", "wrist")
MOVING_JOINTS = ("base", "shoulder")
HELD_JOINTS = ("elbow", "wrist")
END_EFFECTOR_LINK = "end_effector"
URDF_NAME = "scorbot.urdf"


@contextlib.contextmanager
def default_urdf_path():
    """Path of the packaged ``robo_l2l/urdf/scorbot.urdf`` (valid inside the ``with``)."""
    resource = importlib.resources.files("robo_l2l.urdf").joinpath(URDF_NAME)
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


class Scorbot:
    """The arm, loaded into a :class:`~robo_l2l.envs.simulator.Simulator` with a fixed base.

    Args:
        sim: the physics world.
        urdf_path: URDF file to load; ``None`` loads the packaged ``scorbot.urdf``.
        hold_gain: position gain of the elbow and wrist holding motors (PyBullet's
            ``positionGain``, per substep).

    Raises:
        FileNotFoundError: ``urdf_path`` does not exist.
        ValueError: the URDF lacks one of the joints or the end-effector link.
    """

    def __init__(
        self, sim: Simulator, urdf_path: str | os.PathLike | None = None, hold_gain: float = 0.3
    ) -> None:
        self.sim = sim
        client = sim.client
        if urdf_path is None:
            with default_urdf_path() as path:
                self.body = self._load(client, path)
        else:
            path = Path(urdf_path)
            if not path.is_file():
                raise FileNotFoundError(f"URDF file not found: {path}")
            self.body = self._load(client, path)

        joints: dict[str, int] = {}
        links: dict[str, int] = {}
        lower, upper, max_velocity, max_force = {}, {}, {}, {}
        for index in range(client.getNumJoints(self.body)):
            info = client.getJointInfo(self.body, index)
            name, link = info[1].decode(), info[12].decode()
            links[link] = index
            if info[2] == pybullet.JOINT_REVOLUTE:
                joints[name] = index
                lower[name], upper[name] = info[8], info[9]
                max_force[name], max_velocity[name] = info[10], info[11]
        missing = [n for n in JOINT_NAMES if n not in joints]
        if missing or END_EFFECTOR_LINK not in links:
            raise ValueError(
                f"URDF must define revolute joints {JOINT_NAMES} and a link "
                f"'{END_EFFECTOR_LINK}'; missing: {missing or [END_EFFECTOR_LINK]}"
            )
        self.joint_indices = [joints[n] for n in JOINT_NAMES]
        self.moving_indices = [joints[n] for n in MOVING_JOINTS]
        self.held_indices = [joints[n] for n in HELD_JOINTS]
        self.end_effector_index = links[END_EFFECTOR_LINK]
        #: joint limits (rad), base, shoulder, elbow, wrist
        self.lower_limits = np.array([lower[n] for n in JOINT_NAMES])
        self.upper_limits = np.array([upper[n] for n in JOINT_NAMES])
        #: velocity limits (rad/s) and effort limits (N m) from the URDF
        self.max_velocities = np.array([max_velocity[n] for n in JOINT_NAMES])
        self.max_forces = np.array([max_force[n] for n in JOINT_NAMES])
        self.hold_gain = float(hold_gain)
        self._moving_forces = self.max_forces[:2].tolist()
        self._held_forces = self.max_forces[2:].tolist()
        self.reset()

    @staticmethod
    def _load(client, path: Path) -> int:
        try:
            return client.loadURDF(
                str(path),
                basePosition=[0, 0, 0],
                useFixedBase=True,
                flags=pybullet.URDF_USE_INERTIA_FROM_FILE,
            )
        except pybullet.error as exc:
            raise ValueError(f"PyBullet could not load the URDF {path}: {exc}") from exc

    def reset(self, q: np.ndarray | None = None) -> None:
        """Put the joints at ``q`` (4,) rad (default: home pose), at rest, motors re-armed."""
        q = np.zeros(4) if q is None else np.asarray(q, dtype=np.float64)
        client = self.sim.client
        for index, angle in zip(self.joint_indices, q, strict=False):
            client.resetJointState(self.body, index, float(angle), 0.0)
        client.setJointMotorControlArray(
            self.body,
            self.held_indices,
            pybullet.POSITION_CONTROL,
            targetPositions=[0.0, 0.0],
            targetVelocities=[0.0, 0.0],
            positionGains=[self.hold_gain] * 2,
            forces=self._held_forces,
        )
        self.set_velocities(np.zeros(2))

    def set_velocities(self, omega: np.ndarray) -> None:
        """Command angular velocities (rad/s) of base and shoulder, capped at the effort limits."""
        self.sim.client.setJointMotorControlArray(
            self.body,
            self.moving_indices,
            pybullet.VELOCITY_CONTROL,
            targetVelocities=[float(omega[0]), float(omega[1])],
            forces=self._moving_forces,
        )

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint angles (rad) and velocities (rad/s), each (4,)."""
        states = self.sim.client.getJointStates(self.body, self.joint_indices)
        q = np.array([s[0] for s in states])
        dq = np.array([s[1] for s in states])
        return q, dq

    def end_effector_position(self) -> np.ndarray:
        """Tool-tip position (3,) in m (the URDF frame of the end-effector link)."""
        state = self.sim.client.getLinkState(
            self.body, self.end_effector_index, computeForwardKinematics=True
        )
        return np.array(state[4])
