"""The URDF reproduces the authors' forward kinematics (PyBullet FK == scorbot_fk)."""

import math
from xml.etree import ElementTree

import numpy as np
import pytest
import torch

from robo_l2l.envs.robot import JOINT_NAMES, Scorbot, default_urdf_path
from robo_l2l.envs.simulator import Simulator
from robo_l2l.functional.kinematics import scorbot_fk


@pytest.fixture(scope="module")
def robot():
    sim = Simulator()
    yield Scorbot(sim)
    sim.close()


def test_urdf_fk_matches_scorbot_fk(robot):
    rng = np.random.default_rng(1234)
    q = rng.uniform(robot.lower_limits, robot.upper_limits, size=(1000, 4))
    client = robot.sim.client
    positions = np.empty((len(q), 3))
    for i, angles in enumerate(q):
        for index, angle in zip(robot.joint_indices, angles, strict=False):
            client.resetJointState(robot.body, index, float(angle))
        positions[i] = robot.end_effector_position()
    expected = scorbot_fk(torch.from_numpy(q)).numpy()
    np.testing.assert_allclose(positions, expected, rtol=0, atol=1e-6)
    # the configurations really span the joint ranges
    assert (np.ptp(q, axis=0) > 0.9 * (robot.upper_limits - robot.lower_limits)).all()


def test_home_pose(robot):
    robot.reset()
    np.testing.assert_allclose(robot.end_effector_position(), [0.92, -0.033, 0.3585], atol=1e-9)


def test_joint_limits_masses_and_efforts(robot):
    deg = np.degrees(robot.upper_limits)
    np.testing.assert_allclose(deg, [130, 70, 130, 100], atol=1e-4)
    np.testing.assert_allclose(robot.lower_limits, -robot.upper_limits)
    assert (robot.max_velocities >= math.pi).all()
    assert (robot.max_forces > 0).all()
    client = robot.sim.client
    # PyBullet reports mass 0 for a fixed base, so read the masses from the URDF itself.
    masses = {
        link.get("name"): float(link.find("inertial/mass").get("value"))
        for link in _urdf_tree().getroot().iter("link")
    }
    expected = {
        "base_link": 3.56,
        "body": 9.79,
        "upper_arm": 5.45,
        "forearm": 2.19,
        "wrist_flange": 0.24,
        "gripper": 1.6,
    }
    for link, mass in expected.items():
        assert masses[link] == pytest.approx(mass)
        if link != "base_link":
            index = [
                client.getJointInfo(robot.body, j)[12].decode()
                for j in range(client.getNumJoints(robot.body))
            ].index(link)
            assert client.getDynamicsInfo(robot.body, index)[0] == pytest.approx(mass)
    assert [client.getJointInfo(robot.body, j)[1].decode() for j in robot.joint_indices] == list(
        JOINT_NAMES
    )


def _urdf_tree() -> ElementTree.ElementTree:
    with default_urdf_path() as path:
        return ElementTree.parse(path)


def test_primitive_shapes_only():
    root = _urdf_tree().getroot()
    shapes = {child.tag for geometry in root.iter("geometry") for child in geometry}
    assert shapes <= {"box", "cylinder", "sphere"}
    assert [j.get("type") for j in root.iter("joint")].count("revolute") == 4
    base_column = root.find("link[@name='base_link']/collision/geometry/cylinder")
    assert float(base_column.get("length")) == pytest.approx(0.17)


def test_missing_urdf_raises():
    sim = Simulator()
    try:
        with pytest.raises(FileNotFoundError, match="nope.urdf"):
            Scorbot(sim, "/does/not/exist/nope.urdf")
    finally:
        sim.close()
