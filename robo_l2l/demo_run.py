"""The main job: a meta-trained controller learns one new trajectory on the chip, then drives
the simulated arm in closed loop before and after the update (:func:`run_demo`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from robo_l2l import deployment as dep
from robo_l2l import device_cost
from robo_l2l.closed_loop import Rollout, run_episode
from robo_l2l.config import MetaConfig
from robo_l2l.controller import ControllerWeights
from robo_l2l.demo_record import MATRICES
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.pcm import DeployedMatrix, PCMConfig
from robo_l2l.tasks import Trajectories


class DemoResult(NamedTuple):
    record: dict[str, Any]  #: the ``demo.npz`` content (:mod:`robo_l2l.demo_record`)
    before: Rollout  #: the closed loop with the weights as deployed (joint angles ``q``, ...)
    after: Rollout  #: the closed loop after the on-chip update(s)


#: title-card line of each task family (robo_l2l.families)
FAMILY_TITLES = {
    "brownian": "Brownian task family (Ortner et al. 2025)",
    "figure8": "figure-8 path",
    "circle": "loops through the home pose",
    "reach": "reach-and-return path",
    "spiral": "spiral path",
}


def conductances(m: DeployedMatrix, pcm: PCMConfig) -> np.ndarray:
    """Signed conductance (uS) of each pair's active device (task 0), programmed then drifted.

    Ideal weights have no devices: they are shown on the same scale, largest |w| -> g_max.
    """
    w = m.weight[0].detach().cpu()
    if pcm.ideal:
        return (w / w.abs().max().clamp_min(1e-30) * pcm.g_max_us).numpy()
    return (w / m.scale[0].detach().cpu() * pcm.g_max_us).numpy()


def run_demo(
    weights: ControllerWeights,
    cfg: MetaConfig,
    target: Trajectories,
    k_updates: int,
    pcm: PCMConfig,
    seed: int,
    family: str = "brownian",
) -> DemoResult:
    """Learn ``target`` (batch of one) with ``k_updates`` on-chip updates on ``pcm``, then drive
    ``RoboL2L/ScorbotTrack-v0`` before and after; the record states the deployment used.

    The env renders nothing: the video (:func:`robo_l2l.video.render_video`) and the GUI
    (:func:`robo_l2l.instrument.watch`) replay the recorded joint angles afterwards, which costs
    less and frames the whole path."""
    from robo_l2l.envs import ScorbotTrackEnv

    rule = InnerRule(cfg.rule, k_updates, cfg.inner_lr)
    device = weights.w_in.device
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    with torch.no_grad():
        learned = inner_loop(weights, target.to(device), rule, pcm, noise)
    env = ScorbotTrackEnv(n_steps=target.omega.shape[1])
    try:
        before = run_episode(env, learned.initial, target, noise)
        after = run_episode(env, learned.deployed, target, noise)
    finally:
        env.close()
    meta = {
        "rule": cfg.rule,
        "k_updates": k_updates,
        "seed": seed,
        "family": family,
        **dep.summary(pcm),
        "tracking_error_before_mm": float(1e3 * before.tracking_error_m.mean()),
        "tracking_error_after_mm": float(1e3 * after.tracking_error_m.mean()),
        "task_loss_before": float(learned.loss_before[0].cpu()),
        "task_loss_after": float(learned.loss_after[0].cpu()),
        "devices_written": int(learned.devices_written.sum().cpu()),
        "clipped_commands": before.clipped_steps + after.clipped_steps,
        "device_cost": device_cost.of_inner_loop(learned, cfg.rule, k_updates),
    }
    signals = (
        learned.learning_signals[0]
        if learned.learning_signals is not None
        else learned.before.output[0].cpu() - target.omega[0]
    )
    record: dict[str, Any] = {
        "target_omega": target.omega[0].numpy(),
        "target_xyz": target.xyz[0].numpy(),
        "omega_before": before.command,
        "omega_after": after.command,
        "xyz_before": before.xyz.astype(np.float32),
        "xyz_after": after.xyz.astype(np.float32),
        "spikes_before": before.spikes,
        "spikes_after": after.spikes,
        "learning_signals": signals.detach().cpu().numpy(),
        "meta": meta,
    }
    if learned.generator_spikes is not None:
        record["generator_spikes"] = learned.generator_spikes[0].cpu().numpy().astype(np.uint8)
    for name in MATRICES:
        record[f"g_before.{name}"] = conductances(learned.initial[name], pcm)
        record[f"g_after.{name}"] = conductances(learned.deployed[name], pcm)
        written = torch.zeros_like(learned.initial[name].weight[0], dtype=torch.bool)
        if name in learned.updates:
            written = learned.updates[name][0] != 0
        record[f"written.{name}"] = written.cpu().numpy()
    return DemoResult(record, before, after)


def video_runs(result: DemoResult) -> tuple[list, object]:
    """The two panels and the title card of the demo video; they name the deployment used."""
    from robo_l2l.video import Run, TitleCard

    meta = result.record["meta"]
    k, rule = meta["k_updates"], meta["rule"]
    if meta["deployment"] == "ideal":
        where = "ideal weights (no devices)"
    else:
        where = f"PCM read {meta['device_age']} after programming, " + (
            "global drift compensation" if meta["drift_compensation"] else "no drift compensation"
        )
    runs = [
        Run("before the update (meta-learned weights)", "as deployed", result.before.q,
            result.record["xyz_before"], 0),
        Run(f"after {k} {rule} e-prop update(s) on the chip", f"after {k} update(s)",
            result.after.q, result.record["xyz_after"], meta["devices_written"]),
    ]  # fmt: skip
    title = TitleCard(
        family=FAMILY_TITLES.get(meta.get("family", "brownian"), "target from a file")
        + f", seed {meta['seed']}",
        device_age=where,
        lines=(
            f"mean tracking error {meta['tracking_error_before_mm']:.0f} mm before, "
            f"{meta['tracking_error_after_mm']:.0f} mm after; "
            f"{meta['devices_written']} devices written",
        ),
    )
    return runs, title
