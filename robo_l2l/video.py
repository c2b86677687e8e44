"""Videos of recorded rollouts: before | after side by side, paths, heads-up lines, MP4 + GIF.

A pure-ish renderer over recorded arrays: give it the target path and, per panel, the joint
angles and tool-tip path the closed loop recorded (``Rollout.q``, the env's observed joint
angles, and ``Rollout.xyz``); it poses
a kinematic arm (:class:`robo_l2l.envs.scene.Scene`) at every ``every``-th step and yields
frames (uint8 arrays). :func:`write_video` streams them into an MP4 (imageio-ffmpeg's bundled
encoder, H.264) and keeps a smaller GIF; :func:`render_video` does both after checking that
the outputs are writable.

Both panels come from one kinematic world posed twice per frame (first at the before
angles, then at the after angles) and one camera. Two worlds would render the same number
of pixels, so they cost the same per frame; one world guarantees identical scene, camera,
light and floor in both panels and halves the set-up (background, camera fit).

TinyRenderer (headless, CPU) draws the arm; it draws no debug lines, so the target path
(green), the executed trail (growing, one colour per panel) and a ring on the current target
point are 2-D overlays: world points projected with the panel's camera
(:func:`robo_l2l.envs.simulator.project_points`), drawn at twice the resolution and reduced
(anti-aliased). A path segment behind the arm (its depth beyond the arm's depth buffer at its
pixel) is left out, so the arm hides what it should.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from robo_l2l.atomic import atomic_write, atomic_write_bytes
from robo_l2l.envs.scene import Camera, Scene, fit_camera, follow_camera
from robo_l2l.tasks import DT_ARM

TARGET_RGB = (44, 160, 44)  #: target path (the figures' TARGET_COLOR)
TRAIL_RGB = ((192, 57, 43), (31, 95, 168))  #: executed trail of panel 0 (red), 1 (blue)
TEXT_RGB = (25, 28, 34)
CARD_RGB = (30, 36, 48)
MP4_HINT = (
    "no MP4 encoder: install imageio-ffmpeg (pip install imageio-ffmpeg, it bundles ffmpeg); "
    "the GIF was written"
)


@dataclass(frozen=True)
class Run:
    """One recorded closed-loop episode, shown in one panel."""

    caption: str  #: panel title, e.g. "before the update (as deployed)"
    phase: str  #: heads-up phase, e.g. "as deployed" or "after 1 on-chip update"
    q: np.ndarray  #: executed joint angles (T, 4), rad (base, shoulder, elbow, wrist)
    xyz: np.ndarray  #: executed tool-tip path (T, 3), m
    devices_written: int  #: PCM devices programmed by the update(s) this panel shows


@dataclass(frozen=True)
class TitleCard:
    """Text of the opening card."""

    family: str  #: e.g. "task family of Ortner et al. 2025, seed 0"
    device_age: str  #: e.g. "PCM read 32 s after programming, no drift compensation"
    title: str = "ED-Scorbot learns a new trajectory on phase-change memory"
    lines: tuple[str, ...] = ()  #: further lines (controller, errors)


@dataclass(frozen=True)
class VideoConfig:
    """Size and timing of a video."""

    width: int = 960  #: pixels of the whole frame (panels share it equally)
    height: int = 540  #: pixels
    every: int = 2  #: render every this many 10-ms steps
    slowdown: float = 2.0  #: video seconds per second of arm time
    title_seconds: float = 2.0  #: how long the title card stays (0: no card)
    hold_seconds: float = 1.5  #: how long the last frame stays
    yaw: float = 30.0  #: camera yaw (deg)
    pitch: float = -32.0  #: camera pitch (deg)
    #: camera follows the tool tip (1.1 m away) instead of framing the whole path; its floor
    #: is redrawn every frame, about 0.3 s per panel more
    follow: bool = False
    gif_every: int = 4  #: GIF keeps every this many video frames (README size: about 1 MB)
    gif_scale: float = 0.5  #: GIF size relative to the video

    @property
    def fps(self) -> float:
        return 1.0 / (DT_ARM * self.every * self.slowdown)

    def check(self) -> None:
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise ValueError(f"video size must be even and >= 64, got {self.width}x{self.height}")
        if self.every < 1 or self.gif_every < 1:
            raise ValueError("every and gif_every must be >= 1")
        if not (self.slowdown > 0 and 0 < self.gif_scale <= 1):
            raise ValueError("slowdown must be > 0 and gif_scale in (0, 1]")
        if self.title_seconds < 0 or self.hold_seconds < 0:
            raise ValueError("title_seconds and hold_seconds must be >= 0")


class VideoOutputs(NamedTuple):
    paths: list[Path]  #: files written
    frames: int  #: video frames (title and hold included)
    message: str  #: "" or why something was not written (e.g. no MP4 encoder)


def font(size: int, bold: bool = False, mono: bool = False):
    """DejaVu from matplotlib's data (always installed with it), else Pillow's default."""
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSansMono" if mono else "DejaVuSans"
        name += "-Bold" if bold else ""
        return ImageFont.truetype(
            str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"), size
        )
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _check_runs(target_xyz: np.ndarray, runs: Sequence[Run]) -> int:
    target_xyz = np.asarray(target_xyz)
    if target_xyz.ndim != 2 or target_xyz.shape[1] != 3 or not np.isfinite(target_xyz).all():
        raise ValueError(f"target_xyz must be finite (T, 3) m, got shape {target_xyz.shape}")
    if not 1 <= len(runs) <= 2:
        raise ValueError(f"one or two runs (panels), got {len(runs)}")
    n = len(target_xyz)
    for run in runs:
        if np.shape(run.q) != (n, 4) or np.shape(run.xyz) != (n, 3):
            raise ValueError(
                f"run {run.caption!r}: q must be ({n}, 4) and xyz ({n}, 3) like the target, "
                f"got {np.shape(run.q)} and {np.shape(run.xyz)}"
            )
        if not (np.isfinite(run.q).all() and np.isfinite(run.xyz).all()):
            raise ValueError(f"run {run.caption!r} contains NaN or inf")
    return n


def _depth(camera: Camera, points: np.ndarray) -> np.ndarray:
    """OpenGL window depth in [0, 1] of world points (N, 3), comparable to the depth buffer."""
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    clip = homogeneous @ camera.view.reshape(4, 4) @ camera.projection.reshape(4, 4)
    return 0.5 * (clip[:, 2] / clip[:, 3] + 1.0)


def _runs_of(visible: np.ndarray) -> list[slice]:
    """Maximal slices of consecutive True entries."""
    runs, start = [], None
    for i, v in enumerate(visible):
        if v and start is None:
            start = i
        if not v and start is not None:
            runs.append(slice(start, i))
            start = None
    if start is not None:
        runs.append(slice(start, len(visible)))
    return runs


def _visible(camera: Camera, points: np.ndarray, pixels: np.ndarray, render) -> np.ndarray:
    if render is None:
        return np.ones(len(points), bool)
    col = np.clip(pixels[:, 0].astype(int), 0, camera.width - 1)
    row = np.clip(pixels[:, 1].astype(int), 0, camera.height - 1)
    behind = render.body[row, col] & (_depth(camera, points) > render.depth[row, col] + 1e-4)
    return ~behind


def _overlay(panel, camera: Camera, render, target: np.ndarray, trail: np.ndarray, t: int,
             trail_rgb: tuple[int, int, int]) -> None:  # fmt: skip
    """Draw onto ``panel`` the target path, the executed trail up to step t and a ring on the
    current target point: each as a coverage mask drawn at twice the size and reduced (a 2x2
    box filter: anti-aliased edges), then painted through the mask."""
    from PIL import Image, ImageDraw

    scale = 2
    size = (panel.width * scale, panel.height * scale)
    for points, rgb in ((target, TARGET_RGB), (trail[: t + 1], trail_rgb)):
        if len(points) < 2:
            continue
        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        pixels = camera.project(points)
        visible = _visible(camera, points, pixels, render)
        visible = visible[:-1] & visible[1:]  # a segment shows when both ends do
        for part in _runs_of(visible):
            line = [tuple(p) for p in pixels[part.start : part.stop + 1] * scale]
            draw.line(line, fill=255, width=3 * scale)
        _paint(panel, rgb, mask.reduce(scale))
    mask = Image.new("L", size, 0)
    c, r = camera.project(target[t : t + 1])[0] * scale
    radius = 9 * scale
    ImageDraw.Draw(mask).ellipse((c - radius, r - radius, c + radius, r + radius), outline=255,
                                 width=2 * scale)  # fmt: skip
    _paint(panel, TARGET_RGB, mask.reduce(scale))


def overlay_paths(
    image: np.ndarray,
    camera: Camera,
    target: np.ndarray,
    trail: np.ndarray,
    t: int,
    trail_rgb: tuple[int, int, int] = TRAIL_RGB[1],
    render=None,
) -> np.ndarray:
    """``image`` (H, W, 3) uint8 of ``camera`` with the target path (T, 3), the executed
    ``trail`` (T, 3) up to step ``t`` and a ring on the target of step ``t`` drawn over it
    (e.g. a GUI screenshot); ``render`` (a :class:`~robo_l2l.envs.scene.Render`) hides the
    segments behind the arm."""
    from PIL import Image

    panel = Image.fromarray(np.ascontiguousarray(image))
    _overlay(panel, camera, render, np.asarray(target, float), np.asarray(trail, float), t,
             trail_rgb)  # fmt: skip
    return np.asarray(panel)


def _paint(panel, rgb, mask) -> None:
    """Paint ``rgb`` through ``mask`` (coverage 0-255), only where the mask has any."""
    box = mask.getbbox()
    if box is not None:
        panel.paste(rgb, box, mask.crop(box))


def _bands(width: int, height: int) -> list:
    """Translucent caption band (top) and heads-up band (bottom): (RGBA image, row)."""
    from PIL import Image

    return [
        (Image.new("RGBA", (width, 34), (255, 255, 255, 215)), 0),
        (Image.new("RGBA", (width, 50), (20, 24, 32, 200)), height - 50),
    ]


def _heads_up(panel, run: Run, t: int, error_mm: np.ndarray, colour, fonts) -> None:
    """Caption and heads-up lines: arm time, error now and so far, phase, devices written."""
    from PIL import ImageDraw

    for band, row in fonts["bands"]:
        panel.paste(band, (0, row), band)
    draw = ImageDraw.Draw(panel)
    draw.rectangle((10, 11, 32, 23), fill=colour)
    draw.text((40, 7), run.caption, fill=TEXT_RGB, font=fonts["caption"])
    mean = float(error_mm[: t + 1].mean())
    lines = (
        f"t {(t + 1) * DT_ARM:4.2f} s   error {error_mm[t]:5.1f} mm   mean so far {mean:5.1f} mm",
        f"{run.phase}   devices written: {run.devices_written}",
    )
    for k, line in enumerate(lines):
        draw.text((10, panel.height - 46 + 22 * k), line, fill=(240, 240, 240), font=fonts["hud"])


def title_frame(card: TitleCard, width: int, height: int) -> np.ndarray:
    """The opening card (height, width, 3) uint8."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), CARD_RGB)
    draw = ImageDraw.Draw(image)
    left, usable = width * 0.06, width * 0.88
    size = max(12, height // 20)

    def fitted(text: str, size: int, bold: bool = False):
        """The largest font up to ``size`` in which ``text`` fits the usable width."""
        while size > 8 and draw.textlength(text, font=font(size, bold)) > usable:
            size -= 1
        return font(size, bold)

    y = height * 0.28
    draw.text((left, y), card.title, fill=(255, 255, 255), font=fitted(card.title, size, True))
    y += size * 2.2
    for line in (f"target: {card.family}", f"devices: {card.device_age}", *card.lines):
        draw.text((left, y), line, fill=(205, 214, 230), font=fitted(line, int(size * 0.72)))
        y += size * 1.3
    return np.asarray(image)


def side_by_side_frames(
    target_xyz: np.ndarray,
    runs: Sequence[Run],
    title: TitleCard | None = None,
    config: VideoConfig = VideoConfig(),
    scene: Scene | None = None,
) -> Iterator[np.ndarray]:
    """Frames (height, width, 3) uint8: the title card (held ``title_seconds``), one frame per
    ``every`` steps with the runs side by side (the last step always included), the last frame
    held ``hold_seconds``. ``scene``: a headless :class:`Scene` to reuse (else one is made)."""
    from PIL import Image

    config.check()
    n = _check_runs(target_xyz, runs)
    target_xyz = np.asarray(target_xyz, float)
    own = scene is None
    scene = Scene() if own else scene
    try:
        panel_w = config.width // len(runs)
        points = np.concatenate([target_xyz, *(scene.arm_points(r.q) for r in runs)])
        # frame the path and the arm between the caption (34 px) and heads-up (50 px) bands
        box = (0.04 * panel_w, 34 + 12, 0.96 * panel_w, config.height - 50 - 12)
        camera = fit_camera(points, panel_w, config.height, config.yaw, config.pitch, box=box)
        sun = scene.sun(points)
        background = scene.background(camera, sun)
        fonts = {
            "caption": font(16, bold=True),
            "hud": font(14, mono=True),
            "bands": _bands(panel_w, config.height),
        }
        errors = [1e3 * np.linalg.norm(np.asarray(r.xyz) - target_xyz, axis=1) for r in runs]
        if title is not None and config.title_seconds > 0:
            card = title_frame(title, config.width, config.height)
            for _ in range(max(1, round(config.title_seconds * config.fps))):
                yield card
        steps = list(range(config.every - 1, n, config.every))
        if steps[-1] != n - 1:
            steps.append(n - 1)
        frame = None
        for t in steps:
            frame = Image.new("RGB", (config.width, config.height), (255, 255, 255))
            for k, run in enumerate(runs):
                scene.pose(run.q[t])
                scene.move_marker(target_xyz[t])
                view = follow_camera(camera, run.xyz[t]) if config.follow else camera
                bg = scene.background(view, sun) if config.follow else background
                render = scene.render(view, bg, sun)
                panel = Image.fromarray(render.rgb)
                _overlay(panel, view, render, target_xyz, np.asarray(run.xyz), t, TRAIL_RGB[k % 2])
                _heads_up(panel, run, t, errors[k], TRAIL_RGB[k % 2], fonts)
                frame.paste(panel, (k * panel_w, 0))
            if len(runs) == 2:
                frame.paste((255, 255, 255), (panel_w - 1, 0, panel_w + 1, config.height))
            frame = np.asarray(frame)
            yield frame
        for _ in range(round(config.hold_seconds * config.fps)):
            yield frame
    finally:
        if own:
            scene.close()


def find_encoder() -> str | None:
    """Path of imageio-ffmpeg's bundled ffmpeg, or None when it is not installed."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError):
        return None


def check_writable(*paths: str | os.PathLike | None) -> None:
    """Raise ``OSError`` naming the path if a file cannot be created at any of ``paths``
    (their folders are created); call it before rendering anything."""
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}."):
                pass
        except OSError as exc:
            raise OSError(f"cannot write the video output {path}: {exc}") from exc
        if path.is_dir():
            raise OSError(f"cannot write the video output {path}: it is a directory")


def _gif_bytes(frames: list[np.ndarray], fps: float) -> bytes:
    """An animated GIF with one palette for all frames: 240 colours of a median cut over a
    sample of the frames plus the overlay colours, which cover few pixels and would
    otherwise be merged into their neighbours."""
    from PIL import Image

    key = [TARGET_RGB, *TRAIL_RGB, (255, 255, 255), (0, 0, 0)]
    sample = np.concatenate(frames[:: max(1, len(frames) // 8)], axis=0)
    median = Image.fromarray(sample).quantize(colors=256 - len(key))
    colours = median.getpalette()[: 3 * (256 - len(key))] + [c for rgb in key for c in rgb]
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours)
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0, optimize=False)  # fmt: skip
    return buffer.getvalue()


def write_video(
    frames: Iterable[np.ndarray],
    mp4: str | os.PathLike | None,
    gif: str | os.PathLike | None,
    fps: float,
    gif_every: int = 2,
    gif_scale: float = 0.5,
) -> VideoOutputs:
    """Stream ``frames`` into ``mp4`` (H.264, when the encoder is installed) and write every
    ``gif_every``-th frame, scaled by ``gif_scale``, to ``gif``. Both writes are atomic; with
    no encoder the GIF is still written and ``message`` says how to get the MP4."""
    import itertools

    from PIL import Image

    check_writable(mp4, gif)
    encoder = find_encoder() if mp4 is not None else None
    message = MP4_HINT if mp4 is not None and encoder is None else ""
    stream = iter(frames)
    first = next(stream, None)
    if first is None:
        raise ValueError("no frames to write")
    stream = itertools.chain([first], stream)
    height, width = first.shape[:2]
    gif_frames: list[np.ndarray] = []
    count = 0

    def consume(writer) -> None:
        nonlocal count
        for frame in stream:
            if writer is not None:
                writer.send(np.ascontiguousarray(frame))
            if gif is not None and count % gif_every == 0:
                size = (round(width * gif_scale) // 2 * 2, round(height * gif_scale) // 2 * 2)
                image = Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS)
                gif_frames.append(np.asarray(image))
            count += 1

    def encode(tmp: str) -> None:
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            tmp, (width, height), fps=fps, codec="libx264", quality=7, macro_block_size=2,
            output_params=["-f", "mp4", "-preset", "veryfast"],
        )  # fmt: skip
        writer.send(None)
        try:
            consume(writer)
        finally:
            writer.close()

    paths: list[Path] = []
    if encoder is not None:
        paths.append(atomic_write(mp4, encode))
    else:
        consume(None)
    if gif is not None:
        paths.append(atomic_write_bytes(gif, _gif_bytes(gif_frames, fps / gif_every)))
    return VideoOutputs(paths, count, message)


def render_video(
    target_xyz: np.ndarray,
    runs: Sequence[Run],
    title: TitleCard | None,
    mp4: str | os.PathLike | None,
    gif: str | os.PathLike | None,
    config: VideoConfig = VideoConfig(),
    still: str | os.PathLike | None = None,
    still_at: float = 0.6,
) -> VideoOutputs:
    """Check the inputs and outputs, then render the side-by-side video into ``mp4``/``gif``;
    ``still``: also the full-size frame at fraction ``still_at`` of the video, as a PNG."""
    config.check()
    _check_runs(target_xyz, runs)
    if not 0 <= still_at <= 1:
        raise ValueError(f"still_at must be in [0, 1], got {still_at}")
    check_writable(mp4, gif, still)
    frames = side_by_side_frames(target_xyz, runs, title, config)
    kept: list[np.ndarray] = []
    if still is not None:
        index = round(still_at * (frame_count(len(target_xyz), config, title is not None) - 1))
        frames = _keeping(frames, index, kept)
    written = write_video(frames, mp4, gif, config.fps, config.gif_every, config.gif_scale)
    if still is not None and kept:
        from PIL import Image

        path = atomic_write(still, lambda tmp: Image.fromarray(kept[0]).save(tmp, format="PNG"))
        written = written._replace(paths=[*written.paths, Path(path)])
    return written


def _keeping(frames, index: int, kept: list):
    """``frames`` unchanged, with frame ``index`` appended to ``kept`` on the way."""
    for k, frame in enumerate(frames):
        if k == index:
            kept.append(frame)
        yield frame


def frame_count(n_steps: int, config: VideoConfig, title: bool = True) -> int:
    """Number of video frames :func:`side_by_side_frames` yields for ``n_steps`` steps."""
    steps = len(range(config.every - 1, n_steps, config.every))
    steps += 0 if (n_steps - 1) % config.every == config.every - 1 else 1
    card = max(1, round(config.title_seconds * config.fps)) if title and config.title_seconds else 0
    return card + steps + round(config.hold_seconds * config.fps)
