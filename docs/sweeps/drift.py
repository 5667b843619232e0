"""Does a policy steer an unseen body, or shake it and let its shape pick the direction?

    python docs/sweeps/drift.py                  # the 0.97 default's twelve seeds: docs/sweeps/drift.json
    python docs/sweeps/drift.py --arm FOLDER     # a sweep copy's c00, seeds 0-5: FOLDER/drift.json

The suites' per-body results hold, beside the policy's mean forward velocity on each held-out body,
the velocity under uniformly random torques (`random_velocity`, one episode, the same start). Random
torques shake a body; which way it then drifts is set by its shape. For each trial and held-out
set this prints the rank correlation (Spearman) across bodies between the policy's velocity and
random torque's, over all 100 bodies and over those steady under zero torque (rigid_hold.json), and
the share of steady bodies the policy moves the same way random torque does; each as the mean over
seeds with the sweep report's 95 % bootstrap interval. A policy that steers would move bodies
forward whatever way they drift: a correlation near zero. Not part of the product: a diagnostic for
issue 14, target 2 ("A policy trained beside mirror images…", docs/learning.md).
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from default_spread import default_097_trials  # noqa: E402
from six_seeds import committed_trial  # noqa: E402

SETS = {"held-out unimal": "heldout-generated", "held-out planar": "heldout-planar"}


def trial_figures(trial: Path, set_file: str, steady: set[str]) -> dict:
    rows = list(csv.DictReader(next(trial.glob(f"eval/suite-*/{set_file}-results.csv")).open()))
    policy = np.array([float(r["policy_velocity"]) for r in rows])
    shaken = np.array([float(r["random_velocity"]) for r in rows])
    calm = np.array([r["body"] in steady for r in rows])
    return {
        "correlation, all bodies": float(spearmanr(policy, shaken)[0]),
        "correlation, steady bodies": float(spearmanr(policy[calm], shaken[calm])[0]),
        "steady bodies moved the way random torque moves them": float(
            np.mean(np.sign(policy[calm]) == np.sign(shaken[calm]))
        ),
    }


def summarise(trials: list[Path]) -> dict:
    from metamorph.sweep_report import stratified_bootstrap_ci

    stored = json.loads((HERE / "rigid_hold.json").read_text())["sets"]
    out = {"trials": [f"{t.parent.parent.name}/{t.name}" for t in trials]}
    for name, set_file in SETS.items():
        zero = stored[name]["zero torque"]
        steady = {b for b, fell in zip(zero["bodies"], zero["per body fell"], strict=True) if not fell}
        per_trial = [trial_figures(t, set_file, steady) for t in trials]
        out[name] = {"steady bodies": len(steady)}
        for key in per_trial[0]:
            values = np.array([f[key] for f in per_trial])
            low, high = stratified_bootstrap_ci(values[:, None], np.mean)
            out[name][key] = {"mean": round(float(values.mean()), 3), "ci": [round(low, 3), round(high, 3)],
                              "per seed": values.round(3).tolist()}  # fmt: skip
            print(f"{name}: {key}: {values.mean():.2f} [{low:.2f}, {high:.2f}]")
    return out


def main() -> None:
    if sys.argv[1:2] == ["--arm"]:
        folder = HERE / sys.argv[2]
        trials = [t for seed in range(6) if (t := committed_trial(folder, f"c00-s{seed}"))]
        if not trials:
            sys.exit(f"drift.py --arm: no trial c00-s0..5 in {folder} (give a folder under docs/sweeps/)")
        (folder / "drift.json").write_text(json.dumps(summarise(trials), indent=1) + "\n")
        return
    (HERE / "drift.json").write_text(json.dumps(summarise(default_097_trials()), indent=1) + "\n")


if __name__ == "__main__":
    main()
