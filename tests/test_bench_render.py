"""Smoke test of benchmarks/bench_render.py with a tiny budget."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_render_prints_json_last():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # headless rows only
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_render.py"), "--repeats", "1",
         "--every", "83"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["video_frames"] == 3 and summary["gui_opengl_frame_ms"] is None
    for key in ("tiny_panel_ms", "tiny_floor_shadow_ms", "video_render_s", "video_write_s"):
        assert summary[key] > 0
