"""`metamorph train`: one policy, many bodies, batched PPO.

The loop: collect ``unroll_length`` steps from every slot of a `VecEnv` (host loop over native
MuJoCo, jitted policy inference), then one jitted `ppo_update`. Arrays of the update are laid out
on a `jax.sharding.Mesh` over every device along the environment axis, so the same code runs
data-parallel on several accelerators (or CPU devices), and across hosts after
`jax.distributed.initialize` (``--coordinator``, ``--num-processes``, ``--process-id``): each process
steps its own environments (seeded apart) and contributes its slice of the global batch; process 0
writes the run folder and checkpoints, and on ``--resume`` restores them and broadcasts the state.

A run folder holds ``config.json`` (the resolved config, the command, versions, git commit),
``metrics.jsonl`` (one line per update), TensorBoard events, ``bodies/`` when the bodies were
generated, and ``checkpoints/`` (see `metamorph.checkpoint`). ``--resume`` continues the same
episodes exactly: checkpoints hold the environment's state too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metamorph.bodies import check_part_shares, part_weights, resolve_parts
from metamorph.env.tasks import TaskConfig, task_to_json, task_with_overrides
from metamorph.errors import MetamorphError
from metamorph.files import default_run_dir
from metamorph.observation import policy_obs
from metamorph.packing import TokenPacker, rows_to_pack, worth_packing
from metamorph.policy import POLICY_PRESETS, Policy, PolicyConfig, count_params, fields_read
from metamorph.ppo import (
    PPOConfig,
    TrainState,
    Transition,
    init_normalizer,
    learning_rate_schedule,
    make_inference_fn,
    make_optimizer,
    policy_inputs,
    ppo_update,
    resolve_pack_rows,
    resolve_token_bucket,
    update_compiler_options,
)
from metamorph.tokens import static_columns

POLICY_SIZES: tuple[str, ...] = ("d_model", "num_layers", "num_heads", "ff_dim")
"""The `PolicyConfig` sizes a `TrainConfig` field of the same name can set over the preset's."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train one policy across many bodies with batched PPO (every field is a flag)."""

    bodies: str = "generate:unimal:100+generate:planar:100"
    """Bodies to train on: a folder (UNIMAL layout or plain .xml/.urdf files), files joined by commas,
    or generate:SPACE:COUNT[:SEED] to generate them (written into the run folder); any of them
    sliced (SPEC[:80]) or several joined with + (A+B: the union). The default, 100 free-root limb
    trees and 100 planar ones, scored well above the 100 limb trees alone on held-out planar bodies
    and higher, with overlapping intervals, on real robots and held-out limb trees (the planar-plus
    sweep, nine seeds; 100 `unimal` bodies before 2026-12-05)."""
    task: str = "flat"
    """Task: flat, variable_terrain or obstacles."""
    total_steps: int = 1_000_000
    """Environment steps to train for (all environments together)."""
    num_envs: int = 128
    """Simulations stepped together."""
    unroll_length: int = 64
    """Steps collected from every environment before each update."""
    model: str = "small"
    """Policy preset: small (CPU) or metamorph (MetaMorph's sizes)."""
    d_model: int | None = None
    """Width of the token embeddings, instead of the preset's (small: 48, metamorph: 128)."""
    num_layers: int | None = None
    """Transformer encoder layers, instead of the preset's (small: 2, metamorph: 5)."""
    num_heads: int | None = None
    """Attention heads, instead of the preset's (2 in both); must divide the width."""
    ff_dim: int | None = None
    """Hidden width of each layer's feed-forward block, instead of the preset's (small: 96,
    metamorph: 1024)."""
    position: str = "tree"
    """Position information: tree (a learned attention bias per distance in the body's tree; the
    default since 2026-12-02, see the unimal80-position sweep: 6× the return on unseen UNIMAL bodies),
    learned (an embedding of the depth-first index, MetaMorph's) or none."""
    frame: str = "world"
    """Frame of the links' poses and velocities the policy sees: world (MetaMorph's; x and y relative
    to the torso; the default since 2026-12-01, see the observation-frame sweep) or torso (relative to
    the torso, in its frame). Evaluation and rendering use the run's frame."""
    link_geometry: str = "largest"
    """How tokens read their links' geometry: largest (the largest geom's pose and MuJoCo size) or
    shape (centroid and second moments of the volume of all the link's colliding geoms, however a
    file splits the link into primitives). Saved with the policy; evaluation and rendering use it."""
    tokens: str = "joint"
    """What the policy's encoder attends over: joint (one token a joint and one for the root) or
    link (one token a link, its joints' embeddings summed, as MetaMorph's one token a limb; each
    joint reads its link's encoding back). Saved with the policy."""
    sampling: str = "balanced"
    """Body sampling at reset: uniform, or balanced by running episode length (MetaMorph)."""
    part_shares: tuple[float, ...] = ()
    """Share of the training drawn from each ``+``-joined part of ``bodies``, in order (normalised;
    e.g. ``0.5 0.5`` for ``generate:unimal:100+generate:planar:1000``): a body's sampling chance is
    multiplied by its part's share ÷ the part's bodies, so under balanced sampling each part gets
    about its share of the samples (under uniform, of the episodes), however many bodies it has.
    Empty: every body alike, so a part's share follows its number of bodies."""
    backend: str = "mujoco"
    """Simulation backend (`metamorph.env.backend.BACKENDS`): mujoco, native MuJoCo on CPU threads."""
    episode_length: int | None = None
    """Override the task's episode length (control steps)."""
    alive_bonus: float | None = None
    """Override the task's reward for every step that does not end in a fall."""
    reset_noise: float | None = None
    """Override the task's reset noise (± rad or m on joint positions; std of joint velocities)."""
    fall_fraction: float | None = None
    """Override the task's fall rule: an episode ends when the torso drops below this × its start
    height (0: never; a real robot's own rule, e.g. gymnasium's, still applies to it)."""
    speed_cap: float | None = None
    """Override the task's speed cap: forward velocity above this (m/s) earns nothing (0: no cap)."""
    tilt_penalty: float | None = None
    """Override the task's tilt cost: each step costs this × (1 − cos) of the torso's tilt from upright."""
    control_cost: float | None = None
    """Override the task's control cost: each step costs this × the mean over the body's motors of
    its squared control in [-1, 1] (0: none, the default task's)."""
    start_yaw: float | None = None
    """Override the task's start headings: each episode turns a free-floating body about the vertical
    by an angle uniform within ± this (degrees; 180: any heading), while the reward still pays +x."""
    static_noise: float = 0.0
    """Training-time noise on what the tokens say about each body: at every episode's start, every
    static feature of every token gets N(0, this) added, in the feature's units (m, kg, rad…), fixed
    for the episode. The policy cannot lean on differences smaller than this between bodies (a
    link's geoms a millimetre off its axis, say). Evaluation never adds it. 0: none."""
    static_noise_features: tuple[str, ...] = ()
    """The static feature groups ``static_noise`` applies to (names as for ``hide_static``: `metamorph
    inspect`, or `metamorph.tokens.static_layout`); empty: every group."""
    action_std: float | None = None
    """A fixed action standard deviation (MetaMorph: 0.9) instead of the preset's learned log-std."""
    hide_static: tuple[str, ...] = ()
    """Static feature groups the policy does not see (`metamorph.tokens.STATIC_FEATURES` names, e.g.
    geom_pos geom_quat geom_size); kept in the checkpoint, so evaluation hides them too."""
    dropout: float = 0.0
    """Dropout rate on the token embeddings in PPO updates (MetaMorph: 0.1); acting uses the whole
    network."""
    previous_action: bool = False
    """Each token also reads the control its motor received at the last step (one step of history;
    `PolicyConfig.previous_action`). Saved with the policy."""
    recent_velocity: bool = False
    """Each token also reads the torso's forward velocity averaged over the last half second (a
    memory of which way the body has been going; `PolicyConfig.recent_velocity`). Saved with the
    policy."""
    clock: bool = False
    """Each token also reads the episode's clock (sine and cosine of its time over a few periods; a
    rhythm that does not wait for the body to move; `PolicyConfig.clock`). Saved with the policy."""
    proprio_history: bool = False
    """Each token also reads its proprioception of the last control step (two frames; with
    --previous-action, how the body answered its last torques; `PolicyConfig.proprio_history`).
    Saved with the policy."""
    seed: int = 0
    """Seeds the environments, the policy's initialisation and its sampling."""
    run_dir: Path | None = None
    """Run folder; default runs/<task>-<time>."""
    resume: bool = False
    """Continue the run in --run-dir from its last checkpoint (its config.json is used)."""
    checkpoint_every: int = 10
    """Updates between checkpoints."""
    keep_checkpoints: int = 3
    """Older checkpoints are deleted once a newer one is complete."""
    nthread: int = 2
    """Threads stepping the simulations."""
    pack_bodies: bool = False
    """Act with several short bodies to a row of token slots (`metamorph.packing`) instead of one
    padded row each, when that saves a quarter of the rows or more: the same actions up to rounding,
    a quarter less acting time on 1000 `unimal` bodies. One device only (with several, acting stays
    padded). Off by default since 2026-12-05 night: over nine seeds of the default, packed runs beat
    zero torque on fewer real robots (4.00 [3.11, 4.89] of 9 against 5.56 [4.78, 6.22] unpacked, the
    same VM) though the runs agree to 7 digits through update 2; unexplained (docs/learning.md)."""
    reward_scaling: bool = True
    """Divide rewards by the running standard deviation of the discounted return."""
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
    init_from: Path | None = None
    """Start from this run's (or checkpoint's) policy and observation statistics instead of scratch;
    its architecture is kept, and part kinds registered since get new embedding rows."""
    freeze: str = "none"
    """With --init-from: none, trunk (train only the decoders and log-std) or embeddings (freeze the
    token, part and position embeddings)."""
    processes: int = 1
    """Local processes to split the run among, each on one core with its share of --num-envs (the
    total), joined by jax.distributed as in multi-host training (`metamorph.launch`)."""
    coordinator: str | None = None
    """Multi-host: address of process 0 (host:port) for jax.distributed.initialize."""
    num_processes: int = 1
    """Multi-host: number of processes (hosts) taking part."""
    process_id: int = 0
    """Multi-host: this process's index (0 is the coordinator and writes checkpoints)."""

    @property
    def policy_config(self) -> PolicyConfig:
        if self.model not in POLICY_PRESETS:
            raise MetamorphError(f"unknown model preset '{self.model}'; known: {', '.join(POLICY_PRESETS)}")
        sizes = {name: getattr(self, name) for name in POLICY_SIZES}
        for name, size in sizes.items():
            if size is not None and size < 1:
                raise MetamorphError(f"{name.replace('_', '-')} must be at least 1, got {size}")
        return dataclasses.replace(
            POLICY_PRESETS[self.model](),
            **{name: size for name, size in sizes.items() if size is not None},
            position=self.position,
            frame=self.frame,
            link_geometry=self.link_geometry,
            tokens=self.tokens,
            action_std=self.action_std,
            dropout=self.dropout,
            previous_action=self.previous_action,
            recent_velocity=self.recent_velocity,
            clock=self.clock,
            proprio_history=self.proprio_history,
            hidden_static=self.hide_static,
        )

    @property
    def task_config(self) -> TaskConfig:
        """The registered task with this run's overrides (episode length, alive bonus, reset noise,
        fall rule, speed cap, tilt cost, start headings, control cost); a bad override fails here, with the task's
        own message."""
        return task_with_overrides(
            self.task,
            self.episode_length,
            self.alive_bonus,
            self.reset_noise,
            self.fall_fraction,
            self.speed_cap,
            self.tilt_penalty,
            self.start_yaw,
            self.control_cost,
        )

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.unroll_length * self.num_processes

    @property
    def total_updates(self) -> int:
        return max(1, math.ceil(self.total_steps / self.steps_per_update))


def config_to_json(config: TrainConfig) -> dict:
    out = dataclasses.asdict(config)
    for key in ("run_dir", "init_from"):
        out[key] = None if getattr(config, key) is None else str(getattr(config, key))
    return out


def config_from_json(data: dict) -> TrainConfig:
    data = dict(data)
    data["ppo"] = PPOConfig(**data["ppo"])
    for key in ("run_dir", "init_from"):
        data[key] = None if data.get(key) is None else Path(data[key])
    return TrainConfig(**data)


def provenance() -> dict:
    """The exact command, package versions and git commit, for config.json."""
    import brax
    import flax
    import mujoco

    from metamorph import __version__

    commit = None
    try:
        here = Path(__file__).resolve().parent

        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5).stdout

        commit = git("rev-parse", "HEAD").strip() or None
        dirty = git("status", "--porcelain")
        if commit and dirty.strip():
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "versions": {
            "metamorph": __version__,
            "python": sys.version.split()[0],
            "jax": jax.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "brax": brax.__version__,
            "mujoco": mujoco.__version__,
        },
        "git_commit": commit,
        "devices": [str(d) for d in jax.devices()],
    }


def resolve_bodies(spec: str, run_dir: Path) -> list[list[Path]]:
    """Body files for a --bodies spec, a list for each ``+``-joined part (generated bodies go into
    the run folder)."""
    parts = resolve_parts(spec, generate_into=run_dir / "bodies")
    excluded = [body for _, part_excluded in parts for body in part_excluded]
    if excluded:
        names = ", ".join(f"{name} ({reason})" for name, reason in excluded)
        raise MetamorphError(f"--bodies {spec}: cannot train on {names}")
    return [files for files, _ in parts]


class RewardScaler:
    """Running variance of the discounted return (per environment), rewards divided by its std."""

    def __init__(self, num_envs: int, discount: float):
        self.discount = discount
        self.returns = np.zeros(num_envs)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.discount + rewards
        batch_mean, batch_var, n = self.returns.mean(), self.returns.var(), len(self.returns)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total
        self.returns[dones] = 0.0
        return rewards / np.sqrt(self.var + 1e-8)

    def state(self) -> dict:
        return {"returns": self.returns.copy(), "moments": np.array([self.mean, self.var, self.count])}

    def load(self, state: dict) -> None:
        self.returns = np.asarray(state["returns"]).copy()
        self.mean, self.var, self.count = (float(v) for v in state["moments"])


class Collected(NamedTuple):
    """What one collection hands the update and the logs."""

    rollout: Transition
    """[U, B, ...] the steps taken."""
    bootstrap_value: jax.Array
    """[B] values of the observations after the last step."""
    obs: dict
    """The observation to act on next."""
    key: jax.Array
    episodes: list[tuple[float, int, float]]
    """(return, length, forward distance) of every episode that ended (this process's environments)."""
    reward_terms: dict[str, float]
    """Each reward term's mean per environment step (this process's environments)."""


class Trainer:
    """Builds everything a run needs; `run()` trains until ``total_steps``."""

    def __init__(self, config: TrainConfig, progress: bool = True):
        from metamorph.checkpoint import RunFolder
        from metamorph.env import task_config
        from metamorph.env.backend import BACKENDS, make_env
        from metamorph.vocabulary import DEFAULT_VOCABULARY

        if config.backend not in BACKENDS:  # checked before anything is written or generated
            raise MetamorphError(f"unknown --backend '{config.backend}'; known: {', '.join(BACKENDS)}")
        if config.static_noise < 0:
            raise MetamorphError(f"--static-noise must be ≥ 0 (0: none), got {config.static_noise}")
        if config.init_from is None:  # else the checkpoint's link geometry names the groups (below)
            static_columns(config.static_noise_features, config.link_geometry)
        samples = config.steps_per_update
        if config.ppo.num_minibatches < 1 or samples % config.ppo.num_minibatches:
            raise MetamorphError(
                f"--ppo.num-minibatches {config.ppo.num_minibatches} must divide the {samples} samples of an update"
            )
        if config.num_processes > 1:
            if not config.coordinator:
                raise MetamorphError("--num-processes > 1 needs --coordinator host:port (the address of process 0)")
            jax.distributed.initialize(config.coordinator, config.num_processes, config.process_id)
        devices = jax.devices()  # every process's, once initialised
        if config.num_envs * config.num_processes % len(devices):
            raise MetamorphError(f"num_envs × processes must divide among {len(devices)} devices")
        if samples // config.ppo.num_minibatches % len(devices):
            raise MetamorphError(
                f"a minibatch of {samples // config.ppo.num_minibatches} samples must divide among {len(devices)} "
                "devices: change --ppo.num-minibatches"
            )
        self.config = config
        self.is_chief = jax.process_index() == 0  # writes the run folder and checkpoints
        self.progress = progress and self.is_chief
        run_dir = config.run_dir or default_run_dir(config.task)
        self.folder = RunFolder(run_dir)
        self.vocabulary = DEFAULT_VOCABULARY
        self.policy_config = config.policy_config
        self.init_from = None
        if config.init_from is not None:
            from metamorph.checkpoint import load_policy

            self.init_from = load_policy(config.init_from)
            self.vocabulary = self.init_from.vocabulary  # old ids kept, new kinds appended
            # the architecture is the checkpoint's; dropout adds no parameters, so this run's rate applies
            self.policy_config = dataclasses.replace(self.init_from.policy.config, dropout=config.dropout)
            for name in POLICY_SIZES:
                asked, kept = getattr(config, name), getattr(self.policy_config, name)
                if asked is not None and asked != kept:
                    raise MetamorphError(
                        f"--init-from {config.init_from}: its policy has {name.replace('_', '-')} {kept}, not {asked}"
                    )
            # the policy keeps reading its static features as it learnt to (`PPOConfig.static_std_floor`)
            floor = self.init_from.meta["config"]["ppo"].get("static_std_floor", 0.0)
            if floor != config.ppo.static_std_floor:
                if config.ppo.static_std_floor:
                    raise MetamorphError(
                        f"--init-from {config.init_from}: trained with --ppo.static-std-floor {floor}; "
                        f"{config.ppo.static_std_floor} would change what the policy sees"
                    )
                config = dataclasses.replace(config, ppo=dataclasses.replace(config.ppo, static_std_floor=floor))
                self.config = config
            if self.init_from.meta["config"]["task"] != config.task and (
                task_config(config.task).has_terrain != task_config(self.init_from.meta["config"]["task"]).has_terrain
            ):
                raise MetamorphError(
                    f"--init-from {config.init_from}: trained without terrain input; --task {config.task} has it"
                )
        task = config.task_config
        # other processes generate the same bodies (same seed) into a folder of their own
        bodies_home = self.folder.path if self.is_chief else Path(tempfile.mkdtemp(prefix="metamorph-bodies-"))
        check_part_shares(config.part_shares, config.bodies)  # before any body is generated
        body_parts = resolve_bodies(config.bodies, bodies_home)
        self.body_files = [path for part in body_parts for path in part]
        self.task = task  # with the run's overrides: saved in config.json for eval, render and finetune
        static_noise = config.static_noise  # on every static column, or on the named groups only
        if config.static_noise_features:
            static_noise *= static_columns(config.static_noise_features, self.policy_config.link_geometry)
        self.env = make_env(
            config.backend,
            self.body_files,
            task,
            config.num_envs,
            nthread=config.nthread,
            sampling=config.sampling,
            max_tokens=None,
            vocabulary=self.vocabulary,
            frame=self.policy_config.frame,
            link_geometry=self.policy_config.link_geometry,
            static_noise=static_noise,
            body_weights=part_weights(config.part_shares, [len(part) for part in body_parts]),
        )
        if self.env.max_tokens > self.policy_config.max_tokens:
            if self.init_from is not None and self.policy_config.position == "learned":
                raise MetamorphError(
                    f"--init-from: a body has {self.env.max_tokens} tokens; the policy's positions cover "
                    f"{self.policy_config.max_tokens}"
                )
            self.policy_config = dataclasses.replace(self.policy_config, max_tokens=self.env.max_tokens)
        # "auto" packing and padding trimming decided on these bodies; config.json records the numbers chosen
        slots_per_device = config.num_envs * config.num_processes // len(devices)
        counts = [entry.tokens.num_tokens for entry in self.env.bodies]
        ppo = resolve_pack_rows(config.ppo, counts, self.env.max_tokens, slots_per_device, config.unroll_length)
        ppo, self.trimmed_share = resolve_token_bucket(ppo, counts, slots_per_device, config.unroll_length)
        if ppo != config.ppo:
            config = dataclasses.replace(config, ppo=ppo)
            self.config = config
        self.policy = Policy(self.policy_config, self.vocabulary.size)
        self.obs_fields = fields_read(self.policy_config)  # what acting and the rollout carry
        if config.freeze != "none" and self.init_from is None:
            raise MetamorphError("--freeze needs --init-from: freezing an untrained network keeps it random")
        self.optimizer = make_optimizer(config.ppo, config.total_updates, freeze=config.freeze)
        self.learning_rate = learning_rate_schedule(config.ppo, config.total_updates)
        self.mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
        self._batch_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec(None, "batch"))
        self._env_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("batch"))
        self._replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        # packing places bodies across the whole batch, so it needs the batch on one device; the rows
        # are worked out only when asked for (100 first-fit passes: 0.85 s of start-up at 1024 envs)
        wanted = config.pack_bodies and len(devices) == 1
        self.packed_rows = rows_to_pack(counts, config.num_envs, self.env.max_tokens) if wanted else None
        self.pack_bodies = wanted and worth_packing(self.packed_rows, config.num_envs)
        self.make_policy = make_inference_fn(self.policy.apply, config.ppo.obs_clip, config.ppo.static_std_floor)
        # jitted once: acting (sampled), values for bootstrapping, the update
        self._act = jax.jit(lambda params, normalizer, obs, key: self.make_policy(params, normalizer)(obs, key))
        self._value = jax.jit(
            lambda params, normalizer, obs: self.make_policy(params, normalizer)(obs, None, True).value
        )
        self._update = jax.jit(
            lambda state, rollout, bootstrap_value, key: ppo_update(
                state, rollout, bootstrap_value, key, self.policy.apply, self.optimizer, config.ppo, mesh=self.mesh
            ),
            compiler_options=update_compiler_options(config.ppo, devices[0].platform),
        )

    def init_state(self, obs: dict, key: jax.Array) -> TrainState:
        normalizer = init_normalizer(obs)
        features, net_obs = policy_inputs(normalizer, policy_obs(obs, self.obs_fields), self.config.ppo.obs_clip)
        params = self.policy.init(key, features, net_obs)
        if self.init_from is not None:  # the pre-trained policy and its observation statistics
            params, normalizer = self.init_from.params, self.init_from.normalizer
        return TrainState(params, self.optimizer.init(params), normalizer, jnp.zeros((), jnp.int32))

    def _local(self, array: jax.Array) -> np.ndarray:
        """This process's rows of an array sharded along the environment axis (all of it on one host)."""
        if array.is_fully_addressable:
            return np.asarray(array)
        shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start or 0)
        return np.concatenate([np.asarray(s.data) for s in shards])

    def _global(self, local: np.ndarray, sharding) -> jax.Array:
        if self.config.num_processes > 1:
            return jax.make_array_from_process_local_data(sharding, local)
        return jax.device_put(local, sharding)

    def _policy_obs_on_devices(self, obs: dict) -> dict[str, jax.Array]:
        """The fields of an environment observation this policy reads, placed along the env axis."""
        return {k: self._global(v, self._env_sharding) for k, v in policy_obs(obs, self.obs_fields).items()}

    @property
    def env_seed(self) -> int:
        """Process 0 seeds its environments with ``seed``; every other process gets its own stream."""
        k = jax.process_index()
        if k == 0:
            return self.config.seed
        return int(np.random.SeedSequence(self.config.seed, spawn_key=(k,)).generate_state(1)[0])

    # -- the loop -------------------------------------------------------------------------------

    def run(self, max_updates: int | None = None) -> dict:
        """Train to ``total_steps`` (or stop after ``max_updates`` updates of this call, as an
        interruption would)."""
        from metamorph.checkpoint import load_latest, save_checkpoint

        config, env, folder = self.config, self.env, self.folder
        obs = env.reset(seed=self.env_seed)
        key = jax.random.PRNGKey(config.seed)
        key, init_key = jax.random.split(key)
        state = self.init_state(obs, init_key)
        scaler = RewardScaler(config.num_envs, config.ppo.discount)
        start_update = 0
        if config.resume:
            restored = load_latest(folder.path, state) if self.is_chief else None
            if restored is not None:
                state, key, extra, meta = restored
                obs = env.set_state(extra["env"])
                scaler.load(extra["reward_scaler"])
                start_update = meta["updates"]
            if config.num_processes > 1:
                # The checkpoint holds process 0's environments; the others keep their fresh ones.
                from jax.experimental import multihost_utils

                state, key, start_update = multihost_utils.broadcast_one_to_all(
                    (state, key, np.int32(start_update)), is_source=self.is_chief
                )
                start_update = int(start_update)
            if self.is_chief:
                folder.truncate_metrics(start_update)  # killed before any checkpoint: start over
        elif self.is_chief:
            num_params = count_params(state.params)
            # with the share of token slots that "auto" trimming computed (`metamorph.ppo.trimmed_share`)
            extra = {**provenance(), "trimmed_share": self.trimmed_share}
            folder.start(config_to_json(config), self.policy_config, extra, num_params, self.vocabulary,
                         task_to_json(self.task))  # fmt: skip
        state = jax.device_put(state, self._replicated)
        writer = folder.tensorboard(purge_step=start_update * config.steps_per_update) if self.is_chief else None
        summary: dict = {}
        bar = _ProgressBar(config.total_updates, start_update, enabled=self.progress)
        last = config.total_updates if max_updates is None else min(config.total_updates, start_update + max_updates)
        self.state = state
        try:  # every way out of the loop (the end, a diverged update, an error) releases the same things
            for update in range(start_update, last):
                started = time.perf_counter()
                collected_data = self._collect(state, obs, key, scaler)
                obs, key, episodes = collected_data.obs, collected_data.key, collected_data.episodes
                collected = time.perf_counter()
                key, update_key = jax.random.split(key)
                state, metrics = self._update(state, collected_data.rollout, collected_data.bootstrap_value, update_key)
                self.state = state
                metrics = {k: float(_host(v)) for k, v in metrics.items()}
                _return_free_heap()
                done = time.perf_counter()
                env_steps = (update + 1) * config.steps_per_update
                optimizer_steps = (update + 1) * config.ppo.optimizer_steps_per_update
                returns = [r for r, _, _ in episodes]
                summary = {
                    "update": update + 1,
                    "env_steps": env_steps,
                    "steps_per_s": config.steps_per_update / (done - started),
                    "collect_s": collected - started,
                    "update_s": done - collected,
                    "episodes": len(episodes),
                    "episode_return": float(np.mean(returns)) if returns else None,
                    "episode_return_median": float(np.median(returns)) if returns else None,
                    "episode_length": float(np.mean([n for _, n, _ in episodes])) if episodes else None,
                    "episode_distance": float(np.mean([d for _, _, d in episodes])) if episodes else None,
                    "diverged_total": env.diverged_total,
                    # each reward term's mean per environment step of this rollout (before reward scaling)
                    **{f"reward_{name}": value for name, value in collected_data.reward_terms.items()},
                    # the rate of this update's last optimizer step
                    "learning_rate": float(self.learning_rate(optimizer_steps - 1)),
                    **metrics,
                }
                if self.is_chief:  # episode statistics are process 0's environments'
                    folder.log(summary, writer)
                bar.update(summary)
                diverged = sorted(k for k, v in metrics.items() if not math.isfinite(v))
                if diverged:  # parameters that are NaN stay NaN: stop before a checkpoint keeps them
                    raise MetamorphError(
                        f"update {update + 1}: the PPO update diverged ({', '.join(diverged)} not finite); the policy "
                        f"is no longer finite, no checkpoint of it was written, and the last checkpoint in "
                        f"{folder.path} is intact (a lower --ppo.learning-rate or a --ppo.dual-clip may help)"
                    )
                due = (update + 1) % config.checkpoint_every == 0 or update + 1 == config.total_updates
                if due and self.is_chief:
                    extra = {"env": env.get_state(), "reward_scaler": scaler.state()}
                    host_state = jax.tree_util.tree_map(_host, state)
                    save_checkpoint(folder.path, host_state, key, extra, update + 1, env_steps, config.keep_checkpoints)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
            env.close()
        return summary

    def _collect(self, state: TrainState, obs: dict, key: jax.Array, scaler: RewardScaler) -> Collected:
        """``unroll_length`` steps of every environment."""
        config, env = self.config, self.env
        steps: list[Transition] = []
        # placed afresh each collection, so a resumed run packs (and rounds) as the uninterrupted one
        packer = TokenPacker(env.num_envs, env.max_tokens, self.packed_rows) if self.pack_bodies else None
        episodes: list[tuple[float, int, float]] = []  # (return, length, distance)
        term_sums: dict[str, float] = {}
        for _ in range(config.unroll_length):
            key, act_key = jax.random.split(key)
            obs_j = self._policy_obs_on_devices(obs)
            packing = packer.plan(obs["token_mask"]) if packer is not None else None
            if packing is not None:  # else the bodies do not fit the packer's rows: act padded
                obs_j |= {k: jax.device_put(v) for k, v in packing.items()}
            acted = self._act(state.params, state.normalizer, obs_j, act_key)
            actions = self._local(acted.actions)
            next_obs, reward, terminated, truncated, info = env.step(actions)
            for name, value in info["reward_terms"].items():
                term_sums[name] = term_sums.get(name, 0.0) + float(np.sum(value))
            reward = reward.astype(np.float64)
            scaled = scaler(reward, terminated | truncated) if config.reward_scaling else reward
            if truncated.any():  # a time-limit cut: bootstrap with the value of where the episode stopped
                final = self._policy_obs_on_devices(info["final_obs"])
                final_value = self._local(self._value(state.params, state.normalizer, final))
                scaled = scaled + config.ppo.discount * final_value * truncated
            if "episode_return" in info:
                ended = np.flatnonzero(terminated | truncated)
                ret, length, dist = info["episode_return"], info["episode_length"], info["episode_distance"]
                episodes += [(float(ret[i]), int(length[i]), float(dist[i])) for i in ended]
            steps.append(
                Transition(
                    obs=policy_obs(obs, self.obs_fields),
                    actions=actions,
                    log_prob=self._local(acted.log_prob),
                    value=self._local(acted.value),
                    reward=scaled.astype(np.float32),
                    done=(terminated | truncated).astype(np.float32),
                )
            )
            obs = next_obs
        obs_j = self._policy_obs_on_devices(obs)
        bootstrap = self._global(self._local(self._value(state.params, state.normalizer, obs_j)), self._env_sharding)
        rollout = jax.tree_util.tree_map(lambda *xs: self._global(np.stack(xs), self._batch_sharding), *steps)
        samples = config.unroll_length * env.num_envs
        terms = {name: total / samples for name, total in term_sums.items()}
        return Collected(rollout, bootstrap, obs, key, episodes, terms)


def _return_free_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing).

    Every update allocates and frees the rollout's host arrays and XLA's buffers, hundreds of MB in
    many sizes; glibc keeps the freed pages, fragmented, and a run's resident memory grew by ~8 MB an
    update (1.6 to 2.0 GiB over 40 updates of the default run). Trimming once an update keeps it flat
    for a cost below the timing noise (bench/train_memory.py, README)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_glibc():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_glibc() if sys.platform.startswith("linux") else None


def _host(array):
    """A host copy of a replicated array, also when it spans other processes' devices."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        return np.asarray(array.addressable_data(0))
    return array


def evaluate_policy(trainer: Trainer, state: TrainState, steps: int, seed: int = 12345) -> np.ndarray:
    """Mean reward per step of each environment slot over ``steps`` control steps, acting with the
    policy's mean (no exploration noise); episodes restart as in training."""
    env = trainer.env
    obs = env.reset(seed=seed)
    total = np.zeros(env.num_envs)
    mean_fn = jax.jit(lambda params, normalizer, obs: trainer.make_policy(params, normalizer)(obs, None, True).actions)
    for _ in range(steps):
        actions = np.asarray(mean_fn(state.params, state.normalizer, policy_obs(obs, trainer.obs_fields)))
        obs, reward, *_ = env.step(actions)
        total += reward
    return total / steps


class _ProgressBar:
    def __init__(self, total: int, start: int, enabled: bool):
        self.bar = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("updates"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, completed=start, stats="")

    def update(self, summary: dict) -> None:
        if self.bar is None:
            return
        ret = summary["episode_return"]
        length = summary["episode_length"]
        stats = (
            f"{summary['env_steps'] / 1e6:.2f}M steps  {summary['steps_per_s']:.0f} steps/s  "
            f"return {'–' if ret is None else f'{ret:.1f}'}  length {'–' if length is None else f'{length:.0f}'}"
        )
        self.bar.update(self.task, completed=summary["update"], stats=stats)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train with ``config``; returns the last update's metrics."""
    if config.resume:
        if config.run_dir is None:
            raise MetamorphError("--resume needs --run-dir")
        saved = config.run_dir / "config.json"
        if not saved.is_file():
            raise MetamorphError(f"{saved}: no such file; nothing to resume in {config.run_dir}")
        stored = config_from_json(json.loads(saved.read_text())["config"])
        # a resume keeps the stored config; only a larger --total-steps extends the run, and how this
        # launch runs (threads, this process's place in a multi-host run) comes from the command line
        if config.num_processes != stored.num_processes:
            raise MetamorphError(
                f"{config.run_dir}: trained with --num-processes {stored.num_processes}; resume with the same "
                f"number (got {config.num_processes})"
            )
        total = config.total_steps if config.total_steps != TrainConfig.total_steps else stored.total_steps
        total = max(total, stored.total_steps)
        launch = {name: getattr(config, name) for name in ("nthread", "coordinator", "process_id")}
        config = dataclasses.replace(stored, resume=True, run_dir=config.run_dir, total_steps=total, **launch)
    return Trainer(config, progress=progress).run()
