"""Write N random legged quadrupeds (the quadrupeds sweep, issue 14 target 4) into a body folder.

    python docs/sweeps/quadrupeds/make_quadrupeds.py --count N --seed S --out OUT_FOLDER [--heavy-legs]

A family of robot-dog-like bodies, drawn broadly rather than around any one robot: a box torso
(half-length 0.12-0.35 m, 3-15 kg) and four legs of three hinges each, as legged robots are built:
an abduction joint about the body's x axis, a hip and a knee about y, links of 0.12-0.35 m with a
foot sphere. Every motor's torque limit scales with the body's weight times its thigh length
(0.6-1.3x for the hips, 0.9-1.8x for the knees). Each file carries a `home` keyframe with bent
knees (hip 0.6-1.1 rad, knee -1.6 to -2.2 times that), the standing pose metamorph starts a body
in, as robot descriptions such as MuJoCo Menagerie's do. Joint signs follow the common convention
(at zero the legs hang straight down; a positive hip angle swings the foot backwards).

Legs weigh 33-48 % of a body's mass (median 42 %); with --heavy-legs 34-63 % (median 53 %; the
Go1's are 59 %: its hip, thigh and calf links weigh 0.13, 0.19 and 0.04 of its torso's 5.2 kg).

Writes OUT_FOLDER/xml/*.xml and OUT_FOLDER/manifest.json atomically (`metamorph.files.atomic_folder`:
OUT_FOLDER must not exist or be empty).
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from metamorph.errors import MetamorphError
from metamorph.files import atomic_folder

GRAVITY = 9.81


def _f(*values: float) -> str:
    return " ".join(f"{round(float(v), 5):.5g}" for v in values)


def quadruped_xml(name: str, rng: np.random.Generator, heavy_legs: bool = False) -> tuple[str, dict]:
    """One body's MJCF text and the parameters it was drawn with."""
    u = rng.uniform
    torso = {"half": (u(0.12, 0.35), u(0.04, 0.12), u(0.03, 0.08)), "mass": u(3.0, 15.0)}
    hip_x = (torso["half"][0] * u(0.75, 1.0), -torso["half"][0] * u(0.75, 1.0))  # front, rear
    leg = {
        "abduction_len": u(0.03, 0.10),
        "thigh_len": u(0.12, 0.35),
        "thigh_radius": u(0.015, 0.03),
        # each link's mass as a fraction of the torso's (hip, thigh, calf)
        "mass_fractions": (u(0.04, 0.16), u(0.06, 0.24), u(0.015, 0.05))
        if heavy_legs
        else (u(0.04, 0.08), u(0.06, 0.12), u(0.015, 0.04)),
        "foot_radius": u(0.015, 0.03),
    }
    leg["calf_len"] = leg["thigh_len"] * u(0.85, 1.15)
    rear_scale = u(0.85, 1.15) if rng.random() < 0.3 else 1.0
    masses = [f * torso["mass"] for f in leg["mass_fractions"]]
    total_mass = torso["mass"] + 4 * sum(masses)
    weight_torque = total_mass * GRAVITY * leg["thigh_len"]
    gears = {"abduction": u(0.6, 1.3) * weight_torque, "hip": u(0.6, 1.3) * weight_torque}
    gears["knee"] = u(0.9, 1.8) * weight_torque
    abduction_limit = u(0.6, 1.0)
    ranges = {
        "abduction": (-abduction_limit, abduction_limit),
        "hip": (-u(0.5, 1.0), u(2.5, 4.5)),
        "knee": (-u(2.4, 2.9), -u(0.6, 1.0)),
    }
    hip_angle = u(0.6, 1.1)
    knee_angle = float(np.clip(-u(1.6, 2.2) * hip_angle, *ranges["knee"]))
    joint = {"damping": u(0.5, 2.0), "armature": u(0.005, 0.02), "frictionloss": u(0.0, 0.3)}
    friction = u(0.6, 1.0)

    bodies, motors, home = [], [], []
    for leg_name, x, side in (("FR", hip_x[0], -1), ("FL", hip_x[0], 1), ("RR", hip_x[1], -1), ("RL", hip_x[1], 1)):
        scale = rear_scale if leg_name[0] == "R" else 1.0
        thigh, calf = leg["thigh_len"] * scale, leg["calf_len"] * scale
        r_t = leg["thigh_radius"]
        a_len = leg["abduction_len"]
        m_a, m_t, m_c = masses
        y = side * torso["half"][1]
        bodies += [
            f'      <body name="{leg_name}_hip" pos="{_f(x, y, 0)}">',
            f'        <joint name="{leg_name}_abduction" axis="1 0 0" range="{_f(*ranges["abduction"])}"/>',
            f'        <geom type="cylinder" fromto="{_f(0, 0, 0, 0, side * a_len, 0)}" size="{_f(1.6 * r_t)}" '
            f'mass="{_f(m_a)}"/>',
            f'        <body name="{leg_name}_thigh" pos="{_f(0, side * a_len, 0)}">',
            f'          <joint name="{leg_name}_hip" axis="0 1 0" range="{_f(*ranges["hip"])}"/>',
            f'          <geom type="capsule" fromto="{_f(0, 0, 0, 0, 0, -thigh)}" size="{_f(r_t)}" mass="{_f(m_t)}"/>',
            f'          <body name="{leg_name}_calf" pos="{_f(0, 0, -thigh)}">',
            f'            <joint name="{leg_name}_knee" axis="0 1 0" range="{_f(*ranges["knee"])}"/>',
            f'            <geom type="capsule" fromto="{_f(0, 0, 0, 0, 0, -calf)}" size="{_f(0.6 * r_t)}" '
            f'mass="{_f(0.8 * m_c)}"/>',
            f'            <geom type="sphere" pos="{_f(0, 0, -calf)}" size="{_f(leg["foot_radius"])}" '
            f'mass="{_f(0.2 * m_c)}" friction="{_f(friction)} 0.02 0.01"/>',
            "          </body>",
            "        </body>",
            "      </body>",
        ]
        for part in ("abduction", "hip", "knee"):
            motors.append(f'    <motor name="{leg_name}_{part}" joint="{leg_name}_{part}" gear="{_f(gears[part])}"/>')
        home += [0.0, hip_angle, knee_angle]
    standing_height = leg["thigh_len"] * math.cos(hip_angle) + leg["calf_len"] * math.cos(hip_angle + knee_angle)
    xml = "\n".join(
        [
            f'<mujoco model="{name}">',
            '  <compiler angle="radian"/>',
            "  <default>",
            f'    <joint damping="{_f(joint["damping"])}" armature="{_f(joint["armature"])}" '
            f'frictionloss="{_f(joint["frictionloss"])}" limited="true"/>',
            '    <geom condim="3" friction="0.7 0.1 0.1" rgba="0.35 0.4 0.5 1"/>',
            '    <motor ctrlrange="-1 1" ctrllimited="true"/>',
            "  </default>",
            "  <worldbody>",
            f'    <body name="torso" pos="{_f(0, 0, standing_height + 0.1)}">',
            '      <freejoint name="root"/>',
            f'      <geom type="box" size="{_f(*torso["half"])}" mass="{_f(torso["mass"])}"/>',
            *bodies,
            "    </body>",
            "  </worldbody>",
            "  <actuator>",
            *motors,
            "  </actuator>",
            "  <keyframe>",
            f'    <key name="home" qpos="{_f(0, 0, standing_height + 0.1, 1, 0, 0, 0, *home)}"/>',
            "  </keyframe>",
            "</mujoco>",
            "",
        ]
    )
    params = {"torso": torso, "leg": leg, "rear_scale": rear_scale, "gears": gears, "ranges": ranges}
    params |= {"home": {"hip": hip_angle, "knee": knee_angle}, "joint": joint, "total_mass": total_mass}
    return xml, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--heavy-legs", action="store_true", help="legs of up to 63 %% of the body's mass")
    args = parser.parse_args()
    manifest = {"rule": f"{args.count} quadrupeds, seed {args.seed}, {Path(__file__).name}", "bodies": {}}
    try:
        with atomic_folder(args.out) as tmp:
            (tmp / "xml").mkdir()
            for index in range(args.count):
                name = f"quad-s{args.seed}-{index:04d}"
                xml, params = quadruped_xml(name, np.random.default_rng([args.seed, index]), args.heavy_legs)
                (tmp / "xml" / f"{name}.xml").write_text(xml)
                manifest["bodies"][name] = params
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    except MetamorphError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
