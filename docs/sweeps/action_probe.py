"""How hard a policy acts on a body set, and how much its joints move: silent policy or ineffective torques?

    python docs/sweeps/action_probe.py RUN [RUN ...] [--sets NAME=SPEC ...] [--steps 200]
        [--gear-scale K] [--reset-noise X] [--out FILE]

A diagnostic for issue 14's target 3 (docs/learning.md): on UNIMAL-100, policies trained on generated
bodies hold about four bodies in five still, as zero torque does (`unimal100_across_policies.py`).
Either the policy barely acts on those bodies (what it reads of them yields torques near zero), or it
acts and its torques do not move them. For each run and set, the policy acts with its mean on every
body from the registered flat task's start (one episode a body, evaluation seed 0, as the suites do)
for ``--steps`` control steps; over the steps each body is up, it records the mean |torque command|
over the body's motors (in [0, 1]), how much it changes from one control step to the next (mean
|a_t - a_t-1| over the motors: a policy that drives a rhythm changes its commands, one stuck in a
fixed posture does not), the share of commands at the actuators' limit (|a| > 0.95), the share of
hinges held within 5 % of an end of their range (`joints_at_range_end`), the
mean |joint speed| of its hinges (rad/s) and the mean forward velocity of its torso. Zero torque's
joint speeds are recorded beside them (what gravity and the start's noise alone do). Writes
per-run, per-set medians over bodies and the per-body rows.

``--reset-noise X`` starts every body with the task's noise set to X (joint positions uniform within
± X of rest, velocities ~ N(0, X); the flat task's X is 0.1): a larger kick out of the start pose.

``--gear-scale K`` multiplies every actuator's gear of the simulated bodies by K after the reset and
leaves the observations as they were (the tokens keep the file's gear): the same policy reading the
same bodies, driving stronger (K > 1) or weaker motors. A diagnostic of the closed loop: UNIMAL-100's
bodies carry about 60 % of the gear per kg of generated ones (docs/learning.md, "A generator drawn
with UNIMAL-100's own frequencies").
"""

import argparse
import dataclasses
import json
from pathlib import Path

import mujoco
import numpy as np

from metamorph.checkpoint import load_policy
from metamorph.env import VecEnv, task_config
from metamorph.evaluate import load_eval_bodies

SETS = {
    "unimal100": "../shared/morphologies/unimal100/train",
    "heldout-generated": "generate:unimal:100:1000",
    "heldout-planar": "generate:planar:100:1000",
}


def hinge_dofs(model: mujoco.MjModel) -> np.ndarray:
    joints = np.nonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE)[0]
    return model.jnt_dofadr[joints]


def limited_hinges(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """qpos addresses of the hinges with a range, and each range's ends."""
    joints = np.nonzero((model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE) & (model.jnt_limited > 0))[0]
    return model.jnt_qposadr[joints], model.jnt_range[joints, 0], model.jnt_range[joints, 1]


def probe(loaded, bodies: list, steps: int, act_fn, gear_scale: float = 1.0,
          reset_noise: float | None = None) -> list[dict]:  # fmt: skip
    """Per body: mean |command|, share at the limit, mean |hinge speed|, mean torso velocity, steps up."""
    config = task_config("flat")
    if reset_noise is not None:
        config = dataclasses.replace(config, reset_noise=reset_noise)
    env = VecEnv(bodies, config, len(bodies), nthread=1, vocabulary=loaded.vocabulary,
                 assignment=np.arange(len(bodies)), autoreset=False, sampling="uniform",
                 frame=loaded.policy.config.frame, link_geometry=loaded.policy.config.link_geometry)  # fmt: skip
    obs = env.reset(seed=0)
    # every slot keeps its compiled model (autoreset off); slots sharing a model scale it once
    for model in {id(m): m for m in env.models}.values():
        model.actuator_gear[:, 0] *= gear_scale
    act_mask = env._act_mask.astype(bool)
    n = len(bodies)
    command = np.zeros(n)
    at_limit = np.zeros(n)
    joint_speed = np.zeros(n)
    change = np.zeros(n)
    velocity = np.zeros(n)
    up = np.zeros(n)
    previous = None
    hinges = [hinge_dofs(m) for m in env.models]  # every slot keeps its body: autoreset is off
    ranged = [limited_hinges(m) for m in env.models]
    at_range = np.zeros(n)
    live = np.ones(n, bool)
    for _ in range(steps):
        actions = np.clip(np.asarray(act_fn(obs)), -1.0, 1.0)
        obs, _, terminated, truncated, info = env.step(actions)
        magnitude = np.abs(np.where(act_mask, actions, 0.0))
        motors = np.maximum(act_mask.sum(axis=1), 1)
        speeds = np.array([np.abs(d.qvel[h]).mean() if h.size else 0.0
                           for h, d in zip(hinges, env.datas, strict=True)])  # fmt: skip
        # a joint held against an end of its range (within 5 % of the range) cannot move further that way
        pinned = np.array([np.mean((d.qpos[a] < lo + 0.05 * (hi - lo)) | (d.qpos[a] > hi - 0.05 * (hi - lo)))
                           if a.size else 0.0 for (a, lo, hi), d in zip(ranged, env.datas, strict=True)])  # fmt: skip
        at_range += np.where(live, pinned, 0.0)
        command += np.where(live, magnitude.sum(axis=1) / motors, 0.0)
        if previous is not None:  # how much the command moves from one control step to the next
            moved = np.abs(np.where(act_mask, actions - previous, 0.0)).sum(axis=1) / motors
            change += np.where(live, moved, 0.0)
        previous = actions
        at_limit += np.where(live, ((magnitude > 0.95) & act_mask).sum(axis=1) / motors, 0.0)
        joint_speed += np.where(live, speeds, 0.0)
        velocity += np.where(live, info["reward_terms"]["forward_velocity"], 0.0)
        up += live
        live &= ~(terminated | truncated)
        if not live.any():
            break
    env.close()
    steps_up = np.maximum(up, 1)
    return [
        {"body": e.morphology.name, "command": c, "command_change": d, "at_limit": a, "joint_speed": s,
         "velocity": v, "steps_up": int(u), "joints_at_range_end": r}
        for e, c, d, a, s, v, u, r in zip(
            env.bodies, command / steps_up, change / np.maximum(up - 1, 1), at_limit / steps_up,
            joint_speed / steps_up, velocity / steps_up, up, at_range / steps_up, strict=True,
        )
    ]  # fmt: skip


def label(run: Path) -> str:
    """A run's name, with its sweep's for a sweep trial (c00-s0 of many sweeps)."""
    return f"{run.parent.parent.name}/{run.name}" if run.parent.name == "trials" else run.name


def medians(per_body: list[dict]) -> dict:
    keys = [k for k in per_body[0] if k != "body"]
    summary = {k: float(np.median([b[k] for b in per_body])) for k in keys}
    summary["share_moving"] = float(np.mean([b["velocity"] > 0.1 for b in per_body]))  # forward, while up
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--sets", nargs="*", default=[f"{k}={v}" for k, v in SETS.items()])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--gear-scale", type=float, default=1.0)
    parser.add_argument("--reset-noise", type=float, default=None, help="the start's noise (flat task: 0.1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "action_probe.json")
    args = parser.parse_args()
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    for run in args.runs:
        loaded = load_policy(run)
        for item in args.sets:
            name, spec = item.split("=", 1)
            bodies, failed, _ = load_eval_bodies(loaded, spec, run)
            assert not failed, failed
            for actor, act_fn in (("policy", loaded.mean_action_fn()), ("zero", lambda obs: 0.0 * obs["act_mask"])):
                scaled = f" gear×{args.gear_scale:g}" if args.gear_scale != 1.0 else ""
                noise = f" noise {args.reset_noise:g}" if args.reset_noise is not None else ""
                key = f"{label(run)} {name} {actor}{scaled}{noise}"
                per_body = probe(loaded, bodies, args.steps, act_fn, args.gear_scale, args.reset_noise)
                out[key] = {"run": str(run), "set": name, "actor": actor, "gear_scale": args.gear_scale,
                            "reset_noise": args.reset_noise, "medians": medians(per_body),
                            "per_body": per_body}  # fmt: skip
                print(key, json.dumps(out[key]["medians"]), flush=True)
                args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
