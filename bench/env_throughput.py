"""Benchmark: batched environment throughput against raw MuJoCo physics on the same bodies.

    python bench/env_throughput.py [--steps 100] [--nthread 2] [--quick]

Prints one JSON object:
- ``unimal100``: for 64, 256 and 1024 slots over the UNIMAL-100 bodies, flat task, zero actions:
  env steps/s (observations, rewards, episode ends and resets included), raw physics steps/s
  (the same models and threads, ``mj_step`` × substeps and nothing else), their ratio (target
  ≥ 0.7) and resident memory per slot.
- ``distinct``: 256 slots holding 1, 100 or 1000 distinct generated bodies (target: throughput
  does not drop as the number of distinct bodies grows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mujoco
import numpy as np
import psutil

from metamorph.design import design_space
from metamorph.env import VecEnv
from metamorph.generate import generate_bodies
from metamorph.morphology import load_morphology

WARMUP = 300  # control steps before measuring: bodies land, resets find spare MjData (steady state)

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train" / "xml"


def _rss() -> int:
    return psutil.Process().memory_info().rss


def env_rate(env: VecEnv, steps: int) -> float:
    actions = np.zeros((env.num_envs, env.max_tokens))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    return env.num_envs * steps / (time.perf_counter() - start)


class RawPhysics:
    """The env's current models and states, copied, stepped by as many threads: physics only."""

    def __init__(self, env: VecEnv, nthread: int):
        self.models = list(env.models)
        self.datas = []
        for model, data in zip(self.models, env.datas, strict=True):
            copy = mujoco.MjData(model)
            mujoco.mj_copyData(copy, model, data)
            self.datas.append(copy)
        self.substeps = env.task.substeps
        self.pool = ThreadPoolExecutor(nthread)
        self.chunks = [range(k, len(self.models), nthread) for k in range(nthread)]

    def _run(self, slots: range) -> None:
        for i in slots:
            mujoco.mj_step(self.models[i], self.datas[i], nstep=self.substeps)

    def rate(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            list(self.pool.map(self._run, self.chunks))
        return len(self.models) * steps / (time.perf_counter() - start)


def measure(bodies, num_envs: int, steps: int, nthread: int, rounds: int = 3) -> dict:
    """Env and raw rates measured alternately, best of ``rounds`` each (this VM's speed drifts)."""
    before = _rss()
    env = VecEnv(bodies, "flat", num_envs=num_envs, nthread=nthread)
    env.reset(seed=0)
    env_rate(env, WARMUP)  # warm up: bodies land, resets find spare MjData
    raw = RawPhysics(env, nthread)
    raw.rate(5)
    env_sps, raw_sps = [], []
    for _ in range(rounds):
        env_sps.append(env_rate(env, steps))
        raw_sps.append(raw.rate(steps))
    memory = _rss() - before  # steady state: spare MjData included
    env.close()
    raw.pool.shutdown()
    return {
        "slots": num_envs,
        "distinct_bodies": len(bodies),
        "env_steps_per_s": round(max(env_sps)),
        "raw_physics_steps_per_s": round(max(raw_sps)),
        "ratio": round(max(env_sps) / max(raw_sps), 3),
        "memory_mb": round(memory / 2**20, 1),
        "memory_per_slot_kb": round(memory / num_envs / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--nthread", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="64 slots and 1/100 bodies only, fewer steps")
    parser.add_argument("--one", nargs=3, metavar=("FOLDER", "BODIES", "SLOTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a single measurement, in its own process so its memory figure is its own
        folder, count, slots = Path(args.one[0]), int(args.one[1]), int(args.one[2])
        bodies = [load_morphology(p) for p in sorted(folder.glob("*.xml"))[:count]]
        print(json.dumps(measure(bodies, slots, args.steps, args.nthread)))
        return

    steps = 20 if args.quick else args.steps

    def run(folder: Path, count: int, slots: int) -> dict:
        command = [sys.executable, __file__, "--one", str(folder), str(count), str(slots), "--steps", str(steps),
                   "--nthread", str(args.nthread)]  # fmt: skip
        return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    results: dict = {"unimal100": [run(UNIMAL, 100, n) for n in ((64,) if args.quick else (64, 256, 1024))]}
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate_bodies(design_space("unimal"), 100 if args.quick else 1000, seed=0, workers=args.nthread)
        for body in generated.bodies:
            (Path(tmp) / f"{body.name}.xml").write_text(body.xml)
        counts = (1, 100) if args.quick else (1, 100, 1000)
        results["distinct"] = [run(Path(tmp), k, 256) for k in counts]
    results.update(
        {
            "benchmark": "env_throughput",
            "task": "flat",
            "substeps": 4,
            "nthread": args.nthread,
            "actions": "zero",
            "warmup_steps": WARMUP,
            "mujoco": mujoco.__version__,
        }
    )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
