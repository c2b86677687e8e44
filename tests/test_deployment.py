"""The deployment of a run, the age formatter, the protocol's rows and statistics, run folders."""

import math

import pytest

from robo_l2l import deployment as dep
from robo_l2l.config import MetaConfig
from robo_l2l.pcm import PCMConfig
from robo_l2l.protocol import AGES_S, parse_seed_range, protocol_rows
from robo_l2l.run_folder import FolderLockedError, RunLock, staged_outputs
from robo_l2l.statistics import (
    T975,
    summarize,
    t_cdf,
    t_quantile,
    t_quantile_975,
    widen_for_family,
)


def test_format_age():
    ages = (1, 32, 90, 3600, 5400, 86400, 30 * 86400, 365 * 86400, 2 * 365 * 86400, 0.5)
    assert [dep.format_age(t) for t in ages] == [
        "1 s", "32 s", "1.5 min", "1 h", "1.5 h", "1 day", "1 month", "1 year", "2 years", "0.5 s",
    ]  # fmt: skip
    for bad in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError):
            dep.format_age(bad)


def test_override_and_its_contradictions():
    base = PCMConfig()
    assert dep.override(base) == base
    aged = dep.override(base, t_inference_s=86400.0, drift_compensation=True)
    assert aged.t_inference_s == 86400.0 and aged.drift_compensation
    assert dep.override(aged, drift_compensation=False).drift_compensation is False
    assert dep.override(base, ideal=True) == PCMConfig.ideal_weights()
    for kwargs in ({"t_inference_s": 60.0}, {"drift_compensation": False}):
        with pytest.raises(ValueError, match="--ideal has no devices"):
            dep.override(base, ideal=True, **kwargs)
    for bad, message in ((0.5, "before the drift law"), (math.inf, "finite"), (math.nan, "finite")):
        with pytest.raises(ValueError, match=message):
            dep.override(base, t_inference_s=bad)
    assert "1 day after programming, drift compensation" in dep.describe(aged)
    assert dep.describe(PCMConfig.ideal_weights()) == "ideal weights"


def test_config_round_trip_and_legacy_arithmetic():
    cfg = MetaConfig(deployment=PCMConfig(t_inference_s=3600.0, drift_compensation=True))
    import json

    assert MetaConfig.from_dict(json.loads(cfg.to_json())) == cfg
    legacy = json.loads(MetaConfig().to_json())
    del legacy["deployment"]
    assert (
        MetaConfig.from_dict({**legacy, "pcm_arithmetic": "per_matrix"}).deployment == PCMConfig()
    )
    ref = MetaConfig.from_dict({**legacy, "pcm_arithmetic": "reference"})
    assert ref.deployment == PCMConfig.reference() and ref.pcm_arithmetic == "reference"
    with pytest.raises(ValueError, match="unknown deployment fields"):
        MetaConfig.from_dict({**legacy, "deployment": {"age": 3}})
    with pytest.raises(ValueError, match="before the drift law"):
        MetaConfig.from_dict({**legacy, "deployment": {"t_inference_s": 0.1}})


def test_protocol_rows_are_data_driven():
    for rule, k in (("natural", 1), ("readout", 5)):
        cfg = MetaConfig(rule=rule, k_updates=k)
        rows = protocol_rows(cfg, cfg.deployment)
        keys = [(r.init, r.pcm, r.k_updates) for r in rows]
        assert len(set(keys)) == len(keys)
        aged = {(r.pcm.t_inference_s, r.pcm.drift_compensation) for r in rows if not r.pcm.ideal}
        assert aged >= {(t, c) for t in AGES_S for c in (False, True)}
        assert {r.init for r in rows} == {"meta", "random"}
        ks = {r.k_updates for r in rows}
        assert ks == ({1, 2, 3, 4, 5} if rule == "readout" else {1})
    ideal_rows = protocol_rows(cfg, PCMConfig.ideal_weights())
    assert all(r.pcm.ideal for r in ideal_rows)
    ages = protocol_rows(cfg, cfg.deployment, "ages")  # the readout run: no K sweep
    assert len(ages) == 3 + 11 and {r.k_updates for r in ages} == {5}
    assert [(r.init, r.pcm.ideal) for r in ages[:3]] == [
        ("meta", True),
        ("meta", False),
        ("random", False),
    ]
    assert {(r.pcm.t_inference_s, r.pcm.drift_compensation) for r in ages[1:]} >= {
        (t, c) for t in AGES_S for c in (False, True)
    }
    assert all(r.pcm.quantised for r in ages if not r.pcm.ideal)
    with pytest.raises(ValueError, match="row set"):
        protocol_rows(cfg, cfg.deployment, "some")


def test_t_quantiles_from_the_density_match_the_tables():
    for df, tabulated in enumerate(T975, start=1):
        assert t_quantile(0.975, df) == pytest.approx(tabulated, abs=6e-4)
    assert t_quantile(0.995, 9) == pytest.approx(3.250, abs=6e-4)  # t_{0.995, 9}, tables
    assert t_quantile(0.9995, 9) == pytest.approx(4.781, abs=6e-4)
    assert t_cdf(0.0, 5) == 0.5 and t_cdf(-2.571, 5) == pytest.approx(0.025, abs=1e-4)
    assert widen_for_family(1.0, 10, 1) == pytest.approx(1.0, abs=3e-4)
    assert widen_for_family(1.0, 10, 14) > widen_for_family(1.0, 10, 2) > 1.0
    with pytest.raises(ValueError, match="quantile level"):
        t_quantile(0.4, 9)


def test_statistics_and_seed_ranges():
    assert t_quantile_975(9) == 2.262
    assert abs(t_quantile_975(31) - 2.0395) < 1e-3 and abs(t_quantile_975(120) - 1.980) < 1e-3
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and abs(s["std"] - 1.2909944) < 1e-6
    assert abs(s["ci95"] - 3.182 * 1.2909944 / 2) < 1e-6
    assert summarize([2.0])["ci95"] is None
    assert parse_seed_range("100-109") == list(range(100, 110)) and parse_seed_range("7") == [7]
    for bad in ("9-3", "-1", "a-b", f"0-{2**40}"):
        with pytest.raises(ValueError):
            parse_seed_range(bad)


def test_staged_outputs_replace_the_set_or_nothing(tmp_path):
    out = tmp_path / "out"
    with staged_outputs(out) as stage:
        (stage / "a.txt").write_text("1")
        (stage / "b.txt").write_text("1")
    (out / "mine.txt").write_text("not ours")
    with pytest.raises(RuntimeError), staged_outputs(out) as stage:
        (stage / "a.txt").write_text("2")
        raise RuntimeError("work failed")
    assert (out / "a.txt").read_text() == "1" and (out / "b.txt").exists()
    with staged_outputs(out) as stage:
        (stage / "a.txt").write_text("3")
    assert (out / "a.txt").read_text() == "3"
    assert not (out / "b.txt").exists()  # stale member of the previous set
    assert (out / "mine.txt").exists()  # not ours: kept
    assert not list(out.glob(".stage.*"))
    with RunLock(out), pytest.raises(FolderLockedError), staged_outputs(out):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"), staged_outputs(tmp_path / "file"):
        pass
