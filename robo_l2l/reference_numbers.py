"""The published numbers and the check that reproduces them with the authors' checkpoint.

Natural e-prop, one update, fresh batches of held-out tasks; losses are task losses without
regularisers. Reference values: the authors' TensorFlow code on its published checkpoint
(loss before / after the update; REFERENCE.md in the shared reference folder).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from robo_l2l.controller import ControllerWeights
from robo_l2l.deployment import summary
from robo_l2l.evaluation import evaluate
from robo_l2l.inner_loop import InnerRule
from robo_l2l.pcm import PCMConfig
from robo_l2l.statistics import summarize

#: (loss before, loss after) of the authors' code
REFERENCE = {"pcm": (0.320, 0.107), "ideal": (0.322, 0.0106)}


def deployments() -> dict[str, PCMConfig]:
    return {
        "pcm": PCMConfig.reference(),
        "ideal": PCMConfig.ideal_weights(),
        "pcm_per_matrix": PCMConfig(),
    }


def reference_check(
    weights: ControllerWeights,
    batches: int,
    batch_size: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per deployment: mean, std over batches and 95% CI of the losses, devices."""
    rows = []
    for name, pcm in deployments().items():
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        stats = evaluate(weights, InnerRule("natural"), pcm, batches, batch_size, seed)
        seconds = (time.perf_counter() - start) / batches
        before, after = summarize(stats.loss_before), summarize(stats.loss_after)
        ref = REFERENCE.get(name)
        rows.append(
            {
                "name": name,
                **summary(pcm),
                "loss_before_mean": before["mean"],
                "loss_before_std": before["std"],
                "loss_before_ci95": before["ci95"],
                "loss_after_mean": after["mean"],
                "loss_after_std": after["std"],
                "loss_after_ci95": after["ci95"],
                "devices_written_mean": summarize(stats.devices_written)["mean"],
                "reference_loss_before": None if ref is None else ref[0],
                "reference_loss_after": None if ref is None else ref[1],
                "seconds_per_batch": seconds,
                "n_batches": batches,
                "batch_size": batch_size,
                "seed": seed,
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    def pm(mean: float, ci95: float | None) -> str:
        return f"{mean:.4f}" if ci95 is None else f"{mean:.4f} ± {ci95:.4f}"

    first = rows[0]
    lines = [
        f"Published checkpoint, natural e-prop, one update; {first['n_batches']} batches of "
        f"{first['batch_size']} tasks (seed {first['seed']}); mean ± 95% confidence interval "
        "(Student t over batches; the std over batches is in the JSON).",
        "",
        "| deployment | loss before | loss after | devices / task | reference (before / after) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ref = (
            "(ours)"
            if r["reference_loss_before"] is None
            else f"{r['reference_loss_before']:.3f} / {r['reference_loss_after']:.4f}"
        )
        lines.append(
            f"| {r['name']}: {r['deployment_text']} | {pm(r['loss_before_mean'], r['loss_before_ci95'])} "
            f"| {pm(r['loss_after_mean'], r['loss_after_ci95'])} | "
            f"{r['devices_written_mean']:.0f} | {ref} |"
        )
    return "\n".join(lines) + "\n"
