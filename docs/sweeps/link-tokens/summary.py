"""One token a link against one a joint: the link-tokens sweep's two arms over seeds 0-2.

    python docs/sweeps/link-tokens/summary.py

Reads the committed sweep copies beside this script: joint/ (the spec's c00, joint tokens; its c01
was stopped, see first-try/) and link/ (the spec again with --grid tokens=link, after the readout
fix), each trial's eval/suite-link-tokens/suite.json and real-results.csv. Prints, and writes beside
this script as summary.json, per arm the training figures of `docs/sweeps/against_default.py`
(return, episode length, forward reward a step, over the last 10 updates) and every suite figure
(mean, median, moving share, share beating zero torque per set; real robots beaten of the 9 curated
ones), each as the mean over seeds with the sweep report's 95 % bootstrap interval and the per-seed
values.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from against_default import figures  # noqa: E402
from nine_seeds import summarise  # noqa: E402 (against_default puts planar-plus on the path)


def main() -> None:
    arms = {
        "joint tokens (the default)": [HERE / "joint" / "trials" / f"c00-s{seed}" for seed in range(3)],
        "link tokens (--tokens link)": [HERE / "link" / "trials" / f"c00-s{seed}" for seed in range(3)],
    }
    (HERE / "summary.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
