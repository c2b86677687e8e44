"""Replay a target trajectory open-loop on the simulated ED-Scorbot and show how well it tracks.

The target is a task of the family (``--seed``) or angular velocities loaded from a file
(``--trajectory``, ``.npy`` of shape (T, 2) in rad/s or ``.npz`` with key ``omega``, any length
T >= 1). The arm is driven with the velocities of the target joint path,
``(q*_t - q*_{t-1}) / 0.01 s``: these equal omega except where a task of the family clips q at
a joint limit, where replaying omega itself would push against the limit and leave the path.
Headless by default: writes an animated GIF and a PNG of the tool-tip path (target vs
executed) to ``--out`` (default runs/rollout/<source>-<seed>-<time>/); ``--gui`` shows the
rollout in the PyBullet window instead (paced to real time times ``--slowdown``) and saves a
screenshot of it. Prints the tracking error and, as the last line, a JSON summary.

    python scripts/rollout.py --seed 3
    python scripts/rollout.py --trajectory omega.npy --out runs/rollout/mine
    xvfb-run -a -s "-screen 0 1024x768x24" python scripts/rollout.py --gui
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from robo_l2l import cli
from robo_l2l.animation import write_gif, write_png
from robo_l2l.closed_loop import real_time_pacer
from robo_l2l.envs import ScorbotTrackEnv
from robo_l2l.envs.simulator import flush_native_stdout, has_display
from robo_l2l.plots.rollout import plot_replay
from robo_l2l.run_folder import (
    FolderLockedError,
    check_output_folder,
    default_run_folder,
    staged_outputs,
)
from robo_l2l.tasks import DT_ARM, N_STEPS
from robo_l2l.trajectory_file import load_omega

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None):
    parser = cli.Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the sampled target")
    cli.add_family_flag(parser)
    parser.add_argument(
        "--trajectory",
        type=Path,
        default=None,
        help="target angular velocities (rad/s): .npy of shape (T, 2) or .npz with key 'omega'; "
        "default: sample a task of the family",
    )
    parser.add_argument("--gui", action="store_true", help="show the rollout in the PyBullet GUI")
    parser.add_argument(
        "--slowdown",
        type=cli.finite_float,
        default=1.0,
        help="GUI pacing: wall time per simulated second (1 = real time, 0 = no pacing)",
    )
    parser.add_argument(
        "--steps", type=cli.positive_int, default=None, help="replay only the first STEPS steps"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument(
        "--gif-stride", type=cli.positive_int, default=4, help="one GIF frame every this many steps"
    )
    parser.add_argument("--gif-width", type=cli.positive_int, default=320, help="GIF width (px)")
    parser.add_argument("--gif-height", type=cli.positive_int, default=240, help="GIF height (px)")
    cli.add_threads_flag(parser)
    args = parser.parse_args(argv)
    if args.slowdown < 0:
        parser.error(f"--slowdown must be >= 0, got {args.slowdown}")
    if args.trajectory is not None and args.family != "brownian":
        parser.error("--family picks a sampled target; it does not apply to --trajectory")
    return args


def replay_actions(q: np.ndarray) -> np.ndarray:
    """Velocities (T, 2) rad/s of the target joint path ``q`` (T, 2), within the action bounds."""
    actions = np.diff(q, axis=0, prepend=np.zeros((1, 2))) / DT_ARM
    excess = np.abs(actions).max() - math.pi
    # q of a float32 task differs from 0.01 * cumsum(omega) by rounding only
    if excess > 1e-4:
        raise ValueError(f"the target joint path moves faster than pi rad/s (by {excess:.2e})")
    return np.clip(actions, -math.pi, math.pi)


def main(args) -> dict:
    cli.set_threads(args.threads)
    if args.gui and not has_display():
        raise RuntimeError(
            "--gui needs an X display but DISPLAY is not set: run without --gui (headless, "
            "writes a GIF) or under a virtual display: "
            "xvfb-run -a -s '-screen 0 1024x768x24' python scripts/rollout.py --gui"
        )
    source = args.family if args.trajectory is None else args.trajectory.stem
    out = args.out or default_run_folder(ROOT, "rollout", source, args.seed)
    check_output_folder(out)
    omega = None if args.trajectory is None else load_omega(args.trajectory)
    options = None if omega is None else {"trajectory": omega}
    if omega is None and args.family != "brownian":  # the env samples the Brownian family itself
        import torch

        from robo_l2l.families import sample_family

        options = {
            "trajectory": sample_family(args.family, 1, torch.Generator().manual_seed(args.seed))
        }
    width, height = (640, 480) if args.gui else (args.gif_width, args.gif_height)
    env = ScorbotTrackEnv(
        render_mode="human" if args.gui else "rgb_array",
        render_width=width,
        render_height=height,
        n_steps=N_STEPS if omega is None else len(omega),
    )
    try:
        env.reset(seed=args.seed, options=options)
        actions = replay_actions(env.task.target.q)[: args.steps]
        frames = [] if args.gui else [env.render()]
        pace = real_time_pacer(args.slowdown) if args.gui and args.slowdown > 0 else None
        errors, executed = [], []
        for t, action in enumerate(actions):
            _, _, _, _, info = env.step(action.astype(np.float32))
            errors.append(info["tracking_error_m"])
            executed.append(info["ee_xyz"])
            if pace is not None:
                pace(t)
            elif not args.gui and ((t + 1) % args.gif_stride == 0 or t + 1 == len(actions)):
                frames.append(env.render())
        target = env.task.target.xyz[: len(actions)]
        screenshot = env.snapshot() if args.gui else None
    finally:
        env.close()
    errors_mm = 1e3 * np.asarray(errors)
    what = str(args.trajectory) if args.trajectory else f"{args.family} family, seed {args.seed}"
    with staged_outputs(out) as stage:
        if screenshot is not None:
            write_png(stage / "gui_screenshot.png", screenshot)
        else:
            write_gif(stage / "rollout.gif", [(frames, None)], args.gif_stride)
        plot_replay(
            target,
            np.asarray(executed),
            stage / "rollout_path.png",
            f"{what}: tracking error mean {errors_mm.mean():.2f} mm, max {errors_mm.max():.2f} mm",
        )
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        (stage / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        names = sorted(str(out / p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    return {
        "tracking_error_mean_mm": float(errors_mm.mean()),
        "tracking_error_max_mm": float(errors_mm.max()),
        "steps": len(errors),
        "outputs": names,
    }


def cli_main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = main(args)
    except (RuntimeError, ValueError, FileNotFoundError, FolderLockedError) as exc:
        flush_native_stdout()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    flush_native_stdout()
    print(
        f"tracking error: mean {summary['tracking_error_mean_mm']:.3f} mm, "
        f"max {summary['tracking_error_max_mm']:.3f} mm over {summary['steps']} steps"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
