"""Calibrate a classifier's readout scale on validation episodes and save the calibrated copy.

    python scripts/fewshot_calibrate.py --checkpoint results/fewshot_hw_shift2 \
        --out results/fewshot_hw_shift2_cal

Evaluates the classifier with its meta-learned readout multiplied by each ``--scales`` value on
``--n-episodes`` 5-way episodes of the *validation* characters (never the test alphabets), with
ideal weights and on the run's PCM model at its device age, all scales on the same episodes and
device-noise keys; keeps the most accurate on ``--deployment`` (:mod:`robo_l2l.fewshot.calibrate`)
and writes ``classifier.safetensors`` + ``config.json`` (the source's config) +
``calibration.json`` (every scale's figures) to ``--out``. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fewshot_common import (
    DEFAULT_DATA,
    UsageError,
    check_new_file,
    limit_threads,
    print_json,
    run_cli,
)

from robo_l2l.atomic import atomic_write_text
from robo_l2l.fewshot import table
from robo_l2l.fewshot.calibrate import check_scales, choose_scale, scaled_readout
from robo_l2l.fewshot.maml import InnerLoopConfig
from robo_l2l.fewshot.splits import omniglot_splits
from robo_l2l.fewshot.store import CLASSIFIER_FILE, load_classifier, save_classifier


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkpoint",
        required=True,
        help="run folder or classifier file of ours, or the authors' pickle",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for the calibrated copy")
    p.add_argument(
        "--scales", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.5, 0.4, 0.3],
        help="readout scales to try, each > 0 (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--n-episodes", type=int, default=500, help="validation episodes (>= 2)")
    p.add_argument("--shot", type=int, default=5, help="support images per class")
    p.add_argument(
        "--deployment", choices=("pcm", "ideal"), default="pcm", help="select the scale on this"
    )
    p.add_argument("--seed", type=int, default=1, help="episode and device-noise seed")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--data", type=Path, nargs="+", default=list(DEFAULT_DATA), help="Omniglot archives"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse(argv)
    try:
        scales = check_scales(args.scales)
    except ValueError as exc:
        raise UsageError(f"--scales: {exc}") from exc
    if args.n_episodes < 2 or args.shot < 1 or args.threads < 1:
        raise UsageError("--n-episodes must be >= 2, --shot and --threads >= 1")
    try:
        classifier = load_classifier(args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--checkpoint: {exc}") from exc
    for name in (CLASSIFIER_FILE, "config.json", "calibration.json"):
        check_new_file(args.out / name)
    limit_threads(args.threads)
    c = classifier.config
    validation = omniglot_splits(*args.data).validation.images
    episodes = table.test_episodes(validation, c.way, args.shot, 5, args.n_episodes, args.seed)
    deployments = {"ideal": None, "pcm": table.deployment("pcm", c.t_inference_s)}
    inner = InnerLoopConfig(updates=c.inner_updates, lr=c.inner_lr, per_task_bn=True)
    rows = []
    for scale in scales:
        params = scaled_readout(classifier.params, scale)
        for mode, pcm in deployments.items():
            t0 = time.perf_counter()
            figures = table.row(params, episodes, pcm, inner, seed=args.seed, chunk=1)
            rows.append({"readout_scale": scale, "deployment": mode, **figures})
            print(
                f"scale {scale:g} {mode}: {figures['accuracy_after']:.2f} +- "
                f"{figures['accuracy_after_ci95']:.2f} % ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    selected = [r for r in rows if r["deployment"] == args.deployment]
    best = choose_scale(scales, [r["accuracy_after"] for r in selected])
    command = "python scripts/fewshot_calibrate.py " + shlex.join(argv or sys.argv[1:])
    document = {
        "command": command,
        "source": str(args.checkpoint),
        "split": "validation",
        "selected_on": args.deployment,
        "way": c.way,
        "shot": args.shot,
        "query": 5,
        "seed": args.seed,
        "chosen": scales[best],
        "rows": rows,
    }
    skip = ("system", "config", "source", "authors")
    meta = {k: v for k, v in classifier.info.items() if k not in skip}
    save_classifier(
        args.out / CLASSIFIER_FILE,
        scaled_readout(classifier.params, scales[best]),
        c,
        **meta,
        readout_scale=scales[best],
        calibrated_from=str(args.checkpoint),
    )
    atomic_write_text(args.out / "config.json", c.to_json() + "\n")
    atomic_write_text(args.out / "calibration.json", json.dumps(document, indent=1) + "\n")
    payload = {
        "out": str(args.out),
        "chosen": scales[best],
        "accuracy_after": {str(r["readout_scale"]): r["accuracy_after"] for r in selected},
    }
    print_json(payload)
    return payload


if __name__ == "__main__":
    sys.exit(run_cli(main, None))
