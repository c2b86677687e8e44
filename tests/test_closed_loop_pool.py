"""Many targets in closed loop: the network batched, the arms in worker processes."""

import numpy as np
import pytest


def test_the_pool_drives_the_arm_as_the_step_by_step_closed_loop(tmp_path):
    """Given the commands run_episode produced, the pooled episodes reproduce its path
    exactly (same env, same commands), in this process and in worker processes."""
    import torch

    from robo_l2l import parameters
    from robo_l2l.closed_loop import run_episode
    from robo_l2l.closed_loop_pool import drive
    from robo_l2l.envs import ScorbotTrackEnv
    from robo_l2l.inner_loop import InnerRule, inner_loop
    from robo_l2l.pcm import PCMConfig
    from robo_l2l.tasks import sample_trajectories

    weights = parameters.init_controller(torch.Generator().manual_seed(0), natural=False)
    targets = sample_trajectories(2, torch.Generator().manual_seed(4))
    with torch.no_grad():
        r = inner_loop(
            weights, targets, InnerRule("readout", 1, 1e-3), PCMConfig(), torch.Generator()
        )
    env = ScorbotTrackEnv()
    try:
        rollouts = [
            run_episode(env, r.initial, targets[i : i + 1], torch.Generator()) for i in (0,)
        ]
    finally:
        env.close()
    commands = np.stack([rollouts[0].command, rollouts[0].command * 0.5])
    for workers in (1, 2):
        tracked = drive(targets, commands, workers)
        np.testing.assert_array_equal(tracked.xyz[0], rollouts[0].xyz.astype(np.float32))
        np.testing.assert_array_equal(tracked.error_m[0], rollouts[0].tracking_error_m)
        assert tracked.error_m.shape == (2, commands.shape[1])
    with pytest.raises(FloatingPointError, match=r"target\(s\) \[1\]"):
        drive(targets, np.where(np.arange(2)[:, None, None] == 1, np.nan, commands), 1)
    with pytest.raises(ValueError, match="must both be"):
        drive(targets, commands[:, :10], 1)


def test_track_script_writes_the_table_and_refuses_bad_input(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = [sys.executable, str(root / "scripts" / "track.py")]
    run = str(root / "results" / "readout_hw_quick")
    out = tmp_path / "t"
    args = ["--run", run, "--targets", "3", "--workers", "2", "--out", str(out)]
    r = subprocess.run([*script, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "tracking.json").read_text())
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert record["n_targets"] == 3 and len(record["after"]["per_target_mm"]) == 3
    assert last["after_mean_mm"] == pytest.approx(
        np.mean(record["after"]["per_target_mm"]), abs=1e-3
    )
    assert record["after"]["worst_mm"] >= record["after"]["mean_mm"] > 0
    for bad in (["--targets", "0"], ["--workers", "0"], ["--t-inference", "0.5"]):
        r = subprocess.run(
            [*script, "--run", run, *bad], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 2, bad
