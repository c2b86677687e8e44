"""Closed-loop rollout speed (headless) as a multiple of real time, and the main job's wall time.

    python benchmarks/bench_closed_loop.py [--repeats 3]

One episode = 249 env steps = 2.49 s of arm time; the trainee (on the PCM model, read noise on
every product) advances one step per env step and its command drives the arm. Rows: the
default physics (10 substeps of 1 ms, 100 solver iterations) and a lighter one (5 substeps of
2 ms, 50 iterations) with its open-loop replay error, the env alone and the network alone.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from bench_inner_loop import best_time as _best  # same folder; run as a script
from bench_inner_loop import write_result

from robo_l2l import parameters, tasks
from robo_l2l.closed_loop import run_episode, synapses
from robo_l2l.envs import ScorbotTrackEnv
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.network import TraineeStepper
from robo_l2l.pcm import PCMConfig
from robo_l2l.tasks import DT_ARM, N_STEPS

ROOT = Path(__file__).resolve().parents[1]


def env_alone(env: ScorbotTrackEnv, target) -> None:
    """One episode of the env with zero commands (no network)."""
    env.reset(options={"trajectory": target})
    for _ in range(N_STEPS):
        env.step(np.zeros(2, np.float32))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true", help="do not time scripts/demo.py")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    args = parser.parse_args(argv)
    arm_seconds = N_STEPS * DT_ARM
    weights = parameters.init_controller(torch.Generator().manual_seed(0), natural=False)
    target = tasks.sample_trajectories(1, torch.Generator().manual_seed(1))
    with torch.no_grad():
        r = inner_loop(
            weights,
            target,
            InnerRule("readout", 1, 1e-3),
            PCMConfig(),
            torch.Generator().manual_seed(2),
        )
    results = {}
    for name, physics in (
        ("default physics", {}),
        ("light physics", {"timestep": 2e-3, "n_substeps": 5, "solver_iterations": 50}),
    ):
        env = ScorbotTrackEnv(**physics)
        try:
            seconds = _best(
                lambda env=env: run_episode(env, r.initial, target, torch.Generator()), args.repeats
            )
            env.reset(options={"trajectory": target})
            errors = [
                env.step(np.asarray(a, np.float32))[4]["tracking_error_m"]
                for a in target.omega[0].numpy()
            ]
            alone = _best(partial(env_alone, env, target), args.repeats)
        finally:
            env.close()
        results[name] = {
            "episode_s": seconds,
            "x_real_time": arm_seconds / seconds,
            "env_only_x_real_time": arm_seconds / alone,
            "replay_error_mm": 1e3 * float(np.mean(errors)),
        }
    clock = tasks.clock_input()

    def network_only() -> None:
        stepper = TraineeStepper(
            synapses(r.initial["w_in"]),
            synapses(r.initial["w_rec"]),
            synapses(r.initial["w_out"]),
            1,
            torch.Generator(),
        )
        for t in range(N_STEPS):
            stepper.step(clock[t : t + 1])

    network = _best(network_only, args.repeats)
    print(
        f"{'':<16} {'episode (s)':>12} {'x real time':>12} {'env alone':>10} "
        f"{'replay error (mm)':>18}"
    )
    for name, row in results.items():
        print(
            f"{name:<16} {row['episode_s']:>12.3f} {row['x_real_time']:>12.1f} "
            f"{row['env_only_x_real_time']:>10.1f} {row['replay_error_mm']:>18.2f}"
        )
    print(f"network alone: {network:.3f} s per episode ({arm_seconds / network:.1f}x real time)")
    out = {
        "closed_loop_x_real_time": results["default physics"]["x_real_time"],
        "closed_loop_light_x_real_time": results["light physics"]["x_real_time"],
        "network_x_real_time": arm_seconds / network,
    }
    if not args.skip_demo:
        demo_out = Path(tempfile.mkdtemp(prefix="robo_l2l_bench_demo."))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(demo_out)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        out["demo_wall_s"] = time.perf_counter() - start
        print(f"main job (scripts/demo.py, headless, GIF and figures): {out['demo_wall_s']:.1f} s")
    write_result("bench_closed_loop", out, args.out)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
