"""Device cost of an on-chip update: pulses by the documented scheme, energies from the cited
values."""

import pytest
import torch

from robo_l2l import device_cost
from robo_l2l.pcm import DeployedMatrix


def _matrix(target):
    t = torch.tensor(target, dtype=torch.float32).unsqueeze(0)  # one task
    return DeployedMatrix(t, t, torch.zeros_like(t), torch.ones(1, 1, 1), t, None, 32.0)


def test_pulses_follow_the_scheme():
    before = {"w": _matrix([[0.5, -0.2, 0.0], [0.1, 0.3, 0.0]])}
    # unchanged, sign flip, new from zero / written to zero, changed, unchanged
    after = {"w": _matrix([[0.5, 0.4, 0.2], [0.0, 0.25, 0.0]])}
    scheme = device_cost.PulseScheme(set_iterations=3)
    written = torch.tensor([4])
    p = device_cost.update_pulses(before, after, written, scheme)
    assert p["written"].tolist() == [4]
    assert p["resets"].tolist() == [5]  # one per write + the flipped pair's other device
    assert p["sets"].tolist() == [9] and p["verify_reads"].tolist() == [9]  # 3 programmed x 3
    energy = device_cost.update_energy_nj(p, scheme)
    expected = (5 * scheme.reset_pj + 9 * scheme.set_pj + 9 * scheme.read_pj) / 1000
    assert energy.item() == pytest.approx(expected)


def test_trial_and_baseline_counts():
    assert device_cost.trial_macs(249) == 249 * (5 * 250 + 250 * 250 + 250 * 2)
    s = device_cost.summary(
        {k: torch.tensor([10]) for k in ("written", "resets", "sets", "verify_reads")},
        n_steps=249,
        n_trials=2,
        update_macs=device_cost.readout_update_macs(249),
    )
    assert s["trial_energy_digital_nj"] / s["trial_energy_analog_nj"] == pytest.approx(4.6 / 0.806)
    assert s["update_arithmetic_nj"] == pytest.approx(249 * 500 * 4.6 / 1000)


def test_bad_schemes_are_refused():
    with pytest.raises(ValueError, match="set_iterations"):
        device_cost.PulseScheme(set_iterations=0)
    with pytest.raises(ValueError, match="reset_pj"):
        device_cost.PulseScheme(reset_pj=-1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        device_cost.update_pulses(
            {"w": _matrix([[1.0]])}, {"w": _matrix([[1.0, 2.0]])}, torch.tensor([1])
        )
