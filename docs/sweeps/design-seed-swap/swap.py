"""The design-seed swap: how much of the gap between own and unseen bodies is transfer.

    python docs/sweeps/design-seed-swap/swap.py

Two arms of the default recipe (1M steps, seeds 0-2), each scored on the `unimal` and `planar` sets
of design seed 0 and of design seed 1000 (100 bodies each):
- the default, trained on seed 0: its own bodies from docs/sweeps/own-bodies/default/c00-sS
  (eval/default-training-bodies.toml), the seed-1000 sets from the link-tokens sweep it ran in
  (docs/sweeps/link-tokens/joint);
- the swap, trained on seed 1000 (train/sweeps/design-seed-swap.toml): both from its trials'
  eval/design-seed-swap.toml scores (this folder's trials/; the seeds scored so far).
On each set, the policy trained on it against the policy that never saw it is the transfer gap
with the set held fixed; the two sets' own-trained figures side by side are the sets' difficulty.
Prints, and writes as swap.json, each figure's mean over seeds, 95 % bootstrap interval and
per-seed values, then the table of beats-zero shares by set, then, body by body on the seed-0 sets
(where both arms' per-body results are kept), how many of the three seeds of each arm beat zero
torque on it.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SWEEPS = HERE.parent
sys.path.insert(0, str(SWEEPS / "planar-plus"))
from nine_seeds import summarise  # noqa: E402

DEFAULT_TRIALS = SWEEPS / "link-tokens" / "joint" / "trials"
DEFAULT_OWN = SWEEPS / "own-bodies" / "default"
SWAP_TRIALS = HERE / "trials"
ARMS = {"trained on seed 0 (the default)": DEFAULT_TRIALS, "trained on seed 1000 (the swap)": SWAP_TRIALS}
SETS = {  # (suite file under the trial, or the own-bodies copy) -> {set name in that suite: (space, design seed)}
    "default-own": {"training-unimal": ("unimal", 0), "training-planar": ("planar", 0)},
    "link-tokens": {"heldout-generated": ("unimal", 1000), "heldout-planar": ("planar", 1000)},
    "design-seed-swap": {"own-unimal": ("unimal", 1000), "own-planar": ("planar", 1000),
                         "unseen-unimal": ("unimal", 0), "unseen-planar": ("planar", 0)},
}  # fmt: skip
FIGURES = ("mean", "median", "beats_zero_share")


def suites(trial: Path) -> dict[str, Path]:
    if trial.parent == DEFAULT_TRIALS:
        return {"default-own": DEFAULT_OWN / trial.name / "suite.json",
                "link-tokens": trial / "eval" / "suite-link-tokens" / "suite.json"}  # fmt: skip
    return {"design-seed-swap": trial / "eval" / "suite-design-seed-swap" / "suite.json"}


def figures(trial: Path) -> dict[str, float]:
    """The policy's figures and zero torque's mean on each (space, design seed) set."""
    out = {}
    for suite, path in suites(trial).items():
        for name, body_set in json.loads(path.read_text())["sets"].items():
            if name not in SETS[suite]:  # the link-tokens suite's real robots and UNIMAL-100
                continue
            space, seed = SETS[suite][name]
            for key in FIGURES:
                out[f"{space} seed {seed} {key}"] = body_set["actors"]["policy"][key]
            out[f"{space} seed {seed} zero-torque mean"] = body_set["actors"]["zero"]["mean"]
    return dict(sorted(out.items()))


def _share(figure: dict) -> str:
    low, high = figure["ci"]
    return f"{100 * figure['mean']:.1f} % [{100 * low:.0f}, {100 * high:.0f}]"


def swap_seeds() -> list[int]:
    """The swap's seeds whose trials are scored and copied here."""
    return sorted(int(t.name.split("-s")[1]) for t in SWAP_TRIALS.glob("c00-s*") if (t / "objective.json").exists())


def main() -> None:
    seeds = {DEFAULT_TRIALS: range(3), SWAP_TRIALS: swap_seeds()}
    summary = summarise({arm: [trials / f"c00-s{s}" for s in seeds[trials]] for arm, trials in ARMS.items()}, figures)
    default, swap = (summary[arm] for arm in ARMS)
    print("\n| body set | trained on it | trained on the other design seed | gap | zero torque's mean |")
    print("| --- | --- | --- | --- | --- |")
    for space in ("unimal", "planar"):
        for seed, own, other in ((0, default, swap), (1000, swap, default)):
            key = f"{space} seed {seed} beats_zero_share"
            own_share, other_share = own[key], other[key]
            print(
                f"| `{space}`, seed {seed} | {_share(own_share)} | {_share(other_share)} | "
                f"{100 * (own_share['mean'] - other_share['mean']):+.1f} points | "
                f"{own[f'{space} seed {seed} zero-torque mean']['mean']:.2f} |"
            )
    summary["seed 0, bodies by seeds beating zero torque [trained on it][never saw it]"] = per_body()
    (HERE / "swap.json").write_text(json.dumps(summary, indent=1))


def beaten_by_seeds(paths: list[Path]) -> dict[str, int]:
    """Per body, how many of these results files (one a seed) have the policy beat zero torque."""
    counts: dict[str, int] = {}
    for path in paths:
        with path.open() as f:
            for row in csv.DictReader(f):
                beaten = float(row["policy_return"]) > float(row["zero_return"])
                counts[row["body"]] = counts.get(row["body"], 0) + beaten
    return counts


def per_body() -> dict:
    """On the seed-0 sets: bodies by how many of the default's seeds (trained on them) and of the
    swap's seeds (never saw them) beat zero torque."""
    out = {}
    for space in ("unimal", "planar"):
        own = beaten_by_seeds([DEFAULT_OWN / f"c00-s{s}" / f"training-{space}-results.csv" for s in range(3)])
        swap_suites = [SWAP_TRIALS / f"c00-s{s}" / "eval" / "suite-design-seed-swap" for s in swap_seeds()]
        unseen = beaten_by_seeds([suite / f"unseen-{space}-results.csv" for suite in swap_suites])
        table = np.zeros((4, len(swap_suites) + 1), int)  # [default's seeds beating it, swap's seeds beating it]
        for body, count in own.items():
            table[count, unseen[body]] += 1
        out[space] = table.tolist()
        print(f"\n`{space}`, seed 0, bodies by the seeds that beat zero torque on them:")
        print("rows: trained on them (the default); columns: never saw them (the swap)")
        columns = range(len(swap_suites) + 1)
        print("| | " + " | ".join(map(str, columns)) + " |\n| --- |" + " --- |" * len(columns))
        for count in range(4):
            print(f"| {count} | " + " | ".join(str(n) for n in table[count]) + " |")
    return out


if __name__ == "__main__":
    main()
