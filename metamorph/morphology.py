"""Robot descriptions (MJCF or URDF), compiled by MuJoCo and read as a kinematic tree.

`load_morphology` is the one way a body enters metamorph. It

1. checks the file (size, well-formed XML, MJCF or URDF),
2. lets MuJoCo's compiler read it, so masses and inertias are the compiler's for both formats,
3. normalises it to what the policy controls: one robot with a root body, torque motors with
   control range [-1, 1] whose gear is the joint's torque limit, no scenery (floors, props,
   lights are the task's business), no keyframes (a standing keyframe becomes the start pose),
4. builds a `networkx.DiGraph` over the robot's bodies, rooted at the floating base.

Decisions a user may trip over, each enforced with a one-line error naming file and element:

- A URDF gets a free root joint unless ``fixed_base=True`` (arms). An MJCF keeps the root its file
  gives it: free, planar (unactuated slide/hinge joints on the root body) or fixed.
- Motors keep their strength: gear × |ctrlrange| (capped by forcerange and the joint's
  actuatorfrcrange) becomes the gear of a motor with ctrlrange [-1, 1]. A motor without any
  control range is read as acting on [-1, 1].
- Position and velocity servos are converted to motors when they declare a forcerange (that is
  their torque limit) and rejected otherwise: without it the torque limit is unknown.
- Muscles, tendon/site transmissions, ball joints and free joints below the root are rejected.
- The body starts in its *standing pose*: the joint positions of a keyframe named ``home``,
  ``stand`` or ``standing`` when the file has one (MuJoCo Menagerie's robots do), else the joints'
  defaults; either way each limited joint is clamped into its range (a default of 0 outside a
  knee's range would start the robot folded beyond its limits). ``Morphology.standing_qpos``.
- A torque-limited motor on a joint without a range is accepted: the joint is *continuous*
  (a wheel, a rotor); the tokenizer gives it its own part kind.
- URDF joints get a motor each, with the ``<limit effort>`` as gear; a joint without an effort
  limit is an error unless ``LoadOptions.default_effort`` is set.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import mujoco
import networkx as nx
import numpy as np

from metamorph.errors import MorphologyError

BaseKind = Literal["free", "planar", "fixed"]

_JOINT_TYPE_NAMES = {
    mujoco.mjtJoint.mjJNT_FREE: "free",
    mujoco.mjtJoint.mjJNT_BALL: "ball",
    mujoco.mjtJoint.mjJNT_SLIDE: "slide",
    mujoco.mjtJoint.mjJNT_HINGE: "hinge",
}
_GEOM_TYPE_NAMES = {
    mujoco.mjtGeom.mjGEOM_PLANE: "plane",
    mujoco.mjtGeom.mjGEOM_HFIELD: "hfield",
    mujoco.mjtGeom.mjGEOM_SPHERE: "sphere",
    mujoco.mjtGeom.mjGEOM_CAPSULE: "capsule",
    mujoco.mjtGeom.mjGEOM_ELLIPSOID: "ellipsoid",
    mujoco.mjtGeom.mjGEOM_CYLINDER: "cylinder",
    mujoco.mjtGeom.mjGEOM_BOX: "box",
    mujoco.mjtGeom.mjGEOM_MESH: "mesh",
    mujoco.mjtGeom.mjGEOM_SDF: "sdf",
}


def joint_type_name(model: mujoco.MjModel, joint_id: int) -> str:
    return _JOINT_TYPE_NAMES[mujoco.mjtJoint(int(model.jnt_type[joint_id]))]


def geom_type_name(model: mujoco.MjModel, geom_id: int) -> str:
    return _GEOM_TYPE_NAMES.get(mujoco.mjtGeom(int(model.geom_type[geom_id])), "other")


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How a robot description is read."""

    fixed_base: bool | None = None
    """Weld the root body to the world (arms). None: a URDF gets a free root, an MJCF keeps its own."""
    default_effort: float | None = None
    """Torque limit for URDF joints that declare no effort limit; None makes such a joint an error."""
    max_file_bytes: int = 8 * 2**20
    """Larger files are refused before parsing (a guard against pointing at the wrong file)."""


@dataclasses.dataclass(frozen=True)
class Morphology:
    """One robot: its normalised MuJoCo spec, the compiled model and its kinematic tree.

    The tree's nodes are MuJoCo body ids of the robot (world excluded), edges point from parent
    to child, and node attributes hold ``name`` and ``joints`` (ids of the body's hinge and slide
    joints, the root's unactuated base joints excluded). Children of a body have increasing ids,
    which is the order they appear in the file.
    """

    name: str
    source: Path | None
    spec: mujoco.MjSpec
    model: mujoco.MjModel
    tree: nx.DiGraph
    root_body: int
    base: BaseKind
    base_joints: tuple[int, ...]
    """Unactuated joints of the root body (a free joint, or the slides/hinges of a planar root)."""
    joint_actuator: dict[int, int]
    """Joint id -> id of the motor that drives it."""
    notes: tuple[str, ...] = ()
    """What normalisation changed, for the user to read (converted actuators, removed scenery)."""
    standing_qpos: np.ndarray | None = dataclasses.field(default=None, compare=False)  # arrays: no == or hash
    """Joint positions of the start pose, laid out as ``model.qpos`` (base joints as in qpos0);
    None means ``model.qpos0``."""
    fall_height: float | None = dataclasses.field(default=None, compare=False)
    """The robot's own fall rule, when its source gives one: the episode ends when the torso is lower
    than this above the ground (m); 0 never ends it. None: the task's rule (a fraction of the start
    height). Set for the curated real robots from their source environments (`real_robots.json`)."""

    @property
    def label(self) -> str:
        """How errors name this body: its file, or its model name when it came from a string."""
        return str(self.source) if self.source is not None else self.name

    def bodies_preorder(self) -> Iterator[int]:
        """Robot bodies in depth-first pre-order, children in file order."""
        return nx.dfs_preorder_nodes(self.tree, self.root_body, sort_neighbors=sorted)

    def joint_ids(self) -> list[int]:
        """The robot's hinge and slide joints in depth-first order (base joints excluded)."""
        return [j for b in self.bodies_preorder() for j in self.tree.nodes[b]["joints"]]

    @property
    def num_actuators(self) -> int:
        return int(self.model.nu)

    def summary(self) -> dict:
        """A JSON-ready description of the tree: bodies, joints with type/axis/range, motors."""
        m = self.model

        def body_entry(b: int) -> dict:
            joints = []
            for j in self.tree.nodes[b]["joints"]:
                act = self.joint_actuator.get(j)
                joints.append(
                    {
                        "name": m.joint(j).name,
                        "type": joint_type_name(m, j),
                        "axis": [round(float(v), 6) for v in m.jnt_axis[j]],
                        "range": [float(v) for v in m.jnt_range[j]] if m.jnt_limited[j] else None,
                        "actuator": None
                        if act is None
                        else {"name": m.actuator(act).name, "gear": float(m.actuator_gear[act, 0])},
                    }
                )
            return {
                "name": m.body(b).name,
                "mass": float(m.body_mass[b]),
                "joints": joints,
                "children": [body_entry(c) for c in sorted(self.tree.successors(b))],
            }

        return {
            "name": self.name,
            "source": None if self.source is None else str(self.source),
            "base": self.base,
            "num_bodies": self.tree.number_of_nodes(),
            "num_joints": len(self.joint_ids()),
            "num_actuators": self.num_actuators,
            "total_mass": float(sum(m.body_mass[b] for b in self.tree.nodes)),
            "tree": body_entry(self.root_body),
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------
# Loading


def load_morphology(path: str | Path, options: LoadOptions = LoadOptions()) -> Morphology:
    """Load an MJCF (``.xml``) or URDF (``.urdf``) file as a normalised `Morphology`."""
    path = Path(path)
    if not path.is_file():
        raise MorphologyError(path, "no such file")
    size = path.stat().st_size
    if size > options.max_file_bytes:
        raise MorphologyError(
            path, f"file is {size} bytes, over the {options.max_file_bytes}-byte limit (LoadOptions.max_file_bytes)"
        )
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise MorphologyError(path, f"not a text file ({exc.reason})") from None
    return _load(text, path, options, from_file=True)


def morphology_from_xml(
    xml: str, name: str = "<string>", options: LoadOptions = LoadOptions(), base_dir: Path | None = None
) -> Morphology:
    """Load a robot from MJCF or URDF text (files it references resolve against ``base_dir``)."""
    source = (base_dir / name) if base_dir is not None else None
    return _load(xml, source, options, label=name)


def _load(
    text: str, source: Path | None, options: LoadOptions, label: str | None = None, from_file: bool = False
) -> Morphology:
    where = source if source is not None else label
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise MorphologyError(where, f"malformed XML at line {line}, column {col}: {_parse_reason(exc)}") from None

    if root.tag == "robot":
        base_dir = source.parent if source is not None else Path.cwd()
        spec, efforts = _urdf_spec(root, where, base_dir)
        fixed_base = bool(options.fixed_base)
        is_urdf = True
    elif root.tag == "mujoco":
        spec = _mjcf_spec(text, source, where, from_file)
        efforts = {}
        fixed_base = options.fixed_base
        is_urdf = False
    else:
        raise MorphologyError(where, f"root element <{root.tag}> is neither <mujoco> (MJCF) nor <robot> (URDF)")

    name = source.stem if source is not None else (label or spec.modelname or "robot")
    notes: list[str] = []
    _strip_visual_assets(spec)
    model = _compile(spec, where)
    _check_finite(model, where)
    root_in_source, root_spec = _robot_root(model, spec, where, notes)
    _check_joints(model, root_in_source, where)
    _set_base(spec, root_spec, fixed_base, add_free_root=is_urdf and not fixed_base, notes=notes)
    standing = _standing_keyframe(model, notes)
    for key in list(spec.keys):  # keyframes describe the unnormalised model
        spec.delete(key)
    # Actuator and joint ids of the first compile still hold: only scenery and root joints changed.
    _normalise_actuators(spec, model, where, notes)
    if is_urdf:
        _add_urdf_motors(spec, model, efforts, options.default_effort, where)
    model = _compile(spec, where)
    root_body = next(b for b in range(1, model.nbody) if model.body_parentid[b] == 0)
    if model.nu == 0:
        raise MorphologyError(where, "no actuated joint: the robot has no motor, so a policy cannot move it")

    base_joints, base = root_base(model, root_body)
    tree = _build_tree(model, root_body, base_joints)
    joint_actuator = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)}
    standing_qpos = _standing_qpos(model, tree, standing, notes)
    return Morphology(
        name=name,
        source=source,
        spec=spec,
        model=model,
        tree=tree,
        root_body=root_body,
        base=base,
        base_joints=base_joints,
        joint_actuator=joint_actuator,
        notes=tuple(notes),
        standing_qpos=standing_qpos,
    )


STANDING_KEYFRAMES = ("home", "stand", "standing")
"""Keyframe names read as the robot's standing pose, in this order of preference."""


def _standing_keyframe(model: mujoco.MjModel, notes: list[str]) -> dict[str, float]:
    """Hinge and slide positions (by joint name) of the file's standing keyframe, if it has one."""
    names = {model.key(k).name: k for k in range(model.nkey)}
    chosen = next((name for name in STANDING_KEYFRAMES if name in names), None)
    if chosen is None:
        return {}
    qpos = model.key_qpos[names[chosen]]
    pose = {}
    for j in range(model.njnt):
        if joint_type_name(model, j) in ("hinge", "slide") and model.joint(j).name:
            pose[model.joint(j).name] = float(qpos[model.jnt_qposadr[j]])
    notes.append(f"starts in the pose of keyframe '{chosen}'")
    return pose


def _standing_qpos(model: mujoco.MjModel, tree: nx.DiGraph, keyframe: dict[str, float], notes: list[str]) -> np.ndarray:
    """qpos0 with the robot's joints set to the keyframe's positions and clamped into their ranges."""
    qpos = model.qpos0.copy()
    clamped = []
    for body in tree.nodes:
        for j in tree.nodes[body]["joints"]:
            name = model.joint(j).name
            adr = model.jnt_qposadr[j]
            value = keyframe.get(name, qpos[adr])
            if model.jnt_limited[j]:
                lo, hi = model.jnt_range[j]
                if not lo <= value <= hi:
                    clamped.append(f"'{name or j}' {value:g} to {min(max(value, lo), hi):g}")
                    value = min(max(value, lo), hi)
            qpos[adr] = value
    if clamped:
        notes.append("start positions clamped into joint ranges: " + ", ".join(clamped))
    return qpos


def floor_clearance_height(model: mujoco.MjModel, root_body: int, qpos: np.ndarray | None = None) -> float:
    """Height to lift the root by so the body's lowest geom point touches z = 0 at rest, in the pose
    ``qpos`` (default ``model.qpos0``)."""
    data = mujoco.MjData(model)
    if qpos is not None:
        data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    lowest = np.inf
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == 0:
            continue
        rot = data.geom_xmat[g].reshape(3, 3)
        center = data.geom_xpos[g] + rot @ model.geom_aabb[g, :3]
        lowest = min(lowest, center[2] - np.abs(rot[2]) @ model.geom_aabb[g, 3:])
    return float(data.xpos[root_body, 2] - lowest)


START_CLEARANCE = 0.002
"""Every body starts with its lowest point this far above the ground (m), whatever its file says."""


def _parse_reason(exc: ET.ParseError) -> str:
    # ElementTree puts ": line N, column M" at the end of its message; we report position ourselves.
    return str(exc).split(": line")[0]


def _mujoco_message(exc: Exception) -> str:
    """MuJoCo's compiler errors are several lines with 'Error:' prefixes: make them one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    cleaned = []
    for ln in lines:
        for prefix in ("XML Error: ", "Error: "):
            while ln.startswith(prefix):
                ln = ln[len(prefix) :]
        cleaned.append(ln)
    return "; ".join(cleaned) or type(exc).__name__


def _compile(spec: mujoco.MjSpec, where) -> mujoco.MjModel:
    try:
        return spec.compile()
    except ValueError as exc:
        message = _mujoco_message(exc)
        if "Error opening file" in message:
            message = "missing file: " + message
        raise MorphologyError(where, f"MuJoCo cannot compile it: {message}") from None


def _mjcf_spec(text: str, source: Path | None, where, from_file: bool) -> mujoco.MjSpec:
    try:
        if from_file:
            # from_file resolves <include>, meshdir and texturedir against the file's folder.
            return mujoco.MjSpec.from_file(str(source))
        spec = mujoco.MjSpec.from_string(text)
        if source is not None:
            spec.modelfiledir = str(source.parent)  # relative mesh files resolve beside the named file
        return spec
    except ValueError as exc:
        raise MorphologyError(where, f"MuJoCo cannot read it: {_mujoco_message(exc)}") from None


def _urdf_spec(robot: ET.Element, where, base_dir: Path) -> tuple[mujoco.MjSpec, dict[str, float]]:
    """Parse a URDF with MuJoCo after resolving its collision meshes; returns effort limits too."""
    for link in robot.iter("link"):
        for visual in link.findall("visual"):  # the policy never sees visuals; their meshes need not exist
            link.remove(visual)
        for mesh in link.iter("mesh"):
            filename = mesh.get("filename", "")
            resolved = _resolve_mesh(filename, base_dir)
            if resolved is None:
                raise MorphologyError(
                    where, f"link '{link.get('name')}': mesh file '{filename}' not found (looked under {base_dir})"
                )
            mesh.set("filename", str(resolved))
    efforts = {}
    for joint in robot.iter("joint"):
        limit = joint.find("limit")
        if limit is not None and limit.get("effort") is not None:
            try:
                efforts[joint.get("name", "")] = float(limit.get("effort"))
            except ValueError:
                raise MorphologyError(
                    where, f"joint '{joint.get('name')}': effort '{limit.get('effort')}' is not a number"
                ) from None
    try:
        spec = mujoco.MjSpec.from_string(ET.tostring(robot, encoding="unicode"))
    except ValueError as exc:
        raise MorphologyError(where, f"MuJoCo cannot read it: {_mujoco_message(exc)}") from None
    spec.compiler.fusestatic = False  # keep every link; the tokenizer merges jointless ones itself
    spec.compiler.balanceinertia = True  # URDF inertias often break the triangle inequality slightly
    return spec, efforts


def _resolve_mesh(filename: str, base_dir: Path) -> Path | None:
    if filename.startswith("file://"):
        candidates = [Path(filename[len("file://") :])]
    elif filename.startswith("package://"):
        package, _, rel = filename[len("package://") :].partition("/")
        # ROS packages: the URDF usually sits in <package>/urdf/, meshes in <package>/meshes/.
        candidates = [base_dir / rel, base_dir.parent / rel]
        candidates += [p / rel for p in [base_dir, *base_dir.parents] if p.name == package]
    else:
        candidates = [base_dir / filename]
    return next((c.resolve() for c in candidates if c.is_file()), None)


# ----------------------------------------------------------------------------------------------
# Normalisation


def _subtree(model: mujoco.MjModel, body: int) -> list[int]:
    return [b for b in range(model.nbody) if _is_descendant(model, b, body)]


def _is_descendant(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body != ancestor and body != 0:
        body = int(model.body_parentid[body])
    return body == ancestor


def _robot_root(model: mujoco.MjModel, spec: mujoco.MjSpec, where, notes: list[str]) -> tuple[int, mujoco.MjsBody]:
    """The one top-level body whose subtree moves; scenery beside it is removed from the spec.

    Returns the root's id in ``model`` and its spec element; after the removal it is the world's
    only child.
    """
    top = [b for b in range(1, model.nbody) if model.body_parentid[b] == 0]
    moving = [b for b in top if any(model.body_jntnum[d] > 0 for d in _subtree(model, b))]
    # the robot is what its motors drive; a free ball or box beside it is a prop (dm_control's quadruped)
    joint_transmissions = (mujoco.mjtTrn.mjTRN_JOINT, mujoco.mjtTrn.mjTRN_JOINTINPARENT)
    driven = {int(model.jnt_bodyid[model.actuator_trnid[a, 0]]) for a in range(model.nu)
              if int(model.actuator_trntype[a]) in joint_transmissions}  # fmt: skip
    robots = [b for b in moving if any(d in driven for d in _subtree(model, b))] or moving
    if not top:
        raise MorphologyError(where, "no body in <worldbody>: nothing to control")
    if not robots:
        # A jointless single body (e.g. a URDF of one link) is still a robot once it gets a free root.
        if len(top) == 1:
            return top[0], spec.bodies[top[0]]
        raise MorphologyError(where, "no joint anywhere: nothing can move")
    if len(robots) > 1:
        names = ", ".join(f"'{model.body(b).name}'" for b in robots)
        raise MorphologyError(
            where, f"{len(robots)} separate robots at the top level ({names}): a file must hold one robot"
        )
    root = robots[0]
    root_spec = spec.bodies[root]
    scenery = [spec.bodies[b] for b in top if b != root]  # handles first: deleting shifts ids
    for body in scenery:
        notes.append(f"removed scenery body '{body.name}' (not driven by a motor)")
        spec.delete(body)
    world_geoms = list(spec.worldbody.geoms)
    for geom in world_geoms:
        spec.delete(geom)
    if world_geoms:
        notes.append(f"removed {len(world_geoms)} world geom(s) (floors are added by the task)")
    return root, root_spec


def _check_joints(model: mujoco.MjModel, root_body: int, where) -> None:
    for j in range(model.njnt):
        body = int(model.jnt_bodyid[j])
        if not _is_descendant(model, body, root_body):
            continue  # a prop beside the robot, removed with the scenery
        kind = joint_type_name(model, j)
        if kind == "ball":
            raise MorphologyError(
                where,
                f"joint '{model.joint(j).name}' in body '{model.body(body).name}' is a ball joint; "
                "model it as up to three hinge joints (one token per degree of freedom)",
            )
        if kind == "free" and body != root_body:
            raise MorphologyError(
                where, f"joint '{model.joint(j).name}' in body '{model.body(body).name}' is a free joint below the root"
            )
        low, high = (float(v) for v in model.jnt_range[j])
        if kind in ("hinge", "slide") and low > high:
            # MuJoCo reads an inverted range as no range at all: the joint would pass for a continuous one.
            raise MorphologyError(
                where,
                f"joint '{model.joint(j).name}' in body '{model.body(body).name}' has an inverted range "
                f"({low:g} > {high:g}): the lower limit must come first",
            )


# Compiled-model arrays checked for inf and NaN, by the element kind that owns a row of them. MuJoCo
# accepts mass="inf" or a nan size and compiles them; the tokenizer and physics then turn them into
# nan features and diverging simulations far from the file that caused them.
_FINITE_FIELDS = {
    "body": ("pos", "quat", "ipos", "iquat", "mass", "inertia"),
    "jnt": ("pos", "axis", "range", "stiffness", "margin"),
    "dof": ("damping", "armature", "frictionloss"),
    "geom": ("size", "pos", "quat", "friction", "margin", "gap", "rbound"),
    "site": ("size", "pos", "quat"),
    "actuator": ("gear", "ctrlrange", "forcerange", "gainprm", "biasprm"),
}
_FIELD_OWNER = {"body": "body", "jnt": "joint", "dof": "joint", "geom": "geom", "site": "site", "actuator": "actuator"}


def _check_finite(model: mujoco.MjModel, where) -> None:
    """Refuse a model with a non-finite number anywhere the robot's elements are described."""
    for prefix, fields in _FINITE_FIELDS.items():
        for field in fields:
            rows = model.nv if prefix == "dof" else getattr(model, f"n{prefix}")
            if rows == 0:
                continue
            values = getattr(model, f"{prefix}_{field}").reshape(rows, -1)
            bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
            if bad.size == 0:
                continue
            row = int(bad[0])
            owner = _FIELD_OWNER[prefix]
            index = int(model.dof_jntid[row]) if prefix == "dof" else row
            name = getattr(model, owner)(index).name or f"#{index}"
            shown = ", ".join(f"{float(v):g}" for v in values[row])
            raise MorphologyError(where, f"{owner} '{name}': {field} is not finite ({shown})")


def _strip_visual_assets(spec: mujoco.MjSpec) -> None:
    """Drop textures: they cost most of the compile time (skyboxes, checker floors) and the policy
    never sees them. Materials keep their colours for rendering."""
    for material in spec.materials:
        material.textures = [""] * len(material.textures)
    for texture in list(spec.textures):
        spec.delete(texture)


def _set_base(spec, body_spec, fixed_base: bool | None, add_free_root: bool, notes: list[str]) -> None:
    free = [j for j in body_spec.joints if j.type == mujoco.mjtJoint.mjJNT_FREE]
    if add_free_root and not free:
        body_spec.add_freejoint()
    if fixed_base and free:
        for j in free:
            spec.delete(j)
        notes.append("removed the root's free joint (fixed base)")


def root_base(model: mujoco.MjModel, root_body: int) -> tuple[tuple[int, ...], BaseKind]:
    """The root body's unactuated joints and the base they make: free, planar or fixed."""
    actuated = {int(model.actuator_trnid[a, 0]) for a in range(model.nu)}
    start, num = int(model.body_jntadr[root_body]), int(model.body_jntnum[root_body])
    joints = tuple(j for j in range(start, start + num) if j not in actuated) if num > 0 else ()
    if any(model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE for j in joints):
        return joints, "free"
    return joints, ("planar" if joints else "fixed")


def _torque_limit(model: mujoco.MjModel, a: int, joint: int) -> float | None:
    """Largest torque an actuator can apply, or None when nothing bounds it."""
    limits = []
    if model.actuator_forcelimited[a]:
        limits.append(float(np.max(np.abs(model.actuator_forcerange[a]))))
    if model.jnt_actfrclimited[joint]:
        limits.append(float(np.max(np.abs(model.jnt_actfrcrange[joint]))))
    return min(limits) if limits else None


def _normalise_actuators(spec, model: mujoco.MjModel, where, notes: list[str]) -> None:
    """Turn every actuator into a motor with ctrlrange [-1, 1] and gear = torque limit."""
    driven: dict[int, str] = {}
    for a in range(model.nu):
        name = model.actuator(a).name or f"#{a}"
        trn = mujoco.mjtTrn(int(model.actuator_trntype[a]))
        if trn not in (mujoco.mjtTrn.mjTRN_JOINT, mujoco.mjtTrn.mjTRN_JOINTINPARENT):
            kind = trn.name.removeprefix("mjTRN_").lower()
            raise MorphologyError(where, f"actuator '{name}' drives a {kind}; only joint actuators are supported")
        j = int(model.actuator_trnid[a, 0])
        jname = model.joint(j).name or f"#{j}"
        if joint_type_name(model, j) not in ("hinge", "slide"):
            raise MorphologyError(where, f"actuator '{name}' drives the {joint_type_name(model, j)} joint '{jname}'")
        if j in driven:
            raise MorphologyError(where, f"joint '{jname}' is driven by two actuators ('{driven[j]}' and '{name}')")
        driven[j] = name

        gain = mujoco.mjtGain(int(model.actuator_gaintype[a]))
        bias = mujoco.mjtBias(int(model.actuator_biastype[a]))
        dyn = mujoco.mjtDyn(int(model.actuator_dyntype[a]))
        gear = float(model.actuator_gear[a, 0])
        cap = _torque_limit(model, a, j)
        if (
            dyn == mujoco.mjtDyn.mjDYN_NONE
            and gain == mujoco.mjtGain.mjGAIN_FIXED
            and bias == mujoco.mjtBias.mjBIAS_NONE
        ):
            scale = float(np.max(np.abs(model.actuator_ctrlrange[a]))) if model.actuator_ctrllimited[a] else 1.0
            strength = abs(gear * model.actuator_gainprm[a, 0]) * scale
            limit = strength if cap is None else min(strength, cap)
            if model.actuator_ctrllimited[a] and model.actuator_ctrlrange[a, 0] >= 0:
                notes.append(
                    f"motor '{name}' was one-sided (ctrlrange {list(model.actuator_ctrlrange[a])}); now [-1, 1]"
                )
        elif gain == mujoco.mjtGain.mjGAIN_FIXED and bias == mujoco.mjtBias.mjBIAS_AFFINE:
            kind = "position" if model.actuator_biasprm[a, 1] != 0 else "velocity"
            if cap is None:
                raise MorphologyError(
                    where,
                    f"{kind} actuator '{name}' on joint '{jname}' has no forcerange, so its torque limit is unknown; "
                    'add forcerange="-F F" to convert it to a torque motor',
                )
            limit = cap
            notes.append(f"converted {kind} actuator '{name}' to a motor with gear {limit:g}")
        else:
            raise MorphologyError(
                where,
                f"actuator '{name}' (gain {gain.name}, bias {bias.name}, dynamics {dyn.name}) "
                "cannot be read as a torque motor",
            )
        if not np.isfinite(limit) or limit <= 0:
            raise MorphologyError(where, f"actuator '{name}' on joint '{jname}' has zero torque (gear {gear:g})")
        _make_motor(spec.actuators[a], limit)


def _make_motor(act, gear: float) -> None:
    act.dyntype = mujoco.mjtDyn.mjDYN_NONE
    act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
    act.biastype = mujoco.mjtBias.mjBIAS_NONE
    act.gainprm = np.array([1.0] + [0.0] * (len(act.gainprm) - 1))
    act.biasprm = np.zeros(len(act.biasprm))
    act.gear = np.array([gear, 0, 0, 0, 0, 0], dtype=float)
    act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    act.ctrlrange = np.array([-1.0, 1.0])
    act.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE


def _add_urdf_motors(spec, model, efforts: dict[str, float], default_effort, where) -> None:
    """A URDF has no actuators: every hinge and slide joint gets a motor, its gear the effort limit."""
    for j in range(model.njnt):
        if joint_type_name(model, j) not in ("hinge", "slide") or int(model.jnt_bodyid[j]) == 0:
            continue
        name = model.joint(j).name
        effort = efforts.get(name, 0.0) or default_effort
        if not effort or effort <= 0:
            raise MorphologyError(
                where,
                f"joint '{name}' has no effort limit (<limit effort=...>), so its motor strength is unknown; "
                "add one or set LoadOptions.default_effort",
            )
        act = spec.add_actuator()
        act.name = name
        act.target = name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        _make_motor(act, float(effort))


# ----------------------------------------------------------------------------------------------
# Tree


def _build_tree(model: mujoco.MjModel, root_body: int, base_joints: tuple[int, ...]) -> nx.DiGraph:
    tree = nx.DiGraph()
    for b in _subtree(model, root_body):
        start, num = int(model.body_jntadr[b]), int(model.body_jntnum[b])
        joints = tuple(j for j in range(start, start + num) if j not in base_joints) if num > 0 else ()
        tree.add_node(b, name=model.body(b).name, joints=joints)
        if b != root_body:
            tree.add_edge(int(model.body_parentid[b]), b)
    return tree


def link_of(tree: nx.DiGraph, root_body: int) -> dict[int, int]:
    """Map every body to its *link*: the nearest ancestor-or-self that has a joint (or the root)."""
    link: dict[int, int] = {}
    for b in nx.dfs_preorder_nodes(tree, root_body, sort_neighbors=sorted):
        if b == root_body or tree.nodes[b]["joints"]:
            link[b] = b
        else:
            link[b] = link[next(iter(tree.predecessors(b)))]
    return link


def canonical_hash(morphology: Morphology, decimals: int = 5) -> str:
    """A hash equal for isomorphic trees with equal parameters, whatever the file's child order.

    Each body is labelled by its pose in its parent (the root's world placement excluded), its
    geoms, mass and joints (with their motors), rounded to ``decimals``; a node's hash combines its
    label with its children's hashes in sorted order (a canonical form for rooted trees).
    """
    import hashlib

    m = morphology.model

    def r(values) -> tuple:
        return tuple(round(float(v), decimals) + 0.0 for v in np.ravel(values))

    def label(b: int) -> tuple:
        pose = () if b == morphology.root_body else (r(m.body_pos[b]), r(m.body_quat[b]))
        geoms = tuple(
            (int(m.geom_type[g]), r(m.geom_size[g]), r(m.geom_pos[g]), r(m.geom_quat[g]))
            for g in range(m.body_geomadr[b], m.body_geomadr[b] + m.body_geomnum[b])
        )
        joints = tuple(
            (
                int(m.jnt_type[j]),
                r(m.jnt_axis[j]),
                r(m.jnt_pos[j]),
                r(m.jnt_range[j]) if m.jnt_limited[j] else (),
                r(m.dof_damping[m.jnt_dofadr[j]]),
                r(m.dof_armature[m.jnt_dofadr[j]]),
                r(m.jnt_stiffness[j]),
                r(m.actuator_gear[morphology.joint_actuator[j], 0]) if j in morphology.joint_actuator else (),
            )
            for j in morphology.tree.nodes[b]["joints"]
        )
        return (pose, geoms, r(m.body_mass[b]), joints, morphology.base if b == morphology.root_body else "")

    def node_hash(b: int) -> str:
        children = sorted(node_hash(c) for c in morphology.tree.successors(b))
        return hashlib.sha256(repr((label(b), children)).encode()).hexdigest()

    return node_hash(morphology.root_body)[:16]
