"""Figure of an open-loop replay: target vs executed tool-tip path."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np

from robo_l2l.plots.style import STYLE, TARGET_COLOR, array, figure, same_length, save


def plot_replay(
    target_xyz: np.ndarray, executed_xyz: np.ndarray, path: str | os.PathLike, title: str
) -> Path:
    """Target vs executed tool-tip path (m), x-y and x-z projections.

    Args:
        target_xyz: target positions ``(T, 3)`` m.
        executed_xyz: positions the arm reached ``(T, 3)`` m.
        path: output PNG.
        title: figure title.
    """
    target = array(target_xyz, "target_xyz", 2, 3)
    executed = array(executed_xyz, "executed_xyz", 2, 3)
    same_length(target=target, executed=executed)
    with matplotlib.rc_context(STYLE):
        fig = figure(4.2)
        axes = fig.subplots(1, 2)
        for ax, (i, j, label) in zip(axes, ((0, 1, "y"), (0, 2, "z")), strict=True):
            ax.plot(target[:, i], target[:, j], color=TARGET_COLOR, lw=2.5, label="target")
            ax.plot(
                executed[:, i], executed[:, j], color="tab:red", lw=1.2, ls="--", label="executed"
            )
            ax.plot(*target[0, [i, j]], "ko", ms=4, label="start")
            ax.set_xlabel("x (m)")
            ax.set_ylabel(f"{label} (m)")
            ax.set_aspect("equal", adjustable="datalim")
        axes[0].legend(loc="best", fontsize=8)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)
