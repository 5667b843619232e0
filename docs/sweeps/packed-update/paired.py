"""The `packed-update-paired` sweep's rule: paired differences, packed - trimmed, seed by seed.

    python docs/sweeps/packed-update/paired.py

Reads the committed copies docs/sweeps/packed-update-paired/trials and its seeds-*/trials (one
sweep folder per set of seeds; c00: trimmed, the default; c01: packed, `--ppo.pack-rows auto`;
seeds 9-20, as many as have run), and for each figure the rule in
train/sweeps/packed-update-paired.toml names prints the mean paired difference over the seeds with
both arms, its 95 % bootstrap interval over seeds (the sweep report's), and whether the interval
holds 0 and lies within the rule's margin. Writes paired.json beside this script. The rule is judged
on all twelve seeds; fewer print as "partial".

Beside the rule, not part of it: the same differences over seeds 0-8 too, from nine_seeds.json (the
packed-update sweep's seeds against the default's same seeds, which ran in earlier sweeps on the
default recipe: not paired within one sweep), pooled with the paired seeds ("pooled" in paired.json).
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from six_seeds import committed_trial, figures  # noqa: E402

from metamorph.sweep_report import stratified_bootstrap_ci  # noqa: E402

FOLDER = HERE.parent / "packed-update-paired"  # seeds 9-11 in trials/, later sets in seeds-*/trials/
MARGINS = {
    "training return": 1.0,
    "real beaten (of 9)": 1.0,
    "heldout-generated beats_zero_share": 0.03,
    "heldout-planar beats_zero_share": 0.03,
}
SEEDS = range(9, 21)


def trial(key: str) -> Path | None:
    """The committed folder of trial ``key`` (e.g. c01-s12), None if it has not run."""
    return committed_trial(FOLDER, key)


def main() -> None:
    seeds = [s for s in SEEDS if trial(f"c00-s{s}") and trial(f"c01-s{s}")]
    trimmed = [figures(trial(f"c00-s{s}")) for s in seeds]
    packed = [figures(trial(f"c01-s{s}")) for s in seeds]
    out = {"seeds": seeds, "judged": len(seeds) == len(SEEDS), "figures": {}}
    for name, margin in MARGINS.items():
        differences = np.array([p[name] - t[name] for p, t in zip(packed, trimmed, strict=True)])
        low, high = stratified_bootstrap_ci(differences[:, None], np.mean)
        within = bool(low <= 0 <= high and -margin <= low and high <= margin)
        out["figures"][name] = {
            "mean_difference": float(differences.mean()), "ci": [float(low), float(high)], "margin": margin,
            "within": within, "per_seed": np.round(differences, 3).tolist(),
            "trimmed_mean": float(np.mean([t[name] for t in trimmed])),
            "packed_mean": float(np.mean([p[name] for p in packed])),
        }  # fmt: skip
        print(f"{name}: packed - trimmed {differences.mean():+.3f} [{low:+.3f}, {high:+.3f}] (±{margin}) "
              f"{'within' if within else 'NOT within'}; per seed {np.round(differences, 2).tolist()}")  # fmt: skip
    earlier = json.loads((HERE / "nine_seeds.json").read_text())
    default, packed_earlier = earlier["the default"], earlier["packed update (--ppo.pack-rows auto)"]
    out["pooled"] = {"seeds": default["seeds"] + seeds}
    for name in MARGINS:
        before = np.subtract(packed_earlier[name]["per_seed"], default[name]["per_seed"])
        pooled = np.concatenate([before, out["figures"][name]["per_seed"]])
        low, high = stratified_bootstrap_ci(pooled[:, None], np.mean)
        out["pooled"][name] = {"mean_difference": float(pooled.mean()), "ci": [float(low), float(high)],
                               "seeds_0_8_mean_difference": float(before.mean())}  # fmt: skip
        print(f"  pooled with seeds 0-8 (not the rule): {name} {pooled.mean():+.3f} [{low:+.3f}, {high:+.3f}] "
              f"(seeds 0-8 alone {before.mean():+.3f})")  # fmt: skip
    verdict = all(f["within"] for f in out["figures"].values())
    out["rule_met"] = verdict if out["judged"] else None
    print(f"seeds {seeds}: " + (f"rule {'met' if verdict else 'not met'}" if out["judged"] else "partial, not judged"))
    (HERE / "paired.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
