"""Benchmark: does training slow down as the number of distinct bodies grows? (issue 14, target 5)

    python bench/train_bodies.py [--counts 10 100 1000 5000] [--updates 14] [--repeats 2] [-- TRAIN ARGS…]

Runs the default ``metamorph train`` (128 environments × 64 steps, flat task) on
``generate:unimal:N`` for each N, alternating (10, 100, 1000, 5000, 10, …) so that a drift of this
machine's speed hits every count alike. From each run's ``metrics.jsonl``: the median of
``steps_per_s`` over the updates after the first two (compilation), and the median collect and
update seconds; from the operating system, the training process's peak resident memory.
Generating the bodies happens before the first update and is timed apart (``setup_s``: process
start, generation, loading). Prints one JSON object with each count's ratio to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alternating import alternate, summarise, update_medians


def run(count: int, updates: int, train_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [sys.executable, "-m", "metamorph", "train", "--run-dir", str(run_dir),
                   "--bodies", f"generate:unimal:{count}", "--total-steps", str(updates * 128 * 64),
                   "--checkpoint-every", "1000", *train_args]  # fmt: skip
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stderr = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "bodies": count,
        **update_medians(rows),
        "setup_s": round(wall - sum(r["collect_s"] + r["update_s"] for r in rows), 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),  # Linux reports KiB
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--updates", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    runs = alternate(lambda n: run(n, args.updates, args.train_args), args.counts, args.repeats)
    print(json.dumps(summarise(runs, "bodies", args.counts, "bench/train_bodies.py"), indent=2))


if __name__ == "__main__":
    main()
