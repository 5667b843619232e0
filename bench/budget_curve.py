"""Zero-shot return against training budget: a sweep's kept checkpoints, scored on its suite, as a curve.

    python bench/budget_curve.py FOLDER --suite NAME --sets SET [SET ...] [--labels ...]
        [--count-beaten SET] [--exclude BODY ...] [--zero-line VALUE LABEL]

FOLDER holds ``budget/s{seed}-u{update}/suite.json`` (``metamorph eval CHECKPOINT --suite
eval/NAME.toml --out FOLDER/budget/s{seed}-u{update}`` on the checkpoints a sweep kept) and the
trials' own final suites (``trials/c00-s{seed}/eval/suite-NAME/suite.json``), as in a sweep folder or
its copy under ``docs/sweeps/``, where seeds run in a folder of their own are copied to
``seeds-*/trials/``; ``--seeds`` keeps those scored at every budget). Writes FOLDER/budget_curve.json,
.md and .png: per budget and body set, the mean over seeds with a 95 % bootstrap interval over seeds
(the sweep report's), the median and the shares moving and beating zero torque. ``--count-beaten
real`` adds, per seed, how many of that set's bodies (less ``--exclude``) the policy beats zero torque
on, read from its results.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from metamorph.sweep_report import stratified_bootstrap_ci

STEPS_PER_UPDATE = 128 * 64  # the default num_envs × unroll_length


def beaten(results_csv: Path, exclude: set[str]) -> tuple[int, int]:
    """(bodies on which the policy's mean return is above zero torque's, bodies counted) of one set."""
    rows = [r for r in csv.DictReader(results_csv.open()) if r["body"] not in exclude]
    return sum(float(r["policy_return"]) > float(r["zero_return"]) for r in rows), len(rows)


def results_csv(suite_dir: Path, body_set: str) -> Path:
    """A set's per-body results: SET/results.csv in a suite's folder, SET-results.csv in a sweep copy."""
    inside = suite_dir / body_set / "results.csv"
    return inside if inside.exists() else suite_dir / f"{body_set}-results.csv"


def scored_suites(folder: Path, suite: str) -> dict[int, dict[int, Path]]:
    """{update: {seed: suite.json}} over the scored checkpoints and the trials' final evaluations."""
    runs: dict[int, dict[int, Path]] = {}
    for path in sorted((folder / "budget").glob("s*-u*/suite.json")):
        seed, update = map(int, re.fullmatch(r"s(\d+)-u(\d+)", path.parent.name).groups())
        runs.setdefault(update, {})[seed] = path
    # a sweep's seeds run in a folder of their own (on another machine) are copied to seeds-*/trials
    finals = [*folder.glob(f"trials/c00-s*/eval/suite-{suite}/suite.json"),
              *folder.glob(f"seeds-*/trials/c00-s*/eval/suite-{suite}/suite.json")]  # fmt: skip
    for path in sorted(finals):
        seed = int(path.parts[-4].split("-s")[1])
        update = int(Path(json.loads(path.read_text())["checkpoint"]).name.split("_")[1])
        runs.setdefault(update, {})[seed] = path
    return runs


def budget_rows(
    runs: dict[int, dict[int, Path]], sets: list[str], count_beaten: str | None, exclude: set[str], steps: int
) -> list[dict]:
    rows = []
    for update in sorted(runs):
        seeds = sorted(runs[update])
        row: dict = {"update": update, "env_steps": update * steps, "seeds": seeds}
        suites = [json.loads(runs[update][s].read_text())["sets"] for s in seeds]  # each file read once
        for body_set in sets:
            policies = [suite[body_set]["actors"]["policy"] for suite in suites]
            means = np.array([p["mean"] for p in policies])
            low, high = stratified_bootstrap_ci(means[:, None], np.mean)
            row[body_set] = {
                "mean": float(means.mean()),
                "ci": [float(low), float(high)],
                "per_seed": [round(float(m), 2) for m in means],
                "median": float(np.mean([p["median"] for p in policies])),
                "moving_share": float(np.mean([p["moving_share"] for p in policies])),
                "beats_zero_share": float(np.mean([p["beats_zero_share"] for p in policies])),
            }
            if body_set == count_beaten:
                counts = [beaten(results_csv(runs[update][s].parent, body_set), exclude) for s in seeds]
                row[body_set]["beaten"] = [f"{won} of {counted}" for won, counted in counts]
        rows.append(row)
    return rows


def markdown(rows: list[dict], sets: list[str], labels: list[str], count_beaten: str | None) -> str:
    header = ["env steps (update)", "seeds"]
    for body_set, label in zip(sets, labels, strict=True):
        header += [f"{label} mean [95 % CI] (per seed)", "median", "moving", "beats zero"]
        if body_set == count_beaten:
            header.append("beaten (per seed)")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for row in rows:
        cells = [f"{row['env_steps'] / 1e6:.2f}M ({row['update']})", str(len(row["seeds"]))]
        for body_set in sets:
            s = row[body_set]
            cells += [
                f"{s['mean']:.2f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] ({', '.join(map(str, s['per_seed']))})",
                f"{s['median']:.2f}",
                f"{100 * s['moving_share']:.0f} %",
                f"{100 * s['beats_zero_share']:.0f} %",
            ]
            if "beaten" in s:
                cells.append(", ".join(s["beaten"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(
    rows: list[dict], sets: list[str], labels: list[str], zero_line: list[str] | None, xlabel: str, out: Path
) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.array([row["env_steps"] / 1e6 for row in rows])
    for body_set, label in zip(sets, labels, strict=True):
        ax.plot(steps, [row[body_set]["mean"] for row in rows], marker="o", label=label)
        ax.fill_between(
            steps, [row[body_set]["ci"][0] for row in rows], [row[body_set]["ci"][1] for row in rows], alpha=0.2
        )
    if zero_line:
        ax.axhline(float(zero_line[0]), color="grey", lw=0.8, ls="--", label=zero_line[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("zero-shot mean return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--suite", required=True, help="the suite's name (eval/NAME.toml)")
    parser.add_argument("--sets", nargs="+", required=True, help="the suite's body sets to tabulate")
    parser.add_argument(
        "--labels", nargs="+", help="what to call the sets in the table and plot (default: their names)"
    )
    parser.add_argument("--count-beaten", help="a set whose bodies beaten per seed are counted (e.g. real)")
    parser.add_argument("--exclude", nargs="*", default=[], help="bodies left out of that count")
    parser.add_argument("--zero-line", nargs=2, metavar=("VALUE", "LABEL"), help="a horizontal reference line")
    parser.add_argument("--xlabel", default="training env steps (M)")
    parser.add_argument("--steps-per-update", type=int, default=STEPS_PER_UPDATE)
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds (default: every seed found)")
    args = parser.parse_args()
    labels = args.labels or args.sets
    if len(labels) != len(args.sets):
        parser.error(f"--labels has {len(labels)} names for {len(args.sets)} sets")
    runs = scored_suites(args.folder, args.suite)
    if args.seeds:  # the same seeds at every budget, where only some seeds' checkpoints were scored
        runs = {u: {k: v for k, v in by_seed.items() if k in args.seeds} for u, by_seed in runs.items()}
        runs = {u: by_seed for u, by_seed in runs.items() if by_seed}
    if not runs:
        parser.error(f"{args.folder}: no budget/sS-uU/suite.json nor trials/c00-sS/eval/suite-{args.suite}/suite.json")
    first = next(iter(next(iter(runs.values())).values()))
    missing = sorted(set(args.sets) - set(json.loads(first.read_text())["sets"]))
    if missing:
        parser.error(f"{first}: no body set {', '.join(missing)} in this suite")
    rows = budget_rows(runs, args.sets, args.count_beaten, set(args.exclude), args.steps_per_update)
    (args.folder / "budget_curve.json").write_text(json.dumps(rows, indent=1))
    table = markdown(rows, args.sets, labels, args.count_beaten)
    (args.folder / "budget_curve.md").write_text(table)
    plot(rows, args.sets, labels, args.zero_line, args.xlabel, args.folder / "budget_curve.png")
    print(table, end="")


if __name__ == "__main__":
    main()
