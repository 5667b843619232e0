"""Training sweeps: configurations × seeds, each trial an ordinary run folder, queued in Optuna.

A sweep spec (``train/sweeps/NAME.toml``, or flags) names a base training config, fields fixed for
every trial, a grid and/or random distributions over any `TrainConfig` field by its flag name, the
seeds, and the objective::

    [sweep]
    base = "train/default.toml"      # optional: a training config file
    seeds = [0, 1, 2]
    samples = 4                      # random draws per grid point (with [random])
    seed = 0                         # seeds the draws

    [objective]
    kind = "suite"                   # or "train_return": the mean episode return of the last updates
    suite = "eval/generalisation.toml"
    metric = "mean"                  # mean, median or iqm of the policy's per-body returns
    set = "overall"                  # or one set of the suite
    last_updates = 10                # for train_return

    [fixed]
    total-steps = 1_000_000
    [grid]
    bodies = ["generate:unimal:10", "generate:unimal:100"]
    [random]
    "ppo.learning-rate" = { log_uniform = [1e-4, 1e-3] }
    "ppo.clip" = { uniform = [0.1, 0.3] }
    "ppo.epochs" = { int_uniform = [2, 8] }
    position = { choice = ["learned", "tree"] }

The trials (every configuration with every seed) are queued in an Optuna study whose storage is an
SQLAlchemy URL: by default an SQLite file in the sweep folder (no server); on a cluster a database
every host reaches (PostgreSQL, MySQL), or SQLite on a shared disk for a few hosts. Each
``metamorph sweep`` process runs ``--workers`` trials at a time, each a ``metamorph train``
subprocess with its own share of the cores, and claims queued trials atomically; Optuna's heartbeats
return the trials of a killed worker to the queue, where the next claim resumes them from their last
checkpoint. So a sweep can be killed at any moment and the same command run again, on this host or
many: finished trials are skipped, interrupted ones resume, none runs twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from metamorph.configs import Overrides, apply_overrides, as_flags, check_overrides, read_toml, train_fields
from metamorph.errors import MetamorphError
from metamorph.files import write_json_atomic
from metamorph.launch import die_with_parent, thread_environment

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
OBJECTIVES = ("train_return", "suite")
METRICS = ("mean", "median", "iqm")
GRACE_SECONDS = 20
"""A running trial whose worker has written no heartbeat for this long is returned to the queue."""


@dataclasses.dataclass(frozen=True)
class Objective:
    kind: str = "train_return"
    """train_return (mean episode return over the last updates) or suite (zero-shot, on an eval/ suite)."""
    suite: Path | None = None
    metric: str = "mean"
    set: str = "overall"
    last_updates: int = 10

    def describe(self) -> str:
        if self.kind == "suite":
            return f"{self.metric} zero-shot return on {self.suite} ({self.set})"
        return f"mean training episode return over the last {self.last_updates} updates"


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    base: Path | None
    fixed: Overrides
    grid: dict[str, list]
    random: dict[str, dict]
    samples: int
    seeds: tuple[int, ...]
    objective: Objective
    draw_seed: int = 0
    source: str = "flags"

    def configurations(self) -> list[Overrides]:
        """Each configuration's own fields (grid point, then random draw), in a fixed order."""
        names = list(self.grid)
        points = [dict(zip(names, values, strict=True)) for values in itertools.product(*self.grid.values())]
        if not self.random:
            return points
        rng = np.random.default_rng(self.draw_seed)
        out = []
        for point in points:
            for _ in range(self.samples):
                out.append({**point, **{name: _draw(rng, dist) for name, dist in self.random.items()}})
        return out

    def base_config(self):
        from metamorph.configs import load_train_config
        from metamorph.train import TrainConfig

        return load_train_config(self.base) if self.base is not None else TrainConfig()

    def trial_overrides(self, config: Overrides, seed: int) -> Overrides:
        return {**self.fixed, **config, "seed": seed}


def _draw(rng: np.random.Generator, dist: dict):
    kind, value = next(iter(dist.items()))
    if kind == "choice":
        return value[int(rng.integers(len(value)))]
    low, high = value
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "log_uniform":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return int(rng.integers(low, high + 1))


# ----------------------------------------------------------------------------------------------
# Reading a spec


def parse_flag_value(text: str) -> Any:
    """A value given on the command line: TOML's reading of it (numbers, true/false), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_spec(
    path: Path | None,
    *,
    base: Path | None = None,
    seeds: tuple[int, ...] = (),
    fixed: tuple[str, ...] = (),
    grid: tuple[str, ...] = (),
    objective: str | None = None,
) -> SweepSpec:
    """A sweep spec from a file and/or flags (flags add to or replace the file's entries); every
    field name, value, distribution and file is checked, and errors name the file and the field."""
    table = read_toml(path) if path is not None else {}
    where = str(path) if path is not None else "sweep flags"
    for key in table:
        if key not in ("sweep", "objective", "fixed", "grid", "random"):
            raise MetamorphError(
                f"{where}: unknown table [{key}]; expected [sweep], [objective], [fixed], [grid], [random]"
            )
    head = table.get("sweep", {})
    for key in head:
        if key not in ("base", "seeds", "samples", "seed"):
            raise MetamorphError(f"{where}: [sweep] has no field '{key}' (base, seeds, samples, seed)")
    base_path = base or (Path(head["base"]) if "base" in head else None)
    if base_path is not None and not base_path.is_file():
        raise MetamorphError(f"{where}: base: {base_path}: no such file")
    seed_list = list(seeds) if seeds else head.get("seeds", [0])
    if (
        not isinstance(seed_list, list)
        or not seed_list
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seed_list)
    ):
        raise MetamorphError(f"{where}: seeds must be a non-empty list of integers, got {seed_list!r}")
    if len(set(seed_list)) != len(seed_list):
        raise MetamorphError(f"{where}: seeds repeat: {seed_list}")

    fixed_raw = dict(table.get("fixed", {}))
    fixed_raw.update(_key_values(fixed, where, "--fixed"))
    fixed_checked = check_overrides(fixed_raw, f"{where}: [fixed]", allow_launch=False)
    if "seed" in fixed_checked:
        raise MetamorphError(f"{where}: [fixed]: seed is set per trial by [sweep] seeds")

    grid_raw = _flatten(table.get("grid", {}))
    for name, values in _key_values(grid, where, "--grid").items():
        grid_raw[name] = values if isinstance(values, list) else [values]
    grid_checked: dict[str, list] = {}
    fields = train_fields()
    for key, values in grid_raw.items():
        if isinstance(values, str) and "," in values:
            values = [parse_flag_value(v) for v in values.split(",")]
        if not isinstance(values, list) or not values:
            raise MetamorphError(f"{where}: [grid] {key}: an empty grid (give a non-empty list of values)")
        checked = [check_overrides({key: v}, f"{where}: [grid]", allow_launch=False) for v in values]
        name = next(iter(checked[0]))
        if name == "seed":
            raise MetamorphError(f"{where}: [grid]: seed is set per trial by [sweep] seeds")
        grid_checked[name] = [c[name] for c in checked]

    random_checked: dict[str, dict] = {}
    for key, dist in _flatten(table.get("random", {})).items():
        name, dist = _check_distribution(key, dist, fields, f"{where}: [random]")
        random_checked[name] = dist
    samples = head.get("samples", 1 if random_checked else 0)
    if random_checked and (not isinstance(samples, int) or samples < 1):
        raise MetamorphError(f"{where}: [sweep] samples must be a positive integer with [random], got {samples!r}")
    both = set(grid_checked) & set(random_checked) | (set(fixed_checked) & (set(grid_checked) | set(random_checked)))
    if both:
        raise MetamorphError(f"{where}: {', '.join(sorted(both))} set in more than one of [fixed], [grid], [random]")

    spec = SweepSpec(
        base=base_path,
        fixed=fixed_checked,
        grid=grid_checked,
        random=random_checked,
        samples=samples if random_checked else 0,
        seeds=tuple(seed_list),
        objective=_check_objective(table.get("objective", {}), objective, where),
        draw_seed=head.get("seed", 0),
        source=where,
    )
    _check_bodies(spec, where)
    _check_configurations(spec, where)
    return spec


def _check_configurations(spec: SweepSpec, where: str) -> None:
    """Every configuration's policy (position, frame, action std, dropout, preset) and task (its
    name and overrides: episode length, reset noise, fall rule…) is valid before any trial starts,
    not only when its trial does."""
    from metamorph.bodies import check_part_shares

    base = spec.base_config()
    named = [("[fixed]", {})] + [(", ".join(f"{k}={v}" for k, v in c.items()), c) for c in spec.configurations()]
    for name, config in named:
        try:
            train_config = apply_overrides(base, {**spec.fixed, **config})
            _ = train_config.policy_config, train_config.task_config  # each validates on construction
            check_part_shares(train_config.part_shares, train_config.bodies)
        except MetamorphError as exc:
            raise MetamorphError(f"{where}: {name}: {exc}") from None


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """``[grid.ppo] clip = […]`` and ``"ppo.clip" = […]`` alike; a field's own table (a distribution)
    stays whole."""
    from metamorph.configs import flag_name

    fields = train_fields()
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and flag_name(f"{prefix}{key}") not in fields:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _key_values(items: tuple[str, ...], where: str, flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MetamorphError(f"{where}: {flag} {item!r}: expected FIELD=VALUE")
        out[key] = [parse_flag_value(v) for v in value.split(",")] if flag == "--grid" else parse_flag_value(value)
    return out


def _check_distribution(key: str, dist: Any, fields: dict, where: str) -> tuple[str, dict]:
    from metamorph.configs import check_value, flag_name

    name = flag_name(key)
    if name not in fields:
        check_overrides({key: None}, where, allow_launch=False)  # the unknown-field error, with a suggestion
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        forms = " | ".join(f"{d} = …" for d in DISTRIBUTIONS)
        raise MetamorphError(f"{where}: {key}: a distribution is one of {{ {forms} }}, got {dist!r}")
    kind, value = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise MetamorphError(f"{where}: {key}: choice needs a non-empty list")
        return name, {kind: [check_value(name, fields[name], v, where) for v in value]}
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int | float) for v in value):
        raise MetamorphError(f"{where}: {key}: {kind} needs [low, high], got {value!r}")
    low, high = value
    if low > high:
        raise MetamorphError(f"{where}: {key}: {kind} has low {low} > high {high}")
    if kind == "log_uniform" and low <= 0:
        raise MetamorphError(f"{where}: {key}: log_uniform needs low > 0, got {low}")
    for v in value:
        check_value(name, fields[name], int(v) if kind == "int_uniform" else v, where)
    return name, {kind: [low, high]}


def _check_objective(table: dict, override: str | None, where: str) -> Objective:
    known = [f.name for f in dataclasses.fields(Objective)]
    for key in table:
        if key not in known:
            raise MetamorphError(f"{where}: [objective] has no field '{key}' ({', '.join(known)})")
    values = dict(table)
    if override is not None:  # --objective train_return | --objective eval/NAME.toml
        values = {"kind": "train_return"} if override == "train_return" else {"kind": "suite", "suite": override}
    kind = values.get("kind", "suite" if "suite" in values else "train_return")
    if kind not in OBJECTIVES:
        raise MetamorphError(f"{where}: [objective] kind must be one of {', '.join(OBJECTIVES)}, got {kind!r}")
    metric = values.get("metric", "mean")
    if metric not in METRICS:
        raise MetamorphError(f"{where}: [objective] metric must be one of {', '.join(METRICS)}, got {metric!r}")
    last = values.get("last_updates", 10)
    if not isinstance(last, int) or last < 1:
        raise MetamorphError(f"{where}: [objective] last_updates must be a positive integer, got {last!r}")
    suite = None
    if kind == "suite":
        from metamorph.suite import load_suite

        if "suite" not in values:
            raise MetamorphError(f"{where}: [objective] kind 'suite' needs suite = \"eval/NAME.toml\"")
        suite = Path(values["suite"])
        try:
            loaded = load_suite(suite)  # bodies that do not exist fail here, before any trial
        except MetamorphError as exc:
            raise MetamorphError(f"{where}: [objective] suite: {exc}") from None
        body_set = values.get("set", "overall")
        if body_set != "overall" and body_set not in {s.name for s in loaded.sets}:
            raise MetamorphError(f"{where}: [objective] set '{body_set}' is not a set of {suite}")
    return Objective(kind, suite, metric, values.get("set", "overall"), last)


def _check_bodies(spec: SweepSpec, where: str) -> None:
    from metamorph.bodies import check_spec

    candidates = {spec.base_config().bodies, spec.fixed.get("bodies")}
    candidates |= set(spec.grid.get("bodies", [])) | set(spec.random.get("bodies", {}).get("choice", []))
    for bodies in sorted(c for c in candidates if c):
        try:
            check_spec(bodies)
        except MetamorphError as exc:
            raise MetamorphError(f"{where}: bodies: {exc}") from None


# ----------------------------------------------------------------------------------------------
# The sweep folder


@dataclasses.dataclass(frozen=True)
class Trial:
    key: str
    """``c03-s1``: configuration 3, seed 1; also the trial's folder name."""
    config_index: int
    seed: int
    overrides: Overrides
    """Every field this trial sets on top of the base config (fixed, configuration, seed)."""


def plan(spec: SweepSpec) -> tuple[list[Overrides], list[Trial], str]:
    """(configurations, trials, fingerprint). The fingerprint is a hash of every trial's resolved
    `TrainConfig` and of the objective, so a folder made from another spec is recognised."""
    configs, trials, resolved, objective = _plan(spec)
    return configs, trials, _fingerprint(resolved, objective)


def _fingerprint(resolved: list[dict], objective: dict) -> str:
    return hashlib.sha256(json.dumps([resolved, objective], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plan(spec: SweepSpec) -> tuple[list[Overrides], list[Trial], list[dict], dict]:
    """(configurations, trials, each trial's resolved config as JSON, the objective as JSON)."""
    from metamorph.train import config_to_json

    base = spec.base_config()
    configs = spec.configurations()
    trials, resolved = [], []
    for i, config in enumerate(configs):
        for seed in spec.seeds:
            overrides = spec.trial_overrides(config, seed)
            trials.append(Trial(f"c{i:02d}-s{seed}", i, seed, overrides))
            resolved.append(config_to_json(apply_overrides(base, overrides)))
    objective = dataclasses.asdict(spec.objective) | {"suite": str(spec.objective.suite)}
    as_stored = json.loads(json.dumps(resolved, default=str))  # tuples as lists, paths as strings
    return configs, trials, as_stored, objective


def _first_difference(stored: Any, current: Any, default: Any, where: str) -> str | None:
    """Where a stored resolved config and today's differ, or None. A field the stored one lacks
    is no difference when today's value is its default: an option added to metamorph after the
    sweep began, left unset, trains as before. A changed default is a difference."""
    if isinstance(stored, dict) and isinstance(current, dict):
        for key in sorted(set(stored) | set(current)):
            if key not in current:
                return f"{where}{key} is no longer a training field"
            if key not in stored:
                if current[key] != (default or {}).get(key, object()):
                    return f"{where}{key} = {current[key]!r} is new and not its default"
                continue
            inner = _first_difference(stored[key], current[key], (default or {}).get(key), f"{where}{key}.")
            if inner is not None:
                return inner
        return None
    return None if stored == current else f"{where.rstrip('.')} was {stored!r}, now {current!r}"


def open_folder(spec: SweepSpec, out: Path) -> tuple[list[Trial], str]:
    """Create the sweep folder, or check that an existing one was made from this spec; returns the
    trials and the spec's fingerprint."""
    configs, trials, resolved, objective = _plan(spec)
    fingerprint = _fingerprint(resolved, objective)
    record = out / "sweep.json"
    if record.is_file():
        stored = json.loads(record.read_text())
        if stored.get("fingerprint") == fingerprint:
            return trials, fingerprint
        why = _why_another_spec(stored, trials, resolved, objective)
        if why is None:  # the same trials, written before metamorph gained an option: keep its study
            return trials, stored["fingerprint"]
        raise MetamorphError(
            f"{out}: this sweep folder was made from another spec ({stored.get('source')}, fingerprint "
            f"{stored.get('fingerprint')}; this one {fingerprint}: {why}); choose another --out"
        )
    if out.exists() and any(p for p in out.iterdir() if p.name not in ("optuna.db", "optuna.db-journal")):
        raise MetamorphError(f"{out}: exists and is not a sweep folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, {
        "fingerprint": fingerprint,
        "source": spec.source,
        "base": None if spec.base is None else str(spec.base),
        "fixed": spec.fixed,
        "grid": spec.grid,
        "random": spec.random,
        "samples": spec.samples,
        "draw_seed": spec.draw_seed,
        "seeds": list(spec.seeds),
        "objective": dataclasses.asdict(spec.objective) | {"suite": None if spec.objective.suite is None
                                                            else str(spec.objective.suite)},
        "configurations": configs,
        "trials": [dataclasses.asdict(t) for t in trials],
        "resolved": resolved,  # each trial's whole config, to tell a new option from a new spec
    })  # fmt: skip
    return trials, fingerprint


def _why_another_spec(stored: dict, trials: list[Trial], resolved: list[dict], objective: dict) -> str | None:
    """Why a sweep folder's record does not describe these trials (their resolved configs and the
    objective, as `_plan` gives them), or None if it does."""
    from metamorph.train import TrainConfig, config_to_json

    if "resolved" not in stored:
        return "the folder predates per-trial records, so any difference counts"
    if [t["key"] for t in stored.get("trials", [])] != [t.key for t in trials]:
        return "its trials differ"
    stored_objective = stored.get("objective", {}) | {"suite": str(stored.get("objective", {}).get("suite"))}
    if stored_objective != objective:
        return "its objective differs"
    default = json.loads(json.dumps(config_to_json(TrainConfig()), default=str))
    for trial, before, now in zip(trials, stored["resolved"], resolved, strict=True):
        where = _first_difference(before, now, default, "")
        if where is not None:
            return f"trial {trial.key}: {where}"
    return None


def read_sweep(out: Path) -> dict:
    record = Path(out) / "sweep.json"
    if not record.is_file():
        raise MetamorphError(f"{out}: not a sweep folder (no sweep.json)")
    return json.loads(record.read_text())


# ----------------------------------------------------------------------------------------------
# Optuna: the queue every worker claims trials from


def heartbeat_seconds(grace: int) -> int:
    return max(1, grace // 4)


def storage_for(out: Path, url: str | None, grace: int = GRACE_SECONDS):
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # heartbeats and their retry callback are marked experimental; they are what makes kill -9 safe
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    url = url or f"sqlite:///{(out / 'optuna.db').resolve()}"
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine,
        heartbeat_interval=heartbeat_seconds(grace),
        grace_period=grace,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
    )


def open_study(storage, fingerprint: str, trials: list[Trial]):
    """The sweep's study (created by whichever worker comes first), with a queued trial for every
    key that has none waiting, running or complete: a first start queues them all; a restart
    queues those that crashed (and any a kill left unqueued), and every running trial goes stale
    unless its worker still beats."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(study_name=f"metamorph-{fingerprint}", storage=storage, load_if_exists=True,
                                direction="maximize")  # fmt: skip
    have = {t.user_attrs.get("key") for t in study.get_trials(deepcopy=False,
            states=(TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE))}  # fmt: skip
    for trial in trials:
        if trial.key not in have:
            study.enqueue_trial({}, user_attrs={"key": trial.key})
    # a beat now for every running trial: one claimed without a heartbeat (by a version before the
    # claim recorded it first) then goes stale like any other; a live one's next beat follows anyway
    for running in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.record_heartbeat(running._trial_id)
    return study


def claim(study) -> tuple[int, str] | None:
    """Atomically move one waiting trial to running: (trial id, key), or None when none waits."""
    from optuna.trial import TrialState

    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            # the heartbeat before the state: Optuna never counts a running trial with no heartbeat
            # as stale, so a claim killed between the two would otherwise hold its trial forever
            # (every worker waiting on it: seen in the kill -9 test, 2026-12-07)
            storage.record_heartbeat(frozen._trial_id)
            if storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                return frozen._trial_id, frozen.user_attrs["key"]
        except Exception:  # another worker finished or failed it in between
            continue
    return None


def _yields_to_another(study, trial_id: int, key: str) -> bool:
    """Two queued copies of one key can exist after simultaneous first starts on two hosts. The
    claimer of a copy withdraws every other waiting copy, then yields to a complete copy or to a
    running one with a smaller id: whatever the interleaving, exactly one copy runs."""
    from optuna.trial import TrialState

    storage = study._storage
    copies = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("key") == key and t._trial_id != trial_id]
    for other in copies:
        if other.state == TrialState.WAITING:
            with contextlib.suppress(Exception):  # claimed or withdrawn by another worker meanwhile
                storage.set_trial_state_values(other._trial_id, TrialState.PRUNED)
    for other in copies:
        state = storage.get_trial(other._trial_id).state
        if state == TrialState.COMPLETE or (state == TrialState.RUNNING and other._trial_id < trial_id):
            return True
    return False


@contextlib.contextmanager
def queue_lock(out: Path):
    """Every sweep process, on any host, takes this lock on the shared sweep folder to change the
    queue: SQLite ignores the row locks Optuna asks for, so two workers could otherwise both see
    the same trial waiting and both claim it (seen in the kill -9 test)."""
    import fcntl

    with (Path(out) / ".queue.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Heartbeat:
    """Records a running trial's heartbeat until closed (the trial itself runs in a subprocess)."""

    def __init__(self, storage, trial_id: int):
        self.stop = threading.Event()
        interval = storage.get_heartbeat_interval()
        self.thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)
        self.thread.start()

    def _beat(self, storage, trial_id: int, interval: int) -> None:
        while not self.stop.wait(interval):
            with contextlib.suppress(Exception):  # a busy database: the next beat tries again
                storage.record_heartbeat(trial_id)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


# ----------------------------------------------------------------------------------------------
# Running trials


@dataclasses.dataclass(frozen=True)
class Slot:
    """One worker's share of this machine: the cores its trials may run on and their thread count."""

    index: int
    cores: tuple[int, ...] | None
    threads: int

    def environment(self) -> dict[str, str]:
        return thread_environment(self.threads)


def slots(workers: int, threads: int | None) -> list[Slot]:
    """Split this process's cores among the workers (each pinned to its own when they suffice)."""
    available = (
        sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    )
    per = threads or max(1, len(available) // workers)
    out = []
    for i in range(workers):
        cores = available[i * per : (i + 1) * per]
        out.append(Slot(i, tuple(cores) if len(cores) == per and per * workers <= len(available) else None, per))
    return out


def _child_setup(cores: tuple[int, ...] | None):
    """Run in the trial's process before it starts: it dies with its worker (so kill -9 of a sweep
    leaves no orphan training) and runs on its slot's cores."""
    sweep = os.getpid()

    def setup() -> None:
        os.setsid()
        # also when the sweep is killed between the fork and here (a trial completing starts the
        # next one at once): the trial must not train on beside the resumed sweep, in its run folder
        die_with_parent(sweep)
        if cores is not None:
            os.sched_setaffinity(0, cores)

    return setup


def _run(command: list[str], slot: Slot, log: Path) -> tuple[int, str]:
    """Run a metamorph command for a trial, appending its output to ``log``; (exit code, last error line)."""
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, text=True, env=slot.environment(),
                                   preexec_fn=_child_setup(slot.cores))  # fmt: skip
        _, stderr = process.communicate()
        sink.write(stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    last = (errors or lines or [f"exit status {process.returncode}"])[-1]
    return process.returncode, last.removeprefix("error: ")


def train_return(run: Path, last_updates: int) -> float | None:
    """The mean training episode return over the last ``last_updates`` updates; None when no episode
    ended in them (episodes longer than those updates, as when nothing ends an episode but its time
    limit and every environment started together)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    returns = [r["episode_return"] for r in rows[-last_updates:] if r.get("episode_return") is not None]
    return float(np.mean(returns)) if returns else None


def run_trial(spec: SweepSpec, trial: Trial, out: Path, slot: Slot) -> dict:
    """Train (or resume) one trial in its own run folder, then measure its objective; returns what
    ``objective.json`` holds. Raises `MetamorphError` with the trial's own error line on failure."""
    run = out / "trials" / trial.key
    run.mkdir(parents=True, exist_ok=True)
    done = run / "objective.json"
    if done.is_file():  # killed between writing the result and telling the study
        return json.loads(done.read_text())
    resume = (run / "config.json").is_file()
    # the update it continues from: the newest whole checkpoint (0: from scratch)
    whole = [int(c.name.removeprefix("update_")) for c in (run / "checkpoints").glob("update_*")
             if c.name.removeprefix("update_").isdigit() and (c / "meta.json").is_file()]  # fmt: skip
    attempt = {"time": time.time(), "resume": resume, "from_update": max(whole, default=0),
               "host": os.uname().nodename, "pid": os.getpid(), "slot": slot.index}  # fmt: skip
    with (run / "attempts.jsonl").open("a") as attempts:
        attempts.write(json.dumps(attempt) + "\n")
    started = time.time()
    metamorph = [sys.executable, "-m", "metamorph"]
    if not (run / "trained").is_file():
        command = [*metamorph, "train"]
        if spec.base is not None:
            command += ["--config", str(spec.base)]
        command += [*as_flags(trial.overrides), "--run-dir", str(run), "--nthread", str(slot.threads)]
        command += ["--resume"] if resume else []
        code, error = _run(command, slot, run / "train.log")
        if code != 0:
            raise MetamorphError(error)
        (run / "trained").write_text("")
    trained = time.time()
    result: dict[str, Any] = {"key": trial.key, "train_return": train_return(run, spec.objective.last_updates)}
    if spec.objective.kind == "suite":
        from metamorph.suite import load_suite, objective_value, per_set_values, read_suite_summary

        suite = load_suite(spec.objective.suite)
        report = run / "eval" / f"suite-{suite.name}"
        if not (report / "suite.json").is_file():
            # every trial is scored on the same suite: zero and random torque run once per sweep
            command = [*metamorph, "eval", str(run), "--suite", str(spec.objective.suite), "--out", str(report),
                       "--nthread", str(slot.threads), "--baseline-cache", str(out / "baselines")]  # fmt: skip
            code, error = _run(command, slot, run / "eval.log")
            if code != 0:
                raise MetamorphError(error)
        summary = read_suite_summary(report)
        result["value"] = objective_value(summary, spec.objective.metric, spec.objective.set)
        result["sets"] = per_set_values(summary, spec.objective.metric)
    elif result["train_return"] is None:
        raise MetamorphError(
            f"{run}: no episode ended in the last {spec.objective.last_updates} updates, so there is no training "
            "return to score; raise [objective] last_updates or score the trial on a suite"
        )
    else:
        result["value"] = result["train_return"]
    result["seconds"] = {"train": trained - started, "objective": time.time() - trained}
    write_json_atomic(done, result)
    return result


def run_worker(spec: SweepSpec, out: Path, trials: list[Trial], study, slot: Slot, log, failures: list) -> None:
    """Claim and run trials until every trial is complete or failed (waiting while others run: a
    killed worker's trials come back to the queue when its heartbeat goes stale)."""
    import optuna
    from optuna.trial import TrialState

    by_key = {t.key: t for t in trials}
    while True:
        with queue_lock(out):
            optuna.storages.fail_stale_trials(study)
            claimed = claim(study)
            duplicate = claimed is not None and _yields_to_another(study, *claimed)
        if claimed is None:
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
                return
            time.sleep(2)
            continue
        trial_id, key = claimed
        number = study._storage.get_trial_number_from_id(trial_id)
        if duplicate:
            study._storage.set_trial_user_attr(trial_id, "duplicate", True)
            study.tell(number, state=TrialState.PRUNED)
            continue
        beat = _Heartbeat(study._storage, trial_id)
        started = time.time()
        log(f"[worker {slot.index}] {key}: started")
        try:
            result = run_trial(spec, by_key[key], out, slot)
        except Exception as exc:  # a trial's crash is recorded; the others go on
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            write_json_atomic(out / "trials" / key / "error.json", {"key": key, "error": message, "time": time.time()})
            beat.close()
            study._storage.set_trial_user_attr(trial_id, "error", message)
            study.tell(number, state=TrialState.FAIL)
            failures.append((key, message))
            log(f"[worker {slot.index}] {key}: FAILED: {message}")
            continue
        beat.close()
        study._storage.set_trial_user_attr(trial_id, "result", result)
        study.tell(number, result["value"])
        log(f"[worker {slot.index}] {key}: objective {result['value']:.3f} ({time.time() - started:.0f} s)")


def run_sweep(spec: SweepSpec, out: Path, workers: int = 1, storage: str | None = None,
              threads: int | None = None, grace: int = GRACE_SECONDS, log=print) -> int:  # fmt: skip
    """Run (or continue) a sweep with ``workers`` trials at a time on this machine; returns the number
    of trials that failed in this run. Writes the report when no trial is left."""
    from metamorph.sweep_report import write_sweep_report

    if workers < 1:
        raise MetamorphError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    trials, fingerprint = open_folder(spec, out)
    with queue_lock(out):
        study = open_study(storage_for(out, storage, grace), fingerprint, trials)
    failures: list[tuple[str, str]] = []
    # daemon threads: an interrupted sweep exits at once, and its trials die with their threads
    pool = [threading.Thread(target=run_worker, args=(spec, out, trials, study, slot, log, failures), daemon=True)
            for slot in slots(workers, threads)]  # fmt: skip
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    report = write_sweep_report(out)
    log(f"report: {report / 'report.md'}")
    return len(failures)
