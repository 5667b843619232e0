"""The previous-action sweep's confirmation rule: its seeds 0-11 against the default's 21 seeds.

    python docs/sweeps/previous-action/twelve_seeds.py

Reads the committed copies docs/sweeps/previous-action/trials (seeds 0-5) and its seeds-6-11/trials
(configuration c00, `--previous-action`, scored on eval/link-tokens.toml) and the default's 21 seeds
(docs/sweeps/default_spread.py's runs, the same recipe and suite without the flag). Prints, for
every figure both suites share, each arm's mean over seeds with its 95 % bootstrap interval and
per-seed values (`nine_seeds.summarise`), then whether the rule in train/sweeps/previous-action.toml
holds: the interval of the arm's held-out `planar` share beaten lies above the default's mean, and
its means of the held-out `unimal` share, the real robots beaten and the training return lie at or
above the low ends of the default's intervals. Writes twelve_seeds.json beside this script; with
fewer than twelve seeds it prints "partial" and judges nothing.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from default_spread import default_trials  # noqa: E402
from six_seeds import committed_trial, figures, summarise  # noqa: E402

SEEDS = range(12)
RULE = {  # figure -> what the arm must show against the default's 21 seeds
    "heldout-planar beats_zero_share": "interval above the default's mean",
    "heldout-generated beats_zero_share": "mean at or above the default's interval",
    "real beaten (of 9)": "mean at or above the default's interval",
    "training return": "mean at or above the default's interval",
}
ARM = "previous action"
DEFAULT = "the default"


def main() -> None:
    trials = [t for seed in SEEDS if (t := committed_trial(HERE, f"c00-s{seed}"))]
    arms = summarise({ARM: trials, DEFAULT: default_trials()}, figures)
    out = {"judged": len(trials) == len(SEEDS), "arms": arms, "rule": {}}
    for name, asks in RULE.items():
        arm, default = arms[ARM][name], arms[DEFAULT][name]
        above_mean = asks.startswith("interval")
        holds = arm["ci"][0] > default["mean"] if above_mean else arm["mean"] >= default["ci"][0]
        out["rule"][name] = {"asks": asks, "holds": holds}
        print(f"{name}: {asks}: {'holds' if holds else 'FAILS'}")
    out["rule_met"] = out["judged"] and all(r["holds"] for r in out["rule"].values())
    print("rule met" if out["rule_met"] else ("rule not met" if out["judged"] else f"partial: {len(trials)} seeds"))
    (HERE / "twelve_seeds.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
