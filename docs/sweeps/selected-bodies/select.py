"""Copy the bodies a policy moves best on into a new body folder (the selected-bodies sweep).

    python docs/sweeps/selected-bodies/select.py RESULTS_CSV SOURCE_FOLDER OUT_FOLDER --top N
    python docs/sweeps/selected-bodies/select.py RESULTS_CSV SOURCE_FOLDER OUT_FOLDER --top N --random-seed S

RESULTS_CSV is `metamorph eval`'s per-body table for SOURCE_FOLDER's bodies; the N bodies with the
highest policy return (or, with --random-seed, N drawn uniformly from the table: the control that
separates the selection from the smaller number of bodies) are copied (their xml/ and metadata/
files) into OUT_FOLDER, atomically (`metamorph.files.atomic_folder`: it must not exist or be empty),
with a selection.json naming the rule and the bodies.
"""

import argparse
import csv
import json
import random
import shutil
import sys
from pathlib import Path

from metamorph.errors import MetamorphError
from metamorph.files import atomic_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--top", type=int, required=True)
    parser.add_argument("--random-seed", type=int, default=None)
    args = parser.parse_args()
    rows = list(csv.DictReader(args.results.open()))
    if args.random_seed is None:
        best = sorted(rows, key=lambda row: float(row["policy_return"]), reverse=True)[: args.top]
        rule = f"the {args.top} bodies of {args.source} with the highest policy return in {args.results}"
    else:
        best = random.Random(args.random_seed).sample(rows, args.top)
        rule = f"{args.top} bodies of {args.source} drawn uniformly (seed {args.random_seed}) from {args.results}"
    selection = {
        "rule": rule,
        "bodies": [row["body"] for row in best],
        "lowest_selected_return": min(float(row["policy_return"]) for row in best),
        "mean_selected_return": sum(float(row["policy_return"]) for row in best) / len(best),
    }
    try:
        with atomic_folder(args.out) as tmp:
            (tmp / "xml").mkdir()
            (tmp / "metadata").mkdir()
            for row in best:
                shutil.copy2(args.source / "xml" / f"{row['body']}.xml", tmp / "xml")
                metadata = args.source / "metadata" / f"{row['body']}.json"
                if metadata.is_file():
                    shutil.copy2(metadata, tmp / "metadata")
            (tmp / "selection.json").write_text(json.dumps(selection, indent=1))
    except MetamorphError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
