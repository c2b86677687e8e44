"""The shipped evaluation tables (and the reference check) hold on another set of held-out seeds.

Every run in results/ ships eval.json (seeds 100-109) and eval_check/eval.json (seeds 200-209,
the same protocol on other tasks and device noise); the rows' losses after the update must
agree between the two, all of a table's m rows together at the 95% level: each pair within the
root-sum-square of its half-widths (:func:`robo_l2l.statistics.agree`) widened to the
Bonferroni level of m comparisons (:func:`robo_l2l.statistics.widen_for_family`; a per-row 95%
test over ~150 rows would fail a few honest pairs by chance).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robo_l2l.statistics import agree, widen_for_family

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = sorted(p.parent.parent for p in RESULTS.glob("*/eval_check/eval.json"))


def _key(row: dict) -> tuple:
    return (row["deployment"], row["init"], row["k_updates"], row["quantised"],
            row["device_age"], row["drift_compensation"])  # fmt: skip


def test_agree_is_the_two_sample_bound():
    assert agree(1.0, 0.3, 1.4, 0.4)  # |diff| 0.4 <= 0.5
    assert not agree(1.0, 0.3, 1.6, 0.4)  # 0.6 > 0.5
    assert not agree(1.0, 0.0, 1.0 + 1e-9, 0.0)


def test_some_run_ships_a_check_table():
    assert RUNS, "no results/<run>/eval_check/eval.json found"


@pytest.mark.parametrize("run", RUNS, ids=[p.name for p in RUNS])
def test_table_holds_on_other_seeds(run):
    main = {_key(r): r for r in json.loads((run / "eval.json").read_text())}
    check = {_key(r): r for r in json.loads((run / "eval_check" / "eval.json").read_text())}
    assert main.keys() == check.keys()
    m = len(main)
    for key, a in main.items():
        b = check[key]
        assert a["n_tasks"] >= 320 and b["n_tasks"] >= 320
        assert set(a["seeds"]).isdisjoint(b["seeds"])
        ha = widen_for_family(a["loss_after_ci95"], len(a["seeds"]), m)
        hb = widen_for_family(b["loss_after_ci95"], len(b["seeds"]), m)
        assert agree(a["loss_after_mean"], ha, b["loss_after_mean"], hb), (key, a, b)


def test_reference_check_holds_on_another_seed():
    """results/reference_check (seed 0) and its check_seed1 (other tasks and device noise)."""
    main = json.loads((RESULTS / "reference_check" / "reference_check.json").read_text())
    check = json.loads(
        (RESULTS / "reference_check" / "check_seed1" / "reference_check.json").read_text()
    )
    assert [r["name"] for r in main] == [r["name"] for r in check]
    for a, b in zip(main, check, strict=True):
        assert a["seed"] != b["seed"] and a["n_batches"] * a["batch_size"] >= 450
        for what in ("loss_before", "loss_after"):
            assert agree(a[f"{what}_mean"], a[f"{what}_ci95"],
                         b[f"{what}_mean"], b[f"{what}_ci95"]), (what, a, b)  # fmt: skip
