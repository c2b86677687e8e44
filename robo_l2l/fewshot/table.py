"""The few-shot evaluation table: which deployments, which episodes, one row each.

A row is a deployment (ideal weights, or the classifier's PCM model at a device age with or
without drift compensation) evaluated on ``n`` test episodes, each episode adapted on its own
(:func:`robo_l2l.fewshot.evaluate.evaluate`). Figures are query accuracies in percent, mean and
95% confidence half-width :math:`1.96\\, s / \\sqrt n` over episodes, before and after each
readout update, and the readout devices written per episode (all updates).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.fewshot.evaluate import evaluate, mean_ci
from robo_l2l.fewshot.maml import ClassifierPCM, InnerLoopConfig, reference_pcm
from robo_l2l.fewshot.sampler import sample_episodes

DAY_S = 86_400.0
YEAR_S = 365.25 * DAY_S
AGES_S = {"32 s": 32.0, "1 day": DAY_S, "1 year": YEAR_S}
"""Device ages of the table (time between programming and reading)."""


def deployment(mode: str, t_inference_s: float = 32.0, compensation: bool = False):
    """``ideal`` -> ``None``; ``pcm`` -> the classifier's PCM model at ``t_inference_s``.

    ``compensation``: global drift compensation of every tensor (a digital gain per matrix,
    :class:`robo_l2l.pcm.PCMConfig`).
    """
    if mode == "ideal":
        return None
    if mode != "pcm":
        raise ValueError(f"deployment must be 'ideal' or 'pcm', got {mode!r}")
    pcm = reference_pcm(t_inference_s)
    if compensation:
        pcm = ClassifierPCM(
            replace(pcm.conv, drift_compensation=True),
            replace(pcm.readout, drift_compensation=True),
        )
    return pcm


def test_episodes(
    images: np.ndarray, way: int, shot: int, query: int, n: int, seed: int
) -> Episodes:
    """``n`` episodes of distinct classes and drawings, keyed by ``(seed, way, shot, query)``."""
    rng = np.random.default_rng([seed, way, shot, query])
    return sample_episodes(images, way, shot, query, n, rng)


def row(
    params: dict[str, torch.Tensor],
    episodes: Episodes,
    pcm: ClassifierPCM | None,
    inner: InnerLoopConfig = InnerLoopConfig(),
    seed: int = 0,
    chunk: int | None = None,
    workers: int = 1,
    threads: int = 1,
) -> dict:
    """Evaluate one deployment; JSON-ready figures (accuracy in %). ``workers`` processes of
    ``threads`` threads share the chunks (:func:`robo_l2l.fewshot.evaluate.evaluate`)."""
    r = evaluate(params, episodes, inner, pcm, seed, chunk, workers, threads)
    acc = r.query_accs * 100
    per_update = [mean_ci(acc[:, u]) for u in range(acc.shape[1])]
    written = r.devices_written.sum(1)
    written_mean, written_ci = mean_ci(written)
    return {
        "n_episodes": int(acc.shape[0]),
        "accuracy_before": per_update[0][0],
        "accuracy_after": per_update[-1][0],
        "accuracy_after_ci95": per_update[-1][1],
        "accuracy_per_update": [m for m, _ in per_update],
        "accuracy_per_update_ci95": [c for _, c in per_update],
        "loss_per_update": r.query_losses.mean(0).tolist(),
        "devices_written_mean": written_mean,
        "devices_written_ci95": written_ci,
        "devices_written_per_update": r.devices_written.mean(0).tolist(),
    }
