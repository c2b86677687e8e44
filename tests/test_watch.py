"""scripts/watch.py (the GUI as an instrument) and the motor-trace figure it saves."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robo_l2l.traces import MotorTraces

from .test_video import arm_share

ROOT = Path(__file__).resolve().parents[1]
WATCH = ROOT / "scripts" / "watch.py"
SHIPPED = ROOT / "results" / "readout_hw_quick" / "controller.safetensors"


def test_motor_traces_figure_is_saved(tmp_path):
    t = np.linspace(0, 2.49, 249)
    target = np.stack([np.sin(t), np.cos(t)], 1)
    traces = MotorTraces(target, [target * 0.5, target * 0.9], ["before", "after"])
    traces.show_until([100, -1])
    traces.save(tmp_path / "traces.png")
    traces.close()
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "traces.png").convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 600
    with pytest.raises(ValueError, match="shape"):
        MotorTraces(target, [target[:10]], ["x"])


def test_no_display_names_xvfb_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, str(WATCH), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "xvfb-run" in last
    assert not (tmp_path / "o").exists()


def _drive(tmp_path, steps: str, *flags: str) -> tuple[dict, dict]:
    """Run watch.py under Xvfb, driven by tests/gui/driver.py; (driver's record, summary)."""
    record = tmp_path / "driver.json"
    subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m",
         "tests.gui.driver", str(record), "--steps", steps, "--timeout", "300", "--",
         sys.executable, str(WATCH), "--speed", "4", "--no-traces-window", "--out",
         str(tmp_path / "out"), *flags],
        cwd=ROOT, check=True, timeout=600,
    )  # fmt: skip
    run = json.loads(record.read_text())
    assert run["returncode"] == 0, run["stderr"][-2000:]
    assert "Traceback" not in run["stderr"]
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    assert json.loads((tmp_path / "out" / "watch.json").read_text())["ended"] == summary["ended"]
    assert (tmp_path / "out" / "motor_traces.png").stat().st_size > 10_000
    return run, summary


GUI_DRIVEN = (
    pytest.mark.gui,
    pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed"),
    pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed"),
    pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/"),
)


def _gui_driven(test):
    for mark in GUI_DRIVEN:
        test = mark(test)
    return test


@_gui_driven
def test_keyboard_shortcuts_act(tmp_path):
    """Every key of the table is read from the window (xdotool's synthetic key presses)."""
    steps = "wait:1,key:space,key:space,key:2,key:1,key:bracketright,key:bracketleft,key:x,key:q"
    _, summary = _drive(tmp_path, steps)
    assert summary["ended"] == "quit"
    expected = {"pause / resume": 2, "replay after": 1, "replay before": 1, "faster": 1,
                "slower": 1, "drift compensation on/off for the next run": 1, "quit": 1}  # fmt: skip
    assert summary["actions"] == expected


@_gui_driven
def test_closing_the_window_ends_cleanly(tmp_path):
    """A window manager closes PyBullet's window by killing its X connection (XKillClient):
    the program ends at once, without a traceback, and writes its outputs."""
    _, summary = _drive(tmp_path, "wait:1,kill")
    assert summary["ended"] == "window closed"


def test_help_lists_the_keyboard_shortcuts():
    result = subprocess.run(
        [sys.executable, str(WATCH), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for key in ("space", "pause / resume", "next target", "drift compensation", "quit"):
        assert key in result.stdout


@pytest.mark.gui
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed")
@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped controller in results/")
def test_gui_screenshots_show_the_arm_moving(tmp_path):
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(WATCH),
         "--autoplay", "--speed", "4", "--screenshots", "3", "--runs", "2", "--out",
         str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keyboard shortcuts" in result.stdout and "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ended"] == "finished"
    assert summary["runs"] == 2 and summary["seed"] == 1  # 'next target' ran once
    from PIL import Image

    shots = [
        np.asarray(Image.open(tmp_path / f"screenshot_{k}.png").convert("RGB")) for k in range(3)
    ]
    for shot in shots:
        assert shot.shape == (720, 960, 3)
        assert shot.std() > 10 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 50
        assert arm_share(shot) > 0.02  # the arm is inside the frame, not a speck
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert np.abs(shots[a].astype(int) - shots[b]).mean() > 1.0  # the arm moved
    assert (tmp_path / "motor_traces.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "watch.json").read_text())["devices_written"] > 0
