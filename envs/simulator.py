"""The PyBullet physics server of one environment: connection, stepping, markers, camera.

One :class:`Simulator` owns one physics client (``DIRECT`` unless a GUI is asked for), so
several environments can live side by side in one process. Times are in seconds, lengths in
metres, colours RGBA in [0, 1].
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Sequence

import numpy as np
import pybullet

GRAVITY = 9.81  #: m/s^2


class BulletClient:
    """A thin handle on one PyBullet client: ``client.f(...)`` calls ``pybullet.f(...,
    physicsClientId=client.id)``.

    Unlike ``pybullet_utils.bullet_client`` the bound function is cached on first use, which
    keeps the per-call overhead of the stepping loop low.
    """

    def __init__(self, connection_mode: int = pybullet.DIRECT, options: str = "") -> None:
        self._pid = os.getpid()
        self.id = pybullet.connect(connection_mode, options=options)
        if self.id < 0:
            mode = "GUI" if connection_mode == pybullet.GUI else "DIRECT"
            raise RuntimeError(f"could not connect to a PyBullet {mode} server")

    def __getattr__(self, name: str):
        attribute = getattr(pybullet, name)
        if callable(attribute) and not isinstance(attribute, type):
            attribute = functools.partial(attribute, physicsClientId=self.id)
            setattr(self, name, attribute)
        return attribute

    @property
    def connected(self) -> bool:
        return self.id >= 0 and pybullet.isConnected(physicsClientId=self.id)

    def close(self) -> None:
        """Disconnect; closing twice (or after a fork) is a no-op."""
        if self.id >= 0 and self._pid == os.getpid():
            try:
                pybullet.disconnect(physicsClientId=self.id)
            except pybullet.error:
                pass
        self.id = -1

    def __del__(self) -> None:
        self.close()


def flush_native_stdout() -> None:
    """Flush C stdio: PyBullet prints there (``argv[0]=`` ...), so a script flushes it before
    its own output to keep, say, a JSON summary on the last line of a pipe."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def has_display() -> bool:
    """True when an X display is set (the PyBullet GUI needs one on Linux)."""
    return bool(os.environ.get("DISPLAY"))


class Simulator:
    """A physics world with gravity, stepped in fixed substeps.

    Args:
        gui: open the PyBullet GUI window (needs an X display) instead of a headless server.
        timestep: physics substep (s).
        n_substeps: substeps per :meth:`step`; one step lasts ``timestep * n_substeps`` s.
        gravity: gravitational acceleration (m/s^2), pointing along -z.
        solver_iterations: constraint-solver iterations per substep (PyBullet's default is
            50); the solver also stops early once its residual falls below 1e-10.
    """

    def __init__(
        self,
        gui: bool = False,
        timestep: float = 1e-3,
        n_substeps: int = 10,
        gravity: float = GRAVITY,
        solver_iterations: int = 100,
    ) -> None:
        if not (timestep > 0 and np.isfinite(timestep)):
            raise ValueError(f"timestep must be a positive number of seconds, got {timestep}")
        if int(n_substeps) != n_substeps or n_substeps < 1:
            raise ValueError(f"n_substeps must be a positive integer, got {n_substeps}")
        if int(solver_iterations) != solver_iterations or solver_iterations < 1:
            raise ValueError(
                f"solver_iterations must be a positive integer, got {solver_iterations}"
            )
        if gui and not has_display():
            raise RuntimeError(
                "the PyBullet GUI needs an X display but DISPLAY is not set; run headless "
                "(render_mode='rgb_array' or None) or under a virtual display: "
                "xvfb-run -a -s '-screen 0 1024x768x24' python ..."
            )
        self.gui = gui
        self.timestep = float(timestep)
        self.n_substeps = int(n_substeps)
        self.client = BulletClient(pybullet.GUI if gui else pybullet.DIRECT)
        self.client.setPhysicsEngineParameter(
            fixedTimeStep=self.timestep,
            numSubSteps=0,
            numSolverIterations=int(solver_iterations),
            solverResidualThreshold=1e-10,
        )
        self.client.setGravity(0.0, 0.0, -gravity)
        if gui:
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 0)
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_SHADOWS, 0)

    @property
    def step_duration(self) -> float:
        """Simulated time of one :meth:`step` (s)."""
        return self.timestep * self.n_substeps

    def step(self) -> None:
        """Advance the world by ``n_substeps`` substeps."""
        step_simulation = self.client.stepSimulation
        for _ in range(self.n_substeps):
            step_simulation()

    def close(self) -> None:
        self.client.close()

    # -- visual aids (no collision shape, no mass: they do not touch the physics) --------------

    def add_markers(self, positions: np.ndarray, radius: float, rgba: Sequence[float]) -> list[int]:
        """Static visual spheres at ``positions`` (N, 3) (m); returns their body ids."""
        # One body per sphere: createMultiBody(batchPositions=...) returns ids that do not
        # match the bodies it creates in PyBullet 3.2.7.
        shape = self.client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=radius, rgbaColor=list(rgba)
        )
        if self.gui:
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 0)
        ids = [
            self.client.createMultiBody(
                baseMass=0.0,
                baseCollisionShapeIndex=-1,
                baseVisualShapeIndex=shape,
                basePosition=list(map(float, p)),
            )
            for p in positions
        ]
        if self.gui:
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 1)
        return ids

    def move_markers(self, ids: Sequence[int], positions: np.ndarray) -> None:
        """Move the marker bodies ``ids`` to ``positions`` (N, 3) (m)."""
        for body, p in zip(ids, positions, strict=False):
            self.client.resetBasePositionAndOrientation(body, list(map(float, p)), [0, 0, 0, 1])

    def add_polyline(
        self, points: np.ndarray, rgb: Sequence[float], width: float = 2.0
    ) -> list[int]:
        """Debug line segments through ``points`` (N, 3) (GUI only; ids of the segments)."""
        batch = self.gui and len(points) > 2
        if batch:  # the GUI redraws after every item otherwise (about 10 ms each)
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 0)
        ids = [
            self.client.addUserDebugLine(
                list(map(float, a)), list(map(float, b)), lineColorRGB=list(rgb), lineWidth=width
            )
            for a, b in itertools.pairwise(points)
        ]
        if batch:
            self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 1)
        return ids

    def clear_debug_items(self) -> None:
        self.client.removeAllUserDebugItems()

    # -- camera --------------------------------------------------------------------------------

    def camera_matrices(
        self,
        width: int,
        height: int,
        target: Sequence[float],
        distance: float,
        yaw: float,
        pitch: float,
        fov: float = 50.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """OpenGL view and projection matrices (4x4, column-major lists as PyBullet returns)."""
        view = self.client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=list(target),
            distance=distance,
            yaw=yaw,
            pitch=pitch,
            roll=0.0,
            upAxisIndex=2,
        )
        projection = self.client.computeProjectionMatrixFOV(
            fov=fov, aspect=width / height, nearVal=0.05, farVal=10.0
        )
        return np.asarray(view), np.asarray(projection)

    def camera_image(
        self,
        width: int,
        height: int,
        view: np.ndarray,
        projection: np.ndarray,
        hardware: bool = False,
    ) -> np.ndarray:
        """RGB image (height, width, 3) uint8; TinyRenderer unless ``hardware`` (GUI OpenGL)."""
        renderer = pybullet.ER_BULLET_HARDWARE_OPENGL if hardware else pybullet.ER_TINY_RENDERER
        _, _, rgba, _, _ = self.client.getCameraImage(
            width,
            height,
            viewMatrix=view.tolist(),
            projectionMatrix=projection.tolist(),
            renderer=renderer,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3].copy()

    def set_gui_camera(
        self, target: Sequence[float], distance: float, yaw: float, pitch: float
    ) -> None:
        if self.gui:
            self.client.resetDebugVisualizerCamera(distance, yaw, pitch, list(target))


def project_points(
    points: np.ndarray, view: np.ndarray, projection: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Pixel coordinates (N, 2) (column, row) of world points (N, 3) (m) in a camera image.

    PyBullet's matrices are column-major: ``clip = P^T`` applied after ``V^T``.
    """
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    view_m = view.reshape(4, 4).T
    proj_m = projection.reshape(4, 4).T
    clip = homogeneous @ view_m.T @ proj_m.T
    ndc = clip[:, :3] / clip[:, 3:4]
    col = (ndc[:, 0] + 1.0) * 0.5 * width
    row = (1.0 - ndc[:, 1]) * 0.5 * height
    return np.stack([col, row], axis=1)
