r"""Readout-scale calibration: program the meta-learned readout at :math:`c\,W_0`, with the scalar
:math:`c` chosen on validation episodes (held-out characters of the meta-training alphabets).

The inner loop takes U = 4 SGD steps of lr 0.1 on the cross-entropy from :math:`W_0`. Meta-training
minimises the query *loss* after the last step, which is not the same as maximising the query
*accuracy*: with a smaller :math:`W_0` the initial logits :math:`F W_0` are smaller, the first
softmax gradients :math:`F^\top(p - y)` larger, and the readout reaches the new classes in fewer
steps. In ``results/fewshot_hw_shift2_cal/calibration.json`` the final query loss rises as
:math:`c` falls while the accuracy rises. Drift shrinks the readout of an uncompensated chip in
the same way (README, few-shot section). The scale is one hyperparameter of deployment,
selected like any other on the validation split, never on the test alphabets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """The candidate scales as floats; each finite and > 0, no repeats, at least one."""
    values = tuple(float(c) for c in scales)
    if not values:
        raise ValueError("need at least one readout scale")
    for c in values:
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"readout scales must be finite and > 0, got {c!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"readout scales repeat: {values}")
    return values


def scaled_readout(params: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """The same five tensors with ``readout`` multiplied by ``scale`` (the others shared)."""
    (scale,) = check_scales([scale])
    if "readout" not in params:
        raise KeyError("params hold no 'readout' tensor")
    return {**params, "readout": params["readout"] * scale}


def choose_scale(scales: Sequence[float], accuracies: Sequence[float]) -> int:
    """Index of the highest mean accuracy; among equal ones the scale nearest 1 (least change)."""
    scales = check_scales(scales)
    if len(accuracies) != len(scales):
        raise ValueError(f"{len(scales)} scales but {len(accuracies)} accuracies")
    if not all(math.isfinite(a) for a in accuracies):
        raise ValueError(f"accuracies must be finite, got {list(accuracies)}")
    return max(range(len(scales)), key=lambda i: (accuracies[i], -abs(math.log(scales[i]))))
