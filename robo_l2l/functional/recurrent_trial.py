r"""A recurrent LIF or ALIF layer over a whole trial, as one differentiable operation.

The forward pass is :func:`~robo_l2l.functional.lif.lif_step` (and, with threshold adaptation,
:func:`~robo_l2l.functional.alif.alif_step`) step by step, with the same float operations in the
same order, so spikes and pseudo-derivatives are bit for bit those of the step functions. The
backward pass is backpropagation through time written out, instead of autograd's graph of about
thirty small operations per step. With :math:`s_t = (v_t - A_t)/\vartheta`, the refractory mask
:math:`m_t`, norse's triangle surrogate :math:`\partial z_t / \partial s_t = \gamma
\max(0, 1 - |s_t|)\, m_t` and :math:`\psi_t = \frac{\gamma}{\vartheta} \max(0, 1 - |s_t|)\, m_t`,
going back in time from :math:`\bar v_T = \bar b_T = 0`, :math:`\bar z_{T-1}^{rec} = 0`:

.. math::
    \bar s_t &= (\bar z_t + \bar z^{rec}_t)\, \frac{\partial z_t}{\partial s_t}
        + \bar\psi_t\, \frac{\partial \psi_t}{\partial s_t}, \qquad
    \frac{\partial \psi_t}{\partial s_t} = -\frac{\gamma}{\vartheta}
        \operatorname{sign}(s_t)\, [|s_t| < 1]\, m_t \\
    \bar v_t &= \bar s_t / \vartheta + \alpha\, \bar v_{t+1} \\
    \bar A_t &= -\bar s_t / \vartheta - z_{t-1} \bar v_t, \qquad
    \bar b_t = \beta\, \bar A_t + \rho\, \bar b_{t+1} \quad \text{(ALIF only)} \\
    \bar z^{rec}_{t-1} &= \bar v_t W^T - A_t \bar v_t + \bar b_t \\
    \bar I_t &= \bar v_t, \qquad \bar W = \sum_t z_{t-1}^T \bar v_t

(bars are gradients of the loss, :math:`\bar z_t` and :math:`\bar\psi_t` those arriving from the
layer's outputs; the refractory counter and the read noise carry no gradient, as in the step
functions). With per-task weights :math:`W` ``(B, N, N)`` the backward pass runs a few tasks at a
time through all steps: their weights then stay in cache instead of streaming all ``B x N x N``
from memory at every step (2 threads: the 249 products of a batch-90 trial took 533 ms at once,
160-210 ms in blocks of 4-30 tasks; with the per-step overhead of small blocks the whole
backward pass was fastest at 16-30). The forward product skips silent neurons as
:mod:`robo_l2l.functional.spike_matmul` does, and reads the rows of the weights and of the
read-noise variances with one choice of rows per step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from robo_l2l.functional import draws
from robo_l2l.functional.lif import LIFParameters
from robo_l2l.functional.spike_matmul import SpikeRows, row_offsets, spike_train_outer

#: tasks per block of the backward pass with per-task weights (16 x 250 kB of 250 x 250 weights:
#: 2 MB per thread, the per-core cache of the machine it was tuned on)
BACKWARD_BLOCK = 16


class Adaptation(NamedTuple):
    """Threshold adaptation of ALIF neurons: :math:`A_t = \\vartheta + \\beta b_t`,
    :math:`b_t = \\rho b_{t-1} + z_{t-1}`; ``beta`` ``(N,)`` (0 for plain neurons)."""

    beta: torch.Tensor
    rho: float


class LayerTrial(NamedTuple):
    """Spikes and pseudo-derivatives of a layer over a trial, each ``(B, T, N)``."""

    spikes: torch.Tensor
    psi: torch.Tensor


class _Saved(NamedTuple):
    """What a trial keeps, batch-first ``(B, T, N)``: spikes and pseudo-derivatives (the
    outputs), and for the backward pass the scaled voltages ``s`` and, with adaptation, the
    thresholds ``A`` (``None`` when no gradient is needed)."""

    spikes: torch.Tensor
    psi: torch.Tensor
    scaled: torch.Tensor | None
    thresholds: torch.Tensor | None


def _forward(current, w, read_var, generator, p, adaptation, for_backward: bool) -> _Saved:
    """The step functions' arithmetic over all steps (comparisons write floats directly: bool
    tensors are slow on CPU); per-step values go straight into their ``(B, T, N)`` buffers."""
    batch, n_steps, n = current.shape
    per_task = w.ndim == 3
    var_per_task = read_var is not None and read_var.ndim == 3
    spikes, psi = current.new_empty(batch, n_steps, n), current.new_empty(batch, n_steps, n)
    scaled = current.new_empty(batch, n_steps, n) if for_backward else None
    thresholds = None
    if for_backward and adaptation is not None:
        thresholds = current.new_empty(batch, n_steps, n)
    v, r, b, z = (current.new_zeros(batch, n) for _ in range(4))
    # scratch reused every step (fresh tensors cost page faults at the generator's size)
    reset, s_buf, m = (current.new_empty(batch, n) for _ in range(3))
    rec_buf = None if per_task else current.new_empty(batch, n)
    a_buf = current.new_empty(batch, n) if adaptation is not None else None
    offsets = row_offsets(z)
    gain = p.dampening / p.v_th
    a: torch.Tensor | float = p.v_th
    for t in range(n_steps):
        if adaptation is not None:
            b.mul_(adaptation.rho).add_(z)
            a_out = a_buf if thresholds is None else thresholds[:, t]
            a = torch.mul(adaptation.beta, b, out=a_out).add_(p.v_th)
        rows = SpikeRows(z, True, offsets) if per_task or var_per_task else None
        rec = rows.times(w) if per_task else torch.mm(z, w, out=rec_buf)
        if read_var is not None:
            std = torch.sqrt(rows.times(read_var) if var_per_task else z @ read_var)
            rec = rec + std * draws.randn(std.shape, generator, dtype=std.dtype, device=std.device)
        v.mul_(p.alpha).add_(current[:, t]).add_(rec).sub_(torch.mul(z, a, out=reset))
        s = torch.sub(v, a, out=s_buf if scaled is None else scaled[:, t]).div_(p.v_th)
        torch.le(r, 0.1, out=m)  # not refractory: r_{t-1} <= 0.1
        z = torch.gt(s, 0.0, out=spikes[:, t]).mul_(m)  # norse's heaviside, masked
        r.add_(z, alpha=p.n_refractory).sub_(1.0).clamp_(0.0, p.n_refractory)
        # pseudo-derivative gamma / threshold * max(0, 1 - |s|) * m, as lif.pseudo_derivative
        torch.mul(torch.relu(1.0 - s.abs()).mul_(gain), m, out=psi[:, t])
    return _Saved(spikes, psi, scaled, thresholds)


def _backward_steps(pre, gain, w_t, spikes, p, adaptation, thresholds, out):
    r"""Go back through the steps of one block of tasks (see the module's equations).

    ``(b, T, N)``: ``pre`` :math:`(\bar z_t \partial_s z_t + \bar\psi_t \partial_s
    \psi_t)/\vartheta`, ``gain`` :math:`\partial_s z_t / \vartheta`, ``spikes`` :math:`z_t`;
    ``w_t`` the transposed weights (``(N, N)`` or per task ``(b, N, N)``); writes
    :math:`\bar v_t` into ``out``.
    """
    n_steps = pre.shape[1]
    gv_next = pre.new_zeros(pre.shape[0], pre.shape[2])
    # scratch reused every step; carry: the gradient reaching z_t from step t + 1
    q, carry, tmp = (torch.zeros_like(gv_next) for _ in range(3))
    gb_next = torch.zeros_like(gv_next) if adaptation is not None else None
    per_task = w_t.ndim == 3
    for t in range(n_steps - 1, -1, -1):
        torch.addcmul(pre[:, t], gain[:, t], carry, out=q)  # s-bar / threshold
        if adaptation is None:
            gv = torch.add(q, gv_next, alpha=p.alpha, out=out[:, t])
        else:
            gv = torch.mul(gv_next, p.alpha, out=out[:, t]).add_(q)
        if t == 0:
            break
        if per_task:
            torch.bmm(gv.unsqueeze(1), w_t, out=carry.unsqueeze(1))
        else:
            torch.mm(gv, w_t, out=carry)
        if adaptation is None:
            carry.add_(gv, alpha=-p.v_th)
        else:
            grad_a = q.neg_().sub_(torch.mul(spikes[:, t - 1], gv, out=tmp))
            gb_next.mul_(adaptation.rho).add_(torch.mul(adaptation.beta, grad_a, out=tmp))
            carry.sub_(torch.mul(thresholds[:, t], gv, out=tmp)).add_(gb_next)
        gv_next = gv


class _Trial(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, w, read_var, generator, p, adaptation):
        saved = _forward(current, w, read_var, generator, p, adaptation, for_backward=True)
        ctx.save_for_backward(w, *saved)
        ctx.p, ctx.adaptation = p, adaptation
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None
        return saved.spikes, saved.psi

    @staticmethod
    def backward(ctx, grad_spikes, grad_psi):
        w, spikes, psi, scaled, thresholds = ctx.saved_tensors
        p, adaptation = ctx.p, ctx.adaptation
        # norse's triangle surrogate over the threshold, dz/ds / threshold, is psi itself
        gain = psi
        pre = torch.zeros_like(psi) if grad_spikes is None else grad_spikes * gain
        if grad_psi is not None:
            # d psi / ds / threshold = -gamma / threshold^2 sign(s) [|s| < 1] m: [psi > 0]
            slope = torch.gt(psi, 0.0, out=torch.empty_like(psi)).mul_(torch.sign(scaled))
            pre.addcmul_(grad_psi, slope, value=-p.dampening / p.v_th**2)
        grad_v = torch.empty_like(psi)
        grad_w = None
        if w.ndim == 3:
            w_t = w.transpose(1, 2).contiguous()
            for i in range(0, w.shape[0], BACKWARD_BLOCK):
                block = slice(i, i + BACKWARD_BLOCK)
                _backward_steps(
                    pre[block],
                    gain[block],
                    w_t[block],
                    spikes[block],
                    p,
                    adaptation,
                    None if thresholds is None else thresholds[block],
                    grad_v[block],
                )
        else:
            _backward_steps(pre, gain, w.T.contiguous(), spikes, p, adaptation, thresholds, grad_v)
        if ctx.needs_input_grad[1]:  # sum over t >= 1 of z_{t-1}^T v-bar_t
            grad_w = spike_train_outer(spikes, grad_v, shift=1, per_task=w.ndim == 3)
        return grad_v, grad_w, None, None, None, None


def recurrent_trial(
    current: torch.Tensor,
    w_rec: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    read_var: torch.Tensor | None = None,
    generator: draws.Generator = None,
    adaptation: Adaptation | None = None,
) -> LayerTrial:
    """Run a recurrent layer over a trial.

    Args:
        current: feed-forward currents :math:`I_t` ``(B, T, N)``.
        w_rec: recurrent weights without self-connections, ``(N, N)`` or per task ``(B, N, N)``.
        p: neuron parameters.
        read_var: per-device read-noise variance ``(N, N)`` or ``(B, N, N)``: every step's
            product gets fresh Gaussian noise of variance :math:`\\sum_i z_i \\sigma^2_{ij}`
            (drawn from ``generator``, not differentiated), or ``None``.
        adaptation: threshold adaptation (ALIF), or ``None`` for LIF with :math:`A_t = \\vartheta`.

    Returns:
        spikes and pseudo-derivatives ``(B, T, N)``; differentiable w.r.t. ``current`` and
        ``w_rec``.
    """
    if current.ndim != 3:
        raise ValueError(f"currents must be (B, T, N), got {tuple(current.shape)}")
    batch, _, n = current.shape
    if w_rec.shape[-2:] != (n, n) or (w_rec.ndim == 3 and w_rec.shape[0] != batch):
        raise ValueError(f"recurrent weights {tuple(w_rec.shape)} do not fit currents {(batch, n)}")
    if read_var is not None and (
        read_var.shape[-2:] != (n, n) or (read_var.ndim == 3 and read_var.shape[0] != batch)
    ):
        raise ValueError(
            f"read-noise variances {tuple(read_var.shape)} do not fit currents {(batch, n)}"
        )
    w_rec = w_rec.contiguous()
    read_var = None if read_var is None else read_var.detach().contiguous()
    if not (torch.is_grad_enabled() and (current.requires_grad or w_rec.requires_grad)):
        saved = _forward(current, w_rec, read_var, generator, p, adaptation, for_backward=False)
        return LayerTrial(saved.spikes, saved.psi)
    spikes, psi = _Trial.apply(current, w_rec, read_var, generator, p, adaptation)
    return LayerTrial(spikes, psi)
