"""Benchmark: valid bodies generated per second (sampling, compile, self-contact and settle checks).

    python bench/generate.py [--space unimal|rich] [--count 5000] [--workers 2]

Prints one JSON object. Target (issue 3): ≥ 50 valid bodies/s on 2 cores, 5000 bodies in < 2 min.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from metamorph.design import design_space
from metamorph.generate import generate_bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="unimal")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    result = generate_bodies(design_space(args.space), args.count, args.seed, args.workers)
    seconds = time.perf_counter() - start  # includes starting the worker processes
    rejected = sum(result.rejections.values())
    print(
        json.dumps(
            {
                "benchmark": "generate",
                "space": args.space,
                "bodies": args.count,
                "workers": args.workers,
                "seconds": round(seconds, 2),
                "bodies_per_s": round(args.count / seconds, 1),
                "candidates": result.candidates,
                "rejection_rate": round(rejected / result.candidates, 3),
                "rejections": dict(sorted(result.rejections.items())),
                "target_bodies_per_s": 50,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
