import gc
import weakref

import torch

from robo_l2l.functional.spike_matmul import RecurrentProduct, spike_matmul


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


def test_recurrent_product_defers_the_weight_gradient_exactly():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, 20, 20, generator=g, dtype=torch.float64, requires_grad=True)
    zs = [_spikes((3, 20), seed=s) for s in range(6)]
    product = RecurrentProduct(w, 3, len(zs))
    total = sum((product(t, z) * (t + 1)).sum() for t, z in enumerate(zs))
    (grad,) = torch.autograd.grad(total, w)
    expected = sum((t + 1) * z.unsqueeze(-1) * torch.ones(3, 1, 20) for t, z in enumerate(zs))
    torch.testing.assert_close(grad, expected.to(grad.dtype))


def test_recurrent_product_leaves_no_reference_cycle():
    """A cycle through the autograd graph leaked a whole graph per meta-iteration once."""
    w = torch.randn(2, 10, 10, dtype=torch.float64, requires_grad=True)
    product = RecurrentProduct(w, 2, 3)
    out = sum(product(t, _spikes((2, 10), seed=t)).sum() for t in range(3))
    out.backward()
    ref = weakref.ref(product)
    del product, out
    gc.collect()
    assert ref() is None
