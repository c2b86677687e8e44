"""Task families of other shapes: within the joint limits, at the training family's speeds."""

import numpy as np
import pytest
import torch

from robo_l2l.families import FAMILIES, SPEED_RANGE, sample_family
from robo_l2l.tasks import DT_ARM, JOINT_LIMITS, sample_trajectories

SHAPES = [f for f in FAMILIES if f != "brownian"]


@pytest.mark.parametrize("family", SHAPES)
def test_a_family_stays_within_the_limits_at_the_training_speeds(family):
    t = sample_family(family, 200, torch.Generator().manual_seed(3))
    assert t.omega.shape == t.q.shape == (200, 249, 2) and t.xyz.shape == (200, 249, 3)
    assert t.omega.dtype == t.q.dtype == t.xyz.dtype == torch.float32
    assert (t.q.abs() <= JOINT_LIMITS.float()).all()
    rms = t.omega.double().square().mean((1, 2)).sqrt()
    assert SPEED_RANGE[0] - 1e-4 <= rms.min() and rms.max() <= SPEED_RANGE[1] + 1e-4
    # q integrates omega from the home pose, so the env's replay starts where the arm rests
    torch.testing.assert_close(t.q, DT_ARM * torch.cumsum(t.omega, 1))
    assert t.q[:, 0].abs().max() < 0.02
    again = sample_family(family, 200, torch.Generator().manual_seed(3))
    assert torch.equal(t.omega, again.omega)


def test_the_shapes_are_what_their_names_say():
    g = torch.Generator().manual_seed(0)

    def crossings(x):  # sign changes of a joint angle along the path
        return int((np.diff(np.sign(x[np.abs(x) > 1e-3])) != 0).sum())

    f8 = sample_family("figure8", 1, g).q[0].numpy()
    assert crossings(f8[:, 0]) == 1 and crossings(f8[:, 1]) == 3  # 1:2 Lissajous
    reach = sample_family("reach", 1, g).q[0].numpy()
    assert np.abs(reach[[123, -1]]).max() < 1e-3 < np.abs(reach[62]).max()  # out and back twice
    spiral = sample_family("spiral", 1, g).q[0].numpy()
    radius = np.linalg.norm(spiral, axis=1)
    assert radius[150:].max() > 1.5 * radius[:100].max()  # grows


def test_brownian_is_the_training_family():
    a = sample_family("brownian", 4, torch.Generator().manual_seed(9))
    b = sample_trajectories(4, torch.Generator().manual_seed(9))
    assert torch.equal(a.omega, b.omega) and torch.equal(a.xyz, b.xyz)


def test_bad_families_and_speeds_are_refused_and_nothing_is_clipped():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="unknown task family 'zigzag'"):
        sample_family("zigzag", 1, g)
    for bad in ((0.0, 1.0), (1.0, 0.5), (-1.0, 1.0)):
        with pytest.raises(ValueError, match="speed range"):
            sample_family("circle", 1, g, speed_range=bad)
    with pytest.raises(ValueError, match="leave the joint limits"):
        sample_family("reach", 8, g, speed_range=(3.0, 4.0))


@pytest.mark.parametrize("family", SHAPES)
def test_the_env_takes_every_family(family):
    from robo_l2l.envs import ScorbotTrackEnv

    target = sample_family(family, 1, torch.Generator().manual_seed(1))
    env = ScorbotTrackEnv()
    try:
        env.reset(options={"trajectory": target})
        np.testing.assert_array_equal(env.task.target.xyz, target.xyz[0].numpy())
    finally:
        env.close()
