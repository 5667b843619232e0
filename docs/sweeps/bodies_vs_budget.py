"""Two arms' shares of held-out bodies beaten, and the difference with a 95 % bootstrap interval.

    python docs/sweeps/bodies_vs_budget.py                       # rule 2 of default-097-3m
    python docs/sweeps/bodies_vs_budget.py bodies-5000-3m bodies-1000-3m   # rule 2 of bodies-5000-3m
    python docs/sweeps/bodies_vs_budget.py start-yaw-recent-velocity start-yaw

Reads the committed sweep copies docs/sweeps/ARM and docs/sweeps/AGAINST (seeds 0-5 of each,
configuration c00, scored on eval/link-tokens.toml); by default ARM is bodies-1000-3m and AGAINST
default-097-3m: is bodies-1000-3m's gain its bodies' or its budget's? For both held-out generated
sets it prints each arm's mean share of bodies beaten (better than zero torque) and the difference
of the two means with a 95 % bootstrap interval, seeds resampled within each arm. Verdict of the
rule both 3M specs wrote before any run: ARM's gain stands if both differences are at least zero and
at least one interval lies above zero. Writes bodies_vs_budget.json into docs/sweeps/default-097-3m
for the default pair, ARM/against_AGAINST.json for any other.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from six_seeds import committed_trial, figures  # noqa: E402

SHARES = {"held-out unimal": "heldout-generated beats_zero_share",
          "held-out planar": "heldout-planar beats_zero_share"}  # fmt: skip
RESAMPLES = 10_000


def difference_interval(more: np.ndarray, fewer: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of mean(more) - mean(fewer), each arm's seeds resampled on their own."""
    rng = np.random.default_rng(seed)
    a = more[rng.integers(0, len(more), (RESAMPLES, len(more)))].mean(1)
    b = fewer[rng.integers(0, len(fewer), (RESAMPLES, len(fewer)))].mean(1)
    low, high = np.percentile(a - b, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arm", nargs="?", default="bodies-1000-3m", help="the sweep copy whose gain is asked")
    parser.add_argument("against", nargs="?", default="default-097-3m", help="the sweep copy it is set against")
    args = parser.parse_args()
    values = {}
    for folder in (args.arm, args.against):
        trials = [t for seed in range(6) if (t := committed_trial(HERE / folder, f"c00-s{seed}"))]
        if len(trials) < 6:
            print(f"{folder}: partial, {len(trials)} of seeds 0-5; no verdict")
            return
        values[folder] = {name: np.array([figures(t)[key] for t in trials]) for name, key in SHARES.items()}
    out = {}
    for name in SHARES:
        arm, against = values[args.arm][name], values[args.against][name]
        low, high = difference_interval(arm, against)
        out[name] = {args.arm: {"mean": float(arm.mean()), "per_seed": arm.round(2).tolist()},
                     args.against: {"mean": float(against.mean()), "per_seed": against.round(2).tolist()},
                     "difference": float(arm.mean() - against.mean()), "ci": [low, high]}  # fmt: skip
        print(f"{name}: {100 * arm.mean():.1f} % against {100 * against.mean():.1f} %, difference "
              f"{100 * (arm.mean() - against.mean()):+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]")  # fmt: skip
    at_least = all(out[n]["difference"] >= 0 for n in SHARES)
    above = [n for n in SHARES if out[n]["ci"][0] > 0]
    out["verdict"] = {"both at least zero": at_least, "intervals above zero": above,
                      "gain stands": at_least and bool(above)}  # fmt: skip
    print(f"{args.arm}'s gain over {args.against} stands: {out['verdict']['gain stands']}")
    default_pair = (args.arm, args.against) == ("bodies-1000-3m", "default-097-3m")
    path = HERE / args.arm / f"against_{args.against}.json"
    if default_pair:  # where default-097-3m's write-up cites it
        path = HERE / "default-097-3m" / "bodies_vs_budget.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
