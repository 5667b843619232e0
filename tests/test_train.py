"""Training runs as a user starts them: run folders, checkpoints, resume, bad checkpoints."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import EXAMPLES
from metamorph.checkpoint import CHECKPOINTS, _checkpointer, find_checkpoint, remove_stale_partials, restore
from metamorph.errors import MetamorphError
from metamorph.ppo import AUTO_TRIM_SHARE, PPOConfig, trimmed_share
from metamorph.train import TrainConfig, Trainer


def tiny_config(run_dir: Path, unimal_files, **overrides) -> TrainConfig:
    bodies = f"{EXAMPLES / 'biped.xml'},{unimal_files[0]}"
    base = TrainConfig(
        bodies=bodies,
        total_steps=4 * 4 * 8,
        num_envs=4,
        unroll_length=8,
        run_dir=run_dir,
        checkpoint_every=2,
        nthread=1,
        episode_length=20,
        ppo=PPOConfig(epochs=2, num_minibatches=2),
    )
    return dataclasses.replace(base, **overrides)


def _params(run: Path, trainer: Trainer):
    obs = trainer.env.reset(seed=0)
    target = trainer.init_state(obs, jax.random.PRNGKey(0))
    state, key, extra, meta = restore(find_checkpoint(run), target)
    return state, key, extra, meta


def test_run_folder_and_checkpoint_round_trip(tmp_path: Path, unimal_files, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Path("run")  # relative, as users type it
    trainer = Trainer(tiny_config(run, unimal_files), progress=False)
    summary = trainer.run()
    assert summary["update"] == 4 and summary["env_steps"] == 128
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["num_envs"] == 4 and config["policy"]["d_model"] == 48
    assert config["versions"]["jax"] == jax.__version__ and config["command"]
    assert config["vocabulary"][0]["name"] == "sphere/free/none"
    # --ppo.token-bucket auto, the default, is decided on the bodies, and config.json says how
    counts = [entry.tokens.num_tokens for entry in trainer.env.bodies]
    assert config["trimmed_share"] == trimmed_share(counts, 4, 8, 2, PPOConfig().microbatch_size)
    assert config["config"]["ppo"]["token_bucket"] == (4 if config["trimmed_share"] >= AUTO_TRIM_SHARE else 0)
    untrimmed = Trainer(tiny_config(Path("untrimmed"), unimal_files, ppo=PPOConfig(epochs=2, num_minibatches=2, token_bucket=0)),
                        progress=False)  # fmt: skip
    assert untrimmed.trimmed_share is None and untrimmed.config.ppo.token_bucket == 0  # a number: nothing to decide
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in lines] == [1, 2, 3, 4]
    assert any((run / "tensorboard").iterdir())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["update_000002", "update_000004"]
    state, _, extra, meta = _params(run, Trainer(tiny_config(Path("other"), unimal_files), progress=False))
    assert meta["updates"] == 4 and meta["env_steps"] == 128
    assert int(state.updates) == 4
    assert extra["env"]["body_ids"].shape == (4,)
    assert np.isfinite(jax.tree_util.tree_leaves(state.params)[0]).all()


def assert_same_or_both_missing(actual: float | None, expected: float | None, rel: float) -> None:
    """An update in which no episode ended logs `null` for its episode statistics: a missing value
    must be missing in both runs, a present one equal within `rel`."""
    if expected is None:
        assert actual is None, f"expected no value, got {actual}"
    else:
        assert actual is not None, f"expected {expected}, got no value"
        assert actual == pytest.approx(expected, rel=rel)


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path, unimal_files):
    straight = Trainer(tiny_config(tmp_path / "a", unimal_files), progress=False)
    straight.run()
    interrupted = Trainer(tiny_config(tmp_path / "b", unimal_files), progress=False)
    interrupted.run(max_updates=2)  # stops after the checkpoint of update 2, as a kill would
    resumed = Trainer(tiny_config(tmp_path / "b", unimal_files, resume=True), progress=False)
    resumed.run()
    probe = Trainer(tiny_config(tmp_path / "probe", unimal_files), progress=False)
    a, *_ = _params(tmp_path / "a", probe)
    b, *_ = _params(tmp_path / "b", probe)
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a.params, b.params)
    metrics_a = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    metrics_b = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in metrics_b] == [1, 2, 3, 4]
    for x, y in zip(metrics_a, metrics_b, strict=True):
        assert_same_or_both_missing(x["episode_return"], y["episode_return"], rel=1e-5)
        assert x["value_loss"] == pytest.approx(y["value_loss"], rel=1e-4)


def test_missing_and_damaged_checkpoints_get_clear_errors(tmp_path: Path, unimal_files):
    with pytest.raises(MetamorphError, match="no such run or checkpoint"):
        find_checkpoint(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetamorphError, match="no checkpoint in it"):
        find_checkpoint(tmp_path / "empty")
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, unimal_files, total_steps=2 * 32), progress=False)
    trainer.run()
    checkpoint = find_checkpoint(run)
    for path in (checkpoint / "state").rglob("*"):
        if path.is_file() and path.stat().st_size > 100:
            path.write_bytes(b"\x00garbage" * 10)
    obs = trainer.env.reset(seed=0)
    target = trainer.init_state(obs, jax.random.PRNGKey(0))
    with pytest.raises(MetamorphError, match=r"update_000002: checkpoint is damaged"):
        restore(checkpoint, target)
    (checkpoint / "meta.json").write_text("{not json")
    with pytest.raises(MetamorphError, match=r"cannot read meta\.json"):
        restore(checkpoint, target)


def test_a_diverged_update_stops_the_run_and_keeps_the_last_checkpoint(tmp_path: Path, unimal_files):
    """An update whose loss is NaN (parameters that stay NaN) stops training in one line naming the
    update, before any checkpoint holds the broken policy."""
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, unimal_files), progress=False)  # 4 updates, a checkpoint every 2
    update, calls = trainer._update, []

    def third_update_diverges(*args):
        state, metrics = update(*args)
        calls.append(1)
        return state, metrics | ({"policy_loss": jnp.nan} if len(calls) == 3 else {})

    trainer._update = third_update_diverges
    with pytest.raises(MetamorphError, match=r"update 3: the PPO update diverged \(policy_loss not finite\)"):
        trainer.run()
    assert find_checkpoint(run).name == "update_000002"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_minibatches_that_do_not_divide_the_update_are_refused_before_anything_is_written(tmp_path, unimal_files):
    config = tiny_config(tmp_path / "run", unimal_files, ppo=PPOConfig(num_minibatches=3))
    with pytest.raises(MetamorphError, match="num-minibatches 3 must divide the 32 samples"):
        Trainer(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_bodies_that_fail_to_load_leave_no_run_folder(tmp_path: Path, unimal_files):
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody><body><geom")
    config = tiny_config(tmp_path / "run", unimal_files, bodies=f"{unimal_files[0]},{broken}")
    with pytest.raises(MetamorphError, match=r"broken\.xml: malformed XML"):
        Trainer(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_checkpoints_of_the_first_format_still_restore(tmp_path: Path, unimal_files):
    """Format 1 (no "format" in meta.json) stored the state pytree itself; such runs still load."""
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, unimal_files, total_steps=2 * 32), progress=False)
    trainer.run()
    checkpoint = find_checkpoint(run)
    target = trainer.init_state(trainer.env.reset(seed=0), jax.random.PRNGKey(0))
    current, key, _, meta = restore(checkpoint, target)
    assert meta["format"] == 2
    shutil.rmtree(checkpoint / "state")
    host_state = jax.tree_util.tree_map(np.asarray, current)
    _checkpointer().save(checkpoint.resolve() / "state", {"state": host_state, "key": np.asarray(key)})
    del meta["format"]
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    legacy, legacy_key, _, _ = restore(checkpoint, target)
    np.testing.assert_array_equal(legacy_key, key)
    jax.tree_util.tree_map(np.testing.assert_array_equal, legacy.params, current.params)
    assert int(legacy.updates) == 2


def test_partial_checkpoints_of_dead_writers_are_removed(tmp_path: Path):
    """A writer killed mid-save leaves ``.tmp-update_N-PID``; it is removed once that pid is gone,
    while a live writer's partial and every complete checkpoint stay."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    folder = tmp_path / CHECKPOINTS
    dead, live, complete = (folder / f".tmp-update_000006-{dead_pid}", folder / f".tmp-update_000008-{os.getppid()}",
                            folder / "update_000004")  # fmt: skip
    for path in (dead, live, complete):
        (path / "state").mkdir(parents=True)
    assert remove_stale_partials(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and complete.exists()


def test_resume_without_a_run_is_an_error(tmp_path: Path):
    from metamorph.train import train

    with pytest.raises(MetamorphError, match="no such file; nothing to resume"):
        train(TrainConfig(run_dir=tmp_path / "ghost", resume=True))


@pytest.mark.slow  # ~65 s; test_resume_reproduces_the_uninterrupted_run guards exact resume by default
def test_kill_9_then_resume_from_the_command_line(tmp_path: Path, unimal_files):
    """A user's run killed with SIGKILL resumes from its last checkpoint; metrics continue without
    a gap or a repeat and no checkpoint is half-written."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "metamorph", "train", "--bodies", f"{EXAMPLES / 'biped.xml'},{unimal_files[0]}",
            "--run-dir", str(run), "--total-steps", "2560", "--num-envs", "4", "--unroll-length", "16",
            "--checkpoint-every", "2", "--nthread", "1", "--episode-length", "30"]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # a wait, not a timing claim
    while time.time() < deadline and not (run / "checkpoints" / "update_000004").exists():
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (run / "checkpoints" / "update_000004").exists(), process.stderr.read().decode()[-2000:]
    result = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    updates = [json.loads(line)["update"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert updates == list(range(1, 41))
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start_pair(run: Path, total_steps: int, *extra: str) -> list[subprocess.Popen]:
    port = _free_port()
    args = [sys.executable, "-m", "metamorph", "train", "--bodies", str(EXAMPLES / "biped.xml"), "--run-dir", str(run),
            "--total-steps", str(total_steps), "--num-envs", "2", "--unroll-length", "16", "--checkpoint-every", "4",
            "--nthread", "1", "--episode-length", "30", "--coordinator", f"localhost:{port}", "--num-processes", "2"]  # fmt: skip
    return [
        subprocess.Popen([*args, "--process-id", str(k), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for k in (0, 1)
    ]


def _finish(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        _, err = process.communicate(timeout=400)
        assert process.returncode == 0, err.decode()[-2000:]


@pytest.mark.slow  # ~230 s on 2 cores: two JAX processes compile and train side by side
def test_two_processes_on_localhost_train_one_policy_and_resume(tmp_path: Path):
    """The multi-host path for real: two processes joined by jax.distributed.initialize (gloo on
    CPU) step their own environments and update one policy on the combined batch; process 0 writes
    the run; a pair killed with SIGKILL resumes from process 0's checkpoint."""
    from metamorph.checkpoint import load_policy
    from metamorph.morphology import load_morphology
    from metamorph.tokens import tokenize

    run = tmp_path / "run"
    _finish(_start_pair(run, 8 * 2 * 2 * 16))  # 8 updates of 2 processes × 2 envs × 16 steps
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in metrics] == list(range(1, 9))
    assert metrics[-1]["env_steps"] == 8 * 64
    assert json.loads((run / "config.json").read_text())["config"]["num_processes"] == 2
    # the observation statistics counted every real token of both processes' environments
    loaded = load_policy(run)
    count = loaded.normalizer.tokens.count
    count = int(np.asarray(count.hi)) << 32 | int(np.asarray(count.lo)) if hasattr(count, "hi") else int(count)
    assert count == 8 * 64 * tokenize(load_morphology(EXAMPLES / "biped.xml")).num_tokens
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["update_000004", "update_000008"]

    # `--processes 2` starts such a pair itself; killing it (launcher and all) leaves a run that a
    # plain --resume continues with the same two processes
    import psutil

    resumed = tmp_path / "resumed"
    train = [sys.executable, "-m", "metamorph", "train", "--run-dir", str(resumed)]
    launcher = subprocess.Popen([*train, "--bodies", str(EXAMPLES / "biped.xml"), "--total-steps", str(40 * 64),
                                 "--num-envs", "4", "--processes", "2", "--unroll-length", "16", "--checkpoint-every",
                                 "4", "--episode-length", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 600  # a wait, not a timing claim: a loaded machine (a sweep beside) took > 240 s
    while time.time() < deadline and not (resumed / "checkpoints" / "update_000004").exists():
        time.sleep(0.2)
    children = psutil.Process(launcher.pid).children()
    assert len(children) == 2
    launcher.send_signal(signal.SIGKILL)  # the launcher alone: its processes must not train on as orphans
    launcher.wait()
    psutil.wait_procs(children, timeout=10)
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert (resumed / "checkpoints" / "update_000004").exists()
    config = json.loads((resumed / "config.json").read_text())["config"]
    assert (config["processes"], config["num_processes"], config["num_envs"]) == (2, 2, 2)  # 4 environments in all
    result = subprocess.run([*train, "--resume"], capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    updates = [json.loads(line)["update"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert updates == list(range(1, 41))


SHARDED_RUN = """
import dataclasses, json, sys, jax, numpy as np
from pathlib import Path
from metamorph.errors import MetamorphError
from metamorph.ppo import PPOConfig
from metamorph.train import TrainConfig, Trainer
ppo = PPOConfig(epochs=3, num_minibatches=1, pack_rows=int(sys.argv[3]))
config = TrainConfig(bodies=sys.argv[1], total_steps=3 * 64, num_envs=4, unroll_length=16, run_dir=Path(sys.argv[2]),
                     checkpoint_every=100, nthread=1, episode_length=20, ppo=ppo)
trainer = Trainer(config, progress=False)
summary = trainer.run()
refused = None
if len(jax.devices()) == 2:  # minibatches of 3 samples cannot be split between two devices
    odd = dataclasses.replace(config, unroll_length=3, ppo=PPOConfig(num_minibatches=4), run_dir=Path(sys.argv[2] + "-odd"))
    try:
        Trainer(odd, progress=False)
    except MetamorphError as error:
        refused = {"error": str(error), "written": odd.run_dir.exists()}
print(json.dumps({"devices": len(jax.devices()), "value_loss": summary["value_loss"], "policy_loss": summary["policy_loss"],
                  "grad_norm": summary["grad_norm"],
                  "returns": [json.loads(l)["episode_return"] for l in open(Path(sys.argv[2]) / "metrics.jsonl")],
                  "refused": refused}))
"""


@pytest.mark.slow  # ~90 s: subprocesses with one and two XLA CPU devices
def test_data_parallel_over_two_devices_matches_one(tmp_path: Path, unimal_files):
    """XLA_FLAGS=--xla_force_host_platform_device_count=2 splits the batch over two CPU devices,
    each updating on its own environments' samples with gradients summed across devices; with one
    minibatch per epoch (so both see the same samples in every step) the run must match the
    single-device run within float tolerance, and minibatches that cannot be split between the
    devices are refused before anything is written. Each device packs its own samples' microbatches
    just as well (``--ppo.pack-rows``: 32 rows hold a device's 32 samples, so every one is packed)."""
    bodies = f"{EXAMPLES / 'biped.xml'},{unimal_files[0]}"
    results = []
    for devices, pack_rows in ((1, 0), (2, 0), (2, 32)):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        run = str(tmp_path / f"run{devices}-{pack_rows}")
        out = subprocess.run([sys.executable, "-c", SHARDED_RUN, bodies, run, str(pack_rows)],
                             capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    one, *twos = results
    assert one["devices"] == 1
    for two in twos:
        assert two["devices"] == 2
        assert two["value_loss"] == pytest.approx(one["value_loss"], rel=1e-3, abs=1e-5)
        assert two["policy_loss"] == pytest.approx(one["policy_loss"], rel=1e-2, abs=1e-5)
        assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-3)  # summed once across devices, not twice
        assert len(two["returns"]) == len(one["returns"])
        for returns_two, returns_one in zip(two["returns"], one["returns"], strict=True):
            assert_same_or_both_missing(returns_two, returns_one, rel=1e-3)
        assert two["refused"] == {"error": "a minibatch of 3 samples must divide among 2 devices: change --ppo.num-minibatches",
                                  "written": False}  # fmt: skip


def test_ppo_learns_to_move_forward(trained_rover):
    """A short seeded run on two bodies — a wheeled rover and a biped — must raise their mean
    forward speed (deterministic policy) clearly above the untrained policy's. Fails if learning breaks."""
    _, before, after = trained_rover
    assert after > before + 0.3, (before, after)  # m/s of forward speed, averaged over slots


@pytest.mark.parametrize(("task", "position"), [("variable_terrain", "tree"), ("obstacles", "none")])
def test_training_runs_on_terrain_tasks(tmp_path: Path, unimal_files, task, position):
    """Terrain tasks feed the terrain patch through its encoder; tree and no position work too."""
    trainer = Trainer(
        tiny_config(tmp_path / "run", unimal_files, task=task, position=position, total_steps=2 * 32), progress=False
    )
    summary = trainer.run()
    assert summary["update"] == 2 and np.isfinite(summary["value_loss"])
    assert "terrain_1" in trainer.state.params["params"]
    if position == "tree":
        assert "tree_bias" in trainer.state.params["params"]["trunk"]
    # the checkpoint evaluates on the same task, terrain patch and position scheme included
    from metamorph.checkpoint import load_policy
    from metamorph.evaluate import evaluate
    from metamorph.morphology import load_morphology

    loaded = load_policy(tmp_path / "run")
    results = evaluate(loaded, [load_morphology(unimal_files[0])], task, episodes=1, episode_length=15, nthread=1)
    assert np.isfinite(results["policy"][0].returns).all()


def test_fine_tuning_keeps_the_static_std_floor_it_was_trained_with(tmp_path: Path, unimal_files):
    """A run from a checkpoint normalises static features with that checkpoint's floor unless told
    otherwise; a different floor is refused in one line."""
    floored = PPOConfig(epochs=2, num_minibatches=2, static_std_floor=0.01)
    Trainer(tiny_config(tmp_path / "pre", unimal_files, total_steps=4 * 8, ppo=floored), progress=False).run()
    again = Trainer(tiny_config(tmp_path / "ft", unimal_files, init_from=tmp_path / "pre"), progress=False)
    assert again.config.ppo.static_std_floor == 0.01
    other = PPOConfig(epochs=2, num_minibatches=2, static_std_floor=0.05)
    with pytest.raises(MetamorphError, match=r"trained with --ppo\.static-std-floor 0\.01"):
        Trainer(tiny_config(tmp_path / "ft2", unimal_files, init_from=tmp_path / "pre", ppo=other), progress=False)


def test_policy_sizes_override_the_preset_and_come_back_with_the_policy(tmp_path: Path, unimal_files):
    """--d-model, --num-layers, --num-heads and --ff-dim replace the preset's sizes; the trained
    policy loads with them; fine-tuning keeps the checkpoint's sizes and refuses others in one line."""
    from metamorph.checkpoint import load_policy
    from metamorph.policy import POLICY_PRESETS

    config = tiny_config(tmp_path / "wide", unimal_files, total_steps=4 * 8, d_model=64, num_layers=3, ff_dim=80)
    policy = config.policy_config
    assert (policy.d_model, policy.num_layers, policy.num_heads, policy.ff_dim) == (64, 3, 2, 80)
    small = tiny_config(tmp_path / "small", unimal_files).policy_config
    preset = POLICY_PRESETS["small"]()
    assert (small.d_model, small.num_layers) == (preset.d_model, preset.num_layers)
    wide = Trainer(config, progress=False)
    wide.run()
    assert wide.policy_config.d_model == 64
    loaded = load_policy(tmp_path / "wide")
    assert (loaded.policy.config.d_model, loaded.policy.config.num_layers, loaded.policy.config.ff_dim) == (64, 3, 80)
    assert loaded.params["params"]["trunk"]["layer_2"]["Dense_0"]["kernel"].shape == (64, 80)
    again = Trainer(tiny_config(tmp_path / "ft", unimal_files, init_from=tmp_path / "wide", d_model=64), progress=False)
    assert again.policy_config.num_layers == 3
    with pytest.raises(MetamorphError, match=r"--init-from .*wide: its policy has num-layers 3, not 2$"):
        Trainer(tiny_config(tmp_path / "ft2", unimal_files, init_from=tmp_path / "wide", num_layers=2), progress=False)
    with pytest.raises(MetamorphError, match=r"^d-model must be at least 1, got 0$"):
        Trainer(tiny_config(tmp_path / "zero", unimal_files, d_model=0), progress=False)
    with pytest.raises(MetamorphError, match=r"d_model 50 must be divisible by num_heads 3"):
        Trainer(tiny_config(tmp_path / "odd", unimal_files, d_model=50, num_heads=3), progress=False)
    assert not (tmp_path / "zero").exists() and not (tmp_path / "odd").exists() and not (tmp_path / "ft2").exists()


def test_part_shares_weigh_the_joined_parts_of_the_bodies_and_stay_with_the_run(tmp_path: Path, unimal_files):
    """``--part-shares 0.8 0.2`` over a one-body part and a two-body part: the environments draw the
    first part's body with weight 0.8 and each of the others with 0.1; the shares survive the run's
    config.json (resume reads them back); shares that do not fit the parts fail before anything is
    written."""
    from metamorph.train import config_from_json, config_to_json

    bodies = f"{EXAMPLES / 'biped.xml'}+{unimal_files[0]},{unimal_files[1]}"
    config = tiny_config(tmp_path / "shares", unimal_files, bodies=bodies, part_shares=(0.8, 0.2))
    trainer = Trainer(config, progress=False)
    np.testing.assert_allclose(trainer.env.body_weights, [0.8, 0.1, 0.1])
    trainer.env.close()
    stored = config_from_json(json.loads(json.dumps(config_to_json(config))))
    assert tuple(stored.part_shares) == (0.8, 0.2)
    with pytest.raises(MetamorphError, match=r"^--part-shares: 3 share\(s\) for the 2 '\+'-joined part\(s\)"):
        Trainer(dataclasses.replace(config, run_dir=tmp_path / "bad", part_shares=(1.0, 1.0, 1.0)), progress=False)
    assert not (tmp_path / "bad").exists()


def test_run_keeps_its_task_and_logs_each_reward_term(tmp_path: Path, unimal_files, monkeypatch):
    """The task with the run's overrides is saved in the run and comes back with the policy, so
    eval and render use it, as does the observation frame; every reward term is logged on its own,
    and the reward is their sum."""
    import metamorph.checkpoint
    import metamorph.env
    from metamorph.checkpoint import load_policy
    from metamorph.evaluate import evaluate
    from metamorph.morphology import load_morphology
    from metamorph.observation import blank_observation, policy_obs

    config = tiny_config(tmp_path / "run", unimal_files, alive_bonus=0.25, reset_noise=0.02, action_std=0.9,
                         frame="torso", total_steps=2 * 4 * 8, fall_fraction=0.3, link_geometry="shape",
                         ppo=PPOConfig(epochs=2, num_minibatches=2, static_std_floor=0.01))  # fmt: skip
    Trainer(config, progress=False).run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert 0 < row["reward_alive"] <= 0.25  # the bonus, on steps that did not end in a fall
        assert np.isfinite(row["reward_forward_velocity"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["task"]
    assert saved["alive_bonus"] == 0.25 and saved["episode_length"] == 20 and saved["name"] == "flat"
    assert saved["reset_noise"] == 0.02 and saved["fall_fraction"] == 0.3
    loaded = load_policy(tmp_path / "run")
    task = loaded.task()
    assert (task.alive_bonus, task.episode_length, task.reset_noise, task.patch_shape) == (0.25, 20, 0.02, (9, 5))
    assert task.fall_fraction == 0.3
    # a fixed action std: no log-std parameter to learn, and every action is drawn with std 0.9
    assert loaded.policy.config.action_std == 0.9 and "log_std" not in loaded.params["params"]
    step = loaded.inference_fn()(policy_obs(blank_observation(1, 4, 0)), None, True)  # the mean: 4 actuated tokens
    assert float(step.log_prob[0]) == pytest.approx(4 * (-np.log(0.9) - 0.5 * np.log(2 * np.pi)), rel=1e-5)
    # eval on the run's task, seen in the run's frame: the return counts the bonus, the velocity does not
    assert loaded.policy.config.frame == "torso"  # not the default (world): saved and read back
    assert loaded.policy.config.link_geometry == "shape"  # not the default (largest)
    floors = []
    make = metamorph.checkpoint.make_inference_fn
    monkeypatch.setattr(metamorph.checkpoint, "make_inference_fn", lambda *a: floors.append(a[2]) or make(*a))
    loaded.inference_fn()
    assert floors == [0.01]  # the policy is normalised as it was trained
    seen, env_class = [], metamorph.env.VecEnv
    monkeypatch.setattr(
        metamorph.env, "VecEnv", lambda *a, **k: seen.append((k["frame"], k["link_geometry"])) or env_class(*a, **k)
    )
    result = evaluate(loaded, [load_morphology(unimal_files[0])], None, episodes=1, nthread=1)["zero"][0]
    assert seen == [("torso", "shape")]
    assert result.lengths[0] <= 20
    bonus = 0.25 * (result.lengths[0] - result.falls[0])
    assert result.returns[0] == pytest.approx(bonus + result.velocity[0] * result.lengths[0], abs=1e-4)
