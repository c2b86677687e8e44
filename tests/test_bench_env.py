"""Smoke test of benchmarks/bench_env.py with a tiny budget."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_env_prints_json_last(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_env.py"),
            "--steps",
            "260",
            "--repeats",
            "1",
            "--fk-batch",
            "1000",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.loads((tmp_path / "bench_env.json").read_text())["result"] == summary
    for key in (
        "raw_steps_per_s",
        "env_steps_per_s",
        "env_overhead_factor",
        "fk_float32_points_per_s",
        "fk_float64_points_per_s",
    ):
        assert summary[key] > 0
