import torch

from robo_l2l.functional.spike_matmul import spike_matmul


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
