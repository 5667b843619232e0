"""Run folders and checkpoints.

A checkpoint is a folder ``RUN/checkpoints/update_NNNNNN/`` holding

- ``state/``: the Orbax pytree — policy parameters, optimiser state, observation normaliser,
  update count, JAX RNG key;
- ``extra.npz``: the environment's state and the reward scaler (so a resume continues the very
  same episodes);
- ``meta.json``: the training config, policy config, vocabulary and observation layout — all that
  is needed to rebuild the policy from the folder alone.

`load_policy` rebuilds a policy from a checkpoint folder alone (its meta.json holds the policy
config, the vocabulary and the observation layout). If part kinds were registered after training,
the vocabulary is extended: old ids keep their embedding rows, new kinds get fresh rows.

It is written into a temporary folder and renamed into place, so a run killed at any moment
(``kill -9`` included) leaves either the whole checkpoint or none of it. Metrics and config files
are written the same way (or appended line by line), so nothing the user had is lost.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from metamorph.env.tasks import TaskConfig, task_config, task_from_json, task_with_overrides
from metamorph.errors import MetamorphError
from metamorph.files import write_json_atomic
from metamorph.observation import blank_observation, policy_obs
from metamorph.packing import pack_fixed_bodies
from metamorph.policy import Policy, PolicyConfig, fields_read
from metamorph.ppo import PPOConfig, TrainState, init_normalizer, make_inference_fn, make_optimizer, policy_inputs
from metamorph.vocabulary import DEFAULT_VOCABULARY, Vocabulary

CHECKPOINTS = "checkpoints"
FORMAT = 2
"""Checkpoint layout version in meta.json: 2 stores the state as leaves keyed by path; 1 (no
"format" key) stored the pytree itself and is still read."""


class RunFolder:
    """The files of one training run."""

    def __init__(self, path: Path):
        self.path = Path(path)  # made by `start`, so a run that fails to set up leaves no empty folder
        self.metrics = self.path / "metrics.jsonl"

    def start(self, config: dict, policy_config, provenance: dict, num_params: int, vocabulary, task: dict) -> None:
        """Write config.json (``config``: the training config as JSON; ``task``: the task with the
        run's overrides, as JSON) and an empty metrics log."""
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.path / CHECKPOINTS).is_dir() and any((self.path / CHECKPOINTS).iterdir()):
            raise MetamorphError(
                f"{self.path}: holds checkpoints of an earlier run; pass --resume or another --run-dir"
            )
        write_json_atomic(
            self.path / "config.json",
            {
                "config": config,
                "task": task,
                "policy": dataclasses.asdict(policy_config),
                "num_params": num_params,
                "vocabulary": vocabulary.to_json(),
                **provenance,
            },
        )
        self.metrics.write_text("")

    def log(self, summary: dict, writer) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(summary) + "\n")
            f.flush()
        step = summary["env_steps"]
        for key, value in summary.items():
            if isinstance(value, int | float) and key not in ("update", "env_steps"):
                writer.add_scalar(f"train/{key}", value, step)
        writer.flush()

    def truncate_metrics(self, updates: int) -> None:
        """Drop metric lines written after the checkpoint a resume starts from."""
        if not self.metrics.is_file():
            return
        kept = []
        for line in self.metrics.read_text().splitlines():
            try:
                if json.loads(line)["update"] <= updates:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError):
                break  # a line cut by a kill: everything after it is newer than the checkpoint
        tmp = self.metrics.with_name(f".{self.metrics.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.metrics)

    def tensorboard(self, purge_step: int):
        from tensorboardX import SummaryWriter

        return SummaryWriter(str(self.path / "tensorboard"), purge_step=purge_step or None)


def _checkpoint_dirs(run: Path) -> list[Path]:
    folder = Path(run) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.startswith("update_")), key=lambda p: p.name)


def _checkpointer() -> ocp.Checkpointer:
    """Orbax's PyTree checkpointer, used by this process alone: in a multi-process run only process
    0 saves and restores (a host copy of the replicated state), so no barrier may wait for others."""
    options = ocp.options.MultiprocessingOptions(
        primary_host=jax.process_index(), active_processes={jax.process_index()}
    )
    return ocp.Checkpointer(
        ocp.PyTreeCheckpointHandler(multiprocessing_options=options), multiprocessing_options=options
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True


def remove_stale_partials(run: Path) -> list[Path]:
    """Delete half-written checkpoint folders left by a writer that was killed (its pid is gone).

    A checkpoint is written under ``.tmp-update_N-PID`` and renamed when complete, so such a folder
    never holds anything a user could restore."""
    folder = Path(run) / CHECKPOINTS
    removed = []
    for partial in folder.glob(".tmp-update_*-*") if folder.is_dir() else []:
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


def save_checkpoint(run: Path, state, key, extra: dict, updates: int, env_steps: int, keep: int) -> Path:
    """Write a checkpoint atomically and keep the newest ``keep``."""
    run = Path(run).resolve()  # Orbax refuses relative paths
    folder = run / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(run)
    final = folder / f"update_{updates:06d}"
    tmp = folder / f".tmp-update_{updates:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    _checkpointer().save(tmp / "state", {"state": _named_leaves(state), "key": np.asarray(key)})
    np.savez(tmp / "extra.npz", **_flatten(extra))
    config = json.loads((run / "config.json").read_text())
    saved_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    meta = {"format": FORMAT, "updates": updates, "env_steps": env_steps, "saved_at": saved_at, **config}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in _checkpoint_dirs(run)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _named_leaves(tree) -> dict[str, np.ndarray]:
    """The leaves of a pytree as host arrays keyed by their path (``.params['trunk']...``).

    Stored this way, not as the pytree itself: Orbax would flatten it again, and some nodes (brax's
    UInt64 counters) turn their leaves back into device arrays, which a multi-process run cannot save."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def _from_named_leaves(target, named: dict[str, np.ndarray]):
    paths, treedef = jax.tree_util.tree_flatten_with_path(target)
    return jax.tree_util.tree_unflatten(treedef, [named[jax.tree_util.keystr(path)] for path, _ in paths])


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = np.asarray(value)
    return out


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    out: dict = {}
    for name, value in flat.items():
        node = out
        *parents, leaf = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def find_checkpoint(path: Path) -> Path:
    """A checkpoint folder from a run folder (its newest) or a checkpoint folder itself."""
    path = Path(path)
    if (path / "meta.json").is_file() and (path / "state").exists():
        return path
    if not path.exists():
        raise MetamorphError(f"{path}: no such run or checkpoint")
    found = _checkpoint_dirs(path)
    if not found:
        raise MetamorphError(f"{path}: no checkpoint in it (looked in {path / CHECKPOINTS})")
    return found[-1]


def restore(checkpoint: Path, target_state) -> tuple[Any, Any, dict, dict]:
    """(state, key, extra, meta) from a checkpoint folder, or a clear error when it is damaged."""
    checkpoint = Path(checkpoint).resolve()
    try:
        meta = json.loads((checkpoint / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MetamorphError(f"{checkpoint}: checkpoint is damaged: cannot read meta.json ({exc})") from None
    named = meta.get("format", 1) >= 2  # format 1 stored the state as its pytree
    state_target = _named_leaves(target_state) if named else jax.tree_util.tree_map(np.asarray, target_state)
    target = {"state": state_target, "key": np.zeros(2, np.uint32)}
    try:
        with warnings.catch_warnings():  # "sharding info not provided": we restore onto the host
            warnings.simplefilter("ignore", UserWarning)
            restored = _checkpointer().restore(checkpoint / "state", item=target)
        state = _from_named_leaves(target_state, restored["state"]) if named else restored["state"]
        with np.load(checkpoint / "extra.npz") as data:
            extra = _unflatten({k: data[k] for k in data.files})
    except Exception as exc:  # Orbax and numpy raise many kinds; the user needs one line
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MetamorphError(f"{checkpoint}: checkpoint is damaged: {detail[:300]}") from None
    return state, restored["key"], extra, meta


def load_latest(run: Path, target_state):
    """Restore the newest checkpoint of a run, or None when it has none yet."""
    remove_stale_partials(run)
    if not _checkpoint_dirs(run):
        return None
    return restore(find_checkpoint(run), target_state)


# ----------------------------------------------------------------------------------------------
# A trained policy from a checkpoint


@dataclasses.dataclass
class LoadedPolicy:
    policy: Policy
    params: dict
    normalizer: object
    vocabulary: Vocabulary
    meta: dict
    checkpoint: Path

    def mean_action_fn(self, pack: bool = True):
        """A function from an environment observation to the policy's mean torques [B, T] (numpy).
        ``pack``: bodies of different lengths several to a row (`metamorph.packing`), the same
        torques up to rounding."""
        policy = self.inference_fn()
        mean = jax.jit(lambda obs: policy(obs, None, True).actions)
        fields = fields_read(self.policy.config)
        packed = pack_fixed_bodies() if pack else dict
        return lambda obs: np.asarray(mean(packed(policy_obs(obs, fields))))

    def sampled_action_fn(self, seed: int = 0, pack: bool = True):
        """Like `mean_action_fn`, but each call draws the torques from the policy's Gaussian, as in
        training: how much of a policy's motion comes from its exploration noise."""
        policy = self.inference_fn()
        base = jax.random.PRNGKey(seed)
        sample = jax.jit(lambda obs, step: policy(obs, jax.random.fold_in(base, step), False).actions)
        steps = itertools.count()
        fields = fields_read(self.policy.config)
        packed = pack_fixed_bodies() if pack else dict
        return lambda obs: np.asarray(sample(packed(policy_obs(obs, fields)), next(steps)))

    def task(self) -> TaskConfig:
        """The task the policy was trained on, with the run's overrides (episode length, alive bonus…);
        runs from before 2026-12-01 saved only its name and the overrides in their config."""
        if "task" in self.meta:
            return task_from_json(self.meta["task"])
        config = self.meta["config"]
        return task_with_overrides(
            config["task"], config.get("episode_length"), config.get("alive_bonus"), config.get("reset_noise")
        )

    def inference_fn(self):
        """``policy(obs, key, deterministic=False)`` -> `PolicyStep` (`metamorph.ppo.make_inference_fn`)."""
        ppo = self.meta["config"]["ppo"]
        make_policy = make_inference_fn(self.policy.apply, ppo["obs_clip"], ppo.get("static_std_floor", 0.0))
        return make_policy(self.params, self.normalizer)


def load_policy(path: str | Path, vocabulary: Vocabulary | None = None) -> LoadedPolicy:
    """The policy of a run (its newest checkpoint) or of a checkpoint folder."""
    checkpoint = find_checkpoint(Path(path))
    try:
        meta = json.loads((checkpoint / "meta.json").read_text())
        policy_config = PolicyConfig(**meta["policy"])
        saved_vocabulary = Vocabulary.from_json(meta["vocabulary"], feature_source=DEFAULT_VOCABULARY)
        task = task_config(meta["config"]["task"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MetamorphError(f"{checkpoint}: checkpoint is damaged: meta.json is unreadable ({exc})") from None
    policy = Policy(policy_config, saved_vocabulary.size)
    obs = blank_observation(1, policy_config.max_tokens, task.patch_size)
    normalizer = init_normalizer(obs)
    params = policy.init(jax.random.PRNGKey(0), *policy_inputs(normalizer, obs, 10.0))
    target = TrainState(params, None, normalizer, jnp.zeros((), jnp.int32))
    # the optimiser state is not needed to act: restore it as saved, then drop it
    state, *_ = restore(checkpoint, _with_opt_state(target, meta["config"]))
    vocabulary = saved_vocabulary.extended_with(vocabulary or DEFAULT_VOCABULARY)
    # restored leaves are NumPy arrays; as JAX arrays they index with traced values (the tree bias)
    params = jax.tree_util.tree_map(jnp.asarray, extend_part_embedding(state.params, vocabulary.size))
    normalizer = jax.tree_util.tree_map(jnp.asarray, state.normalizer)
    return LoadedPolicy(Policy(policy_config, vocabulary.size), params, normalizer, vocabulary, meta, checkpoint)


def _with_opt_state(target: TrainState, config: dict) -> TrainState:
    """The saved optimiser state's structure comes from the training config (freezing included)."""
    optimizer = make_optimizer(PPOConfig(**config["ppo"]), 1, freeze=config.get("freeze", "none"))
    return target._replace(opt_state=optimizer.init(target.params))


def extend_part_embedding(params: dict, vocab_size: int, seed: int = 0) -> dict:
    """Grow the part-id embedding tables to ``vocab_size`` rows; old rows are kept exactly, new rows
    start as the mean of the trained rows plus small noise (a new kind starts as an average part)."""

    def grow(tree):
        if isinstance(tree, dict):
            out = {}
            for key, value in tree.items():
                if key == "part_embedding":
                    table = np.asarray(value["embedding"])
                    extra = vocab_size - table.shape[0]
                    if extra > 0:
                        rng = np.random.default_rng(seed)
                        rows = table[1:].mean(0) + 0.02 * rng.standard_normal((extra, table.shape[1]))
                        table = np.concatenate([table, rows.astype(table.dtype)])
                    out[key] = {"embedding": jnp.asarray(table)}
                else:
                    out[key] = grow(value)
            return out
        return tree

    return grow(params)
