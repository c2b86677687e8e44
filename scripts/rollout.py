"""Replay a target trajectory open-loop on the simulated ED-Scorbot and show how well it tracks.

The target is a task of the family (``--seed``) or angular velocities loaded from a file
(``--trajectory``, ``.npy`` of shape (T, 2) in rad/s or ``.npz`` with key ``omega``). The arm is
driven with the velocities of the target joint path, ``(q*_t - q*_{t-1}) / 0.01 s``: these equal
omega except where a task of the family clips q at a joint limit, where replaying omega itself
would push against the limit and leave the path. Headless by default: writes an animated GIF
and a PNG of the tool-tip path (target vs executed) under ``--out``; ``--gui`` shows the
rollout in the PyBullet window instead (paced to real time times ``--slowdown``) and saves a
screenshot of it. Prints the tracking error and, as the last line, a JSON summary.

    python scripts/rollout.py --seed 3
    python scripts/rollout.py --trajectory omega.npy --out results/rollout_mine
    xvfb-run -a -s "-screen 0 1024x768x24" python scripts/rollout.py --gui
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robo_l2l.atomic import atomic_write
from robo_l2l.envs import ScorbotTrackEnv
from robo_l2l.envs.simulator import flush_native_stdout, has_display
from robo_l2l.tasks import DT_ARM


@dataclass
class Config:
    seed: int = field(default=0, metadata={"help": "seed of the sampled target trajectory"})
    trajectory: str | None = field(
        default=None,
        metadata={
            "help": "target angular velocities (rad/s): .npy of shape (T, 2) or .npz with key "
            "'omega'; default: sample a task of the family"
        },
    )
    gui: bool = field(
        default=False,
        metadata={"help": "show the rollout in the PyBullet GUI (needs a display or xvfb-run)"},
    )
    slowdown: float = field(
        default=1.0,
        metadata={
            "help": "GUI pacing: wall time per simulated second (1 = real time, 0 = no pacing)"
        },
    )
    steps: int | None = field(
        default=None,
        metadata={"help": "replay only the first STEPS steps (default: the whole trajectory)"},
    )
    out: str = field(default="results/rollout", metadata={"help": "output directory"})
    gif_stride: int = field(default=4, metadata={"help": "one GIF frame every this many steps"})
    gif_width: int = field(default=320, metadata={"help": "GIF width (pixels)"})
    gif_height: int = field(default=240, metadata={"help": "GIF height (pixels)"})


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        parser.add_argument(
            flag, type=kind, default=f.default, help=f"{f.metadata['help']} (default: {f.default})"
        )
    return Config(**vars(parser.parse_args(argv)))


def load_omega(path: str) -> np.ndarray:
    """Angular velocities (T, 2) rad/s from a .npy or .npz (key 'omega') file."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"trajectory file not found: {file}")
    if file.suffix == ".npy":
        return np.load(file, allow_pickle=False)
    if file.suffix == ".npz":
        with np.load(file, allow_pickle=False) as data:
            if "omega" not in data:
                raise ValueError(f"{file} has no array 'omega' (keys: {sorted(data.keys())})")
            return data["omega"]
    raise ValueError(f"trajectory file must be .npy or .npz, got {file.name}")


def plot_paths(target: np.ndarray, executed: np.ndarray, path: Path, title: str) -> None:
    """Target vs executed tool-tip path (m), x-y and x-z projections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    for ax, (i, j, label) in zip(axes, ((0, 1, "y"), (0, 2, "z")), strict=False):
        ax.plot(target[:, i], target[:, j], color="tab:green", lw=2.5, label="target")
        ax.plot(executed[:, i], executed[:, j], color="tab:red", lw=1.2, ls="--", label="executed")
        ax.plot(*target[0, [i, j]], "ko", ms=4, label="start")
        ax.set_xlabel("x (m)")
        ax.set_ylabel(f"{label} (m)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title, fontsize=10)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def replay_actions(env: ScorbotTrackEnv) -> np.ndarray:
    """Velocities (T, 2) rad/s of the target joint path, within the action bounds."""
    q = env.task.target.q
    actions = np.diff(q, axis=0, prepend=np.zeros((1, 2))) / DT_ARM
    excess = np.abs(actions).max() - math.pi
    # q of a float32 task differs from 0.01 * cumsum(omega) by rounding only
    if excess > 1e-4:
        raise ValueError(f"the target joint path moves faster than pi rad/s (by {excess:.2e})")
    return np.clip(actions, -math.pi, math.pi)


def main(cfg: Config) -> dict:
    if cfg.gui and not has_display():
        raise RuntimeError(
            "--gui needs an X display but DISPLAY is not set: run without --gui (headless, "
            "writes a GIF) or under a virtual display: "
            "xvfb-run -a -s '-screen 0 1024x768x24' python scripts/rollout.py --gui"
        )
    if cfg.steps is not None and cfg.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {cfg.steps}")
    if cfg.gif_stride < 1 or cfg.slowdown < 0:
        raise ValueError("--gif-stride must be >= 1 and --slowdown >= 0")
    out = Path(cfg.out)
    options = None if cfg.trajectory is None else {"trajectory": load_omega(cfg.trajectory)}
    width, height = (640, 480) if cfg.gui else (cfg.gif_width, cfg.gif_height)
    env = ScorbotTrackEnv(
        render_mode="human" if cfg.gui else "rgb_array", render_width=width, render_height=height
    )
    try:
        _, _ = env.reset(seed=cfg.seed, options=options)
        actions = replay_actions(env)[: cfg.steps]
        frames = [] if cfg.gui else [env.render()]
        errors, executed = [], []
        start = time.perf_counter()
        for t, action in enumerate(actions):
            _, _, _, _, info = env.step(action)
            errors.append(info["tracking_error_m"])
            executed.append(info["ee_xyz"])
            if cfg.gui and cfg.slowdown > 0:
                lag = start + (t + 1) * DT_ARM * cfg.slowdown - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)
            elif not cfg.gui and ((t + 1) % cfg.gif_stride == 0 or t + 1 == len(actions)):
                frames.append(env.render())
        target = env.task.target.xyz[: len(actions)]
        outputs = []
        if cfg.gui:
            screenshot = out / "gui_screenshot.png"
            image = env.snapshot()
            atomic_write(screenshot, lambda tmp: _save_png(image, tmp))
            outputs.append(str(screenshot))
        else:
            gif = out / "rollout.gif"
            atomic_write(gif, lambda tmp: _save_gif(frames, tmp, cfg.gif_stride))
            outputs.append(str(gif))
    finally:
        env.close()

    errors_mm = 1e3 * np.asarray(errors)
    source = cfg.trajectory or f"task family, seed {cfg.seed}"
    png = out / "rollout_path.png"
    plot_paths(
        target,
        np.asarray(executed),
        png,
        f"{source}: tracking error mean {errors_mm.mean():.2f} mm, max {errors_mm.max():.2f} mm",
    )
    outputs.append(str(png))
    config_json = out / "config.json"
    atomic_write(
        config_json,
        lambda tmp: Path(tmp).write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n"),
    )
    outputs.append(str(config_json))
    return {
        "tracking_error_mean_mm": float(errors_mm.mean()),
        "tracking_error_max_mm": float(errors_mm.max()),
        "steps": len(errors),
        "outputs": outputs,
    }


def _save_png(image: np.ndarray, path: str) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG")


def _save_gif(frames: list[np.ndarray], path: str, stride: int) -> None:
    from PIL import Image

    images = [Image.fromarray(f).quantize(colors=64, dither=Image.Dither.NONE) for f in frames]
    # one frame per `stride` steps of 10 ms: real time (GIF delays come in 10 ms units)
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 * DT_ARM * stride),
        loop=0,
        optimize=True,
    )


def cli(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        summary = main(cfg)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        flush_native_stdout()
        print(f"rollout: error: {exc}", file=sys.stderr)
        return 2
    flush_native_stdout()
    print(
        f"tracking error: mean {summary['tracking_error_mean_mm']:.3f} mm, "
        f"max {summary['tracking_error_max_mm']:.3f} mm over {summary['steps']} steps"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
