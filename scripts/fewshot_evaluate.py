"""Evaluate a few-shot classifier: episodes from a file, the full table, or the reproduction.

    python scripts/fewshot_evaluate.py --checkpoint RUN --episodes FILE.npz --deployment pcm
    python scripts/fewshot_evaluate.py --checkpoint results/fewshot_hw --out results/fewshot_hw
    python scripts/fewshot_evaluate.py --checkpoint AUTHORS.pickle --reproduction \\
        --out results/fewshot_reproduction

--checkpoint: a run folder of ours, a classifier file of ours, or the authors' pickle.
With --episodes: each episode adapted on its own, 4 readout updates (the run's inner loop);
accuracies in percent. Without: episodes drawn from the test split (the two alphabets never
seen in meta-training), every row of the table (5-way 5-shot and 1-shot; ideal; PCM at 32 s,
1 day, 1 year with and without drift compensation; a second seed set; random initial weights),
written to OUT/eval.json and OUT/eval.md. --reproduction: the authors' episode family (small1 /
small2 separately, reference sampling quirks, 500 episodes, ideal and PCM) to
OUT/reproduction.json. The last printed line is JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from fewshot_common import (
    DEFAULT_DATA,
    UsageError,
    add_dataclass_options,
    check_new_file,
    dataclass_from_args,
    default_run_dir,
    limit_threads,
    print_json,
    run_cli,
)

from robo_l2l.atomic import atomic_write_text
from robo_l2l.fewshot import table, training
from robo_l2l.fewshot.episodes import EpisodeError, load_episodes
from robo_l2l.fewshot.maml import InnerLoopConfig
from robo_l2l.fewshot.omniglot import read_omniglot
from robo_l2l.fewshot.preprocess import preprocess
from robo_l2l.fewshot.sampler import sample_episodes
from robo_l2l.fewshot.splits import omniglot_splits
from robo_l2l.fewshot.store import Classifier, load_classifier
from robo_l2l.reference_checkpoint import CheckpointError

#: The authors' figures (FEWSHOT.md section 8): mean % and 95% CI after 4 updates, n = 500.
AUTHORS = {
    ("small2", "ideal"): (97.64, 0.73),
    ("small2", "pcm"): (97.78, 0.62),
    ("small1", "ideal"): (97.28, 0.78),
    ("small1", "pcm"): (97.29, 0.73),
}


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings (the --help)."""

    checkpoint: str = ""
    """A run folder of ours, a classifier file of ours, or the authors' pickle (required)."""
    episodes: str = ""
    """Episodes file (.npz: support_images, support_labels, query_images, query_labels); empty:
    the full table on the test split."""
    deployment: str = "pcm"
    """With --episodes: ideal (software weights) or pcm (the run's default device age)."""
    n_episodes: int = 1000
    """Episodes per row of the table."""
    n_secondary: int = 0
    """Episodes of the rows at 1 day / 1 year, with drift compensation and with random initial
    weights (0: n_episodes)."""
    rows: str = "full"
    """full: every row; core: ideal and PCM at 32 s, 5-shot and 1-shot."""
    workers: int = 1
    """Parallel processes, each with --threads threads: the rows of the table, or with
    --episodes the episodes' chunks (the same numbers for any count)."""
    seed: int = 0
    """Seed of the table's episodes and device noise (the check rows use seed + 1)."""
    reproduction: bool = False
    """The authors' episode family instead of the table (give the authors' checkpoint)."""
    out: str = ""
    """Output folder of the table (default runs/fewshot_evaluate/<name>-<seed>-<time>/)."""
    chunk: int = 0
    """Episodes computed at once; 0: 1 with PCM, 100 with ideal weights (the fastest on a CPU).
    With PCM the chunk keys the device noise: shipped tables whose recorded command has no
    --chunk were made with 50, the default then."""
    threads: int = 1
    """torch CPU threads."""
    quiet: bool = False
    """No progress lines (only the final JSON)."""

    def __post_init__(self) -> None:
        if self.deployment not in ("ideal", "pcm"):
            raise ValueError(f"--deployment must be ideal or pcm, got {self.deployment!r}")
        if self.n_episodes < 2:
            raise ValueError(f"--n-episodes must be >= 2, got {self.n_episodes}")
        if self.chunk < 0 or self.threads < 1 or self.workers < 1:
            raise ValueError("--chunk must be >= 0, --threads and --workers >= 1")
        if self.rows not in ("full", "core"):
            raise ValueError(f"--rows must be full or core, got {self.rows!r}")
        if self.n_secondary < 0 or self.n_secondary == 1:
            raise ValueError(f"--n-secondary must be 0 or >= 2, got {self.n_secondary}")


def parse(argv: Sequence[str] | None) -> tuple[EvaluateConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataclass_options(parser, EvaluateConfig)
    parser.add_argument(
        "--data", type=Path, nargs="+", default=list(DEFAULT_DATA),
        help="Omniglot archives (default: the two small background sets)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    return dataclass_from_args(EvaluateConfig, args), args


def _load(cfg: EvaluateConfig) -> Classifier:
    if not cfg.checkpoint:
        raise UsageError("--checkpoint is required (a run folder, a classifier file or a pickle)")
    try:
        return load_classifier(cfg.checkpoint)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        raise UsageError(f"--checkpoint: {exc}") from exc


def _inner(classifier: Classifier) -> InnerLoopConfig:
    c = classifier.config
    return InnerLoopConfig(updates=c.inner_updates, lr=c.inner_lr, per_task_bn=True)


def evaluate_file(cfg: EvaluateConfig, classifier: Classifier) -> dict:
    way = classifier.config.way
    try:
        episodes = load_episodes(cfg.episodes, n_way=way)
    except FileNotFoundError as exc:
        raise UsageError(f"--episodes: no file {cfg.episodes}") from exc
    except EpisodeError as exc:
        raise UsageError(f"--episodes: {exc}") from exc
    age = classifier.config.t_inference_s
    pcm = table.deployment(cfg.deployment, age)
    inner = _inner(classifier)
    r = table.row(
        classifier.params,
        episodes,
        pcm,
        inner,
        cfg.seed,
        cfg.chunk or None,
        cfg.workers,
        cfg.threads,
    )
    return {
        "accuracy_before": r["accuracy_before"],
        "accuracy_after": r["accuracy_after"],
        "accuracy_per_update": r["accuracy_per_update"],
        "n_episodes": r["n_episodes"],
        "devices_written_mean": r["devices_written_mean"],
        "accuracy_after_ci95": r["accuracy_after_ci95"],
        "deployment": cfg.deployment,
        "t_inference_s": age if cfg.deployment == "pcm" else None,
        "unit": "percent",
    }


def table_specs(cfg: EvaluateConfig) -> list[dict]:
    """The rows of the table, in order."""
    specs = []
    for shot in (5, 1):
        specs.append(dict(shot=shot, deployment="ideal"))
        for age in table.AGES_S if cfg.rows == "full" else ["32 s"]:
            for comp in (False, True) if cfg.rows == "full" else [False]:
                specs.append(dict(shot=shot, deployment="pcm", age=age, compensation=comp))
    if cfg.rows == "core":
        specs = [{"age": None, **s} for s in specs]
        return [s | {"compensation": False, "seed_offset": 0, "init": "meta-trained",
                     "n": cfg.n_episodes, "age": s["age"] if s["deployment"] == "pcm" else None}
                for s in specs]  # fmt: skip
    for shot in (5, 1):
        specs.append(dict(shot=shot, deployment="pcm", age="32 s", seed_offset=1))
    for mode in ("ideal", "pcm"):
        specs.append(dict(shot=5, deployment=mode, age="32 s", init="random"))
    out = []
    for spec in specs:
        spec = {"age": None, "compensation": False, "seed_offset": 0, "init": "meta-trained"} | spec
        if spec["deployment"] == "ideal":
            spec["age"] = None
        secondary = (
            spec["compensation"] or spec["age"] not in (None, "32 s") or spec["init"] == "random"
        )
        spec["n"] = cfg.n_secondary if secondary and cfg.n_secondary else cfg.n_episodes
        out.append(spec)
    return out


_WORKER: dict = {}


def _row(spec: dict) -> dict:
    cfg, classifier, test_images, random_params = (
        _WORKER[k] for k in ("cfg", "classifier", "test", "random")
    )
    limit_threads(cfg.threads)
    c = classifier.config
    seed = cfg.seed + spec["seed_offset"]
    episodes = table.test_episodes(test_images, c.way, spec["shot"], 5, spec["n"], seed)
    age_s = table.AGES_S[spec["age"]] if spec["age"] else 32.0
    pcm = table.deployment(spec["deployment"], age_s, spec["compensation"])
    params = random_params if spec["init"] == "random" else classifier.params
    t0 = time.perf_counter()
    figures = table.row(params, episodes, pcm, _inner(classifier), seed, cfg.chunk or None)
    if not cfg.quiet:
        print(
            f"row {spec} -> {figures['accuracy_after']:.2f} +- "
            f"{figures['accuracy_after_ci95']:.2f} % ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return {"way": c.way, "query": 5, "seed": seed, **spec, **figures}


def table_rows(cfg: EvaluateConfig, classifier: Classifier, data: list[Path]) -> list[dict]:
    """Every row of the table (in ``cfg.workers`` processes)."""
    c = classifier.config
    random_params = {
        k: v.detach() for k, v in training.init_params(replace(c, seed=cfg.seed)).items()
    }
    _WORKER.update(
        cfg=cfg, classifier=classifier, test=omniglot_splits(*data).test.images,
        random=random_params,
    )  # fmt: skip
    specs = table_specs(cfg)
    if cfg.workers == 1:
        return [_row(spec) for spec in specs]
    # Longest rows first; fork shares the loaded data with the workers.
    order = sorted(range(len(specs)), key=lambda i: -specs[i]["n"] * (specs[i]["shot"] + 2))
    with multiprocessing.get_context("fork").Pool(cfg.workers) as pool:
        results = pool.map(_row, [specs[i] for i in order], chunksize=1)
    rows = [None] * len(specs)
    for i, r in zip(order, results, strict=True):
        rows[i] = r
    return rows


def reproduction_rows(cfg: EvaluateConfig, classifier: Classifier, data: list[Path]) -> list:
    """The authors' family (FEWSHOT.md section 8): dataset seed 128, noise seed 42, n = 500."""
    rows = []
    for source in data:
        subset = "small1" if "small1" in source.name else "small2"
        images = preprocess(read_omniglot(source).raw)
        episodes = sample_episodes(
            images, 5, 5, 5, 500, np.random.default_rng(128), reference_quirks=True
        )
        for mode in ("ideal", "pcm"):
            pcm = table.deployment(mode, 32.0)
            figures = table.row(classifier.params, episodes, pcm, _inner(classifier), 42, 25)
            theirs = AUTHORS.get((subset, mode))
            rows.append(
                {"episodes": f"{subset} 5w5s5q", "deployment": mode, **figures,
                 "authors_accuracy_after": theirs[0] if theirs else None,
                 "authors_accuracy_after_ci95": theirs[1] if theirs else None}
            )  # fmt: skip
            if not cfg.quiet:
                print(f"{subset} {mode}: {figures['accuracy_after']:.2f}", flush=True)
    return rows


def _fmt(mean: float, ci: float) -> str:
    return f"{mean:.2f} ± {ci:.2f}"


def markdown(rows: list[dict], classifier: Classifier, command: str) -> str:
    lines = [
        f"# Few-shot evaluation of `{Path(classifier.info['source']).parent.name}`",
        "",
        f"Regenerate: `{command}`",
        "",
        "Test split: Greek + Latin (never seen in meta-training); query accuracy in %, mean ± "
        "95% CI over episodes; each episode adapted on its own (4 readout updates, lr 0.1).",
        "",
        "| way-shot | weights | deployment | age | drift comp. | seed | n | before | 1 | 2 | 3 "
        "| 4 (final) | devices written / episode |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = r["accuracy_per_update"]
        steps = " | ".join(f"{a:.2f}" for a in acc[1:-1])
        lines.append(
            f"| {r['way']}w{r['shot']}s | {r['init']} | {r['deployment']} | {r['age'] or '-'} "
            f"| {'yes' if r['compensation'] else 'no'} | {r['seed']} | {r['n_episodes']} "
            f"| {acc[0]:.2f} | {steps} "
            f"| **{_fmt(r['accuracy_after'], r['accuracy_after_ci95'])}** "
            f"| {_fmt(r['devices_written_mean'], r['devices_written_ci95'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict:
    cfg, args = parse(argv)
    classifier = _load(cfg)
    limit_threads(cfg.threads)
    if cfg.episodes:
        payload = evaluate_file(cfg, classifier)
        print_json(payload)
        return payload
    for source in args.data:
        if not source.exists():
            raise UsageError(f"no Omniglot data at {source}")
    name = Path(classifier.info["source"]).parent.name
    out = Path(cfg.out) if cfg.out else default_run_dir("fewshot_evaluate", name, cfg.seed)
    target = out / ("reproduction.json" if cfg.reproduction else "eval.json")
    check_new_file(target)
    if not cfg.reproduction:
        check_new_file(out / "eval.md")
    command = "python scripts/fewshot_evaluate.py " + " ".join(
        sys.argv[1:] if argv is None else list(argv)
    )
    if cfg.reproduction:
        rows = reproduction_rows(cfg, classifier, list(args.data))
    else:
        rows = table_rows(cfg, classifier, list(args.data))
    document = {"command": command, "checkpoint": classifier.info["source"], "rows": rows}
    document["config"] = classifier.config.to_dict()
    atomic_write_text(target, json.dumps(document, indent=1) + "\n")
    if not cfg.reproduction:
        atomic_write_text(out / "eval.md", markdown(rows, classifier, command))
    payload = {"out": str(target), "n_rows": len(rows), **{k: rows[0][k] for k in (
        "accuracy_before", "accuracy_after", "accuracy_per_update", "n_episodes",
        "devices_written_mean")}}  # fmt: skip
    print_json(payload)
    return payload


if __name__ == "__main__":
    sys.exit(run_cli(main, None))
