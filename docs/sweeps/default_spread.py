"""How far the default recipe's 1M-step runs spread from seed to seed, and what that asks of a rule.

    python docs/sweeps/default_spread.py

Reads the committed runs of the default recipe on seeds 0-20: 0-2 from docs/sweeps/link-tokens/joint,
3-5 and 6-8 from docs/sweeps/planar-plus/packing-seeds-3-5 and -6-8 (configuration c01), 9-20 from
the trimmed arm (c00) of docs/sweeps/packed-update-paired and its seeds-*/ folders: the same recipe
and suites (six_seeds.py's figures). For each figure a rule reads it prints the mean over the 21
seeds with its 95 % bootstrap interval, the standard deviation across seeds, and how many seeds a
comparison needs at least for its 95 % interval to be no wider than ±m around the difference
(an equivalence rule, whose interval must also stay inside ±m around 0, needs more), for the
margins m the rules so far used: about 2 × (1.96 × sd / m)² per arm unpaired, (1.96 × sd_d / m)²
paired, where sd_d, the spread of the paired differences, is what the packed-update-paired sweep
measured (runs of two arms part after a few updates, so a seed's two runs are nearly independent
draws: sd_d ≈ √2 × sd). Writes default_spread.json beside this script.
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from six_seeds import DEFAULT_0_2, DEFAULT_3_5, DEFAULT_6_8, committed_trial, figures  # noqa: E402

from metamorph.sweep_report import stratified_bootstrap_ci  # noqa: E402

PAIRED = HERE / "packed-update-paired"
MARGINS = {
    "training return": 1.0,
    "real beaten (of 9)": 1.0,
    "heldout-generated beats_zero_share": 0.03,
    "heldout-planar beats_zero_share": 0.03,
}


def default_trials() -> list[Path]:
    trials = [DEFAULT_0_2 / f"c00-s{s}" for s in range(3)]
    trials += [DEFAULT_3_5 / f"c01-s{s}" for s in range(3, 6)] + [DEFAULT_6_8 / f"c01-s{s}" for s in range(6, 9)]
    trials += [t for seed in range(9, 21) if (t := committed_trial(PAIRED, f"c00-s{seed}"))]
    return trials


def default_097_trials() -> list[Path]:
    """The default since 2026-12-06 (discount 0.97): the discount sweep's c00, seeds 0-11, the
    reference of the rules written after it (against_097.py)."""
    return [committed_trial(HERE / "discount", f"c00-s{seed}") for seed in range(12)]


def main() -> None:
    trials = default_trials()
    rows = [figures(t) for t in trials]
    paired = json.loads((HERE / "packed-update" / "paired.json").read_text())["figures"]
    out = {"seeds": len(trials), "figures": {}}
    print(f"the default recipe, {len(trials)} seeds (0-{len(trials) - 1})")
    for name, margin in MARGINS.items():
        values = np.array([row[name] for row in rows], float)
        low, high = stratified_bootstrap_ci(values[:, None], np.mean)
        sd = float(values.std(ddof=1))
        sd_paired = float(np.std(paired[name]["per_seed"], ddof=1))
        unpaired_n = 2 * (1.96 * sd / margin) ** 2
        paired_n = (1.96 * sd_paired / margin) ** 2
        out["figures"][name] = {
            "mean": float(values.mean()), "ci": [float(low), float(high)], "sd": sd,
            "per_seed": np.round(values, 3).tolist(), "margin": margin, "paired_sd": sd_paired,
            "seeds_for_margin_unpaired_per_arm": unpaired_n, "seeds_for_margin_paired": paired_n,
        }  # fmt: skip
        print(f"  {name}: {values.mean():.3f} [{low:.3f}, {high:.3f}], sd {sd:.3f}; ±{margin}: "
              f"{unpaired_n:.0f} seeds an arm unpaired, {paired_n:.0f} paired (sd_d {sd_paired:.3f})")  # fmt: skip
    (HERE / "default_spread.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
