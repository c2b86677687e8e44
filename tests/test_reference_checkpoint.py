import pickle

import numpy as np
import pytest

from robo_l2l.reference_checkpoint import (
    CHECKPOINT_SHAPES,
    CheckpointError,
    load_reference_checkpoint,
)
from tests.conftest import CHECKPOINT, _need


def test_loads_published_checkpoint():
    weights = load_reference_checkpoint(_need(CHECKPOINT))
    assert {k: v.shape for k, v in weights.items()} == CHECKPOINT_SHAPES
    assert all(v.dtype == np.float32 for v in weights.values())
    # A known fact of the published weights: 11% of the input weights exceed |w| = 1.
    assert np.mean(np.abs(weights["W_in_trainee"]) > 1) == pytest.approx(0.108, abs=1e-3)


def test_truncated_file(tmp_path):
    data = _need(CHECKPOINT).read_bytes()
    bad = tmp_path / "truncated.pickle"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_reference_checkpoint(bad)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"W_in_lsg": _Evil()}))
    with pytest.raises(CheckpointError, match="not on the allow-list"):
        load_reference_checkpoint(path)


def test_unexpected_keys_and_shapes(tmp_path):
    good = {k: np.zeros(s, np.float32) for k, s in CHECKPOINT_SHAPES.items()}
    path = tmp_path / "keys.pickle"
    path.write_bytes(pickle.dumps({**good, "extra": np.zeros(1, np.float32)}, protocol=5))
    with pytest.raises(CheckpointError, match="unexpected"):
        load_reference_checkpoint(path)
    path.write_bytes(
        pickle.dumps({**good, "W_out_trainee": np.zeros((2, 250), np.float32)}, protocol=5)
    )
    with pytest.raises(CheckpointError, match="W_out_trainee"):
        load_reference_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_reference_checkpoint(tmp_path / "missing.pickle")
