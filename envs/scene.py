r"""The 3-D scene the arm is watched in: a kinematic ED-Scorbot, a floor with a grid, a sun.

The arm here is posed, not simulated: :meth:`Scene.pose` puts the joints at recorded angles
with ``resetJointState`` (no stepping), so a rollout recorded by the physics env (the closed
loop's ``Rollout.q``) can be shown, replayed and rendered any number of times. The arm stands
on a pedestal, a column from the floor up to its base, because the tool tip of the task
family reaches 0.46 m below the base: the floor lies at :data:`FLOOR_Z`.

Headless images (:meth:`Scene.render`) are composed from three parts, because PyBullet's
TinyRenderer costs time for every pixel of the image it is asked for (a 480x540 image of the
arm over a floor body: about 80 ms, 200 ms with its own shadow pass; the arm alone in the
pixel box around it, as here: about 10-15 ms; see ``benchmarks/bench_render.py``):

* the floor and the sky, drawn once per camera in numpy (:func:`floor_and_sky`): a
  ground plane :math:`z` = :data:`FLOOR_Z` with anti-aliased grid lines every :data:`GRID_MINOR` m
  (darker every :data:`GRID_MAJOR` m) that fade with distance into a sky gradient;
* the arm (and the target marker), rendered by TinyRenderer with the floor absent and only
  in the pixel box around them (:func:`crop_projection`), pasted where PyBullet's
  segmentation mask finds a body in front of the background's depth;
* a soft shadow: TinyRenderer renders the arm's silhouette from the sun (a camera
  :data:`SUN_DISTANCE` m away along the light direction, a near-parallel projection), it is
  blurred, and every floor pixel looks up whether the sun sees the arm from its point:

  .. math::
      I_{floor}(p) \leftarrow I_{floor}(p)\,\bigl(1 - s\,\mathrm{blur}(M)(\Pi_{sun}(X_p))\bigr),

  with :math:`X_p` the floor point behind pixel :math:`p`, :math:`\Pi_{sun}` the sun
  camera's projection, :math:`M` the silhouette and :math:`s` = :data:`SHADOW_STRENGTH`.

The GUI (``gui=True``) shows the same arm over a textured floor (:func:`grid_texture`) with
PyBullet's own OpenGL shadows.

Lengths in m, angles in degrees where PyBullet's camera takes degrees, colours RGB 0-255.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pybullet

from robo_l2l.envs.robot import Scorbot
from robo_l2l.envs.simulator import Simulator, project_points

FLOOR_Z = -0.5  #: m; the floor, below the lowest tool tip the task family reaches (-0.46 m)
PEDESTAL_RADIUS = 0.13  #: m; the column from the floor to the base (base radius 0.12 m)
PEDESTAL_RGBA = (0.52, 0.56, 0.63, 1.0)
GRID_MINOR = 0.1  #: m between thin grid lines
GRID_MAJOR = 0.5  #: m between strong grid lines
FLOOR_RGB = (228, 231, 236)
GRID_RGB = (150, 158, 170)
SKY_TOP_RGB = (176, 196, 222)
SKY_HORIZON_RGB = (238, 241, 245)
FOG_DISTANCE = 6.0  #: m at which the floor has faded into the horizon colour
LIGHT_DIRECTION = (0.45, -0.25, 1.0)  #: towards the sun (from the scene), not normalised
SUN_DISTANCE = 30.0  #: m; the sun camera is this far away (near-parallel shadows)
SUN_RESOLUTION = 160  #: pixels of the sun camera's square silhouette image
SHADOW_STRENGTH = 0.42  #: fraction of floor brightness a full shadow takes away
SHADOW_BLUR = 2.6  #: Gaussian blur radius of the silhouette, sun pixels (soft edge)
MARKER_RGBA = (0.1, 0.75, 0.2, 1.0)  #: current target point (green, as the target path)
MARKER_RADIUS = 0.018  #: m
MARKER_OFFSETS = MARKER_RADIUS * np.array(
    [[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
)
NEAR, FAR = 0.05, 20.0  #: m, camera clipping planes


@dataclass(frozen=True)
class Camera:
    """A pinhole camera around a target point (PyBullet's yaw/pitch convention, degrees)."""

    target: tuple[float, float, float]  #: m, the point looked at
    distance: float  #: m from the target to the eye
    yaw: float  #: deg about +z
    pitch: float  #: deg, negative looks down
    width: int  #: pixels
    height: int  #: pixels
    fov: float = 40.0  #: vertical field of view, deg

    @property
    def view(self) -> np.ndarray:
        return np.asarray(
            pybullet.computeViewMatrixFromYawPitchRoll(
                list(map(float, self.target)), self.distance, self.yaw, self.pitch, 0.0, 2
            )
        )

    @property
    def projection(self) -> np.ndarray:
        return np.asarray(
            pybullet.computeProjectionMatrixFOV(
                self.fov, self.width / self.height, NEAR, max(FAR, self.distance + FAR)
            )
        )

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) (column, row) of world points (N, 3)."""
        return project_points(
            np.asarray(points, float), self.view, self.projection, self.width, self.height
        )

    def eye(self) -> np.ndarray:
        rotation = self.view.reshape(4, 4).T[:3, :3]
        return -rotation.T @ self.view.reshape(4, 4).T[:3, 3]


def fit_camera(
    points: np.ndarray,
    width: int,
    height: int,
    yaw: float = 30.0,
    pitch: float = -24.0,
    fov: float = 40.0,
    box: tuple[float, float, float, float] | None = None,
) -> Camera:
    """The camera at ``yaw``/``pitch`` that frames all ``points`` (N, 3) (m) as tightly as
    possible inside the pixel ``box`` ``(col0, row0, col1, row1)`` of its image (default: the
    image less 6 % on each side).

    The distance is bisected until the points' projected bounding box just fits the box
    (the projection shrinks monotonically with the distance), then the target is moved so
    that the two boxes share their centre; three rounds converge to a pixel.
    """
    points = np.asarray(points, float).reshape(-1, 3)
    if len(points) == 0 or not np.isfinite(points).all():
        raise ValueError("fit_camera needs a non-empty set of finite points")
    if box is None:
        box = (0.06 * width, 0.06 * height, 0.94 * width, 0.94 * height)
    c0, r0, c1, r1 = box
    low, high = points.min(0), points.max(0)
    camera = Camera(tuple((low + high) / 2), 3.0, yaw, pitch, int(width), int(height), fov)

    def extent(cam: Camera) -> tuple[np.ndarray, float]:
        pixels = cam.project(points)
        lo, hi = pixels.min(0), pixels.max(0)
        centre = (lo + hi) / 2 - np.array([(c0 + c1) / 2, (r0 + r1) / 2])
        return centre, max((hi[0] - lo[0]) / (c1 - c0), (hi[1] - lo[1]) / (r1 - r0))

    for _ in range(3):
        near, far = 0.3, 20.0
        for _ in range(30):
            distance = math.sqrt(near * far)
            _, fill = extent(replace(camera, distance=distance))
            near, far = (distance, far) if fill > 1 else (near, distance)
        camera = replace(camera, distance=far)
        centre, _ = extent(camera)
        view = camera.view.reshape(4, 4).T
        right, up = view[0, :3], view[1, :3]
        metres_per_pixel = 2 * camera.distance * math.tan(math.radians(fov) / 2) / height
        shift = metres_per_pixel * (centre[0] * right - centre[1] * up)
        camera = replace(camera, target=tuple(np.asarray(camera.target) + shift))
    return camera


def follow_camera(base: Camera, tip: np.ndarray, distance: float = 1.1) -> Camera:
    """``base`` moved to look at the tool tip ``tip`` (3,) from ``distance`` m."""
    return replace(base, target=tuple(map(float, tip)), distance=float(distance))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


class Background(NamedTuple):
    """The static part of a camera's image: floor, sky and pedestal, and where the floor
    pixels that can fall into shadow look up the sun camera's silhouette."""

    rgb: np.ndarray  #: (H, W, 3) uint8
    depth: np.ndarray  #: (H, W) float32 OpenGL depth of the pedestal, 1 elsewhere
    floor_pixels: np.ndarray  #: (N,) flat pixel indices of floor pixels the sun image covers
    sun_pixels: np.ndarray  #: (N,) their flat indices into the sun image
    pedestal_shadow: np.ndarray  #: (n, n) float32, the pedestal's blurred silhouette


def _rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Eye position (3,) and unit ray directions (H, W, 3) through the pixel centres."""
    w, h = camera.width, camera.height
    inverse = np.linalg.inv(camera.projection.reshape(4, 4).T @ camera.view.reshape(4, 4).T)
    col, row = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    ndc = np.stack([2 * col / w - 1, 1 - 2 * row / h, np.ones_like(col), np.ones_like(col)], -1)
    far = ndc @ inverse.T
    far = far[..., :3] / far[..., 3:]
    eye = camera.eye()
    direction = far - eye
    return eye, direction / np.linalg.norm(direction, axis=-1, keepdims=True)


def floor_and_sky(camera: Camera, sun: SunCamera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The floor :math:`z` = :data:`FLOOR_Z` with an anti-aliased grid, fog and sky, as
    float RGB (H, W, 3), with the flat indices of the floor pixels the sun camera covers and
    their flat indices into the sun image.

    A grid line of half width :math:`h` seen through a pixel whose footprint on the floor is
    :math:`f` m covers the fraction :math:`\mathrm{clip}((h + f/2 - d) / f, 0, 1)
    \min(1, 2h/f)` of it, :math:`d` the distance of the pixel centre to the line: a box
    filter, so distant lines fade instead of flickering.
    """
    eye, rays = _rays(camera)
    down = rays[..., 2] < -1e-6
    s = np.where(down, (FLOOR_Z - eye[2]) / np.where(down, rays[..., 2], -1.0), np.inf)
    hit = eye + rays * np.where(np.isfinite(s), s, 0.0)[..., None]
    on_floor = down & (s < FOG_DISTANCE * 1.5)
    pixel_angle = 2 * math.tan(math.radians(camera.fov) / 2) / camera.height
    footprint = np.where(on_floor, s * pixel_angle / np.maximum(-rays[..., 2], 0.05), 1.0)
    shade = np.zeros(rays.shape[:2])
    for spacing, half_width, strength in ((GRID_MINOR, 0.002, 0.45), (GRID_MAJOR, 0.004, 1.0)):
        for axis in (0, 1):
            distance = spacing * np.abs(
                hit[..., axis] / spacing - np.round(hit[..., axis] / spacing)
            )
            coverage = np.clip((half_width + footprint / 2 - distance) / footprint, 0, 1)
            coverage *= np.minimum(1.0, 2 * half_width / footprint)
            shade = np.maximum(shade, strength * coverage)
    floor = np.asarray(FLOOR_RGB, float) * (1 - shade[..., None])
    floor += np.asarray(GRID_RGB, float) * shade[..., None]
    fog = np.clip(s / FOG_DISTANCE, 0, 1)[..., None] ** 1.5
    floor = floor * (1 - fog) + np.asarray(SKY_HORIZON_RGB, float) * fog
    elevation = np.clip(rays[..., 2], 0, 1)[..., None] ** 0.6
    sky = np.asarray(SKY_HORIZON_RGB, float) * (1 - elevation)
    sky += np.asarray(SKY_TOP_RGB, float) * elevation
    rgb = np.where(on_floor[..., None], floor, sky)
    sun_xy = sun.camera.project(hit.reshape(-1, 3))
    col, row = np.floor(sun_xy[:, 0]).astype(int), np.floor(sun_xy[:, 1]).astype(int)
    n = sun.camera.width
    inside = on_floor.reshape(-1) & (col >= 0) & (col < n) & (row >= 0) & (row < n)
    pixels = np.flatnonzero(inside)
    return rgb, pixels, (row * n + col)[pixels]


class SunCamera(NamedTuple):
    """The camera at the sun that sees the arm's silhouette (square image)."""

    camera: Camera


def sun_camera(centre: np.ndarray, radius: float, light_direction=LIGHT_DIRECTION) -> SunCamera:
    """A narrow camera :data:`SUN_DISTANCE` m from ``centre`` along ``light_direction`` that
    sees a disc of ``radius`` m around it."""
    direction = _unit(light_direction)
    yaw = math.degrees(math.atan2(direction[0], -direction[1]))
    pitch = -math.degrees(math.asin(direction[2]))
    fov = 2 * math.degrees(math.atan(radius / SUN_DISTANCE))
    camera = Camera(tuple(map(float, centre)), SUN_DISTANCE, yaw, pitch, SUN_RESOLUTION,
                    SUN_RESOLUTION, fov)  # fmt: skip
    return SunCamera(camera)


def grid_texture(path: str | Path, size: int = 1024, cells: int = 30) -> Path:
    """Write a PNG floor texture of ``cells`` x ``cells`` grid cells (GUI floor)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), FLOOR_RGB)
    draw = ImageDraw.Draw(image)
    step = size / cells
    for k in range(cells + 1):
        width = 3 if k % 5 == 0 else 1
        draw.line([(k * step, 0), (k * step, size)], fill=GRID_RGB, width=width)
        draw.line([(0, k * step), (size, k * step)], fill=GRID_RGB, width=width)
    image.save(path)
    return Path(path)


class Render(NamedTuple):
    rgb: np.ndarray  #: (H, W, 3) uint8
    depth: np.ndarray  #: (H, W) float32, OpenGL depth in [0, 1] (1 where nothing was drawn)
    body: np.ndarray  #: (H, W) bool, the arm, the marker or the pedestal covers the pixel


def crop_projection(camera: Camera, box: tuple[int, int, int, int]) -> np.ndarray:
    """Projection matrix (column-major, 16) that renders only the pixel box
    ``(col0, row0, col1, row1)`` of ``camera``'s image, at ``(col1 - col0) x (row1 - row0)``.

    In clip space :math:`X' = a X + b W` maps the box's NDC interval :math:`[l, r]` onto
    :math:`[-1, 1]`: :math:`a = 2/(r - l)`, :math:`b = -(r + l)/(r - l)`; likewise for Y.
    """
    c0, r0, c1, r1 = box
    w, h = camera.width, camera.height
    left, right = 2 * c0 / w - 1, 2 * c1 / w - 1
    top, bottom = 1 - 2 * r0 / h, 1 - 2 * r1 / h
    scale = np.eye(4)
    scale[0, 0], scale[0, 3] = 2 / (right - left), -(right + left) / (right - left)
    scale[1, 1], scale[1, 3] = 2 / (top - bottom), -(top + bottom) / (top - bottom)
    return (scale @ camera.projection.reshape(4, 4).T).T.reshape(-1)


class Scene:
    """One kinematic ED-Scorbot on a pedestal, with a target marker.

    Args:
        gui: open the PyBullet GUI window (needs an X display) with its control panel,
            a textured floor body and OpenGL shadows.
        urdf_path: URDF to load instead of the packaged one.
        light_direction: vector from the scene towards the sun.
    """

    def __init__(self, gui: bool = False, urdf_path=None, light_direction=LIGHT_DIRECTION) -> None:
        self.sim = Simulator(gui=gui)
        self.client = self.sim.client
        self.gui = gui
        self.light_direction = _unit(light_direction)
        client = self.client
        try:
            self.robot = Scorbot(self.sim, urdf_path)
            shape = client.createVisualShape(
                pybullet.GEOM_SPHERE, radius=MARKER_RADIUS, rgbaColor=list(MARKER_RGBA)
            )
            self.marker = client.createMultiBody(0.0, -1, shape, [0, 0, -10])
            half_height = -FLOOR_Z / 2
            shape = client.createVisualShape(
                pybullet.GEOM_CYLINDER,
                radius=PEDESTAL_RADIUS,
                length=2 * half_height,
                rgbaColor=list(PEDESTAL_RGBA),
            )
            self._pedestal_at = [0.0, 0.0, FLOOR_Z + half_height]
            # headless: the pedestal is static, drawn once into each camera's background
            self.pedestal = client.createMultiBody(
                0.0, -1, shape, self._pedestal_at if gui else self._away
            )
            if gui:
                self._gui_floor()
        except Exception:
            self.sim.close()
            raise

    _away = [0.0, 0.0, -60.0]  #: m; where hidden bodies wait (beyond every far plane)

    def _gui_floor(self) -> None:
        client = self.client
        with tempfile.TemporaryDirectory() as folder:
            texture = client.loadTexture(str(grid_texture(Path(folder) / "grid.png")))
        half = 3.0  # 6 m of floor, 30 cells of 0.2 m
        shape = client.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=[half, half, 0.001], rgbaColor=[1, 1, 1, 1]
        )
        self.floor = client.createMultiBody(0.0, -1, shape, [0, 0, FLOOR_Z - 0.001])
        client.changeVisualShape(self.floor, -1, textureUniqueId=texture)
        client.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 1)
        client.configureDebugVisualizer(pybullet.COV_ENABLE_SHADOWS, 1)
        client.configureDebugVisualizer(lightPosition=list(self.light_direction * 10))

    def pose(self, q: np.ndarray) -> None:
        """Put the four joints at ``q`` (4,) rad (base, shoulder, elbow, wrist)."""
        for index, angle in zip(self.robot.joint_indices, np.asarray(q, float), strict=True):
            self.client.resetJointState(self.robot.body, index, float(angle), 0.0)

    def tool_tip(self) -> np.ndarray:
        return self.robot.end_effector_position()

    def move_marker(self, xyz: np.ndarray) -> None:
        self.client.resetBasePositionAndOrientation(
            self.marker, list(map(float, xyz)), [0, 0, 0, 1]
        )

    def _arm_corners(self) -> np.ndarray:
        corners = []
        for link in range(-1, self.client.getNumJoints(self.robot.body)):
            low, high = self.client.getAABB(self.robot.body, link)
            corners += [(x, y, z) for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])]  # fmt: skip
        return np.asarray(corners)

    def arm_points(self, q_path: np.ndarray, every: int = 8) -> np.ndarray:
        """Corners of every link's bounding box at every ``every``-th pose of ``q_path``
        (T, 4) rad and the pedestal's top, as (N, 3) m: what a camera must see."""
        q_path = np.asarray(q_path, float)
        corners = []
        for q in [*q_path[::every], q_path[-1]]:
            self.pose(q)
            corners.append(self._arm_corners())
        h = PEDESTAL_RADIUS
        corners.append(np.array([[x, y, 0.0] for x in (-h, h) for y in (-h, h)]))
        return np.concatenate(corners)

    def sun(self, points: np.ndarray) -> SunCamera:
        """Sun camera covering ``points`` (N, 3) and the floor around them."""
        points = np.asarray(points, float)
        centre = np.array([*points[:, :2].mean(0), FLOOR_Z])
        radius = float(np.linalg.norm(points - centre, axis=1).max()) * 1.3 + 0.2
        return sun_camera(centre, radius, self.light_direction)

    def _raw_box(
        self, camera: Camera, box: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TinyRenderer colour, depth and segmentation of the pixel box ``(col0, row0, col1,
        row1)`` of ``camera``'s image, each (row1 - row0, col1 - col0, ...)."""
        c0, r0, c1, r1 = box
        _, _, rgba, depth, seg = self.client.getCameraImage(
            c1 - c0,
            r1 - r0,
            viewMatrix=camera.view.tolist(),
            projectionMatrix=list(map(float, crop_projection(camera, box))),
            renderer=pybullet.ER_TINY_RENDERER,
            lightDirection=list(self.light_direction),
            shadow=0,
        )
        shape = (r1 - r0, c1 - c0)
        rgb = np.asarray(rgba, np.uint8).reshape(*shape, 4)[..., :3]
        return rgb, np.asarray(depth, np.float32).reshape(shape), np.asarray(seg).reshape(shape)

    def _raw(self, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._raw_box(camera, (0, 0, camera.width, camera.height))

    def _box(self, camera: Camera, pad: int = 3) -> tuple[int, int, int, int] | None:
        """Pixel box around the arm and the marker, or None when they are off the image."""
        marker = np.asarray(self.client.getBasePositionAndOrientation(self.marker)[0])
        points = np.concatenate([self._arm_corners(), marker + MARKER_OFFSETS])
        pixels = camera.project(points)
        c0, r0 = np.floor(pixels.min(0)).astype(int) - pad
        c1, r1 = np.ceil(pixels.max(0)).astype(int) + pad
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, camera.width), min(r1, camera.height)
        return (c0, r0, c1, r1) if c1 > c0 and r1 > r0 else None

    def _blurred(self, seg: np.ndarray, body: int) -> np.ndarray:
        from PIL import Image, ImageFilter

        mask = Image.fromarray(((seg == body) * 255).astype(np.uint8))
        return np.asarray(mask.filter(ImageFilter.GaussianBlur(SHADOW_BLUR)), np.float32) / 255

    def background(self, camera: Camera, sun: SunCamera) -> Background:
        """Floor, sky and pedestal of ``camera`` (see the module doc); call once per camera."""
        rgb, floor_pixels, sun_pixels = floor_and_sky(camera, sun)
        client = self.client
        client.resetBasePositionAndOrientation(self.robot.body, self._away, [0, 0, 0, 1])
        client.resetBasePositionAndOrientation(self.pedestal, self._pedestal_at, [0, 0, 0, 1])
        try:
            pedestal_rgb, depth, seg = self._raw(camera)
            _, _, sun_seg = self._raw(sun.camera)
        finally:
            client.resetBasePositionAndOrientation(self.robot.body, [0, 0, 0], [0, 0, 0, 1])
            if not self.gui:
                client.resetBasePositionAndOrientation(self.pedestal, self._away, [0, 0, 0, 1])
        on_pedestal = seg == self.pedestal
        rgb[on_pedestal] = pedestal_rgb[on_pedestal]
        depth = np.where(on_pedestal, depth, 1.0).astype(np.float32)
        image = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        keep = ~on_pedestal.reshape(-1)[floor_pixels]
        return Background(
            image,
            depth,
            floor_pixels[keep],
            sun_pixels[keep],
            self._blurred(sun_seg, self.pedestal),
        )

    def silhouette(self, sun: SunCamera) -> np.ndarray:
        """Blurred silhouette of the arm seen from the sun, (n, n) float in [0, 1]."""
        n = sun.camera.width
        seg = np.full((n, n), -1)
        box = self._box(sun.camera)
        if box is not None:
            c0, r0, c1, r1 = box
            seg[r0:r1, c0:c1] = self._raw_box(sun.camera, box)[2]
        return self._blurred(seg, self.robot.body)

    def render(self, camera: Camera, background: Background, sun: SunCamera) -> Render:
        """The scene at the current pose: background, soft shadow, arm and marker."""
        image = background.rgb.copy()
        shadow = np.maximum(self.silhouette(sun), background.pedestal_shadow).reshape(-1)
        darkening = shadow[background.sun_pixels]
        dark = darkening > 1 / 255
        flat = image.reshape(-1, 3)
        pixels = background.floor_pixels[dark]
        factor = 1 - SHADOW_STRENGTH * darkening[dark, None]
        flat[pixels] = (flat[pixels] * factor + 0.5).astype(np.uint8)
        depth = background.depth.copy()
        box = self._box(camera)
        if box is not None:
            c0, r0, c1, r1 = box
            rgb, arm_depth, seg = self._raw_box(camera, box)
            front = (seg >= 0) & (arm_depth < depth[r0:r1, c0:c1])
            image[r0:r1, c0:c1][front] = rgb[front]
            depth[r0:r1, c0:c1][front] = arm_depth[front]
        return Render(image, depth, depth < 1)

    def close(self) -> None:
        self.sim.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
