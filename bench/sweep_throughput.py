"""What running trials through `metamorph sweep` costs, and what two workers on two cores give.

The same 4 trials (the default small policy on UNIMAL-100, 4 seeds, a short budget each) run as a
sweep twice: with 1 worker using both cores, and with 2 workers pinned to one core each. Printed as
JSON: environment steps per second of each sweep (all trials' steps over the sweep's wall time),
their ratio (target ≥ 0.9), and per trial the seconds beyond the training loop itself: process start,
JAX compilation, loading bodies, checkpoints and the runner's own work (the sum of the updates'
collect and update times is the training loop).

    python bench/sweep_throughput.py [--steps 65536] [--trials 4]

Needs ../shared (UNIMAL-100). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNIMAL100 = REPO.parent / "shared" / "morphologies" / "unimal100" / "train"


def run(spec: Path, out: Path, workers: int) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "metamorph", "sweep", str(spec), "--out", str(out),
                             "--workers", str(workers)], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    steps, overhead, loop = 0, [], []
    for trial in sorted((out / "trials").iterdir()):
        rows = [json.loads(line) for line in (trial / "metrics.jsonl").read_text().splitlines()]
        objective = json.loads((trial / "objective.json").read_text())
        steps += rows[-1]["env_steps"]
        training_loop = sum(r["collect_s"] + r["update_s"] for r in rows)
        loop.append(training_loop)
        overhead.append(objective["seconds"]["train"] + objective["seconds"]["objective"] - training_loop)
    return {"workers": workers, "wall_s": round(wall, 1), "env_steps": steps, "steps_per_s": round(steps / wall, 1),
            "training_loop_s_per_trial": [round(x, 1) for x in loop],
            "seconds_beyond_training_loop_per_trial": [round(x, 1) for x in overhead]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=65536)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.toml"
        seeds = ", ".join(str(s) for s in range(args.trials))
        spec.write_text(f'[sweep]\nseeds = [{seeds}]\n[fixed]\nbodies = "{UNIMAL100}"\ntotal-steps = {args.steps}\n'
                        "checkpoint-every = 4\n")  # fmt: skip
        one = run(spec, Path(tmp) / "one", workers=1)
        two = run(spec, Path(tmp) / "two", workers=2)
    ratio = round(two["steps_per_s"] / one["steps_per_s"], 3)
    print(json.dumps({"one_worker_two_cores": one, "two_workers_one_core_each": two,
                      "throughput_ratio_two_over_one": ratio}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
