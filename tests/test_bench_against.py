"""benchmarks/bench_against.py: revisions unpacked apart and imported from their own tree."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_against  # noqa: E402


def _has_history() -> bool:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.skipif(not _has_history(), reason="needs the git history")
def test_a_revision_is_unpacked_and_imports_its_own_package(tmp_path):
    tree, commit = bench_against.export_revision("HEAD", tmp_path)
    assert len(commit) == 40 and (tree / "benchmarks" / "bench_inner_loop.py").exists()
    assert bench_against.package_location(tree).is_relative_to(tree.resolve())


@pytest.mark.skipif(not _has_history(), reason="needs the git history")
def test_an_unknown_revision_is_named(tmp_path):
    with pytest.raises(SystemExit, match="unknown revision 'no-such-revision'"):
        bench_against.export_revision("no-such-revision", tmp_path)


def test_bad_arguments_stop_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench_against.main(["--base", "HEAD", "--rounds", "0"])
    assert "--rounds and --repeats must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_against.main(["--base", "HEAD", "--checkpoint", str(tmp_path / "missing.pickle")])
    assert "checkpoint not found" in capsys.readouterr().err
