"""The evaluation protocol of a meta-trained controller on held-out tasks.

    python scripts/evaluate.py --run results/readout_hw_quick                 # 10 x 32 tasks
    python scripts/evaluate.py --run results/readout_hw_quick --seeds 200-209 # other seeds
    python scripts/evaluate.py --run results/readout_hw_quick --out results/readout_hw_quick

Every row on one batch of --batch-size tasks per seed of --seeds (default 100-109: 10 batches,
320 tasks): mean, std over batches and 95% CI (Student t). Rows (robo_l2l.protocol): software
vs PCM; meta-trained vs random initial weights; quantised vs not; device ages 1 s / 32 s / 1 h /
1 day / 1 month / 1 year with and without drift compensation; for the readout rule K = 1..5;
every PCM row with its device cost (pulses, programming energy; robo_l2l/device_cost.py). Then
the closed-loop row: --tracking-targets held-out targets (default 32, seed = the first of
--seeds) learnt on the chip at the base deployment and driven in PyBullet (robo_l2l/tracking.py):
tool-tip tracking error before and after, mean ± 95% CI and worst, in mm (closed_loop.json).
Writes eval.json and eval.md to --out (default runs/evaluate/<run>-<first seed>-<time>/; the
shipped tables in results/<run>/ are rewritten only when --out names that folder) and prints the
table. --ideal / --t-inference / --drift-compensation change the run's deployment, the base of
the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robo_l2l import cli, deployment, protocol, tracking
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import CheckpointFormatError
from robo_l2l.controller_file import load_controller
from robo_l2l.parameters import random_controller
from robo_l2l.run_folder import FolderLockedError, check_output_folder, default_run_folder

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="run folder (controller inside)")
    parser.add_argument(
        "--seeds",
        default=f"{protocol.DEFAULT_FIRST_SEED}-{protocol.DEFAULT_FIRST_SEED + 9}",
        help="held-out seeds FIRST-LAST, one batch each (default 100-109; >= 10 for the "
        "protocol, fewer is a smoke run)",
    )
    parser.add_argument("--batch-size", type=cli.positive_int, default=32, help="tasks per batch")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--rows",
        choices=protocol.ROW_SETS,
        default="all",
        help="all: every row of the protocol; ages: the device-age sweep only (meta-trained "
        "ideal and on PCM, random on PCM, every age with and without drift compensation)",
    )
    parser.add_argument(
        "--tracking-targets",
        type=cli.nonnegative_int,
        default=32,
        help="targets of the closed-loop row (default 32; 0: no closed-loop row)",
    )
    parser.add_argument(
        "--workers", type=cli.positive_int, default=2, help="PyBullet processes (default 2)"
    )
    cli.add_threads_flag(parser)
    cli.add_device_flag(parser)
    cli.add_family_flag(parser)
    cli.add_deployment_flags(parser)
    args = parser.parse_args(argv)
    try:
        args.seed_list = protocol.parse_seed_range(args.seeds)
    except ValueError as exc:
        parser.error(str(exc))
    if args.tracking_targets == 1:
        parser.error("--tracking-targets needs >= 2 targets for a confidence interval (or 0)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.set_threads(args.threads)
    try:
        weights, cfg, _ = load_controller(args.run / "controller.safetensors", args.device)
        base = cli.deployment_from_args(args, cfg.deployment)
        out = args.out or default_run_folder(ROOT, "evaluate", args.run.name, args.seed_list[0])
        check_output_folder(out)
        rows = protocol.protocol_rows(cfg, base, args.rows)

        def progress(i: int, n: int, row: protocol.Row) -> None:
            if not args.quiet:
                what = f"{row.init}, {deployment.describe(row.pcm)}, K={row.k_updates}"
                done = "done" if i == n else what
                print(f"[{i}/{n} rows] {done}", file=sys.stderr, flush=True)

        results = protocol.run_protocol(
            weights,
            random_controller(cfg, args.device),
            cfg,
            rows,
            args.seed_list,
            args.batch_size,
            progress,
            args.family,
        )
        table = protocol.markdown(results)
        closed = None
        if args.tracking_targets:
            closed = tracking.track(
                weights,
                cfg,
                base,
                args.tracking_targets,
                args.seed_list[0],
                family=args.family,
                workers=args.workers,
            )
            table += tracking.markdown_row(closed)
            atomic_write_text(out / "closed_loop.json", json.dumps(closed, indent=1) + "\n")
        atomic_write_text(out / "eval.json", json.dumps(results, indent=1) + "\n")
        atomic_write_text(out / "eval.md", table)
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
    print(table)
    brief = {"out": str(out), "rows": len(results), "n_tasks": results[0]["n_tasks"]}
    if closed is not None:
        brief |= {f"closed_loop_{k}_mean_mm": closed[k]["mean_mm"] for k in ("before", "after")}
        brief |= {f"closed_loop_{k}_worst_mm": closed[k]["worst_mm"] for k in ("before", "after")}
    print(json.dumps(brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
