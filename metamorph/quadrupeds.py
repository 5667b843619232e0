"""A design space of robot-dog-like quadrupeds: one plan, drawn from ranges.

UNIMAL-style spaces (`metamorph.design`) grow limb trees; this space builds every body the way
legged robots are built, so that policies trained on it meet robot descriptions such as MuJoCo
Menagerie's dogs on familiar ground (morphology-randomised training, as in GenLoco, Feng et al.,
CoRL 2022): a box torso with a free root and four legs (front right, front left, rear right, rear
left), each an abduction hinge about the body's x axis, a hip and a knee hinge about y, links with
a foot sphere; one motor a joint, its torque limit scaled to the body's weight times its thigh
length; and a ``home`` keyframe with bent knees, the standing pose metamorph starts a body in.
Joint signs follow the common convention: at zero the legs hang straight down, a positive hip angle
swings the foot backwards.

Unlike UNIMAL bodies these collapse under zero torque, as real robot dogs do, so `check_body`'s
zero-torque stance checks do not apply; instead a body must hold its home pose with its own motors
(`holds_home_pose`).

Registered as ``quadruped`` (legs 33-48 % of the mass), ``quadruped-heavy-legs`` (34-63 %; the
Go1's legs weigh 59 % of its mass), ``quadruped-leg-inertia`` (heavy legs, each link with its own
drawn inertia) and ``quadruped-geom-variety`` (those, with links of several primitives set off their
axes) in `metamorph.design.DESIGN_SPACES`. `sample_quadruped` draws a
`QuadrupedPlan` and `quadruped_to_mjcf` writes it with fixed number formatting: the same generator
gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import mujoco
import numpy as np

from metamorph.errors import MetamorphError

GRAVITY = 9.81
LEGS = (("FR", 0, -1), ("FL", 0, 1), ("RR", 1, -1), ("RL", 1, 1))
"""Leg name, which hip row it hangs from (0 front, 1 rear), and its side (-1 right, +1 left)."""
LEG_JOINTS = ("abduction", "hip", "knee")

Range = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class QuadrupedSpace:
    """Every range a quadruped is drawn from (metres, kilograms, radians)."""

    name: str = "quadruped"
    torso_half_length: Range = (0.12, 0.35)
    torso_half_width: Range = (0.04, 0.12)
    torso_half_height: Range = (0.03, 0.08)
    torso_mass: Range = (3.0, 15.0)
    hip_inset: Range = (0.75, 1.0)
    """A hip row's distance from the torso's centre, as a fraction of the torso's half-length."""
    abduction_length: Range = (0.03, 0.10)
    """The sideways link between the abduction and the hip joint."""
    thigh_length: Range = (0.12, 0.35)
    thigh_radius: Range = (0.015, 0.03)
    """The abduction link is 1.6 × as thick, the calf 0.6 ×."""
    hip_mass_fraction: Range = (0.04, 0.08)
    """Each link's mass as a fraction of the torso's (hip here, thigh and calf below)."""
    thigh_mass_fraction: Range = (0.06, 0.12)
    calf_mass_fraction: Range = (0.015, 0.04)
    """The calf's mass includes its foot (a fifth of it)."""
    foot_radius: Range = (0.015, 0.03)
    calf_over_thigh: Range = (0.85, 1.15)
    uneven_legs_probability: float = 0.3
    """Chance that the rear legs are scaled by `rear_leg_scale` against the front ones."""
    rear_leg_scale: Range = (0.85, 1.15)
    abduction_gear: Range = (0.6, 1.3)
    """Torque limits (motor gears, N m at control 1) as multiples of weight × thigh length."""
    hip_gear: Range = (0.6, 1.3)
    knee_gear: Range = (0.9, 1.8)
    abduction_limit: Range = (0.6, 1.0)
    """The abduction range is ± this."""
    hip_range_back: Range = (0.5, 1.0)
    """The hip turns from -this (foot forwards)…"""
    hip_range_forward: Range = (2.5, 4.5)
    """…to +this (foot backwards)."""
    knee_range_folded: Range = (2.4, 2.9)
    """The knee turns from -this (folded)…"""
    knee_range_open: Range = (0.6, 1.0)
    """…to -this (the leg never straightens fully)."""
    home_hip: Range = (0.6, 1.1)
    """The home keyframe's hip angle; its knee angle is -(`home_knee_over_hip`) × that, within range."""
    home_knee_over_hip: Range = (1.6, 2.2)
    damping: Range = (0.5, 2.0)
    armature: Range = (0.005, 0.02)
    frictionloss: Range = (0.0, 0.3)
    foot_friction: Range = (0.6, 1.0)
    knee_motor_fraction: Range = (0.0, 0.0)
    """Share of the thigh's mass carried at its top, at the hip joint, as a knee motor mounted by the
    hip (a non-colliding sphere of the thigh's radius): real robot dogs carry their knee motors there
    (the Go1's thigh has its centre of mass 14 % of the way down, a uniform rod 50 %; about 0.7 of
    the mass at the top). Drawn after every other number, and 0 writes no sphere: spaces that keep
    it 0 keep their bytes."""
    leg_inertia: bool = False
    """Give every leg link an explicit inertia, as robot files do, drawn around the link's own: its
    centre of mass moved along the link (`thigh_com`, `calf_com`, `hip_com`: fractions of the link's
    length from its joint) and off it (± `com_offset`), its inertia about that centre the uniform
    rod's times `transverse_inertia_scale` (about the two axes across the link) and
    `axial_inertia_scale` (along it). One draw for each link kind, the same on all four legs (left
    legs mirrored). Off by default: the geoms' uniform masses then decide, and the bytes are kept.
    Why: policies trained on uniform legs walk a copy of the Go1 built from this space's parts but
    not one with the Go1's own leg inertias (docs/learning.md)."""
    hip_com: Range = (0.0, 1.0)
    thigh_com: Range = (0.1, 0.6)
    """The Go1's thigh: 0.14 (its knee motor sits by the hip); a uniform rod's: 0.5."""
    calf_com: Range = (0.4, 0.75)
    """With the foot. The Go1's: 0.69; this space's geoms give 0.6."""
    com_offset: Range = (-0.02, 0.02)
    """Metres, across the link, drawn for each of the two directions (the Go1's thigh: 0.019)."""
    transverse_inertia_scale: Range = (0.5, 2.5)
    """The Go1's calf: 2.0 × the rod's; thigh 1.2 ×."""
    axial_inertia_scale: Range = (1.0, 8.0)
    """Of m r² / 2; the Go1's thigh: 6 ×, calf 3.6 ×."""
    geom_variety: bool = False
    """Build links from several primitives set off their joint axes, as robot files build them: the
    torso's box moved by ± `geom_offset` (x) and ± half that (z), with two cylinders along its sides
    (chance `part_probability`, radius `side_cylinder_radius` × its half-height, capped so that they
    reach at most halfway from the torso's side to the thighs); the hip link's
    geoms moved by ± half of `geom_offset` and a motor housing at its far end (chance
    `part_probability`, a cylinder about y, `housing_radius` × the thigh's radius); thigh and calf
    each as two capsules bent at `kink_at` of their length by ± `kink` (x), their tops moved by
    ± `geom_offset` (x) and outwards by up to `geom_outward`. Feet stay where they are. One draw for
    each link kind, the same on all four legs (left legs mirrored); housings and side cylinders are
    massless. Drawn after every other number; off by default, which keeps the bytes. Why: the Go1's
    links sit 0.6-1.5 cm off their axes and are made of several primitives; in a family whose links
    never are, those token columns never vary, and policies lean on them (docs/learning.md)."""
    geom_offset: Range = (-0.02, 0.02)
    geom_outward: Range = (0.0, 0.01)
    kink: Range = (-0.03, 0.03)
    kink_at: Range = (0.3, 0.7)
    part_probability: float = 0.5
    side_cylinder_radius: Range = (0.8, 1.1)
    housing_radius: Range = (1.5, 3.0)
    min_hold_fraction: float = 0.8
    """Validity: a body is kept when its motors, holding its home pose on the floor, keep its torso
    at ≥ this fraction of its start height (`holds_home_pose`)."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple) and not (len(value) == 2 and value[0] <= value[1]):
                raise MetamorphError(f"design space '{self.name}': {field.name} {value} must be a range (low ≤ high)")
        for field in ("knee_motor_fraction", "uneven_legs_probability", "min_hold_fraction", "hip_com", "thigh_com",
                      "calf_com", "kink_at", "part_probability"):  # fmt: skip
            value = getattr(self, field)
            if not all(0 <= v <= 1 for v in (value if isinstance(value, tuple) else (value,))):
                raise MetamorphError(f"design space '{self.name}': {field} {value} must lie within [0, 1]")


def quadruped_space() -> QuadrupedSpace:
    return QuadrupedSpace()


def quadruped_heavy_legs_space() -> QuadrupedSpace:
    return QuadrupedSpace(
        name="quadruped-heavy-legs",
        hip_mass_fraction=(0.04, 0.16),
        thigh_mass_fraction=(0.06, 0.24),
        calf_mass_fraction=(0.015, 0.05),
    )


def quadruped_leg_inertia_space() -> QuadrupedSpace:
    """The heavy-legged space with an explicit inertia drawn for every leg link (`leg_inertia`): the
    training family of the recipe that walks Menagerie's Go1 (`train/quadrupeds-go1.toml`)."""
    return dataclasses.replace(quadruped_heavy_legs_space(), name="quadruped-leg-inertia", leg_inertia=True)


def quadruped_geom_variety_space() -> QuadrupedSpace:
    """The leg-inertia space with links of several primitives off their axes (`geom_variety`)."""
    return dataclasses.replace(quadruped_leg_inertia_space(), name="quadruped-geom-variety", geom_variety=True)


@dataclasses.dataclass(frozen=True)
class LinkGeoms:
    """One body's `QuadrupedSpace.geom_variety` draws (metres; 0 radius: no such part)."""

    torso_offset: tuple[float, float]  # x, z
    side_cylinder_radius: float  # × the torso's half-height
    hip_offset: tuple[float, float]  # x, z
    housing_radius: float  # × the thigh's radius
    thigh: tuple[float, float, float, float]  # top's x offset, top's outward offset, kink (x), kink_at
    calf: tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class QuadrupedPlan:
    """All numbers of one quadruped (what `quadruped_to_mjcf` writes)."""

    torso_half_size: tuple[float, float, float]
    torso_mass: float
    hip_x: tuple[float, float]  # front, rear
    abduction_length: float
    thigh_length: float
    thigh_radius: float
    link_mass_fractions: tuple[float, float, float]  # hip, thigh, calf (with its foot), of the torso's mass
    foot_radius: float
    calf_length: float
    rear_leg_scale: float
    gears: tuple[float, float, float]  # abduction, hip, knee
    ranges: tuple[Range, Range, Range]  # abduction, hip, knee
    home: tuple[float, float]  # hip, knee angles of the home keyframe
    damping: float
    armature: float
    frictionloss: float
    foot_friction: float
    knee_motor_fraction: float = 0.0
    leg_inertials: tuple[tuple[float, float, float, float, float], ...] | None = None
    """For the hip, thigh and calf links: centre of mass along the link (fraction of its length),
    its offsets across the link (x, then y or z, metres), transverse and axial inertia scales; None:
    the geoms decide."""
    link_geoms: LinkGeoms | None = None
    """None: one primitive a link, on its axis."""

    @property
    def limbs(self) -> tuple[str, ...]:
        """The links below the torso, in the order the file lists them (three a leg)."""
        return tuple(f"{leg}_{link}" for leg, _, _ in LEGS for link in ("hip", "thigh", "calf"))

    @property
    def dof(self) -> int:
        return 3 * len(LEGS)

    @property
    def symmetric(self) -> bool:
        return True

    @property
    def symmetric_pairs(self) -> list[tuple[int, int]]:
        """Each right leg's links with their left twins, as indices into `limbs`."""
        return [(3 * right + k, 3 * (right + 1) + k) for right in (0, 2) for k in range(3)]

    @property
    def link_masses(self) -> tuple[float, float, float]:
        return tuple(f * self.torso_mass for f in self.link_mass_fractions)

    @property
    def total_mass(self) -> float:
        return self.torso_mass + len(LEGS) * sum(self.link_masses)

    @property
    def standing_height(self) -> float:
        """The hips' height above the feet' centres in the home pose (front legs)."""
        hip, knee = self.home
        return self.thigh_length * math.cos(hip) + self.calf_length * math.cos(hip + knee)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def sample_quadruped(space: QuadrupedSpace, rng: np.random.Generator) -> QuadrupedPlan:
    """One quadruped drawn from ``space`` (the order of the draws is part of the space's bytes)."""

    def u(bounds: Range) -> float:
        return float(rng.uniform(*bounds))

    half_size = (u(space.torso_half_length), u(space.torso_half_width), u(space.torso_half_height))
    torso_mass = u(space.torso_mass)
    hip_x = (half_size[0] * u(space.hip_inset), -half_size[0] * u(space.hip_inset))
    abduction_length, thigh_length, thigh_radius = (
        u(space.abduction_length), u(space.thigh_length), u(space.thigh_radius)
    )  # fmt: skip
    fractions = (u(space.hip_mass_fraction), u(space.thigh_mass_fraction), u(space.calf_mass_fraction))
    foot_radius = u(space.foot_radius)
    calf_length = thigh_length * u(space.calf_over_thigh)
    rear_leg_scale = u(space.rear_leg_scale) if rng.random() < space.uneven_legs_probability else 1.0
    weight_torque = (torso_mass + len(LEGS) * sum(f * torso_mass for f in fractions)) * GRAVITY * thigh_length
    gears = tuple(u(r) * weight_torque for r in (space.abduction_gear, space.hip_gear, space.knee_gear))
    abduction_limit = u(space.abduction_limit)
    hip_range = (-u(space.hip_range_back), u(space.hip_range_forward))
    knee_range = (-u(space.knee_range_folded), -u(space.knee_range_open))
    home_hip = u(space.home_hip)
    home_knee = float(np.clip(-u(space.home_knee_over_hip) * home_hip, *knee_range))
    damping, armature, frictionloss, foot_friction = (
        u(space.damping), u(space.armature), u(space.frictionloss), u(space.foot_friction)
    )  # fmt: skip
    knee_motor_fraction = u(space.knee_motor_fraction) if space.knee_motor_fraction[1] > 0 else 0.0
    leg_inertials = None
    if space.leg_inertia:
        leg_inertials = tuple(
            (u(along), u(space.com_offset), u(space.com_offset),
             u(space.transverse_inertia_scale), u(space.axial_inertia_scale))
            for along in (space.hip_com, space.thigh_com, space.calf_com)
        )  # fmt: skip
    link_geoms = None
    if space.geom_variety:
        half_offset = (space.geom_offset[0] / 2, space.geom_offset[1] / 2)

        def part(radius: Range) -> float:
            return u(radius) if rng.random() < space.part_probability else 0.0

        link_geoms = LinkGeoms(
            torso_offset=(u(space.geom_offset), u(half_offset)),
            side_cylinder_radius=part(space.side_cylinder_radius),
            hip_offset=(u(half_offset), u(half_offset)),
            housing_radius=part(space.housing_radius),
            thigh=(u(space.geom_offset), u(space.geom_outward), u(space.kink), u(space.kink_at)),
            calf=(u(space.geom_offset), u(space.geom_outward), u(space.kink), u(space.kink_at)),
        )
    return QuadrupedPlan(
        torso_half_size=half_size,
        torso_mass=torso_mass,
        hip_x=hip_x,
        abduction_length=abduction_length,
        thigh_length=thigh_length,
        thigh_radius=thigh_radius,
        link_mass_fractions=fractions,
        foot_radius=foot_radius,
        calf_length=calf_length,
        rear_leg_scale=rear_leg_scale,
        gears=gears,
        ranges=((-abduction_limit, abduction_limit), hip_range, knee_range),
        home=(home_hip, home_knee),
        damping=damping,
        armature=armature,
        frictionloss=frictionloss,
        foot_friction=foot_friction,
        knee_motor_fraction=knee_motor_fraction,
        leg_inertials=leg_inertials,
        link_geoms=link_geoms,
    )


def _f(*values: float) -> str:
    return " ".join(f"{round(float(v), 5):.5g}" for v in values)


def _inertial(
    draw: tuple[float, float, float, float, float], mass: float, length: float, radius: float, axis: int, side: int
) -> str:
    """An ``<inertial>`` for a link along body axis ``axis`` (1: +y times ``side``, 2: -z), from a
    `QuadrupedPlan.leg_inertials` draw and the uniform rod's inertia."""
    along, offset_a, offset_b, transverse_scale, axial_scale = draw
    transverse = transverse_scale * mass * length**2 / 12
    axial = min(axial_scale * mass * radius**2 / 2, 1.9 * transverse)  # within the triangle inequality
    if axis == 1:
        pos, diag = (offset_a, side * along * length, offset_b), (transverse, axial, transverse)
    else:
        pos, diag = (offset_a, side * offset_b, -along * length), (transverse, transverse, axial)
    return f'<inertial pos="{_f(*pos)}" mass="{_f(mass)}" diaginertia="{_f(*diag)}"/>'


def _torso_geoms(plan: QuadrupedPlan) -> list[str]:
    """The torso's box, and with `QuadrupedPlan.link_geoms` its offset and side cylinders."""
    half_size, indent = plan.torso_half_size, "      "
    if plan.link_geoms is None:
        return [f'{indent}<geom type="box" size="{_f(*half_size)}" mass="{_f(plan.torso_mass)}"/>']
    dx, dz = plan.link_geoms.torso_offset
    lines = [f'{indent}<geom type="box" pos="{_f(dx, 0, dz)}" size="{_f(*half_size)}" mass="{_f(plan.torso_mass)}"/>']
    if plan.link_geoms.side_cylinder_radius > 0:
        # capped to reach at most halfway to the thighs, so that they do not press on them
        reach = max(plan.abduction_length - plan.thigh_radius, 0.0)
        radius = min(plan.link_geoms.side_cylinder_radius * half_size[2], 0.5 * half_size[1] + 0.5 * reach)
        for y in (-0.5 * half_size[1], 0.5 * half_size[1]):
            ends = (dx - half_size[0], y, dz, dx + half_size[0], y, dz)
            lines.append(f'{indent}<geom type="cylinder" fromto="{_f(*ends)}" size="{_f(radius)}" mass="0"/>')
    return lines


def _hip_geoms(plan: QuadrupedPlan, side: int, mass: float) -> list[str]:
    """The abduction link: a cylinder from the abduction joint to the hip joint, and with
    `QuadrupedPlan.link_geoms` its offset and a motor housing at the hip joint."""
    a_len, radius, indent = plan.abduction_length, 1.6 * plan.thigh_radius, "        "
    dx, dz = (0.0, 0.0) if plan.link_geoms is None else plan.link_geoms.hip_offset
    lines = [f'{indent}<geom type="cylinder" fromto="{_f(dx, 0, dz, dx, side * a_len, dz)}" size="{_f(radius)}" '
             f'mass="{_f(mass)}"/>']  # fmt: skip
    if plan.link_geoms is not None and plan.link_geoms.housing_radius > 0:
        half = plan.thigh_radius
        ends = (dx, side * (a_len - half), dz, dx, side * (a_len + half), dz)
        size = plan.link_geoms.housing_radius * plan.thigh_radius
        lines.append(f'{indent}<geom type="cylinder" fromto="{_f(*ends)}" size="{_f(size)}" mass="0"/>')
    return lines


def _leg_link_geoms(
    link_geoms: LinkGeoms | None, kind: str, length: float, radius: float, mass: float, side: int
) -> list[str]:
    """A thigh or calf hanging along -z: one capsule on its axis, or with ``link_geoms`` two capsules
    from a top set off the axis, bent at the kink, to the link's end on its axis (x) and as far out
    as the top (y; the calf's end stays on the axis, where its foot is)."""
    indent = "          " if kind == "thigh" else "            "
    if link_geoms is None:
        return [f'{indent}<geom type="capsule" fromto="{_f(0, 0, 0, 0, 0, -length)}" size="{_f(radius)}" '
                f'mass="{_f(mass)}"/>']  # fmt: skip
    top_x, outward, kink, kink_at = getattr(link_geoms, kind)
    y = side * outward
    points = [(top_x, y, 0.0), (top_x + kink, y, -kink_at * length), (0.0, y if kind == "thigh" else 0.0, -length)]
    pieces = list(itertools.pairwise(points))
    lengths = [float(np.linalg.norm(np.subtract(b, a))) for a, b in pieces]
    return [
        f'{indent}<geom type="capsule" fromto="{_f(*a, *b)}" size="{_f(radius)}" '
        f'mass="{_f(mass * piece / sum(lengths))}"/>'
        for (a, b), piece in zip(pieces, lengths, strict=True)
    ]


def quadruped_to_mjcf(plan: QuadrupedPlan, name: str) -> str:
    """The plan as MJCF text, standing in its home pose 0.1 m above the ground (metamorph places
    every body on the floor from its keyframe)."""
    bodies, motors = [], []
    r_t = plan.thigh_radius
    m_hip, m_thigh, m_calf = plan.link_masses
    for leg, row, side in LEGS:
        scale = plan.rear_leg_scale if row == 1 else 1.0
        thigh, calf = plan.thigh_length * scale, plan.calf_length * scale
        a_len = plan.abduction_length
        knee_motor = []  # its mass sits at the hip joint, where the thigh's top is
        if plan.knee_motor_fraction > 0:
            knee_motor.append(
                f'          <geom name="{leg}_knee_motor" type="sphere" size="{_f(r_t)}" '
                f'mass="{_f(m_thigh * plan.knee_motor_fraction)}" contype="0" conaffinity="0"/>'
            )
        inertials = {"hip": [], "thigh": [], "calf": []}
        if plan.leg_inertials is not None:
            hip_draw, thigh_draw, calf_draw = plan.leg_inertials
            inertials["hip"] = ["        " + _inertial(hip_draw, m_hip, a_len, 1.6 * r_t, 1, side)]
            inertials["thigh"] = ["          " + _inertial(thigh_draw, m_thigh, thigh, r_t, 2, side)]
            inertials["calf"] = ["            " + _inertial(calf_draw, m_calf, calf, 0.6 * r_t, 2, side)]
        bodies += [
            f'      <body name="{leg}_hip" pos="{_f(plan.hip_x[row], side * plan.torso_half_size[1], 0)}">',
            *inertials["hip"],
            f'        <joint name="{leg}_abduction" axis="1 0 0" range="{_f(*plan.ranges[0])}"/>',
            *_hip_geoms(plan, side, m_hip),
            f'        <body name="{leg}_thigh" pos="{_f(0, side * a_len, 0)}">',
            *inertials["thigh"],
            f'          <joint name="{leg}_hip" axis="0 1 0" range="{_f(*plan.ranges[1])}"/>',
            *_leg_link_geoms(plan.link_geoms, "thigh", thigh, r_t, m_thigh * (1 - plan.knee_motor_fraction), side),
            *knee_motor,
            f'          <body name="{leg}_calf" pos="{_f(0, 0, -thigh)}">',
            *inertials["calf"],
            f'            <joint name="{leg}_knee" axis="0 1 0" range="{_f(*plan.ranges[2])}"/>',
            *_leg_link_geoms(plan.link_geoms, "calf", calf, 0.6 * r_t, 0.8 * m_calf, side),
            f'            <geom type="sphere" pos="{_f(0, 0, -calf)}" size="{_f(plan.foot_radius)}" '
            f'mass="{_f(0.2 * m_calf)}" friction="{_f(plan.foot_friction)} 0.02 0.01"/>',
            "          </body>",
            "        </body>",
            "      </body>",
        ]
        for joint, gear in zip(LEG_JOINTS, plan.gears, strict=True):
            motors.append(f'    <motor name="{leg}_{joint}" joint="{leg}_{joint}" gear="{_f(gear)}"/>')
    height = plan.standing_height + 0.1
    home = [0.0, *plan.home] * len(LEGS)
    return "\n".join(
        [
            f'<mujoco model="{name}">',
            '  <compiler angle="radian"/>',
            "  <default>",
            f'    <joint damping="{_f(plan.damping)}" armature="{_f(plan.armature)}" '
            f'frictionloss="{_f(plan.frictionloss)}" limited="true"/>',
            '    <geom condim="3" friction="0.7 0.1 0.1" rgba="0.35 0.4 0.5 1"/>',
            '    <motor ctrlrange="-1 1" ctrllimited="true"/>',
            "  </default>",
            "  <worldbody>",
            f'    <body name="torso" pos="{_f(0, 0, height)}">',
            '      <freejoint name="root"/>',
            *_torso_geoms(plan),
            *bodies,
            "    </body>",
            "  </worldbody>",
            "  <actuator>",
            *motors,
            "  </actuator>",
            "  <keyframe>",
            f'    <key name="home" qpos="{_f(0, 0, height, 1, 0, 0, 0, *home)}"/>',
            "  </keyframe>",
            "</mujoco>",
            "",
        ]
    )


def holds_home_pose(floor_model: mujoco.MjModel, root_body: int, home_qpos: np.ndarray, seconds: float = 2.0) -> float:
    """The torso's lowest height, as a fraction of its start, while the body's motors hold its home
    pose on the floor: a stiff joint-space PD law (the whole control range at 0.1 rad of error),
    within each motor's control range. A body whose motors cannot carry it, or whose stance tips
    over, sinks towards its zero-torque collapse."""
    data = mujoco.MjData(floor_model)
    data.qpos[:] = home_qpos
    mujoco.mj_forward(floor_model, data)
    joints = floor_model.actuator_trnid[:, 0]
    qpos_adr, dof_adr = floor_model.jnt_qposadr[joints], floor_model.jnt_dofadr[joints]
    target = home_qpos[qpos_adr]
    limited = floor_model.actuator_ctrllimited.astype(bool)
    low = np.where(limited, floor_model.actuator_ctrlrange[:, 0], -1.0)
    high = np.where(limited, floor_model.actuator_ctrlrange[:, 1], 1.0)
    half_range = 0.5 * (high - low)
    start = lowest = float(data.xpos[root_body, 2])
    for _ in range(round(seconds / floor_model.opt.timestep)):
        error = target - data.qpos[qpos_adr]
        data.ctrl[:] = np.clip(half_range * (10.0 * error - 0.5 * data.qvel[dof_adr]), low, high)
        mujoco.mj_step(floor_model, data)
        lowest = min(lowest, float(data.xpos[root_body, 2]))
    return lowest / start
