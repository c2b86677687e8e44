"""Loss after the on-chip update(s) vs device age, one curve per controller (``eval.json``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robo_l2l.plots.style import RUN_COLORS, STYLE, figure, save

AGE_TICKS_S = (1.0, 32.0, 3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0)
AGE_LABELS = ("1 s", "32 s", "1 h", "1 day", "1 month", "1 year")


def age_curve(rows: Sequence[Mapping], compensation: bool) -> list[tuple[float, float, float]]:
    """``(age_s, loss_after_mean, ci95)`` of a run's meta-trained PCM rows at its own K and
    quantisation, with or without drift compensation, sorted by age."""
    pcm = [r for r in rows if r.get("deployment") == "pcm" and r.get("init") == "meta"]
    if not pcm:
        return []
    # ages are swept at the run's own K and quantisation: those of its first PCM row
    # (robo_l2l.protocol.protocol_rows)
    k, quantised = pcm[0]["k_updates"], pcm[0]["quantised"]
    points = {
        r["time_after_programming_s"]: (r["loss_after_mean"], r.get("loss_after_ci95") or 0.0)
        for r in pcm
        if r["k_updates"] == k
        and r["quantised"] == quantised
        and bool(r["drift_compensation"]) == compensation
        and r["time_after_programming_s"] is not None
    }
    return [(t, *points[t]) for t in sorted(points)]


def plot_loss_vs_age(
    runs: Mapping[str, Sequence[Mapping]], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Task loss after the update(s) on PCM (mean ± 95% CI over batches) against the time
    between programming and use (s, log), solid with global drift compensation, dashed
    without, one colour per run, one panel per inner rule.

    Args:
        runs: run name -> its ``eval.json`` rows (scripts/evaluate.py).
        path: output PNG.
    """
    curves = {
        name: {comp: age_curve(rows, comp) for comp in (True, False)} for name, rows in runs.items()
    }
    curves = {n: c for n, c in curves.items() if c[True] or c[False]}
    if not curves:
        raise ValueError("no evaluation rows on PCM at several device ages to plot")
    import matplotlib

    rules = sorted({_rule(runs[name]) for name in curves})
    with matplotlib.rc_context(STYLE):
        fig = figure(3.6 * len(rules))
        axes = fig.subplots(len(rules), 1, squeeze=False)[:, 0]
        for ax, rule in zip(axes, rules, strict=True):
            names = sorted(n for n in curves if _rule(runs[n]) == rule)
            for i, name in enumerate(names):
                color = RUN_COLORS[i % len(RUN_COLORS)]
                for comp, style in ((True, "-"), (False, "--")):
                    points = curves[name][comp]
                    if not points:
                        continue
                    t, mean, ci = (np.asarray(v) for v in zip(*points, strict=True))
                    ax.errorbar(
                        t, mean, yerr=ci, fmt="o" + style, color=color, ms=3.5, capsize=2,
                        lw=1.3, alpha=1.0 if comp else 0.5,
                        label=f"{name}{'' if comp else ' (no comp.)'}",
                    )  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(AGE_TICKS_S, AGE_LABELS)
            ax.set_ylabel(f"loss after update(s), {rule} rule")
            ax.legend(loc="upper left", ncols=2, fontsize=7)
        axes[-1].set_xlabel("time between programming and use (device age)")
        axes[0].set_title(
            title or "Loss on PCM vs device age (solid: global drift compensation; mean ± 95% CI)"
        )
        return save(fig, path)


def _rule(rows: Sequence[Mapping]) -> str:
    return str(rows[0].get("rule", "?"))
