"""Closed loop: the spiking controller on the chip drives the PyBullet arm step by step.

At every 10-ms env step the trainee advances one network step on the clock input and its
readout (rad/s) is sent as the joint-velocity command; what is measured is the env's state
(the simulated arm's tool tip), not the network's own integration of its outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from robo_l2l.network import Synapses, TraineeStepper
from robo_l2l.pcm import DeployedMatrix
from robo_l2l.tasks import DT_ARM, Trajectories, clock_input


class Rollout(NamedTuple):
    """One closed-loop episode (numpy, time-major)."""

    command: np.ndarray  #: angular velocities sent to the arm (T, 2), rad/s
    xyz: np.ndarray  #: executed tool-tip path (T, 3), m
    q: np.ndarray  #: executed joint angles (T, 4), rad
    tracking_error_m: np.ndarray  #: |x_ee - x*| per step (T,), m
    spikes: np.ndarray  #: trainee spikes (T, 250), uint8
    frames: list[np.ndarray]  #: rgb_array frames (if asked for)
    clipped_steps: int  #: commands beyond the action bounds, clipped explicitly


def synapses(m: DeployedMatrix, task: int = 0) -> Synapses:
    """Arrays of one task of a deployed batch, as the stepper reads them."""
    weight = m.weight[task : task + 1] if m.weight.ndim == 3 else m.weight
    var = None if m.read_std is None else (m.read_std[task : task + 1] ** 2)
    return Synapses(weight, var)


def run_episode(
    env,
    arrays: dict[str, DeployedMatrix],
    target: Trajectories,
    generator: torch.Generator,
    frame_every: int = 0,
    pace: Callable[[int], None] | None = None,
) -> Rollout:
    """Drive ``env`` (a ``ScorbotTrackEnv``) with the trainee held by ``arrays`` for one task.

    Args:
        arrays: deployed ``w_in``, ``w_rec``, ``w_out`` (batch index 0 is used).
        target: a batch of one trajectory; the env tracks its ``xyz``.
        frame_every: keep ``env.render()`` every this many steps (0: none).
        pace: called after every step with the step index (real-time pacing in the GUI).
    """
    stepper = TraineeStepper(
        synapses(arrays["w_in"]),
        synapses(arrays["w_rec"]),
        synapses(arrays["w_out"]),
        1,
        generator,
    )
    w = arrays["w_in"].weight
    clock = clock_input(target.omega.shape[1], w.dtype).to(w.device)
    env.reset(options={"trajectory": target})
    bound = float(env.action_space.high[0])
    frames = [env.render()] if frame_every else []
    commands, xyz, q, errors, clipped = [], [], [], [], 0
    for t in range(clock.shape[0]):
        command = stepper.step(clock[t : t + 1])[0].double().cpu().numpy()
        if not np.isfinite(command).all():
            raise FloatingPointError(f"the controller produced a non-finite command at step {t}")
        if np.abs(command).max() > bound:
            clipped += 1
        command = np.clip(command, -bound, bound).astype(np.float32)
        obs, _, terminated, truncated, info = env.step(command)
        commands.append(command)
        xyz.append(info["ee_xyz"])
        q.append(obs[:4])
        errors.append(info["tracking_error_m"])
        if frame_every and ((t + 1) % frame_every == 0 or t + 1 == clock.shape[0]):
            frames.append(env.render())
        if pace is not None:
            pace(t)
        if terminated or truncated:
            break
    return Rollout(
        np.asarray(commands),
        np.asarray(xyz),
        np.asarray(q),
        np.asarray(errors),
        torch.cat(stepper.spikes).cpu().numpy().astype(np.uint8),
        frames,
        clipped,
    )


def real_time_pacer(slowdown: float = 1.0) -> Callable[[int], None]:
    """Sleep so that step t ends at ``(t + 1) * 0.01 s * slowdown`` after the first call."""
    start = time.perf_counter()

    def pace(t: int) -> None:
        lag = start + (t + 1) * DT_ARM * slowdown - time.perf_counter()
        if lag > 0:
            time.sleep(lag)

    return pace
