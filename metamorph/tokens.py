"""Joint tokens: a body as a depth-first sequence of parts the transformer reads.

One token for the root body, then one per hinge or slide joint, in depth-first pre-order over the
bodies (children in file order) and, inside a body, in the order its joints are declared. A body
without a joint of its own is merged into its *link*, the nearest ancestor that has one: its
mass, inertia and geoms count towards that link. Joints that share a body form a chain: the
second joint's parent token is the first (MuJoCo applies a body's joints in order).

Each token has
- static features (`STATIC_FEATURES`): what the part is, in the parent link's frame at rest, so
  they do not change when the robot is moved or turned in the world. A link's geometry is read
  one of two ways (`LINK_GEOMETRIES`, the same columns, see `static_layout`): ``largest``, its
  largest geom's position, orientation and MuJoCo size; or ``shape``, the centroid and second
  moments of the volume of all its colliding geoms, which do not depend on how a file splits a
  link into primitives nor on which way a symmetric primitive's axis points;
- a part id from the `Vocabulary` (geom type × joint type × actuator type);
- proprioception (`PROPRIO_FEATURES`), computed from a MuJoCo state by `proprioception`.

`pad_tokens` pads a body's tokens to a fixed length with a token mask and an action mask: `VecEnv`
pads every body of a batch with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import mujoco
import numpy as np

from metamorph.errors import MetamorphError, MorphologyError
from metamorph.morphology import Morphology, geom_type_name, joint_type_name, link_of
from metamorph.vocabulary import DEFAULT_VOCABULARY, EXTRA_WIDTH, PAD_ID, PartContext, Vocabulary


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    width: int
    doc: str


class FeatureLayout:
    """Named column ranges of a feature matrix."""

    def __init__(self, features: list[Feature]):
        self.features = tuple(features)
        self._slices: dict[str, slice] = {}
        start = 0
        for feature in features:
            self._slices[feature.name] = slice(start, start + feature.width)
            start += feature.width
        self.width = start

    def __getitem__(self, name: str) -> slice:
        return self._slices[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def rows(self) -> list[dict]:
        return [
            {"name": f.name, "start": self[f.name].start, "stop": self[f.name].stop, "doc": f.doc}
            for f in self.features
        ]


STATIC_FEATURES = FeatureLayout(
    [
        Feature("link_pos", 3, "link origin in the parent link's frame at rest (root: 0)"),
        Feature("link_quat", 4, "link orientation in the parent link's frame, w ≥ 0 (root: identity)"),
        Feature("com_pos", 3, "centre of mass of the link (body + fixed children), link frame"),
        Feature("mass", 1, "link mass (kg)"),
        Feature("inertia", 3, "diagonal of the link's inertia about its centre of mass, link frame"),
        Feature("geom_pos", 3, "largest geom's position, link frame"),
        Feature("geom_quat", 4, "largest geom's orientation, link frame, w ≥ 0"),
        Feature("geom_size", 3, "largest geom's MuJoCo size (mesh: half extents)"),
        Feature("extent", 3, "half extents of the box around all the link's geoms, link frame"),
        Feature("joint_pos", 3, "joint anchor, link frame (root: 0)"),
        Feature("joint_axis", 3, "joint axis, link frame (root: 0)"),
        Feature("joint_range", 2, "joint limits in rad or m; continuous hinge [-π, π]; root 0"),
        Feature("joint_limited", 1, "1 when the joint has a range"),
        Feature("gear", 1, "motor torque limit (N·m or N), 0 when unactuated"),
        Feature("damping", 1, "joint damping"),
        Feature("armature", 1, "joint armature"),
        Feature("stiffness", 1, "joint stiffness"),
        Feature("depth", 1, "depth in the token tree (root 0)"),
        Feature("parent_offset", 1, "own index minus parent's index (root 0)"),
        Feature("num_children", 1, "number of child tokens"),
        Feature("kind_extra", EXTRA_WIDTH, "numbers from the part kind's feature function (else 0)"),
    ]
)

LINK_GEOMETRIES = ("largest", "shape")
"""How a token reads its link's geometry: ``largest`` (one geom: the one with the largest bounding
box) or ``shape`` (the volume of every colliding geom of the link, as a centroid and a box)."""

_LARGEST_GEOM_FEATURES = ("geom_pos", "geom_quat", "geom_size")
_SHAPE_FEATURES = (
    Feature("shape_center", 3, "centroid of the volume of the link's colliding geoms, link frame"),
    Feature(
        "shape_axes",
        6,
        "the box with the volume's second moments, as the symmetric matrix sqrt(3 × covariance) "
        "(xx, yy, zz, xy, xz, yz; an axis-aligned box: its half extents), link frame",
    ),
    Feature("shape_scale", 1, "cube root of the colliding geoms' summed volume (m)"),
)


def static_layout(link_geometry: str = "largest") -> FeatureLayout:
    """The static feature layout of a way of reading link geometry (`LINK_GEOMETRIES`). Both have
    the same width and the same columns for everything else: ``shape`` puts its three groups where
    ``largest`` has geom_pos, geom_quat and geom_size."""
    if link_geometry not in LINK_GEOMETRIES:
        raise MetamorphError(f"link_geometry must be one of {', '.join(LINK_GEOMETRIES)}, got '{link_geometry}'")
    if link_geometry == "largest":
        return STATIC_FEATURES
    features = list(STATIC_FEATURES.features)
    first = STATIC_FEATURES.names.index(_LARGEST_GEOM_FEATURES[0])
    features[first : first + len(_LARGEST_GEOM_FEATURES)] = _SHAPE_FEATURES
    return FeatureLayout(features)


def static_columns(names: Sequence[str], link_geometry: str = "largest") -> np.ndarray:
    """1.0 in the columns of the named static feature groups of ``link_geometry``'s layout, 0.0
    elsewhere; an unknown name is an error listing the known ones."""
    layout = static_layout(link_geometry)
    unknown = [name for name in names if name not in layout.names]
    if unknown:
        raise MetamorphError(
            f"unknown static feature(s) {', '.join(unknown)} with {link_geometry} link geometry; "
            f"known: {', '.join(layout.names)}"
        )
    columns = np.zeros(layout.width)
    for name in names:
        columns[layout[name]] = 1.0
    return columns


PROPRIO_FEATURES = FeatureLayout(
    [
        Feature("joint_pos", 1, "joint position scaled to [0, 1] over its range (root: 0)"),
        Feature("joint_vel", 1, "joint velocity (root: 0)"),
        # frames: `metamorph.observation.OBSERVATION_FRAMES`; these docs give the default, torso
        Feature("body_pos", 3, "link origin in the torso frame (root: 0, 0, height above z=0)"),
        Feature("body_quat", 4, "link orientation in the torso frame (root: in the world), w ≥ 0"),
        Feature("body_linvel", 3, "link linear velocity relative to the torso, torso frame (root: its own)"),
        Feature("body_angvel", 3, "link angular velocity relative to the torso, torso frame (root: its own)"),
    ]
)


@dataclasses.dataclass(frozen=True)
class JointTokens:
    """A body's tokens. Arrays have one row per token, the root token first."""

    static_features: np.ndarray
    """[T, STATIC_FEATURES.width] float32."""
    part_ids: np.ndarray
    """[T] int32 vocabulary ids."""
    parent: np.ndarray
    """[T] int32 index of the parent token, -1 for the root."""
    depth: np.ndarray
    """[T] int32 depth in the token tree."""
    act_mask: np.ndarray
    """[T] bool: the token's joint has a motor (the policy outputs a torque for it)."""
    names: tuple[str, ...]
    """Token names: the root body's name, then joint names."""
    kinds: tuple[str, ...]
    """Part kind names, as in the vocabulary."""
    body_ids: np.ndarray
    """[T] MuJoCo id of the token's link body."""
    joint_ids: np.ndarray
    """[T] MuJoCo joint id, -1 for the root."""
    qpos_adr: np.ndarray
    """[T] qpos address of the joint, -1 for the root."""
    dof_adr: np.ndarray
    """[T] qvel address of the joint, -1 for the root."""
    actuator_ids: np.ndarray
    """[T] MuJoCo actuator id, -1 where unactuated."""
    pos_lo: np.ndarray
    """[T] lower end of the range joint positions are scaled over."""
    pos_hi: np.ndarray
    """[T] upper end of that range."""
    wrap: np.ndarray
    """[T] bool: continuous hinge, position wrapped to [-π, π) before scaling."""
    root_body: int

    @property
    def num_tokens(self) -> int:
        return len(self.part_ids)

    @property
    def link_token(self) -> np.ndarray:
        """[T] int32 index of the first token of each token's link (its *head*; the root token for
        the root link). A link's tokens are consecutive, so a head precedes or is its own token:
        a policy that reads one token per link (`PolicyConfig.tokens`) groups them by it."""
        head: dict[int, int] = {}
        return np.array([head.setdefault(int(b), i) for i, b in enumerate(self.body_ids)], np.int32)

    def rows(self) -> list[dict]:
        """One dict per token (what `metamorph inspect` prints)."""
        return [
            {
                "index": i,
                "name": self.names[i],
                "depth": int(self.depth[i]),
                "parent": int(self.parent[i]),
                "kind": self.kinds[i],
                "part_id": int(self.part_ids[i]),
                "actuated": bool(self.act_mask[i]),
            }
            for i in range(self.num_tokens)
        ]


def tokenize(
    morphology: Morphology,
    vocabulary: Vocabulary | None = None,
    max_tokens: int | None = None,
    link_geometry: str = "largest",
) -> JointTokens:
    """Turn a body into joint tokens (see the module docstring for the order and features);
    ``link_geometry`` (`LINK_GEOMETRIES`) says how a token reads its link's geometry."""
    vocab = DEFAULT_VOCABULARY if vocabulary is None else vocabulary
    layout = static_layout(link_geometry)
    model, tree, root = morphology.model, morphology.tree, morphology.root_body
    link = link_of(tree, root)
    bodies = list(morphology.bodies_preorder())
    if max_tokens is not None and 1 + len(morphology.joint_ids()) > max_tokens:
        raise MorphologyError(
            morphology.label,
            f"{1 + len(morphology.joint_ids())} tokens (1 root + {len(morphology.joint_ids())} joints) "
            f"exceed the maximum of {max_tokens}",
        )

    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)  # rest pose: relative link transforms are fixed by the tree
    link_geom = {lk: _largest_geom(model, [b for b, l2 in link.items() if l2 == lk]) for lk in set(link.values())}

    rows: list[dict] = []
    last_token_of_link: dict[int, int] = {}
    for b in bodies:
        if link[b] != b:
            continue
        if b == root:
            rows.append({"body": b, "joint": -1, "parent": -1})
            last_token_of_link[b] = 0
        parent_link = link[next(iter(tree.predecessors(b)))] if b != root else None
        previous = last_token_of_link[parent_link] if parent_link is not None else 0
        for j in tree.nodes[b]["joints"]:
            rows.append({"body": b, "joint": j, "parent": previous})
            previous = len(rows) - 1
        last_token_of_link[b] = previous

    num_tokens = len(rows)
    parent = np.array([r["parent"] for r in rows], np.int32)
    depth = np.zeros(num_tokens, np.int32)
    num_children = np.zeros(num_tokens, np.int32)
    for i in range(1, num_tokens):
        depth[i] = depth[parent[i]] + 1
        num_children[parent[i]] += 1

    link_static = {
        lk: _link_features(model, data, lk, link, link_geom[lk], tree, root, link_geometry) for lk in set(link.values())
    }
    features = np.zeros((num_tokens, STATIC_FEATURES.width), np.float32)
    part_ids = np.zeros(num_tokens, np.int32)
    kinds, names = [], []
    act = np.full(num_tokens, -1, np.int32)
    qpos_adr = np.full(num_tokens, -1, np.int32)
    dof_adr = np.full(num_tokens, -1, np.int32)
    pos_lo = np.zeros(num_tokens)
    pos_hi = np.ones(num_tokens)
    wrap = np.zeros(num_tokens, bool)
    for i, r in enumerate(rows):
        b, j = r["body"], r["joint"]
        row = features[i]
        for name, value in link_static[b].items():
            row[layout[name]] = value
        geom = link_geom[b]
        geom_name = geom_type_name(model, geom) if geom >= 0 else "none"
        if j < 0:
            key = (geom_name, morphology.base, "none")
            names.append(model.body(b).name or "root")
        else:
            joint_kind, limited = joint_type_name(model, j), bool(model.jnt_limited[j])
            if joint_kind == "hinge" and not limited:
                joint_kind, wrap[i] = "continuous", True
            act[i] = morphology.joint_actuator.get(j, -1)
            key = (geom_name, joint_kind, "motor" if act[i] >= 0 else "none")
            names.append(model.joint(j).name or f"joint{j}")
            qpos_adr[i], dof_adr[i] = model.jnt_qposadr[j], model.jnt_dofadr[j]
            if limited:
                pos_lo[i], pos_hi[i] = model.jnt_range[j]
            elif wrap[i]:
                pos_lo[i], pos_hi[i] = -math.pi, math.pi
            else:  # an unlimited slide: scaled as if its range were [-1 m, 1 m]
                pos_lo[i], pos_hi[i] = -1.0, 1.0
            row[STATIC_FEATURES["joint_pos"]] = model.jnt_pos[j]
            row[STATIC_FEATURES["joint_axis"]] = model.jnt_axis[j]
            row[STATIC_FEATURES["joint_range"]] = (pos_lo[i], pos_hi[i]) if (limited or wrap[i]) else (0.0, 0.0)
            row[STATIC_FEATURES["joint_limited"]] = float(limited)
            row[STATIC_FEATURES["gear"]] = model.actuator_gear[act[i], 0] if act[i] >= 0 else 0.0
            dof = model.jnt_dofadr[j]
            row[STATIC_FEATURES["damping"]] = model.dof_damping[dof]
            row[STATIC_FEATURES["armature"]] = model.dof_armature[dof]
            row[STATIC_FEATURES["stiffness"]] = model.jnt_stiffness[j]
        row[STATIC_FEATURES["depth"]] = depth[i]
        row[STATIC_FEATURES["parent_offset"]] = i - parent[i] if i > 0 else 0
        row[STATIC_FEATURES["num_children"]] = num_children[i]

        part_id = vocab.id_of(key)
        if part_id is None:
            raise MorphologyError(
                morphology.label,
                f"token '{names[-1]}' is part kind {'/'.join(key)}, which the vocabulary does not know; register it: "
                f"register_part_kind(PartKind(geom='{key[0]}', joint='{key[1]}', actuator='{key[2]}')) "
                "in a file passed with --parts",
            )
        kind = vocab.kind(part_id)
        part_ids[i] = part_id
        kinds.append(kind.name)
        row[STATIC_FEATURES["kind_extra"]] = kind.extra_features(PartContext(model, b, j, geom))

    return JointTokens(
        static_features=features,
        part_ids=part_ids,
        parent=parent,
        depth=depth,
        act_mask=act >= 0,
        names=tuple(names),
        kinds=tuple(kinds),
        body_ids=np.array([r["body"] for r in rows], np.int32),
        joint_ids=np.array([r["joint"] for r in rows], np.int32),
        qpos_adr=qpos_adr,
        dof_adr=dof_adr,
        actuator_ids=act,
        pos_lo=pos_lo,
        pos_hi=pos_hi,
        wrap=wrap,
        root_body=root,
    )


# ----------------------------------------------------------------------------------------------
# Static features


def _canonical(quat: np.ndarray) -> np.ndarray:
    """q and -q are one rotation: keep w ≥ 0 so equal rotations give equal features."""
    quat = np.asarray(quat, float)
    return -quat if quat[..., 0] < 0 else quat


def _relative(frame_pos, frame_mat, pos, mat):
    """Pose (pos, mat) expressed in the frame (frame_pos, frame_mat)."""
    rot = frame_mat.reshape(3, 3)
    return rot.T @ (pos - frame_pos), rot.T @ mat.reshape(3, 3)


def _mat_to_quat(mat: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(mat).reshape(9))
    return _canonical(quat)


def _largest_geom(model: mujoco.MjModel, bodies: list[int]) -> int:
    """The link's geom with the largest bounding box, -1 when it has none (first wins ties)."""
    best, best_volume = -1, -1.0
    for b in sorted(bodies):
        for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b]):
            volume = float(np.prod(model.geom_aabb[g, 3:]))
            if volume > best_volume:
                best, best_volume = g, volume
    return best


def _link_features(
    model, data, lk: int, link: dict[int, int], geom: int, tree, root: int, link_geometry: str
) -> dict[str, np.ndarray]:
    """Features shared by all tokens of a link: pose in its parent link, mass, inertia, geometry."""
    frame_pos, frame_mat = data.xpos[lk], data.xmat[lk]
    out: dict[str, np.ndarray] = {}
    if lk == root:
        out["link_pos"], out["link_quat"] = np.zeros(3), np.array([1.0, 0, 0, 0])
    else:
        parent_link = link[next(iter(tree.predecessors(lk)))]
        pos, mat = _relative(data.xpos[parent_link], data.xmat[parent_link], frame_pos, frame_mat)
        out["link_pos"], out["link_quat"] = pos, _mat_to_quat(mat)

    members = [b for b, owner in link.items() if owner == lk]
    masses = np.array([model.body_mass[b] for b in members])
    total = float(masses.sum())
    coms = np.array([_relative(frame_pos, frame_mat, data.xipos[b], data.ximat[b])[0] for b in members])
    com = (masses[:, None] * coms).sum(0) / total if total > 0 else np.zeros(3)
    inertia = np.zeros((3, 3))
    for b, m_b, c_b in zip(members, masses, coms, strict=True):
        rot = _relative(frame_pos, frame_mat, data.xipos[b], data.ximat[b])[1]
        offset = c_b - com
        inertia += rot @ np.diag(model.body_inertia[b]) @ rot.T + m_b * (
            offset @ offset * np.eye(3) - np.outer(offset, offset)
        )
    out["com_pos"], out["mass"], out["inertia"] = com, np.array([total]), np.diag(inertia)

    first_geom, num_geoms = model.body_geomadr, model.body_geomnum
    link_geoms = [g for b in members for g in range(first_geom[b], first_geom[b] + num_geoms[b])]
    # each geom's bounding-box centre and orientation in the link frame (a mesh's box need not sit at its origin)
    boxes = {}
    for g in link_geoms:
        pos, mat = _relative(frame_pos, frame_mat, data.geom_xpos[g], data.geom_xmat[g])
        boxes[g] = (pos + mat @ model.geom_aabb[g, :3], mat)
    if link_geometry == "shape":
        out.update(_link_shape(model, boxes))
    elif geom >= 0:
        pos, mat = _relative(frame_pos, frame_mat, data.geom_xpos[geom], data.geom_xmat[geom])
        out["geom_pos"], out["geom_quat"] = pos, _mat_to_quat(mat)
        is_mesh = model.geom_type[geom] == mujoco.mjtGeom.mjGEOM_MESH
        out["geom_size"] = model.geom_aabb[geom, 3:] if is_mesh else model.geom_size[geom]
    else:
        out["geom_quat"] = np.array([1.0, 0, 0, 0])
    lows, highs = [], []
    for g, (center, mat) in boxes.items():
        half = np.abs(mat) @ model.geom_aabb[g, 3:]
        lows.append(center - half)
        highs.append(center + half)
    if lows:
        out["extent"] = (np.max(highs, 0) - np.min(lows, 0)) / 2
    return out


def _solid_moments(model: mujoco.MjModel, g: int) -> tuple[float, np.ndarray]:
    """A geom's volume and the diagonal of its volume's covariance (∫ x xᵀ dV / V about its centre),
    in its own frame. Meshes, height fields and SDFs count as their bounding box."""
    size, kind = model.geom_size[g], mujoco.mjtGeom(model.geom_type[g])
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        r = size[0]
        return 4 / 3 * math.pi * r**3, np.full(3, r**2 / 5)
    if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        return 4 / 3 * math.pi * float(np.prod(size)), size**2 / 5
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return 8 * float(np.prod(size)), size**2 / 3
    if kind in (mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_CAPSULE):
        r, h = size[0], size[1]  # radius, half length of the straight part along z
        tube = 2 * math.pi * r**2 * h
        if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
            return tube, np.array([r**2 / 4, r**2 / 4, h**2 / 3])
        ball = 4 / 3 * math.pi * r**3  # two half balls capping the tube at ±h
        volume = tube + ball
        across = (tube * r**2 / 4 + ball * r**2 / 5) / volume
        along = (tube * h**2 / 3 + ball * (h**2 + 0.75 * h * r + r**2 / 5)) / volume
        return volume, np.array([across, across, along])
    half = model.geom_aabb[g, 3:]
    return 8 * float(np.prod(half)), half**2 / 3


def _link_shape(model, boxes: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """``shape`` link geometry: the centroid and second moments of the volume of the link's
    colliding geoms (every geom when none collides; overlaps count twice), in the link's frame.
    ``boxes``: each geom's centre and orientation in that frame."""
    geoms = [g for g in boxes if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE]
    colliding = [g for g in geoms if model.geom_contype[g] or model.geom_conaffinity[g]]
    geoms = colliding or geoms
    if not geoms:
        return {"shape_center": np.zeros(3), "shape_axes": np.zeros(6), "shape_scale": np.zeros(1)}
    volumes, centers, covariances = [], [], []
    for g in geoms:
        center, mat = boxes[g]
        volume, spread = _solid_moments(model, g)
        volumes.append(volume)
        centers.append(center)
        covariances.append(mat @ np.diag(spread) @ mat.T)
    volumes, centers = np.array(volumes), np.array(centers)
    total = float(volumes.sum())
    center = (volumes[:, None] * centers).sum(0) / total
    offsets = centers - center
    covariance = sum(v * (c + np.outer(d, d)) for v, c, d in zip(volumes, covariances, offsets, strict=True)) / total
    # a uniform box of half extent a has variance a²/3 along that axis: sqrt(3 Σ) is the box's half extents
    values, vectors = np.linalg.eigh(covariance)
    axes = vectors @ np.diag(np.sqrt(3 * np.clip(values, 0.0, None))) @ vectors.T
    return {
        "shape_center": center,
        "shape_axes": axes[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]],
        "shape_scale": np.array([total ** (1 / 3)]),
    }


# ----------------------------------------------------------------------------------------------
# Proprioception


def _quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def body_velocities(model: mujoco.MjModel, data: mujoco.MjData, bodies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-frame (linear, angular) velocity of body origins, from ``data.cvel``.

    ``cvel`` is a spatial velocity about the subtree centre of mass of the body's root; moving it
    to the body origin adds ω × (x − c).
    """
    angular = data.cvel[bodies, :3]
    offset = data.xpos[bodies] - data.subtree_com[model.body_rootid[bodies]]
    linear = data.cvel[bodies, 3:] + np.cross(angular, offset)
    return linear, angular


def proprioception(tokens: JointTokens, model: mujoco.MjModel, data: mujoco.MjData, frame: str = "torso") -> np.ndarray:
    """Per-token proprioception [T, PROPRIO_FEATURES.width] from a state whose kinematics and
    velocities are computed (after `mujoco.mj_forward` or `mujoco.mj_step1`).

    ``frame="torso"``: link velocities are relative to the torso as seen from the torso frame
    (MuJoCo's frame sensors with the torso as reference frame compute the same, which is how
    environments get them in C): v = Rᵀ(v_link − v_torso − ω_torso × (x_link − x_torso)),
    ω = Rᵀ(ω_link − ω_torso). The root token carries the torso's own velocities in its frame.
    ``frame="world"``: poses and velocities in the world frame, positions' x and y relative to the
    torso's (`metamorph.observation.OBSERVATION_FRAMES`).
    """
    out = np.zeros((tokens.num_tokens, PROPRIO_FEATURES.width), np.float32)
    root = tokens.root_body
    torso_rot = data.xmat[root].reshape(3, 3)
    bodies = tokens.body_ids
    joint = tokens.joint_ids >= 0

    qpos = data.qpos[tokens.qpos_adr[joint]]
    qpos = np.where(tokens.wrap[joint], (qpos + np.pi) % (2 * np.pi) - np.pi, qpos)
    lo, hi = tokens.pos_lo[joint], tokens.pos_hi[joint]
    out[joint, PROPRIO_FEATURES["joint_pos"].start] = (qpos - lo) / (hi - lo)
    out[joint, PROPRIO_FEATURES["joint_vel"].start] = data.qvel[tokens.dof_adr[joint]]

    offset = data.xpos[bodies] - data.xpos[root]
    linear, angular = body_velocities(model, data, np.concatenate([[root], bodies]))
    torso_lin, torso_ang, linear, angular = linear[0], angular[0], linear[1:], angular[1:]
    if frame == "world":
        out[:, PROPRIO_FEATURES["body_pos"]] = np.concatenate([offset[:, :2], data.xpos[bodies, 2:]], axis=1)
        quat = data.xquat[bodies].copy()
        out[:, PROPRIO_FEATURES["body_linvel"]] = linear
        out[:, PROPRIO_FEATURES["body_angvel"]] = angular
    else:
        quat = _quat_mul(_quat_conj(data.xquat[root])[None], data.xquat[bodies])
        out[:, PROPRIO_FEATURES["body_pos"]] = offset @ torso_rot
        out[:, PROPRIO_FEATURES["body_linvel"]] = (linear - torso_lin - np.cross(torso_ang, offset)) @ torso_rot
        out[:, PROPRIO_FEATURES["body_angvel"]] = (angular - torso_ang) @ torso_rot
    is_root = ~joint
    out[is_root, PROPRIO_FEATURES["body_pos"]] = (0.0, 0.0, data.xpos[root, 2])
    if frame != "world":
        out[is_root, PROPRIO_FEATURES["body_linvel"]] = torso_lin @ torso_rot
        out[is_root, PROPRIO_FEATURES["body_angvel"]] = torso_ang @ torso_rot
    quat[is_root] = data.xquat[root]
    quat *= np.where(quat[:, :1] < 0, -1.0, 1.0)
    out[:, PROPRIO_FEATURES["body_quat"]] = quat
    return out


# ----------------------------------------------------------------------------------------------
# Padding


@dataclasses.dataclass(frozen=True)
class PaddedTokens:
    """A body's tokens padded to a fixed length; padding rows are zero."""

    static_features: np.ndarray  # [T_max, F]
    part_ids: np.ndarray  # [T_max], PAD_ID on padding
    parent: np.ndarray  # [T_max], -1 on the root and on padding
    depth: np.ndarray  # [T_max]
    token_mask: np.ndarray  # [T_max] bool, True for real tokens
    act_mask: np.ndarray  # [T_max] bool, True for actuated tokens


def pad_tokens(tokens: JointTokens, max_tokens: int) -> PaddedTokens:
    """Pad to ``max_tokens`` rows (raises if the body has more tokens)."""
    n = tokens.num_tokens
    if n > max_tokens:
        raise ValueError(f"{n} tokens do not fit in {max_tokens}")

    def pad(array: np.ndarray, value=0) -> np.ndarray:
        widths = [(0, max_tokens - n)] + [(0, 0)] * (array.ndim - 1)
        return np.pad(array, widths, constant_values=value)

    return PaddedTokens(
        static_features=pad(tokens.static_features),
        part_ids=pad(tokens.part_ids, PAD_ID),
        parent=pad(tokens.parent, -1),
        depth=pad(tokens.depth),
        token_mask=pad(np.ones(n, bool), False),
        act_mask=pad(tokens.act_mask, False),
    )
