"""Three probes that compare body sets without training: which way a positive torque turns their
joints, how far open-loop gaits carry them, and how far their tokens' features lie outside the first
set's.

    python bench/body_set_probes.py FOLDER [FOLDER ...] [--bodies 100] [--gaits 8] [--seconds 4]
    python bench/body_set_probes.py REFERENCE FOLDER [FOLDER ...] --bodies 1000 --only-features

*Joint signs.* For every hinge of the first `--bodies` bodies, at rest: the direction the centre of
the joint's link moves for a positive turn (axis × (centre − anchor), world frame), counted as up or
down (|z| > 0.1 of the unit direction), forwards or backwards (x), to +y or −y. A set whose joints
all lift for a positive action teaches a policy nothing about reading a joint's axis.

*Open-loop gaits.* Each body on a floor as the validity check places it (no reset noise), driven by
`--gaits` sine gaits, every actuator ``sin(2π f t + φ)`` with its own random phase φ and one
frequency f (1 or 2 Hz, alternating), for `--seconds` s at the tasks' 4 substeps a control step. A
gait that drops the torso below half its starting height (the tasks' fall rule) scores −1; else its
torso's forward (x) speed. Per body the best gait's speed: a cheap measure of whether a body can be
moved forwards at all, without learning.

*Token features.* What a policy trained on the first folder has seen: per static token feature
(`metamorph.tokens.STATIC_FEATURES`) and per part kind, the share of every other set's tokens (root
tokens excluded) with a value outside the first set's central 99 % (0.5th to 99.5th percentile, per
column; a feature's share counts a token once if any of its columns is outside). A set the first set
covers has shares near 1 %. Inside that range the shapes can still differ: per feature, the largest
Kolmogorov-Smirnov distance between the two sets' values of one column (0: the same distribution, 1:
no overlap). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mujoco
import numpy as np

from metamorph.generate import _with_floor, body_files
from metamorph.morphology import load_morphology
from metamorph.tokens import STATIC_FEATURES, tokenize

FELL = -1.0


def joint_sign_shares(files: list[Path]) -> dict:
    moves = []
    for path in files:
        model = load_morphology(path).model
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        for joint in range(model.njnt):
            link = model.jnt_bodyid[joint]
            if model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_HINGE or model.body_geomnum[link] == 0:
                continue
            arm = data.geom_xpos[model.body_geomadr[link]] - data.xanchor[joint]
            move = np.cross(data.xaxis[joint], arm)
            if np.linalg.norm(move) > 1e-9:
                moves.append(move / np.linalg.norm(move))
    moves = np.array(moves)
    share = {}
    for axis, (plus, minus) in enumerate((("forwards", "backwards"), ("to_plus_y", "to_minus_y"), ("up", "down"))):
        share[plus] = round(float(np.mean(moves[:, axis] > 0.1)), 3)
        share[minus] = round(float(np.mean(moves[:, axis] < -0.1)), 3)
    return {"hinges": len(moves), "positive_turn_moves_link": share}


def best_gait_speed(path: Path, gaits: int, seconds: float, seed: int) -> float:
    morphology = load_morphology(path)
    model = _with_floor(morphology)
    root = morphology.root_body
    data = mujoco.MjData(model)
    rng = np.random.default_rng(seed)
    substeps = 4
    best = FELL
    for gait in range(gaits):
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        start_height, start_x = float(data.xpos[root, 2]), float(data.xpos[root, 0])
        phase = rng.uniform(0, 2 * np.pi, model.nu)
        frequency = (1.0, 2.0)[gait % 2]
        speed = None
        for _ in range(round(seconds / model.opt.timestep / substeps)):
            data.ctrl[:] = np.sin(2 * np.pi * frequency * data.time + phase)
            mujoco.mj_step(model, data, nstep=substeps)
            if data.xpos[root, 2] < 0.5 * start_height:
                speed = FELL
                break
        if speed is None:
            speed = (float(data.xpos[root, 0]) - start_x) / seconds
        best = max(best, speed)
    return best


def joint_token_rows(files: list[Path]) -> tuple[np.ndarray, list[str]]:
    """Static features of every non-root token of the files, and each token's part kind."""
    rows, kinds = [], []
    for path in files:
        tokens = tokenize(load_morphology(path))
        rows.append(tokens.static_features[1:])
        kinds += tokens.kinds[1:]
    return np.concatenate(rows), kinds


def _ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the empirical distribution functions of two samples, values rounded to
    1e-3 first (many features take a few exact values, and a file written back by MuJoCo prints
    them to 6 digits: 0.7071068 and 0.7071069 are one value, not two)."""
    a, b = np.round(a, 3), np.round(b, 3)
    points = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), points, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def feature_shift(reference: tuple[np.ndarray, list[str]], other: tuple[np.ndarray, list[str]]) -> dict:
    (ref_rows, ref_kinds), (rows, kinds) = reference, other
    low, high = np.percentile(ref_rows, [0.5, 99.5], axis=0)
    outside = (rows < low - 1e-6) | (rows > high + 1e-6)
    shares = {f.name: round(float(np.mean(outside[:, STATIC_FEATURES[f.name]].any(axis=1))), 3)
              for f in STATIC_FEATURES.features}  # fmt: skip
    columns = {f.name: range(*STATIC_FEATURES[f.name].indices(STATIC_FEATURES.width)) for f in STATIC_FEATURES.features}
    ks = {name: round(max(_ks_distance(ref_rows[:, c], rows[:, c]) for c in cols), 3) for name, cols in columns.items()}
    return {
        "tokens": len(rows),
        "largest_ks_distance": dict(sorted(ks.items(), key=lambda kv: -kv[1])),
        "share_outside_reference_99": dict(sorted(shares.items(), key=lambda kv: -kv[1])),
        "share_any_feature_outside": round(float(np.mean(outside.any(axis=1))), 3),
        "part_kinds": {k: round(kinds.count(k) / len(kinds), 3) for k in sorted(set(kinds))},
        "reference_part_kinds": {k: round(ref_kinds.count(k) / len(ref_kinds), 3) for k in sorted(set(ref_kinds))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--bodies", type=int, default=100, help="the first N bodies of each folder, in file order")
    parser.add_argument("--gaits", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-features", action="store_true", help="skip the gaits (the slow probe)")
    args = parser.parse_args()
    out = {"gaits": args.gaits, "seconds": args.seconds, "seed": args.seed, "sets": {}}
    reference = None
    for folder in args.folders:
        files = body_files(folder)[: args.bodies]
        token_rows = joint_token_rows(files)
        if reference is None:
            reference = token_rows
        else:
            out.setdefault("token_features_against_first", {})[str(folder)] = feature_shift(reference, token_rows)
        if args.only_features:
            continue
        speeds = np.array([best_gait_speed(f, args.gaits, args.seconds, args.seed) for f in files])
        out["sets"][str(folder)] = {
            "bodies": len(files),
            **joint_sign_shares(files),
            "best_gait_speed": {
                "median": round(float(np.median(speeds)), 4),
                "share_every_gait_fell": round(float(np.mean(speeds == FELL)), 3),
                **{f"share_at_least_{v}_m_s": round(float(np.mean(speeds >= v)), 3) for v in (0.05, 0.1, 0.2, 0.3)},
            },
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
