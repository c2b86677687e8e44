"""Closed-loop tracking error of a controller on many held-out targets, in millimetres.

One batched inner loop learns every target on the chip; then one simulated arm per target
(PyBullet, worker processes: :mod:`robo_l2l.closed_loop_pool`) is driven with the network's
commands of the training trial (the controller as deployed, before the update) and of the test
trial after the update(s). The error of a target is the mean over the episode of the tool tip's
distance to the target path (m); a summary gives the mean over targets with a 95% CI (Student t
over targets) and the worst target, in mm. Used by ``scripts/track.py`` and as the closed-loop
row of the evaluation protocol (``scripts/evaluate.py``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from robo_l2l import deployment, device_cost
from robo_l2l.closed_loop_pool import drive
from robo_l2l.config import MetaConfig
from robo_l2l.controller import ControllerWeights
from robo_l2l.families import sample_family
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.pcm import PCMConfig
from robo_l2l.statistics import summarize


def summary_row(error_m: np.ndarray) -> dict:
    """Mean (95% CI over targets) and worst of the per-target mean error ``(N, T)`` (m), in mm."""
    per_target = 1e3 * error_m.mean(1)
    s = summarize([float(v) for v in per_target])
    return {
        "mean_mm": s["mean"],
        "ci95_mm": s["ci95"],
        "worst_mm": float(per_target.max()),
        "per_target_mm": [round(float(v), 3) for v in per_target],
    }


def track(
    weights: ControllerWeights,
    cfg: MetaConfig,
    pcm: PCMConfig,
    n_targets: int,
    seed: int,
    k_updates: int | None = None,
    family: str = "brownian",
    workers: int = 2,
) -> dict:
    """The tracking record of ``n_targets`` targets of ``family`` (targets from a generator
    seeded ``seed``, device noise ``seed + 1``): JSON-ready, with ``before`` and ``after``
    summaries (:func:`summary_row`), devices written, the device cost of the updates
    (:mod:`robo_l2l.device_cost`) and wall times (s)."""
    if n_targets < 2:
        raise ValueError(f"tracking needs >= 2 targets for a confidence interval, got {n_targets}")
    k = cfg.k_updates if k_updates is None else k_updates
    rule = InnerRule(cfg.rule, k, cfg.inner_lr)
    start = time.perf_counter()
    targets = sample_family(family, n_targets, torch.Generator().manual_seed(seed))
    noise = torch.Generator(device=weights.w_in.device).manual_seed(seed + 1)
    with torch.no_grad():
        learned = inner_loop(weights, targets, rule, pcm, noise)
    before = learned.before.output.cpu().numpy()
    after = learned.after.output.cpu().numpy()
    network_s = time.perf_counter() - start
    twice = targets[torch.cat([torch.arange(n_targets)] * 2)]
    both = drive(twice, np.concatenate([before, after]), workers)
    total_s = time.perf_counter() - start
    return {
        "rule": cfg.rule,
        "k_updates": k,
        **deployment.summary(pcm),
        "family": family,
        "n_targets": n_targets,
        "seed": seed,
        "devices_written_mean": float(learned.devices_written.sum(0).double().mean()),
        "device_cost": device_cost.of_inner_loop(learned, cfg.rule, k),
        "clipped_commands": int(both.clipped_steps.sum()),
        "workers": workers,
        "network_s": network_s,
        "total_s": total_s,
        "before": summary_row(both.error_m[:n_targets]),
        "after": summary_row(both.error_m[n_targets:]),
    }


def markdown_row(record: dict) -> str:
    """The closed-loop row of an evaluation table (``eval.md``) from a :func:`track` record."""
    b, a = record["before"], record["after"]

    def cell(r: dict) -> str:
        return f"{r['mean_mm']:.1f} ± {r['ci95_mm']:.1f} | {r['worst_mm']:.1f}"

    return (
        f"\nClosed loop (PyBullet): {record['n_targets']} held-out targets of the "
        f"{record['family']} family (seed {record['seed']}), {record['deployment_text']}; "
        "per-target mean tool-tip error, mean ± 95% CI (t over targets) and worst (mm).\n\n"
        "| rule | K | before: mean (mm) | before: worst | after: mean (mm) | after: worst "
        "| devices/task |\n|---|---|---|---|---|---|---|\n"
        f"| {record['rule']} | {record['k_updates']} | {cell(b)} | {cell(a)} "
        f"| {record['devices_written_mean']:.0f} |\n"
    )
