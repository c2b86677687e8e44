"""Smoke tests of scripts/rollout.py (tiny budgets) and of the GUI under a virtual display."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robo_l2l.tasks import N_STEPS
from scripts import rollout

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rollout.py"


#: README (results/benchmarks/bench_env.json): replaying a task's own velocities tracks its path to
#: 0.58 mm on average (64 tasks, per-task means 0.14-2.0 mm); the
#: replay is deterministic (measured 0.229 mm over the first 30 steps of seed 3).
REPLAY_MEAN_MM = 0.6


def _run(args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def test_main_writes_gif_png_and_tracks(tmp_path):
    args = rollout.parse_args(
        ["--seed", "3", "--steps", "30", "--out", str(tmp_path), "--gif-width", "160"]
        + ["--gif-height", "120"]
    )
    summary = rollout.main(args)
    assert summary["steps"] == 30
    assert 0 < summary["tracking_error_mean_mm"] <= summary["tracking_error_max_mm"]
    assert summary["tracking_error_mean_mm"] < REPLAY_MEAN_MM
    names = sorted(Path(p).name for p in summary["outputs"])
    assert names == ["config.json", "rollout.gif", "rollout_path.png"]
    gif = Image.open(tmp_path / "rollout.gif")
    assert gif.n_frames == 1 + 30 // 4 + 1 and gif.size == (160, 120)
    frame = np.asarray(gif.convert("RGB"))
    assert frame.std() > 10
    assert (tmp_path / "rollout.gif").stat().st_size < 500_000
    png = np.asarray(Image.open(tmp_path / "rollout_path.png").convert("RGB"))
    assert png.std() > 10
    assert not list(tmp_path.glob(".stage*")) and not list(tmp_path.glob(".*.tmp"))


def test_cli_loads_trajectory_file_and_prints_json_last(tmp_path):
    t = np.arange(N_STEPS) * 0.01
    omega = np.stack([0.5 * np.sin(2 * t), -0.3 * np.cos(3 * t)], axis=1)
    np.savez(tmp_path / "task.npz", omega=omega)
    result = _run(
        [
            "--trajectory",
            str(tmp_path / "task.npz"),
            "--steps",
            "25",
            "--out",
            str(tmp_path / "out"),
            "--gif-width",
            "96",
            "--gif-height",
            "72",
        ]
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= {"tracking_error_mean_mm", "tracking_error_max_mm", "outputs"}
    assert summary["tracking_error_mean_mm"] < REPLAY_MEAN_MM
    assert all(Path(p).is_file() for p in summary["outputs"])


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((N_STEPS, 3)))
    np.savez(tmp_path / "nokey.npz", q=np.zeros((N_STEPS, 2)))
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "fast.npy", np.full((20, 2), 3.2))
    (tmp_path / "file").write_text("x")
    out = str(tmp_path / "out")
    cases = (
        (["--trajectory", str(tmp_path / "wide.npy"), "--out", out], "shape"),
        (["--trajectory", str(tmp_path / "nokey.npz"), "--out", out], "no array 'omega'"),
        (["--trajectory", str(tmp_path / "empty.npy"), "--out", out], "empty (0 bytes)"),
        (["--trajectory", str(tmp_path / "fast.npy"), "--out", out], "faster than"),
        (["--trajectory", str(tmp_path / "absent.npy"), "--out", out], "does not exist"),
        (["--out", str(tmp_path / "file")], "not a folder"),
    )
    for args, message in cases:
        assert rollout.cli_main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("error:") and err.count("\n") == 1, err
    for args in (["--seed", "-1"], ["--seed", str(2**70)], ["--steps", "0"], ["--threads", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            rollout.parse_args(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: argument") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_gui_without_display_fails_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = _run(["--gui", "--steps", "5", "--out", str(tmp_path)], env=env)
    assert result.returncode != 0
    assert "DISPLAY" in result.stderr and "xvfb-run" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.gui
@pytest.mark.skipif(
    shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None,
    reason="xvfb-run/Xvfb not installed (apt-get install xvfb)",
)
def test_gui_under_virtual_display(tmp_path):
    """The human render mode opens a real PyBullet window; its OpenGL image is not blank."""
    command = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1024x768x24",
        sys.executable,
        str(SCRIPT),
        "--gui",
        "--steps",
        "30",
        "--slowdown",
        "0",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tracking_error_mean_mm"] < 5
    shot = np.asarray(Image.open(tmp_path / "gui_screenshot.png").convert("RGB"))
    assert shot.shape == (480, 640, 3)
    assert shot.std() > 10
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 20
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    assert ((r > 120) & (r > g + 40) & (g > b + 40)).sum() > 500  # the orange arm links
    assert ((g > 90) & (g > r + 60) & (g > b + 60)).sum() > 20  # target spheres
    assert ((r > 180) & (g < 60) & (b < 60)).sum() > 5  # executed path
