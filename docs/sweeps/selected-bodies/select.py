"""Copy the bodies a policy moves best on into a new body folder (the selected-bodies sweep).

    python docs/sweeps/selected-bodies/select.py RESULTS_CSV SOURCE_FOLDER OUT_FOLDER --top N

RESULTS_CSV is `metamorph eval`'s per-body table for SOURCE_FOLDER's bodies; the N bodies with the
highest policy return are copied (their xml/ and metadata/ files) into OUT_FOLDER, which must not
exist yet, with a selection.json naming the rule and the bodies.
"""

import argparse
import csv
import json
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--top", type=int, required=True)
    args = parser.parse_args()
    rows = list(csv.DictReader(args.results.open()))
    best = sorted(rows, key=lambda row: float(row["policy_return"]), reverse=True)[: args.top]
    tmp = args.out.with_name(args.out.name + ".partial")
    (tmp / "xml").mkdir(parents=True)
    (tmp / "metadata").mkdir()
    for row in best:
        shutil.copy2(args.source / "xml" / f"{row['body']}.xml", tmp / "xml")
        metadata = args.source / "metadata" / f"{row['body']}.json"
        if metadata.is_file():
            shutil.copy2(metadata, tmp / "metadata")
    selection = {
        "rule": f"the {args.top} bodies of {args.source} with the highest policy return in {args.results}",
        "bodies": [row["body"] for row in best],
        "lowest_selected_return": float(best[-1]["policy_return"]),
    }
    (tmp / "selection.json").write_text(json.dumps(selection, indent=1))
    tmp.rename(args.out)


if __name__ == "__main__":
    main()
