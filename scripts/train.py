"""Meta-train the spiking controller (learning-to-learn) and write results/<run>/.

    python scripts/train.py --preset quick --run readout_quick
    python scripts/train.py --preset quick --run readout_quick --resume   # continue after a kill
    python scripts/train.py --preset paper --device cuda --run natural_paper

Writes config.json, metrics.jsonl (one row per iteration, plus validation rows), a training
state (state.safetensors: weights + Adam, for --resume) and controller.safetensors (weights
only, the best on the held-out validation set so far: what evaluate.py / demo.py load), all
atomically.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from robo_l2l import meta
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import load_tensors, save_tensors
from robo_l2l.config import MetaConfig, build_parser, config_from_args
from robo_l2l.evaluation import evaluate

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _check_writable(folder: Path) -> None:
    probe = folder / ".write_probe"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"results folder {folder} is not writable: {exc}") from exc


def _params_tensors(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"param.{k}": v for k, v in params.items()}


def validate(params: dict[str, torch.Tensor], cfg: MetaConfig) -> dict[str, float]:
    """Held-out loss before/after the inner update(s) on the PCM model (fixed task set)."""
    stats = evaluate(
        meta.controller(params, detach=True),
        meta.inner_rule(cfg),
        meta.pcm_deployment(cfg),
        cfg.val_batches,
        cfg.val_batch_size,
        seed=10_000 + cfg.seed,
    )
    s = stats.summary()
    return {
        "val_loss_before": s["loss_before_mean"],
        "val_loss_after": s["loss_after_mean"],
        "val_devices_written": s["devices_written_mean"],
    }


def save(
    run_dir: Path,
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Adam,
    cfg: MetaConfig,
    iteration: int,
    val: dict[str, float] | None,
) -> None:
    moments, step = meta.optimizer_tensors(params, optimizer)
    meta_data = {"config": json.loads(cfg.to_json()), "iteration": iteration, "validation": val}
    best = _best_validation(run_dir)
    improved = val is not None and (best is None or val["val_loss_after"] < best)
    best_loss = val["val_loss_after"] if improved else best
    save_tensors(
        run_dir / "state.safetensors",
        {**_params_tensors(params), **moments},
        {**meta_data, "adam_step": step, "best_val_loss_after": best_loss},
    )
    if improved or not (run_dir / "controller.safetensors").exists():
        # the shipped controller is the best one on the held-out validation set
        save_tensors(run_dir / "controller.safetensors", _params_tensors(params), meta_data)


def _best_validation(run_dir: Path) -> float | None:
    """Held-out loss of the controller saved so far (None before the first)."""
    path = run_dir / "controller.safetensors"
    if not path.exists():
        return None
    val = load_tensors(path)[1].get("validation")
    return None if val is None else float(val["val_loss_after"])


def _truncate_metrics(path: Path, iteration: int) -> None:
    """Drop rows a killed run wrote after its last checkpoint."""
    if not path.exists():
        return

    def before_checkpoint(row: dict) -> bool:
        # the validation at the checkpoint's own iteration was written just before it
        limit = iteration + 1 if row["kind"] == "val" else iteration
        return row["iteration"] < limit

    keep = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and before_checkpoint(json.loads(line))
    ]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def main(cfg: MetaConfig, run_dir: Path, resume: bool = False, quiet: bool = False) -> dict:
    """Train (or resume) a run; returns the final validation metrics."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    _check_writable(run_dir)
    state_path = run_dir / "state.safetensors"
    params = meta.init_params(cfg)
    optimizer = meta.make_optimizer(params, cfg)
    start = 0
    if resume:
        tensors, info = load_tensors(state_path)
        saved = MetaConfig.from_dict(info["config"])
        if {**saved.__dict__, "iterations": 0} != {**cfg.__dict__, "iterations": 0}:
            raise ValueError(
                f"{state_path} was written by another configuration; differing fields: "
                + ", ".join(k for k in cfg.__dict__ if getattr(saved, k) != getattr(cfg, k))
            )
        for name, p in params.items():
            key = f"param.{name}"
            if key not in tensors or tensors[key].shape != p.shape:
                raise ValueError(f"{state_path} lacks {key} of shape {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(tensors[key])
        meta.restore_optimizer(params, optimizer, tensors, int(info["adam_step"]))
        start = int(info["iteration"])
    elif state_path.exists():
        raise FileExistsError(
            f"{run_dir} already holds a training state; pass --resume to continue it or choose "
            "another --run"
        )
    atomic_write_text(run_dir / "config.json", cfg.to_json() + "\n")
    metrics_path = run_dir / "metrics.jsonl"
    if resume:
        _truncate_metrics(metrics_path, start)
    elif metrics_path.exists():
        metrics_path.unlink()

    val = None
    with (
        open(metrics_path, "a") as metrics,
        tqdm(
            total=cfg.iterations, initial=start, disable=quiet, dynamic_ncols=True, unit="it"
        ) as bar,
    ):
        if start == 0:
            val = validate(params, cfg)
            metrics.write(json.dumps({"iteration": 0, "kind": "val", **val}) + "\n")
            metrics.flush()
        for it in range(start, cfg.iterations):
            t0 = time.perf_counter()
            r = meta.meta_step(params, optimizer, cfg, it)
            row = {
                "iteration": it,
                "kind": "train",
                **r._asdict(),
                "lr": meta.outer_lr(cfg, it),
                "seconds": time.perf_counter() - t0,
            }
            metrics.write(json.dumps(row) + "\n")
            done = it + 1
            if done % cfg.validate_every == 0 or done == cfg.iterations:
                val = validate(params, cfg)
                metrics.write(json.dumps({"iteration": done, "kind": "val", **val}) + "\n")
                metrics.flush()
                os.fsync(metrics.fileno())
                save(run_dir, params, optimizer, cfg, done, val)
            bar.set_postfix(
                loss=f"{r.loss:.4f}",
                after=f"{r.loss_after:.4f}",
                val=f"{val['val_loss_after']:.4f}" if val else "-",
            )
            bar.update(1)
    return val or {}


def cli(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--run", default=None, help="run name: results/<run>/ (default: preset_rule)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--resume", action="store_true", help="continue results/<run>/")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        run_dir = args.results / (args.run or f"{args.preset}_{cfg.rule}")
        val = main(cfg, run_dir, resume=args.resume, quiet=args.quiet)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"run": str(run_dir), **val}))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
