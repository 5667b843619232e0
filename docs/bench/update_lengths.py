"""Where the 1000-body update's time goes: one PPO update timed on a fixed rollout, by token length.

    python docs/bench/update_lengths.py BODIES            # e.g. generate:unimal:1000

Builds the default run's `Trainer` on BODIES, collects one rollout with the untrained policy, then
compiles `ppo_update` for that rollout three ways and times each four times, alternating: untrimmed
(``--ppo.token-bucket 0``, XLA's defaults), trimmed with buckets of 4 as training compiles it
(``TRIMMED_COMPILER_OPTIONS``: no fusion emitters), and trimmed with XLA's defaults; ``untrimmed2``
repeats the first as a check on drift. ``MB=128`` in the environment sets ``--ppo.microbatch-size``.

To split the trimmed update into its lengths, apply ``docs/bench/update_lengths.patch`` (against
7575131) to a worktree and run this with ``PYTHONPATH=WORKTREE`` from outside the checkout and
``METAMORPH_EXP`` set: ``fixed_L`` cuts every microbatch to L slots (wrong numbers, right timing),
``const_L`` keeps the switch but always takes L's branch, ``sort_only`` sorts by length without
trimming, ``switch_full`` switches between branches that all keep every slot. The trimmed rows
are then those variants. Prints one JSON line of seconds per update. Run alone on the machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax

from metamorph.ppo import TRIMMED_COMPILER_OPTIONS, ppo_update
from metamorph.train import RewardScaler, TrainConfig, Trainer


def main() -> None:
    bodies = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(bodies=bodies, run_dir=Path(tmp), total_steps=10**9, checkpoint_every=10**6)
        trainer = Trainer(config, progress=False)
        obs = trainer.env.reset(seed=0)
        state = trainer.init_state(obs, jax.random.PRNGKey(0))
        scaler = RewardScaler(config.num_envs, config.ppo.discount)
        rollout = trainer._collect(state, obs, jax.random.PRNGKey(3), scaler)[:2]
        variants = {
            "untrimmed": (0, {}),
            "trimmed_no_emitters": (4, dict(TRIMMED_COMPILER_OPTIONS)),
            "trimmed_emitters": (4, {}),
            "untrimmed2": (0, {}),
        }
        microbatch = int(os.environ.get("MB", trainer.config.ppo.microbatch_size))
        updates = {}
        for name, (bucket, options) in variants.items():
            ppo = dataclasses.replace(trainer.config.ppo, token_bucket=bucket, microbatch_size=microbatch)
            updates[name] = jax.jit(
                lambda s, r, b, k, ppo=ppo: ppo_update(s, r, b, k, trainer.policy.apply, trainer.optimizer, ppo),
                compiler_options=options,
            )
            jax.block_until_ready(updates[name](state, *rollout, jax.random.PRNGKey(1)))  # compile
        seconds = {name: [] for name in updates}
        for _ in range(4):
            for name, update in updates.items():
                start = time.perf_counter()
                jax.block_until_ready(update(state, *rollout, jax.random.PRNGKey(1)))
                seconds[name].append(round(time.perf_counter() - start, 3))
        print(json.dumps({"bodies": bodies, "microbatch": microbatch, "exp": os.environ.get("METAMORPH_EXP", ""),
                          **seconds}))  # fmt: skip


if __name__ == "__main__":  # generating bodies starts processes
    main()
