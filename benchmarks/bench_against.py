"""Time this checkout against earlier revisions, interleaved, each with its own bench_inner_loop.

    python benchmarks/bench_against.py --base REV [--base REV2 ...] [--rounds 3] [--out DIR]

This machine's speed drifts by up to 2-3x between days and by tens of percent between runs
minutes apart, so a speed-up is only measurable against the old code on the same machine at the
same time. Each round runs ``benchmarks/bench_inner_loop.py`` of every revision in turn (a
``git archive`` of it in a temporary folder, imported ahead of the installed package), then of
this checkout; the best time of each over the rounds is kept, and the ratio within each round
is kept too (its spread shows the noise). Last line: one JSON object with the times (s) per
revision and the speed-ups of this checkout (base time / our time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inner_loop import DEFAULT_CHECKPOINT, write_result  # noqa: E402

KEYS = ("inner_loop_pcm", "inner_loop_ideal", "meta_step_pcm")


def export_revision(rev: str, into: Path) -> tuple[Path, str]:
    """The tree of ``rev`` (a commit, tag or branch) unpacked under ``into``; and its hash."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"unknown revision {rev!r}: {error.stderr.strip()}") from None
    tree = into / commit[:12]
    tree.mkdir()
    archive = into / f"{commit[:12]}.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    if not (tree / "benchmarks" / "bench_inner_loop.py").exists():
        raise SystemExit(f"revision {rev} has no benchmarks/bench_inner_loop.py to run")
    return tree, commit


def package_location(tree: Path) -> Path:
    """Where ``robo_l2l`` is imported from with ``tree`` first on the path, run in ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    where = subprocess.run(
        [sys.executable, "-c", "import robo_l2l; print(robo_l2l.__file__)"],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(where).resolve()


def run_tree(tree: Path, args: argparse.Namespace, out: Path) -> dict[str, float]:
    """One run of ``tree``'s bench_inner_loop with ``tree`` first on the import path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    where = package_location(tree)
    if not where.is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree} imports robo_l2l from {where}, not from its own tree")
    command = [
        sys.executable,
        str(tree / "benchmarks" / "bench_inner_loop.py"),
        "--batch-size",
        str(args.batch_size),
        "--repeats",
        str(args.repeats),
        "--checkpoint",
        str(args.checkpoint),
    ]
    help_text = subprocess.run(
        [*command[:2], "--help"], env=env, cwd=tree, capture_output=True, text=True
    ).stdout
    if "--out" in help_text:  # older revisions write into their own (temporary) tree
        command += ["--out", str(out)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench_inner_loop of {tree} failed:\n{done.stderr[-2000:]}")
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: float(last[key]) for key in KEYS}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", action="append", required=True, help="revision to compare with (repeatable)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each runs every revision once, in turn"
    )
    parser.add_argument("--batch-size", type=int, default=90, help="tasks per inner loop")
    parser.add_argument("--repeats", type=int, default=3, help="timings per run (best kept)")
    parser.add_argument(
        "--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="the authors' robot pickle"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be >= 1")
    if not args.checkpoint.exists():
        parser.error(
            f"checkpoint not found: {args.checkpoint} (the runs must time the same weights)"
        )
    args.checkpoint = args.checkpoint.resolve()
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            # code only: results/ may hold this session's fresh benchmark files
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [":!results"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory(prefix="bench_against_") as tmp:
        trees = {"this checkout": (ROOT, head + (" (uncommitted changes)" if dirty else ""))}
        for rev in args.base:
            tree, commit = export_revision(rev, Path(tmp))
            trees[rev] = (tree, commit)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            for name in [*args.base, "this checkout"]:
                times = run_tree(trees[name][0], args, Path(tmp) / "out")
                runs[name].append(times)
                shown = "  ".join(f"{k} {v:.2f} s" for k, v in times.items())
                print(f"round {round_ + 1}: {name:<14} {shown}", flush=True)
    best = {name: {k: min(r[k] for r in rs) for k in KEYS} for name, rs in runs.items()}
    ours = best["this checkout"]
    result: dict = {
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "commits": {name: commit for name, (_, commit) in trees.items()},
        "best": best,
        "runs": runs,
        "speedup": {rev: {k: best[rev][k] / ours[k] for k in KEYS} for rev in args.base},
        # the same ratio within each round (runs minutes apart): its spread is the noise
        "speedup_per_round": {
            rev: {
                k: [b[k] / o[k] for b, o in zip(runs[rev], runs["this checkout"], strict=True)]
                for k in KEYS
            }
            for rev in args.base
        },
    }
    for rev in args.base:
        rounds = result["speedup_per_round"][rev]
        shown = "  ".join(
            f"{k} {v:.2f}x ({min(rounds[k]):.2f}-{max(rounds[k]):.2f})"
            for k, v in result["speedup"][rev].items()
        )
        print(f"this checkout against {rev}, best (per round): {shown}")
    flat = {f"{k}_{name}": v for name, times in best.items() for k, v in times.items()}
    write_result("bench_against", {**flat, **result}, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
