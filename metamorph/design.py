"""Design spaces for procedurally generated bodies, and how one body is drawn from a space.

A `DesignSpace` is one frozen dataclass: every number that shapes the generated bodies is a field
of it. `DESIGN_SPACES` is the registry; each entry's `default_config()` gives its space:

- ``unimal``: the UNIMAL rules of MetaMorph (sphere torso of radius 0.1 with a free root; capsule
  limbs of radius 0.05 and length 0.2–0.4 grown from the torso's lower hemisphere or from a limb's
  middle or end; mirrored about the xz plane; 1–2 hinges a limb with ranges from the UNIMAL set;
  gears 150–300; densities 500–1000; 2–10 limbs).
- ``unimal-like``: the same rules with UNIMAL-100's proportions (limb segments of 0.25, 0.35 or
  0.45 m, 4–10 limbs), for training sets meant to look like the benchmark's bodies.
- ``unimal-matched``: the same rules drawn with the frequencies of UNIMAL-100's files (mostly
  horizontal, longer, denser limbs, lower gears).
- ``unimal-headings``: ``unimal-matched`` with the headings of UNIMAL-100's limbs too (mostly
  along the body's x axis, backwards most often).
- ``planar``: limb trees in the xz plane on a planar base (slides along x and z, a hinge about y),
  as gymnasium's and dm_control's hoppers, walkers and cheetahs are built.
- ``rich``: beyond UNIMAL: box, capsule and ellipsoid torsos, capsule or cylinder limbs of varied
  radius, limbs attached anywhere along their parent, steeper and shallower angles, deeper chains,
  telescoping (slide) joints and, optionally, asymmetric bodies.
- ``quadruped``, ``quadruped-heavy-legs``, ``quadruped-leg-inertia`` and ``quadruped-geom-variety``:
  not limb trees but robot dogs of one plan (box torso, four legs of abduction, hip and knee, a
  standing keyframe), drawn from ranges: `metamorph.quadrupeds`.

`sample_plan` draws a `BodyPlan` (pure parameters) with a NumPy generator, and `plan_to_mjcf` writes
it as MJCF text with fixed number formatting, so the same seed gives the same bytes. Limb frames
are aligned with the torso (as in UNIMAL files): a limb's geometry is a ``fromto`` segment along its
direction, its joints sit where it meets its parent, and joint axes are perpendicular to the limb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from metamorph.errors import MetamorphError
from metamorph.quadrupeds import (
    QuadrupedSpace,
    quadruped_geom_variety_space,
    quadruped_heavy_legs_space,
    quadruped_leg_inertia_space,
    quadruped_space,
)

Vec = tuple[float, float, float]

UNIMAL_JOINT_RANGES_DEG = (
    (-30, 0),
    (0, 30),
    (-30, 30),
    (-45, 45),
    (-45, 0),
    (0, 45),
    (-60, 0),
    (0, 60),
    (-60, 30),
    (-30, 60),
    (-90, 0),
    (0, 90),
)


@dataclasses.dataclass(frozen=True)
class DesignSpace:
    """Every knob of a body design space (units: metres, kg/m³, degrees, N·m)."""

    name: str = "unimal"
    """Name written into manifests and body names."""
    limb_count: tuple[int, int] = (2, 10)
    """Inclusive range of the number of limbs."""
    limb_count_weights: tuple[float, ...] = ()
    """Relative chance of each limb count from min to max (empty: equal). Each `*_weights` field
    below works alike: one weight per choice, in order; empty draws every choice equally."""
    torso_shapes: tuple[str, ...] = ("sphere",)
    """Torso geom types to draw from: sphere, box, capsule, ellipsoid."""
    torso_size: tuple[float, float] = (0.1, 0.1)
    """Range of the torso's characteristic half-size (sphere radius)."""
    torso_density: tuple[float, float] = (500.0, 1000.0)
    """Range of torso density."""
    torso_density_weights: tuple[float, ...] = ()
    """Relative chance of each torso density, multiples of `density_step` from min to max."""
    limb_geoms: tuple[str, ...] = ("capsule",)
    """Limb geom types: capsule, cylinder."""
    limb_lengths: tuple[float, ...] = (0.2, 0.25, 0.3, 0.35, 0.4)
    """Limb lengths to draw from; with `continuous_lengths`, the range (min, max) of these."""
    length_weights: tuple[float, ...] = ()
    """Relative chance of each of `limb_lengths` (not with `continuous_lengths`)."""
    continuous_lengths: bool = False
    """Draw lengths uniformly between min and max of `limb_lengths` instead of from the set."""
    limb_radius: tuple[float, float] = (0.05, 0.05)
    """Range of limb radius."""
    limb_density: tuple[float, float] = (500.0, 1000.0)
    """Range of limb density."""
    limb_density_weights: tuple[float, ...] = ()
    """Relative chance of each limb density, multiples of `density_step` from min to max."""
    density_step: float = 100.0
    """Densities are multiples of this (0: continuous)."""
    polar_deg: tuple[float, ...] = (90.0, 135.0, 180.0)
    """Angles between a limb and straight up (90 horizontal, 180 straight down) to draw from."""
    polar_weights: tuple[float, ...] = ()
    """Relative chance of each of `polar_deg`."""
    azimuth_step_deg: float = 45.0
    """Limb headings are multiples of this (0: continuous)."""
    azimuth_weights: tuple[float, ...] = ()
    """Relative chance of each heading, multiples of `azimuth_step_deg` counterclockwise from +x
    (forwards) seen from above: 0°, 45°, … A heading off the xz plane also gives the limb's mirror
    image in symmetric bodies, so it appears about twice as often as its weight says."""
    attach_points: tuple[str, ...] = ("mid", "end")
    """Where a limb grows from another limb: mid, end, or anywhere (uniform along 30–100 % of it)."""
    attach_weights: tuple[float, ...] = ()
    """Relative chance of each of `attach_points`."""
    torso_attach_prob: float = 0.35
    """Chance that a new limb grows from the torso rather than from a limb."""
    max_depth: int = 3
    """Longest chain of limbs from the torso."""
    two_joint_prob: float = 0.5
    """Chance that a limb has two hinges (one otherwise)."""
    slide_prob: float = 0.0
    """Chance that a limb's joint is a telescoping slide along the limb instead of hinges."""
    slide_range: tuple[float, float] = (-0.05, 0.05)
    """Range of slide joints (m)."""
    joint_ranges_deg: tuple[tuple[float, float], ...] = UNIMAL_JOINT_RANGES_DEG
    """Hinge ranges to draw from."""
    joint_range_weights: tuple[float, ...] = ()
    """Relative chance of each of `joint_ranges_deg`."""
    gears: tuple[float, ...] = (150.0, 200.0, 250.0, 300.0)
    """Motor gears to draw from; with `continuous_gears`, the range (min, max) of these."""
    gear_weights: tuple[float, ...] = ()
    """Relative chance of each of `gears` (not with `continuous_gears`)."""
    continuous_gears: bool = False
    """Draw gears uniformly between min and max of `gears`."""
    symmetric: bool = True
    """Mirror limbs about the xz plane (bilateral symmetry), as UNIMAL does."""
    asymmetric_prob: float = 0.0
    """With `symmetric`, chance that a whole body is drawn without mirroring."""
    joint_damping: float = 1.0
    joint_stiffness: float = 1.0
    joint_armature: float = 1.0
    friction: float = 0.7
    """Sliding friction of every geom."""
    parent_contacts: bool = False
    """Let every limb collide with the link it hangs from, as UNIMAL files do (``<flag
    filterparent="disable"/>``; MuJoCo ignores parent-child contacts by default). A limb's end cap
    overlaps its parent at the joint, so these contacts push back on the joints at rest and in
    motion: under zero torque 44 % of UNIMAL-100's episodes end in a fall without them, 19 % with
    (flat task, 1 episode a body, 2026-12-03)."""
    base: str = "free"
    """How the torso moves. ``free``: a free joint (UNIMAL). ``planar``: like gymnasium's hopper,
    walker2d and half_cheetah, and dm_control's cheetah, walker and hopper: unactuated slides along
    x and z and a hinge about y on the torso, every limb in the xz plane (headings 0° or 180°,
    ``azimuth_step_deg=180``) with one hinge about y, and limbs that touch the ground but not each
    other (in one plane they would overlap)."""
    joint_signs: str = "limb"
    """Which way a positive torque turns each joint. ``limb``: the limb decides (a limb's first hinge
    lifts it, the second swings it sideways, a mirrored limb moves as the mirror image). ``random``:
    each joint's axis and range are negated with probability ½ after the body is drawn; the physics
    is the same, only the action's sign changes meaning, so a policy has to read the joint's axis.
    UNIMAL files follow neither: their hinges turn about fixed torso axes, so the same positive
    torque swings a left and a right leg the same way."""

    def __post_init__(self):
        low, high = self.limb_count
        if low < 1 or high < low:
            raise MetamorphError(f"design space '{self.name}': limb_count {self.limb_count} must be 1 ≤ min ≤ max")
        for field in ("torso_size", "torso_density", "limb_radius", "limb_density", "slide_range"):
            lo, hi = getattr(self, field)
            if hi < lo or (field != "slide_range" and lo <= 0):
                raise MetamorphError(f"design space '{self.name}': {field} {(lo, hi)} is empty or not positive")
        for field in ("torso_shapes", "limb_geoms", "limb_lengths", "polar_deg", "joint_ranges_deg", "gears"):
            if not getattr(self, field):
                raise MetamorphError(f"design space '{self.name}': {field} is empty")
        if set(self.torso_shapes) - {"sphere", "box", "capsule", "ellipsoid"}:
            raise MetamorphError(f"design space '{self.name}': unknown torso shape in {self.torso_shapes}")
        if set(self.limb_geoms) - {"capsule", "cylinder"}:
            raise MetamorphError(f"design space '{self.name}': unknown limb geom in {self.limb_geoms}")
        if set(self.attach_points) - {"mid", "end", "anywhere"} or not self.attach_points:
            raise MetamorphError(f"design space '{self.name}': attach_points must be among mid, end, anywhere")
        if min(self.limb_lengths) <= 0 or min(self.gears) <= 0:
            raise MetamorphError(f"design space '{self.name}': limb lengths and gears must be positive")
        if any(lo >= hi for lo, hi in self.joint_ranges_deg):
            raise MetamorphError(f"design space '{self.name}': a joint range is empty: {self.joint_ranges_deg}")
        if self.joint_signs not in ("limb", "random"):
            raise MetamorphError(
                f"design space '{self.name}': joint_signs must be limb or random, got '{self.joint_signs}'"
            )
        if self.base not in ("free", "planar"):
            raise MetamorphError(f"design space '{self.name}': base must be free or planar, got '{self.base}'")
        if self.base == "planar" and self.azimuth_step_deg != 180:
            raise MetamorphError(
                f"design space '{self.name}': a planar base needs azimuth_step_deg=180 (limbs in the xz plane), "
                f"got {self.azimuth_step_deg}"
            )
        if self.max_depth < 1:
            raise MetamorphError(f"design space '{self.name}': max_depth must be ≥ 1")
        if not self.symmetric and self.asymmetric_prob:
            raise MetamorphError(f"design space '{self.name}': asymmetric_prob needs symmetric=True")
        for field in ("torso_attach_prob", "two_joint_prob", "slide_prob", "asymmetric_prob"):
            if not 0 <= getattr(self, field) <= 1:
                raise MetamorphError(f"design space '{self.name}': {field} must be a probability")
        choices = {
            "limb_count_weights": self.limb_count[1] - self.limb_count[0] + 1,
            "torso_density_weights": len(_density_choices(self.torso_density, self.density_step)),
            "length_weights": 0 if self.continuous_lengths else len(self.limb_lengths),
            "limb_density_weights": len(_density_choices(self.limb_density, self.density_step)),
            "polar_weights": len(self.polar_deg),
            "azimuth_weights": round(360 / self.azimuth_step_deg) if self.azimuth_step_deg else 0,
            "attach_weights": len(self.attach_points),
            "joint_range_weights": len(self.joint_ranges_deg),
            "gear_weights": 0 if self.continuous_gears else len(self.gears),
        }
        for field, count in choices.items():
            weights = getattr(self, field)
            if weights and (len(weights) != count or min(weights) < 0 or sum(weights) <= 0):
                raise MetamorphError(
                    f"design space '{self.name}': {field} needs {count} non-negative weights, not all 0, "
                    f"one per choice; got {len(weights)}"
                )


def unimal_space() -> DesignSpace:
    return DesignSpace()


def unimal_like_space() -> DesignSpace:
    """The unimal rules with UNIMAL-100's proportions: its files' limb segments are 0.25, 0.35 or
    0.45 m long (MetaMorph's 0.2/0.3/0.4 plus the radius) and its bodies have 4–10 limbs."""
    return DesignSpace(name="unimal-like", limb_lengths=(0.25, 0.35, 0.45), limb_count=(4, 10))


def unimal_matched_space() -> DesignSpace:
    """The unimal rules drawn with the frequencies counted in UNIMAL-100's 100 files (807 limbs,
    1070 hinges; counts in the weights), where ``unimal`` and ``unimal-like`` draw every choice
    equally: three limbs in four are horizontal (one in three in ``unimal``), limbs are longer and
    denser, gears lower and two-hinge limbs rarer, so a body is heavier for its motors, and limbs
    grow from their parent's end four times in five. Before the rejections of
    `metamorph.generate.Validity`, which move these frequencies again."""
    return DesignSpace(
        name="unimal-matched",
        limb_count=(4, 10),
        limb_count_weights=(1, 5, 8, 16, 28, 26, 16),
        torso_density_weights=(17, 13, 6, 35, 9, 20),
        limb_lengths=(0.25, 0.35, 0.45),
        length_weights=(132, 301, 374),
        limb_density_weights=(18, 54, 35, 50, 209, 441),
        polar_weights=(602, 94, 111),
        attach_weights=(104, 455),  # along the parent: 0.5-0.7 of its length, and 0.8 or more
        max_depth=4,
        two_joint_prob=263 / 807,
        joint_ranges_deg=(*UNIMAL_JOINT_RANGES_DEG, (-60, 60)),
        joint_range_weights=(109, 60, 141, 55, 59, 57, 89, 111, 98, 93, 44, 107, 47),
        gear_weights=(407, 227, 253, 183),
    )


def unimal_headings_space() -> DesignSpace:
    """``unimal-matched`` with UNIMAL-100's limb headings too. Its limbs point mostly along the
    body's x axis: of the 696 that are not straight down, 271 point backwards, 161 forwards, 82 to
    each side and 13-37 to each diagonal (seen from above; ``unimal-matched`` draws all eight
    headings equally). The weights halve the counts off the xz plane, since each such draw also
    gives the limb's mirror image."""
    return dataclasses.replace(
        unimal_matched_space(), name="unimal-headings", azimuth_weights=(322, 37, 82, 13, 542, 13, 82, 37)
    )


def planar_space() -> DesignSpace:
    """Limb trees on a planar base (`DesignSpace.base`), for the planar robots of gymnasium and
    dm_control (hopper, walker, cheetah): the unimal rules with every limb in the xz plane and one
    hinge about y, a sphere or a capsule torso lying along x (a cheetah's), 2–6 limbs."""
    return DesignSpace(
        name="planar",
        base="planar",
        limb_count=(2, 6),
        torso_shapes=("sphere", "capsule"),
        azimuth_step_deg=180.0,
        symmetric=False,
    )


def rich_space() -> DesignSpace:
    return DesignSpace(
        name="rich",
        limb_count=(2, 12),
        torso_shapes=("sphere", "box", "capsule", "ellipsoid"),
        torso_size=(0.08, 0.16),
        torso_density=(400.0, 1200.0),
        limb_geoms=("capsule", "cylinder"),
        limb_lengths=(0.15, 0.5),
        continuous_lengths=True,
        limb_radius=(0.03, 0.07),
        limb_density=(400.0, 1200.0),
        density_step=0.0,
        polar_deg=(70.0, 90.0, 110.0, 135.0, 160.0, 180.0),
        azimuth_step_deg=15.0,
        attach_points=("mid", "end", "anywhere"),
        max_depth=4,
        slide_prob=0.15,
        joint_ranges_deg=(*UNIMAL_JOINT_RANGES_DEG, (-120, 0), (0, 120), (-75, 75)),
        gears=(100.0, 350.0),
        continuous_gears=True,
        asymmetric_prob=0.2,
    )


DESIGN_SPACES: dict[str, Callable[[], DesignSpace | QuadrupedSpace]] = {
    "unimal": unimal_space,
    "unimal-like": unimal_like_space,
    "unimal-matched": unimal_matched_space,
    "unimal-headings": unimal_headings_space,
    "rich": rich_space,
    "planar": planar_space,
    "quadruped": quadruped_space,
    "quadruped-heavy-legs": quadruped_heavy_legs_space,
    "quadruped-leg-inertia": quadruped_leg_inertia_space,
    "quadruped-geom-variety": quadruped_geom_variety_space,
}
"""Registry of design spaces: name -> default_config(). The quadruped spaces build one fixed plan
(`metamorph.quadrupeds`) instead of growing limb trees."""


def design_space(name: str, overrides: tuple[str, ...] = ()) -> DesignSpace | QuadrupedSpace:
    """The registered space ``name`` with ``overrides`` (``FIELD=VALUE``, as `space_with_overrides`)."""
    if name not in DESIGN_SPACES:
        raise MetamorphError(f"unknown design space '{name}'; known: {', '.join(DESIGN_SPACES)}")
    return space_with_overrides(DESIGN_SPACES[name](), overrides)


def space_with_overrides(space, overrides: tuple[str, ...]):
    """``space`` with fields replaced from ``FIELD=VALUE`` texts (`metamorph generate --space-set`).
    The field's current value decides how VALUE reads: a number, true/false, a word, or items joined
    by commas for a flat tuple (a range ``LOW,HIGH``, a list of weights or of shapes). The space's
    own checks then run on the result, so a bad value fails with the space's message."""
    fields = {field.name: getattr(space, field.name) for field in dataclasses.fields(space)}
    changes = {}
    for text in overrides:
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields or name == "name":
            known = ", ".join(f for f in fields if f != "name")
            raise MetamorphError(
                f"--space-set {text}: expected FIELD=VALUE with a field of design space '{space.name}' ({known})"
            )
        current = fields[name]
        try:
            if isinstance(current, tuple):
                if any(isinstance(item, tuple) for item in current):
                    raise ValueError("a tuple of tuples cannot be set from the command line")
                changes[name] = tuple(_read_like(current[0] if current else 0.0, v) for v in value.split(","))
            else:
                changes[name] = _read_like(current, value)
        except ValueError as error:
            raise MetamorphError(f"--space-set {text}: {error}") from None
    return dataclasses.replace(space, **changes) if changes else space


def _read_like(example, text: str):
    """``text`` read as the type of ``example`` (bool, int, float or str)."""
    text = text.strip()
    if isinstance(example, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"'{text}' is not true or false")
        return text.lower() == "true"
    if isinstance(example, (int, float)):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if isinstance(example, int):
            if not number.is_integer():
                raise ValueError(f"'{text}' is not a whole number")
            return int(number)
        return number
    return text


# ----------------------------------------------------------------------------------------------
# Plans


@dataclasses.dataclass(frozen=True)
class JointPlan:
    type: str  # "hinge" or "slide"
    axis: Vec
    range: tuple[float, float]  # radians for hinges, metres for slides
    gear: float


@dataclasses.dataclass(frozen=True)
class LimbPlan:
    parent: int  # -1: the torso
    attach: float  # fraction along the parent limb (ignored for the torso)
    direction: Vec  # unit vector, torso frame
    length: float
    radius: float
    geom: str
    density: float
    joints: tuple[JointPlan, ...]
    mirror_of: int | None = None  # index of the limb this one mirrors


@dataclasses.dataclass(frozen=True)
class BodyPlan:
    """All parameters of one generated body."""

    torso_shape: str
    torso_size: Vec  # MuJoCo size of the torso geom
    torso_density: float
    limbs: tuple[LimbPlan, ...]
    symmetric: bool
    """Grown with mirroring about the xz plane (every off-plane limb has a twin)."""

    @property
    def symmetric_pairs(self) -> list[tuple[int, int]]:
        return [(limb.mirror_of, i) for i, limb in enumerate(self.limbs) if limb.mirror_of is not None]

    @property
    def dof(self) -> int:
        return sum(len(limb.joints) for limb in self.limbs)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _mirror(v: Vec) -> Vec:
    return (v[0], -v[1], v[2])


def _mirror_axis(a: Vec) -> Vec:
    # Reflecting y -> -y maps a rotation axis (a pseudovector) to -(M a): same joint angle, mirrored motion.
    return (_clean(-a[0]), a[1], _clean(-a[2]))


def _clean(x: float) -> float:
    return 0.0 if abs(x) < 1e-12 else x


def _unit(v) -> Vec:
    v = np.asarray(v, float)
    v = v / np.linalg.norm(v)
    return tuple(_clean(round(float(x), 12)) for x in v)


def _pick(rng: np.random.Generator, values, weights: tuple[float, ...]):
    """One of ``values`` (a sequence, or n for range(n)), in proportion to ``weights``; without
    weights, the draw every space made before weights existed (``rng.choice`` takes the same numbers
    from the generator as the ``rng.integers`` it replaced, so their bodies keep their bytes)."""
    if not weights:
        return rng.choice(values)
    p = np.asarray(weights, float)
    return rng.choice(values, p=p / p.sum())


def _density_choices(bounds: tuple[float, float], step: float) -> np.ndarray:
    """The multiples of ``step`` within ``bounds`` (empty when densities are continuous)."""
    lo, hi = bounds
    if step and hi > lo:
        return np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    return np.zeros(0)


def _quantised(
    rng: np.random.Generator, bounds: tuple[float, float], step: float, weights: tuple[float, ...] = ()
) -> float:
    lo, hi = bounds
    if step and hi > lo:
        choices = _density_choices(bounds, step)
        return float(_pick(rng, choices, weights)) if len(choices) else float(lo)
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _direction(space: DesignSpace, rng: np.random.Generator) -> Vec:
    polar = math.radians(float(_pick(rng, space.polar_deg, space.polar_weights)))
    if space.azimuth_step_deg:
        headings = round(360 / space.azimuth_step_deg)
        azimuth = math.radians(space.azimuth_step_deg * _pick(rng, headings, space.azimuth_weights))
    else:
        azimuth = rng.uniform(0, 2 * math.pi)
    return _unit((math.sin(polar) * math.cos(azimuth), math.sin(polar) * math.sin(azimuth), math.cos(polar)))


def _is_central(direction: Vec) -> bool:
    return abs(direction[1]) < 1e-9


def _perpendicular_axes(direction: Vec) -> tuple[Vec, Vec]:
    d = np.asarray(direction)
    first = np.cross(d, [0.0, 0.0, 1.0])
    if np.linalg.norm(first) < 1e-6:  # vertical limb: swing about y then x, as UNIMAL's legs do
        first = np.array([0.0, 1.0, 0.0])
    first = first / np.linalg.norm(first)
    return _unit(first), _unit(np.cross(d, first))


def _joints(space: DesignSpace, rng: np.random.Generator, direction: Vec) -> tuple[JointPlan, ...]:
    def gear() -> float:
        if space.continuous_gears:
            return round(float(rng.uniform(min(space.gears), max(space.gears))), 1)
        return float(_pick(rng, space.gears, space.gear_weights))

    if rng.random() < space.slide_prob:
        return (JointPlan("slide", direction, tuple(float(x) for x in space.slide_range), gear()),)
    first, second = _perpendicular_axes(direction)
    if space.base == "planar":  # the one axis that keeps an xz-plane limb in its plane: y
        axes = [first]
    elif rng.random() < space.two_joint_prob:
        axes = [first, second]
    else:
        axes = [[first, second][rng.integers(0, 2)]]
    joints = []
    for axis in axes:
        lo, hi = space.joint_ranges_deg[int(_pick(rng, len(space.joint_ranges_deg), space.joint_range_weights))]
        joints.append(JointPlan("hinge", axis, (math.radians(lo), math.radians(hi)), gear()))
    return tuple(joints)


def _limb(space, rng, parent: int, attach: float, direction: Vec) -> LimbPlan:
    if space.continuous_lengths:
        length = round(float(rng.uniform(min(space.limb_lengths), max(space.limb_lengths))), 3)
    else:
        length = float(_pick(rng, space.limb_lengths, space.length_weights))
    return LimbPlan(
        parent=parent,
        attach=attach,
        direction=direction,
        length=length,
        radius=round(_quantised(rng, space.limb_radius, 0.0), 4),
        geom=str(rng.choice(space.limb_geoms)),
        density=round(_quantised(rng, space.limb_density, space.density_step, space.limb_density_weights), 1),
        joints=_joints(space, rng, direction),
    )


def _mirrored(limb: LimbPlan, parent: int, of: int) -> LimbPlan:
    joints = tuple(
        dataclasses.replace(j, axis=_mirror(j.axis) if j.type == "slide" else _mirror_axis(j.axis)) for j in limb.joints
    )
    return dataclasses.replace(limb, parent=parent, direction=_mirror(limb.direction), joints=joints, mirror_of=of)


def sample_plan(space: DesignSpace, rng: np.random.Generator, num_limbs: int | None = None) -> BodyPlan:
    """Draw one body. Limbs are grown one at a time (or as mirrored pairs) until ``num_limbs``
    (drawn from the space when None)."""
    shape = str(rng.choice(space.torso_shapes))
    size = _quantised(rng, space.torso_size, 0.0)
    torso_size: Vec = {
        "sphere": (size, 0.0, 0.0),
        "box": (size * rng.uniform(1.0, 1.8), size * rng.uniform(0.7, 1.2), size * rng.uniform(0.5, 0.9)),
        "capsule": (size * 0.8, size * rng.uniform(0.8, 1.6), 0.0),  # lying along x (see plan_to_mjcf)
        "ellipsoid": (size * rng.uniform(1.0, 1.8), size * rng.uniform(0.7, 1.2), size * rng.uniform(0.6, 1.0)),
    }[shape]
    torso_size = tuple(round(float(v), 4) for v in torso_size)
    target = draw_limb_count(space, rng) if num_limbs is None else num_limbs
    symmetric = space.symmetric and not (rng.random() < space.asymmetric_prob)

    limbs: list[LimbPlan] = []
    depth: list[int] = []
    for _ in range(200):  # growth attempts; a body that cannot reach its count is returned short
        if len(limbs) >= target:
            break
        room = target - len(limbs)
        grow_from_torso = not limbs or rng.random() < space.torso_attach_prob
        if grow_from_torso:
            parent = -1
        else:
            # grow from a limb that is not a mirror copy; its mirror gets the mirrored child
            candidates = [i for i, limb in enumerate(limbs) if limb.mirror_of is None and depth[i] < space.max_depth]
            if not candidates:
                continue
            parent = int(rng.choice(candidates))
        attach = 0.0 if parent < 0 else _attach_fraction(space, rng)
        direction = _direction(space, rng)
        if parent >= 0 and _dot(direction, limbs[parent].direction) < -0.5:
            continue  # folding straight back onto the parent always self-collides
        if space.base == "free" and any(  # planar limbs do not touch each other: two legs may share a hip
            s.parent == parent
            and abs(s.attach - attach) < 0.25
            and _dot(s.direction, direction) > math.cos(math.radians(40))
            for s in limbs
        ):
            continue  # a sibling from (nearly) the same spot and heading would lie inside this limb
        mirror_parent = _mirror_parent(limbs, parent)
        needs_pair = symmetric and (not _is_central(direction) or mirror_parent != parent)
        if needs_pair and room < 2:
            if parent >= 0 and mirror_parent != parent:
                continue
            direction = _central_direction(direction)
            needs_pair = False
        limb = _limb(space, rng, parent, attach, direction)
        limbs.append(limb)
        depth.append(0 if parent < 0 else depth[parent] + 1)
        if needs_pair:
            limbs.append(_mirrored(limb, mirror_parent, of=len(limbs) - 1))
            depth.append(depth[-1])
    torso_density = _torso_density(space, rng)
    if space.joint_signs == "random":  # drawn last: the body is the one "limb" signs give, signs aside
        limbs = [dataclasses.replace(limb, joints=tuple(_flipped(j, rng.random() < 0.5) for j in limb.joints))
                 for limb in limbs]  # fmt: skip
    return BodyPlan(
        torso_shape=shape,
        torso_size=torso_size,
        torso_density=torso_density,
        limbs=tuple(limbs),
        symmetric=symmetric,
    )


def _flipped(joint: JointPlan, flip: bool) -> JointPlan:
    """The same joint turning the other way for a positive torque: axis and range negated."""
    if not flip:
        return joint
    low, high = joint.range
    return dataclasses.replace(joint, axis=tuple(_clean(-a) for a in joint.axis), range=(-high, -low))


def draw_limb_count(space: DesignSpace, rng: np.random.Generator) -> int:
    """A body's number of limbs, with `DesignSpace.limb_count_weights` when the space has them."""
    low, high = space.limb_count
    return int(_pick(rng, np.arange(low, high + 1), space.limb_count_weights))


def _torso_density(space: DesignSpace, rng: np.random.Generator) -> float:
    return round(_quantised(rng, space.torso_density, space.density_step, space.torso_density_weights), 1)


def _attach_fraction(space: DesignSpace, rng: np.random.Generator) -> float:
    where = str(_pick(rng, space.attach_points, space.attach_weights))
    return {"mid": 0.5, "end": 1.0}.get(where) or round(float(rng.uniform(0.3, 1.0)), 3)


def _mirror_parent(limbs: list[LimbPlan], parent: int) -> int:
    """The limb a mirrored child hangs from: the parent's mirror copy, or the parent itself."""
    if parent < 0:
        return -1
    for i, limb in enumerate(limbs):
        if limb.mirror_of == parent:
            return i
    return parent


def _central_direction(direction: Vec) -> Vec:
    """Project a heading onto the xz plane (for an odd limb that must be its own mirror image)."""
    x, _, z = direction
    if abs(x) < 1e-9 and abs(z) < 1e-9:
        return (0.0, 0.0, -1.0)
    return _unit((x, 0.0, z))


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


# ----------------------------------------------------------------------------------------------
# Geometry and MJCF


def torso_surface_distance(shape: str, size: Vec, direction: Vec) -> float:
    """Distance from the torso centre to its surface along ``direction`` (bisection on the shape)."""

    def inside(p: np.ndarray) -> bool:
        if shape == "sphere":
            return float(p @ p) <= size[0] ** 2
        if shape == "box":
            return bool(np.all(np.abs(p) <= np.asarray(size)))
        if shape == "ellipsoid":
            return float(np.sum((p / np.asarray(size)) ** 2)) <= 1.0
        # capsule along x: radius size[0], half-length size[1]
        x = np.clip(p[0], -size[1], size[1])
        return float((p[0] - x) ** 2 + p[1] ** 2 + p[2] ** 2) <= size[0] ** 2

    d = np.asarray(direction, float)
    lo, hi = 0.0, 2.0 * (max(size) + size[0])
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if inside(mid * d) else (lo, mid)
    return lo


def limb_start_points(plan: BodyPlan) -> list[np.ndarray]:
    """Where each limb's segment starts (torso frame): on the torso surface, or on the surface
    of its parent limb at the attachment point."""
    starts: list[np.ndarray] = []
    for limb in plan.limbs:
        d = np.asarray(limb.direction)
        if limb.parent < 0:
            starts.append(torso_surface_distance(plan.torso_shape, plan.torso_size, limb.direction) * d)
        else:
            parent = plan.limbs[limb.parent]
            on_axis = starts[limb.parent] + limb.attach * parent.length * np.asarray(parent.direction)
            starts.append(on_axis + parent.radius * d)
    return starts


def _fmt(*values: float) -> str:
    return " ".join(f"{_clean(round(float(v), 6)):.6g}" for v in values)


def _root_joints(space: DesignSpace) -> list[str]:
    """The torso's unactuated joints: a free joint, or a planar base's slides along x and z and
    hinge about y (without the limbs' default damping, stiffness, armature and range)."""
    if space.base == "free":
        return ['      <freejoint name="root"/>']
    passive = 'limited="false" damping="0" stiffness="0" armature="0"'
    return [
        f'      <joint name="rootx" type="slide" axis="1 0 0" {passive}/>',
        f'      <joint name="rootz" type="slide" axis="0 0 1" {passive}/>',
        f'      <joint name="rooty" type="hinge" axis="0 1 0" {passive}/>',
    ]


def plan_to_mjcf(plan: BodyPlan, name: str, torso_height: float, space: DesignSpace) -> str:
    """MJCF text for a plan. Limb bodies sit where they start; their joints at the attachment
    point on the parent's axis (UNIMAL places them the same way)."""
    starts = limb_start_points(plan)
    children: dict[int, list[int]] = {-1: []}
    for i, limb in enumerate(plan.limbs):
        children.setdefault(limb.parent, []).append(i)
        children.setdefault(i, [])
    anchors = [
        starts[i] - (0 if limb.parent < 0 else plan.limbs[limb.parent].radius) * np.asarray(limb.direction)
        for i, limb in enumerate(plan.limbs)
    ]
    motors: list[str] = []
    excludes: list[str] = []
    # contype 1, conaffinity 0 on each of a planar body's geoms (not in its defaults, which a ground
    # added later would take): they collide with a ground of MuJoCo's defaults but not with each other.
    contacts = ' contype="1" conaffinity="0"' if space.base == "planar" else ""

    def torso_geom() -> str:
        s = plan.torso_size
        ending = f'density="{_fmt(plan.torso_density)}"{contacts}/>'
        if plan.torso_shape == "sphere":
            return f'<geom name="torso/0" type="sphere" size="{_fmt(s[0])}" {ending}'
        if plan.torso_shape == "capsule":
            return (
                f'<geom name="torso/0" type="capsule" fromto="{_fmt(-s[1], 0, 0, s[1], 0, 0)}" size="{_fmt(s[0])}" '
                f"{ending}"
            )
        return f'<geom name="torso/0" type="{plan.torso_shape}" size="{_fmt(*s)}" {ending}'

    def limb_xml(i: int, origin: np.ndarray, indent: str) -> list[str]:
        limb = plan.limbs[i]
        d = np.asarray(limb.direction)
        lines = [f'{indent}<body name="limb/{i}" pos="{_fmt(*(starts[i] - origin))}">']
        for k, joint in enumerate(limb.joints):
            jname = f"limb/{i}/{'xyz'[k] if joint.type == 'hinge' else 's'}"
            anchor = anchors[i] - starts[i]
            lines.append(
                f'{indent}  <joint name="{jname}" type="{joint.type}" pos="{_fmt(*anchor)}" axis="{_fmt(*joint.axis)}" '
                f'range="{_fmt(*joint.range)}"/>'
            )
            motors.append(f'    <motor name="{jname}" joint="{jname}" gear="{_fmt(joint.gear)}"/>')
        end = limb.length * d
        lines.append(
            f'{indent}  <geom name="limb/{i}" type="{limb.geom}" fromto="{_fmt(0, 0, 0, *end)}" '
            f'size="{_fmt(limb.radius)}" density="{_fmt(limb.density)}"{contacts}/>'
        )
        for c in children[i]:
            lines += limb_xml(c, starts[i], indent + "  ")
        lines.append(f"{indent}</body>")
        return lines

    # Siblings that start from the same point overlap where they meet; that contact is not a
    # collision of the design (UNIMAL excludes the same pairs).
    for kids in children.values():
        for a_i, a in enumerate(kids):
            for b in kids[a_i + 1 :]:
                if np.linalg.norm(anchors[a] - anchors[b]) < plan.limbs[a].radius + plan.limbs[b].radius:
                    excludes.append(f'    <exclude body1="limb/{a}" body2="limb/{b}"/>')

    body = [
        f'    <body name="torso/0" pos="{_fmt(0, 0, torso_height)}">',
        *_root_joints(space),
        f"      {torso_geom()}",
    ]
    for c in children[-1]:
        body += limb_xml(c, np.zeros(3), "      ")
    body.append("    </body>")
    return "\n".join(
        [
            f'<mujoco model="{name}">',
            '  <compiler angle="radian"/>',
            *(
                ['  <option timestep="0.005">', '    <flag filterparent="disable"/>', "  </option>"]
                if space.parent_contacts
                else ['  <option timestep="0.005"/>']
            ),
            "  <default>",
            f'    <joint damping="{_fmt(space.joint_damping)}" stiffness="{_fmt(space.joint_stiffness)}" '
            f'armature="{_fmt(space.joint_armature)}" limited="true" solimplimit="0 0.99 0.01"/>',
            f'    <geom condim="3" friction="{_fmt(space.friction)} 0.1 0.1" rgba="0.7 0.5 0.3 1"/>',
            '    <motor ctrlrange="-1 1" ctrllimited="true"/>',
            "  </default>",
            "  <worldbody>",
            *body,
            "  </worldbody>",
            "  <actuator>",
            *motors,
            "  </actuator>",
            *(["  <contact>", *excludes, "  </contact>"] if excludes else []),
            "</mujoco>",
            "",
        ]
    )
