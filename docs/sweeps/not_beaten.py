"""Why a policy does not beat zero torque on a body: how the body's episode ends under each.

    python docs/sweeps/not_beaten.py

Target 2 of issue 14 counts the held-out bodies on which a policy's return beats zero torque's. This
splits the episodes it does not beat by how each ended (the suites' SET-results.csv: one episode a
body, `*_fall_rate` 1 if it ended in a fall, `*_length` its steps, `*_return` its return):
- "falls sooner": zero torque falls and the policy falls in fewer steps;
- "falls later, less return": both fall, the policy later, yet it earns less;
- "stands, less return": the policy stays up to the episode's end and earns less, whether zero torque
  stands or falls (a body that topples forward earns its fall's forward motion);
- "falls where zero torque stands".
Each as a share of all episodes of a set (so the shares add up to the share not beaten), mean over
seeds with the sweep report's 95 % bootstrap interval over seeds, for:
- the default since 2026-12-06 (discount 0.97), seeds 0-11: docs/sweeps/discount, c00;
- the 0.995 arm of the discount sweep, seeds 3-5 (c01);
- γ 0.95 (docs/sweeps/discount-095) and an alive bonus of 0.05 (docs/sweeps/alive-bonus-default),
  seeds 0-5 each: does a reward for staying up, or a shorter horizon, hasten fewer falls?
- a control cost of 0.03 and of 0.1 (docs/sweeps/control-cost, c00 and c01), seeds 0-2 each: does
  pricing torque hasten fewer falls?
- the design-seed swap (discount 0.99, trained on the seed-1000 bodies), seeds 0-1: its own sets
  (the bodies it trained on) and its unseen ones (the default's training bodies);
- the 0.99 default's seeds 0-2 on their own 200 training bodies (docs/sweeps/own-bodies/default).
Also the share of episodes in which zero torque falls with a positive return (the body topples
forward), whatever the policy does. Writes not_beaten.json beside this script. (The copies of the
0.99 default's 21 seeds keep only their real robots' results.csv, so it is not among them.)
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from default_spread import default_097_trials  # noqa: E402
from six_seeds import committed_trial  # noqa: E402

from metamorph.sweep_report import stratified_bootstrap_ci  # noqa: E402

WAYS = ("falls sooner", "falls later, less return", "stands, less return", "falls where zero torque stands")


def way_not_beaten(row: dict) -> str | None:
    """How an episode the policy does not beat ended; None if the policy beats zero torque."""
    if float(row["policy_return"]) > float(row["zero_return"]):
        return None
    policy_falls, zero_falls = float(row["policy_fall_rate"]) > 0.5, float(row["zero_fall_rate"]) > 0.5
    if not policy_falls:
        return "stands, less return"
    if not zero_falls:
        return "falls where zero torque stands"
    return "falls sooner" if float(row["policy_length"]) < float(row["zero_length"]) else "falls later, less return"


def shares(results: Path) -> dict[str, float]:
    """One trial's shares of a set's episodes, by way not beaten, and those where zero torque topples."""
    rows = list(csv.DictReader(results.open()))
    ways = [way_not_beaten(row) for row in rows]
    out = {way: ways.count(way) / len(rows) for way in WAYS}
    out["not beaten"] = sum(out.values())
    out["zero torque topples forward"] = float(
        np.mean([float(r["zero_fall_rate"]) > 0.5 and float(r["zero_return"]) > 0 for r in rows])
    )
    return out


def summary(results: list[Path]) -> dict:
    per_trial = [shares(path) for path in results]
    out = {"trials": len(results)}
    for name in per_trial[0]:
        values = np.array([trial[name] for trial in per_trial])
        low, high = stratified_bootstrap_ci(values[:, None], np.mean)
        out[name] = {"mean": float(values.mean()), "ci": [low, high]}
    return out


def results_of(trials: list[Path], set_name: str) -> list[Path]:
    return [next(trial.glob(f"eval/suite-*/{set_name}-results.csv")) for trial in trials]


def main() -> None:
    discount = HERE / "discount"
    swap = [committed_trial(HERE / "design-seed-swap", f"c00-s{seed}") for seed in range(2)]
    arms = {
        "the default (discount 0.97), seeds 0-11": {
            s: results_of(default_097_trials(), s) for s in ("heldout-generated", "heldout-planar")
        },
        "discount 0.995, seeds 3-5": {
            s: results_of([committed_trial(discount, f"c01-s{seed}") for seed in range(3, 6)], s)
            for s in ("heldout-generated", "heldout-planar")
        },
        **{
            arm: {
                s: results_of([committed_trial(HERE / folder, f"c00-s{seed}") for seed in range(6)], s)
                for s in ("heldout-generated", "heldout-planar")
            }
            for arm, folder in (
                ("discount 0.95, seeds 0-5", "discount-095"),
                ("alive bonus 0.05, seeds 0-5", "alive-bonus-default"),
            )
        },
        **{
            arm: {
                s: results_of([committed_trial(HERE / "control-cost", f"{config}-s{seed}") for seed in range(3)], s)
                for s in ("heldout-generated", "heldout-planar")
            }
            for arm, config in (("control cost 0.03, seeds 0-2", "c00"), ("control cost 0.1, seeds 0-2", "c01"))
        },
        "the design-seed swap (discount 0.99), seeds 0-1": {
            s: results_of(swap, s) for s in ("own-unimal", "own-planar", "unseen-unimal", "unseen-planar")
        },
        "the default before (discount 0.99), seeds 0-2, its training bodies": {
            s: sorted((HERE / "own-bodies" / "default").glob(f"c00-s*/{s}-results.csv"))
            for s in ("training-unimal", "training-planar")
        },
    }
    out = {}
    for arm, sets in arms.items():
        out[arm] = {name: summary(paths) for name, paths in sets.items()}
        print(arm)
        for name, figures in out[arm].items():
            cells = ", ".join(
                f"{k} {v['mean']:.1%} [{v['ci'][0]:.1%}, {v['ci'][1]:.1%}]" for k, v in figures.items() if k != "trials"
            )
            print(f"  {name} ({figures['trials']} trials): {cells}")
    (HERE / "not_beaten.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
