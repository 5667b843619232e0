"""One arm of a 1M-step sweep against the default recipe over seeds 0-5.

    python docs/sweeps/six_seeds.py FOLDER "ARM NAME" [--default "DEFAULT NAME"]
    python docs/sweeps/six_seeds.py value-clip "value clip off (--ppo.value-clip 0)" \
        --default "the default (value clip 0.2)"
    python docs/sweeps/six_seeds.py discount "discount 0.995" --config c01

Reads the committed sweep copies: the arm's seeds 0-2 in docs/sweeps/FOLDER/trials and 3-5 in
docs/sweeps/FOLDER/seeds-3-5/trials, or all six in FOLDER/trials (configuration c00 of each, or
``--config``'s for a sweep of several arms; scored
on eval/link-tokens.toml); the default's seeds 0-2 in docs/sweeps/link-tokens/joint (the same suite)
and 3-5 in docs/sweeps/planar-plus/packing-seeds-3-5 (configuration c01, unpacked: the default;
scored on eval/planar.toml, which holds the same held-out and real sets without UNIMAL-100). All ran
on the same VM, and the default's runs repeat bit for bit on today's code (docs/learning.md).
Prints, and writes as FOLDER/six_seeds.json, per arm the training figures and those both suites
share, each as the mean over seeds with the sweep report's 95 % bootstrap interval and the per-seed
values. ``--nine`` adds seeds 6-8: the arm's from docs/sweeps/FOLDER/seeds-6-8/trials, the default's
from docs/sweeps/planar-plus/packing-seeds-6-8 (configuration c01, as for 3-5), and writes
nine_seeds.json instead.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from against_default import figures as trial_figures  # noqa: E402
from nine_seeds import summarise  # noqa: E402 (against_default puts planar-plus on the path)

DEFAULT_0_2 = HERE / "link-tokens" / "joint" / "trials"
DEFAULT_3_5 = HERE / "planar-plus" / "packing-seeds-3-5" / "trials"
DEFAULT_6_8 = HERE / "planar-plus" / "packing-seeds-6-8" / "trials"


def committed_trial(folder: Path, key: str) -> Path | None:
    """The committed copy of trial ``key`` (e.g. c01-s12) of a sweep whose seeds ran in several sweep
    folders: ``folder``/trials or one of ``folder``/seeds-*/trials; None if it has not finished."""
    found = [t for t in [*folder.glob(f"trials/{key}"), *folder.glob(f"seeds-*/trials/{key}")]
             if (t / "objective.json").exists()]  # fmt: skip
    return found[0] if found else None


def figures(trial: Path) -> dict:
    """`against_default.figures` without UNIMAL-100, which the planar suite does not hold."""
    return {k: v for k, v in trial_figures(trial).items() if not k.startswith("unimal100")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the sweep copy's folder name under docs/sweeps/")
    parser.add_argument("arm", help="what the arm changes, for the printout")
    parser.add_argument("--default", default="the default", help="the default arm's name")
    parser.add_argument("--config", default="c00", help="the arm's configuration in the sweep (c00, c01, …)")
    parser.add_argument("--nine", action="store_true", help="add seeds 6-8 from FOLDER/seeds-6-8 (nine_seeds.json)")
    args = parser.parse_args()
    folder = HERE / args.folder
    later = folder / "seeds-3-5" if (folder / "seeds-3-5").is_dir() else folder  # or one sweep of six seeds
    arms = {
        args.default: [DEFAULT_0_2 / f"c00-s{s}" for s in range(3)] + [DEFAULT_3_5 / f"c01-s{s}" for s in range(3, 6)],
        args.arm: [folder / "trials" / f"{args.config}-s{s}" for s in range(3)]
        + [later / "trials" / f"{args.config}-s{s}" for s in range(3, 6)],
    }
    if args.nine:
        arms[args.default] += [DEFAULT_6_8 / f"c01-s{s}" for s in range(6, 9)]
        arms[args.arm] += [folder / "seeds-6-8" / "trials" / f"{args.config}-s{s}" for s in range(6, 9)]
    # c01-s3 and c00-s3 both end in -s3: summarise sorts by seed, which is all it reads from the name
    name = "nine_seeds.json" if args.nine else "six_seeds.json"
    if args.config != "c00":  # one file per arm of a sweep of several
        name = name.replace(".json", f"-{args.config}.json")
    (folder / name).write_text(json.dumps(summarise(arms, figures), indent=1))


if __name__ == "__main__":
    main()
