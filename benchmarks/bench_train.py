"""Meta-training throughput: meta-iterations per second and peak memory for a preset.

    python benchmarks/bench_train.py --preset paper --seconds 180 --device cuda
    python benchmarks/bench_train.py --preset quick --seconds 60

Runs the training step of ``scripts/train.py`` (no validation, nothing written but the result)
for about ``--seconds`` after one warm-up iteration. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from bench_inner_loop import peak_memory_gb, sync, write_result  # same folder; run as a script

from robo_l2l import cli, meta, parameters
from robo_l2l.config import PRESETS, MetaConfig


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--seconds", type=float, default=180.0, help="timed wall-clock budget")
    parser.add_argument("--batch-size", type=cli.positive_int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    cli.add_device_flag(parser)
    cli.add_threads_flag(parser)
    args = parser.parse_args(argv)
    cli.set_threads(args.threads)
    cfg = replace(MetaConfig(**PRESETS[args.preset]), device=args.device)
    if args.batch_size is not None:
        cfg = replace(cfg, batch_size=args.batch_size)
    params = parameters.init_params(cfg)
    optimizer = meta.make_optimizer(params, cfg)
    meta.meta_step(params, optimizer, cfg, 0)  # warm-up (allocator, kernels)
    sync()
    start, done = time.perf_counter(), 0
    while done < 2 or time.perf_counter() - start < args.seconds:
        meta.meta_step(params, optimizer, cfg, done + 1)
        done += 1
    sync()
    seconds = time.perf_counter() - start
    result = {
        "iterations_per_s": done / seconds,
        "seconds_per_iteration": seconds / done,
        "iterations": float(done),
        "peak_memory_gb": peak_memory_gb(args.device),
        "preset": args.preset,
        "batch_size": cfg.batch_size,
        "rule": cfg.rule,
        "regime": cfg.regime,
        "device": args.device,
    }
    print(
        f"{args.preset} ({cfg.rule}, {cfg.regime}, batch {cfg.batch_size}) on {args.device}: "
        f"{done} meta-iterations in {seconds:.0f} s = {done / seconds:.3f} it/s, "
        f"peak memory {result['peak_memory_gb']:.2f} GB"
    )
    write_result("bench_train", result, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
