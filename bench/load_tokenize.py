"""Benchmark: bodies loaded (MuJoCo compile + normalisation) and tokenized per second.

    python bench/load_tokenize.py [--bodies DIR] [--repeats 3]

Prints one JSON object. Single process, single thread; the figure is the best of the repeats.
Default body set: UNIMAL-100 from ../shared (MJCF files of 4–10 limbs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import mujoco

from metamorph.morphology import load_morphology
from metamorph.tokens import tokenize

DEFAULT_BODIES = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train" / "xml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=Path, default=DEFAULT_BODIES, help="folder of MJCF/URDF files")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = sorted([*args.bodies.glob("*.xml"), *args.bodies.glob("*.urdf")])
    if not files:
        raise SystemExit(f"no .xml or .urdf files in {args.bodies}")

    load_times, token_times, tokens = [], [], 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        morphologies = [load_morphology(f) for f in files]
        loaded = time.perf_counter()
        token_sets = [tokenize(m) for m in morphologies]
        done = time.perf_counter()
        load_times.append(loaded - start)
        token_times.append(done - loaded)
        tokens = sum(t.num_tokens for t in token_sets)

    best_total = min(a + b for a, b in zip(load_times, token_times, strict=True))
    print(
        json.dumps(
            {
                "benchmark": "load_tokenize",
                "bodies": len(files),
                "body_set": str(args.bodies),
                "tokens": tokens,
                "bodies_per_s": round(len(files) / best_total, 1),
                "load_bodies_per_s": round(len(files) / min(load_times), 1),
                "tokenize_bodies_per_s": round(len(files) / min(token_times), 1),
                "ms_per_body": round(1000 * best_total / len(files), 2),
                "repeats": args.repeats,
                "threads": 1,
                "mujoco": mujoco.__version__,
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
