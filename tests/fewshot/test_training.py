"""The few-shot meta-training step (robo_l2l.fewshot.training): it trains every tensor, repeats
exactly from the run's seed, and refuses bad configurations (resume and checkpoint refusal:
tests/fewshot/test_fewshot_scripts.py)."""

import numpy as np
import pytest
import torch

from robo_l2l.fewshot import training
from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.splits import CharacterSet


def _cfg(**kw):
    base = dict(seed=3, iterations=2, batch_size=2, way=3, shot=2, query=1, channels=6)
    return FewShotConfig(**{**base, **kw})


def _classes(seed=0) -> CharacterSet:
    rng = np.random.default_rng(seed)
    images = (rng.random((8, 4, 28, 28)) > 0.1).astype(np.float32) * np.float32(0.9999)
    return CharacterSet(images, tuple(f"A/character{k:02d}" for k in range(8)))


def _train(cfg, iterations):
    params = training.init_params(cfg)
    optimizer = training.make_optimizer(params, cfg)
    results = [training.meta_step(params, optimizer, _classes(), cfg, i) for i in range(iterations)]
    return params, results


@pytest.mark.parametrize("regime", ["software", "hardware"])
def test_meta_steps_change_all_tensors_and_repeat(regime):
    cfg = _cfg(regime=regime)
    init = {k: v.detach().clone() for k, v in training.init_params(cfg).items()}
    params, results = _train(cfg, 2)
    assert all(np.isfinite(r.loss) and r.grad_norm > 0 for r in results)
    assert all(not torch.equal(params[k].detach(), init[k]) for k in init)
    again, _ = _train(cfg, 2)
    for k in params:
        torch.testing.assert_close(again[k], params[k], rtol=0, atol=0)
    if regime == "hardware":
        assert results[0].devices_written > 0


def test_bad_config():
    for bad, message in (
        (dict(batch_size=0), "batch_size"),
        (dict(regime="analog"), "unknown regime"),
        (dict(lr=0.0), "lr must be > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            _cfg(**bad)
    with pytest.raises(ValueError, match="unknown"):
        FewShotConfig.from_dict({"bogus": 1})
