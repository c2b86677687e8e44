"""Draw the figures from finished runs (never trains or evaluates anything).

    python scripts/plot.py --demo runs/demo/<folder> --runs results/readout_hw_quick ...
    python scripts/plot.py --demo results/demo --runs results/*/ --out results/figures  # README

From the demo folder (``demo.npz``, written by scripts/demo.py): motor_commands.png, paths.png,
spike_rasters.png, learning_signals.png, conductances.png. From each run folder (written by
scripts/train.py): ``metrics.jsonl`` -> one learning_curves.png over all runs and
``<out>/<run>/learning_curve.png`` per run; ``eval.json`` if present (scripts/evaluate.py) ->
``<out>/<run>/eval_table.png``, and one loss_vs_age.png over all evaluated runs. ``--tracking`` (``tracking.json`` of scripts/track.py) ->
tracking.png. Without --demo, --runs and --tracking: results/demo and every folder of
results/ that holds a metrics.jsonl. Output: --out (default runs/plot/figures-<time>/; the
README's results/figures only when named). A missing or malformed input is reported with the
script that produces it, exit code 2, and nothing is written: figures are drawn into a
temporary folder and replace the previous set only when all of them are done. Prints the
written paths; the last line is a JSON object {"figures": [paths]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from robo_l2l import cli, demo_record, plots
from robo_l2l.run_folder import (
    FolderLockedError,
    check_output_folder,
    staged_outputs,
    timestamp,
)
from robo_l2l.training import METRICS, read_metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


class InputError(Exception):
    """An input file is missing or malformed; the message says what to run."""


def load_metrics(run: Path) -> list[dict]:
    """The rows of ``run/metrics.jsonl`` (a torn last line of a running training is skipped)."""
    file = run / METRICS
    fix = f"run scripts/train.py --out {run}"
    if not file.is_file():
        raise InputError(f"{file} not found: {fix}")
    try:
        rows = read_metrics(file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(str(exc)) from exc
    if not any(r.get("kind") in ("train", "val") for r in rows):
        raise InputError(f"{file} holds no 'train' or 'val' rows yet: {fix} (and let it run)")
    return rows


def load_eval(run: Path) -> list[dict] | None:
    """The rows of ``run/eval.json``, or None where the run has not been evaluated."""
    file = run / "eval.json"
    if not file.exists():
        return None
    fix = f"run scripts/evaluate.py --run {run} --out {run}"
    try:
        rows = json.loads(file.read_text())
    except ValueError as exc:
        raise InputError(f"{file} is not valid JSON ({exc}): {fix}") from exc
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{file} is not a non-empty list of rows: {fix}")
    return rows


def load_tracking(file: Path) -> dict:
    """A ``tracking.json`` of scripts/track.py."""
    fix = "run scripts/track.py --run RUN --out FOLDER"
    if not file.is_file():
        raise InputError(f"{file} does not exist: {fix}")
    try:
        record = json.loads(file.read_text())
    except ValueError as exc:
        raise InputError(f"{file} is not valid JSON ({exc}): {fix}") from exc
    if not isinstance(record, dict) or "after" not in record:
        raise InputError(f"{file} is not a tracking record: {fix}")
    return record


def eval_title(run: str, rows: list[dict]) -> str:
    first = rows[0]
    batches = first.get("n_batches") or len(first.get("seeds") or []) or "?"
    return (
        f"{run}: held-out evaluation ({first.get('rule', '?')} rule, "
        f"{first.get('n_tasks', '?')} tasks per row, {batches} batches)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=None, help="folder holding demo.npz")
    parser.add_argument("--runs", type=Path, nargs="*", default=None, help="run folders")
    parser.add_argument(
        "--tracking",
        type=Path,
        nargs="*",
        default=None,
        help="tracking.json files of scripts/track.py -> tracking.png (one group per file)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args(argv)
    demo, runs = args.demo, args.runs
    tracking_files = args.tracking or []
    if demo is None and runs is None and not tracking_files:
        demo = RESULTS / "demo"
        runs = sorted(p.parent for p in RESULTS.glob(f"*/{METRICS}"))
    runs = runs or []
    names = [r.resolve().name for r in runs]
    out = args.out or ROOT / "runs" / "plot" / f"figures-{timestamp()}"
    try:
        if len(set(names)) != len(names):
            raise InputError(f"two run folders share a name: {names}")
        check_output_folder(out)
        demo_data = None
        if demo is not None:
            try:
                demo_data = demo_record.read(Path(demo) / demo_record.FILE)
            except demo_record.DemoRecordError as exc:
                raise InputError(f"{exc}: run scripts/demo.py --out {demo}") from exc
        tracking = [load_tracking(f) for f in tracking_files]
        metrics = {name: load_metrics(run) for name, run in zip(names, runs, strict=True)}
        evals = {name: load_eval(run) for name, run in zip(names, runs, strict=True)}
        if demo_data is None and not metrics and not tracking:
            raise InputError("nothing to plot: give --demo, --runs and/or --tracking")
        with staged_outputs(out) as stage:
            if demo_data is not None:
                plots.demo_figures(demo_data, stage)
            if tracking:
                plots.plot_tracking(tracking, stage / "tracking.png")
            if metrics:
                plots.plot_learning_curves(metrics, stage / "learning_curves.png")
            for name, rows in metrics.items():
                plots.plot_learning_curves(
                    {name: rows},
                    stage / name / "learning_curve.png",
                    title=f"Meta-training: {name}",
                )
                if evals[name] is not None:
                    plots.plot_eval_table(
                        evals[name],
                        stage / name / "eval_table.png",
                        title=eval_title(name, evals[name]),
                    )
            evaluated = {name: rows for name, rows in evals.items() if rows is not None}
            if evaluated:
                plots.plot_loss_vs_age(evaluated, stage / "loss_vs_age.png")
            written = sorted(str(out / p.relative_to(stage)) for p in stage.rglob("*.png"))
    except (InputError, ValueError, FolderLockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(json.dumps({"figures": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
