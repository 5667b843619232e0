"""PPO for token policies: masked Gaussian log-probabilities, GAE, clipped losses, one jitted update.

Pure functions over pytrees. A rollout is time-major: every leaf is [U, B, ...] (unroll steps ×
environments). Only actuated tokens contribute to log-probabilities and entropy (``act_mask``);
observation statistics ignore padding tokens (Brax's running statistics, weighted by
``token_mask``). GAE is Brax's; time-limit cut-offs are bootstrapped by the collector, which adds
γ·V(final observation) to the last reward and marks the step done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from metamorph.errors import MetamorphError
from metamorph.packing import PACKING_FIELDS, first_fit_on_device, first_fit_rows_needed, worth_packing
from metamorph.policy import EXTRA_INPUTS

# Brax imports mujoco.mjx, which prints "Failed to import warp" to stdout when the optional
# NVIDIA Warp backend is absent (always, on CPU); our users' terminals need not see it.
with contextlib.redirect_stdout(io.StringIO()):
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo.losses import compute_gae

TOKEN_KEYS = ("proprio", "static")
"""The observation fields normalised per feature (the others are ids, masks and distances)."""


class Transition(NamedTuple):
    """One control step of every environment: leaves [B, ...]; a rollout stacks them to [U, B, ...]."""

    obs: dict
    """The observation acted on (`metamorph.observation` schema)."""
    actions: Any
    """[B, T] the sampled torques (padding and unactuated tokens included; masks drop them)."""
    log_prob: Any
    """[B] log-density of the actions under the acting policy."""
    value: Any
    """[B] the value estimate of ``obs``."""
    reward: Any
    """[B] scaled reward; at a time-limit cut-off it includes γ·V(final observation)."""
    done: Any
    """[B] 1.0 where the episode ended after this step (a fall or a cut-off)."""


class PolicyStep(NamedTuple):
    actions: jax.Array
    """[B, T] torques: the mean (deterministic) or a sample."""
    log_prob: jax.Array
    """[B] log-density of ``actions`` over the actuated tokens."""
    value: jax.Array
    """[B] value estimate."""


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (MetaMorph's where they fit a CPU budget; DESIGN §1)."""

    learning_rate: float = 1e-3
    """Peak Adam learning rate (3e-4 before 2026-12-01; the ppo-step-size sweep: 1e-3 with 16
    minibatches learns UNIMAL-100 fastest of {3e-4, 1e-3} × {4, 16}, 3 seeds)."""
    warmup_fraction: float = 0.02
    """Fraction of the run over which the learning rate rises linearly from 0; then it decays along a
    cosine until the last update."""
    final_lr_fraction: float = 0.1
    """The cosine decay ends at this fraction of the peak learning rate."""
    epochs: int = 4
    """Passes over each rollout (MetaMorph: 8; 4 halves the CPU cost)."""
    num_minibatches: int = 16
    """Minibatches per epoch: more, smaller minibatches take more optimizer steps for the same
    gradient work (4 before 2026-12-01; see `learning_rate`)."""
    clip: float = 0.2
    """Policy ratio clipping."""
    dual_clip: float = 0.0
    """Dual clipping (Ye et al., AAAI 2020): where the advantage is negative, a sample's surrogate
    is at least ``dual_clip`` × its advantage (> 1), however large its ratio; 0 = off. Bounds the
    loss where the actions were drawn by another policy than the one the ratio divides by, as with
    ``dropout_same_mask``."""
    value_clip: float = 0.2
    """Value clipping around the values at collection: a sample's value loss is the larger of its
    squared errors with and without the value moved at most this far from the value it had when
    acting (in units of the scaled returns, whose std is about 1). 0: off, the plain squared error
    (Andrychowicz et al., ICLR 2021, found the clipping hurts more often than it helps; here, off
    learned the same as 0.2 over six seeds: the value-clip sweep, docs/learning.md)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW, Loshchilov & Hutter, ICLR 2019) on the dense layers' kernels:
    every optimizer step shrinks them by learning rate × this. Embeddings, biases, norms, the tree
    bias and the log-std are not decayed. A regulariser against fitting the training bodies alone
    (Cobbe et al., ICML 2019, found L2 regularisation narrows the train-test gap on Procgen). 0:
    plain Adam, as every run before 2026-12-06."""
    discount: float = 0.97
    """Discount of future rewards (an effective horizon of 1 / (1 - discount) control steps); also
    the discount of the return whose running std scales the rewards. 0.97 since 2026-12-06: against
    0.99, over twelve seeds it beat zero torque on more unseen `planar` bodies (70.5 % against 68.4 %
    over 0.99's 21 seeds) and lost nothing beyond the seeds' spread (the discount sweep,
    docs/learning.md). Recipes measured before then (train/*.toml other than default.toml) keep 0.99."""
    gae_lambda: float = 0.95
    """GAE's lambda: how far advantages trust sampled rewards over the value's estimates."""
    entropy_coef: float = 0.0
    """Entropy bonus (MetaMorph uses none with a fixed std; ours is learned)."""
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ± this."""
    static_std_floor: float = 0.0
    """Static token features are divided by at least this (their units: m, kg, rad…) when normalised.
    A feature that never varies across the training bodies (a generated family's links all centred
    on their axis, say) has a running std near 0, so an unseen body that differs in it by a
    millimetre reaches ± obs_clip; the floor keeps such a difference at its size in units of the
    floor. 0: none (every policy before 2026-12-04); saved with the policy."""
    microbatch_size: int = 256
    """Most samples per gradient pass: a minibatch's gradient is summed over equal microbatches of at
    most this size. The update is the same as one pass over the whole minibatch, but activations
    stay in the CPU cache (10–30 % faster updates on 2 cores); 0 = the whole minibatch in one pass."""
    token_bucket: int | Literal["auto"] = "auto"
    """Trim padding out of the update: each minibatch's samples are ordered by their bodies' token
    counts, and each microbatch's token slots are cut to its longest body's count rounded up to a
    multiple of this (one compiled gradient per length). The same update up to the order of float
    sums; with dropout, masks are drawn for the trimmed shapes. 0: every microbatch keeps the slots
    of the longest training body. "auto" (the default since 2026-12-05): `metamorph train`
    computes, from its training bodies' token counts and the run's shape, the share of token slots
    buckets of 4 would cut (`trimmed_share`) and trims where it is at least ``AUTO_TRIM_SHARE``;
    config.json records the number it chose. A trimmed update compiles with
    ``TRIMMED_COMPILER_OPTIONS`` on CPU (`update_compiler_options`), which keeps the default run
    under issue 13's 1.5 GiB (docs/performance.md). `ppo_update` alone reads "auto" as 0."""
    pack_rows: int | Literal["auto"] = 0
    """Pack the update's microbatches: the samples' bodies, several to a row of token slots (as
    acting does with ``pack_bodies``, `metamorph.packing`), so that the network computes no padding
    tokens. Each microbatch is placed on device by first fit decreasing into this many rows of the
    longest training body's slots; a microbatch whose bodies need more rows is computed padded, so
    the number bounds the cost, not the result. The same update up to the order of float sums; with
    dropout, masks are drawn for the packed shapes. Replaces trimming (``token_bucket`` must then be
    0 or "auto", which reads as 0). 0: off, the default. "auto": `metamorph train` picks the rows
    from its training bodies' token counts and the run's shape (`rows_for_microbatches`), and packs
    where they are at most three quarters of a microbatch's samples (`worth_packing`); config.json
    records the number it chose. `ppo_update` alone reads "auto" as 0. On the default's 200 bodies
    "auto" trains 1.31× as fast; it is not the default because neither learning check met the rule
    written before it (the `packed-update` and `packed-update-paired` sweeps: no difference found
    over 21 seeds, equivalence within the paired rule's margins not shown; docs/learning.md)."""
    dropout_same_mask: bool = False
    """With policy dropout: compare the updated policy with the policy from before the update under
    the same dropout mask (the ratio's denominator and the value clip's centre), instead of with the
    whole network that acted. Costs one more forward pass per sample; no effect without dropout.
    Against the whole network, a thinned network's log-probabilities leave half the samples
    clipped (the dropout sweep, 2026-12-02). The actions were drawn by the whole network, so a
    masked reference can find some very unlikely: use with ``dual_clip`` (without it, all three
    seeds of the dropout-same-mask sweep diverged after 68–85 updates, their ratios unbounded)."""

    def __post_init__(self) -> None:
        if self.dual_clip != 0 and self.dual_clip <= 1:
            raise MetamorphError(f"ppo dual_clip must be 0 (off) or above 1, got {self.dual_clip}")
        if self.value_clip < 0:
            raise MetamorphError(f"ppo value_clip must be ≥ 0 (0: off), got {self.value_clip}")
        if self.weight_decay < 0:
            raise MetamorphError(f"ppo weight_decay must be ≥ 0 (0: none), got {self.weight_decay}")
        if self.static_std_floor < 0:
            raise MetamorphError(f"ppo static_std_floor must be ≥ 0 (0: none), got {self.static_std_floor}")
        if self.token_bucket != "auto" and (not isinstance(self.token_bucket, int) or self.token_bucket < 0):
            raise MetamorphError(f"ppo token_bucket must be ≥ 0 (0: off) or 'auto', got {self.token_bucket!r}")
        if self.pack_rows != "auto" and (not isinstance(self.pack_rows, int) or self.pack_rows < 0):
            raise MetamorphError(f"ppo pack_rows must be ≥ 0 (0: off) or 'auto', got {self.pack_rows!r}")
        if self.pack_rows != 0 and self.token_bucket not in (0, "auto"):
            raise MetamorphError(
                f"ppo pack_rows {self.pack_rows!r} and token_bucket {self.token_bucket!r}: a packed update has "
                "no padding to trim; set one of them to 0"
            )

    @property
    def optimizer_steps_per_update(self) -> int:
        """Optimizer steps in one PPO update: what optax's step counts (and schedules) count."""
        return self.epochs * self.num_minibatches


class Normalizer(NamedTuple):
    tokens: running_statistics.RunningStatisticsState  # per feature of proprio and static
    terrain: running_statistics.RunningStatisticsState | None


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    normalizer: Normalizer
    updates: jax.Array  # number of PPO updates done


def init_normalizer(obs: dict[str, Any]) -> Normalizer:
    tokens = running_statistics.init_state({k: jnp.zeros(obs[k].shape[-1:], jnp.float32) for k in TOKEN_KEYS})
    terrain = None
    if "terrain" in obs:
        terrain = running_statistics.init_state(jnp.zeros(obs["terrain"].shape[-1:], jnp.float32))
    return Normalizer(tokens, terrain)


def update_normalizer(normalizer: Normalizer, obs: dict[str, jax.Array], axis: str | None = None) -> Normalizer:
    """Fold a batch of observations (any leading dims) into the statistics; padding is weightless.
    With ``axis`` (inside a device map), every device folds in the whole batch across that axis."""
    feature = {k: obs[k].reshape(-1, obs[k].shape[-1]) for k in TOKEN_KEYS}
    weights = obs["token_mask"].reshape(-1).astype(jnp.float32)
    tokens = running_statistics.update(normalizer.tokens, feature, weights=weights, pmap_axis_name=axis)
    terrain = normalizer.terrain
    if terrain is not None:
        terrain_batch = obs["terrain"].reshape(-1, obs["terrain"].shape[-1])
        terrain = running_statistics.update(terrain, terrain_batch, pmap_axis_name=axis)
    return Normalizer(tokens, terrain)


def policy_inputs(
    normalizer: Normalizer, obs: dict[str, jax.Array], clip: float, static_std_floor: float = 0.0
) -> tuple[jax.Array, dict]:
    """Normalised token features [..., T, 15 + 47] and the observation the network reads; static
    features are divided by at least ``static_std_floor`` (`PPOConfig.static_std_floor`)."""
    stats = normalizer.tokens
    if static_std_floor > 0:
        stats = stats.replace(std={**stats.std, "static": jnp.maximum(stats.std["static"], static_std_floor)})
    normed = running_statistics.normalize({k: obs[k] for k in TOKEN_KEYS}, stats, max_abs_value=clip)
    features = jnp.concatenate([normed["proprio"], normed["static"]], axis=-1)
    features = features * obs["token_mask"][..., None]
    extra_inputs = tuple(field for _, field in EXTRA_INPUTS)
    network_fields = ("part_ids", "token_mask", "tree_distance", "link_token", *extra_inputs, *PACKING_FIELDS)
    net_obs = {k: obs[k] for k in network_fields if k in obs}
    if "previous_proprio" in obs:  # the last step's proprioception, on the scale of this step's
        proprio_stats = stats.replace(mean=stats.mean["proprio"], std=stats.std["proprio"])
        history = running_statistics.normalize(obs["previous_proprio"], proprio_stats, max_abs_value=clip)
        net_obs["previous_proprio"] = history * obs["token_mask"][..., None]
    if normalizer.terrain is not None:
        net_obs["terrain"] = running_statistics.normalize(obs["terrain"], normalizer.terrain, max_abs_value=clip)
    return features, net_obs


def make_inference_fn(apply_fn: Callable, obs_clip: float, static_std_floor: float = 0.0) -> Callable:
    """``make_policy(params, normalizer)`` -> ``policy(obs, key, deterministic=False)`` -> `PolicyStep`.

    The one way observations become torques: collection (sampled), value bootstrapping, evaluation,
    rendering and deployment (the mean) all call it. ``obs`` is a batch in the observation schema;
    ``key`` may be None when deterministic."""

    def make_policy(params, normalizer: Normalizer) -> Callable[..., PolicyStep]:
        def policy(obs: dict, key: jax.Array | None = None, deterministic: bool = False) -> PolicyStep:
            features, net_obs = policy_inputs(normalizer, obs, obs_clip, static_std_floor)
            mean, log_std, value = apply_fn(params, features, net_obs)
            actions = mean if deterministic else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
            return PolicyStep(actions, log_prob(mean, log_std, actions, obs["act_mask"]), value)

        return policy

    return make_policy


def log_prob(mean: jax.Array, log_std: jax.Array, actions: jax.Array, act_mask: jax.Array) -> jax.Array:
    """Log-density of the actions of actuated tokens, summed per body: [..., T] -> [...]."""
    per_token = -0.5 * ((actions - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi)
    return jnp.sum(per_token * act_mask, axis=-1)


def entropy(log_std: jax.Array, act_mask: jax.Array) -> jax.Array:
    return jnp.sum((log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e)) * act_mask, axis=-1)


def learning_rate_schedule(config: PPOConfig, total_updates: int) -> optax.Schedule:
    """Learning rate by optimizer step: linear warm-up, then cosine decay to the run's last update.
    Optax counts optimizer steps, and every PPO update takes ``config.optimizer_steps_per_update``."""
    total = max(1, total_updates) * config.optimizer_steps_per_update
    warmup = max(1, int(config.warmup_fraction * total))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total, warmup + 1),
        end_value=config.learning_rate * config.final_lr_fraction,
    )


FREEZE = {
    "none": (),
    "trunk": ("trunk", "value_trunk"),
    "embeddings": ("token_embedding", "part_embedding", "position_embedding", "tree_bias"),
}
"""What ``--freeze`` keeps fixed: parameters under modules of these names."""


def frozen_labels(params, freeze: str):
    """'frozen' or 'trained' for every parameter leaf, by the module names in FREEZE[freeze]."""
    if freeze not in FREEZE:
        raise MetamorphError(f"--freeze must be one of {', '.join(FREEZE)}, got '{freeze}'")
    names = set(FREEZE[freeze])

    def label(path, _):
        keys = {getattr(p, "key", None) for p in path}
        return "frozen" if keys & names else "trained"

    return jax.tree_util.tree_map_with_path(label, params)


def decayed_labels(params):
    """True for the leaves weight decay shrinks: the kernels of dense layers."""
    return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def make_optimizer(config: PPOConfig, total_updates: int, freeze: str = "none") -> optax.GradientTransformation:
    """Adam (AdamW with ``config.weight_decay``) on the schedule after global-norm clipping;
    parameters named by ``freeze`` stay fixed."""
    schedule = learning_rate_schedule(config, total_updates)
    if config.weight_decay:
        adam = optax.adamw(schedule, eps=1e-5, weight_decay=config.weight_decay, mask=decayed_labels)
    else:
        adam = optax.adam(schedule, eps=1e-5)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adam)
    if freeze == "none":
        return optimizer
    frozen_labels({}, freeze)  # an unknown name is refused before any parameter exists
    return optax.multi_transform(
        {"trained": optimizer, "frozen": optax.set_to_zero()}, lambda params: frozen_labels(params, freeze)
    )


def ppo_loss(
    params,
    apply_fn: Callable,
    normalizer: Normalizer,
    batch: dict,
    config: PPOConfig,
    num_samples: int,
    dropout_key: jax.Array | None = None,
    reference_params=None,
):
    """Clipped surrogate + (clipped) value loss − entropy bonus over a batch [n, ...], summed and
    divided by ``num_samples``, so losses of microbatches add up to their minibatch's mean loss.
    ``batch["advantages"]`` are used as given (normalised per minibatch by the caller).
    ``dropout_key`` reaches the policy's dropout (a no-op at rate 0). ``reference_params``: the
    ratio and the value clip compare with these parameters under the same dropout mask instead of
    with the log-probabilities and values recorded while acting."""
    obs = batch["obs"]
    features, net_obs = policy_inputs(normalizer, obs, config.obs_clip, config.static_std_floor)
    mean, log_std, value = apply_fn(params, features, net_obs, dropout_key)
    logp = log_prob(mean, log_std, batch["actions"], obs["act_mask"])
    old_logp, old_value = batch["logp"], batch["values"]
    if reference_params is not None:
        ref_mean, ref_log_std, ref_value = apply_fn(reference_params, features, net_obs, dropout_key)
        old_logp = jax.lax.stop_gradient(log_prob(ref_mean, ref_log_std, batch["actions"], obs["act_mask"]))
        old_value = jax.lax.stop_gradient(ref_value)
    log_ratio = logp - old_logp
    if config.dual_clip > 0:  # keep exp finite: a zero cotangent times an infinite ratio is NaN
        log_ratio = jnp.minimum(log_ratio, 20.0)
    ratio = jnp.exp(log_ratio)
    advantages = batch["advantages"]
    clipped_ratio = jnp.clip(ratio, 1 - config.clip, 1 + config.clip)
    surrogate = jnp.minimum(ratio * advantages, clipped_ratio * advantages)
    if config.dual_clip > 0:
        surrogate = jnp.where(advantages < 0, jnp.maximum(surrogate, config.dual_clip * advantages), surrogate)
    policy_loss = -jnp.sum(surrogate) / num_samples
    value_error = (value - batch["returns"]) ** 2
    if config.value_clip > 0:
        clipped_value = old_value + jnp.clip(value - old_value, -config.value_clip, config.value_clip)
        value_error = jnp.maximum(value_error, (clipped_value - batch["returns"]) ** 2)
    value_loss = 0.5 * jnp.sum(value_error) / num_samples
    ent = jnp.sum(entropy(log_std, obs["act_mask"])) / num_samples
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * ent
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": ent,
        "approx_kl": jnp.sum(old_logp - logp) / num_samples,
        "clip_fraction": jnp.sum(jnp.abs(ratio - 1) > config.clip) / num_samples,
    }
    return loss, metrics


def ppo_update(
    state: TrainState,
    rollout: Transition,
    bootstrap_value: jax.Array,
    key: jax.Array,
    apply_fn: Callable,
    optimizer: optax.GradientTransformation,
    config: PPOConfig,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[TrainState, dict]:
    """One PPO update from a rollout [U, B, ...] and the values of the observations after its last
    step [B]: statistics, GAE, then epochs × minibatches.

    With a ``mesh`` of several devices (one axis, ``"batch"``, along the environments), every device
    keeps the samples of its own environments: it folds them into the observation statistics, shuffles
    them and takes its share of every minibatch from them; gradients and statistics are summed across
    devices (as in Brax's PPO). Only those sums cross devices, never the rollout (two processes on
    this 2-core machine: 1.17× the samples a second of one process on both cores). A minibatch holds
    as many samples as on one device, drawn from every environment; which samples meet in a minibatch
    differs, so a run matches a one-device run (within float rounding) only with one minibatch."""
    num_samples = rollout.reward.size
    update = functools.partial(
        _device_update, apply_fn=apply_fn, optimizer=optimizer, config=config,
        minibatch_size=num_samples // config.num_minibatches,
        axis="batch" if mesh is not None and mesh.size > 1 else None,
    )  # fmt: skip
    if mesh is not None and mesh.size > 1:
        P = jax.sharding.PartitionSpec
        by_env = jax.tree_util.tree_map(lambda x: P(None, "batch"), rollout)
        update = jax.shard_map(update, mesh=mesh, in_specs=(P(), by_env, P("batch"), P()), out_specs=P())
    return update(state, rollout, bootstrap_value, key)


def trim_tokens(batch: dict, length: int) -> dict:
    """A batch of samples [n, ...] with only its first ``length`` token slots: every observation
    field but ``terrain`` has a token axis after the sample axis (``tree_distance`` two), and so do
    the actions."""
    obs = {k: v if k == "terrain" else v[:, :length] for k, v in batch["obs"].items()}
    obs["tree_distance"] = obs["tree_distance"][:, :, :length]
    return batch | {"obs": obs, "actions": batch["actions"][:, :length]}


def token_buckets(tokens: int, bucket: int) -> tuple[int, ...]:
    """The slot counts a trimmed microbatch can have: multiples of ``bucket`` below ``tokens``, and
    ``tokens`` itself."""
    return (*range(bucket, tokens, bucket), tokens)


AUTO_TOKEN_BUCKET = 4
"""The bucket ``token_bucket="auto"`` trims with (2 slots and microbatches of 64 were slower at 1000
generated bodies, docs/performance.md)."""
AUTO_TRIM_SHARE = 0.2
"""``token_bucket="auto"`` trims when it cuts at least this share of the update's token slots.
Trimmed updates compile without XLA's CPU fusion emitters (``TRIMMED_COMPILER_OPTIONS``), which
makes them 10–13 % slower; trimming must cut enough to pay for that. Three alternating rounds
(2026-12-05, docs/performance.md): the default 200 generated bodies (29 % cut) trained 1.27× faster
trimmed with the emitters and 1.15× without them; UNIMAL-100 (12 % cut) 1.15× with them and 1.05×
without them, within the rounds' spread."""

TRIMMED_COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False}
"""XLA options a trimmed update compiles with on CPU. It holds one gradient per length, and XLA's
CPU fusion emitters need a lot of memory to compile it: the default run's update took 737 MiB of
transient memory to compile with them and 198 MiB without them (391 MiB untrimmed, with them;
`bench/update_compile_memory.py`), and the run peaked at 1716 MiB with them against 1385 MiB without
(200k steps; issue 13 asks for at most 1.5 GiB). XLA then emits those fusions the older way, 10–13 %
slower."""


def update_compiler_options(config: PPOConfig, platform: str) -> dict[str, Any]:
    """The XLA options to compile ``config``'s update with on ``platform``: ``TRIMMED_COMPILER_OPTIONS``
    for a trimmed update on CPU, if this jaxlib knows them; else none."""
    if platform != "cpu" or not isinstance(config.token_bucket, int) or config.token_bucket == 0:
        return {}
    return dict(TRIMMED_COMPILER_OPTIONS) if _compiler_options_known(tuple(TRIMMED_COMPILER_OPTIONS.items())) else {}


@functools.cache
def _compiler_options_known(options: tuple[tuple[str, Any], ...]) -> bool:
    """Whether XLA accepts ``options`` (an older or newer jaxlib may not know a flag): one tiny compile."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=dict(options)).lower(jnp.zeros(())).compile()
    except Exception:  # XLA's INVALID_ARGUMENT "No such compile option"
        return False
    return True


def shuffled_lengths(counts: np.ndarray, slots: int, unroll_length: int, rng: np.random.Generator) -> np.ndarray:
    """The token counts of one replayed update's samples, in the order its shuffle takes them: each
    of ``slots`` environments holds a body drawn uniformly from ``counts`` for ``unroll_length``
    samples (balanced sampling gives every body about the same share). What `trimmed_share` and
    `rows_for_microbatches` replay."""
    return rng.permutation(np.repeat(rng.choice(counts, slots), unroll_length))


def trimmed_share(
    token_counts: Sequence[int],
    slots: int,
    unroll_length: int,
    num_minibatches: int,
    microbatch_size: int,
    bucket: int = AUTO_TOKEN_BUCKET,
    updates: int = 200,
    seed: int = 0,
) -> float:
    """Share of the update's token slots that trimming with ``bucket`` cuts, for training bodies of
    ``token_counts`` tokens on ``slots`` environments of one device. Replays the update's bookkeeping
    ``updates`` times: each slot holds a body drawn uniformly for ``unroll_length`` samples (balanced
    sampling gives every body about the same share), the samples are shuffled into minibatches, each
    minibatch is ordered by length and split into microbatches as `_device_update` splits it, and
    each microbatch keeps its longest body's count rounded up to the bucket. Seeded: the same
    bodies and shape give the same share (a resumed run decides as the run did)."""
    counts = np.asarray(token_counts)
    longest = int(counts.max())
    buckets = np.asarray(token_buckets(longest, bucket))
    micro = microbatch_samples(slots * unroll_length // num_minibatches, microbatch_size)
    rng = np.random.default_rng(seed)
    kept = []
    for _ in range(updates):
        minibatches = shuffled_lengths(counts, slots, unroll_length, rng).reshape(num_minibatches, -1)
        microbatches = np.sort(minibatches, axis=1).reshape(-1, micro)
        kept.append(buckets[np.searchsorted(buckets, microbatches.max(axis=1))])
    return float(1 - np.mean(kept) / longest)


def resolve_token_bucket(
    config: PPOConfig, token_counts: Sequence[int], slots: int, unroll_length: int
) -> tuple[PPOConfig, float | None]:
    """``config`` with ``token_bucket="auto"`` decided for these training bodies (`trimmed_share`
    ≥ ``AUTO_TRIM_SHARE``: ``AUTO_TOKEN_BUCKET``, else 0), and the share it computed (None when
    ``config`` already names a number)."""
    if config.token_bucket != "auto":
        return config, None
    share = trimmed_share(token_counts, slots, unroll_length, config.num_minibatches, config.microbatch_size)
    bucket = AUTO_TOKEN_BUCKET if share >= AUTO_TRIM_SHARE else 0
    return dataclasses.replace(config, token_bucket=bucket), share


PACKED_FIT_SHARE = 0.99
"""The share of a packed update's microbatches its rows are to hold. The rest are computed padded:
the rows a microbatch needs vary mostly with the bodies an update's environments drew (the default's
200 bodies, microbatches of 256: a median of 110 rows of 19 slots, 135 at the 99th percentile, 147
at most), so a row count for every microbatch would pay for the rare update of long bodies on all
the others."""


def rows_for_microbatches(
    token_counts: Sequence[int],
    slots: int,
    unroll_length: int,
    num_minibatches: int,
    microbatch_size: int,
    tokens: int,
    fit_share: float = PACKED_FIT_SHARE,
    updates: int = 50,
    seed: int = 0,
) -> int:
    """Rows of ``tokens`` slots for a packed update's microbatches (``microbatch_size`` split as
    `_device_update` splits it): as many as first fit decreasing needed for ``fit_share`` of the
    microbatches in ``updates`` replays of the update's shuffle (`shuffled_lengths`), at most a
    microbatch's samples. Seeded: the same bodies and shape give the same rows (a resumed run packs
    as the run did)."""
    counts = np.asarray(token_counts)
    share = slots * unroll_length // num_minibatches
    micro = microbatch_samples(share, microbatch_size)
    rng = np.random.default_rng(seed)
    draws = [shuffled_lengths(counts, slots, unroll_length, rng)[: share * num_minibatches] for _ in range(updates)]
    groups = np.stack(draws).reshape(-1, micro)
    return int(min(micro, np.quantile(first_fit_rows_needed(groups, tokens), fit_share, method="higher")))


def resolve_pack_rows(
    config: PPOConfig, token_counts: Sequence[int], tokens: int, slots: int, unroll_length: int
) -> PPOConfig:
    """``config`` with ``pack_rows="auto"`` decided for training bodies of ``token_counts`` padded
    to ``tokens`` slots (the rows `rows_for_microbatches` picks) and, when it packs,
    ``token_bucket`` "auto" read as 0."""
    rows = config.pack_rows
    if rows == "auto":
        num_minibatches, microbatch_size = config.num_minibatches, config.microbatch_size
        rows = rows_for_microbatches(token_counts, slots, unroll_length, num_minibatches, microbatch_size, tokens)
        micro = microbatch_samples(slots * unroll_length // num_minibatches, microbatch_size)
        rows = rows if worth_packing(rows, micro) else 0
    bucket = 0 if rows and config.token_bucket == "auto" else config.token_bucket
    return dataclasses.replace(config, pack_rows=rows, token_bucket=bucket)


def microbatch_samples(share: int, microbatch_size: int) -> int:
    """Samples per microbatch for a minibatch share of ``share`` samples: the largest equal split of
    at most ``microbatch_size`` (0: the whole share in one pass)."""
    if 0 < microbatch_size < share:
        return max(n for n in range(1, microbatch_size + 1) if share % n == 0)
    return share


def _psum_flat(tree, axis: str):
    """``psum`` of a pytree as one flat vector: one exchange instead of one per leaf (between
    processes every exchange is a round trip)."""
    flat, unflatten = jax.flatten_util.ravel_pytree(tree)
    return unflatten(jax.lax.psum(flat, axis))


def _device_update(
    state: TrainState,
    rollout: Transition,
    bootstrap_value: jax.Array,
    key: jax.Array,
    *,
    apply_fn: Callable,
    optimizer: optax.GradientTransformation,
    config: PPOConfig,
    minibatch_size: int,
    axis: str | None,
) -> tuple[TrainState, dict]:
    """`ppo_update` on one device's environments [U, B_local, ...] (all of them without ``axis``).

    ``minibatch_size`` counts the whole minibatch; this device holds its share of it. With ``axis``,
    statistics, gradients and metrics are summed over the devices along that axis."""
    total = (lambda x: x) if axis is None else functools.partial(_psum_flat, axis=axis)
    normalizer = update_normalizer(state.normalizer, rollout.obs, axis)
    returns, advantages = compute_gae(
        truncation=jnp.zeros_like(rollout.reward),
        termination=rollout.done,
        rewards=rollout.reward,
        values=rollout.value,
        bootstrap_value=bootstrap_value,
        lambda_=config.gae_lambda,
        discount=config.discount,
    )
    data = {"obs": rollout.obs, "actions": rollout.actions, "logp": rollout.log_prob, "values": rollout.value,
            "returns": returns, "advantages": advantages}  # fmt: skip
    local = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), data)
    local_samples = returns.size
    share = local_samples // config.num_minibatches  # this device's samples of each minibatch
    micro = microbatch_samples(share, config.microbatch_size)
    if axis is not None:  # each device draws its own order
        key = jax.random.fold_in(key, jax.lax.axis_index(axis))
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
    reference_params = state.params if config.dropout_same_mask else None

    def chunk_gradient(params, chunk, dropout_key):
        (_, metrics), grads = grad_fn(
            params, apply_fn, normalizer, chunk, config, minibatch_size, dropout_key, reference_params
        )
        return grads, metrics

    tokens = rollout.actions.shape[-1]
    pack_rows = 0 if config.pack_rows == "auto" else config.pack_rows  # unresolved: no bodies to decide on
    bucket = 0 if config.token_bucket == "auto" or pack_rows else config.token_bucket
    buckets = token_buckets(tokens, bucket) if bucket else (tokens,)
    if len(buckets) > 1:
        untrimmed_gradient = chunk_gradient

        def trimmed_gradient(length: int) -> Callable:
            return lambda params, chunk, key: untrimmed_gradient(params, trim_tokens(chunk, length), key)

        branches = [trimmed_gradient(length) for length in buckets]

        def chunk_gradient(params, chunk, dropout_key):
            longest = jnp.max(jnp.sum(chunk["obs"]["token_mask"], axis=-1))
            branch = jnp.searchsorted(jnp.asarray(buckets), longest)  # the shortest bucket that holds it
            return jax.lax.switch(branch, branches, params, chunk, dropout_key)

    if pack_rows:
        padded_gradient = chunk_gradient

        def chunk_gradient(params, chunk, dropout_key, packing):
            fields, fits = packing
            packed = chunk | {"obs": chunk["obs"] | fields}
            return jax.lax.cond(
                fits,
                lambda: padded_gradient(params, packed, dropout_key),
                lambda: padded_gradient(params, chunk, dropout_key),  # more rows than packed: as it is
            )

    def packings(minibatches):
        """The packing fields and fit of every microbatch [minibatches, microbatches, ...], or None."""
        if not pack_rows:
            return None
        counts = jnp.sum(minibatches["obs"]["token_mask"], axis=-1, dtype=jnp.int32).reshape(-1, micro)
        placed = jax.vmap(lambda c: first_fit_on_device(c, pack_rows, tokens))(counts)
        return jax.tree_util.tree_map(lambda x: x.reshape(config.num_minibatches, -1, *x.shape[1:]), placed)

    def minibatch_gradient(params, minibatch, dropout_key, packing):
        """Gradient and metrics of the minibatch's mean loss: this device's share summed over its
        microbatches, then over the devices."""
        if config.normalize_advantages:
            adv = minibatch["advantages"]
            if axis is None:
                mean, std = adv.mean(), adv.std()
            else:  # one exchange: sum and sum of squares
                adv_sum, adv_square_sum = total((adv.sum(), jnp.sum(adv**2)))
                mean = adv_sum / minibatch_size
                std = jnp.sqrt(jnp.maximum(adv_square_sum / minibatch_size - mean**2, 0.0))
            minibatch = minibatch | {"advantages": (adv - mean) / (std + 1e-8)}
        chunks = jax.tree_util.tree_map(lambda x: x.reshape(-1, micro, *x.shape[1:]), minibatch)
        if axis is not None:
            # Differentiate this device's own copy of the parameters, so that gradients stay local
            # until the one sum below: differentiating the shared copy makes JAX sum the gradient
            # over the devices for every microbatch (measured: 70 ms each between two processes).
            params = jax.lax.pcast(params, axis, to="varying")

        def gradient(chunk, key, chunk_packing):
            return chunk_gradient(params, chunk, key, *(() if chunk_packing is None else (chunk_packing,)))

        def add_chunk(running, chunk_key_packing):
            return jax.tree_util.tree_map(jnp.add, running, gradient(*chunk_key_packing)), None

        chunk_keys = jax.random.split(dropout_key, share // micro)
        first = jax.tree_util.tree_map(lambda x: x[0], (chunks, chunk_keys, packing))
        shapes = jax.eval_shape(gradient, *first)
        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        if axis is not None:  # the running sum differs between devices until the psum
            zeros = jax.lax.pcast(zeros, axis, to="varying")
        return total(jax.lax.scan(add_chunk, zeros, (chunks, chunk_keys, packing))[0])

    def minibatch_step(carry, minibatch_key_packing):
        params, opt_state = carry
        grads, metrics = minibatch_gradient(params, *minibatch_key_packing)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        metrics["grad_norm"] = optax.tree.norm(grads)
        return (optax.apply_updates(params, updates), opt_state), metrics

    body_tokens = jnp.sum(local["obs"]["token_mask"], axis=-1)

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, local_samples)
        if len(buckets) > 1:  # within each minibatch, shorter bodies first: microbatches of like lengths
            minibatch_index = jnp.arange(local_samples) // share
            order = order[jnp.argsort(minibatch_index * (tokens + 1) + body_tokens[order], stable=True)]
        shuffled = jax.tree_util.tree_map(
            lambda x: x[order].reshape(config.num_minibatches, share, *x.shape[1:]), local
        )
        # the shuffle keeps epoch_key itself, so runs without dropout draw the same orders as before
        dropout_keys = jax.random.split(jax.random.fold_in(epoch_key, 1), config.num_minibatches)
        return jax.lax.scan(minibatch_step, carry, (shuffled, dropout_keys, packings(shuffled)))

    epoch_keys = jax.random.split(key, config.epochs)
    (params, opt_state), metrics = jax.lax.scan(epoch, (state.params, state.opt_state), epoch_keys)
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    # explained variance of the returns over every device's samples
    count = total(jnp.asarray(local_samples, jnp.float32))
    errors = returns - rollout.value
    mean_error, mean_return = total(errors.sum()) / count, total(returns.sum()) / count
    error_var = total(jnp.sum((errors - mean_error) ** 2)) / count
    return_var = total(jnp.sum((returns - mean_return) ** 2)) / count
    metrics["explained_variance"] = 1 - error_var / (return_var + 1e-8)
    return TrainState(params, opt_state, normalizer, state.updates + 1), metrics
