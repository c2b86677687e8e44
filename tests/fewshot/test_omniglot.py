"""Reading Omniglot (folder or zip), its order, merging/deduplication and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robo_l2l.fewshot.omniglot import OmniglotFormatError, merge_omniglot, read_omniglot
from tests.fewshot.synthetic import layout, png, write_folder, write_zip

SMALL1_ALPHABETS = {"Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"}
SMALL2_ALPHABETS = {"Greek", "Japanese_(katakana)", "Latin", "Sanskrit", "Tagalog"}


def test_small_archives(small_raw):
    small1, small2 = small_raw
    assert (len(small1), len(small2)) == (136, 156)
    assert set(small1.alphabets) == SMALL1_ALPHABETS and set(small2.alphabets) == SMALL2_ALPHABETS
    for data in small_raw:
        assert data.raw.shape == (len(data), 20, 105, 105) and data.raw.dtype == np.uint8
        levels = np.bincount(data.raw.ravel(), minlength=256)
        assert set(np.flatnonzero(levels).tolist()) == {0, 255}
        # strokes are the minority (about 8% of pixels, FEWSHOT.md section 6)
        assert 0.03 < levels[0] / levels.sum() < 0.15
        keys = [(a, int(c[9:])) for a, c in zip(data.alphabets, data.characters, strict=True)]
        assert keys == sorted(keys)
        for c in range(len(data)):
            assert list(data.paths[c]) == sorted(data.paths[c])
            assert all(p.startswith(data.names[c] + "/") for p in data.paths[c])


def test_decoding_matches_fixture(small_raw, golden_fewshot):
    """The fixture's PNGs (by path in the zip) decode to its raw arrays, as tfds decodes."""
    assert str(golden_fewshot["set"]) == "small2"
    small2 = small_raw[1]
    index = {p: (c, d) for (c, d), p in np.ndenumerate(small2.paths)}
    for kind in ("support", "query"):
        paths, raw = golden_fewshot[f"{kind}_paths"], golden_fewshot[f"{kind}_raw"]
        for (e, i), path in np.ndenumerate(paths):
            assert np.array_equal(small2.raw[index[str(path)]], raw[e, i]), path


def test_zip_and_folder_agree_and_order_is_fixed(tmp_path):
    files = layout(("Zeta", "Alpha", "Mu"), characters=11, drawings=2)
    reversed_files = dict(reversed(list(files.items())))
    a = read_omniglot(write_zip(tmp_path / "a.zip", files))
    b = read_omniglot(write_zip(tmp_path / "b.zip", reversed_files, root=None))
    c = read_omniglot(write_folder(tmp_path / "folder", reversed_files))
    for other in (b, c):
        assert other.names == a.names
        assert np.array_equal(other.raw, a.raw) and np.array_equal(other.paths, a.paths)
        assert np.array_equal(other.sha256, a.sha256)
    # alphabets by name, characters by number (character10 after character09, not after 01)
    assert a.names[:3] == ("Alpha/character01", "Alpha/character02", "Alpha/character03")
    assert a.names[9:11] == ("Alpha/character10", "Alpha/character11")
    assert a.names[-1] == "Zeta/character11"
    assert a.paths[0, 0] == "Alpha/character01/0022_01.png"
    # mode "L" PNGs are accepted and decode to the same values
    gray = {k: png(i, mode="L") for i, k in enumerate(files)}
    one = {k: png(i) for i, k in enumerate(files)}
    assert np.array_equal(
        read_omniglot(write_zip(tmp_path / "l.zip", gray)).raw,
        read_omniglot(write_zip(tmp_path / "1.zip", one)).raw,
    )


def test_hidden_files_are_ignored(tmp_path):
    files = layout()
    extra = {**files, "__MACOSX/x/._junk": b"x", "Alpha/.DS_Store": b"x"}
    assert (
        read_omniglot(write_zip(tmp_path / "z.zip", extra, root=None)).names
        == read_omniglot(write_zip(tmp_path / "y.zip", files, root=None)).names
    )


def test_merge_deduplicates(small_raw, merged):
    small1, small2 = small_raw
    assert len(merged) == 242 and merged.raw.shape == (242, 20, 105, 105)
    assert set(merged.alphabets) == SMALL1_ALPHABETS | SMALL2_ALPHABETS
    assert len(set(merged.names)) == 242
    assert len(set(merged.sha256.ravel().tolist())) == 4840
    shared = [n for n in small1.names if n in set(small2.names)]
    assert len(shared) == 50 and {n.split("/")[0] for n in shared} == {"Greek", "Latin"}
    # order of the inputs does not matter; merging a set with itself changes nothing
    swapped = merge_omniglot(small2, small1)
    assert swapped.names == merged.names and np.array_equal(swapped.raw, merged.raw)
    same = merge_omniglot(small2, small2)
    assert same.names == small2.names and np.array_equal(same.raw, small2.raw)


def test_merge_name_clash(tmp_path):
    a = read_omniglot(write_zip(tmp_path / "a.zip", layout()))
    files = layout()
    files["Alpha/character01/0000_01.png"] = png(999)
    b = read_omniglot(write_zip(tmp_path / "b.zip", files))
    with pytest.raises(OmniglotFormatError, match="Alpha/character01"):
        merge_omniglot(a, b)


def _bad(tmp_path: Path, files: dict[str, bytes], root="set") -> Path:
    return write_zip(tmp_path / "bad.zip", files, root=root)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda f: f.update({"Alpha/character01/0000_01.png": png(7, size=(105, 104))}), "105x104"),
        (lambda f: f.update({"Alpha/character01/0000_01.png": png(7, mode="RGB")}), "mode RGB"),
        (lambda f: f.update({"Alpha/character01/0000_01.png": b"not a png"}), "not a readable PNG"),
        (lambda f: f.update({"Alpha/x.png": png(7)}), "not Omniglot's layout"),
        (lambda f: f.update({"Alpha/glyph1/0_01.png": png(7)}), "Alpha/glyph1 is not named"),
        (lambda f: f.update({"Alpha/character01/notes.txt": b"x"}), "unexpected file"),
        (lambda f: f.pop("Beta/character02/0011_03.png"), "differ in their number of drawings"),
    ],
)
def test_bad_layout_or_images(tmp_path, edit, match):
    files = layout()
    edit(files)
    with pytest.raises(OmniglotFormatError, match=match) as info:
        read_omniglot(_bad(tmp_path, files))
    assert "bad.zip" in str(info.value)


def test_too_few_drawings_names_the_folder(tmp_path):
    files = layout(drawings=3)
    files.pop("Beta/character01/0006_01.png")
    files.pop("Beta/character02/0009_01.png")
    files.pop("Alpha/character02/0003_01.png")
    files.pop("Alpha/character01/0000_01.png")
    with pytest.raises(OmniglotFormatError, match=r"Alpha/character01 has 2 drawings.*25 needed"):
        read_omniglot(_bad(tmp_path, files), min_drawings=25)


def test_bad_archives(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_omniglot(tmp_path / "missing.zip")
    (tmp_path / "text.zip").write_text("hello")
    with pytest.raises(OmniglotFormatError, match="not a readable zip"):
        read_omniglot(tmp_path / "text.zip")
    good = write_zip(tmp_path / "good.zip", layout()).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(OmniglotFormatError, match="cut.zip"):
        read_omniglot(tmp_path / "cut.zip")
    # a member whose compressed bytes are damaged (CRC error on read)
    damaged = bytearray(good)
    offset = good.index(b"IDAT") + 8
    damaged[offset : offset + 16] = bytes(16)
    (tmp_path / "crc.zip").write_bytes(bytes(damaged))
    with pytest.raises(OmniglotFormatError, match="crc.zip"):
        read_omniglot(tmp_path / "crc.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(OmniglotFormatError, match="no files found"):
        read_omniglot(tmp_path / "empty")
    two_roots = {**{f"a/{k}": v for k, v in layout().items()}, "b/X/character01/1.png": png(1)}
    with pytest.raises(OmniglotFormatError, match="several top-level folders"):
        read_omniglot(write_zip(tmp_path / "roots.zip", two_roots, root=None))
