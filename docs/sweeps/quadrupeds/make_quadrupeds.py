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

The bodies are drawn by the library's `quadruped` and `quadruped-heavy-legs` design spaces
(`metamorph.quadrupeds`; `metamorph generate --space quadruped` writes such sets with its validity
check), with this script's own generator per body (``default_rng([seed, index])``, no check), so
the folders of the quadrupeds sweeps are remade byte for byte.

Writes OUT_FOLDER/xml/*.xml and OUT_FOLDER/manifest.json atomically (`metamorph.files.atomic_folder`:
OUT_FOLDER must not exist or be empty).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from metamorph.errors import MetamorphError
from metamorph.files import atomic_folder
from metamorph.quadrupeds import (
    QuadrupedPlan,
    quadruped_heavy_legs_space,
    quadruped_space,
    quadruped_to_mjcf,
    sample_quadruped,
)


def manifest_params(plan: QuadrupedPlan) -> dict:
    """The plan in the manifest layout this script wrote before the space moved into the library."""
    return {
        "torso": {"half": plan.torso_half_size, "mass": plan.torso_mass},
        "leg": {"abduction_len": plan.abduction_length, "thigh_len": plan.thigh_length,
                "thigh_radius": plan.thigh_radius,
                "mass_fractions": plan.link_mass_fractions,
                "foot_radius": plan.foot_radius, "calf_len": plan.calf_length},
        "rear_scale": plan.rear_leg_scale,
        "gears": dict(zip(("abduction", "hip", "knee"), plan.gears, strict=True)),
        "ranges": dict(zip(("abduction", "hip", "knee"), plan.ranges, strict=True)),
        "home": {"hip": plan.home[0], "knee": plan.home[1]},
        "joint": {"damping": plan.damping, "armature": plan.armature, "frictionloss": plan.frictionloss},
        "total_mass": plan.total_mass,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--heavy-legs", action="store_true", help="legs of up to 63 %% of the body's mass")
    args = parser.parse_args()
    space = quadruped_heavy_legs_space() if args.heavy_legs else quadruped_space()
    manifest = {"rule": f"{args.count} quadrupeds, seed {args.seed}, {Path(__file__).name}", "bodies": {}}
    try:
        with atomic_folder(args.out) as tmp:
            (tmp / "xml").mkdir()
            for index in range(args.count):
                name = f"quad-s{args.seed}-{index:04d}"
                plan = sample_quadruped(space, np.random.default_rng([args.seed, index]))
                (tmp / "xml" / f"{name}.xml").write_text(quadruped_to_mjcf(plan, name))
                manifest["bodies"][name] = manifest_params(plan)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    except MetamorphError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
