r"""The task family in numpy (no torch), in the reference's float32 arithmetic, bit for bit.

The environment samples its targets here (so that its ``reset`` and ``step`` never touch
torch, which hangs in a process forked after torch's thread pool ran), and
:func:`robo_l2l.tasks.trajectories_from_walk` uses :func:`targets_from_walk` for float32 walks,
so that a task's target and its 16-bit spike code are exactly those of the authors' code.

Pipeline (Ortner et al. 2025, authors' code release; equations in :mod:`robo_l2l.tasks`):

1. random walk :math:`m_t = m_{t-1} + \mathcal N(0, (0.65\sqrt{0.01})^2)`, :math:`m_{-1} = 0`
   (:func:`sample_walk`, numpy ``Generator``);
2. :func:`smooth_walk`: correlation with a periodic Hann window of length 120 normalised to
   sum 1, front padded with 119 zeros, back with the last 119 samples reversed; samples
   ``60 .. 60+T-1``; clipped to :math:`[-\pi, \pi]`;
3. :func:`integrate_omega`: :math:`q_t = 0.01 \sum_{s \le t} \omega_s`, clipped to the limits;
4. :func:`~robo_l2l.functional.kinematics_numpy.scorbot_fk_reference_float32`.

Why each float32 detail (all checked against the golden fixtures, ``tests/test_tasks.py``):
TensorFlow's float32 Hann window takes its cosines from Eigen's vectorised ``pcos`` (built
without FMA), which differs from a correctly rounded cosine by one unit in the last place at
8 of the 120 points (:func:`_eigen_cos_float32`); the oneDNN convolution accumulates the 120
taps in order with fused multiply-adds (:func:`_fma_float32`); the cumulative sum runs
sequentially in float32 (torch's CPU ``cumsum`` accumulates float32 in float64 instead).
"""

from __future__ import annotations

import math

import numpy as np

from robo_l2l.functional.kinematics_numpy import scorbot_fk_reference_float32

N_STEPS = 249  #: network steps per trial (1 ms each)
DT_ARM = 0.01  #: integration step of the joint angles (s of arm time per network step)
WALK_STD = 0.65 * math.sqrt(0.01)  #: std of one random-walk increment (rad/s)
HANN_LENGTH = 120
#: Joint limits of the task family (rad): base +-130 deg, shoulder +-70 deg.
JOINT_LIMITS = np.array([130 * math.pi / 180, 70 * math.pi / 180])
N_BITS = 16


def sample_walk(rng: np.random.Generator, batch_size: int, n_steps: int = N_STEPS) -> np.ndarray:
    """Raw random walks ``(B, T, 2)`` float32 (rad/s), drawn from ``rng``; summed in float64."""
    if batch_size < 1 or n_steps < 1:
        raise ValueError(f"batch_size and n_steps must be >= 1, got {batch_size}, {n_steps}")
    steps = rng.standard_normal((batch_size, n_steps, 2))
    return np.cumsum(steps * WALK_STD, axis=1).astype(np.float32)


_FLOAT32_MIN_NORMAL = 2.0**-126
_LOW_29_BITS = (1 << 29) - 1  # float64 mantissa bits below float32 precision
_FLOAT32_MIDPOINT = 1 << 28


def _fma_float32(product: np.ndarray, addend: np.ndarray) -> np.ndarray:
    """Fused multiply-add rounded once to float32: :math:`\\mathrm{round}_{32}(p + c)`.

    ``product`` is :math:`a b` of two float32 numbers computed in float64 (exact: 48 bits),
    ``addend`` a float32 array; returns the float32 result. The float64 sum rounds once more,
    which changes the float32 result only when that sum lands on a float32 rounding midpoint
    (or in the float32 subnormal range); those entries are redone with the sum rounded to odd
    (its error from the TwoSum transformation), which makes the final rounding exact.
    """
    total = product + addend
    suspect = (total.view(np.int64) & _LOW_29_BITS) == _FLOAT32_MIDPOINT
    suspect |= np.abs(total) < _FLOAT32_MIN_NORMAL
    if suspect.any():
        p, c, t = product[suspect], addend[suspect].astype(np.float64), total[suspect]
        virtual = t - p
        error = (p - (t - virtual)) + (c - virtual)
        nudge = (error != 0) & ((t.view(np.int64) & 1) == 0)
        total[suspect] = np.where(nudge, np.nextafter(t, np.where(error > 0, np.inf, -np.inf)), t)
    return total.astype(np.float32)


def _eigen_cos_float32(x: np.ndarray) -> np.ndarray:
    """float32 cosine as Eigen's vectorised ``pcos`` computes it without FMA (the build of the
    reference's TensorFlow): Cody-Waite reduction by :math:`\\pi/2` in four float32 parts,
    minimax polynomials of degree 8 (cos) and 7 (sin) on :math:`[-\\pi/4, \\pi/4]`. For
    :math:`|x| < 18838` only (enough for a window)."""
    f32 = np.float32
    x = np.abs(np.asarray(x, dtype=f32))
    if (x >= 18838).any():
        raise ValueError("_eigen_cos_float32 is for |x| < 18838")
    magic = f32(12582912.0)  # 1.5 * 2^23: adding it rounds to an integer in the low bits
    rounded = x * f32(0.636619746685028076171875) + magic  # x * 2/pi
    octant = rounded.view(np.int32)
    y = rounded - magic
    for part in (
        -1.5703125,
        -0.000483989715576171875,
        1.62865035235881805419921875e-07,
        5.5644315544167710640977020375430583953857421875e-11,
    ):
        x = y * f32(part) + x
    x2 = x * x
    cos_poly = np.full_like(x, f32(2.4372266125283204019069671630859375e-05))
    for coefficient in (
        -0.00138865201734006404876708984375,
        0.041666619479656219482421875,
        -0.5,
        1.0,
    ):
        cos_poly = cos_poly * x2 + f32(coefficient)
    sin_poly = np.full_like(x, f32(-0.0001959234114083702898469196984621021329076029360294342))
    for coefficient in (0.0083326873655616851693794799871284340042620897293, -0.16666662039822982):
        sin_poly = sin_poly * x2 + f32(coefficient)
    sin_poly = (sin_poly * x2) * x + x
    value = np.where((octant & 1) == 0, cos_poly, sin_poly)
    sign = ((octant + 1) << 30) & np.int32(-(2**31))
    return (value.view(np.int32) ^ sign).view(f32)


def hann_window_float32(length: int = HANN_LENGTH) -> np.ndarray:
    """Periodic Hann window normalised to sum 1, float32 as the reference computes it:
    :math:`w_n = 0.5 - 0.5 \\cos(2\\pi n / L)`, then :math:`w / \\sum w` (the sum is exactly 60
    for L = 120, whatever the summation order)."""
    n = np.arange(length, dtype=np.float32)
    argument = (np.float32(2 * np.pi) * n) / np.float32(length)
    window = np.float32(0.5) - np.float32(0.5) * _eigen_cos_float32(argument)
    return window / window.sum(dtype=np.float32)


def smooth_walk(walk: np.ndarray) -> np.ndarray:
    """Hann smoothing of float32 raw walks ``(B, T, 2)`` -> angular velocities ``(B, T, 2)``
    float32 (rad/s), clipped to :math:`[-\\pi, \\pi]`; taps accumulated in order by FMA
    (:func:`_fma_float32`)."""
    walk = np.asarray(walk)
    if walk.ndim != 3 or walk.shape[-1] != 2:
        raise ValueError(f"walk must have shape (B, T, 2), got {walk.shape}")
    if walk.dtype != np.float32:
        raise ValueError(f"walk must be float32 (the reference's arithmetic), got {walk.dtype}")
    n_steps = walk.shape[1]
    if n_steps < HANN_LENGTH:
        raise ValueError(f"walk needs at least {HANN_LENGTH} steps, got {n_steps}")
    window = hann_window_float32()
    pad = HANN_LENGTH - 1
    start = HANN_LENGTH // 2
    padded = np.concatenate((np.zeros_like(walk[:, :pad]), walk, walk[:, -pad:][:, ::-1]), axis=1)
    padded = padded.astype(np.float64)
    # Only the kept outputs start .. start+T-1 are computed, taps in order; tap k of output t
    # reads a front zero while t < pad - start - k (those terms add nothing and are skipped).
    acc = np.zeros_like(walk)
    for k, weight in enumerate(window.astype(np.float64)):
        first = max(0, pad - start - k)
        taps = padded[:, start + k + first : start + k + n_steps]
        acc[:, first:] = _fma_float32(taps * weight, acc[:, first:])
    limit = np.float32(math.pi)
    return np.clip(acc, -limit, limit)


def integrate_omega(omega: np.ndarray, clip: bool = True) -> np.ndarray:
    """Joint angles :math:`q_t = 0.01 \\sum_{s\\le t}\\omega_s` (rad) in ``omega``'s dtype,
    summed sequentially; optionally clipped to :data:`JOINT_LIMITS`."""
    omega = np.asarray(omega)
    dtype = omega.dtype.type
    q = dtype(DT_ARM) * np.cumsum(omega, axis=-2, dtype=omega.dtype)
    if clip:
        limits = JOINT_LIMITS.astype(omega.dtype)
        q = np.clip(q, -limits, limits)
    return q


def targets_from_walk(walk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 raw walks ``(B, T, 2)`` -> ``(omega, q, xyz)`` float32, bit-exact with the
    reference: rad/s ``(B, T, 2)``, rad ``(B, T, 2)``, m ``(B, T, 3)``."""
    omega = smooth_walk(walk)
    q = integrate_omega(omega, clip=True)
    return omega, q, scorbot_fk_reference_float32(q)


def sample_targets(
    rng: np.random.Generator, batch_size: int, n_steps: int = N_STEPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``batch_size`` tasks of the family ``(omega, q, xyz)`` (float32), every draw from ``rng``."""
    return targets_from_walk(sample_walk(rng, batch_size, n_steps))


def encode_target(xyz: np.ndarray) -> np.ndarray:
    """16-bit spike code ``(..., 48)`` uint8 of a float32 Cartesian path ``(..., 3)`` (m):
    :math:`n = \\mathrm{trunc}((c + 1) 2^{15})` in float32, bits least significant first, x bits
    then y bits then z bits; higher bits dropped as in the reference."""
    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.shape[-1] != 3:
        raise ValueError(f"encode_target expects (..., 3), got {xyz.shape}")
    n = np.trunc((xyz + np.float32(1.0)) * np.float32(2.0**15)).astype(np.int64)
    if (n < 0).any():
        raise ValueError("target coordinates must be >= -1 m for the 16-bit code")
    bits = (n[..., None] >> np.arange(N_BITS)) & 1
    return bits.reshape(*xyz.shape[:-1], 3 * N_BITS).astype(np.uint8)
