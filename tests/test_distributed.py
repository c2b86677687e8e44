"""Meta-training split over torchrun processes (gloo on CPU) gives the weights of one process."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from robo_l2l import meta
from robo_l2l.checkpoint import load_tensors
from robo_l2l.config import PRESETS, MetaConfig
from robo_l2l.distributed import Shard
from robo_l2l.functional.draws import PerTask
from robo_l2l.training import METRICS, read_metrics

ROOT = Path(__file__).resolve().parents[1]
# natural rule, hardware-aware: per-task device noise and the pooled rate regulariser of the
# trainee and of the generator are all in play; 3 iterations of 16 tasks
ARGS = [
    "--preset", "quick_natural", "--batch-size", "16", "--iterations", "3",
    "--validate-every", "3", "--val-batch-size", "4", "--threads", "1", "--quiet",
]  # fmt: skip


def _train(out: Path, nproc: int, *extra: str) -> subprocess.CompletedProcess:
    script = [str(ROOT / "scripts" / "train.py"), "--out", str(out), *ARGS, *extra]
    if nproc == 1:
        command = [sys.executable, *script]
    else:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, "--nproc-per-node", str(nproc), *script]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_two_ranks_give_the_weights_of_one_process(tmp_path):
    one = _train(tmp_path / "one", 1)
    assert one.returncode == 0, one.stderr[-2000:]
    two = _train(tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-2000:]
    a, info_a = load_tensors(tmp_path / "one" / "state.safetensors")
    b, info_b = load_tensors(tmp_path / "two" / "state.safetensors")
    assert info_a["iteration"] == info_b["iteration"] == 3
    assert a.keys() == b.keys()
    # Same tasks, same noise: every device written alike and the losses equal to float32
    # rounding (the ranks add their gradients in another order than one process's products).
    rows_a, rows_b = (
        read_metrics(tmp_path / "one" / METRICS),
        read_metrics(tmp_path / "two" / METRICS),
    )
    assert [r["kind"] for r in rows_a] == [r["kind"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        written = "devices_written" if ra["kind"] == "train" else "val_devices_written"
        assert ra[written] == rb[written]
        for key in ("loss", "loss_after", "val_loss_after"):
            if key in ra:
                assert rb[key] == pytest.approx(ra[key], rel=1e-6), (ra, rb)
    # Adam divides by sqrt(v): where a gradient is ~0 its rounding moves a weight by a good
    # part of a step. Measured: at most 6e-6 after 3 steps of lr 1e-3 (<1% of one step); a
    # wrong split, pooling or noise moves weights by whole steps.
    for name in a:
        if name.startswith("param."):
            torch.testing.assert_close(b[name], a[name], rtol=0, atol=2e-5, msg=name)
    # one JSON line, from rank 0 only
    assert len([line for line in two.stdout.splitlines() if line.startswith("{")]) == 1


def test_a_shard_draws_exactly_its_slice_of_the_batch():
    cfg = replace(MetaConfig(**PRESETS["quick"]), batch_size=6)
    full, full_noise = meta.draw_batch(cfg, 4)
    part, part_noise = meta.draw_batch(cfg, 4, Shard(1, 3, 6))
    assert torch.equal(part.omega, full.omega[2:4]) and torch.equal(part.xyz, full.xyz[2:4])
    assert isinstance(full_noise, PerTask) and len(part_noise) == 2
    assert torch.equal(part_noise.generators[0].get_state(), full_noise.generators[2].get_state())
    # the legacy scheme keeps one generator pair per batch and refuses to be split
    legacy = replace(cfg, draws="batch")
    assert isinstance(meta.draw_batch(legacy, 4)[1], torch.Generator)
    with pytest.raises(ValueError, match="draws='task'"):
        meta.draw_batch(legacy, 4, Shard(0, 2, 6))


def test_per_task_draws_do_not_depend_on_the_batch():
    from robo_l2l.functional import draws

    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    full = draws.randn((3, 4, 5), PerTask(gens))
    gens = [torch.Generator().manual_seed(s) for s in (2, 3)]
    assert torch.equal(draws.randn((2, 4, 5), PerTask(gens)), full[1:])
    with pytest.raises(ValueError, match="task axis first"):
        draws.randn((4, 5), PerTask(gens))

    # across a refill of the blocks drawn ahead, rows still follow their own generator alone
    def sequence(seeds):
        per_task = PerTask([torch.Generator().manual_seed(s) for s in seeds])
        return [draws.randn((len(seeds), n), per_task) for n in (draws.BLOCK - 10, 30, 5)]

    for a, b in zip(sequence((1, 2, 3)), sequence((2, 3)), strict=True):
        assert torch.equal(a[1:], b)


def test_a_batch_that_does_not_split_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        Shard(0, 3, 16)
    env = {**os.environ, "WORLD_SIZE": "3", "RANK": "0", "LOCAL_RANK": "0"}
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--out", str(out), *ARGS]
    r = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "16 tasks does not split evenly over 3 processes" in r.stderr
    assert not out.exists()


def test_legacy_configs_keep_drawing_per_batch():
    assert MetaConfig.from_dict({"rule": "readout"}).draws == "batch"
    assert MetaConfig().draws == "task"
    with pytest.raises(ValueError, match="unknown draws"):
        MetaConfig(draws="rank")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_a_dead_rank_stops_the_others_and_the_run_resumes_on_another_world_size(tmp_path):
    """Kill rank 1 after the first checkpoint: the launch ends with an error instead of
    hanging, and --resume finishes the run on one process (draws keyed per task)."""
    import signal
    import time

    out = tmp_path / "run"
    extra = ["--iterations", "8", "--validate-every", "2"]
    script = [str(ROOT / "scripts" / "train.py"), "--out", str(out), *ARGS, *extra]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.Popen(
        [*launcher, "--nproc-per-node", "2", *script, "--collective-timeout", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "state.safetensors").exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        ranks = {}
        for pid in workers:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            rank = next(e for e in environ if e.startswith(b"RANK=")).split(b"=")[1]
            ranks[int(rank)] = pid
        os.kill(ranks[1], signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = proc.communicate(timeout=120)
        assert time.monotonic() - killed < 90  # not the 30-minute default, not forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "rank 1" in stderr or "local_rank: 1" in stderr or "exitcode: -9" in stderr, stderr
    done_before = load_tensors(out / "state.safetensors")[1]["iteration"]
    assert 2 <= done_before < 8
    resumed = _train(out, 1, "--iterations", "8", "--validate-every", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_tensors(out / "state.safetensors")[1]["iteration"] == 8
    rows = read_metrics(out / METRICS)
    assert [r["iteration"] for r in rows if r["kind"] == "train"] == list(range(8))
