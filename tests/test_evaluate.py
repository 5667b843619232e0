"""Zero-shot evaluation: reports, baselines, real robots, and checkpoints meeting new part kinds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES
from metamorph.bodies import (
    check_part_shares,
    check_spec,
    part_weights,
    real_robot_path,
    real_robots,
    resolve,
    resolve_parts,
)
from metamorph.checkpoint import load_policy
from metamorph.errors import MetamorphError, MorphologyError
from metamorph.evaluate import aggregate, evaluate, load_eval_bodies
from metamorph.morphology import load_morphology
from metamorph.tokens import tokenize
from metamorph.vocabulary import PartKind, Vocabulary
from test_bad_inputs import run_cli


def test_trained_policy_beats_zero_action_on_its_bodies(trained_rover):
    run, *_ = trained_rover
    loaded = load_policy(run)
    bodies = [load_morphology(EXAMPLES / "wheelbot.xml"), load_morphology(EXAMPLES / "biped.xml")]
    results = evaluate(loaded, bodies, "flat", episodes=2, episode_length=100, nthread=1)
    policy = np.mean([np.mean(r.returns) for r in results["policy"]])
    zero = np.mean([np.mean(r.returns) for r in results["zero"]])
    assert policy > zero + 10  # at least 0.1 m/s faster over 100 steps, averaged over the two bodies
    rover = results["policy"][0]
    assert rover.name == "wheelbot" and np.mean(rover.velocity) > 0.2


def test_sampled_evaluation_draws_reproducible_noisy_torques(trained_rover):
    """--sampled: the policy acts with draws from its Gaussian, the same draws for the same seed,
    not its mean; the baselines are unchanged."""
    run, *_ = trained_rover
    loaded = load_policy(run)
    bodies = [load_morphology(EXAMPLES / "biped.xml")]
    mean = evaluate(loaded, bodies, "flat", episodes=2, episode_length=30, nthread=1)
    sampled = evaluate(loaded, bodies, "flat", episodes=2, episode_length=30, nthread=1, sampled=True)
    again = evaluate(loaded, bodies, "flat", episodes=2, episode_length=30, nthread=1, sampled=True)
    other = evaluate(loaded, bodies, "flat", episodes=2, episode_length=30, seed=1, nthread=1, sampled=True)
    assert sampled["policy"][0].returns == again["policy"][0].returns
    assert sampled["policy"][0].returns != mean["policy"][0].returns
    assert sampled["policy"][0].returns != other["policy"][0].returns
    assert sampled["zero"][0].returns == mean["zero"][0].returns


def test_baselines_are_cached_for_the_next_policy(trained_rover, tmp_path: Path, monkeypatch):
    """Zero and random torque never look at the policy: their episodes are the same with or without
    one, so a cache folder serves them to the next evaluation, which runs only the policy's
    episodes. Another seed misses the cache; a damaged cache file is run again and rewritten."""
    import metamorph.evaluate as evaluation

    run, *_ = trained_rover
    loaded = load_policy(run)
    bodies = [load_morphology(EXAMPLES / "biped.xml"), load_morphology(EXAMPLES / "wheelbot.xml")]
    kwargs = {"episodes": 2, "episode_length": 40, "nthread": 1}
    without_policy = evaluate(None, bodies, "flat", **kwargs)
    cache = tmp_path / "baselines"
    first = evaluate(loaded, bodies, "flat", baseline_cache=cache, **kwargs)
    assert first["zero"] == without_policy["zero"] and first["random"] == without_policy["random"]
    (cached_file,) = cache.glob("*.json")

    episodes_run = []
    run_episodes = evaluation.run_episodes
    monkeypatch.setattr(evaluation, "run_episodes", lambda *a: episodes_run.append(1) or run_episodes(*a))
    second = evaluate(loaded, bodies, "flat", baseline_cache=cache, **kwargs)
    assert len(episodes_run) == 1  # the policy's
    assert second == first
    evaluate(loaded, bodies, "flat", seed=1, baseline_cache=cache, **kwargs)
    assert len(episodes_run) == 4 and len(list(cache.glob("*.json"))) == 2
    cached_file.write_text("{")
    assert evaluate(loaded, bodies, "flat", baseline_cache=cache, **kwargs) == first
    assert len(episodes_run) == 7 and json.loads(cached_file.read_text())["zero"]


def test_report_files_exist_and_agree(trained_rover, tmp_path: Path):
    run, *_ = trained_rover
    out = tmp_path / "report"
    result = run_cli("eval", str(run), "--bodies", f"{EXAMPLES / 'wheelbot.xml'},{EXAMPLES / 'biped.xml'},{tmp_path / 'nope.xml'}",
                     "--episodes", "2", "--episode-length", "60", "--out", str(out),
                     "--parts", str(EXAMPLES.parent / "parts" / "wheel.py"))  # fmt: skip
    # a missing file is a bad --bodies: one clear error, nothing written
    assert result.returncode == 2 and "no such file" in result.stderr and not out.exists()
    bad = tmp_path / "broken.xml"
    bad.write_text("<mujoco><worldbody>")
    result = run_cli("eval", str(run), "--bodies", f"{EXAMPLES / 'wheelbot.xml'},{EXAMPLES / 'biped.xml'},{bad}",
                     "--episodes", "2", "--episode-length", "60", "--out", str(out),
                     "--parts", str(EXAMPLES.parent / "parts" / "wheel.py"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.csv", "results.json", "returns.png"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["body"] for r in rows] == ["wheelbot", "biped"]
    payload = json.loads((out / "results.json").read_text())
    assert payload["failed_bodies"][0]["body"] == "broken" and "malformed XML" in payload["failed_bodies"][0]["error"]
    assert payload["checkpoint"].endswith("update_000040") and payload["episodes_per_body"] == 2
    for actor in ("policy", "zero", "random"):
        stats = payload["aggregates"][actor]
        for name in ("mean", "median", "iqm"):
            assert stats[f"{name}_ci_low"] <= stats[name] <= stats[f"{name}_ci_high"]
        returns = [float(r[f"{actor}_return"]) for r in rows]
        assert stats["mean"] == pytest.approx(np.mean(returns), abs=1e-3)
    report = (out / "report.md").read_text()
    assert "broken" in report and "trained on" in report
    # an existing --out is refused before anything is loaded or run: even a run that is not there
    result = run_cli("eval", str(tmp_path / "no-run"), "--bodies", str(EXAMPLES / "biped.xml"), "--out", str(out))
    assert result.returncode == 2 and "already exists" in result.stderr


def test_aggregate_intervals_contain_the_statistics():
    values = np.random.default_rng(0).normal(5.0, 2.0, 40)
    stats = aggregate(values)
    assert stats["n"] == 40 and stats["mean"] == pytest.approx(values.mean())
    for name in ("mean", "median", "iqm"):
        assert stats[f"{name}_ci_low"] < stats[name] < stats[f"{name}_ci_high"]


def test_every_curated_real_robot_loads_or_says_why_not():
    robots = real_robots()
    assert {r["name"] for r in robots} >= {"ant", "hopper", "walker2d", "half_cheetah", "humanoid", "swimmer",
                                           "quadruped", "dog", "rodent", "humanoid_CMU", "cheetah", "walker"}  # fmt: skip
    for robot in robots:
        path = real_robot_path(robot)
        if robot["status"] == "ok":
            morphology = load_morphology(path)
            assert morphology.base == robot["root"], robot["name"]
            assert tokenize(morphology).num_tokens >= 2
        else:
            with pytest.raises(MorphologyError):
                load_morphology(path)
            assert robot["reason"]
    files, excluded = resolve("real:all")
    assert len(files) == sum(r["status"] == "ok" for r in robots)
    assert {name for name, _ in excluded} == {"quadruped", "dog", "rodent"}
    with pytest.raises(MetamorphError, match="unknown robot"):
        resolve("real:robocop")


def test_a_body_set_splits_into_training_and_held_out_bodies(unimal_dir, tmp_path):
    """``SPEC[START:STOP]`` slices any spec's files in their listed order: the two halves of a
    split are disjoint and cover the set; a selection of nothing is refused in one line."""
    everything, _ = resolve(str(unimal_dir))
    train, _ = resolve(f"{unimal_dir}[:80]")
    held_out, _ = resolve(f"{unimal_dir}[80:]")
    assert train == everything[:80] and held_out == everything[80:]
    assert resolve(f"{unimal_dir}[-5:]")[0] == everything[-5:]
    # a step holds out every fifth body; the other four fifths, joined, are the rest
    fifth, _ = resolve(f"{unimal_dir}[::5]")
    rest, _ = resolve("+".join(f"{unimal_dir}[{k}::5]" for k in range(1, 5)))
    assert fifth == everything[::5] and len(rest) == 80 and sorted(fifth + rest) == sorted(everything)
    with pytest.raises(MetamorphError, match="step cannot be zero"):
        resolve(f"{unimal_dir}[::0]")
    generated, _ = resolve("generate:unimal:4:7[1:3]", generate_into=tmp_path / "bodies")
    assert len(generated) == 2 and all(path.is_file() for path in generated)
    with pytest.raises(MetamorphError, match=r"\[100:\]: selects none of the 100 bodies"):
        resolve(f"{unimal_dir}[100:]")


def test_joined_specs_give_the_union_of_their_bodies(unimal_dir, tmp_path):
    """``A+B`` resolves to A's files then B's; each generated part gets its own folder, so a run
    that resumes finds the same bodies; an empty or unknown part is refused in one line."""
    everything, _ = resolve(str(unimal_dir))
    joined, _ = resolve(f"{unimal_dir}[:3]+generate:unimal:2:7+{unimal_dir}[-1:]", generate_into=tmp_path / "b")
    assert joined[:3] == everything[:3] and joined[-1] == everything[-1] and len(joined) == 6
    assert joined[3].is_relative_to(tmp_path / "b" / "generate-unimal-2-7")
    again, _ = resolve(f"{unimal_dir}[:3]+generate:unimal:2:7+{unimal_dir}[-1:]", generate_into=tmp_path / "b")
    assert again == joined
    # a folder of generated sets (a run's bodies/ after generate:A+generate:B) is their union
    generated, _ = resolve("generate:unimal:2:7+generate:planar:3", generate_into=tmp_path / "c")
    folder_union, _ = resolve(str(tmp_path / "c"))
    assert sorted(folder_union) == sorted(generated) and len(folder_union) == 5
    check_spec(f"{unimal_dir}+generate:unimal-like:5")
    with pytest.raises(MetamorphError, match="an empty part around"):
        resolve(f"{unimal_dir}+")
    with pytest.raises(MetamorphError, match="unknown design space 'nope'"):
        check_spec(f"{unimal_dir}+generate:nope:5")


def test_part_shares_weigh_each_joined_part_whatever_its_size(unimal_dir):
    """``--part-shares`` gives each ``+``-joined part its share of the draws: a body's weight is its
    part's share over the part's bodies; shares that do not fit the spec are refused in one line."""
    spec = f"{unimal_dir}[:2]+{unimal_dir}[2:8]"
    parts = resolve_parts(spec)
    assert [len(files) for files, _ in parts] == [2, 6]
    assert [f for files, _ in parts for f in files] == resolve(spec)[0]
    weights = part_weights([1, 3], [2, 6])
    assert weights == pytest.approx([0.125] * 2 + [0.125] * 6)
    weights = part_weights([0.5, 0.5], [2, 6])
    assert sum(weights[:2]) == pytest.approx(0.5) and sum(weights[2:]) == pytest.approx(0.5)
    assert weights[0] == pytest.approx(3 * weights[2])
    assert part_weights((), [2, 6]) is None
    check_part_shares([0.5, 0.5], spec)
    check_part_shares((), spec)
    with pytest.raises(MetamorphError, match=r"3 share\(s\) for the 2 '\+'-joined part\(s\) of --bodies"):
        check_part_shares([1, 1, 1], spec)
    with pytest.raises(MetamorphError, match="every share must be a positive number"):
        check_part_shares([1, 0], spec)


def test_real_robots_stand_on_the_ground_and_fall_by_their_own_rule():
    """The ground collides with every robot whatever its file's geom defaults: gymnasium's ant sets
    conaffinity 0 for its geoms, and a ground that inherited it let the ant (and dm_control's
    walker) fall through the floor within 15 steps whatever acted. Under zero torque the ant now
    rests on the floor for a whole short episode, in contact with it; and each curated robot
    carries the fall rule of its source environment (gymnasium's healthy height)."""
    import dataclasses

    import mujoco

    from metamorph.env import VecEnv

    by_name = {r["name"]: r for r in real_robots()}
    assert by_name["ant"]["fall_height"] == 0.2 and by_name["walker2d"]["fall_height"] == 0.8
    assert by_name["half_cheetah"]["fall_height"] == 0 and "fall_height" not in by_name["walker"]
    for name in ("ant", "walker"):
        body = dataclasses.replace(load_morphology(real_robot_path(by_name[name])), fall_height=0.0)
        env = VecEnv([body], "flat", 1, nthread=1, autoreset=False, sampling="uniform")
        env.reset(seed=0)
        model, data = env.models[0], env.datas[0]
        ground = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "terrain")
        assert model.geom_conaffinity[ground] == 1 and model.geom_contype[ground] == 1
        for _ in range(100):
            *_, terminated, _, _ = env.step(np.zeros((1, env.max_tokens)))
            assert not terminated[0], name
        root = env.bodies[0].tokens.root_body
        touching = {int(model.geom_bodyid[g]) for c in data.contact[: data.ncon] for g in (c.geom1, c.geom2)}
        assert data.ncon > 0 and 0 in touching, name  # the world's ground holds the robot up
        assert data.xpos[root][2] > 0.1, name  # above the floor, not through it
        env.close()
    from types import SimpleNamespace

    loaded = SimpleNamespace(  # what load_eval_bodies reads of a loaded policy
        meta={"config": {"bodies": "real:ant"}}, vocabulary=None,
        policy=SimpleNamespace(config=SimpleNamespace(position="none", max_tokens=32)),
    )  # fmt: skip
    bodies, failed, _ = load_eval_bodies(loaded, "real:ant,walker2d", Path("."))
    assert {b.name: b.fall_height for b in bodies} == {"ant": 0.2, "walker2d": 0.8} and not failed


def test_menagerie_needs_a_local_copy(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("MENAGERIE_ROOT", raising=False)
    with pytest.raises(MetamorphError, match="set MENAGERIE_ROOT"):
        resolve("menagerie:unitree_go1")
    (tmp_path / "mybot").mkdir()
    (tmp_path / "mybot" / "scene.xml").write_text("<mujoco/>")
    (tmp_path / "mybot" / "mybot.xml").write_text((EXAMPLES / "biped.xml").read_text())
    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))
    files, _ = resolve("menagerie:mybot")
    assert files == [tmp_path / "mybot" / "mybot.xml"]


ELLIPSE_ROVER = (
    (EXAMPLES / "wheelbot.xml")
    .read_text()
    .replace('type="cylinder" size="0.1 0.03"', 'type="ellipsoid" size="0.1 0.1 0.03"')
)


def test_checkpoint_loads_after_a_new_part_kind_is_registered(trained_rover, tmp_path: Path):
    """Old ids keep their embedding rows exactly; the new kind gets a fresh row; evaluation runs."""
    run, *_ = trained_rover
    before = load_policy(run)
    rover = tmp_path / "ellipse_rover.xml"
    rover.write_text(ELLIPSE_ROVER)
    newer = before.vocabulary.copy()
    new_id = newer.register(PartKind("ellipsoid", "continuous", "motor", name="ellipse wheel"))
    after = load_policy(run, vocabulary=newer)
    assert after.vocabulary.size == before.vocabulary.size + 1 and new_id == before.vocabulary.size
    old = np.asarray(before.params["params"]["trunk"]["part_embedding"]["embedding"])
    new = np.asarray(after.params["params"]["trunk"]["part_embedding"]["embedding"])
    np.testing.assert_array_equal(new[: old.shape[0]], old)
    assert new.shape[0] == old.shape[0] + 1 and np.isfinite(new).all()
    assert isinstance(after.vocabulary, Vocabulary)
    results = evaluate(after, [load_morphology(rover)], "flat", episodes=1, episode_length=30, nthread=1)
    assert np.isfinite(results["policy"][0].returns).all()


def test_rendered_video_shows_the_robot(trained_rover, tmp_path: Path):
    run, *_ = trained_rover
    out = tmp_path / "walk.mp4"
    result = run_cli("render", str(run), "--body", str(EXAMPLES / "biped.xml"), "--out", str(out), "--seconds", "1",
                     "--width", "320", "--height", "240")  # fmt: skip
    if "cannot render offscreen" in result.stderr:
        pytest.skip("no OpenGL backend (EGL or OSMesa) on this machine")
    assert result.returncode == 0, result.stderr
    # decode in a small process: forking ffmpeg from this one (JAX, many simulations) can fail
    decode = (
        "import json, sys, numpy as np, imageio.v2 as iio\n"
        "frames = [f.astype(int) for f in iio.get_reader(sys.argv[1], 'ffmpeg')]\n"
        "f = frames[-1]\n"
        "robot = (f[..., 2] < f[..., 0] + 25) & (f.sum(-1) > 60)\n"  # neither the blue floor nor the blue sky
        "row = f[-10].sum(-1); light = row > np.median(row)\n"  # a row of floor near the bottom edge
        "print(json.dumps({'n': len(frames), 'shape': list(f.shape), 'std': float(f.std()), 'robot': int(robot.sum()),\n"
        "                  'sky': f[:5].mean(axis=(0, 1)).tolist(), 'floor_edges': int(np.sum(light[1:] != light[:-1]))}))"
    )
    stats = json.loads(
        subprocess.run([sys.executable, "-c", decode, str(out)], capture_output=True, text=True, check=True).stdout
    )
    assert stats["n"] == 25 and stats["shape"] == [240, 320, 3]
    assert stats["std"] > 10  # not blank
    assert stats["robot"] > 200  # the (grey) biped against the blue floor
    red, _, blue = stats["sky"]
    assert blue > red + 40 and blue > 100, stats  # a blue sky above the horizon, not black
    assert stats["floor_edges"] >= 4, stats  # light and dark squares alternate along the floor
    assert "os.fork()" not in result.stderr  # ffmpeg starts without forking the JAX process
    assert not list(tmp_path.glob(".walk*"))  # the temporary file was renamed into place


def test_finetune_from_a_checkpoint_after_a_new_part_kind(trained_rover, tmp_path: Path):
    """Register a kind after training, fine-tune on a body using it (trunk frozen), compare with scratch."""
    run, *_ = trained_rover
    parts = tmp_path / "ellipse_wheel.py"
    parts.write_text(
        "from metamorph.vocabulary import PartKind, register_part_kind\n"
        "register_part_kind(PartKind('ellipsoid', 'continuous', 'motor', name='ellipse wheel'))\n"
    )
    rover = tmp_path / "ellipse_rover.xml"
    rover.write_text(ELLIPSE_ROVER)
    out = tmp_path / "ft"
    # two trainings (fine-tuned and scratch) and their compiles: 120 s ran out beside a sweep
    result = run_cli("finetune", str(run), "--bodies", f"{rover},{EXAMPLES / 'biped.xml'}", "--total-steps", "1536",
                     "--num-envs", "16", "--freeze", "trunk", "--run-dir", str(out),
                     "--parts", str(parts), str(EXAMPLES.parent / "parts" / "wheel.py"),
                     timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["init_from"].endswith("update_000040") and config["config"]["freeze"] == "trunk"
    names = [k["name"] for k in config["vocabulary"]]
    assert names[-1] == "ellipse wheel" and "wheel" in names
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["scratch_run"].endswith("ft-scratch") and comparison["target_return"] is not None
    assert (out / "comparison.md").is_file() and (out / "comparison.png").is_file()
    # the frozen trunk is exactly the pre-trained one
    from metamorph.checkpoint import load_policy

    before, after = load_policy(run), load_policy(out)
    old = before.params["params"]["trunk"]["layer_0"]
    new = after.params["params"]["trunk"]["layer_0"]
    import jax

    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), old, new)
    decoder_changed = not np.allclose(
        np.asarray(before.params["params"]["action_decoder"]["Dense_0"]["kernel"]),
        np.asarray(after.params["params"]["action_decoder"]["Dense_0"]["kernel"]),
    )
    assert decoder_changed
