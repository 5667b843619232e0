"""One-off measurement (issue 14, target 5): how much of the slower collection at 1000 distinct
bodies is the longer padding, and how much the distinct bodies themselves?

    python docs/bench/train_bodies_padding.py [--rounds 2] [--updates 14]

The 1000 bodies of ``generate:unimal:1000`` are padded to 21 token slots (their longest), the first
10 of them to 16. Runs the default ``metamorph train`` (as ``bench/train_bodies.py`` does) on the 10
bodies, on the same 10 bodies padded to 21 slots (the environment's ``max_tokens``, which training
does not expose, set here by wrapping ``make_env``), and on the 1000, alternating, and prints the
medians of each run's ``metrics.jsonl`` over the updates after the first two. Only the collection
compares: the 10 padded bodies' update trims other lengths than either run's.
"""

from __future__ import annotations

import argparse
import json
import runpy
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def child(pad: int, train_args: list[str]) -> None:
    import metamorph.env.backend as backend

    make_env = backend.make_env

    def padded(*args, **options):
        return make_env(*args, **{**options, "max_tokens": pad})

    if pad:
        backend.make_env = padded
    sys.argv = ["metamorph", "train", *train_args]
    runpy.run_module("metamorph", run_name="__main__")


def run(bodies: int, pad: int, updates: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        args = ["--run-dir", str(folder), "--bodies", f"generate:unimal:{bodies}",
                "--total-steps", str(updates * 128 * 64), "--checkpoint-every", "1000"]  # fmt: skip
        subprocess.run([sys.executable, __file__, "--child", str(pad), *args], check=True, capture_output=True)
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()][2:]
    return {
        "bodies": bodies,
        "padded_to": pad or None,
        **{key: statistics.median(r[key] for r in rows) for key in ("steps_per_s", "collect_s", "update_s")},
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--updates", type=int, default=14)
    args = parser.parse_args()
    settings = [(10, 0), (10, 21), (1000, 0)]
    runs = [run(n, pad, args.updates) for _ in range(args.rounds) for n, pad in settings]
    print(json.dumps({"command": "python docs/bench/train_bodies_padding.py " + " ".join(sys.argv[1:]),
                      "runs": runs}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
