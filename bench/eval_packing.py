"""Benchmark: evaluation's policy with bodies packed several to a row against one padded row each.

    python bench/eval_packing.py RUN [--bodies SPEC …] [--steps 200] [--repeats 3]

For each body set (default: UNIMAL-100 from ``../shared`` and the curated real robots), one
`VecEnv` slot a body as `metamorph eval` lays them out, and the run's policy acting with its mean
through `LoadedPolicy.mean_action_fn(pack=…)`: seconds for ``--steps`` control steps of every slot
(simulation included, as evaluation spends them), alternating packed and padded ``--repeats``
times so that a drift of this machine's speed hits both alike. Also the largest difference of the
two actors' torques on the first observation, and how many rows the packed batch has. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from metamorph.checkpoint import load_policy
from metamorph.env import VecEnv
from metamorph.evaluate import load_eval_bodies
from metamorph.observation import policy_obs
from metamorph.packing import pack_fixed_bodies

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train"


def time_actor(env: VecEnv, act, steps: int) -> float:
    obs = env.reset(seed=0)
    started = time.perf_counter()
    for _ in range(steps):
        obs, *_ = env.step(act(obs))
    return time.perf_counter() - started


def bench_set(loaded, spec: str, steps: int, repeats: int, run: Path) -> dict:
    bodies, failed, _ = load_eval_bodies(loaded, spec, run)  # as `metamorph eval` loads them
    config = loaded.policy.config
    env = VecEnv(bodies, loaded.task(), len(bodies), nthread=2, vocabulary=loaded.vocabulary,
                 assignment=np.arange(len(bodies)), autoreset=False, sampling="uniform",
                 frame=config.frame, link_geometry=config.link_geometry)  # fmt: skip
    actors = {"padded": loaded.mean_action_fn(pack=False), "packed": loaded.mean_action_fn(pack=True)}
    first = env.reset(seed=0)
    difference = float(np.max(np.abs(actors["packed"](first) - actors["padded"](first)) * first["act_mask"]))
    rows = len(pack_fixed_bodies()(policy_obs(first)).get("pack_index", first["token_mask"]))
    seconds: dict[str, list[float]] = {name: [] for name in actors}
    for _ in range(repeats):
        for name, act in actors.items():
            seconds[name].append(round(time_actor(env, act, steps), 3))
    env.close()
    counts = first["token_mask"].sum(axis=1)
    return {
        "bodies": spec,
        "slots": len(bodies),
        "token_slots": int(env.max_tokens),
        "mean_tokens": round(float(counts.mean()), 2),
        "packed_rows": rows,
        "not_loaded": len(failed),
        "largest_torque_difference": difference,
        "seconds": seconds,
        "packed_over_padded": round(statistics.median(seconds["packed"]) / statistics.median(seconds["padded"]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--bodies", nargs="+", default=[str(UNIMAL), "real:all"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    loaded = load_policy(args.run)
    sets = [bench_set(loaded, spec, args.steps, args.repeats, args.run) for spec in args.bodies]
    print(json.dumps({"command": "python bench/eval_packing.py " + " ".join(sys.argv[1:]), "sets": sets}, indent=2))


if __name__ == "__main__":
    main()
