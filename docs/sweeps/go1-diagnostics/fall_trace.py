"""How a policy's episode on one body ends: torso height, roll, pitch and forward speed, every 10
control steps of one deterministic episode on the registered flat task (the Go1 diagnostics, issue
14 target 4). A diagnostic, not a feature.

    python docs/sweeps/go1-diagnostics/fall_trace.py RUN BODY_XML [RESET_SEED]
"""

import sys

import numpy as np

from metamorph.checkpoint import load_policy
from metamorph.env.vec_env import VecEnv
from metamorph.morphology import load_morphology


def roll_pitch(quat: np.ndarray) -> tuple[float, float]:
    """Roll and pitch (degrees) of a (w, x, y, z) orientation."""
    w, x, y, z = quat
    roll = np.degrees(np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
    pitch = np.degrees(np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0)))
    return float(roll), float(pitch)


def main() -> None:
    run, body = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    loaded = load_policy(run)
    config = loaded.policy.config
    env = VecEnv([load_morphology(body)], "flat", 1, nthread=1, autoreset=False, sampling="uniform",
                 vocabulary=loaded.vocabulary, frame=config.frame, link_geometry=config.link_geometry)  # fmt: skip
    act = loaded.mean_action_fn()
    torso = env.bodies[0].tokens.root_body
    obs = env.reset(seed=seed)
    for step in range(1, env.task.episode_length + 1):
        obs, _, terminated, truncated, info = env.step(act(obs))
        data = env.datas[0]
        roll, pitch = roll_pitch(data.xquat[torso])
        if step % 10 == 0 or terminated[0] or truncated[0]:
            speed = info["reward_terms"]["forward_velocity"][0]
            height = data.xpos[torso, 2]
            print(f"{step:4d}  height {height:.3f} m  roll {roll:6.1f}°  pitch {pitch:6.1f}°  {speed:5.2f} m/s")
        if terminated[0] or truncated[0]:
            print(f"ended after {step} steps: {'fell' if terminated[0] else 'time limit'}")
            break


if __name__ == "__main__":
    main()
