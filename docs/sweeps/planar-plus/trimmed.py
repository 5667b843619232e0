"""Does trimming padding out of the update (`--ppo.token-bucket auto`, which trims the default's
bodies) change what the default learns? Its seeds 0-5 against the same seeds untrimmed
(the planar-plus sweep, the same recipe and code otherwise), and against all nine untrimmed seeds.

    python docs/sweeps/planar-plus/trimmed.py

Reads the committed sweep copies: docs/sweeps/planar-plus/trimmed-seeds-0-2 and trimmed-seeds-3-5
(trimmed), trials and seeds-6-8 (untrimmed), no-emitters-seeds-0-2 and no-emitters-seeds-3-5
(trimmed, compiled without XLA's fusion emitters: the default since 2026-12-05), packed-seeds-0-2
(the same, with bodies packed when acting: the default since 2026-12-05 evening, run on an Intel
VM where the others ran on an AMD one) and unpacked-intel-seeds-0-2 (the same code and VM with
--no-pack-bodies), and packing-seeds-3-5 and packing-seeds-6-8 (both, seeds 3-8,
train/sweeps/packing-seeds.toml). Per arm, the mean over seeds with the sweep report's 95 %
bootstrap interval of the training return (mean of the last 10 updates' episode returns), every
figure of each trial's planar suite (eval/suite-planar/suite.json) and the real robots beaten (of
the 9 curated ones, humanoid_CMU left out as everywhere). Prints it and writes trimmed.json beside this script.
"""

import json
from pathlib import Path

from nine_seeds import suite_figures, summarise

from metamorph.sweep import train_return

HERE = Path(__file__).parent
_MORE = (("3-5", (3, 4, 5)), ("6-8", (6, 7, 8)))  # train/sweeps/packing-seeds.toml: c00 packed, c01 unpacked
ARMS = {
    "trimmed (auto), seeds 0-5": [HERE / "trimmed-seeds-0-2" / "trials", HERE / "trimmed-seeds-3-5" / "trials"],
    "untrimmed, seeds 0-5": [HERE / "trials"],
    "untrimmed, seeds 0-8": [HERE / "trials", HERE / "seeds-6-8" / "trials"],
    # the default since 5af7cd7's parent: trimmed, its update compiled without XLA's fusion emitters
    "trimmed without the fusion emitters, seeds 0-2": [HERE / "no-emitters-seeds-0-2" / "trials"],
    "trimmed without the fusion emitters, seeds 0-5": [
        HERE / "no-emitters-seeds-0-2" / "trials",
        HERE / "no-emitters-seeds-3-5" / "trials",
    ],
    # the default since 2026-12-05 evening: bodies packed when acting (rounding only), run on another VM
    "packed acting, seeds 0-2": [HERE / "packed-seeds-0-2" / "trials"],
    # the same code and VM with --no-pack-bodies: separates packing from the change of machine
    "unpacked acting on the Intel VM, seeds 0-2": [HERE / "unpacked-intel-seeds-0-2" / "trials"],
    # train/sweeps/packing-seeds.toml, seeds 3-5, the same VM: c00 packed, c01 unpacked
    "packed acting, seeds 0-5": [HERE / "packed-seeds-0-2" / "trials"]
    + [HERE / "packing-seeds-3-5" / "trials" / f"c00-s{seed}" for seed in (3, 4, 5)],
    "unpacked acting on the Intel VM, seeds 0-5": [HERE / "unpacked-intel-seeds-0-2" / "trials"]
    + [HERE / "packing-seeds-3-5" / "trials" / f"c01-s{seed}" for seed in (3, 4, 5)],
    # the same spec, seeds 6-8 (2026-12-05, late evening; packing off by default by then)
    "packed acting, seeds 0-8": [HERE / "packed-seeds-0-2" / "trials"]
    + [HERE / f"packing-seeds-{a}" / "trials" / f"c00-s{seed}" for a, seeds in _MORE for seed in seeds],
    "unpacked acting on the Intel VM, seeds 0-8": [HERE / "unpacked-intel-seeds-0-2" / "trials"]
    + [HERE / f"packing-seeds-{a}" / "trials" / f"c01-s{seed}" for a, seeds in _MORE for seed in seeds],
    "trimmed (auto), seeds 0-2": [HERE / "trimmed-seeds-0-2" / "trials"],
    "untrimmed, seeds 0-2": [HERE / "trials" / f"c00-s{seed}" for seed in range(3)],
}


def main() -> None:
    def figures(trial: Path) -> dict:
        return {"training return": train_return(trial, 10), **suite_figures(trial)}

    (HERE / "trimmed.json").write_text(json.dumps(summarise(ARMS, figures), indent=1))


if __name__ == "__main__":
    main()
