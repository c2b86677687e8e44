"""Plot the learning curves of few-shot training runs (reads metrics.jsonl, never trains).

    python scripts/fewshot_plot.py --runs results/fewshot_hw results/fewshot_sw \
        --out results/fewshot_learning_curve.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from fewshot_common import UsageError, check_new_file, print_json, run_cli

from robo_l2l.atomic import atomic_write
from robo_l2l.fewshot.plots import learning_curve_figure


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write (must not exist)")
    args = parser.parse_args(argv)
    runs = {}
    for run in args.runs:
        path = run / "metrics.jsonl"
        if not path.is_file():
            raise UsageError(f"{run} holds no metrics.jsonl")
        runs[run.name] = [json.loads(line) for line in path.read_text().splitlines() if line]
    check_new_file(args.out)
    fig = learning_curve_figure(runs)
    atomic_write(args.out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    payload = {"figure": str(args.out), "runs": [str(r) for r in args.runs]}
    print_json(payload)
    return payload


if __name__ == "__main__":
    sys.exit(run_cli(main, None))
