"""Target 5's curve at 3M steps: zero-shot transfer against the number of training bodies.

    python docs/sweeps/bodies_curve_3m.py   # writes docs/sweeps/bodies_curve_3m.json and .png

Three sweeps of the default recipe (discount 0.97) at 3M steps, seeds 0-5 each, every trial scored
on eval/link-tokens.toml (held-out bodies of design seed 1000, the curated real robots): 200
training bodies (the default's 100 `unimal` + 100 `planar`, default-097-3m), 2000 (1000 + 1000,
bodies-1000-3m) and 10000 (5000 + 5000, bodies-5000-3m). Per arm, the mean over seeds with the
sweep report's 95 % bootstrap interval of each held-out set's share of bodies beaten (better than
zero torque), its mean and median return, the real robots beaten (of 9) and the training figures,
read from the committed sweep copies (a sweep's later seeds in FOLDER/seeds-*/trials). The plot puts
the shares and mean returns against the number of bodies on a log axis. Not part of the product:
evidence for issue 14, target 5 ("Fifty times the training bodies at three times the budget…",
docs/learning.md).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from against_097 import figures_without_bonus  # noqa: E402
from six_seeds import committed_trial, summarise  # noqa: E402

ARMS = {200: "default-097-3m", 2000: "bodies-1000-3m", 10000: "bodies-5000-3m"}
SEEDS = range(6)
PANELS = {
    "share of held-out bodies beaten": ("heldout-generated beats_zero_share", "heldout-planar beats_zero_share"),
    "held-out mean return": ("heldout-generated mean", "heldout-planar mean"),
}
LABELS = {"heldout-generated": "held-out unimal", "heldout-planar": "held-out planar"}


def trials(folder: str) -> list[Path]:
    found = [committed_trial(HERE / folder, f"c00-s{seed}") for seed in SEEDS]
    missing = [seed for seed, trial in zip(SEEDS, found, strict=True) if trial is None]
    if missing:
        sys.exit(f"docs/sweeps/{folder}: seeds {missing} have no finished trial")
    return found


def main() -> None:
    summary = summarise({str(n): trials(folder) for n, folder in ARMS.items()}, figures_without_bonus)
    for n, folder in ARMS.items():
        summary[str(n)]["sweep"] = folder
    (HERE / "bodies_curve_3m.json").write_text(json.dumps(summary, indent=1))

    counts = list(ARMS)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(10, 4))
    for axis, (title, keys) in zip(axes, PANELS.items(), strict=True):
        for key in keys:
            rows = [summary[str(n)][key] for n in counts]
            scale = 100 if "share" in key else 1
            means = [r["mean"] * scale for r in rows]
            below = [(r["mean"] - r["ci"][0]) * scale for r in rows]
            above = [(r["ci"][1] - r["mean"]) * scale for r in rows]
            axis.errorbar(counts, means, yerr=[below, above], marker="o", capsize=4, label=LABELS[key.split()[0]])
        axis.set_xscale("log")
        axis.set_xticks(counts, [str(n) for n in counts])
        axis.set_xlabel("training bodies (3M env steps, 6 seeds, 95 % CI)")
        axis.set_title(title + (" (%)" if "share" in title else ""))
        axis.legend()
    fig.tight_layout()
    fig.savefig(HERE / "bodies_curve_3m.png", dpi=120)


if __name__ == "__main__":
    main()
