"""Throughput of the ScorbotTrack env against raw PyBullet stepping, and of the torch FK.

Rows (best of ``--repeats`` timings, so that other load on the machine inflates them least):

* ``raw stepSimulation``: the same world (URDF, gravity, solver settings) stepped with
  ``n_substeps`` bare ``stepSimulation`` calls per env step, motors set once;
* ``env.step (unwrapped)``: :class:`ScorbotTrackEnv` headless, action check, motor command,
  substeps, state read-out, reward;
* ``env.step (gym.make)``: the same behind Gymnasium's default wrappers;
* ``scorbot_fk``: forward kinematics of a batch of joint configurations, float32 / float64;
* ``open-loop replay``: not a speed: the tool-tip tracking error (mm) when the env replays each
  task's own target velocities (family tasks of seeds 0..``--replay-tasks``-1), the physics
  check quoted in the README.

Prints a table and, as the last line, a JSON object.

    python benchmarks/bench_env.py
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from bench_inner_loop import write_result  # same folder; run as a script

from robo_l2l.envs import SCORBOT_TRACK_ID, ScorbotTrackEnv
from robo_l2l.envs.robot import Scorbot
from robo_l2l.envs.simulator import Simulator, flush_native_stdout
from robo_l2l.functional.kinematics import scorbot_fk


def best_rate(run: Callable[[], int], repeats: int) -> float:
    """Largest items/s over ``repeats`` calls of ``run`` (which returns its item count)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def raw_steps_per_s(n_steps: int, repeats: int) -> float:
    sim = Simulator()
    robot = Scorbot(sim)
    robot.set_velocities(np.array([0.3, -0.2]))

    def run() -> int:
        robot.reset()
        robot.set_velocities(np.array([0.3, -0.2]))
        step_simulation = sim.client.stepSimulation
        for _ in range(n_steps):
            for _ in range(sim.n_substeps):
                step_simulation()
        return n_steps

    rate = best_rate(run, repeats)
    sim.close()
    return rate


def env_steps_per_s(env: gym.Env, n_steps: int, repeats: int) -> float:
    actions = np.random.default_rng(0).uniform(-1, 1, (n_steps, 2)).astype(np.float32)

    def run() -> int:
        done, count = True, 0
        for action in actions:
            if done:
                env.reset(seed=count)
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            count += 1
        return count

    # resets (one per 249 steps) are included: they sample a task and rewind the arm
    return best_rate(run, repeats)


def fk_points_per_s(batch: int, dtype: torch.dtype, repeats: int) -> float:
    q = torch.rand(batch, 4, dtype=dtype) * 2 - 1

    def run() -> int:
        scorbot_fk(q)
        return batch

    run()  # warm-up
    return best_rate(run, repeats)


def replay_errors_mm(n_tasks: int) -> np.ndarray:
    """Per task (seeds 0..n-1), the mean tool-tip error (mm) of replaying its own velocities."""
    env = ScorbotTrackEnv()
    means = []
    for seed in range(n_tasks):
        env.reset(seed=seed)
        errors = [env.step(w)[4]["tracking_error_m"] for w in env.task.target.omega]
        means.append(1e3 * np.mean(errors))
    env.close()
    return np.asarray(means)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="env steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per row (best kept)")
    parser.add_argument("--fk-batch", type=int, default=1_000_000, help="FK batch size")
    parser.add_argument("--replay-tasks", type=int, default=64, help="tasks for the replay check")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    args = parser.parse_args()

    raw = raw_steps_per_s(args.steps, args.repeats)
    env = ScorbotTrackEnv()
    unwrapped = env_steps_per_s(env, args.steps, args.repeats)
    env.close()
    made = gym.make(SCORBOT_TRACK_ID)
    wrapped = env_steps_per_s(made, args.steps, args.repeats)
    made.close()
    replay = replay_errors_mm(args.replay_tasks)
    fk32 = fk_points_per_s(args.fk_batch, torch.float32, args.repeats)
    fk64 = fk_points_per_s(args.fk_batch, torch.float64, args.repeats)

    result = {
        "raw_steps_per_s": raw,
        "env_steps_per_s": unwrapped,
        "env_make_steps_per_s": wrapped,
        "env_overhead_factor": raw / unwrapped,
        "env_make_overhead_factor": raw / wrapped,
        "fk_float32_points_per_s": fk32,
        "fk_float64_points_per_s": fk64,
        "substeps_per_step": 10,
        "replay_tasks": args.replay_tasks,
        "replay_mean_mm": float(replay.mean()),
        "replay_mean_ci95_mm": float(1.96 * replay.std(ddof=1) / np.sqrt(len(replay))),
        "replay_first_half_mean_mm": float(replay[: len(replay) // 2].mean()),
        "replay_second_half_mean_mm": float(replay[len(replay) // 2 :].mean()),
        "replay_task_mean_min_mm": float(replay.min()),
        "replay_task_mean_max_mm": float(replay.max()),
        "torch_threads": torch.get_num_threads(),
    }
    rows = [
        ("raw stepSimulation x10", f"{raw:,.0f} steps/s", "1.00x"),
        ("env.step (unwrapped)", f"{unwrapped:,.0f} steps/s", f"{raw / unwrapped:.2f}x"),
        ("env.step (gym.make)", f"{wrapped:,.0f} steps/s", f"{raw / wrapped:.2f}x"),
        (f"scorbot_fk float32, batch {args.fk_batch:,}", f"{fk32:,.3g} points/s", ""),
        (f"scorbot_fk float64, batch {args.fk_batch:,}", f"{fk64:,.3g} points/s", ""),
        (f"open-loop replay, {args.replay_tasks} tasks", f"{replay.mean():.3f} mm", "(error)"),
    ]
    width = max(len(r[0]) for r in rows)
    flush_native_stdout()
    print(f"{'benchmark':<{width}}  {'throughput':>20}  time vs raw")
    for name, rate, factor in rows:
        print(f"{name:<{width}}  {rate:>20}  {factor}")
    write_result("bench_env", result, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
