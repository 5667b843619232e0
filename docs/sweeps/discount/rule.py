"""The discount sweep's rule, both stages, against the default's 21 seeds.

    python docs/sweeps/discount/rule.py

Reads the committed copies docs/sweeps/discount/trials (c00: discount 0.97, c01: 0.995; seeds 0-5)
and seeds-6-11/trials (c00, seeds 6-11, the confirmation), scored on eval/link-tokens.toml, and the
default's 21 seeds (docs/sweeps/default_spread.py's runs, discount 0.99, the same recipe and suite).
Judges the rule in train/sweeps/discount.toml's header:
- the screen, per arm over seeds 0-5: the means of both held-out shares beaten at least the 21
  seeds' means and at least one above their 95 % interval; the real robots beaten and the training
  return at least the low ends of their intervals;
- the confirmation, for an arm that passed, over seeds 0-11: the interval of a share that passed
  the screen above the 21 seeds' mean, the other three figures (the other share among them) still
  meeting the screen's thresholds.
Prints every figure of each arm (mean, 95 % bootstrap interval, per seed; `nine_seeds.summarise`)
and the verdicts, and writes rule.json beside this script; an arm short of its seeds is "partial".
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from default_spread import default_trials  # noqa: E402
from six_seeds import committed_trial, figures, summarise  # noqa: E402

ARMS = {"discount 0.97": "c00", "discount 0.995": "c01"}
DEFAULT = "the default (discount 0.99), 21 seeds"
SHARES = ("heldout-generated beats_zero_share", "heldout-planar beats_zero_share")
FLOORS = ("real beaten (of 9)", "training return")  # at least the low end of the default's interval


def screen(arm: dict, default: dict, floors_kept: tuple[str, ...] = FLOORS) -> dict:
    """The screen's verdict for one arm's summary against the default's (with ``floors_kept``, the
    floors a later rule keeps)."""
    at_mean = {s: arm[s]["mean"] >= default[s]["mean"] for s in SHARES}
    above = [s for s in SHARES if arm[s]["mean"] > default[s]["ci"][1]]
    floors = {f: arm[f]["mean"] >= default[f]["ci"][0] for f in floors_kept}
    return {"shares at the mean": at_mean, "shares above the interval": above, "floors": floors,
            "passes": all(at_mean.values()) and bool(above) and all(floors.values())}  # fmt: skip


def confirmation(arm: dict, default: dict, passed: list[str]) -> dict:
    """The confirmation's verdict over seeds 0-11: some share that passed the screen has its interval
    above the default's mean while the other share's mean is at least the default's mean and the
    floors hold."""
    interval_above = {s: arm[s]["ci"][0] > default[s]["mean"] for s in passed}
    at_mean = {s: arm[s]["mean"] >= default[s]["mean"] for s in SHARES}
    floors = {f: arm[f]["mean"] >= default[f]["ci"][0] for f in FLOORS}
    carried_by = [s for s in passed if interval_above[s] and all(at_mean[o] for o in SHARES if o != s)]
    return {"interval above the mean": interval_above, "shares at the mean": at_mean, "floors": floors,
            "carried by": carried_by, "passes": bool(carried_by) and all(floors.values())}  # fmt: skip


def main() -> None:
    out = {}
    default = summarise({DEFAULT: default_trials()}, figures)[DEFAULT]
    for name, config in ARMS.items():
        first = [t for seed in range(6) if (t := committed_trial(HERE, f"{config}-s{seed}"))]
        if len(first) < 6:
            out[name] = {"verdict": f"partial: {len(first)} of seeds 0-5"}
            print(f"{name}: partial, {len(first)} of seeds 0-5")
            continue
        six = summarise({name: first}, figures)[name]
        out[name] = {"seeds 0-5": six, "screen": screen(six, default)}
        print(f"{name}, screen: {'passes' if out[name]['screen']['passes'] else 'fails'} {out[name]['screen']}")
        if not out[name]["screen"]["passes"]:
            continue
        later = [t for seed in range(6, 12) if (t := committed_trial(HERE, f"{config}-s{seed}"))]
        if len(later) < 6:
            out[name]["confirmation"] = f"partial: {len(later)} of seeds 6-11"
            print(f"{name}, confirmation: partial, {len(later)} of seeds 6-11")
            continue
        twelve = summarise({f"{name}, seeds 0-11": first + later}, figures)[f"{name}, seeds 0-11"]
        verdict = confirmation(twelve, default, out[name]["screen"]["shares above the interval"])
        out[name] |= {"seeds 0-11": twelve, "confirmation": verdict}
        print(f"{name}, confirmation: {'passes' if verdict['passes'] else 'fails'} {verdict}")
    out[DEFAULT] = default
    (HERE / "rule.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
