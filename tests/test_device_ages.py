"""Meta-training over device ages (one age per task) and the hardware-agnostic regime."""

import dataclasses
import math

import pytest
import torch

from robo_l2l import deployment, meta, pcm
from robo_l2l.config import PRESETS, MetaConfig
from robo_l2l.distributed import Shard
from robo_l2l.evaluation import evaluate
from robo_l2l.functional import pcm as F
from robo_l2l.inner_loop import InnerRule
from robo_l2l.parameters import controller, init_params
from robo_l2l.training import describe_validation

YEAR = 365 * 86400.0


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _w(seed=0):
    return torch.randn(30, 20, generator=_gen(seed)) * 0.4


def test_one_age_per_task_is_each_task_read_at_its_age():
    """Task i of a batch deployed with ages[i] computes what the same devices read at that age
    compute: drift, read noise and drift compensation all per task."""
    ages = torch.tensor([1.0, 3600.0, YEAR], dtype=torch.float64)
    for comp in (False, True):
        cfg = pcm.PCMConfig(drift_compensation=comp)
        d = pcm.deploy(_w(), 3, cfg, _gen(1), ages)
        for i, t in enumerate(ages.tolist()):
            alone = pcm.read_at(d, cfg, t)
            torch.testing.assert_close(d.weight[i], alone.weight[i], rtol=1e-6, atol=0)
            torch.testing.assert_close(d.read_std[i], alone.read_std[i], rtol=1e-5, atol=0)
    # the ages matter: a year drifts further than a second
    d = pcm.deploy(_w(), 3, pcm.PCMConfig(read_noise=False), _gen(1), ages)
    assert d.weight[0].abs().sum() > d.weight[1].abs().sum() > d.weight[2].abs().sum()


def test_equal_ages_give_the_fixed_age_bit_for_bit_and_updates_keep_the_ages():
    cfg = pcm.PCMConfig(t_inference_s=3600.0)
    fixed = pcm.deploy(_w(), 2, cfg, _gen(2))
    per_task = pcm.deploy(_w(), 2, cfg, _gen(2), torch.full((2,), 3600.0, dtype=torch.float64))
    assert torch.equal(fixed.weight, per_task.weight)
    torch.testing.assert_close(fixed.read_std, per_task.read_std, rtol=1e-6, atol=0)
    ages = torch.tensor([2.0, 5e6], dtype=torch.float64)
    d = pcm.deploy(_w(), 2, cfg, _gen(3), ages)
    delta = torch.full_like(d.target, 0.2)
    after = pcm.apply_update(d, delta, cfg, _gen(4)).matrix
    assert torch.equal(after.age, d.age)
    torch.testing.assert_close(after.weight[1], pcm.read_at(after, cfg, 5e6).weight[1])


@pytest.mark.parametrize(
    "ages, match",
    [
        (torch.tensor([32.0]), "one device age per task"),
        (torch.tensor([32.0, 0.5]), "t0"),
        (torch.tensor([32.0, float("nan")]), "finite"),
    ],
)
def test_bad_ages_are_refused(ages, match):
    with pytest.raises(ValueError, match=match):
        pcm.deploy(_w(), 2, pcm.PCMConfig(), _gen(), ages)


def test_sample_ages_is_log_uniform_in_the_range():
    t = deployment.sample_ages(20000, 1.0, YEAR, _gen(5))
    assert t.min() >= 1.0 and t.max() <= YEAR
    u = (t.log() - 0.0) / math.log(YEAR)  # uniform on [0, 1]
    assert u.mean().item() == pytest.approx(0.5, abs=0.01)
    assert u.var().item() == pytest.approx(1 / 12, abs=0.003)
    assert torch.equal(t, deployment.sample_ages(20000, 1.0, YEAR, _gen(5)))


def _ages_cfg(**kw):
    values = {**PRESETS["quick_natural_ages"], "batch_size": 6, "draws": "task", **kw}
    return MetaConfig.from_dict(values)


def test_age_presets_and_the_ages_of_a_split_batch():
    cfg = _ages_cfg()
    assert cfg.age_range == (1.0, YEAR) and cfg.deployment.drift_compensation
    assert MetaConfig.from_dict(PRESETS["quick_ages"]).age_range == (1.0, YEAR)
    full = meta.draw_ages(cfg, 7)
    part = meta.draw_ages(cfg, 7, Shard(1, 3, 6))
    assert torch.equal(full[2:4], part)  # keyed by the task's global index
    assert not torch.equal(full, meta.draw_ages(cfg, 8))
    assert meta.draw_ages(MetaConfig(batch_size=6), 7) is None


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"age_min_s": 0.0}, "give both"),
        ({"age_min_s": 100.0, "age_max_s": 10.0}, "empty"),
        ({"age_min_s": -1.0}, "> 0"),
        ({"age_max_s": float("inf")}, "finite"),
        ({"age_min_s": 0.5}, "t0"),
        ({"regime": "software"}, "hardware regime"),
        ({"agnostic_weight_noise": -0.1}, "agnostic_weight_noise"),
    ],
)
def test_bad_age_ranges_and_noise_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        _ages_cfg(**kw)


def test_meta_loss_over_ages_is_keyed_and_differentiable():
    cfg = _ages_cfg(batch_size=2)
    params = init_params(cfg, _gen(0))
    loss, r = meta.meta_loss(params, cfg, 0)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in params.values())
    ages = meta.draw_ages(cfg, 0)
    assert torch.equal(r.initial["w_rec"].age.view(-1).double(), ages.float().double())
    again, _ = meta.meta_loss(params, cfg, 0)
    assert again.item() == loss.item()


def test_generic_perturbation_has_no_device_physics():
    cfg = pcm.PCMConfig.generic(weight_noise=0.05)
    w = torch.full((1, 400, 500), 0.5)
    w[0, 0, 0] = 1.0  # scale 1
    d = pcm.deploy(w, 1, cfg, _gen(6))
    err = (d.weight - w)[0, 1:]
    assert err.std().item() == pytest.approx(0.05, rel=0.02)
    assert abs(err.mean().item()) < 0.001
    assert d.read_std is None
    assert torch.equal(pcm.read_at(d, cfg, YEAR).weight, d.weight)  # no drift
    delta = torch.full_like(w, 0.04)  # rounds to 1/16 = 0.0625
    r = pcm.apply_update(d, delta, cfg, _gen(7))
    assert torch.all(r.update == 0.0625) and bool(r.written.all())
    with pytest.raises(ValueError, match="per-matrix"):
        pcm.PCMConfig(reference_arithmetic=True, weight_noise=0.1)
    with pytest.raises(ValueError, match="weight_noise"):
        pcm.PCMConfig(weight_noise=1.0)


def test_agnostic_regime_trains_without_the_pcm_model():
    cfg = MetaConfig.from_dict(
        {**PRESETS["quick"], "regime": "agnostic", "batch_size": 2, "draws": "task"}
    )
    inner = meta.training_deployment(cfg)
    assert not (inner.drift or inner.read_noise or inner.programming_noise or inner.ideal)
    assert inner.weight_noise == cfg.agnostic_weight_noise and inner.update_levels == 16
    params = init_params(cfg, _gen(0))
    loss, r = meta.meta_loss(params, cfg, 0)
    assert torch.isfinite(loss) and r.initial["w_out"].read_std is None


def test_evaluation_over_an_age_range_is_reproducible_and_differs_from_one_age():
    cfg = _ages_cfg(batch_size=2)
    w = controller(init_params(cfg, _gen(0)), detach=True)
    rule = InnerRule("natural", 1, cfg.inner_lr)
    run = [evaluate(w, rule, cfg.deployment, 1, 3, 5, age_range=(1.0, YEAR)) for _ in range(2)]
    assert run[0].loss_after == run[1].loss_after
    one_age = evaluate(w, rule, dataclasses.replace(cfg.deployment), 1, 3, 5)
    assert one_age.loss_after != run[0].loss_after
    assert F.drift_factor(torch.tensor(0.1), torch.tensor([32.0]), 1.0).shape == (1,)


def test_the_training_report_names_the_age_range_and_the_generic_regime():
    assert "device ages 1 s to 1 year (log-uniform per task)" in describe_validation(_ages_cfg())
    agnostic = MetaConfig.from_dict({**PRESETS["quick"], "regime": "agnostic"})
    assert describe_validation(agnostic).startswith("generic perturbations, no PCM model")
