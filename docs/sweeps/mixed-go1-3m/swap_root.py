"""Diagnostic (2026-12-04): a policy's `*/planar/none` part rows replaced by its trained free-torso
row, on the 10 real robots (3 episodes, seed 0, flat). Prints, per robot, the policy's mean return
and zero torque's, as trained and swapped. Run in the repository root:
  python docs/sweeps/mixed-go1-3m/swap_root.py sweeps/mixed-go1-3m/trials/c00-s0 sphere/free/none
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from metamorph.checkpoint import load_policy
from metamorph.evaluate import evaluate, load_eval_bodies

run, source_kind = sys.argv[1], sys.argv[2]
loaded = load_policy(run)
part_ids = {"/".join(kind.key): i + 1 for i, kind in enumerate(loaded.vocabulary._kinds)}
bodies, _, _ = load_eval_bodies(loaded, "real:all", Path("/tmp/swap-run"))
for label in ("as trained", f"planar rows := {source_kind}"):
    if label != "as trained":
        embedding = np.asarray(loaded.params["params"]["trunk"]["part_embedding"]["embedding"]).copy()
        for kind, part_id in part_ids.items():
            if kind.endswith("/planar/none"):
                embedding[part_id] = embedding[part_ids[source_kind]]
        loaded.params["params"]["trunk"]["part_embedding"]["embedding"] = jnp.asarray(embedding)
    results = evaluate(loaded, bodies, task="flat", episodes=3, seed=0, nthread=1)
    policy = {r.name: np.mean(r.returns) for r in results["policy"]}
    zero = {r.name: np.mean(r.returns) for r in results["zero"]}
    beaten = [name for name in policy if name != "humanoid_CMU" and policy[name] > zero[name]]
    rows = ", ".join(f"{name} {policy[name]:.1f}/{zero[name]:.1f}" for name in policy)
    print(Path(run).name, label, f"beat {len(beaten)}/9", rows, flush=True)
