"""Shared look of every figure: colours, sizes, the Agg figure factory, atomic PNG writes.

Every figure is drawn on a :class:`matplotlib.figure.Figure` (Agg canvas: no pyplot, no global
figure state, safe without a display) and written atomically. Colours mean the same thing in
every figure: :data:`TARGET_COLOR` the target, :data:`BEFORE_COLOR` the network before the
on-chip update, :data:`AFTER_COLOR` after it. Figures are :data:`FIG_WIDTH_IN` inches wide at
:data:`DPI` (about 900 px, the width the README shows them at).

Time bases: one network step is 1 ms of network time and ``robo_l2l.tasks.DT_ARM`` = 0.01 s of
arm time (the joint angles integrate the commanded velocities with that step).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robo_l2l.atomic import atomic_write

TARGET_COLOR = "#2ca02c"  #: target trajectory (green)
BEFORE_COLOR = "#e6862e"  #: network output / device state before the on-chip update (orange)
AFTER_COLOR = "#1f5fa8"  #: after the on-chip update (blue)
RUN_COLORS = ("#1f5fa8", "#c0392b", "#2ca02c", "#8e44ad", "#e6862e", "#7f7f7f")  #: one per run

DPI = 110  #: dots per inch of the written PNGs
FIG_WIDTH_IN = 8.2  #: figure width (inches): 8.2 in * 110 dpi ~ 900 px
DT_NET_MS = 1.0  #: network time per step (ms)
JOINTS = ("base", "shoulder")
JOINT_COLORS = ("0.15", "#8e44ad")  #: per-joint traces that are not before/after curves

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def figure(height_in: float) -> Figure:
    fig = Figure(figsize=(FIG_WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` via a temporary file in the same folder."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def array(x, name: str, ndim: int, width: int | None = None) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != ndim or (width is not None and a.shape[-1] != width):
        want = f"(T, {width})" if width is not None and ndim == 2 else f"{ndim}-D"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    return a


def same_length(**arrays: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays differ in length (time steps): {lengths}")
    return next(iter(lengths.values()))
