"""The whole-trial recurrent layer against the step functions it replaces in the inner loop.

The reference here is the plain loop over :func:`lif_step` / :func:`alif_step` with autograd
through every step, as ``network.run_trainee`` and ``run_generator`` ran it before: spikes must
agree bit for bit (float32, read noise on), gradients to float64 rounding.
"""

import pytest
import torch

from robo_l2l.functional import pcm as F
from robo_l2l.functional import recurrent_trial as rt
from robo_l2l.functional.alif import (
    ALIFParameters,
    adaptation_strength,
    alif_initial_state,
    alif_step,
)
from robo_l2l.functional.lif import LIFParameters, lif_initial_state, lif_step, no_self_connections
from robo_l2l.functional.spike_matmul import spike_matmul


def _step_loop(current, w, p, read_var=None, generator=None, alif=None):
    """Spikes and pseudo-derivatives from the step functions, autograd through every step."""
    batch, _, n = current.shape

    def recurrent(z):
        out = spike_matmul(z, w)
        return out if read_var is None else out + F.read_noise(z, read_var, generator)

    spikes, psis = [], []
    if alif is None:
        state = lif_initial_state(batch, n, current)
        for current_t in current.unbind(1):
            z, state, psi = lif_step(current_t, state, recurrent, p)
            spikes.append(z)
            psis.append(psi)
        return torch.stack(spikes, 1), torch.stack(psis, 1)
    beta = adaptation_strength(n, alif, current)
    state = alif_initial_state(batch, n, current)
    for current_t in current.unbind(1):
        z, state = alif_step(current_t, state, recurrent, beta, alif)
        spikes.append(z)
    return torch.stack(spikes, 1), None


def _inputs(batch, n, steps, per_task, dtype, seed=0, drive=0.35):
    g = torch.Generator().manual_seed(seed)
    current = drive * torch.rand(batch, steps, n, generator=g, dtype=dtype)
    shape = (batch, n, n) if per_task else (n, n)
    w = no_self_connections(0.3 * torch.randn(shape, generator=g, dtype=dtype) / n**0.5)
    var = no_self_connections((0.02 * torch.rand(shape, generator=g, dtype=dtype)) ** 2)
    return current, w, var


@pytest.mark.parametrize("per_task", [True, False])
def test_lif_spikes_are_the_step_functions_bit_for_bit(per_task):
    current, w, var = _inputs(5, 40, 60, per_task, torch.float32)
    ours = rt.recurrent_trial(current, w, LIFParameters(), var, torch.Generator().manual_seed(3))
    ref_z, ref_psi = _step_loop(current, w, LIFParameters(), var, torch.Generator().manual_seed(3))
    assert 0.02 < ref_z.mean() < 0.5  # the test exercises spikes and refractoriness
    assert torch.equal(ours.spikes, ref_z)
    assert torch.equal(ours.psi, ref_psi)


def test_alif_spikes_are_the_step_functions_bit_for_bit():
    p = ALIFParameters(lif=LIFParameters(v_th=0.5), n_adaptive=20)
    current, w, _ = _inputs(4, 50, 80, False, torch.float32, drive=0.4)
    beta = adaptation_strength(50, p, current)
    ours = rt.recurrent_trial(current, w, p.lif, adaptation=rt.Adaptation(beta, p.rho))
    ref_z, _ = _step_loop(current, w, p.lif, alif=p)
    assert 0.02 < ref_z.mean() < 0.5
    assert torch.equal(ours.spikes, ref_z)


def _grads(fn, current, w, weights_z, weights_psi):
    current = current.clone().requires_grad_()
    w = w.clone().requires_grad_()
    z, psi = fn(current, w)
    loss = (z * weights_z).sum() + (z.sum(1) ** 2).sum() * 1e-2
    if psi is not None:
        loss = loss + (psi * weights_psi).sum()
    return torch.autograd.grad(loss, (current, w))


@pytest.mark.parametrize(
    "case", ["lif per task with read noise", "lif shared", "alif shared", "alif per task"]
)
def test_gradients_are_backpropagation_through_the_steps(case, monkeypatch):
    monkeypatch.setattr(rt, "BACKWARD_BLOCK", 2)  # blocks of tasks, the last one shorter
    per_task = "per task" in case
    noisy = "read noise" in case
    current, w, var = _inputs(5, 30, 50, per_task, torch.float64, seed=1)
    var = var if noisy else None
    alif = ALIFParameters(lif=LIFParameters(v_th=0.5), n_adaptive=10) if "alif" in case else None
    p = LIFParameters() if alif is None else alif.lif
    adaptation = (
        None if alif is None else rt.Adaptation(adaptation_strength(30, alif, current), alif.rho)
    )
    g = torch.Generator().manual_seed(2)
    weights_z = torch.randn(current.shape, generator=g, dtype=torch.float64)
    weights_psi = torch.randn(current.shape, generator=g, dtype=torch.float64)

    def ours(c, w_):
        out = rt.recurrent_trial(c, w_, p, var, torch.Generator().manual_seed(4), adaptation)
        return out.spikes, None if alif else out.psi

    def ref(c, w_):
        return _step_loop(c, w_, p, var, torch.Generator().manual_seed(4), alif)

    got = _grads(ours, current, w, weights_z, weights_psi)
    want = _grads(ref, current, w, weights_z, weights_psi)
    assert want[0].abs().max() > 0 and want[1].abs().max() > 0
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_only_the_outputs_in_use_need_a_gradient():
    current, w, _ = _inputs(3, 20, 30, True, torch.float64, seed=5)
    current.requires_grad_()
    out = rt.recurrent_trial(current, w)
    (g_psi,) = torch.autograd.grad(out.psi.sum(), current)  # spikes unused
    (g_z,) = torch.autograd.grad(rt.recurrent_trial(current, w).spikes.sum(), current)
    assert torch.isfinite(g_psi).all() and torch.isfinite(g_z).all()
    assert not torch.equal(g_psi, g_z)


def test_bad_shapes_are_named():
    current, w, var = _inputs(3, 20, 10, True, torch.float32)
    with pytest.raises(ValueError, match="currents must be"):
        rt.recurrent_trial(current[0], w)
    with pytest.raises(ValueError, match="recurrent weights"):
        rt.recurrent_trial(current, w[:2])
    with pytest.raises(ValueError, match="read-noise variances"):
        rt.recurrent_trial(current, w, read_var=var[:, :5])


def test_the_differentiable_path_gives_the_same_spikes():
    """Without gradients the layer skips what only the backward pass needs."""
    current, w, var = _inputs(4, 30, 40, True, torch.float32, seed=6)
    plain = rt.recurrent_trial(current, w, LIFParameters(), var, torch.Generator().manual_seed(7))
    tracked = rt.recurrent_trial(
        current.requires_grad_(), w, LIFParameters(), var, torch.Generator().manual_seed(7)
    )
    assert tracked.spikes.requires_grad
    assert torch.equal(plain.spikes, tracked.spikes) and torch.equal(plain.psi, tracked.psi)
