"""A policy evaluated with a floor under its static features' normalisation (the Go1 diagnostics,
issue 14 target 4): is it the Go1's features reaching the clip, in columns that never varied across
the training bodies, that makes a policy fail on it?

    python docs/sweeps/go1-diagnostics/std_floor_eval.py TRIAL BODY_XML FLOOR

Runs 3 deterministic episodes of TRIAL's policy on BODY_XML (the registered flat task) with static
features divided by at least FLOOR (`metamorph.ppo.policy_inputs`'s ``static_std_floor``) whatever
the policy was trained with, and prints the returns, episode lengths and forward velocities as JSON.
A diagnostic, not a feature: it patches the saved policy's normalisation.
"""

import json
import sys

import metamorph.checkpoint as checkpoint
from metamorph.checkpoint import load_policy
from metamorph.evaluate import evaluate
from metamorph.morphology import load_morphology


def main() -> None:
    trial, body, floor = sys.argv[1], sys.argv[2], float(sys.argv[3])
    make_inference_fn = checkpoint.make_inference_fn
    checkpoint.make_inference_fn = lambda apply_fn, obs_clip, _floor=0.0: make_inference_fn(apply_fn, obs_clip, floor)
    result = evaluate(load_policy(trial), [load_morphology(body)], task="flat", episodes=3, nthread=1)["policy"][0]
    print(
        json.dumps(
            {
                "trial": trial,
                "body": body,
                "static_std_floor": floor,
                "returns": result.returns,
                "lengths": result.lengths,
                "velocity": result.velocity,
            }
        )
    )


if __name__ == "__main__":
    main()
