import math

import numpy as np
import pytest
import torch

from robo_l2l.functional.kinematics import GEOMETRY, scorbot_fk, scorbot_fk_moving
from robo_l2l.functional.kinematics_numpy import (
    scorbot_fk_moving_numpy,
    scorbot_fk_numpy,
    scorbot_fk_reference_float32,
)


def _transcription(q):
    """The formula of REFERENCE.md written out scalar by scalar."""
    d1, a1, a2, a3, a4, d2, d3 = 0.3585, 0.050, 0.300, 0.350, 0.22, -0.098, 0.065
    t1, t2, t3, t4 = -q[0], -q[1], -q[2], q[3]
    r = a1 + a2 * math.cos(t2) + a3 * math.cos(t2 + t3) + a4 * math.cos(t2 + t3 + t4)
    return (
        r * math.cos(t1) - (d2 + d3) * math.sin(t1),
        r * math.sin(t1) + (d2 + d3) * math.cos(t1),
        d1 - a2 * math.sin(t2) - a3 * math.sin(t2 + t3) - a4 * math.sin(t2 + t3 + t4),
    )


def test_fk_matches_formula_float64():
    g = torch.Generator().manual_seed(0)
    q = (torch.rand(500, 4, generator=g, dtype=torch.float64) - 0.5) * 2 * math.pi
    got = scorbot_fk(q)
    want = torch.tensor([_transcription(row.tolist()) for row in q], dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-15, rtol=0)


def test_fk_home_pose():
    got = scorbot_fk(torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(
        got, torch.tensor([0.92, -0.033, 0.3585], dtype=torch.float64), atol=1e-15
    )
    assert GEOMETRY.lateral == pytest.approx(-0.033)


def test_fk_batched_shapes_and_moving_helper():
    q = torch.randn(3, 7, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    full = torch.cat((q, torch.zeros_like(q)), -1)
    assert scorbot_fk_moving(q).shape == (3, 7, 3)
    assert torch.equal(scorbot_fk_moving(q), scorbot_fk(full))


def test_fk_gradcheck():
    q = torch.randn(
        6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(scorbot_fk, (q,))


def test_fk_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        scorbot_fk(torch.zeros(3))
    with pytest.raises(ValueError, match="2 moving joints"):
        scorbot_fk_moving(torch.zeros(2, 3))


def test_numpy_fk_matches_torch_float64():
    """numpy and torch evaluate the same expression; their libm sin/cos differ by <= 1 ulp."""
    rng = np.random.default_rng(3)
    q = rng.uniform(-math.pi, math.pi, (2000, 4))
    got = scorbot_fk_numpy(q)
    np.testing.assert_allclose(got, scorbot_fk(torch.from_numpy(q)).numpy(), atol=1e-15, rtol=0)
    np.testing.assert_allclose(
        scorbot_fk_moving_numpy(q[:, :2]),
        scorbot_fk_moving(torch.from_numpy(q[:, :2])).numpy(),
        atol=1e-15,
        rtol=0,
    )
    np.testing.assert_allclose(scorbot_fk_numpy(np.zeros(4)), [0.92, -0.033, 0.3585], atol=1e-15)


def test_reference_float32_fk_is_the_same_map():
    """The reference's float32 expression equals the float64 map to float32 rounding (2.4e-7 m
    over 10,000 random poses within the joint limits: about 4 ulp of 1 m)."""
    rng = np.random.default_rng(4)
    q = (rng.uniform(-1, 1, (10000, 2)) * np.array([2.27, 1.22])).astype(np.float32)
    exact = scorbot_fk_moving_numpy(q.astype(np.float64))
    np.testing.assert_allclose(scorbot_fk_reference_float32(q), exact, atol=5e-7, rtol=0)


def test_numpy_fk_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        scorbot_fk_numpy(np.zeros(3))
    with pytest.raises(ValueError, match="2 moving joints"):
        scorbot_fk_moving_numpy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="float32"):
        scorbot_fk_reference_float32(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2 moving joints"):
        scorbot_fk_reference_float32(np.zeros((2, 3), np.float32))
