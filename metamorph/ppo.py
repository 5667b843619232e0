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
import io
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

# Brax imports mujoco.mjx, which prints "Failed to import warp" to stdout when the optional
# NVIDIA Warp backend is absent (always, on CPU); our users' terminals need not see it.
with contextlib.redirect_stdout(io.StringIO()):
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo.losses import compute_gae

TOKEN_KEYS = ("proprio", "static")
OBS_KEYS = ("proprio", "static", "part_ids", "token_mask", "act_mask", "tree_distance", "terrain")
"""The observation fields the policy reads (an environment's ``body_id`` stays on the host)."""


def policy_obs(obs: dict) -> dict:
    return {k: obs[k] for k in OBS_KEYS if k in obs}


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (MetaMorph's where they fit a CPU budget; DESIGN §1)."""

    learning_rate: float = 3e-4
    """Peak Adam learning rate."""
    warmup_fraction: float = 0.02
    """Fraction of the run over which the learning rate rises linearly from 0; then it decays along a
    cosine until the last update."""
    final_lr_fraction: float = 0.1
    """The cosine decay ends at this fraction of the peak learning rate."""
    epochs: int = 4
    """Passes over each rollout (MetaMorph: 8; 4 halves the CPU cost)."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    clip: float = 0.2
    """Policy ratio clipping."""
    value_clip: float = 0.2
    """Value clipping around the values at collection."""
    discount: float = 0.99
    gae_lambda: float = 0.95
    entropy_coef: float = 0.0
    """Entropy bonus (MetaMorph uses none with a fixed std; ours is learned)."""
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ± this."""
    microbatch_size: int = 256
    """Most samples per gradient pass: a minibatch's gradient is summed over equal microbatches of at
    most this size. The update is the same as one pass over the whole minibatch, but activations
    stay in the CPU cache (10–30 % faster updates on 2 cores); 0 = the whole minibatch in one pass."""

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


def update_normalizer(normalizer: Normalizer, obs: dict[str, jax.Array]) -> Normalizer:
    """Fold a batch of observations (any leading dims) into the statistics; padding is weightless."""
    feature = {k: obs[k].reshape(-1, obs[k].shape[-1]) for k in TOKEN_KEYS}
    weights = obs["token_mask"].reshape(-1).astype(jnp.float32)
    tokens = running_statistics.update(normalizer.tokens, feature, weights=weights)
    terrain = normalizer.terrain
    if terrain is not None:
        terrain = running_statistics.update(terrain, obs["terrain"].reshape(-1, obs["terrain"].shape[-1]))
    return Normalizer(tokens, terrain)


def policy_inputs(normalizer: Normalizer, obs: dict[str, jax.Array], clip: float) -> tuple[jax.Array, dict]:
    """Normalised token features [..., T, 15 + 47] and the observation the network reads."""
    normed = running_statistics.normalize({k: obs[k] for k in TOKEN_KEYS}, normalizer.tokens, max_abs_value=clip)
    features = jnp.concatenate([normed["proprio"], normed["static"]], axis=-1)
    features = features * obs["token_mask"][..., None]
    net_obs = {k: obs[k] for k in ("part_ids", "token_mask", "tree_distance")}
    if normalizer.terrain is not None:
        net_obs["terrain"] = running_statistics.normalize(obs["terrain"], normalizer.terrain, max_abs_value=clip)
    return features, net_obs


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


def make_optimizer(config: PPOConfig, total_updates: int) -> optax.GradientTransformation:
    schedule = learning_rate_schedule(config, total_updates)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-5))


def ppo_loss(params, apply_fn: Callable, normalizer: Normalizer, batch: dict, config: PPOConfig, num_samples: int):
    """Clipped surrogate + clipped value loss − entropy bonus over a batch [n, ...], summed and
    divided by ``num_samples``, so losses of microbatches add up to their minibatch's mean loss.
    ``batch["advantages"]`` are used as given (normalised per minibatch by the caller)."""
    obs = batch["obs"]
    features, net_obs = policy_inputs(normalizer, obs, config.obs_clip)
    mean, log_std, value = apply_fn(params, features, net_obs)
    logp = log_prob(mean, log_std, batch["actions"], obs["act_mask"])
    ratio = jnp.exp(logp - batch["logp"])
    advantages = batch["advantages"]
    clipped_ratio = jnp.clip(ratio, 1 - config.clip, 1 + config.clip)
    policy_loss = -jnp.sum(jnp.minimum(ratio * advantages, clipped_ratio * advantages)) / num_samples
    clipped_value = batch["values"] + jnp.clip(value - batch["values"], -config.value_clip, config.value_clip)
    value_error = jnp.maximum((value - batch["returns"]) ** 2, (clipped_value - batch["returns"]) ** 2)
    value_loss = 0.5 * jnp.sum(value_error) / num_samples
    ent = jnp.sum(entropy(log_std, obs["act_mask"])) / num_samples
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * ent
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": ent,
        "approx_kl": jnp.sum(batch["logp"] - logp) / num_samples,
        "clip_fraction": jnp.sum(jnp.abs(ratio - 1) > config.clip) / num_samples,
    }
    return loss, metrics


def ppo_update(
    state: TrainState,
    rollout: dict,
    key: jax.Array,
    apply_fn: Callable,
    optimizer: optax.GradientTransformation,
    config: PPOConfig,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[TrainState, dict]:
    """One PPO update from a rollout [U, B, ...]: statistics, GAE, then epochs × minibatches.

    With a ``mesh`` (one axis, ``"batch"``), every device computes the gradient of its slice of each
    minibatch and the slices' gradients are summed across devices: the same update as on one device
    (minibatches are still drawn from the whole rollout), with the work split between devices."""
    normalizer = update_normalizer(state.normalizer, rollout["obs"])
    returns, advantages = compute_gae(
        truncation=jnp.zeros_like(rollout["rewards"]),
        termination=rollout["dones"],
        rewards=rollout["rewards"],
        values=rollout["values"],
        bootstrap_value=rollout["bootstrap_value"],
        lambda_=config.gae_lambda,
        discount=config.discount,
    )
    data = {k: rollout[k] for k in ("obs", "actions", "logp", "values")}
    data |= {"returns": returns, "advantages": advantages}
    num_samples = rollout["rewards"].size
    data = jax.tree_util.tree_map(lambda x: x.reshape(num_samples, *x.shape[2:]), data)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    minibatch_size = num_samples // config.num_minibatches
    num_devices = 1 if mesh is None else mesh.size
    device_share = minibatch_size // num_devices  # samples of a minibatch each device differentiates
    micro = device_share
    if 0 < config.microbatch_size < device_share:  # the largest equal split that fits
        micro = max(n for n in range(1, config.microbatch_size + 1) if device_share % n == 0)

    def share_gradient(params, share):
        """Gradient and metrics of this share's part of the minibatch's mean loss, summed over
        microbatches (and, on a mesh, over the devices' shares)."""
        chunks = jax.tree_util.tree_map(lambda x: x.reshape(-1, micro, *x.shape[1:]), share)

        def chunk_gradient(chunk):
            (_, metrics), grads = grad_fn(params, apply_fn, normalizer, chunk, config, minibatch_size)
            return grads, metrics

        def add_chunk(total, chunk):
            return jax.tree_util.tree_map(jnp.add, total, chunk_gradient(chunk)), None

        first = jax.tree_util.tree_map(lambda x: x[0], chunks)
        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(chunk_gradient, first))
        if mesh is not None:  # the running sum differs between devices until the psum
            zeros = jax.lax.pcast(zeros, "batch", to="varying")
        total = jax.lax.scan(add_chunk, zeros, chunks)[0]
        return total if mesh is None else jax.lax.psum(total, "batch")

    if mesh is not None:
        replicated, split = jax.sharding.PartitionSpec(), jax.sharding.PartitionSpec("batch")
        share_gradient = jax.shard_map(share_gradient, mesh=mesh, in_specs=(replicated, split), out_specs=replicated)

    def minibatch_gradient(params, minibatch):
        """Gradient and metrics of the minibatch's mean loss."""
        if config.normalize_advantages:
            adv = minibatch["advantages"]
            minibatch = minibatch | {"advantages": (adv - adv.mean()) / (adv.std() + 1e-8)}
        return share_gradient(params, minibatch)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        grads, metrics = minibatch_gradient(params, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        metrics["grad_norm"] = optax.tree.norm(grads)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, num_samples)
        shuffled = jax.tree_util.tree_map(
            lambda x: x[order].reshape(config.num_minibatches, minibatch_size, *x.shape[1:]), data
        )
        return jax.lax.scan(minibatch_step, carry, shuffled)

    epoch_keys = jax.random.split(key, config.epochs)
    (params, opt_state), metrics = jax.lax.scan(epoch, (state.params, state.opt_state), epoch_keys)
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    explained = 1 - jnp.var(returns - rollout["values"]) / (jnp.var(returns) + 1e-8)
    metrics["explained_variance"] = explained
    return TrainState(params, opt_state, normalizer, state.updates + 1), metrics
