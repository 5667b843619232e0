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

Registered as ``quadruped`` (legs 33-48 % of the mass) and ``quadruped-heavy-legs`` (34-63 %; the
Go1's legs weigh 59 % of its mass) in `metamorph.design.DESIGN_SPACES`. `sample_quadruped` draws a
`QuadrupedPlan` and `quadruped_to_mjcf` writes it with fixed number formatting: the same generator
gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import math

import mujoco
import numpy as np

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
    min_hold_fraction: float = 0.8
    """Validity: a body is kept when its motors, holding its home pose on the floor, keep its torso
    at ≥ this fraction of its start height (`holds_home_pose`)."""


def quadruped_space() -> QuadrupedSpace:
    return QuadrupedSpace()


def quadruped_heavy_legs_space() -> QuadrupedSpace:
    return QuadrupedSpace(
        name="quadruped-heavy-legs",
        hip_mass_fraction=(0.04, 0.16),
        thigh_mass_fraction=(0.06, 0.24),
        calf_mass_fraction=(0.015, 0.05),
    )


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
        damping=u(space.damping),
        armature=u(space.armature),
        frictionloss=u(space.frictionloss),
        foot_friction=u(space.foot_friction),
    )


def _f(*values: float) -> str:
    return " ".join(f"{round(float(v), 5):.5g}" for v in values)


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
        bodies += [
            f'      <body name="{leg}_hip" pos="{_f(plan.hip_x[row], side * plan.torso_half_size[1], 0)}">',
            f'        <joint name="{leg}_abduction" axis="1 0 0" range="{_f(*plan.ranges[0])}"/>',
            f'        <geom type="cylinder" fromto="{_f(0, 0, 0, 0, side * a_len, 0)}" size="{_f(1.6 * r_t)}" '
            f'mass="{_f(m_hip)}"/>',
            f'        <body name="{leg}_thigh" pos="{_f(0, side * a_len, 0)}">',
            f'          <joint name="{leg}_hip" axis="0 1 0" range="{_f(*plan.ranges[1])}"/>',
            f'          <geom type="capsule" fromto="{_f(0, 0, 0, 0, 0, -thigh)}" size="{_f(r_t)}" '
            f'mass="{_f(m_thigh)}"/>',
            f'          <body name="{leg}_calf" pos="{_f(0, 0, -thigh)}">',
            f'            <joint name="{leg}_knee" axis="0 1 0" range="{_f(*plan.ranges[2])}"/>',
            f'            <geom type="capsule" fromto="{_f(0, 0, 0, 0, 0, -calf)}" size="{_f(0.6 * r_t)}" '
            f'mass="{_f(0.8 * m_calf)}"/>',
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
            f'      <geom type="box" size="{_f(*plan.torso_half_size)}" mass="{_f(plan.torso_mass)}"/>',
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
