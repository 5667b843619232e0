"""Benchmark: training throughput against its two limits, and policy latency.

    python bench/train_throughput.py [--updates 4] [--presets small metamorph] [--pack-rows auto]

For each policy preset on UNIMAL-100, flat task, the default training shape (128 environments ×
64 steps an update): training samples/s (collection + update, after compilation), the
physics-only limit (the same environments stepped with zero actions and nothing else) and the
FLOP-only limit (model FLOPs per sample ÷ measured float32 matmul FLOP/s of this CPU), and the
ratio of training to the smaller limit (target ≥ 0.5). Latency: one jitted call computing the
torques of one body (target < 2 ms).

Where the time goes, per update (seconds, medians of the timed updates): collection split into
physics (MuJoCo stepping with rewards, falls and resets), observation (building the token arrays),
inference (the jitted policy acting, and the value bootstrap) and transfer (host arrays to JAX and
back, and stacking the rollout); the update split into forward (the loss over every epoch's
minibatches, no gradient), backward (value-and-gradient minus forward) and optimizer and the rest
(the whole update minus value-and-gradient: statistics, GAE, shuffling, Adam), all of the padded
update (its FLOP fraction too), and the update as training runs it (``as_trained``: packed where
`--ppo.pack-rows` asks for it, or with padding trimmed where `--ppo.token-bucket auto` chose to: not
on UNIMAL-100, which it trimmed for an hour on 2026-12-05, when `auto` cut at 10 % of the slots
instead of 20 %). The training samples/s are of training as it runs. Memory: resident
set after the timed updates and the process's peak. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import psutil

from metamorph.ppo import PPOConfig, policy_inputs, ppo_loss, ppo_update
from metamorph.train import RewardScaler, TrainConfig, Trainer

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train"


def matmul_flops_per_s() -> float:
    """Sustained float32 matmul rate of this machine through XLA (all cores)."""
    n = 1024
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    start = time.perf_counter()
    reps = 20
    for _ in range(reps):
        f(a).block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def flops(fn, *args) -> float:
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis["flops"])


def physics_limit(trainer: Trainer, steps: int = 30) -> float:
    env = trainer.env
    env.reset(seed=0)
    actions = np.zeros((env.num_envs, env.max_tokens))
    for _ in range(5):
        env.step(actions)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    return env.num_envs * steps / (time.perf_counter() - start)


class PhaseClock:
    """Wraps a trainer's collection pieces and adds up the time spent in each phase."""

    def __init__(self, trainer: Trainer):
        self.seconds: dict[str, float] = defaultdict(float)
        env = trainer.env
        self._wrap(env, "step", "env_step")
        self._wrap(env, "_observe", "observation")
        for name in ("_act", "_value"):
            self._wrap(trainer, name, "inference", block=True)
        for name in ("_global", "_local"):
            self._wrap(trainer, name, "transfer", block=True)

    def _wrap(self, owner, name: str, phase: str, block: bool = False) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            if block:
                jax.block_until_ready(out)
            self.seconds[phase] += time.perf_counter() - start
            return out

        setattr(owner, name, timed)

    def reset(self) -> dict[str, float]:
        out = dict(self.seconds)
        self.seconds.clear()
        return out


def collection_phases(trainer: Trainer, state, updates: int) -> dict[str, float]:
    """Median seconds per collection of each phase (physics = stepping minus observations; transfer
    includes stacking the rollout, the rest of the collection's host work)."""
    clock = PhaseClock(trainer)
    obs = trainer.env.reset(seed=1)
    key = jax.random.PRNGKey(1)
    scaler = RewardScaler(trainer.config.num_envs, trainer.config.ppo.discount)
    rows = []
    for _ in range(1 + updates):  # the first collection starts every episode afresh: not timed
        clock.reset()
        start = time.perf_counter()
        collected = trainer._collect(state, obs, key, scaler)
        obs, key = collected.obs, collected.key
        total = time.perf_counter() - start
        t = clock.reset()
        step, observe = t.get("env_step", 0.0), t.get("observation", 0.0)
        inference = t.get("inference", 0.0)
        # transfer_and_host: moving arrays to and from JAX, rewards scaling, stacking the rollout
        rows.append({"physics": step - observe, "observation": observe, "inference": inference,
                     "transfer_and_host": total - step - inference, "total": total})  # fmt: skip
    return {k: round(float(np.median([r[k] for r in rows[1:]])), 3) for k in rows[0]}


def update_phases(trainer: Trainer, state, rollout, repeats: int) -> dict[str, float]:
    """Median seconds of one padded update's forward passes, backward passes and the rest, each
    over the same microbatches that update uses (every epoch's minibatches), and of the update as
    training runs it (``as_trained``: packed or trimmed where `--ppo.pack-rows` or
    `--ppo.token-bucket` chose to; its passes have other shapes, so the breakdown is of the padded
    one)."""
    ppo = dataclasses.replace(trainer.config.ppo, token_bucket=0, pack_rows=0)
    transitions, _ = rollout
    data = {"obs": transitions.obs, "actions": transitions.actions, "logp": transitions.log_prob,
            "values": transitions.value, "rewards": transitions.reward}  # fmt: skip
    num_samples = transitions.reward.size
    data = jax.tree_util.tree_map(lambda x: x.reshape(num_samples, *x.shape[2:]), data)
    data["returns"] = data["advantages"] = data.pop("rewards")
    minibatch = num_samples // ppo.num_minibatches
    micro = minibatch if not 0 < ppo.microbatch_size < minibatch else ppo.microbatch_size
    while minibatch % micro:
        micro -= 1
    passes = ppo.epochs * ppo.num_minibatches * (minibatch // micro)

    def over_passes(fn):
        def run(params, normalizer, data):
            stacked = jax.tree_util.tree_map(lambda x: x.reshape(-1, micro, *x.shape[1:]), data)
            count = jax.tree_util.tree_leaves(stacked)[0].shape[0]

            def body(total, i):
                chunk = jax.tree_util.tree_map(lambda x: x[i % count], stacked)
                return total + fn(params, normalizer, chunk), None

            return jax.lax.scan(body, 0.0, jnp.arange(passes))[0]

        return jax.jit(run)

    apply = trainer.policy.apply
    padded_update = jax.jit(
        lambda state, rollout, bootstrap, key: ppo_update(state, rollout, bootstrap, key, apply, trainer.optimizer, ppo)
    )
    forward = over_passes(lambda p, n, c: ppo_loss(p, apply, n, c, ppo, minibatch)[0])
    grad_fn = jax.grad(lambda p, n, c: ppo_loss(p, apply, n, c, ppo, minibatch)[0])
    backward = over_passes(lambda p, n, c: leaf_sum(grad_fn(p, n, c)))
    times = defaultdict(list)
    key = jax.random.PRNGKey(2)
    for name, fn, args in (("forward", forward, (state.params, state.normalizer, data)),
                           ("forward_and_backward", backward, (state.params, state.normalizer, data)),
                           ("update", padded_update, (state, *rollout, key)),
                           ("as_trained", trainer._update, (state, *rollout, key))):  # fmt: skip
        jax.block_until_ready(fn(*args))  # compile
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - start)
    median = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "forward": round(median["forward"], 3),
        "backward": round(median["forward_and_backward"] - median["forward"], 3),
        "optimizer_and_rest": round(median["update"] - median["forward_and_backward"], 3),
        "total": round(median["update"], 3),
        "as_trained": round(median["as_trained"], 3),
        "token_bucket_as_trained": trainer.config.ppo.token_bucket,
        "pack_rows_as_trained": trainer.config.ppo.pack_rows,
    }


def leaf_sum(tree) -> jax.Array:
    """One number that depends on every gradient leaf (so XLA computes them all)."""
    return sum(jnp.sum(leaf) for leaf in jax.tree_util.tree_leaves(tree))


SHAPES = {"small": (128, 64), "metamorph": (32, 32)}
"""(environments, steps) per update: the default for the CPU preset; the MetaMorph-size network
costs ~40× more FLOPs a sample, so its update is timed on a smaller batch."""


def measure(preset: str, updates: int, matmul_rate: float, pack_rows: str | None = None) -> dict:
    num_envs, unroll = SHAPES[preset]
    ppo = PPOConfig()
    if pack_rows is not None:
        ppo = dataclasses.replace(ppo, pack_rows=pack_rows if pack_rows == "auto" else int(pack_rows))
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(bodies=str(UNIMAL), model=preset, run_dir=Path(tmp), total_steps=10**9,
                             checkpoint_every=10**6, num_envs=num_envs, unroll_length=unroll, ppo=ppo)  # fmt: skip
        trainer = Trainer(config, progress=False)
        obs = trainer.env.reset(seed=0)
        state = trainer.init_state(obs, jax.random.PRNGKey(0))
        # FLOPs per sample: one forward to act, and epochs × (forward + backward) to learn
        batch = {k: v for k, v in obs.items() if k != "body_id"}

        def forward(params, batch):
            features, net_obs = policy_inputs(state.normalizer, batch, 10.0)
            return trainer.policy.apply(params, features, net_obs)

        def loss(params, batch):
            mean, _, value = forward(params, batch)
            return jnp.sum(mean) + jnp.sum(value)

        forward_flops = flops(forward, state.params, batch) / config.num_envs
        train_flops = flops(jax.grad(loss), state.params, batch) / config.num_envs
        per_sample = forward_flops + config.ppo.epochs * train_flops
        flop_limit = matmul_rate / per_sample

        trainer.run(max_updates=1 + updates)  # the first update compiles; time the others
        rows = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()][1:]
        elapsed = sum(r["collect_s"] + r["update_s"] for r in rows)
        train_rate = len(rows) * config.steps_per_update / elapsed
        collect_share = sum(r["collect_s"] for r in rows) / elapsed
        physics = physics_limit(trainer)
        state = trainer.state
        collect = collection_phases(trainer, state, updates)
        rollout = trainer._collect(state, trainer.env.reset(seed=3), jax.random.PRNGKey(3),
                                   RewardScaler(config.num_envs, config.ppo.discount))[:2]  # fmt: skip
        update = update_phases(trainer, state, rollout, updates)
        rss_mib = psutil.Process().memory_info().rss / 2**20
        update_flops = config.ppo.epochs * train_flops * config.steps_per_update

        # latency of what a controller runs: the torque means of one body (XLA drops the value
        # head, which acting does not need)
        one = {k: v[:1] for k, v in batch.items()}
        act = jax.jit(lambda params, batch: forward(params, batch)[0])
        act(state.params, one).block_until_ready()
        start = time.perf_counter()
        for _ in range(200):
            act(state.params, one).block_until_ready()
        latency_ms = (time.perf_counter() - start) / 200 * 1000

        from metamorph.policy import count_params

        return {
            "preset": preset,
            "params": count_params(state.params),
            "samples_per_update": config.steps_per_update,
            "train_samples_per_s": round(train_rate),
            "collection_share_of_time": round(collect_share, 3),
            "physics_limit_samples_per_s": round(physics),
            "model_gflop_per_sample": round(per_sample / 1e9, 5),
            "flop_limit_samples_per_s": round(flop_limit),
            "ratio_to_smaller_limit": round(train_rate / min(physics, flop_limit), 3),
            # simulation and learning share the cores, so their times add even at their limits
            "best_ratio_when_times_add": round(1 / (1 / physics + 1 / flop_limit) / min(physics, flop_limit), 3),
            "policy_latency_ms_one_body": round(latency_ms, 3),
            "update_flop_fraction": round(update_flops / matmul_rate / update["total"], 3),
            "collect_phases_s": collect,
            "update_phases_s": update,
            "rss_mib_after_updates": round(rss_mib),
            "peak_rss_mib_of_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3, help="timed updates after the compiling one")
    parser.add_argument("--presets", nargs="+", default=["small", "metamorph"])
    parser.add_argument("--pack-rows", help="training's --ppo.pack-rows (auto, 0 or rows); default: the default's")
    args = parser.parse_args()
    rate = matmul_flops_per_s()
    results = [measure(p, args.updates, rate, args.pack_rows) for p in args.presets]
    print(json.dumps({"benchmark": "train_throughput", "matmul_gflop_per_s": round(rate / 1e9, 1),
                      "task": "flat", "bodies": "UNIMAL-100", "results": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
