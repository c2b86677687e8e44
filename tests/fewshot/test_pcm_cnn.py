"""The PCM stages the classifier adds to the shared device model: statistics and identities."""

import math

import pytest
import torch

from robo_l2l import pcm
from robo_l2l.fewshot import cnn
from robo_l2l.functional import pcm as F


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_conv_read_noise_matches_per_device_sampling():
    """One draw per output with variance conv(x^2, sigma^2) equals per-device noise in law."""
    g = _gen(1)
    w = torch.randn(1, 3, 2, 3, 3, generator=g, dtype=torch.float64) * 0.3
    std = F.read_noise_std(w, 32.0) * 20  # inflated for statistical power
    x = torch.rand(1, 1, 1, 2, 5, 5, generator=g, dtype=torch.float64)
    m = 4000
    fast = F.read_linear(cnn.conv, x.expand(m, 1, 1, 2, 5, 5), w, std**2, _gen(2))
    noise = torch.randn(m, *w.shape[1:], generator=_gen(3), dtype=torch.float64)
    # Per device: every sample sees its own noisy kernel (a task axis of m copies).
    slow = cnn.conv(x.expand(1, 1, m, 2, 5, 5), w[0] + std[0] * noise).squeeze(0).squeeze(0)
    exact_mean = cnn.conv(x, w)[0, 0, 0]
    exact_var = cnn.conv(x**2, std**2)[0, 0, 0]
    for samples in (fast[:, 0, 0], slow):
        z = (samples.mean(0) - exact_mean) / torch.sqrt(exact_var / m)
        assert z.abs().max() < 4.5
        ratio = samples.var(0) / exact_var
        assert (ratio - 1).abs().max() < 5 * math.sqrt(2 / m)


def test_conv_read_noise_is_not_differentiated():
    w = torch.rand(1, 2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.rand(1, 1, 1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    var = torch.full_like(w, 0.01)
    out = F.read_linear(cnn.conv, x, w, var, _gen(4))
    gw, gx = torch.autograd.grad(out.sum(), (w, x))
    cw, cx = torch.autograd.grad(cnn.conv(x, w).sum(), (w, x))
    torch.testing.assert_close(gw, cw)
    torch.testing.assert_close(gx, cx)


def test_repeated_reads_equal_reads_of_repeated_inputs():
    """``repeats`` computes each distinct input's products once and still draws noise per read:
    the same numbers as reading the repeated input, and the same gradients."""
    g = _gen(5)
    w = (torch.randn(2, 3, 1, 3, 3, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    var = F.read_noise_std(w, 32.0) ** 2
    x = torch.rand(4, 2, 2, 1, 6, 6, generator=g, dtype=torch.float64)  # 2 distinct calls
    reps = (3, 2)
    full = x.repeat_interleave(torch.tensor(reps), 1)
    once = F.read_linear(cnn.conv, x, w, var, _gen(6), reps, dim=1)
    every = F.read_linear(cnn.conv, full, w, var, _gen(6))
    torch.testing.assert_close(once, every)
    assert not torch.equal(once[:, 0], once[:, 1])  # fresh noise per read
    with torch.no_grad():  # evaluation: the same draws and values
        in_place = F.read_linear(cnn.conv, x, w, var, _gen(6), reps, dim=1)
    # With gradients the convolution reads a channels-last copy (cnn._conv_input), which some
    # CPUs' kernels round differently (4e-16 seen on an AVX2 EPYC); other draws differ by 1e-3.
    torch.testing.assert_close(in_place, once.detach(), rtol=0, atol=1e-12)
    (g_once,) = torch.autograd.grad(once.square().sum(), w)
    (g_every,) = torch.autograd.grad(every.square().sum(), w)
    torch.testing.assert_close(g_once, g_every)
    with pytest.raises(ValueError, match="repeat counts"):
        F.read_linear(cnn.conv, x, w, var, _gen(6), (5,), dim=1)
    # The network: repeated calls give the features of the repeated images.
    kernels = [w.detach()] + [
        torch.randn(2, 3, 3, 3, 3, generator=g, dtype=torch.float64) * 0.3 for _ in range(3)
    ]
    images = torch.rand(2, 2, 4, 28, 28, generator=g, dtype=torch.float64)

    def conv_fn(gen):
        return lambda a, layer, r=None: F.read_linear(
            cnn.conv, a, kernels[layer], var.detach() if layer == 0 else None, gen, r, dim=1
        )

    a = cnn.features(images, conv_fn=conv_fn(_gen(7)), repeats=reps)
    b = cnn.features(images.repeat_interleave(torch.tensor(reps), 0), conv_fn=conv_fn(_gen(7)))
    torch.testing.assert_close(a, b)
    ideal = cnn.features(images, kernels, repeats=reps)
    torch.testing.assert_close(ideal[:3], cnn.features(images[:1], kernels).expand(3, -1, -1, -1))
    with pytest.raises(ValueError, match="one count per image set"):
        cnn.features(images, kernels, repeats=(1, 1, 1))


def test_per_weight_read_noise_statistics_and_clipping():
    """One draw per device per call, shared by all rows; device range respected."""
    m = 20000
    w = torch.tensor([[0.5, -0.3, 0.0, 1.0]], dtype=torch.float64).expand(m, 1, 4)
    std = F.read_noise_std_per_weight(w, 32.0)
    x = torch.ones(m, 2, 1, dtype=torch.float64)
    out = F.read_per_weight(x, w, std, _gen(5))
    # Shared by all rows of a call.
    torch.testing.assert_close(out[:, 0], out[:, 1])
    w_read = out[:, 0]
    s = std[0, 0].tolist()
    # The constants: sqrt(ln((t + t_read)/(2 t_read))) = 4.2396 (FEWSHOT.md 4b).
    g = 12.5
    q = min(0.0088 / g**0.65, 0.2)
    assert s[0] == pytest.approx(g * q * 4.2396 / 25, rel=1e-4)
    for j in (0, 1):  # far from the bounds: unbiased, sd as stated
        assert w_read[:, j].mean().item() == pytest.approx(w[0, 0, j].item(), abs=5 * s[j] / m**0.5)
        assert w_read[:, j].std().item() == pytest.approx(s[j], rel=0.03)
    assert (w_read[:, 2] == 0).all()  # no device, no noise
    assert (w_read[:, 3] <= 1).all() and (w_read[:, 3] < 1).any()  # clipped at g_max
    # Clipped at the top, the mean is below 1 by sd/sqrt(2 pi) (half-normal).
    expected = 1 - s[3] / math.sqrt(2 * math.pi)
    assert w_read[:, 3].mean().item() == pytest.approx(expected, abs=5 * s[3] / m**0.5)


def test_per_weight_read_gradient_is_straight_through():
    w = torch.rand(1, 3, 2, dtype=torch.float64, requires_grad=True)
    x = torch.rand(1, 4, 3, dtype=torch.float64, requires_grad=True)
    out = F.read_per_weight(x, w, torch.full_like(w, 0.05), _gen(6))
    gw, gx = torch.autograd.grad(out.sum(), (w, x))
    cw, cx = torch.autograd.grad((x @ w).sum(), (w, x))
    torch.testing.assert_close(gw, cw)
    torch.testing.assert_close(gx, cx)


@pytest.mark.parametrize("value", [0.3, -0.71, 1 / 32, -0.015])
def test_stochastic_rounding_is_unbiased(value):
    m = 40000
    x = torch.full((m,), value, dtype=torch.float64)
    q = F.quantize_stochastic(x, 1 / 16, _gen(7))
    grid = q * 16
    torch.testing.assert_close(grid, grid.round())
    r = abs(value * 16 - math.trunc(value * 16))
    assert set(grid.unique().tolist()) <= {math.floor(value * 16), math.ceil(value * 16)}
    sd = math.sqrt(r * (1 - r)) / 16
    assert q.mean().item() == pytest.approx(value, abs=5 * sd / math.sqrt(m) + 1e-12)
    assert q.std().item() == pytest.approx(sd, rel=0.05)
    # Straight-through gradient.
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(F.quantize_stochastic(x, 1 / 16, _gen(8)).sum(), x)
    assert (g == 1).all()


def test_programming_noise_on_device_statistics_and_signs():
    m = 100000
    w = torch.tensor([0.5, -0.5, 0.0, 0.01], dtype=torch.float64).repeat(m, 1)
    out = F.program_on_device(w, _gen(9))
    sigma = (-1.1731 * 0.25 + 1.9650 * 0.5 + 0.2635) / 25
    assert out[:, 0].std().item() == pytest.approx(sigma, rel=0.02)
    assert out[:, 0].mean().item() == pytest.approx(0.5, abs=5 * sigma / m**0.5)
    assert out[:, 1].mean().item() == pytest.approx(-0.5, abs=5 * sigma / m**0.5)
    assert (out[:, 2] == 0).all()
    assert (out[:, 3] >= 0).all() and (out[:, 3] == 0).any()  # the device cannot go negative
    assert (out[:, 1] <= 0).all()


def _reference_readout_cfg():
    return pcm.PCMConfig(
        reference_arithmetic=True,
        read_noise_mode="per_weight",
        stochastic_rounding=True,
        programming_noise_on_device=True,
        update_adds_to_read_value=True,
    )


def test_defaults_keep_the_robot_model():
    cfg = pcm.PCMConfig()
    assert cfg.read_noise_mode == "per_output"
    assert not (cfg.stochastic_rounding or cfg.programming_noise_on_device)
    assert not cfg.update_adds_to_read_value
    with pytest.raises(ValueError, match="read_noise_mode"):
        pcm.PCMConfig(read_noise_mode="per_device")


def test_reference_readout_reprogramming():
    """Only written devices change; the new value is clip(w' f' + P) with w' = W_read + dWq."""
    cfg = _reference_readout_cfg()
    w = torch.tensor([[0.2, -0.4, 0.9, 1.3]], dtype=torch.float64)
    m = pcm.deploy(w, 1, cfg, _gen(10))
    assert m.weight[0, 0, 3].item() < 1  # folded: clip(1 + U + clip(1.3 f) - 1.3)
    delta = torch.tensor([[[1 / 16, 0.0, -2 / 16, 0.0]]], dtype=torch.float64)
    r = pcm.apply_update(m, delta, cfg, _gen(11))
    assert r.written.tolist() == [[[True, False, True, False]]]
    torch.testing.assert_close(r.matrix.weight[~r.written], m.weight[~r.written], rtol=0, atol=0)
    # Over many draws the written value averages to E[w' f'] (programming noise has mean 0).
    k = 20000
    mk = pcm.deploy(w, k, replace_drift(cfg, False), _gen(12))
    rk = pcm.apply_update(mk, delta.expand(k, 1, 4), replace_drift(cfg, False), _gen(13))
    target = mk.weight[:, 0, 0] + 1 / 16
    error = rk.matrix.weight[:, 0, 0] - target
    sigma = (F.programming_noise_std(target) / 25).mean().item()
    assert error.mean().item() == pytest.approx(0.0, abs=5 * sigma / k**0.5)
    assert error.std().item() == pytest.approx(sigma, rel=0.03)


def replace_drift(cfg, drift):
    from dataclasses import replace

    return replace(cfg, drift=drift)


def test_update_adds_to_read_value_vs_target():
    """With the switch the update builds on the drifted value, without it on the target."""
    base = pcm.PCMConfig(reference_arithmetic=True, programming_noise=False)
    w = torch.full((1, 1), 0.5, dtype=torch.float64)
    delta = torch.full((1, 1, 1), 1 / 16, dtype=torch.float64)
    for adds, expected_base in ((False, 0.5), (True, None)):
        from dataclasses import replace

        cfg = replace(base, update_adds_to_read_value=adds, drift=False, initial_jitter=0.0)
        m = pcm.deploy(w, 1, cfg, _gen(14))
        m = m._replace(weight=m.weight * 0 + 0.4)  # as if the devices had drifted to 0.4
        r = pcm.apply_update(m, delta, cfg, _gen(15))
        want = (expected_base if expected_base is not None else 0.4) + 1 / 16
        assert r.matrix.weight.item() == pytest.approx(want, abs=1e-12)
