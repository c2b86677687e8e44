"""Closed-loop tracking error per task family (``scripts/track.py``'s ``tracking.json``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robo_l2l.plots.style import AFTER_COLOR, BEFORE_COLOR, STYLE, figure, save


def plot_tracking(
    records: Sequence[Mapping], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Mean tool-tip error (mm, ± 95% CI over targets) before and after the on-chip update, and
    the worst target after it (marker), one group per record (a family or a run).

    Args:
        records: ``tracking.json`` contents (keys run, family, n_targets, before, after; each of
            before/after with mean_mm, ci95_mm, worst_mm).
        path: output PNG.
        title: figure title (default: one naming the runs and the number of targets).
    """
    if not records:
        raise ValueError("no tracking records to plot")
    for r in records:
        missing = [k for k in ("run", "before", "after", "n_targets") if k not in r]
        if missing:
            raise ValueError(f"tracking record lacks {missing}")
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = figure(3.4)
        ax = fig.add_subplot()
        x = np.arange(len(records))
        labels = []
        for i, r in enumerate(records):
            family = r.get("family", "brownian")
            runs = {rec["run"] for rec in records}
            labels.append(family if len(runs) == 1 else f"{r['run']}\n{family}")
            for offset, key, color in ((-0.2, "before", BEFORE_COLOR), (0.2, "after", AFTER_COLOR)):
                row = r[key]
                ax.bar(
                    i + offset,
                    row["mean_mm"],
                    0.38,
                    yerr=row["ci95_mm"] or 0.0,
                    color=color,
                    alpha=0.55 if key == "before" else 1.0,
                    capsize=3,
                    label=f"{key} the update" if i == 0 else None,
                )
            ax.plot(i + 0.2, r["after"]["worst_mm"], "v", color="0.2", ms=6,
                    label="worst target after" if i == 0 else None)  # fmt: skip
            ax.annotate(f"{r['after']['mean_mm']:.0f}", (i + 0.2, r["after"]["mean_mm"]),
                        textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)  # fmt: skip
        ax.set_xticks(x, labels)
        ax.set_yscale("log")
        ax.set_ylabel("tool-tip tracking error (mm)")
        ax.legend(loc="upper right", ncols=3)
        n = sorted({r["n_targets"] for r in records})
        runs = ", ".join(sorted({r["run"] for r in records}))
        ax.set_title(
            title
            or f"{runs}: closed-loop tracking in PyBullet, {'/'.join(map(str, n))} targets each "
            "(mean ± 95% CI)"
        )
        return save(fig, path)
