"""Do a generated-body policy's static features reach the normalisation's clip on UNIMAL bodies, and
does a floor under that normalisation (`PPOConfig.static_std_floor`) carry the policy across?
(Issue 14, target 3; the Go1 diagnostics found this failure on the Go1.) A diagnostic, not a feature.

    python docs/sweeps/generated-to-unimal-floor/floor_eval.py TRIAL BODIES [--floors 0 0.01 0.1]
        [--episodes 1] [--baseline-cache DIR] [--out FILE.json]

For each floor: the share of the bodies' static feature values (real tokens only) whose normalised
value reaches ± obs_clip, the columns that reach it most, the share beyond 3 std and the largest
value, and one deterministic evaluation on the registered flat task: mean and median per-body
return, the share of bodies moving faster than 0.1 m/s and the share where the policy beats zero
torque. The floor replaces the policy's own (0 for runs trained without one) at evaluation only:
it patches the saved policy's normalisation.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import metamorph.checkpoint as checkpoint
from metamorph.bodies import resolve
from metamorph.checkpoint import load_policy
from metamorph.env import VecEnv, task_config
from metamorph.evaluate import evaluate, summarise
from metamorph.morphology import load_morphology
from metamorph.sweep_report import BODY_STATS
from metamorph.tokens import static_layout


def clip_shares(loaded, bodies: list, floor: float) -> dict:
    """Share of static values at the clip under ``floor``, overall and for the five worst columns."""
    config = loaded.policy.config
    env = VecEnv(bodies, task_config("flat"), len(bodies), nthread=1, vocabulary=loaded.vocabulary,
                 assignment=np.arange(len(bodies)), autoreset=False, sampling="uniform",
                 frame=config.frame, link_geometry=config.link_geometry)  # fmt: skip
    obs = env.reset(seed=0)
    static = np.asarray(obs["static"], dtype=np.float64)
    mask = np.asarray(obs["token_mask"], dtype=bool)
    stats = loaded.normalizer.tokens
    mean = np.asarray(stats.mean["static"], dtype=np.float64)
    std = np.maximum(np.asarray(stats.std["static"], dtype=np.float64), floor)
    clip = loaded.meta["config"]["ppo"]["obs_clip"]
    z = np.abs((static - mean) / std)[mask]  # [real tokens, columns]
    at_clip = z >= clip
    layout = static_layout(config.link_geometry)
    names = [f"{f.name}[{i}]" if f.width > 1 else f.name for f in layout.features for i in range(f.width)]
    per_column = at_clip.mean(axis=0)
    worst = np.argsort(per_column)[::-1][:5]
    return {
        "share_at_clip": float(at_clip.mean()),
        "tokens_with_any_at_clip": float(at_clip.any(axis=1).mean()),
        "share_beyond_3_std": float((z > 3).mean()),
        "max_abs_z": float(z.max()),
        "worst_columns": {names[c]: round(float(per_column[c]), 3) for c in worst if per_column[c] > 0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trial")
    parser.add_argument("bodies", help="a body folder or any --bodies spec")
    parser.add_argument("--floors", type=float, nargs="+", default=[0.0, 0.01, 0.1])
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--baseline-cache", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    files, _ = resolve(args.bodies)
    bodies = [load_morphology(path) for path in files]
    make_inference_fn = checkpoint.make_inference_fn
    rows = []
    for floor in args.floors:
        # every LoadedPolicy built from here on normalises with this floor
        checkpoint.make_inference_fn = lambda apply_fn, obs_clip, _saved=0.0, f=floor: make_inference_fn(
            apply_fn, obs_clip, f
        )
        loaded = load_policy(args.trial)
        results = evaluate(loaded, bodies, task="flat", episodes=args.episodes, nthread=1,
                           baseline_cache=args.baseline_cache)  # fmt: skip
        summary = summarise(results)
        policy = summary["policy"]
        row = {
            "trial": args.trial,
            "bodies": args.bodies,
            "static_std_floor": floor,
            **clip_shares(loaded, bodies, floor),
            **{stat: policy.get(stat) for stat in BODY_STATS},
            "zero_mean": summary["zero"]["mean"],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
