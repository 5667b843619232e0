"""Policies on their own training bodies against unseen bodies of the same spaces.

    python docs/sweeps/own-bodies/own_bodies.py

Issue 14's target 2 asks that the policy beat zero torque on 85 % of held-out bodies; the default
beats it on 57-58 % of held-out `unimal` bodies and 66-72 % of held-out `planar` ones. This tells a
transfer gap from a learning ceiling: each arm's three policies (1M steps, seeds 0-2) scored on the
200 bodies they trained on (eval/default-training-bodies.toml: generate:unimal:100 and
generate:planar:100, seed 0; this folder's ARM/c00-sS/) beside the held-out sets of the same
spaces (seed 1000, from the link-tokens suite each trial was scored on in its sweep copy). Arms:
the default (docs/sweeps/link-tokens/joint) and each sweep copy named in ARMS. Prints, and writes
as own_bodies.json, each figure's mean over seeds, 95 % bootstrap interval and per-seed values."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "planar-plus"))
from nine_seeds import summarise  # noqa: E402

SWEEPS = HERE.parent
ARMS = {  # name: (folder under this one, the sweep copy's trials)
    "the default (seeds 0-2)": ("default", SWEEPS / "link-tokens" / "joint" / "trials"),
    "weight decay 0.1 (--ppo.weight-decay 0.1)": ("weight-decay", SWEEPS / "weight-decay" / "trials"),
    "d_model 64, 3 layers, feed-forward 192": ("policy-size", SWEEPS / "policy-size" / "trials"),
}
FIGURES = ("mean", "median", "moving_share", "beats_zero_share")
SPACES = {"training-unimal": "unimal", "training-planar": "planar", "heldout-generated": "unimal",
          "heldout-planar": "planar"}  # fmt: skip


def figures(trial: Path) -> dict[str, float]:
    """The policy's figures on the training sets and the held-out sets of the same spaces, and
    zero torque's mean on each (what "beats zero" is measured against)."""
    own = next(HERE / folder for folder, trials in ARMS.values() if trials == trial.parent)
    suites = {
        "training": own / trial.name / "suite.json",
        "held-out": trial / "eval" / "suite-link-tokens" / "suite.json",
    }
    out = {}
    for where, path in suites.items():
        for name, body_set in json.loads(path.read_text())["sets"].items():
            space = SPACES.get(name)
            if space is None:  # the real robots and UNIMAL-100
                continue
            for key in FIGURES:
                out[f"{where} {space} {key}"] = body_set["actors"]["policy"][key]
            out[f"{where} {space} zero-torque mean"] = body_set["actors"]["zero"]["mean"]
    for space in ("unimal", "planar"):
        out[f"held-out / training {space} mean"] = out[f"held-out {space} mean"] / out[f"training {space} mean"]
    return out


def main() -> None:
    arms = {name: [trials / f"c00-s{seed}" for seed in range(3)] for name, (_, trials) in ARMS.items()}
    (HERE / "own_bodies.json").write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
