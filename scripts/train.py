"""Meta-train the spiking controller (learning-to-learn) into a run folder.

    python scripts/train.py --preset quick                       # runs/train/quick_readout-0-<time>/
    python scripts/train.py --preset quick --run mine            # runs/train/mine/
    python scripts/train.py --preset quick --run mine --resume   # continue after a kill
    python scripts/train.py --config results/readout_hw_quick/config.json   # reproduce a run
    python scripts/train.py --preset paper --device cuda --threads 0
    torchrun --nproc-per-node 2 scripts/train.py --preset quick --run mine   # split each batch

Writes config.json, metrics.jsonl (one row per iteration, plus validation rows), a training
state (state.safetensors: weights + Adam, for --resume) and controller.safetensors (weights
only, the best on the held-out validation set so far: what evaluate.py / demo.py load), all
atomically, under runs/train/ (ignored by git) unless --out names a folder. A folder that holds
a controller is refused without --resume; a folder another process is training in is refused.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from robo_l2l import cli, distributed
from robo_l2l.checkpoint import CheckpointFormatError
from robo_l2l.config import build_parser, config_from_args
from robo_l2l.run_folder import FolderLockedError, default_run_folder
from robo_l2l.training import describe_validation, train

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="run name: runs/train/<run>/")
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (overrides --run), e.g. results/mine"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in the folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--collective-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="under torchrun: how long a rank waits for the others (a dead rank makes the rest "
        "exit after at most this) (default: 1800)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.collective_timeout < float("inf"):
        parser.error(f"--collective-timeout must be > 0 s, got {args.collective_timeout}")
    shard = None
    try:
        cfg = config_from_args(args)
        shard = distributed.init(cfg.device, cfg.batch_size, args.collective_timeout)
        # threads is a property of the machine, not of the run: a config's value is not reused
        threads = cli.DEFAULT_THREADS if args.threads is None else args.threads
        cfg = replace(cfg, threads=threads)
        if args.out is not None:
            run_dir = args.out
        elif args.run is not None:
            run_dir = ROOT / "runs" / "train" / args.run
        else:
            name = f"{args.preset or 'config'}_{cfg.rule}"
            run_dir = default_run_folder(ROOT, "train", name, cfg.seed)
        quiet = args.quiet or not shard.is_main
        with tqdm(
            total=cfg.iterations, disable=quiet, dynamic_ncols=True, unit="it", file=sys.stderr
        ) as bar:

            def progress(done: int, row: dict) -> None:
                bar.n = done
                bar.set_postfix(
                    loss=f"{row['loss']:.4f}",
                    val=f"{row['val_loss_after']:.4f}" if "val_loss_after" in row else "-",
                )
                bar.refresh()

            val = train(cfg, run_dir, resume=args.resume, progress=progress, shard=shard)
    except distributed.PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        RuntimeError,
        CheckpointFormatError,
        FolderLockedError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()
    if shard.is_main:
        print(json.dumps({"run": str(run_dir), "deployment": describe_validation(cfg), **val}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
