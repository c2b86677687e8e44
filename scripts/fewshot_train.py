"""Meta-train the few-shot Omniglot classifier (MAML, readout learns on PCM).

From random weights, or from a classifier of ours or the authors' (``--init``: a fine-tune).

    python scripts/fewshot_train.py --regime hardware --name hw
    python scripts/fewshot_train.py --out runs/fewshot_train/hw-0-... --resume   # after a kill
    python scripts/fewshot_train.py --regime software --iterations 500 --name sw
    python scripts/fewshot_train.py --regime hardware --init results/fewshot_sw_b16 --name hw_ft

Data: the two small background archives beside the project, merged, deduplicated and split by
alphabet (robo_l2l.fewshot.splits). Writes into the run folder (default
runs/fewshot_train/<name>-<seed>-<time>/): config.json, metrics.jsonl (one row per iteration and
per validation), state.safetensors (weights + Adam, for --resume; not for committing) and
classifier.safetensors (the best-validated weights). The last printed line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from fewshot_common import (
    DEFAULT_DATA,
    UsageError,
    add_dataclass_options,
    check_writable_folder,
    dataclass_from_args,
    default_run_dir,
    limit_threads,
    print_json,
    run_cli,
)

from robo_l2l import optimizer_state
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import CheckpointFormatError
from robo_l2l.fewshot import training
from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.splits import OmniglotSplits, omniglot_splits
from robo_l2l.fewshot.store import (
    CLASSIFIER_FILE,
    STATE_FILE,
    load_classifier,
    load_training_state,
    save_classifier,
)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_options(parser, FewShotConfig)
    parser.add_argument("--name", default=None, help="run name (default: the regime)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/...)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--data", type=Path, nargs="+", default=list(DEFAULT_DATA),
        help="Omniglot archives or folders, merged (default: the two small background sets)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no per-iteration lines")
    return parser.parse_args(argv)


def _validation_row(result, iteration: int) -> dict:
    s = result.summary()
    return {
        "iteration": iteration,
        "kind": "val",
        "val_accuracy": s["accuracy_after"],
        "val_accuracy_ci95": s["accuracy_after_ci95"],
        "val_accuracy_per_update": s["accuracy_per_update"],
        "val_loss": s["loss_per_update"][-1],
        "val_devices_written": s["devices_written_mean"],
    }


def _truncate_metrics(path: Path, iteration: int) -> None:
    """Drop rows a killed run wrote after its last checkpoint."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["iteration"] < iteration or (row["kind"] == "val" and row["iteration"] == iteration):
            keep.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _save(run_dir, params, optimizer, cfg, done, row, best) -> dict | None:
    """Write the training state; the classifier file too when validation improved."""
    improved = best is None or row["val_accuracy"] > best["val_accuracy"]
    best = row if improved else best
    moments, step = optimizer_state.optimizer_tensors(params, optimizer)
    if improved:
        save_classifier(run_dir / CLASSIFIER_FILE, params, cfg, iteration=done, validation=row)
    save_classifier(
        run_dir / STATE_FILE, params, cfg, moments,
        iteration=done, adam_step=step, validation=row, best_validation=best,
    )  # fmt: skip
    return best


def initial_classifier(cfg: FewShotConfig):
    """The classifier named by ``cfg.init`` (checked against the run's shapes), or ``None``."""
    if not cfg.init:
        return None
    try:
        start = load_classifier(cfg.init)
    except (FileNotFoundError, ValueError) as exc:  # both checkpoint errors are ValueErrors
        raise UsageError(f"cannot start from --init {cfg.init}: {exc}") from exc
    if (start.config.channels, start.config.way) != (cfg.channels, cfg.way):
        raise UsageError(
            f"--init {cfg.init} has {start.config.channels} channels and a "
            f"{start.config.way}-way readout; this run asks for {cfg.channels} channels and a "
            f"{cfg.way}-way readout"
        )
    return start


def train(
    cfg: FewShotConfig,
    splits: OmniglotSplits,
    run_dir: Path,
    resume: bool,
    quiet: bool,
    start_from=None,
):
    params = training.init_params(cfg)
    if start_from is not None and not resume:
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(start_from.params[k])
    optimizer = training.make_optimizer(params, cfg)
    start, best = 0, None
    metrics_path = run_dir / "metrics.jsonl"
    if resume:
        classifier, rest = load_training_state(run_dir / STATE_FILE)
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(classifier.params[k])
        optimizer_state.restore_optimizer(
            params, optimizer, rest, int(classifier.info["adam_step"])
        )
        start, best = int(classifier.info["iteration"]), classifier.info.get("best_validation")
        _truncate_metrics(metrics_path, start)
    atomic_write_text(run_dir / "config.json", cfg.to_json() + "\n")
    val_set = training.validation_episodes(splits.validation, cfg)
    row = None
    with open(metrics_path, "a") as metrics:
        if start == 0:
            row = _validation_row(training.validate(params, val_set, cfg), 0)
            metrics.write(json.dumps(row) + "\n")
            best = _save(run_dir, params, optimizer, cfg, 0, row, None)
        for it in range(start, cfg.iterations):
            t0 = time.perf_counter()
            r = training.meta_step(params, optimizer, splits.train, cfg, it)
            step_row = {"iteration": it, "kind": "train", **r._asdict()}
            step_row["seconds"] = time.perf_counter() - t0
            metrics.write(json.dumps(step_row) + "\n")
            metrics.flush()
            done = it + 1
            if not quiet:
                print(
                    f"it {done}/{cfg.iterations} loss {r.loss:.4f} acc {r.accuracy:.3f} "
                    f"written {r.devices_written:.1f} {step_row['seconds']:.2f} s",
                    flush=True,
                )
            if done % cfg.validate_every == 0 or done == cfg.iterations:
                row = _validation_row(training.validate(params, val_set, cfg), done)
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                best = _save(run_dir, params, optimizer, cfg, done, row, best)
                if not quiet:
                    print(f"validation {json.dumps(row)}", flush=True)
    return row, best


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse(argv)
    if args.resume:
        if args.out is None:
            raise UsageError("--resume needs --out RUN_FOLDER")
        try:
            saved = load_training_state(args.out / STATE_FILE)[0]
        except (FileNotFoundError, CheckpointFormatError) as exc:
            raise UsageError(f"cannot resume: {exc}") from exc
        # The saved config wins except for the budget and the threads.
        cfg = FewShotConfig.from_dict(
            saved.config.to_dict() | {"iterations": args.iterations, "threads": args.threads}
        )
        run_dir = args.out
        if saved.info["iteration"] >= cfg.iterations:
            raise UsageError(
                f"{run_dir} is already at iteration {saved.info['iteration']}; "
                "raise --iterations to continue"
            )
    else:
        cfg = dataclass_from_args(FewShotConfig, args)
        run_dir = args.out or default_run_dir("fewshot_train", args.name or cfg.regime, cfg.seed)
        for name in (CLASSIFIER_FILE, STATE_FILE):
            if (run_dir / name).exists():
                raise UsageError(
                    f"{run_dir} already holds a classifier ({name}); pass --resume to continue "
                    "it or choose another --out"
                )
    for source in args.data:
        if not source.exists():
            raise UsageError(f"no Omniglot data at {source}")
    start_from = None if args.resume else initial_classifier(cfg)
    check_writable_folder(run_dir)
    limit_threads(cfg.threads)
    try:
        splits = omniglot_splits(*args.data)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot read the Omniglot data: {exc}") from exc
    last, best = train(cfg, splits, run_dir, args.resume, args.quiet, start_from)
    payload = {
        "run": str(run_dir),
        "iterations": cfg.iterations,
        "val_accuracy_last": None if last is None else last["val_accuracy"],
        "val_accuracy_best": best["val_accuracy"],
        "best_iteration": best["iteration"],
    }
    load_classifier(run_dir)  # the shipped file reads back
    print_json(payload)
    return payload


if __name__ == "__main__":
    sys.exit(run_cli(main, None))
