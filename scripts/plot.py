"""Draw the figures from what results/ already holds (never trains or evaluates anything).

    python scripts/plot.py [--demo results/demo] [--runs results/readout_hw_quick ...]
                           [--out results/figures]

From the demo folder (``demo.npz``, written by scripts/demo.py): motor_commands.png, paths.png,
spike_rasters.png, learning_signals.png, conductances.png. From each run folder (written by
scripts/train.py): ``metrics.jsonl`` -> one learning_curves.png over all runs and
``<out>/<run>/learning_curve.png`` per run; ``eval.json`` if present (scripts/evaluate.py) ->
``<out>/<run>/eval_table.png``. Without --demo and --runs: results/demo and every folder of
results/ that holds a metrics.jsonl. A missing or malformed input is reported with the script
that produces it, exit code 2, and nothing is written: figures are drawn into a temporary folder
under --out and moved into place only when all of them are done. Prints the written paths; the
last line is a JSON object {"figures": [paths]}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from robo_l2l import plots

RESULTS = Path(__file__).resolve().parents[1] / "results"
T_KEYS = {  # demo.npz arrays with a time axis, and their widths
    "target_omega": 2,
    "target_xyz": 3,
    "omega_before": 2,
    "omega_after": 2,
    "xyz_before": 3,
    "xyz_after": 3,
    "spikes_before": 250,
    "spikes_after": 250,
    "learning_signals": None,
}
MATRIX_SHAPES = {"w_in": (5, 250), "w_rec": (250, 250), "w_out": (250, 2)}
DEMO_KEYS = (
    *T_KEYS,
    *(f"{kind}.{m}" for m in MATRIX_SHAPES for kind in ("g_before", "g_after", "written")),
    "meta",
)


class InputError(Exception):
    """An input file is missing or malformed; the message says what to run."""


def load_demo(folder: Path) -> dict:
    """The arrays of ``folder/demo.npz`` (checked for keys and shapes) and its parsed meta."""
    file = folder / "demo.npz"
    fix = "run scripts/demo.py first"
    if not file.is_file():
        raise InputError(f"{file} not found: {fix}")
    try:
        with np.load(file, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # a truncated or foreign file: zipfile, OSError, ValueError ...
        raise InputError(f"{file} is not a readable .npz ({exc}): {fix}") from exc
    missing = [k for k in DEMO_KEYS if k not in data]
    if missing:
        raise InputError(f"{file} lacks key(s) {', '.join(missing)}: {fix} (a newer version)")
    lengths = {k: len(data[k]) if data[k].ndim else None for k in T_KEYS}
    widths = {**T_KEYS, "generator_spikes": 800}
    for k, width in widths.items():
        if k not in data:
            continue
        a = data[k]
        if a.ndim != 2 or (width is not None and a.shape[1] != width):
            want = f"(T, {width})" if width else "(T, n)"
            raise InputError(f"{file}: {k} has shape {a.shape}, expected {want}: {fix}")
        lengths[k] = len(a)
    if len(set(lengths.values())) != 1:
        raise InputError(f"{file}: arrays differ in length T: {lengths}: {fix}")
    for m, shape in MATRIX_SHAPES.items():
        for kind in ("g_before", "g_after", "written"):
            if data[f"{kind}.{m}"].shape != shape:
                raise InputError(
                    f"{file}: {kind}.{m} has shape {data[f'{kind}.{m}'].shape}, expected {shape}"
                )
    try:
        meta = json.loads(str(data["meta"]))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise InputError(f"{file}: key meta is not a JSON object string ({exc}): {fix}") from exc
    data["meta"] = meta
    return data


def load_metrics(run: Path) -> list[dict]:
    """The rows of ``run/metrics.jsonl``; a last line cut short by a running training is skipped."""
    file = run / "metrics.jsonl"
    fix = f"run scripts/train.py --run {run.name}"
    if not file.is_file():
        raise InputError(f"{file} not found: {fix}")
    text = file.read_text()
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if i == len(lines) - 1 and not text.endswith("\n"):
                break  # the training process is writing this line now
            raise InputError(f"{file}, line {i + 1}: not a JSON object ({exc})") from exc
        rows.append(row)
    if not any(r.get("kind") in ("train", "val") for r in rows):
        raise InputError(f"{file} holds no 'train' or 'val' rows yet: {fix} (and let it run)")
    return rows


def load_eval(run: Path) -> list[dict] | None:
    """The rows of ``run/eval.json``, or None where the run has not been evaluated."""
    file = run / "eval.json"
    if not file.exists():
        return None
    fix = f"run scripts/evaluate.py --run {run.name}"
    try:
        rows = json.loads(file.read_text())
    except ValueError as exc:
        raise InputError(f"{file} is not valid JSON ({exc}): {fix}") from exc
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{file} is not a non-empty list of rows: {fix}")
    return rows


def eval_title(run: str, rows: list[dict]) -> str:
    first = rows[0]
    seeds = first.get("seeds")
    return (
        f"{run}: held-out evaluation ({first.get('rule', '?')} rule, "
        f"{first.get('n_tasks', '?')} tasks per row, {len(seeds) if seeds else '?'} seeds)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=None, help="folder holding demo.npz")
    parser.add_argument("--runs", type=Path, nargs="*", default=None, help="run folders")
    parser.add_argument("--out", type=Path, default=RESULTS / "figures", help="output folder")
    args = parser.parse_args(argv)
    demo, runs = args.demo, args.runs
    if demo is None and runs is None:
        demo = RESULTS / "demo"
        runs = sorted(p.parent for p in RESULTS.glob("*/metrics.jsonl"))
    runs = runs or []
    names = [r.resolve().name for r in runs]
    if len(set(names)) != len(names):
        print(f"error: two run folders share a name: {names}", file=sys.stderr)
        return 2
    try:
        demo_data = load_demo(demo) if demo is not None else None
        metrics = {name: load_metrics(run) for name, run in zip(names, runs, strict=True)}
        evals = {name: load_eval(run) for name, run in zip(names, runs, strict=True)}
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if demo_data is None and not metrics:
        print("error: nothing to plot: give --demo and/or --runs", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=args.out, prefix=".plot."))
    try:
        drawn: list[Path] = []
        try:
            if demo_data is not None:
                drawn += plots.demo_figures(demo_data, stage)
            if metrics:
                drawn.append(plots.plot_learning_curves(metrics, stage / "learning_curves.png"))
            for name, rows in metrics.items():
                drawn.append(
                    plots.plot_learning_curves(
                        {name: rows},
                        stage / name / "learning_curve.png",
                        title=f"Meta-training: {name}",
                    )
                )
                if evals[name] is not None:
                    drawn.append(
                        plots.plot_eval_table(
                            evals[name],
                            stage / name / "eval_table.png",
                            title=eval_title(name, evals[name]),
                        )
                    )
        except ValueError as exc:  # shapes or keys the loaders let through
            print(f"error: malformed input: {exc}", file=sys.stderr)
            return 2
        written = []
        for file in drawn:
            target = args.out / file.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
            written.append(str(target))
            print(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(json.dumps({"figures": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
