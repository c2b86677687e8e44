"""The meta-training loop of a run folder: validate, checkpoint, keep the best, resume.

A run folder holds ``config.json``, ``metrics.jsonl`` (one row per iteration, plus validation
rows), ``state.safetensors`` (weights + Adam, for resuming) and ``controller.safetensors``
(weights only: the best on the held-out validation set so far). Files are written atomically
and the folder is locked (:class:`~robo_l2l.run_folder.RunLock`) while a process trains in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from robo_l2l import meta
from robo_l2l.atomic import atomic_write_text
from robo_l2l.checkpoint import CheckpointFormatError, load_tensors, save_tensors
from robo_l2l.config import MetaConfig
from robo_l2l.controller_file import checked_params
from robo_l2l.deployment import describe, format_age
from robo_l2l.distributed import Shard
from robo_l2l.evaluation import evaluate
from robo_l2l.optimizer_state import optimizer_tensors, restore_optimizer
from robo_l2l.parameters import controller, init_params
from robo_l2l.run_folder import RunLock, check_output_folder

CONTROLLER = "controller.safetensors"
STATE = "state.safetensors"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
VALIDATION_SEED_OFFSET = 10_000  #: held-out validation tasks are seeded by 10_000 + cfg.seed

#: Fields that may differ between a run and its resumption (they change no number).
RESUMABLE_CHANGES = ("iterations", "threads")


def validate(params: dict[str, torch.Tensor], cfg: MetaConfig) -> dict[str, float]:
    """Held-out loss before/after the inner update(s) on the run's deployment (fixed tasks;
    over the run's device-age range when it trains over ages). An agnostic run never meets the
    PCM model: it validates with its generic perturbations."""
    pcm = meta.training_deployment(cfg) if cfg.regime == "agnostic" else cfg.deployment
    stats = evaluate(
        controller(params, detach=True),
        meta.inner_rule(cfg),
        pcm,
        cfg.val_batches,
        cfg.val_batch_size,
        seed=VALIDATION_SEED_OFFSET + cfg.seed,
        age_range=cfg.age_range,
    )
    s = stats.summary()
    return {
        "val_loss_before": s["loss_before_mean"],
        "val_loss_after": s["loss_after_mean"],
        "val_devices_written": s["devices_written_mean"],
    }


def describe_validation(cfg: MetaConfig) -> str:
    """What :func:`validate` runs on, in words."""
    if cfg.regime == "agnostic":
        pcm = meta.training_deployment(cfg)
        return (
            f"generic perturbations, no PCM model (weight noise {pcm.weight_noise:g} of scale, "
            f"updates rounded to 1/{pcm.update_levels})"
        )
    text = describe(cfg.deployment)
    if cfg.age_range is not None:
        low, high = cfg.age_range
        age = f"{format_age(cfg.deployment.t_inference_s)} after programming"
        text = text.replace(
            age, f"device ages {format_age(low)} to {format_age(high)} (log-uniform per task)"
        )
    return text


def best_validation(run_dir: Path) -> float | None:
    """Held-out loss of the controller saved so far (None before the first)."""
    path = run_dir / CONTROLLER
    if not path.exists():
        return None
    val = load_tensors(path)[1].get("validation")
    return None if val is None else float(val["val_loss_after"])


def save_checkpoint(
    run_dir: Path,
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Adam,
    cfg: MetaConfig,
    iteration: int,
    val: dict[str, float] | None,
) -> bool:
    """Write the training state; replace the controller when ``val`` is the best so far.

    The controller goes first: a kill between the two writes leaves the previous state, so a
    resume recomputes this iteration (the same numbers) and finds its controller already
    saved. The other order left a state past a best controller that was never written, and
    the resumed run then shipped another iteration (seen as a flaky SIGKILL test).
    Returns whether the controller was replaced.
    """
    moments, step = optimizer_tensors(params, optimizer)
    named = {f"param.{k}": v for k, v in params.items()}
    meta_data = {"config": json.loads(cfg.to_json()), "iteration": iteration, "validation": val}
    best = best_validation(run_dir)
    improved = val is not None and (best is None or val["val_loss_after"] < best)
    replaced = improved or not (run_dir / CONTROLLER).exists()
    if replaced:
        save_tensors(run_dir / CONTROLLER, named, meta_data)
    save_tensors(
        run_dir / STATE,
        {**named, **moments},
        {
            **meta_data,
            "adam_step": step,
            "best_val_loss_after": val["val_loss_after"] if improved else best,
        },
    )
    return replaced


def read_metrics(path: Path) -> list[dict]:
    """The rows of ``metrics.jsonl``; a torn last line (no final newline: a process killed
    mid-write) is skipped.

    Any other malformed line raises ``ValueError`` naming the file and line.
    """
    text = path.read_text()
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "iteration" not in row or "kind" not in row:
                raise ValueError("no JSON object with 'iteration' and 'kind'")
        except ValueError as exc:
            if i == len(lines) - 1 and not text.endswith("\n"):
                break  # torn by a kill (or being written now): no final newline
            raise ValueError(f"{path}, line {i + 1}: not a metrics row: {exc}") from exc
        rows.append(row)
    return rows


def truncate_metrics(path: Path, iteration: int) -> None:
    """Drop rows a killed run wrote after its checkpoint at ``iteration`` (and a torn line)."""
    if not path.exists():
        return

    def before_checkpoint(row: dict) -> bool:
        # the validation at the checkpoint's own iteration was written just before it
        limit = iteration + 1 if row["kind"] == "val" else iteration
        return row["iteration"] < limit

    keep = [row for row in read_metrics(path) if before_checkpoint(row)]
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in keep))


def _load_state(run_dir: Path, cfg: MetaConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """The training state to resume from, checked against ``cfg``."""
    state_path = run_dir / STATE
    tensors, info = load_tensors(state_path)
    try:
        saved = MetaConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{state_path}: no valid run config: {exc}") from exc
    differ = [
        k
        for k in cfg.__dict__
        if k not in RESUMABLE_CHANGES and getattr(saved, k) != getattr(cfg, k)
    ]
    if differ:
        raise ValueError(
            f"{state_path} was written by another configuration; differing fields: "
            + ", ".join(differ)
        )
    return tensors, info


def _apply_state(
    state: tuple[dict[str, torch.Tensor], dict],
    cfg: MetaConfig,
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Adam,
    source: Path,
) -> int:
    tensors, info = state
    saved_params = checked_params(tensors, cfg, source, cfg.device)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(saved_params[name])
    restore_optimizer(params, optimizer, tensors, int(info["adam_step"]))
    return int(info["iteration"])


def _prepare(run_dir: Path, cfg: MetaConfig, resume: bool):
    """Check the folder for this start (under its lock); the state to resume from, if any."""
    held = [name for name in (CONTROLLER, STATE) if (run_dir / name).exists()]
    if resume and not (run_dir / STATE).exists():
        raise FileNotFoundError(f"no training state {run_dir / STATE} to resume")
    if not resume and held:
        raise FileExistsError(
            f"{run_dir} already holds {' and '.join(held)}; pass --resume to continue it "
            "or choose another output folder"
        )
    return _load_state(run_dir, cfg) if resume else None


def train(
    cfg: MetaConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    progress: Callable[[int, dict], None] | None = None,
    shard: Shard | None = None,
) -> dict[str, float]:
    """Train (or resume) the run in ``run_dir``; returns the last validation metrics.

    ``progress(iteration_done, row)`` is called after every meta-iteration. A folder that
    already holds a controller or training state is refused unless ``resume``; a folder another
    process is training in raises :class:`~robo_l2l.run_folder.FolderLockedError`.

    Split over processes (``shard``, see :mod:`robo_l2l.distributed`), rank 0 alone touches the
    folder: it checks and locks it, reads the state to resume and sends it to the other ranks
    (the folder need not be shared between machines), validates and writes metrics and
    checkpoints; a failure on rank 0 before training reaches every rank as an error.
    """
    shard = shard or Shard(batch_size=cfg.batch_size)
    if shard.batch_size != cfg.batch_size:
        raise ValueError(f"shard of {shard.batch_size} tasks for a batch of {cfg.batch_size}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    if shard.distributed and cfg.draws != "task":
        raise ValueError(
            "a run split over processes needs draws='task' (a config with draws='batch' "
            "trains on one process only)"
        )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    with contextlib.ExitStack() as stack:
        state = failure = None
        if shard.is_main:
            try:
                run_dir = check_output_folder(run_dir)
                stack.enter_context(RunLock(run_dir))
                state = _prepare(run_dir, cfg, resume)
            except Exception as exc:  # reaches the other ranks below, then re-raised here
                failure = exc
        with shard.peers("starting the run"):
            message = shard.broadcast(None if failure is None else f"{failure}")
            if message is None:
                state = shard.broadcast(state)
        if failure is not None:
            raise failure
        if message is not None:
            raise RuntimeError(f"rank 0 could not start the run: {message}")
        torch.manual_seed(cfg.seed)
        params = init_params(cfg)
        optimizer = meta.make_optimizer(params, cfg)
        start = 0 if state is None else _apply_state(state, cfg, params, optimizer, run_dir / STATE)
        if shard.is_main:
            atomic_write_text(run_dir / CONFIG, cfg.to_json() + "\n")
            metrics_path = run_dir / METRICS
            if resume:
                truncate_metrics(metrics_path, start)
            elif metrics_path.exists():
                metrics_path.unlink()
        return _loop(cfg, run_dir, params, optimizer, start, progress, shard)


def _loop(cfg, run_dir, params, optimizer, start, progress, shard) -> dict[str, float]:
    val = None
    main = shard.is_main
    with open(run_dir / METRICS, "a") if main else contextlib.nullcontext() as metrics:
        if start == 0 and main:
            val = validate(params, cfg)
            metrics.write(json.dumps({"iteration": 0, "kind": "val", **val}) + "\n")
            metrics.flush()
        for it in range(start, cfg.iterations):
            t0 = time.perf_counter()
            with shard.peers(f"meta-iteration {it}"):
                r = meta.meta_step(params, optimizer, cfg, it, shard)
            done = it + 1
            if not main:
                continue  # rank 0 validates and writes; the others wait for it at the next step
            row = {
                "iteration": it,
                "kind": "train",
                **r._asdict(),
                "lr": meta.outer_lr(cfg, it),
                "seconds": time.perf_counter() - t0,
            }
            metrics.write(json.dumps(row) + "\n")
            if done % cfg.validate_every == 0 or done == cfg.iterations:
                val = validate(params, cfg)
                metrics.write(json.dumps({"iteration": done, "kind": "val", **val}) + "\n")
                metrics.flush()
                os.fsync(metrics.fileno())
                save_checkpoint(run_dir, params, optimizer, cfg, done, val)
            if progress is not None:
                progress(done, {**row, **(val or {})})
    return val or {}
