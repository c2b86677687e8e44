"""Time the few-shot data pipeline: PNG decoding, preprocessing, splitting, episode sampling.

    python benchmarks/bench_fewshot_data.py [--data ../shared/data/omniglot] [--repeats 5]

Reads the two small Omniglot archives (merged: 242 characters, 4,840 images). Rows, best of
``--repeats`` (so that other load on the machine inflates them least): reading both zips
(decode + hash, one timing: it dominates), preprocessing all images to 28x28, the split, and
one meta-batch of 32 tasks (5-way 5-shot 5-query with rotation from the meta-train split; with
the reference's quirks; 5-way 1-shot from the test split). Last line: one JSON object (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from bench_inner_loop import best_time  # same folder; run as a script

from robo_l2l.fewshot.omniglot import merge_omniglot, read_omniglot
from robo_l2l.fewshot.preprocess import preprocess
from robo_l2l.fewshot.sampler import sample_episodes
from robo_l2l.fewshot.splits import split_by_alphabet

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "omniglot"
ARCHIVES = ("images_background_small1.zip", "images_background_small2.zip")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the zips")
    parser.add_argument("--repeats", type=int, default=5, help="timings per row (best kept)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    raws = [read_omniglot(args.data / name) for name in ARCHIVES]
    read_s = time.perf_counter() - start
    merged = merge_omniglot(*raws)
    rows = {"read_both_zips_s": read_s, "n_images": int(merged.raw.shape[0] * merged.raw.shape[1])}
    rows["preprocess_all_s"] = best_time(lambda: preprocess(merged.raw), args.repeats)
    images = preprocess(merged.raw)
    rows["split_s"] = best_time(lambda: split_by_alphabet(images, merged.names), args.repeats)
    splits = split_by_alphabet(images, merged.names)
    rng = np.random.default_rng(0)
    cases = {
        "sample_32x5w5s5q_rotate_s": lambda: sample_episodes(
            splits.train.images, 5, 5, 5, 32, rng, rotate=True
        ),
        "sample_32x5w5s5q_reference_quirks_s": lambda: sample_episodes(
            splits.train.images, 5, 5, 5, 32, rng, rotate=True, reference_quirks=True
        ),
        "sample_32x5w1s5q_test_s": lambda: sample_episodes(splits.test.images, 5, 1, 5, 32, rng),
    }
    for name, fn in cases.items():
        rows[name] = best_time(fn, args.repeats * 4)
    width = max(map(len, rows))
    for name, value in rows.items():
        print(f"{name:<{width}}  {value:.4g}")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
