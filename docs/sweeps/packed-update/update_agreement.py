"""How far a packed update lands from the padded one, against how far the trimmed update (the
default) lands from it, from the same trained state, rollout and key.

    python docs/sweeps/packed-update/update_agreement.py RUN [RUN …]

For each RUN (a finished 1M-step run of the default's bodies, e.g. a `packed-update` trial): its
last checkpoint, one rollout of the default's shape collected with it, then one whole PPO update
(4 epochs x 16 minibatches) from that state under three layouts: padded (`--ppo.token-bucket 0`),
trimmed (buckets of 4, the default) and packed (`--ppo.pack-rows auto`). Prints JSON: for trimmed
and packed, the norm of their parameter step's difference from the padded step, relative to the
padded step's norm, and the cosine between the steps. If packing changed more than rounding, its
step would sit farther from the padded one than the trimmed step does.
"""

import dataclasses
import functools
import json
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def main() -> None:
    from metamorph.checkpoint import find_checkpoint, restore
    from metamorph.ppo import ppo_update, resolve_pack_rows
    from metamorph.train import RewardScaler, Trainer, config_from_json

    results = []
    for run in map(Path, sys.argv[1:]):
        saved = config_from_json(json.loads((run / "config.json").read_text())["config"])
        config = dataclasses.replace(saved, run_dir=Path(tempfile.mkdtemp()) / "run", resume=False, init_from=None)
        trainer = Trainer(config, progress=False)
        obs = trainer.env.reset(seed=0)
        target = trainer.init_state(obs, jax.random.PRNGKey(0))
        state, *_ = restore(find_checkpoint(run), target)
        scaler = RewardScaler(config.num_envs, config.ppo.discount)
        rollout = trainer._collect(state, obs, jax.random.PRNGKey(1), scaler)[:2]
        counts = [entry.tokens.num_tokens for entry in trainer.env.bodies]
        base = dataclasses.replace(config.ppo, pack_rows=0, token_bucket=0)
        layouts = {
            "padded": base,
            "trimmed": dataclasses.replace(base, token_bucket=4),
            "packed": resolve_pack_rows(dataclasses.replace(base, pack_rows="auto"), counts,
                                        trainer.env.max_tokens, config.num_envs, config.unroll_length),
        }  # fmt: skip
        apply, optimizer = trainer.policy.apply, trainer.optimizer
        steps = {}
        for name, ppo in layouts.items():
            update = jax.jit(functools.partial(ppo_update, apply_fn=apply, optimizer=optimizer, config=ppo))
            new_state, _ = update(state, *rollout, jax.random.PRNGKey(2))
            delta = jax.tree_util.tree_map(jnp.subtract, new_state.params, state.params)
            steps[name] = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(delta)])
        padded = steps["padded"]
        row = {"run": str(run), "pack_rows": layouts["packed"].pack_rows}
        row["padded_step_norm"] = float(np.linalg.norm(padded))
        for name in ("trimmed", "packed"):
            step = steps[name]
            row[name] = {
                "relative_distance_to_padded": float(np.linalg.norm(step - padded) / np.linalg.norm(padded)),
                "cosine_with_padded": float(step @ padded / np.linalg.norm(step) / np.linalg.norm(padded)),
            }
        print(json.dumps(row), flush=True)
        results.append(row)
    (Path(__file__).parent / "update_agreement.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
