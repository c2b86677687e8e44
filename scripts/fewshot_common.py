"""Pieces the few-shot scripts share: dataclass -> argparse, run folders, errors, data."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robo_l2l.config import field_docs
from robo_l2l.run_folder import check_output_folder, default_run_folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    REPO.parent / "shared" / "data" / "omniglot" / "images_background_small1.zip",
    REPO.parent / "shared" / "data" / "omniglot" / "images_background_small2.zip",
)


class UsageError(Exception):
    """Bad input found before any work: printed as ``error: ...``, exit status 2."""


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--field`` option per dataclass field; its docstring is the help text."""
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        flag, doc = f"--{f.name.replace('_', '-')}", docs.get(f.name, "")
        if isinstance(f.default, bool):  # --x / --no-x
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, dest=f.name, action=action, default=f.default, help=doc)
            continue
        parser.add_argument(
            flag, dest=f.name, type=type(f.default), default=f.default,
            help=f"{doc} (default: {f.default})",
        )  # fmt: skip


def dataclass_from_args(cls: type, args: argparse.Namespace, **override: Any):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    try:
        return cls(**(values | override))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def default_run_dir(script: str, name: str, seed: int) -> Path:
    """``runs/<script>/<name>-<seed>-<UTC timestamp>/`` (untracked; the robot's naming)."""
    return default_run_folder(REPO, script, name, seed)


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed (:func:`robo_l2l.run_folder.check_output_folder`), or raise
    :class:`UsageError`."""
    try:
        check_output_folder(folder).mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        raise UsageError(f"output folder {folder} is not writable: {exc}") from exc


def check_new_file(path: Path) -> None:
    """Refuse an existing output file and an unwritable folder (nothing is overwritten)."""
    if path.exists():
        raise UsageError(f"{path} exists; choose another output (nothing is overwritten)")
    check_writable_folder(path.parent)


def print_json(payload: dict) -> None:
    print(json.dumps(payload), flush=True)


def run_cli(main: Callable[[Sequence[str] | None], dict], argv: Sequence[str] | None) -> int:
    """Run ``main``; bad input -> one ``error:`` line on stderr, exit 2."""
    try:
        main(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def limit_threads(threads: int) -> None:
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
