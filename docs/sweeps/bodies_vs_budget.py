"""Rule 2 of train/sweeps/default-097-3m.toml: is bodies-1000-3m's gain its bodies' or its budget's?

    python docs/sweeps/bodies_vs_budget.py

Reads the committed sweep copies docs/sweeps/bodies-1000-3m and docs/sweeps/default-097-3m (seeds
0-5 of each, configuration c00, scored on eval/link-tokens.toml). For both held-out generated sets
it prints each arm's mean share of bodies beaten (better than zero torque) and the difference of the
two means with a 95 % bootstrap interval, seeds resampled within each arm. Verdict, as written in
the spec before any run: the gain is put on the bodies if both differences are at least zero and at
least one interval lies above zero. Writes bodies_vs_budget.json into docs/sweeps/default-097-3m.
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from six_seeds import committed_trial, figures  # noqa: E402

ARMS = {"bodies": "bodies-1000-3m", "budget": "default-097-3m"}
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
    values = {}
    for arm, folder in ARMS.items():
        trials = [t for seed in range(6) if (t := committed_trial(HERE / folder, f"c00-s{seed}"))]
        if len(trials) < 6:
            print(f"{folder}: partial, {len(trials)} of seeds 0-5; no verdict")
            return
        values[arm] = {name: np.array([figures(t)[key] for t in trials]) for name, key in SHARES.items()}
    out = {}
    for name in SHARES:
        bodies, budget = values["bodies"][name], values["budget"][name]
        low, high = difference_interval(bodies, budget)
        out[name] = {"bodies-1000-3m": {"mean": float(bodies.mean()), "per_seed": bodies.round(2).tolist()},
                     "default-097-3m": {"mean": float(budget.mean()), "per_seed": budget.round(2).tolist()},
                     "difference": float(bodies.mean() - budget.mean()), "ci": [low, high]}  # fmt: skip
        print(f"{name}: {100 * bodies.mean():.1f} % against {100 * budget.mean():.1f} %, difference "
              f"{100 * (bodies.mean() - budget.mean()):+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]")  # fmt: skip
    at_least = all(out[n]["difference"] >= 0 for n in SHARES)
    above = [n for n in SHARES if out[n]["ci"][0] > 0]
    out["verdict"] = {"both at least zero": at_least, "intervals above zero": above,
                      "put on the bodies": at_least and bool(above)}  # fmt: skip
    print(f"the gain is put on the bodies: {out['verdict']['put on the bodies']}")
    (HERE / "default-097-3m" / "bodies_vs_budget.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
