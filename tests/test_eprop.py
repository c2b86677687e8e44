import pytest
import torch

from robo_l2l import tasks
from robo_l2l.controller import ControllerWeights
from robo_l2l.functional import eprop
from robo_l2l.functional.readout import leaky_filter
from robo_l2l.inner_loop import InnerRule, inner_loop, readout_learning_signal
from robo_l2l.network import KAPPA
from robo_l2l.pcm import PCMConfig


def _random_weights(seed=0, dtype=torch.float64, natural=False):
    g = torch.Generator().manual_seed(seed)

    def init(n_in, n_out, gain=1.0):
        return torch.randn(n_in, n_out, generator=g, dtype=dtype) / n_in**0.5 * gain

    lsg = (init(53, 800), init(800, 800), init(800, 250)) if natural else (None,) * 3
    return ControllerWeights(init(5, 250) * 3, init(250, 250), init(250, 2, 1 - KAPPA), *lsg)


def test_readout_eprop_equals_autograd():
    g = torch.Generator().manual_seed(1)
    spikes = (torch.rand(3, 249, 250, generator=g, dtype=torch.float64) < 0.03).double()
    w_out = torch.randn(3, 250, 2, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(3, 249, 2, generator=g, dtype=torch.float64)
    y = leaky_filter(torch.matmul(spikes, w_out), KAPPA)
    ((y - target) ** 2).mean((1, 2)).sum().backward()
    signal = readout_learning_signal(y.detach(), target)
    ours = eprop.readout_gradient(signal, leaky_filter(spikes, KAPPA))
    torch.testing.assert_close(ours, w_out.grad, rtol=1e-12, atol=1e-14)


def test_readout_rule_learns_in_ideal_mode():
    w = _random_weights()
    traj = tasks.sample_trajectories(4, torch.Generator().manual_seed(2), dtype=torch.float64)
    r = inner_loop(
        w,
        traj,
        InnerRule("readout", k_updates=3, lr=1e-3),
        PCMConfig.ideal_weights(),
        torch.Generator().manual_seed(3),
    )
    assert r.losses.shape == (4, 4)
    assert (r.losses[1:] < r.losses[:-1]).all()
    assert r.updates["w_out"].shape == (4, 250, 2)


def test_natural_rule_on_pcm_counts_devices_and_is_differentiable():
    w = _random_weights(natural=True, dtype=torch.float32)
    w = ControllerWeights(*(t.requires_grad_() if t is not None else None for t in w))
    traj = tasks.sample_trajectories(2, torch.Generator().manual_seed(4))
    r = inner_loop(w, traj, InnerRule("natural"), PCMConfig(), torch.Generator().manual_seed(5))
    assert r.devices_written.shape == (1, 2)
    (r.loss_after.mean() + r.regularizer).backward()
    for name in ("w_in", "w_rec", "w_out", "lsg_w_in", "lsg_w_rec", "lsg_w_out"):
        grad = getattr(w, name).grad
        assert grad is not None and torch.isfinite(grad).all(), name


def test_bad_input():
    traj = tasks.sample_trajectories(1, torch.Generator().manual_seed(6))
    w = _random_weights(dtype=torch.float32)
    with pytest.raises(ValueError, match="unknown inner rule"):
        InnerRule("hebbian")
    with pytest.raises(ValueError, match="k_updates"):
        InnerRule("readout", k_updates=0)
    with pytest.raises(ValueError, match="lsg_w_in"):
        inner_loop(w, traj, InnerRule("natural"), PCMConfig(), torch.Generator())
    with pytest.raises(ValueError, match="w_rec must have shape"):
        inner_loop(
            w._replace(w_rec=torch.zeros(250, 249)),
            traj,
            InnerRule("readout"),
            PCMConfig(),
            torch.Generator(),
        )
    with pytest.raises(TypeError, match="PCMConfig"):
        inner_loop(w, traj, InnerRule("readout"), "pcm", torch.Generator())
