"""The main job: a meta-trained spiking controller learns a new arm trajectory on PCM.

    python scripts/demo.py                       # headless: report, GIF, figures in results/demo
    python scripts/demo.py --gui --slowdown 2    # watch it in the PyBullet window

Loads a shipped controller from results/ (``--checkpoint`` for another), samples a new target
trajectory (``--seed``) or loads one (``--trajectory omega.npy``), deploys the weights on the PCM
model, applies the on-chip e-prop update(s), then lets the network drive the PyBullet arm in
closed loop twice: with the weights as deployed (before) and after the update. The tracking
error is measured on the simulated arm. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"
MATRICES = ("w_in", "w_rec", "w_out")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help="controller.safetensors of a meta-trained run",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the target and the noise")
    parser.add_argument(
        "--trajectory",
        type=Path,
        default=None,
        help="target angular velocities: .npy (T, 2) or .npz with 'omega' (rad/s)",
    )
    parser.add_argument(
        "--k-updates",
        type=int,
        default=None,
        help="number of on-chip updates (default: the controller's)",
    )
    parser.add_argument("--ideal", action="store_true", help="ideal weights instead of PCM")
    parser.add_argument(
        "--t-inference",
        type=float,
        default=None,
        help="seconds between programming and use (default: the run's, 32 s)",
    )
    parser.add_argument(
        "--drift-compensation",
        action="store_true",
        help="global drift compensation of the PCM arrays",
    )
    parser.add_argument("--gui", action="store_true", help="show the arm in the PyBullet window")
    parser.add_argument(
        "--slowdown",
        type=float,
        default=1.0,
        help="GUI pacing: 1 = real time, 2 = half speed, 0 = as fast as possible",
    )
    parser.add_argument(
        "--frame-every",
        type=int,
        default=4,
        help="GIF: one frame every N steps of 10 ms (0: no GIF)",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo")
    return parser.parse_args(argv)


def load_target(args: argparse.Namespace):
    from robo_l2l.functional.kinematics import scorbot_fk_moving
    from robo_l2l.tasks import Trajectories, check_trajectory, integrate_omega, sample_trajectories

    if args.trajectory is None:
        return sample_trajectories(1, torch.Generator().manual_seed(args.seed))
    path = args.trajectory
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "omega" not in data:
                raise ValueError(f"{path} has no array 'omega' (keys: {sorted(data.keys())})")
            omega = data["omega"]
    elif path.suffix == ".npy":
        omega = np.load(path, allow_pickle=False)
    else:
        raise ValueError(f"trajectory file must be .npy or .npz, got {path.name}")
    omega = torch.as_tensor(np.asarray(omega, dtype=np.float32))
    if omega.shape != (249, 2):
        raise ValueError(
            f"{path}: omega must have shape (249, 2) in rad/s, got {tuple(omega.shape)}"
        )
    omega = omega.unsqueeze(0)
    check_trajectory(omega, str(path))
    q = integrate_omega(omega, clip=False)
    return Trajectories(omega, q, scorbot_fk_moving(q))


def conductances(m, cfg) -> np.ndarray:
    """Signed conductance (uS) of each pair's active device, as programmed-then-drifted."""
    if cfg.ideal:
        return (m.weight[0] / m.weight[0].abs().max() * cfg.g_max_us).numpy()
    return (m.weight[0] / m.scale[0] * cfg.g_max_us).numpy()


def save_gif(path: Path, before: list, after: list, captions: tuple[str, str], every: int) -> None:
    from PIL import Image, ImageDraw

    from robo_l2l.atomic import atomic_write_bytes

    images = []
    for frames, caption in zip((before, after), captions, strict=True):
        for frame in frames:
            image = Image.fromarray(frame)
            draw = ImageDraw.Draw(image)
            draw.rectangle((0, 0, image.width, 22), fill=(255, 255, 255))
            draw.text((6, 5), caption, fill=(0, 0, 0))
            images.append(image.quantize(colors=64, dither=Image.Dither.NONE))
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=10 * every,
        loop=0,
        optimize=True,
    )
    atomic_write_bytes(path, buffer.getvalue())


def main(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    from robo_l2l import meta
    from robo_l2l.atomic import atomic_write_bytes
    from robo_l2l.closed_loop import real_time_pacer, run_episode
    from robo_l2l.envs import ScorbotTrackEnv
    from robo_l2l.envs.simulator import has_display
    from robo_l2l.inner_loop import InnerRule, inner_loop
    from robo_l2l.pcm import PCMConfig

    if args.gui and not has_display():
        raise RuntimeError(
            "--gui needs an X display but none is available (DISPLAY is not set): run without "
            "--gui (headless: the GIF shows the rollout) or under a virtual display, e.g. "
            "xvfb-run -a -s '-screen 0 1024x768x24' python scripts/demo.py --gui"
        )
    if args.frame_every < 0 or args.slowdown < 0:
        raise ValueError("--frame-every and --slowdown must be >= 0")
    weights, cfg, info = meta.load_controller(args.checkpoint)
    target = load_target(args)
    k = cfg.k_updates if args.k_updates is None else args.k_updates
    rule = InnerRule(cfg.rule, k, cfg.inner_lr)
    pcm = PCMConfig.ideal_weights() if args.ideal else meta.pcm_deployment(cfg)
    if args.t_inference is not None and not args.ideal:
        pcm = replace(pcm, t_inference_s=args.t_inference)
    if args.drift_compensation and not args.ideal:
        pcm = replace(pcm, drift_compensation=True)
    noise = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        learned = inner_loop(weights, target, rule, pcm, noise)

    render_mode = "human" if args.gui else "rgb_array"
    env = ScorbotTrackEnv(render_mode=render_mode, render_width=400, render_height=300)
    frame_every = 0 if args.gui else args.frame_every
    try:
        episodes = {}
        for name, arrays in (("before", learned.initial), ("after", learned.deployed)):
            pace = real_time_pacer(args.slowdown) if args.gui and args.slowdown > 0 else None
            episodes[name] = run_episode(env, arrays, target, noise, frame_every, pace)
        screenshot = env.snapshot() if args.gui else None
    finally:
        env.close()

    before, after = episodes["before"], episodes["after"]
    devices = int(learned.devices_written.sum())
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = []
    report = {
        "rule": cfg.rule,
        "k_updates": k,
        "deployment": "ideal" if args.ideal else "pcm",
        "checkpoint": str(args.checkpoint),
        "checkpoint_iteration": info.get("iteration"),
        "seed": args.seed,
        "tracking_error_before_mm": float(1e3 * before.tracking_error_m.mean()),
        "tracking_error_after_mm": float(1e3 * after.tracking_error_m.mean()),
        "task_loss_before": float(learned.loss_before[0]),
        "task_loss_after": float(learned.loss_after[0]),
        "devices_written": devices,
        "clipped_commands": before.clipped_steps + after.clipped_steps,
    }
    arrays = {
        "target_omega": target.omega[0].numpy(),
        "target_xyz": target.xyz[0].numpy(),
        "omega_before": before.command,
        "omega_after": after.command,
        "xyz_before": before.xyz.astype(np.float32),
        "xyz_after": after.xyz.astype(np.float32),
        "spikes_before": before.spikes,
        "spikes_after": after.spikes,
        "learning_signals": (
            learned.learning_signals[0].numpy()
            if learned.learning_signals is not None
            else (learned.before.output[0] - target.omega[0]).numpy()
        ),
        "meta": np.array(json.dumps(report)),
    }
    if learned.generator_spikes is not None:
        arrays["generator_spikes"] = learned.generator_spikes[0].numpy().astype(np.uint8)
    for name in MATRICES:
        arrays[f"g_before.{name}"] = conductances(learned.initial[name], pcm)
        arrays[f"g_after.{name}"] = conductances(learned.deployed[name], pcm)
        written = torch.zeros_like(learned.initial[name].weight[0], dtype=torch.bool)
        if name in learned.updates:
            written = learned.updates[name][0] != 0
        arrays[f"written.{name}"] = written.numpy()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(args.out / "demo.npz", buffer.getvalue())
    outputs.append(str(args.out / "demo.npz"))
    if screenshot is not None:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(screenshot).save(buffer, format="PNG")
        atomic_write_bytes(args.out / "gui_screenshot.png", buffer.getvalue())
        outputs.append(str(args.out / "gui_screenshot.png"))
    if frame_every:
        gif = args.out / "demo.gif"
        save_gif(
            gif,
            before.frames,
            after.frames,
            (
                f"before the update: {report['tracking_error_before_mm']:.0f} mm mean error",
                f"after {k} {cfg.rule} e-prop update(s) on PCM, {devices} devices written: "
                f"{report['tracking_error_after_mm']:.0f} mm",
            ),
            frame_every,
        )
        outputs.append(str(gif))
    if not args.no_figures:
        from robo_l2l import plots

        figures = {k: v for k, v in arrays.items() if k != "meta"}
        figures["meta"] = report
        outputs += [str(p) for p in plots.demo_figures(figures, args.out)]
    report["seconds"] = time.perf_counter() - start
    report["outputs"] = outputs
    return report


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = main(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"controller: {report['rule']} e-prop, {report['k_updates']} update(s), "
        f"{report['deployment']} ({report['checkpoint']})"
    )
    print(f"tracking error before the update: {report['tracking_error_before_mm']:8.1f} mm")
    print(f"tracking error after the update:  {report['tracking_error_after_mm']:8.1f} mm")
    print(f"devices written: {report['devices_written']}, time: {report['seconds']:.1f} s")
    keys = (
        "tracking_error_before_mm",
        "tracking_error_after_mm",
        "devices_written",
        "seconds",
        "outputs",
    )
    print(json.dumps({k: report[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
