"""Figure of an evaluation table (``eval.json`` of ``scripts/evaluate.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

from robo_l2l.deployment import format_age
from robo_l2l.plots.style import (
    AFTER_COLOR,
    BEFORE_COLOR,
    STYLE,
    figure,
    save,
)


def eval_row_label(row: Mapping) -> str:
    """A one-line label of an evaluation row, e.g. ``PCM · meta · K=5 · quant. · 1 h · drift comp.``."""
    parts = [
        "PCM" if row["deployment"] == "pcm" else row["deployment"],
        row["init"],
        f"K={row['k_updates']}",
    ]
    if row["deployment"] == "pcm":
        parts.append("quant." if row["quantised"] else "analog")
        t = row.get("time_after_programming_s")
        if t is not None:
            parts.append(format_age(float(t)))
        if row.get("drift_compensation"):
            parts.append("drift comp.")
    return " · ".join(parts)


def plot_eval_table(
    rows: Sequence[Mapping],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """The evaluation table as horizontal grouped bars, one group per row.

    Left: held-out loss before (light, hatched) and after (solid) the update, mean ± 95% CI over
    batches (older tables: std over seeds), log scale. Right: PCM devices written per task. Rows as written by
    ``scripts/evaluate.py`` (``eval.json``).

    Args:
        rows: dicts with keys rule, deployment, init, k_updates, quantised,
            time_after_programming_s (s or None), drift_compensation, loss_before_mean,
            loss_before_std, loss_after_mean, loss_after_std, devices_written_mean, n_tasks,
            seeds.
        path: output PNG.
        title: figure title (default: one naming the rule and the number of tasks).
    """
    if not rows:
        raise ValueError("no evaluation rows to plot")
    need = (
        "deployment",
        "init",
        "k_updates",
        "quantised",
        "loss_before_mean",
        "loss_after_mean",
        "devices_written_mean",
    )
    for r in rows:
        missing = [k for k in need if k not in r]
        if missing:
            raise ValueError(f"an evaluation row lacks {missing}: {dict(r)}")
    n = len(rows)
    y = np.arange(n)[::-1].astype(float)
    h = 0.38

    def col(key: str) -> np.ndarray:
        return np.array([float(r[key]) for r in rows])

    # rows of the current protocol carry a 95% CI over batches; older tables a std over seeds
    spread = "ci95" if rows[0].get("loss_after_ci95") is not None else "std"
    spread_text = "95% CI over batches" if spread == "ci95" else "std over seeds"

    def err(key: str) -> np.ndarray:
        return np.array([float(r.get(key) or 0.0) for r in rows])

    before, after = col("loss_before_mean"), col("loss_after_mean")
    # a log axis cannot show an error bar that reaches zero: clip the lower whisker
    eb, ea = err(f"loss_before_{spread}"), err(f"loss_after_{spread}")
    err_b = np.stack([np.minimum(eb, 0.9 * before), eb])
    err_a = np.stack([np.minimum(ea, 0.9 * after), ea])
    with matplotlib.rc_context(STYLE):
        fig = figure(1.5 + 0.3 * n)
        ax, ax_dev = fig.subplots(1, 2, sharey=True, width_ratios=(2.6, 1))
        ax.barh(
            y + h / 2,
            before,
            h,
            xerr=err_b,
            color=BEFORE_COLOR,
            alpha=0.35,
            hatch="///",
            edgecolor=BEFORE_COLOR,
            lw=0.6,
            label="before update",
            error_kw={"lw": 0.8, "capsize": 2},
        )
        ax.barh(
            y - h / 2,
            after,
            h,
            xerr=err_a,
            color=AFTER_COLOR,
            label="after update",
            error_kw={"lw": 0.8, "capsize": 2},
        )
        ax.set_xscale("log")
        ax.set_yticks(y, [eval_row_label(r) for r in rows], fontsize=8.5)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("held-out task loss (log)")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
        ax.set_title(f"loss, mean ± {spread_text}")
        ax_dev.barh(y, col("devices_written_mean"), 0.6, color="0.55")
        ax_dev.set_xlabel("devices written / task")
        ax_dev.set_title("PCM writes")
        ax_dev.grid(axis="y", visible=False)
        ax_dev.tick_params(axis="y", length=0)
        rule = rows[0].get("rule", "")
        tasks = rows[0].get("n_tasks")
        seeds = rows[0].get("seeds")
        batches = rows[0].get("n_batches")
        default = f"Evaluation ({rule} rule" if rule else "Evaluation ("
        if tasks is not None:
            default += f", {tasks} held-out tasks per row"
        if batches is not None:
            default += f", {batches} batches"
        elif seeds is not None:
            default += f", {len(seeds)} seeds"
        fig.suptitle(title or (default + ")").replace("(, ", "("))
        return save(fig, path)
