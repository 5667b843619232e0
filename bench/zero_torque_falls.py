"""How often bodies fall under zero torque, and how many links they rest on.

    python bench/zero_torque_falls.py FOLDER [FOLDER ...] [--noise 0.1 0.0] [--steps 1000]

For each body folder and reset noise: one zero-torque episode per body on the flat task (its fall
rule, `--steps` control steps, reset seed 0); the share of episodes that end in a fall and the
median step of those falls. Then the links each body rests on after settling 2 s on a floor under
zero action (as the generator's validity check places it), and the fall share of the first noise
value by that count. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import mujoco
import numpy as np

from metamorph.env import VecEnv, task_config
from metamorph.generate import _with_floor, body_files, links_on_floor
from metamorph.morphology import load_morphology


def zero_torque_episodes(files: list[Path], noise: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(fell, step of the fall or `steps`) per body."""
    task = dataclasses.replace(task_config("flat"), reset_noise=noise, episode_length=steps)
    n = len(files)
    env = VecEnv(files, task, num_envs=n, assignment=list(range(n)), autoreset=False)
    obs = env.reset(seed=0)
    fell, ended = np.zeros(n, bool), np.zeros(n, bool)
    fall_step = np.full(n, steps)
    for t in range(steps):
        obs, _, terminated, truncated, _ = env.step(np.zeros(obs["act_mask"].shape, np.float32))
        new_fall = terminated & ~ended
        fall_step[new_fall] = t + 1
        fell |= new_fall
        ended |= terminated | truncated
        if ended.all():
            break
    env.close()
    return fell, fall_step


def links_resting_on_floor(path: Path) -> int:
    model = _with_floor(load_morphology(path))
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=round(2.0 / model.opt.timestep))
    return len(links_on_floor(model, data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--noise", nargs="+", type=float, default=[0.1, 0.0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    out = {}
    for folder in args.folders:
        files = body_files(folder)
        entry = {"bodies": len(files)}
        first_fell = None
        for noise in args.noise:
            fell, fall_step = zero_torque_episodes(files, noise, args.steps)
            first_fell = fell if first_fell is None else first_fell
            entry[f"noise_{noise}"] = {
                "fall_share": round(float(fell.mean()), 3),
                "median_fall_step": float(np.median(fall_step[fell])) if fell.any() else None,
            }
        links = np.array([links_resting_on_floor(f) for f in files])
        by_count = defaultdict(list)
        for count, fell in zip(links, first_fell, strict=True):
            by_count[int(count)].append(bool(fell))
        entry["links_on_floor"] = {"median": float(np.median(links)), "min": int(links.min()), "max": int(links.max())}
        entry[f"fall_share_noise_{args.noise[0]}_by_links_on_floor"] = {
            count: {"bodies": len(falls), "fall_share": round(float(np.mean(falls)), 3)}
            for count, falls in sorted(by_count.items())
        }
        out[str(folder)] = entry
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
