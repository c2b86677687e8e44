import numpy as np
import pytest
import torch

from robo_l2l.checkpoint import CheckpointFormatError, save_tensors
from robo_l2l.fewshot import meta


def _cfg(**kw):
    base = dict(seed=3, iterations=2, batch_size=2, way=3, shot=2, query=1, channels=6)
    return meta.FewShotMetaConfig(**{**base, **kw})


def _images(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((8, 4, 28, 28)) > 0.1).astype(np.float32) * np.float32(0.9999)


def _train(cfg, iterations, params=None, optimizer=None, start=0):
    params = params if params is not None else meta.init_classifier(cfg)
    optimizer = optimizer or meta.make_optimizer(params, cfg)
    results = [
        meta.meta_step(params, optimizer, _images(), cfg, i) for i in range(start, iterations)
    ]
    return params, optimizer, results


@pytest.mark.parametrize("hardware_aware", [False, True])
def test_meta_steps_change_all_tensors_and_repeat(hardware_aware):
    cfg = _cfg(hardware_aware=hardware_aware)
    init = {k: v.clone() for k, v in meta.init_classifier(cfg).items()}
    params, _, results = _train(cfg, 2)
    assert all(np.isfinite(r.loss) and r.grad_norm > 0 for r in results)
    assert all(not torch.equal(params[k].detach(), init[k]) for k in init)
    again, _, _ = _train(cfg, 2)
    for k in params:
        torch.testing.assert_close(again[k], params[k], rtol=0, atol=0)
    if hardware_aware:
        assert results[0].devices_written > 0


def test_resume_from_checkpoint_is_exact(tmp_path):
    cfg = _cfg(hardware_aware=True)
    straight, _, _ = _train(cfg, 2)
    params, opt, _ = _train(cfg, 1)
    path = tmp_path / "classifier.safetensors"
    meta.save_classifier(path, params, cfg, iteration=1, optimizer=opt)
    loaded, cfg2, info = meta.load_classifier(path)
    assert cfg2 == cfg and info["iteration"] == 1
    opt2 = meta.make_optimizer(loaded, cfg2)
    meta.restore_optimizer(path, loaded, opt2)
    resumed, _, _ = _train(cfg2, 2, loaded, opt2, start=1)
    for k in straight:
        torch.testing.assert_close(resumed[k], straight[k], rtol=0, atol=0)


def test_robot_checkpoint_given_to_classifier_loader_and_back(tmp_path):
    robot = tmp_path / "controller.safetensors"
    save_tensors(robot, {"param.W_in_trainee": torch.zeros(5, 250)}, {"config": {"rule": "x"}})
    with pytest.raises(CheckpointFormatError, match="robot-arm controller"):
        meta.load_classifier(robot)
    from robo_l2l.meta import load_controller

    cfg = _cfg()
    classifier = tmp_path / "classifier.safetensors"
    meta.save_classifier(classifier, meta.init_classifier(cfg), cfg, iteration=0)
    with pytest.raises(CheckpointFormatError):
        load_controller(classifier)


def test_bad_config():
    with pytest.raises(ValueError, match="batch_size"):
        _cfg(batch_size=0)
    with pytest.raises(ValueError, match="unknown"):
        meta.FewShotMetaConfig.from_dict({"bogus": 1})
