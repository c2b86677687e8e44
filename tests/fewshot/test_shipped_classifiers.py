"""The shipped classifiers (``results/fewshot_*``): they load as what their folder says, and each
table's headline rows hold on the other episode seed (the check rows the README quotes)."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import pytest

from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.store import load_classifier

RESULTS = Path(__file__).resolve().parents[2] / "results"
RUNS = sorted(p.parent for p in RESULTS.glob("fewshot_*/classifier.safetensors"))
#: Tables of the same classifier on other episode seeds (``--rows core --seed N``).
SEED_TABLES = sorted(RESULTS.glob("fewshot_*/eval_seed*/eval.json"))
SEED_ROWS = sum(len(json.loads(p.read_text())["rows"]) for p in SEED_TABLES)
CHECK_PAIRS = 2 * len(RUNS) + SEED_ROWS  # two check rows per table at most, + seed tables
FAMILY_Z = NormalDist().inv_cdf(1 - 0.05 / (2 * CHECK_PAIRS))


def test_there_are_shipped_classifiers():
    assert len(RUNS) >= 3


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_classifier_matches_its_config_and_table(run):
    classifier = load_classifier(run)
    saved = FewShotConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert classifier.config == saved and classifier.info["system"] == "fewshot"
    table = json.loads((run / "eval.json").read_text())
    assert f"--checkpoint results/{run.name}" in table["command"]
    rows = table["rows"]
    assert all(r["n"] == r["n_episodes"] >= 200 for r in rows)
    # A full table checks its headline rows (PCM at 32 s, meta-trained, no compensation) on
    # the other episode seed. Each pair's difference must lie within its 95% interval widened
    # for the number of pairs checked (Bonferroni: a family-wise 5 % false alarm rate; at 95 %
    # per pair, one of ten pairs would fail by chance 40 % of the time).
    checks = [r for r in rows if r["seed_offset"] == 1]
    assert len(checks) == (2 if len(rows) > 4 else 0)
    for check in checks:
        row = next(
            r for r in rows
            if r["seed_offset"] == 0 and r["shot"] == check["shot"] and r["age"] == "32 s"
            and r["deployment"] == "pcm" and r["init"] == "meta-trained" and not r["compensation"]
        )  # fmt: skip
        half_widths = (row["accuracy_after_ci95"] ** 2 + check["accuracy_after_ci95"] ** 2) ** 0.5
        bound = half_widths * FAMILY_Z / 1.96
        assert abs(row["accuracy_after"] - check["accuracy_after"]) <= bound, (row, check)
    for row in rows:
        assert row["accuracy_per_update"][-1] == row["accuracy_after"]


def _same_row(rows, like):
    keys = ("shot", "deployment", "age", "init", "compensation")
    return next(r for r in rows if r["seed_offset"] == 0 and all(r[k] == like[k] for k in keys))


@pytest.mark.parametrize("path", SEED_TABLES, ids=[p.parent.parent.name for p in SEED_TABLES])
def test_other_seed_tables_agree_with_the_table(path):
    """Every row of a table on other episodes and noise agrees with the classifier's own
    table within the pair's widened 95% interval (as above)."""
    other = json.loads(path.read_text())
    run = path.parent.parent
    assert f"--checkpoint results/{run.name}" in other["command"]
    assert f"--out results/{run.name}/{path.parent.name}" in other["command"]
    rows = json.loads((run / "eval.json").read_text())["rows"]
    assert other["rows"]
    for check in other["rows"]:
        assert check["n_episodes"] >= 1000
        row = _same_row(rows, check)
        half_widths = (row["accuracy_after_ci95"] ** 2 + check["accuracy_after_ci95"] ** 2) ** 0.5
        bound = half_widths * FAMILY_Z / 1.96
        assert abs(row["accuracy_after"] - check["accuracy_after"]) <= bound, (row, check)
