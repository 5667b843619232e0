"""Resident memory of a batched environment: per distinct body and per simulation.

    python bench/env_memory.py [--cases 100:128 1000:128 1000:256] [--steps 400]

For each case BODIES:ENVS, in a fresh process: generate BODIES `unimal` bodies, build a flat-task
`VecEnv` with ENVS slots, reset it, step it with uniform random torques (falls and resets bring
other bodies in, filling the spare simulations), and read the resident set size (psutil) after
each stage. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(bodies: int, envs: int, steps: int) -> dict:
    import numpy as np
    import psutil

    from metamorph.bodies import resolve
    from metamorph.env import VecEnv, task_config

    process = psutil.Process()

    def mib() -> int:
        return round(process.memory_info().rss / 2**20)

    with tempfile.TemporaryDirectory() as tmp:
        files, _ = resolve(f"generate:unimal:{bodies}", generate_into=Path(tmp))
        before = mib()
        env = VecEnv(files, task_config("flat"), envs)
        built = mib()
        env.reset(seed=0)
        reset = mib()
        rng = np.random.default_rng(0)
        for _ in range(steps):
            env.step(rng.uniform(-1, 1, (envs, env.max_tokens)))
        return {"bodies": bodies, "envs": envs, "rss_mib_before_env": before, "after_build": built,
                "after_reset": reset, f"after_{steps}_steps": mib(), "simulations": envs + env._num_spares,
                "spares": env._num_spares, "cached_models": len(env._cache)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["100:128", "1000:128", "1000:256"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case in this process
    args = parser.parse_args()
    if args.one:
        bodies, envs = (int(x) for x in args.one.split(":"))
        print(json.dumps(measure(bodies, envs, args.steps)))
        return
    results = []
    for case in args.cases:  # a fresh process each, so one case's heap does not count in the next
        out = subprocess.run([sys.executable, __file__, "--one", case, "--steps", str(args.steps)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "env_memory", "task": "flat", "results": results}, indent=1))


if __name__ == "__main__":
    main()
