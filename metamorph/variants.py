"""Perturbed copies of existing bodies: dynamics, kinematics and joint-sign variants.

As in the UNIMAL benchmark's transfer sets, a *dynamics* variant changes how a body moves but not
its shape (density, joint damping and armature, motor gear); a *kinematics* variant changes its
shape but not its materials or motors (limb lengths, joint ranges, the angle a limb is attached
at). Limbs listed as mirror pairs in the body's metadata (``symmetric_limbs``) get the same
perturbation, mirrored, so symmetric bodies stay symmetric; the limbs of a body on a planar base
(a hopper's or a cheetah's) are re-attached by a turn within its plane, so it stays planar. A
*signs* variant changes no physics at all: each joint's axis and range are negated with
probability ½ (independently, mirror twins too), so only which way a positive action turns the
joint changes — a probe of whether a policy reads a joint's axis or relies on the convention of
the bodies it trained on. A *canonical-signs* copy negates joints by a rule instead
(`canonical_joint_signs`), so that any two sign conventions of one body give the same file: one
convention for every body set. A *mirror* copy is the body reflected front to back (x to -x in
the world frame, about the root's origin): the same parts, masses and motors, and for every motion
of the source the mirrored motion, so a gait that carries the source forward carries its mirror
backward. Trained beside its mirror, a policy cannot earn by shaking a body and letting its shape
choose the direction; it has to read which way the body faces.

Variants work on any MJCF whose limbs are ``fromto`` capsules or cylinders (UNIMAL files and
generated bodies are); each variant must pass the same validity test as generated bodies.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path
from typing import Literal, get_args

import mujoco
import numpy as np

from metamorph.errors import MetamorphError, MorphologyError
from metamorph.files import atomic_folder
from metamorph.generate import (
    Rejected,
    Validity,
    _write_split,
    body_files,
    check_body,
)
from metamorph.morphology import canonical_hash, floor_clearance_height, morphology_from_xml, root_base

VariantKind = Literal["dynamics", "kinematics", "signs", "canonical-signs", "mirror"]
DRAWS_NOTHING = ("canonical-signs", "mirror")
VARIANT_KINDS: tuple[str, ...] = get_args(VariantKind)


@dataclasses.dataclass(frozen=True)
class VariantConfig:
    """Ranges of the multiplicative factors (and angles) a variant draws, uniformly."""

    density_scale: tuple[float, float] = (0.75, 1.25)
    damping_scale: tuple[float, float] = (0.5, 1.5)
    armature_scale: tuple[float, float] = (0.5, 1.5)
    gear_scale: tuple[float, float] = (0.75, 1.25)
    length_scale: tuple[float, float] = (0.8, 1.2)
    range_scale: tuple[float, float] = (0.75, 1.25)
    attach_angle_deg: tuple[float, float] = (-15.0, 15.0)


def _limb_index(name: str) -> int | None:
    head, _, tail = name.rpartition("/")
    return int(tail) if head == "limb" and tail.isdigit() else None


class _Draws:
    """Random factors keyed by limb, shared between a limb and its mirror twin."""

    def __init__(self, rng: np.random.Generator, pairs: list[list[int]]):
        self.rng = rng
        self.twin = {a: min(a, b) for a, b in pairs} | {b: min(a, b) for a, b in pairs}
        self.values: dict[tuple, float] = {}

    def factor(self, what: str, owner: str, bounds: tuple[float, float], slot: int = 0) -> float:
        limb = _limb_index(owner)
        key = (what, self.twin.get(limb, limb) if limb is not None else owner, slot)
        if key not in self.values:
            self.values[key] = float(self.rng.uniform(*bounds))
        return self.values[key]

    def is_mirror_copy(self, owner: str) -> bool:
        limb = _limb_index(owner)
        return limb is not None and self.twin.get(limb, limb) != limb


def _owner_body(element) -> str:
    return element.parent.name


def _perturb_dynamics(spec: mujoco.MjSpec, draws: _Draws, config: VariantConfig) -> None:
    for geom in spec.geoms:
        body = _owner_body(geom)
        if not body:
            continue
        scale = draws.factor("density", body, config.density_scale)
        if not math.isnan(geom.mass):
            geom.mass *= scale
        else:
            geom.density *= scale
    for body in spec.bodies[1:]:
        if body.explicitinertial:
            body.mass *= draws.factor("density", body.name, config.density_scale)
            body.inertia = body.inertia * draws.factor("density", body.name, config.density_scale)
    for joint in spec.joints:
        if joint.type == mujoco.mjtJoint.mjJNT_FREE:
            continue
        # each joint of a limb draws its own factors; mirror twins share them by joint order
        body = _owner_body(joint)
        slot = [j.name for j in joint.parent.joints].index(joint.name)
        joint.damping = joint.damping * draws.factor("damping", body, config.damping_scale, slot)
        joint.armature = joint.armature * draws.factor("armature", body, config.armature_scale, slot)
    joint_body = {j.name: (_owner_body(j), [x.name for x in j.parent.joints].index(j.name)) for j in spec.joints}
    for actuator in spec.actuators:
        body, slot = joint_body.get(actuator.target, (actuator.target, 0))
        actuator.gear = actuator.gear * draws.factor("gear", body, config.gear_scale, slot)


def _rotation_quat(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


def _plane_normals(spec: mujoco.MjSpec) -> np.ndarray | None:
    """For a body on a planar base (unactuated hinge and slides on its root, no free joint): the
    normal of its plane (the root hinge's axis) in each body's parent frame [nbody, 3], indexed as
    ``spec.bodies``. ``None`` for free and fixed bases."""
    model = spec.compile()
    joints, base = root_base(model, 1)  # body 1: the world's first child
    hinges = [j for j in joints if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    if base != "planar" or not hinges:
        return None
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    normal = data.xaxis[hinges[0]]
    parent_frames = data.xmat[model.body_parentid].reshape(-1, 3, 3)
    return np.einsum("bji,j->bi", parent_frames, normal)  # each parent frame's transpose times the normal


def _perturb_kinematics(spec: mujoco.MjSpec, draws: _Draws, config: VariantConfig, source: Path) -> None:
    plane_normals = _plane_normals(spec)
    root = spec.worldbody.first_body()
    for index, body in enumerate(spec.bodies[1:], start=1):
        if body.name == root.name:
            continue
        limb_geoms = [
            g
            for g in body.geoms
            if g.type in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER) and not math.isnan(g.fromto[0])
        ]
        if not limb_geoms:
            raise MetamorphError(
                f"{source}: body '{body.name}' has no fromto capsule or cylinder, so its length cannot be varied"
            )
        if body.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT:
            raise MetamorphError(
                f"{source}: body '{body.name}' is oriented by euler/axisangle; kinematics variants need quat"
            )
        geom = limb_geoms[0]
        start, end = np.array(geom.fromto[:3]), np.array(geom.fromto[3:])
        axis = (end - start) / np.linalg.norm(end - start)
        scale = draws.factor("length", body.name, config.length_scale)

        def stretch(point: np.ndarray, start=start, axis=axis, scale=scale) -> np.ndarray:
            along = float((point - start) @ axis)
            return point + (scale - 1.0) * max(along, 0.0) * axis

        for g in body.geoms:
            if not math.isnan(g.fromto[0]):
                g.fromto = np.concatenate([stretch(np.array(g.fromto[:3])), stretch(np.array(g.fromto[3:]))])
            else:
                g.pos = stretch(np.array(g.pos))
        for site in body.sites:
            if not math.isnan(site.fromto[0]):
                site.fromto = np.concatenate([stretch(np.array(site.fromto[:3])), stretch(np.array(site.fromto[3:]))])
            else:
                site.pos = stretch(np.array(site.pos))
        for child in body.bodies:
            child.pos = stretch(np.array(child.pos))
        for slot, joint in enumerate(body.joints):
            joint.range = joint.range * draws.factor("range", body.name, config.range_scale, slot)

        # re-attach at a slightly different angle: a rotation about an axis perpendicular to the limb
        angle = math.radians(draws.factor("attach_angle", body.name, config.attach_angle_deg))
        if plane_normals is not None:  # a planar body's limbs turn in its plane only
            turn_axis = plane_normals[index]
        else:
            heading = draws.factor("attach_heading", body.name, (0.0, 2 * math.pi))
            helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
            first = np.cross(axis, helper)
            first /= np.linalg.norm(first)
            second = np.cross(axis, first)
            turn_axis = math.cos(heading) * first + math.sin(heading) * second
            if draws.is_mirror_copy(body.name):
                turn_axis = np.array([-turn_axis[0], turn_axis[1], -turn_axis[2]])  # mirrored rotation
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, _rotation_quat(turn_axis, angle), np.array(body.quat, float))
        body.quat = quat


def canonical_joint_signs(model: mujoco.MjModel) -> np.ndarray:
    """Per joint, +1 or -1: the sign that makes a positive turn of each hinge move what hangs from it
    (its subtree's centre of mass, at rest) mainly up; or, where the motion is mostly horizontal,
    forwards (+x of the root body) or, mostly sideways, away from the root's xz plane. Other joints
    get +1. The rule turns with the axis, so a joint and its negation get opposite signs and every
    sign convention of a body ends in the same one; mirror twins get mirrored motions."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    root = 1
    to_root = data.xmat[root].reshape(3, 3).T  # world -> root frame
    signs = np.ones(model.njnt)
    for joint in range(model.njnt):
        if model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_HINGE:
            continue
        body = model.jnt_bodyid[joint]
        arm = to_root @ (data.subtree_com[body] - data.xanchor[joint])
        move = np.cross(to_root @ data.xaxis[joint], arm)
        if np.linalg.norm(move) < 1e-9:
            continue
        side = to_root @ (data.subtree_com[body] - data.xpos[root])
        # up, then forwards, then outwards; near-ties fall to that order
        scores = (abs(move[2]), abs(move[0]), abs(move[1]))
        pick = int(np.argmax(np.round(scores, 6)))
        if pick == 0:
            signs[joint] = np.sign(move[2])
        elif pick == 1:
            signs[joint] = np.sign(move[0])
        else:
            signs[joint] = np.sign(move[1]) * (np.sign(side[1]) or 1.0)
    return signs


def _negate_joints(spec: mujoco.MjSpec, negate: list[bool], source: Path) -> None:
    """The same joints turning the other way for a positive action: axis, range and reference
    positions negated (the physics is unchanged)."""
    if spec.keys:
        # a keyframe's qpos would have to be negated too; variants are for UNIMAL-layout body sets
        raise MetamorphError(f"{source}: has keyframes; sign variants of bodies with keyframes are not supported")
    for joint, flip in zip(spec.joints, negate, strict=True):
        if flip:
            joint.axis = -np.asarray(joint.axis)
            joint.range = -np.asarray(joint.range)[::-1]
            joint.ref, joint.springref = -joint.ref, -joint.springref


def _flip_joint_signs(spec: mujoco.MjSpec, draws: _Draws, source: Path) -> None:
    movable = (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)
    negate = [j.type in movable and draws.factor("flip", f"joint{slot}", (0.0, 1.0)) >= 0.5
              for slot, j in enumerate(spec.joints)]  # fmt: skip
    _negate_joints(spec, negate, source)


MIRROR = np.diag([-1.0, 1.0, 1.0])  # front to back: x -> -x


def _mirror_quat(quat) -> np.ndarray:
    """The orientation M R M of a rotation R under the reflection M = diag(-1, 1, 1): a turn about
    (x, y, z) by an angle becomes a turn about (x, -y, -z) by the same angle."""
    w, x, y, z = np.asarray(quat, float)
    return np.array([w, x, -y, -z])


def _mirror_frame(element, compiled_quat: np.ndarray) -> None:
    """Reflect an element's position and orientation (or its fromto segment) in its parent's frame.
    An orientation given another way (euler, axisangle, xyaxes, zaxis) is first replaced by the
    quaternion MuJoCo compiled it to."""
    if not math.isnan(getattr(element, "fromto", [math.nan])[0]):
        element.fromto = np.concatenate([MIRROR @ np.array(element.fromto[:3]), MIRROR @ np.array(element.fromto[3:])])
        return
    quat = element.quat
    if element.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT:
        element.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT
        quat = compiled_quat
    element.pos = MIRROR @ np.array(element.pos)
    element.quat = _mirror_quat(quat)


def _mirror(spec: mujoco.MjSpec, source: Path) -> None:
    """Reflect the body front to back. The root keeps its position (the body starts where its file
    puts it); every frame inside it is reflected. A hinge's axis is a pseudovector: reflected, it
    becomes -M axis, so a joint keeps its range and a positive action gives the mirrored motion; a
    slide's axis is an ordinary vector, M axis. The root's own joints must be unlimited (free, or a
    planar base's slides and hinge), so where the reflected axis only reverses (an axis along x, or
    across it) they keep theirs: a planar base's `rootx` still counts +x. What hangs on the world
    itself (a floor, a light, a camera) stays."""
    if spec.keys:
        raise MetamorphError(f"{source}: has keyframes; mirror copies of bodies with keyframes are not supported")
    model = spec.compile()
    for frame in spec.frames:  # a frame is a parent frame like a body's, so it is reflected alike
        if frame.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT:
            raise MetamorphError(f"{source}: frame '{frame.name}' is not oriented by quat; mirror copies need quat")
        frame.pos, frame.quat = MIRROR @ np.array(frame.pos), _mirror_quat(frame.quat)
    root = spec.worldbody.first_body()
    for joint in root.joints:
        if joint.type != mujoco.mjtJoint.mjJNT_FREE and joint.limited == mujoco.mjtLimited.mjLIMITED_TRUE:
            raise MetamorphError(f"{source}: root joint '{joint.name}' is limited; its mirror would need a new range")
    for body in spec.bodies[1:]:
        if body.name == root.name:  # its orientation only: it starts where its file puts it
            position = np.array(body.pos)
            _mirror_frame(body, model.body_quat[body.id])
            body.pos = position
        else:
            _mirror_frame(body, model.body_quat[body.id])
        if body.explicitinertial:
            body.ipos = MIRROR @ np.array(body.ipos)
            body.iquat = _mirror_quat(body.iquat)
            if not math.isnan(body.fullinertia[0]):  # M I M: the xy and xz products change sign
                body.fullinertia = np.array(body.fullinertia) * [1, 1, 1, -1, -1, 1]
        for geom in body.geoms:
            _mirror_frame(geom, model.geom_quat[geom.id])
        for site in body.sites:
            _mirror_frame(site, model.site_quat[site.id])
        for camera in body.cameras:
            _mirror_frame(camera, model.cam_quat[camera.id])
        for light in body.lights:
            light.pos, light.dir = MIRROR @ np.array(light.pos), MIRROR @ np.array(light.dir)
        for joint in body.joints:
            joint.pos = MIRROR @ np.array(joint.pos)
            axis = np.array(joint.axis)
            if joint.type == mujoco.mjtJoint.mjJNT_SLIDE:
                joint.axis = MIRROR @ axis
            elif joint.type == mujoco.mjtJoint.mjJNT_HINGE:
                joint.axis = -(MIRROR @ axis)
            elif joint.type == mujoco.mjtJoint.mjJNT_BALL:
                raise MetamorphError(f"{source}: ball joint '{joint.name}' cannot be mirrored (a quaternion qpos)")
            if body.name == root.name and np.allclose(np.array(joint.axis), -axis):
                joint.axis = axis  # the same line, and unlimited: keep which way its qpos counts


def make_variant(
    source: Path,
    kind: VariantKind,
    seed: int,
    index: int,
    config: VariantConfig = VariantConfig(),
    validity: Validity = Validity(),
) -> tuple[str, str, dict, dict, Counter]:
    """One valid variant of ``source``: (name, xml, metadata, manifest entry, rejections)."""
    if kind not in VARIANT_KINDS:
        raise MetamorphError(f"--kind must be one of {', '.join(VARIANT_KINDS)}, got '{kind}'")
    meta_path = source.parent.parent / "metadata" / f"{source.stem}.json"
    metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    pairs = metadata.get("symmetric_limbs", [])
    name = f"{source.stem}-{kind[:3]}{index:02d}"
    rejections: Counter = Counter()
    # sign and mirror variants draw nothing that changes the physics (a mirror only reflects it): if
    # one fails the checks, every attempt would
    keeps_physics = kind in ("signs", *DRAWS_NOTHING)
    for attempt in range(1 if keeps_physics else validity.max_attempts):
        try:
            spec = mujoco.MjSpec.from_file(str(source))
        except ValueError as exc:
            raise MorphologyError(source, f"MuJoCo cannot read it: {exc}") from None
        spec.modelname = name
        draws = _Draws(np.random.default_rng([seed, index, attempt]), pairs)
        if kind == "dynamics":
            _perturb_dynamics(spec, draws, config)
        elif kind == "signs":
            _flip_joint_signs(spec, draws, source)
        elif kind == "canonical-signs":
            _negate_joints(spec, list(canonical_joint_signs(spec.compile()) < 0), source)
        elif kind == "mirror":
            _mirror(spec, source)
        else:
            _perturb_kinematics(spec, draws, config, source)
            model = spec.compile()
            root = spec.worldbody.first_body()
            lift = floor_clearance_height(model, 1) + 0.002
            root.pos = np.array([root.pos[0], root.pos[1], max(float(root.pos[2]), lift)])
        xml = spec.to_xml()
        try:
            morphology = morphology_from_xml(xml, name=name, base_dir=source.parent)
            stats = check_body(morphology, validity)
        except Rejected as rejection:
            if keeps_physics:
                raise MetamorphError(
                    f"{source}: fails the validity check ({rejection}); {kind} variants keep its physics"
                    + (", mirrored" if kind == "mirror" else "")
                ) from None
            rejections[rejection.reason] += 1
            continue
        entry = {
            "name": name,
            "parent": source.stem,
            "kind": kind,
            **metadata,
            "total_mass": round(stats.total_mass, 6),
            "standing_height": round(stats.standing_height, 6),
            "num_tokens": stats.num_tokens,
            "tree_hash": canonical_hash(morphology),
            "attempt": attempt,
            "params": {
                "/".join(map(str, key)): round(value, 6) for key, value in sorted(draws.values.items(), key=str)
            },
        }
        return name, xml, metadata, entry, rejections
    raise MetamorphError(f"{source}: no valid {kind} variant in {validity.max_attempts} attempts ({dict(rejections)})")


def variant_sources(source: Path | str) -> list[Path]:
    """The bodies of a folder, or of a slice of it in file-name order (``FOLDER[:80]``, as in body
    specs), whose variants are to be made; an empty slice is a one-line error."""
    from metamorph.bodies import select, split_selection

    folder, selection = split_selection(str(source))
    return select(body_files(Path(folder)), selection, str(source), folder)


def write_variants(
    source_dir: Path | str,
    out: Path,
    kind: VariantKind,
    count: int,
    seed: int = 0,
    config: VariantConfig = VariantConfig(),
    validity: Validity = Validity(),
    progress=None,
) -> dict:
    """Write ``count`` variants of every body in ``source_dir`` as a UNIMAL-layout folder."""
    if count < 1:
        raise MetamorphError(f"--count must be at least 1, got {count}")
    if kind in DRAWS_NOTHING and count != 1:
        raise MetamorphError(f"--kind {kind} draws nothing: --count must be 1, got {count}")
    sources = variant_sources(source_dir)
    entries, rejections = [], Counter()
    with atomic_folder(out) as tmp:
        for s_index, source in enumerate(sources):
            for v in range(count):
                name, xml, metadata, entry, rejected = make_variant(
                    source, kind, seed * 1_000_003 + s_index, v, config, validity
                )
                rejections.update(rejected)
                entries.append((name, xml, metadata, entry))
                if progress:
                    progress(len(entries), len(sources) * count, sum(rejections.values()))
        header = {
            "generator": "metamorph generate --variants-of",
            "source": str(source_dir),
            "kind": kind,
            "count_per_body": count,
            "seed": seed,
            "config": dataclasses.asdict(config),
            "rejections": dict(sorted(rejections.items())),
        }
        _write_split(tmp, entries, header)
    return header
