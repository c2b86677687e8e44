"""Motor-command traces: commanded vs target angular velocities of base and shoulder.

:class:`MotorTraces` is one matplotlib figure with a row per joint and a column per episode
(before | after the update). :meth:`MotorTraces.show_until` draws the traces up to a step and
a cursor there; with an interactive backend (``live=True``: TkAgg, needs a display) the
figure is a window that the caller refreshes at a modest rate while the arm moves, and
:meth:`MotorTraces.save` writes the complete traces as a PNG at the end. Angular
velocities in rad/s, time in s of arm time (0.01 s per step).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from robo_l2l.atomic import atomic_write
from robo_l2l.tasks import DT_ARM

JOINTS = ("base", "shoulder")
TARGET_COLOR = "#2ca02c"
EPISODE_COLORS = ("#c0392b", "#1f5fa8")  #: before (red), after (blue): the video's trails


def _agg_figure(size: tuple[float, float]):
    """A matplotlib figure on the Agg canvas, outside pyplot (no window, thread-safe)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def interactive_backend() -> bool:
    """Switch matplotlib to TkAgg if a display and tkinter are there; True on success."""
    import matplotlib

    if not os.environ.get("DISPLAY"):
        return False
    try:
        import tkinter  # noqa: F401

        matplotlib.use("TkAgg", force=True)
        import matplotlib.pyplot as plt

        plt.figure().clear()
        plt.close("all")
        return True
    except Exception:  # no Tk, or Tk cannot open the display
        matplotlib.use("Agg", force=True)
        return False


class MotorTraces:
    """The figure of commanded vs target angular velocities of ``len(labels)`` episodes.

    Args:
        target_omega: target angular velocities (T, 2), rad/s.
        commands: per episode, the commands sent to the arm (T, 2), rad/s.
        labels: per episode, its title (e.g. "before the update").
        live: show the figure in a window (call :func:`interactive_backend` first).
    """

    def __init__(
        self,
        target_omega: np.ndarray,
        commands: Sequence[np.ndarray],
        labels: Sequence[str],
        live: bool = False,
    ) -> None:
        self.live = live
        self.target = np.asarray(target_omega, float)
        self.commands = [np.asarray(c, float) for c in commands]
        self.labels = list(labels)
        if any(c.shape != self.target.shape for c in self.commands):
            raise ValueError("every command trace must have the target's shape (T, 2)")
        self.time = (np.arange(len(self.target)) + 1) * DT_ARM
        if live:
            import matplotlib.pyplot as plt

            self.figure = plt.figure(figsize=self._size(), layout="constrained")
        else:
            self.figure = _agg_figure(self._size())
        self.lines, self.cursors = self._draw(self.figure)
        if live:
            plt.show(block=False)

    def _size(self) -> tuple[float, float]:
        return 4.6 * len(self.commands), 4.4

    def _draw(self, figure) -> tuple[list, list]:
        axes = figure.subplots(2, len(self.commands), sharex=True, sharey="row", squeeze=False)
        lines, cursors = [], []
        for k, label in enumerate(self.labels):
            for j, joint in enumerate(JOINTS):
                ax = axes[j, k]
                ax.plot(self.time, self.target[:, j], color=TARGET_COLOR, lw=2.4, label="target")
                (line,) = ax.plot([], [], color=EPISODE_COLORS[k % 2], lw=1.3, label="commanded")
                lines.append((line, k, j))
                cursors.append(ax.axvline(0.0, color="0.4", lw=0.8, ls=":"))
                ax.grid(alpha=0.3)
                if k == 0:
                    ax.set_ylabel(f"{joint} (rad/s)")
                if j == 0:
                    ax.set_title(label, fontsize=10)
                if j == 1:
                    ax.set_xlabel("arm time (s)")
            axes[0, k].legend(loc="upper right", fontsize=8)
        lim = 1.15 * max(np.abs(self.target).max(), *(np.abs(c).max() for c in self.commands))
        for ax in axes.flat:
            ax.set_xlim(0, self.time[-1])
            ax.set_ylim(-lim, lim)
        return lines, cursors

    def show_until(self, steps: Sequence[int]) -> None:
        """Draw episode k up to step ``steps[k]`` (inclusive; -1: nothing) and refresh."""
        for line, k, j in self.lines:
            t = int(steps[k]) + 1
            line.set_data(self.time[:t], self.commands[k][:t, j])
        for cursor, (_, k, _) in zip(self.cursors, self.lines, strict=True):
            t = int(np.clip(steps[k], 0, len(self.time) - 1))
            cursor.set_xdata([self.time[t], self.time[t]])
        if self.live:
            self.figure.canvas.draw_idle()
            self.figure.canvas.flush_events()

    def alive(self) -> bool:
        """False once the user closed the live window."""
        import matplotlib.pyplot as plt

        return not self.live or plt.fignum_exists(self.figure.number)

    def save(self, path: str | os.PathLike) -> None:
        """Write the complete traces (every step of every episode) as a PNG.

        Drawn on a new figure without pyplot, so it may be called from any thread."""
        figure = _agg_figure(self._size())
        for line, k, j in self._draw(figure)[0]:
            line.set_data(self.time, self.commands[k][:, j])
        atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))

    def close(self) -> None:
        if self.live:
            import matplotlib.pyplot as plt

            plt.close(self.figure)
