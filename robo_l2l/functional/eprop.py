r"""e-prop: eligibility traces and weight updates (Bellec et al. 2020; Ortner et al. 2025).

For LIF neurons the eligibility trace of synapse i -> j factorises into the pseudo-derivative of
the postsynaptic neuron and a low-pass filter of the presynaptic activity:

.. math::
    e^{in}_{t,i} &= \alpha e^{in}_{t-1,i} + x_{t,i}, \qquad
    e^{rec}_{t,i} = \alpha e^{rec}_{t-1,i} + z_{t-1,i} \\
    \Delta W_{ij} &= -\eta \sum_t L_{t,j}\, \psi_{t,j}\, e_{t,i}

**Natural e-prop** takes :math:`L` from the meta-learned generator and updates :math:`W_{in}` and
:math:`W_{rec}`. **Readout e-prop** updates only the leaky readout
:math:`y_t = \kappa y_{t-1} + z_t W_{out}`; for the loss
:math:`E = \frac{1}{N} \sum_{t,k} (y_{t,k} - y^*_{t,k})^2` (mean over the ``N`` elements of the
batch's outputs) its exact gradient is

.. math::
    \frac{\partial E}{\partial W^{out}_{jk}} = \sum_t \frac{2}{N}(y_{t,k} - y^*_{t,k})\, \bar z_{t,j},
    \qquad \bar z_t = \kappa \bar z_{t-1} + z_t,

i.e. the learning signal is the output error and the trace is the readout-filtered spikes.
"""

from __future__ import annotations

import torch

from robo_l2l.functional.readout import leaky_filter, shift_right


def eligibility_traces(
    inputs: torch.Tensor, spikes: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Presynaptic traces ``e_in (B, T, n_in)`` and ``e_rec (B, T, N)``.

    Args:
        inputs: input spikes ``(B, T, n_in)`` (or ``(T, n_in)``, broadcast over tasks).
        spikes: the layer's spikes ``(B, T, N)``.
        alpha: membrane decay per step.
    """
    if inputs.ndim == 2:
        inputs = inputs.expand(spikes.shape[0], *inputs.shape)
    return leaky_filter(inputs, alpha), leaky_filter(shift_right(spikes), alpha)


def eprop_gradient(
    learning_signal: torch.Tensor, psi: torch.Tensor, trace: torch.Tensor
) -> torch.Tensor:
    """:math:`\\sum_t L_{t,j} \\psi_{t,j} e_{t,i}` per task: ``(B, T, N) x (B, T, n_pre) -> (B, n_pre, N)``."""
    return torch.bmm(trace.transpose(1, 2), learning_signal * psi)


def readout_gradient(error_signal: torch.Tensor, filtered_spikes: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_t \\delta_{t,k} \\bar z_{t,j}`: ``(B, T, K) x (B, T, N) -> (B, N, K)``."""
    return torch.bmm(filtered_spikes.transpose(1, 2), error_signal)
