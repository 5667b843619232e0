"""Zero-shot evaluation: a trained policy on bodies it may never have seen.

A policy comes from a checkpoint (`metamorph.checkpoint.load_policy`). `evaluate` runs
deterministic episodes (the policy's mean action) batched over bodies on the same `VecEnv` as
training — slot (body, episode) pairs, each stopping at its first episode end — and, for context,
the same episodes with zero action and with uniformly random actions. `write_report` writes
per-body CSV, JSON, a Markdown report and plots into a folder, atomically.

The baselines do not depend on the policy, so a sweep that scores many policies on one suite can
keep them in a cache folder (`baseline_cache`) and run only the policy's episodes after the first.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from metamorph.checkpoint import LoadedPolicy, load_policy
from metamorph.env.tasks import TaskConfig
from metamorph.errors import MetamorphError
from metamorph.files import atomic_folder, write_json_atomic
from metamorph.vocabulary import DEFAULT_VOCABULARY

__all__ = ["LoadedPolicy", "evaluate", "load_eval_bodies", "load_policy", "summarise", "write_report"]


# ----------------------------------------------------------------------------------------------
# Episodes


@dataclasses.dataclass
class BodyResult:
    name: str
    source: str
    returns: list[float]
    lengths: list[int]
    falls: list[bool]
    velocity: list[float]  # mean forward velocity over the episode (m/s)


def run_episodes(env, act, max_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step every slot until its first episode ends: (return, length, fell, summed forward
    velocity) per slot; the last over the length is the mean forward velocity, whatever other
    terms (an alive bonus) the task's reward has."""
    obs = env.reset(seed=seed)
    total = np.zeros(env.num_envs)
    forward = np.zeros(env.num_envs)
    length = np.zeros(env.num_envs, np.int64)
    fell = np.zeros(env.num_envs, bool)
    live = np.ones(env.num_envs, bool)
    for _ in range(max_steps):
        actions = act(obs)
        obs, reward, terminated, truncated, info = env.step(actions)
        total += np.where(live, reward, 0.0)
        forward += np.where(live, info["reward_terms"]["forward_velocity"], 0.0)
        length += live
        fell |= live & terminated
        live &= ~(terminated | truncated)
        if not live.any():
            break
    return total, length, fell, forward


BASELINES = ("zero", "random")
"""The actors that do not look at the observation: their episodes are the same for every policy."""


def baseline_key(env, config: TaskConfig, episodes: int, seed: int) -> str:
    """What the baselines' episodes depend on, hashed: every body's compiled model, the task, the
    episodes, the seed, the observation frame (kept to be safe: the sensors differ), and the code
    that builds, steps and scores the simulations."""
    import mujoco

    import metamorph.env.tasks
    import metamorph.env.vec_env

    digest = hashlib.sha256()
    header = {"mujoco": mujoco.__version__, "task": dataclasses.asdict(config), "episodes": episodes, "seed": seed,
              "frame": env.frame, "max_tokens": env.max_tokens}  # fmt: skip
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for module in (metamorph.env.vec_env, metamorph.env.tasks):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    for entry in env.bodies:
        model = entry.morphology.model
        buffer = np.empty(mujoco.mj_sizeModel(model), np.uint8)
        mujoco.mj_saveModel(model, None, buffer)
        digest.update(buffer.tobytes())
    return digest.hexdigest()[:32]


def _read_baselines(path: Path, num_bodies: int) -> dict[str, list[BodyResult]] | None:
    """Cached baseline results, or None when the file is missing, unreadable or of another size."""
    try:
        stored = json.loads(path.read_text())
        cached = {actor: [BodyResult(**row) for row in stored[actor]] for actor in BASELINES}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cached if all(len(rows) == num_bodies for rows in cached.values()) else None


def evaluate(
    loaded: LoadedPolicy | None,
    bodies: list,
    task: str | TaskConfig | None = None,
    episodes: int = 5,
    seed: int = 0,
    episode_length: int | None = None,
    nthread: int = 2,
    sampled: bool = False,
    baseline_cache: Path | None = None,
) -> dict[str, list[BodyResult]]:
    """Results per body for the policy (if given), zero action and random actions, on ``task``: a
    task's name, a `TaskConfig`, or None for the task the policy was trained on (with its run's
    overrides; flat without a policy). The policy acts with its mean, or with ``sampled`` actions.
    With ``baseline_cache`` (a folder), zero and random results are read from it when an earlier
    call ran the same episodes, and written to it otherwise."""
    from metamorph.env import VecEnv, task_config

    if task is None:
        config = loaded.task() if loaded is not None else task_config("flat")
    else:
        config = task_config(task) if isinstance(task, str) else task
    if episode_length:
        config = dataclasses.replace(config, episode_length=episode_length)
    assignment = np.repeat(np.arange(len(bodies)), episodes)
    vocabulary = loaded.vocabulary if loaded is not None else DEFAULT_VOCABULARY
    # what the policy was trained to see
    frame = loaded.policy.config.frame if loaded is not None else "torso"
    link_geometry = loaded.policy.config.link_geometry if loaded is not None else "largest"
    env = VecEnv(bodies, config, len(assignment), nthread=nthread, vocabulary=vocabulary, assignment=assignment,
                 autoreset=False, sampling="uniform", frame=frame, link_geometry=link_geometry)  # fmt: skip
    covered = loaded.policy.config.max_tokens if loaded is not None else env.max_tokens
    if loaded is not None and env.max_tokens > covered and loaded.policy.config.position == "learned":
        raise MetamorphError(f"a body has {env.max_tokens} tokens; this policy's learned positions cover {covered}")
    rng = np.random.default_rng(seed)
    actors = {
        "zero": lambda obs: np.zeros((env.num_envs, env.max_tokens)),
        "random": lambda obs: rng.uniform(-1, 1, (env.num_envs, env.max_tokens)),
    }
    if loaded is not None:
        act = loaded.sampled_action_fn(seed) if sampled else loaded.mean_action_fn()
        actors = {"policy": act, **actors}
    cache_file = (
        None if baseline_cache is None else Path(baseline_cache) / f"{baseline_key(env, config, episodes, seed)}.json"
    )
    cached = None if cache_file is None else _read_baselines(cache_file, len(env.bodies))
    results = {}
    for name, act in actors.items():
        if cached is not None and name in cached:
            results[name] = cached[name]
            continue
        total, length, fell, forward = run_episodes(env, act, config.episode_length, seed)
        per_body = []
        for b, entry in enumerate(env.bodies):
            rows = assignment == b
            per_body.append(
                BodyResult(
                    name=entry.morphology.name,
                    source=entry.morphology.label,
                    returns=total[rows].tolist(),
                    lengths=length[rows].tolist(),
                    falls=fell[rows].tolist(),
                    velocity=(forward[rows] / np.maximum(length[rows], 1)).tolist(),
                )
            )
        results[name] = per_body
    env.close()
    if cache_file is not None and cached is None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache_file, {actor: [dataclasses.asdict(r) for r in results[actor]] for actor in BASELINES})
    return results


MOVING_SPEED = 0.1
"""A body "moves" when its mean forward velocity over an episode exceeds this (m/s)."""


def load_eval_bodies(loaded: LoadedPolicy, spec: str, run_dir: Path) -> tuple[list, list[tuple[str, str]], str]:
    """The bodies a ``--bodies`` spec names, loaded and checked against the policy: (bodies, [(name,
    error)] of those that could not be evaluated, the spec resolved: ``train`` is the run's own)."""
    from metamorph.bodies import part_folder, real_robot_path, real_robots, resolve
    from metamorph.morphology import load_morphology
    from metamorph.tokens import tokenize

    trained = loaded.meta["config"]
    resolved = trained["bodies"] if spec == "train" else spec
    # the run's own bodies were generated into its folder; other generated sets go under eval/
    generate_into = run_dir / "bodies" if spec == "train" else run_dir / "eval" / "generated" / part_folder(resolved)
    files, failed = resolve(resolved, generate_into=generate_into)
    covered = loaded.policy.config.max_tokens if loaded.policy.config.position == "learned" else 10**9
    curated = {}
    if resolved.startswith("real:"):  # curated names: gymnasium's and dm_control's hopper share a file name
        curated = {real_robot_path(r): r for r in real_robots() if r["status"] == "ok"}
    bodies = []
    for path in files:
        try:
            morphology = load_morphology(path)
            if path in curated:  # its curated name, and its source's fall rule
                entry = curated[path]
                morphology = dataclasses.replace(morphology, name=entry["name"], fall_height=entry.get("fall_height"))
            n = tokenize(morphology, loaded.vocabulary).num_tokens
            if n > covered:
                raise MetamorphError(f"{path}: {n} tokens, more than the {covered} this policy's positions cover")
            bodies.append(morphology)
        except MetamorphError as exc:
            failed.append((path.stem, str(exc)))
    if not bodies:
        raise MetamorphError(f"--bodies {resolved}: no body could be evaluated ({len(failed)} failed)")
    return bodies, failed, resolved


def summarise(results: dict[str, list[BodyResult]]) -> dict[str, dict[str, float]]:
    """Per actor: mean, median and IQM of the per-body mean return with 95 % intervals, fall rate,
    forward velocity, the share of bodies that move; for the policy also the share of bodies on
    which it beats zero torque."""
    per_body = {a: np.array([np.mean(r.returns) for r in rows]) for a, rows in results.items()}
    summary = {}
    for actor, rows in results.items():
        velocity = np.array([np.mean(r.velocity) for r in rows])
        summary[actor] = {
            **aggregate(per_body[actor]),
            "fall_rate": float(np.mean([np.mean(r.falls) for r in rows])),
            "velocity": float(velocity.mean()),
            "moving_share": float(np.mean(velocity > MOVING_SPEED)),
        }
    if "policy" in per_body and "zero" in per_body:
        summary["policy"]["beats_zero_share"] = float(np.mean(per_body["policy"] > per_body["zero"]))
    return summary


def aggregate(values: np.ndarray, seed: int = 0, resamples: int = 2000) -> dict[str, float]:
    """Mean, median and interquartile mean (IQM) over bodies, with bootstrap 95 % intervals."""

    def iqm(x: np.ndarray) -> float:
        lo, hi = np.percentile(x, [25, 75])
        middle = x[(x >= lo) & (x <= hi)]
        return float(middle.mean()) if middle.size else float(np.median(x))

    stats = {"mean": np.mean, "median": np.median, "iqm": iqm}
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(values), size=(resamples, len(values)))
    out: dict[str, float] = {"n": len(values)}
    for name, fn in stats.items():
        boot = np.array([fn(values[s]) for s in samples])
        out[name] = float(fn(values))
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    return out


# ----------------------------------------------------------------------------------------------
# Report


def write_report(results: dict[str, list[BodyResult]], failed: list[tuple[str, str]], out: Path, header: dict) -> Path:
    """CSV (one row per body), JSON, Markdown and PNG plots, written into ``out`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    with atomic_folder(out) as tmp:
        actors = list(results)
        bodies = results[actors[0]]
        mean_return = {a: np.array([np.mean(r.returns) for r in results[a]]) for a in actors}
        summary = summarise(results)

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        columns = ["body", "source"]
        for a in actors:
            columns += [f"{a}_return", f"{a}_length", f"{a}_fall_rate", f"{a}_velocity"]
        writer.writerow(columns)
        for i, body in enumerate(bodies):
            row = [body.name, body.source]
            for a in actors:
                r = results[a][i]
                row += [f"{np.mean(r.returns):.4f}", f"{np.mean(r.lengths):.1f}"]
                row += [f"{np.mean(r.falls):.3f}", f"{np.mean(r.velocity):.4f}"]
            writer.writerow(row)
        (tmp / "results.csv").write_text(buffer.getvalue())

        payload = {
            **header,
            "aggregates": summary,
            "failed_bodies": [{"body": b, "error": e} for b, e in failed],
            "bodies": {a: [dataclasses.asdict(r) for r in results[a]] for a in actors},
        }
        (tmp / "results.json").write_text(json.dumps(payload, indent=1) + "\n")

        order = np.argsort(mean_return[actors[0]])[::-1]
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
        width = 0.8 / len(actors)
        for k, a in enumerate(actors):
            axes[0].bar(np.arange(len(bodies)) + k * width, mean_return[a][order], width, label=a)
        axes[0].set_xticks(np.arange(len(bodies)) + 0.4 - width / 2)
        axes[0].set_xticklabels([bodies[i].name for i in order], rotation=90, fontsize=6 if len(bodies) > 30 else 8)
        axes[0].set_ylabel("mean episode return")
        axes[0].legend()
        axes[0].set_title("per body")
        axes[1].boxplot([mean_return[a] for a in actors], tick_labels=actors)
        axes[1].set_title("distribution over bodies")
        fig.tight_layout()
        fig.savefig(tmp / "returns.png", dpi=110)
        plt.close(fig)

        lines = [f"# Evaluation: {header.get('checkpoint', 'baselines')}", ""]
        for key in ("checkpoint", "trained_on", "task", "episodes_per_body", "seed", "episode_length"):
            if key in header:
                lines.append(f"- {key.replace('_', ' ')}: {header[key]}")
        lines += ["", "| actor | mean [95% CI] | median [95% CI] | IQM [95% CI] |", "| --- | --- | --- | --- |"]
        for a in actors:
            s = summary[a]
            cell = lambda n, s=s: f"{s[n]:.2f} [{s[n + '_ci_low']:.2f}, {s[n + '_ci_high']:.2f}]"  # noqa: E731
            lines.append(f"| {a} | {cell('mean')} | {cell('median')} | {cell('iqm')} |")
        lines += ["", f"Bodies evaluated: {len(bodies)}; failed to load: {len(failed)}.", ""]
        if failed:
            lines += ["| body | error |", "| --- | --- |", *[f"| {b} | {e} |" for b, e in failed], ""]
        lines += ["![returns](returns.png)", "", "Per body: `results.csv`; everything: `results.json`.", ""]
        (tmp / "report.md").write_text("\n".join(lines))
    return out
