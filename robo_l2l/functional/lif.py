r"""Leaky integrate-and-fire neurons with reset by subtraction and refractoriness (the trainee).

Per step (1 ms), states starting at zero (Ortner et al. 2025; Bellec et al. 2020):

.. math::
    v_t &= \alpha v_{t-1} + I_t + z_{t-1} (W_{rec} \odot (1 - \mathbb 1)) - z_{t-1} A_t \\
    z_t &= H\left(\frac{v_t - A_t}{\vartheta}\right) \cdot [r_{t-1} \le 0.1] \\
    r_t &= \mathrm{clip}(r_{t-1} + n_{ref} z_t - 1, 0, n_{ref})

with :math:`\alpha = e^{-1/20}`, threshold :math:`\vartheta = 0.6`, :math:`A_t = \vartheta` (plain
LIF) and :math:`n_{ref} = 5`. The spike nonlinearity is norse's triangle surrogate, whose derivative
is the e-prop pseudo-derivative

.. math::
    \psi_t = \frac{\gamma}{\vartheta} \max\left(0, 1 - \left|\frac{v_t - A_t}{\vartheta}\right|\right),
    \qquad \gamma = 0.3,

set to zero while the neuron is refractory. The adaptive threshold :math:`A_t` of the
learning-signal generator lives in :mod:`robo_l2l.functional.alif`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from norse.torch.functional.threshold import triangle_fn


class LIFParameters(NamedTuple):
    """Parameters of the trainee LIF neurons (dimensionless, 1 ms steps).

    Parameters:
        alpha: membrane decay per step, :math:`e^{-\\Delta t/\\tau_m}` with :math:`\\tau_m = 20` ms.
        v_th: spike threshold :math:`\\vartheta` (also the reset amount).
        n_refractory: refractory counter increment :math:`n_{ref}` (steps).
        dampening: height :math:`\\gamma` of the pseudo-derivative.
    """

    alpha: float = math.exp(-1.0 / 20.0)
    v_th: float = 0.6
    n_refractory: float = 5.0
    dampening: float = 0.3


class LIFState(NamedTuple):
    """State of a LIF layer, each ``(B, N)``: voltage ``v``, spikes ``z``, refractory counter ``r``."""

    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor


def lif_initial_state(batch_size: int, n: int, like: torch.Tensor) -> LIFState:
    """All-zero state of ``n`` neurons for ``batch_size`` tasks (dtype/device of ``like``)."""
    zeros = like.new_zeros(batch_size, n)
    return LIFState(zeros, zeros, zeros)


def pseudo_derivative(
    v_scaled: torch.Tensor, refractory: torch.Tensor, p: LIFParameters
) -> torch.Tensor:
    """:math:`\\psi = \\gamma/\\vartheta \\max(0, 1-|v_{scaled}|)`, zero while refractory."""
    psi = p.dampening / p.v_th * torch.relu(1.0 - v_scaled.abs())
    return psi * (~refractory).to(psi.dtype)


def no_self_connections(w_rec: torch.Tensor) -> torch.Tensor:
    """:math:`W_{rec} \\odot (1 - \\mathbb 1)` for ``(N, N)`` or per-task ``(B, N, N)`` weights."""
    n = w_rec.shape[-1]
    mask = 1.0 - torch.eye(n, dtype=w_rec.dtype, device=w_rec.device)
    return w_rec * mask


def lif_step(
    input_current: torch.Tensor,
    state: LIFState,
    recurrent: Callable[[torch.Tensor], torch.Tensor],
    p: LIFParameters = LIFParameters(),
    threshold: torch.Tensor | float | None = None,
) -> tuple[torch.Tensor, LIFState, torch.Tensor]:
    """One 1-ms step of a recurrent LIF layer.

    Args:
        input_current: feed-forward current :math:`I_t = x_t W_{in}`, ``(B, N)``.
        state: previous state.
        recurrent: maps the previous spikes ``(B, N)`` to the recurrent current
            :math:`z_{t-1} (W_{rec} \\odot (1 - \\mathbb 1))` (a plain or a noisy PCM read).
        p: neuron parameters.
        threshold: :math:`A_t` (defaults to :math:`\\vartheta`); the adaptive threshold of ALIF.

    Returns:
        ``(z_t, new_state, psi_t)``: spikes, state and pseudo-derivative, each ``(B, N)``.
    """
    a = p.v_th if threshold is None else threshold
    v = p.alpha * state.v + input_current + recurrent(state.z) - state.z * a
    v_scaled = (v - a) / p.v_th
    refractory = state.r > 0.1
    z = triangle_fn(v_scaled, p.dampening) * (~refractory).to(v.dtype)
    r = torch.clamp(state.r + p.n_refractory * z - 1.0, 0.0, p.n_refractory)
    psi = pseudo_derivative(v_scaled, refractory, p)
    return z, LIFState(v, z, r), psi
