"""Figures of one demo run: motor commands, tool-tip paths, spike rasters, learning signals,
device conductances (:func:`demo_figures` draws all five from a ``demo.npz`` record)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np

from robo_l2l.demo_record import MATRICES, validate
from robo_l2l.functional.pcm import G_MAX_US
from robo_l2l.plots.style import (
    AFTER_COLOR,
    BEFORE_COLOR,
    DT_NET_MS,
    JOINT_COLORS,
    JOINTS,
    STYLE,
    TARGET_COLOR,
    array,
    figure,
    same_length,
    save,
)
from robo_l2l.tasks import DT_ARM


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
    target = array(target_omega, "target_omega", 2, 2)
    before = array(before, "before", 2, 2)
    after = array(after, "after", 2, 2)
    t = np.arange(same_length(target=target, before=before, after=after)) * DT_ARM
    with matplotlib.rc_context(STYLE):
        fig = figure(5.2)
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
        return save(fig, path)


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
    target = array(target_xyz, "target_xyz", 2, 3)
    before = array(before_xyz, "before_xyz", 2, 3)
    after = array(after_xyz, "after_xyz", 2, 3)
    same_length(target=target, before=before, after=after)

    def err_mm(xyz: np.ndarray) -> float:
        return 1000.0 * float(np.linalg.norm(xyz - target, axis=1).mean())

    curves = (
        (target, TARGET_COLOR, 2.6, "-", "target"),
        (before, BEFORE_COLOR, 1.3, "--", f"before update (mean error {err_mm(before):.1f} mm)"),
        (after, AFTER_COLOR, 1.3, "-", f"after update (mean error {err_mm(after):.1f} mm)"),
    )
    with matplotlib.rc_context(STYLE):
        fig = figure(6.6)
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
        return save(fig, path)


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
    panels = [(array(trainee_spikes, "trainee_spikes", 2), "trainee", BEFORE_COLOR)]
    if trainee_spikes_after is not None:
        panels[0] = (panels[0][0], "trainee before update", BEFORE_COLOR)
        after = array(trainee_spikes_after, "trainee_spikes_after", 2)
        panels.append((after, "trainee after update", AFTER_COLOR))
    if generator_spikes is not None:
        panels.append((array(generator_spikes, "generator_spikes", 2), "generator", "0.25"))
    same_length(**{name: s for s, name, _ in panels})
    for s, name, _ in panels:
        if not np.isin(s, (0, 1)).all():
            raise ValueError(f"{name} spikes must be 0 or 1")
    heights = [1.0 if s.shape[1] <= 300 else 1.6 for s, _, _ in panels]
    with matplotlib.rc_context(STYLE):
        fig = figure(1.2 + 2.2 * sum(heights))
        axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True, height_ratios=heights))
        for ax, (spikes, name, color) in zip(axes, panels, strict=True):
            _raster(ax, spikes, name, color)
        axes[-1].set_xlabel("network time (ms)")
        fig.suptitle(title or "Spike rasters")
        return save(fig, path)


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
    signals = array(signals, "signals", 2).astype(np.float64)
    t = np.arange(len(signals)) * DT_NET_MS
    with matplotlib.rc_context(STYLE):
        if signals.shape[1] == 2:
            fig = figure(3.6)
            ax = fig.subplots()
            for j, (joint, color) in enumerate(zip(JOINTS, JOINT_COLORS, strict=True)):
                ax.plot(t, signals[:, j], color=color, lw=1.3, label=f"{joint} output")
            ax.axhline(0.0, color="k", lw=0.6)
            ax.set_xlabel("network time (ms)")
            ax.set_ylabel("error signal (rad/s)")
            ax.set_xlim(t[0], t[-1])
            ax.legend(loc="upper right")
            fig.suptitle(title or "Readout rule: per-output error signals (output − target)")
            return save(fig, path)
        fig = figure(6.4)
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
        return save(fig, path)


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
    with matplotlib.rc_context(STYLE):
        fig = figure(3.9)
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
        return save(fig, path)


def demo_title(meta: Mapping) -> str:
    """Subtitle of the demo figures: rule, K, seed, deployment (age, compensation), errors."""
    parts = []
    if "rule" in meta:
        parts.append(f"{meta['rule']} rule")
    if "k_updates" in meta:
        parts.append(f"K = {meta['k_updates']}")
    if "seed" in meta:
        parts.append(f"task seed {meta['seed']}")
    if meta.get("deployment") == "ideal":
        parts.append("ideal weights")
    elif meta.get("device_age"):
        comp = ", drift comp." if meta.get("drift_compensation") else ""
        parts.append(f"PCM at {meta['device_age']}{comp}")
    before, after = meta.get("tracking_error_before_mm"), meta.get("tracking_error_after_mm")
    if before is not None and after is not None:
        parts.append(f"tracking error {before:.1f} → {after:.1f} mm")
    return ", ".join(parts)


def demo_figures(d: Mapping, out: Path) -> list[Path]:
    """The five figures of a demo record (:mod:`robo_l2l.demo_record`) into ``out``."""
    validate(d)
    sub = demo_title(d["meta"])
    g = {kind: {m: d[f"{kind}.{m}"] for m in MATRICES} for kind in ("g_before", "g_after")}
    written = {m: np.asarray(d[f"written.{m}"]).astype(bool) for m in MATRICES}
    n_written = int(sum(w.sum() for w in written.values()))
    writes = d["meta"].get("devices_written")
    out = Path(out)
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
        plot_learning_signals(
            d["learning_signals"],
            out / "learning_signals.png",
            title=f"Learning signals of the on-chip update\n{sub}",
        ),
        plot_conductances(
            g["g_before"],
            g["g_after"],
            written,
            out / "conductances.png",
            title=(
                f"PCM conductances before and after the update: {n_written:,} distinct devices "
                f"written"
                + (f" ({writes:,} writes in all)" if writes is not None else "")
                + f"\n{sub}"
            ),
        ),
    ]
