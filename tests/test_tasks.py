import math

import numpy as np
import pytest
import torch

from robo_l2l import tasks, tasks_numpy
from robo_l2l.functional.kinematics import scorbot_fk_moving
from robo_l2l.functional.kinematics_numpy import scorbot_fk_reference_float32

#: mean |omega| of the family (rad/s): 0.5141 over 20,000 tasks (standard error 0.0016).
MEAN_ABS_OMEGA = 0.514


def test_pipeline_matches_golden(golden):
    """Bit-exact on both public fixtures: omega, q, xyz and the 16-bit target code."""
    d = golden
    traj = tasks.trajectories_from_walk(torch.from_numpy(d["raw_walk"]))
    for key in ("omega", "q", "xyz"):
        np.testing.assert_array_equal(getattr(traj, key).numpy(), d[key])
    np.testing.assert_array_equal(tasks.encode_target(traj.xyz).numpy(), d["target_encoding"])
    np.testing.assert_array_equal(tasks_numpy.encode_target(d["xyz"]), d["target_encoding"])
    np.testing.assert_array_equal(tasks.clock_input().numpy(), d["clock"])


def test_pipeline_stages_match_golden(golden):
    """Each float32 stage from the fixture's own input of that stage, bit for bit."""
    d = golden
    np.testing.assert_array_equal(tasks_numpy.smooth_walk(d["raw_walk"]), d["omega"])
    np.testing.assert_array_equal(tasks_numpy.integrate_omega(d["omega"]), d["q"])
    np.testing.assert_array_equal(scorbot_fk_reference_float32(d["q"]), d["xyz"])


@pytest.mark.parametrize("seed", range(20))
def test_numpy_pipeline_matches_torch(seed):
    """numpy (reference float32 order) against the torch functions, 8 tasks per seed.

    Tolerances are float32 rounding of different summation orders, measured over 50 seeds x 16
    tasks: smoothing 7e-7 (torch's conv1d sums in another order), integration 1.4e-6 (torch's
    CPU cumsum accumulates float32 in float64, numpy sequentially in float32; q up to 2.3 rad),
    kinematics 2.4e-7 (the reference's expanded expression); float64 integration is equal and
    float64 kinematics agree to 1 ulp (numpy's and torch's libm differ).
    """
    rng = np.random.default_rng(seed)
    walk = tasks_numpy.sample_walk(rng, 8)
    omega = tasks_numpy.smooth_walk(walk)
    torch_omega = tasks.smooth_walk(torch.from_numpy(walk)).numpy()
    np.testing.assert_allclose(omega, torch_omega, atol=2e-6, rtol=0)
    q = tasks_numpy.integrate_omega(omega)
    np.testing.assert_allclose(q, tasks.integrate_omega(torch.from_numpy(omega)), atol=4e-6)
    omega64 = omega.astype(np.float64)
    np.testing.assert_array_equal(
        tasks_numpy.integrate_omega(omega64), tasks.integrate_omega(torch.from_numpy(omega64))
    )
    xyz = scorbot_fk_reference_float32(q)
    np.testing.assert_allclose(xyz, scorbot_fk_moving(torch.from_numpy(q)), atol=5e-7, rtol=0)
    # the float32 pipeline against the torch pipeline in float64 (the exact arithmetic)
    exact = tasks.trajectories_from_walk(torch.from_numpy(walk).double())
    _, q32, xyz32 = tasks_numpy.targets_from_walk(walk)
    np.testing.assert_allclose(q32, exact.q, atol=4e-6, rtol=0)
    np.testing.assert_allclose(xyz32, exact.xyz, atol=3e-6, rtol=0)
    # and the torch entry point for float32 walks is this numpy pipeline
    traj = tasks.trajectories_from_walk(torch.from_numpy(walk))
    np.testing.assert_array_equal(traj.xyz.numpy(), xyz32)
    np.testing.assert_array_equal(
        tasks.encode_target(traj.xyz).numpy(), tasks_numpy.encode_target(xyz32)
    )


def test_seeded_determinism():
    a = tasks.sample_trajectories(4, torch.Generator().manual_seed(3))
    b = tasks.sample_trajectories(4, torch.Generator().manual_seed(3))
    c = tasks.sample_trajectories(4, torch.Generator().manual_seed(4))
    assert torch.equal(a.xyz, b.xyz) and not torch.equal(a.xyz, c.xyz)
    x, y = (tasks_numpy.sample_targets(np.random.default_rng(3), 4)[2] for _ in range(2))
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_statistics_and_limits(backend):
    n = 1000
    if backend == "torch":
        traj = tasks.sample_trajectories(n, torch.Generator().manual_seed(5))
        omega, q = traj.omega.numpy(), traj.q.numpy()
        walk = tasks.sample_walk(n, torch.Generator().manual_seed(6)).numpy()
    else:
        omega, q, _ = tasks_numpy.sample_targets(np.random.default_rng(5), n)
        walk = tasks_numpy.sample_walk(np.random.default_rng(6), n)
    per_task = np.abs(omega).mean(axis=(1, 2))
    sem = per_task.std() / math.sqrt(n)  # about 0.0073
    assert abs(per_task.mean() - MEAN_ABS_OMEGA) < 4 * sem
    assert np.abs(omega).max() <= np.float32(math.pi)
    assert (np.abs(q) <= tasks_numpy.JOINT_LIMITS.astype(np.float32)).all()
    steps = np.diff(walk, axis=1)
    # 248,000 increments pin the std to 0.14% (1 sigma); 1% is 7 sigma
    assert steps.std() == pytest.approx(tasks.WALK_STD, rel=0.01)


def test_clock_and_encoding():
    clock = tasks.clock_input()
    assert clock.shape == (249, 5) and clock.sum() == 25
    assert clock[0, 0] == 1 and clock[40, 0] == 1 and clock[50, 1] == 1 and clock[240, 4] == 1
    code = tasks.encode_target(torch.tensor([[0.0, -0.5, 0.25]]))
    np.testing.assert_array_equal(
        code.numpy(), tasks_numpy.encode_target(np.array([[0.0, -0.5, 0.25]], np.float32))
    )
    n = [32768, 16384, 40960]
    for c, value in enumerate(n):
        bits = code[0, 16 * c : 16 * (c + 1)].long().tolist()
        assert sum(b << i for i, b in enumerate(bits)) == value


def test_hann_window():
    """Float32 window against float64: the float32 argument 2 pi n / 120 is off by up to
    2.4e-7 rad, which moves w_n = (0.5 - 0.5 cos) / 60 by up to 2e-9; plus the rounding."""
    window = tasks_numpy.hann_window_float32()
    reference = torch.hann_window(120, periodic=True, dtype=torch.float64)
    np.testing.assert_allclose(window, (reference / reference.sum()).numpy(), atol=5e-9, rtol=0)
    x = np.linspace(0, 2 * np.pi, 1001, dtype=np.float32)
    np.testing.assert_allclose(
        tasks_numpy._eigen_cos_float32(x), np.cos(x.astype(np.float64)), atol=1.2e-7, rtol=0
    )


def test_fma_is_correctly_rounded():
    """Against exact rational arithmetic, including float64 sums that land on float32 midpoints."""
    from fractions import Fraction

    rng = np.random.default_rng(0)
    a = rng.standard_normal(1000).astype(np.float32)
    b = (rng.standard_normal(1000) * 1e-5).astype(np.float32)
    c = (rng.standard_normal(1000) * np.exp(rng.uniform(-30, 30, 1000))).astype(np.float32)
    # Double-rounding traps: a b = 2^-24 - 2^-70, so c + a b rounds in float64 onto the float32
    # midpoint 1 + 2^-23 + 2^-24 (ties to even would go up; the exact sum lies below it).
    a[:2], b[:2] = 1 + 2.0**-23, 2.0**-24 * (1 - 2.0**-23)
    c[:2] = 1 + 2.0**-23, -(1 + 2.0**-23)
    b[1] = -b[1]
    naive = (a[:2].astype(float) * b[:2].astype(float) + c[:2].astype(float)).astype(np.float32)
    assert (naive != c[:2]).all()  # the trap works: a plain float64 sum rounds wrongly
    got = tasks_numpy._fma_float32(a.astype(np.float64) * b.astype(np.float64), c.astype(float))
    for ai, bi, ci, gi in zip(a, b, c, got.astype(np.float32), strict=True):
        exact = Fraction(float(ai)) * Fraction(float(bi)) + Fraction(float(ci))
        near = np.float32(float(exact))
        candidates = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.inf)]
        errors = [abs(Fraction(float(v)) - exact) for v in candidates]
        assert abs(Fraction(float(gi)) - exact) == min(errors)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        tasks.smooth_walk(torch.zeros(2, 249))
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        tasks.trajectories_from_walk(torch.zeros(2, 249))
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        tasks_numpy.smooth_walk(np.zeros((2, 249), np.float32))
    with pytest.raises(ValueError, match="float32"):
        tasks_numpy.smooth_walk(np.zeros((1, 249, 2)))
    with pytest.raises(ValueError, match="at least 120"):
        tasks_numpy.smooth_walk(np.zeros((1, 100, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        tasks.check_trajectory(torch.full((1, 249, 2), float("nan")))
    with pytest.raises(ValueError, match="limits"):
        tasks.check_trajectory(torch.full((1, 249, 2), 3.0))
    with pytest.raises(ValueError, match=">= 1"):
        tasks.sample_walk(0, torch.Generator())
    with pytest.raises(ValueError, match=">= 1"):
        tasks_numpy.sample_walk(np.random.default_rng(0), 0)
    with pytest.raises(ValueError, match=">= -1 m"):
        tasks_numpy.encode_target(np.full((1, 3), -1.5, np.float32))
