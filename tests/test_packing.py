"""Several bodies to a row when acting: the placement, and a packed policy against a padded one."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from test_train import tiny_config

from conftest import EXAMPLES
from metamorph.packing import (
    PACK_AT_MOST,
    PACKING_FIELDS,
    TokenPacker,
    first_fit_decreasing,
    first_fit_on_device,
    first_fit_rows_needed,
    pack_fixed_bodies,
    rows_to_pack,
    worth_packing,
)
from metamorph.policy import Policy, PolicyConfig
from metamorph.ppo import PPOConfig, init_normalizer, policy_inputs, rows_for_microbatches
from metamorph.train import Trainer


def mask_of(counts: np.ndarray, tokens: int) -> np.ndarray:
    return np.arange(tokens)[None, :] < counts[:, None]


def check_placement(packer: TokenPacker, plan: dict[str, np.ndarray], counts: np.ndarray) -> None:
    """Every real token sits in exactly one packed slot, and unpacking finds it there."""
    B, T = packer.num_bodies, packer.tokens
    pack, unpack = plan["pack_index"], plan["unpack_index"]
    assert pack.shape == (packer.rows, T) and unpack.shape == (B, T)
    placed = pack[pack < B * T]
    real = np.flatnonzero(mask_of(counts, T).reshape(-1))
    assert sorted(placed.tolist()) == real.tolist()  # each real token once, nothing else
    for b in range(B):
        assert (pack.reshape(-1)[unpack[b, : counts[b]]] == b * T + np.arange(counts[b])).all()
        assert (unpack[b, counts[b] :] == packer.rows * T).all()  # padding reads past the packed slots


def test_placement_follows_resets_and_says_when_the_rows_are_too_few():
    B, T = 32, 12
    rng = np.random.default_rng(0)
    counts = rng.integers(1, T + 1, B)
    rows = 1 + max(first_fit_decreasing(counts.tolist(), T)) + 1  # room for one row of fragmentation
    packer, twin = TokenPacker(B, T, rows), TokenPacker(B, T, rows)
    assert rows < B  # several bodies share rows
    plans = 0
    for _ in range(400):
        for b in rng.integers(0, B, rng.integers(0, 4)):  # resets with bodies of other lengths
            counts[b] = rng.integers(0, T + 1)  # 0: an empty slot
        plan = packer.plan(mask_of(counts, T))
        needed = 1 + max(first_fit_decreasing(counts.tolist(), T))
        if plan is None:  # only when not even a placement from scratch fits
            assert needed > rows
        else:
            check_placement(packer, plan, counts)
            plans += 1
        # the placement depends on the batches alone: a second packer fed the same ones agrees
        twin_plan = twin.plan(mask_of(counts, T))
        assert (plan is None) == (twin_plan is None)
        if plan is not None:
            assert all((plan[k] == twin_plan[k]).all() for k in plan)
    assert 100 < plans < 400  # both cases were met
    with pytest.raises(ValueError, match="packer is for"):
        packer.plan(np.ones((B, T + 1), bool))


def test_first_fit_on_device_places_as_the_host_does_and_says_when_rows_are_too_few():
    """The update's placement (jitted) puts every real token in one slot, needs the rows the host's
    first fit decreasing needs, and reports a microbatch that needs more as not fitting."""
    B, T = 24, 12
    rng = np.random.default_rng(3)
    place = jax.jit(first_fit_on_device, static_argnums=(1, 2))
    for _ in range(20):
        counts = rng.integers(0, T + 1, B)  # 0: no tokens (takes no slot)
        needed = 1 + max(first_fit_decreasing(counts.tolist(), T))
        assert first_fit_rows_needed(counts[None], T).tolist() == [needed]
        for rows in (needed, needed - 1):
            fields, fits = place(counts, rows, T)
            assert bool(fits) == (rows == needed)
            if fits:
                plan = {k: np.asarray(v) for k, v in fields.items()}
                check_placement(TokenPacker(B, T, rows), plan, counts)


def test_rows_for_microbatches_cover_the_share_asked_for():
    """One length: every microbatch needs the same rows. Two lengths drawn by environment: the rows
    grow with the share of microbatches they must hold, and stay below one row a sample."""
    assert rows_for_microbatches([5], slots=16, unroll_length=8, num_minibatches=4, microbatch_size=32, tokens=10) == 16
    rows = [rows_for_microbatches([2, 9], 16, 8, 4, 32, 10, fit_share=share) for share in (0.5, 0.9, 1.0)]
    assert rows == sorted(rows) and rows[0] < rows[2] < 32
    assert rows_for_microbatches([10], 16, 8, 4, 32, 10) == 32  # nothing shares a row


def test_rows_to_pack():
    assert rows_to_pack([12] * 5, num_bodies=64, tokens=12) == 64  # full rows: nothing to pack
    assert rows_to_pack([6, 6], num_bodies=64, tokens=12) == 32 + 4  # two to a row, a tenth more
    assert rows_to_pack([1, 12], num_bodies=64, tokens=12) <= 64
    assert worth_packing(96, 128) and not worth_packing(97, 128)  # a quarter of the rows saved, at least


def bodies_of_many_lengths(rng: np.random.Generator, B: int, T: int) -> dict[str, np.ndarray]:
    """B random bodies (chains with random branches) of 1..T tokens, padded to T."""
    counts = rng.integers(1, T + 1, B)
    token_mask = mask_of(counts, T)
    tree = np.zeros((B, T, T), np.int32)
    link_token = np.tile(np.arange(T, dtype=np.int32), (B, 1))
    for b, n in enumerate(counts):
        parent = [-1] + [int(rng.integers(0, i)) for i in range(1, n)]
        for i in range(1, n):  # a joint chained to the token before it may share its link
            if parent[i] == i - 1 and rng.random() < 0.7:
                link_token[b, i] = link_token[b, i - 1]
        depth = [0] * n
        for i in range(1, n):
            depth[i] = depth[parent[i]] + 1
        for i in range(n):
            for j in range(n):  # hops through the deepest common ancestor
                a, c = i, j
                while a != c:
                    a, c = (parent[a], c) if depth[a] >= depth[c] else (a, parent[c])
                tree[b, i, j] = depth[i] + depth[j] - 2 * depth[a]
    real = token_mask[..., None]
    return {
        "proprio": np.where(real, rng.normal(size=(B, T, 15)), 0).astype(np.float32),
        "static": np.where(real, rng.normal(size=(B, T, 47)), 0).astype(np.float32),
        "part_ids": np.where(token_mask, rng.integers(1, 60, (B, T)), 0).astype(np.int32),
        "token_mask": token_mask,
        "act_mask": token_mask & (np.arange(T) > 0),
        "tree_distance": tree,
        "link_token": link_token,
    }


@pytest.mark.parametrize(
    ("position", "shared_trunk", "tokens"),
    [
        ("tree", True, "joint"),
        ("learned", True, "joint"),
        ("none", True, "joint"),
        ("tree", False, "joint"),
        ("tree", True, "link"),
        ("learned", False, "link"),
    ],
)
def test_a_packed_policy_computes_what_the_padded_one_does(position, shared_trunk, tokens):
    B, T = 24, 9
    obs = bodies_of_many_lengths(np.random.default_rng(1), B, T)
    assert tokens == "joint" or (obs["link_token"] != np.arange(T)).any()  # some links hold several joints
    config = PolicyConfig(
        d_model=16, num_layers=2, num_heads=2, ff_dim=32, position=position, shared_trunk=shared_trunk, tokens=tokens
    )
    policy = Policy(config, vocab_size=60)
    features, net_obs = policy_inputs(init_normalizer(obs), obs, 10.0)
    params = policy.init(jax.random.PRNGKey(0), features, net_obs)
    # random tree biases and position embeddings (they start at zero or near it)
    params = jax.tree_util.tree_map(lambda p: p + 0.5 * jax.random.normal(jax.random.PRNGKey(p.size), p.shape), params)
    packer = TokenPacker(B, T, rows=1 + max(first_fit_decreasing(obs["token_mask"].sum(axis=1).tolist(), T)))
    packed_obs = {**obs, **packer.plan(obs["token_mask"])}
    pack = packed_obs["pack_index"]
    bodies_per_row = [len(set((row[row < B * T] // T).tolist())) for row in pack]
    assert max(bodies_per_row) >= 2 and packer.rows < B  # attention across bodies would show
    _, packed_net_obs = policy_inputs(init_normalizer(obs), packed_obs, 10.0)
    apply = jax.jit(policy.apply)
    mean, log_std, value = apply(params, features, net_obs)
    packed_mean, packed_log_std, packed_value = apply(params, features, packed_net_obs)
    real = obs["token_mask"]
    np.testing.assert_allclose(np.where(real, packed_mean, 0), np.where(real, mean, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(packed_value, value, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(packed_log_std, log_std)


def test_training_acts_packed_on_one_device_with_the_padded_actions(tmp_path, unimal_files):
    # mostly bodies of 4-5 tokens beside one of 18: three short ones to a row
    bodies = f"{EXAMPLES / 'biped.xml'},{EXAMPLES / 'biped.urdf'}+real:hopper+real:humanoid"
    packed = Trainer(
        tiny_config(tmp_path / "packed", unimal_files, num_envs=32, bodies=bodies, pack_bodies=True), progress=False
    )
    padded = Trainer(
        tiny_config(tmp_path / "padded", unimal_files, num_envs=32, bodies=bodies, pack_bodies=False), progress=False
    )
    narrow = Trainer(tiny_config(tmp_path / "narrow", unimal_files, num_envs=32, pack_bodies=True), progress=False)
    assert not narrow.pack_bodies  # a biped and a UNIMAL body of 12 tokens: too few rows saved
    assert packed.pack_bodies and packed.packed_rows <= 24 and not padded.pack_bodies
    obs = packed.env.reset(0)
    state = packed.init_state(obs, jax.random.PRNGKey(0))
    counts = obs["token_mask"].sum(axis=1)
    assert set(counts.tolist()) == {4, 5, 18}
    assert TokenPacker(32, packed.env.max_tokens, packed.packed_rows).plan(obs["token_mask"]) is not None
    steps = []
    for trainer in (packed, padded):
        trainer.env.reset(0)
        collected = trainer._collect(state, obs, jax.random.PRNGKey(3), _scaler(trainer))
        steps.append(collected.rollout)
        trainer.env.close()
    first_packed, first_padded = (jax.tree_util.tree_map(lambda x: np.asarray(x)[0], r) for r in steps)
    act_mask = first_padded.obs["act_mask"]
    np.testing.assert_allclose(first_packed.actions * act_mask, first_padded.actions * act_mask, atol=1e-5)
    np.testing.assert_allclose(first_packed.log_prob, first_padded.log_prob, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(first_packed.value, first_padded.value, rtol=1e-5, atol=1e-5)


def _scaler(trainer: Trainer):
    from metamorph.train import RewardScaler

    return RewardScaler(trainer.env.num_envs, trainer.config.ppo.discount)


def test_evaluation_acts_packed_with_the_padded_actions():
    """`LoadedPolicy.mean_action_fn` and `sampled_action_fn` (evaluation, rendering, deployment) pack
    a batch of bodies of many lengths and leave a single body, or bodies that fill their rows, padded."""
    from metamorph.checkpoint import LoadedPolicy
    from metamorph.vocabulary import DEFAULT_VOCABULARY

    B, T = 24, 9
    obs = bodies_of_many_lengths(np.random.default_rng(2), B, T)
    policy = Policy(PolicyConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, position="tree"), vocab_size=60)
    normalizer = init_normalizer(obs)
    params = policy.init(jax.random.PRNGKey(0), *policy_inputs(normalizer, obs, 10.0))
    params = jax.tree_util.tree_map(lambda p: p + 0.5 * jax.random.normal(jax.random.PRNGKey(p.size), p.shape), params)
    loaded = LoadedPolicy(policy, params, normalizer, DEFAULT_VOCABULARY, {"config": {"ppo": {"obs_clip": 10.0}}}, None)
    padded = jax.jit(lambda o, key, d: loaded.inference_fn()(o, key, d).actions, static_argnums=2)
    packed = pack_fixed_bodies()(obs)
    assert set(PACKING_FIELDS) <= set(packed) and len(packed["pack_index"]) < B
    real = obs["token_mask"]
    mean = loaded.mean_action_fn()(obs)
    np.testing.assert_allclose(np.where(real, mean, 0), np.where(real, padded(obs, None, True), 0), atol=1e-5)
    sampled = loaded.sampled_action_fn(seed=4)(obs)  # its first call draws with fold_in(key(4), 0)
    key = jax.random.fold_in(jax.random.PRNGKey(4), 0)
    np.testing.assert_allclose(np.where(real, sampled, 0), np.where(real, padded(obs, key, False), 0), atol=1e-5)
    one = {k: v[:1] for k, v in obs.items()}
    assert pack_fixed_bodies()(one) is one
    full = {**obs, "token_mask": np.ones((B, T), bool)}
    assert pack_fixed_bodies()(full) is full


@pytest.mark.slow  # ~17 s; packed acting is an option, and test_train's resume test guards the default
def test_a_packed_run_resumes_exactly(tmp_path, unimal_files):
    """Placement starts afresh each collection, so a run killed after a checkpoint and resumed acts,
    and rounds, as the uninterrupted one (`test_train`'s resume test runs a set not worth packing)."""
    bodies = f"{EXAMPLES / 'biped.xml'},{EXAMPLES / 'biped.urdf'}+real:hopper+real:humanoid"

    def config(run: str, **overrides):
        return tiny_config(
            tmp_path / run,
            unimal_files,
            bodies=bodies,
            num_envs=32,
            total_steps=4 * 32 * 8,
            pack_bodies=True,
            **overrides,
        )

    straight = Trainer(config("a"), progress=False)
    assert straight.pack_bodies
    straight.run()
    Trainer(config("b"), progress=False).run(max_updates=2)  # stops after the checkpoint of update 2
    Trainer(config("b", resume=True), progress=False).run()
    rows = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()] for run in "ab"]
    assert [m["update"] for m in rows[1]] == [1, 2, 3, 4]
    for x, y in zip(*rows, strict=True):
        assert x["value_loss"] == y["value_loss"] and x["policy_loss"] == y["policy_loss"]


@pytest.mark.slow  # ~24 s; the packed update is an option (test_ppo checks it equals the padded one)
def test_a_packed_update_is_decided_on_the_bodies_and_resumes_exactly(tmp_path, unimal_files):
    """``--ppo.pack-rows auto`` picks the rows from the training bodies (config.json keeps the number,
    so a resumed run packs alike), and a run killed after a checkpoint and resumed repeats the
    uninterrupted one exactly (`test_ppo` checks that a packed update is the padded one)."""
    bodies = f"{EXAMPLES / 'biped.xml'},{EXAMPLES / 'biped.urdf'}+real:hopper+real:humanoid"

    def config(run: str, resume: bool = False, **ppo):
        ppo = PPOConfig(epochs=2, num_minibatches=2, **ppo)
        return tiny_config(tmp_path / run, unimal_files, bodies=bodies, num_envs=32, total_steps=4 * 32 * 8,
                           resume=resume, ppo=ppo)  # fmt: skip

    straight = Trainer(config("a", pack_rows="auto"), progress=False)
    rows = straight.config.ppo.pack_rows
    counts = [entry.tokens.num_tokens for entry in straight.env.bodies]
    assert rows == rows_for_microbatches(counts, 32, 8, 2, PPOConfig().microbatch_size, straight.env.max_tokens)
    assert 0 < rows < 128 * PACK_AT_MOST and straight.config.ppo.token_bucket == 0  # packed, so not trimmed
    straight.run()
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["config"]["ppo"]
    assert saved["pack_rows"] == rows
    Trainer(config("b", pack_rows="auto"), progress=False).run(max_updates=2)
    Trainer(config("b", resume=True, pack_rows="auto"), progress=False).run()
    runs = {run: [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in "ab"}  # fmt: skip
    assert [m["update"] for m in runs["b"]] == [1, 2, 3, 4]
    for x, y in zip(runs["a"], runs["b"], strict=True):
        assert x["value_loss"] == y["value_loss"] and x["policy_loss"] == y["policy_loss"]
