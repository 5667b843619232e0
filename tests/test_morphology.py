"""Loading: MJCF and URDF through MuJoCo's compiler, normalisation to torque motors, the tree."""

from __future__ import annotations

import json

import mujoco
import networkx as nx
import numpy as np
import pytest

from conftest import EXAMPLES
from metamorph.morphology import LoadOptions, load_morphology, morphology_from_xml


def test_every_unimal_body_loads_with_its_metadata(unimal_dir, unimal_files):
    assert len(unimal_files) == 100
    for path in unimal_files:
        meta = json.loads((unimal_dir / "metadata" / f"{path.stem}.json").read_text())
        morph = load_morphology(path)
        assert morph.base == "free"
        assert len(morph.joint_ids()) == meta["dof"]
        assert morph.num_actuators == meta["dof"]  # every UNIMAL joint is actuated
        # limbs are bodies below the torso
        assert morph.tree.number_of_nodes() - 1 == meta["num_limbs"]
        assert nx.is_arborescence(morph.tree)


def test_unimal_motors_keep_their_gear(unimal_files):
    path = unimal_files[0]
    source = mujoco.MjModel.from_xml_path(str(path))
    morph = load_morphology(path)
    for a in range(source.nu):
        assert morph.model.actuator_gear[a, 0] == pytest.approx(source.actuator_gear[a, 0])
        assert tuple(morph.model.actuator_ctrlrange[a]) == (-1.0, 1.0)


def test_urdf_gets_free_root_and_motors_from_effort():
    morph = load_morphology(EXAMPLES / "biped.urdf")
    assert morph.base == "free"
    model = morph.model
    assert model.nu == 4
    gears = {model.joint(int(model.actuator_trnid[a, 0])).name: model.actuator_gear[a, 0] for a in range(model.nu)}
    assert gears == {"left_hip": 40, "left_knee": 30, "right_hip": 40, "right_knee": 30}
    # fixed links stay in the tree (the tokenizer merges them), masses are the compiler's
    assert morph.tree.number_of_nodes() == 7
    assert sum(model.body_mass[b] for b in morph.tree) == pytest.approx(7.2)


def test_urdf_fixed_base_option():
    morph = load_morphology(EXAMPLES / "biped.urdf", LoadOptions(fixed_base=True))
    assert morph.base == "fixed"
    assert morph.model.nq == 4


def test_planar_root_is_kept():
    xml = """<mujoco><worldbody><body name="torso" pos="0 0 1">
      <joint name="rootx" type="slide" axis="1 0 0"/><joint name="rootz" type="slide" axis="0 0 1"/>
      <joint name="rooty" type="hinge" axis="0 1 0"/><geom type="capsule" size="0.05 0.3"/>
      <body name="thigh"><joint name="hip" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.04 0.2"/></body>
    </body></worldbody><actuator><motor joint="hip" gear="100" ctrlrange="-1 1"/></actuator></mujoco>"""
    morph = morphology_from_xml(xml, name="planar")
    assert morph.base == "planar"
    assert len(morph.base_joints) == 3
    assert [morph.model.joint(j).name for j in morph.joint_ids()] == ["hip"]


def test_scenery_is_removed():
    xml = """<mujoco><worldbody><geom name="floor" type="plane" size="5 5 1"/>
      <body name="crate" pos="2 0 0"><geom type="box" size="0.1 0.1 0.1"/></body>
      <body name="bot"><freejoint/><geom size="0.1"/>
        <body name="arm"><joint name="j" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.02 0.1"/></body>
      </body></worldbody><actuator><motor joint="j" gear="3"/></actuator></mujoco>"""
    morph = morphology_from_xml(xml)
    assert morph.model.ngeom == 2
    assert [morph.model.body(b).name for b in morph.bodies_preorder()] == ["bot", "arm"]
    assert any("crate" in note for note in morph.notes)


def test_motor_strength_is_gear_times_control_range():
    xml = """<mujoco><worldbody><body name="bot"><freejoint/><geom size="0.1"/>
      <body name="a"><joint name="j1" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.02 0.1"/></body>
      <body name="b"><joint name="j2" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.02 0.1"/></body>
      </body></worldbody><actuator>
        <motor joint="j1" gear="10" ctrlrange="-2 2"/>
        <motor joint="j2" gear="10" ctrlrange="-2 2" forcerange="-15 15"/>
      </actuator></mujoco>"""
    model = morphology_from_xml(xml).model
    np.testing.assert_allclose(model.actuator_gear[:, 0], [20.0, 15.0])


def test_position_servo_with_forcerange_becomes_motor():
    xml = """<mujoco><worldbody><body name="bot"><freejoint/><geom size="0.1"/>
      <body name="a"><joint name="j" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.02 0.1"/></body>
      </body></worldbody><actuator><position joint="j" kp="50" forcerange="-7 7"/></actuator></mujoco>"""
    morph = morphology_from_xml(xml)
    model = morph.model
    assert model.actuator_biastype[0] == mujoco.mjtBias.mjBIAS_NONE
    assert model.actuator_gear[0, 0] == pytest.approx(7.0)
    assert any("position actuator" in note for note in morph.notes)


def test_moving_the_robot_in_the_file_changes_nothing_in_the_tree():
    a = load_morphology(EXAMPLES / "biped.xml")
    text = (EXAMPLES / "biped.xml").read_text().replace('<body name="pelvis">', '<body name="pelvis" pos="3 1 2">')
    b = morphology_from_xml(text, name="moved")
    assert a.summary()["tree"] == b.summary()["tree"]


KNEELING_LEG = """<mujoco><compiler angle="radian"/><worldbody><body name="torso" pos="0 0 0.5"><freejoint/><geom size="0.1"/>
  <body name="thigh" pos="0 0 -0.1"><joint name="hip" axis="0 1 0" range="-1 1"/>
    <geom type="capsule" fromto="0 0 0 0 0 -0.2" size="0.03"/>
    <body name="shin" pos="0 0 -0.2"><joint name="knee" axis="0 1 0" range="-2.7 -0.9"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.2" size="0.02"/></body></body></body></worldbody>
  <actuator><motor joint="hip" gear="10"/><motor joint="knee" gear="10"/></actuator>{keyframe}</mujoco>"""


def _joint_qpos(morph, name: str) -> float:
    return float(morph.standing_qpos[morph.model.jnt_qposadr[morph.model.joint(name).id]])


def test_standing_pose_comes_from_the_home_keyframe():
    # the free joint's 7 numbers, then hip and knee, as Menagerie's quadrupeds write their 'home'
    keyframe = '<keyframe><key name="other" qpos="0 0 1 1 0 0 0 0.5 -2"/><key name="home" qpos="0 0 0.4 1 0 0 0 0.3 -1.5"/></keyframe>'
    morph = morphology_from_xml(KNEELING_LEG.format(keyframe=keyframe), name="leg")
    assert _joint_qpos(morph, "hip") == pytest.approx(0.3)
    assert _joint_qpos(morph, "knee") == pytest.approx(-1.5)
    assert any("keyframe 'home'" in note for note in morph.notes)
    assert morph.model.nkey == 0  # the keyframe itself is not kept


def test_default_joint_positions_are_clamped_into_their_ranges():
    morph = morphology_from_xml(KNEELING_LEG.format(keyframe=""), name="leg")
    assert _joint_qpos(morph, "hip") == 0.0  # inside its range: untouched
    assert _joint_qpos(morph, "knee") == pytest.approx(-0.9)  # 0 is outside [-2.7, -0.9]
    assert any("clamped" in note and "'knee'" in note for note in morph.notes)


def test_unimal_bodies_start_in_their_default_pose(unimal_files):
    """UNIMAL files have no keyframes and every default joint position lies in its range."""
    for path in unimal_files[:20]:
        morph = load_morphology(path)
        np.testing.assert_array_equal(morph.standing_qpos, morph.model.qpos0)
