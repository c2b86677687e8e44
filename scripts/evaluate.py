"""The evaluation protocol of a meta-trained controller on held-out tasks.

    python scripts/evaluate.py --run readout_hw_quick [--seeds 3] [--batch-size 32]

Writes results/<run>/eval.json (a list of rows) and results/<run>/eval.md, and prints the
table. Rows: software vs PCM deployment; meta-trained vs random initial weights (same inner
rule, the run's starting inner learning rate: no learning-to-learn); quantised vs not; time
after programming 1 s / 1 h / 1 day / 1 year with and without global drift compensation;
devices written per task; for the readout rule, loss after K = 1..5 updates.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from robo_l2l import meta
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import CheckpointFormatError
from robo_l2l.evaluation import evaluate
from robo_l2l.inner_loop import InnerRule
from robo_l2l.pcm import PCMConfig

RESULTS = Path(__file__).resolve().parents[1] / "results"
TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 day": 86400.0, "1 year": 365 * 86400.0}


def protocol(cfg: meta.MetaConfig) -> list[dict]:
    """The rows to evaluate: (init, deployment name, PCMConfig, k_updates)."""
    pcm = meta.pcm_deployment(cfg)
    t_default = pcm.t_inference_s
    k = cfg.k_updates
    rows = [
        ("meta", "software", PCMConfig.ideal_weights(), k),
        ("meta", "pcm", pcm, k),
        ("meta", "pcm", replace(pcm, update_levels=0), k),
        ("random", "software", PCMConfig.ideal_weights(), k),
        ("random", "pcm", pcm, k),
    ]
    for t in TIMES.values():
        for comp in (False, True):
            if t != t_default or comp:
                rows.append(
                    ("meta", "pcm", replace(pcm, t_inference_s=t, drift_compensation=comp), k)
                )
    if cfg.rule == "readout":
        for kk in range(1, 6):
            if kk != k:
                rows.append(("meta", "pcm", pcm, kk))
                rows.append(("meta", "software", PCMConfig.ideal_weights(), kk))
    return rows


def run_protocol(weights, cfg: meta.MetaConfig, seeds: list[int], batch_size: int) -> list[dict]:
    random_weights = meta.controller(
        meta.init_params(cfg, torch.Generator().manual_seed(987_654)), detach=True
    )
    out = []
    for init, deployment, pcm, k in protocol(cfg):
        w = weights if init == "meta" else random_weights
        rule = InnerRule(cfg.rule, k, cfg.inner_lr)
        per_seed = [evaluate(w, rule, pcm, 1, batch_size, seed) for seed in seeds]
        before = torch.tensor([s.loss_before[0] for s in per_seed], dtype=torch.float64)
        after = torch.tensor([s.loss_after[0] for s in per_seed], dtype=torch.float64)
        devices = torch.tensor([s.devices_written[0] for s in per_seed], dtype=torch.float64)
        out.append(
            {
                "rule": cfg.rule,
                "deployment": deployment,
                "init": init,
                "k_updates": k,
                "quantised": pcm.quantised,
                "time_after_programming_s": None if pcm.ideal else pcm.t_inference_s,
                "drift_compensation": pcm.drift_compensation,
                "loss_before_mean": before.mean().item(),
                "loss_before_std": before.std().item() if len(seeds) > 1 else 0.0,
                "loss_after_mean": after.mean().item(),
                "loss_after_std": after.std().item() if len(seeds) > 1 else 0.0,
                "devices_written_mean": devices.mean().item(),
                "n_tasks": batch_size * len(seeds),
                "seeds": seeds,
            }
        )
    return out


def markdown(rows: list[dict]) -> str:
    head = (
        "| rule | deployment | init | K | quantised | t after programming | drift comp. "
        "| loss before | loss after | devices/task |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        t = r["time_after_programming_s"]
        t_text = "-" if t is None else next((k for k, v in TIMES.items() if v == t), f"{t:g} s")
        lines.append(
            f"| {r['rule']} | {r['deployment']} | {r['init']} | {r['k_updates']} | "
            f"{'yes' if r['quantised'] else 'no'} | {t_text} | "
            f"{'yes' if r['drift_compensation'] else 'no'} | "
            f"{r['loss_before_mean']:.4f} ± {r['loss_before_std']:.4f} | "
            f"{r['loss_after_mean']:.4f} ± {r['loss_after_std']:.4f} | "
            f"{r['devices_written_mean']:.0f} |"
        )
    n = rows[0]["n_tasks"] if rows else 0
    return (
        f"Held-out tasks: {n} per row ({len(rows[0]['seeds']) if rows else 0} seeds); "
        "mean ± std over seeds; task loss without regularisers.\n\n"
        + head
        + "\n".join(lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder name under results/ or a path")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--seeds", type=int, default=3, help="held-out seeds (>= 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="tasks per seed")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.batch_size < 1:
        parser.error("--seeds and --batch-size must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.run) if Path(args.run).is_dir() else args.results / args.run
    try:
        weights, cfg, _ = meta.load_controller(run_dir / "controller.safetensors")
    except (FileNotFoundError, CheckpointFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seeds = [100 + s for s in range(args.seeds)]
    rows = run_protocol(weights, cfg, seeds, args.batch_size)
    table = markdown(rows)
    atomic_write_text(run_dir / "eval.json", json.dumps(rows, indent=1) + "\n")
    atomic_write_text(run_dir / "eval.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
