"""Download: checksums, cache, atomicity, tested through file:// URLs and injected openers."""

from __future__ import annotations

import hashlib
import io
import urllib.error

import pytest

from robo_l2l.fewshot import download
from robo_l2l.fewshot.download import (
    ARCHIVES,
    ArchiveInfo,
    DownloadError,
    default_cache_dir,
    download_archive,
    sha256_of,
)

PAYLOAD = b"omniglot" * 100_000  # 800 kB: several chunks


@pytest.fixture
def fake_archive(monkeypatch):
    info = ArchiveInfo("fake.zip", len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(download.ARCHIVES, "fake", info)
    monkeypatch.setattr(download, "CHUNK_BYTES", 1 << 16)
    return info


def opener_of(data: bytes):
    calls = []

    def opener(url):
        calls.append(url)
        return io.BytesIO(data)

    opener.calls = calls
    return opener


def test_shipped_archives_match_the_official_checksums(small_zips, tmp_path):
    """The constants are those of the official files: the shipped small archives match them."""
    for path, name in zip(
        small_zips, ("images_background_small1", "images_background_small2"), strict=True
    ):
        info = ARCHIVES[name]
        assert path.name == info.filename and path.stat().st_size == info.size
        assert sha256_of(path) == info.sha256
    got = download_archive(
        "images_background_small1", tmp_path, url=small_zips[0].resolve().as_uri()
    )
    assert (
        got == tmp_path / "images_background_small1.zip"
        and sha256_of(got) == ARCHIVES["images_background_small1"].sha256
    )
    assert [p.name for p in tmp_path.iterdir()] == [got.name]
    assert download.URL_PREFIX + ARCHIVES["images_background"].filename == (
        "https://github.com/brendenlake/omniglot/raw/master/python/images_background.zip"
    )


def test_download_then_cache(tmp_path, fake_archive):
    seen = []
    opener = opener_of(PAYLOAD)
    path = download_archive(
        "fake", tmp_path / "cache", opener=opener, progress=lambda d, t: seen.append((d, t))
    )
    assert path.read_bytes() == PAYLOAD and opener.calls == [download.URL_PREFIX + "fake.zip"]
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(seen) > 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fake.zip"]

    def refuse(url):
        raise AssertionError("a verified cached file must not be downloaded again")

    assert download_archive("fake", tmp_path / "cache", opener=refuse) == path
    # a damaged cached file is replaced by a fresh download
    path.write_bytes(PAYLOAD[:-1] + b"x")
    assert (
        download_archive("fake", tmp_path / "cache", opener=opener_of(PAYLOAD)).read_bytes()
        == PAYLOAD
    )


@pytest.mark.parametrize("data", [PAYLOAD[:-1] + b"X", PAYLOAD[:1000], PAYLOAD + b"more", b""])
def test_checksum_mismatch_leaves_nothing(tmp_path, fake_archive, data):
    with pytest.raises(DownloadError, match="checksum mismatch for fake.zip"):
        download_archive("fake", tmp_path, opener=opener_of(data))
    assert not list(tmp_path.iterdir())


def test_transfer_failure_leaves_nothing(tmp_path, fake_archive):
    def broken(url):
        raise urllib.error.URLError("no route to host")

    with pytest.raises(DownloadError, match="download failed"):
        download_archive("fake", tmp_path, opener=broken)
    with pytest.raises(DownloadError, match="download failed"):
        download_archive("fake", tmp_path, url=(tmp_path / "absent.zip").as_uri())
    assert not list(tmp_path.iterdir())
    with pytest.raises(KeyError, match="images_evaluation"):
        download_archive("images_typo", tmp_path)


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBO_L2L_DATA", str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data" / "omniglot"
    monkeypatch.delenv("ROBO_L2L_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "robo_l2l" / "omniglot"
