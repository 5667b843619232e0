"""The discount-095 sweep's second rule, for target 4, written before its seeds 6-11 ran.

    python docs/sweeps/discount-095/target4.py

Over γ 0.95's seeds 0-11 (docs/sweeps/discount-095/trials and seeds-6-11/trials), the real robots
beaten (of 9; `nine_seeds.trial_figures`) must average at least 6 and their 95 % bootstrap interval
must lie above the 0.97 default's twelve-seed mean (docs/sweeps/discount, c00, seeds 0-11). Prints
both arms' figures and the verdict, and writes target4.json beside this script.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from default_spread import default_097_trials  # noqa: E402
from six_seeds import committed_trial, figures, summarise  # noqa: E402

FIGURE = "real beaten (of 9)"


def main() -> None:
    arms = {
        "discount 0.97 (the default), seeds 0-11": default_097_trials(),
        "discount 0.95, seeds 0-11": [t for s in range(12) if (t := committed_trial(HERE, f"c00-s{s}"))],
    }
    summary = summarise(arms, figures)
    default, arm = (summary[name][FIGURE] for name in arms)
    seeds = len(arms["discount 0.95, seeds 0-11"])
    verdict = {
        "seeds": seeds,
        "mean at least 6": arm["mean"] >= 6,
        "interval above the default's mean": arm["ci"][0] > default["mean"],
    }
    verdict["passes"] = seeds == 12 and verdict["mean at least 6"] and verdict["interval above the default's mean"]
    print(json.dumps(verdict, indent=1))
    (HERE / "target4.json").write_text(json.dumps({"verdict": verdict, **summary}, indent=1))


if __name__ == "__main__":
    main()
