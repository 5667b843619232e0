"""Evaluation suites: several body sets, each with its task and episode count, in one report.

A suite is a TOML file in ``eval/``::

    name = "zero-shot"
    episodes = 1                 # default for every set
    [[sets]]
    name = "heldout-generated"
    bodies = "generate:unimal:100:1000"
    [[sets]]
    name = "real"
    bodies = "real:all"
    task = "flat"                # default: the task the policy was trained on
    episodes = 3

``metamorph eval RUN --suite eval/NAME.toml`` evaluates every set as ``metamorph eval`` would (policy,
zero torque, random torque) and writes one folder, atomically: a report per set beside ``suite.json``,
``suite.csv`` and ``suite.md`` with every set's aggregates and the overall ones (all bodies pooled).
Paths in a suite are read from the folder you run in, as paths given as flags are.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from metamorph.errors import MetamorphError

SET_FIELDS = ("name", "bodies", "task", "episodes", "episode_length")
SUITE_FIELDS = ("name", "episodes", "task", "seed", "sets")


@dataclasses.dataclass(frozen=True)
class BodySet:
    name: str
    bodies: str
    """A --bodies spec: a folder, files joined by commas, generate:SPACE:COUNT[:SEED], real:…"""
    task: str | None = None
    """None: the task the policy was trained on."""
    episodes: int = 1
    episode_length: int | None = None


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    source: Path
    sets: tuple[BodySet, ...]
    seed: int = 0


def _unknown(keys, known: tuple[str, ...], where: str) -> None:
    from metamorph.configs import unknown_field

    for key in keys:
        if key not in known:
            raise unknown_field(where, key, list(known))


def _typed(value, kind: type, field: str, where: str, minimum: int | None = None):
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise MetamorphError(f"{where}: {field} must be {kind.__name__}, got {value!r}")
    if minimum is not None and value < minimum:
        raise MetamorphError(f"{where}: {field} must be at least {minimum}, got {value}")
    return value


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file: every set names bodies that exist, tasks that exist, no field
    unknown. Errors name the file and the field."""
    from metamorph.bodies import check_spec
    from metamorph.configs import read_toml
    from metamorph.env import task_config

    path = Path(path)
    table = read_toml(path)
    where = str(path)
    _unknown(table, SUITE_FIELDS, where)
    sets = table.get("sets")
    if not isinstance(sets, list) or not sets:
        raise MetamorphError(f"{where}: no [[sets]]: a suite names at least one body set")
    default_episodes = _typed(table.get("episodes", 1), int, "episodes", where, minimum=1)
    default_task = table.get("task")
    parsed, names = [], set()
    for i, entry in enumerate(sets):
        at = f"{where}: sets[{i}]"
        if not isinstance(entry, dict):
            raise MetamorphError(f"{at}: must be a table with name and bodies")
        _unknown(entry, SET_FIELDS, at)
        for required in ("name", "bodies"):
            if required not in entry:
                raise MetamorphError(f"{at}: missing '{required}'")
        name = _typed(entry["name"], str, "name", at)
        if name in names or name == "overall":
            raise MetamorphError(f"{at}: set name '{name}' is used twice (or is the reserved 'overall')")
        names.add(name)
        bodies = _typed(entry["bodies"], str, "bodies", at)
        try:
            check_spec(bodies)
        except MetamorphError as exc:
            raise MetamorphError(f"{at} ({name}): {exc}") from None
        task = entry.get("task", default_task)
        if task is not None:
            try:
                task_config(_typed(task, str, "task", at))
            except (KeyError, ValueError, MetamorphError) as exc:
                raise MetamorphError(f"{at} ({name}): unknown task '{task}' ({exc})") from None
        episodes = _typed(entry.get("episodes", default_episodes), int, "episodes", at, minimum=1)
        length = entry.get("episode_length")
        if length is not None:
            _typed(length, int, "episode_length", at, minimum=1)
        parsed.append(BodySet(name, bodies, task, episodes, length))
    name = _typed(table.get("name", path.stem), str, "name", where)
    seed = _typed(table.get("seed", 0), int, "seed", where)
    return Suite(name, path, tuple(parsed), seed)


def run_suite(
    loaded, suite: Suite, out: Path, nthread: int = 2, sampled: bool = False, baseline_cache: Path | None = None
) -> dict:
    """Evaluate every set of ``suite`` with a loaded policy (acting with its mean, or ``sampled``
    actions); write the combined report into ``out`` atomically and return its summary (``sets``
    and ``overall``, per actor). ``baseline_cache``: see `metamorph.evaluate.evaluate`."""
    from metamorph.env import task_config
    from metamorph.evaluate import BodyResult, evaluate, load_eval_bodies, summarise, write_report
    from metamorph.files import atomic_folder

    run_dir = loaded.checkpoint.parent.parent
    trained_task = loaded.task()  # with the run's overrides
    pooled: dict[str, list[BodyResult]] = {}
    summary: dict = {"suite": suite.name, "source": str(suite.source), "checkpoint": str(loaded.checkpoint),
                     "seed": suite.seed, "actions": "sampled" if sampled else "mean", "sets": {}}  # fmt: skip
    with atomic_folder(out) as tmp:
        for body_set in suite.sets:
            bodies, failed, spec = load_eval_bodies(loaded, body_set.bodies, run_dir)
            task_used = task_config(body_set.task) if body_set.task else trained_task
            task = task_used.name
            results = evaluate(loaded, bodies, task_used, body_set.episodes, suite.seed, body_set.episode_length,
                               nthread, sampled, baseline_cache)  # fmt: skip
            header = {"checkpoint": str(loaded.checkpoint), "trained_on": loaded.meta["config"]["bodies"],
                      "bodies": spec, "task": task, "episodes_per_body": body_set.episodes,
                      "actions": summary["actions"], "seed": suite.seed,
                      "episode_length": body_set.episode_length, "suite": suite.name, "set": body_set.name}  # fmt: skip
            write_report(results, failed, tmp / body_set.name, header)
            summary["sets"][body_set.name] = {
                "bodies": spec,
                "task": task,
                "num_bodies": len(bodies),
                "failed": len(failed),
                "actors": summarise(results),
            }
            for actor, rows in results.items():
                pooled.setdefault(actor, []).extend(rows)
        summary["overall"] = {
            "num_bodies": sum(s["num_bodies"] for s in summary["sets"].values()),
            "actors": summarise(pooled),
        }
        (tmp / "suite.json").write_text(json.dumps(summary, indent=1) + "\n")
        (tmp / "suite.csv").write_text(_csv(summary))
        (tmp / "suite.md").write_text(_markdown(summary))
    return summary


def _rows(summary: dict):
    for name, entry in [*summary["sets"].items(), ("overall", summary["overall"])]:
        for actor, stats in entry["actors"].items():
            yield name, entry["num_bodies"], actor, stats


CSV_STATS = ("mean", "mean_ci_low", "mean_ci_high", "median", "median_ci_low", "median_ci_high", "iqm",
             "iqm_ci_low", "iqm_ci_high", "fall_rate", "velocity", "moving_share", "beats_zero_share")  # fmt: skip


def _csv(summary: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["set", "bodies", "actor", *CSV_STATS])
    for name, count, actor, stats in _rows(summary):
        writer.writerow([name, count, actor, *(_fmt(stats.get(k)) for k in CSV_STATS)])
    return buffer.getvalue()


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _markdown(summary: dict) -> str:
    lines = [f"# Suite {summary['suite']}", "", f"- checkpoint: {summary['checkpoint']}",
             f"- suite file: {summary['source']}", f"- seed: {summary['seed']}", "",
             "| set | bodies | actor | mean [95% CI] | median [95% CI] | IQM | moving | falls | beats zero |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, count, actor, s in _rows(summary):
        beats = s.get("beats_zero_share")
        lines.append(
            f"| {name} | {count} | {actor} | {s['mean']:.2f} [{s['mean_ci_low']:.2f}, {s['mean_ci_high']:.2f}] "
            f"| {s['median']:.2f} [{s['median_ci_low']:.2f}, {s['median_ci_high']:.2f}] | {s['iqm']:.2f} "
            f"| {s['moving_share']:.0%} | {s['fall_rate']:.0%} | {'' if beats is None else f'{beats:.0%}'} |"
        )
    lines += [
        "",
        "Moving: mean forward velocity above 0.1 m/s. Falls: the share of episodes that end in a fall. "
        "Each set's own report is in its folder.",
        "",
    ]
    return "\n".join(lines)


def read_suite_summary(folder: Path) -> dict:
    return json.loads((Path(folder) / "suite.json").read_text())


def objective_value(summary: dict, metric: str = "mean", body_set: str = "overall") -> float:
    """One number from a suite summary: a statistic of the policy's per-body returns on a set."""
    entry = summary["overall"] if body_set == "overall" else summary["sets"].get(body_set)
    if entry is None:
        raise MetamorphError(f"suite {summary['suite']} has no set '{body_set}'; sets: {', '.join(summary['sets'])}")
    value = entry["actors"]["policy"].get(metric)
    if value is None:
        raise MetamorphError(f"unknown suite metric '{metric}'")
    return float(value)


def per_set_values(summary: dict, metric: str = "mean") -> dict[str, float]:
    return {name: float(entry["actors"]["policy"][metric]) for name, entry in summary["sets"].items()}
