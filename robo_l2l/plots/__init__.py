"""Figures of the controller, the PCM array, meta-training and evaluation, as PNG files.

Every function takes arrays (numpy) or rows (dicts) and an output path, draws one figure,
writes it atomically and returns the path. One module per subject: :mod:`.style` (the shared
look), :mod:`.demo` (one demo run), :mod:`.training` (learning curves), :mod:`.evaluation`
(evaluation tables), :mod:`.ages` (loss vs device age), :mod:`.tracking` (closed-loop
tracking per family).
"""

from robo_l2l.plots.ages import plot_loss_vs_age
from robo_l2l.plots.demo import (
    demo_figures,
    demo_title,
    plot_conductances,
    plot_learning_signals,
    plot_motor_commands,
    plot_paths,
    plot_spike_rasters,
)
from robo_l2l.plots.evaluation import eval_row_label, plot_eval_table
from robo_l2l.plots.style import DPI, FIG_WIDTH_IN
from robo_l2l.plots.tracking import plot_tracking
from robo_l2l.plots.training import moving_average, plot_learning_curves

__all__ = [
    "DPI",
    "FIG_WIDTH_IN",
    "demo_figures",
    "demo_title",
    "eval_row_label",
    "moving_average",
    "plot_conductances",
    "plot_eval_table",
    "plot_learning_curves",
    "plot_learning_signals",
    "plot_loss_vs_age",
    "plot_motor_commands",
    "plot_paths",
    "plot_spike_rasters",
    "plot_tracking",
]
