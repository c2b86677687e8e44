"""ScorbotTrack-v0: Gymnasium API, determinism, physics agreeing with the kinematics, bad input."""

import math
import subprocess
import sys
import textwrap
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import env_render_passive_checker

import robo_l2l.envs  # noqa: F401  (registers the env)
from robo_l2l import tasks_numpy
from robo_l2l.envs import SCORBOT_TRACK_ID, ScorbotTrackEnv, register_envs
from robo_l2l.envs.scorbot_track import OBS_EE, OBS_TARGET, OBS_TIME
from robo_l2l.tasks import (
    JOINT_LIMITS,
    N_STEPS,
    integrate_omega,
    sample_trajectories,
    trajectories_from_walk,
)


@pytest.fixture
def env():
    env = ScorbotTrackEnv()
    yield env
    env.close()


def _tasks_within_limits(n: int, seed: int = 7):
    """Tasks of the family whose integrated omega never reaches a joint limit."""
    tasks = sample_trajectories(64, torch.Generator().manual_seed(seed), dtype=torch.float64)
    inside = (integrate_omega(tasks.omega, clip=False).abs() <= JOINT_LIMITS).all(-1).all(-1)
    index = torch.nonzero(inside).flatten()[:n]
    assert len(index) == n
    return [tasks[int(i) : int(i) + 1] for i in index]


def test_check_env():
    env = gym.make(SCORBOT_TRACK_ID, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice on unnormalised / unbounded Box spaces
        # The 'human' mode needs a display; it is exercised by test_rollout.py's gui test.
        check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    env_render_passive_checker(env.unwrapped)
    env.close()


def test_make_and_time_limit():
    register_envs()  # a second registration is harmless
    env = gym.make(SCORBOT_TRACK_ID)
    assert env.spec.max_episode_steps == N_STEPS
    obs, info = env.reset(seed=1)
    assert obs.shape == (15,) and obs.dtype == np.float32
    assert info["time_index"] == 0 and obs[OBS_TIME] == 0
    steps, truncated = 0, False
    while not truncated:
        obs, _, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        steps += 1
        assert not terminated
    assert steps == N_STEPS and obs[OBS_TIME] == N_STEPS and info["time_index"] == N_STEPS
    env.close()


def test_make_with_module_prefix():
    """Gymnasium 1.x ignores the setup.cfg entry point; 'module:id' imports the package."""
    env = gym.make(f"robo_l2l.envs:{SCORBOT_TRACK_ID}")
    assert isinstance(env.unwrapped, ScorbotTrackEnv)
    env.close()


def _rollout(env, seed, n_steps=40):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [obs]
    for _ in range(n_steps):
        obs, reward, _, _, _ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        out.append(np.append(obs, reward))
    return np.concatenate(out)


def test_same_seed_same_rollout():
    envs = [ScorbotTrackEnv(), ScorbotTrackEnv()]
    a, b = (_rollout(e, seed=5) for e in envs)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()
    # a different seed gives a different target trajectory
    c = _rollout(envs[0], seed=6)
    assert not np.array_equal(a, c)
    for e in envs:
        e.close()


@pytest.mark.parametrize("as_omega", [False, True])
def test_open_loop_replay_tracks_kinematics(as_omega):
    env = ScorbotTrackEnv()
    for task in _tasks_within_limits(2):
        trajectory = task.omega[0].numpy() if as_omega else task
        obs, _ = env.reset(options={"trajectory": trajectory})
        np.testing.assert_allclose(obs[OBS_EE], [0.92, -0.033, 0.3585], atol=1e-6)
        errors = []
        for t, omega in enumerate(task.omega[0].numpy()):
            np.testing.assert_allclose(obs[OBS_TARGET], task.xyz[0, t].numpy(), atol=1e-6)
            obs, reward, _, truncated, info = env.step(omega)
            assert np.isfinite(obs).all()
            assert reward == pytest.approx(-info["tracking_error_m"])
            errors.append(info["tracking_error_m"])
        assert truncated
        # measured (deterministic physics): means 0.89 and 1.17 mm, maxima 0.93 and 1.21 mm;
        # README: 0.58 mm on average over 64 family tasks, per-task means 0.14-2.0 mm
        assert np.mean(errors) <= 1.5e-3
        assert np.max(errors) <= 1.6e-3
        assert info["joint_error_rad"].max() < 0.01
    env.close()


def test_sampled_task_tracks_its_joint_path(env):
    """Family tasks clip q at the limits: replaying dq/dt of the target path still tracks it."""
    env.reset(seed=3)
    q = env.task.target.q
    omega = np.diff(q, axis=0, prepend=np.zeros((1, 2))) / 0.01
    errors = [env.step(w)[4]["tracking_error_m"] for w in omega]
    assert np.mean(errors) <= 0.3e-3  # measured 0.195 mm (max 0.38 mm)


def test_gravity_is_on(env):
    """Without motors holding it the arm falls: the shoulder motor does the work."""
    env.reset(seed=0)
    client, robot = env.sim.client, env.robot
    client.setJointMotorControlArray(robot.body, robot.moving_indices, 0, forces=[0.0, 0.0])
    for _ in range(10):
        env.sim.step()
    assert robot.end_effector_position()[2] < 0.3585 - 0.01


def test_rgb_array_shows_arm_and_target():
    env = ScorbotTrackEnv(render_mode="rgb_array", render_width=240, render_height=180)
    env.reset(seed=2)
    for _ in range(20):
        env.step(np.array([0.5, -0.5], np.float32))
    image = env.render()
    assert image.shape == (180, 240, 3) and image.dtype == np.uint8
    assert image.std() > 10
    r, g, b = (image[..., i].astype(int) for i in range(3))
    orange = (r > 120) & (r > g + 40) & (g > b + 40)  # lit and shaded arm links
    green = (g > 90) & (g > r + 60) & (g > b + 60)
    red = (r > 180) & (g < 60) & (b < 60)
    assert orange.sum() > 500  # the arm
    assert green.sum() > 20  # target spheres
    assert red.sum() > 10  # executed path overlay
    env.close()
    env.close()  # closing twice is fine


@pytest.mark.parametrize(
    "action, match",
    [
        (np.array([np.nan, 0.0]), "NaN"),
        (np.array([0.0, np.inf]), "NaN or inf"),
        (np.zeros(3), "shape"),
        (np.zeros((1, 2)), "shape"),
        (np.array([4.0, 0.0]), "velocity bound"),
        ("fast", "numeric"),
    ],
)
def test_bad_actions_raise(env, action, match):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_bad_trajectories_raise(env):
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"trajectory": np.zeros((N_STEPS, 3))})
    with pytest.raises(ValueError, match="249 steps"):
        env.reset(options={"trajectory": np.zeros((10, 2))})
    with pytest.raises(ValueError, match="limits"):
        env.reset(options={"trajectory": np.full((N_STEPS, 2), 1.0)})  # 2.49 rad > 70 deg
    with pytest.raises(ValueError, match="NaN"):
        env.reset(options={"trajectory": np.full((N_STEPS, 2), np.nan)})
    batch = sample_trajectories(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="batch size 1"):
        env.reset(options={"trajectory": batch})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"trajectroy": np.zeros((N_STEPS, 2))})
    with pytest.raises(ValueError, match="Trajectories or an omega array"):
        env.reset(options={"trajectory": {"omega": 1}})


def test_bad_construction_raises():
    with pytest.raises(ValueError, match="render_mode"):
        ScorbotTrackEnv(render_mode="ascii")
    with pytest.raises(FileNotFoundError, match="missing.urdf"):
        ScorbotTrackEnv(urdf_path="/nowhere/missing.urdf")
    with pytest.raises(ValueError, match="0.01"):
        ScorbotTrackEnv(timestep=1e-3, n_substeps=5)


def test_step_before_reset_and_after_end(env):
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=0, options={"trajectory": np.zeros((N_STEPS, 2))})
    for _ in range(N_STEPS):
        env.step(np.zeros(2))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))


def test_action_box_covers_task_family():
    tasks = sample_trajectories(32, torch.Generator().manual_seed(0))
    assert tasks.omega.abs().max() <= math.pi
    env = ScorbotTrackEnv()
    assert env.action_space.contains(tasks.omega.abs().amax(dim=(0, 1)).numpy())
    env.close()


def _run_python(code: str, timeout: float) -> str:
    """Run ``code`` in a fresh interpreter; a hang fails the test instead of blocking it."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"subprocess did not finish within {timeout} s (hang): {exc.stderr!r}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_registers_without_simulator_or_torch():
    """``import robo_l2l`` registers the env (string entry point) without importing PyBullet or
    torch; ``make``, ``reset`` and ``step`` then import PyBullet and still no torch."""
    out = _run_python(
        """
        import sys
        import gymnasium
        import numpy as np
        import robo_l2l
        assert "RoboL2L/ScorbotTrack-v0" in gymnasium.registry
        spec = gymnasium.registry["RoboL2L/ScorbotTrack-v0"]
        assert isinstance(spec.entry_point, str) and spec.max_episode_steps == 249
        assert "pybullet" not in sys.modules and "torch" not in sys.modules
        env = gymnasium.make("RoboL2L/ScorbotTrack-v0")
        env.reset(seed=0)
        env.step(np.zeros(2, np.float32))
        env.close()
        assert "pybullet" in sys.modules and "torch" not in sys.modules
        print("ok")
        """,
        timeout=120,
    )
    assert out.strip().endswith("ok")


def test_async_vector_env_after_torch_thread_pool():
    """The hang of issue 11: a parent that used torch's thread pool forks the workers of an
    async vector env; a worker that touches torch waits forever on the pool's lock."""
    out = _run_python(
        """
        import numpy as np
        import torch
        torch.set_num_threads(2)
        a = torch.randn(2000, 2000)
        a @ a
        import gymnasium
        import robo_l2l
        envs = gymnasium.make_vec(
            "RoboL2L/ScorbotTrack-v0", num_envs=2, vectorization_mode="async"
        )
        obs, _ = envs.reset(seed=0)
        for _ in range(3):
            obs, reward, _, _, _ = envs.step(np.zeros((2, 2), np.float32))
        assert obs.shape == (2, 15) and np.isfinite(obs).all()
        envs.close()
        print("ok")
        """,
        timeout=180,
    )
    assert out.strip().endswith("ok")


@pytest.mark.parametrize("seed", range(8))
def test_sampled_target_is_the_task_family(env, seed):
    """The env's target (numpy, drawn from self.np_random) is the family's float32 pipeline:
    equal to tasks_numpy with the same generator and to the torch entry point on that walk."""
    env.reset(seed=seed)
    rng, _ = gym.utils.seeding.np_random(seed)
    walk = tasks_numpy.sample_walk(rng, 1)
    omega, q, xyz = tasks_numpy.targets_from_walk(walk)
    target = env.task.target
    np.testing.assert_array_equal(target.xyz, xyz[0])
    np.testing.assert_array_equal(target.q, q[0])
    np.testing.assert_array_equal(target.omega, omega[0])
    traj = trajectories_from_walk(torch.from_numpy(walk))
    np.testing.assert_array_equal(target.xyz, traj.xyz[0].numpy())


def test_stable_baselines3_check_env_normalized_actions():
    """With Gymnasium's RescaleAction to [-1, 1], stable-baselines3's checker has no remark."""
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.wrappers.RescaleAction(ScorbotTrackEnv(), np.float32(-1), np.float32(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_checker.check_env(env, warn=True)
    assert [str(w.message) for w in caught] == []
    env.reset(seed=0)
    env.step(np.ones(2, np.float32))  # maps to +pi rad/s: inside the bound
    env.step(-np.ones(2, np.float32))
    env.close()


def test_rescaled_actions_are_joint_velocities():
    env = gym.wrappers.RescaleAction(ScorbotTrackEnv(), np.float32(-1), np.float32(1))
    np.testing.assert_allclose(
        env.action(np.array([1.0, -0.5], np.float32)), [math.pi, -math.pi / 2], rtol=1e-6
    )
    env.close()


@pytest.mark.parametrize("options", [[1, 2], "trajectory", 3, (("trajectory", None),)])
def test_reset_options_must_be_a_dict(env, options):
    with pytest.raises(TypeError, match="options must be a dict"):
        env.reset(options=options)
    with pytest.raises(ValueError, match="unknown reset option.*'x', 1"):
        env.reset(options={1: 0, "x": 0})


@pytest.mark.parametrize(
    "action, match",
    [
        (np.array([1j, 0.0]), "real-valued"),
        (np.array([0.5 + 0j, 0.1 + 0j]), "real-valued"),
        ([0.1, complex(0, 1)], "real-valued"),
        (np.array(["a", "b"]), "numeric"),
        (np.array([None, None]), "numeric"),
        ([[0.1], [0.2, 0.3]], "numeric"),
    ],
)
def test_complex_and_non_numeric_actions_raise(env, action, match):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize(
    "trajectory, match",
    [
        (np.zeros((N_STEPS, 2), complex), "real-valued"),
        ("omega.npy", "Trajectories or an omega array"),
        (np.array([[None, None]] * N_STEPS), "Trajectories or an omega array"),
        ([[0.0, 0.0], [0.0]], "Trajectories or an omega array"),
        (np.zeros((2, N_STEPS, 2)), "shape"),
        (np.zeros(N_STEPS), "shape"),
        (np.full((N_STEPS, 2), np.inf), "NaN or inf"),
    ],
)
def test_bad_trajectory_options_raise(env, trajectory, match):
    with pytest.raises(ValueError, match=match):
        env.reset(options={"trajectory": trajectory})


def test_trajectory_option_accepts_tensor_and_checks_trajectories(env):
    omega = torch.zeros(N_STEPS, 2, dtype=torch.float64)
    env.reset(options={"trajectory": omega})
    np.testing.assert_allclose(env.task.target.xyz[0], [0.92, -0.033, 0.3585], atol=1e-15)
    task = sample_trajectories(1, torch.Generator().manual_seed(0))
    bad = type(task)(task.omega, task.q.clone().fill_(float("nan")), task.xyz)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.reset(options={"trajectory": bad})
    short = task[:, :10]
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"trajectory": short})
