"""Figures of meta-training: learning curves of one or more runs (rows of ``metrics.jsonl``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from robo_l2l.plots.style import (
    RUN_COLORS,
    STYLE,
    figure,
    save,
)


def moving_average(x: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values (fewer at the start); same length as ``x``.

    .. math:: m_i = \\frac{1}{i - j_i + 1} \\sum_{j = j_i}^{i} x_j, \\quad j_i = \\max(0, i - w + 1)
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    x = np.asarray(x, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def _rows(rows: Sequence[Mapping], kind: str, keys: Sequence[str], run: str) -> dict:
    picked = [r for r in rows if r.get("kind") == kind]
    for r in picked:
        missing = [k for k in keys if k not in r]
        if missing:
            raise ValueError(f"run {run!r}: a {kind!r} row lacks {missing}: {dict(r)}")
    return {k: np.array([r[k] for r in picked], dtype=np.float64) for k in keys}


def plot_learning_curves(
    runs: Mapping[str, Sequence[Mapping]],
    path: str | os.PathLike,
    title: str | None = None,
    smooth: int = 25,
) -> Path:
    """Meta-training curves of one or more runs (rows of their ``metrics.jsonl``).

    Top: held-out loss before (dashed) and after (solid, markers) the inner-loop update vs
    meta-iteration, and the training loss as a trailing moving average over ``smooth``
    iterations (thin), log y. Bottom: devices written per task (training moving average, thin;
    held-out, markers). One colour per run.

    Args:
        runs: per run name, its metric rows: ``{"kind": "train", "iteration", "loss",
            "devices_written", ...}`` and ``{"kind": "val", "iteration", "val_loss_before",
            "val_loss_after", "val_devices_written"}``.
        path: output PNG.
        title: figure title (default: a generic one).
        smooth: moving-average window (iterations) for the training curves.
    """
    if not runs:
        raise ValueError("no runs to plot")
    with matplotlib.rc_context(STYLE):
        fig = figure(6.4)
        ax_loss, ax_dev = fig.subplots(2, 1, sharex=True, height_ratios=(1.6, 1))
        run_handles = []
        for i, (run, rows) in enumerate(runs.items()):
            color = RUN_COLORS[i % len(RUN_COLORS)]
            train = _rows(rows, "train", ("iteration", "loss", "devices_written"), run)
            val = _rows(
                rows,
                "val",
                ("iteration", "val_loss_before", "val_loss_after", "val_devices_written"),
                run,
            )
            if not len(train["iteration"]) and not len(val["iteration"]):
                raise ValueError(f"run {run!r} has no 'train' or 'val' rows")
            if len(train["iteration"]):
                ax_loss.plot(
                    train["iteration"],
                    moving_average(train["loss"], smooth),
                    color=color,
                    lw=0.9,
                    alpha=0.55,
                )
                ax_dev.plot(
                    train["iteration"],
                    moving_average(train["devices_written"], smooth),
                    color=color,
                    lw=0.9,
                    alpha=0.55,
                )
            if len(val["iteration"]):
                ax_loss.plot(
                    val["iteration"],
                    val["val_loss_before"],
                    color=color,
                    lw=1.3,
                    ls="--",
                    marker="o",
                    ms=3,
                    mfc="white",
                )
                ax_loss.plot(
                    val["iteration"], val["val_loss_after"], color=color, lw=1.8, marker="o", ms=3.5
                )
                ax_dev.plot(
                    val["iteration"],
                    val["val_devices_written"],
                    color=color,
                    lw=1.6,
                    marker="o",
                    ms=3.5,
                )
            run_handles.append(Patch(color=color, label=run))
        style_handles = [
            Line2D(
                [],
                [],
                color="0.3",
                lw=1.3,
                ls="--",
                marker="o",
                ms=3,
                mfc="white",
                label="held-out, before update",
            ),
            Line2D([], [], color="0.3", lw=1.8, marker="o", ms=3.5, label="held-out, after update"),
            Line2D(
                [], [], color="0.3", lw=0.9, alpha=0.55, label=f"training loss ({smooth}-it. mean)"
            ),
        ]
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel("loss (log)")
        ax_loss.set_title("Loss on held-out tasks and training loss")
        legend = ax_loss.legend(handles=style_handles, loc="upper right", fontsize=8)
        ax_loss.add_artist(legend)
        ax_loss.legend(
            handles=run_handles, loc="lower left", fontsize=8, title="run", title_fontsize=8
        )
        ax_dev.set_ylabel("devices written / task")
        ax_dev.set_xlabel("meta-iteration")
        ax_dev.set_title("PCM devices written per task (markers: held-out; thin: training mean)")
        ax_dev.set_ylim(bottom=0)
        fig.suptitle(title or "Meta-training")
        return save(fig, path)
