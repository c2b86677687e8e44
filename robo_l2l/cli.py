"""Command-line pieces every script shares: deployment flags, threads, seeds, checked numbers.

Scripts parse with these so that a flag means the same everywhere and bad numbers are refused
by argparse (one line ``error: ...``, exit code 2) before any work.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import torch

from robo_l2l import deployment as dep
from robo_l2l.config import MAX_SEED
from robo_l2l.pcm import PCMConfig

#: Default torch CPU threads. Measured on a 2-core machine under load from other processes:
#: torch's default (one thread per core) oversubscribes and runs 10-30x slower than one thread
#: (README, "Threads"); 1 behaves everywhere, pass --threads N on an idle many-core machine.
DEFAULT_THREADS = 1


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``error: ...`` on stderr, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _bounded_int(name: str, low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {value}")
        return value

    return parse


def seed(text: str) -> int:
    """argparse type: a seed in [0, 2**32 - 1]."""
    return _bounded_int("seed", 0, MAX_SEED)(text)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _bounded_int("value", 1)(text)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _bounded_int("value", 0)(text)


def threads(text: str) -> int:
    """argparse type: torch CPU threads, 0 (torch's default) to 1024."""
    return _bounded_int("--threads", 0, 1024)(text)


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def device_age(text: str) -> float:
    """argparse type: a device age in seconds (finite, >= t0 = 1 s)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--t-inference must be seconds, got {text!r}") from None
    try:
        return dep.check_age(value, PCMConfig().t0_s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=threads,
        default=DEFAULT_THREADS,
        help=f"torch CPU threads (0: torch's default, one per core; default {DEFAULT_THREADS}, "
        "which behaves on a machine shared with other work)",
    )


def compute_device(text: str) -> str:
    """argparse type: ``cpu`` or ``cuda``; ``cuda`` only where torch sees a CUDA device."""
    if text not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; choose cpu or cuda")
    if text == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("cuda was asked for, but torch sees no CUDA device")
    return text


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        type=compute_device,
        default="cpu",
        help="where the networks and the PCM model run: cpu or cuda (default cpu)",
    )


def add_family_flag(parser: argparse.ArgumentParser) -> None:
    from robo_l2l.families import FAMILIES

    parser.add_argument(
        "--family",
        choices=FAMILIES,
        default="brownian",
        help="task family of the targets: brownian (the training family, the paper's) or a "
        "path of another shape (robo_l2l/families.py) (default brownian)",
    )


def set_threads(n: int) -> None:
    """Apply ``--threads`` (0 keeps torch's default)."""
    if n:
        torch.set_num_threads(n)


def add_deployment_flags(parser: argparse.ArgumentParser) -> None:
    """``--ideal``, ``--t-inference``, ``--drift-compensation``: the same in every script."""
    group = parser.add_argument_group("deployment (default: the run's, from its config)")
    group.add_argument(
        "--ideal", action="store_true", help="ideal weights instead of the PCM devices"
    )
    group.add_argument(
        "--t-inference",
        type=device_age,
        default=None,
        metavar="SECONDS",
        help="device age: seconds between programming and use (>= 1 s)",
    )
    group.add_argument(
        "--drift-compensation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="global drift compensation of the PCM arrays (on / off)",
    )


def deployment_from_args(args: argparse.Namespace, base: PCMConfig) -> PCMConfig:
    """The run's deployment ``base`` with the flags of :func:`add_deployment_flags` applied."""
    return dep.override(
        base,
        ideal=args.ideal,
        t_inference_s=args.t_inference,
        drift_compensation=args.drift_compensation,
    )


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_gui_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of the GUI instrument (:mod:`robo_l2l.instrument`), for watch and demo --gui."""
    group = parser.add_argument_group("GUI (the PyBullet window; keys listed below)")
    group.add_argument(
        "--speed", type=positive_float, default=0.5, help="replay speed, x real time (0.5)"
    )
    group.add_argument(
        "--autoplay",
        action="store_true",
        help="play before, then after, then the next target or quit (no input needed)",
    )
    group.add_argument(
        "--runs",
        type=positive_int,
        default=1,
        help="with --autoplay: play this many targets (seed, seed + 1, ...)",
    )
    group.add_argument(
        "--screenshots",
        type=nonnegative_int,
        default=0,
        help="with --autoplay: save this many GUI screenshots, evenly spaced over the first target",
    )
    group.add_argument(
        "--no-traces-window",
        action="store_true",
        help="no live motor-traces window (motor_traces.png is saved either way)",
    )


def gui_epilog() -> str:
    """The keyboard table for a parser's epilog (use ``RawDescriptionHelpFormatter``)."""
    from robo_l2l.instrument import shortcuts_text

    return "keyboard shortcuts (focus on the PyBullet window):\n" + shortcuts_text()


def gui_options(args: argparse.Namespace, out) -> Any:
    """The :class:`robo_l2l.instrument.WatchOptions` of the flags of :func:`add_gui_flags`."""
    from pathlib import Path

    from robo_l2l.instrument import WatchOptions

    return WatchOptions(
        out=Path(out),
        speed=args.speed,
        autoplay=args.autoplay,
        runs=args.runs,
        screenshots=args.screenshots,
        traces_window=not args.no_traces_window,
    )
