"""Zero-shot return against training budget for the generated-3m sweep's three seeds.

    python docs/sweeps/generated-3m/budget_curve.py docs/sweeps/generated-3m

Reads FOLDER/budget/s{seed}-u{update}/suite.json (`metamorph eval CHECKPOINT --suite
eval/generated-3m.toml` on the checkpoints every ~500k steps) and each trial's own final suite
(FOLDER/trials/c00-s{seed}/eval/suite-generated-3m/suite.json), and writes FOLDER/budget_curve.json,
budget_curve.md and budget_curve.png: per budget and body set, the mean over seeds with a 95 %
bootstrap interval over seeds (the sweep report's), the median and the shares moving and beating
zero torque.
"""

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from metamorph.sweep_report import stratified_bootstrap_ci

STEPS_PER_UPDATE = 128 * 64
SETS = ("unimal100", "heldout-parent-stable")


def _policy(suite_json: Path, body_set: str) -> dict:
    return json.loads(suite_json.read_text())["sets"][body_set]["actors"]["policy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    runs: dict[int, dict[int, Path]] = {}
    for path in sorted((args.folder / "budget").glob("s*-u*/suite.json")):
        seed, update = map(int, re.fullmatch(r"s(\d+)-u(\d+)", path.parent.name).groups())
        runs.setdefault(update, {})[seed] = path
    for path in sorted((args.folder / "trials").glob("c00-s*/eval/suite-generated-3m/suite.json")):
        seed = int(path.parts[-4].split("-s")[1])
        update = int(Path(json.loads(path.read_text())["checkpoint"]).name.split("_")[1])
        runs.setdefault(update, {})[seed] = path
    rows = []
    for update in sorted(runs):
        row = {"update": update, "env_steps": update * STEPS_PER_UPDATE, "seeds": sorted(runs[update])}
        for body_set in SETS:
            policies = [_policy(runs[update][seed], body_set) for seed in row["seeds"]]
            means = np.array([p["mean"] for p in policies])
            low, high = stratified_bootstrap_ci(means[:, None], np.mean)
            row[body_set] = {
                "mean": float(means.mean()),
                "ci": [float(low), float(high)],
                "per_seed": [round(float(m), 2) for m in means],
                "median": float(np.mean([p["median"] for p in policies])),
                "moving_share": float(np.mean([p["moving_share"] for p in policies])),
                "beats_zero_share": float(np.mean([p["beats_zero_share"] for p in policies])),
            }
        rows.append(row)
    (args.folder / "budget_curve.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "| env steps (update) | seeds | UNIMAL-100 mean [95 % CI] (per seed) | median | moving | beats zero "
        "| held-out generated mean [95 % CI] (per seed) | median | moving | beats zero |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [f"{row['env_steps'] / 1e6:.2f}M ({row['update']})", str(len(row["seeds"]))]
        for body_set in SETS:
            s = row[body_set]
            cells += [
                f"{s['mean']:.2f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] ({', '.join(map(str, s['per_seed']))})",
                f"{s['median']:.2f}",
                f"{100 * s['moving_share']:.0f} %",
                f"{100 * s['beats_zero_share']:.0f} %",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    (args.folder / "budget_curve.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.array([row["env_steps"] / 1e6 for row in rows])
    for body_set, label in zip(SETS, ("UNIMAL-100", "held-out generated"), strict=True):
        mean = np.array([row[body_set]["mean"] for row in rows])
        low = np.array([row[body_set]["ci"][0] for row in rows])
        high = np.array([row[body_set]["ci"][1] for row in rows])
        ax.plot(steps, mean, marker="o", label=label)
        ax.fill_between(steps, low, high, alpha=0.2)
    ax.axhline(-2.88, color="grey", lw=0.8, ls="--", label="zero torque, UNIMAL-100")
    ax.set_xlabel("training env steps (M), 1000 generated bodies")
    ax.set_ylabel("zero-shot mean return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.folder / "budget_curve.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
