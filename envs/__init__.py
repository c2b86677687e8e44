"""Gymnasium + PyBullet environments of robo_l2l; importing this module registers them.

``RoboL2L/ScorbotTrack-v0``: :class:`~robo_l2l.envs.scorbot_track.ScorbotTrackEnv`.

``import robo_l2l`` already registers it (panda-gym's convention); the entry point is a string,
so PyBullet is imported only when the env is made (or ``ScorbotTrackEnv`` is accessed here).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from robo_l2l.tasks_numpy import N_STEPS

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


def __getattr__(name: str) -> Any:
    # Lazy: importing the env class imports PyBullet.
    if name == "ScorbotTrackEnv":
        from robo_l2l.envs.scorbot_track import ScorbotTrackEnv

        return ScorbotTrackEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_envs()
