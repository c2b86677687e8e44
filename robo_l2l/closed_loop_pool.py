r"""Closed-loop tracking of many targets at once: the network batched, the arms in processes.

The trainee's only input is the clock, so its angular-velocity commands do not depend on the
arm's state: one batched trial of the network (the inner loop's own trials, on the PCM model
with a fresh read of every product) gives the commands of every target, and the arms then
follow them in PyBullet, one episode per target, spread over worker processes. The workers
import the environment only (numpy + PyBullet, no torch) and keep one env each.

Per step :math:`t` of target :math:`i` the arm receives :math:`\omega_{i,t}` (rad/s), clipped
to the action bound (clipping is counted, never silent), and the tracking error is
:math:`\lVert x^{ee}_{i,t} - x^*_{i,t} \rVert` (m), as in
:func:`robo_l2l.closed_loop.run_episode`, which drives one target step by step.
"""

from __future__ import annotations

import multiprocessing
from typing import NamedTuple

import numpy as np

_ENV = None  # the worker's environment (one per process)


class Tracking(NamedTuple):
    """Closed-loop result per target, batch-first."""

    error_m: np.ndarray  #: tracking error per step (m), ``(B, T)``
    xyz: np.ndarray  #: tool tip (m), ``(B, T, 3)``
    clipped_steps: np.ndarray  #: commands beyond the action bound, ``(B,)``


class _Target:
    """One target as the env takes it (a batch of one with ``omega``, ``q`` and ``xyz``)."""

    def __init__(self, omega: np.ndarray, q: np.ndarray, xyz: np.ndarray) -> None:
        self.omega, self.q, self.xyz = omega[None], q[None], xyz[None]

    def __len__(self) -> int:
        return 1


def _init_worker(physics: dict) -> None:
    global _ENV
    from robo_l2l.envs.scorbot_track import ScorbotTrackEnv

    _ENV = ScorbotTrackEnv(**physics)


def _episode(job: tuple[_Target, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    target, commands = job
    env = _ENV
    env.reset(options={"trajectory": target})
    bound = float(env.action_space.high[0])
    errors, xyz, clipped = [], [], 0
    for command in commands:
        if np.abs(command).max() > bound:
            clipped += 1
        _, _, terminated, truncated, info = env.step(np.clip(command, -bound, bound))
        errors.append(info["tracking_error_m"])
        xyz.append(info["ee_xyz"])
        if terminated or truncated:
            break
    return np.asarray(errors), np.asarray(xyz), clipped


def drive(
    targets,
    commands: np.ndarray,
    workers: int = 2,
    physics: dict | None = None,
) -> Tracking:
    """Drive one arm per target with ``commands`` and score it against its target.

    Args:
        targets: the targets, with ``omega`` (rad/s), ``q`` (rad) ``(B, T, 2)`` and ``xyz`` (m)
            ``(B, T, 3)`` as arrays or tensors (a :class:`robo_l2l.tasks.Trajectories`): the
            arm is scored against ``xyz``; ``q`` must stay within the joint limits.
        commands: the network's commands (rad/s), ``(B, T, 2)``, finite.
        workers: processes (each with one PyBullet client); 1 runs in this process.
        physics: keyword arguments of :class:`~robo_l2l.envs.scorbot_track.ScorbotTrackEnv`.
    """
    omega, q, xyz = (np.asarray(getattr(targets, n), np.float32) for n in ("omega", "q", "xyz"))
    commands = np.asarray(commands, np.float32)
    if commands.ndim != 3 or commands.shape[-1] != 2 or commands.shape != omega.shape:
        raise ValueError(
            f"commands {commands.shape} and targets {omega.shape} must both be (B, T, 2)"
        )
    if not np.isfinite(commands).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(commands))[:, 0]})
        raise FloatingPointError(f"non-finite commands for target(s) {bad[:10]}")
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers}")
    physics = dict(physics or {})
    physics.setdefault("n_steps", commands.shape[1])
    jobs = [
        (_Target(*t), c) for t, c in zip(zip(omega, q, xyz, strict=True), commands, strict=True)
    ]
    if workers == 1 or len(jobs) == 1:
        _init_worker(physics)
        try:
            results = [_episode(job) for job in jobs]
        finally:
            _ENV.close()
    else:
        # spawn: the workers start clean (no torch threads or PyBullet clients inherited)
        context = multiprocessing.get_context("spawn")
        n = min(workers, len(jobs))
        with context.Pool(n, initializer=_init_worker, initargs=(physics,)) as pool:
            results = pool.map(_episode, jobs, chunksize=max(1, len(jobs) // (4 * n)))
    return Tracking(
        np.stack([r[0] for r in results]),
        np.stack([r[1] for r in results]).astype(np.float32),
        np.asarray([r[2] for r in results]),
    )
