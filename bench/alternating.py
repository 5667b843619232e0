"""Shared by the benchmarks that compare settings of `metamorph train`: run each setting in turn,
repeat the round (so a drift of this machine's speed hits every setting alike), take each run's
medians over its updates, and summarise steps/s per setting against the first.

    runs = alternate(lambda value: run(value, ...), [1, 2], repeats=2)
    print(json.dumps(summarise(runs, "processes", [1, 2], "bench/train_processes.py"), indent=2))
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Hashable


def alternate(run: Callable[[Hashable], dict], values: list, repeats: int) -> list[dict]:
    """``run(value)`` for every value, round after round."""
    return [run(value) for _ in range(repeats) for value in values]


def update_medians(rows: list[dict]) -> dict:
    """Medians of a run's ``metrics.jsonl`` rows over the updates after the first two (compilation)."""
    timed = rows[2:]
    return {
        "steps_per_s": statistics.median(r["steps_per_s"] for r in timed),
        "collect_s": statistics.median(r["collect_s"] for r in timed),
        "update_s": statistics.median(r["update_s"] for r in timed),
        "timed_updates": len(timed),
    }


def summarise(runs: list[dict], key: str, values: list, script: str) -> dict:
    """Median ``steps_per_s`` per value of ``runs[i][key]``, its ratio to the first value's, and
    every run."""
    by_value = {v: statistics.median(r["steps_per_s"] for r in runs if r[key] == v) for v in values}
    base = by_value[values[0]]
    return {
        "command": f"python {script} " + " ".join(sys.argv[1:]),
        "steps_per_s": {str(v): round(s, 1) for v, s in by_value.items()},
        "ratio_to_first": {str(v): round(s / base, 3) for v, s in by_value.items()},
        "runs": runs,
    }
