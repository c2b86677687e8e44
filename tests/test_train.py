"""Meta-training with tiny budgets: learning, resume after SIGKILL, locks, bad input."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from robo_l2l import meta
from robo_l2l.checkpoint import CheckpointFormatError, load_tensors, save_tensors
from robo_l2l.config import MetaConfig, build_parser, config_from_args
from robo_l2l.controller_file import load_controller
from robo_l2l.parameters import init_params
from robo_l2l.run_folder import FolderLockedError, RunLock
from robo_l2l.training import read_metrics, train, truncate_metrics
from scripts import train as train_script

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--preset",
    "quick",
    "--regime",
    "software",
    "--batch-size",
    "2",
    "--k-updates",
    "2",
    "--val-batch-size",
    "2",
    "--validate-every",
    "1",
    "--quiet",
]
TINY_CFG = MetaConfig(
    rule="readout",
    regime="software",
    batch_size=2,
    k_updates=1,
    val_batch_size=2,
    validate_every=1,
    iterations=1,
    inner_lr=3e-3,
    threads=1,
)


def _cli(out: Path, *extra: str, capsys) -> tuple[int, str]:
    code = train_script.main([*TINY, "--out", str(out), *extra])
    return code, capsys.readouterr().err


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), *TINY, "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_meta_step_reduces_loss_on_a_fixed_batch():
    cfg = MetaConfig(
        rule="readout", regime="software", batch_size=4, k_updates=1, lr=1e-2, lr_decay_every=1000
    )
    params = init_params(cfg)
    opt = meta.make_optimizer(params, cfg)
    first = [meta.meta_step(params, opt, cfg, 0).loss for _ in range(6)]
    assert first[-1] < first[0]


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    iterations = 6
    done = _train(tmp_path / "full", "--iterations", str(iterations))
    assert done.returncode == 0, done.stderr
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        *TINY,
        "--out",
        str(tmp_path / "killed"),
        "--iterations",
        str(iterations),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "state.safetensors"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before the kill landed"
    saved_at = load_tensors(state)[1]["iteration"]
    assert 1 <= saved_at < iterations, "the kill must land between two checkpoints"
    resumed = _train(tmp_path / "killed", "--iterations", str(iterations), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "full" / "controller.safetensors"))
    b = load_file(str(tmp_path / "killed" / "controller.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = read_metrics(tmp_path / "killed" / "metrics.jsonl")
    assert [r["iteration"] for r in rows if r["kind"] == "train"] == list(range(iterations))
    assert [r["iteration"] for r in rows if r["kind"] == "val"] == list(range(iterations + 1))
    # the shipped controller is the best validated checkpoint
    best = min(r["val_loss_after"] for r in rows if r["kind"] == "val" and r["iteration"] > 0)
    saved = load_tensors(tmp_path / "killed" / "controller.safetensors")[1]["validation"]
    assert saved["val_loss_after"] == best


def test_bad_config_is_refused_before_work(tmp_path, capsys):
    for bad, message in (
        (["--lr", "-1"], "lr must be > 0"),
        (["--batch-size", "0"], "batch_size must be >= 1"),
        (["--rule", "hebbian"], "unknown rule"),
        (["--preset", "huge"], "unknown preset"),
        (["--ideal", "--t-inference", "60"], "--ideal has no devices"),
        (["--threads", "-1"], "threads must be >= 0"),
        (["--seed", "-5"], "seed must be in"),
        (["--seed", str(2**40)], "seed must be in"),
        (["--tip-weight", "-0.5"], "tip_weight must be >= 0"),
        (["--draws", "rank"], "unknown draws"),
        (["--age-min-s", "100", "--age-max-s", "10"], "device-age range is empty"),
        (["--age-min-s", "-1", "--age-max-s", "10"], "finite time > 0"),
        (["--age-max-s", "10"], "give both age_min_s and age_max_s"),
        (["--preset", "quick_ages", "--regime", "software"], "needs the hardware regime"),
        (["--regime", "analog"], "unknown regime"),
        (["--agnostic-weight-noise", "-1"], "agnostic_weight_noise must be in"),
    ):
        code, err = _cli(tmp_path / "bad", "--iterations", "1", *bad, capsys=capsys)
        assert code == 2 and message in err, err
        assert not (tmp_path / "bad").exists()
    for bad in (["--t-inference", "inf"], ["--t-inference", "0.5"], ["--t-inference", "nan"]):
        with pytest.raises(SystemExit) as exit_info:
            train_script.main([*TINY, "--out", str(tmp_path / "bad"), *bad])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: argument --t-inference") and err.count("\n") == 1


def test_refuses_a_folder_with_a_controller_and_other_configs(tmp_path, capsys):
    run = tmp_path / "run"
    assert _cli(run, "--iterations", "1", capsys=capsys)[0] == 0
    code, err = _cli(run, "--iterations", "2", capsys=capsys)
    assert code == 2 and "controller.safetensors" in err and "--resume" in err
    code, err = _cli(run, "--iterations", "2", "--resume", "--batch-size", "3", capsys=capsys)
    assert code == 2 and "another configuration" in err and "batch_size" in err
    # a changed thread count and iteration budget resume fine
    code, err = _cli(run, "--iterations", "2", "--resume", "--threads", "2", capsys=capsys)
    assert code == 0, err
    state = run / "state.safetensors"
    good_controller = (run / "controller.safetensors").read_bytes()
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError):
        load_tensors(state)
    code, err = _cli(run, "--iterations", "3", "--resume", capsys=capsys)
    assert code == 2 and "not a readable" in err
    assert (run / "controller.safetensors").read_bytes() == good_controller
    (tmp_path / "afile").write_text("x")
    code, err = _cli(tmp_path / "afile", "--iterations", "1", capsys=capsys)
    assert code == 2 and "not a folder" in err


def test_second_writer_is_locked_out(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(FolderLockedError, match="another process"):
            train(TINY_CFG, tmp_path / "run")
        assert not (tmp_path / "run" / "config.json").exists()
    train(TINY_CFG, tmp_path / "run")  # released
    assert (tmp_path / "run" / "controller.safetensors").exists()


def test_resume_tolerates_a_torn_metrics_line_and_names_the_file(tmp_path):
    cfg = dataclasses.replace(TINY_CFG, iterations=2)
    train(cfg, tmp_path / "run")
    metrics = tmp_path / "run" / "metrics.jsonl"
    rows = read_metrics(metrics)
    metrics.write_text(metrics.read_text() + '{"iteration": 2, "kind": "tr')
    assert read_metrics(metrics) == rows
    train(dataclasses.replace(cfg, iterations=3), tmp_path / "run", resume=True)
    assert [r["iteration"] for r in read_metrics(metrics) if r["kind"] == "train"] == [0, 1, 2]
    metrics.write_text(
        '{"iteration": 0, "kind": "val"}\nnot json\n{"iteration": 1, "kind": "val"}\n'
    )
    with pytest.raises(ValueError, match=r"metrics\.jsonl, line 2"):
        truncate_metrics(metrics, 1)


def test_config_reproduces_a_run(tmp_path, capsys):
    assert _cli(tmp_path / "a", "--iterations", "1", "--seed", "3", capsys=capsys)[0] == 0
    config = tmp_path / "a" / "config.json"
    code = train_script.main(["--config", str(config), "--out", str(tmp_path / "b"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    a = load_file(str(tmp_path / "a" / "controller.safetensors"))
    b = load_file(str(tmp_path / "b" / "controller.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads(config.read_text()) == json.loads(
        (tmp_path / "b" / "config.json").read_text()
    )
    code, err = _cli(tmp_path / "c", "--config", str(config), capsys=capsys)
    assert code == 2 and "--config and --preset" in err


def test_checkpoint_loads_on_cpu_and_refuses_other_dtypes(tmp_path):
    params = init_params(TINY_CFG)
    cfg = json.loads(dataclasses.replace(TINY_CFG, device="cuda").to_json())
    named = {f"param.{k}": v for k, v in params.items()}
    save_tensors(tmp_path / "c.safetensors", named, {"config": cfg, "iteration": 1})
    weights, loaded, _ = load_controller(tmp_path / "c.safetensors", device="cpu")
    assert loaded.device == "cuda" and weights.w_in.device.type == "cpu"
    for dtype in (torch.int32, torch.bfloat16, torch.float64):
        bad = {k: v.detach().to(dtype) for k, v in named.items()}
        path = tmp_path / f"{dtype}.safetensors"
        save_tensors(path, bad, {"config": cfg, "iteration": 1})
        with pytest.raises(CheckpointFormatError, match="a controller holds float32"):
            load_controller(path)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointFormatError, match="format tag"):
        load_controller(tmp_path / "foreign.safetensors")


def test_help_comes_from_field_docstrings():
    text = build_parser("x").format_help()
    assert "Outer Adam learning rate" in text and "--t-inference" in text
    args = build_parser("x").parse_args(["--preset", "paper", "--batch-size", "7"])
    cfg = config_from_args(args)
    assert cfg.batch_size == 7 and cfg.iterations == 100_000 and cfg.rule == "natural"
    args = build_parser("x").parse_args(["--t-inference", "3600", "--drift-compensation"])
    cfg = config_from_args(args)
    assert cfg.deployment.t_inference_s == 3600 and cfg.deployment.drift_compensation


def test_tip_weight_adds_the_tool_tip_path_error_to_the_meta_loss():
    """tip_weight x MSE of the test trial's tool tip (integrated through the kinematics)."""
    from dataclasses import replace

    from robo_l2l import meta, parameters
    from robo_l2l.config import PRESETS, MetaConfig
    from robo_l2l.losses import tip_mse

    cfg = replace(MetaConfig(**PRESETS["quick"]), batch_size=2)
    params = parameters.init_params(cfg)
    plain, r = meta.meta_loss(params, cfg, 0)
    weighted, r2 = meta.meta_loss(params, replace(cfg, tip_weight=7.0), 0)
    tasks, _ = meta.draw_batch(cfg, 0)
    extra = 7.0 * tip_mse(r.after.output, tasks).mean()
    assert extra > 0
    torch.testing.assert_close(weighted - plain, extra, rtol=1e-5, atol=1e-7)
    (grad,) = torch.autograd.grad(weighted - plain, params["w_out"])
    assert grad.abs().sum() > 0
