"""Watch the spiking controller learn a trajectory: the PyBullet GUI as an instrument.

Loads a meta-trained controller, samples a target of the task family, deploys the weights on
the PCM model and applies the on-chip update, then drives the physics arm in closed loop
twice (before and after the update; headless, a few seconds). The PyBullet window then
replays both runs on a kinematic arm over a floor, with the target path (green), the executed
trail (red before, blue after) and a heads-up line; a second window plots the two joints'
commanded and target angular velocities live. Controls sit in the window's side panel
(PyBullet debug parameters) and on the keyboard (focus on the PyBullet window):

  space   pause / resume          1 / 2   replay before / after the update
  n       next target (new seed)   x       drift compensation on/off for the next run
  ] / [   faster / slower          q       quit (closing the window quits too)

The panel's sliders set the speed, the drift compensation and the device age (time since
programming, as log10 s) of the next run. Outputs under ``--out``: motor_traces.png (the
traces of the last run, complete), screenshots if asked, watch.json. Needs an X display
(or ``xvfb-run -a python scripts/watch.py``).

    python scripts/watch.py
    python scripts/watch.py --seed 4 --speed 0.5 --drift-compensation
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHORTCUTS = __doc__.split("keyboard (focus on the PyBullet window):\n\n")[1].split("\n\n")[0]


@dataclass
class Config:
    checkpoint: str = field(
        default=str(ROOT / "results" / "readout_hw_quick" / "controller.safetensors"),
        metadata={"help": "controller.safetensors of a meta-trained run"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the first target and its noise"})
    drift_compensation: bool = field(
        default=False, metadata={"help": "global drift compensation of the PCM arrays"}
    )
    t_inference: float | None = field(
        default=None,
        metadata={"help": "device age: seconds from programming to use (default: the run's)"},
    )
    speed: float = field(default=0.5, metadata={"help": "replay speed, x real time"})
    out: str = field(
        default=str(ROOT / "results" / "tmp_watch"),
        metadata={"help": "output folder (default: an ignored folder under results/)"},
    )
    autoplay: bool = field(
        default=False,
        metadata={"help": "play before, then after, then quit (no input needed; for recording)"},
    )
    runs: int = field(
        default=1,
        metadata={"help": "with --autoplay: play this many targets (seed, seed + 1, ...)"},
    )
    screenshots: int = field(
        default=0,
        metadata={"help": "save this many GUI screenshots, evenly spaced over an autoplay"},
    )
    no_traces_window: bool = field(
        default=False, metadata={"help": "no live traces window (the figure is still saved)"}
    )


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="keyboard shortcuts (PyBullet window):\n" + SHORTCUTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        kind = {"int": int, "float": float, "float | None": float}.get(str(f.type), str)
        parser.add_argument(flag, type=kind, default=f.default, help=f.metadata["help"])
    return Config(**vars(parser.parse_args(argv)))


def compute_run(weights, cfg, seed: int, drift_compensation: bool, t_inference: float | None):
    """Target, the closed-loop rollouts before and after the update, devices written."""
    import torch

    from robo_l2l import deployment
    from robo_l2l.closed_loop import run_episode
    from robo_l2l.envs import ScorbotTrackEnv
    from robo_l2l.inner_loop import InnerRule, inner_loop
    from robo_l2l.tasks import sample_trajectories

    target = sample_trajectories(1, torch.Generator().manual_seed(seed))
    pcm = deployment.override(
        cfg.deployment, t_inference_s=t_inference, drift_compensation=drift_compensation
    )
    noise = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        learned = inner_loop(weights, target, InnerRule(cfg.rule, cfg.k_updates, cfg.inner_lr),
                             pcm, noise)  # fmt: skip
    env = ScorbotTrackEnv()
    try:
        rollouts = [run_episode(env, a, target, noise) for a in (learned.initial, learned.deployed)]
    finally:
        env.close()
    return {
        "seed": seed,
        "target_omega": target.omega[0].double().numpy(),
        "target_xyz": target.xyz[0].double().numpy(),
        "rollouts": rollouts,
        "devices_written": int(learned.devices_written.sum()),
        "t_inference_s": pcm.t_inference_s,
        "drift_compensation": drift_compensation,
        "k_updates": cfg.k_updates,
        "rule": cfg.rule,
    }


class Controls:
    """The GUI's debug parameters and keyboard, read once per frame."""

    BUTTONS = ("pause / resume", "replay before", "replay after", "next target (new seed)", "quit")

    def __init__(self, client, speed: float, drift: bool, t_inference: float) -> None:
        self.client = client
        self.buttons = {name: client.addUserDebugParameter(name, 1, 0, 0) for name in self.BUTTONS}
        self.clicks = dict.fromkeys(self.BUTTONS, 0)
        self.speed = client.addUserDebugParameter("speed (x real time)", 0.05, 4.0, speed)
        self.drift = client.addUserDebugParameter("drift compensation, next run", 0, 1, drift)
        self.age = client.addUserDebugParameter(
            "device age, next run (log10 s)", 0.0, 7.0, math.log10(t_inference)
        )
        self.speed_factor = 1.0
        self.drift_flip = False

    def events(self) -> set[str]:
        """Names of the actions asked for since the last call."""
        import pybullet

        actions = set()
        for name, item in self.buttons.items():
            count = self.client.readUserDebugParameter(item)
            if count != self.clicks[name]:
                self.clicks[name] = count
                actions.add(name)
        keys = {
            ord(" "): "pause / resume",
            ord("1"): "replay before",
            ord("2"): "replay after",
            ord("n"): "next target (new seed)",
            ord("q"): "quit",
        }
        for key, state in self.client.getKeyboardEvents().items():
            if not state & pybullet.KEY_WAS_TRIGGERED:
                continue
            if key in keys:
                actions.add(keys[key])
            elif key == ord("]"):
                self.speed_factor *= 1.5
            elif key == ord("["):
                self.speed_factor /= 1.5
            elif key == ord("x"):
                self.drift_flip = not self.drift_flip
        return actions

    def current_speed(self) -> float:
        return self.client.readUserDebugParameter(self.speed) * self.speed_factor

    def next_run(self) -> tuple[bool, float]:
        drift = (self.client.readUserDebugParameter(self.drift) >= 0.5) != self.drift_flip
        return drift, float(f"{10 ** self.client.readUserDebugParameter(self.age):.3g}")


def main(cfg: Config) -> dict:
    import pybullet

    from robo_l2l import traces, video
    from robo_l2l.atomic import atomic_write_text
    from robo_l2l.controller_file import load_controller
    from robo_l2l.envs.scene import Scene, fit_camera
    from robo_l2l.envs.simulator import flush_native_stdout, has_display
    from robo_l2l.tasks import DT_ARM

    if not has_display():
        raise RuntimeError(
            "the PyBullet GUI needs an X display but DISPLAY is not set; run under a virtual "
            "display: xvfb-run -a -s '-screen 0 1280x800x24' python scripts/watch.py, or use "
            "scripts/demo.py for headless videos"
        )
    if not (cfg.speed > 0) or cfg.screenshots < 0 or cfg.runs < 1:
        raise ValueError("--speed must be > 0, --screenshots >= 0 and --runs >= 1")
    if cfg.screenshots and not cfg.autoplay:
        raise ValueError("--screenshots needs --autoplay (they are spaced over its replay)")
    out = Path(cfg.out)
    video.check_writable(out / "motor_traces.png", out / "watch.json")
    weights, meta_cfg, _ = load_controller(Path(cfg.checkpoint))
    run = compute_run(weights, meta_cfg, cfg.seed, cfg.drift_compensation, cfg.t_inference)

    live = not cfg.no_traces_window and traces.interactive_backend()
    scene = Scene(gui=True)
    client = scene.client
    flush_native_stdout()
    print("keyboard shortcuts (PyBullet window):\n" + SHORTCUTS, flush=True)
    controls = Controls(client, cfg.speed, cfg.drift_compensation, run["t_inference_s"])
    shots: list[str] = []
    figure = None
    played = [-1, -1]
    shot_at = []
    if cfg.screenshots:
        total = 2 * len(run["target_xyz"])
        shot_at = [round((k + 1) * total / (cfg.screenshots + 1)) for k in range(cfg.screenshots)]
    closed_by = "finished"
    TARGET_UNIT = tuple(c / 255 for c in video.TARGET_RGB)  # noqa: N806

    def setup(run: dict):
        client.removeAllUserDebugItems()
        q = np.concatenate([r.q for r in run["rollouts"]])
        points = np.concatenate([run["target_xyz"], scene.arm_points(q)])
        camera = fit_camera(points, 960, 720, yaw=30.0, pitch=-32.0)
        client.resetDebugVisualizerCamera(camera.distance, camera.yaw, camera.pitch,
                                          list(camera.target))  # fmt: skip
        scene.sim.add_polyline(run["target_xyz"], TARGET_UNIT, width=3.0)
        labels = [
            f"before the update: mean error {1e3 * run['rollouts'][0].tracking_error_m.mean():.0f} mm",
            f"after {run['k_updates']} update(s): mean error "
            f"{1e3 * run['rollouts'][1].tracking_error_m.mean():.0f} mm",
        ]
        commands = [r.command for r in run["rollouts"]]
        return camera, traces.MotorTraces(run["target_omega"], commands, labels, live=live)

    def hud_position(camera) -> list[float]:
        """A world point that the GUI shows near the top of its view (for the heads-up text)."""
        view = camera.view.reshape(4, 4).T
        right, up = view[0, :3], view[1, :3]
        half = camera.distance * math.tan(math.radians(camera.fov) / 2)
        return list(np.asarray(camera.target) + 0.82 * half * up - 0.9 * half * right)

    try:
        camera, figure = setup(run)
        hud_at = hud_position(camera)
        episode, t, paused, drawn = 0, 0.0, False, 0
        hud, autoplay_next = -1, False
        last, last_plot = time.perf_counter(), 0.0
        n = len(run["target_xyz"])
        while True:
            actions = controls.events()
            if autoplay_next:
                actions.add("next target (new seed)")
                autoplay_next = False
            if STOP:
                closed_by = "terminated"
                break
            if "quit" in actions:
                closed_by = "quit"
                break
            if "pause / resume" in actions:
                paused = not paused
            if actions & {"replay before", "replay after"}:
                episode = 0 if "replay before" in actions else 1
                t, drawn = 0.0, 0
                client.removeAllUserDebugItems()
                hud = -1
                scene.sim.add_polyline(run["target_xyz"], TARGET_UNIT, width=3.0)
            if "next target (new seed)" in actions:
                drift, age = controls.next_run()
                client.addUserDebugText("computing the next run ...", [0, 0, 0.9], [0, 0, 0], 1.6)
                figure.close()
                run = compute_run(weights, meta_cfg, run["seed"] + 1, drift, age)
                camera, figure = setup(run)
                hud_at = hud_position(camera)
                episode, t, drawn, hud, played = 0, 0.0, 0, -1, [-1, -1]
            now = time.perf_counter()
            if not paused:
                t += (now - last) / DT_ARM * controls.current_speed()
            last = now
            if shot_at and shot_at[0] >= episode * n:  # do not skip past a screenshot
                t = min(t, shot_at[0] - episode * n)
            step = min(int(t), n - 1)
            rollout = run["rollouts"][episode]
            scene.pose(rollout.q[step])
            scene.move_marker(run["target_xyz"][step])
            if step > drawn:
                colour = tuple(c / 255 for c in video.TRAIL_RGB[episode])
                scene.sim.add_polyline(rollout.xyz[drawn : step + 1], colour, width=3.0)
                drawn = step
            played[episode] = max(played[episode], step)
            error = 1e3 * rollout.tracking_error_m[: step + 1]
            text = (
                f"{'before' if episode == 0 else 'after'} the update   t {(step + 1) * DT_ARM:.2f}"
                f" s   error {error[-1]:.0f} mm (mean {error.mean():.0f})   devices written "
                f"{0 if episode == 0 else run['devices_written']}"
                + ("   [paused]" if paused else "")
            )
            hud = client.addUserDebugText(text, hud_at, [0.1] * 3, 1.3, replaceItemUniqueId=hud)
            if now - last_plot > 0.2:  # live traces at 5 Hz
                figure.show_until([played[0] if episode == 0 else n - 1, played[1]])
                last_plot = now
            global_step = episode * n + step
            if shot_at and global_step >= shot_at[0]:
                shot_at.pop(0)
                path = out / f"screenshot_{len(shots)}.png"
                grab_screenshot(client, camera, run, rollout, step, episode, path)
                shots.append(str(path))
            if step == n - 1 and not paused:
                if cfg.autoplay and episode == 0:
                    episode, t, drawn = 1, 0.0, 0
                    client.removeAllUserDebugItems()
                    hud = -1
                    scene.sim.add_polyline(run["target_xyz"], TARGET_UNIT, width=3.0)
                elif cfg.autoplay and run["seed"] - cfg.seed + 1 < cfg.runs:
                    autoplay_next = True
                elif cfg.autoplay:
                    break
            time.sleep(1 / 60)
    except pybullet.error:
        closed_by = "window closed"
    except KeyboardInterrupt:
        closed_by = "interrupted"
    finally:
        scene.close()
    outputs = list(shots)
    if figure is not None:
        figure.save(out / "motor_traces.png")
        figure.close()
        outputs.append(str(out / "motor_traces.png"))
    rollouts = run["rollouts"]
    summary = {
        "seed": run["seed"],
        "tracking_error_before_mm": float(1e3 * rollouts[0].tracking_error_m.mean()),
        "tracking_error_after_mm": float(1e3 * rollouts[1].tracking_error_m.mean()),
        "devices_written": run["devices_written"],
        "t_inference_s": run["t_inference_s"],
        "drift_compensation": run["drift_compensation"],
        "ended": closed_by,
        "runs": run["seed"] - cfg.seed + 1,
    }
    atomic_write_text(out / "watch.json", json.dumps(summary, indent=2) + "\n")
    outputs.append(str(out / "watch.json"))
    summary["outputs"] = outputs
    return summary


def grab_screenshot(client, camera, run, rollout, step: int, episode: int, path: Path) -> None:
    """The GUI's OpenGL view of ``camera`` with the paths drawn over it, as a PNG."""
    import pybullet
    from PIL import Image

    from robo_l2l import video
    from robo_l2l.atomic import atomic_write
    from robo_l2l.envs.scene import Camera

    shot = Camera(camera.target, camera.distance, camera.yaw, camera.pitch, 960, 720, camera.fov)
    _, _, rgba, _, _ = client.getCameraImage(
        shot.width, shot.height, shot.view.tolist(), shot.projection.tolist(),
        renderer=pybullet.ER_BULLET_HARDWARE_OPENGL,
    )  # fmt: skip
    image = np.asarray(rgba, np.uint8).reshape(shot.height, shot.width, 4)[..., :3]
    image = video.overlay_paths(image, shot, run["target_xyz"], rollout.xyz, step,
                                video.TRAIL_RGB[episode])  # fmt: skip
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


STOP = []  #: set by SIGTERM; the replay loop ends at its next frame, outputs written


def _stop(signum, frame) -> None:
    STOP.append(signum)


def cli(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        summary = main(cfg)
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"seed {summary['seed']}: tracking error {summary['tracking_error_before_mm']:.1f} mm "
        f"before, {summary['tracking_error_after_mm']:.1f} mm after the update "
        f"({summary['devices_written']} devices written); {summary['ended']}"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
