"""Time the few-shot classifier: episodes at batch 1 and meta-training iterations at batch 32.

    python benchmarks/bench_fewshot.py [--repeats 5] [--threads 1] [--meta-batch 32] [--workers 2] [--out DIR]

Episode: 5-way 5-shot 5-query, 4 readout updates, meta-batch of 1, ideal and PCM (the
reference's PCMNoise model). "instrumented" also evaluates the query set before and after every
update (as the authors' measured 0.25 s ideal / 0.66-0.85 s PCM); "final" only after the last
update (as their own loop: 0.14 s / 0.44 s). Meta-iteration: forward + second-order backward of
one meta-batch, ideal and PCM, each in a fresh process so that its peak resident memory
(``VmHWM``, which unlike ``ru_maxrss`` does not inherit the parent's peak across exec) is
its own. Uses the authors' checkpoint when found in ../shared/reference,
random weights of the same shapes otherwise (timings do not depend on the values). Also
reports the PCM episode's floor: its convolutions' multiply-adds at this machine's sgemm rate
plus its read-noise draws at torch's draw rate. ``--skip-meta`` leaves out the meta-iterations.
Last line: one JSON object (seconds, GB).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
from pathlib import Path

import torch
from bench_inner_loop import best_time, sgemm_rate, write_result  # same folder; a script

from robo_l2l.fewshot import cnn, maml
from robo_l2l.fewshot.checkpoint import load_reference_classifier
from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.fewshot.evaluate import evaluate

CHECKPOINT = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "reference"
    / "fewshot_checkpoint.pickle"
)
#: The authors' code on a 2-core CPU (FEWSHOT.md section 8), seconds.
REFERENCE_S = {
    "episode_ideal_instrumented": 0.25,
    "episode_pcm_instrumented": 0.66,
    "episode_ideal_final": 0.14,
    "episode_pcm_final": 0.44,
    "meta_iteration_ideal_b32": 5.0,
    "meta_iteration_pcm_b32": 12.5,
}


def load_params() -> dict[str, torch.Tensor]:
    if CHECKPOINT.exists():
        return cnn.params_from_reference(load_reference_classifier(CHECKPOINT))
    return cnn.init_params(torch.Generator().manual_seed(0))


def random_episodes(batch: int, seed: int = 0) -> Episodes:
    """Binary stroke-like images in {0, 0.9999}, 5-way 5-shot 5-query, shot-major labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(5).repeat(5).expand(batch, -1).contiguous()

    def images():
        return (torch.rand(batch, 25, 28, 28, generator=g) > 0.08).float() * 0.9999

    return Episodes(images(), labels, images(), labels.clone())


def episode_seconds(pcm_mode: bool, track: bool, repeats: int) -> float:
    params = load_params()
    ep = random_episodes(1)
    pcm = maml.reference_pcm() if pcm_mode else None
    cfg = maml.InnerLoopConfig(track_steps=track)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        return best_time(lambda: maml.inner_loop(params, ep, cfg, pcm, gen), repeats)


def conv_read_draws(passes: int, images: int = 25, channels: int = 56) -> int:
    """Gaussian draws of the convolutions' read noise: one per output of every pass."""
    side, outputs = 28, 0
    for _ in range(4):
        side = (side - 1) // 2 + 1
        outputs += channels * side * side
    return passes * images * outputs


def conv_products_macs(passes: int, images: int = 25, channels: int = 56, sets: int = 2) -> int:
    """Multiply-adds of the convolutions of one PCM episode: two products per layer and pass
    (the outputs ``conv(x, w)`` and their read-noise variances ``conv(x^2, sigma^2)``); the first
    layer's once per distinct image set (support, query), since its input is the same image
    in every pass."""
    side, macs = 28, 0
    for layer in range(4):
        side = (side - 1) // 2 + 1
        per_image = side * side * channels * 9 * (1 if layer == 0 else channels)
        macs += 2 * per_image * images * (sets if layer == 0 else passes)
    return macs


def randn_rate(n: int = 4_000_000, repeats: int = 5) -> float:
    """Standard normal draws per second of torch's CPU generator (the read noise's source)."""
    g, out = torch.Generator().manual_seed(0), torch.empty(n)
    return n / best_time(lambda: out.normal_(generator=g), repeats)


def evaluation_seconds(chunk: int, episodes: int = 50, workers: int = 1) -> float:
    """Per-episode wall time of :func:`robo_l2l.fewshot.evaluate.evaluate` with PCM
    (instrumented, batch statistics per task), ``chunk`` episodes at once; with ``workers``
    processes of one thread each, their start included."""
    params, ep = load_params(), random_episodes(episodes)
    cfg = maml.InnerLoopConfig(track_steps=True, per_task_bn=True)
    pcm = maml.reference_pcm()

    def run():
        evaluate(params, ep, cfg, pcm, seed=0, chunk=chunk, workers=workers, threads=1)

    return best_time(run, 1) / episodes


def peak_rss_gb() -> float:
    """This process's peak resident memory (``VmHWM``; Linux), GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def meta_iteration(pcm_mode: bool, batch: int, repeats: int, threads: int, queue) -> None:
    """Worker: best time of one meta-gradient (forward + backward) and the process's peak RSS."""
    torch.set_num_threads(threads)
    params = {k: v.requires_grad_(True) for k, v in load_params().items()}
    ep = random_episodes(batch)
    pcm = maml.reference_pcm() if pcm_mode else None
    cfg = maml.InnerLoopConfig(track_steps=False)
    gen = torch.Generator().manual_seed(2)

    def step():
        r = maml.inner_loop(params, ep, cfg, pcm, gen)
        torch.autograd.grad(r.query_loss, list(params.values()))

    seconds = best_time(step, repeats)
    peak_gb = peak_rss_gb()
    queue.put((seconds, peak_gb))


def in_fresh_process(*args) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=meta_iteration, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--meta-batch", type=int, default=32)
    parser.add_argument("--meta-repeats", type=int, default=2)
    parser.add_argument("--skip-meta", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=2, help="also time evaluation over 2..N processes"
    )
    parser.add_argument(
        "--worker-episodes", type=int, default=200, help="episodes of the multi-process rows"
    )
    parser.add_argument(
        "--chunk-rounds", type=int, default=3, help="interleaved rounds of chunk 1 vs 50"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: dict = {"threads": args.threads, "checkpoint": CHECKPOINT.exists()}
    for mode in ("ideal", "pcm"):
        for track, label in ((True, "instrumented"), (False, "final")):
            key = f"episode_{mode}_{label}"
            out[key] = episode_seconds(mode == "pcm", track, args.repeats)
            speedup = REFERENCE_S[key] / out[key]
            print(f"{key}: {out[key] * 1e3:.1f} ms per episode ({speedup:.1f}x the reference)")
    # The floor that exact per-read noise sets: 4 support + 5 query passes (instrumented),
    # 4 + 1 (final), each drawing one Gaussian per convolution output.
    out["randn_per_s"] = randn_rate()
    for label, passes in (("instrumented", 9), ("final", 5)):
        draws = conv_read_draws(passes)
        out[f"episode_pcm_{label}_conv_read_draws"] = draws
        out[f"episode_pcm_{label}_draw_seconds"] = draws / out["randn_per_s"]
    print(
        f"torch.randn: {out['randn_per_s'] / 1e6:.0f}M draws/s; a PCM episode draws "
        f"{out['episode_pcm_instrumented_conv_read_draws'] / 1e6:.2f}M (instrumented, "
        f"{out['episode_pcm_instrumented_draw_seconds'] * 1e3:.0f} ms) / "
        f"{out['episode_pcm_final_conv_read_draws'] / 1e6:.2f}M (final, "
        f"{out['episode_pcm_final_draw_seconds'] * 1e3:.0f} ms) for the convolutions' read noise"
    )
    # The floor of the reference's semantics on this machine: the draws above plus the
    # convolutions' multiply-adds at the machine's own dense sgemm rate (1024^3, this many
    # threads), with nothing else (batch norm, deployment, readout) counted.
    out["sgemm_flop_per_s"] = sgemm_rate()
    for label, passes in (("instrumented", 9), ("final", 5)):
        macs = conv_products_macs(passes)
        floor = out[f"episode_pcm_{label}_draw_seconds"] + 2 * macs / out["sgemm_flop_per_s"]
        out[f"episode_pcm_{label}_conv_macs"] = macs
        out[f"episode_pcm_{label}_floor_seconds"] = floor
        print(
            f"PCM episode, {label}: {macs / 1e6:.0f}M multiply-adds at sgemm's "
            f"{out['sgemm_flop_per_s'] / 1e9:.1f} GFLOP/s + the draws = {floor * 1e3:.0f} ms "
            f"floor per process ({REFERENCE_S[f'episode_pcm_{label}'] / floor:.1f}x the "
            f"reference at most; {torch.get_num_threads()} thread(s))"
        )
    # Chunks of 1 and 50 episodes in interleaved rounds (the machine's speed drifts).
    rounds: dict[int, list[float]] = {1: [], 50: []}
    for _ in range(args.chunk_rounds):
        for chunk, times in rounds.items():
            times.append(evaluation_seconds(chunk))
    for chunk, times in rounds.items():
        key = f"evaluate_pcm_chunk{chunk}_per_episode"
        out[key], out[f"{key}_median"] = min(times), statistics.median(times)
        print(
            f"evaluate, PCM, chunk {chunk}: {out[key] * 1e3:.1f} ms per episode (best of "
            f"{len(times)} interleaved rounds; median {out[f'{key}_median'] * 1e3:.1f} ms)"
        )
    for workers in range(2, args.workers + 1):
        key = f"evaluate_pcm_chunk1_workers{workers}_per_episode"
        out[key] = evaluation_seconds(1, args.worker_episodes, workers)
        speedup = REFERENCE_S["episode_pcm_instrumented"] / out[key]
        print(
            f"evaluate, PCM, chunk 1, {workers} processes of 1 thread, {args.worker_episodes} "
            f"episodes: {out[key] * 1e3:.1f} ms per episode ({speedup:.1f}x the reference)"
        )
    if not args.skip_meta:
        b = args.meta_batch
        for mode in ("ideal", "pcm"):
            seconds, peak = in_fresh_process(mode == "pcm", b, args.meta_repeats, args.threads)
            out[f"meta_iteration_{mode}_b{b}"] = seconds
            out[f"meta_iteration_{mode}_b{b}_peak_rss_gb"] = peak
            print(f"meta-iteration {mode} batch {b}: {seconds:.2f} s, peak RSS {peak:.2f} GB")
    out["reference_s"] = REFERENCE_S
    write_result("bench_fewshot", out, args.out)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
