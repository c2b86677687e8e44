r"""Few-shot evaluation: many episodes, each adapted on its own (meta-batch of 1).

Episodes are run in chunks of ``chunk`` tasks at once with *per-task* batch statistics and
per-task PCM copies, which is the same computation as one meta-batch of 1 per episode (the
README protocol of the authors) without the per-episode Python overhead. Every chunk draws its
device noise from its own generator keyed by ``(seed, chunk index)``, so results do not depend
on what ran before, nor on how many worker processes shared the chunks.

Summary statistics: mean and the 95% confidence half-width :math:`1.96\, s / \sqrt{n}` over
episodes (as the authors report).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.fewshot.maml import ClassifierPCM, InnerLoopConfig, inner_loop


class EvaluationResult(NamedTuple):
    """Per-episode figures (numpy), ``E`` episodes, ``U`` updates."""

    query_accs: np.ndarray  #: (E, U+1) query accuracy before and after each update
    query_losses: np.ndarray  #: (E, U+1)
    devices_written: np.ndarray  #: (E, U) readout devices written per update

    def summary(self) -> dict:
        """Means and 95% CI half-widths (accuracy in %), JSON-ready."""
        acc = self.query_accs * 100
        mean, ci = mean_ci(acc[:, -1])
        return {
            "n_episodes": int(acc.shape[0]),
            "accuracy_per_update": acc.mean(0).tolist(),
            "accuracy_before": float(acc[:, 0].mean()),
            "accuracy_after": mean,
            "accuracy_after_ci95": ci,
            "loss_per_update": self.query_losses.mean(0).tolist(),
            "devices_written_mean": float(self.devices_written.sum(1).mean()),
        }


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% confidence half-width :math:`1.96\\, s/\\sqrt n` (sample sd)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        raise ValueError("no values to summarise")
    sd = values.std(ddof=1) if n > 1 else float("nan")
    return float(values.mean()), float(1.96 * sd / math.sqrt(n))


def chunk_generator(seed: int, chunk: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The device-noise generator of chunk ``chunk`` of an evaluation with ``seed``."""
    return torch.Generator(device=device).manual_seed((seed + 1) * 1_000_000_007 + chunk)


def default_chunk(pcm: ClassifierPCM | None) -> int:
    """Episodes per chunk that evaluate fastest on a CPU: 1 with a device model (50 episodes
    at once, as grouped convolutions with each episode's own kernels, were slower in the best
    and the median of interleaved rounds in every run of ``benchmarks/bench_fewshot.py``:
    README "Speed"), 100 with ideal weights (shared kernels; without noise the chunk changes
    nothing but the speed)."""
    return 100 if pcm is None or pcm.ideal else 1


def evaluate(
    params: dict[str, torch.Tensor],
    episodes: Episodes,
    cfg: InnerLoopConfig = InnerLoopConfig(),
    pcm: ClassifierPCM | None = None,
    seed: int = 0,
    chunk: int | None = None,
    workers: int = 1,
    threads: int = 1,
) -> EvaluationResult:
    """Adapt and evaluate every episode independently (per-task statistics, per-task devices).

    Args:
        params: the classifier's five tensors (no gradients are taken).
        episodes: ``E`` episodes (numpy arrays or tensors, as :class:`Episodes`).
        cfg: inner loop; ``per_task_bn`` is forced on (each episode is its own meta-batch).
        pcm: device model, ``None`` for software weights.
        seed: keys the device noise of every chunk.
        chunk: episodes computed at once (memory vs speed; results depend on it only through
            the noise draws); ``None``: :func:`default_chunk`.
        workers: processes sharing the chunks (contiguous blocks, spawned; 1: this process).
            The results are the same for any number.
        threads: torch threads of each worker process (``workers > 1`` only).
    """
    if chunk is None:
        chunk = default_chunk(pcm)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1, got {workers}, {threads}")
    cfg = replace(cfg, per_task_bn=True, track_steps=True)
    n = len(episodes.support_images)
    n_chunks = -(-n // chunk)
    workers = max(1, min(workers, n_chunks))
    if workers == 1:
        parts = [_evaluate_chunks(params, episodes, cfg, pcm, seed, chunk, 0)]
    else:
        # Contiguous blocks of whole chunks; numpy across the process boundary.
        bounds = [round(i * n_chunks / workers) for i in range(workers + 1)]
        arrays = {k: v.detach().cpu().numpy() for k, v in params.items()}
        jobs = [
            (
                arrays,
                Episodes(*(np.asarray(x[a * chunk : b * chunk]) for x in episodes)),
                cfg,
                pcm,
                seed,
                chunk,
                a,
            )
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=torch.set_num_threads, initargs=(threads,)
        ) as pool:
            parts = list(pool.map(_evaluate_job, jobs))
    accs, losses, written = (np.concatenate(x) for x in zip(*parts, strict=True))
    return EvaluationResult(accs, losses, written.astype(np.int64))


def _evaluate_job(job) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays, episodes, *rest = job
    params = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return _evaluate_chunks(params, episodes, *rest)


def _evaluate_chunks(params, episodes, cfg, pcm, seed, chunk, first_chunk):
    """Chunks ``first_chunk, first_chunk + 1, ...`` of an evaluation: ``episodes`` are theirs."""
    n = len(episodes.support_images)
    accs, losses, written = [], [], []
    with torch.no_grad():
        for c, start in enumerate(range(0, n, chunk), start=first_chunk):
            part = Episodes(*(x[start : start + chunk] for x in episodes))
            r = inner_loop(params, part, cfg, pcm, chunk_generator(seed, c))
            accs.append(r.query_accs.T.double().numpy())
            losses.append(r.query_losses.T.double().numpy())
            written.append(r.devices_written.T.numpy())
    return np.concatenate(accs), np.concatenate(losses), np.concatenate(written)
