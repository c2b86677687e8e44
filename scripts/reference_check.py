"""Reproduce the authors' published numbers with their checkpoint (natural e-prop, one update).

    python scripts/reference_check.py --checkpoint ../shared/reference/rapid_learning_robot_checkpoint.pickle
    python scripts/reference_check.py --checkpoint ... --out results/reference_check   # README

Prints a table (PCM model in the reference arithmetic, ideal weights, and our per-matrix PCM
mapping for comparison) and, as the last line, a JSON object; writes reference_check.json and
reference_check.md to --out (default runs/reference_check/<seed>-<time>/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from robo_l2l import cli
from robo_l2l.atomic import atomic_write_text
from robo_l2l.controller import controller_from_reference
from robo_l2l.reference_numbers import markdown, reference_check
from robo_l2l.run_folder import check_output_folder, default_run_folder

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", required=True, help="rapid_learning_robot_checkpoint.pickle"
    )
    parser.add_argument(
        "--batches", type=cli.positive_int, default=5, help="number of fresh task batches"
    )
    parser.add_argument("--batch-size", type=cli.positive_int, default=90, help="tasks per batch")
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of tasks and device noise")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    cli.add_threads_flag(parser)
    args = parser.parse_args(argv)
    cli.set_threads(args.threads)
    out = args.out or default_run_folder(ROOT, "reference_check", "published", args.seed)
    try:
        check_output_folder(out)
        weights = controller_from_reference(args.checkpoint)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(name: str) -> None:
        print(f"reference_check: {name} ...", file=sys.stderr, flush=True)

    rows = reference_check(weights, args.batches, args.batch_size, args.seed, progress)
    table = markdown(rows)
    atomic_write_text(out / "reference_check.json", json.dumps(rows, indent=1) + "\n")
    atomic_write_text(out / "reference_check.md", table)
    print(table)
    by_name = {r["name"]: r for r in rows}
    result = {
        "out": str(out),
        "loss_before_pcm": by_name["pcm"]["loss_before_mean"],
        "loss_after_pcm": by_name["pcm"]["loss_after_mean"],
        "loss_before_ideal": by_name["ideal"]["loss_before_mean"],
        "loss_after_ideal": by_name["ideal"]["loss_after_mean"],
        "devices_written_per_task": by_name["pcm"]["devices_written_mean"],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
