"""Rendering cost of the scene and of a demo-sized before | after video.

Rows (wall time, best of ``--repeats`` after a warm-up, and process CPU time of the same
calls, which other load on a shared machine inflates less):

* ``tinyrenderer panel``: one 480x540 panel of :meth:`robo_l2l.envs.scene.Scene.render`
  (arm cropped + sun silhouette + shadow + background), headless TinyRenderer;
* ``tinyrenderer full frame, floor + shadow=1``: for comparison, TinyRenderer drawing the same
  panel with a floor body and its own shadow pass (what the compositing avoids);
* ``video frames``: all frames of a 249-step video (``--every`` steps per frame, 960x540,
  overlays and heads-up lines included, title card and hold excluded);
* ``video write``: MP4 (imageio-ffmpeg, H.264) and GIF of those frames;
* ``gui opengl frame``: ``getCameraImage`` with the GUI's OpenGL renderer (only when an X
  display is set, e.g. under ``xvfb-run``, where it is software OpenGL);
* ``gui instrument frame``: the PyBullet calls of one frame of the GUI instrument
  (:func:`robo_l2l.instrument.watch`: pose, marker, heads-up text, a trail segment), which wait
  for the GUI's own redraw (same condition).

Last line: one JSON object.

    python benchmarks/bench_render.py
    xvfb-run -a -s "-screen 0 1280x800x24" python benchmarks/bench_render.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pybullet
import torch
from bench_inner_loop import write_result  # same folder; run as a script

from robo_l2l import video
from robo_l2l.envs.scene import FLOOR_Z, Scene, fit_camera
from robo_l2l.envs.simulator import flush_native_stdout, has_display
from robo_l2l.functional.kinematics import scorbot_fk
from robo_l2l.tasks import N_STEPS, sample_trajectories


def timed(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and the matching CPU time (s) of ``fn()`` after one warm-up call."""
    fn()
    best = (np.inf, np.inf)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def demo_runs(seed: int = 3) -> tuple[np.ndarray, list[video.Run]]:
    """A task of the family; 'after' on its joint path, 'before' offset from it."""
    task = sample_trajectories(1, torch.Generator().manual_seed(seed), dtype=torch.float64)
    q_after = np.zeros((N_STEPS, 4))
    q_after[:, :2] = task.q[0].numpy()
    q_before = q_after + [0.3, -0.15, 0.0, 0.0]
    xyz = [scorbot_fk(torch.as_tensor(q)).numpy() for q in (q_before, q_after)]
    return xyz[1], [
        video.Run("before the update", "as deployed", q_before, xyz[0], 0),
        video.Run("after the update", "after 1 update", q_after, xyz[1], 1000),
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=2, help="steps per video frame")
    parser.add_argument("--video-repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON/markdown")
    args = parser.parse_args(argv)
    target, runs = demo_runs()
    result: dict = {"panel_px": [480, 540], "frame_px": [960, 540], "every": args.every}

    with Scene() as scene:
        points = np.concatenate([target, scene.arm_points(runs[0].q)])
        camera = fit_camera(points, 480, 540)
        sun = scene.sun(points)
        background = scene.background(camera, sun)
        scene.pose(runs[0].q[100])
        wall, cpu = timed(lambda: scene.render(camera, background, sun), args.repeats * 5)
        result["tiny_panel_ms"], result["tiny_panel_cpu_ms"] = 1e3 * wall, 1e3 * cpu

        floor = scene.client.createMultiBody(
            0.0,
            -1,
            scene.client.createVisualShape(pybullet.GEOM_BOX, halfExtents=[3, 3, 0.001]),
            [0, 0, FLOOR_Z],
        )

        def tiny_with_shadow() -> None:
            scene.client.getCameraImage(
                480,
                540,
                camera.view.tolist(),
                camera.projection.tolist(),
                renderer=pybullet.ER_TINY_RENDERER,
                shadow=1,
            )

        wall, cpu = timed(tiny_with_shadow, args.repeats)
        result["tiny_floor_shadow_ms"], result["tiny_floor_shadow_cpu_ms"] = 1e3 * wall, 1e3 * cpu
        scene.client.removeBody(floor)

        config = video.VideoConfig(every=args.every, title_seconds=0, hold_seconds=0)
        frames: list[np.ndarray] = []

        def render_all() -> None:
            frames.clear()
            frames.extend(video.side_by_side_frames(target, runs, None, config, scene))

        wall, cpu = timed(render_all, args.video_repeats)
    result["video_frames"] = len(frames)
    result["video_render_s"], result["video_render_cpu_s"] = wall, cpu
    result["frame_ms"] = 1e3 * wall / len(frames)
    with tempfile.TemporaryDirectory() as folder:
        mp4, gif = Path(folder) / "v.mp4", Path(folder) / "v.gif"
        wall, cpu = timed(lambda: video.write_video(frames, mp4, gif, config.fps), 1)
        result["video_write_s"], result["video_write_cpu_s"] = wall, cpu
        result["mp4_bytes"], result["gif_bytes"] = mp4.stat().st_size, gif.stat().st_size
    gui = gui_frame_ms(args.repeats) if has_display() else (None, None)
    result["gui_opengl_frame_ms"], result["gui_instrument_frame_ms"] = gui

    flush_native_stdout()
    print(f"{'row':<40} {'wall':>10} {'cpu':>10}")
    rows = (
        ("tinyrenderer panel 480x540 (ms)", "tiny_panel_ms", "tiny_panel_cpu_ms"),
        ("tinyrenderer floor + shadow=1 (ms)", "tiny_floor_shadow_ms", "tiny_floor_shadow_cpu_ms"),
        (f"video frames x{len(frames)} (s)", "video_render_s", "video_render_cpu_s"),
        ("video write mp4 + gif (s)", "video_write_s", "video_write_cpu_s"),
    )
    for name, wall_key, cpu_key in rows:
        print(f"{name:<40} {result[wall_key]:>10.3f} {result[cpu_key]:>10.3f}")
    if result["gui_opengl_frame_ms"] is not None:
        print(f"{'gui opengl frame 480x540 (ms)':<40} {result['gui_opengl_frame_ms']:>10.3f}")
        print(f"{'gui instrument frame (ms)':<40} {result['gui_instrument_frame_ms']:>10.3f}")
    if args.out is not None:
        write_result("bench_render", result, args.out)
    print(json.dumps(result))
    return result


def gui_frame_ms(repeats: int) -> tuple[float, float]:
    """Wall times (ms): one 480x540 GUI OpenGL camera image of the GUI scene; one frame of the
    instrument's PyBullet calls."""
    target, runs = demo_runs()
    with Scene(gui=True) as scene:
        camera = fit_camera(np.concatenate([target, scene.arm_points(runs[0].q)]), 480, 540)
        scene.pose(runs[0].q[100])

        def grab() -> None:
            scene.client.getCameraImage(
                480,
                540,
                camera.view.tolist(),
                camera.projection.tolist(),
                renderer=pybullet.ER_BULLET_HARDWARE_OPENGL,
            )

        step = [100]
        hud = [-1]

        def instrument_frame() -> None:
            k = step[0] = step[0] % (N_STEPS - 2) + 1
            scene.pose(runs[0].q[k])
            scene.move_marker(target[k])
            scene.sim.add_polyline(runs[0].xyz[k - 1 : k + 1], (0.75, 0.2, 0.15), width=3.0)
            hud[0] = scene.client.addUserDebugText(
                f"step {k}", [0, 0, 0.8], [0.1] * 3, 1.3, replaceItemUniqueId=hud[0]
            )

        camera_ms = 1e3 * timed(grab, repeats * 3)[0]
        return camera_ms, 1e3 * timed(instrument_frame, repeats * 10)[0]


if __name__ == "__main__":
    main()
