"""The main job end to end (headless, tiny budget), its GUI path and its bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_l2l import meta, tasks
from robo_l2l.closed_loop import run_episode
from robo_l2l.envs import ScorbotTrackEnv
from robo_l2l.inner_loop import inner_loop
from robo_l2l.network import Synapses, TraineeStepper, run_trainee
from robo_l2l.pcm import PCMConfig

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
SHIPPED = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"


def _demo(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=600, env=env
    )


def test_stepper_equals_batch_trial():
    weights = meta.init_controller(torch.Generator().manual_seed(0), natural=False)
    clock = tasks.clock_input()
    syn = [Synapses(w) for w in (weights.w_in, weights.w_rec, weights.w_out)]
    trial = run_trainee(clock, *syn, batch_size=1)
    stepper = TraineeStepper(*syn, batch_size=1)
    outputs = torch.stack([stepper.step(clock[t : t + 1]) for t in range(len(clock))], 1)
    assert torch.equal(torch.stack(stepper.spikes, 1), trial.spikes)
    torch.testing.assert_close(outputs, trial.output, atol=1e-5, rtol=0)


def test_closed_loop_episode_is_measured_on_the_arm():
    weights = meta.init_controller(torch.Generator().manual_seed(1), natural=False)
    target = tasks.sample_trajectories(1, torch.Generator().manual_seed(2))
    with torch.no_grad():
        r = inner_loop(
            weights,
            target,
            meta.InnerRule("readout", 1, 1e-3),
            PCMConfig.ideal_weights(),
            torch.Generator(),
        )
    env = ScorbotTrackEnv()
    try:
        ep = run_episode(env, r.initial, target, torch.Generator())
    finally:
        env.close()
    assert ep.xyz.shape == (249, 3) and np.isfinite(ep.xyz).all()
    distance = np.linalg.norm(ep.xyz - target.xyz[0].numpy(), axis=-1)
    np.testing.assert_allclose(ep.tracking_error_m, distance, atol=1e-6)


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/")
def test_main_job_headless_learns(tmp_path):
    result = _demo("--seed", "0", "--frame-every", "0", "--no-figures", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tracking_error_after_mm"] < report["tracking_error_before_mm"]
    assert report["devices_written"] > 0
    with np.load(tmp_path / "demo.npz") as data:
        assert data["xyz_after"].shape == (249, 3)
        assert data["spikes_before"].shape == (249, 250)


@pytest.mark.gui
@pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="xvfb-run not installed (apt-get install xvfb)"
)
@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/")
def test_main_job_gui_under_virtual_display(tmp_path):
    result = subprocess.run(
        [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1024x768x24",
            sys.executable,
            str(DEMO),
            "--gui",
            "--slowdown",
            "0",
            "--no-figures",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from PIL import Image

    shot = np.asarray(Image.open(tmp_path / "gui_screenshot.png").convert("RGB"))
    assert shot.std() > 10
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50


def test_bad_input(tmp_path):
    missing = _demo("--checkpoint", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path))
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a checkpoint")
    corrupt = _demo("--checkpoint", str(bogus), "--out", str(tmp_path / "o"))
    assert corrupt.returncode == 2 and "not a readable" in corrupt.stderr
    np.save(tmp_path / "wrong.npy", np.zeros((10, 2), np.float32))
    if SHIPPED.exists():
        shape = _demo("--trajectory", str(tmp_path / "wrong.npy"), "--out", str(tmp_path / "o"))
        assert shape.returncode == 2 and "(249, 2)" in shape.stderr
        np.save(tmp_path / "far.npy", np.full((249, 2), 3.0, np.float32))
        far = _demo("--trajectory", str(tmp_path / "far.npy"), "--out", str(tmp_path / "o"))
        assert far.returncode == 2 and "limits" in far.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "DISPLAY"}
    gui = _demo("--gui", "--checkpoint", str(SHIPPED), "--out", str(tmp_path / "o"), env=env)
    assert gui.returncode == 2 and "xvfb-run" in gui.stderr
    assert not (tmp_path / "o").exists()
