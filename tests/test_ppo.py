"""PPO pieces on probe problems with known answers, and the masked policy."""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metamorph.errors import MetamorphError
from metamorph.observation import POLICY_FIELDS, policy_obs
from metamorph.policy import EXTRA_INPUTS, Policy, PolicyConfig, fields_read
from metamorph.ppo import (
    TRIMMED_COMPILER_OPTIONS,
    Normalizer,
    PPOConfig,
    TrainState,
    Transition,
    _compiler_options_known,
    init_normalizer,
    learning_rate_schedule,
    log_prob,
    make_optimizer,
    policy_inputs,
    ppo_loss,
    ppo_update,
    resolve_token_bucket,
    token_buckets,
    trim_tokens,
    trimmed_share,
    update_compiler_options,
)

B, T = 16, 4
TINY = PolicyConfig(d_model=16, num_layers=1, num_heads=2, ff_dim=32, decoder_hidden=16)


def probe_obs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """B bodies of 3 real tokens (root + 2 actuated joints) and one padding token."""
    token_mask = np.array([[True, True, True, False]] * B)
    act_mask = np.array([[False, True, True, False]] * B)
    proprio = np.where(token_mask[..., None], rng.normal(size=(B, T, 15)), 0).astype(np.float32)
    static = np.where(token_mask[..., None], rng.normal(size=(B, T, 47)), 0).astype(np.float32)
    return {
        "proprio": proprio,
        "static": static,
        "part_ids": np.where(token_mask, np.array([1, 26, 26, 0]), 0).astype(np.int32),
        "token_mask": token_mask,
        "act_mask": act_mask,
        "tree_distance": np.tile(
            np.array([[0, 1, 2, 0], [1, 0, 1, 0], [2, 1, 0, 0], [0, 0, 0, 0]], np.int32), (B, 1, 1)
        ),
        "link_token": np.tile(np.array([0, 1, 1, 3], np.int32), (B, 1)),  # both joints hinge one link
    }


class Probe(NamedTuple):
    """A probe batch, its normalised network inputs, and a policy initialised on them."""

    obs: dict[str, np.ndarray]
    normalizer: Normalizer
    features: jax.Array
    net_obs: dict[str, jax.Array]
    policy: Policy
    params: dict


def probe(seed: int, policy_config: PolicyConfig = TINY, obs_clip: float = 10.0, init_seed: int = 0) -> Probe:
    obs = probe_obs(np.random.default_rng(seed))
    normalizer = init_normalizer(obs)
    features, net_obs = policy_inputs(normalizer, obs, obs_clip)
    policy = Policy(policy_config, vocab_size=60)
    params = policy.init(jax.random.PRNGKey(init_seed), features, net_obs)
    return Probe(obs, normalizer, features, net_obs, policy, params)


def setup(
    config: PPOConfig,
    lr: float,
    seed: int = 0,
    optimizer: optax.GradientTransformation | None = None,
    policy_config: PolicyConfig = TINY,
):
    obs, normalizer, _, _, policy, params = probe(seed, policy_config, config.obs_clip, init_seed=seed)
    optimizer = optimizer or optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))
    state = TrainState(params, optimizer.init(params), normalizer, jnp.zeros((), jnp.int32))
    update = jax.jit(lambda s, r, k: ppo_update(s, r[0], r[1], k, policy.apply, optimizer, config))

    @jax.jit
    def act(state, key):
        features, net_obs = policy_inputs(state.normalizer, obs, config.obs_clip)
        mean, log_std, value = policy.apply(state.params, features, net_obs)
        actions = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return actions, log_prob(mean, log_std, actions, obs["act_mask"]), value, mean

    return obs, state, update, act


def rollout_of(obs, actions, logp, values, rewards, dones, bootstrap) -> tuple[Transition, np.ndarray]:
    """A rollout [U, B, ...] of the same observation, and the bootstrap values [B]."""
    U = rewards.shape[0]
    rollout = Transition(
        obs=jax.tree_util.tree_map(lambda x: np.broadcast_to(x, (U, *x.shape)).copy(), obs),
        actions=actions,
        log_prob=logp,
        value=values,
        reward=rewards.astype(np.float32),
        done=dones.astype(np.float32),
    )
    return rollout, bootstrap


def test_constant_reward_value_converges_to_discounted_sum():
    """Reward 1 forever with γ = 0.5: the value must reach 1 / (1 − γ) = 2."""
    config = PPOConfig(discount=0.5, gae_lambda=0.95, epochs=4, num_minibatches=2, value_clip=10.0)
    obs, state, update, act = setup(config, lr=3e-3)
    key = jax.random.PRNGKey(1)
    U = 8
    for _ in range(150):
        steps = []
        for _ in range(U):
            key, k = jax.random.split(key)
            steps.append(act(state, k))
        actions, logp, values, _ = (np.stack([np.asarray(s[i]) for s in steps]) for i in range(4))
        rollout = rollout_of(obs, actions, logp, values, np.ones((U, B)), np.zeros((U, B)), np.asarray(steps[-1][2]))
        key, k = jax.random.split(key)
        state, _ = update(state, rollout, k)
    value = np.asarray(act(state, key)[2])
    np.testing.assert_allclose(value, 2.0, atol=0.1)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_reward_of_one_joint_raises_its_mean_only_through_actuated_tokens(dropout):
    """A bandit whose reward is joint 1's torque: joint 1's mean climbs (with dropout in the update
    too); the update ignores everything at unactuated and padding tokens."""
    config = PPOConfig(epochs=4, num_minibatches=2, discount=0.0)
    obs, state, update, act = setup(config, lr=1e-3, policy_config=dataclasses.replace(TINY, dropout=dropout))
    key = jax.random.PRNGKey(2)
    start_mean = np.asarray(act(state, key)[3])
    for _ in range(60):
        key, k1, k2 = jax.random.split(key, 3)
        actions, logp, values, _ = (np.asarray(x)[None] for x in act(state, k1))
        rollout = rollout_of(obs, actions, logp, values, actions[..., 1], np.ones((1, B)), np.zeros(B, np.float32))
        state, _ = update(state, rollout, k2)
    mean = np.asarray(act(state, key)[3])
    assert (mean[:, 1] - start_mean[:, 1]).mean() > 0.5
    if dropout == 0:  # dropping embedding features also blurs which of the two like joints is which
        assert abs((mean[:, 2] - start_mean[:, 2]).mean()) < 0.5 * (mean[:, 1] - start_mean[:, 1]).mean()

    # what happens at an unactuated or padding token cannot change the update
    key, k1, k2 = jax.random.split(key, 3)
    actions, logp, values, _ = (np.asarray(x)[None] for x in act(state, k1))
    rollout = rollout_of(obs, actions, logp, values, actions[..., 1], np.ones((1, B)), np.zeros(B, np.float32))
    transitions, bootstrap = rollout
    garbage_actions = transitions.actions.copy()
    garbage_actions[..., 0] = 123.0  # the root: unactuated
    garbage_actions[..., 3] = -55.0  # padding
    garbage = (transitions._replace(actions=garbage_actions), bootstrap)
    a, _ = update(state, rollout, k2)
    b, _ = update(state, garbage, k2)
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a.params, b.params)


def test_microbatches_give_the_update_of_one_pass_over_the_minibatch():
    """Summing microbatch gradients is an implementation detail: the update must not change."""
    U = 4
    rewards = np.random.default_rng(4).normal(size=(U, B))
    results = []
    for microbatch_size in (0, 4, 5):  # whole minibatch; 8 microbatches; the largest divisor ≤ 5 (4)
        config = PPOConfig(epochs=2, num_minibatches=2, microbatch_size=microbatch_size)
        # plain SGD: Adam would turn round-off in near-zero gradients into whole steps
        obs, state, update, act = setup(config, lr=1e-2, optimizer=optax.sgd(1e-2))
        steps = [act(state, jax.random.PRNGKey(t)) for t in range(U)]
        actions, logp, values, _ = (np.stack([np.asarray(step[i]) for step in steps]) for i in range(4))
        rollout = rollout_of(obs, actions, logp, values, rewards, np.zeros((U, B)), values[-1])
        results.append(update(state, rollout, jax.random.PRNGKey(9)))
    (one_pass, one_pass_metrics), *microbatched = results
    for new_state, metrics in microbatched:
        jax.tree_util.tree_map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6), new_state.params, one_pass.params
        )
        for name in ("policy_loss", "value_loss", "approx_kl", "entropy", "grad_norm"):
            np.testing.assert_allclose(metrics[name], one_pass_metrics[name], rtol=1e-4, atol=1e-7)


def bodies_of_many_lengths(rng: np.random.Generator, tokens: int = 6) -> dict[str, np.ndarray]:
    """B chains of 2 to ``tokens`` tokens (root + actuated joints), padded to ``tokens`` slots."""
    lengths = 2 + np.arange(B) % (tokens - 1)
    token_mask = np.arange(tokens)[None] < lengths[:, None]
    act_mask = token_mask & (np.arange(tokens)[None] > 0)
    hops = np.abs(np.arange(tokens)[:, None] - np.arange(tokens)[None]).astype(np.int32)
    pair_mask = token_mask[:, :, None] & token_mask[:, None, :]
    return {
        "proprio": np.where(token_mask[..., None], rng.normal(size=(B, tokens, 15)), 0).astype(np.float32),
        "static": np.where(token_mask[..., None], rng.normal(size=(B, tokens, 47)), 0).astype(np.float32),
        "part_ids": np.where(token_mask, np.where(act_mask, 26, 1), 0).astype(np.int32),
        "token_mask": token_mask,
        "act_mask": act_mask,
        "tree_distance": np.where(pair_mask, hops[None], 0).astype(np.int32),
        # pairs of joints share a link: 1-2, 3-4, 5
        "link_token": np.tile(np.array([0, 1, 1, 3, 3, 5, 6, 7][:tokens], np.int32), (B, 1)),
    }


# the default's (tree, joint) in the default suite; the other two compile as long again, so CI's slow run
@pytest.mark.parametrize(
    ("position", "tokens"),
    [
        pytest.param("learned", "joint", marks=pytest.mark.slow),
        ("tree", "joint"),
        pytest.param("tree", "link", marks=pytest.mark.slow),
    ],
)
def test_trimming_or_packing_padding_out_of_microbatches_keeps_the_update(position, tokens):
    """``token_bucket`` cuts each microbatch to its longest body (bodies of 2–6 tokens here, buckets
    of 2, 4 and 6 slots), ``pack_rows`` places its bodies several to a row: cheaper ways to compute
    the same gradients, so the update must not change."""
    obs = bodies_of_many_lengths(np.random.default_rng(5))
    policy = Policy(dataclasses.replace(TINY, position=position, max_tokens=6, tokens=tokens), vocab_size=60)
    normalizer = init_normalizer(obs)
    params = policy.init(jax.random.PRNGKey(0), *policy_inputs(normalizer, obs, 10.0))
    optimizer = optax.sgd(1e-2)  # plain SGD: Adam would turn round-off in near-zero gradients into whole steps
    state = TrainState(params, optimizer.init(params), normalizer, jnp.zeros((), jnp.int32))
    U = 4
    rng = np.random.default_rng(6)
    rollout, bootstrap = rollout_of(
        obs,
        actions=rng.normal(size=(U, B, 6)).astype(np.float32),
        logp=rng.normal(size=(U, B)).astype(np.float32) - 5,
        values=rng.normal(size=(U, B)).astype(np.float32),
        rewards=rng.normal(size=(U, B)),
        dones=rng.random((U, B)) < 0.1,
        bootstrap=rng.normal(size=B).astype(np.float32),
    )
    # padded; trimmed; packed into 8 rows (8 samples a microbatch: every microbatch fits and runs
    # packed) and into 1 row (none fits: all run padded)
    settings = {"padded": {}, "trimmed": {"token_bucket": 2}, **{f"packed-{r}": {"pack_rows": r} for r in (8, 1)}}
    results = {}
    for name, setting in settings.items():
        config = dataclasses.replace(
            PPOConfig(epochs=2, num_minibatches=2, microbatch_size=8, token_bucket=0), **setting
        )

        def update(state, rollout, bootstrap, key, config=config):
            return ppo_update(state, rollout, bootstrap, key, policy.apply, optimizer, config)

        jaxpr = str(jax.make_jaxpr(update)(state, rollout, bootstrap, jax.random.PRNGKey(9)))
        assert ("cond[" in jaxpr) == (name != "padded")  # a branch per bucket, or packed or not, per microbatch
        # compiled as training compiles it (a trimmed update on CPU without XLA's fusion emitters)
        options = update_compiler_options(config, jax.default_backend())
        assert bool(options) == (name == "trimmed" and jax.default_backend() == "cpu")
        compiled = jax.jit(update, compiler_options=options)
        results[name] = compiled(state, rollout, bootstrap, jax.random.PRNGKey(9))
    full, full_metrics = results.pop("padded")
    moved = jax.tree_util.tree_map(lambda x, y: float(np.max(np.abs(x - y))), full.params, params)
    assert max(jax.tree_util.tree_leaves(moved)) > 1e-4  # the update did something
    for new_state, metrics in results.values():
        jax.tree_util.tree_map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6), new_state.params, full.params
        )
        for name in ("policy_loss", "value_loss", "approx_kl", "entropy", "grad_norm"):
            np.testing.assert_allclose(metrics[name], full_metrics[name], rtol=1e-4, atol=1e-7)


def test_token_buckets_and_trimming():
    assert token_buckets(21, 4) == (4, 8, 12, 16, 20, 21)
    assert token_buckets(16, 4) == (4, 8, 12, 16)
    obs = bodies_of_many_lengths(np.random.default_rng(0))
    batch = trim_tokens({"obs": obs | {"terrain": np.zeros((B, 9))}, "actions": np.ones((B, 6))}, 4)
    assert batch["obs"]["tree_distance"].shape == (B, 4, 4) and batch["actions"].shape == (B, 4)
    assert batch["obs"]["static"].shape == (B, 4, 47) and batch["obs"]["terrain"].shape == (B, 9)
    with pytest.raises(MetamorphError, match="token_bucket"):
        PPOConfig(token_bucket=-1)
    with pytest.raises(MetamorphError, match="pack_rows"):
        PPOConfig(pack_rows=-1)
    with pytest.raises(MetamorphError, match="no padding to trim"):
        PPOConfig(pack_rows="auto", token_bucket=4)


def test_trimmed_share_replays_the_update_and_auto_decides_on_it():
    """With one sample per microbatch every microbatch keeps its own body's bucket: bodies of 4 and
    16 tokens drawn alike keep (4 + 16) / 2 of 16 slots on average, so trimming cuts 3/8."""
    assert trimmed_share([4, 16], slots=64, unroll_length=8, num_minibatches=4, microbatch_size=1) == pytest.approx(
        0.375, abs=0.01
    )
    assert trimmed_share([12] * 5, 64, 8, 4, 1) == 0.0  # one length, a multiple of the bucket: nothing to cut
    # one microbatch per minibatch of 128 samples almost always holds a 16-token body: little to cut
    assert trimmed_share([4, 16], 64, 8, 4, 0) < 0.01
    assert trimmed_share([4, 16], 64, 8, 4, 1, seed=3) == trimmed_share([4, 16], 64, 8, 4, 1, seed=3)

    chosen, share = resolve_token_bucket(
        PPOConfig(num_minibatches=4, microbatch_size=1, token_bucket="auto"), [4, 16], 64, 8
    )
    assert chosen.token_bucket == 4 and share == pytest.approx(0.375, abs=0.01)
    chosen, share = resolve_token_bucket(
        PPOConfig(num_minibatches=4, microbatch_size=1, token_bucket="auto"), [12, 12], 64, 8
    )
    assert chosen.token_bucket == 0 and share == 0.0
    named = PPOConfig(token_bucket=2)
    assert resolve_token_bucket(named, [4, 16], 64, 8) == (named, None)  # a number is the user's choice
    for bad in (-1, "sometimes"):
        with pytest.raises(MetamorphError, match="token_bucket"):
            PPOConfig(token_bucket=bad)


def test_update_compiler_options():
    """Only a trimmed update on CPU compiles with other options; options this jaxlib does not know
    are dropped instead of failing the first update."""
    assert update_compiler_options(PPOConfig(token_bucket=4), "cpu") == TRIMMED_COMPILER_OPTIONS
    assert update_compiler_options(PPOConfig(token_bucket=0), "cpu") == {}
    assert update_compiler_options(PPOConfig(token_bucket="auto"), "cpu") == {}  # undecided: untrimmed
    assert update_compiler_options(PPOConfig(token_bucket=4), "gpu") == {}
    assert _compiler_options_known((("xla_cpu_no_such_option", True),)) is False


def test_learning_rate_warms_up_and_decays_over_the_whole_run():
    """The schedule is laid out in PPO updates, but optax counts optimizer steps (epochs ×
    minibatches per update): halfway through the run the rate must be halfway down its cosine, not
    at its floor (a bug that once froze learning after the first twentieth of every run)."""
    config = PPOConfig(epochs=3, num_minibatches=2, warmup_fraction=0.25, final_lr_fraction=0.1)
    total_updates = 8
    optimizer = make_optimizer(config, total_updates)
    obs, state, update, act = setup(config, lr=0.0, optimizer=optimizer)
    schedule = learning_rate_schedule(config, total_updates)
    rates = []
    for u in range(total_updates):
        actions, logp, values, _ = (np.asarray(x)[None] for x in act(state, jax.random.PRNGKey(u)))
        rollout = rollout_of(obs, actions, logp, values, np.ones((1, B)), np.zeros((1, B)), values[0])
        state, _ = update(state, rollout, jax.random.PRNGKey(u))
        counts = {int(c) for _, c in optax.tree_utils.tree_get_all_with_path(state.opt_state, "count")}
        # the steps the schedule is laid out in are the steps Adam and the schedule really take
        assert counts == {(u + 1) * config.optimizer_steps_per_update} == {(u + 1) * 3 * 2}
        steps = counts.pop()
        rates.append(float(schedule(steps - 1)))
    peak, floor = config.learning_rate, config.learning_rate * config.final_lr_fraction
    assert rates[0] < rates[1] == pytest.approx(peak, rel=0.1)  # warm-up: the first quarter of the run
    assert rates[4] == pytest.approx((peak + floor) / 2, rel=0.15)  # the cosine's midpoint
    assert all(a > b for a, b in itertools.pairwise(rates[2:]))  # then down all the way
    assert rates[-1] == pytest.approx(floor, rel=0.05)


@pytest.mark.parametrize(
    ("position", "tokens"), [("learned", "joint"), ("none", "joint"), ("tree", "joint"), ("tree", "link")]
)
def test_padding_tokens_do_not_change_real_outputs(position, tokens):
    _, _, features, net_obs, policy, params = probe(
        3, PolicyConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, position=position, tokens=tokens)
    )
    mean, _, value = policy.apply(params, features, net_obs)
    noisy = features.at[:, 3].set(77.0)  # the padding token's features
    noisy_obs = {**net_obs, "part_ids": net_obs["part_ids"].copy()}
    noisy_obs["part_ids"][:, 3] = 5
    mean2, _, value2 = policy.apply(params, noisy, noisy_obs)
    np.testing.assert_allclose(mean2[:, :3], mean[:, :3], atol=1e-5)
    np.testing.assert_allclose(value2, value, atol=1e-5)


def test_link_tokens_encode_a_link_once_and_tell_its_joints_apart_by_their_own_embedding():
    """With ``tokens="link"`` the two joints of the probe's one limb read one encoding: without the
    readout of their own embeddings their actions are equal, with it they differ; the encoder sees
    the root and the limb only (the second joint's slot is not attended to)."""
    config = dataclasses.replace(TINY, num_layers=2, position="tree", tokens="link")
    _, _, features, net_obs, policy, params = probe(7, config)
    mean, _, _ = policy.apply(params, features, net_obs)
    assert np.abs(mean[:, 1] - mean[:, 2]).max() > 1e-4
    readout = params["params"]["trunk"]["joint_readout"]
    blind = jax.tree_util.tree_map(lambda x: x, params)
    blind["params"]["trunk"]["joint_readout"] = jax.tree_util.tree_map(jnp.zeros_like, readout)
    blind_mean, _, _ = policy.apply(blind, features, net_obs)
    np.testing.assert_allclose(blind_mean[:, 1], blind_mean[:, 2], rtol=1e-6, atol=1e-7)
    # the encoder reads each link's joints summed: swapping the limb's two joints' inputs changes
    # nothing it computes, so (without the readout) no action changes
    swapped = features.at[:, 1].set(features[:, 2]).at[:, 2].set(features[:, 1])
    np.testing.assert_allclose(policy.apply(blind, swapped, net_obs)[0], blind_mean, rtol=1e-5, atol=1e-6)
    # the same inputs read one token a joint: no such symmetry
    joint = dataclasses.replace(config, tokens="joint")
    _, _, _, _, joint_policy, joint_params = probe(7, joint)
    joint_mean, _, _ = joint_policy.apply(joint_params, features, net_obs)
    assert np.abs(joint_mean[:, 1] - joint_mean[:, 2]).max() > 1e-4
    with pytest.raises(MetamorphError, match="tokens must be joint or link"):
        PolicyConfig(tokens="limb")


def test_dropout_changes_the_update_forward_only():
    _, _, features, net_obs, whole, params = probe(4)
    dropping = Policy(dataclasses.replace(TINY, dropout=0.3), vocab_size=60)  # dropout adds no parameters
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        dropping.init(jax.random.PRNGKey(0), features, net_obs)
    )
    acting = dropping.apply(params, features, net_obs)  # no key: the whole network, as when acting
    for a, b in zip(acting, whole.apply(params, features, net_obs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    dropped = dropping.apply(params, features, net_obs, k1)
    assert not np.allclose(dropped[0], acting[0]) and not np.allclose(dropped[2], acting[2])
    np.testing.assert_array_equal(dropping.apply(params, features, net_obs, k1)[0], dropped[0])  # a key's mask
    assert not np.allclose(dropping.apply(params, features, net_obs, k2)[0], dropped[0])
    # rate 0: a key changes nothing, so runs without dropout are what they were
    np.testing.assert_array_equal(whole.apply(params, features, net_obs, k1)[0], acting[0])
    with pytest.raises(MetamorphError, match="dropout"):
        PolicyConfig(dropout=1.0)


def test_hidden_static_features_change_nothing_the_policy_outputs():
    """A policy that hides geom_pos, geom_quat and geom_size gives the same actions and value
    whatever those columns hold; every other static column still moves them."""
    from metamorph.tokens import PROPRIO_FEATURES, STATIC_FEATURES

    hiding = dataclasses.replace(TINY, hidden_static=["geom_pos", "geom_quat", "geom_size"])  # as JSON gives it
    assert hiding.hidden_static == ("geom_pos", "geom_quat", "geom_size")
    _, _, features, net_obs, policy, params = probe(4, hiding)
    outputs = policy.apply(params, features, net_obs)
    hidden = [STATIC_FEATURES[name] for name in hiding.hidden_static]
    changed = np.array(features)
    for columns in hidden:
        changed[..., PROPRIO_FEATURES.width + columns.start : PROPRIO_FEATURES.width + columns.stop] = 9.0
    for a, b in zip(policy.apply(params, jnp.asarray(changed), net_obs), outputs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    seen = np.array(features)
    seen[..., PROPRIO_FEATURES.width + STATIC_FEATURES["extent"].start] = 9.0
    assert not np.allclose(policy.apply(params, jnp.asarray(seen), net_obs)[0], outputs[0])
    with pytest.raises(MetamorphError, match="unknown static feature"):
        dataclasses.replace(TINY, hidden_static=("geom_colour",))
    # names follow the policy's link geometry: shape's own groups sit where geom_quat and geom_size do
    from metamorph.policy import _visible_columns
    from metamorph.tokens import static_layout

    shape = dataclasses.replace(TINY, link_geometry="shape", hidden_static=("shape_axes",))
    hidden_columns = np.flatnonzero(_visible_columns(shape.hidden_static, "shape") == 0) - PROPRIO_FEATURES.width
    axes = static_layout("shape")["shape_axes"]
    assert hidden_columns.tolist() == list(range(axes.start, axes.stop))
    assert axes.start == STATIC_FEATURES["geom_quat"].start and axes.stop == STATIC_FEATURES["geom_size"].stop - 1
    with pytest.raises(MetamorphError, match=r"unknown static feature.*shape link geometry"):
        dataclasses.replace(TINY, link_geometry="shape", hidden_static=("geom_pos",))
    with pytest.raises(MetamorphError, match="link_geometry must be one of largest, shape"):
        dataclasses.replace(TINY, link_geometry="hull")


@pytest.mark.parametrize("tokens", ["joint", "link"])
@pytest.mark.parametrize(
    ("option", "field", "width"),
    [
        ("previous_action", "last_ctrl", 1),
        ("recent_velocity", "recent_velocity", 1),
        ("clock", "clock", 6),
        ("proprio_history", "previous_proprio", 15),
    ],
)
def test_an_extra_input_is_read_only_by_a_policy_that_asks_for_it(tokens, option, field, width):
    """``previous_action`` reads ``last_ctrl``, ``recent_velocity``, ``clock`` and ``proprio_history``
    their fields: the token embedding gets as many more input columns as the field has (no new
    parameter tensor) and the actions and value follow it; the default policy ignores them, so a policy trained before a
    field existed acts as it did."""
    config = dataclasses.replace(TINY, tokens=tokens, position="tree")
    obs = probe_obs(np.random.default_rng(5))
    values = np.random.default_rng(6).uniform(-1, 1, (B, T, width))
    mask = obs["act_mask"] if field == "last_ctrl" else obs["token_mask"]
    values = np.where(mask[..., None], values, 0).astype(np.float32)
    obs[field] = values if width > 1 else values[..., 0]
    features, net_obs = policy_inputs(init_normalizer(obs), obs, 10.0)
    other = {**net_obs, field: -net_obs[field]}
    for reads in (False, True):
        policy = Policy(dataclasses.replace(config, **{option: reads}), vocab_size=60)
        params = policy.init(jax.random.PRNGKey(0), features, net_obs)
        kernel = params["params"]["trunk"]["token_embedding"]["kernel"]
        assert kernel.shape[0] == features.shape[-1] + reads * width
        mean, _, value = policy.apply(params, features, net_obs)
        mean2, _, value2 = policy.apply(params, features, other)
        if reads:
            assert np.abs(mean2 - mean)[obs["act_mask"]].max() > 1e-6 and np.abs(value2 - value).max() > 1e-6
            lacking = {k: v for k, v in net_obs.items() if k != field}  # e.g. a hand-built observation
            with pytest.raises(MetamorphError, match=f"reads {field}"):
                policy.apply(params, features, lacking)
        else:
            np.testing.assert_array_equal(np.asarray(mean2), np.asarray(mean))
            np.testing.assert_array_equal(np.asarray(value2), np.asarray(value))


def test_acting_carries_only_the_fields_a_policy_reads():
    """`fields_read`: a policy set to read none of the extra inputs is handed none of them (acting
    and the rollout carry no field the network ignores); one set to read one is handed that one."""
    extra = {field for _, field in EXTRA_INPUTS}
    obs = probe_obs(np.random.default_rng(5)) | {field: np.zeros((B, T), np.float32) for field in extra}
    assert extra <= set(POLICY_FIELDS)
    assert not extra & set(policy_obs(obs, fields_read(TINY)))
    for option, field in EXTRA_INPUTS:
        read = set(policy_obs(obs, fields_read(dataclasses.replace(TINY, **{option: True}))))
        assert read & extra == {field}


def test_static_std_floor_keeps_an_unseen_difference_at_its_size():
    """A static feature that never varied in the statistics (std near 0) sends an unseen body's
    difference of 2 mm to the clip; with a floor of 0.01 it reads 0.2. Proprioception and features
    that vary more than the floor are normalised as before."""
    from metamorph.ppo import update_normalizer

    obs = probe_obs(np.random.default_rng(7))
    obs["static"][..., 5] = np.where(obs["token_mask"], 0.3, 0.0)  # one column the same on every token
    normalizer = update_normalizer(init_normalizer(obs), jax.tree.map(jnp.asarray, obs))
    unseen = dict(obs, static=obs["static"].copy())
    unseen["static"][..., 5] += 0.002 * obs["token_mask"]
    plain, _ = policy_inputs(normalizer, unseen, 10.0)
    floored, _ = policy_inputs(normalizer, unseen, 10.0, static_std_floor=0.01)
    column = 15 + 5  # after the proprioception
    real = obs["token_mask"]
    assert np.allclose(np.asarray(plain)[..., column][real], 10.0)  # the clip
    np.testing.assert_allclose(np.asarray(floored)[..., column][real], 0.2, rtol=1e-3)
    others = np.ones(plain.shape[-1], bool)
    others[column] = False
    np.testing.assert_allclose(np.asarray(floored)[..., others], np.asarray(plain)[..., others], rtol=1e-6)
    with pytest.raises(MetamorphError, match="static_std_floor must be ≥ 0"):
        PPOConfig(static_std_floor=-0.01)


def test_dropout_same_mask_compares_the_policy_with_itself_under_one_mask():
    """Before any step the updated policy is the reference: under the same mask the ratio is 1 and
    nothing is clipped, where against the whole network that acted a thinned network's ratio is not."""
    obs, normalizer, features, net_obs, policy, params = probe(5, dataclasses.replace(TINY, dropout=0.3))
    mean, log_std, value = policy.apply(params, features, net_obs)  # acting: the whole network
    actions = mean + jnp.exp(log_std) * jax.random.normal(jax.random.PRNGKey(2), mean.shape)
    batch = {"obs": obs, "actions": actions, "logp": log_prob(mean, log_std, actions, obs["act_mask"]),
             "values": value, "returns": value + 1.0, "advantages": jnp.linspace(-1.0, 1.0, B)}  # fmt: skip
    key = jax.random.PRNGKey(3)
    loss = jax.jit(ppo_loss, static_argnums=(1, 4, 5))

    def metrics(config, reference):
        return loss(params, policy.apply, normalizer, batch, config, B, key, reference)[1]

    against_acting = metrics(PPOConfig(clip=0.05), None)
    assert abs(float(against_acting["approx_kl"])) > 1e-3 and float(against_acting["clip_fraction"]) > 0
    same_mask = metrics(PPOConfig(clip=0.05, dropout_same_mask=True), params)
    assert float(same_mask["approx_kl"]) == 0.0 and float(same_mask["clip_fraction"]) == 0.0
    # the reference is a constant: the gradient is the one against its masked log-probs and values
    ref_mean, ref_log_std, ref_value = policy.apply(params, features, net_obs, key)
    recorded = batch | {"logp": log_prob(ref_mean, ref_log_std, actions, obs["act_mask"]), "values": ref_value}
    gradient = jax.jit(jax.grad(lambda p, b, r: loss(p, policy.apply, normalizer, b, PPOConfig(), B, key, r)[0]))
    for a, b in zip(jax.tree_util.tree_leaves(gradient(params, batch, params)),
                    jax.tree_util.tree_leaves(gradient(params, recorded, None)), strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_dual_clip_bounds_the_surrogate_of_negative_advantages():
    """A sample 20 nats more likely now than under the policy it was scored with, with advantage −1:
    plain PPO's loss is e^20, dual clipping's is dual_clip; positive advantages are clipped as before."""
    obs, normalizer, features, net_obs, policy, params = probe(6)
    mean, log_std, value = policy.apply(params, features, net_obs)
    logp = log_prob(mean, log_std, mean, obs["act_mask"])
    advantages = jnp.where(jnp.arange(B) < B // 2, -1.0, 1.0)
    batch = {"obs": obs, "actions": mean, "logp": logp - 20.0, "values": value, "returns": value,
             "advantages": advantages}  # fmt: skip

    def policy_loss(config):
        return float(ppo_loss(params, policy.apply, normalizer, batch, config, B)[1]["policy_loss"])

    half = B // 2
    np.testing.assert_allclose(policy_loss(PPOConfig()), (half * np.exp(20.0) - half * 1.2) / B, rtol=1e-4)
    np.testing.assert_allclose(policy_loss(PPOConfig(dual_clip=3.0)), (half * 3.0 - half * 1.2) / B, rtol=1e-5)
    with pytest.raises(MetamorphError, match="dual_clip"):
        PPOConfig(dual_clip=0.5)


def test_value_clip_keeps_the_larger_error_and_zero_turns_it_off():
    """Returns 1 above the network's values, recorded values 0.5 below them: clipped at 0.2 around
    the recorded values, the loss keeps the larger error, the clipped value's (1.3 short of the
    return, not 1), so a value moved past the clip learns nothing more; at 0 it is the plain error."""
    obs, normalizer, features, net_obs, policy, params = probe(7)
    mean, log_std, value = policy.apply(params, features, net_obs)
    logp = log_prob(mean, log_std, mean, obs["act_mask"])
    returns = value + 1.0
    batch = {"obs": obs, "actions": mean, "logp": logp, "values": value - 0.5, "returns": returns,
             "advantages": jnp.zeros(B)}  # fmt: skip

    def value_loss(config):
        return float(ppo_loss(params, policy.apply, normalizer, batch, config, B)[1]["value_loss"])

    np.testing.assert_allclose(value_loss(PPOConfig(value_clip=0.2)), 0.5 * 1.3**2, rtol=1e-5)
    np.testing.assert_allclose(value_loss(PPOConfig(value_clip=0.0)), 0.5 * 1.0**2, rtol=1e-5)
    np.testing.assert_allclose(value_loss(PPOConfig(value_clip=1.0)), 0.5 * 1.0**2, rtol=1e-5)
    with pytest.raises(MetamorphError, match="value_clip"):
        PPOConfig(value_clip=-0.1)


def test_weight_decay_shrinks_dense_kernels_only_and_zero_is_adam():
    """With zero gradients Adam moves nothing, so one step of the optimizer shows the decay alone:
    every dense kernel shrinks by learning rate × weight decay, and embeddings, biases, norms, the
    tree bias and the log-std stay; at 0 the optimizer is plain Adam's, step for step."""
    params = probe(3).params
    config = PPOConfig(weight_decay=0.5, warmup_fraction=0.0, learning_rate=0.1, final_lr_fraction=1.0)
    optimizer = make_optimizer(config, total_updates=1)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = optimizer.update(zeros, optimizer.init(params), params)[1]  # step 0: the warm-up's rate 0
    updates, _ = optimizer.update(zeros, state, params)
    moved = optax.apply_updates(params, updates)
    flat = dict(jax.tree_util.tree_leaves_with_path(params))
    for path, after in jax.tree_util.tree_leaves_with_path(moved):
        name = jax.tree_util.keystr(path)
        expected = flat[path] * (1 - 0.1 * 0.5) if path[-1].key == "kernel" else flat[path]
        np.testing.assert_allclose(after, expected, rtol=1e-6, err_msg=name)
    kernels = [p for p in flat if p[-1].key == "kernel"]
    assert len(kernels) >= 8 and any(p[-1].key in ("embedding", "bias", "scale", "log_std") for p in flat)
    grads = jax.tree_util.tree_map(lambda x: jnp.full_like(x, 0.3), params)
    plain, adam = make_optimizer(PPOConfig(), 5), optax.chain(optax.clip_by_global_norm(0.5), optax.adam(
        learning_rate_schedule(PPOConfig(), 5), eps=1e-5))  # fmt: skip
    for a, b in zip(
        jax.tree_util.tree_leaves(plain.update(grads, plain.init(params), params)[0]),
        jax.tree_util.tree_leaves(adam.update(grads, adam.init(params), params)[0]),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(MetamorphError, match="weight_decay"):
        PPOConfig(weight_decay=-1e-3)


def test_log_prob_and_entropy_ignore_masked_tokens():
    mean = jnp.zeros((2, 3))
    log_std = jnp.full((2, 3), -0.5)
    actions = jnp.array([[0.3, 9.0, -0.2], [0.1, -7.0, 0.4]])
    mask = jnp.array([[True, False, True]] * 2)
    expected = jax.scipy.stats.norm.logpdf(actions, mean, jnp.exp(log_std))[:, [0, 2]].sum(-1)
    np.testing.assert_allclose(log_prob(mean, log_std, actions, mask), expected, rtol=1e-6)
    grad = jax.grad(lambda m: log_prob(m, log_std, actions, mask).sum())(mean)
    assert (grad[:, 1] == 0).all()
