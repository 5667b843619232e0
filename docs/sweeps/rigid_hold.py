"""Do generated bodies fall because their joints fold, or because they topple as rigid bodies?

    python docs/sweeps/rigid_hold.py   # writes docs/sweeps/rigid_hold.json (~2 min on one core)
    python docs/sweeps/rigid_hold.py --arm FOLDER [CONFIG]   # the stance table of a sweep copy's arm
                                                             # (CONFIG c00 unless given), seeds 0-5

Each body of a set runs one episode of the registered flat task (its start state, reset noise and
fall rule, seed 0) twice: under zero torque, and with every motor turned into a stiff position
servo that holds its joint at the body's standing pose (MuJoCo's own servo, at every physics step:
force = kp (target - q) - kv q', kp = the motor's largest torque per 0.2 rad, kv = 0.05 kp, the
force clipped to the motor's range). A body that still falls under the servos falls for its shape,
which no torque within its motors' limits holds in place; one that stands under the servos but not
under zero torque folds at its joints. Then the default's (discount 0.97) twelve seeds' per-body
results on the two held-out sets (the suites' SET-results.csv) are split three ways: bodies that
stand under zero torque, bodies that stand only when held, and bodies that topple anyway. For each,
the share of bodies beaten (mean over seeds with the sweep report's 95 % bootstrap interval), the
share of episodes the policy ends in a fall, and among the bodies not beaten, the share it drives
backward (a negative return). Last, the same two figures for bodies steady under zero torque, on
policies' own training bodies against unseen ones (the design-seed swap's seeds 0-1 and the 0.99
default's own 200 bodies, docs/sweeps/own-bodies/): is pushing the wrong way a failure of transfer?
Not part of the product: a diagnostic for issue 14, target 2
("Why unseen bodies are not beaten…", docs/learning.md).
"""

import csv
import json
import sys
from pathlib import Path

import mujoco
import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SETS = {
    "held-out unimal": "generate:unimal:100:1000",
    "held-out planar": "generate:planar:100:1000",
    "UNIMAL-100": str(ROOT.parent / "shared/morphologies/unimal100/train"),
}
BEATEN_FILES = {"held-out unimal": "heldout-generated", "held-out planar": "heldout-planar"}
RADIANS_TO_FULL_TORQUE = 0.2
DAMPING_RATIO = 0.05


def servo_model(model: mujoco.MjModel) -> None:
    """Turn every motor of a compiled model into a position servo with the motor's torque limit."""
    limit = model.actuator_gear[:, 0] * np.abs(model.actuator_ctrlrange).max(axis=1)
    kp = limit / RADIANS_TO_FULL_TORQUE
    model.actuator_gear[:, 0] = 1.0
    model.actuator_gainprm[:, 0] = kp
    model.actuator_biastype[:] = mujoco.mjtBias.mjBIAS_AFFINE
    model.actuator_biasprm[:, :3] = np.stack([np.zeros_like(kp), -kp, -DAMPING_RATIO * kp], axis=1)
    model.actuator_forcerange[:] = np.stack([-limit, limit], axis=1)
    model.actuator_forcelimited[:] = 1
    model.actuator_ctrllimited[:] = 0


def run(files: list[Path], hold: bool) -> dict:
    from metamorph.env import VecEnv

    class ServoEnv(VecEnv):
        def _model(self, body: int, terrain: int) -> mujoco.MjModel:
            fresh = (body, terrain) not in self._cache
            model = super()._model(body, terrain)
            if fresh and hold:
                servo_model(model)
            return model

    env = ServoEnv(files, "flat", len(files), nthread=1, assignment=np.arange(len(files)), autoreset=False,
                   sampling="uniform")  # fmt: skip
    env.reset(0)
    actions = np.zeros((env.num_envs, env.max_tokens))
    if hold:  # each servo's target: its joint's position in the body's standing pose
        for i, entry in enumerate(env.bodies):
            model, standing = entry.morphology.model, entry.morphology.standing_qpos
            for a in range(model.nu):
                joint = model.actuator_trnid[a, 0]
                actions[i, env._act_token[i, a]] = standing[model.jnt_qposadr[joint]]
        assert np.abs(actions).max() <= 1.0, "a standing pose beyond ±1 rad would be clipped by the env"
    ret, length = np.zeros(env.num_envs), np.zeros(env.num_envs, np.int64)
    fell, running = np.zeros(env.num_envs, bool), np.ones(env.num_envs, bool)
    for _ in range(env.task.episode_length):
        _, reward, terminated, truncated, _ = env.step(actions)
        ret += np.where(running, reward, 0.0)
        length += running
        fell |= running & terminated
        running &= ~(terminated | truncated)
        if not running.any():
            break
    env.close()
    return {
        "fall share": round(float(fell.mean()), 3),
        "falls forward (return > 0) share": round(float(np.mean(fell & (ret > 0))), 3),
        "median episode length": float(np.median(length)),
        "mean return": round(float(ret.mean()), 2),
        "per body fell": fell.astype(int).tolist(),
        "bodies": [entry.morphology.name for entry in env.bodies],
    }


GROUPS = {
    "stands under zero torque": lambda zero, held: not zero,
    "stands only when held (folds at its joints)": lambda zero, held: zero and not held,
    "topples even when held": lambda zero, held: zero and held,
}


def won_and_backward(rows: list[dict]) -> tuple[list[bool], list[bool]]:
    """Per body whether the policy beat zero torque, and for each body it did not, whether it drove
    the body backward (return < 0)."""
    won = [float(r["policy_return"]) > float(r["zero_return"]) for r in rows]
    return won, [float(r["policy_return"]) < 0 for r, w in zip(rows, won, strict=True) if not w]


def beaten_by_stance(zero: dict, held: dict, set_file: str, trials: list[Path]) -> dict:
    """Trials' results on a held-out set, by how the body stands: the share of bodies beaten (mean
    over seeds [95 % interval]), the share of episodes ending in a fall, and of the bodies not
    beaten, the share driven backward (return < 0)."""
    from metamorph.sweep_report import stratified_bootstrap_ci

    zero_falls = dict(zip(zero["bodies"], zero["per body fell"], strict=True))
    held_falls = dict(zip(held["bodies"], held["per body fell"], strict=True))
    per_seed = {group: {"beaten": [], "falls": [], "backward": []} for group in GROUPS}
    counts = dict.fromkeys(GROUPS, 0)
    for trial in trials:
        rows = list(csv.DictReader(next(trial.glob(f"eval/suite-*/{set_file}-results.csv")).open()))
        for group, member in GROUPS.items():
            chosen = [r for r in rows if member(zero_falls[r["body"]], held_falls[r["body"]])]
            counts[group] = len(chosen)
            beaten, backward = won_and_backward(chosen)
            per_seed[group]["beaten"].append(np.mean(beaten))
            per_seed[group]["falls"].append(np.mean([float(r["policy_fall_rate"]) > 0.5 for r in chosen]))
            per_seed[group]["backward"].append(np.mean(backward) if backward else np.nan)
    out = {}
    for group, figures in per_seed.items():
        beaten = np.array(figures["beaten"])
        low, high = stratified_bootstrap_ci(beaten[:, None], np.mean)
        out[group] = {
            "bodies": counts[group],
            "share beaten": round(float(beaten.mean()), 3),
            "ci": [round(low, 3), round(high, 3)],
            "policy falls (share of episodes)": round(float(np.mean(figures["falls"])), 3),
            "not beaten, driven backward (share)": round(float(np.nanmean(figures["backward"])), 3),
            "seeds": len(beaten),
        }
    return out


def steady_bodies(files: list[Path]) -> dict:
    """Over the bodies that stand under zero torque (from the results themselves): the share beaten
    per trial, and among those not beaten the share driven backward."""
    beaten, backward = [], []
    for path in files:
        rows = [r for r in csv.DictReader(path.open()) if float(r["zero_fall_rate"]) < 0.5]
        won, lost_backward = won_and_backward(rows)
        beaten.append(round(float(np.mean(won)), 3))
        backward += lost_backward
    return {
        "trials": len(files),
        "steady bodies": len(rows),
        "share beaten per trial": beaten,
        "mean": round(float(np.mean(beaten)), 3),
        "not beaten, driven backward": round(float(np.mean(backward)), 3),
    }


OWN_AND_UNSEEN = {  # (folder, results file pattern): policies on bodies they trained on, and not
    "swap, own `unimal`": ("design-seed-swap/trials", "*/eval/suite-*/own-unimal-results.csv"),
    "swap, unseen `unimal`": ("design-seed-swap/trials", "*/eval/suite-*/unseen-unimal-results.csv"),
    "swap, own `planar`": ("design-seed-swap/trials", "*/eval/suite-*/own-planar-results.csv"),
    "swap, unseen `planar`": ("design-seed-swap/trials", "*/eval/suite-*/unseen-planar-results.csv"),
    "0.99 default, own `unimal`": ("own-bodies/default", "*/training-unimal-results.csv"),
    "0.99 default, own `planar`": ("own-bodies/default", "*/training-planar-results.csv"),
}


def arm(folder: str, config: str = "c00") -> None:
    """The stance table for a sweep copy's arm (docs/sweeps/FOLDER, CONFIG, seeds 0-5), from the
    servo runs in rigid_hold.json: writes FOLDER/stance.json (c00) or FOLDER/stance-CONFIG.json."""
    sys.path.insert(0, str(HERE))
    from six_seeds import committed_trial

    trials = [t for seed in range(6) if (t := committed_trial(HERE / folder, f"{config}-s{seed}"))]
    if not trials:
        sys.exit(f"rigid_hold.py --arm: no trial {config}-s0..5 in {HERE / folder} (give a folder under docs/sweeps/)")
    stored = json.loads((HERE / "rigid_hold.json").read_text())["sets"]
    out = {"trials": [t.name for t in trials]}
    for name, set_file in BEATEN_FILES.items():
        runs = stored[name]
        zero, held = runs["zero torque"], runs["servos hold the standing pose"]
        out[name] = beaten_by_stance(zero, held, set_file, trials)
        for group, figures in out[name].items():
            print(name, group, figures)
    name = "stance.json" if config == "c00" else f"stance-{config}.json"
    (HERE / folder / name).write_text(json.dumps(out, indent=1))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from default_spread import default_097_trials

    from metamorph.bodies import part_folder, resolve

    if sys.argv[1:2] == ["--arm"]:
        arm(*sys.argv[2:4])
        return

    out = {"radians to full torque": RADIANS_TO_FULL_TORQUE, "kv / kp": DAMPING_RATIO, "sets": {}}
    for name, spec in SETS.items():
        files, _ = resolve(spec, generate_into=Path("/tmp/rigid_hold") / part_folder(spec))
        zero, held = run(files, hold=False), run(files, hold=True)
        both = np.array(zero["per body fell"]) & np.array(held["per body fell"])
        out["sets"][name] = {
            "bodies": len(files),
            "zero torque": zero,
            "servos hold the standing pose": held,
            "fall under both (topple as rigid bodies)": round(float(both.mean()), 3),
            "fall under zero torque only (fold at their joints)": round(
                float(np.mean(np.array(zero["per body fell"]) & ~both.astype(bool))), 3
            ),
        }
        if name in BEATEN_FILES:
            out["sets"][name]["the default (0.97), seeds 0-11"] = beaten_by_stance(
                zero, held, BEATEN_FILES[name], default_097_trials()
            )
        runs = ("zero torque", "servos hold the standing pose")
        shown = {k: v for k, v in out["sets"][name].items() if k not in runs}
        print(name, shown, "zero:", {k: v for k, v in zero.items() if k not in ("per body fell", "bodies")},
              "held:", {k: v for k, v in held.items() if k not in ("per body fell", "bodies")})  # fmt: skip
    out["steady bodies, own against unseen"] = {
        name: steady_bodies(sorted((HERE / folder).glob(pattern))) for name, (folder, pattern) in OWN_AND_UNSEEN.items()
    }
    for name, figures in out["steady bodies, own against unseen"].items():
        print(name, figures)
    (HERE / "rigid_hold.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
