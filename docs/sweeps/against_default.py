"""One arm of a 1M-step sweep against the default recipe's seeds 0-2, on the link-tokens sweep's suite.

    python docs/sweeps/against_default.py FOLDER "ARM NAME" ["c01=ARM NAME" ...]
    python docs/sweeps/against_default.py sampling "uniform (--sampling uniform)"

FOLDER is a committed sweep copy under docs/sweeps/ whose trials cNN-s0..2 were scored on
eval/link-tokens.toml (the default's held-out `unimal` and `planar` sets, the real robots and
UNIMAL-100). The comparison is the default's same seeds on the same VM and code, in
docs/sweeps/link-tokens/joint (joint tokens are the default; that arm repeats the default's earlier
runs bit for bit). An arm named without a prefix is configuration c00; "c01=NAME" names
another. Prints, and writes as FOLDER/summary.json, per arm the training return (mean
episode return of the last 10 updates), the episode length and forward-velocity reward a step over
those updates, and every suite figure (mean, median, moving share, share beating zero torque per
set; real robots beaten of the 9 curated ones), each as the mean over seeds with the sweep report's
95 % bootstrap interval and the per-seed values.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "planar-plus"))
from nine_seeds import summarise, trial_figures  # noqa: E402

from metamorph.sweep import train_return  # noqa: E402

DEFAULT = HERE / "link-tokens" / "joint" / "trials"


def last_updates(trial: Path, key: str, count: int = 10) -> float:
    rows = [json.loads(line) for line in (trial / "metrics.jsonl").read_text().splitlines()][-count:]
    return sum(row[key] for row in rows) / len(rows)


def figures(trial: Path) -> dict:
    """A trial's training figures and those of the one suite it was scored on."""
    return {
        "training return": train_return(trial, 10),
        "training episode length": last_updates(trial, "episode_length"),
        "forward-velocity reward a step": last_updates(trial, "reward_forward_velocity"),
        **trial_figures(next(trial.glob("eval/suite-*"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the sweep copy's folder name under docs/sweeps/")
    parser.add_argument("arms", nargs="+", help='what configuration c00 changes, or "cNN=NAME" for another')
    args = parser.parse_args()
    folder = HERE / args.folder
    arms = {"the default": [DEFAULT / f"c00-s{seed}" for seed in range(3)]}
    for arm in args.arms:
        config, name = arm.split("=", 1) if arm[:1] == "c" and "=" in arm[:5] else ("c00", arm)
        arms[name] = [folder / "trials" / f"{config}-s{seed}" for seed in range(3)]
    (folder / "summary.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
