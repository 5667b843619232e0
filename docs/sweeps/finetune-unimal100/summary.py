"""Fine-tuned against from-scratch on UNIMAL-100, over the seeds in this folder.

    python docs/sweeps/finetune-unimal100/summary.py

Reads sS/comparison.json (`metamorph finetune`'s comparison of sS and sS-scratch) for every seed
here and prints, and writes as summary.json, each figure per seed and its mean over seeds with the
sweep report's 95 % bootstrap interval (the sample efficiency per seed only).
"""

import json
from pathlib import Path

import numpy as np

from metamorph.sweep_report import stratified_bootstrap_ci

HERE = Path(__file__).parent
FIGURES = ("finetuned_first_return", "scratch_first_return", "finetuned_final_return", "scratch_final_return")


def main() -> None:
    comparisons = {
        int(p.parent.name[1:]): json.loads(p.read_text()) for p in sorted(HERE.glob("s[0-9]/comparison.json"))
    }
    summary: dict = {"seeds": sorted(comparisons)}
    for figure in FIGURES:
        values = np.array([np.nan if c[figure] is None else c[figure] for c in comparisons.values()], float)
        low, high = stratified_bootstrap_ci(values[:, None], np.mean)
        summary[figure] = {"mean": float(values.mean()), "ci": [float(low), float(high)],
                           "per_seed": np.round(values, 2).tolist()}  # fmt: skip
        print(f"{figure}: {values.mean():.2f} [{low:.2f}, {high:.2f}] {np.round(values, 2).tolist()}")
    # None where the fine-tuned run never reached the scratch run's final return: no mean over seeds
    summary["sample_efficiency"] = [c["sample_efficiency"] for c in comparisons.values()]
    print("sample_efficiency per seed (None: never reached):", summary["sample_efficiency"])
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
