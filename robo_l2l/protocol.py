"""The evaluation protocol of a meta-trained controller: which rows, how many batches, tables.

Every row is evaluated on ``n`` independent batches of held-out tasks (batch ``i`` seeded by
``seeds[i]``: its tasks and its device noise), reported as mean, std over batches and a 95%
confidence interval (:mod:`robo_l2l.statistics`). The rows come from one list,
:func:`protocol_rows`: software vs PCM, meta-trained vs random initial weights (same rule, the
run's starting inner learning rate: no learning-to-learn), quantised vs not, every device age of
:data:`AGES_S` with and without global drift compensation, and for the readout rule K = 1..5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from robo_l2l.config import MAX_SEED, MetaConfig
from robo_l2l.controller import ControllerWeights
from robo_l2l.deployment import format_age
from robo_l2l.evaluation import evaluate
from robo_l2l.inner_loop import InnerRule
from robo_l2l.pcm import PCMConfig
from robo_l2l.statistics import summarize

#: Device ages of the protocol (s): 1 s, 32 s, 1 h, 1 day, 1 month, 1 year.
AGES_S = (1.0, 32.0, 3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0)
#: Inner-update counts of the readout rule's K sweep.
READOUT_K = (1, 2, 3, 4, 5)
MIN_BATCHES = 10  #: the protocol's minimum (README figures); fewer is a smoke run
DEFAULT_FIRST_SEED = 100
#: Device-cost figures of a row (robo_l2l.device_cost): pulses and programming energy per task
#: (PCM rows; ``None`` for software rows), MVMs of one trial and the updates' digital arithmetic.
PULSE_KEYS = ("reset_pulses", "set_pulses", "programming_energy_nj")
COST_KEYS = (
    *PULSE_KEYS,
    "trial_macs",
    "trial_energy_analog_nj",
    "trial_energy_digital_nj",
    "update_macs",
    "update_arithmetic_nj",
)


@dataclass(frozen=True)
class Row:
    init: str  #: "meta" (the controller) or "random" (random initial weights)
    pcm: PCMConfig  #: the deployment of this row
    k_updates: int


#: Row sets of :func:`protocol_rows`: every row, or only those of the device-age sweep.
ROW_SETS = ("all", "ages")


def protocol_rows(cfg: MetaConfig, base: PCMConfig, row_set: str = "all") -> list[Row]:
    """The rows for a run of config ``cfg`` deployed as ``base`` (the run's or overridden).

    ``row_set="ages"``: only the meta-trained controller with ideal weights and on ``base``,
    random initial weights on ``base``, and every device age with and without drift
    compensation (no unquantised or ideal random rows, no K sweep)."""
    if row_set not in ROW_SETS:
        raise ValueError(f"unknown row set {row_set!r}; choose one of {ROW_SETS}")
    k = cfg.k_updates
    ideal = PCMConfig.ideal_weights()
    if base.ideal:
        rows = [Row("meta", ideal, k), Row("random", ideal, k)]
    elif row_set == "ages":
        rows = [Row("meta", ideal, k), Row("meta", base, k), Row("random", base, k)]
    else:
        rows = [
            Row("meta", ideal, k),
            Row("meta", base, k),
            Row("meta", replace(base, update_levels=0), k),
            Row("random", ideal, k),
            Row("random", base, k),
        ]
    if not base.ideal:
        for t in AGES_S:
            for comp in (False, True):
                pcm = replace(base, t_inference_s=t, drift_compensation=comp)
                if pcm != base:
                    rows.append(Row("meta", pcm, k))
    if cfg.rule == "readout" and row_set == "all":
        for kk in READOUT_K:
            if kk != k:
                if not base.ideal:
                    rows.append(Row("meta", base, kk))
                rows.append(Row("meta", ideal, kk))
    return rows


def row_key(row: Row) -> tuple:
    return (row.init, row.pcm, row.k_updates)


def run_protocol(
    weights: ControllerWeights,
    random_weights: ControllerWeights,
    cfg: MetaConfig,
    rows: Sequence[Row],
    seeds: Sequence[int],
    batch_size: int,
    progress: Callable[[int, int, Row], None] | None = None,
    family: str = "brownian",
) -> list[dict]:
    """Evaluate every row on one batch of ``batch_size`` tasks of ``family`` per seed;
    JSON-ready dicts."""
    if not seeds or batch_size < 1:
        raise ValueError(f"need >= 1 seed and batch_size >= 1, got {len(seeds)}, {batch_size}")
    out = []
    for i, row in enumerate(rows):
        if progress is not None:
            progress(i, len(rows), row)
        w = weights if row.init == "meta" else random_weights
        rule = InnerRule(cfg.rule, row.k_updates, cfg.inner_lr)
        per_batch = [evaluate(w, rule, row.pcm, 1, batch_size, seed, family) for seed in seeds]
        before = summarize([s.loss_before[0] for s in per_batch])
        after = summarize([s.loss_after[0] for s in per_batch])
        devices = summarize([s.devices_written[0] for s in per_batch])
        cost = {
            key: sum(s.device_cost[0][key] for s in per_batch) / len(per_batch) for key in COST_KEYS
        }
        out.append(
            {
                "rule": cfg.rule,
                "family": family,
                "deployment": "software" if row.pcm.ideal else "pcm",
                "init": row.init,
                "k_updates": row.k_updates,
                "quantised": row.pcm.quantised,
                "reference_arithmetic": row.pcm.reference_arithmetic,
                "time_after_programming_s": None if row.pcm.ideal else row.pcm.t_inference_s,
                "device_age": None if row.pcm.ideal else format_age(row.pcm.t_inference_s),
                "drift_compensation": row.pcm.drift_compensation and not row.pcm.ideal,
                "loss_before_mean": before["mean"],
                "loss_before_std": before["std"],
                "loss_before_ci95": before["ci95"],
                "loss_after_mean": after["mean"],
                "loss_after_std": after["std"],
                "loss_after_ci95": after["ci95"],
                "devices_written_mean": devices["mean"],
                **{f"{key}_mean": None if row.pcm.ideal else cost[key] for key in PULSE_KEYS},
                **{key: cost[key] for key in COST_KEYS if key not in PULSE_KEYS},
                "n_batches": len(seeds),
                "batch_size": batch_size,
                "n_tasks": batch_size * len(seeds),
                "seeds": list(seeds),
            }
        )
    if progress is not None:
        progress(len(rows), len(rows), rows[-1])
    return out


def _pm(mean: float, half: float | None) -> str:
    return f"{mean:.4f}" if half is None else f"{mean:.4f} ± {half:.4f}"


def markdown(rows: Sequence[dict]) -> str:
    """The table: loss mean ± 95% CI (t over batches), std over batches, devices per task."""
    if not rows:
        raise ValueError("no rows")
    first = rows[0]
    head = (
        "| rule | deployment | init | K | quantised | device age | drift comp. "
        "| loss before | loss after | std after (batches) | devices/task "
        "| RESET / SET pulses | programming (nJ) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        std = "-" if r["loss_after_std"] is None else f"{r['loss_after_std']:.4f}"
        lines.append(
            f"| {r['rule']} | {r['deployment']} | {r['init']} | {r['k_updates']} | "
            f"{'yes' if r['quantised'] else 'no'} | {r['device_age'] or '-'} | "
            f"{'yes' if r['drift_compensation'] else 'no'} | "
            f"{_pm(r['loss_before_mean'], r['loss_before_ci95'])} | "
            f"{_pm(r['loss_after_mean'], r['loss_after_ci95'])} | {std} | "
            f"{r['devices_written_mean']:.0f} | {_pulses(r)} |"
        )
    seeds = first["seeds"]
    return (
        f"Held-out tasks: {first['n_tasks']} per row ({first['n_batches']} batches of "
        f"{first['batch_size']}, seeds {seeds[0]}-{seeds[-1]}); loss mean ± 95% CI "
        "(Student t over batches), task loss without regularisers.\n\n"
        + head
        + "\n".join(lines)
        + "\n"
        + _energy_note(first)
    )


def _pulses(r: dict) -> str:
    """``RESET / SET | nJ`` of a row; ``- | -`` for software rows and tables written before the
    device cost was part of the protocol."""
    if r.get("reset_pulses_mean") is None:
        return "- | -"
    return (
        f"{r['reset_pulses_mean']:.0f} / {r['set_pulses_mean']:.0f} | "
        f"{r['programming_energy_nj_mean']:.1f}"
    )


def _energy_note(r: dict) -> str:
    if "trial_macs" not in r:
        return ""
    return (
        f"\nPulses and programming energy per task, all updates (robo_l2l/device_cost.py: RESET "
        f"+ 10 SET with verify per written device, + RESET on a sign flip). One trial: "
        f"{r['trial_macs']:,.0f} MACs, {r['trial_energy_analog_nj']:,.0f} nJ on the PCM chip vs "
        f"{r['trial_energy_digital_nj']:,.0f} nJ in float32 digital arithmetic; the updates' "
        f"digital arithmetic (rule {r['rule']}, K = {r['k_updates']} of the first row): "
        f"{r['update_arithmetic_nj']:.1f} nJ.\n"
    )


def parse_seed_range(text: str) -> list[int]:
    """``"100-109"`` -> [100, ..., 109]; ``"7"`` -> [7]."""
    first, _, last = text.partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"seeds must be a range FIRST-LAST or one seed, got {text!r}") from None
    if a < 0 or b < a or b > MAX_SEED:
        raise ValueError(f"seed range must have 0 <= FIRST <= LAST <= {MAX_SEED}, got {text!r}")
    return list(range(a, b + 1))
