"""`metamorph inspect` as a user runs it."""

from __future__ import annotations

import json

from conftest import EXAMPLES, REPO
from test_bad_inputs import run_cli


def test_inspect_prints_tree_tokens_and_layout(unimal_files):
    result = run_cli("inspect", str(unimal_files[0]))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "kinematic tree",
        "torso/0",
        "limby/0",
        "gear 300",
        "joint tokens",
        "capsule/hinge/motor",
        "link_pos",
    ):
        assert expected in out


def test_inspect_json_matches_the_library():
    result = run_cli("inspect", str(EXAMPLES / "biped.urdf"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["tokens"]] == ["pelvis", "left_hip", "left_knee", "right_hip", "right_knee"]
    assert [t["parent"] for t in report["tokens"]] == [-1, 0, 1, 0, 3]
    assert report["morphology"]["base"] == "free"
    hip = report["morphology"]["tree"]["children"][0]["joints"][0]
    assert hip == {
        "name": "left_hip",
        "type": "hinge",
        "axis": [0, 1, 0],
        "range": [-1, 1],
        "actuator": {"name": "left_hip", "gear": 40},
    }
    assert report["layout"]["static"][-1]["stop"] == sum(r["stop"] - r["start"] for r in report["layout"]["static"])


def test_inspect_with_registered_wheel_parts():
    rover = str(EXAMPLES / "wheelbot.xml")
    without = run_cli("inspect", rover)
    assert without.returncode == 2 and "--parts" in without.stderr
    result = run_cli("inspect", rover, "--json", "--parts", str(REPO / "morphologies" / "parts" / "wheel.py"))
    assert result.returncode == 0, result.stderr
    assert [t["kind"] for t in json.loads(result.stdout)["tokens"]][1:] == ["wheel"] * 4


def test_inspect_fixed_base_urdf():
    result = run_cli("inspect", str(EXAMPLES / "biped.urdf"), "--json", "--fixed-base")
    assert json.loads(result.stdout)["tokens"][0]["kind"] == "box/fixed/none"


def test_generate_help_names_every_design_space():
    from metamorph.design import DESIGN_SPACES

    result = run_cli("generate", "--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.replace("│", " ").split())  # tyro wraps lines inside a box
    for name in DESIGN_SPACES:
        assert f"{name} (" in help_text, f"metamorph generate --help does not describe the '{name}' space"


def test_a_repeated_list_flag_is_refused_not_silently_halved(tmp_path, capsys):
    """argparse keeps only the last of a repeated multi-value flag; every subcommand refuses it."""
    from metamorph.cli import main

    out = tmp_path / "bodies"
    for argv, flag in [
        (["generate", "--space-set", "max_depth=2", "--space-set=limb_count=3,4", "--out", str(out)], "--space-set"),
        (["inspect", "-p", "a.py", "--parts", "b.py", str(EXAMPLES / "biped.urdf")], "--parts"),
        (["sweep", "--grid", "seed=1,2", "--grid", "dropout=0,0.1", "--out", str(out)], "--grid"),
        (["train", "--hide-static", "gear", "--total-steps", "10", "--hide-static", "mass"], "--hide-static"),
    ]:
        assert main(argv) == 2
        assert f"error: {flag} is given twice; give all its values after one flag" in capsys.readouterr().err
    assert not out.exists()
    # One flag with several values is the documented form and still works.
    assert main(["generate", "--space-set", "max_depth=2", "limb_count=3,4", "--count", "1", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["space"]["limb_count"] == [3, 4]
