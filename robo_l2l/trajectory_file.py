"""Target trajectories from files: angular velocities ``(T, 2)`` in rad/s, checked.

One loader for every script (demo, rollout): a ``.npy`` array or a ``.npz`` with key
``omega``, read without pickles; it must be finite, of shape ``(T, 2)`` with
``1 <= T <= max_steps``, within the velocity bound of the arm (:data:`MAX_OMEGA` = pi rad/s,
the action bound of ``RoboL2L/ScorbotTrack-v0`` and the clip of the task family) and, once
integrated, within the joint limits (:func:`robo_l2l.tasks.check_trajectory`).
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from robo_l2l.tasks import Trajectories, check_trajectory, integrate_omega

MAX_OMEGA = math.pi  #: rad/s


def load_omega(path: str | os.PathLike, max_steps: int | None = None) -> np.ndarray:
    """The checked angular velocities ``(T, 2)`` float32 (rad/s) of a ``.npy``/``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    if path.suffix not in (".npy", ".npz"):
        raise ValueError(f"trajectory file must be .npy or .npz, got {path.name}")
    if path.stat().st_size == 0:
        raise ValueError(f"trajectory file {path} is empty (0 bytes)")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "omega" not in data:
                    raise ValueError(f"{path} has no array 'omega' (keys: {sorted(data.keys())})")
                omega = data["omega"]
        else:
            omega = np.load(path, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable {path.suffix} file: {exc}") from exc
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path} is not a readable {path.suffix} file: {exc}") from exc
    if not isinstance(omega, np.ndarray) or omega.dtype.kind not in "fiu":
        raise ValueError(f"{path}: omega must be a real-valued array, got dtype {omega.dtype}")
    if omega.ndim != 2 or omega.shape[1] != 2 or len(omega) < 1:
        raise ValueError(f"{path}: omega must have shape (T, 2) in rad/s, got {omega.shape}")
    if max_steps is not None and len(omega) > max_steps:
        raise ValueError(
            f"{path}: {len(omega)} steps; the controller supports at most {max_steps} (T, 2)"
        )
    omega = omega.astype(np.float32)
    if not np.isfinite(omega).all():
        raise ValueError(f"{path}: omega contains NaN or inf")
    fastest = float(np.abs(omega).max())
    if fastest > MAX_OMEGA:
        raise ValueError(
            f"{path}: omega reaches {fastest:.3f} rad/s, faster than the arm's bound of "
            f"pi = {MAX_OMEGA:.4f} rad/s"
        )
    check_trajectory(torch.from_numpy(omega)[None], str(path))
    return omega


def trajectories_from_omega(omega: np.ndarray) -> Trajectories:
    """A batch of one :class:`Trajectories` (omega, joint path, tool-tip path) from ``omega``."""
    from robo_l2l.functional.kinematics import scorbot_fk_moving

    w = torch.as_tensor(omega, dtype=torch.float32)[None]
    q = integrate_omega(w, clip=False)
    return Trajectories(w, q, scorbot_fk_moving(q))
