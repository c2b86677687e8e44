"""The few-shot demo figure: one episode learnt on the chip.

Support images by class; query images with the class predicted before and after the readout
updates (green frame: right, red: wrong); the readout's conductances after the last update
(:math:`g = 25\\,\\mu S \\cdot W`, the signed difference of the device pair) with the devices that
the updates wrote marked; query accuracy after each update.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RIGHT, WRONG = "#1a9850", "#d73027"


def _grid(fig, spec, images, labels, title, predicted=None, columns=None):
    """Images in a grid, one column per class (``labels``), predicted labels marked."""
    way = int(labels.max()) + 1
    per_class = [np.flatnonzero(labels == c) for c in range(way)]
    rows = max(len(p) for p in per_class)
    sub = spec.subgridspec(rows, columns or way, wspace=0.08, hspace=0.25)
    for c, index in enumerate(per_class):
        for r, i in enumerate(index):
            ax = fig.add_subplot(sub[r, c])
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"class {c}", fontsize=8)
            if predicted is not None:
                ok = predicted[i] == labels[i]
                for side in ax.spines.values():
                    side.set_color(RIGHT if ok else WRONG)
                    side.set_linewidth(2.5)
                ax.text(
                    0.04, 0.96, f"{predicted[i]}", transform=ax.transAxes, va="top",
                    fontsize=7, color="white", bbox=dict(fc=RIGHT if ok else WRONG, pad=1, lw=0),
                )  # fmt: skip
    fig.text(
        spec.get_position(fig).x0, spec.get_position(fig).y1 + 0.02, title, fontsize=10,
        weight="bold",
    )  # fmt: skip


def episode_figure(
    support_images: np.ndarray,
    support_labels: np.ndarray,
    query_images: np.ndarray,
    query_labels: np.ndarray,
    predicted_before: np.ndarray,
    predicted_after: np.ndarray,
    readout_after: np.ndarray,
    written: np.ndarray,
    accuracy_per_update: np.ndarray,
    title: str,
    g_max_us: float = 25.0,
) -> Figure:
    """The demo figure (see the module docstring).

    Args:
        support_images, query_images: ``(n, 28, 28)`` in [0, 1]; labels ``(n,)`` int.
        predicted_before, predicted_after: ``(n_query,)`` predicted classes.
        readout_after: ``(C, N)`` readout weights as read after the last update.
        written: ``(C, N)`` bool, devices written by any update.
        accuracy_per_update: ``(U + 1,)`` query accuracy in % before and after each update.
    """
    fig = Figure(figsize=(15, 9.5))
    FigureCanvasAgg(fig)
    outer = fig.add_gridspec(2, 3, height_ratios=[1.55, 1], hspace=0.35, wspace=0.12,
                             left=0.04, right=0.97, top=0.88, bottom=0.07)  # fmt: skip
    acc0, acc1 = accuracy_per_update[0], accuracy_per_update[-1]
    _grid(fig, outer[0, 0], support_images, support_labels, "support set (K per class)")
    _grid(
        fig, outer[0, 1], query_images, query_labels, f"queries before learning: {acc0:.0f}%",
        predicted_before,
    )  # fmt: skip
    _grid(
        fig, outer[0, 2], query_images, query_labels,
        f"queries after {len(accuracy_per_update) - 1} on-chip updates: {acc1:.0f}%",
        predicted_after,
    )  # fmt: skip
    bottom = outer[1, :].subgridspec(1, 2, width_ratios=[2.2, 1], wspace=0.22)
    heat = fig.add_subplot(bottom[0])
    g = readout_after.T * g_max_us
    limit = max(float(np.abs(g).max()), 1e-6)
    im = heat.imshow(g, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ys, xs = np.nonzero(written.T)
    heat.scatter(xs, ys, s=9, marker="o", facecolors="none", edgecolors="black", linewidths=0.8)
    heat.set_xlabel("feature (readout input)")
    heat.set_ylabel("class")
    heat.set_yticks(range(g.shape[0]))
    heat.set_title(
        f"readout conductance after learning, g+ - g- (uS); circled: devices written "
        f"({int(written.sum())} of {written.size})",
        fontsize=10,
    )
    fig.colorbar(im, ax=heat, fraction=0.03, pad=0.01, label="uS")
    curve = fig.add_subplot(bottom[1])
    steps = np.arange(len(accuracy_per_update))
    curve.plot(steps, accuracy_per_update, "o-", color="#4575b4")
    curve.set_ylim(0, 105)
    curve.set_xticks(steps)
    curve.set_xlabel("readout updates on the chip")
    curve.set_ylabel("query accuracy (%)")
    curve.grid(alpha=0.3)
    curve.set_title("this episode", fontsize=10)
    fig.suptitle(title, fontsize=12)
    return fig


def learning_curve_figure(runs: dict[str, list[dict]]) -> Figure:
    """Validation accuracy (mean and 95% CI) and training query loss against meta-iterations.

    Args:
        runs: label -> the rows of a run's ``metrics.jsonl`` (``kind`` ``train`` / ``val``).
    """
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    acc_ax, loss_ax = fig.subplots(1, 2)
    lowest = 100.0
    for label, rows in runs.items():
        val = [r for r in rows if r["kind"] == "val"]
        it = np.array([r["iteration"] for r in val])
        acc = np.array([r["val_accuracy"] for r in val])
        ci = np.array([r["val_accuracy_ci95"] for r in val])
        (line,) = acc_ax.plot(it, acc, "o-", ms=3, label=label)
        acc_ax.fill_between(it, acc - ci, acc + ci, color=line.get_color(), alpha=0.2)
        lowest = min(lowest, float((acc - ci).min()))
        train = [r for r in rows if r["kind"] == "train"]
        steps = np.array([r["iteration"] + 1 for r in train])
        loss = np.array([r["loss"] for r in train])
        window = max(1, len(loss) // 40)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        loss_ax.plot(steps[window - 1 :], smooth, color=line.get_color(), label=label)
    acc_ax.set_xlabel("meta-iteration")
    acc_ax.set_ylabel("validation accuracy after 4 updates (%)")
    acc_ax.set_title("held-out characters, 5-way 5-shot (mean, 95% CI)", fontsize=10)
    # From 0 unless every run stays high (a fine-tune): then zoom to the range it covers.
    acc_ax.set_ylim(0 if lowest < 50 else 5 * (lowest // 5) - 5, 100)
    acc_ax.grid(alpha=0.3)
    acc_ax.legend()
    loss_ax.set_xlabel("meta-iteration")
    loss_ax.set_ylabel("training query loss (running mean)")
    loss_ax.set_yscale("log")
    loss_ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
