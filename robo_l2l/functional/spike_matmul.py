r"""Product of a spike vector with a (per-task) weight matrix that skips silent neurons.

:math:`I_j = \sum_i z_i W_{ij}` with :math:`z \in \{0, 1\}` at a ~2 % firing rate touches only
the rows of the neurons that spiked: a gather and a small product instead of a batched GEMV that
streams all ``B x N x M`` weights from memory every step (the inner loop's hot spot, see
``benchmarks/bench_inner_loop.py``). The backward pass is the dense one, since the surrogate
gradient needs :math:`\partial \mathcal L / \partial z` for silent neurons too.

The weight gradient of a layer driven by spikes over a trial,
:math:`\sum_{b,t} z_{b,t}^T g_{b,t+s}`, is a product with the same spikes on the left:
:func:`spike_train_outer` forms it as a sparse (CSR) matrix times the dense gradients, with only
the ~1-2 % of entries that fired.
"""

from __future__ import annotations

import warnings

import torch


def row_offsets(z: torch.Tensor) -> torch.Tensor:
    """``(B, 1)``: ``b * N``, the first row of task ``b`` in matrices flattened to ``(B * N, M)``
    (computed once for a loop over steps, passed to :class:`SpikeRows`)."""
    return torch.arange(z.shape[0], device=z.device).unsqueeze(1) * z.shape[1]


class SpikeRows:
    """The rows of the neurons that fired in one step ``z (B, N)``, chosen once to multiply
    with several per-task matrices ``(B, N, M)`` (the weights and their read-noise variances).

    With ``k`` the most non-zeros any task has, each task's ``k`` largest entries of :math:`|z|`
    hold all its non-zeros; the padding entries are zeros and contribute nothing. A gather and
    a batched product avoid a slow CPU scatter-add; the rows come from the matrices flattened
    to ``(B * N, M)`` with
    ``index_select`` (3x faster than advanced indexing here). ``binary``: ``z`` holds only 0
    and 1, so the count is a sum and topk's values are the gathered ones (comparisons into bool
    tensors are slow on CPU).
    """

    def __init__(
        self, z: torch.Tensor, binary: bool = False, offsets: torch.Tensor | None = None
    ) -> None:
        self.z = z
        self.k = int(z.sum(1).max() if binary else torch.count_nonzero(z, 1).max())
        if self.k:
            values, index = torch.topk(z if binary else z.abs(), self.k, dim=1, sorted=False)
            self.values = (values if binary else torch.gather(z, 1, index)).unsqueeze(1)
            if offsets is None:
                offsets = row_offsets(z)
            self.flat = (index + offsets).view(-1)

    def times(self, w: torch.Tensor) -> torch.Tensor:
        """``z @ w`` for per-task ``w`` ``(B, N, M)`` (contiguous, or it is copied)."""
        batch, m = self.z.shape[0], w.shape[-1]
        if not self.k:
            return self.z.new_zeros(batch, m)
        rows = w.reshape(-1, m).index_select(0, self.flat).view(batch, self.k, m)
        return torch.bmm(self.values, rows).squeeze(1)


class _SpikeMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z, w)
        return SpikeRows(z).times(w)

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


class _SpikeTrainMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z, w)
        return torch.matmul(z, w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, w = ctx.saved_tensors
        grad_z = torch.matmul(grad, w.T) if ctx.needs_input_grad[0] else None
        grad_w = spike_train_outer(z, grad) if ctx.needs_input_grad[1] else None
        return grad_z, grad_w


def spike_train_matmul(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``z (B, T, N) @ w (N, M)``: spikes of a trial through shared weights. The product is
    ``torch.matmul``'s; the weight gradient is :func:`spike_train_outer` (fast when ``z`` is
    mostly zeros)."""
    if z.ndim != 3 or w.ndim != 2 or z.shape[-1] != w.shape[0]:
        raise ValueError(
            f"need spikes (B, T, N) and weights (N, M), got {tuple(z.shape)}, {tuple(w.shape)}"
        )
    return _SpikeTrainMatmul.apply(z, w)


def spike_train_outer(
    spikes: torch.Tensor, grad: torch.Tensor, shift: int = 0, per_task: bool = False
) -> torch.Tensor:
    r""":math:`\sum_{b,t} z_{b,t}^T g_{b,t+s}` (shared weights) or, with ``per_task``, one sum
    over :math:`t` per task :math:`b`: the weight gradient of :math:`I_{t+s} = z_t W`.

    Args:
        spikes: ``z`` ``(B, T, N)``, mostly zeros (any values are exact).
        grad: ``g`` ``(B, T, M)``, the gradients reaching the products' outputs.
        shift: ``s >= 0``; the last ``s`` steps of ``z`` pair with nothing.

    Returns:
        ``(N, M)``, or ``(B, N, M)`` with ``per_task``.

    On the CPU the non-zeros of ``z`` become a CSR matrix with a row per neuron (per task and
    neuron with ``per_task``) and a column per step of ``g``: at the robot's firing rates this
    took 80 ms instead of the dense product's 390 ms for the generator's 800 x 22,409 x 800
    (2 threads). The sum runs in another order than the dense product's, so the result agrees
    with it to float rounding. On other devices (one dense GEMM is cheap there, and
    ``nonzero`` would wait for the device) it is the dense product.
    """
    batch, n_steps, n = spikes.shape
    if grad.shape[:2] != (batch, n_steps) or not 0 <= shift < max(n_steps, 1):
        raise ValueError(
            f"spikes {tuple(spikes.shape)} and gradients {tuple(grad.shape)} with shift {shift}"
        )
    z, g = spikes[:, : n_steps - shift], grad[:, shift:]
    if spikes.device.type != "cpu":
        if per_task:
            return torch.bmm(z.transpose(1, 2), g)
        return torch.einsum("btn,btm->nm", z, g)
    b, t, i = z.nonzero(as_tuple=True)
    rows = b * n + i if per_task else i
    order = torch.argsort(rows, stable=True)
    n_rows = batch * n if per_task else n
    crow = torch.zeros(n_rows + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(rows, minlength=n_rows), 0, out=crow[1:])
    cols = (b * n_steps + t + shift)[order]
    values = z[b, t, i][order]
    with warnings.catch_warnings():  # "CSR support is in beta": CSR times dense is all we use
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        shape = (n_rows, batch * n_steps)
        left = torch.sparse_csr_tensor(crow, cols, values, shape, check_invariants=False)
    out = left @ grad.reshape(batch * n_steps, -1)
    return out.view(batch, n, -1) if per_task else out
