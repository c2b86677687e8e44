"""What runs on a GPU runs on every device torch sees: each test is parametrised over cpu and
cuda (skipped where there is no CUDA device; ``benchmarks/device_check.sh`` runs them there)."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from robo_l2l import meta, parameters
from robo_l2l.config import PRESETS, MetaConfig
from robo_l2l.controller_file import load_controller
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.pcm import PCMConfig
from robo_l2l.tasks import sample_trajectories

RESULTS = Path(__file__).resolve().parents[1] / "results"
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


@pytest.mark.parametrize("device", DEVICES)
def test_inner_loop_runs_on_the_device_and_repeats(device):
    weights = parameters.random_controller(MetaConfig(), device)
    tasks = sample_trajectories(3, torch.Generator().manual_seed(0))

    def run():
        noise = torch.Generator(device=device).manual_seed(1)
        return inner_loop(weights, tasks, InnerRule("natural"), PCMConfig.reference(), noise)

    a, b = run(), run()
    assert a.loss_after.device.type == device
    assert torch.isfinite(a.losses).all()
    assert torch.equal(a.after.spikes, b.after.spikes) and torch.equal(a.losses, b.losses)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("draws", ["task", "batch"])
def test_meta_step_on_the_device(device, draws):
    cfg = replace(MetaConfig(**PRESETS["quick"]), batch_size=2, device=device, draws=draws)
    params = parameters.init_params(cfg)
    before = {k: v.detach().clone() for k, v in params.items()}
    r = meta.meta_step(params, meta.make_optimizer(params, cfg), cfg, 0)
    assert all(v.device.type == device for v in params.values())
    assert torch.isfinite(torch.tensor([r.loss, r.grad_norm])).all()
    assert any(not torch.equal(params[k], before[k]) for k in params)


@pytest.mark.parametrize("device", DEVICES)
def test_training_run_validates_checkpoints_and_resumes_on_the_device(device, tmp_path):
    from robo_l2l.checkpoint import load_tensors
    from robo_l2l.training import train

    quick = {**PRESETS["quick"], "batch_size": 2, "val_batches": 1, "val_batch_size": 2}
    cfg = replace(MetaConfig(**quick), iterations=2, validate_every=1, device=device)
    val = train(cfg, tmp_path)
    assert all(torch.isfinite(torch.tensor(v)) for v in val.values())
    val = train(replace(cfg, iterations=3), tmp_path, resume=True)
    assert all(torch.isfinite(torch.tensor(v)) for v in val.values())
    weights, _, _ = load_controller(tmp_path / "controller.safetensors", device)
    assert weights.w_in.device.type == device
    assert load_tensors(tmp_path / "state.safetensors")[1]["iteration"] == 3


@pytest.mark.parametrize("device", DEVICES)
def test_evaluation_protocol_rows_on_the_device(device):
    from robo_l2l import protocol

    weights, cfg, _ = load_controller(
        RESULTS / "readout_hw_quick" / "controller.safetensors", device
    )
    rows = protocol.protocol_rows(cfg, cfg.deployment, "all")
    random = parameters.random_controller(cfg, device)
    results = protocol.run_protocol(weights, random, cfg, rows, [100], 2)
    assert len(results) == len(rows)
    assert all(r["n_tasks"] == 2 for r in results)
    assert all(torch.isfinite(torch.tensor(r["loss_after_mean"])) for r in results)


@pytest.mark.parametrize("device", DEVICES)
def test_demo_drives_the_arm_with_weights_on_the_device(device):
    # PyBullet has no wheel for the GPU machine's Python 3.12; the arm is simulated on the CPU
    # either way, so there this test is skipped and the network's side runs in the others.
    pytest.importorskip("pybullet")
    from robo_l2l.demo_run import run_demo

    weights, cfg, _ = load_controller(
        RESULTS / "readout_hw_quick" / "controller.safetensors", device
    )
    target = sample_trajectories(1, torch.Generator().manual_seed(3))
    result = run_demo(weights, cfg, target, 1, cfg.deployment, 3)
    meta_data = result.record["meta"]
    assert meta_data["tracking_error_after_mm"] > 0
    assert result.record["spikes_after"].shape[1] == 250


@pytest.mark.parametrize("device", DEVICES)
def test_fewshot_inner_loop_on_the_device(device):
    from robo_l2l.fewshot import cnn, maml

    params = cnn.init_params(torch.Generator().manual_seed(0), channels=8, way=3)
    params = {k: v.to(device) for k, v in params.items()}
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(3).repeat(2).expand(2, -1).clone()
    episodes = maml.Episodes(
        torch.rand(2, 6, 28, 28, generator=g).to(device),
        labels.to(device),
        torch.rand(2, 6, 28, 28, generator=g).to(device),
        labels.to(device),
    )
    noise = torch.Generator(device=device).manual_seed(2)
    r = maml.inner_loop(params, episodes, maml.InnerLoopConfig(), maml.reference_pcm(), noise)
    assert r.query_loss.device.type == device and torch.isfinite(r.query_loss)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_the_device_check_and_the_scripts_say_so(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHON": sys.executable}
    check = ["bash", str(root / "benchmarks" / "device_check.sh"), str(tmp_path / "dc")]
    r = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no CUDA device" in r.stderr
    run = str(RESULTS / "readout_hw_quick")
    for script in (["evaluate.py", "--run", run], ["demo.py"], ["train.py"]):
        command = [sys.executable, str(root / "scripts" / script[0]), *script[1:]]
        r = subprocess.run(
            [*command, "--device", "cuda"], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 2, (script, r.stderr)
        assert "torch sees no CUDA device" in r.stderr, (script, r.stderr)
