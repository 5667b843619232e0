"""The tokenizer: order, features, invariance, proprioception, padding."""

from __future__ import annotations

import json
import re

import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES
from metamorph.errors import MorphologyError
from metamorph.morphology import load_morphology, morphology_from_xml
from metamorph.tokens import PROPRIO_FEATURES, STATIC_FEATURES, body_velocities, pad_tokens, proprioception, tokenize


def test_unimal_token_count_is_one_plus_dof(unimal_dir, unimal_files):
    for path in unimal_files:
        meta = json.loads((unimal_dir / "metadata" / f"{path.stem}.json").read_text())
        tokens = tokenize(load_morphology(path))
        assert tokens.num_tokens == 1 + meta["dof"], path.name
        assert tokens.static_features.shape == (tokens.num_tokens, STATIC_FEATURES.width)
        assert np.isfinite(tokens.static_features).all()
        assert tokens.act_mask.sum() == meta["dof"]
        assert not tokens.act_mask[0]


def test_urdf_and_mjcf_twin_give_identical_tokens():
    urdf = tokenize(load_morphology(EXAMPLES / "biped.urdf"))
    mjcf = tokenize(load_morphology(EXAMPLES / "biped.xml"))
    assert urdf.names == mjcf.names == ("pelvis", "left_hip", "left_knee", "right_hip", "right_knee")
    assert urdf.kinds == mjcf.kinds
    np.testing.assert_array_equal(urdf.part_ids, mjcf.part_ids)
    np.testing.assert_array_equal(urdf.parent, mjcf.parent)
    np.testing.assert_array_equal(urdf.act_mask, mjcf.act_mask)
    np.testing.assert_allclose(urdf.static_features, mjcf.static_features, atol=1e-6)


def test_fixed_children_merge_into_their_link():
    tokens = tokenize(load_morphology(EXAMPLES / "biped.xml"))
    knee = tokens.names.index("left_knee")
    # shin 0.8 kg + foot 0.3 kg, centre of mass between the shin's (z=-0.15) and the foot's (z=-0.3)
    assert tokens.static_features[knee, STATIC_FEATURES["mass"]][0] == pytest.approx(1.1)
    com_z = tokens.static_features[knee, STATIC_FEATURES["com_pos"]][2]
    assert com_z == pytest.approx((0.8 * -0.15 + 0.3 * -0.3) / 1.1, abs=1e-6)
    # the box around the link reaches the bottom of the foot sphere (z = -0.35)
    extent_z = tokens.static_features[knee, STATIC_FEATURES["extent"]][2]
    assert extent_z == pytest.approx((0.35 - 0.0) / 2, abs=1e-6)


def _rotated_copy(path, pos: str, quat: str):
    text, count = re.subn(
        r'<body name="torso/0" pos="[^"]*">', f'<body name="torso/0" pos="{pos}" quat="{quat}">', path.read_text()
    )
    assert count == 1
    return morphology_from_xml(text, name="moved")


def test_static_features_ignore_where_the_robot_stands(unimal_files):
    path = unimal_files[3]
    reference = tokenize(load_morphology(path))
    q = np.array([np.cos(0.4), 0.3 * np.sin(0.4), 0.2 * np.sin(0.4), np.sqrt(0.87) * np.sin(0.4)])
    moved = tokenize(_rotated_copy(path, "5 -3 2.5", " ".join(f"{v:.12f}" for v in q)))
    np.testing.assert_allclose(moved.static_features, reference.static_features, atol=1e-5)
    np.testing.assert_array_equal(moved.part_ids, reference.part_ids)


def _random_state(model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
    data.qpos[:] = model.qpos0
    for j in range(model.njnt):
        adr = model.jnt_qposadr[j]
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
            lo, hi = model.jnt_range[j] if model.jnt_limited[j] else (-3.0, 3.0)
            data.qpos[adr] = rng.uniform(lo, hi)
    data.qvel[:] = rng.normal(size=model.nv)
    mujoco.mj_forward(model, data)


def test_proprioception_matches_mujoco(unimal_files):
    morph = load_morphology(unimal_files[5])
    tokens = tokenize(morph)
    model, data = morph.model, mujoco.MjData(morph.model)
    _random_state(model, data, np.random.default_rng(0))
    obs = proprioception(tokens, model, data)
    assert obs.shape == (tokens.num_tokens, PROPRIO_FEATURES.width)
    joint_pos = obs[1:, PROPRIO_FEATURES["joint_pos"]][:, 0]
    assert ((joint_pos >= 0) & (joint_pos <= 1)).all()
    assert obs[0, PROPRIO_FEATURES["body_pos"]][2] == pytest.approx(data.xpos[tokens.root_body, 2])
    root = tokens.root_body
    torso = np.zeros(6)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_XBODY, root, torso, 1)  # local frame
    np.testing.assert_allclose(obs[0, PROPRIO_FEATURES["body_angvel"]], torso[:3], atol=1e-5)
    np.testing.assert_allclose(obs[0, PROPRIO_FEATURES["body_linvel"]], torso[3:], atol=1e-5)
    linear, angular = body_velocities(model, data, tokens.body_ids)
    for i, body in enumerate(tokens.body_ids):
        expected = np.zeros(6)
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_XBODY, body, expected, 0)
        np.testing.assert_allclose(angular[i], expected[:3], atol=1e-9)
        np.testing.assert_allclose(linear[i], expected[3:], atol=1e-9)
        q = data.qvel[tokens.dof_adr[i]] if i else 0.0
        assert obs[i, PROPRIO_FEATURES["joint_vel"]][0] == pytest.approx(q, abs=1e-6)


def test_proprioception_is_heading_invariant(unimal_files):
    """Turning the robot about the vertical changes only the root's world orientation."""
    morph = load_morphology(unimal_files[7])
    tokens = tokenize(morph)
    model = morph.model
    a, b = mujoco.MjData(model), mujoco.MjData(model)
    _random_state(model, a, np.random.default_rng(1))
    b.qpos[:], b.qvel[:] = a.qpos, a.qvel
    yaw = 1.1
    turn = np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    mujoco.mju_mulQuat(b.qpos[3:7], turn, a.qpos[3:7].copy())
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    b.qpos[:2] = (rot @ a.qpos[:3])[:2]
    b.qvel[:3] = rot @ a.qvel[:3]  # free joint: linear velocity in the world frame, angular in the body frame
    mujoco.mj_forward(model, b)
    obs_a, obs_b = proprioception(tokens, model, a), proprioception(tokens, model, b)
    np.testing.assert_allclose(obs_b[1:], obs_a[1:], atol=1e-5)
    keep = np.ones(PROPRIO_FEATURES.width, bool)
    keep[PROPRIO_FEATURES["body_quat"]] = False
    np.testing.assert_allclose(obs_b[0, keep], obs_a[0, keep], atol=1e-5)


def test_padding_and_masks():
    tokens = tokenize(load_morphology(EXAMPLES / "biped.xml"))
    padded = pad_tokens(tokens, 12)
    assert padded.static_features.shape == (12, STATIC_FEATURES.width)
    assert padded.token_mask.tolist() == [True] * 5 + [False] * 7
    assert padded.act_mask.tolist() == [False] + [True] * 4 + [False] * 7
    assert (padded.part_ids[5:] == 0).all() and (padded.static_features[5:] == 0).all()
    with pytest.raises(ValueError):
        pad_tokens(tokens, 4)


def test_too_many_tokens_is_an_error():
    morph = load_morphology(EXAMPLES / "biped.xml")
    with pytest.raises(MorphologyError, match=r"biped.xml: 5 tokens .* exceed the maximum of 4"):
        tokenize(morph, max_tokens=4)


# ----------------------------------------------------------------------------------------------
# Random trees: the order is a pre-order, parents precede children, masks agree with actuators.


@st.composite
def random_trees(draw):
    """A random body tree: parent index per body, joints per body (each actuated or not)."""
    num_bodies = draw(st.integers(2, 9))
    parents = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, num_bodies)]
    joints = [[]]  # the root has a free joint only
    for _ in range(1, num_bodies):
        joints.append(draw(st.lists(st.booleans(), min_size=0, max_size=2)))
    if not any(any(j) for j in joints):
        joints[-1] = [True]  # a robot needs a motor (tested separately)
    return parents, joints


def _tree_xml(parents, joints) -> str:
    children = {i: [c for c in range(len(parents)) if parents[c] == i] for i in range(len(parents))}
    motors = []

    def body(i: int) -> str:
        inner = ["<freejoint/>"] if i == 0 else []
        for k, actuated in enumerate(joints[i]):
            name = f"j{i}_{k}"
            inner.append(f'<joint name="{name}" axis="{["1 0 0", "0 1 0"][k]}" range="-0.5 0.5"/>')
            if actuated:
                motors.append(f'<motor joint="{name}" gear="{10 + i}"/>')
        inner.append('<geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.03"/>')
        inner += [body(c) for c in children[i]]
        pos = "0 0 1" if i == 0 else "0.2 0 0"
        return f'<body name="b{i}" pos="{pos}">{"".join(inner)}</body>'

    tree = body(0)
    return f"<mujoco><worldbody>{tree}</worldbody><actuator>{''.join(motors)}</actuator></mujoco>"


def _expected_tokens(parents, joints):
    """Names and parent names of the tokens, computed independently of the tokenizer."""
    children = {i: [c for c in range(len(parents)) if parents[c] == i] for i in range(len(parents))}
    names, parent_names = ["b0"], [None]

    def visit(i: int, last: str) -> None:
        for k in range(len(joints[i])):
            names.append(f"j{i}_{k}")
            parent_names.append(last)
            last = names[-1]
        for c in children[i]:
            visit(c, last)

    visit(0, "b0")
    return names, parent_names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_trees())
def test_random_trees_tokenize_in_preorder(tree):
    parents, joints = tree
    morph = morphology_from_xml(_tree_xml(parents, joints), name="random")
    tokens = tokenize(morph)
    names, parent_names = _expected_tokens(parents, joints)
    assert list(tokens.names) == names
    assert [None if p < 0 else tokens.names[p] for p in tokens.parent] == parent_names
    # parents precede children, and each token's parent is on the path to the previous token
    assert tokens.parent[0] == -1
    for i in range(1, tokens.num_tokens):
        assert 0 <= tokens.parent[i] < i
        ancestor = i - 1
        while ancestor not in (-1, tokens.parent[i]):
            ancestor = tokens.parent[ancestor]
        assert ancestor == tokens.parent[i], "not a depth-first pre-order"
        assert tokens.depth[i] == tokens.depth[tokens.parent[i]] + 1
    actuated = {f"j{i}_{k}" for i, js in enumerate(joints) for k, a in enumerate(js) if a}
    assert [n in actuated for n in tokens.names] == tokens.act_mask.tolist()
    assert tokens.act_mask.sum() == morph.model.nu
    assert set(tokens.actuator_ids[tokens.act_mask]) == set(range(morph.model.nu))
