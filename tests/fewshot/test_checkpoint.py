import pickle

import numpy as np
import pytest
import torch

from robo_l2l.fewshot import cnn
from robo_l2l.fewshot.checkpoint import CLASSIFIER_SHAPES, load_reference_classifier
from robo_l2l.fewshot.config import FewShotConfig
from robo_l2l.fewshot.store import load_classifier, save_classifier
from robo_l2l.reference_checkpoint import CheckpointError, load_reference_checkpoint
from tests.conftest import CHECKPOINT, _need
from tests.fewshot.conftest import CLASSIFIER_CHECKPOINT

#: FEWSHOT.md section 7: max |w|, entries with |w| > 1, sum |w| (as the authors' loader prints).
SECTION_7 = {
    "kernel1": (0.737, 0, 79.473755),
    "kernel2": (1.371, 4, 3914.939),
    "kernel3": (0.818, 0, 3723.8208),
    "kernel4": (1.196, 2, 3848.0894),
    "readout": (0.469, 0, 25.821543),
}


def test_loads_authors_classifier(classifier_arrays):
    assert {k: v.shape for k, v in classifier_arrays.items()} == CLASSIFIER_SHAPES
    for name, (max_abs, above_one, sum_abs) in SECTION_7.items():
        w = classifier_arrays[name]
        assert w.dtype == np.float32
        assert np.abs(w).sum(dtype=np.float64) == pytest.approx(sum_abs, rel=1e-6), name
        assert np.abs(w).max() == pytest.approx(max_abs, abs=1e-3), name
        assert int((np.abs(w) > 1).sum()) == above_one, name


def test_robot_checkpoint_given_to_classifier_loader():
    with pytest.raises(CheckpointError, match="robot-arm controller checkpoint"):
        load_reference_classifier(_need(CHECKPOINT))


def test_classifier_checkpoint_given_to_robot_loader():
    with pytest.raises(CheckpointError, match="few-shot classifier checkpoint"):
        load_reference_checkpoint(_need(CLASSIFIER_CHECKPOINT))


def test_truncated_classifier_file(tmp_path):
    data = _need(CLASSIFIER_CHECKPOINT).read_bytes()
    bad = tmp_path / "truncated.pickle"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_reference_classifier(bad)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_refuses_foreign_globals_and_bad_contents(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps([_Evil()]))
    with pytest.raises(CheckpointError, match="not on the allow-list"):
        load_reference_classifier(path)
    good = [np.zeros(s, np.float32) for s in CLASSIFIER_SHAPES.values()]
    path.write_bytes(pickle.dumps(good[:4], protocol=4))
    with pytest.raises(CheckpointError, match="list of 5"):
        load_reference_classifier(path)
    path.write_bytes(pickle.dumps([*good[:4], np.zeros((56, 6), np.float32)], protocol=4))
    with pytest.raises(CheckpointError, match="readout"):
        load_reference_classifier(path)
    nan = [g.copy() for g in good]
    nan[1][0, 0, 0, 0] = np.nan
    path.write_bytes(pickle.dumps(nan, protocol=4))
    with pytest.raises(CheckpointError, match="NaN"):
        load_reference_classifier(path)
    obj = [*good[:4], np.zeros((56, 5), dtype=object)]
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(CheckpointError):
        load_reference_classifier(path)
    with pytest.raises(FileNotFoundError):
        load_reference_classifier(tmp_path / "missing.pickle")


def test_our_file_whose_header_length_starts_with_a_pickle_byte_loads(tmp_path):
    """A safetensors file opens with its header length; when that length's low byte is 0x80
    (a pickle's first byte) the file is still ours, not the authors' pickle."""
    cfg = FewShotConfig(channels=4)
    params = cnn.init_params(torch.Generator().manual_seed(0), channels=4, way=5)
    for pad in range(256):
        path = tmp_path / f"c{pad}.safetensors"
        save_classifier(path, params, cfg, note="x" * pad)
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    loaded = load_classifier(path)
    assert loaded.config == cfg and "authors" not in loaded.info
    for name, value in params.items():
        torch.testing.assert_close(loaded.params[name], value, rtol=0, atol=0)
