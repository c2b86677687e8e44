"""Watch the spiking controller learn a trajectory: the PyBullet GUI as an instrument.

    xvfb-run -a python scripts/watch.py            # (or on a desktop: python scripts/watch.py)
    python scripts/watch.py --seed 4 --speed 0.25 --t-inference 86400 --drift-compensation

Loads a meta-trained controller, samples a target of the task family, deploys the weights as
the run's config says (``--ideal`` / ``--t-inference`` / ``--drift-compensation`` override
it), applies the on-chip update and drives the physics arm in closed loop before and after it
(headless, a few seconds). The PyBullet window then replays both runs over a floor with the
target path, the executed trail and a heads-up line, and a second window plots the two
joints' commanded and target angular velocities live. The side panel's buttons and sliders
(pause/resume, replay before/after, next target, speed, drift compensation and device age of
the next run) and the keys below control it. Closing the window ends the program; the outputs
(motor_traces.png, screenshots if asked, watch.json) are written in every case, each file
atomically. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from robo_l2l import cli

    parser = cli.Parser(
        description=__doc__.split("\n\n")[0],
        epilog=cli.gui_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help="controller.safetensors of a meta-trained run",
    )
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the first target")
    cli.add_deployment_flags(parser)
    cli.add_gui_flags(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/watch/<run>-<seed>-<time>)",
    )
    cli.add_threads_flag(parser)
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> dict:
    from robo_l2l import cli, instrument
    from robo_l2l.controller_file import load_controller
    from robo_l2l.run_folder import RunLock, check_output_folder, default_run_folder

    cli.set_threads(args.threads)
    instrument.check_display()
    out = args.out or default_run_folder(ROOT, "watch", args.checkpoint.resolve().parent.name,
                                         args.seed)  # fmt: skip
    cli.gui_options(args, check_output_folder(out)).check()
    weights, cfg, _ = load_controller(args.checkpoint)
    pcm = cli.deployment_from_args(args, cfg.deployment)
    print("watch: learning the first target ...", file=sys.stderr)
    first = instrument.compute_run(weights, cfg, args.seed, pcm)
    with RunLock(out):  # the files are written one by one (each atomically) at the end
        return instrument.watch(weights, cfg, first, cli.gui_options(args, out),
                                lambda text: print(text, flush=True))  # fmt: skip


def report(summary: dict) -> None:
    """The last lines: a sentence, then the summary as one JSON object."""
    print(
        f"seed {summary['seed']}: tracking error {summary['tracking_error_before_mm']:.1f} mm "
        f"before, {summary['tracking_error_after_mm']:.1f} mm after the update "
        f"({summary['devices_written']} devices written); {summary['ended']}"
    )
    print(json.dumps(summary), flush=True)


def cli_main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from robo_l2l.checkpoint import CheckpointFormatError
    from robo_l2l.run_folder import FolderLockedError

    try:
        report(main(args))
    except (FileNotFoundError, ValueError, RuntimeError, OSError, CheckpointFormatError,
            FolderLockedError) as exc:  # fmt: skip
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
