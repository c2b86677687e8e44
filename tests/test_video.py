"""The scene and the before | after video: framing, two arms, MP4 + GIF, bad outputs."""

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from robo_l2l import video
from robo_l2l.envs.scene import Scene, fit_camera
from robo_l2l.functional.kinematics import scorbot_fk
from robo_l2l.tasks import sample_trajectories


def arm_share(image: np.ndarray) -> float:
    """Share of pixels in the arm's orange (URDF rgba 0.95 0.55 0.10, shaded): red clearly
    above green clearly above blue; the green target, the red/blue trails and the grey floor,
    pedestal and sky all fail it."""
    r, g, b = (image[..., k].astype(int) for k in range(3))
    orange = (r > 110) & (r - b > 90) & (g - b > 30) & (r - g > 40) & (r - g < 150)
    return float(orange.mean())


def _runs(n_steps: int = 249, seed: int = 3):
    """Target path and two recorded runs: 'after' follows the target's joint path, 'before'
    lags it by a constant offset; q from the target's integrated omega, xyz from the FK."""
    task = sample_trajectories(1, torch.Generator().manual_seed(seed), dtype=torch.float64)
    q_after = np.zeros((n_steps, 4))
    q_after[:, :2] = task.q[0, :n_steps].numpy()
    q_before = q_after.copy()
    q_before[:, :2] += [0.35, -0.2]
    xyz = [scorbot_fk(torch.as_tensor(q)).numpy() for q in (q_before, q_after)]
    runs = [
        video.Run("before", "as deployed", q_before, xyz[0], 0),
        video.Run("after", "after 1 update", q_after, xyz[1], 321),
    ]
    return xyz[1], runs


def _config(**kw) -> video.VideoConfig:
    return video.VideoConfig(**{"title_seconds": 0.0, "hold_seconds": 0.0, **kw})


def test_side_by_side_frame_shows_two_arms_and_paths():
    target, runs = _runs()
    frame = next(video.side_by_side_frames(target, runs, None, _config(every=120)))
    assert frame.shape == (540, 960, 3) and frame.dtype == np.uint8
    left, right = frame[:, :480], frame[:, 480:]
    for half in (left, right):
        assert arm_share(half) > 0.03  # the arm fills a good share of each panel
        green = (half[..., 1] > 130) & (half[..., 0] < 90) & (half[..., 2] < 90)
        assert green.sum() > 200  # the target path is drawn
    assert not np.array_equal(left, right)  # the arms stand in different poses


def test_camera_frames_path_and_arm():
    target, runs = _runs(seed=11)
    with Scene() as scene:
        points = np.concatenate([target, scene.arm_points(runs[0].q)])
    box = (40, 50, 440, 480)
    camera = fit_camera(points, 480, 540, box=box)
    pixels = camera.project(points)
    assert (pixels.min(0) >= np.array(box[:2]) - 1).all()
    assert (pixels.max(0) <= np.array(box[2:]) + 1).all()
    # tight: the points reach the box's edges in one direction at least
    span = (pixels.max(0) - pixels.min(0)) / (np.array(box[2:]) - np.array(box[:2]))
    assert span.max() > 0.97


def test_cropped_render_equals_the_full_render_there():
    with Scene() as scene:
        scene.pose(np.array([0.4, 0.3, 0.0, 0.0]))
        camera = fit_camera(scene.arm_points(np.zeros((1, 4))), 320, 240)
        full = scene._raw(camera)
        box = (60, 40, 250, 200)
        part = scene._raw_box(camera, box)
    c0, r0, c1, r1 = box
    seg_full, seg_part = full[2][r0:r1, c0:c1], part[2]
    assert (seg_part >= 0).mean() > 0.05
    assert (seg_full != seg_part).mean() < 0.01  # rasterisation may differ on edge pixels


def test_mp4_and_gif_decode_with_expected_frames(tmp_path):
    target, runs = _runs(n_steps=21)
    cfg = _config(every=2, hold_seconds=0.08)
    out = video.render_video(target, runs, None, tmp_path / "v.mp4", tmp_path / "v.gif", cfg,
                             still=tmp_path / "still.png", still_at=1.0)  # fmt: skip
    assert out.message == ""
    assert out.paths[-1] == tmp_path / "still.png"
    expected = video.frame_count(21, cfg, title=False)
    assert out.frames == expected == 11 + 2
    reader = imageio.get_reader(tmp_path / "v.mp4", format="FFMPEG")
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == expected
    assert frames[0].shape == (540, 960, 3)
    from PIL import Image

    still = np.asarray(Image.open(tmp_path / "still.png").convert("RGB"))
    assert still.shape == (540, 960, 3)  # the last frame, before H.264's loss
    assert np.abs(still.astype(int) - frames[-1]).mean() < 4
    # Pillow merges identical consecutive GIF frames (the held last frame) into one longer
    # frame, so the GIF's length is checked as duration
    durations = _gif_durations_ms(tmp_path / "v.gif")
    frame_ms = round(1000 * cfg.gif_every / cfg.fps)
    assert sum(durations) == pytest.approx(-(-expected // cfg.gif_every) * frame_ms, abs=2)
    assert imageio.mimread(tmp_path / "v.gif")[0].shape[:2] == (270, 480)


def _gif_durations_ms(path) -> list[int]:
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        return [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]


def test_missing_encoder_still_writes_the_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "find_encoder", lambda: None)
    frames = [np.full((64, 96, 3), k * 20, np.uint8) for k in range(6)]
    out = video.write_video(frames, tmp_path / "v.mp4", tmp_path / "v.gif", fps=10)
    assert "imageio-ffmpeg" in out.message and "pip install" in out.message
    assert not (tmp_path / "v.mp4").exists()
    assert sum(_gif_durations_ms(tmp_path / "v.gif")) == 3 * 200


def test_unwritable_output_fails_before_rendering(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")

    def no_render(*args, **kwargs):
        raise AssertionError("rendering started")

    monkeypatch.setattr(video, "side_by_side_frames", no_render)
    target, runs = _runs(n_steps=5)
    with pytest.raises(OSError, match="cannot write the video output"):
        video.render_video(target, runs, None, blocker / "v.mp4", tmp_path / "v.gif")
    with pytest.raises(OSError, match="is a directory"):
        video.render_video(target, runs, None, tmp_path, None)
    assert not (tmp_path / "v.gif").exists()


def test_bad_runs_are_refused():
    target, runs = _runs(n_steps=5)
    with pytest.raises(ValueError, match="q must be"):
        next(video.side_by_side_frames(target[:4], runs))
    bad = video.Run("x", "y", runs[0].q * np.nan, runs[0].xyz, 0)
    with pytest.raises(ValueError, match="NaN"):
        next(video.side_by_side_frames(target, [bad]))
    with pytest.raises(ValueError, match="even"):
        next(video.side_by_side_frames(target, runs, None, _config(width=961)))
