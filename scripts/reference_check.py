"""Reproduce the authors' published numbers with their checkpoint (natural e-prop, one update).

    python scripts/reference_check.py --checkpoint ../shared/reference/rapid_learning_robot_checkpoint.pickle

Prints a table (PCM model in the reference arithmetic, ideal weights, and our per-matrix PCM
mapping for comparison) and, as the last line, a JSON object.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from robo_l2l.controller import controller_from_reference
from robo_l2l.evaluation import evaluate
from robo_l2l.inner_loop import InnerRule
from robo_l2l.pcm import PCMConfig

REFERENCE = {"pcm": (0.320, 0.107), "ideal": (0.322, 0.0106)}


def main(argv: list[str] | None = None) -> dict:
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", required=True, help="rapid_learning_robot_checkpoint.pickle"
    )
    parser.add_argument("--batches", type=int, default=5, help="number of fresh task batches")
    parser.add_argument("--batch-size", type=int, default=90, help="tasks per batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of tasks and device noise")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.batch_size < 1:
        parser.error("--batches and --batch-size must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        weights = controller_from_reference(args.checkpoint)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")

    deployments = {
        "pcm": PCMConfig.reference(),
        "ideal": PCMConfig.ideal_weights(),
        "pcm_per_matrix": PCMConfig(),
    }
    rows = {}
    print(
        f"{'deployment':<16} {'loss before':>18} {'loss after':>18} {'devices/task':>13} "
        f"{'s/batch':>8}  reference (before / after)"
    )
    for name, cfg in deployments.items():
        start = time.perf_counter()
        stats = evaluate(
            weights, InnerRule("natural"), cfg, args.batches, args.batch_size, args.seed
        )
        seconds = (time.perf_counter() - start) / args.batches
        s = stats.summary()
        rows[name] = s
        ref = REFERENCE.get(name)
        ref_text = f"{ref[0]:.3f} / {ref[1]:.4f}" if ref else "(ours)"
        print(
            f"{name:<16} {s['loss_before_mean']:>9.4f} ± {s['loss_before_std']:.4f} "
            f"{s['loss_after_mean']:>9.4f} ± {s['loss_after_std']:.4f} "
            f"{s['devices_written_mean']:>13.0f} {seconds:>8.2f}  {ref_text}"
        )
    result = {
        "loss_before_pcm": rows["pcm"]["loss_before_mean"],
        "loss_after_pcm": rows["pcm"]["loss_after_mean"],
        "loss_before_ideal": rows["ideal"]["loss_before_mean"],
        "loss_after_ideal": rows["ideal"]["loss_after_mean"],
        "devices_written_per_task": rows["pcm"]["devices_written_mean"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
