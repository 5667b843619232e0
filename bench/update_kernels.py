"""Benchmark: the small preset's update, piece by piece, against this CPU's matmul rate.

    python bench/update_kernels.py [--repeats 5]

Issue 13 asks for the PPO update at 60 % of the FLOP limit; `bench/train_throughput.py` finds it
near a third. This script times, for one microbatch of the small preset (256 bodies × 16 token
slots, 48-wide tokens, a 96-wide feed-forward block, 2 heads of 24), each piece of an encoder layer
alone, forward and gradient, as XLA compiles it on this CPU, and the plain matrix products of the
same shapes in float32 and bfloat16 (with float32 accumulation). Each figure is the fastest of
`--repeats` rounds of 20 calls. Prints one JSON object: milliseconds and GFLOP/s per piece, and the
1024² float32 rate the FLOP limit divides by.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

BODIES, SLOTS, WIDTH, FF_WIDTH, HEADS = 256, 16, 48, 96, 2
HEAD = WIDTH // HEADS
ROWS = BODIES * SLOTS


def _best_ms(fn: Callable, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / 20 * 1e3)
    return best


def _feed_forward(x, w_in, w_out):
    return jax.nn.gelu(x @ w_in) @ w_out


def _layer_norm(x, w_in, w_out):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-6)


def _attention_tokens_first(x, w_in, w_out):
    """The policy's layout: [bodies, slots, heads, head] einsums (metamorph.policy.Attention)."""
    q = x.reshape(BODIES, SLOTS, HEADS, HEAD)
    weights = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, q), axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, q).reshape(ROWS, WIDTH)


def _attention_heads_first(x, w_in, w_out):
    q = x.reshape(BODIES, SLOTS, HEADS, HEAD).transpose(0, 2, 1, 3)
    weights = jax.nn.softmax(jnp.einsum("bhqd,bhkd->bhqk", q, q), axis=-1)
    return jnp.einsum("bhqk,bhkd->bhqd", weights, q).transpose(0, 2, 1, 3).reshape(ROWS, WIDTH)


def _attention_broadcast(x, w_in, w_out):
    """Products summed over a major axis, so that the 16 keys fill one vector register."""
    q = x.reshape(BODIES, SLOTS, HEADS, HEAD).transpose(0, 2, 3, 1)  # [b, h, d, q]
    weights = jax.nn.softmax(jnp.sum(q[..., :, None] * q[..., None, :], axis=2), axis=-1)  # [b, h, q, k]
    out = jnp.sum(weights[:, :, None] * q[:, :, :, None, :], axis=-1)  # [b, h, d, q]
    return out.transpose(0, 3, 1, 2).reshape(ROWS, WIDTH)


# forward FLOPs of each piece (multiply-adds count 2)
PIECES: dict[str, tuple[Callable, float]] = {
    "feed_forward": (_feed_forward, 2 * 2 * ROWS * WIDTH * FF_WIDTH),
    "layer_norm": (_layer_norm, 8 * ROWS * WIDTH),
    "attention_tokens_first": (_attention_tokens_first, 2 * 2 * BODIES * HEADS * SLOTS * SLOTS * HEAD),
    "attention_heads_first": (_attention_heads_first, 2 * 2 * BODIES * HEADS * SLOTS * SLOTS * HEAD),
    "attention_broadcast": (_attention_broadcast, 2 * 2 * BODIES * HEADS * SLOTS * SLOTS * HEAD),
}


def matmul_rates(repeats: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    rates = {}
    for m, k, n in [(ROWS, WIDTH, FF_WIDTH), (ROWS, FF_WIDTH, WIDTH), (ROWS, WIDTH, WIDTH), (1024, 1024, 1024)]:
        a = jnp.asarray(rng.standard_normal((m, k)), jnp.float32)
        b = jnp.asarray(rng.standard_normal((k, n)), jnp.float32)
        dot = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
        flop = 2 * m * k * n
        f32 = flop / _best_ms(dot, a, b, repeats=repeats) / 1e6
        bf16 = flop / _best_ms(dot, a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), repeats=repeats) / 1e6
        rates[f"{m}x{k}x{n}"] = {"float32_gflop_per_s": round(f32, 1), "bfloat16_gflop_per_s": round(bf16, 1)}
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((ROWS, WIDTH)), jnp.float32)
    w_in = jnp.asarray(rng.standard_normal((WIDTH, FF_WIDTH)) * 0.1, jnp.float32)
    w_out = jnp.asarray(rng.standard_normal((FF_WIDTH, WIDTH)) * 0.1, jnp.float32)
    pieces = {}
    for name, (piece, flop) in PIECES.items():

        def loss(x, w_in, w_out, piece=piece):
            return jnp.sum(piece(x, w_in, w_out) ** 2)

        forward_ms = _best_ms(jax.jit(piece), x, w_in, w_out, repeats=args.repeats)
        grad_ms = _best_ms(jax.jit(jax.grad(loss, argnums=(0, 1, 2))), x, w_in, w_out, repeats=args.repeats)
        pieces[name] = {
            "forward_ms": round(forward_ms, 3),
            "gradient_ms": round(grad_ms, 3),
            "forward_gflop_per_s": round(flop / forward_ms / 1e6, 1),
            # a gradient costs about three forwards of FLOPs (forward, and two products back)
            "gradient_gflop_per_s": round(3 * flop / grad_ms / 1e6, 1),
        }
    print(
        json.dumps(
            {
                "benchmark": "update_kernels",
                "microbatch": {"bodies": BODIES, "slots": SLOTS, "width": WIDTH, "ff_width": FF_WIDTH, "heads": HEADS},
                "pieces": pieces,
                "matmul": matmul_rates(args.repeats),
                "jax": jax.__version__,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
