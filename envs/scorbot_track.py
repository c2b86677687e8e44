"""``RoboL2L/ScorbotTrack-v0``: the ED-Scorbot following a target tool-tip trajectory."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robo_l2l.envs.robot import Scorbot
from robo_l2l.envs.simulator import Simulator, project_points
from robo_l2l.envs.task import TrackingTask
from robo_l2l.tasks_numpy import DT_ARM, N_STEPS

#: Layout of the observation vector (slices into the 15 float32 entries).
OBS_Q = slice(0, 4)
OBS_DQ = slice(4, 8)
OBS_EE = slice(8, 11)
OBS_TARGET = slice(11, 14)
OBS_TIME = 14
OBS_SIZE = 15

MAX_ACTION = math.pi  #: rad/s; the task family clips its angular velocities to +-pi
WORKSPACE = 1.5  #: m; every reachable tool-tip coordinate lies within +-WORKSPACE

TARGET_RGBA = (0.1, 0.75, 0.2, 1.0)
MARKER_STRIDE = 3  #: one target sphere every 3 steps in rgb_array images
EXECUTED_RGB = (0.85, 0.1, 0.1)
CAMERA = {"target": (0.25, -0.05, 0.25), "distance": 2.1, "yaw": 35.0, "pitch": -28.0}


class ScorbotTrackEnv(gym.Env):
    """Track a target tool-tip trajectory with the base and shoulder of an ED-Scorbot.

    ## Description

    A PyBullet model of the 4-joint ED-Scorbot (``robo_l2l/urdf/scorbot.urdf``, fixed base,
    gravity on) must move its tool tip along a target path of the robo_l2l task family
    (Ortner et al. 2025): smooth random angular-velocity traces of the base and the shoulder,
    integrated with 0.01 s steps and mapped through the arm's forward kinematics. One env step
    is 0.01 s of arm time, simulated as ``n_substeps`` physics substeps of ``timestep`` s. The
    elbow and the wrist are held at 0 by position control, as in the task family.

    ## Action Space

    ``Box(-pi, pi, (2,), float32)``: target angular velocities (rad/s) of the base and the
    shoulder, applied with PyBullet velocity control limited by the URDF effort limits (base
    40 N m, shoulder 80 N m). Actions outside the box, with NaN/inf, complex values or of
    another shape raise ``ValueError``; nothing is clipped silently.

    Agents that expect actions in [-1, 1] (stable-baselines3's recommendation) wrap the env
    in Gymnasium's ``RescaleAction``, which maps [-1, 1] linearly onto [-pi, pi] rad/s:
    ``RescaleAction(gymnasium.make("RoboL2L/ScorbotTrack-v0"), np.float32(-1), np.float32(1))``
    (float32 bounds, else Gymnasium warns about lowered precision); stable-baselines3's
    ``check_env`` then passes without warnings.

    Velocity control does not correct positions. Replaying a task's own omega open-loop
    tracks its path to 0.55 mm on average (0.15-3 mm per task, 20 tasks within the joint
    limits); most of that is the start, where the first velocity (up to ~0.3 rad/s) is a step
    from rest that the effort limits reach only after a few substeps, leaving a constant
    offset. Driving a joint into its limit at speed jolts the held elbow (errors up to ~2 cm
    for a few steps).

    ## Observation Space

    ``Box((15,), float32)``, entries in this order:

    | index | observation | unit |
    |-------|-------------|------|
    | 0-3   | joint angles base, shoulder, elbow, wrist (relative to the home pose) | rad |
    | 4-7   | joint velocities, same order | rad/s |
    | 8-10  | tool-tip position x, y, z | m |
    | 11-13 | target tool-tip position of the upcoming step (the last one after the end) | m |
    | 14    | time index: number of steps taken in this episode, 0 .. n_steps | steps |

    ## Rewards

    ``r_t = -|x_ee - x*_t|`` (m): minus the Euclidean distance between the tool tip after
    step ``t`` and the target of step ``t``. ``info`` holds ``tracking_error_m`` (the same
    distance), ``joint_error_rad`` (|q - q*| of base and shoulder, rad), ``target_xyz``,
    ``ee_xyz`` (m), ``target_q`` (rad) and ``time_index``.

    ## Starting State

    The arm rests at the home pose q = 0 (stretched along +x, tool tip at
    (0.92, -0.033, 0.3585) m). The target trajectory is ``options["trajectory"]`` of
    :meth:`reset` when given - a :class:`robo_l2l.tasks.Trajectories` of batch size 1 (its
    ``q`` and ``xyz`` are the targets) or angular velocities of shape (n_steps, 2) in rad/s
    (integrated and mapped through the kinematics; the joint path must stay within base
    +-130 deg, shoulder +-70 deg) - and otherwise a task of the family drawn from
    ``self.np_random`` (:func:`robo_l2l.tasks_numpy.sample_targets`, numpy only). ``options``
    must be a dict; a non-dict raises ``TypeError``, an unknown key or a bad trajectory
    ``ValueError``.

    ## Episode End

    The episode is truncated after ``n_steps`` steps (the trajectory's end; also the
    registered ``max_episode_steps`` = 249). It never terminates early.

    ## Arguments

    * ``render_mode``: ``None``, ``"human"`` (PyBullet GUI window with the target path drawn
      as green line and spheres and the executed path as a red line, updated in
      :meth:`step`; needs an X display; no pacing, the caller sleeps if it wants real time)
      or ``"rgb_array"`` (headless TinyRenderer images, target path as green spheres,
      executed path as a red overlay). :meth:`snapshot` gives such an image in both modes.
    * ``n_steps`` (249): steps per episode = trajectory length.
    * ``timestep`` (0.001 s) and ``n_substeps`` (10): physics substep and substeps per env
      step; their product must be 0.01 s.
    * ``solver_iterations`` (100): PyBullet constraint-solver iterations per substep. The
      default of 50 lets the shoulder motor sag under gravity by about 1.6e-3 rad/s (a
      1.7 mm mean tracking error of an exact open-loop replay); 100 brings that to 0.2 mm.
    * ``urdf_path`` (None): URDF to load instead of the packaged one.
    * ``render_width``, ``render_height`` (480, 360): size of the ``rgb_array`` images (pixels).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": round(1 / DT_ARM),
    }

    def __init__(
        self,
        render_mode: str | None = None,
        n_steps: int = N_STEPS,
        timestep: float = 1e-3,
        n_substeps: int = 10,
        solver_iterations: int = 100,
        urdf_path: str | os.PathLike | None = None,
        render_width: int = 480,
        render_height: int = 360,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; use None or one of "
                f"{self.metadata['render_modes']}"
            )
        if int(n_steps) != n_steps or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
        if not math.isclose(timestep * n_substeps, DT_ARM, rel_tol=1e-9):
            raise ValueError(
                f"timestep * n_substeps must be {DT_ARM} s (one step of the task family), got "
                f"{timestep} * {n_substeps}"
            )
        if render_width < 1 or render_height < 1:
            raise ValueError(f"render size must be positive, got {render_width}x{render_height}")
        if urdf_path is not None and not os.path.isfile(urdf_path):
            raise FileNotFoundError(f"URDF file not found: {urdf_path}")
        self.render_mode = render_mode
        self.n_steps = int(n_steps)
        self.render_width = int(render_width)
        self.render_height = int(render_height)

        self.action_space = spaces.Box(-MAX_ACTION, MAX_ACTION, shape=(2,), dtype=np.float32)
        low = np.concatenate(
            [np.full(4, -math.pi), np.full(4, -np.inf), np.full(6, -WORKSPACE), [0.0]]
        ).astype(np.float32)
        high = np.concatenate(
            [np.full(4, math.pi), np.full(4, np.inf), np.full(6, WORKSPACE), [self.n_steps]]
        ).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

        self.sim = Simulator(
            gui=render_mode == "human",
            timestep=timestep,
            n_substeps=n_substeps,
            solver_iterations=solver_iterations,
        )
        try:
            self.robot = Scorbot(self.sim, urdf_path)
        except Exception:
            self.sim.close()
            raise
        self.task = TrackingTask(self.n_steps)
        self._t = 0
        self._started = False
        self._closed = False
        self._markers: list[int] = []
        self._executed: list[np.ndarray] = []
        if render_mode is not None:
            self._view, self._projection = self.sim.camera_matrices(
                self.render_width,
                self.render_height,
                CAMERA["target"],
                CAMERA["distance"],
                CAMERA["yaw"],
                CAMERA["pitch"],
            )
            self.sim.set_gui_camera(
                CAMERA["target"], CAMERA["distance"], CAMERA["yaw"], CAMERA["pitch"]
            )

    # -- Gymnasium API ---------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        self._check_open()
        if options is None:
            options = {}
        elif not isinstance(options, Mapping):
            raise TypeError(
                "reset options must be a dict such as {'trajectory': omega}, got "
                f"{type(options).__name__}"
            )
        unknown = sorted(repr(key) for key in options if key != "trajectory")
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {', '.join(unknown)}; the only one is 'trajectory'"
            )
        super().reset(seed=seed)
        self.task.reset(self.np_random, options.get("trajectory"))
        self.robot.reset()
        self._t = 0
        self._started = True
        ee = self.robot.end_effector_position()
        self._executed = [ee]
        if self.render_mode is not None:
            self._draw_target()
        return self._observation(ee), {"time_index": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._check_open()
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self._t >= self.n_steps:
            raise RuntimeError(f"the episode ended after {self.n_steps} steps; call reset()")
        omega = self._check_action(action)
        self.robot.set_velocities(omega)
        self.sim.step()
        t = self._t
        self._t += 1
        ee = self.robot.end_effector_position()
        q, _ = self.robot.joint_state()
        reward, info = self.task.evaluate(t, ee, q[:2])
        info["time_index"] = self._t
        if self.render_mode == "human":
            self.sim.add_polyline(np.stack([self._executed[-1], ee]), EXECUTED_RGB, width=3.0)
        self._executed.append(ee)
        truncated = self._t >= self.n_steps
        return self._observation(ee), reward, False, truncated, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: an RGB image (H, W, 3) uint8; ``human``: None (the GUI draws itself)."""
        self._check_open()
        if self.render_mode != "rgb_array":
            return None
        return self.snapshot()

    def snapshot(self) -> np.ndarray:
        """RGB image (H, W, 3) uint8 of the scene from the env's camera, target spheres and
        executed path included; in ``human`` mode drawn by the GUI's OpenGL renderer (a
        screenshot of the scene), otherwise by TinyRenderer."""
        self._check_open()
        if self.render_mode is None:
            raise RuntimeError("snapshot() needs render_mode 'human' or 'rgb_array'")
        image = self.sim.camera_image(
            self.render_width,
            self.render_height,
            self._view,
            self._projection,
            hardware=self.render_mode == "human",
        )
        if len(self._executed) > 1:
            image = self._overlay_path(image, np.asarray(self._executed))
        return image

    def close(self) -> None:
        if not self._closed:
            self.sim.close()
            self._closed = True

    # -- helpers ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the environment is closed")

    def _check_action(self, action: Any) -> np.ndarray:
        try:
            omega = np.asarray(action)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"action must be a numeric array of shape (2,), got {action!r}"
            ) from exc
        if omega.dtype.kind == "c":
            raise ValueError(f"action must be real-valued, got complex values {omega}")
        if omega.dtype.kind not in "biuf":
            raise ValueError(f"action must be a numeric array of shape (2,), got {action!r}")
        omega = omega.astype(np.float64)
        if omega.shape != (2,):
            raise ValueError(f"action must have shape (2,) (base, shoulder), got {omega.shape}")
        if not np.isfinite(omega).all():
            raise ValueError(f"action contains NaN or inf: {omega}")
        if (np.abs(omega) > self.action_space.high.astype(np.float64)).any():
            raise ValueError(
                f"action {omega} rad/s exceeds the velocity bound of +-{MAX_ACTION:.4f} rad/s"
            )
        return omega

    def _observation(self, ee: np.ndarray) -> np.ndarray:
        q, dq = self.robot.joint_state()
        obs = np.empty(OBS_SIZE, dtype=np.float32)
        obs[OBS_Q] = q
        obs[OBS_DQ] = dq
        obs[OBS_EE] = ee
        obs[OBS_TARGET] = self.task.target_xyz(self._t)
        obs[OBS_TIME] = self._t
        return obs

    def _draw_target(self) -> None:
        xyz = self.task.target.xyz
        if self.render_mode == "human":
            self.sim.clear_debug_items()
            self.sim.add_polyline(xyz, TARGET_RGBA[:3], width=3.0)
        points = xyz[::MARKER_STRIDE]
        if self._markers:
            self.sim.move_markers(self._markers, points)
        else:
            self._markers = self.sim.add_markers(points, radius=0.009, rgba=TARGET_RGBA)

    def _overlay_path(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        from PIL import Image, ImageDraw

        pixels = project_points(
            points, self._view, self._projection, self.render_width, self.render_height
        )
        canvas = Image.fromarray(image)
        ImageDraw.Draw(canvas).line([tuple(p) for p in pixels], fill=(217, 26, 26), width=2)
        return np.asarray(canvas)
