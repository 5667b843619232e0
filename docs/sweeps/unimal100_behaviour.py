"""How an arm's policies move UNIMAL-100's bodies, against the 0.97 default's twelve 1M seeds.

    python docs/sweeps/unimal100_behaviour.py FOLDER [--config c00]
    python docs/sweeps/unimal100_behaviour.py clock

The mechanism rule of the `clock` sweep (train/sweeps/clock.toml): per trial, from the committed
per-body results on the link-tokens suite's `unimal100` set (one episode a body), the share of
UNIMAL-100's bodies held still (the whole episode up, slower than 0.05 m/s either way), moving
(faster than 0.1 m/s), fallen and beaten, and the mean and median return
(`unimal100_across_policies.behaviour`); each as the mean over seeds with a 95 % bootstrap interval
(`metamorph.evaluate.aggregate`, as the sweep reports). The arm's seeds are FOLDER/trials/CONFIG-s*
(or FOLDER/seeds-*/trials). The rule: the arm's held-still interval lies under the default's and its
moving interval above it. Writes FOLDER/unimal100_behaviour.json (…-CONFIG.json for another
configuration than c00).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from default_spread import default_097_trials  # noqa: E402
from unimal100_across_policies import SUITE, behaviour, rows, share_beaten  # noqa: E402

from metamorph.evaluate import aggregate  # noqa: E402


def trial_figures(trial: Path) -> dict:
    results = rows(trial / "eval" / SUITE / "unimal100-results.csv")
    return {**behaviour(results, "policy", 1000), "beaten": share_beaten(results)}


def summarise(trials: list[Path]) -> dict:
    figures = [trial_figures(t) for t in trials]
    out = {"seeds": len(trials)}
    for key in figures[0]:
        values = np.array([f[key] for f in figures])
        stats = aggregate(values)
        out[key] = {"mean": stats["mean"], "ci": [stats["mean_ci_low"], stats["mean_ci_high"]],
                    "per_seed": values.round(4).tolist()}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the sweep copy's folder name under docs/sweeps/")
    parser.add_argument("--config", default="c00")
    args = parser.parse_args()
    folder = HERE / args.folder
    arm = sorted(
        [*folder.glob(f"trials/{args.config}-s*"), *folder.glob(f"seeds-*/trials/{args.config}-s*")],
        key=lambda t: int(t.name.split("-s")[1]),
    )
    arm = [t for t in arm if (t / "eval" / SUITE / "unimal100-results.csv").exists()]
    out = {"arm": summarise(arm), "default (discount 0.97), seeds 0-11": summarise(default_097_trials())}
    a, d = out["arm"], out["default (discount 0.97), seeds 0-11"]
    out["rule"] = {
        "held still under the default's interval": a["held still"]["ci"][1] < d["held still"]["ci"][0],
        "moving above the default's interval": a["moving"]["ci"][0] > d["moving"]["ci"][1],
    }
    out["rule"]["passes"] = all(out["rule"].values())
    name = "unimal100_behaviour.json" if args.config == "c00" else f"unimal100_behaviour-{args.config}.json"
    (folder / name).write_text(json.dumps(out, indent=1))
    for name, summary in (("arm", a), ("default", d)):
        print(
            name, {k: (round(v["mean"], 3), [round(x, 3) for x in v["ci"]]) for k, v in summary.items() if k != "seeds"}
        )
    print(out["rule"])


if __name__ == "__main__":
    main()
