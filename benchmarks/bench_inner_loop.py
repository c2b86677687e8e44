"""Time the inner loop and a meta-gradient step at batch 90 against a plain sgemm.

    python benchmarks/bench_inner_loop.py [--batch-size 90] [--repeats 3]

Uses the published checkpoint when ``--checkpoint`` is given (or found in ../shared/reference),
random weights of the same shapes otherwise (the timing does not depend on the values much, the
firing rate does: the published weights fire at ~20 Hz). Last line: one JSON object (seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from robo_l2l import cli
from robo_l2l.controller import ControllerWeights, controller_from_reference
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.parameters import init_controller
from robo_l2l.pcm import PCMConfig
from robo_l2l.tasks import N_STEPS, sample_trajectories

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / ".." / "shared" / "reference" / "rapid_learning_robot_checkpoint.pickle"


def sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def best_time(fn, repeats: int) -> float:
    """Best of ``repeats`` timings (s) of ``fn()`` after one warm-up call (CUDA synchronised)."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory_gb(device: str) -> float:
    """Peak memory so far (GB): CUDA allocator peak, or the process's peak resident set."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 1e9
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; ``platform.processor()`` elsewhere): timings
    and even float rounding of some kernels differ between machines of the same size."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def write_result(name: str, result: dict, out: Path | None) -> Path:
    """Write ``result`` as ``<out>/<name>.json`` and ``.md`` (default runs/bench/<name>-<time>/),
    with the machine it was measured on, so that README figures trace to a file."""
    import os
    import platform

    from robo_l2l.atomic import atomic_write_text
    from robo_l2l.run_folder import timestamp

    out = out or ROOT / "runs" / "bench" / f"{name}-{timestamp()}"
    machine = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "load_average_1min": os.getloadavg()[0],
    }
    record = {"benchmark": name, "machine": machine, "result": result}
    atomic_write_text(out / f"{name}.json", json.dumps(record, indent=1) + "\n")
    rows = "".join(f"| {k} | {v:.6g} |\n" for k, v in result.items() if isinstance(v, float))
    text = (
        f"{name} on {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"{machine['torch_threads']} torch threads, "
        f"load {machine['load_average_1min']:.2f}\n\n| what | value |\n|---|---|\n{rows}"
    )
    atomic_write_text(out / f"{name}.md", text)
    return out


def dense_equivalent_flops(batch: int, natural: bool, n: int = 250, n_lsg: int = 800) -> float:
    """FLOPs of the inner loop if every product were dense (one update, two trials)."""
    t = N_STEPS
    trainee = 2 * t * 2 * batch * (n * n + 5 * n + 2 * n)  # two trials
    if not natural:
        return trainee + 2 * batch * t * n * 2
    generator = 2 * t * batch * (n_lsg * n_lsg + 53 * n_lsg + n_lsg * n)
    eprop = 2 * batch * t * n * (n + 5)
    return trainee + generator + eprop


def sgemm_rate(size: int = 1024) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = best_time(lambda: a @ b, 5)
    return 2 * size**3 / seconds


def meta_iterations(repeats: int, device: str = "cpu") -> dict[str, float]:
    """Seconds per meta-iteration: rules x regimes, at batch 90 and at the quick preset."""
    from dataclasses import replace
    from functools import partial

    from robo_l2l import meta as meta_mod
    from robo_l2l import parameters
    from robo_l2l.config import PRESETS, MetaConfig

    out = {}
    print(f"{'meta-iteration':<34} {'s/it':>7} {'it/s':>7}")
    for preset, batch in (("paper", 90), ("quick", None)):
        for rule, k in (("natural", 1), ("readout", 5)):
            for regime in ("hardware", "software"):
                base = MetaConfig(**PRESETS[preset]) if preset == "quick" else MetaConfig()
                cfg = replace(
                    base,
                    rule=rule,
                    k_updates=k,
                    regime=regime,
                    batch_size=batch or base.batch_size,
                    device=device,
                )
                params = parameters.init_params(cfg)
                opt = meta_mod.make_optimizer(params, cfg)
                step = partial(meta_mod.meta_step, params, opt, cfg)
                counter = iter(range(10_000))
                seconds = best_time(lambda step=step, c=counter: step(next(c)), repeats)
                key = f"meta_{rule}_{regime}_batch{cfg.batch_size}"
                out[key] = seconds
                print(f"{key:<34} {seconds:>7.2f} {1 / seconds:>7.2f}")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument(
        "--meta",
        action="store_true",
        help="also time meta-iterations of both rules and regimes (batch 90 and the quick preset)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    cli.add_device_flag(parser)
    args = parser.parse_args(argv)
    device = args.device
    if args.checkpoint.exists():
        weights = controller_from_reference(args.checkpoint).to(device)
        source = "published checkpoint"
    else:
        weights = init_controller(torch.Generator().manual_seed(0), natural=True).to(device)
        source = "random initial weights"
    tasks = sample_trajectories(args.batch_size, torch.Generator().manual_seed(0))
    natural = InnerRule("natural")

    def run(cfg: PCMConfig, grad: bool = False) -> None:
        w = weights
        if grad:
            w = ControllerWeights(
                *(x.detach().requires_grad_() if x is not None else None for x in weights)
            )
        with torch.set_grad_enabled(grad):
            noise = torch.Generator(device=device).manual_seed(1)
            r = inner_loop(w, tasks, natural, cfg, noise)
            if grad:
                (r.loss_after.mean() + r.regularizer).backward()

    results = {
        "inner_loop_pcm": best_time(lambda: run(PCMConfig.reference()), args.repeats),
        "inner_loop_ideal": best_time(lambda: run(PCMConfig.ideal_weights()), args.repeats),
        "meta_step_pcm": best_time(lambda: run(PCMConfig.reference(), grad=True), args.repeats),
        # after the meta-step: the peak includes its autograd graph
        "peak_memory_gb": peak_memory_gb(device),
    }
    if args.meta:
        results |= meta_iterations(args.repeats, device)
    rate = sgemm_rate()
    flops = dense_equivalent_flops(args.batch_size, natural=True)
    reference = {"inner_loop_pcm": 63.0, "inner_loop_ideal": 6.5, "meta_step_pcm": 83.0}
    print(f"batch {args.batch_size}, {source}, {device}, {torch.get_num_threads()} threads")
    print(
        f"peak memory {results['peak_memory_gb']:.2f} GB ({'CUDA' if device == 'cuda' else 'RSS'})"
    )
    print(f"sgemm 1024^3: {rate / 1e9:.1f} GFLOP/s")
    print(f"{'what':<18} {'seconds':>8} {'vs reference':>13} {'dense-equiv. GFLOP/s':>21}")
    for key, seconds in results.items():
        if key not in reference:
            continue
        work = flops * (3 if key.startswith("meta") else 1)  # backward ~ 2x forward
        print(
            f"{key:<18} {seconds:>8.2f} {reference[key] / seconds:>12.1f}x "
            f"{work / seconds / 1e9:>12.1f} ({work / seconds / rate:.0%} of sgemm)"
        )
    results["device"] = device
    results["batch_size"] = args.batch_size
    results["weights"] = source
    write_result("bench_inner_loop", results, args.out)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
