"""Benchmark: `metamorph train`'s speed under settings that change the work per update.

    python bench/train_settings.py --setting NAME="FLAGS" [--setting …] [--updates 14] [--repeats 2]

Each setting is a name and the `metamorph train` flags it adds, for example::

    python bench/train_settings.py --setting "4x16=" \\
        --setting "2x32=--ppo.epochs 2 --ppo.num-minibatches 32" \\
        --setting "dropout-same-mask=--dropout 0.1 --ppo.dropout-same-mask"

Runs UNIMAL-100 flat (``../shared``; a setting whose flags hold ``--bodies`` trains on those
instead, e.g. ``--setting "1000=--bodies generate:unimal:1000"``; leading ``NAME=VALUE`` words in
capitals set the run's environment, e.g.
``--setting "no-emitters=XLA_FLAGS=--xla_cpu_use_fusion_emitters=false"``) with the default training
shape (128 environments × 64 steps) under each setting in turn, alternating (A, B, C, A, …) so that
a drift of this machine's speed hits every setting alike. From each run's ``metrics.jsonl``: the
medians of ``steps_per_s``, collect and update seconds over the updates after the first two
(compilation). Prints one JSON object with each setting's ratio to the first. A sweep's trials
share the machine's cores, so its own timings cannot compare settings; this can, alone on the
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alternating import alternate, summarise, update_medians

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train"


def run(name: str, words: list[str], updates: int) -> dict:
    environment, flags = split_environment(words)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        bodies = [] if "--bodies" in flags else ["--bodies", str(UNIMAL)]
        command = [sys.executable, "-m", "metamorph", "train", "--run-dir", str(run_dir), *bodies,
                   "--total-steps", str(updates * 128 * 64), "--checkpoint-every", "1000", *flags]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ | environment
        )
        wall = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"{shlex.join(command)} failed:\n{result.stderr[-2000:]}")
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # beyond the timed loop: process start, body generation and loading, and the first two updates'
    # compilation (timed, but not in the medians)
    setup = wall - sum(r["collect_s"] + r["update_s"] for r in rows[2:])
    return {"setting": name, "flags": shlex.join(words), **update_medians(rows), "setup_s": round(setup, 1)}


def split_environment(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``NAME=VALUE`` words (NAME in capitals) as environment variables, and the flags after them."""
    environment = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, _, value = words[0].partition("=")
        environment[key] = value
        words = words[1:]
    return environment, words


def parse_setting(text: str) -> tuple[str, list[str]]:
    name, sep, flags = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=FLAGS, got '{text}'")
    return name, shlex.split(flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", type=parse_setting, action="append", required=True)
    parser.add_argument("--updates", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    settings = dict(args.setting)
    if len(settings) != len(args.setting):
        parser.error("setting names must differ")
    runs = alternate(lambda name: run(name, settings[name], args.updates), list(settings), args.repeats)
    print(json.dumps(summarise(runs, "setting", list(settings), "bench/train_settings.py"), indent=2))


if __name__ == "__main__":
    main()
