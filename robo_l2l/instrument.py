"""The PyBullet GUI as an instrument: watch a controller learn, replay, change the next run.

A *run* (:class:`WatchRun`) is the main job once (:func:`robo_l2l.demo_run.run_demo`): a target
of the task family, the on-chip update, and the two closed-loop rollouts in the physics env
(before and after the update, headless, a few seconds). :func:`watch` then replays the run's
recorded joint angles on a kinematic arm in the PyBullet window (:class:`robo_l2l.envs.scene.Scene`
with ``gui=True``), with the target path, a growing trail of the executed path, a marker on the
current target point and a heads-up line (phase, arm time, tracking error, devices written),
while a second window plots the two joints' commanded and target angular velocities live
(:class:`robo_l2l.traces.MotorTraces`). The controls are PyBullet debug parameters (the window's
side panel) and the keys of :data:`KEYS` (focus on the PyBullet window). The window lives in a
child process, the network in the caller's. Closing the window, a ``q``, Ctrl-C or SIGTERM end
the replay; the outputs are written in every case: ``motor_traces.png`` (the traces of the last
run), the screenshots asked for, ``watch.json`` (how it ended, the actions taken).

Time: the replay advances ``speed`` steps of :data:`robo_l2l.tasks.DT_ARM` (10 ms) per 10 ms of
wall time and draws at most 60 frames per second.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from robo_l2l import deployment as dep
from robo_l2l.closed_loop import Rollout
from robo_l2l.config import MetaConfig
from robo_l2l.controller import ControllerWeights
from robo_l2l.pcm import PCMConfig

#: Keyboard shortcuts of the PyBullet window: (key, action). The actions of the first five are
#: also buttons of the side panel; ``--help`` and the start message print this table.
KEYS = (
    ("space", "pause / resume"),
    ("1", "replay before"),
    ("2", "replay after"),
    ("n", "next target (new seed)"),
    ("q", "quit"),
    ("x", "drift compensation on/off for the next run"),
    ("]", "faster"),
    ("[", "slower"),
)
BUTTONS = tuple(action for _, action in KEYS[:5])
SPEED_STEP = 1.5  #: factor of one ``]`` or ``[``
MAX_FPS = 60.0
TRACES_HZ = 5.0  #: redraws of the live traces window per second


def shortcuts_text() -> str:
    """The keyboard table as printed by ``--help`` and at start (two columns)."""
    cells = [f"{key:>5}   {action}" for key, action in KEYS]
    half = (len(cells) + 1) // 2
    left, right = cells[:half], cells[half:] + [""]
    width = max(len(c) for c in left) + 4
    return "\n".join(f"{a:<{width}}{b}".rstrip() for a, b in zip(left, right, strict=False))


class WatchRun(NamedTuple):
    """One target learned on the chip and driven twice in closed loop."""

    seed: int
    target_omega: np.ndarray  #: (T, 2) rad/s
    target_xyz: np.ndarray  #: (T, 3) m
    rollouts: tuple[Rollout, Rollout]  #: before and after the update
    devices_written: int
    pcm: PCMConfig  #: the deployment used (device age, drift compensation)
    k_updates: int
    rule: str


def run_from_demo(result, pcm: PCMConfig) -> WatchRun:
    """The :class:`WatchRun` of a :class:`robo_l2l.demo_run.DemoResult` (nothing recomputed)."""
    meta = result.record["meta"]
    return WatchRun(
        seed=meta["seed"],
        target_omega=np.asarray(result.record["target_omega"], np.float64),
        target_xyz=np.asarray(result.record["target_xyz"], np.float64),
        rollouts=(result.before, result.after),
        devices_written=meta["devices_written"],
        pcm=pcm,
        k_updates=meta["k_updates"],
        rule=meta["rule"],
    )


def compute_run(weights: ControllerWeights, cfg: MetaConfig, seed: int, pcm: PCMConfig) -> WatchRun:
    """The main job on the family's target of ``seed`` (the same numbers as ``demo.py --seed``)."""
    import torch

    from robo_l2l.demo_run import run_demo
    from robo_l2l.tasks import sample_trajectories

    target = sample_trajectories(1, torch.Generator().manual_seed(seed))
    return run_from_demo(run_demo(weights, cfg, target, cfg.k_updates, pcm, seed), pcm)


@dataclass(frozen=True)
class WatchOptions:
    """How :func:`watch` plays and what it saves."""

    out: Path  #: folder of motor_traces.png, screenshot_<k>.png, watch.json
    speed: float = 0.5  #: replay speed, x real time (> 0)
    autoplay: bool = False  #: play before, then after, then the next target or quit
    runs: int = 1  #: with autoplay: targets to play (seed, seed + 1, ...)
    screenshots: int = 0  #: GUI screenshots, evenly spaced over an autoplay
    traces_window: bool = True  #: the live traces window (the figure is saved either way)

    def check(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a finite number > 0, got {self.speed}")
        if self.runs < 1 or self.screenshots < 0:
            raise ValueError(f"runs must be >= 1 and screenshots >= 0, got {self.runs}, "
                             f"{self.screenshots}")  # fmt: skip
        if (self.screenshots or self.runs > 1) and not self.autoplay:
            raise ValueError("screenshots and runs > 1 need autoplay (they are spaced over it)")

    @property
    def outputs(self) -> list[Path]:
        shots = [self.out / f"screenshot_{k}.png" for k in range(self.screenshots)]
        return [*shots, self.out / "motor_traces.png", self.out / "watch.json"]


class Controls:
    """The GUI's debug parameters and keyboard, read once per frame."""

    def __init__(self, client, speed: float, drift: bool, t_inference: float) -> None:
        self.client = client
        self.buttons = {name: client.addUserDebugParameter(name, 1, 0, 0) for name in BUTTONS}
        self.clicks = dict.fromkeys(BUTTONS, 0)
        self.speed = client.addUserDebugParameter("speed (x real time)", 0.05, 4.0, speed)
        self.drift = client.addUserDebugParameter("drift compensation, next run", 0, 1, drift)
        self.age = client.addUserDebugParameter(
            "device age, next run (log10 s)", 0.0, 8.0, math.log10(t_inference)
        )
        self.speed_factor = 1.0
        self.drift_flip = False
        self.down: set[int] = set()  #: keys held at the last call

    def events(self) -> set[str]:
        """The actions asked for since the last call (buttons and keys)."""
        import pybullet

        actions = set()
        for name, item in self.buttons.items():
            count = self.client.readUserDebugParameter(item)
            if count != self.clicks[name]:
                self.clicks[name] = count
                actions.add(name)
        codes = {(ord(" ") if key == "space" else ord(key)): action for key, action in KEYS}
        down = set()
        for code, state in self.client.getKeyboardEvents().items():
            if code not in codes:
                continue
            if state & pybullet.KEY_IS_DOWN:
                down.add(code)
            # a press seen as "triggered" or, when frames are slow, as a key newly held down
            if code not in self.down and state & (
                pybullet.KEY_WAS_TRIGGERED | pybullet.KEY_IS_DOWN
            ):
                actions.add(codes[code])
        self.down = down
        if "faster" in actions:
            self.speed_factor *= SPEED_STEP
        if "slower" in actions:
            self.speed_factor /= SPEED_STEP
        if "drift compensation on/off for the next run" in actions:
            self.drift_flip = not self.drift_flip
        return actions

    def current_speed(self) -> float:
        return self.client.readUserDebugParameter(self.speed) * self.speed_factor

    def next_deployment(self, base: PCMConfig) -> PCMConfig:
        """``base`` with the age and drift compensation set in the panel (and by ``x``)."""
        drift = (self.client.readUserDebugParameter(self.drift) >= 0.5) != self.drift_flip
        if base.ideal:
            return base
        age = float(f"{10 ** self.client.readUserDebugParameter(self.age):.3g}")
        return dep.override(base, t_inference_s=max(age, base.t0_s), drift_compensation=drift)


def _exit_on_lost_display() -> None:
    """Make Xlib end this process at once (``_exit``) when its X connection is lost.

    PyBullet's X11 window does not register ``WM_DELETE_WINDOW``, so a window manager closes it
    by killing the client's X connection (``XKillClient``). Xlib then calls its I/O error
    handler, whose default calls ``exit()`` from PyBullet's GUI thread; that deadlocks with
    PyBullet's other threads, and the main thread waits in PyBullet for the GUI thread forever
    (measured under Xvfb with ``xdotool windowkill``: the process hangs, spinning, with no
    output). ``_exit`` as the handler ends the window's process instead (its exit status is
    then meaningless). It runs in the GUI process of :func:`watch` only, never in the caller's.
    """
    import ctypes

    try:
        x11 = ctypes.CDLL("libX11.so.6")
    except OSError:  # no Xlib: PyBullet's GUI cannot run either
        return
    x11.XSetIOErrorHandler.restype = ctypes.c_void_p
    x11.XSetIOErrorHandler.argtypes = [ctypes.c_void_p]
    x11.XSetIOErrorHandler(ctypes.cast(ctypes.CDLL(None)._exit, ctypes.c_void_p))


class _Stop:
    """SIGTERM ends the replay at its next frame (the outputs are still written)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __enter__(self) -> _Stop:
        self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signal = signum

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self.previous)


def check_display() -> None:
    """Raise a RuntimeError naming ``xvfb-run`` when there is no X display for the GUI."""
    from robo_l2l.envs.simulator import has_display

    if not has_display():
        raise RuntimeError(
            "the PyBullet GUI needs an X display but DISPLAY is not set; run under a virtual "
            "display (xvfb-run -a -s '-screen 0 1280x800x24' python scripts/watch.py) or "
            "without --gui (scripts/demo.py writes the video headless)"
        )


def watch(
    weights: ControllerWeights,
    cfg: MetaConfig,
    first: WatchRun,
    options: WatchOptions,
    announce: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Replay ``first`` in the PyBullet GUI until quit, the window is closed or the autoplay
    ends; returns the summary written to ``watch.json`` (tracking errors of the last run in mm,
    its deployment, how the replay ended, the actions taken, the outputs).

    The window lives in a child process (:func:`_window`, started with ``spawn``): PyBullet's
    GUI cannot survive its window being closed (:func:`_exit_on_lost_display`), this process
    can. The child asks here for each new run (the network and its weights stay here) and
    reports what was played; the outputs are written here, however the child ended.
    ``announce`` receives the start message (the keyboard table). Needs an X display.
    """
    import multiprocessing

    from robo_l2l import traces, video
    from robo_l2l.atomic import atomic_write_text

    options.check()
    check_display()
    video.check_writable(*options.outputs)
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    child = context.Process(target=_window, args=(there, first, options), daemon=True)
    child.start()
    there.close()
    run, ended, opened = first, "window closed", False
    report: dict[str, Any] = {"played": [-1, -1], "actions": {}, "shots": []}
    with _Stop() as stop:
        forwarded = False
        while True:
            if stop.signal is not None and not forwarded:
                child.terminate()  # SIGTERM: the child ends at its next frame and reports
                forwarded = True
            try:
                if not here.poll(0.2):
                    if not child.is_alive():
                        break
                    continue
                kind, value = here.recv()
                if kind == "announce":
                    opened = True
                    announce(value)
                elif kind == "next":
                    seed, pcm = value
                    run = compute_run(weights, cfg, seed, pcm)
                    here.send(run)
                elif kind == "report":
                    report.update(value)
                elif kind == "done":
                    report.update(value)
                    ended = value["ended"]
                    break
            except (EOFError, OSError):  # the child is gone (window closed)
                break
            except KeyboardInterrupt:  # Ctrl-C reaches the child too: it reports and ends
                ended = "interrupted"
                child.join(timeout=10)
                break
    child.join(timeout=10)
    if child.is_alive():
        child.kill()
    if not opened:
        raise RuntimeError(
            f"the PyBullet window could not be opened (its process ended with {child.exitcode})"
        )
    figure = traces.MotorTraces(run.target_omega, [r.command for r in run.rollouts],
                                _labels(run))  # fmt: skip
    figure.save(options.out / "motor_traces.png")
    before, after = run.rollouts
    summary = {
        "seed": run.seed,
        "runs": run.seed - first.seed + 1,
        "tracking_error_before_mm": float(1e3 * before.tracking_error_m.mean()),
        "tracking_error_after_mm": float(1e3 * after.tracking_error_m.mean()),
        "devices_written": run.devices_written,
        **dep.summary(run.pcm),
        "ended": ended,
        "actions": report["actions"],
    }
    atomic_write_text(options.out / "watch.json", json.dumps(summary, indent=2) + "\n")
    outputs = [*report["shots"], options.out / "motor_traces.png", options.out / "watch.json"]
    return summary | {"outputs": [str(p) for p in outputs]}


def _labels(run: WatchRun) -> list[str]:
    errors = [1e3 * r.tracking_error_m.mean() for r in run.rollouts]
    return [
        f"before the update: mean error {errors[0]:.0f} mm",
        f"after {run.k_updates} update(s): mean error {errors[1]:.0f} mm",
    ]


def _window(conn, first: WatchRun, options: WatchOptions) -> None:
    """The GUI process of :func:`watch`: the PyBullet window, its controls, the live traces.

    Messages to the parent: ``("announce", text)``, ``("next", (seed, pcm))`` (answered with
    the new :class:`WatchRun`), ``("report", {...})`` and finally ``("done", {...})``."""
    import pybullet

    from robo_l2l import traces, video
    from robo_l2l.envs.scene import Scene, fit_camera
    from robo_l2l.envs.simulator import flush_native_stdout
    from robo_l2l.tasks import DT_ARM

    _exit_on_lost_display()
    live = options.traces_window and traces.interactive_backend()
    target_unit = tuple(c / 255 for c in video.TARGET_RGB)
    run = first
    shots: list[str] = []
    figure = None
    ended = "finished"
    taken: Counter[str] = Counter()  # actions asked for by the user (keys and buttons)
    scene = Scene(gui=True)
    client = scene.client
    flush_native_stdout()
    conn.send(("announce", "keyboard shortcuts (PyBullet window):\n" + shortcuts_text()))
    controls = Controls(client, options.speed, run.pcm.drift_compensation, run.pcm.t_inference_s)

    def setup(run: WatchRun):
        q = np.concatenate([r.q for r in run.rollouts])
        points = np.concatenate([run.target_xyz, scene.arm_points(q)])
        camera = fit_camera(points, 960, 720, yaw=30.0, pitch=-32.0)
        client.resetDebugVisualizerCamera(camera.distance, camera.yaw, camera.pitch,
                                          list(camera.target))  # fmt: skip
        commands = [r.command for r in run.rollouts]
        return camera, traces.MotorTraces(run.target_omega, commands, _labels(run), live=live)

    def restart_paths() -> None:
        client.removeAllUserDebugItems()
        scene.sim.add_polyline(run.target_xyz, target_unit, width=3.0)

    def hud_position(camera) -> list[float]:
        """A world point that the GUI shows near the top left of its view."""
        view = camera.view.reshape(4, 4).T
        right, up = view[0, :3], view[1, :3]
        half = camera.distance * math.tan(math.radians(camera.fov) / 2)
        return list(np.asarray(camera.target) + 0.82 * half * up - 0.9 * half * right)

    n = len(run.target_xyz)
    shot_at = [
        round((k + 1) * 2 * n / (options.screenshots + 1)) for k in range(options.screenshots)
    ]
    played = [-1, -1]
    try:
        with _Stop() as stop:
            camera, figure = setup(run)
            restart_paths()
            hud_at = hud_position(camera)
            episode, t, paused, drawn, hud = 0, 0.0, False, 0, -1
            last = last_plot = time.perf_counter()
            queued: set[str] = set()  # actions of the autoplay, taken at the next frame
            while True:
                actions = controls.events()
                taken.update(actions)
                actions |= queued
                queued.clear()
                if stop.signal is not None:
                    ended = "terminated"
                    break
                if "quit" in actions:
                    ended = "quit"
                    break
                if "pause / resume" in actions:
                    paused = not paused
                if actions & {"replay before", "replay after"}:
                    episode = 0 if "replay before" in actions else 1
                    t, drawn, hud = 0.0, 0, -1
                    restart_paths()
                if "next target (new seed)" in actions:
                    pcm = controls.next_deployment(run.pcm)
                    client.addUserDebugText("computing the next run ...", hud_at, [0, 0, 0], 1.6)
                    figure.close()
                    conn.send(("next", (run.seed + 1, pcm)))
                    run = conn.recv()
                    camera, figure = setup(run)
                    hud_at = hud_position(camera)
                    n = len(run.target_xyz)
                    episode, t, drawn, hud, played = 0, 0.0, 0, -1, [-1, -1]
                    restart_paths()
                    last = time.perf_counter()
                now = time.perf_counter()
                if not paused:
                    t += (now - last) / DT_ARM * controls.current_speed()
                last = now
                first_run = run.seed == first.seed
                if shot_at and first_run and shot_at[0] >= episode * n:
                    t = min(t, shot_at[0] - episode * n)  # do not skip past a screenshot
                step = min(int(t), n - 1)
                rollout = run.rollouts[episode]
                scene.pose(rollout.q[step])
                scene.move_marker(run.target_xyz[step])
                if step > drawn:
                    colour = tuple(c / 255 for c in video.TRAIL_RGB[episode])
                    scene.sim.add_polyline(rollout.xyz[drawn : step + 1], colour, width=3.0)
                    drawn = step
                played[episode] = max(played[episode], step)
                error = 1e3 * rollout.tracking_error_m[: step + 1]
                text = (
                    f"{'before' if episode == 0 else 'after'} the update   t "
                    f"{(step + 1) * DT_ARM:.2f} s   error {error[-1]:.0f} mm (mean "
                    f"{error.mean():.0f})   devices written "
                    f"{0 if episode == 0 else run.devices_written}   {dep.describe(run.pcm)}"
                    + ("   [paused]" if paused else "")
                )
                hud = client.addUserDebugText(text, hud_at, [0.1] * 3, 1.3, replaceItemUniqueId=hud)
                if now - last_plot > 1 / TRACES_HZ:
                    figure.show_until([played[0] if episode == 0 else n - 1, played[1]])
                    conn.send(("report", {"played": played, "actions": dict(sorted(taken.items())),
                                          "shots": shots}))  # fmt: skip
                    last_plot = now
                if shot_at and first_run and episode * n + step >= shot_at[0]:
                    shot_at.pop(0)
                    path = options.out / f"screenshot_{len(shots)}.png"
                    grab_screenshot(client, camera, run, rollout, step, episode, path)
                    shots.append(str(path))
                if step == n - 1 and not paused and options.autoplay:
                    if episode == 0:
                        episode, t, drawn, hud = 1, 0.0, 0, -1
                        restart_paths()
                    elif run.seed - first.seed + 1 < options.runs:
                        queued.add("next target (new seed)")
                    else:
                        break
                time.sleep(1 / MAX_FPS)
    except pybullet.error:  # the physics server went away without an X error
        ended = "window closed"
    except KeyboardInterrupt:
        ended = "interrupted"
    finally:
        scene.close()
        if figure is not None:
            figure.close()
    conn.send(("done", {"ended": ended, "played": played, "shots": shots,
                        "actions": dict(sorted(taken.items()))}))  # fmt: skip


def grab_screenshot(client, camera, run: WatchRun, rollout, step: int, episode: int,
                    path: os.PathLike) -> None:  # fmt: skip
    """The GUI's OpenGL view of ``camera`` with the paths drawn over it, as a PNG."""
    import pybullet
    from PIL import Image

    from robo_l2l import video
    from robo_l2l.atomic import atomic_write
    from robo_l2l.envs.scene import Camera

    shot = Camera(camera.target, camera.distance, camera.yaw, camera.pitch, 960, 720, camera.fov)
    _, _, rgba, _, _ = client.getCameraImage(
        shot.width, shot.height, shot.view.tolist(), shot.projection.tolist(),
        renderer=pybullet.ER_BULLET_HARDWARE_OPENGL,
    )  # fmt: skip
    image = np.asarray(rgba, np.uint8).reshape(shot.height, shot.width, 4)[..., :3]
    image = video.overlay_paths(image, shot, run.target_xyz, rollout.xyz, step,
                                video.TRAIL_RGB[episode])  # fmt: skip
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
