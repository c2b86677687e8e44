"""The main job: a meta-trained spiking controller learns a new arm trajectory on PCM.

    python scripts/demo.py                       # headless: report, MP4 + GIF, figures in runs/demo/
    python scripts/demo.py --gui                 # then watch it in the PyBullet window
    python scripts/demo.py --t-inference 86400 --drift-compensation   # devices a day old
    python scripts/demo.py --out results/demo    # regenerate the README gallery

Loads a shipped controller from results/ (``--checkpoint`` for another), samples a new target
trajectory (``--seed``) or loads one (``--trajectory omega.npy``), deploys the weights as the
run's config says (device age, drift compensation; ``--ideal`` / ``--t-inference`` /
``--drift-compensation`` override it), applies the on-chip e-prop update(s), then lets the
network drive the PyBullet arm in closed loop twice: with the weights as deployed (before) and
after the update. The tracking error is measured on the simulated arm. With ``--gui`` the
PyBullet window then replays both runs as an instrument (:mod:`robo_l2l.instrument`; the keys
below, buttons and sliders for pause, replay, next target, speed, device age and drift
compensation, live motor traces). Outputs (report.json, demo.npz, demo.mp4 and demo.gif side
by side at 960x540, demo_still.png one full-size frame of it, figures; with --gui also
motor_traces.png and watch.json) replace the previous set in --out together, or not at all. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from robo_l2l import cli

    parser = cli.Parser(
        description=__doc__.splitlines()[0],
        epilog=cli.gui_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help="controller.safetensors of a meta-trained run",
    )
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of target and noise")
    parser.add_argument(
        "--trajectory",
        type=Path,
        default=None,
        help="target angular velocities: .npy (T, 2) or .npz with 'omega' (rad/s, T <= 249)",
    )
    parser.add_argument(
        "--k-updates",
        type=cli.positive_int,
        default=None,
        help="number of on-chip updates (default: the controller's)",
    )
    cli.add_deployment_flags(parser)
    parser.add_argument(
        "--gui",
        action="store_true",
        help="then replay both runs in the PyBullet window (the GUI instrument; needs a display)",
    )
    cli.add_gui_flags(parser)
    parser.add_argument(
        "--frame-every",
        type=cli.nonnegative_int,
        default=2,
        help="video (demo.mp4, demo.gif, side by side at 960x540): one frame every N steps of "
        "10 ms (0: no video)",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/demo/<run>-<seed>-<time>)",
    )
    cli.add_threads_flag(parser)
    cli.add_device_flag(parser)
    cli.add_family_flag(parser)
    args = parser.parse_args(argv)
    if args.trajectory is not None and args.family != "brownian":
        parser.error("--family picks a sampled target; it does not apply to --trajectory")
    gui_only = ("speed", "autoplay", "runs", "screenshots", "no_traces_window")
    given = [n for n in gui_only if getattr(args, n) != parser.get_default(n)]
    if not args.gui and given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        parser.error(f"{flags} only act on the GUI: add --gui")
    return args


def main(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    from robo_l2l import cli, demo_record, instrument, video
    from robo_l2l.controller_file import load_controller
    from robo_l2l.demo_run import run_demo, video_runs
    from robo_l2l.run_folder import (
        RunLock,
        add_to_set,
        check_output_folder,
        default_run_folder,
        staged_outputs,
    )
    from robo_l2l.tasks import N_STEPS
    from robo_l2l.trajectory_file import load_omega, trajectories_from_omega

    cli.set_threads(args.threads)
    if args.gui:
        instrument.check_display()
    run_name = args.checkpoint.resolve().parent.name
    out = args.out or default_run_folder(ROOT, "demo", run_name, args.seed)
    cli.gui_options(args, check_output_folder(out)).check()
    weights, cfg, info = load_controller(args.checkpoint, args.device)
    pcm = cli.deployment_from_args(args, cfg.deployment)
    if args.trajectory is None:
        import torch

        from robo_l2l.families import sample_family

        target = sample_family(args.family, 1, torch.Generator().manual_seed(args.seed))
    else:
        target = trajectories_from_omega(load_omega(args.trajectory, max_steps=N_STEPS))
    k = cfg.k_updates if args.k_updates is None else args.k_updates
    print(f"demo: learning the target ({cfg.rule} rule, K = {k}) ...", file=sys.stderr)
    family = "file" if args.trajectory is not None else args.family
    result = run_demo(weights, cfg, target, k, pcm, args.seed, family)
    meta = result.record["meta"]
    checkpoint = Path(args.checkpoint).resolve()
    if checkpoint.is_relative_to(ROOT):  # reports name the shipped file, not this machine's path
        checkpoint = checkpoint.relative_to(ROOT)
    meta |= {"checkpoint": str(checkpoint), "checkpoint_iteration": info.get("iteration")}
    print("demo: writing outputs ...", file=sys.stderr)
    with staged_outputs(out) as stage:
        demo_record.write(stage / demo_record.FILE, result.record)
        if args.frame_every:
            print("demo: rendering the video ...", file=sys.stderr)
            runs, title = video_runs(result)
            config = video.VideoConfig(every=args.frame_every)
            written = video.render_video(
                result.record["target_xyz"], runs, title, stage / "demo.mp4",
                stage / "demo.gif", config, still=stage / "demo_still.png",
            )  # fmt: skip
            if written.message:
                print(f"demo: {written.message}", file=sys.stderr)
        if not args.no_figures:
            from robo_l2l.plots import demo_figures

            demo_figures(result.record, stage)
        names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
        report = {**meta, "seconds": time.perf_counter() - start}
        report["outputs"] = [str(out / n) for n in [*names, "report.json"]]
        (stage / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if not args.gui:
        print_report(report)
        return report
    print("demo: opening the PyBullet window ...", file=sys.stderr)

    with RunLock(out):
        first = instrument.run_from_demo(result, pcm)
        gui = instrument.watch(weights, cfg, first, cli.gui_options(args, out),
                               lambda text: print(text, flush=True))  # fmt: skip
        add_to_set(out, [Path(p).name for p in gui["outputs"]])  # the next run replaces them
    report |= {"outputs": report["outputs"] + gui["outputs"], "gui": gui["ended"]}
    print_report(report)
    return report


def print_report(report: dict) -> None:
    """The last lines: the figures in words, then one JSON object."""
    print(
        f"controller: {report['rule']} e-prop, {report['k_updates']} update(s), "
        f"{report['deployment_text']} ({report['checkpoint']})"
    )
    print(f"tracking error before the update: {report['tracking_error_before_mm']:8.1f} mm")
    print(f"tracking error after the update:  {report['tracking_error_after_mm']:8.1f} mm")
    print(f"devices written: {report['devices_written']}, time: {report['seconds']:.1f} s")
    keys = (
        "tracking_error_before_mm",
        "tracking_error_after_mm",
        "devices_written",
        "deployment",
        "device_age",
        "drift_compensation",
        "seconds",
        "outputs",
        "gui",
    )
    print(json.dumps({k: report[k] for k in keys if k in report}), flush=True)


def cli_main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from robo_l2l.checkpoint import CheckpointFormatError
    from robo_l2l.run_folder import FolderLockedError

    try:
        main(args)
    except (
        FileNotFoundError,
        ValueError,
        RuntimeError,
        CheckpointFormatError,
        FolderLockedError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
