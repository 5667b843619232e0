"""How repeatable is a held-out body's verdict (beaten or not) for one policy?

    python docs/sweeps/verdict_noise.py TRIAL [TRIAL ...] [--episodes 5]   # trial folders, checkpoints kept

The suites score each held-out body on one episode of the policy against one of zero torque, from
a start drawn with the task's reset noise (evaluation seed 0). For each trial this evaluates its
last checkpoint again on the two held-out generated sets of `eval/link-tokens.toml` with
evaluation seeds 1 and 2 (`metamorph eval --task flat --episodes 1 --seed S`, the registered flat task
as in the suite, whatever task the run trained on; one thread, about 75 s a set), and
compares the verdicts with the suite's own: the share beaten under each seed, the share of bodies
whose verdict two seeds agree on, and the share all three agree on. First, from the committed
results alone, how many held-out bodies the 0.97 default's twelve training seeds beat all, none or
some of (evaluation seed 0). With --episodes N, each trial is also evaluated on N episodes a body
(seed 0): the share beaten by mean return, and how many bodies the policy beats in every episode,
in none or in some (each episode against zero torque's from the same start). Writes
docs/sweeps/verdict_noise.json. Not part of the product: a diagnostic for issue 14, target 2
("How repeatable a body's verdict is…", docs/learning.md).
"""

import argparse
import csv
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SETS = {"held-out unimal": ("heldout-generated", "generate:unimal:100:1000"),
        "held-out planar": ("heldout-planar", "generate:planar:100:1000")}  # fmt: skip
SEEDS = (1, 2)


def verdicts(results: Path) -> dict[str, bool]:
    """Per body, whether the policy beat zero torque: from an evaluation's results.json (unrounded,
    as the suite counts), or a committed copy's SET-results.csv (returns to four decimals)."""
    if results.suffix == ".json":
        actors = json.loads(results.read_text())["bodies"]
        zero = {b["name"]: np.mean(b["returns"]) for b in actors["zero"]}
        return {b["name"]: bool(np.mean(b["returns"]) > zero[b["name"]]) for b in actors["policy"]}
    return {r["body"]: float(r["policy_return"]) > float(r["zero_return"]) for r in csv.DictReader(results.open())}


def evaluate(checkpoint: str, bodies: str, episodes: int, seed: int, folder: Path) -> Path:
    """`metamorph eval` on the registered flat task, once: the results.json it writes."""
    if not (folder / "results.json").is_file():
        command = ["metamorph", "eval", checkpoint, "--bodies", bodies, "--task", "flat", "--episodes", str(episodes),
                   "--seed", str(seed), "--out", str(folder), "--nthread", "1"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
    return folder / "results.json"


def several_episodes(results: Path) -> dict:
    """The verdicts of one evaluation of several episodes a body: by the bodies' mean returns, and
    per body the share of episodes the policy beats zero torque's episode from the same start."""
    actors = json.loads(results.read_text())["bodies"]
    zero = {b["name"]: np.array(b["returns"]) for b in actors["zero"]}
    won = np.array([np.mean(np.array(b["returns"]) > zero[b["name"]]) for b in actors["policy"]])
    every, none = int((won == 1).sum()), int((won == 0).sum())
    return {
        "share beaten, by mean return": round(float(np.mean(list(verdicts(results).values()))), 3),
        "share beaten, episode by episode": round(float(won.mean()), 3),
        "bodies beaten in every episode / in none / in some": [every, none, len(won) - every - none],
    }


def trial_noise(trial: Path, episodes: int) -> dict:
    suite = next(trial.glob("eval/suite-*"))
    checkpoint = json.loads((suite / "suite.json").read_text())["checkpoint"]
    out = {"trial": f"{trial.parent.parent.name}/{trial.name}", "checkpoint": Path(checkpoint).name}
    for name, (set_name, bodies) in SETS.items():
        runs = [verdicts(suite / set_name / "results.json")]
        for seed in SEEDS:
            folder = trial / "eval" / f"verdict-noise-s{seed}-{set_name}"
            runs.append(verdicts(evaluate(checkpoint, bodies, 1, seed, folder)))
        bodies_in_order = sorted(runs[0])
        beaten = np.array([[run[b] for b in bodies_in_order] for run in runs])
        pairs = [round(float((beaten[a] == beaten[b]).mean()), 3) for a, b in combinations(range(len(runs)), 2)]
        out[name] = {
            "share beaten, evaluation seeds 0, 1, 2": beaten.mean(1).round(3).tolist(),
            "same verdict, each pair of seeds": pairs,
            "same verdict under all three": round(float((beaten.all(0) | ~beaten.any(0)).mean()), 3),
        }
        if episodes > 1:
            folder = trial / "eval" / f"verdict-noise-{episodes}-episodes-{set_name}"
            results = evaluate(checkpoint, bodies, episodes, 0, folder)
            out[name][f"{episodes} episodes a body"] = several_episodes(results)
        print(out["trial"], name, out[name])
    return out


def across_training_seeds() -> dict:
    """Per held-out body, how many of the 0.97 default's twelve seeds beat it: by all, none, some."""
    sys.path.insert(0, str(HERE))
    from default_spread import default_097_trials

    out = {}
    for name, (set_name, _) in SETS.items():
        count: dict[str, int] = {}
        for trial in default_097_trials():
            for body, won in verdicts(next(trial.glob(f"eval/suite-*/{set_name}-results.csv"))).items():
                count[body] = count.get(body, 0) + won
        seeds = np.array(list(count.values()))
        out[name] = {"beaten by all 12": int((seeds == 12).sum()), "by none": int((seeds == 0).sum()),
                     "by some, not all": int(((seeds > 0) & (seeds < 12)).sum())}  # fmt: skip
        print("the default's twelve seeds,", name, out[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", nargs="+", type=Path, help="trial folders of a sweep run, checkpoints kept")
    parser.add_argument("--episodes", type=int, default=0, help="also evaluate this many episodes a body (seed 0)")
    args = parser.parse_args()
    results = {"the default's twelve seeds": across_training_seeds(),
               "one policy, three evaluation seeds": [trial_noise(t, args.episodes) for t in args.trials]}  # fmt: skip
    (HERE / "verdict_noise.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
