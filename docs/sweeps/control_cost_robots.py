"""The control cost of 0.1 on fresh seeds, judged by the rule in train/sweeps/control-cost-robots.toml.

    python docs/sweeps/control_cost_robots.py   # writes docs/sweeps/control-cost-robots/rule.json

The pilot's seeds 0-2 (docs/sweeps/control-cost, configuration c01, c = 0.1) chose the hypothesis:
more real robots beaten than the 0.97 default. Seeds 3-5 (docs/sweeps/control-cost-robots, c00)
test it, alone: their mean real robots beaten at least 6.0 of 9, and their mean shares of both
held-out generated sets beaten at least the lower ends of the default's twelve-seed intervals (the
reference of against_097.py). The six seeds 0-5 are summarised beside it, not ruled on. Training
returns are taken without the control cost (against_097.figures_without_bonus).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from against_097 import REFERENCE, figures_without_bonus  # noqa: E402
from default_spread import default_097_trials  # noqa: E402
from six_seeds import committed_trial, summarise  # noqa: E402

ARM = "control cost 0.1"
REAL_ROBOTS_NEEDED = 6.0
SHARES = {
    "heldout-generated beats_zero_share": "held-out `unimal`",
    "heldout-planar beats_zero_share": "held-out `planar`",
}


def main() -> None:
    pilot = [committed_trial(HERE / "control-cost", f"c01-s{seed}") for seed in range(3)]
    fresh = [t for seed in range(3, 6) if (t := committed_trial(HERE / "control-cost-robots", f"c00-s{seed}"))]
    if len(fresh) < 3 or None in pilot:
        sys.exit(f"control_cost_robots.py: {len(fresh)} of seeds 3-5 finished; the rule needs all three")
    summary = summarise(
        {REFERENCE: default_097_trials(), f"{ARM}, seeds 3-5": fresh, f"{ARM}, seeds 0-5": pilot + fresh},
        figures_without_bonus,
    )
    reference, tested = summary[REFERENCE], summary[f"{ARM}, seeds 3-5"]
    terms = {
        "real robots beaten (of 9)": {
            "mean": tested["real beaten (of 9)"]["mean"],
            "needed": REAL_ROBOTS_NEEDED,
            "passes": tested["real beaten (of 9)"]["mean"] >= REAL_ROBOTS_NEEDED,
        },
        **{
            name: {
                "mean": tested[key]["mean"],
                "needed (the default's lower end)": reference[key]["ci"][0],
                "passes": tested[key]["mean"] >= reference[key]["ci"][0],
            }
            for key, name in SHARES.items()
        },
    }
    verdict = {"terms": terms, "passes": all(term["passes"] for term in terms.values())}
    print(f"{ARM}, seeds 3-5: {'passes' if verdict['passes'] else 'fails'}")
    print(json.dumps(verdict, indent=1))
    out = {"rule": verdict, **summary}
    (HERE / "control-cost-robots" / "rule.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
