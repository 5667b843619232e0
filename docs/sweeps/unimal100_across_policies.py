"""What every generated-body policy scored on UNIMAL-100 does there, and whether it follows what the
policy learnt on generated bodies (issue 14, target 3).

    python docs/sweeps/unimal100_across_policies.py   # writes docs/sweeps/unimal100_across_policies.json

Reads every committed trial scored on the link-tokens suite (eval/link-tokens.toml: the two held-out
generated sets, the real robots and MetaMorph's 100 UNIMAL training bodies) in thirteen sweeps:
the 0.97 default's seeds and every arm run beside it from 2026-12-06 until this analysis, at 1M and 3M steps
(checkpoints scored inside runs, under `budget/`, are left out: each run counts once). The sweeps are
named, `SWEEPS`, so the ones run after this analysis, which it led to or which are compared with
it, do not change its 93 policies. All of them
trained on generated bodies only. Per trial: its training return (last 10 updates), its shares of
the held-out sets beaten, and on UNIMAL-100 its mean and median return, the share of bodies beaten,
moving (torso faster than 0.1 m/s), held still (the whole episode up, slower than 0.05 m/s either
way) and fallen; then the same for zero torque, and the rank correlation over trials of the
UNIMAL-100 return with each generated-body figure. No new runs.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from against_default import last_updates  # noqa: E402

SUITE = "suite-link-tokens"
MOVING = 0.1  # m/s, the "moving"
STILL = 0.05  # m/s either way over a whole episode: held still
# the sweeps scored on the link-tokens suite when this analysis was made (2026-12-07): its 93 policies
SWEEPS = ("alive-bonus-default", "bodies-1000", "bodies-1000-3m", "bodies-5000-3m", "default-097-3m", "discount",
          "discount-095", "mirror-bodies", "planar-1000", "planar-1000-shares", "recent-velocity", "start-yaw",
          "start-yaw-recent-velocity")  # fmt: skip


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def share_beaten(results: list[dict]) -> float:
    return float(np.mean([float(r["policy_return"]) > float(r["zero_return"]) for r in results]))


def behaviour(results: list[dict], actor: str, length: int) -> dict:
    """How ``actor``'s (policy, zero) episodes on a set went."""
    ret = np.array([float(r[f"{actor}_return"]) for r in results])
    velocity = np.array([float(r[f"{actor}_velocity"]) for r in results])
    steps = np.array([float(r[f"{actor}_length"]) for r in results])
    fell = np.array([float(r[f"{actor}_fall_rate"]) for r in results])
    return {
        "mean": float(ret.mean()),
        "median": float(np.median(ret)),
        "moving": float(np.mean(velocity > MOVING)),
        "held still": float(np.mean((steps >= length) & (np.abs(velocity) < STILL))),
        "fallen": float(fell.mean()),
    }


def main() -> None:
    trials = sorted(
        p.parents[2]
        for sweep in SWEEPS
        for p in (HERE / sweep).glob(f"**/trials/*/eval/{SUITE}/unimal100-results.csv")
        if "budget" not in p.parts
    )
    per_trial, zero = [], None
    for trial in trials:
        suite = trial / "eval" / SUITE
        unimal100 = rows(suite / "unimal100-results.csv")
        per_trial.append({
            "trial": str(trial.relative_to(HERE)),
            "training return": last_updates(trial, "episode_return"),
            "held-out unimal beaten": share_beaten(rows(suite / "heldout-generated-results.csv")),
            "held-out planar beaten": share_beaten(rows(suite / "heldout-planar-results.csv")),
            "unimal100 beaten": share_beaten(unimal100),
            **{f"unimal100 {k}": v for k, v in behaviour(unimal100, "policy", 1000).items()},
        })  # fmt: skip
        zero = zero or behaviour(unimal100, "zero", 1000)  # the same zero-torque episodes in every trial
    keys = [k for k in per_trial[0] if k != "trial"]
    table = {k: np.array([t[k] for t in per_trial]) for k in keys}
    summary = {
        k: {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())} for k, v in table.items()
    }
    correlations = {
        f"unimal100 mean vs {k}": float(spearmanr(table["unimal100 mean"], table[k])[0])
        for k in ("training return", "held-out unimal beaten", "held-out planar beaten")
    }
    out = {
        "trials": len(per_trial),
        "sweeps": sorted({t["trial"].split("/")[0] for t in per_trial}),
        "policies": summary,
        "zero torque on unimal100": zero,
        "rank correlations over trials": correlations,
        "per trial": per_trial,
    }
    (HERE / "unimal100_across_policies.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "per trial"}, indent=1))


if __name__ == "__main__":
    main()
