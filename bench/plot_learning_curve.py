"""Plot a run's learning curve: episode return (mean and median) and length against env steps.

    python bench/plot_learning_curve.py RUN_DIR OUT.png [--window 10] [--baseline OLD.json LABEL]

Also writes OUT.json beside the PNG: the command that made the run, its final numbers, and the
smoothed curve, so the evidence can be committed without the run folder. ``--baseline`` draws the
mean-return curve of such a JSON (an earlier run, another commit) beside this run's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def smooth(values: list[float | None], window: int) -> np.ndarray:
    array = np.array([np.nan if v is None else v for v in values], float)
    out = np.full_like(array, np.nan)
    for i in range(len(array)):
        chunk = array[max(0, i - window + 1) : i + 1]
        if np.isfinite(chunk).any():
            out[i] = np.nanmean(chunk)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--window", type=int, default=10, help="updates averaged per point")
    parser.add_argument("--baseline", nargs=2, metavar=("JSON", "LABEL"), help="an earlier curve's JSON to draw beside")
    args = parser.parse_args()
    baseline = json.loads(Path(args.baseline[0]).read_text())["curve"] if args.baseline else None
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    config = json.loads((args.run / "config.json").read_text())
    steps = np.array([r["env_steps"] for r in rows]) / 1e6
    mean = smooth([r["episode_return"] for r in rows], args.window)
    median = smooth([r["episode_return_median"] for r in rows], args.window)
    length = smooth([r["episode_length"] for r in rows], args.window)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(steps, mean, label="mean over finished episodes")
    ax1.plot(steps, median, label="median")
    if baseline is not None:
        ax1.plot(
            baseline["env_steps_millions"],
            baseline["return_mean"],
            "--",
            color="gray",
            label=f"mean, {args.baseline[1]}",
        )
    ax1.set_xlabel("environment steps (millions)")
    ax1.set_ylabel("episode return (forward velocity, m/s, summed over steps)")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(steps, length, color="tab:green")
    ax2.set_xlabel("environment steps (millions)")
    ax2.set_ylabel("episode length (control steps)")
    ax2.grid(alpha=0.3)
    c = config["config"]
    bodies = "/".join(Path(c["bodies"]).parts[-2:]) if "/" in c["bodies"] else c["bodies"]
    fig.suptitle(f"bodies {bodies}, task {c['task']}, model {c['model']} "
                 f"({config['num_params']} params), {c['num_envs']} envs")  # fmt: skip
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    tail = rows[-args.window :]
    summary = {
        "command": " ".join(config["command"]),
        "git_commit": config.get("git_commit"),
        "env_steps": rows[-1]["env_steps"],
        "updates": rows[-1]["update"],
        "mean_steps_per_s": round(float(np.mean([r["steps_per_s"] for r in rows[1:]])), 1),
        "first_window": {"return_mean": _nanmean(rows[: args.window], "episode_return"),
                         "return_median": _nanmean(rows[: args.window], "episode_return_median"),
                         "length": _nanmean(rows[: args.window], "episode_length")},
        "last_window": {"return_mean": _nanmean(tail, "episode_return"),
                        "return_median": _nanmean(tail, "episode_return_median"),
                        "length": _nanmean(tail, "episode_length")},
        "curve": {"env_steps_millions": steps[:: max(1, len(rows) // 100)].round(3).tolist(),
                  "return_mean": np.round(mean[:: max(1, len(rows) // 100)], 2).tolist()},
    }  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "curve"}, indent=1))


def _nanmean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(float(np.mean(values)), 2) if values else None


if __name__ == "__main__":
    main()
