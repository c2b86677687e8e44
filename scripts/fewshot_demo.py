"""Show one few-shot episode learnt on the chip as a figure (PNG).

    python scripts/fewshot_demo.py --checkpoint results/fewshot_hw
    python scripts/fewshot_demo.py --checkpoint RUN --shot 1 --seed 3 --out figure.png

An episode of the test split (alphabets never seen in meta-training): the support images, the
query images with the class predicted before and after the readout's on-chip updates (right and
wrong marked), and the readout conductances written. Default output:
runs/fewshot_demo/<name>-<seed>-<time>/episode.png. The last printed line is JSON.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
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

from robo_l2l.atomic import atomic_write
from robo_l2l.fewshot import table
from robo_l2l.fewshot.maml import InnerLoopConfig, inner_loop
from robo_l2l.fewshot.plots import episode_figure
from robo_l2l.fewshot.splits import omniglot_splits
from robo_l2l.fewshot.store import load_classifier
from robo_l2l.reference_checkpoint import CheckpointError


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings (the --help)."""

    checkpoint: str = ""
    """A run folder of ours, a classifier file of ours, or the authors' pickle (required)."""
    deployment: str = "pcm"
    """ideal (software weights) or pcm (the run's default device age)."""
    shot: int = 5
    """Support images per class (K)."""
    query: int = 5
    """Query images per class (Q)."""
    seed: int = 0
    """Seed of the episode and the device noise."""
    out: str = ""
    """PNG to write (default runs/fewshot_demo/<name>-<seed>-<time>/episode.png)."""

    def __post_init__(self) -> None:
        if self.deployment not in ("ideal", "pcm"):
            raise ValueError(f"--deployment must be ideal or pcm, got {self.deployment!r}")
        if self.shot < 1 or self.query < 1:
            raise ValueError("--shot and --query must be >= 1")


def main(argv: Sequence[str] | None = None) -> dict:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_options(parser, DemoConfig)
    parser.add_argument("--data", type=Path, nargs="+", default=list(DEFAULT_DATA))
    args = parser.parse_args(argv)
    cfg = dataclass_from_args(DemoConfig, args)
    if not cfg.checkpoint:
        raise UsageError("--checkpoint is required (a run folder, a classifier file or a pickle)")
    try:
        classifier = load_classifier(cfg.checkpoint)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        raise UsageError(f"--checkpoint: {exc}") from exc
    name = Path(classifier.info["source"]).parent.name
    out = (
        Path(cfg.out)
        if cfg.out
        else default_run_dir("fewshot_demo", name, cfg.seed) / "episode.png"
    )
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file, got {out}")
    check_new_file(out)
    for source in args.data:
        if not source.exists():
            raise UsageError(f"no Omniglot data at {source}")
    limit_threads(1)

    c = classifier.config
    test = omniglot_splits(*args.data).test
    episode = table.test_episodes(test.images, c.way, cfg.shot, cfg.query, 1, cfg.seed)
    pcm = table.deployment(cfg.deployment, c.t_inference_s)
    inner = InnerLoopConfig(updates=c.inner_updates, lr=c.inner_lr, per_task_bn=True)
    with torch.no_grad():
        r = inner_loop(
            classifier.params, episode, inner, pcm, torch.Generator().manual_seed(cfg.seed)
        )
    readouts = r.readouts[:, 0].numpy()
    written = (np.diff(readouts, axis=0) != 0).any(0)
    predicted = r.query_logits[:, 0].argmax(-1).numpy()
    acc = r.query_accs[:, 0].numpy() * 100
    where = "PCM, %g s after programming" % c.t_inference_s if pcm else "ideal weights"
    title = (
        f"{c.way}-way {cfg.shot}-shot episode from the test alphabets (Greek, Latin), "
        f"classifier {name}, {where}"
    )
    fig = episode_figure(
        episode.support_images[0], episode.support_labels[0],
        episode.query_images[0], episode.query_labels[0],
        predicted[0], predicted[-1], readouts[-1], written, acc, title,
    )  # fmt: skip
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    payload = {
        "figure": str(out),
        "accuracy_per_update": acc.tolist(),
        "devices_written": int(r.devices_written.sum()),
        "devices_written_any_update": int(written.sum()),
    }
    print_json(payload)
    return payload


if __name__ == "__main__":
    sys.exit(run_cli(main, None))
