"""Is target 3's gap in the observation statistics? A generated-body policy evaluated on another
population with its normalisation's statistics refitted to that population's observations.
(Issue 14, target 3.) A diagnostic, not a feature: refitting reads the target bodies' observations
(never their rewards), so a policy helped by it is no longer zero-shot.

    python docs/sweeps/generated-to-unimal-statistics/stats_eval.py TRIAL BODIES
        [--fit-steps 200] [--episodes 1] [--baseline-cache DIR] [--out FILE.json]

Four normalisations, each followed by one deterministic evaluation on the registered flat task
(`metamorph.evaluate.evaluate`, seed 0):

- ``saved``: the policy's own statistics (zero-shot, what `metamorph eval` does);
- ``static``: the static token features' mean and std refitted to the target bodies' tokens (read
  at reset; a body's static features never change), the proprioceptive ones kept;
- ``proprio``: the proprioceptive features' statistics refitted to ``--fit-steps`` control steps of
  the policy acting (its mean, under its saved statistics) on every target body, from reset seed 1
  (the evaluation's episodes start from seed 0), the static ones kept;
- ``both``: both refits.

Per normalisation: mean and median per-body return, the share of bodies moving faster than 0.1 m/s,
the share beating zero torque, the fall rate, and how far the saved statistics sit from the
refitted ones (per feature group, the median over columns of |mean shift| / saved std and of
refitted std / saved std).
"""

import argparse
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from metamorph.bodies import resolve
from metamorph.checkpoint import load_policy
from metamorph.env import VecEnv, task_config
from metamorph.evaluate import evaluate, summarise
from metamorph.morphology import load_morphology
from metamorph.observation import policy_obs
from metamorph.ppo import Normalizer, init_normalizer, update_normalizer
from metamorph.sweep_report import BODY_STATS


def target_statistics(loaded, bodies: list, fit_steps: int) -> Normalizer:
    """Statistics of the target bodies' observations: static from the reset tokens, proprio from
    ``fit_steps`` steps of the policy's mean actions (episodes that end restart on the same body)."""
    config = loaded.policy.config
    env = VecEnv(bodies, task_config("flat"), len(bodies), nthread=1, vocabulary=loaded.vocabulary,
                 assignment=np.arange(len(bodies)), autoreset=True, sampling="uniform",
                 frame=config.frame, link_geometry=config.link_geometry)  # fmt: skip
    obs = env.reset(seed=1)
    first = {k: jnp.asarray(v) for k, v in policy_obs(obs).items()}
    static_fit = update_normalizer(init_normalizer(first), first)
    act = loaded.mean_action_fn()
    proprio_fit = init_normalizer(first)
    for _ in range(fit_steps):
        obs, *_ = env.step(act(obs))
        proprio_fit = update_normalizer(proprio_fit, {k: jnp.asarray(v) for k, v in policy_obs(obs).items()})
    env.close()
    tokens = static_fit.tokens.replace(
        mean={"static": static_fit.tokens.mean["static"], "proprio": proprio_fit.tokens.mean["proprio"]},
        std={"static": static_fit.tokens.std["static"], "proprio": proprio_fit.tokens.std["proprio"]},
    )
    return Normalizer(tokens, loaded.normalizer.terrain)


def mixed(saved: Normalizer, fitted: Normalizer, groups: tuple[str, ...]) -> Normalizer:
    """``saved`` with the mean and std of ``groups`` taken from ``fitted``."""

    def pick(field: str) -> dict:
        source = {k: fitted.tokens if k in groups else saved.tokens for k in ("proprio", "static")}
        return {k: getattr(tokens, field)[k] for k, tokens in source.items()}

    return Normalizer(saved.tokens.replace(mean=pick("mean"), std=pick("std")), saved.terrain)


def shift(saved: Normalizer, fitted: Normalizer) -> dict:
    """Per group: median over columns of |fitted mean − saved mean| / saved std, and of fitted std /
    saved std."""
    out = {}
    for group in ("proprio", "static"):
        saved_mean, saved_std = np.asarray(saved.tokens.mean[group]), np.asarray(saved.tokens.std[group])
        fit_mean, fit_std = np.asarray(fitted.tokens.mean[group]), np.asarray(fitted.tokens.std[group])
        out[group] = {
            "median_mean_shift_in_std": round(float(np.median(np.abs(fit_mean - saved_mean) / saved_std)), 3),
            "median_std_ratio": round(float(np.median(fit_std / saved_std)), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trial")
    parser.add_argument("bodies", help="a body folder or any --bodies spec")
    parser.add_argument("--fit-steps", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--baseline-cache", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    files, _ = resolve(args.bodies)
    bodies = [load_morphology(path) for path in files]
    loaded = load_policy(args.trial)
    saved = jax.tree_util.tree_map(jnp.asarray, loaded.normalizer)
    fitted = target_statistics(loaded, bodies, args.fit_steps)
    variants = {"saved": (), "static": ("static",), "proprio": ("proprio",), "both": ("proprio", "static")}
    rows = []
    for name, groups in variants.items():
        patched = dataclasses.replace(loaded, normalizer=mixed(saved, fitted, groups))
        results = evaluate(patched, bodies, task="flat", episodes=args.episodes, nthread=1,
                           baseline_cache=args.baseline_cache)  # fmt: skip
        summary = summarise(results)
        policy = summary["policy"]
        row = {
            "trial": args.trial,
            "bodies": args.bodies,
            "statistics": name,
            **{stat: policy.get(stat) for stat in BODY_STATS},
            "zero_mean": summary["zero"]["mean"],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = {"fit_steps": args.fit_steps, "shift": shift(saved, fitted), "rows": rows}
    print(json.dumps(out["shift"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
