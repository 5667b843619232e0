"""Each bad robot description gets a one-line error naming the file and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES
from metamorph.errors import MorphologyError
from metamorph.morphology import LoadOptions, load_morphology
from metamorph.tokens import tokenize

LEG = '<body name="leg"><joint name="hip" axis="0 1 0" range="-1 1"/><geom type="capsule" size="0.02 0.1"/></body>'


def mjcf(body_inner: str = LEG, actuators: str = '<motor joint="hip" gear="10"/>', extra: str = "") -> str:
    return (
        f'<mujoco model="bot">{extra}<worldbody><body name="torso"><freejoint/><geom size="0.1"/>{body_inner}</body>'
        f"</worldbody><actuator>{actuators}</actuator></mujoco>"
    )


URDF_HEAD = '<robot name="r"><link name="base"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial><collision><geometry><box size="0.2 0.2 0.1"/></geometry></collision></link>'
URDF_LEG = '<link name="leg"><inertial><mass value="0.5"/><inertia ixx="0.001" iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>{collision}</link>'
URDF_JOINT = (
    '<joint name="hip" type="revolute"><parent link="base"/><child link="leg"/><axis xyz="0 1 0"/>{limit}</joint>'
)


def urdf(collision="<collision><geometry><sphere radius='0.05'/></geometry></collision>", limit=None) -> str:
    limit = limit if limit is not None else '<limit lower="-1" upper="1" effort="20" velocity="5"/>'
    return URDF_HEAD + URDF_LEG.format(collision=collision) + URDF_JOINT.format(limit=limit) + "</robot>"


CASES = {
    "malformed_xml": (
        "bot.xml",
        "<mujoco><worldbody><body></worldbody></mujoco>",
        r"malformed XML at line 1, column \d+",
    ),
    "not_a_robot": ("bot.xml", "<html><body/></html>", r"root element <html> is neither <mujoco> \(MJCF\) nor <robot>"),
    "urdf_missing_mesh": (
        "r.urdf",
        urdf("<collision><geometry><mesh filename='package://r/meshes/leg.stl'/></geometry></collision>"),
        r"link 'leg': mesh file 'package://r/meshes/leg.stl' not found",
    ),
    "mjcf_missing_mesh": (
        "bot.xml",
        mjcf(
            LEG.replace('type="capsule" size="0.02 0.1"', 'type="mesh" mesh="m"'),
            extra='<asset><mesh name="m" file="nothere.stl"/></asset>',
        ),
        r"missing file: .*nothere\.stl",
    ),
    "no_actuated_joint": ("bot.xml", mjcf(actuators=""), r"no actuated joint"),
    "no_joint_at_all": (
        "bot.xml",
        '<mujoco><worldbody><body name="a"><geom size="1"/></body></worldbody></mujoco>',
        "no actuated joint",
    ),
    "zero_mass": (
        "bot.xml",
        mjcf(LEG.replace('size="0.02 0.1"', 'size="0.02 0.1" mass="0"')),
        r"mass and inertia of moving bodies must be larger than mjMINVAL; Element name 'leg'",
    ),
    "negative_mass": (
        "bot.xml",
        mjcf(LEG.replace('size="0.02 0.1"', 'size="0.02 0.1" mass="-1"')),
        r"mass, inertia or density are negative",
    ),
    "duplicate_names": ("bot.xml", mjcf(LEG + LEG), r"repeated name 'leg' in body"),
    "infinite_mass": (
        "bot.xml",
        mjcf().replace('<geom size="0.1"/>', '<geom size="0.1" mass="inf"/>'),
        r"body 'torso': mass is not finite \(inf\)",
    ),
    "infinite_gear": (
        "bot.xml",
        mjcf(actuators='<motor name="m" joint="hip" gear="inf"/>'),
        r"actuator 'm': gear is not finite",
    ),
    "nan_damping": (
        "bot.xml",
        mjcf(LEG.replace('range="-1 1"', 'range="-1 1" damping="nan"')),
        r"joint 'hip': damping is not finite \(nan\)",
    ),
    "infinite_joint_range": (
        "bot.xml",
        mjcf(LEG.replace('range="-1 1"', 'range="-1 inf"')),
        r"joint 'hip': range is not finite",
    ),
    "inverted_hinge_range": (
        "bot.xml",
        mjcf(LEG.replace('range="-1 1"', 'range="30 -30"'), extra='<compiler angle="degree"/>'),
        r"joint 'hip' in body 'leg' has an inverted range \(30 > -30\)",
    ),
    "ball_joint": (
        "bot.xml",
        mjcf(LEG.replace('name="hip" axis="0 1 0" range="-1 1"', 'name="hip" type="ball"')),
        r"ball joint",
    ),
    "servo_without_forcerange": (
        "bot.xml",
        mjcf(actuators='<position joint="hip" kp="10"/>'),
        r"position actuator .* has no forcerange",
    ),
    "two_motors_one_joint": (
        "bot.xml",
        mjcf(actuators='<motor joint="hip"/><motor joint="hip"/>'),
        r"driven by two actuators",
    ),
    "tendon_actuator": (
        "bot.xml",
        mjcf(
            actuators='<motor tendon="t"/>',
            extra='<tendon><fixed name="t"><joint joint="hip" coef="1"/></fixed></tendon>',
        ),
        r"drives a tendon",
    ),
    "two_robots": (
        "bot.xml",
        f"<mujoco><worldbody><body name='a'><freejoint/><geom size='.1'/>{LEG}</body><body name='b'><freejoint/><geom size='.1'/></body></worldbody></mujoco>",
        r"2 separate robots at the top level \('a', 'b'\)",
    ),
    "urdf_joint_without_effort": (
        "r.urdf",
        urdf(limit='<limit lower="-1" upper="1"/>'),
        r"joint 'hip' has no effort limit",
    ),
    "schema_violation": ("bot.xml", mjcf(LEG.replace("<geom", "<wing/><geom")), r"unrecognized element"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_its_error(tmp_path: Path, case: str):
    name, text, pattern = CASES[case]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MorphologyError, match=pattern) as info:
        load_morphology(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message


def test_file_over_size_limit(tmp_path: Path):
    path = tmp_path / "big.xml"
    path.write_text(mjcf() + "<!--" + "x" * 5000 + "-->")
    with pytest.raises(MorphologyError, match=r"big.xml: file is \d+ bytes, over the 1000-byte limit"):
        load_morphology(path, LoadOptions(max_file_bytes=1000))


def test_missing_file(tmp_path: Path):
    with pytest.raises(MorphologyError, match="no such file"):
        load_morphology(tmp_path / "ghost.xml")


def test_urdf_mesh_resolves_in_package_layout(tmp_path: Path):
    """package://pkg/meshes/x.stl resolves when the URDF sits in pkg/urdf/ beside pkg/meshes/."""
    (tmp_path / "r" / "urdf").mkdir(parents=True)
    (tmp_path / "r" / "meshes").mkdir()
    _write_tetrahedron_stl(tmp_path / "r" / "meshes" / "leg.stl")
    path = tmp_path / "r" / "urdf" / "r.urdf"
    path.write_text(urdf("<collision><geometry><mesh filename='package://r/meshes/leg.stl'/></geometry></collision>"))
    morph = load_morphology(path)
    assert morph.model.nmesh == 1
    assert tokenize(morph).kinds[1] == "mesh/hinge/motor"


def test_urdf_default_effort_fills_missing_limits(tmp_path: Path):
    path = tmp_path / "r.urdf"
    path.write_text(urdf(limit='<limit lower="-1" upper="1"/>'))
    assert load_morphology(path, LoadOptions(default_effort=12.0)).model.actuator_gear[0, 0] == 12.0


def test_limited_motor_on_unlimited_joint_is_a_continuous_part(tmp_path: Path):
    """Decision: accepted as a continuous joint; the default vocabulary asks for it to be registered."""
    path = tmp_path / "bot.xml"
    path.write_text(mjcf(LEG.replace(' range="-1 1"', ""), actuators='<motor joint="hip" gear="10" ctrlrange="-1 1"/>'))
    morph = load_morphology(path)
    with pytest.raises(
        MorphologyError, match=r"capsule/continuous/motor, which the vocabulary does not know; register it"
    ):
        tokenize(morph)


def _write_tetrahedron_stl(path: Path) -> None:
    import struct

    corners = [(0, 0, 0), (0.05, 0, 0), (0, 0.05, 0), (0, 0, 0.05)]
    faces = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
    with path.open("wb") as f:
        f.write(b"\0" * 80 + struct.pack("<I", len(faces)))
        for face in faces:
            f.write(struct.pack("<3f", 0, 0, 0))
            for v in face:
                f.write(struct.pack("<3f", *corners[v]))
            f.write(b"\0\0")


# ----------------------------------------------------------------------------------------------
# Command line: one line on stderr, exit status 2, no traceback.


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``metamorph ARGS`` in a subprocess; ``timeout`` is a wait for a hung command, not a speed claim."""
    return subprocess.run([sys.executable, "-m", "metamorph", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "case",
    [
        "malformed_xml",
        "urdf_missing_mesh",
        "no_actuated_joint",
        "duplicate_names",
        "infinite_mass",
        "inverted_hinge_range",
    ],
)
def test_cli_reports_bad_input_in_one_line(tmp_path: Path, case: str):
    name, text, _ = CASES[case]
    path = tmp_path / name
    path.write_text(text)
    result = run_cli("inspect", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")


def test_cli_max_tokens(tmp_path: Path):
    result = run_cli("inspect", str(EXAMPLES / "biped.xml"), "--max-tokens", "3")
    assert result.returncode == 2
    assert "exceed the maximum of 3" in result.stderr
