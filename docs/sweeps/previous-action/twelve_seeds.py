"""The previous-action sweep's confirmation rule: its seeds 0-11 against the default's 21 seeds.

    python docs/sweeps/previous-action/twelve_seeds.py

Reads the committed copies docs/sweeps/previous-action/trials (seeds 0-5) and its seeds-6-11/trials
(configuration c00, `--previous-action`, scored on eval/link-tokens.toml) and the default's 21 seeds
(docs/sweeps/default_spread.py's runs, the same recipe and suite without the flag). Prints, for
the figures the rule in train/sweeps/previous-action.toml reads and a few beside them, each arm's
mean over seeds with its 95 % bootstrap interval, and whether the rule holds: the interval of the
arm's held-out `planar` share beaten lies above the default's mean, and its means of the held-out
`unimal` share, the real robots beaten and the training return lie at or above the low ends of
the default's intervals. Writes twelve_seeds.json beside this script; with fewer than twelve seeds
it prints "partial" and judges nothing.
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from default_spread import default_trials  # noqa: E402
from six_seeds import figures  # noqa: E402

from metamorph.sweep_report import stratified_bootstrap_ci  # noqa: E402

SEEDS = range(12)
RULE = {  # figure -> what the arm must show against the default's 21 seeds
    "heldout-planar beats_zero_share": "interval above the default's mean",
    "heldout-generated beats_zero_share": "mean at or above the default's interval",
    "real beaten (of 9)": "mean at or above the default's interval",
    "training return": "mean at or above the default's interval",
}
BESIDE = (
    "heldout-generated mean",
    "heldout-planar mean",
    "heldout-generated median",
    "heldout-planar median",
    "real mean",
)


def arm_trials() -> list[Path]:
    trials = []
    for seed in SEEDS:
        found = [t for t in [*HERE.glob(f"trials/c00-s{seed}"), *HERE.glob(f"seeds-*/trials/c00-s{seed}")]
                 if (t / "objective.json").exists()]  # fmt: skip
        trials += found[:1]
    return trials


def summary(rows: list[dict], name: str) -> dict:
    values = np.array([row[name] for row in rows], float)
    low, high = stratified_bootstrap_ci(values[:, None], np.mean)
    return {"mean": float(values.mean()), "ci": [float(low), float(high)], "per_seed": np.round(values, 3).tolist()}


def main() -> None:
    arm = [figures(t) for t in arm_trials()]
    default = [figures(t) for t in default_trials()]
    out = {"arm_seeds": len(arm), "default_seeds": len(default), "judged": len(arm) == len(SEEDS), "figures": {}}
    holds = []
    for name in (*RULE, *BESIDE):
        a, d = summary(arm, name), summary(default, name)
        entry = {"previous action": a, "the default": d}
        if name in RULE:
            if RULE[name].startswith("interval"):
                entry["holds"] = a["ci"][0] > d["mean"]
            else:
                entry["holds"] = a["mean"] >= d["ci"][0]
            entry["rule"] = RULE[name]
            holds.append(entry["holds"])
        out["figures"][name] = entry
        mark = "" if name not in RULE else ("  holds" if entry["holds"] else "  FAILS")
        print(f"{name}: previous action {a['mean']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}] {a['per_seed']}; "
              f"the default {d['mean']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]{mark}")  # fmt: skip
    out["rule_met"] = bool(out["judged"] and all(holds))
    print("rule met" if out["rule_met"] else ("rule not met" if out["judged"] else f"partial: {len(arm)} seeds"))
    (HERE / "twelve_seeds.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
