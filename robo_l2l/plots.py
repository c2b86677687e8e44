"""Figures of the controller, the PCM array and meta-training, as PNG files.

Every function takes arrays (numpy) or metric rows (dicts) and an output path, draws one figure
on a :class:`matplotlib.figure.Figure` (Agg canvas: no pyplot, no global figure state, safe
without a display), writes it atomically (temporary file in the same folder, then
:func:`os.replace`) and returns the path. Colours mean the same thing in every figure:
:data:`TARGET_COLOR` the target, :data:`BEFORE_COLOR` the network before the on-chip update,
:data:`AFTER_COLOR` after it. Figures are :data:`FIG_WIDTH_IN` inches wide at :data:`DPI`
(about 900 px, the width the README shows them at).

Time bases: one network step is 1 ms of network time and :data:`DT_ARM_S` = 0.01 s of arm time
(the joint angles integrate the commanded velocities with that step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from robo_l2l.atomic import atomic_write

TARGET_COLOR = "#2ca02c"  #: target trajectory (green)
BEFORE_COLOR = "#e6862e"  #: network output / device state before the on-chip update (orange)
AFTER_COLOR = "#1f5fa8"  #: after the on-chip update (blue)
RUN_COLORS = ("#1f5fa8", "#c0392b", "#2ca02c", "#8e44ad", "#e6862e", "#7f7f7f")  #: one per run

DPI = 110  #: dots per inch of the written PNGs
FIG_WIDTH_IN = 8.2  #: figure width (inches): 8.2 in * 110 dpi ~ 900 px
DT_ARM_S = 0.01  #: arm time per network step (s); robo_l2l.tasks.DT_ARM
DT_NET_MS = 1.0  #: network time per step (ms)
G_MAX_US = 25.0  #: largest device conductance (uS); robo_l2l.functional.pcm.G_MAX_US
JOINTS = ("base", "shoulder")
JOINT_COLORS = ("0.15", "#8e44ad")  #: per-joint traces that are not before/after curves
MATRICES = ("w_in", "w_rec", "w_out")

_STYLE = {
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


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(FIG_WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` via a temporary file in the same folder."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def _array(x, name: str, ndim: int, width: int | None = None) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != ndim or (width is not None and a.shape[-1] != width):
        want = f"(T, {width})" if width is not None and ndim == 2 else f"{ndim}-D"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    return a


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays differ in length (time steps): {lengths}")
    return next(iter(lengths.values()))


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


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


def plot_motor_commands(
    target_omega: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Joint angular velocities (rad/s) vs arm time (s): target, network before and after update.

    Args:
        target_omega: target velocities ``(T, 2)`` rad/s of the base and shoulder joints.
        before: network output ``(T, 2)`` rad/s before the on-chip update.
        after: network output ``(T, 2)`` rad/s after it.
        path: output PNG.
        title: figure title (default: a generic one).
    """
    target = _array(target_omega, "target_omega", 2, 2)
    before = _array(before, "before", 2, 2)
    after = _array(after, "after", 2, 2)
    t = np.arange(_same_length(target=target, before=before, after=after)) * DT_ARM_S
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.2)
        axes = fig.subplots(2, 1, sharex=True)
        for j, (ax, joint) in enumerate(zip(axes, JOINTS, strict=True)):
            ax.plot(t, target[:, j], color=TARGET_COLOR, lw=2.6, label="target")
            ax.plot(t, before[:, j], color=BEFORE_COLOR, lw=1.3, ls="--", label="before update")
            ax.plot(t, after[:, j], color=AFTER_COLOR, lw=1.3, label="after update")
            ax.set_ylabel(f"ω {joint} (rad/s)")
            ax.set_title(
                f"{joint} joint: RMSE before {_rmse(before[:, j], target[:, j]):.3f}, "
                f"after {_rmse(after[:, j], target[:, j]):.3f} rad/s"
            )
        axes[-1].set_xlabel("arm time (s)")
        axes[-1].set_xlim(t[0], t[-1])
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
        fig.suptitle(title or "Motor commands: target vs network output before and after update")
        return _save(fig, path)


def plot_paths(
    target_xyz: np.ndarray,
    before_xyz: np.ndarray,
    after_xyz: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Tool-tip paths (m): a 3-D view and the x-y and x-z projections.

    Args:
        target_xyz: target tool-tip positions ``(T, 3)`` m.
        before_xyz: executed positions ``(T, 3)`` m with the commands before the update.
        after_xyz: executed positions ``(T, 3)`` m with the commands after the update.
        path: output PNG.
        title: figure title (default: a generic one).
    """
    target = _array(target_xyz, "target_xyz", 2, 3)
    before = _array(before_xyz, "before_xyz", 2, 3)
    after = _array(after_xyz, "after_xyz", 2, 3)
    _same_length(target=target, before=before, after=after)

    def err_mm(xyz: np.ndarray) -> float:
        return 1000.0 * float(np.linalg.norm(xyz - target, axis=1).mean())

    curves = (
        (target, TARGET_COLOR, 2.6, "-", "target"),
        (before, BEFORE_COLOR, 1.3, "--", f"before update (mean error {err_mm(before):.1f} mm)"),
        (after, AFTER_COLOR, 1.3, "-", f"after update (mean error {err_mm(after):.1f} mm)"),
    )
    with matplotlib.rc_context(_STYLE):
        fig = _figure(6.6)
        grid = fig.add_gridspec(2, 2, width_ratios=(1.3, 1))
        ax3 = fig.add_subplot(grid[:, 0], projection="3d")
        for xyz, color, lw, ls, label in curves:
            ax3.plot(xyz[:, 0], xyz[:, 1], xyz[:, 2], color=color, lw=lw, ls=ls, label=label)
        ax3.scatter(*target[0], color="k", s=14, label="start", depthshade=False)
        ax3.set_xlabel("x (m)", labelpad=4)
        ax3.set_ylabel("y (m)", labelpad=4)
        ax3.set_zlabel("z (m)", labelpad=4)
        ax3.tick_params(labelsize=7.5, pad=1)
        ax3.set_aspect("equal", adjustable="datalim")
        ax3.set_box_aspect(None, zoom=0.82)
        ax3.set_title("3-D view")
        handles, labels = ax3.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
        for row, (k, name) in enumerate(((1, "y"), (2, "z"))):
            ax = fig.add_subplot(grid[row, 1])
            for xyz, color, lw, ls, _ in curves:
                ax.plot(xyz[:, 0], xyz[:, k], color=color, lw=lw, ls=ls)
            ax.plot(target[0, 0], target[0, k], "ko", ms=4)
            ax.set_xlabel("x (m)")
            ax.set_ylabel(f"{name} (m)")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"x-{name} projection")
        fig.suptitle(title or "Tool-tip path: target vs executed before and after update")
        return _save(fig, path)


def _raster(ax, spikes: np.ndarray, name: str, color: str) -> None:
    t, neuron = np.nonzero(spikes)
    ax.plot(t * DT_NET_MS, neuron, "|", color=color, ms=2.0, mew=0.6)
    rate_hz = float(spikes.mean()) / (DT_NET_MS * 1e-3)
    ax.set_title(f"{name}: {spikes.shape[1]} neurons, mean rate {rate_hz:.1f} Hz")
    ax.set_ylabel("neuron index")
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.set_xlim(0, len(spikes) * DT_NET_MS)
    ax.grid(False)


def plot_spike_rasters(
    trainee_spikes: np.ndarray,
    path: str | os.PathLike,
    generator_spikes: np.ndarray | None = None,
    *,
    trainee_spikes_after: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Spike rasters (network time in ms, neuron index); mean rates (Hz) in the panel titles.

    Args:
        trainee_spikes: trainee spikes ``(T, 250)`` in {0, 1}, one row per 1 ms step (the trial
            in which the learning signals are computed, i.e. before the update).
        path: output PNG.
        generator_spikes: generator spikes ``(T, 800)`` in {0, 1} (natural rule), or None.
        trainee_spikes_after: trainee spikes ``(T, 250)`` after the update; a second panel.
        title: figure title (default: a generic one).
    """
    panels = [(_array(trainee_spikes, "trainee_spikes", 2), "trainee", BEFORE_COLOR)]
    if trainee_spikes_after is not None:
        panels[0] = (panels[0][0], "trainee before update", BEFORE_COLOR)
        after = _array(trainee_spikes_after, "trainee_spikes_after", 2)
        panels.append((after, "trainee after update", AFTER_COLOR))
    if generator_spikes is not None:
        panels.append((_array(generator_spikes, "generator_spikes", 2), "generator", "0.25"))
    _same_length(**{name: s for s, name, _ in panels})
    for s, name, _ in panels:
        if not np.isin(s, (0, 1)).all():
            raise ValueError(f"{name} spikes must be 0 or 1")
    heights = [1.0 if s.shape[1] <= 300 else 1.6 for s, _, _ in panels]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(1.2 + 2.2 * sum(heights))
        axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True, height_ratios=heights))
        for ax, (spikes, name, color) in zip(axes, panels, strict=True):
            _raster(ax, spikes, name, color)
        axes[-1].set_xlabel("network time (ms)")
        fig.suptitle(title or "Spike rasters")
        return _save(fig, path)


def plot_learning_signals(
    signals: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
    n_traces: int = 4,
) -> Path:
    """Learning signals over network time (ms).

    With ``n = 2`` columns (readout rule) the per-output error signals (rad/s, network output
    minus target) are drawn as traces. With more columns (natural rule: one generator learning
    signal per trainee neuron, arbitrary units) a heatmap time x neuron is drawn above the traces
    of the ``n_traces`` neurons with the largest signal variance.

    Args:
        signals: learning signals ``(T, n)``.
        path: output PNG.
        title: figure title (default: one naming the rule).
        n_traces: traces drawn under the heatmap (natural rule).
    """
    signals = _array(signals, "signals", 2).astype(np.float64)
    t = np.arange(len(signals)) * DT_NET_MS
    with matplotlib.rc_context(_STYLE):
        if signals.shape[1] == 2:
            fig = _figure(3.6)
            ax = fig.subplots()
            for j, (joint, color) in enumerate(zip(JOINTS, JOINT_COLORS, strict=True)):
                ax.plot(t, signals[:, j], color=color, lw=1.3, label=f"{joint} output")
            ax.axhline(0.0, color="k", lw=0.6)
            ax.set_xlabel("network time (ms)")
            ax.set_ylabel("error signal (rad/s)")
            ax.set_xlim(t[0], t[-1])
            ax.legend(loc="upper right")
            fig.suptitle(title or "Readout rule: per-output error signals (output − target)")
            return _save(fig, path)
        fig = _figure(6.4)
        ax_map, ax_tr = fig.subplots(2, 1, sharex=True, height_ratios=(1.6, 1))
        vmax = float(np.percentile(np.abs(signals), 99)) or 1.0
        image = ax_map.imshow(
            signals.T,
            aspect="auto",
            origin="lower",
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            extent=(t[0] - 0.5, t[-1] + 0.5, -0.5, signals.shape[1] - 0.5),
            interpolation="nearest",
        )
        ax_map.grid(False)
        ax_map.set_ylabel("trainee neuron")
        ax_map.set_title(f"all {signals.shape[1]} trainee neurons (colour clipped at 99th pct.)")
        fig.colorbar(image, ax=ax_map, label="learning signal (a.u.)", pad=0.01)
        top = np.argsort(signals.var(axis=0))[::-1][: min(n_traces, signals.shape[1])]
        cmap = matplotlib.colormaps["viridis"]
        for i, k in enumerate(sorted(top)):
            ax_tr.plot(
                t,
                signals[:, k],
                lw=1.1,
                color=cmap(i / max(1, len(top) - 1) * 0.85),
                label=f"neuron {k}",
            )
        ax_tr.axhline(0.0, color="k", lw=0.6)
        ax_tr.set_xlabel("network time (ms)")
        ax_tr.set_ylabel("learning signal (a.u.)")
        ax_tr.set_title(f"the {len(top)} neurons with the largest variance")
        ax_tr.legend(loc="upper left", ncols=len(top), fontsize=8)
        ax_tr.set_xlim(t[0], t[-1])
        fig.suptitle(title or "Natural rule: generator learning signals")
        return _save(fig, path)


def plot_conductances(
    g_before: Mapping[str, np.ndarray],
    g_after: Mapping[str, np.ndarray],
    written: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Histograms of device conductance |G| (uS, 0..25) per matrix before and after the update.

    Args:
        g_before: per matrix name, signed conductances ``(n_in, n_out)`` uS before the update
            (positive: G+ device, negative: G- device; both are counted as |G|).
        g_after: the same after the update.
        written: per matrix name, a bool mask ``(n_in, n_out)`` of the devices the update wrote.
        path: output PNG.
        title: figure title (default: a generic one).
    """
    names = [n for n in MATRICES if n in g_before] + [n for n in g_before if n not in MATRICES]
    if not names:
        raise ValueError("g_before holds no matrix")
    for name in names:
        for label, d in (("g_after", g_after), ("written", written)):
            if name not in d:
                raise ValueError(f"{label} lacks matrix {name!r}")
            if np.shape(d[name]) != np.shape(g_before[name]):
                raise ValueError(
                    f"{label}[{name!r}] has shape {np.shape(d[name])}, "
                    f"g_before[{name!r}] {np.shape(g_before[name])}"
                )
    bins = np.linspace(0.0, G_MAX_US, 51)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(3.9)
        axes = np.atleast_1d(fig.subplots(1, len(names), sharey=False))
        for ax, name in zip(axes, names, strict=True):
            before = np.clip(np.abs(np.asarray(g_before[name], float)), 0.0, G_MAX_US)
            after = np.clip(np.abs(np.asarray(g_after[name], float)), 0.0, G_MAX_US)
            mask = np.asarray(written[name], bool)
            if mask.any():
                ax.hist(
                    after[mask],
                    bins=bins,
                    histtype="stepfilled",
                    color=AFTER_COLOR,
                    alpha=0.3,
                    label="after, written devices only",
                )
            ax.hist(
                before.ravel(),
                bins=bins,
                histtype="step",
                color=BEFORE_COLOR,
                lw=1.6,
                label="before update",
            )
            ax.hist(
                after.ravel(),
                bins=bins,
                histtype="step",
                color=AFTER_COLOR,
                lw=1.3,
                label="after update",
            )
            ax.set_yscale("log")
            ax.set_xlim(0.0, G_MAX_US)
            ax.set_xlabel("|G| (µS)")
            shape = "×".join(str(s) for s in np.shape(g_before[name]))
            ax.set_title(f"{name} ({shape})\n{int(mask.sum()):,} of {mask.size:,} written")
        axes[0].set_ylabel("devices")
        legend = {}  # label -> handle over all panels: a panel may have no written device
        for ax in axes:
            legend.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        labels = sorted(legend, key=lambda k: ("before" not in k, "written" in k))
        fig.legend(
            [legend[k] for k in labels],
            labels,
            loc="outside lower center",
            ncols=3,
            frameon=False,
        )
        fig.suptitle(title or "Device conductances before and after the on-chip update")
        return _save(fig, path)


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
    with matplotlib.rc_context(_STYLE):
        fig = _figure(6.4)
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
        return _save(fig, path)


def _duration(seconds: float) -> str:
    for unit, s in (("year", 365 * 86400.0), ("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= s and abs(seconds / s - round(seconds / s)) < 1e-9:
            n = round(seconds / s)
            return f"{n} {unit}" + ("s" if unit in ("year", "day") and n != 1 else "")
    return f"{seconds:g} s"


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
            parts.append(_duration(float(t)))
        if row.get("drift_compensation"):
            parts.append("drift comp.")
    return " · ".join(parts)


def plot_eval_table(
    rows: Sequence[Mapping],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """The evaluation table as horizontal grouped bars, one group per row.

    Left: held-out loss before (light, hatched) and after (solid) the update, mean ± std over
    seeds, log scale. Right: PCM devices written per task. Rows as written by
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
        "loss_before_std",
        "loss_after_mean",
        "loss_after_std",
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

    before, after = col("loss_before_mean"), col("loss_after_mean")
    # a log axis cannot show an error bar that reaches zero: clip the lower whisker
    err_b = np.stack([np.minimum(col("loss_before_std"), 0.9 * before), col("loss_before_std")])
    err_a = np.stack([np.minimum(col("loss_after_std"), 0.9 * after), col("loss_after_std")])
    with matplotlib.rc_context(_STYLE):
        fig = _figure(1.5 + 0.3 * n)
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
        ax.set_title("loss, mean ± std over seeds")
        ax_dev.barh(y, col("devices_written_mean"), 0.6, color="0.55")
        ax_dev.set_xlabel("devices written / task")
        ax_dev.set_title("PCM writes")
        ax_dev.grid(axis="y", visible=False)
        ax_dev.tick_params(axis="y", length=0)
        rule = rows[0].get("rule", "")
        tasks = rows[0].get("n_tasks")
        seeds = rows[0].get("seeds")
        default = f"Evaluation ({rule} rule" if rule else "Evaluation ("
        if tasks is not None:
            default += f", {tasks} held-out tasks per row"
        if seeds is not None:
            default += f", {len(seeds)} seeds"
        fig.suptitle(title or (default + ")").replace("(, ", "("))
        return _save(fig, path)


MATRICES = ("w_in", "w_rec", "w_out")


def demo_title(meta: dict) -> str:
    parts = []
    if "rule" in meta:
        parts.append(f"{meta['rule']} rule")
    if "k_updates" in meta:
        parts.append(f"K = {meta['k_updates']}")
    if "seed" in meta:
        parts.append(f"task seed {meta['seed']}")
    before, after = meta.get("tracking_error_before_mm"), meta.get("tracking_error_after_mm")
    if before is not None and after is not None:
        parts.append(f"tracking error {before:.1f} → {after:.1f} mm")
    return ", ".join(parts)


def demo_figures(d: Mapping, out: Path) -> list[Path]:
    """The five figures of a ``demo.npz`` (arrays, ``meta`` parsed to a dict) into ``out``."""
    sub = demo_title(d["meta"])
    g = {kind: {m: d[f"{kind}.{m}"] for m in MATRICES} for kind in ("g_before", "g_after")}
    written = {m: d[f"written.{m}"].astype(bool) for m in MATRICES}
    n_written = int(sum(w.sum() for w in written.values()))
    writes = d["meta"].get("devices_written")
    return [
        plot_motor_commands(
            d["target_omega"],
            d["omega_before"],
            d["omega_after"],
            out / "motor_commands.png",
            title=f"Motor commands before and after the on-chip update\n{sub}",
        ),
        plot_paths(
            d["target_xyz"],
            d["xyz_before"],
            d["xyz_after"],
            out / "paths.png",
            title=f"Tool-tip path in PyBullet before and after the update\n{sub}",
        ),
        plot_spike_rasters(
            d["spikes_before"],
            out / "spike_rasters.png",
            d.get("generator_spikes"),
            trainee_spikes_after=d["spikes_after"],
            title=f"Spike rasters\n{sub}",
        ),
        plot_learning_signals(d["learning_signals"], out / "learning_signals.png"),
        plot_conductances(
            g["g_before"],
            g["g_after"],
            written,
            out / "conductances.png",
            title=(
                f"PCM conductances before and after the update: {n_written:,} distinct devices "
                f"written" + (f" ({writes:,} writes in all)" if writes is not None else "")
            ),
        ),
    ]
