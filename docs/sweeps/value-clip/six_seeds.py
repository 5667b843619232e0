"""Value-loss clipping off against the default over seeds 0-5.

    python docs/sweeps/value-clip/six_seeds.py

Reads the committed sweep copies: seeds 0-2 of `--ppo.value-clip 0` in trials/ and 3-5 in
seeds-3-5/trials/ beside this script (train/sweeps/value-clip.toml, scored on eval/link-tokens.toml);
the default's seeds 0-2 in docs/sweeps/link-tokens/joint (the same suite) and 3-5 in
docs/sweeps/planar-plus/packing-seeds-3-5 (configuration c01, unpacked: the default; scored on
eval/planar.toml, which holds the same held-out and real sets without UNIMAL-100). All ran on the same
VM, and the default's runs repeat bit for bit on today's code (docs/learning.md). Prints, and writes
beside this script as six_seeds.json, per arm the training figures and those both suites share,
each as the mean over seeds with the sweep report's 95 % bootstrap interval and the per-seed values.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from against_default import figures as trial_figures  # noqa: E402
from nine_seeds import summarise  # noqa: E402 (against_default puts planar-plus on the path)

DEFAULT_0_2 = HERE.parent / "link-tokens" / "joint" / "trials"
DEFAULT_3_5 = HERE.parent / "planar-plus" / "packing-seeds-3-5" / "trials"


def figures(trial: Path) -> dict:
    """`against_default.figures` without UNIMAL-100, which the planar suite does not hold."""
    return {k: v for k, v in trial_figures(trial).items() if not k.startswith("unimal100")}


def main() -> None:
    arms = {
        "the default (value clip 0.2)": [DEFAULT_0_2 / f"c00-s{s}" for s in range(3)]
        + [DEFAULT_3_5 / f"c01-s{s}" for s in range(3, 6)],
        "value clip off (--ppo.value-clip 0)": [HERE / "trials" / f"c00-s{s}" for s in range(3)]
        + [HERE / "seeds-3-5" / "trials" / f"c00-s{s}" for s in range(3, 6)],
    }
    # c01-s3 and c00-s3 both end in -s3: summarise sorts by seed, which is all it reads from the name
    (HERE / "six_seeds.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
