"""Gymnasium + PyBullet environments of robo_l2l; importing this module registers them.

``RoboL2L/ScorbotTrack-v0``: :class:`~robo_l2l.envs.scorbot_track.ScorbotTrackEnv`.
"""

from __future__ import annotations

import gymnasium as gym

from robo_l2l.envs.scorbot_track import ScorbotTrackEnv
from robo_l2l.tasks import N_STEPS

__all__ = ["SCORBOT_TRACK_ID", "ScorbotTrackEnv", "register_envs"]

SCORBOT_TRACK_ID = "RoboL2L/ScorbotTrack-v0"


def register_envs() -> None:
    """Register the environments with Gymnasium (idempotent; also the package entry point)."""
    if SCORBOT_TRACK_ID not in gym.registry:
        gym.register(
            id=SCORBOT_TRACK_ID,
            entry_point="robo_l2l.envs.scorbot_track:ScorbotTrackEnv",
            max_episode_steps=N_STEPS,
        )


register_envs()
