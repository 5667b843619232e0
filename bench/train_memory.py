"""Resident memory of a `metamorph train` run over its whole length.

Starts ``metamorph train ARGS`` (default: no arguments, the default run) in a temporary run folder,
samples the process's resident set size every ``--every`` seconds, and prints JSON: the peak, the
value once the first updates are done, and the samples against the update count read from
``metrics.jsonl`` (flat after the first updates means no growth).

    python bench/train_memory.py [--every 2] [-- TRAIN ARGS…]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        command = [sys.executable, "-m", "metamorph", "train", "--run-dir", str(run), *args.train_args]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        watched = psutil.Process(process.pid)
        samples = []
        while process.poll() is None:
            try:
                rss = watched.memory_info().rss
            except psutil.NoSuchProcess:
                break
            metrics = run / "metrics.jsonl"
            updates = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
            samples.append((round(time.perf_counter() - started, 1), updates, round(rss / 2**20)))
            time.sleep(args.every)
        stderr = process.stderr.read()
        if process.returncode != 0:
            raise SystemExit(stderr[-2000:])
        total = len((run / "metrics.jsonl").read_text().splitlines())
    after_first = [mb for _, updates, mb in samples if updates >= min(3, total)]
    by_update = {}
    for _, updates, mb in samples:
        by_update[updates] = max(mb, by_update.get(updates, 0))
    print(json.dumps({
        "command": ["metamorph", "train", *args.train_args],
        "wall_s": round(time.perf_counter() - started, 1),
        "updates": total,
        "peak_rss_mib": max(mb for *_, mb in samples),
        "rss_mib_after_3_updates": after_first[0] if after_first else None,
        "rss_mib_at_end": samples[-1][2],
        "peak_rss_mib_by_update": {str(k): v for k, v in sorted(by_update.items())[:: max(1, len(by_update) // 12)]},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
