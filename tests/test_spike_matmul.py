import pytest
import torch

from robo_l2l.functional.spike_matmul import (
    spike_matmul,
    spike_train_matmul,
    spike_train_outer,
)


def _spikes(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=dtype) < 0.05).to(dtype)


def test_spike_matmul_equals_dense_product_and_its_gradients():
    g = torch.Generator().manual_seed(1)
    for w_shape in ((40, 7), (3, 40, 7)):
        z = _spikes((3, 40)).requires_grad_()
        w = torch.randn(w_shape, generator=g, dtype=torch.float64, requires_grad=True)
        out = spike_matmul(z, w)
        dense = torch.matmul(z.unsqueeze(1), w).squeeze(1) if w.ndim == 3 else z @ w
        torch.testing.assert_close(out, dense)
        upstream = torch.randn(out.shape, generator=g, dtype=torch.float64)
        gz, gw = torch.autograd.grad(out, (z, w), upstream)
        dz, dw = torch.autograd.grad(dense, (z, w), upstream)
        torch.testing.assert_close(gz, dz)
        torch.testing.assert_close(gw, dw)
    assert torch.equal(spike_matmul(torch.zeros(2, 40), torch.ones(40, 3)), torch.zeros(2, 3))


def test_spike_train_outer_is_the_sum_of_outer_products():
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        z = _spikes((4, 30, 20), seed=3, dtype=dtype)
        z[1, 5, 7] = 0.25  # any values are exact, not only spikes
        grad = torch.randn(4, 30, 9, generator=g, dtype=dtype)
        for shift in (0, 1, 29):
            pairs = (z[:, : 30 - shift], grad[:, shift:])
            shared = torch.einsum("btn,btm->nm", *pairs)
            per_task = torch.einsum("btn,btm->bnm", *pairs)
            torch.testing.assert_close(spike_train_outer(z, grad, shift), shared)
            torch.testing.assert_close(spike_train_outer(z, grad, shift, per_task=True), per_task)
    silent = spike_train_outer(torch.zeros(2, 5, 4), torch.ones(2, 5, 3), 1, per_task=True)
    assert torch.equal(silent, torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="shift"):
        spike_train_outer(z, grad, 30)
    with pytest.raises(ValueError, match="gradients"):
        spike_train_outer(z, grad[:, :-1])


def test_spike_train_matmul_is_matmul_with_its_gradients():
    g = torch.Generator().manual_seed(4)
    z = _spikes((3, 25, 40), seed=5).requires_grad_()
    w = torch.randn(40, 6, generator=g, dtype=torch.float64, requires_grad=True)
    out = spike_train_matmul(z, w)
    assert torch.equal(out, torch.matmul(z, w))  # the forward product is torch's, bit for bit
    upstream = torch.randn(out.shape, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad(out, (z, w), upstream)
    dense = torch.autograd.grad(torch.matmul(z, w), (z, w), upstream)
    for a, b in zip(ours, dense, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="spikes"):
        spike_train_matmul(z[0], w)
