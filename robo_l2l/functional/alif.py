r"""Adaptive LIF (ALIF/LSNN) neurons of the learning-signal generator.

Per step, in this order (Ortner et al. 2025, learning-signal generator; Bellec et al. 2018):

.. math::
    b_t &= \rho\, b_{t-1} + z_{t-1}, \qquad \rho = e^{-1/600} \\
    A_t &= \vartheta + \beta b_t \\
    v_t &= \alpha v_{t-1} + u_t W_{in} + z_{t-1} (W_{rec} \odot (1-\mathbb 1)) - z_{t-1} A_t \\
    z_t &= H\left(\frac{v_t - A_t}{\vartheta}\right) \text{ unless refractory}

with :math:`\vartheta = 1.3`, :math:`\beta = 1.6` for adaptive and 0 for plain neurons; the rest
(refractoriness, pseudo-derivative) is :func:`robo_l2l.functional.lif.lif_step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from robo_l2l.functional.lif import LIFParameters, LIFState, lif_step


class ALIFParameters(NamedTuple):
    """Parameters of the generator's neurons (1 ms steps).

    Parameters:
        lif: membrane parameters (threshold 1.3, tau 20 ms, refractory 5, dampening 0.3).
        rho: threshold-adaptation decay per step, :math:`e^{-1/\\tau_a}`, :math:`\\tau_a = 600` ms.
        beta: adaptation strength of the adaptive neurons.
        n_adaptive: how many of the layer's neurons (the last ones) adapt.
    """

    lif: LIFParameters = LIFParameters(v_th=1.3)
    rho: float = math.exp(-1.0 / 600.0)
    beta: float = 1.6
    n_adaptive: int = 240


class ALIFState(NamedTuple):
    """LIF state plus the adaptation variable ``b`` ``(B, N)``."""

    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor
    b: torch.Tensor


def alif_initial_state(batch_size: int, n: int, like: torch.Tensor) -> ALIFState:
    zeros = like.new_zeros(batch_size, n)
    return ALIFState(zeros, zeros, zeros, zeros)


def adaptation_strength(n: int, p: ALIFParameters, like: torch.Tensor) -> torch.Tensor:
    """:math:`\\beta_j`: 0 for the first ``n - n_adaptive`` neurons, ``beta`` for the rest."""
    beta = like.new_zeros(n)
    beta[n - p.n_adaptive :] = p.beta
    return beta


def alif_step(
    input_current: torch.Tensor,
    state: ALIFState,
    recurrent: Callable[[torch.Tensor], torch.Tensor],
    beta: torch.Tensor,
    p: ALIFParameters = ALIFParameters(),
) -> tuple[torch.Tensor, ALIFState]:
    """One step of an ALIF layer; ``beta`` from :func:`adaptation_strength`. Returns ``(z, state)``."""
    b = p.rho * state.b + state.z
    threshold = p.lif.v_th + beta * b
    z, lif_state, _ = lif_step(
        input_current, LIFState(state.v, state.z, state.r), recurrent, p.lif, threshold
    )
    return z, ALIFState(*lif_state, b)
