import math

import pytest
import torch

from robo_l2l import pcm
from robo_l2l.functional import pcm as F


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_read_noise_per_output_matches_per_device_in_distribution():
    """Per-output sampling of read noise equals per-device sampling in mean and variance."""
    g = _gen(1)
    w = torch.randn(40, 30, generator=g, dtype=torch.float64) * 0.3
    std = F.read_noise_std(w / w.abs().max(), 32.0) * w.abs().max() * 20  # inflate for power
    x = (torch.rand(1, 40, generator=g, dtype=torch.float64) < 0.3).double() * 1.5
    n = 20000
    xs = x.expand(n, -1)
    fast = F.read(xs, w, std**2, _gen(2))
    slow = torch.stack([F.read_per_device(x, w, std, g)[0] for _ in range(2000)])
    exact_mean = x @ w
    exact_var = (x**2) @ std**2
    for samples in (fast, slow):
        m = samples.shape[0]
        z_mean = (samples.mean(0) - exact_mean[0]) / torch.sqrt(exact_var[0] / m)
        assert z_mean.abs().max() < 4.5
        ratio = samples.var(0) / exact_var[0]
        # relative std of a sample variance is sqrt(2/m)
        assert (ratio - 1).abs().max() < 5 * math.sqrt(2 / m)


def test_programming_noise_statistics():
    g = torch.full((200000,), 0.5, dtype=torch.float64)
    programmed = F.program(g, _gen(3))
    sigma_us = -1.1731 * 0.25 + 1.9650 * 0.5 + 0.2635
    assert programmed.mean().item() == pytest.approx(0.5, abs=4 * sigma_us / 25 / math.sqrt(2e5))
    assert programmed.std().item() == pytest.approx(sigma_us / 25, rel=0.01)
    # each device stays within [0, g_max]: no negative conductance on the positive side
    assert (F.program(torch.full((1000,), 0.01), _gen(4)) >= 0).all()


def test_drift_statistics_and_zero_conductance():
    nu = F.drift_exponents(torch.full((100000,), 1.0, dtype=torch.float64), _gen(5))
    # g = 1: mu = 0.049 (clipped), sigma = 0.008 (clipped), |.| is negligible there
    assert nu.mean().item() == pytest.approx(0.049, abs=2e-4)
    assert nu.std().item() == pytest.approx(0.008, rel=0.02)
    zero = torch.zeros(10, requires_grad=True)
    nu0 = F.drift_exponents(zero, _gen(6))
    assert torch.isfinite(nu0).all() and (nu0 > 0).all()
    assert torch.isfinite(F.read_noise_std(torch.zeros(3), 32.0)).all()
    assert F.drift_factor(torch.tensor(0.05), 32.0, 1.0).item() == pytest.approx(32**-0.05)
    with pytest.raises(ValueError, match="t > 0"):
        F.drift_factor(nu0, 0.0, 1.0)


def test_deploy_reference_arithmetic_folds_large_weights():
    cfg = pcm.PCMConfig(reference_arithmetic=True, read_noise=False, drift=False, initial_jitter=0)
    w = torch.tensor([[0.5, 1.5, -2.2]])
    d = pcm.deploy(w, 1, cfg, _gen(7))
    # clip(clip(w) + clip(w) - w): 1.5 -> 0.5, -2.2 -> 0.2
    assert torch.allclose(d.weight[0], torch.tensor([[0.5, 0.5, 0.2]]))


def test_per_matrix_deploy_scale_and_drift_shrink():
    w = torch.randn(250, 250, generator=_gen(8)) * 0.3
    cfg = pcm.PCMConfig(read_noise=False, initial_jitter=0)
    d = pcm.deploy(w, 2, cfg, _gen(9))
    assert d.weight.shape == (2, 250, 250)
    assert torch.allclose(d.scale[0], w.abs().max())
    shrink = 1 - (d.weight / w).median().item()
    # median of 1 - (t/t0)^-nu over the devices at t/t0 = 32: 0.169-0.172 on 8 seeds
    assert shrink == pytest.approx(0.170, abs=0.005)
    comp = pcm.deploy(
        w, 2, pcm.PCMConfig(read_noise=False, initial_jitter=0, drift_compensation=True), _gen(9)
    )
    assert comp.weight.abs().sum().item() == pytest.approx(w.abs().sum().item() * 2, rel=1e-5)


def test_update_writes_only_changed_devices_and_counts():
    cfg = pcm.PCMConfig(reference_arithmetic=True)
    w = torch.randn(5, 8, generator=_gen(10)) * 0.4
    d = pcm.deploy(w, 3, cfg, _gen(11))
    delta = torch.zeros(3, 5, 8)
    delta[0, 1, 2] = 0.07  # rounds to 1/16
    delta[1, 0, 0] = 0.02  # rounds to 0: not written
    r = pcm.apply_update(d, delta, cfg, _gen(12))
    assert r.written.sum().item() == 1 and r.written[0, 1, 2]
    assert r.update[0, 1, 2].item() == pytest.approx(1 / 16)
    untouched = ~r.written
    assert torch.equal(r.matrix.weight[untouched], d.weight[untouched])
    assert torch.equal(r.matrix.nu[untouched], d.nu[untouched])


def test_ideal_mode_is_exact_and_seeded_runs_repeat():
    w = torch.randn(4, 6, generator=_gen(13)) * 3
    d = pcm.deploy(w, 2, pcm.PCMConfig.ideal_weights(), _gen(14))
    assert torch.equal(d.weight, w) and d.read_std is None
    delta = torch.randn(2, 4, 6, generator=_gen(15))
    r = pcm.apply_update(d, delta, pcm.PCMConfig.ideal_weights(), _gen(16))
    assert torch.equal(r.matrix.weight, w + delta)
    a = pcm.deploy(w, 2, pcm.PCMConfig(), _gen(17))
    b = pcm.deploy(w, 2, pcm.PCMConfig(), _gen(17))
    assert torch.equal(a.weight, b.weight)


def test_straight_through_gradient():
    w = torch.tensor([[0.3, -1.4]], requires_grad=True)
    cfg = pcm.PCMConfig(reference_arithmetic=True, read_noise=False, drift=False, initial_jitter=0)
    pcm.deploy(w, 1, cfg, _gen(0)).weight.sum().backward()
    assert torch.allclose(w.grad, torch.ones_like(w))


def test_bad_input():
    with pytest.raises(ValueError, match="update_levels"):
        pcm.PCMConfig(update_levels=-1)
    with pytest.raises(ValueError, match="t_inference_s"):
        pcm.PCMConfig(t_inference_s=0)
    with pytest.raises(ValueError, match="NaN"):
        pcm.deploy(torch.tensor([[float("nan")]]), 1, pcm.PCMConfig(), _gen())
    d = pcm.deploy(torch.ones(2, 2), 1, pcm.PCMConfig(), _gen())
    with pytest.raises(ValueError, match="shape"):
        pcm.apply_update(d, torch.zeros(2, 2), pcm.PCMConfig(), _gen())
    with pytest.raises(FloatingPointError, match="NaN"):
        pcm.apply_update(d, torch.full((1, 2, 2), float("inf")), pcm.PCMConfig(), _gen())
    # one bad value among many finite ones is found wherever it sits (min/max check)
    for bad in (float("nan"), float("inf"), -float("inf")):
        w = torch.rand(40, 40, generator=_gen(1)) - 0.5
        w[17, 23] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            pcm.deploy(w, 3, pcm.PCMConfig(), _gen())
        big = pcm.deploy(torch.rand(40, 40, generator=_gen(1)), 3, pcm.PCMConfig(), _gen())
        delta = torch.zeros(3, 40, 40)
        delta[2, 5, 39] = bad
        with pytest.raises(FloatingPointError, match="nothing was written"):
            pcm.apply_update(big, delta, pcm.PCMConfig(), _gen())


def test_read_at_later_times_drifts_further_and_compensation_restores():
    w = torch.randn(50, 40, generator=_gen(20)) * 0.5
    cfg = pcm.PCMConfig(read_noise=False, initial_jitter=0)
    d = pcm.deploy(w, 1, cfg, _gen(21))
    sums = [pcm.read_at(d, cfg, t).weight.abs().sum().item() for t in (1.0, 3600.0, 3.15e7)]
    assert sums[0] == pytest.approx(w.abs().sum().item(), rel=1e-5)  # t = t0: no drift yet
    assert sums[0] > sums[1] > sums[2]
    comp = pcm.PCMConfig(read_noise=False, initial_jitter=0, drift_compensation=True)
    year = pcm.read_at(d, comp, 3.15e7).weight
    assert year.abs().sum().item() == pytest.approx(w.abs().sum().item(), rel=1e-5)
    assert torch.equal(pcm.read_at(d, cfg, 32.0).nu, d.nu)  # same devices, same exponents
