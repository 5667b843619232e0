"""100 more planar bodies beside the default's (the planar-more pilot) against the default.

    python docs/sweeps/planar-more/summary.py

Reads the committed sweep copy beside this script (trials c00-s0..2: 100 `unimal` + 200 `planar`
bodies) and, for the default (100 + 100), its seeds 0-8 run on the same VM and code
(docs/sweeps/planar-plus: unpacked-intel-seeds-0-2 and the c01 trials of packing-seeds-3-5 and
packing-seeds-6-8; joint-token runs there repeat bit for bit), the same seeds 0-2 alone too.
Prints, and writes beside this script as summary.json, per arm the training return (last 10
updates) and every figure of the planar suite, as the mean over seeds with the sweep report's 95 %
bootstrap interval and the per-seed values.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
PLANAR_PLUS = HERE.parent / "planar-plus"
sys.path.insert(0, str(PLANAR_PLUS))
from nine_seeds import suite_figures, summarise  # noqa: E402

from metamorph.sweep import train_return  # noqa: E402


def figures(trial: Path) -> dict:
    return {"training return": train_return(trial, 10), **suite_figures(trial)}


def main() -> None:
    default_0_2 = [PLANAR_PLUS / "unpacked-intel-seeds-0-2" / "trials"]
    default_3_8 = [
        PLANAR_PLUS / f"packing-seeds-{seeds}" / "trials" / f"c01-s{seed}"
        for seeds, group in (("3-5", (3, 4, 5)), ("6-8", (6, 7, 8)))
        for seed in group
    ]
    arms = {
        "100 unimal + 200 planar, seeds 0-2": [HERE / "trials"],
        "the default (100 + 100), seeds 0-2": default_0_2,
        "the default (100 + 100), seeds 0-8": default_0_2 + default_3_8,
    }
    (HERE / "summary.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
