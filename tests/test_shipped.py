"""Our shipped controllers load with the current code and still reach their recorded losses;
the published checkpoint still gives the reference's numbers (slow: batches of 90)."""

import json
from pathlib import Path

import pytest
import torch

from robo_l2l.controller_file import load_controller
from robo_l2l.evaluation import evaluate
from robo_l2l.inner_loop import InnerRule
from robo_l2l.pcm import PCMConfig
from tests.conftest import CHECKPOINT, _need

RESULTS = Path(__file__).resolve().parents[1] / "results"
# Shipped runs: a controller with its evaluation table (runs still training have no eval.json).
# results/fewshot_*/ hold the few-shot classifiers (their own tests: tests/fewshot/)
RUNS = sorted(
    p.parent for p in RESULTS.glob("*/eval.json") if not p.parent.name.startswith("fewshot")
)


def test_shipped_configs_load_with_the_legacy_deployment():
    """Configs written before ``deployment`` existed map pcm_arithmetic as the code then did."""
    from robo_l2l.config import MetaConfig
    from robo_l2l.pcm import PCMConfig

    for run in RUNS:
        saved = json.loads((run / "config.json").read_text())
        cfg = MetaConfig.from_dict(saved)
        expected = (
            PCMConfig.reference() if saved.get("pcm_arithmetic") == "reference" else PCMConfig()
        )
        if "deployment" not in saved:
            assert cfg.deployment == expected
        assert load_controller(run / "controller.safetensors")[1] == cfg


def test_one_shipped_controller_per_rule():
    rules = {load_controller(run / "controller.safetensors")[1].rule for run in RUNS}
    assert rules == {"natural", "readout"}


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_shipped_controller_reaches_recorded_loss(run):
    weights, cfg, _ = load_controller(run / "controller.safetensors")
    rows = json.loads((run / "eval.json").read_text())
    row = next(
        r
        for r in rows
        if r["init"] == "meta"
        and r["deployment"] == "pcm"
        and r["k_updates"] == cfg.k_updates
        and r["quantised"]
        and r["drift_compensation"] == cfg.deployment.drift_compensation
        and r["time_after_programming_s"] == cfg.deployment.t_inference_s
    )
    rule = InnerRule(cfg.rule, row["k_updates"], cfg.inner_lr)
    batch = row.get("batch_size") or row["n_tasks"] // len(row["seeds"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tables are written by evaluate.py with its default, 1 thread
    try:
        after = [
            evaluate(weights, rule, cfg.deployment, 1, batch, s).loss_after[0] for s in row["seeds"]
        ]
    finally:
        torch.set_num_threads(threads)
    # a fully seeded recomputation with the same thread count (float32 summation order)
    assert sum(after) / len(after) == pytest.approx(row["loss_after_mean"], rel=1e-6)


@pytest.mark.slow
def test_published_checkpoint_batch_90():
    from robo_l2l.controller import controller_from_reference

    weights = controller_from_reference(_need(CHECKPOINT))
    pcm = evaluate(weights, InnerRule(), PCMConfig.reference(), 5, 90, seed=0).summary()
    ideal = evaluate(weights, InnerRule(), PCMConfig.ideal_weights(), 5, 90, seed=0).summary()
    assert pcm["loss_before_mean"] == pytest.approx(0.320, rel=0.10)
    assert pcm["loss_after_mean"] == pytest.approx(0.107, rel=0.10)
    assert ideal["loss_before_mean"] == pytest.approx(0.322, rel=0.10)
    assert ideal["loss_after_mean"] == pytest.approx(0.0106, rel=0.20)
