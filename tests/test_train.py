"""Meta-training with tiny budgets: learning, resume after SIGKILL, bad input."""

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robo_l2l import meta
from robo_l2l.checkpoint import CheckpointFormatError, load_tensors
from robo_l2l.config import MetaConfig, build_parser, config_from_args

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


def _load_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = _load_script()


def _cli(tmp: Path, run: str, *extra: str, capsys) -> tuple[int, str]:
    code = TRAIN.cli([*TINY, "--results", str(tmp), "--run", run, *extra])
    return code, capsys.readouterr().err


def _train(tmp: Path, run: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        *TINY,
        "--results",
        str(tmp),
        "--run",
        run,
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_meta_step_reduces_loss_on_a_fixed_batch():
    cfg = MetaConfig(
        rule="readout", regime="software", batch_size=4, k_updates=1, lr=1e-2, lr_decay_every=1000
    )
    params = meta.init_params(cfg)
    opt = meta.make_optimizer(params, cfg)
    first = [meta.meta_step(params, opt, cfg, 0).loss for _ in range(6)]
    assert first[-1] < first[0]


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    done = _train(tmp_path, "full", "--iterations", "5")
    assert done.returncode == 0, done.stderr
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        *TINY,
        "--results",
        str(tmp_path),
        "--run",
        "killed",
        "--iterations",
        "5",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "state.safetensors"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists(), "the run never wrote a checkpoint"
    resumed = _train(tmp_path, "killed", "--iterations", "5", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "full" / "controller.safetensors"))
    b = load_file(str(tmp_path / "killed" / "controller.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    text = (tmp_path / "killed" / "metrics.jsonl").read_text()
    rows = [json.loads(x) for x in text.splitlines()]
    train_its = [r["iteration"] for r in rows if r["kind"] == "train"]
    assert train_its == list(range(5))
    val_its = [r["iteration"] for r in rows if r["kind"] == "val"]
    assert val_its == list(range(6))
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
    ):
        code, err = _cli(tmp_path, "bad", "--iterations", "1", *bad, capsys=capsys)
        assert code == 2 and message in err, err
        assert not (tmp_path / "bad").exists()


def test_resume_refuses_other_config_and_corrupt_files(tmp_path, capsys):
    assert _cli(tmp_path, "run", "--iterations", "1", capsys=capsys)[0] == 0
    code, err = _cli(
        tmp_path, "run", "--iterations", "2", "--resume", "--batch-size", "3", capsys=capsys
    )
    assert code == 2 and "another configuration" in err
    code, err = _cli(tmp_path, "run", "--iterations", "2", capsys=capsys)
    assert code == 2 and "--resume" in err
    state = tmp_path / "run" / "state.safetensors"
    good_controller = (tmp_path / "run" / "controller.safetensors").read_bytes()
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError):
        load_tensors(state)
    code, err = _cli(tmp_path, "run", "--iterations", "2", "--resume", capsys=capsys)
    assert code == 2 and "not a readable" in err
    assert (tmp_path / "run" / "controller.safetensors").read_bytes() == good_controller
    (tmp_path / "afile").write_text("x")
    code, err = _cli(tmp_path / "afile", "run", "--iterations", "1", capsys=capsys)
    assert code == 2 and "not writable" in err


def test_help_comes_from_field_docstrings():
    text = build_parser("x").format_help()
    assert "Outer Adam learning rate" in text
    args = build_parser("x").parse_args(["--preset", "paper", "--batch-size", "7"])
    cfg = config_from_args(args)
    assert cfg.batch_size == 7 and cfg.iterations == 100_000 and cfg.rule == "natural"
