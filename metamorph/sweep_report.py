"""The report of a sweep, read from its folder alone (``sweep.json`` and the trials' run folders).

One row per configuration: the objective over its seeds as mean and interquartile mean (IQM) with
95 % stratified-bootstrap intervals, as rliable defines them (Agarwal et al., NeurIPS 2021): the IQM
is the 25 %-trimmed mean; each bootstrap resample draws runs with replacement within every task
(here: every body set of the objective's suite, or the one training return) and recomputes the
statistic over all of them. Learning curves with seed bands (PNG), CSV, JSON and Markdown, and the
best configuration as a ready ``metamorph train`` command, written into ``SWEEP/report/`` atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from metamorph.configs import as_flags

RESAMPLES = 2000
# what the report shows of every body set a suite objective scored, per seed: the policy's mean and
# median return, the share of bodies faster than 0.1 m/s, the share it beats zero torque on, the
# share of its episodes that end in a fall
BODY_STATS = ("mean", "median", "moving_share", "beats_zero_share", "fall_rate")


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of every score (runs × tasks, flattened): the mean of the middle 50 %."""
    return float(scipy_stats.trim_mean(np.ravel(scores), 0.25))


def stratified_bootstrap_ci(scores: np.ndarray, statistic, seed: int = 0, resamples: int = RESAMPLES) -> tuple:
    """95 % percentile interval of ``statistic`` over [runs, tasks] scores, resampling runs with
    replacement independently within each task."""
    scores = np.asarray(scores, float).reshape(len(scores), -1)
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        picks = rng.integers(0, runs, size=(runs, tasks))
        values[r] = statistic(np.take_along_axis(scores, picks, axis=0))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _trial_state(run: Path) -> tuple[str, dict | None, str | None]:
    if (run / "objective.json").is_file():
        return "complete", json.loads((run / "objective.json").read_text()), None
    if (run / "error.json").is_file():
        return "failed", None, json.loads((run / "error.json").read_text())["error"]
    return ("running" if (run / "attempts.jsonl").is_file() else "pending"), None, None


def _curve(run: Path) -> tuple[np.ndarray, np.ndarray]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return np.zeros(0), np.zeros(0)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("episode_return") is not None]
    return np.array([r["env_steps"] for r in rows], float), np.array([r["episode_return"] for r in rows], float)


def trial_suite_summary(run: Path, objective: dict) -> dict | None:
    """The suite summary a trial's objective was read from: ``eval/suite-<suite name>/suite.json``,
    where the sweep writes it, of the objective's own suite file. Not read: a user's own ``metamorph
    eval --suite`` of a trial (``suite-<name>-seed<N>`` or its ``--out``), nor the same trial scored
    on another suite into that suite's folder."""
    if objective["kind"] != "suite":
        return None
    for path in sorted(run.glob("eval/suite-*/suite.json")):
        summary = json.loads(path.read_text())
        if path.parent.name == f"suite-{summary.get('suite')}" and summary.get("source") == objective["suite"]:
            return summary
    return None


def _body_stats(summaries: list[dict], objective_set: str) -> dict[str, dict]:
    """Per body set (and the pool of all): each of BODY_STATS, zero torque's mean and, beside the
    objective's own set, the objective set's mean ÷ this set's (the zero-shot ratio when this set is
    the training bodies), as lists over the trials' seeds; and that ratio of the means over seeds."""
    stats: dict[str, dict] = {}
    for summary in summaries:
        sets = {**summary["sets"], "overall": summary["overall"]}
        target = sets.get(objective_set, {}).get("actors", {}).get("policy", {}).get("mean")
        for name, entry in sets.items():
            row = stats.setdefault(name, {})
            policy = entry["actors"]["policy"]
            for stat in BODY_STATS:  # a suite.json without a statistic: undefined for that seed
                row.setdefault(stat, []).append(None if policy.get(stat) is None else float(policy[stat]))
            row.setdefault("zero_mean", []).append(float(entry["actors"]["zero"]["mean"]))
            if target is not None and name not in (objective_set, "overall"):
                # undefined (None) where the set's mean is not positive; kept so lists stay aligned with seeds
                ratio = float(target) / float(policy["mean"]) if policy["mean"] > 0 else None
                row.setdefault("objective_ratio", []).append(ratio)
    for row in stats.values():
        if "objective_ratio" in row:
            # the ratio of the means over seeds, as a table of means would give it: a seed whose set
            # the policy does not move still counts, where the per-seed ratios must leave it out
            own, target = float(np.mean(row["mean"])), float(np.mean(stats[objective_set]["mean"]))
            row["objective_ratio_of_means"] = target / own if own > 0 else None
    return stats


def summarise_sweep(out: Path) -> dict:
    """Per configuration: the trials, their objective values and the aggregates over seeds."""
    sweep = json.loads((Path(out) / "sweep.json").read_text())
    configs = []
    for index, overrides in enumerate(sweep["configurations"]):
        trials = [t for t in sweep["trials"] if t["config_index"] == index]
        rows, values, per_set, suites = [], [], [], []
        for trial in trials:
            state, result, error = _trial_state(Path(out) / "trials" / trial["key"])
            # a finished trial's suite; running ones are not read
            suite = (
                None if result is None else trial_suite_summary(Path(out) / "trials" / trial["key"], sweep["objective"])
            )
            if suite is not None:
                suites.append(suite)
            rows.append({"key": trial["key"], "seed": trial["seed"], "state": state, "error": error,
                         "value": None if result is None else result["value"],
                         "train_return": None if result is None else result["train_return"],
                         "sets": None if result is None else result.get("sets")})  # fmt: skip
            if result is not None:
                values.append(result["value"])
                per_set.append(list((result.get("sets") or {"value": result["value"]}).values()))
        entry = {"config": index, "overrides": overrides, "trials": rows, "complete": len(values),
                 "seeds": len(trials)}  # fmt: skip
        if values:
            scores = np.array(per_set)
            # the set names of a finished trial: the first seed may still be running
            set_names = next((list(r["sets"]) for r in rows if r["sets"]), None)
            entry.update({
                "mean": float(np.mean(values)),
                "iqm": iqm(np.array(values)),
                "mean_ci": stratified_bootstrap_ci(np.array(values), np.mean),
                "iqm_ci": stratified_bootstrap_ci(np.array(values), iqm),
                "set_names": set_names,
                "sets_mean": float(np.mean(scores)),
                "sets_mean_ci": stratified_bootstrap_ci(scores, np.mean),
                "sets_iqm": iqm(scores),
                "sets_iqm_ci": stratified_bootstrap_ci(scores, iqm),
                "per_set_mean": dict(zip(set_names or ["value"], (float(v) for v in scores.mean(axis=0)), strict=True)),
            })  # fmt: skip
        if suites:
            entry["bodies"] = _body_stats(suites, sweep["objective"]["set"])
        configs.append(entry)
    finished = [c for c in configs if c["complete"] == c["seeds"]]
    best = max(finished, key=lambda c: c["mean"], default=None)
    command = None
    if best is not None:
        base = ["--config", sweep["base"]] if sweep["base"] else []
        command = shlex.join(["metamorph", "train", *base, *as_flags({**sweep["fixed"], **best["overrides"]})])
    return {"sweep": str(out), "source": sweep["source"], "objective": sweep["objective"], "seeds": sweep["seeds"],
            "configurations": configs, "best": None if best is None else best["config"], "best_command": command,
            "failed": [t for c in configs for t in c["trials"] if t["state"] == "failed"]}  # fmt: skip


def _interval(value: float, ci) -> str:
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _label(overrides: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items()) or "base"


def _seeds(values: list[float | None], percent: bool = False, lead: float | None = None) -> str:
    """The mean over seeds (or ``lead``), then each seed's value: ``66 % (70, 60, 68)`` or ``24.90
    (20.10, –)`` (an undefined value is a dash, and the mean is over the defined ones)."""
    form = (lambda v: f"{100 * v:.0f}") if percent else (lambda v: f"{v:.2f}")
    defined = [v for v in values if v is not None]
    if lead is None and defined:
        lead = float(np.mean(defined))
    first = "–" if lead is None else form(lead) + (" %" if percent else "")
    return f"{first} ({', '.join('–' if v is None else form(v) for v in values)})"


def _body_table(summary: dict) -> list[str]:
    """Markdown rows of every configuration's per-set body statistics (suite objectives only)."""
    configs = [c for c in summary["configurations"] if c.get("bodies")]
    if not configs:
        return []
    objective_set = summary["objective"]["set"]
    lines = ["", "Bodies per set (the policy's deterministic episodes on the objective's suite; the mean over "
             "seeds, then each seed's value; *moving*: faster than 0.1 m/s; *falls*: the share of "
             "episodes that end in a fall; the ratio is "
             f"{objective_set}'s mean ÷ the set's, the zero-shot ratio beside the training bodies: "
             "first of the means over seeds, then each seed's):", "",
             "| config | set | mean | median | moving | beats zero torque | falls | zero torque mean | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for c in configs:
        for name, row in c["bodies"].items():
            ratio = "–"
            if "objective_ratio" in row:
                of_means = row["objective_ratio_of_means"]
                ratio = _seeds(row["objective_ratio"], lead=of_means) if of_means is not None else "–"
            lines.append(f"| c{c['config']:02d} | {name} | {_seeds(row['mean'])} | {_seeds(row['median'])} | "
                         f"{_seeds(row['moving_share'], True)} | {_seeds(row['beats_zero_share'], True)} | "
                         f"{_seeds(row['fall_rate'], True)} | "
                         f"{np.mean(row['zero_mean']):.2f} | {ratio} |")  # fmt: skip
    return lines


def write_sweep_report(out: Path) -> Path:
    """Write SWEEP/report/ (replacing an older one atomically) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    summary = summarise_sweep(out)
    target = out / "report"
    tmp = out / f".report.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()

    (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["config", "overrides", "complete", "seeds", "mean", "mean_ci_low", "mean_ci_high", "iqm",
                     "iqm_ci_low", "iqm_ci_high", "values"])  # fmt: skip
    for c in summary["configurations"]:
        values = " ".join(f"{t['value']:.4f}" for t in c["trials"] if t["value"] is not None)
        stats = [c.get("mean"), *c.get("mean_ci", (None, None)), c.get("iqm"), *c.get("iqm_ci", (None, None))]
        cells = ("" if v is None else f"{v:.4f}" for v in stats)
        writer.writerow([c["config"], _label(c["overrides"]), c["complete"], c["seeds"], *cells, values])
    (tmp / "summary.csv").write_text(buffer.getvalue())

    fig, ax = plt.subplots(figsize=(8, 5))
    for c in summary["configurations"]:
        curves = [_curve(out / "trials" / t["key"]) for t in c["trials"]]
        curves = [(x, y) for x, y in curves if len(x)]
        if not curves:
            continue
        steps = min(len(x) for x, _ in curves)
        x = curves[0][0][:steps]
        ys = np.array([y[:steps] for _, y in curves])
        line = ax.plot(x, ys.mean(axis=0), label=f"c{c['config']:02d} {_label(c['overrides'])} ({len(curves)} seeds)")
        ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=line[0].get_color(), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean training episode return")
    ax.set_title("learning curves: mean over seeds, band from the lowest to the highest seed")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(tmp / "curves.png", dpi=110)
    plt.close(fig)

    objective = summary["objective"]
    goal = (f"{objective['metric']} zero-shot return on {objective['suite']} ({objective['set']})"
            if objective["kind"] == "suite" else
            f"mean training episode return over the last {objective['last_updates']} updates")  # fmt: skip
    lines = [f"# Sweep {out.name}", "", f"- spec: {summary['source']}", f"- objective: {goal}",
             f"- seeds: {summary['seeds']}", "",
             "| config | fields | seeds done | mean [95% CI] | IQM [95% CI] | per seed |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for c in summary["configurations"]:
        per_seed = ", ".join("–" if t["value"] is None else f"{t['value']:.2f}" for t in c["trials"])
        cells = "– | –"
        if "mean" in c:
            cells = f"{_interval(c['mean'], c['mean_ci'])} | {_interval(c['iqm'], c['iqm_ci'])}"
        mark = " **best**" if c["config"] == summary["best"] else ""
        done = f"{c['complete']}/{c['seeds']}"
        lines.append(f"| c{c['config']:02d}{mark} | {_label(c['overrides'])} | {done} | {cells} | {per_seed} |")
    if any(c.get("set_names") for c in summary["configurations"]):
        names = next(c["set_names"] for c in summary["configurations"] if c.get("set_names"))
        lines += ["", "Per body set (mean over seeds of each trial's set value; IQM and its stratified-bootstrap "
                  "interval over seeds × sets):", "",
                  "| config | " + " | ".join(names) + " | IQM over sets [95% CI] |",
                  "| --- | " + " | ".join("---" for _ in names) + " | --- |"]  # fmt: skip
        for c in summary["configurations"]:
            if "per_set_mean" in c:
                cells = " | ".join(f"{c['per_set_mean'][n]:.2f}" for n in names)
                lines.append(f"| c{c['config']:02d} | {cells} | {_interval(c['sets_iqm'], c['sets_iqm_ci'])} |")
    lines += _body_table(summary)
    if summary["best_command"]:
        lines += [
            "",
            "Best configuration, ready to run (add `--seed N`):",
            "",
            "```bash",
            summary["best_command"],
            "```",
        ]
    if summary["failed"]:
        lines += ["", "Failed trials:", "", *[f"- {t['key']}: {t['error']}" for t in summary["failed"]]]
    lines += ["", "![learning curves](curves.png)", ""]
    (tmp / "report.md").write_text("\n".join(lines))

    old = out / f".report.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
