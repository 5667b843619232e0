"""Several bodies to a row when acting: fewer padding slots for the transformer to compute.

A batch observation pads every body to the longest of the set (T token slots). When bodies differ
in length, much of a [B, T] batch is padding: 128 bodies of 10 tokens on average padded to 21
leave half the slots empty. `TokenPacker` places the bodies' tokens into R rows of T slots, several
short bodies to a row, and describes the placement with two index arrays the policy reads
(`metamorph.policy.Trunk`):

    pack_index   [R, T]  flat index b * T + t of the token in each packed slot; B * T where empty
    unpack_index [B, T]  flat index r * T + s of the packed slot holding token t of body b; R * T on padding

Attention stays within a body (a token only attends to packed slots of the same body), positions
and tree distances are each token's own, so the packed network computes what the padded one does
up to the order of floating-point sums. Only the trunk runs packed; the decoders, the sampling and
everything after them see the usual [B, T] layout, so a packed and a padded call draw the same
random numbers.

R is fixed for a packer (each R is one compiled shape, and compiling costs more than a few empty
rows): `rows_to_pack` picks it for a body set. Placement is first fit: a body whose slot changes (a
reset with a body of another length) leaves its row and takes the first row with room; when none
has room, every body is placed again, longest first; when even that needs more than R rows, `plan`
returns None and the caller acts padded for that step. Training makes a new packer for every
collection, so where a token lands, and with it the rounding, depends only on that collection's
observations: a resumed run acts exactly as the uninterrupted one did.

The PPO update packs too (``PPOConfig.pack_rows``), on device: `first_fit_on_device` places each
microbatch's samples inside the jitted update, into R rows that `metamorph.ppo.rows_for_microbatches`
picks from the training bodies before the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

PACKING_FIELDS: tuple[str, ...] = ("pack_index", "unpack_index")
"""What a packed batch adds to the policy's observation."""


PACK_AT_MOST = 0.75
"""Pack only when the bodies need at most this share of the padded rows (R ≤ 0.75 B): nearer to B,
the gathers and the placement cost about what the fewer rows save (10 `unimal` bodies, R = 119 of
128: collection 0.05–0.18 s an update slower packed; docs/performance.md)."""


def worth_packing(rows: int, num_bodies: int) -> bool:
    return rows <= PACK_AT_MOST * num_bodies


def first_fit_decreasing(counts: Sequence[int], tokens: int) -> list[int]:
    """The row of each body when bodies of ``counts`` tokens go, longest first, into the first row
    of ``tokens`` slots with room (-1 for a body of no tokens)."""
    free: list[int] = []
    row_of = [-1] * len(counts)
    for b in sorted(range(len(counts)), key=lambda b: -counts[b]):
        if counts[b] == 0:
            continue
        r = next((i for i, room in enumerate(free) if room >= counts[b]), len(free))
        if r == len(free):
            free.append(tokens)
        free[r] -= counts[b]
        row_of[b] = r
    return row_of


def rows_to_pack(token_counts: Sequence[int], num_bodies: int, tokens: int, draws: int = 100, seed: int = 0) -> int:
    """Rows of ``tokens`` slots for a packer of ``num_bodies`` bodies drawn from a set of these token
    counts: the most that first fit decreasing needed over ``draws`` uniform draws, plus a row in
    ten for the fragmentation resets leave behind, at most ``num_bodies``."""
    counts = np.asarray(token_counts)
    rng = np.random.default_rng(seed)
    most = max(1 + max(first_fit_decreasing(rng.choice(counts, num_bodies).tolist(), tokens)) for _ in range(draws))
    return min(num_bodies, most + -(-most // 10))


class TokenPacker:
    """The placement of B bodies' tokens into R rows of T slots, kept across control steps."""

    def __init__(self, num_bodies: int, tokens: int, rows: int):
        self.num_bodies, self.tokens, self.rows = num_bodies, tokens, rows
        self.empty = num_bodies * tokens  # what an empty packed slot holds
        self.counts = np.zeros(num_bodies, np.int64)  # tokens of the body in each batch slot
        self.row_of = np.full(num_bodies, -1, np.int64)  # the packed row of each body; -1: none
        self.free = np.full(rows, tokens, np.int64)  # empty slots of each row
        self.pack_index = np.full((rows, tokens), self.empty, np.int32)
        self.unpack_index = np.full((num_bodies, tokens), rows * tokens, np.int32)
        self.fits = False  # whether the bodies of the last plan fitted; none placed yet: place all

    def plan(self, token_mask: np.ndarray) -> dict[str, np.ndarray] | None:
        """The index arrays for a batch whose real tokens ``token_mask`` [B, T] marks, or None when
        they do not fit in R rows (copies: the caller may hand them to a device that keeps them)."""
        if token_mask.shape != (self.num_bodies, self.tokens):
            raise ValueError(f"token_mask {token_mask.shape}: the packer is for {(self.num_bodies, self.tokens)}")
        counts = token_mask.sum(axis=1)
        changed = np.flatnonzero(counts != self.counts)
        if self.fits:
            for b in changed:
                self._release(b)
        self.counts = counts
        if not self.fits or not all([self._place(b) for b in changed]):
            self._repack()
        if not self.fits:
            return None
        return {"pack_index": self.pack_index.copy(), "unpack_index": self.unpack_index.copy()}

    def _release(self, b: int) -> None:
        r = self.row_of[b]
        if r >= 0:
            self.pack_index[r][self.pack_index[r] // self.tokens == b] = self.empty
            self.free[r] += self.counts[b]
            self.row_of[b] = -1
        self.unpack_index[b] = self.rows * self.tokens

    def _place(self, b: int) -> bool:
        """First fit of body ``b``; False when no row has room."""
        count = int(self.counts[b])
        if count == 0:
            return True
        fits = np.flatnonzero(self.free >= count)
        if fits.size == 0:
            return False
        r = int(fits[0])
        slots = np.flatnonzero(self.pack_index[r] == self.empty)[:count]
        self.pack_index[r, slots] = b * self.tokens + np.arange(count)
        self.unpack_index[b, :count] = r * self.tokens + slots
        self.free[r] -= count
        self.row_of[b] = r
        return True

    def _repack(self) -> None:
        """Every body again, longest first, each by `_place` (so first fit decreasing); ``fits``
        says whether R rows held them, and when they did not, none stays placed."""
        self._clear()
        self.fits = all(self._place(b) for b in np.argsort(-self.counts, kind="stable"))
        if not self.fits:
            self._clear()

    def _clear(self) -> None:
        self.free[:] = self.tokens
        self.pack_index[:] = self.empty
        self.unpack_index[:] = self.rows * self.tokens
        self.row_of[:] = -1


def pack_fixed_bodies() -> Callable[[dict], dict]:
    """For callers whose batch slots keep their bodies (evaluation, rendering): a function that adds
    the packing fields to a policy observation, with R fixed by the first batch of each shape (the
    rows its bodies need); a batch not `worth_packing`, or whose bodies no longer fit, goes through
    padded."""
    packers: dict[tuple[int, int], TokenPacker | None] = {}

    def pack(obs: dict) -> dict:
        token_mask = np.asarray(obs["token_mask"])
        if token_mask.shape not in packers:
            num_bodies, tokens = token_mask.shape
            rows = 1 + max(first_fit_decreasing(token_mask.sum(axis=1).tolist(), tokens), default=0)
            packers[token_mask.shape] = (
                TokenPacker(num_bodies, tokens, rows) if worth_packing(rows, num_bodies) else None
            )
        packer = packers[token_mask.shape]
        plan = packer.plan(token_mask) if packer is not None else None
        return obs if plan is None else {**obs, **plan}

    return pack


def first_fit_rows_needed(lengths: np.ndarray, tokens: int) -> np.ndarray:
    """Rows of ``tokens`` slots that first fit decreasing needs for each group of bodies of
    ``lengths`` [M, n] tokens: the placement of `first_fit_on_device`, vectorised over the M groups."""
    lengths = -np.sort(-np.asarray(lengths), axis=1)
    groups, n = lengths.shape
    free = np.full((groups, n), tokens)
    used = np.zeros(groups, np.int64)
    for i in range(n):
        row = np.argmax(free >= lengths[:, i, None], axis=1)  # every body fits an empty row
        free[np.arange(groups), row] -= lengths[:, i]
        used = np.maximum(used, np.where(lengths[:, i] > 0, row + 1, 0))
    return used


def first_fit_on_device(counts: jax.Array, rows: int, tokens: int) -> tuple[dict[str, jax.Array], jax.Array]:
    """Inside a jitted function: bodies of ``counts`` [B] tokens (real tokens first in each row of a
    [B, T] batch), longest first, each into the first of ``rows`` rows of ``tokens`` slots with room.
    Returns the packing fields as `TokenPacker` lays them out, and whether every body fitted (when
    not, the fields are meaningless and the caller computes padded)."""
    num_bodies = counts.shape[0]
    order = jnp.argsort(-counts, stable=True)

    def place(free, count):
        room = free >= count
        row = jnp.argmax(room)
        fits = room[row]
        return free.at[row].add(-jnp.where(fits, count, 0)), (row, tokens - free[row], fits)

    # made from counts, so that under shard_map the carry varies by device as counts do
    free = jnp.full(rows, tokens, counts.dtype) + 0 * counts[:1]
    _, (row, offset, fits) = jax.lax.scan(place, free, counts[order])
    batch_order = jnp.zeros_like(order).at[order].set(jnp.arange(num_bodies))
    row, offset = row[batch_order], offset[batch_order]
    position = jnp.arange(tokens)
    slot = row[:, None] * tokens + offset[:, None] + position  # [B, T]
    unpack = jnp.where(position < counts[:, None], slot, rows * tokens).astype(jnp.int32)
    token = (jnp.arange(num_bodies)[:, None] * tokens + position).astype(jnp.int32)
    empty = jnp.full(rows * tokens, num_bodies * tokens, jnp.int32)
    pack = empty.at[unpack.reshape(-1)].set(token.reshape(-1), mode="drop")  # padding's index is past the end
    return {"pack_index": pack.reshape(rows, tokens), "unpack_index": unpack}, jnp.all(fits)
