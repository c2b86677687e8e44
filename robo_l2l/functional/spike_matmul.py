r"""Product of a spike vector with a (per-task) weight matrix that skips silent neurons.

:math:`I_j = \sum_i z_i W_{ij}` with :math:`z \in \{0, 1\}` at a ~2 % firing rate touches only
the rows of the neurons that spiked: a gather and a small product instead of a batched GEMV that
streams all ``B x N x M`` weights from memory every step (the inner loop's hot spot, see
``benchmarks/bench_inner_loop.py``). The backward pass is the dense one, since the surrogate
gradient needs :math:`\partial \mathcal L / \partial z` for silent neurons too.
"""

from __future__ import annotations

import torch


def _sparse_product(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    # The k = max spike count per task largest entries of z hold every non-zero; the padding
    # entries are zeros and contribute nothing. Gather + sum avoids a slow CPU scatter-add.
    k = int((z != 0).sum(1).max())
    if k == 0:
        return z.new_zeros(z.shape[0], w.shape[-1])
    values, index = torch.topk(z.abs(), k, dim=1, sorted=False)
    values = torch.gather(z, 1, index)
    if w.ndim == 3:
        rows = w[torch.arange(z.shape[0], device=z.device).unsqueeze(1), index]  # (B, k, M)
    else:
        rows = w[index]
    return torch.bmm(values.unsqueeze(1), rows).squeeze(1)


class _SpikeMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z, w)
        return _sparse_product(z, w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, w = ctx.saved_tensors
        grad_z = grad_w = None
        if ctx.needs_input_grad[0]:
            if w.ndim == 3:
                grad_z = torch.bmm(grad.unsqueeze(1), w.transpose(1, 2)).squeeze(1)
            else:
                grad_z = grad @ w.T
        if ctx.needs_input_grad[1]:
            if w.ndim == 3:
                grad_w = z.unsqueeze(-1) * grad.unsqueeze(1)
            else:
                grad_w = z.T @ grad
        return grad_z, grad_w


def spike_matmul(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``z (B, N) @ w`` for ``w (N, M)`` or per task ``(B, N, M)``; exact for any ``z``, fast
    when ``z`` is mostly zeros."""
    if w.ndim == 2:
        # shared weights: one dense GEMM is as fast as the gather (measured in
        # benchmarks/bench_inner_loop.py); the gather pays off for per-task weights
        return z @ w
    if w.shape[0] != z.shape[0]:
        raise ValueError(f"per-task weights {tuple(w.shape)} do not match batch {z.shape[0]}")
    return _SpikeMatmul.apply(z, w)


class _DeferredGrad(torch.autograd.Function):
    """Zeros ``(B, T, M)`` whose backward turns per-step output gradients into one weight
    gradient :math:`\\sum_t z_{t-1}^T g_t` (a single product after the loop)."""

    @staticmethod
    def forward(
        ctx, w: torch.Tensor, inputs: list[torch.Tensor], batch_size: int, n_steps: int
    ) -> torch.Tensor:
        # Keep only the list of (detached) inputs: holding the RecurrentProduct, which holds
        # this function's outputs, would make a cycle through the graph that never frees.
        ctx.inputs = inputs
        ctx.w_shape = w.shape
        return w.new_zeros(batch_size, n_steps, w.shape[-1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        spikes = torch.stack(ctx.inputs, 1)  # (B, T, N)
        if len(ctx.w_shape) == 3:
            grad_w = torch.bmm(spikes.transpose(1, 2), grad)
        else:
            grad_w = spikes.flatten(0, 1).T @ grad.flatten(0, 1)
        return grad_w, None, None, None


class RecurrentProduct:
    """``z_{t-1} W`` for every step of a loop, with the weight gradient deferred.

    Autograd through a per-step product would materialise a ``(B, N, M)`` weight gradient at
    every step; here the steps use a detached weight and a zero-valued tensor carries the
    gradient, which becomes one batched product over time in the backward pass.
    """

    def __init__(self, w: torch.Tensor, batch_size: int, n_steps: int) -> None:
        self.w, self.batch_size, self.inputs = w, batch_size, []
        self._carriers = None
        if w.requires_grad and torch.is_grad_enabled():
            self._carriers = _DeferredGrad.apply(w, self.inputs, batch_size, n_steps).unbind(1)

    def __call__(self, t: int, z: torch.Tensor) -> torch.Tensor:
        out = spike_matmul(z, self.w.detach())
        if self._carriers is None:
            return out
        self.inputs.append(z.detach())
        return out + self._carriers[t]
