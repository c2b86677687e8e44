r"""Leaky-integrator readout and the exponential filters of e-prop.

.. math:: y_t = \kappa y_{t-1} + u_t, \qquad y_{-1} = 0,

with :math:`\kappa = e^{-1/20}` for the readouts (trainee outputs, learning signals) and
:math:`\alpha = e^{-1/20}` for the eligibility traces.
"""

from __future__ import annotations

import torch


def leaky_filter(u: torch.Tensor, decay: float, dim: int = 1) -> torch.Tensor:
    """Exponential filter along ``dim`` (time): :math:`y_t = \\text{decay}\\, y_{t-1} + u_t`.

    A plain loop keeps the float arithmetic of a direct transcription (bit-exact with the
    reference); it is cheap next to the recurrent layers.
    """
    u = u.movedim(dim, 0)
    out = []
    y = torch.zeros_like(u[0])
    for u_t in u:
        y = decay * y + u_t
        out.append(y)
    return torch.stack(out, dim=0).movedim(0, dim)


def shift_right(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``x_{t-1}`` along ``dim`` with a zero at t = 0 (the presynaptic spikes of step t)."""
    x = x.movedim(dim, 0)
    return torch.cat((torch.zeros_like(x[:1]), x[:-1]), dim=0).movedim(0, dim)
