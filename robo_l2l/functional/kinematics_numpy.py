r"""Forward kinematics of the ED-Scorbot in numpy (no torch): the env's kinematics and the
reference's float32 arithmetic for task targets.

Same geometry and equations as :mod:`robo_l2l.functional.kinematics` (which is the
differentiable torch version used by the losses). Joint angles ``q`` are in radians relative to
the home pose, positions in metres. With :math:`t_1=-q_1, t_2=-q_2, t_3=-q_3, t_4=q_4`:

.. math::
    r &= a_1 + a_2 \cos t_2 + a_3 \cos(t_2+t_3) + a_4 \cos(t_2+t_3+t_4) \\
    x &= r \cos t_1 - (d_2+d_3) \sin t_1 \\
    y &= r \sin t_1 + (d_2+d_3) \cos t_1 \\
    z &= d_1 - a_2 \sin t_2 - a_3 \sin(t_2+t_3) - a_4 \sin(t_2+t_3+t_4)

:func:`scorbot_fk_reference_float32` evaluates the same map the way the authors' code does in
float32 (see its docstring), so that task targets and their 16-bit spike code are bit-exact.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

N_JOINTS = 4
#: Joints driven by the controller (base and shoulder); the others stay at 0.
MOVING_JOINTS = (0, 1)

#: Home pose of the real arm (rad): base 23.6 deg, shoulder -22.0 deg, elbow 22.4 deg.
HOME_OFFSETS = (23.6 * (math.pi / 180), -22.0 * (math.pi / 180), 22.4 * (math.pi / 180))
#: The authors' kinematics expression removes the home offsets again with these rational
#: approximations of them (rad): base, shoulder, elbow (authors' code release).
HOME_OFFSETS_RATIONAL = (
    3745578344 / 9093467413,
    -3357166075 / 8743247601,
    1421104251 / 3634967671,
)


class ScorbotGeometry(NamedTuple):
    """Link lengths of the ED-Scorbot (metres), as in the authors' kinematics."""

    d1: float = 0.3585  #: height of the shoulder axis above the floor
    a1: float = 0.050  #: horizontal offset base axis -> shoulder axis
    a2: float = 0.300  #: upper arm (shoulder -> elbow)
    a3: float = 0.350  #: forearm (elbow -> wrist)
    a4: float = 0.22  #: wrist -> tool tip
    d2: float = -0.098  #: lateral offset of the shoulder
    d3: float = 0.065  #: lateral offset of the elbow

    @property
    def lateral(self) -> float:
        """Total lateral offset d2 + d3 (m)."""
        return self.d2 + self.d3


GEOMETRY = ScorbotGeometry()


def scorbot_fk_numpy(q: np.ndarray, geometry: ScorbotGeometry = GEOMETRY) -> np.ndarray:
    """Tool-tip position ``(..., 3)`` (m) of joint angles ``q`` ``(..., 4)`` (rad), float64.

    The same operations in the same order as :func:`robo_l2l.functional.kinematics.scorbot_fk`.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != N_JOINTS:
        raise ValueError(f"scorbot_fk_numpy expects q of shape (..., 4), got {q.shape}")
    g = geometry
    t1, t2, t3, t4 = -q[..., 0], -q[..., 1], -q[..., 2], q[..., 3]
    t23 = t2 + t3
    t234 = t23 + t4
    r = g.a1 + g.a2 * np.cos(t2) + g.a3 * np.cos(t23) + g.a4 * np.cos(t234)
    x = r * np.cos(t1) - g.lateral * np.sin(t1)
    y = r * np.sin(t1) + g.lateral * np.cos(t1)
    z = g.d1 - g.a2 * np.sin(t2) - g.a3 * np.sin(t23) - g.a4 * np.sin(t234)
    return np.stack((x, y, z), axis=-1)


def scorbot_fk_moving_numpy(q_moving: np.ndarray) -> np.ndarray:
    """:func:`scorbot_fk_numpy` of base and shoulder angles ``(..., 2)``; elbow, wrist at 0."""
    q_moving = np.asarray(q_moving, dtype=np.float64)
    if q_moving.shape[-1] != len(MOVING_JOINTS):
        raise ValueError(
            f"expected angles of the 2 moving joints, shape (..., 2), got {q_moving.shape}"
        )
    return scorbot_fk_numpy(np.concatenate((q_moving, np.zeros_like(q_moving)), axis=-1))


def scorbot_fk_reference_float32(q_moving: np.ndarray) -> np.ndarray:
    """Tool tip ``(..., 3)`` (m, float32) of base and shoulder angles ``(..., 2)`` (rad), in the
    float32 arithmetic of the authors' code, bit for bit.

    Mathematically :func:`scorbot_fk_moving_numpy`; numerically it follows the reference's
    expanded expression: every angle becomes :math:`\\pm(q + h) \\mp c` in float32 (home
    offset ``h`` and its rational approximation ``c``, :data:`HOME_OFFSETS`,
    :data:`HOME_OFFSETS_RATIONAL`), sines and cosines are numpy's float32 ``np.sin`` /
    ``np.cos``, the elbow terms are float64 values rounded to float32, and the products and sums
    run left to right in float32:

    .. math::
        x &= a_1 c_A + a_2 c_A c_B - a_3 s_B s_C c_A + a_3 c_A c_B c_C
             + a_4 (-s_B s_C c_A + c_A c_B c_C) - d_2 s_A - d_3 s_A \\\\
        y &= a_1 s_A + a_2 s_A c_B - a_3 s_A s_B s_C + a_3 s_A c_B c_C
             + a_4 (-s_A s_B s_C + s_A c_B c_C) + d_2 c_A + d_3 c_A \\\\
        z &= -a_2 s_B - a_3 s_B c_C - a_3 s_C c_B + a_4 (-s_B c_C - s_C c_B) + d_1

    with :math:`A = -(q_1 + h_1) + c_1`, :math:`B = -(q_2 + h_2) + c_2`,
    :math:`C = -h_3 + c_3` (wrist at 0, its terms drop out exactly). Not differentiable: it
    makes task targets (data), the losses use the torch version. Reproduces the golden
    fixtures' ``xyz`` from their ``q`` exactly (``tests/test_tasks.py``).
    """
    f32 = np.float32
    q = np.asarray(q_moving)
    if q.dtype != np.float32:
        raise ValueError(f"scorbot_fk_reference_float32 expects float32 angles, got {q.dtype}")
    if q.shape[-1] != len(MOVING_JOINTS):
        raise ValueError(f"expected angles of the 2 moving joints, shape (..., 2), got {q.shape}")
    g = GEOMETRY
    d1, a1, a2, a3, a4, d2, d3 = (f32(v) for v in (g.d1, g.a1, g.a2, g.a3, g.a4, g.d2, g.d3))
    h1, h2, h3 = HOME_OFFSETS
    c1, c2, c3 = HOME_OFFSETS_RATIONAL
    angle_a = -(q[..., 0] + f32(h1)) + f32(c1)
    angle_b = -(q[..., 1] + f32(h2)) + f32(c2)
    angle_c = -(0 + h3) + c3  # elbow at 0: a float64 scalar in the reference
    ca, sa, cb, sb = np.cos(angle_a), np.sin(angle_a), np.cos(angle_b), np.sin(angle_b)
    cc, sc = f32(math.cos(angle_c)), f32(math.sin(angle_c))
    x = (
        a1 * ca
        + a2 * ca * cb
        - a3 * sb * sc * ca
        + a3 * ca * cb * cc
        + a4 * (-sb * sc * ca + ca * cb * cc)
        - d2 * sa
        - d3 * sa
    )
    y = (
        a1 * sa
        + a2 * sa * cb
        - a3 * sa * sb * sc
        + a3 * sa * cb * cc
        + a4 * (-sa * sb * sc + sa * cb * cc)
        + d2 * ca
        + d3 * ca
    )
    z = -a2 * sb - a3 * sb * cc - a3 * sc * cb + a4 * (-sb * cc - sc * cb) + d1
    return np.stack((x, y, z), axis=-1).astype(f32, copy=False)
