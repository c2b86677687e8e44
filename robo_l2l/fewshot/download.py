"""Optional download of the official Omniglot archives, checksum-verified, cached, atomic.

Source: the Omniglot repository of Lake et al., github.com/brendenlake/omniglot, folder
``python/`` (MIT licence). Sizes and SHA-256 are those tensorflow-datasets records for the same
URLs (``tensorflow_datasets/url_checksums/omniglot.txt``); the two small archives shipped beside
this project match them byte for byte (size and SHA-256 checked here), and the MD5s of the two
full archives agree with torchvision's ``datasets/omniglot.py``
(images_background ``68d2efa1b9178cc56df9314c21c6e718``, images_evaluation
``6b91aef0f799c5bb55b94e3f2daec811``; the full archives could not be downloaded here to check
them directly).

The cache folder is ``$ROBO_L2L_DATA/omniglot`` if that variable is set, else
``$XDG_CACHE_HOME/robo_l2l/omniglot`` (default ``~/.cache/robo_l2l/omniglot``). A download goes
to a temporary file in that folder, is hashed while it streams, and is renamed into place only
when its size and SHA-256 match; on any failure nothing is left behind.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from robo_l2l.atomic import atomic_write

URL_PREFIX = "https://github.com/brendenlake/omniglot/raw/master/python/"
"""Folder of the official archives."""

CHUNK_BYTES = 1 << 20


class ArchiveInfo(NamedTuple):
    """An official archive: file name, size in bytes, SHA-256 (hex)."""

    filename: str
    size: int
    sha256: str


ARCHIVES = {
    "images_background": ArchiveInfo(
        "images_background.zip",
        9464212,
        "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640",
    ),
    "images_evaluation": ArchiveInfo(
        "images_evaluation.zip",
        6462886,
        "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee",
    ),
    "images_background_small1": ArchiveInfo(
        "images_background_small1.zip",
        1319022,
        "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
    ),
    "images_background_small2": ArchiveInfo(
        "images_background_small2.zip",
        1580917,
        "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
    ),
}
"""The official archives: 30 background alphabets (964 characters), 20 evaluation alphabets
(659 characters), and Lake et al.'s two small subsets of the background set."""


class DownloadError(RuntimeError):
    """A download failed or did not match its checksum (nothing was written)."""


def default_cache_dir() -> Path:
    """The cache folder (see the module docstring); not created here."""
    if os.environ.get("ROBO_L2L_DATA"):
        return Path(os.environ["ROBO_L2L_DATA"]) / "omniglot"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "robo_l2l" / "omniglot"


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download_archive(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    opener: Callable[[str], object] = urllib.request.urlopen,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Path of the verified archive ``name`` in the cache, downloading it if needed.

    Args:
        name: a key of :data:`ARCHIVES` (e.g. ``"images_background"``).
        cache_dir: the cache folder (default :func:`default_cache_dir`).
        url: where to fetch it (default ``URL_PREFIX + filename``; a ``file://`` URL works).
        opener: ``opener(url)`` returns a binary file-like object (``urllib.request.urlopen``;
            injectable for tests and proxies).
        progress: optional ``progress(bytes_done, bytes_total)`` after each chunk.

    A cached file is re-hashed and used if it matches; if it does not, it is downloaded again
    and replaced atomically.

    Raises:
        KeyError: unknown ``name``.
        DownloadError: the transfer failed, or the size or SHA-256 differ from
            :data:`ARCHIVES`; no file is left behind in either case.
    """
    if name not in ARCHIVES:
        raise KeyError(f"unknown Omniglot archive {name!r}; known: {sorted(ARCHIVES)}")
    info = ARCHIVES[name]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / info.filename
    if target.is_file() and target.stat().st_size == info.size and sha256_of(target) == info.sha256:
        return target
    url = url or URL_PREFIX + info.filename

    def fetch(tmp: str) -> None:  # streamed into the temporary file of atomic_write
        digest, done = hashlib.sha256(), 0
        with open(tmp, "wb") as out:
            try:
                with opener(url) as response:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if done > info.size:
                            break
                        if progress is not None:
                            progress(done, info.size)
            except OSError as exc:  # urllib's URLError is an OSError
                raise DownloadError(f"{url}: download failed ({exc})") from exc
        if done != info.size or digest.hexdigest() != info.sha256:
            raise DownloadError(
                f"{url}: checksum mismatch for {info.filename}: got {done} bytes with SHA-256 "
                f"{digest.hexdigest() if done <= info.size else '(not computed, too long)'}, "
                f"expected {info.size} bytes with SHA-256 {info.sha256}; nothing was written"
            )

    atomic_write(target, fetch)  # removes the partial file on any error
    return target
