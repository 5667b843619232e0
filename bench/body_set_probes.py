"""Two probes that compare body sets without training: which way a positive torque turns their
joints, and how far open-loop gaits carry them.

    python bench/body_set_probes.py FOLDER [FOLDER ...] [--bodies 100] [--gaits 8] [--seconds 4]

*Joint signs.* For every hinge of the first `--bodies` bodies, at rest: the direction the centre of
the joint's link moves for a positive turn (axis × (centre − anchor), world frame), counted as up or
down (|z| > 0.1 of the unit direction), forwards or backwards (x), to +y or −y. A set whose joints
all lift for a positive action teaches a policy nothing about reading a joint's axis.

*Open-loop gaits.* Each body on a floor as the validity check places it (no reset noise), driven by
`--gaits` sine gaits, every actuator ``sin(2π f t + φ)`` with its own random phase φ and one
frequency f (1 or 2 Hz, alternating), for `--seconds` s at the tasks' 4 substeps a control step. A
gait that drops the torso below half its starting height (the tasks' fall rule) scores −1; else its
torso's forward (x) speed. Per body the best gait's speed: a cheap measure of whether a body can be
moved forwards at all, without learning. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mujoco
import numpy as np

from metamorph.generate import _with_floor, body_files
from metamorph.morphology import load_morphology

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--bodies", type=int, default=100, help="the first N bodies of each folder, in file order")
    parser.add_argument("--gaits", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = {"gaits": args.gaits, "seconds": args.seconds, "seed": args.seed, "sets": {}}
    for folder in args.folders:
        files = body_files(folder)[: args.bodies]
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
