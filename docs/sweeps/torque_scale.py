"""Are the torques too strong for unseen bodies? The policy's mean torques scaled down, zero-shot.

    python docs/sweeps/torque_scale.py RUN [RUN ...] [--scales 1 0.7 0.5] [--out FILE]

A diagnostic for docs/learning.md ("Why unseen bodies are not beaten…"): on held-out `unimal` bodies
the default policy most often makes a body that topples under zero torque fall sooner. If gentler
torques carried further, a policy acting with a fraction of its mean torques would beat zero torque
on more of them. For each run (a trained run folder) and scale, the policy acts with its mean
torques times the scale (clipped to the actuators' range as always) on the link-tokens suite's two
held-out generated sets (`generate:unimal:100:1000`, `generate:planar:100:1000`, the flat task, one
episode a body, seed 0: the suites' episodes) and is scored against zero torque's episodes on the same
bodies. Writes, per run, scale and set, the share of bodies beaten, the median and mean return and
the share of episodes ending in a fall.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from metamorph.checkpoint import load_policy
from metamorph.evaluate import evaluate, load_eval_bodies

SETS = {"heldout-generated": "generate:unimal:100:1000", "heldout-planar": "generate:planar:100:1000"}


def scaled(loaded, scale: float):
    """``loaded`` acting with ``scale`` times its mean torques."""
    mean = loaded.mean_action_fn()
    loaded.mean_action_fn = lambda pack=True: lambda obs: scale * mean(obs)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.7, 0.5])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "torque_scale.json")
    parser.add_argument("--nthread", type=int, default=1)
    args = parser.parse_args()
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    for run in args.runs:
        for set_name, spec in SETS.items():
            for scale in args.scales:
                key = f"{run.name} {set_name} {scale}"
                if key in out:
                    continue
                loaded = scaled(load_policy(run), scale)
                bodies, failed, _ = load_eval_bodies(loaded, spec, run)
                assert not failed, failed
                results = evaluate(loaded, bodies, "flat", 1, 0, nthread=args.nthread,
                                   baseline_cache=run.parent.parent / "baselines")  # fmt: skip
                policy = np.array([r.returns[0] for r in results["policy"]])
                zero = np.array([r.returns[0] for r in results["zero"]])
                out[key] = {
                    "run": str(run), "set": set_name, "scale": scale,
                    "beats_zero_share": float(np.mean(policy > zero)),
                    "median": float(np.median(policy)), "mean": float(policy.mean()),
                    "fall_share": float(np.mean([r.falls[0] for r in results["policy"]])),
                }  # fmt: skip
                print(json.dumps(out[key]))
                args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
