"""Training config files, evaluation suites and sweeps, used as a researcher would: through the
command line, on real bodies, with real (tiny) training runs."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES, REPO
from metamorph.bodies import resolve
from metamorph.cli import parse_train_args
from metamorph.configs import as_flags, read_toml
from metamorph.errors import MetamorphError
from metamorph.sweep import _flatten, load_spec, open_folder, plan, storage_for
from metamorph.train import TrainConfig, config_to_json


def metamorph(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metamorph", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# train/ config files


def test_shipped_train_configs_load_and_default_is_the_default():
    assert parse_train_args(["--config", str(REPO / "train" / "default.toml")]) == TrainConfig()
    terrain = parse_train_args(["--config", str(REPO / "train" / "terrain.toml")])
    assert terrain.task == "variable_terrain" and terrain.position == "tree"
    assert parse_train_args(["--config", str(REPO / "train" / "unimal100-flat-5m.toml")]).total_steps == 5_000_000
    assert parse_train_args(["--config", str(REPO / "train" / "unimal80-flat.toml")]).bodies.endswith("train[:80]")


def test_config_file_plus_flags_resolves_like_flags_alone(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text(
        'bodies = "a.xml"\ntotal-steps = 5000\nalive_bonus = 0.5\nhide-static = ["geom_pos", "extent"]\n'
        "[ppo]\nlearning-rate = 1e-3\nepochs = 2\n"
    )
    from_file = parse_train_args(["--config", str(path), "--ppo.epochs", "6", "--seed", "4"])
    from_flags = parse_train_args(["--bodies", "a.xml", "--total-steps", "5000", "--alive-bonus", "0.5",
                                   "--hide-static", "geom_pos", "extent",
                                   "--ppo.learning-rate", "1e-3", "--ppo.epochs", "6", "--seed", "4"])  # fmt: skip
    assert from_file.hide_static == ("geom_pos", "extent")
    from metamorph.configs import as_flags

    # a sweep's report writes the best run's flags from sweep.json, where a tuple is a list
    assert parse_train_args(["--bodies", "a.xml", *as_flags({"hide-static": ["geom_pos", "extent"]})]).hide_static == (
        "geom_pos",
        "extent",
    )
    assert from_file == from_flags
    assert config_to_json(from_file) == config_to_json(from_flags)  # what config.json stores
    assert from_file.ppo.epochs == 6 and from_file.ppo.learning_rate == 1e-3 and from_file.alive_bonus == 0.5


def test_config_file_sets_a_field_of_a_number_or_a_word(tmp_path: Path):
    """``ppo.token-bucket`` is ``int | Literal["auto"]``: a file may set either."""
    for value, expected in (("4", 4), ('"auto"', "auto"), ("0", 0)):
        path = tmp_path / "run.toml"
        path.write_text(f"[ppo]\ntoken-bucket = {value}\n")
        assert parse_train_args(["--config", str(path)]).ppo.token_bucket == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ppo.learning_rat = 1e-3", r"unknown field 'ppo.learning_rat'; did you mean 'ppo.learning-rate'\?"),
        ("total-steps = 'many'", r"total-steps must be int, got 'many' \(str\)"),
        ("[ppo]\nepochs = 2.5", r"ppo.epochs must be int, got 2.5"),
        ("bodies = [1, 2]", r"bodies must be str, got \[1, 2\]"),
        ('hide-static = "geom_pos"', r"hide-static must be a list of words, got 'geom_pos'"),
        ('ppo.token-bucket = "sometimes"', r"ppo.token-bucket must be int or 'auto', got 'sometimes' \(str\)"),
        ("total-steps = ", r"not valid TOML"),
    ],
)
def test_bad_config_file_names_file_and_field(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(MetamorphError, match=rf"^{re.escape(str(path))}: .*{message}"):
        parse_train_args(["--config", str(path)])


def test_cli_reports_a_bad_config_file_in_one_line(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("ppo.learning_rat = 1e-3\n")
    result = metamorph("train", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: unknown field 'ppo.learning_rat'; did you mean 'ppo.learning-rate'?"
    ]


# ----------------------------------------------------------------------------------------------
# Sweep specs: every bad input is refused before a trial starts


TINY = f"""
[sweep]
seeds = [0, 1]
[fixed]
bodies = "{EXAMPLES / "biped.xml"}"
total-steps = 1536
num-envs = 16
unroll-length = 16
episode-length = 40
checkpoint-every = 2
nthread = 1
[fixed.ppo]
epochs = 2
num-minibatches = 2
[grid]
"ppo.learning-rate" = [3e-4, 1e-3]
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[grid]", "[grid]\nppo.clipp = [0.1]"), r"\[grid\]: unknown field 'ppo.clipp'; did you mean 'ppo.clip'\?"),
        (("num-envs = 16", "num-envs = 'sixteen'"), r"\[fixed\]: num-envs must be int, got 'sixteen'"),
        (('"ppo.learning-rate" = [3e-4, 1e-3]', '"ppo.learning-rate" = []'), r"ppo.learning-rate: an empty grid"),
        (("seeds = [0, 1]", "seeds = []"), r"seeds must be a non-empty list of integers"),
        (
            ("[grid]", '[random]\n"ppo.clip" = { uniform = [0.3, 0.1] }\n[grid]'),
            r"ppo.clip: uniform has low 0.3 > high 0.1",
        ),
        (("[grid]", '[random]\n"ppo.clip" = { gaussian = [0.1, 0.3] }\n[grid]'), r"ppo.clip: a distribution is one of"),
        (("[grid]", "[grid]\nrun-dir = ['x']"), r"'run-dir' says how one process runs"),
        (("[sweep]", "[sweep]\nworkers = 2"), r"\[sweep\] has no field 'workers'"),
        (
            ("[sweep]", '[objective]\nsuite = "nowhere.toml"\n[sweep]'),
            r"\[objective\] suite: nowhere.toml: no such file",
        ),
        (
            (f'bodies = "{EXAMPLES / "biped.xml"}"', 'bodies = "/no/such/folder"'),
            r"bodies: /no/such/folder: not a folder of bodies",
        ),
        ((f'bodies = "{EXAMPLES / "biped.xml"}"', 'bodies = "generate:nospace:10"'), r"unknown design space 'nospace'"),
        (
            ("[grid]", "[grid]\ndropout = [0.1, 1.5]"),
            r"dropout=1.5, ppo.learning-rate=0.0003: policy dropout must be in \[0, 1\), got 1.5",
        ),
        (
            ("nthread = 1", "nthread = 1\nposition = 'sideways'"),
            r"\[fixed\]: policy position must be learned, none or tree",
        ),
        (
            ("[grid]", "[grid]\nfall-fraction = [0.5, 1.5]"),
            r"fall-fraction=1.5, ppo.learning-rate=0.0003: task 'flat': fall_fraction must be in \[0, 1\)",
        ),
        (("nthread = 1", "nthread = 1\ntask = 'moon'"), r"\[fixed\]: unknown task 'moon'"),
        (
            ("nthread = 1", "nthread = 1\npart-shares = [0.5, 0.5]"),
            r"\[fixed\]: --part-shares: 2 share\(s\) for the 1 '\+'-joined part\(s\)",
        ),
    ],
)
def test_bad_sweep_spec_names_file_and_field(tmp_path: Path, edit: tuple[str, str], message: str):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*edit, 1))
    with pytest.raises(MetamorphError, match=rf"^{re.escape(str(path))}: .*{message}"):
        load_spec(path)


def test_cli_refuses_a_bad_sweep_in_one_line_before_any_trial(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("num-envs = 16", "num-envs = 'sixteen'"))
    result = metamorph("sweep", str(path), "--out", str(tmp_path / "sweep"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {path}: [fixed]: num-envs must be int, got 'sixteen' (str)"]
    assert not (tmp_path / "sweep").exists()


def test_suite_naming_missing_bodies_is_refused(tmp_path: Path):
    suite = tmp_path / "suite.toml"
    suite.write_text('[[sets]]\nname = "a"\nbodies = "real:all"\n[[sets]]\nname = "b"\nbodies = "/no/such/bodies"\n')
    spec = tmp_path / "s.toml"
    spec.write_text(TINY + f'[objective]\nsuite = "{suite}"\n')
    with pytest.raises(
        MetamorphError, match=rf"{re.escape(str(suite))}: sets\[1\] \(b\): /no/such/bodies: not a folder"
    ):
        load_spec(spec)


def test_sweep_from_flags_and_its_configurations():
    spec = load_spec(
        None,
        seeds=(0, 1, 2),
        fixed=("total-steps=1000",),
        grid=("ppo.learning-rate=1e-4,3e-4", "position=learned,tree"),
    )
    configs, trials, _ = plan(spec)
    assert configs == [{"ppo.learning-rate": 1e-4, "position": "learned"}, {"ppo.learning-rate": 1e-4, "position": "tree"},
                       {"ppo.learning-rate": 3e-4, "position": "learned"}, {"ppo.learning-rate": 3e-4, "position": "tree"}]  # fmt: skip
    assert len(trials) == 12 and trials[5].key == "c01-s2" and trials[5].overrides["seed"] == 2
    assert trials[5].overrides["total-steps"] == 1000


def test_a_grid_can_compare_an_optional_field_with_its_default(tmp_path: Path):
    """TOML has no null: "none" unsets an optional number, and the trial's flags say so to tyro."""
    from metamorph.configs import as_flags

    path = tmp_path / "std.toml"
    path.write_text('[sweep]\nseeds = [0]\n[grid]\naction-std = ["none", 0.9]\nreset-noise = [0.005]\n')
    configs, trials, _ = plan(load_spec(path))
    assert configs == [{"action-std": None, "reset-noise": 0.005}, {"action-std": 0.9, "reset-noise": 0.005}]
    learned, fixed = (parse_train_args(as_flags(trial.overrides)) for trial in trials)
    assert learned.action_std is None and learned.policy_config.action_std is None
    assert fixed.policy_config.action_std == 0.9 and fixed.reset_noise == 0.005
    path.write_text('[sweep]\nseeds = [0]\n[grid]\nposition = ["none"]\n')  # a string field keeps "none"
    assert plan(load_spec(path))[0] == [{"position": "none"}]


def test_random_draws_are_shared_by_seeds_and_reproducible(tmp_path: Path):
    path = tmp_path / "r.toml"
    path.write_text('[sweep]\nseeds = [0, 1]\nsamples = 5\nseed = 7\n[random]\n"ppo.learning-rate" = { log_uniform = [1e-5, 1e-2] }\n'
                    'position = { choice = ["learned", "tree"] }\n"ppo.epochs" = { int_uniform = [2, 8] }\n')  # fmt: skip
    configs, trials, fingerprint = plan(load_spec(path))
    again = plan(load_spec(path))
    assert (configs, fingerprint) == (again[0], again[2]) and len(configs) == 5 and len(trials) == 10
    rates = [c["ppo.learning-rate"] for c in configs]
    assert all(1e-5 <= r <= 1e-2 for r in rates) and len(set(rates)) == 5
    assert all(2 <= c["ppo.epochs"] <= 8 and isinstance(c["ppo.epochs"], int) for c in configs)
    assert trials[0].overrides["ppo.learning-rate"] == trials[1].overrides["ppo.learning-rate"]


def test_a_sweep_folder_resumes_after_metamorph_gains_an_option_but_not_after_a_default_changes(tmp_path: Path):
    path, out = tmp_path / "s.toml", tmp_path / "sweep"
    path.write_text("[sweep]\nseeds = [0, 1]\n[fixed]\nreset-noise = 0.05\n")
    trials, _ = open_folder(load_spec(path), out)

    def as_if(edit) -> None:  # rewrite the record as an older metamorph would have written it
        record = json.loads((out / "sweep.json").read_text())
        record["fingerprint"] = "0123456789abcdef"
        for resolved in record["resolved"]:
            edit(resolved)
        (out / "sweep.json").write_text(json.dumps(record))

    as_if(lambda resolved: resolved.pop("part_shares"))  # an option added since, left unset
    assert open_folder(load_spec(path), out) == (trials, "0123456789abcdef")  # its Optuna study stays
    path.write_text("[sweep]\nseeds = [0, 1]\n[fixed]\nreset-noise = 0.05\npart-shares = [0.25, 0.75]\n")
    with pytest.raises(
        MetamorphError, match=re.escape("trial c00-s0: part_shares = [0.25, 0.75] is new and not its default")
    ):
        open_folder(load_spec(path), out)
    path.write_text("[sweep]\nseeds = [0, 1]\n[fixed]\nreset-noise = 0.05\n")
    as_if(lambda resolved: resolved["ppo"].update(discount=0.5))  # a default that changed since
    with pytest.raises(MetamorphError, match=re.escape("trial c00-s0: ppo.discount was 0.5, now 0.97")):
        open_folder(load_spec(path), out)


# ----------------------------------------------------------------------------------------------
# Running sweeps


def _starts(sweep: Path) -> dict[str, list[dict]]:
    return {run.name: [json.loads(line) for line in (run / "attempts.jsonl").read_text().splitlines()]
            for run in sorted((sweep / "trials").iterdir())}  # fmt: skip


def _start_sweep(spec: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "metamorph", "sweep", str(spec), "--out", str(out), "--grace", "3",
                             *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


ORPHANED_TRIAL = """
import os, sys, time
from metamorph.sweep import _child_setup
marker, orphan = sys.argv[1], sys.argv[2] == "orphan"
sweep = os.getpid()
setup = _child_setup(None)
if os.fork() == 0:  # the trial's process, as Popen forks it
    if orphan:  # its sweep is killed before the trial arms the parent-death signal
        while os.getppid() == sweep:
            time.sleep(0.01)
    setup()
    open(marker, "w").close()  # it would train
    os._exit(0)
if not orphan:
    os.wait()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_trial_whose_sweep_died_before_it_started_does_not_train(tmp_path: Path):
    """A sweep killed with SIGKILL just as it forks a trial (a trial completing starts the next one
    at once) can die before the trial arms its parent-death signal, which then never comes: the
    trial would train on as an orphan beside the resumed sweep, in the same run folder (seen once
    in the kill -9 test below, 2026-12-06). Its setup ends it instead."""
    for case in ("alive", "orphan"):
        marker = tmp_path / case
        subprocess.run([sys.executable, "-c", ORPHANED_TRIAL, str(marker), case], check=True, timeout=120)
        deadline = time.time() + 3
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists() == (case == "alive"), case


KILLED_CLAIMS = """
import os, signal, sys
from pathlib import Path
from optuna.trial import TrialState
from metamorph.sweep import claim, load_spec, open_folder, open_study, storage_for
spec, out = load_spec(Path(sys.argv[1])), Path(sys.argv[2])
trials, fingerprint = open_folder(spec, out)
study = open_study(storage_for(out, None, grace=3), fingerprint, trials)
storage = study._storage
first = study.get_trials(deepcopy=False)[0]
storage.set_trial_state_values(first._trial_id, TrialState.RUNNING)  # an older version's claim, killed
change = storage.set_trial_state_values
def change_then_die(*args, **kwargs):
    change(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
storage.set_trial_state_values = change_then_die
claim(study)  # today's claim, killed as its trial turns running
"""


@pytest.mark.slow  # ~40 s (two tiny trials after the killed claims); the default suite is near its budget
def test_a_sweep_killed_while_claiming_trials_finishes_them_when_restarted(tmp_path: Path):
    """A sweep killed with SIGKILL in the moment it claims a trial (just as a trial completing starts
    the next) leaves that trial running in the queue. Optuna counts a running trial as stale only
    from its heartbeat, so the claim beats before it changes the state, and a restarted sweep beats
    once for every running trial it finds (an older version's claim had none): both trials time out
    and run, each once. Without either, the restarted sweep waited forever (CI, 2026-12-07)."""
    import optuna

    spec, out = tmp_path / "tiny.toml", tmp_path / "sweep"
    spec.write_text(TINY.replace("[3e-4, 1e-3]", "[3e-4]"))
    killed = subprocess.run([sys.executable, "-c", KILLED_CLAIMS, str(spec), str(out)], timeout=120,
                            capture_output=True, text=True)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    study = optuna.load_study(study_name=None, storage=storage_for(out, None, grace=1))
    time.sleep(1.5)
    optuna.storages.fail_stale_trials(study)  # what every worker does before it claims
    # today's killed claim had beaten first, so it went stale and was queued again; the old one did not
    assert [t.state.name for t in study.get_trials()] == ["RUNNING", "FAIL", "WAITING"]
    resumed = _start_sweep(spec, out, "--workers", "1")
    try:
        stdout, stderr = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, (stdout, stderr)
    starts = _starts(out)
    assert sorted(starts) == ["c00-s0", "c00-s1"] and all(len(a) == 1 for a in starts.values()), starts
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert [t["state"] for c in summary["configurations"] for t in c["trials"]] == ["complete", "complete"]


@pytest.mark.slow  # ~2 min on 2 idle cores (4 trials, a kill, two more sweep processes)
def test_sweep_survives_kill_9_shared_by_two_workers_and_its_report_agrees(tmp_path: Path):
    """2 configurations × 2 seeds. The sweep is killed with SIGKILL once one trial is complete and
    another has a checkpoint; then two sweep processes on this machine share the same folder (the
    many-machine mode: one Optuna storage). Every trial completes, none starts from scratch twice,
    the interrupted one resumes, and the report's numbers are the trials' own metrics."""
    spec, out = tmp_path / "tiny.toml", tmp_path / "sweep"
    spec.write_text(TINY)
    first = _start_sweep(spec, out, "--workers", "2")
    deadline = time.time() + 400
    while time.time() < deadline:
        trials = list((out / "trials").glob("*")) if (out / "trials").is_dir() else []
        complete = [t for t in trials if (t / "objective.json").is_file()]
        midway = [
            t for t in trials if not (t / "objective.json").is_file() and list(t.glob("checkpoints/update_*/meta.json"))
        ]
        if complete and midway:
            break
        assert first.poll() is None, first.communicate()
        time.sleep(0.2)
    else:
        pytest.fail("the sweep made no progress")
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.time()
    time.sleep(0.5)  # its trials die with it (PR_SET_PDEATHSIG)
    done_before = {t.name for t in (out / "trials").iterdir() if (t / "objective.json").is_file()}
    checkpoint_at_kill = {}
    for trial in (out / "trials").iterdir():
        whole = [
            int(c.name[len("update_") :]) for c in trial.glob("checkpoints/update_*") if (c / "meta.json").is_file()
        ]
        if whole and trial.name not in done_before:
            checkpoint_at_kill[trial.name] = max(whole)

    workers = [_start_sweep(spec, out, "--workers", "1", "--threads", "1") for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    starts = _starts(out)
    assert sorted(starts) == ["c00-s0", "c00-s1", "c01-s0", "c01-s1"]
    for key, attempts in starts.items():
        after_kill = [a for a in attempts if a["time"] > killed_at]
        if key in done_before:
            assert len(attempts) == 1, (key, attempts)  # finished before the kill: never started again
        else:
            assert len(after_kill) == 1, (key, attempts)  # two workers, one start
            # an interrupted trial continues from its checkpoint; one killed before any starts afresh
            assert after_kill[0]["from_update"] == checkpoint_at_kill.get(key, 0), (key, attempts)
    assert checkpoint_at_kill and all(starts[k][-1]["from_update"] > 0 for k in checkpoint_at_kill)

    summary = json.loads((out / "report" / "summary.json").read_text())
    for config in summary["configurations"]:
        values = []
        for trial in config["trials"]:
            rows = [
                json.loads(line) for line in (out / "trials" / trial["key"] / "metrics.jsonl").read_text().splitlines()
            ]
            assert [r["update"] for r in rows] == list(range(1, len(rows) + 1))  # resumed without gap or repeat
            returns = [r["episode_return"] for r in rows[-10:] if r["episode_return"] is not None]
            assert trial["state"] == "complete" and trial["value"] == pytest.approx(np.mean(returns))
            values.append(np.mean(returns))
        assert config["mean"] == pytest.approx(np.mean(values))
        assert config["mean_ci"][0] <= config["mean"] <= config["mean_ci"][1]
    assert summary["best_command"].startswith("metamorph train --bodies")
    assert (out / "report" / "curves.png").stat().st_size > 10_000
    report = (out / "report" / "report.md").read_text()
    assert "| c00" in report and "| c01" in report

    again = metamorph("sweep", str(spec), "--out", str(out))  # everything done: nothing runs
    assert again.returncode == 0 and _starts(out) == starts
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("seeds = [0, 1]", "seeds = [0, 2]"))
    refused = metamorph("sweep", str(other), "--out", str(out))
    assert refused.returncode == 2 and "made from another spec" in refused.stderr


def test_a_crashing_trial_is_recorded_and_the_others_go_on(tmp_path: Path):
    spec = tmp_path / "crash.toml"
    text = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace("num-minibatches = 2\n", "")
    spec.write_text(text.replace('"ppo.learning-rate" = [3e-4, 1e-3]', '"ppo.num-minibatches" = [2, 5]'))
    result = metamorph("sweep", str(spec), "--out", str(tmp_path / "sweep"))
    assert result.returncode == 1
    assert "1 trial(s) failed" in result.stderr.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "sweep" / "report" / "summary.json").read_text())
    states = {t["key"]: t for c in summary["configurations"] for t in c["trials"]}
    assert states["c00-s0"]["state"] == "complete"
    assert states["c01-s0"]["state"] == "failed" and "--ppo.num-minibatches 5 must divide" in states["c01-s0"]["error"]
    assert "c01-s0: " in (tmp_path / "sweep" / "report" / "report.md").read_text()


def test_no_episode_ended_in_the_last_updates_fails_only_a_train_return_objective(tmp_path: Path):
    """With fall-fraction 0 every episode runs to its time limit and all environments reset
    together, so the last 10 updates can end no episode: the training return is then None, which a
    suite objective records beside its score (exercised by the fall-rule sweep, not here: it needs an
    evaluation), and a train_return objective fails with what to change."""
    from metamorph.sweep import Objective, Slot, SweepSpec, Trial, run_trial, train_return

    run = tmp_path / "sweep" / "trials" / "c00-s0"
    run.mkdir(parents=True)
    rows = [{"update": u, "episode_return": 4.0 if u in (3, 5) else None} for u in range(1, 16)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "config.json").write_text("{}")
    (run / "trained").write_text("")  # training is done: run_trial goes straight to the objective
    assert train_return(run, 10) is None
    assert train_return(run, 12) == 4.0
    spec = SweepSpec(base=None, fixed={}, grid={}, random={}, samples=0, seeds=(0,), objective=Objective())
    trial = Trial(key="c00-s0", config_index=0, seed=0, overrides={"seed": 0})
    with pytest.raises(
        MetamorphError, match=r"c00-s0: no episode ended in the last 10 updates.*raise \[objective\] last_updates"
    ):
        run_trial(spec, trial, tmp_path / "sweep", Slot(0, None, 1))
    longer = SweepSpec(
        base=None, fixed={}, grid={}, random={}, samples=0, seeds=(0,), objective=Objective(last_updates=12)
    )
    assert run_trial(longer, trial, tmp_path / "sweep", Slot(0, None, 1))["value"] == 4.0


def _suite_summary(train_mean: float, heldout_mean: float, moving: float, falls: float | None = 0.25) -> dict:
    """A suite.json as `metamorph eval --suite` writes it, reduced to what the sweep report reads
    (``falls`` None: a suite.json without the fall share)."""

    def entry(mean: float) -> dict:
        policy = {"mean": mean, "median": mean / 2, "moving_share": moving, "beats_zero_share": 0.9}
        if falls is not None:
            policy["fall_rate"] = falls
        return {"actors": {"policy": policy, "zero": {"mean": -1.0}}}

    return {"suite": "split", "source": "eval/split.toml", "sets": {"train": entry(train_mean),
            "heldout": entry(heldout_mean)}, "overall": entry((train_mean + heldout_mean) / 2)}  # fmt: skip


def test_report_shows_each_sets_median_shares_and_the_zero_shot_ratio_per_seed(tmp_path: Path):
    """A suite objective's report: per set, the seeds' means, medians, moving and beats-zero shares,
    and the objective set's mean ÷ the training set's, read from the suite each trial was scored on
    (a user's own `metamorph eval --suite` of a trial, in a folder of its own, is not that suite, nor
    is another suite the trial was scored on)."""
    from metamorph.sweep_report import write_sweep_report

    out = tmp_path / "sweep"
    objective = {"kind": "suite", "suite": "eval/split.toml", "metric": "mean", "set": "heldout", "last_updates": 10}
    trials = [{"key": f"c00-s{seed}", "config_index": 0, "seed": seed, "overrides": {"seed": seed}} for seed in (0, 1)]
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"source": "split.toml", "base": None, "fixed": {}, "seeds": [0, 1],
                                                "objective": objective, "configurations": [{}], "trials": trials}))  # fmt: skip
    seeds = [(100.0, 50.0, 0.5, 0.25), (200.0, 60.0, 0.7, None)]
    for seed, (train_mean, heldout_mean, moving, falls) in enumerate(seeds):
        run = out / "trials" / f"c00-s{seed}"
        (run / "eval" / "suite-split").mkdir(parents=True)
        (run / "eval" / "suite-baseline").mkdir()  # --out eval/suite-baseline: sorts first
        (run / "eval" / "suite-split" / "suite.json").write_text(
            json.dumps(_suite_summary(train_mean, heldout_mean, moving, falls))
        )
        (run / "eval" / "suite-baseline" / "suite.json").write_text(json.dumps(_suite_summary(-9.0, -9.0, 0.0)))
        # the same trial scored on another suite, as the sweep would score it: its folder sorts first
        (run / "eval" / "suite-other").mkdir()
        other = _suite_summary(-7.0, -7.0, 0.0) | {"suite": "other", "source": "eval/other.toml"}
        (run / "eval" / "suite-other" / "suite.json").write_text(json.dumps(other))
        (run / "objective.json").write_text(json.dumps({"key": run.name, "train_return": 1.0, "value": heldout_mean,
                                                        "sets": {"train": train_mean, "heldout": heldout_mean}}))  # fmt: skip
    write_sweep_report(out)
    bodies = json.loads((out / "report" / "summary.json").read_text())["configurations"][0]["bodies"]
    assert bodies["train"]["mean"] == [100.0, 200.0] and bodies["train"]["median"] == [50.0, 100.0]
    assert bodies["heldout"]["moving_share"] == [0.5, 0.7] and bodies["overall"]["mean"] == [75.0, 130.0]
    assert bodies["heldout"]["fall_rate"] == [0.25, None]  # the second seed's suite.json has no fall share
    assert bodies["train"]["objective_ratio"] == pytest.approx([0.5, 0.3])
    assert bodies["train"]["objective_ratio_of_means"] == pytest.approx(55 / 150)  # not the mean of the two
    assert "objective_ratio" not in bodies["heldout"] and "objective_ratio" not in bodies["overall"]
    report = (out / "report" / "report.md").read_text()
    assert (
        "| c00 | train | 150.00 (100.00, 200.00) | 75.00 (50.00, 100.00) | 60 % (50, 70) | 90 % (90, 90) | 25 % (25, –) "
        "| -1.00 | 0.37 (0.50, 0.30) |" in report
    )
    # a training set the policy does not move has no ratio; the seeds stay aligned
    suite = out / "trials" / "c00-s1" / "eval" / "suite-split" / "suite.json"
    suite.write_text(json.dumps(_suite_summary(-5.0, 60.0, 0.7)))
    write_sweep_report(out)
    bodies = json.loads((out / "report" / "summary.json").read_text())["configurations"][0]["bodies"]
    assert bodies["train"]["objective_ratio"] == [0.5, None]
    assert "| 1.16 (0.50, –) |" in (out / "report" / "report.md").read_text()  # 55 ÷ 47.5 over both seeds
    suite.write_text(json.dumps(_suite_summary(-300.0, 60.0, 0.7)))  # the mean over seeds is not positive
    write_sweep_report(out)
    (train_row,) = [
        line for line in (out / "report" / "report.md").read_text().splitlines() if "| c00 | train |" in line
    ]
    assert train_row.endswith("| -1.00 | – |")
    # a configuration whose first seed has not finished: its sets come from the seeds that have
    (out / "trials" / "c00-s0" / "objective.json").unlink()
    write_sweep_report(out)
    config = json.loads((out / "report" / "summary.json").read_text())["configurations"][0]
    assert config["complete"] == 1 and config["set_names"] == ["train", "heldout"]
    assert config["per_set_mean"] == {"train": 200.0, "heldout": 60.0}


# ----------------------------------------------------------------------------------------------
# Evaluation suites


def test_suite_evaluation_writes_every_set_and_the_overall(trained_rover, tmp_path: Path):
    run, _, _ = trained_rover
    suite = tmp_path / "suite.toml"
    suite.write_text(f'name = "two"\nepisodes = 2\n[[sets]]\nname = "biped"\nbodies = "{EXAMPLES / "biped.xml"}"\n'
                     f'[[sets]]\nname = "both"\nbodies = "{EXAMPLES / "biped.xml"},{EXAMPLES / "wheelbot.xml"}"\n'
                     'episodes = 1\nepisode_length = 30\n')  # fmt: skip
    out = tmp_path / "report"
    result = metamorph("eval", str(run), "--suite", str(suite), "--out", str(out), "--baseline-cache",
                       str(tmp_path / "cache"), "--parts", str(EXAMPLES.parent / "parts" / "wheel.py"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2  # a set's baselines, for the next policy
    assert sorted(p.name for p in out.iterdir()) == ["biped", "both", "suite.csv", "suite.json", "suite.md"]
    summary = json.loads((out / "suite.json").read_text())
    assert summary["sets"]["biped"]["num_bodies"] == 1 and summary["sets"]["both"]["num_bodies"] == 2
    assert summary["overall"]["num_bodies"] == 3
    for name in ("biped", "both"):
        per_set = json.loads((out / name / "results.json").read_text())
        assert per_set["set"] == name and per_set["aggregates"]["policy"]["mean"] == pytest.approx(
            summary["sets"][name]["actors"]["policy"]["mean"]
        )
    pooled = [np.mean(b["returns"]) for name in ("biped", "both")
              for b in json.loads((out / name / "results.json").read_text())["bodies"]["policy"]]  # fmt: skip
    assert summary["overall"]["actors"]["policy"]["mean"] == pytest.approx(np.mean(pooled))
    assert len(json.loads((out / "both" / "results.json").read_text())["bodies"]["zero"][1]["returns"]) == 1
    rows = (out / "suite.csv").read_text().splitlines()
    assert rows[0].startswith("set,bodies,actor,mean") and len(rows) == 1 + 3 * 3
    falls = summary["sets"]["biped"]["actors"]["policy"]["fall_rate"]
    (biped_policy,) = [
        line for line in (out / "suite.md").read_text().splitlines() if line.startswith("| biped | 1 | policy |")
    ]
    assert biped_policy.split(" | ")[7] == f"{falls:.0%}"  # the falls column
    again = metamorph("eval", str(run), "--suite", str(suite), "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_shipped_suites_load(monkeypatch):
    from metamorph.suite import load_suite

    monkeypatch.chdir(REPO)
    if not (REPO.parent / "shared" / "morphologies" / "unimal100" / "train").is_dir():
        pytest.skip("eval/generalisation.toml names ../shared's UNIMAL-100 (CI has ../shared)")
    suite = load_suite(REPO / "eval" / "generalisation.toml")
    assert [s.name for s in suite.sets] == ["heldout-generated", "unimal100"]
    heldout = load_suite(REPO / "eval" / "heldout.toml")
    assert [s.name for s in heldout.sets] == ["unimal80-train", "unimal20-heldout", "heldout-generated"]
    stride = {s.name: resolve(s.bodies)[0] for s in load_suite(REPO / "eval" / "heldout-stride.toml").sets}
    trained_on = resolve(parse_train_args(["--config", str(REPO / "train" / "unimal80-stride-flat.toml")]).bodies)[0]
    assert stride["stride80-train"] == trained_on and len(trained_on) == 80 and len(stride["stride20-heldout"]) == 20
    assert not set(trained_on) & set(stride["stride20-heldout"])
    real = load_suite(REPO / "eval" / "real.toml")
    assert real.sets[0].episodes == 3 and real.sets[0].task == "flat"  # not a run's shaped training task
    with pytest.raises(MetamorphError, match=r"variants.toml: sets\[0\] \(kinematics\): bodies/unimal100-kinematics"):
        load_suite(REPO / "eval" / "variants.toml")  # made by the commands in its header


def test_every_shipped_sweep_and_suite_loads_or_names_a_body_folder_its_header_makes(tmp_path: Path, monkeypatch):
    """Every train/sweeps/*.toml and eval/*.toml is checked as `metamorph sweep` and `metamorph eval`
    check them (field names, values, objective, body specs), from a fresh clone's root: the only
    error allowed is a missing `bodies/NAME` folder, and then a shipped header must hold the
    `metamorph generate … --out bodies/NAME` command that makes it. Every sweep's header holds the
    command that runs it."""
    from metamorph.suite import load_suite

    if not (REPO.parent / "shared" / "morphologies" / "unimal100" / "train").is_dir():
        pytest.skip("the UNIMAL sweeps name ../shared's UNIMAL-100 (CI has ../shared)")
    root = tmp_path / "clone"  # no bodies/ folder, as after `git clone`
    root.mkdir()
    for name in ("train", "eval"):
        (root / name).symlink_to(REPO / name)
    (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    monkeypatch.chdir(root)
    sweeps, suites = sorted(Path("train/sweeps").glob("*.toml")), sorted(Path("eval").glob("*.toml"))
    assert len(sweeps) >= 10 and len(suites) >= 5
    made = set(re.findall(r"--out (bodies/[\w.-]+)", "".join(p.read_text() for p in [*sweeps, *suites])))
    missing = []
    for path in [*sweeps, *suites]:
        try:
            load_spec(path) if path.parent.name == "sweeps" else load_suite(path)
        except MetamorphError as error:
            folder = re.search(r"bodies/[\w.-]+", str(error))
            assert folder and folder.group(0) in made, f"{path}: {error}"
            missing.append(path.name)
        if path.parent.name == "sweeps":
            assert f"metamorph sweep {path}" in path.read_text(), f"{path}: its header lacks the command that runs it"
    assert "standing-bodies.toml" in missing and "tree-3m.toml" not in missing


def test_the_go1_recipe_config_is_the_measured_recipe():
    """train/quadrupeds-go1.toml trains what the quadrupeds-go1-3m sweep measured: the sweep's base
    and fixed fields, on the registered space that its header's `--space-set` made."""
    from metamorph.design import design_space

    recipe = parse_train_args(["--config", str(REPO / "train" / "quadrupeds-go1.toml")])
    sweep = REPO / "train" / "sweeps" / "quadrupeds-go1-3m.toml"
    table = read_toml(sweep)  # not load_spec: that needs the suite's body folders made
    fixed = _flatten(table["fixed"])  # as the sweep reads it: TOML makes ppo.static-std-floor a [ppo] table
    assert fixed["ppo.static-std-floor"] == 0.01 and fixed["link-geometry"] == "shape"
    assert fixed["total-steps"] == 3_000_000
    # the sweep ran when train/default.toml's discount was 0.99; the recipe's config keeps that
    ran_with = ["--ppo.discount", "0.99"]
    base = parse_train_args(["--config", str(REPO / table["sweep"]["base"]), *as_flags(fixed), *ran_with])
    assert recipe == dataclasses.replace(base, bodies="generate:quadruped-leg-inertia:1000")
    header = sweep.read_text()
    assert "--space quadruped-heavy-legs --space-set leg_inertia=true --count 1000 --seed 0" in header
    registered = design_space("quadruped-leg-inertia")
    made = design_space("quadruped-heavy-legs", ("leg_inertia=true",))
    assert registered.name == "quadruped-leg-inertia" and registered == dataclasses.replace(made, name=registered.name)


def test_the_many_bodies_config_is_the_measured_recipe():
    """train/many-bodies-3m.toml trains what the bodies-1000-3m sweep measured (its base, fixed fields
    and bodies), keeping the usual three newest checkpoints where the sweep kept all ten."""
    recipe = parse_train_args(["--config", str(REPO / "train" / "many-bodies-3m.toml")])
    table = read_toml(REPO / "train" / "sweeps" / "bodies-1000-3m.toml")
    [bodies] = table["grid"]["bodies"]
    flags = [*as_flags(_flatten(table["fixed"])), "--bodies", bodies]
    measured = parse_train_args(["--config", str(REPO / table["sweep"]["base"]), *flags])
    assert recipe.total_steps == 3_000_000 and recipe.bodies == "generate:unimal:1000+generate:planar:1000"
    assert recipe.ppo.discount == 0.97  # train/default.toml's when the sweep ran, pinned in the recipe
    assert recipe == dataclasses.replace(measured, keep_checkpoints=TrainConfig().keep_checkpoints)
