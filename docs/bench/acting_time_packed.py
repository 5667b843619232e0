"""One-off (issue 14, target 5): the acting time of training, packed against padded.

    python docs/bench/acting_time_packed.py [BODIES …]

For each body set (default: 10 and 1000 `unimal` bodies and the default set), a `Trainer` with
`--pack-bodies` and one with `--no-pack-bodies`, two alternating rounds: each trains 2 updates to
compile, then 6 more with its jitted acting call timed to completion (`block_until_ready`) and the
packer's placement timed apart. Prints seconds per update, the rows the packer was given, how many
steps acted padded because the bodies did not fit, and how many shapes acting compiled.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import jax

import metamorph.train as train
from metamorph.packing import TokenPacker


def measure(bodies: str, pack: bool) -> dict:
    config = train.TrainConfig(bodies=bodies, total_steps=8 * 128 * 64, run_dir=tempfile.mkdtemp(),
                               checkpoint_every=1000, pack_bodies=pack)  # fmt: skip
    trainer = train.Trainer(config, progress=False)
    acc = {"act_s": 0.0, "plan_s": 0.0, "padded_steps": 0}
    act, plan = trainer._act, TokenPacker.plan

    def timed_act(*args):
        started = time.perf_counter()
        out = jax.block_until_ready(act(*args))
        acc["act_s"] += time.perf_counter() - started
        return out

    def timed_plan(self, token_mask):
        started = time.perf_counter()
        out = plan(self, token_mask)
        acc["plan_s"] += time.perf_counter() - started
        acc["padded_steps"] += out is None
        return out

    trainer._act, TokenPacker.plan = timed_act, timed_plan
    try:
        trainer.run(max_updates=2)
        acc.update(act_s=0.0, plan_s=0.0, padded_steps=0)
        trainer.run(max_updates=6)
    finally:
        TokenPacker.plan = plan
        trainer.env.close()
    return {"bodies": bodies, "packed": trainer.pack_bodies, "rows": trainer.packed_rows,
            "slots": trainer.env.max_tokens, "act_s_per_update": round(acc["act_s"] / 6, 4),
            "plan_s_per_update": round(acc["plan_s"] / 6, 4), "padded_steps": acc["padded_steps"],
            "compiled_shapes": act._cache_size()}  # fmt: skip


def main() -> None:
    sets = sys.argv[1:] or ["generate:unimal:10", "generate:unimal:1000", "generate:unimal:100+generate:planar:100"]
    runs = [measure(bodies, pack) for bodies in sets for _ in range(2) for pack in (False, True)]
    print(json.dumps({"command": "python docs/bench/acting_time_packed.py " + " ".join(sys.argv[1:]), "runs": runs}))


if __name__ == "__main__":
    main()
