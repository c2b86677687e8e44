"""The few-shot scripts end to end on a tiny budget: train + exact resume, evaluate (file and
table), the demo's figure, and every bad input refused with ``error:`` and exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_l2l.checkpoint import CheckpointFormatError, save_tensors
from robo_l2l.fewshot import table
from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.fewshot.evaluate import default_chunk, evaluate
from robo_l2l.fewshot.maml import InnerLoopConfig
from robo_l2l.fewshot.splits import split_by_alphabet
from robo_l2l.fewshot.store import STATE_FILE, load_classifier, load_training_state
from tests.fewshot.conftest import CLASSIFIER_CHECKPOINT, need

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fewshot_calibrate  # noqa: E402
import fewshot_common  # noqa: E402
import fewshot_demo  # noqa: E402
import fewshot_evaluate  # noqa: E402
import fewshot_train  # noqa: E402

TINY = [
    "--regime", "hardware", "--batch-size", "2", "--channels", "8", "--shot", "1",
    "--query", "1", "--inner-updates", "2", "--val-episodes", "2", "--validate-every", "1",
    "--quiet",
]  # fmt: skip


@pytest.fixture(scope="module")
def splits(merged, merged_images):
    """The shipped data's split (as ``omniglot_splits`` of both archives gives it)."""
    return split_by_alphabet(merged_images, merged.names)


@pytest.fixture(autouse=True)
def cached_data(monkeypatch, splits):
    """Scripts read the shipped archives once per module (2-6 s each time otherwise)."""
    for module in (fewshot_train, fewshot_evaluate, fewshot_demo, fewshot_calibrate):
        monkeypatch.setattr(module, "omniglot_splits", lambda *a, **k: splits)


def run(module, argv, capsys) -> tuple[int, list[str], str]:
    code = fewshot_common.run_cli(module.main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, splits):
    """A run of 2 iterations, and one of 1 iteration resumed to 2."""
    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setattr(fewshot_train, "omniglot_splits", lambda *a, **k: splits)
    try:
        fewshot_train.main([*TINY, "--iterations", "2", "--out", str(root / "a")])
        fewshot_train.main([*TINY, "--iterations", "1", "--out", str(root / "b")])
        fewshot_train.main(["--resume", "--iterations", "2", "--out", str(root / "b"), "--quiet"])
    finally:
        mp.undo()
    return root


def test_resume_ends_with_the_same_weights_and_metrics(trained):
    a, info_a = load_training_state(trained / "a" / STATE_FILE)
    b, info_b = load_training_state(trained / "b" / STATE_FILE)
    assert a.info["iteration"] == b.info["iteration"] == 2
    for k in a.params:
        torch.testing.assert_close(a.params[k], b.params[k], rtol=0, atol=0)
    for k in info_a:
        torch.testing.assert_close(info_a[k], info_b[k], rtol=0, atol=0)
    rows_a = (trained / "a" / "metrics.jsonl").read_text().splitlines()
    rows_b = (trained / "b" / "metrics.jsonl").read_text().splitlines()
    drop = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(rows_a) == drop(rows_b)
    classifier = load_classifier(trained / "a")
    assert classifier.config.channels == 8 and classifier.info["system"] == "fewshot"
    # Two Adam steps moved the weights away from the initialisation.
    init = fewshot_train.training.init_params(classifier.config)
    assert not torch.equal(init["kernel2"].detach(), a.params["kernel2"])


def test_train_refuses_a_folder_holding_a_classifier(trained, capsys):
    code, _, err = run(fewshot_train, [*TINY, "--iterations", "3", "--out", trained / "a"], capsys)
    assert code == 2 and err.startswith("error:") and "--resume" in err


def test_fine_tune_starts_from_the_given_classifier(trained, tmp_path, capsys):
    """``--init``: iteration 0 holds the given weights; the wrong shape or system is refused."""
    start = load_classifier(trained / "a")
    fine = [*TINY, "--iterations", "1", "--init", trained / "a"]
    code, lines, _ = run(fewshot_train, [*fine, "--out", tmp_path / "ft"], capsys)
    assert code == 0, lines
    first = load_training_state(tmp_path / "ft" / STATE_FILE)[0]
    assert first.config.init == str(trained / "a") and first.info["iteration"] == 1
    assert not torch.equal(first.params["kernel2"], start.params["kernel2"])
    # Iteration 0's validation is the starting classifier's (same validation set and noise).
    val = lambda run: [  # noqa: E731
        json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines() if '"val"' in r
    ]
    before = next(r for r in val(trained / "a") if r["iteration"] == start.info["iteration"])
    assert val(tmp_path / "ft")[0] == before | {"iteration": 0}
    robot = tmp_path / "controller.safetensors"
    save_tensors(robot, {"param.w_in": torch.zeros(3, 4)}, {"config": {"rule": "natural"}})
    bad = {
        "robot": [*TINY, "--init", robot],
        "16 channels": [*TINY, "--channels", "16", "--init", trained / "a"],
        "no checkpoint": [*TINY, "--init", tmp_path / "missing"],
    }
    for expected, argv in bad.items():
        code, lines, err = run(fewshot_train, [*argv, "--out", tmp_path / expected], capsys)
        assert code == 2 and lines == [] and expected in err, err
        assert not (tmp_path / expected).exists()


def test_train_refuses_an_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(fewshot_train, [*TINY, "--out", blocker / "run"], capsys)
    assert code == 2 and "not writable" in err


def _episodes(splits, shot=1, n=3, seed=0) -> Episodes:
    return table.test_episodes(splits.test.images, 5, shot, 2, n, seed)


def _save(path: Path, episodes: Episodes, **changes) -> Path:
    arrays = episodes._asdict() | changes
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("deployment, workers", [("ideal", 1), ("pcm", 1), ("pcm", 2)])
def test_evaluate_episodes_file(trained, splits, tmp_path, capsys, deployment, workers):
    episodes = _episodes(splits)
    path = _save(tmp_path / "ep.npz", episodes)
    argv = ["--checkpoint", trained / "a", "--episodes", path, "--deployment", deployment]
    # Chunks of one episode shared by two processes: the numbers of one process.
    argv += ["--chunk", "1", "--workers", str(workers)]
    code, lines, _ = run(fewshot_evaluate, argv, capsys)
    assert code == 0
    result = json.loads(lines[-1])
    for key in (
        "accuracy_before", "accuracy_after", "accuracy_per_update", "n_episodes",
        "devices_written_mean",
    ):  # fmt: skip
        assert key in result
    assert result["n_episodes"] == 3
    per_update = result["accuracy_per_update"]
    assert len(per_update) == 3  # before + 2 updates (the run's inner loop)
    assert result["accuracy_before"] == per_update[0] and result["accuracy_after"] == per_update[-1]
    # 2 query images per class, 5 classes: every accuracy is a multiple of 10 % per episode.
    assert all(0 <= a <= 100 for a in per_update)
    assert result["devices_written_mean"] > 0
    # The same numbers as the library on the same episodes.
    classifier = load_classifier(trained / "a")
    expected = table.row(
        classifier.params, episodes, table.deployment(deployment, 32.0),
        InnerLoopConfig(updates=2, per_task_bn=True), seed=0, chunk=1,
    )  # fmt: skip
    assert per_update == pytest.approx(expected["accuracy_per_update"], abs=1e-9)
    assert result["devices_written_mean"] == expected["devices_written_mean"]


def test_evaluation_shared_by_processes_gives_the_numbers_of_one(trained, splits):
    """Uneven blocks of chunks (3 chunks of 2 episodes over 2 processes): every episode's
    losses, accuracies and writes equal those of one process."""
    classifier = load_classifier(trained / "a")
    episodes = _episodes(splits, n=6)
    inner = InnerLoopConfig(updates=2, per_task_bn=True)
    pcm = table.deployment("pcm", 32.0)
    one = evaluate(classifier.params, episodes, inner, pcm, seed=3, chunk=2)
    two = evaluate(classifier.params, episodes, inner, pcm, seed=3, chunk=2, workers=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    assert one.query_losses.shape == (6, 3)
    with pytest.raises(ValueError, match="workers"):
        evaluate(classifier.params, episodes, inner, pcm, workers=0)
    # The default chunk: one episode with PCM (its noise keyed per episode), 100 ideal.
    assert default_chunk(pcm) == 1 and default_chunk(None) == 100
    auto = evaluate(classifier.params, episodes, inner, pcm, seed=3)
    per_episode = evaluate(classifier.params, episodes, inner, pcm, seed=3, chunk=1)
    np.testing.assert_array_equal(auto.query_losses, per_episode.query_losses)


def test_evaluate_authors_checkpoint_on_a_file(splits, tmp_path, capsys):
    classifier_checkpoint = need(CLASSIFIER_CHECKPOINT)
    path = _save(tmp_path / "ep.npz", _episodes(splits, shot=5, n=4))
    argv = ["--checkpoint", classifier_checkpoint, "--episodes", path, "--deployment", "ideal"]
    code, lines, _ = run(fewshot_evaluate, argv, capsys)
    result = json.loads(lines[-1])
    assert code == 0 and result["accuracy_before"] == pytest.approx(20.0)  # FEWSHOT.md 5
    assert len(result["accuracy_per_update"]) == 5


def test_evaluate_table_writes_both_files_and_refuses_to_overwrite(trained, tmp_path, capsys):
    out = tmp_path / "table"
    argv = ["--checkpoint", trained / "a", "--n-episodes", "2", "--out", out, "--quiet"]
    code, lines, _ = run(fewshot_evaluate, argv, capsys)
    assert code == 0, lines
    doc = json.loads((out / "eval.json").read_text())
    assert len(doc["rows"]) == len(fewshot_evaluate.table_specs(fewshot_evaluate.EvaluateConfig()))
    assert {r["age"] for r in doc["rows"]} == {None, "32 s", "1 day", "1 year"}
    assert "| 5w1s |" in (out / "eval.md").read_text()
    code, _, err = run(fewshot_evaluate, argv, capsys)
    assert code == 2 and "exists" in err


BAD_EPISODES = {
    "wrong size": lambda e: {"support_images": e.support_images[:, :, :27, :27]},
    "wrong dtype": lambda e: {"support_images": e.support_images.astype(np.float64)},
    "wrong range": lambda e: {"query_images": e.query_images * 255},
    "label outside 0..N-1": lambda e: {"query_labels": e.query_labels + 5},
    "fewer than N classes": lambda e: {
        "support_labels": np.minimum(e.support_labels, 3),
    },
}
EXPECTED = {
    "wrong size": "28, 28",
    "wrong dtype": "float32",
    "wrong range": "[0, 1]",
    "label outside 0..N-1": "0..4",
    "fewer than N classes": "fewer than N = 5 classes",
}


@pytest.mark.parametrize("problem", list(BAD_EPISODES))
def test_evaluate_refuses_bad_episodes(trained, splits, tmp_path, capsys, problem):
    episodes = _episodes(splits)
    path = _save(tmp_path / "bad.npz", episodes, **BAD_EPISODES[problem](episodes))
    argv = ["--checkpoint", trained / "a", "--episodes", path]
    code, lines, err = run(fewshot_evaluate, argv, capsys)
    assert code == 2 and lines == []
    assert err.startswith("error:") and EXPECTED[problem] in err, err


def test_robot_checkpoint_is_refused_by_the_classifier_scripts(trained, tmp_path, capsys):
    robot = tmp_path / "controller.safetensors"
    save_tensors(robot, {"param.w_in": torch.zeros(3, 4)}, {"config": {"rule": "natural"}})
    for module in (fewshot_evaluate, fewshot_demo, fewshot_calibrate):
        code, _, err = run(module, ["--checkpoint", robot, "--out", tmp_path / "x.png"], capsys)
        assert code == 2 and "robot" in err, err
    assert not (tmp_path / "x.png").exists()


def test_classifier_is_refused_by_the_robot_loader(trained):
    from robo_l2l.controller_file import load_controller

    with pytest.raises(CheckpointFormatError, match="few-shot classifier"):
        load_controller(trained / "a" / "classifier.safetensors")


def test_demo_writes_its_figure_and_refuses_to_overwrite(trained, tmp_path, capsys):
    out = tmp_path / "episode.png"
    code, lines, _ = run(fewshot_demo, ["--checkpoint", trained / "a", "--out", out], capsys)
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    result = json.loads(lines[-1])
    assert len(result["accuracy_per_update"]) == 3 and result["figure"] == str(out)
    code, _, err = run(fewshot_demo, ["--checkpoint", trained / "a", "--out", out], capsys)
    assert code == 2 and "exists" in err


def test_learning_curve_zooms_only_when_every_run_stays_high(trained, tmp_path, capsys):
    from robo_l2l.fewshot.plots import learning_curve_figure

    def rows(accs):
        val = [{"iteration": 100 * i, "kind": "val", "val_accuracy": a, "val_accuracy_ci95": 0.5}
               for i, a in enumerate(accs)]  # fmt: skip
        train = [{"iteration": i, "kind": "train", "loss": 1.0 / (i + 1)} for i in range(200)]
        return val + train

    high = learning_curve_figure({"ft": rows([95.2, 96.1, 95.8])}).axes[0].get_ylim()
    assert high == (85.0, 100.0)  # 5 points below the lowest interval, on a multiple of 5
    mixed = {"ft": rows([95.2, 96.1]), "scratch": rows([20.0, 60.0, 90.0])}
    assert learning_curve_figure(mixed).axes[0].get_ylim() == (0.0, 100.0)
    import fewshot_plot

    out = tmp_path / "curve.png"
    code, lines, _ = run(fewshot_plot, ["--runs", trained / "a", "--out", out], capsys)
    assert code == 0 and out.stat().st_size > 0 and json.loads(lines[-1])["figure"] == str(out)
    code, _, err = run(fewshot_plot, ["--runs", trained / "a", "--out", out], capsys)
    assert code == 2 and "exists" in err
    code, _, err = run(fewshot_plot, ["--runs", tmp_path, "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and "metrics.jsonl" in err


def test_calibrate_keeps_the_most_accurate_scale_and_overwrites_nothing(trained, tmp_path, capsys):
    out = tmp_path / "cal"
    argv = ["--checkpoint", trained / "a", "--out", out, "--n-episodes", "4", "--shot", "1"]
    code, lines, err = run(fewshot_calibrate, [*argv, "--scales", "1", "0.5", "2"], capsys)
    assert code == 0, err
    document = json.loads((out / "calibration.json").read_text())
    assert [(r["readout_scale"], r["deployment"]) for r in document["rows"]] == [
        (c, d) for c in (1.0, 0.5, 2.0) for d in ("ideal", "pcm")
    ]
    assert document["split"] == "validation" and document["selected_on"] == "pcm"
    rows = [r for r in document["rows"] if r["deployment"] == "pcm"]
    assert all(r["n_episodes"] == 4 for r in rows)
    chosen = next(r for r in rows if r["readout_scale"] == document["chosen"])
    assert chosen["accuracy_after"] == max(r["accuracy_after"] for r in rows)
    source, calibrated = load_classifier(trained / "a"), load_classifier(out)
    assert calibrated.config == source.config
    assert calibrated.info["readout_scale"] == document["chosen"] == json.loads(lines[-1])["chosen"]
    for name, value in source.params.items():
        expected = value * document["chosen"] if name == "readout" else value
        torch.testing.assert_close(calibrated.params[name], expected, rtol=0, atol=0)
    before = (out / "classifier.safetensors").read_bytes()
    code, _, err = run(fewshot_calibrate, argv, capsys)
    assert code == 2 and "exists" in err and (out / "classifier.safetensors").read_bytes() == before
    for bad in (["--scales", "1", "0"], ["--scales", "1", "1"], ["--n-episodes", "1"]):
        code, _, err = run(
            fewshot_calibrate, [*argv[:3], tmp_path / "bad", *argv[4:], *bad], capsys
        )
        assert code == 2 and err.startswith("error:"), (bad, err)
    assert not (tmp_path / "bad").exists()
