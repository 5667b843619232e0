"""One arm of a 1M-step sweep judged by the two-stage rule, against the 0.97 default's twelve seeds.

    python docs/sweeps/against_097.py FOLDER "ARM NAME" [--config c00]
    python docs/sweeps/against_097.py discount-095 "discount 0.95"
    python docs/sweeps/against_097.py bodies-1000-3m "1000 + 1000 bodies, 3M steps" --no-training-return

The rule of the sweeps written after γ 0.97 became the default (train/sweeps/discount-095.toml,
alive-bonus-default.toml): the discount sweep's rule (docs/sweeps/discount/rule.py, its `screen` and
`confirmation`) with the 0.97 arm's seeds 0-11 as the reference (docs/sweeps/discount, c00: the
default recipe since 2026-12-06, on the same suite, eval/link-tokens.toml). The arm's seeds 0-5 are
FOLDER/trials/CONFIG-s0..5 (or seeds-*/trials), 6-11 the same in FOLDER/seeds-6-11/trials.

The training return is taken without an alive bonus or a control cost: the episode return of the
last 10 updates less their alive and control reward a step times their episode length (the same as
the return when the run has neither), so an arm that adds reward terms is held to the forward motion
it learnt. Prints every
figure (`nine_seeds.summarise`) and the verdicts, and writes FOLDER/rule.json.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "discount"))
from against_default import last_updates  # noqa: E402
from default_spread import default_097_trials  # noqa: E402
from rule import FLOORS, confirmation, screen  # noqa: E402
from six_seeds import committed_trial, figures, summarise  # noqa: E402

REFERENCE = "the default (discount 0.97), seeds 0-11"


def figures_without_bonus(trial: Path) -> dict:
    out = figures(trial)
    length = last_updates(trial, "episode_length")
    alive = last_updates(trial, "reward_alive") * length
    # a control cost (--control-cost) is taken out too: trials from before the term have no key
    has_control = "reward_control" in json.loads((trial / "metrics.jsonl").read_text().splitlines()[-1])
    control = last_updates(trial, "reward_control") * length if has_control else 0.0
    return out | {
        "training return": out["training return"] - alive - control,
        "alive return (removed)": alive,
        "control return (removed)": control,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the sweep copy's folder name under docs/sweeps/")
    parser.add_argument("arm", help="what the arm changes, for the printout")
    parser.add_argument("--config", default="c00", help="the arm's configuration in the sweep (c00, c01, …)")
    parser.add_argument(
        "--no-training-return",
        action="store_true",
        help="judge without the training-return floor, for arms whose rule drops it (a return over "
        "another training set or budget is not the default's: bodies-1000-3m, default-097-3m)",
    )
    args = parser.parse_args()
    folder = HERE / args.folder
    reference = summarise({REFERENCE: default_097_trials()}, figures_without_bonus)[REFERENCE]
    out = {REFERENCE: reference}
    first = [t for seed in range(6) if (t := committed_trial(folder, f"{args.config}-s{seed}"))]
    if len(first) < 6:
        print(f"{args.arm}: partial, {len(first)} of seeds 0-5")
        out[args.arm] = {"verdict": f"partial: {len(first)} of seeds 0-5"}
        if first:
            out[args.arm]["finished seeds"] = summarise({args.arm: first}, figures_without_bonus)[args.arm]
    else:
        six = summarise({args.arm: first}, figures_without_bonus)[args.arm]
        floors = tuple(f for f in FLOORS if not (args.no_training_return and f == "training return"))
        out[args.arm] = {"seeds 0-5": six, "screen": screen(six, reference, floors)}
        print(f"{args.arm}, screen: {'passes' if out[args.arm]['screen']['passes'] else 'fails'}")
        print(json.dumps(out[args.arm]["screen"], indent=1))
        later = [t for seed in range(6, 12) if (t := committed_trial(folder, f"{args.config}-s{seed}"))]
        if out[args.arm]["screen"]["passes"] and len(later) == 6:
            twelve = summarise({args.arm: first + later}, figures_without_bonus)[args.arm]
            verdict = confirmation(twelve, reference, out[args.arm]["screen"]["shares above the interval"])
            out[args.arm] |= {"seeds 0-11": twelve, "confirmation": verdict}
            print(f"{args.arm}, confirmation: {'passes' if verdict['passes'] else 'fails'}")
            print(json.dumps(verdict, indent=1))
        elif out[args.arm]["screen"]["passes"]:
            out[args.arm]["confirmation"] = f"partial: {len(later)} of seeds 6-11"
    (folder / "rule.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
