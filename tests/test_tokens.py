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
from metamorph.tokens import (
    PROPRIO_FEATURES,
    STATIC_FEATURES,
    _solid_moments,
    body_velocities,
    pad_tokens,
    proprioception,
    static_layout,
    tokenize,
)


def test_unimal_token_count_is_one_plus_dof(unimal_dir, unimal_files):
    for path in unimal_files:
        meta = json.loads((unimal_dir / "metadata" / f"{path.stem}.json").read_text())
        tokens = tokenize(load_morphology(path))
        assert tokens.num_tokens == 1 + meta["dof"], path.name
        assert tokens.static_features.shape == (tokens.num_tokens, STATIC_FEATURES.width)
        assert np.isfinite(tokens.static_features).all()
        assert tokens.act_mask.sum() == meta["dof"]
        assert not tokens.act_mask[0]


def test_link_tokens_group_the_joints_of_one_link(unimal_files):
    """A UNIMAL limb hinged about two axes is one link of two joint tokens: both name the first as
    their link's head; every other token heads its own link."""
    path = next(p for p in unimal_files if "limbx/" in p.read_text() and "limby/" in p.read_text())
    tokens = tokenize(load_morphology(path))
    link = tokens.link_token
    assert link[0] == 0 and (link <= np.arange(tokens.num_tokens)).all()
    for i in range(tokens.num_tokens):
        assert tokens.body_ids[link[i]] == tokens.body_ids[i]
        assert link[i] == i or (link[i] == link[i - 1] and tokens.parent[i] == i - 1)  # chained in one link
    pairs = [i for i in range(1, tokens.num_tokens) if link[i] != i]
    assert pairs  # this body has limbs of two hinges
    for i in pairs:  # the second hinge's name says it is the same limb as the first's
        assert tokens.names[i].split("/")[1] == tokens.names[link[i]].split("/")[1]
    biped = tokenize(load_morphology(EXAMPLES / "biped.xml"))
    assert biped.link_token.tolist() == list(range(5))  # one joint a link: a token heads itself


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


def _leg(geoms: str) -> str:
    """A torso on a free joint with one hinged leg link drawn by ``geoms``."""
    return f"""<mujoco><worldbody><body name="torso" pos="0 0 1"><freejoint/>
      <geom type="sphere" size="0.1"/>
      <body name="leg"><joint name="hip" axis="0 1 0" range="-1 1"/>{geoms}</body>
    </body></worldbody><actuator><motor joint="hip"/></actuator></mujoco>"""


def _leg_features(geoms: str, link_geometry: str) -> dict[str, np.ndarray]:
    layout = static_layout(link_geometry)
    tokens = tokenize(morphology_from_xml(_leg(geoms), name="leg"), link_geometry=link_geometry)
    return {name: tokens.static_features[1, layout[name]] for name in layout.names}


def test_shape_geometry_does_not_depend_on_how_a_file_draws_a_link():
    """`shape` link geometry reads the same link the same way whether a file draws it as one box or
    as two halves, and a cylinder whichever way its axis points; `largest` does not."""
    whole = '<geom type="box" pos="0.01 0 -0.2" size="0.05 0.02 0.2"/>'
    halves = '<geom type="box" pos="0.01 0 -0.1" size="0.05 0.02 0.1"/><geom type="box" pos="0.01 0 -0.3" size="0.05 0.02 0.1"/>'
    down = '<geom type="cylinder" fromto="0 0 0 0.1 0 -0.4" size="0.03"/>'
    up = '<geom type="cylinder" fromto="0.1 0 -0.4 0 0 0" size="0.03"/>'
    for a, b, differs in ((whole, halves, "geom_size"), (down, up, "geom_quat")):
        shape_a, shape_b = _leg_features(a, "shape"), _leg_features(b, "shape")
        for name in ("shape_center", "shape_axes", "shape_scale"):
            np.testing.assert_allclose(shape_a[name], shape_b[name], atol=1e-6)
        assert not np.allclose(_leg_features(a, "largest")[differs], _leg_features(b, "largest")[differs])
    # an axis-aligned box reads as its centre, its half extents and the cube root of its volume
    box = _leg_features(whole, "shape")
    np.testing.assert_allclose(box["shape_center"], [0.01, 0, -0.2], atol=1e-6)
    np.testing.assert_allclose(box["shape_axes"], [0.05, 0.02, 0.2, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(box["shape_scale"], [(8 * 0.05 * 0.02 * 0.2) ** (1 / 3)], rtol=1e-5)
    # a tilted cylinder: off-diagonal terms, the same for both directions (checked above)
    assert abs(_leg_features(down, "shape")["shape_axes"][4]) > 0.01
    # every other feature is the same either way
    largest, shape = _leg_features(down, "largest"), _leg_features(down, "shape")
    for name in set(largest) & set(shape):
        np.testing.assert_array_equal(largest[name], shape[name])


@pytest.mark.parametrize(
    "geom",
    [
        '<geom type="sphere" size="0.07"/>',
        '<geom type="ellipsoid" size="0.03 0.05 0.11"/>',
        '<geom type="box" size="0.03 0.05 0.11"/>',
        '<geom type="cylinder" size="0.04 0.12"/>',
        '<geom type="capsule" size="0.04 0.12"/>',
    ],
)
def test_shape_moments_match_mujocos_inertia(geom):
    """A primitive's volume and second moments as `shape` reads them agree with the mass and inertia
    MuJoCo computes for it from its geometry (density 1000): I = m (tr C − C) for covariance C."""
    body = f'<mujoco><worldbody><body name="b" pos="0 0 1"><freejoint/>{geom}</body></worldbody></mujoco>'
    model = mujoco.MjModel.from_xml_string(body)
    volume, spread = _solid_moments(model, 0)
    assert model.body_mass[1] == pytest.approx(1000 * volume, rel=1e-6)
    np.testing.assert_allclose(model.body_mass[1] * (spread.sum() - spread), model.body_inertia[1], rtol=1e-6)


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
