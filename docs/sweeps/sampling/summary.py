"""Uniform against balanced body sampling: the sampling sweep's uniform arm against the default
(balanced) over seeds 0-2.

    python docs/sweeps/sampling/summary.py

Reads the committed sweep copies: trials/ beside this script (train/sweeps/sampling.toml, uniform
sampling) and the default's same seeds on the same VM and code in docs/sweeps/link-tokens/joint
(joint tokens are the default; that arm repeats the default's earlier runs bit for bit), each
trial's eval/suite-link-tokens/suite.json and real-results.csv. Prints, and writes beside this script
as summary.json, per arm the training return (mean episode return of the last 10 updates) and every
suite figure (mean, median, moving share, share beating zero torque per set; real robots beaten of
the 9 curated ones), each as the mean over seeds with the sweep report's 95 % bootstrap interval and
the per-seed values.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "planar-plus"))
from nine_seeds import summarise, trial_figures  # noqa: E402

from metamorph.sweep import train_return  # noqa: E402


def figures(trial: Path) -> dict:
    return {"training return": train_return(trial, 10), **trial_figures(trial / "eval" / "suite-link-tokens")}


def main() -> None:
    arms = {
        "balanced (the default)": [HERE.parent / "link-tokens" / "joint" / "trials" / f"c00-s{s}" for s in range(3)],
        "uniform (--sampling uniform)": [HERE / "trials" / f"c00-s{s}" for s in range(3)],
    }
    (HERE / "summary.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
