"""Output folders: named per run, locked while written, checked before work, replaced as a set.

Scripts write under ``runs/<script>/<name>-<seed>-<timestamp>/`` by default (an ignored folder,
as cleanrl does), so running one twice never overwrites the first run; ``results/`` is written
only when a command names it with ``--out``.

* :class:`RunLock`: an ``fcntl`` lock on ``<folder>/.lock`` held while a process writes the
  folder; a second writer gets :class:`FolderLockedError` at once.
* :func:`check_output_folder`: refuse an ``--out`` that is a file or not writable, before work.
* :func:`staged_outputs`: write into a temporary folder beside the target, then move every file
  into place; files of the previous set (listed in ``outputs.json``) that the new set lacks are
  removed, so a folder never mixes two runs. A failure leaves the previous set untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from robo_l2l.atomic import atomic_write_text

MANIFEST = "outputs.json"


class FolderLockedError(RuntimeError):
    """Another process is writing this folder."""


def timestamp() -> str:
    """UTC time as ``YYYYmmdd-HHMMSS`` (sortable, no characters that need quoting)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def default_run_folder(root: str | os.PathLike, script: str, name: str, seed: int) -> Path:
    """``<root>/runs/<script>/<name>-<seed>-<timestamp>`` (cleanrl's naming)."""
    return Path(root) / "runs" / script / f"{name}-{seed}-{timestamp()}"


def check_output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder that can be written (created if absent); ``ValueError`` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {path} exists and is not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {path} is not writable ({parent} is read-only)")
    return path


class RunLock:
    """Exclusive, non-blocking ``fcntl`` lock on ``<folder>/.lock`` (released on close or exit).

    The kernel drops the lock when the process dies, so a killed run never leaves a stale lock.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderLockedError(
                f"{self.folder} is being written by another process; wait for it to finish or "
                "choose another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _previous_set(out: Path) -> list[str]:
    try:
        names = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def add_to_set(out: str | os.PathLike, names: list[str]) -> None:
    """Add files written into ``out`` (relative ``names``) to its set (``outputs.json``), so that
    the next :func:`staged_outputs` replaces them too."""
    out = Path(out)
    names = sorted(set(_previous_set(out)) | set(names))
    atomic_write_text(out / MANIFEST, json.dumps(names, indent=1) + "\n")


@contextlib.contextmanager
def staged_outputs(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success its files replace ``out``'s previous set.

    Files are moved with :func:`os.replace` (atomic per file, same file system); a listing of
    the set is written to ``out/outputs.json``. On an exception nothing in ``out`` changes.
    """
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        stage = Path(tempfile.mkdtemp(dir=out, prefix=".stage."))
        try:
            yield stage
            names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
            old = _previous_set(out)
            for name in names:
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, target)
            for name in set(old) - set(names):
                with contextlib.suppress(FileNotFoundError):
                    (out / name).unlink()
            (stage / MANIFEST).write_text(json.dumps(names, indent=1) + "\n")
            os.replace(stage / MANIFEST, out / MANIFEST)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
