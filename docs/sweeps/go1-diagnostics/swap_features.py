"""Physics of one body, token features of another: does a policy fail on the Go1 for what it sees
or for how the Go1 moves? (the Go1 diagnostics, issue 14 target 4)

    python docs/sweeps/go1-diagnostics/swap_features.py TRIAL PHYSICS_XML FEATURES_XML [FEATURE,...]

Runs 3 deterministic episodes of TRIAL's policy on the registered flat task, on PHYSICS_XML's
simulation, with the static token features (and part kinds) of FEATURES_XML in place of its own:
the two files must give the same tokens in the same order (the Go1 and its variants do). With a
list of feature names (`metamorph.tokens.static_layout` of the policy's link geometry, e.g.
geom_pos,geom_quat), only those columns are taken from FEATURES_XML (and the part kinds stay PHYSICS_XML's). Prints
the return, episode length and forward velocity of each episode as JSON. A diagnostic, not a
feature: it patches the environment's tokenizer for one body.
"""

import dataclasses
import json
import sys

import numpy as np

import metamorph.env.vec_env as vec_env
from metamorph.checkpoint import load_policy
from metamorph.evaluate import evaluate
from metamorph.morphology import load_morphology
from metamorph.tokens import static_layout


def main() -> None:
    trial, physics_file, features_file = sys.argv[1:4]
    columns = sys.argv[4].split(",") if len(sys.argv) > 4 else None
    loaded = load_policy(trial)
    physics, features = load_morphology(physics_file), load_morphology(features_file)
    link_geometry = loaded.policy.config.link_geometry
    layout = static_layout(link_geometry)
    seen = vec_env.tokenize(features, loaded.vocabulary, link_geometry=link_geometry)
    original = vec_env.tokenize

    def tokenize(morphology, vocabulary=None, **options):
        tokens = original(morphology, vocabulary, **options)
        if morphology is not physics:
            return tokens
        if tokens.names != seen.names:
            sys.exit(f"{features_file}: tokens {seen.names} differ from {physics_file}'s {tokens.names}")
        if columns is None:
            return dataclasses.replace(tokens, static_features=seen.static_features, part_ids=seen.part_ids)
        mixed = np.array(tokens.static_features)
        for name in columns:
            mixed[:, layout[name]] = seen.static_features[:, layout[name]]
        return dataclasses.replace(tokens, static_features=mixed)

    vec_env.tokenize = tokenize
    results = evaluate(loaded, [physics], task="flat", episodes=3, nthread=1)["policy"][0]
    print(
        json.dumps(
            {
                "trial": trial,
                "physics": physics_file,
                "features": features_file,
                "columns": columns,
                "returns": results.returns,
                "lengths": results.lengths,
                "velocity": results.velocity,
            }
        )
    )


if __name__ == "__main__":
    main()
