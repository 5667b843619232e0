"""The default (100 `unimal` + 100 `planar` bodies) against the old default (100 `unimal`) over nine seeds.

    python docs/sweeps/planar-plus/nine_seeds.py

Reads the committed sweep copies (each trial's eval/suite-planar/suite.json and real-results.csv):
seeds 0-5 of the default in docs/sweeps/planar-plus, 6-8 in its seeds-6-8; the old default's seeds 0-2
in docs/sweeps/planar-bodies (configuration c00), 3-5 and 6-8 in its default-seeds-* folders. Prints,
and writes beside this script as nine_seeds.json, the mean over seeds of every suite figure with the
sweep report's 95 % bootstrap interval over seeds, and the real robots beaten (of the 9 curated ones;
humanoid_CMU, the tenth, is left out of that count as everywhere in the README).
"""

import csv
import json
from pathlib import Path

import numpy as np

from metamorph.sweep_report import stratified_bootstrap_ci

HERE = Path(__file__).parent
ARMS = {
    "default: 100 unimal + 100 planar": [HERE / "trials", HERE / "seeds-6-8" / "trials"],
    "old default: 100 unimal": [
        HERE.parent / "planar-bodies" / "trials",
        HERE.parent / "planar-bodies" / "default-seeds-3-5" / "trials",
        HERE.parent / "planar-bodies" / "default-seeds-6-8" / "trials",
    ],
}


def trial_figures(suite_dir: Path) -> dict[str, float]:
    figures = {}
    for name, body_set in json.loads((suite_dir / "suite.json").read_text())["sets"].items():
        policy = body_set["actors"]["policy"]
        for key in ("mean", "median", "moving_share", "beats_zero_share"):
            figures[f"{name} {key}"] = policy[key]
    rows = list(csv.DictReader((suite_dir / "real-results.csv").open()))
    figures["real beaten (of 9)"] = sum(
        float(r["policy_return"]) > float(r["zero_return"]) for r in rows if r["body"] != "humanoid_CMU"
    )
    return figures


def suite_figures(trial: Path) -> dict[str, float]:
    return trial_figures(trial / "eval" / "suite-planar")


def summarise(arms: dict[str, list[Path]], figures=suite_figures) -> dict:
    """Per arm (a name and its trials' folders, or single trials): each figure's mean over seeds,
    95 % interval and per-seed values; printed as it goes. ``figures(trial)`` gives a trial's figures."""
    summary = {}
    for arm, folders in arms.items():
        single = [f for f in folders if (f / "metrics.jsonl").exists()]  # a trial folder itself
        trials = sorted(
            (t for folder in folders for t in ([folder] if folder in single else folder.glob("c00-s*"))),
            key=lambda t: int(t.name.split("-s")[1]),
        )
        per_trial = [figures(t) for t in trials]
        summary[arm] = {"seeds": [int(t.name.split("-s")[1]) for t in trials]}
        print(f"== {arm}: seeds {summary[arm]['seeds']}")
        for key in per_trial[0]:
            values = np.array([row[key] for row in per_trial], float)
            low, high = stratified_bootstrap_ci(values[:, None], np.mean)
            summary[arm][key] = {"mean": float(values.mean()), "ci": [float(low), float(high)],
                                 "per_seed": np.round(values, 2).tolist()}  # fmt: skip
            print(f"  {key}: {values.mean():.2f} [{low:.2f}, {high:.2f}] {np.round(values, 2).tolist()}")
    return summary


def main() -> None:
    (HERE / "nine_seeds.json").write_text(json.dumps(summarise(ARMS), indent=1))


if __name__ == "__main__":
    main()
