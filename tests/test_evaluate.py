"""The evaluation protocol and the reference check with tiny budgets (library and CLI)."""

import json

import pytest

from robo_l2l.checkpoint import save_tensors
from robo_l2l.config import MetaConfig
from robo_l2l.controller_file import load_controller
from robo_l2l.parameters import init_params, random_controller
from robo_l2l.pcm import PCMConfig
from robo_l2l.protocol import Row, markdown, run_protocol
from robo_l2l.reference_numbers import markdown as reference_markdown
from robo_l2l.reference_numbers import reference_check
from scripts import evaluate as evaluate_script
from scripts import reference_check as reference_script
from tests.conftest import CHECKPOINT, _need

CFG = MetaConfig(rule="natural", k_updates=1, seed=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A controller file of random weights (the protocol does not care how it was trained)."""
    folder = tmp_path_factory.mktemp("run")
    params = {f"param.{k}": v for k, v in init_params(CFG).items()}
    save_tensors(folder / "controller.safetensors", params, {"config": json.loads(CFG.to_json())})
    return folder


def test_run_protocol_reports_ci_over_batches(run_dir):
    weights, cfg, _ = load_controller(run_dir / "controller.safetensors")
    rows = [Row("meta", PCMConfig(t_inference_s=86400.0), 1), Row("random", PCMConfig(), 1)]
    seen = []
    out = run_protocol(
        weights, random_controller(cfg), cfg, rows, [3, 4, 5], 2, lambda i, n, r: seen.append(i)
    )
    assert seen == [0, 1, 2]
    assert [r["device_age"] for r in out] == ["1 day", "32 s"]
    for r in out:
        assert r["n_batches"] == 3 and r["n_tasks"] == 6 and r["seeds"] == [3, 4, 5]
        assert r["loss_after_ci95"] > 0 and r["loss_after_std"] > 0
        # t_{0.975, 2} s / sqrt(3)
        assert r["loss_after_ci95"] == pytest.approx(4.303 * r["loss_after_std"] / 3**0.5)
    assert out[0]["loss_after_mean"] != out[1]["loss_after_mean"]
    text = markdown(out)
    assert "95% CI" in text and "1 day" in text and "seeds 3-5" in text


def test_evaluate_cli_smoke(run_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--seeds", "0", "--batch-size", "1", "--tracking-targets", "2", "--workers", "1"]
    code = evaluate_script.main(["--run", str(run_dir), *args, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[0/" in captured.err and "done" in captured.err  # progress output
    rows = json.loads((out / "eval.json").read_text())
    ages = {r["device_age"] for r in rows}
    assert ages >= {"1 s", "32 s", "1 h", "1 day", "1 month", "1 year"}
    assert all(r["loss_after_ci95"] is None for r in rows)  # one batch: no interval
    table = (out / "eval.md").read_text()
    assert table in captured.out
    # device cost: pulses and programming energy on PCM rows, none on software rows
    for r in rows:
        pcm = r["deployment"] == "pcm"
        assert (r["reset_pulses_mean"] is not None) == pcm
        if pcm:
            assert r["reset_pulses_mean"] >= r["devices_written_mean"]
            assert r["set_pulses_mean"] <= 10 * r["devices_written_mean"]
        assert r["trial_energy_digital_nj"] > r["trial_energy_analog_nj"] > 0
    # the closed-loop row: tracking error before and after the update, in mm
    closed = json.loads((out / "closed_loop.json").read_text())
    assert closed["n_targets"] == 2 and closed["seed"] == 0
    for trial in ("before", "after"):
        assert 0 < closed[trial]["mean_mm"] <= closed[trial]["worst_mm"] < 1000
    assert "Closed loop (PyBullet)" in table
    brief = json.loads(captured.out.strip().splitlines()[-1])
    assert brief["closed_loop_after_mean_mm"] == closed["after"]["mean_mm"]


def test_evaluate_cli_bad_input(run_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for args, message in (
        (["--threads", "-1"], "--threads"),
        (["--seeds", "5-2"], "seed range"),
        (["--seeds", f"0-{2**40}"], "seed range"),
        (["--batch-size", "0"], "--batch-size"),
        (["--tracking-targets", "1"], "--tracking-targets"),
        (["--ideal", "--t-inference", "10"], "--ideal has no devices"),
        (["--out", str(tmp_path / "file")], "not a folder"),
    ):
        try:
            code = evaluate_script.main(["--run", str(run_dir), *args])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    code = evaluate_script.main(["--run", str(tmp_path), "--out", str(tmp_path / "e")])
    assert code == 2 and "no checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_reference_check_tiny(reference_weights, tmp_path, capsys):
    rows = reference_check(reference_weights, 2, 2, seed=0)
    assert [r["name"] for r in rows] == ["pcm", "ideal", "pcm_per_matrix"]
    assert rows[0]["reference_loss_after"] == 0.107 and rows[0]["device_age"] == "32 s"
    assert all(r["loss_after_mean"] < r["loss_before_mean"] for r in rows)
    assert "0.320 / 0.1070" in reference_markdown(rows)
    out = tmp_path / "ref"
    args = ["--checkpoint", str(_need(CHECKPOINT)), "--batches", "1", "--batch-size", "1"]
    assert reference_script.main([*args, "--out", str(out)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((out / "reference_check.json").read_text())
    assert saved[0]["loss_after_mean"] == last["loss_after_pcm"]
    assert (out / "reference_check.md").exists()
