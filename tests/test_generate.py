"""The body generator: validity, determinism, design-space statistics, symmetry, dedup, splits, variants."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from metamorph.design import UNIMAL_JOINT_RANGES_DEG, DesignSpace, design_space, rich_space, sample_plan, unimal_space
from metamorph.errors import MetamorphError
from metamorph.generate import Validity, _with_floor, check_body, generate_bodies, make_body, write_body_set
from metamorph.morphology import canonical_hash, load_morphology, morphology_from_xml
from metamorph.tokens import tokenize
from metamorph.variants import write_variants
from test_bad_inputs import run_cli


@pytest.fixture(scope="module")
def unimal_set(tmp_path_factory) -> Path:
    """24 bodies from the unimal space, written with a 0.75 split, as the CLI writes them."""
    out = tmp_path_factory.mktemp("gen") / "bodies"
    result = generate_bodies(unimal_space(), 24, seed=11, workers=1)
    write_body_set(result, out, unimal_space(), seed=11, split=0.75)
    return out


def _all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_independent_of_workers(tmp_path: Path):
    one = generate_bodies(unimal_space(), 6, seed=3, workers=1)
    two = generate_bodies(unimal_space(), 6, seed=3, workers=2)
    assert [b.xml for b in one.bodies] == [b.xml for b in two.bodies]
    write_body_set(one, tmp_path / "a", unimal_space(), 3)
    write_body_set(two, tmp_path / "b", unimal_space(), 3)
    assert _all_files(tmp_path / "a") == _all_files(tmp_path / "b")
    other = generate_bodies(unimal_space(), 6, seed=4, workers=1)
    assert [b.xml for b in other.bodies] != [b.xml for b in one.bodies]


def test_written_bodies_load_tokenize_and_pass_validity(unimal_set: Path):
    for split in ("train", "heldout"):
        manifest = json.loads((unimal_set / split / "manifest.json").read_text())
        for entry in manifest["bodies"]:
            path = unimal_set / split / "xml" / f"{entry['name']}.xml"
            metadata = json.loads((unimal_set / split / "metadata" / f"{entry['name']}.json").read_text())
            assert set(metadata) == {"num_limbs", "dof", "symmetric_limbs"}
            morph = load_morphology(path)
            tokens = tokenize(morph)
            assert tokens.num_tokens == 1 + metadata["dof"] == entry["num_tokens"]
            assert morph.tree.number_of_nodes() - 1 == metadata["num_limbs"]
            assert canonical_hash(morph) == entry["tree_hash"]
            stats = check_body(morph)
            assert stats.standing_height == pytest.approx(entry["standing_height"], abs=1e-4)
            assert stats.total_mass == pytest.approx(entry["total_mass"], rel=1e-6)


def test_split_has_no_tree_in_both_parts(unimal_set: Path):
    hashes = {}
    for split in ("train", "heldout"):
        hashes[split] = {
            b["tree_hash"] for b in json.loads((unimal_set / split / "manifest.json").read_text())["bodies"]
        }
    assert len(hashes["train"]) == 18 and len(hashes["heldout"]) == 6
    assert not hashes["train"] & hashes["heldout"]


def test_unimal_statistics_stay_in_the_design_space(unimal_set: Path):
    space = unimal_space()
    ranges = {(round(math.radians(lo), 5), round(math.radians(hi), 5)) for lo, hi in UNIMAL_JOINT_RANGES_DEG}
    for path in sorted((unimal_set / "train" / "xml").glob("*.xml")):
        model = load_morphology(path).model
        assert space.limb_count[0] <= model.nbody - 2 <= space.limb_count[1]
        assert model.geom_type[0] == mujoco.mjtGeom.mjGEOM_SPHERE and model.geom_size[0, 0] == pytest.approx(0.1)
        for g in range(1, model.ngeom):
            assert model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE
            assert model.geom_size[g, 0] == pytest.approx(0.05)
            assert 0.2 - 1e-6 <= 2 * model.geom_size[g, 1] <= 0.4 + 1e-6
        for j in range(1, model.njnt):
            assert model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE
            assert tuple(np.round(model.jnt_range[j], 5)) in ranges
        assert set(model.actuator_gear[:, 0]) <= {150.0, 200.0, 250.0, 300.0}
        densities = model.body_mass[1:] / np.array([_volume(model, b) for b in range(1, model.nbody)])
        assert ((densities > 499) & (densities < 1001)).all()


def _volume(model: mujoco.MjModel, body: int) -> float:
    g = model.body_geomadr[body]
    r, half = model.geom_size[g, :2]
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE:
        return 4 / 3 * math.pi * r**3
    return math.pi * r**2 * 2 * half + 4 / 3 * math.pi * r**3


def test_mirror_pairs_are_mirror_images(unimal_set: Path):
    checked = 0
    for path in sorted((unimal_set / "train" / "xml").glob("*.xml")):
        metadata = json.loads((unimal_set / "train" / "metadata" / f"{path.stem}.json").read_text())
        model = load_morphology(path).model
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        for a, b in metadata["symmetric_limbs"]:
            ia, ib = model.body(f"limb/{a}").id, model.body(f"limb/{b}").id
            np.testing.assert_allclose(data.xpos[ib], data.xpos[ia] * [1, -1, 1], atol=1e-6)
            np.testing.assert_allclose(data.xipos[ib], data.xipos[ia] * [1, -1, 1], atol=1e-6)
            assert model.body_mass[ia] == pytest.approx(model.body_mass[ib])
            ja, jb = model.body_jntadr[ia], model.body_jntadr[ib]
            for k in range(model.body_jntnum[ia]):
                np.testing.assert_allclose(model.jnt_range[ja + k], model.jnt_range[jb + k])
                np.testing.assert_allclose(model.jnt_axis[jb + k], model.jnt_axis[ja + k] * [-1, 1, -1], atol=1e-6)
            checked += 1
    assert checked > 0


def test_mirrored_motion_stays_mirrored(unimal_set: Path):
    """Equal joint angles on twin limbs give mirror-image poses: the axes are mirrored correctly."""
    path = next(
        p
        for p in sorted((unimal_set / "train" / "xml").glob("*.xml"))
        if json.loads((unimal_set / "train" / "metadata" / f"{p.stem}.json").read_text())["symmetric_limbs"]
    )
    metadata = json.loads((unimal_set / "train" / "metadata" / f"{path.stem}.json").read_text())
    model = load_morphology(path).model
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    twin = {b: a for a, b in metadata["symmetric_limbs"]}
    for i in range(model.nbody - 2):
        if i in twin:
            continue
        body = model.body(f"limb/{i}").id
        for k in range(model.body_jntnum[body]):
            j = model.body_jntadr[body] + k
            data.qpos[model.jnt_qposadr[j]] = rng.uniform(*model.jnt_range[j])
    for b, a in twin.items():
        ia, ib = model.body(f"limb/{a}").id, model.body(f"limb/{b}").id
        for k in range(model.body_jntnum[ia]):
            data.qpos[model.jnt_qposadr[model.body_jntadr[ib] + k]] = data.qpos[
                model.jnt_qposadr[model.body_jntadr[ia] + k]
            ]
    mujoco.mj_kinematics(model, data)
    for b, a in twin.items():
        ia, ib = model.body(f"limb/{a}").id, model.body(f"limb/{b}").id
        np.testing.assert_allclose(data.xipos[ib], data.xipos[ia] * [1, -1, 1], atol=1e-6)


def test_duplicates_are_drawn_again():
    """A space with only 8 distinct bodies: generating all 8 needs the canonical-hash dedup."""
    tiny = DesignSpace(
        name="tiny",
        limb_count=(1, 1),
        torso_density=(500, 500),
        limb_lengths=(0.3,),
        limb_density=(500, 500),
        polar_deg=(90.0,),
        azimuth_step_deg=90.0,
        two_joint_prob=0.0,
        joint_ranges_deg=((-30, 30), (-45, 45)),
        gears=(200.0,),
    )
    result = generate_bodies(tiny, 8, seed=0, workers=1)
    assert len({b.tree_hash for b in result.bodies}) == 8
    assert result.duplicates > 0 and result.rejections["duplicate"] == result.duplicates


def test_standing_check_keeps_bodies_the_fall_rule_does_not_end(tmp_path: Path):
    """With min_stand_fraction 0.6 every kept body stands under zero torque in the flat task (no
    reset noise) without the fall rule (0.5 × starting height) ending its episode; sagging
    candidates are counted under 'sags'."""
    from metamorph.env import VecEnv
    from metamorph.env.tasks import TaskConfig

    validity = Validity(min_stand_fraction=0.6, min_settle_seconds=2.0)
    result = generate_bodies(design_space("unimal"), 6, seed=3, workers=1, validity=validity)
    assert result.rejections["sags"] > 0
    morphologies = [morphology_from_xml(b.xml, name=b.name) for b in result.bodies]
    env = VecEnv(morphologies, TaskConfig(reset_noise=0.0), num_envs=6, autoreset=False, assignment=range(6))
    obs = env.reset(0)
    for _ in range(150):  # 3 s
        obs, _, terminated, _, _ = env.step(np.zeros(obs["act_mask"].shape, np.float32))
        assert not terminated.any()


def test_floor_contact_check_keeps_bodies_resting_on_enough_links():
    """With min_floor_contacts 3 every kept body, settled on the floor under zero torque, touches it
    with at least 3 of its links; bodies resting on fewer are counted under 'few_contacts'."""
    validity = Validity(min_floor_contacts=3)
    result = generate_bodies(design_space("unimal"), 4, seed=5, workers=1, validity=validity)
    assert result.rejections["few_contacts"] > 0
    for body in result.bodies:
        morphology = morphology_from_xml(body.xml, name=body.name)
        model = _with_floor(morphology)
        data = mujoco.MjData(model)
        mujoco.mj_step(model, data, nstep=round(4.0 / model.opt.timestep))
        floor = model.geom("validity_floor").id
        links = {
            int(model.geom_bodyid[c.geom1 + c.geom2 - floor])
            for c in data.contact[: data.ncon]
            if floor in (c.geom1, c.geom2)
        }
        assert len(links) >= 3, body.name
    with pytest.raises(MetamorphError, match="few_contacts"):
        generate_bodies(design_space("unimal"), 1, workers=1, validity=Validity(min_floor_contacts=40, max_attempts=5))
    with pytest.raises(MetamorphError, match="--min-floor-contacts must be 0 or more, got -1"):
        Validity(min_floor_contacts=-1)


def test_unimal_like_space_has_unimal100_proportions():
    """UNIMAL-100's limb segments are 0.25, 0.35 or 0.45 m and its bodies have 4-10 limbs."""
    space = design_space("unimal-like")
    plans = [sample_plan(space, np.random.default_rng([3, i])) for i in range(100)]
    assert {limb.length for p in plans for limb in p.limbs} == {0.25, 0.35, 0.45}
    assert all(4 <= len(p.limbs) <= 10 for p in plans)
    assert min(len(p.limbs) for p in plans) < max(len(p.limbs) for p in plans)


def test_spaces_without_weights_keep_their_bytes():
    """Weights draw differently from equal chances, so spaces without them must not go through the
    weighted draw: a `generate:` spec names the same bodies as before weights existed (hashes from
    the commit before them, d2026e6)."""
    import hashlib

    # unimal-matched: from the commit before heading weights (5c4a742), which it does not use
    expected = {
        "unimal": "69b16c5844f424f8",
        "unimal-like": "5d279de4e2f9ea78",
        "rich": "73db87ef4d31aba8",
        "unimal-matched": "863598c69d2fc77f",
    }
    for name, digest in expected.items():
        sha = hashlib.sha256()
        for index in range(4):
            sha.update(make_body(design_space(name), 7, index)[0].xml.encode())
        assert sha.hexdigest()[:16] == digest, name


def test_unimal_matched_space_draws_unimal100_frequencies():
    """Weights move what is drawn: three limbs in four horizontal (a third without weights), gears of
    150 most often, mostly 0.45 m limbs, and the bodies about as heavy for their motors as UNIMAL-100's."""
    space = design_space("unimal-matched")
    plans = [sample_plan(space, np.random.default_rng([11, i])) for i in range(300)]
    limbs = [limb for p in plans for limb in p.limbs]
    horizontal = np.mean([abs(limb.direction[2]) < 1e-6 for limb in limbs])
    assert 0.65 < horizontal < 0.85
    plain = [
        limb
        for i in range(300)
        for limb in sample_plan(design_space("unimal-like"), np.random.default_rng([11, i])).limbs
    ]
    assert np.mean([abs(limb.direction[2]) < 1e-6 for limb in plain]) < 0.45
    gears = [j.gear for limb in limbs for j in limb.joints]
    assert max(set(gears), key=gears.count) == 150.0
    lengths = [limb.length for limb in limbs]
    assert max(set(lengths), key=lengths.count) == 0.45
    counts = [len(p.limbs) for p in plans]
    assert 7.3 < np.mean(counts) < 8.9  # UNIMAL-100: 8.07 limbs a body
    mass = gear = 0.0
    for index in range(12):
        body, _ = make_body(space, 1000, index)
        model = morphology_from_xml(body.xml, name=body.name).model
        mass += model.body_mass.sum()
        gear += model.actuator_gear[:, 0].sum()
    assert 55 < gear / mass < 100  # UNIMAL-100: 76 N·m per kg (median body); unimal-like: 124


def test_unimal_headings_space_points_limbs_along_x_as_unimal100_does():
    """UNIMAL-100's limbs that are not straight down point backwards 39 % of the time, forwards 23 %,
    to each side 12 %; unimal-matched draws the eight headings equally, unimal-headings with those
    counts (mirror twins included), and changes nothing else about the draw's rules."""

    def headings(name: str) -> dict[int, float]:
        plans = [sample_plan(design_space(name), np.random.default_rng([13, i])) for i in range(300)]
        flat = [limb.direction for p in plans for limb in p.limbs if abs(limb.direction[2]) < 0.99]
        degrees = [round(math.degrees(math.atan2(d[1], d[0])) / 45) % 8 * 45 for d in flat]
        return {h: degrees.count(h) / len(degrees) for h in range(0, 360, 45)}

    matched, headings_space = headings("unimal-matched"), headings("unimal-headings")
    assert max(matched.values()) < 0.2  # eight headings, about equally
    assert headings_space[180] > 0.25 and headings_space[0] > 0.15  # backwards, then forwards
    assert headings_space[90] == pytest.approx(headings_space[270], abs=0.03)  # mirror twins
    assert headings_space[135] + headings_space[225] < 0.06
    space = design_space("unimal-headings")
    assert dataclasses.replace(space, name="unimal-matched", azimuth_weights=()) == design_space("unimal-matched")


def test_parent_contacts_collide_limbs_with_their_parents(tmp_path: Path):
    """With parent_contacts a body is written as UNIMAL files are (filterparent disabled): in the
    environments' simulation a limb then touches the link it hangs from, which it never does
    without. The same draw otherwise; the CLI flag sets it on any space."""
    import dataclasses

    from metamorph.env import VecEnv, task_config

    space = design_space("unimal-matched")
    plain, _ = make_body(space, 3, 0)
    touching, _ = make_body(dataclasses.replace(space, parent_contacts=True), 3, 0)
    assert '<flag filterparent="disable"/>' in touching.xml and "filterparent" not in plain.xml
    assert touching.plan == plain.plan

    def parent_child_contacts(xml: str, name: str) -> int:
        env = VecEnv([morphology_from_xml(xml, name=name)], task_config("flat"), 1, nthread=1)
        env.reset(seed=0)
        env.step(np.zeros((1, env.max_tokens)))
        model, data = env.models[0], env.datas[0]
        parent = model.body_parentid
        pairs = [(model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]) for c in data.contact[: data.ncon]]
        return sum(parent[a] == b or parent[b] == a for a, b in pairs)

    assert parent_child_contacts(plain.xml, plain.name) == 0
    assert parent_child_contacts(touching.xml, touching.name) > 0
    out = tmp_path / "bodies"
    result = run_cli("generate", "--count", "1", "--out", str(out), "--parent-contacts", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert '<flag filterparent="disable"/>' in next((out / "xml").glob("*.xml")).read_text()
    assert json.loads((out / "manifest.json").read_text())["space"]["parent_contacts"] is True


def test_random_joint_signs_change_what_an_action_means_and_nothing_else(tmp_path: Path):
    """joint_signs="random" draws the body "limb" signs draw, with each joint's axis and range
    negated or not: a run with every action of a negated joint negated is the same simulation."""
    import dataclasses

    space = design_space("unimal-matched")
    signed = dataclasses.replace(space, joint_signs="random")
    flips = []
    for index in range(6):
        plain, _ = make_body(space, 3, index)
        random, _ = make_body(signed, 3, index)
        assert random.attempt == plain.attempt
        assert dataclasses.replace(random.plan, limbs=()) == dataclasses.replace(plain.plan, limbs=())
        for a, b in zip(plain.plan.limbs, random.plan.limbs, strict=True):
            assert dataclasses.replace(a, joints=()) == dataclasses.replace(b, joints=())
            for ja, jb in zip(a.joints, b.joints, strict=True):
                flipped = jb.axis != ja.axis
                assert jb == (ja if not flipped else dataclasses.replace(
                    ja, axis=tuple(-x + 0.0 for x in ja.axis), range=(-ja.range[1], -ja.range[0])))  # fmt: skip
                flips.append(flipped)
        models = [morphology_from_xml(body.xml, name=body.name).model for body in (plain, random)]
        sign = np.array([1.0 if models[0].jnt_axis[j] @ models[1].jnt_axis[j] > 0 else -1.0
                         for j in models[0].actuator_trnid[:, 0]])  # fmt: skip
        torso = []
        for model, factor in zip(models, (np.ones_like(sign), sign), strict=True):
            data = mujoco.MjData(model)
            ctrl = np.random.default_rng(index).uniform(-1, 1, (100, model.nu))
            for step in range(100):
                data.ctrl[:] = ctrl[step] * factor
                mujoco.mj_step(model, data, nstep=4)
            torso.append(data.xpos[1].copy())
        np.testing.assert_allclose(torso[0], torso[1], atol=1e-6)
    assert 0.3 < np.mean(flips) < 0.7 and len(flips) > 20
    with pytest.raises(MetamorphError, match="joint_signs must be limb or random"):
        dataclasses.replace(space, joint_signs="mirror")
    out = tmp_path / "bodies"
    result = run_cli("generate", "--count", "1", "--out", str(out), "--joint-signs", "random", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["space"]["joint_signs"] == "random"


def test_rich_space_goes_beyond_unimal():
    space = rich_space()
    plans = [sample_plan(space, np.random.default_rng([5, i])) for i in range(200)]
    assert {p.torso_shape for p in plans} == {"sphere", "box", "capsule", "ellipsoid"}
    assert {limb.geom for p in plans for limb in p.limbs} == {"capsule", "cylinder"}
    assert any(j.type == "slide" for p in plans for limb in p.limbs for j in limb.joints)
    assert any(not p.symmetric and len(p.limbs) > 3 for p in plans)
    assert all(
        p.symmetric_pairs or len(p.limbs) < 2
        for p in plans
        if p.symmetric and any(abs(limb.direction[1]) > 0.1 for limb in p.limbs)
    )
    result = generate_bodies(space, 6, seed=2, workers=1)
    kinds = set()
    for body in result.bodies:
        from metamorph.morphology import morphology_from_xml

        kinds |= set(tokenize(morphology_from_xml(body.xml, name=body.name)).kinds)
    assert kinds - {"sphere/free/none", "capsule/hinge/motor"}, "the rich space should produce new part kinds"


def test_planar_space_builds_bodies_that_stay_in_their_plane():
    """A planar body is built as gymnasium's hopper is: unactuated slides along x and z and a hinge
    about y on the torso (the root token's part is ``planar``), every limb joint a hinge about y,
    and limbs that touch the ground but not each other. Under random torques it stays in the xz
    plane, and it gets only as many floor contacts as it has links on the ground."""
    from metamorph.env import VecEnv, task_config

    space = design_space("planar")
    bodies = [make_body(space, 0, index)[0] for index in range(6)]
    morphologies = [morphology_from_xml(body.xml, name=body.name) for body in bodies]
    for morphology in morphologies:
        model = morphology.model
        assert morphology.base == "planar"
        root_joints = [model.joint(j) for j in range(model.njnt) if model.jnt_bodyid[j] == morphology.root_body]
        assert [(j.name, int(j.type[0])) for j in root_joints] == [
            ("rootx", mujoco.mjtJoint.mjJNT_SLIDE),
            ("rootz", mujoco.mjtJoint.mjJNT_SLIDE),
            ("rooty", mujoco.mjtJoint.mjJNT_HINGE),
        ]
        limb_joints = [j for j in range(model.njnt) if model.jnt_bodyid[j] != morphology.root_body]
        assert limb_joints and model.nu == len(limb_joints)
        assert all(model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE for j in limb_joints)
        assert np.allclose(np.abs(model.jnt_axis[limb_joints]), [0.0, 1.0, 0.0])
        assert tokenize(morphology).kinds[0].endswith("/planar/none")
    assert {m.model.ngeom for m in morphologies} != {morphologies[0].model.ngeom}, "bodies should differ"

    env = VecEnv(morphologies, task_config("flat"), len(morphologies), nthread=1, assignment=range(6), autoreset=False)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        env.step(rng.uniform(-1, 1, (len(morphologies), env.max_tokens)))
        for model, data in zip(env.models, env.datas, strict=True):
            robot = model.body_rootid == model.body_rootid[1]  # every body of the robot, not the world
            assert np.allclose(data.xpos[robot, 1], 0.0, atol=1e-6)
            for c in data.contact[: data.ncon]:
                assert 0 in (model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]), "limbs touched each other"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limb_count": (5, 3)}, r"limb_count \(5, 3\) must be 1 ≤ min ≤ max"),
        ({"limb_count": (-1, 3)}, r"limb_count"),
        ({"limb_radius": (0.06, 0.02)}, r"limb_radius .* is empty"),
        ({"limb_lengths": ()}, r"limb_lengths is empty"),
        ({"joint_ranges_deg": ((30, 10),)}, r"a joint range is empty"),
        ({"torso_shapes": ("pyramid",)}, r"unknown torso shape"),
        ({"two_joint_prob": 1.5}, r"two_joint_prob must be a probability"),
        ({"polar_weights": (1, 2)}, r"polar_weights needs 3 non-negative weights, not all 0, one per choice; got 2"),
        ({"gear_weights": (0, 0, 0, 0)}, r"gear_weights needs 4"),
        ({"limb_density_weights": (1, 1, -1, 1, 1, 1)}, r"limb_density_weights needs 6"),
        ({"continuous_lengths": True, "length_weights": (1, 1, 1, 1, 1)}, r"length_weights needs 0"),
        ({"azimuth_weights": (1, 2, 3)}, r"azimuth_weights needs 8 non-negative weights"),
        ({"azimuth_step_deg": 0.0, "azimuth_weights": (1,) * 8}, r"azimuth_weights needs 0"),
        ({"base": "floating"}, r"base must be free or planar, got 'floating'"),
        ({"base": "planar"}, r"a planar base needs azimuth_step_deg=180 \(limbs in the xz plane\), got 45"),
    ],
)
def test_bad_design_spaces_are_rejected(kwargs, message):
    with pytest.raises(MetamorphError, match=message):
        DesignSpace(**kwargs)


def test_impossible_limb_count_is_reported():
    space = DesignSpace(limb_count=(30, 30), max_depth=1)
    with pytest.raises(MetamorphError, match=r"no valid body for slot 0 in 20 attempts.*may be impossible"):
        generate_bodies(space, 1, workers=1, validity=Validity(max_attempts=20))


def test_bad_counts_and_splits():
    with pytest.raises(MetamorphError, match="--count must be at least 1"):
        generate_bodies(unimal_space(), -5)
    with pytest.raises(MetamorphError, match="unknown design space 'huge'"):
        design_space("huge")


def test_cli_generate_refuses_to_overwrite_and_reports_bad_flags(tmp_path: Path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = run_cli("generate", "--count", "2", "--out", str(out))
    assert result.returncode == 2 and "already exists and is not empty" in result.stderr
    assert (out / "precious.txt").read_text() == "keep me"
    result = run_cli("generate", "--count", "4", "--out", str(tmp_path / "x"), "--split", "1.5")
    assert result.returncode == 2 and "--split must be between 0 and 1" in result.stderr
    assert not (tmp_path / "x").exists()
    result = run_cli("generate", "--count", "0", "--out", str(tmp_path / "y"))
    assert result.returncode == 2 and "--count must be at least 1" in result.stderr
    # flags that shape new bodies do nothing to variants of existing ones: refused, not ignored
    result = run_cli("generate", "--variants-of", str(tmp_path), "--space", "rich", "--parent-contacts",
                     "--out", str(tmp_path / "z"))  # fmt: skip
    assert result.returncode == 2 and "--space, --parent-contacts cannot be used with --variants-of" in result.stderr
    assert not (tmp_path / "z").exists()


def test_cli_generate_same_seed_same_bytes_with_report(tmp_path: Path):
    for name in ("a", "b"):
        result = run_cli(
            "generate", "--count", "6", "--seed", "9", "--out", str(tmp_path / name), "--workers", "2", "--report"
        )
        assert result.returncode == 0, result.stderr
    a, b = _all_files(tmp_path / "a"), _all_files(tmp_path / "b")
    assert {k for k in a if k.startswith("xml/")} and len([k for k in a if k.startswith("xml/")]) == 6
    for key in ("report/histograms.png", "report/summary.json", "report/summary.md", "manifest.json"):
        assert key in a
    # the report names its folder; everything else is byte-identical
    assert {k: v for k, v in a.items() if not k.startswith("report/")} == {
        k: v for k, v in b.items() if not k.startswith("report/")
    }


def _compiled(path: Path) -> mujoco.MjModel:
    return load_morphology(path).model


def test_dynamics_variants_change_only_dynamics(unimal_set: Path, tmp_path: Path):
    source = unimal_set / "heldout"
    write_variants(source, tmp_path / "dyn", "dynamics", count=2, seed=1)
    manifest = json.loads((tmp_path / "dyn" / "manifest.json").read_text())
    assert len(manifest["bodies"]) == 2 * 6
    for entry in manifest["bodies"]:
        parent = _compiled(source / "xml" / f"{entry['parent']}.xml")
        child = _compiled(tmp_path / "dyn" / "xml" / f"{entry['name']}.xml")
        for field in ("body_pos", "body_quat", "geom_size", "geom_pos", "jnt_range", "jnt_axis", "jnt_pos"):
            np.testing.assert_allclose(getattr(child, field), getattr(parent, field), atol=1e-6, err_msg=field)
        for field in ("body_mass", "dof_damping", "dof_armature", "actuator_gear"):
            assert not np.allclose(getattr(child, field), getattr(parent, field)), field
        assert json.loads((tmp_path / "dyn" / "metadata" / f"{entry['name']}.json").read_text())["dof"] == entry["dof"]


def test_variants_of_a_slice_of_a_folder(unimal_set: Path, tmp_path: Path):
    source = unimal_set / "heldout"
    write_variants(f"{source}[1:3]", tmp_path / "dyn", "dynamics", count=1, seed=1)
    parents = [e["parent"] for e in json.loads((tmp_path / "dyn" / "manifest.json").read_text())["bodies"]]
    assert parents == [p.stem for p in sorted((source / "xml").glob("*.xml"))[1:3]]
    with pytest.raises(MetamorphError, match=r"heldout\[9:\]: selects none of the 6 bodies of \S+heldout$"):
        write_variants(f"{source}[9:]", tmp_path / "none", "dynamics", count=1)
    assert not (tmp_path / "none").exists()


def test_signs_variants_change_what_an_action_means_and_nothing_else(unimal_files: list[Path], tmp_path: Path):
    """A signs variant of a UNIMAL file negates some joints' axes and ranges: every other compiled
    field is the source's, and actions negated on those joints give the source's simulation."""
    source = tmp_path / "unimal"
    (source / "xml").mkdir(parents=True)
    for path in unimal_files[:3]:
        (source / "xml" / path.name).write_bytes(path.read_bytes())
    write_variants(source, tmp_path / "signs", "signs", count=1, seed=2)
    flips = []
    for entry in json.loads((tmp_path / "signs" / "manifest.json").read_text())["bodies"]:
        parent = _compiled(source / "xml" / f"{entry['parent']}.xml")
        child = _compiled(tmp_path / "signs" / "xml" / f"{entry['name']}.xml")
        for field in ("body_pos", "body_quat", "body_mass", "geom_size", "jnt_pos", "dof_damping", "actuator_gear"):
            # MjSpec.to_xml prints numbers to 6-7 digits
            np.testing.assert_allclose(getattr(child, field), getattr(parent, field), rtol=1e-5, err_msg=field)
        hinges = parent.jnt_type == mujoco.mjtJoint.mjJNT_HINGE
        sign = np.where(np.sum(child.jnt_axis * parent.jnt_axis, axis=1) < 0, -1.0, 1.0)
        np.testing.assert_allclose(child.jnt_axis, parent.jnt_axis * sign[:, None], atol=1e-6)
        flipped = sign < 0
        np.testing.assert_allclose(child.jnt_range[flipped], -parent.jnt_range[flipped][:, ::-1], atol=1e-4)
        flips += list(flipped[hinges])
        torso = []
        for model, factor in ((parent, np.ones(parent.nu)), (child, sign[child.actuator_trnid[:, 0]])):
            data = mujoco.MjData(model)
            ctrl = np.random.default_rng(0).uniform(-1, 1, (100, model.nu))
            for step in range(100):
                data.ctrl[:] = ctrl[step] * factor
                mujoco.mj_step(model, data, nstep=4)
            torso.append(data.xpos[1].copy())
        np.testing.assert_allclose(torso[0], torso[1], atol=1e-3)  # unflipped signs: metres apart
    assert 0.25 < np.mean(flips) < 0.75 and len(flips) >= 20


def test_canonical_signs_give_every_sign_convention_of_a_body_the_same_file(unimal_files: list[Path], tmp_path: Path):
    """UNIMAL files and random-sign variants of them end in the same joints once canonical; the
    joints' names and the physics stay the source's."""
    from metamorph.variants import canonical_joint_signs

    source = tmp_path / "unimal"
    (source / "xml").mkdir(parents=True)
    for path in unimal_files[:4]:
        (source / "xml" / path.name).write_bytes(path.read_bytes())
    write_variants(source, tmp_path / "signs", "signs", count=1, seed=3)
    write_variants(source, tmp_path / "canon", "canonical-signs", count=1)
    write_variants(tmp_path / "signs", tmp_path / "signs-canon", "canonical-signs", count=1)
    for path in sorted((source / "xml").glob("*.xml")):
        plain = _compiled(path)
        spec = mujoco.MjSpec.from_file(str(path))
        assert [j.name for j in spec.joints] == [plain.joint(i).name for i in range(plain.njnt)]
        canon = _compiled(tmp_path / "canon" / "xml" / f"{path.stem}-can00.xml")
        again = _compiled(tmp_path / "signs-canon" / "xml" / f"{path.stem}-sig00-can00.xml")
        np.testing.assert_allclose(again.jnt_axis, canon.jnt_axis, atol=1e-6)
        np.testing.assert_allclose(again.jnt_range, canon.jnt_range, atol=1e-4)
        np.testing.assert_allclose(canon.body_mass, plain.body_mass, rtol=1e-5)
        assert (canonical_joint_signs(canon) == 1).all()  # canonical is a fixed point
    assert any(not np.allclose(_compiled(p).jnt_axis, _compiled(tmp_path / "canon" / "xml" / f"{p.stem}-can00.xml").jnt_axis)
               for p in (source / "xml").glob("*.xml"))  # fmt: skip
    with pytest.raises(MetamorphError, match="canonical-signs draws nothing: --count must be 1"):
        write_variants(source, tmp_path / "two", "canonical-signs", count=2)


def test_sign_variants_of_a_body_that_fails_the_checks_name_it_after_one_check(
    unimal_files: list[Path], tmp_path: Path, monkeypatch
):
    """Sign variants keep the source's physics, so a source that fails the validity check fails for
    every draw: one check, then an error naming the source (not 200 identical checks)."""
    import metamorph.variants

    checks = []

    def counting_check(morphology, validity):
        checks.append(morphology.name)
        return check_body(morphology, validity)

    monkeypatch.setattr(metamorph.variants, "check_body", counting_check)
    source = tmp_path / "unimal"
    (source / "xml").mkdir(parents=True)
    (source / "xml" / unimal_files[0].name).write_bytes(unimal_files[0].read_bytes())
    for kind in ("signs", "canonical-signs"):
        checks.clear()
        with pytest.raises(
            MetamorphError, match=rf"{unimal_files[0].stem}.xml: fails the validity check \(too_many_tokens"
        ):
            write_variants(source, tmp_path / kind, kind, count=1, validity=Validity(max_tokens=1))
        assert len(checks) == 1 and not (tmp_path / kind).exists()


def test_kinematics_variants_change_only_shape(unimal_set: Path, tmp_path: Path):
    source = unimal_set / "heldout"
    write_variants(source, tmp_path / "kin", "kinematics", count=2, seed=1)
    for entry in json.loads((tmp_path / "kin" / "manifest.json").read_text())["bodies"]:
        parent = _compiled(source / "xml" / f"{entry['parent']}.xml")
        child = _compiled(tmp_path / "kin" / "xml" / f"{entry['name']}.xml")
        for field in ("dof_damping", "dof_armature", "actuator_gear", "geom_type"):
            np.testing.assert_allclose(getattr(child, field), getattr(parent, field), err_msg=field)
        np.testing.assert_allclose(child.geom_size[:, 0], parent.geom_size[:, 0])  # radii kept
        for field in ("geom_size", "jnt_range", "body_quat"):
            assert not np.allclose(getattr(child, field), getattr(parent, field)), field
        # density is unchanged: mass over volume stays within the design's 500–1000
        densities = child.body_mass[1:] / np.array([_volume(child, b) for b in range(1, child.nbody)])
        assert ((densities > 499) & (densities < 1001)).all()


def test_kinematics_variants_of_planar_bodies_stay_in_their_plane(tmp_path: Path):
    """A planar body's limbs are re-attached by a turn about its plane's normal, never out of it."""
    space = design_space("planar")
    write_body_set(generate_bodies(space, 3, seed=2, workers=1), tmp_path / "planar", space, seed=2)
    write_variants(tmp_path / "planar", tmp_path / "kin", "kinematics", count=2, seed=1)
    manifest = json.loads((tmp_path / "kin" / "manifest.json").read_text())
    for entry in manifest["bodies"]:
        parent = _compiled(tmp_path / "planar" / "xml" / f"{entry['parent']}.xml")
        child = _compiled(tmp_path / "kin" / "xml" / f"{entry['name']}.xml")
        assert not np.allclose(child.body_quat, parent.body_quat), "limbs should be re-attached"
        data = mujoco.MjData(child)
        mujoco.mj_kinematics(child, data)
        assert np.allclose(data.xpos[:, 1], 0.0, atol=1e-9) and np.allclose(data.geom_xpos[:, 1], 0.0, atol=1e-9)
        hinges = child.jnt_type == mujoco.mjtJoint.mjJNT_HINGE
        assert np.allclose(np.abs(data.xaxis[hinges]), [0.0, 1.0, 0.0])
        assert not any(key.startswith("attach_heading") for key in entry["params"])


def test_mirror_copies_move_as_the_mirror_image_of_their_source(unimal_files: list[Path], tmp_path: Path):
    """A mirror copy (UNIMAL files, with their euler-oriented cameras, and planar bodies) has the
    source's parts, masses, ranges and motors, stands as its reflection front to back, and under the
    same actions every link moves as the source's reflection; mirrored twice, it is the source."""
    from metamorph.generate import start_qpos

    sources = tmp_path / "sources"
    (sources / "xml").mkdir(parents=True)
    for path in unimal_files[:2]:
        (sources / "xml" / path.name).write_bytes(path.read_bytes())
    space = design_space("planar")
    for body in generate_bodies(space, 2, seed=4, workers=1).bodies:
        (sources / "xml" / f"{body.name}.xml").write_text(body.xml)
    write_variants(sources, tmp_path / "mirror", "mirror", count=1)
    write_variants(tmp_path / "mirror", tmp_path / "twice", "mirror", count=1)
    reflect = np.array([-1.0, 1.0, 1.0])
    for path in sorted((sources / "xml").glob("*.xml")):
        mirrored = tmp_path / "mirror" / "xml" / f"{path.stem}-mir00.xml"
        parent, child = _compiled(path), _compiled(mirrored)
        for field in ("body_mass", "jnt_range", "actuator_gear", "geom_size", "dof_damping"):
            np.testing.assert_allclose(getattr(child, field), getattr(parent, field), rtol=1e-5, err_msg=field)
        twice = _compiled(tmp_path / "twice" / "xml" / f"{path.stem}-mir00-mir00.xml")
        for field in ("body_pos", "body_quat", "jnt_axis", "jnt_pos", "geom_pos"):
            np.testing.assert_allclose(getattr(twice, field), getattr(parent, field), atol=1e-5, err_msg=field)
        moved = []
        for file in (path, mirrored):
            morphology = load_morphology(file)
            model = _with_floor(morphology)
            data = mujoco.MjData(model)
            data.qpos[:] = start_qpos(model, morphology)
            mujoco.mj_forward(model, data)
            start = data.xpos[1].copy()
            pose = data.xpos[1:] - start
            controls = np.random.default_rng(0).uniform(-1, 1, (10, model.nu))
            for ctrl in controls:
                data.ctrl[:] = ctrl
                mujoco.mj_step(model, data, nstep=4)
            moved.append((pose, data.xpos[1:] - start))
        (source_pose, source_moved), (mirror_pose, mirror_moved) = moved
        np.testing.assert_allclose(mirror_pose, source_pose * reflect, atol=1e-6)
        np.testing.assert_allclose(mirror_moved, source_moved * reflect, atol=1e-4)  # contacts: 1e-5 m apart
        assert np.abs(source_moved[0, 0]) > 1e-3, "the torso should move, or the test shows nothing"
    with pytest.raises(MetamorphError, match="mirror draws nothing: --count must be 1"):
        write_variants(sources, tmp_path / "two", "mirror", count=2)


def test_mirror_copies_reflect_frames_full_inertias_and_oblique_hinges(tmp_path: Path):
    """What generated bodies do not hold: a <frame> with a turned quat, a full inertia tensor and a
    hinge off every axis; the mirror still moves as the source's reflection."""
    xml = """<mujoco><worldbody><geom type="plane" size="5 5 .1"/>
      <body name="torso" pos="0 0 0.2"><freejoint/><geom type="box" size="0.3 0.3 0.2"/>
        <inertial pos="0.1 0 0" mass="20" fullinertia="1 1 1 0.1 0.2 0.3"/>
        <frame name="f" pos="0.1 0.1 0.7" quat="0.9 0.1 0.2 0.3"><geom size=".1" pos="0.2 0 0"/>
          <body name="limb" pos="0.2 0 0"><joint name="j" axis="0.3 0.4 0.5" range="-60 60"/>
            <geom type="capsule" fromto="0 0 0 0.3 0.2 -0.4" size="0.05"/></body></frame></body>
    </worldbody><actuator><motor joint="j" gear="30"/></actuator></mujoco>"""
    (tmp_path / "src" / "xml").mkdir(parents=True)
    (tmp_path / "src" / "xml" / "odd.xml").write_text(xml)
    write_variants(tmp_path / "src", tmp_path / "mirror", "mirror", count=1)
    moved = []
    for path in (tmp_path / "src" / "xml" / "odd.xml", tmp_path / "mirror" / "xml" / "odd-mir00.xml"):
        model = mujoco.MjModel.from_xml_path(str(path))
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        start = data.xipos[1:].copy()  # the links' centres of mass: a limb turns about its own origin
        for step in range(40):
            data.ctrl[:] = 1.0 if step < 30 else -0.5
            mujoco.mj_step(model, data, nstep=4)
        moved.append((start - start[0], data.xipos[1:] - start[0]))
    (source_start, source_end), (mirror_start, mirror_end) = moved
    np.testing.assert_allclose(mirror_start, source_start * [-1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(mirror_end, source_end * [-1.0, 1.0, 1.0], atol=1e-6)
    assert np.abs(source_end[1] - source_start[1]).max() > 0.05, "the limb should swing"


# ----------------------------------------------------------------------------------------------
# The quadruped spaces (metamorph.quadrupeds)


def test_quadruped_space_builds_robot_dogs_that_stand_on_their_motors(tmp_path: Path):
    """Every body is a torso and four 3-hinge legs with a motor a joint and a bent-knee `home`
    keyframe it starts in; under zero torque it folds towards the floor (so the zero-torque stance
    checks cannot apply), while its own motors hold it up; the same seed gives the same bytes."""
    from metamorph.generate import start_qpos
    from metamorph.quadrupeds import QuadrupedPlan, holds_home_pose

    space = design_space("quadruped")
    result = generate_bodies(space, 4, seed=5, workers=1)
    assert [b.xml for b in result.bodies] == [b.xml for b in generate_bodies(space, 4, seed=5, workers=1).bodies]
    write_body_set(result, tmp_path / "dogs", space, 5)
    manifest = json.loads((tmp_path / "dogs" / "manifest.json").read_text())
    assert manifest["space"]["name"] == "quadruped" and len(manifest["bodies"]) == 4
    collapsed = 0
    for body in result.bodies:
        assert isinstance(body.plan, QuadrupedPlan)
        morphology = morphology_from_xml(body.xml, name=body.name)
        assert morphology.model.nu == 12 and tokenize(morphology).num_tokens == 13
        assert any("keyframe 'home'" in note for note in morphology.notes)
        floor_model = _with_floor(morphology)
        home = start_qpos(floor_model, morphology)
        knees = [floor_model.joint(f"{leg}_knee").qposadr[0] for leg in ("FR", "FL", "RR", "RL")]
        assert (home[knees] < -0.5).all()  # bent knees, as the keyframe says
        assert holds_home_pose(floor_model, morphology.root_body, home) >= space.min_hold_fraction
        data = mujoco.MjData(floor_model)
        data.qpos[:] = home
        mujoco.mj_step(floor_model, data, nstep=round(1.0 / floor_model.opt.timestep))
        start = float(body.stats.initial_height)
        collapsed += data.xpos[morphology.root_body, 2] < 0.7 * start
        pairs = body.metadata["symmetric_limbs"]
        twins = [(body.plan.limbs[a], body.plan.limbs[b]) for a, b in pairs]
        assert len(twins) == 6 and all(a[0] + a[2:] == b[0] + b[2:] and a[1] + b[1] == "RL" for a, b in twins)
    assert collapsed >= 3


def test_quadruped_spaces_differ_in_leg_mass_and_weak_motors_are_rejected():
    from metamorph.quadrupeds import QuadrupedSpace

    def leg_share(space) -> list[float]:
        bodies = generate_bodies(space, 6, seed=2, workers=1).bodies
        return [4 * sum(b.plan.link_masses) / b.plan.total_mass for b in bodies]

    assert max(leg_share(design_space("quadruped"))) <= 0.49 < max(leg_share(design_space("quadruped-heavy-legs")))
    weak = QuadrupedSpace(name="weak", hip_gear=(0.01, 0.02), knee_gear=(0.01, 0.02))
    with pytest.raises(MetamorphError, match=r"design space 'weak': no valid body .*cannot_stand"):
        make_body(weak, 0, 0, validity=Validity(max_attempts=3))


def test_cli_generate_quadrupeds_refuses_flags_that_cannot_apply(tmp_path: Path):
    result = run_cli("generate", "--space", "quadruped", "--count", "2", "--out", str(tmp_path / "a"),
                     "--min-stand-fraction", "0.6")  # fmt: skip
    assert result.returncode == 2 and "collapse under zero torque" in result.stderr
    result = run_cli("generate", "--space", "quadruped", "--count", "2", "--out", str(tmp_path / "b"),
                     "--parent-contacts")  # fmt: skip
    assert result.returncode == 2 and "--parent-contacts: design space 'quadruped'" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    result = run_cli("generate", "--space", "quadruped", "--count", "3", "--seed", "4", "--out", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "c" / "xml").glob("quadruped-s4-*.xml"))) == 3


def test_leg_inertia_draws_a_robots_mass_distribution_and_off_keeps_the_bytes():
    """With `leg_inertia`, each leg link carries an explicit inertia whose centre of mass lies where
    the space says along the link (MuJoCo's compiled model agrees), left legs mirroring right legs;
    the knee-motor mass moves the thigh's centre of mass up; with both off the bytes are the space's."""
    from metamorph.quadrupeds import quadruped_to_mjcf, sample_quadruped

    plain = design_space("quadruped")
    for seed in range(3):
        assert "<inertial" not in quadruped_to_mjcf(sample_quadruped(plain, np.random.default_rng(seed)), "q")
    space = design_space("quadruped", ("leg_inertia=true", "thigh_com=0.2,0.2", "calf_com=0.7,0.7"))
    plan = sample_quadruped(space, np.random.default_rng(4))
    model = mujoco.MjModel.from_xml_string(quadruped_to_mjcf(plan, "q"))
    for leg in ("FR", "FL"):
        thigh, calf = model.body(f"{leg}_thigh"), model.body(f"{leg}_calf")
        assert thigh.ipos[2] == pytest.approx(-0.2 * plan.thigh_length, abs=1e-4)
        assert calf.ipos[2] == pytest.approx(-0.7 * plan.calf_length, abs=1e-4)
        assert thigh.mass[0] == pytest.approx(plan.link_masses[1], rel=1e-4)
    assert model.body("FR_thigh").ipos[1] == pytest.approx(-model.body("FL_thigh").ipos[1])
    uniform = mujoco.MjModel.from_xml_string(quadruped_to_mjcf(dataclasses.replace(plan, leg_inertials=None), "q"))
    motor = mujoco.MjModel.from_xml_string(
        quadruped_to_mjcf(dataclasses.replace(plan, leg_inertials=None, knee_motor_fraction=0.7), "q")
    )
    assert uniform.body("FR_thigh").ipos[2] == pytest.approx(-0.5 * plan.thigh_length, abs=1e-4)
    assert motor.body("FR_thigh").ipos[2] == pytest.approx(-0.15 * plan.thigh_length, abs=1e-4)
    assert motor.body("FR_thigh").mass[0] == pytest.approx(uniform.body("FR_thigh").mass[0], rel=1e-4)


def test_geom_variety_builds_links_of_several_primitives_off_their_axes():
    """`quadruped-geom-variety` is the leg-inertia family with its link geoms drawn last: the same
    draws give the same plan otherwise; thighs and calves are two capsules each, mirrored left and
    right, the feet where they were, the extra parts massless; and the token columns that read a
    link's shape vary across the family where in the leg-inertia family they are constant."""
    from metamorph.quadrupeds import quadruped_to_mjcf, sample_quadruped
    from metamorph.tokens import static_layout

    space, plain = design_space("quadruped-geom-variety"), design_space("quadruped-leg-inertia")
    assert space == dataclasses.replace(plain, name=space.name, geom_variety=True)
    plan = sample_quadruped(space, np.random.default_rng(3))
    assert dataclasses.replace(plan, link_geoms=None) == sample_quadruped(plain, np.random.default_rng(3))
    model = mujoco.MjModel.from_xml_string(quadruped_to_mjcf(plan, "q"))
    capsules = {
        leg: [g for g in range(model.ngeom) if model.geom_bodyid[g] == model.body(f"{leg}_thigh").id]
        for leg in ("FR", "FL")
    }
    assert all(len(geoms) == 2 for geoms in capsules.values())
    for right, left in zip(capsules["FR"], capsules["FL"], strict=True):
        assert model.geom_pos[right] == pytest.approx(model.geom_pos[left] * np.array([1, -1, 1]), abs=1e-5)
    foot = model.geom_bodyid == model.body("FR_calf").id
    assert model.geom_pos[foot][-1] == pytest.approx([0, 0, -plan.calf_length], abs=1e-5)
    assert model.body("torso").mass[0] == pytest.approx(plan.torso_mass, rel=1e-4)
    geoms_only = design_space("quadruped", ("geom_variety=true", "part_probability=1"))
    uniform = sample_quadruped(geoms_only, np.random.default_rng(5))
    uniform_model = mujoco.MjModel.from_xml_string(quadruped_to_mjcf(uniform, "q"))
    for link, mass in zip(("hip", "thigh", "calf"), uniform.link_masses, strict=True):
        assert uniform_model.body(f"RL_{link}").mass[0] == pytest.approx(mass, rel=1e-3)  # housings weigh nothing

    def thigh_centroids(name: str) -> np.ndarray:
        columns = static_layout("shape")["shape_center"]
        bodies = generate_bodies(design_space(name), 8, seed=1, workers=1).bodies
        return np.array([
            np.asarray(tokenize(morphology_from_xml(b.xml, name=b.name), link_geometry="shape")
                       .static_features)[2, columns]  # the first thigh's token
            for b in bodies
        ])  # fmt: skip

    assert thigh_centroids("quadruped-leg-inertia")[:, 0].std() < 1e-9
    assert thigh_centroids("quadruped-geom-variety")[:, 0].std() > 3e-3


def test_space_set_overrides_fields_and_reports_bad_ones(tmp_path: Path):
    space = design_space("unimal", ("limb_count=3,5", "gears=100,200", "max_depth=2"))
    assert (space.limb_count, space.gears, space.max_depth) == ((3, 5), (100.0, 200.0), 2)
    assert design_space("quadruped", ("leg-inertia=true",)).leg_inertia
    for overrides, message in [
        (("limb_count=3,5.5",), "'5.5' is not a whole number"),
        (("leg_inertia=maybe",), "'maybe' is not true or false"),
        (("no_such_field=1",), "expected FIELD=VALUE with a field of design space 'quadruped'"),
        (("thigh_com=0.6,0.2",), r"thigh_com \(0.6, 0.2\) must be a range"),
        (("calf_com=0.5,1.5",), r"calf_com \(0.5, 1.5\) must lie within \[0, 1\]"),
    ]:
        with pytest.raises(MetamorphError, match=message):
            design_space("unimal" if "limb_count" in overrides[0] else "quadruped", overrides)
    out = tmp_path / "dogs"
    result = run_cli("generate", "--space", "quadruped", "--space-set", "leg_inertia=true", "torso_mass=4,4",
                     "--count", "2", "--seed", "1", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["space"]["leg_inertia"] is True and manifest["space"]["torso_mass"] == [4.0, 4.0]
    assert all(body["params"]["torso_mass"] == 4.0 for body in manifest["bodies"])
    result = run_cli(
        "generate", "--space", "quadruped", "--space-set", "torso_mass=heavy", "--out", str(tmp_path / "x")
    )
    assert result.returncode == 2 and "--space-set torso_mass=heavy: 'heavy' is not a number" in result.stderr
