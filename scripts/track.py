"""Closed-loop tracking error of a controller on many held-out targets (PyBullet, in parallel).

    python scripts/track.py --run results/readout_hw_quick                     # 128 targets
    python scripts/track.py --run results/readout_hw_quick --seed 200 --targets 32
    python scripts/track.py --run results/natural_hw_cpu --t-inference 86400 --drift-compensation

Learns every target on the chip (the run's rule and K, its deployment or the deployment flags;
one batched inner loop), then drives one simulated arm per target with the network's commands of
the training trial (the controller as deployed, before the update) and of the test trial after
the update(s), spread over --workers processes (robo_l2l.closed_loop_pool). Writes
tracking.json (per-target errors) and tracking.md to --out (default
runs/track/<run>-<seed>-<time>/): mean with a 95% CI (t over targets) and worst of the
per-target mean tracking error in mm, before and after, and the wall time of each part. Last
line: one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from robo_l2l import cli, deployment
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import CheckpointFormatError
from robo_l2l.controller_file import load_controller
from robo_l2l.run_folder import FolderLockedError, check_output_folder, default_run_folder
from robo_l2l.tracking import track

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="run folder (controller inside)")
    parser.add_argument(
        "--targets", type=cli.positive_int, default=128, help="held-out targets (default 128)"
    )
    parser.add_argument(
        "--seed",
        type=cli.seed,
        default=100,
        help="seed of the targets and the device noise (training never uses 100-109)",
    )
    parser.add_argument(
        "--k-updates", type=cli.positive_int, default=None, help="on-chip updates (default: run's)"
    )
    parser.add_argument(
        "--workers", type=cli.positive_int, default=2, help="PyBullet processes (default 2)"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    cli.add_threads_flag(parser)
    cli.add_device_flag(parser)
    cli.add_family_flag(parser)
    cli.add_deployment_flags(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.set_threads(args.threads)
    try:
        weights, cfg, _ = load_controller(args.run / "controller.safetensors", args.device)
        pcm = cli.deployment_from_args(args, cfg.deployment)
        out = args.out or default_run_folder(ROOT, "track", args.run.name, args.seed)
        check_output_folder(out)
        record = track(
            weights, cfg, pcm, args.targets, args.seed, args.k_updates, args.family, args.workers
        )
    except (
        FileNotFoundError,
        CheckpointFormatError,
        ValueError,
        RuntimeError,
        FloatingPointError,
        FolderLockedError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n, k, cost = args.targets, record["k_updates"], record["device_cost"]
    rows = {"before": record["before"], "after": record["after"]}
    record = {"run": args.run.name, **record}
    total_s, network_s = record["total_s"], record["network_s"]
    table = (
        f"# Closed-loop tracking of `{args.run.name}`\n\n"
        f"Regenerate: `python scripts/track.py --run {args.run} --targets {n} --seed {args.seed} "
        f"--family {args.family} --out {out}`\n\n{n} held-out targets of the {args.family} "
        f"family (seed {args.seed}), {cfg.rule} rule, K = {k}, "
        f"{deployment.describe(pcm)}; per-target mean tool-tip error in mm: mean ± 95% CI "
        f"(t over targets) and worst.\n\n| trial | mean (mm) | worst (mm) |\n|---|---|---|\n"
        + "".join(
            f"| {name} | {r['mean_mm']:.1f} ± {r['ci95_mm'] or 0:.1f} | {r['worst_mm']:.1f} |\n"
            for name, r in rows.items()
        )
        + f"\nOn-chip learning per target ({k} update(s), robo_l2l/device_cost.py): "
        f"{cost['reset_pulses']:.0f} RESET and {cost['set_pulses']:.0f} SET pulses, "
        f"{cost['programming_energy_nj']:.1f} nJ of programming; each trial's products "
        f"{cost['trial_energy_analog_nj']:.1f} nJ on the PCM chip vs "
        f"{cost['trial_energy_digital_nj']:.1f} nJ in float32 digital arithmetic; the updates' "
        f"arithmetic {cost['update_arithmetic_nj']:.1f} nJ.\n"
        + f"\nDevices written per target: {record['devices_written_mean']:.0f}; commands clipped: "
        f"{record['clipped_commands']}; wall time {total_s:.1f} s (network {network_s:.1f} s, "
        f"{args.workers} PyBullet processes).\n"
    )
    atomic_write_text(out / "tracking.json", json.dumps(record, indent=1) + "\n")
    atomic_write_text(out / "tracking.md", table)
    print(table)
    brief = {k: v for k, v in record.items() if k not in ("before", "after")}
    brief |= {f"{name}_mean_mm": r["mean_mm"] for name, r in rows.items()}
    brief |= {f"{name}_worst_mm": r["worst_mm"] for name, r in rows.items()}
    print(json.dumps({"out": str(out), **brief}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
