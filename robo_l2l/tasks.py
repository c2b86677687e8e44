r"""The task family: smooth random target trajectories of the ED-Scorbot's base and shoulder.

Every task is a target angular-velocity trace :math:`\omega^*` (rad/s) for the two moving joints
over ``T = 249`` network steps, its joint angles :math:`q^*` (rad, integration step 0.01) and its
tool-tip path :math:`x^* = FK(q^*)` (m), as in Ortner et al. (2025), section "Robot arm".

Pipeline (:func:`trajectories_from_walk`):

1. random walk :math:`m_t = m_{t-1} + \mathcal N(0, (0.65\sqrt{0.01})^2)`, :math:`m_{-1} = 0`;
2. smoothing with a periodic Hann window of length 120 normalised to sum 1 (front padded with
   119 zeros, back with the last 119 samples reversed, 'valid' correlation, samples
   ``60 .. 60+T-1`` kept), then clipped to :math:`[-\pi, \pi]`;
3. :math:`q_t = 0.01 \sum_{s \le t} \omega_s`, clipped to the joint limits (omega is not);
4. :math:`x^*_t = FK(q_t)` with elbow and wrist at 0.

Float32 walks go through :func:`robo_l2l.tasks_numpy.targets_from_walk`, which reproduces the
reference's float32 arithmetic bit for bit (Hann cosines, tap order with FMA, sequential
cumulative sum, the expanded kinematics expression), so the 16-bit target code equals the
authors' on every task. The targets are data (never differentiated), so computing them in
numpy costs nothing in meta-training; the differentiable kinematics of the network's output
stay in torch (:mod:`robo_l2l.functional.kinematics`). Walks of other dtypes (float64 for
tests of the physics) are computed by the torch functions below in that dtype.

Also here: the 5-neuron clock input and the 16-bit spike encoding of the target path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from robo_l2l import tasks_numpy
from robo_l2l.functional.kinematics import scorbot_fk_moving
from robo_l2l.tasks_numpy import DT_ARM, HANN_LENGTH, N_BITS, N_STEPS, WALK_STD

__all__ = [
    "CLOCK_PERIOD",
    "CLOCK_SPACING",
    "DT_ARM",
    "HANN_LENGTH",
    "JOINT_LIMITS",
    "N_BITS",
    "N_CLOCK",
    "N_STEPS",
    "WALK_STD",
    "Trajectories",
    "check_trajectory",
    "clock_input",
    "encode_target",
    "integrate_omega",
    "sample_trajectories",
    "sample_walk",
    "smooth_walk",
    "trajectories_from_walk",
]

#: Joint limits of the task family (rad): base +-130 deg, shoulder +-70 deg.
JOINT_LIMITS = torch.from_numpy(tasks_numpy.JOINT_LIMITS.copy())
N_CLOCK = 5
CLOCK_PERIOD = 50  #: clock neuron k fires at 50 k + 10 m, m = 0..4
CLOCK_SPACING = 10


@dataclass(frozen=True)
class Trajectories:
    """A batch of target trajectories (all tensors batch-first).

    Attributes:
        omega: target angular velocities (rad/s), ``(B, T, 2)``.
        q: target joint angles (rad), ``(B, T, 2)``.
        xyz: target tool-tip positions (m), ``(B, T, 3)``.
    """

    omega: torch.Tensor
    q: torch.Tensor
    xyz: torch.Tensor

    def __len__(self) -> int:
        return self.omega.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Trajectories:
        return Trajectories(
            *(t.to(device=device, dtype=dtype) for t in (self.omega, self.q, self.xyz))
        )

    def __getitem__(self, index) -> Trajectories:
        return Trajectories(self.omega[index], self.q[index], self.xyz[index])


def sample_walk(
    batch_size: int,
    generator: torch.Generator,
    n_steps: int = N_STEPS,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Raw random walks ``m`` of shape ``(B, T, 2)`` (rad/s), drawn from ``generator``."""
    if batch_size < 1 or n_steps < 1:
        raise ValueError(f"batch_size and n_steps must be >= 1, got {batch_size}, {n_steps}")
    steps = torch.randn(
        (batch_size, n_steps, 2),
        generator=generator,
        dtype=torch.float64,
        device=generator.device,
    )
    return torch.cumsum(steps * WALK_STD, dim=1).to(dtype)


def smooth_walk(walk: torch.Tensor) -> torch.Tensor:
    """Hann smoothing of raw walks ``(B, T, 2)`` -> angular velocities ``(B, T, 2)`` (rad/s).

    Clipped to :math:`[-\\pi, \\pi]` as in the reference.
    """
    if walk.ndim != 3 or walk.shape[-1] != 2:
        raise ValueError(f"walk must have shape (B, T, 2), got {tuple(walk.shape)}")
    n_steps = walk.shape[1]
    if n_steps < HANN_LENGTH:
        raise ValueError(f"walk needs at least {HANN_LENGTH} steps, got {n_steps}")
    window = torch.hann_window(HANN_LENGTH, periodic=True, dtype=walk.dtype, device=walk.device)
    window = window / window.sum()
    x = walk.transpose(1, 2)  # (B, 2, T)
    pad = HANN_LENGTH - 1
    front = torch.zeros(*x.shape[:2], pad, dtype=x.dtype, device=x.device)
    back = torch.flip(x[..., -pad:], dims=(-1,))
    padded = torch.cat((front, x, back), dim=-1)
    b, c, n = padded.shape
    corr = torch.nn.functional.conv1d(padded.reshape(b * c, 1, n), window.view(1, 1, -1))
    start = HANN_LENGTH // 2
    smooth = corr.reshape(b, c, -1)[..., start : start + n_steps]
    return torch.clamp(smooth, -math.pi, math.pi).transpose(1, 2)


def integrate_omega(omega: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Joint angles :math:`q_t = 0.01 \\sum_{s\\le t}\\omega_s` (rad), optionally clipped to limits."""
    q = DT_ARM * torch.cumsum(omega, dim=-2)
    if clip:
        lim = JOINT_LIMITS.to(dtype=q.dtype, device=q.device)
        q = torch.maximum(torch.minimum(q, lim), -lim)
    return q


def trajectories_from_walk(walk: torch.Tensor) -> Trajectories:
    """Turn raw random walks ``(B, T, 2)`` into target trajectories (reference pipeline).

    A float32 walk gives the reference's float32 targets bit for bit
    (:func:`robo_l2l.tasks_numpy.targets_from_walk`, computed on the CPU and returned on the
    walk's device, without gradient); other dtypes are computed in torch in that dtype.
    """
    if walk.dtype == torch.float32:
        if walk.ndim != 3 or walk.shape[-1] != 2:
            raise ValueError(f"walk must have shape (B, T, 2), got {tuple(walk.shape)}")
        arrays = tasks_numpy.targets_from_walk(walk.detach().cpu().numpy())
        omega, q, xyz = (torch.from_numpy(a).to(walk.device) for a in arrays)
        return Trajectories(omega=omega, q=q, xyz=xyz)
    omega = smooth_walk(walk)
    q = integrate_omega(omega, clip=True)
    return Trajectories(omega=omega, q=q, xyz=scorbot_fk_moving(q))


def sample_trajectories(
    batch_size: int,
    generator: torch.Generator,
    n_steps: int = N_STEPS,
    dtype: torch.dtype = torch.float32,
) -> Trajectories:
    """Sample ``batch_size`` tasks of the family, every draw from ``generator``."""
    return trajectories_from_walk(sample_walk(batch_size, generator, n_steps, dtype))


def check_trajectory(omega: torch.Tensor, name: str = "trajectory") -> None:
    """Raise ``ValueError`` unless ``omega`` is finite, ``(B, T, 2)`` and stays within the limits."""
    if omega.ndim != 3 or omega.shape[-1] != 2:
        raise ValueError(f"{name}: omega must have shape (B, T, 2), got {tuple(omega.shape)}")
    if not torch.isfinite(omega).all():
        raise ValueError(f"{name}: omega contains NaN or inf")
    q = integrate_omega(omega.double(), clip=False)
    over = (q.abs() > JOINT_LIMITS.to(q.device) + 1e-6).any(dim=(0, 1))
    if over.any():
        joints = [n for n, o in zip(("base", "shoulder"), over.tolist(), strict=False) if o]
        raise ValueError(
            f"{name}: joint angles leave the limits (base 130 deg, shoulder 70 deg) "
            f"for joint(s) {joints}"
        )


def clock_input(n_steps: int = N_STEPS, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Clock spikes ``(T, 5)``: neuron k fires at :math:`t = 50k + 10m`, m = 0..4."""
    clock = torch.zeros(n_steps, N_CLOCK, dtype=dtype)
    for k in range(N_CLOCK):
        for m in range(5):
            t = CLOCK_PERIOD * k + CLOCK_SPACING * m
            if t < n_steps:
                clock[t, k] = 1
    return clock


def encode_target(xyz: torch.Tensor) -> torch.Tensor:
    """16-bit spike code of a Cartesian path ``(..., 3)`` -> ``(..., 48)`` in {0, 1}.

    Each coordinate c (m) becomes :math:`n = \\mathrm{trunc}((c + 1) 2^{15})`; its 16 bits, least
    significant first, are 16 channels; x bits, then y bits, then z bits. Higher bits are
    dropped as in the reference (a tool tip above 1 m, which the shoulder at -70 deg reaches,
    wraps around).
    """
    if xyz.shape[-1] != 3:
        raise ValueError(f"encode_target expects (..., 3), got {tuple(xyz.shape)}")
    # float32 arithmetic as in the reference: a double product flips a few low bits.
    n = torch.trunc((xyz.float() + 1.0) * 2.0**15).long()
    if (n < 0).any():
        raise ValueError("target coordinates must be >= -1 m for the 16-bit code")
    bits = (n.unsqueeze(-1) >> torch.arange(N_BITS, device=n.device)) & 1
    return bits.flatten(-2).to(xyz.dtype)
