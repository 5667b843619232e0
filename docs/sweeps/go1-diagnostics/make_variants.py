"""Write the Go1 variants of the Go1 diagnostics (issue 14, target 4) into OUT_FOLDER.

    MENAGERIE_ROOT=/path python docs/sweeps/go1-diagnostics/make_variants.py OUT_FOLDER

Reads the local collision-only copy of MuJoCo Menagerie's unitree_go1 (MENAGERIE_ROOT/unitree_go1/
go1.xml; see docs/sweeps/quadrupeds/command.txt) and writes:

- menagerie-hips-in/unitree_go1/go1.xml: the Go1 with its hips at x = ±0.11 m (inside its trunk
  box, as the quadruped space places them) instead of ±0.1881;
- menagerie-kinds/unitree_go1/go1.xml: the Go1 whose tokens have the quadruped space's part kinds
  (its trunk's largest geom a box covering its two cylinders, one capsule a calf instead of two, so
  the foot sphere is no longer the calf's largest geom);
- menagerie-family-geoms/unitree_go1/go1.xml: the Go1 (its inertias, joints, motors, options)
  with the geoms and contact settings a quadruped-space body of its sizes has: one trunk box, a
  cylinder a hip link, one straight capsule a thigh, a capsule and a foot sphere a calf, condim 3
  and friction 0.7 (the feet 0.8);
- menagerie-trunk-com0/unitree_go1/go1.xml: the Go1 with its trunk's centre of mass at the trunk's
  origin (2.2 cm forward in the file);
- menagerie-family-feet/unitree_go1/go1.xml: the Go1 with plain foot contacts (condim 3, friction
  0.8, MuJoCo's default solimp and priority, as the quadruped space's feet), its other geoms as they are;
- go1like.xml: a body of the quadruped space with the Go1's numbers (trunk box, hip placement,
  link lengths and masses, torque limits, ranges, home pose, damping, armature, friction loss);
- go1like-hipsin.xml: the same with its hips at ±0.11 m;
- go1like-trunk.xml, go1like-hipinertia.xml, go1like-thighinertia.xml, go1like-calfinertia.xml,
  go1like-allinertia.xml: go1like with the Go1's own `<inertial>` for its trunk, its hip links,
  thighs, calves, or all leg links (with the trunk's);
- go1like-kneemotor.xml: go1like with 70 % of each thigh's mass at its top (the quadruped space's
  `knee_motor_fraction`).
"""

import dataclasses
import os
import re
import sys
from pathlib import Path

from metamorph.quadrupeds import QuadrupedPlan, quadruped_to_mjcf

GO1_LIKE = QuadrupedPlan(
    torso_half_size=(0.125, 0.047, 0.057),  # the trunk box's length and height; hips at y = ±0.047
    torso_mass=5.204,
    hip_x=(0.1881, -0.1881),
    abduction_length=0.08,
    thigh_length=0.213,
    thigh_radius=0.015,
    link_mass_fractions=(0.68 / 5.204, 1.009 / 5.204, 0.1959 / 5.204),
    foot_radius=0.023,
    calf_length=0.213,
    rear_leg_scale=1.0,
    gears=(23.7, 23.7, 35.55),
    ranges=((-0.863, 0.863), (-0.686, 4.501), (-2.818, -0.888)),
    home=(0.9, -1.8),
    damping=2.0,
    armature=0.01,
    frictionloss=0.2,
    foot_friction=0.8,
)


def with_inertials(xml: str, go1: str, links: tuple[str, ...]) -> str:
    """``xml`` with the Go1's own ``<inertial>`` put into the leg links named by ``links``."""
    for match in re.finditer(r'<body name="(\w+_(hip|thigh|calf))" pos="[^"]*">\s*<inertial ([^/]*)/>', go1):
        if match.group(2) in links:
            attributes = re.sub(r"\s+", " ", match.group(3))
            pattern = rf'(<body name="{match.group(1)}" pos="[^"]*">\n)'
            xml = re.sub(pattern, lambda m, a=attributes: m.group(1) + f"        <inertial {a}/>\n", xml)
    return xml


def family_geoms(go1: str) -> str:
    """The Go1 with a quadruped-space body's geoms and contact settings (`GO1_LIKE`'s sizes)."""
    contact = 'condim="3" friction="0.7 0.1 0.1" margin="0"'
    xml = re.sub(r'\n\s*<geom class="collision"[^>]*/>', "", go1)  # the trunk's eight geoms
    xml = xml.replace(
        "      <freejoint/>", f'      <freejoint/>\n      <geom type="box" size="0.125 0.047 0.057" {contact}/>'
    )
    for side, y in (("right", -0.08), ("left", 0.08)):
        pattern = rf'(\s*<geom class="hip_{side}\d"/>)+'
        cylinder = f'\n        <geom type="cylinder" fromto="0 0 0 0 {y} 0" size="0.024" {contact}/>'
        xml = re.sub(pattern, lambda m, c=cylinder: c, xml)
    thigh = f'\n          <geom type="capsule" fromto="0 0 0 0 0 -0.213" size="0.015" {contact}/>'
    xml = re.sub(r'(\s*<geom class="thigh\d"/>)+', lambda m: thigh, xml)
    calf = f'\n            <geom type="capsule" fromto="0 0 0 0 0 -0.213" size="0.009" {contact}/>'
    xml = re.sub(r'(\s*<geom class="calf\d"/>)+', lambda m: calf, xml)
    foot = (
        '<geom name="\\1" type="sphere" pos="0 0 -0.213" size="0.023" condim="3" friction="0.8 0.02 0.01" margin="0"/>'
    )
    return re.sub(r'<geom name="(\w+)" class="foot"/>', foot, xml)


def main() -> None:
    out = Path(sys.argv[1])
    go1 = (Path(os.environ["MENAGERIE_ROOT"]) / "unitree_go1" / "go1.xml").read_text()
    hips_in = go1
    for x in ("0.1881", "-0.1881"):
        for y in ("-0.04675", "0.04675"):
            hips_in = hips_in.replace(f'pos="{x} {y} 0"', f'pos="{"-" if x[0] == "-" else ""}0.11 {y} 0"')
    kinds = go1.replace(
        '      <geom class="collision" size="0.125 0.04 0.057" type="box"/>\n'
        '      <geom class="collision" quat="1 0 1 0" pos="0 -0.04 0" size="0.058 0.125" type="cylinder"/>\n'
        '      <geom class="collision" quat="1 0 1 0" pos="0 +0.04 0" size="0.058 0.125" type="cylinder"/>',
        '      <geom class="collision" size="0.125 0.098 0.058" type="box"/>',
    )
    kinds = kinds.replace(
        '          <geom size="0.01" fromto="0 0 0 0.02 0 -0.13"/>\n        </default>\n'
        '        <default class="calf2">\n          <geom size="0.01" fromto="0.02 0 -0.13 0 0 -0.2"/>',
        '          <geom size="0.012" fromto="0 0 0 0 0 -0.2"/>',
    ).replace('            <geom class="calf2"/>\n', "")
    files = {"menagerie-hips-in/unitree_go1/go1.xml": hips_in, "menagerie-kinds/unitree_go1/go1.xml": kinds}
    files["menagerie-family-geoms/unitree_go1/go1.xml"] = family_geoms(go1)
    trunk_com = go1.replace('<inertial pos="0.0223 0.002 -0.0005"', '<inertial pos="0 0 0"')
    files["menagerie-trunk-com0/unitree_go1/go1.xml"] = trunk_com
    feet = go1.replace(
        '<geom type="sphere" size="0.023" pos="0 0 -0.213" priority="1" solimp="0.015 1 0.031" condim="6"\n'
        '            friction="0.8 0.02 0.01"/>',
        '<geom type="sphere" size="0.023" pos="0 0 -0.213" condim="3" friction="0.8"/>',
    )
    files["menagerie-family-feet/unitree_go1/go1.xml"] = feet
    if trunk_com == go1 or feet == go1:
        sys.exit("the Go1 file is not the one these variants were written for")
    base = quadruped_to_mjcf(GO1_LIKE, "go1like")
    files["go1like.xml"] = base
    files["go1like-hipsin.xml"] = quadruped_to_mjcf(dataclasses.replace(GO1_LIKE, hip_x=(0.11, -0.11)), "go1like")
    trunk = re.sub(r"\s+", " ", re.search(r'<body name="trunk"[^>]*>\s*(<inertial [^/]*/>)', go1).group(1))
    root = '      <freejoint name="root"/>'
    with_trunk = base.replace(root, f"      {trunk}\n{root}")
    files["go1like-trunk.xml"] = with_trunk
    for link in ("hip", "thigh", "calf"):
        files[f"go1like-{link}inertia.xml"] = with_inertials(base, go1, (link,))
    files["go1like-allinertia.xml"] = with_inertials(with_trunk, go1, ("hip", "thigh", "calf"))
    motor = dataclasses.replace(GO1_LIKE, knee_motor_fraction=0.7)
    files["go1like-kneemotor.xml"] = quadruped_to_mjcf(motor, "go1like")
    for name, text in files.items():
        if name.startswith("go1like"):
            text = text.replace('model="go1like"', f'model="{Path(name).stem}"')  # evaluations name bodies so
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
        print(out / name)


if __name__ == "__main__":
    main()
