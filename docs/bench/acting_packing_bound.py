"""One-off bound (issue 14, target 5): what would packing bodies into rows save when acting?

    python docs/bench/acting_packing_bound.py

The default policy acting on the 128 slots of a `generate:unimal:1000` batch, padded to its 21 token
slots, against 64 rows of 21 (about what 128 bodies of 9.9 tokens on average would fill if packed
several to a row, before the cost of packing) and 128 rows of 10 slots. Times one jitted acting
call (sampled actions, values) a control step, 3 rounds of 200 calls each; prints ms per call.
"""

from __future__ import annotations

import json
import tempfile
import time

import jax
import numpy as np

from metamorph.observation import policy_obs
from metamorph.train import TrainConfig, Trainer


def cut(obs: dict[str, np.ndarray], rows: int, slots: int) -> dict[str, np.ndarray]:
    """The first ``rows`` slots of a batch, each cut to its first ``slots`` token slots."""
    out = {}
    for name, value in obs.items():
        value = value[:rows, :slots]
        out[name] = value[:, :, :slots] if name == "tree_distance" else value
    return out


def main() -> None:
    trainer = Trainer(TrainConfig(bodies="generate:unimal:1000", run_dir=tempfile.mkdtemp()), progress=False)
    first = trainer.env.reset(0)
    state = trainer.init_state(first, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    ms: dict[str, list[float]] = {}
    for _ in range(3):
        for rows, slots in [(128, 21), (64, 21), (128, 10)]:
            obs = {k: jax.device_put(v) for k, v in cut(policy_obs(first), rows, slots).items()}
            jax.block_until_ready(trainer._act(state.params, state.normalizer, obs, key))  # compile
            started = time.perf_counter()
            for _ in range(200):
                np.asarray(trainer._act(state.params, state.normalizer, obs, key).actions)
            ms.setdefault(f"{rows}x{slots}", []).append(round((time.perf_counter() - started) / 200 * 1e3, 3))
    trainer.env.close()
    print(json.dumps({"command": "python docs/bench/acting_packing_bound.py", "ms_per_call": ms}))


if __name__ == "__main__":
    main()
