"""Benchmark: training throughput against its two limits, and policy latency.

    python bench/train_throughput.py [--updates 4] [--presets small metamorph]

For each policy preset on UNIMAL-100, flat task, the default training shape (128 environments ×
64 steps an update): training samples/s (collection + update, after compilation), the
physics-only limit (the same environments stepped with zero actions and nothing else) and the
FLOP-only limit (model FLOPs per sample ÷ measured float32 matmul FLOP/s of this CPU), and the
ratio of training to the smaller limit (target ≥ 0.5). Latency: one jitted call computing the
torques of one body (target < 2 ms). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from metamorph.ppo import policy_inputs
from metamorph.train import TrainConfig, Trainer

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


SHAPES = {"small": (128, 64), "metamorph": (32, 32)}
"""(environments, steps) per update: the default for the CPU preset; the MetaMorph-size network
costs ~40× more FLOPs a sample, so its update is timed on a smaller batch."""


def measure(preset: str, updates: int, matmul_rate: float) -> dict:
    num_envs, unroll = SHAPES[preset]
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(bodies=str(UNIMAL), model=preset, run_dir=Path(tmp), total_steps=10**9,
                             checkpoint_every=10**6, num_envs=num_envs, unroll_length=unroll)  # fmt: skip
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
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3, help="timed updates after the compiling one")
    parser.add_argument("--presets", nargs="+", default=["small", "metamorph"])
    args = parser.parse_args()
    rate = matmul_flops_per_s()
    results = [measure(p, args.updates, rate) for p in args.presets]
    print(json.dumps({"benchmark": "train_throughput", "matmul_gflop_per_s": round(rate / 1e9, 1),
                      "task": "flat", "bodies": "UNIMAL-100", "results": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
