"""Benchmark: `metamorph train` in one process against the same run split among local processes.

    python bench/train_processes.py [--updates 14] [--repeats 2] [--processes 1 2] [-- TRAIN ARGS…]

Runs ``metamorph train --processes N`` for each N, alternating (1, 2, 1, 2, …) so that a drift of
this machine's speed hits both alike, on UNIMAL-100 flat (``../shared``) with the default training
shape (128 environments in all × 64 steps). Reads each run's ``metrics.jsonl``: the median of
``steps_per_s`` (environment steps over the wall time of collection and update, every process's
environments counted) over the updates after the first two (compilation), and the median collect
and update seconds. Prints one JSON object with the ratio of each N to one process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alternating import alternate, summarise, update_medians

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train"


def run(processes: int, updates: int, train_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [sys.executable, "-m", "metamorph", "train", "--run-dir", str(run_dir), "--bodies", str(UNIMAL),
                   "--total-steps", str(updates * 128 * 64), "--checkpoint-every", "1000", "--processes",
                   str(processes), *train_args]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {"processes": processes, **update_medians(rows), "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    runs = alternate(lambda n: run(n, args.updates, args.train_args), args.processes, args.repeats)
    print(json.dumps(summarise(runs, "processes", args.processes, "bench/train_processes.py"), indent=2))


if __name__ == "__main__":
    main()
