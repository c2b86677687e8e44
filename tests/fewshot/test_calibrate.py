"""Readout-scale calibration's core (robo_l2l.fewshot.calibrate); the script end to end is in
tests/fewshot/test_fewshot_scripts.py."""

import pytest
import torch

from robo_l2l.fewshot.calibrate import check_scales, choose_scale, scaled_readout


def test_scaled_readout_changes_only_the_readout():
    params = {"conv0": torch.randn(3, 1, 3, 3), "readout": torch.randn(3, 5)}
    out = scaled_readout(params, 0.7)
    torch.testing.assert_close(out["readout"], params["readout"] * 0.7, rtol=0, atol=0)
    assert out["conv0"] is params["conv0"]
    torch.testing.assert_close(params["readout"], params["readout"])  # input untouched
    with pytest.raises(KeyError, match="readout"):
        scaled_readout({"conv0": params["conv0"]}, 0.5)


def test_choose_scale_takes_the_best_and_breaks_ties_towards_one():
    assert choose_scale([1.0, 0.8, 0.6], [95.0, 96.0, 95.5]) == 1
    assert choose_scale([1.0, 0.8, 0.5], [90.0, 95.0, 95.0]) == 1
    assert choose_scale([0.5, 1.0, 0.8], [95.0, 95.0, 94.0]) == 1
    with pytest.raises(ValueError, match="2 accuracies"):
        choose_scale([1.0, 0.8, 0.6], [95.0, 96.0])
    with pytest.raises(ValueError, match="finite"):
        choose_scale([1.0, 0.8], [95.0, float("nan")])


@pytest.mark.parametrize("bad", [[], [0.0], [-1.0], [float("inf")], [1.0, 1.0]])
def test_bad_scales_are_refused(bad):
    with pytest.raises(ValueError, match="scale"):
        check_scales(bad)
