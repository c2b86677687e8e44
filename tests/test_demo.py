"""The main job end to end (headless, tiny budget), its GUI path and its bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_l2l import demo_record, tasks
from robo_l2l.closed_loop import Rollout, run_episode
from robo_l2l.demo_run import DemoResult
from robo_l2l.deployment import describe
from robo_l2l.envs import ScorbotTrackEnv
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.network import Synapses, TraineeStepper, run_trainee
from robo_l2l.parameters import init_controller
from robo_l2l.pcm import PCMConfig
from robo_l2l.trajectory_file import load_omega, trajectories_from_omega
from scripts import demo as demo_script

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
SHIPPED = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"


def _demo(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=600, env=env
    )


def test_stepper_equals_batch_trial():
    weights = init_controller(torch.Generator().manual_seed(0), natural=False)
    clock = tasks.clock_input()
    syn = [Synapses(w) for w in (weights.w_in, weights.w_rec, weights.w_out)]
    trial = run_trainee(clock, *syn, batch_size=1)
    stepper = TraineeStepper(*syn, batch_size=1)
    outputs = torch.stack([stepper.step(clock[t : t + 1]) for t in range(len(clock))], 1)
    assert torch.equal(torch.stack(stepper.spikes, 1), trial.spikes)
    torch.testing.assert_close(outputs, trial.output, atol=1e-5, rtol=0)


def test_closed_loop_episode_is_measured_on_the_arm():
    weights = init_controller(torch.Generator().manual_seed(1), natural=False)
    target = tasks.sample_trajectories(1, torch.Generator().manual_seed(2))
    with torch.no_grad():
        r = inner_loop(
            weights,
            target,
            InnerRule("readout", 1, 1e-3),
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
    result = _demo(
        "--seed", "0", "--frame-every", "0", "--no-figures", "--out", str(tmp_path),
        "--t-inference", "3600", "--drift-compensation",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tracking_error_after_mm"] < report["tracking_error_before_mm"]
    assert report["devices_written"] > 0
    assert report["device_age"] == "1 h" and report["drift_compensation"] is True
    record = demo_record.read(tmp_path / "demo.npz")
    assert record["xyz_after"].shape == (249, 3) and record["spikes_before"].shape == (249, 250)
    assert record["meta"]["t_inference_s"] == 3600 and record["meta"]["drift_compensation"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["deployment_text"] == describe(
        PCMConfig(t_inference_s=3600, drift_compensation=True)
    )


def _fake_result(meta_overrides=None):
    from tests.test_plots import synthetic_demo

    record = synthetic_demo(0, "readout")
    record["meta"] |= meta_overrides or {}
    n = len(record["target_xyz"])
    q = np.zeros((n, 4))  # the home pose: the video renders the arm
    rollouts = [
        Rollout(record[f"omega_{k}"], record[f"xyz_{k}"], q, np.zeros(n), record[f"spikes_{k}"],
                [], 0)
        for k in ("before", "after")
    ]  # fmt: skip
    return DemoResult(record, *rollouts)


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/")
def test_outputs_are_replaced_as_a_set(tmp_path, monkeypatch, capsys):
    """A failed demo leaves the previous outputs untouched; a new set removes stale files."""
    import robo_l2l.demo_run
    import robo_l2l.plots

    monkeypatch.setattr(robo_l2l.demo_run, "run_demo", lambda *a, **k: _fake_result())
    out = tmp_path / "out"
    assert demo_script.cli_main(["--out", str(out), "--frame-every", "50"]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {"demo.mp4", "demo.gif", "demo.npz", "report.json", "paths.png"} <= set(first)

    def broken(*args, **kwargs):
        raise ValueError("figure failed")

    monkeypatch.setattr(robo_l2l.plots, "demo_figures", broken)
    assert demo_script.cli_main(["--out", str(out), "--seed", "5"]) == 2
    assert "figure failed" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == first
    monkeypatch.undo()
    monkeypatch.setattr(robo_l2l.demo_run, "run_demo", lambda *a, **k: _fake_result())
    assert demo_script.cli_main(["--out", str(out), "--frame-every", "0", "--no-figures"]) == 0
    assert not (out / "demo.gif").exists() and not (out / "paths.png").exists()
    assert not (out / "demo.mp4").exists()
    assert not list(out.glob(".stage.*"))


@pytest.mark.gui
@pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="xvfb-run not installed (apt-get install xvfb)"
)
@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/")
def test_main_job_gui_under_virtual_display(tmp_path):
    """demo.py --gui: the demo's outputs, then the instrument's (screenshot, traces, watch.json)."""
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(DEMO), "--gui",
         "--autoplay", "--speed", "4", "--screenshots", "1", "--no-traces-window",
         "--no-figures", "--frame-every", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keyboard shortcuts" in result.stdout and "Traceback" not in result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["gui"] == "finished"
    watched = json.loads((tmp_path / "watch.json").read_text())
    report = json.loads((tmp_path / "report.json").read_text())
    assert watched["tracking_error_after_mm"] == report["tracking_error_after_mm"]  # same run
    from PIL import Image

    shot = np.asarray(Image.open(tmp_path / "screenshot_0.png").convert("RGB"))
    assert shot.std() > 10
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50
    manifest = json.loads((tmp_path / "outputs.json").read_text())
    assert {"screenshot_0.png", "watch.json", "motor_traces.png", "demo.npz"} <= set(manifest)


def test_bad_flags_fail_before_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "fast.npy", np.full((20, 2), 3.3, np.float32))
    cases = (
        (["--ideal", "--t-inference", "60"], "--ideal has no devices"),
        (["--ideal", "--drift-compensation"], "--ideal has no devices"),
        (["--out", str(tmp_path / "file")], "not a folder"),
        (["--trajectory", str(tmp_path / "empty.npy")], "empty (0 bytes)"),
        (["--trajectory", str(tmp_path / "fast.npy")], "faster than"),
    )
    for args, message in cases:
        out = [] if "--out" in args else ["--out", str(tmp_path / "o")]
        assert demo_script.cli_main([*args, *out]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("error:") and err.count("\n") == 1, err
    for args in (
        ["--t-inference", "inf"], ["--t-inference", "nan"], ["--t-inference", "0"],
        ["--t-inference", "0.5"], ["--seed", "-1"], ["--seed", str(2**64)], ["--threads", "-1"],
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            demo_script.parse_args(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: argument") and err.count("\n") == 1, err
    for args, message in (
        (["--speed", "2"], "--speed only act on the GUI"),
        (["--autoplay", "--runs", "2"], "--autoplay, --runs only act on the GUI"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            demo_script.parse_args(args)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_trajectory_files_of_any_supported_length(tmp_path):
    omega = np.stack([0.5 * np.sin(np.arange(100) * 0.05), np.zeros(100)], 1).astype(np.float32)
    np.save(tmp_path / "short.npy", omega)
    loaded = load_omega(tmp_path / "short.npy", max_steps=tasks.N_STEPS)
    assert loaded.shape == (100, 2)
    target = trajectories_from_omega(loaded)
    assert target.xyz.shape == (1, 100, 3)
    np.save(tmp_path / "long.npy", np.zeros((tasks.N_STEPS + 1, 2), np.float32))
    with pytest.raises(ValueError, match="at most 249"):
        load_omega(tmp_path / "long.npy", max_steps=tasks.N_STEPS)
    np.save(tmp_path / "complex.npy", omega.astype(np.complex64))
    with pytest.raises(ValueError, match="real-valued"):
        load_omega(tmp_path / "complex.npy")


def test_bad_input(tmp_path):
    missing = _demo("--checkpoint", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path))
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a checkpoint")
    corrupt = _demo("--checkpoint", str(bogus), "--out", str(tmp_path / "o"))
    assert corrupt.returncode == 2 and "not a readable" in corrupt.stderr
    if SHIPPED.exists():
        np.save(tmp_path / "far.npy", np.full((249, 2), 3.0, np.float32))
        far = _demo("--trajectory", str(tmp_path / "far.npy"), "--out", str(tmp_path / "o"))
        assert far.returncode == 2 and "limits" in far.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "DISPLAY"}
    gui = _demo("--gui", "--checkpoint", str(SHIPPED), "--out", str(tmp_path / "o"), env=env)
    assert gui.returncode == 2 and "xvfb-run" in gui.stderr
    assert not (tmp_path / "o").exists()
