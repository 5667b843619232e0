"""How much of the PPO update's token work is padding, and how much `--ppo.token-bucket` would cut.

    python bench/token_padding.py [NAME=BODIES …] [--bucket 4] [--microbatch-sizes 256 128] [--updates 200]

Each set is a name and a ``--bodies`` spec as `metamorph train` takes it (a folder, ``DIR[:100]``,
``generate:unimal:1000``: generated into a temporary folder); without any, UNIMAL-100
(``../shared``). Counts each body's tokens (the root and one per joint, as
`metamorph.tokens.tokenize` makes them) and computes, under the default training shape, the share
of the update's token slots that trimming cuts (`metamorph.ppo.trimmed_share`: the replay of the
update's bookkeeping that `--ppo.token-bucket auto` decides with; it trims at
`metamorph.ppo.AUTO_TRIM_SHARE` and above). Prints one JSON object: per set, the mean and longest
token count and the share of token slots trimming cuts per microbatch size.
No timing: a number to set beside `bench/train_settings.py`'s measured speeds
(attention's cost grows with the square of the slots, the rest linearly).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from metamorph.bodies import resolve
from metamorph.errors import MetamorphError
from metamorph.morphology import load_morphology
from metamorph.ppo import AUTO_TRIM_SHARE, PPOConfig, trimmed_share
from metamorph.tokens import tokenize
from metamorph.train import TrainConfig

UNIMAL = Path(__file__).resolve().parents[2] / "shared" / "morphologies" / "unimal100" / "train"


def token_counts(spec: str) -> np.ndarray:
    """Tokens of each body of a ``--bodies`` spec, as `metamorph.tokens.tokenize` makes them."""
    with tempfile.TemporaryDirectory() as tmp:
        files, _ = resolve(spec, generate_into=Path(tmp))
        return np.array([tokenize(load_morphology(path)).num_tokens for path in files])


def share(counts: np.ndarray, train: TrainConfig, microbatch_size: int, bucket: int, updates: int) -> float:
    """`trimmed_share` under ``train``'s shape on one device."""
    shape = (train.num_envs, train.unroll_length, train.ppo.num_minibatches)
    return trimmed_share(counts, *shape, microbatch_size, bucket, updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", metavar="NAME=BODIES")
    parser.add_argument("--bucket", type=int, default=4)
    parser.add_argument("--microbatch-sizes", type=int, nargs="+", default=[PPOConfig().microbatch_size, 128])
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    sets = dict(text.split("=", 1) for text in args.sets) if args.sets else {"unimal100": str(UNIMAL)}
    train = TrainConfig()
    result = {"bucket": args.bucket, "auto_trim_share": AUTO_TRIM_SHARE, "sets": {}}
    for name, spec in sets.items():
        try:
            counts = token_counts(spec)
        except MetamorphError as error:  # a bad spec or body: one line, as `metamorph train` gives it
            raise SystemExit(f"error: {name}={spec}: {error}") from None
        result["sets"][name] = {
            "spec": spec,
            "bodies": len(counts),
            "mean_tokens": round(float(counts.mean()), 2),
            "longest": int(counts.max()),
            "real_share": round(float(counts.mean() / counts.max()), 3),
            "cut_share": {
                str(size): round(share(counts, train, size, args.bucket, args.updates), 3)
                for size in args.microbatch_sizes
            },
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
