"""Omniglot in its standard layout: read it from a folder or a zip, merge and deduplicate sets.

Layout (Lake et al., github.com/brendenlake/omniglot, ``python/*.zip``)::

    [archive root/]<alphabet>/character<NN>/<XXXX>_<YY>.png

105x105 1-bit PNGs, 20 drawings per character (YY = drawer 01..20). The optional archive root
(``images_background/``, ``images_background_small1/``, ...) is one folder shared by every file.

Decoding copies tensorflow-datasets (the reference's loader, FEWSHOT.md section 6): the PNG is
decoded to uint8 with R = G = B, so one channel is kept, **0 = stroke, 255 = background**.
1-bit (Pillow mode ``1``) and 8-bit grayscale (``L``) PNGs are accepted; any other mode is an
error, as is any size other than 105x105.

Order (deterministic, independent of the file system or the zip's member order): characters
sorted by alphabet folder name (Python ``str`` order), then by the number NN of
``character<NN>`` (numerically); the drawings of a character sorted by file name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SIZE = 105
"""Side of an Omniglot PNG in pixels."""

_CHARACTER_DIR = re.compile(r"character(\d+)")
_LAYOUT = "alphabet/characterNN/*.png, optionally under one archive root folder"


class OmniglotFormatError(ValueError):
    """The input is not Omniglot in its standard layout (the message names the file/folder)."""


@dataclass(frozen=True)
class OmniglotRaw:
    """Omniglot characters as decoded PNGs, in the documented order.

    Attributes:
        raw: uint8 (C, D, 105, 105), one channel of the tfds decoding (0 stroke, 255 background).
        alphabets: alphabet folder name of each of the C characters.
        characters: character folder name (``characterNN``) of each character.
        paths: str (C, D), each PNG's path relative to the archive root
            (``alphabet/characterNN/XXXX_YY.png``, as ``support_paths`` of the golden fixture).
        sha256: str (C, D), hex SHA-256 of each PNG file's bytes (the deduplication key).
        sources: the archive/folder each character was read from.
    """

    raw: np.ndarray
    alphabets: tuple[str, ...]
    characters: tuple[str, ...]
    paths: np.ndarray
    sha256: np.ndarray
    sources: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """``alphabet/characterNN`` of each character."""
        return tuple(f"{a}/{c}" for a, c in zip(self.alphabets, self.characters, strict=True))

    @property
    def num_drawings(self) -> int:
        return self.raw.shape[1]

    def __len__(self) -> int:
        return self.raw.shape[0]


def _list_zip(source: Path) -> tuple[list[str], zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(source)
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise OmniglotFormatError(f"{source}: not a readable zip archive ({exc})") from exc
    return names, archive


def _list_folder(source: Path) -> list[str]:
    return sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())


def _ignored(name: str) -> bool:
    """Hidden files and macOS resource forks, which zip tools add beside the data."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def _character_files(source: Path, names: list[str]) -> dict[tuple[str, str], list[str]]:
    """Group the PNG members by (alphabet, character), checking Omniglot's layout."""
    names = [n for n in names if not _ignored(n)]
    if not names:
        raise OmniglotFormatError(f"{source}: no files found; expected Omniglot's layout {_LAYOUT}")
    for n in names:
        if not n.lower().endswith(".png"):
            raise OmniglotFormatError(
                f"{source}: unexpected file {n!r}; expected Omniglot's layout {_LAYOUT}"
            )
    depths = {len(n.split("/")) for n in names}
    roots = {n.split("/")[0] for n in names}
    if depths == {4} and len(roots) == 1:
        prefix = len(next(iter(roots))) + 1
        rel = [n[prefix:] for n in names]
    elif depths == {3}:
        rel, prefix = names, 0
    else:
        depth = [len(n.split("/")) for n in names]
        usual = max(set(depth), key=lambda d: (d in (3, 4), depth.count(d)))
        odd = (
            min(n for n, d in zip(names, depth, strict=True) if d != usual)
            if len(depths) > 1
            else ""
        )
        detail = f"several top-level folders {sorted(roots)[:4]}" if depths == {4} else odd
        raise OmniglotFormatError(
            f"{source}: not Omniglot's layout ({detail!r}); expected {_LAYOUT}"
        )
    groups: dict[tuple[str, str], list[str]] = {}
    for full, r in zip(names, rel, strict=True):
        alphabet, character, _ = r.split("/")
        if not _CHARACTER_DIR.fullmatch(character):
            raise OmniglotFormatError(
                f"{source}: folder {alphabet}/{character} is not named characterNN; "
                f"expected Omniglot's layout {_LAYOUT}"
            )
        groups.setdefault((alphabet, character), []).append(full)
    return groups


def _decode_png(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("1", "L"):
                raise OmniglotFormatError(
                    f"{where}: not a grayscale image (Pillow mode {image.mode}; Omniglot's PNGs "
                    "are 1-bit grayscale)"
                )
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise OmniglotFormatError(
                    f"{where}: image is {image.size[0]}x{image.size[1]} pixels, "
                    f"Omniglot's are {IMAGE_SIZE}x{IMAGE_SIZE}"
                )
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OmniglotFormatError):
            raise
        raise OmniglotFormatError(f"{where}: not a readable PNG ({exc})") from exc


def read_omniglot(source: str | os.PathLike, min_drawings: int = 1) -> OmniglotRaw:
    """Read every character of an Omniglot set from a folder or a ``.zip`` archive.

    Args:
        source: a folder or zip in Omniglot's layout (see the module docstring), e.g.
            ``images_background.zip``, ``images_evaluation.zip``,
            ``images_background_small1.zip`` or one of them unpacked.
        min_drawings: the fewest drawings a character may have (an episode needs K + Q
            distinct drawings of each class).

    Returns:
        :class:`OmniglotRaw` with every character, in the documented order.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        OmniglotFormatError: not a readable zip, not Omniglot's layout, a PNG that is corrupt,
            not grayscale or not 105x105, a character with fewer than ``min_drawings`` drawings,
            or characters with different numbers of drawings (Omniglot has 20 each); the
            message names the archive and the file or folder. Raised before any image is
            decoded for every layout problem.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    archive = None
    if source.is_dir():
        groups = _character_files(source, _list_folder(source))
    else:
        names, archive = _list_zip(source)
        groups = _character_files(source, names)
    keys = sorted(groups, key=lambda k: (k[0], int(k[1][len("character") :]), k[1]))
    counts = {k: len(groups[k]) for k in keys}
    fewest = min(keys, key=lambda k: (counts[k], k))
    if counts[fewest] < min_drawings:
        raise OmniglotFormatError(
            f"{source}: {fewest[0]}/{fewest[1]} has {counts[fewest]} drawings, fewer than the "
            f"{min_drawings} needed (K + Q distinct drawings per class)"
        )
    most = max(keys, key=lambda k: (counts[k], k))
    if counts[most] != counts[fewest]:
        raise OmniglotFormatError(
            f"{source}: character folders differ in their number of drawings: "
            f"{fewest[0]}/{fewest[1]} has {counts[fewest]}, {most[0]}/{most[1]} has "
            f"{counts[most]} (Omniglot has 20 per character)"
        )
    n_char, n_draw = len(keys), counts[fewest]
    raw = np.empty((n_char, n_draw, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    paths = np.empty((n_char, n_draw), dtype=object)
    digests = np.empty((n_char, n_draw), dtype=object)
    try:
        for c, key in enumerate(keys):
            for d, member in enumerate(sorted(groups[key])):
                where = f"{source}: {member}"
                try:
                    data = archive.read(member) if archive else (source / member).read_bytes()
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise OmniglotFormatError(f"{where}: cannot be read ({exc})") from exc
                raw[c, d] = _decode_png(data, where)
                paths[c, d] = "/".join(member.split("/")[-3:])
                digests[c, d] = hashlib.sha256(data).hexdigest()
    finally:
        if archive is not None:
            archive.close()
    return OmniglotRaw(
        raw=raw,
        alphabets=tuple(k[0] for k in keys),
        characters=tuple(k[1] for k in keys),
        paths=paths.astype(str),
        sha256=digests.astype(str),
        sources=(source.name,) * n_char,
    )


def merge_omniglot(*datasets: OmniglotRaw) -> OmniglotRaw:
    """Merge Omniglot sets, dropping characters already present, sorted as one set.

    A character is a duplicate when the SHA-256 of its PNG files, in drawing order, equals
    that of a character already kept (the small archives share Greek and Latin as byte-identical
    files: small1 + small2 = 8 alphabets, 242 characters, 4,840 images). The first occurrence
    is kept.

    Raises:
        OmniglotFormatError: two characters with the same ``alphabet/characterNN`` name but
            different files, or sets with different numbers of drawings per character.
    """
    if not datasets:
        raise ValueError("merge_omniglot needs at least one dataset")
    draws = {d.num_drawings for d in datasets}
    if len(draws) != 1:
        raise OmniglotFormatError(f"cannot merge sets with {sorted(draws)} drawings per character")
    seen: dict[tuple[str, ...], tuple[int, int]] = {}
    by_name: dict[str, tuple[str, ...]] = {}
    keep: list[tuple[int, int]] = []
    for s, dataset in enumerate(datasets):
        for c, name in enumerate(dataset.names):
            key = tuple(dataset.sha256[c])
            if key in seen:
                continue
            if name in by_name:
                raise OmniglotFormatError(
                    f"{name} occurs in {dataset.sources[c]} and in another set with different "
                    "files; rename one of them"
                )
            seen[key] = (s, c)
            by_name[name] = key
            keep.append((s, c))
    keep.sort(
        key=lambda sc: (
            datasets[sc[0]].alphabets[sc[1]],
            int(datasets[sc[0]].characters[sc[1]][len("character") :]),
        )
    )
    return OmniglotRaw(
        raw=np.stack([datasets[s].raw[c] for s, c in keep]),
        alphabets=tuple(datasets[s].alphabets[c] for s, c in keep),
        characters=tuple(datasets[s].characters[c] for s, c in keep),
        paths=np.stack([datasets[s].paths[c] for s, c in keep]),
        sha256=np.stack([datasets[s].sha256[c] for s, c in keep]),
        sources=tuple(datasets[s].sources[c] for s, c in keep),
    )
