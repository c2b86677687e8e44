"""robo_l2l.plots on synthetic data of the real shapes, and scripts/plot.py end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robo_l2l import demo_record, plots
from robo_l2l.deployment import summary
from robo_l2l.pcm import PCMConfig
from robo_l2l.plots.ages import age_curve
from scripts import plot as plot_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "plot.py"
T = 249
SHAPES = {"w_in": (5, 250), "w_rec": (250, 250), "w_out": (250, 2)}
DEMO_FIGURES = [
    "motor_commands.png",
    "paths.png",
    "spike_rasters.png",
    "learning_signals.png",
    "conductances.png",
]


def synthetic_demo(seed: int = 0, rule: str = "natural") -> dict[str, np.ndarray]:
    """A demo record (robo_l2l.demo_record): smooth targets, a poor 'before', a close 'after'."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) * 0.01
    phase = rng.uniform(0, 2 * np.pi, size=(3, 2))
    omega = np.stack([0.8 * np.sin(2 * np.pi * 0.6 * t + p) for p in phase[:2, 0]], axis=1)
    q = np.cumsum(omega, axis=0) * 0.01
    xyz = np.stack(
        [0.35 + 0.1 * np.cos(q[:, 0]), 0.1 * np.sin(q[:, 0]), 0.3 + 0.08 * np.sin(q[:, 1])], axis=1
    )
    d = {
        "target_omega": omega.astype(np.float32),
        "target_xyz": xyz,
        "omega_before": (0.4 * omega + 0.15 * rng.standard_normal((T, 2))).astype(np.float32),
        "omega_after": (omega + 0.05 * rng.standard_normal((T, 2))).astype(np.float32),
        "xyz_before": xyz + np.cumsum(0.0015 * rng.standard_normal((T, 3)), axis=0),
        "xyz_after": xyz + np.cumsum(0.0003 * rng.standard_normal((T, 3)), axis=0),
        "spikes_before": (rng.random((T, 250)) < 0.02).astype(np.uint8),
        "spikes_after": (rng.random((T, 250)) < 0.025).astype(np.uint8),
    }
    if rule == "natural":
        d["generator_spikes"] = (rng.random((T, 800)) < 0.01).astype(np.uint8)
        smooth = np.cumsum(rng.standard_normal((T, 250)), axis=0)
        d["learning_signals"] = (smooth - smooth.mean(axis=0)).astype(np.float32)
    else:
        d["learning_signals"] = (d["omega_before"] - d["target_omega"]).astype(np.float32)
    for name, shape in SHAPES.items():
        g = rng.uniform(0, 25, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        written = rng.random(shape) < 0.05
        after = np.where(written, np.clip(g + rng.normal(0, 3, shape), -25, 25), g)
        d[f"g_before.{name}"] = g.astype(np.float32)
        d[f"g_after.{name}"] = after.astype(np.float32)
        d[f"written.{name}"] = written
    d["meta"] = {
        "rule": rule,
        "k_updates": 1,
        "tracking_error_before_mm": 21.5,
        "tracking_error_after_mm": 3.2,
        "devices_written": int(sum(d[f"written.{n}"].sum() for n in SHAPES)),
        "seed": seed,
        **summary(PCMConfig(t_inference_s=86400.0, drift_compensation=True)),
    }
    demo_record.validate(d)
    return d


def synthetic_metrics(seed: int = 0, iterations: int = 60, every: int = 20) -> list[dict]:
    """Rows in the metrics.jsonl format of scripts/train.py with a decaying loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for it in range(iterations):
        if it % every == 0:
            rows.append(
                {
                    "iteration": it,
                    "kind": "val",
                    "val_loss_before": 0.3 * np.exp(-it / 200),
                    "val_loss_after": 0.1 * np.exp(-it / 50) + 0.01,
                    "val_devices_written": 900.0 - 5 * it,
                }
            )
        loss = 0.1 * np.exp(-it / 50) * (1 + 0.3 * rng.standard_normal() ** 2)
        rows.append(
            {
                "iteration": it,
                "kind": "train",
                "loss": loss,
                "loss_before": 0.3,
                "loss_after": loss,
                "rate_hz": 20.0,
                "devices_written": 800.0 + 50 * rng.standard_normal(),
                "grad_norm": 0.5,
                "lr": 0.003,
                "seconds": 2.0,
            }
        )
    return rows


def synthetic_eval_rows(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    specs = [
        ("software", "meta", 5, False, None, False),
        ("pcm", "meta", 5, True, 32.0, False),
        ("pcm", "random", 5, True, 32.0, False),
        ("pcm", "meta", 5, True, 86400.0, False),
        ("pcm", "meta", 5, True, 86400.0, True),
        ("pcm", "meta", 1, True, 32.0, False),
    ]
    for deployment, init, k, quantised, t, comp in specs:
        after = float(rng.uniform(0.004, 0.2))
        rows.append(
            {
                "rule": "readout",
                "deployment": deployment,
                "init": init,
                "k_updates": k,
                "quantised": quantised,
                "time_after_programming_s": t,
                "drift_compensation": comp,
                "loss_before_mean": 0.25,
                "loss_before_std": 0.03,
                "loss_after_mean": after,
                "loss_after_std": 0.2 * after,
                "devices_written_mean": float(rng.uniform(100, 2500)),
                "n_tasks": 16,
                "seeds": [100, 101],
            }
        )
    return rows


def assert_png(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG of a few KB with visible content (not one flat colour)."""
    assert path.is_file() and path.stat().st_size > 5_000
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    assert image.std() > 10
    if size is not None:
        assert image.shape[1] == size[0]
    assert not list(path.parent.glob(".*.png"))  # no temporary file left behind
    return image


WIDTH_PX = round(plots.FIG_WIDTH_IN * plots.DPI)


def test_moving_average_is_the_trailing_mean():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    np.testing.assert_allclose(plots.moving_average(x, 2), [1.0, 1.5, 2.5, 3.5, 7.0])
    np.testing.assert_allclose(plots.moving_average(x, 1), x)
    np.testing.assert_allclose(plots.moving_average(x, 99), np.cumsum(x) / np.arange(1, 6))


def test_loss_vs_age_takes_the_runs_own_k_and_splits_by_compensation(tmp_path):
    rows = synthetic_eval_rows(2)
    without = age_curve(rows, compensation=False)
    assert [t for t, _, _ in without] == [32.0, 86400.0]  # K = 5 only, meta only, sorted
    assert without[0][1] == rows[1]["loss_after_mean"]
    assert [t for t, _, _ in age_curve(rows, compensation=True)] == [86400.0]
    natural = [dict(r, rule="natural") for r in synthetic_eval_rows(3)]
    path = plots.plot_loss_vs_age({"a": rows, "b": natural}, tmp_path / "ages.png")
    assert_png(path, (WIDTH_PX, 0))
    with pytest.raises(ValueError, match="no evaluation rows on PCM"):
        plots.plot_loss_vs_age({"a": rows[:1]}, tmp_path / "none.png")


def test_eval_row_label_names_the_setting():
    row = synthetic_eval_rows()[4]
    assert plots.eval_row_label(row) == "PCM · meta · K=5 · quant. · 1 day · drift comp."
    assert plots.eval_row_label(synthetic_eval_rows()[0]) == "software · meta · K=5"


@pytest.mark.parametrize("rule", ["natural", "readout"])
def test_demo_figures_are_non_blank_pngs(tmp_path, rule):
    d = synthetic_demo(1, rule)
    g_before = {n: d[f"g_before.{n}"] for n in SHAPES}
    g_after = {n: d[f"g_after.{n}"] for n in SHAPES}
    written = {n: d[f"written.{n}"] for n in SHAPES}
    paths = [
        plots.plot_motor_commands(
            d["target_omega"], d["omega_before"], d["omega_after"], tmp_path / "m.png"
        ),
        plots.plot_paths(d["target_xyz"], d["xyz_before"], d["xyz_after"], tmp_path / "p.png"),
        plots.plot_spike_rasters(d["spikes_before"], tmp_path / "s.png", d.get("generator_spikes")),
        plots.plot_learning_signals(d["learning_signals"], tmp_path / "l.png"),
        plots.plot_conductances(g_before, g_after, written, tmp_path / "sub" / "c.png"),
    ]
    assert [p.name for p in paths] == ["m.png", "p.png", "s.png", "l.png", "c.png"]
    for p in paths:
        assert_png(p, (WIDTH_PX, None))


def test_raster_height_grows_with_the_networks_shown(tmp_path):
    d = synthetic_demo(2)
    one = assert_png(plots.plot_spike_rasters(d["spikes_before"], tmp_path / "a.png"))
    two = assert_png(
        plots.plot_spike_rasters(d["spikes_before"], tmp_path / "b.png", d["generator_spikes"])
    )
    assert two.shape[0] > 1.5 * one.shape[0]


def test_training_figures_are_non_blank_pngs(tmp_path):
    runs = {"readout": synthetic_metrics(0), "natural": synthetic_metrics(1, 45)}
    assert_png(plots.plot_learning_curves(runs, tmp_path / "lc.png"), (WIDTH_PX, None))
    assert_png(plots.plot_eval_table(synthetic_eval_rows(), tmp_path / "ev.png"), (WIDTH_PX, None))


def test_plot_functions_reject_wrong_shapes(tmp_path):
    d = synthetic_demo(3)
    with pytest.raises(ValueError, match="before"):
        plots.plot_motor_commands(
            d["target_omega"], d["omega_before"][:, :1], d["omega_after"], tmp_path / "x.png"
        )
    with pytest.raises(ValueError, match="length"):
        plots.plot_paths(d["target_xyz"], d["xyz_before"][:-1], d["xyz_after"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="lacks"):
        plots.plot_learning_curves({"r": [{"kind": "train", "iteration": 0}]}, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def _demo_folder(path: Path, drop: str | None = None, **override) -> Path:
    d = {**synthetic_demo(4), **override}
    if drop:
        del d[drop]
    path.mkdir(parents=True, exist_ok=True)
    if drop is None and not override:
        demo_record.write(path / demo_record.FILE, d)
        return path
    arrays = {k: v for k, v in d.items() if k != "meta"}
    np.savez(path / "demo.npz", meta=np.array(json.dumps(d["meta"])), **arrays)  # may be malformed
    return path


def _run_folder(path: Path, with_eval: bool = True, partial_line: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in synthetic_metrics(5))
    if partial_line:  # a training process is writing the last line right now
        text += '{"iteration": 60, "kind": "tra'
    (path / "metrics.jsonl").write_text(text)
    if with_eval:
        (path / "eval.json").write_text(json.dumps(synthetic_eval_rows(5)))
    return path


def test_script_writes_all_figures(tmp_path, capsys):
    demo = _demo_folder(tmp_path / "demo")
    run_a = _run_folder(tmp_path / "run_a")
    run_b = _run_folder(tmp_path / "run_b", with_eval=False, partial_line=False)
    out = tmp_path / "figures"
    code = plot_script.main(
        ["--demo", str(demo), "--runs", str(run_a), str(run_b), "--out", str(out)]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])["figures"]
    assert "1 day" in plots.demo_title(synthetic_demo(4)["meta"])
    assert lines[:-1] == figures
    expected = [
        *DEMO_FIGURES,
        "learning_curves.png",
        "run_a/learning_curve.png",
        "run_a/eval_table.png",
        "run_b/learning_curve.png",
        "loss_vs_age.png",
    ]
    assert figures == sorted(str(out / name) for name in expected)
    for f in figures:
        assert_png(Path(f))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*DEMO_FIGURES, "learning_curves.png", "loss_vs_age.png", "run_a", "run_b"]
        + ["outputs.json", ".lock"]
    )  # the staging folder is gone


def _fails(args: list[str], capsys) -> str:
    assert plot_script.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_script_fails_clearly_without_demo_npz(tmp_path, capsys):
    (tmp_path / "demo").mkdir()
    run = _run_folder(tmp_path / "run")
    out = tmp_path / "figures"
    err = _fails(["--demo", str(tmp_path / "demo"), "--runs", str(run), "--out", str(out)], capsys)
    assert "demo.npz not found" in err and "scripts/demo.py" in err
    assert not out.exists()


def test_script_fails_clearly_on_a_missing_key(tmp_path, capsys):
    demo = _demo_folder(tmp_path / "demo", drop="g_after.w_rec")
    out = tmp_path / "figures"
    err = _fails(["--demo", str(demo), "--out", str(out)], capsys)
    assert "g_after.w_rec" in err and "demo.npz" in err and "scripts/demo.py" in err
    assert not out.exists()


def test_script_fails_clearly_on_a_bad_shape(tmp_path, capsys):
    demo = _demo_folder(tmp_path / "demo", omega_after=np.zeros((T - 1, 2), np.float32))
    err = _fails(["--demo", str(demo), "--out", str(tmp_path / "figures")], capsys)
    assert "differ in length" in err and "omega_after" in err


def test_script_fails_clearly_without_metrics(tmp_path, capsys):
    demo = _demo_folder(tmp_path / "demo")
    (tmp_path / "run").mkdir()
    out = tmp_path / "figures"
    err = _fails(["--demo", str(demo), "--runs", str(tmp_path / "run"), "--out", str(out)], capsys)
    assert "metrics.jsonl not found" in err and "scripts/train.py" in err
    assert not out.exists()  # not even the demo figures


def test_script_fails_clearly_on_empty_metrics_and_bad_eval(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    err = _fails(["--runs", str(run), "--out", str(tmp_path / "figures")], capsys)
    assert "metrics.jsonl" in err and "no 'train' or 'val' rows" in err
    _run_folder(run)
    (run / "eval.json").write_text("[")
    err = _fails(["--runs", str(run), "--out", str(tmp_path / "figures")], capsys)
    assert "eval.json" in err and "scripts/evaluate.py" in err


def test_script_keeps_earlier_figures_when_a_later_input_is_bad(tmp_path, capsys):
    run = _run_folder(tmp_path / "run")
    out = tmp_path / "figures"
    assert plot_script.main(["--runs", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    before = (out / "learning_curves.png").read_bytes()
    (run / "metrics.jsonl").write_text('{"iteration": 0, "kind": "val"}\nnot json\n')
    err = _fails(["--runs", str(run), "--out", str(out)], capsys)
    assert "line 2" in err
    assert (out / "learning_curves.png").read_bytes() == before
    assert not list(out.glob(".stage.*"))


def test_tracking_figure_from_the_shipped_tables_and_bad_input(tmp_path, capsys):
    files = sorted((ROOT / "results" / "readout_hw_quick").glob("tracking*/tracking.json"))
    assert len(files) >= 2
    out = tmp_path / "figs"
    assert plot_script.main(["--tracking", *map(str, files), "--out", str(out)]) == 0
    with Image.open(out / "tracking.png") as image:
        assert image.size[0] > 800
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for args in ([str(tmp_path / "missing.json")], [str(bad)]):
        assert plot_script.main(["--tracking", *args, "--out", str(tmp_path / "x")]) == 2
        assert "scripts/track.py" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no tracking records"):
        plots.plot_tracking([], tmp_path / "t.png")
