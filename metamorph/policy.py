"""The policy: a Flax transformer over joint tokens, one torque mean per token and a value.

    apply(params, obs) -> (mean [B, T], log_std [B, T], value [B])

Each token's input is its normalised proprioception and static features (with ``previous_action``,
also its motor's last control; with ``recent_velocity``, the torso's recent forward velocity; with
``proprio_history``, its proprioception of the last step: `EXTRA_INPUTS`; one linear embedding,
scaled by √d as in MetaMorph) plus an embedding of its part id from the vocabulary. Position
information is one of: a learned embedding of the token's depth-first index (MetaMorph), none, or a
tree-structure attention bias — a learned scalar per head for every distance between two tokens in
the body's tree (as in SWAT and GET-Zero).
Pre-LayerNorm encoder layers attend over real tokens only (the token mask). A per-token decoder
gives each token's torque mean; on terrain tasks an MLP encodes the terrain patch and its code joins
every token's decoder input (MetaMorph). The value is the mean over real tokens of a per-token value
(MetaMorph), from the same trunk (``shared_trunk``) or from a second transformer (MetaMorph's
choice).

Presets (`POLICY_PRESETS`): ``small`` for CPU training (the default) and ``metamorph`` with
MetaMorph's sizes (5 layers, d_model 128, 2 heads, feed-forward 1024, separate value network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from metamorph.errors import MetamorphError
from metamorph.observation import POLICY_FIELDS, ObservationFrame, check_frame
from metamorph.tokens import PROPRIO_FEATURES, static_columns, static_layout

PositionKind = Literal["learned", "none", "tree"]
TokenKind = Literal["joint", "link"]


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Architecture of the policy."""

    d_model: int = 48
    """Width of token embeddings."""
    num_layers: int = 2
    """Transformer encoder layers."""
    num_heads: int = 2
    ff_dim: int = 96
    """Hidden width of each layer's feed-forward block."""
    position: PositionKind = "learned"
    """learned depth-first index embedding, none, or tree (distance-in-tree attention bias)."""
    tokens: TokenKind = "joint"
    """What the encoder attends over: ``joint``, one token a joint (and the root); or ``link``, one
    token a link, as MetaMorph's one token a limb: the embeddings of a link's joint tokens are
    summed onto its first token (`JointTokens.link_token`), only those attend and are attended
    to, and each joint reads its link's encoding plus a projection of its own embedding."""
    shared_trunk: bool = True
    """One transformer for policy and value (cheaper on CPU) or two (MetaMorph)."""
    decoder_hidden: int = 48
    """Hidden width of the per-token action and value decoders."""
    terrain_hidden: int = 64
    """Width of the terrain-patch encoder (terrain tasks only)."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian policy (one learned scalar)."""
    action_std: float | None = None
    """A fixed standard deviation of the Gaussian policy instead of a learned one (MetaMorph: 0.9,
    with no entropy bonus); the policy then has no log-std parameter."""
    frame: ObservationFrame = "torso"
    """Frame of the links' poses and velocities the policy reads (`metamorph.observation`): the
    environments that train, evaluate and render it measure them in this frame."""
    max_tokens: int = 32
    """Longest body (in tokens) the learned position embedding covers."""
    max_tree_distance: int = 16
    """Distances beyond this share the last tree-bias entry."""
    dropout: float = 0.0
    """Dropout rate on the token embeddings (after the position embedding if any; MetaMorph uses
    0.1) in the PPO update's forward passes. Acting, evaluation and deployment use the whole
    network, so the one inference function stays deterministic given its sampling key."""
    link_geometry: str = "largest"
    """How the policy's tokens read their links' geometry (`metamorph.tokens.LINK_GEOMETRIES`):
    largest (the largest geom's pose and MuJoCo size; every policy before 2026-12-04) or shape (the
    volume of all the link's colliding geoms, whatever primitives a file splits it into). The
    environments that train, evaluate and render the policy tokenize its bodies this way."""
    previous_action: bool = False
    """Each token's embedding also reads the control its motor received at the last step
    (``last_ctrl`` of the observation; 0 after a reset and on unactuated tokens): one step of
    history, from which a policy may tell how a body it has never seen answers its torques."""
    recent_velocity: bool = False
    """Each token's embedding also reads the torso's forward velocity averaged over about the last
    half second (``recent_velocity`` of the observation, in m/s; the same on every token): a memory
    of which way the body has been going, from which a policy may correct a gait that carries a body
    it has never seen backward."""
    clock: bool = False
    """Each token's embedding also reads the episode's clock (``clock`` of the observation: sine
    and cosine of its time over `metamorph.observation.CLOCK_PERIODS`; the same on every token): a
    rhythm of its own, which a policy may drive a gait with on a body that does not move by itself.
    Without it a policy's commands follow what the body does, and on bodies that stand still under
    zero torque they settle into a fixed posture. Measured on the default recipe (the clock sweep,
    docs/learning.md): the policy uses it as a shake, not a gait, and moves no more unseen bodies."""
    proprio_history: bool = False
    """Each token's embedding also reads its proprioception of the last control step
    (``previous_proprio`` of the observation, normalised with ``proprio``'s statistics; after a
    reset the current one): with ``previous_action``, how the joint answered the last torque, from
    which a policy may tell the dynamics of a body it has never seen (frame stacking, two frames)."""
    hidden_static: tuple[str, ...] = ()
    """Static feature groups (`metamorph.tokens.static_layout` names, e.g. geom_pos) the policy
    does not see: their columns are zeroed inside the network, so training, evaluation and
    deployment hide the same. Why: how a file splits a link into collision primitives decides its
    largest-geom features; a Go1 whose features are swapped for those of the same robot described
    with one primitive a link is run by policies that fail on the original (docs/learning.md)."""

    def __post_init__(self):
        object.__setattr__(self, "hidden_static", tuple(self.hidden_static))  # JSON gives a list
        static_layout(self.link_geometry)  # refuses an unknown link geometry
        try:  # and a group its layout does not have
            static_columns(self.hidden_static, self.link_geometry)
        except MetamorphError as error:
            raise MetamorphError(f"policy hidden_static: {error}") from None
        if self.tokens not in ("joint", "link"):
            raise MetamorphError(f"policy tokens must be joint or link, got '{self.tokens}'")
        if self.position not in ("learned", "none", "tree"):
            raise MetamorphError(f"policy position must be learned, none or tree, got '{self.position}'")
        check_frame(self.frame)
        if self.action_std is not None and not self.action_std > 0:
            raise MetamorphError(f"policy action_std must be positive, got {self.action_std}")
        if not 0.0 <= self.dropout < 1.0:
            raise MetamorphError(f"policy dropout must be in [0, 1), got {self.dropout}")
        if self.d_model % self.num_heads:
            raise MetamorphError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")


POLICY_PRESETS: dict[str, Callable[[], PolicyConfig]] = {
    "small": lambda: PolicyConfig(),
    "metamorph": lambda: PolicyConfig(
        d_model=128, num_layers=5, num_heads=2, ff_dim=1024, shared_trunk=False, decoder_hidden=64, terrain_hidden=64
    ),
}


class Attention(nn.Module):
    """Multi-head self-attention with an additive bias [B, heads, T, T] (padding and tree structure)."""

    num_heads: int
    d_model: int

    @nn.compact
    def __call__(self, x: jax.Array, bias: jax.Array) -> jax.Array:
        head = self.d_model // self.num_heads
        q, k, v = (nn.DenseGeneral((self.num_heads, head), name=n)(x) for n in ("query", "key", "value"))
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head) + bias
        weights = jax.nn.softmax(logits, axis=-1)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        return nn.DenseGeneral(self.d_model, axis=(-2, -1), name="out")(out)


class EncoderLayer(nn.Module):
    config: PolicyConfig

    @nn.compact
    def __call__(self, x: jax.Array, attention_bias: jax.Array) -> jax.Array:
        c = self.config
        y = nn.LayerNorm()(x)
        y = Attention(c.num_heads, c.d_model)(y, attention_bias)
        x = x + y
        y = nn.LayerNorm()(x)
        y = nn.Dense(c.ff_dim)(y)
        y = nn.gelu(y)
        y = nn.Dense(c.d_model)(y)
        return x + y


def _to_rows(
    pack: jax.Array, arrays: tuple[jax.Array, ...], distance: jax.Array
) -> tuple[tuple[jax.Array, ...], jax.Array, jax.Array, jax.Array]:
    """Gather per-body arrays [B, T, ...] and tree distances [B, T, T] into packed rows [R, T, ...]
    by ``pack`` ([R, T] flat token index, B * T on empty slots; `metamorph.packing`). Returns the
    gathered arrays (zeros on empty slots), the distances between each row's slots, and each slot's
    body (B on empty slots) and position within it."""
    B, T = distance.shape[:2]
    *arrays, distance = (
        jnp.take(a.reshape(B * T, *a.shape[2:]), pack, axis=0, mode="fill", fill_value=0) for a in (*arrays, distance)
    )
    body, position = pack // T, pack % T
    distance = jnp.take_along_axis(distance, jnp.broadcast_to(position[:, None, :], distance.shape), axis=2)
    return tuple(arrays), distance, body, position


def _visible_columns(hidden_static: tuple[str, ...], link_geometry: str) -> np.ndarray:
    """1 for each column of a token's features (proprioception, then static) the policy sees, 0 for
    the static groups it hides."""
    hidden = static_columns(hidden_static, link_geometry)
    return np.concatenate([np.ones(PROPRIO_FEATURES.width), 1.0 - hidden]).astype(np.float32)


EXTRA_INPUTS: tuple[tuple[str, str], ...] = (
    ("previous_action", "last_ctrl"),
    ("recent_velocity", "recent_velocity"),
    ("clock", "clock"),
    ("proprio_history", "previous_proprio"),
)
"""(`PolicyConfig` flag, observation field): per-token inputs (a scalar [B, T] or a row [B, T, k]) a
policy appends to its token features when the flag is set, in this order. Not normalised:
``last_ctrl`` and ``clock`` lie in [-1, 1], ``recent_velocity`` within ± `RECENT_VELOCITY_LIMIT` m/s;
``previous_proprio`` arrives normalised (`metamorph.ppo.policy_inputs`)."""


def fields_read(config: PolicyConfig) -> tuple[str, ...]:
    """The observation fields a policy of ``config`` reads: all of `POLICY_FIELDS` but the
    `EXTRA_INPUTS` it is not set to read (`metamorph.observation.policy_obs`)."""
    unread = {field for option, field in EXTRA_INPUTS if not getattr(config, option)}
    return tuple(field for field in POLICY_FIELDS if field not in unread)


class Trunk(nn.Module):
    """Token embedding + transformer encoder; returns [B, T, d_model]."""

    config: PolicyConfig
    vocab_size: int

    @nn.compact
    def __call__(self, features: jax.Array, obs: dict[str, jax.Array], dropout_key: jax.Array | None) -> jax.Array:
        c = self.config
        if c.hidden_static:
            features = features * _visible_columns(c.hidden_static, c.link_geometry)
        for option, field in EXTRA_INPUTS:
            if getattr(c, option):
                if field not in obs:
                    raise MetamorphError(f"this policy reads {field} ({option}), which the observation lacks")
                extra = obs[field] if obs[field].ndim == features.ndim else obs[field][..., None]
                features = jnp.concatenate([features, extra.astype(features.dtype)], axis=-1)
        B, T = obs["part_ids"].shape
        if c.position == "learned" and c.max_tokens < T:
            raise MetamorphError(f"bodies of {T} tokens exceed the policy's max_tokens={c.max_tokens}")
        if c.tokens == "link":
            return self._links(features, obs, dropout_key)
        part_ids, distance = obs["part_ids"], obs["tree_distance"]
        if "pack_index" in obs:  # several bodies to a row (`metamorph.packing`): gather their tokens
            pack = obs["pack_index"]  # [R, T] flat token index; B * T where empty
            (features, part_ids), distance, body, position = _to_rows(pack, (features, part_ids), distance)
            # a token attends to the real tokens of its own body only
            attend = (body[:, :, None] == body[:, None, :]) & (pack < B * T)[:, None, :]
        else:
            position = slice(T)
            # padding tokens neither attend nor are attended to (a large negative bias on their columns)
            attend = obs["token_mask"][:, None, :]
        bias = jnp.where(attend[:, None], 0.0, -1e9)
        x = self._embed(features, part_ids)
        return self._encode(x, bias, position, distance, obs, dropout_key)

    def _embed(self, features: jax.Array, part_ids: jax.Array) -> jax.Array:
        c = self.config
        x = nn.Dense(c.d_model, name="token_embedding")(features) * jnp.sqrt(c.d_model)
        return x + nn.Embed(self.vocab_size, c.d_model, name="part_embedding")(part_ids)

    def _encode(self, x, bias, position, distance, obs, dropout_key, final_norm: bool = True) -> jax.Array:
        """Position, dropout, the encoder layers and (``final_norm``) the final norm; then back to
        one row a body."""
        c = self.config
        if c.position == "learned":
            x = x + self.param("position_embedding", nn.initializers.normal(0.02), (c.max_tokens, c.d_model))[position]
        elif c.position == "tree":
            table = self.param("tree_bias", nn.initializers.zeros, (c.num_heads, c.max_tree_distance + 1))
            distance = jnp.minimum(distance, c.max_tree_distance)
            bias = bias + jnp.moveaxis(table[:, distance], 0, 1)  # [B or R, heads, T, T]
        x = nn.Dropout(c.dropout)(x, deterministic=dropout_key is None, rng=dropout_key)
        for i in range(c.num_layers):
            x = EncoderLayer(c, name=f"layer_{i}")(x, bias)
        if final_norm:
            x = nn.LayerNorm(name="final_norm")(x)
        if "pack_index" in obs:  # back to one row a body; padding slots read zeros
            x = jnp.take(x.reshape(-1, c.d_model), obs["unpack_index"], axis=0, mode="fill", fill_value=0)
        return x

    def _links(self, features: jax.Array, obs: dict[str, jax.Array], dropout_key: jax.Array | None) -> jax.Array:
        """One token a link (``tokens="link"``): joint embeddings summed onto their link's head
        slot, the encoder over head slots only, each joint reading its link's encoding back plus a
        projection of its own embedding, inside the residual stream: the final norm comes after,
        so the decoders read inputs of the same scale as with joint tokens (a readout added after
        the norm gave the decoders inputs ~7x larger: first updates with a KL of 1.6, gradients
        8x the joint tokens', and half their training return in the link-tokens sweep's first try)."""
        c = self.config
        T = obs["part_ids"].shape[1]
        link, token_mask = obs["link_token"], obs["token_mask"]
        joints = self._embed(features, obs["part_ids"])  # [B, T, d]
        slots = jnp.arange(T)
        member = (link[:, None, :] == slots[None, :, None]) & token_mask[:, None, :]  # [B, head slot, token]
        x = jnp.einsum("bht,btd->bhd", member.astype(joints.dtype), joints)
        head = (link == slots) & token_mask
        distance = obs["tree_distance"]  # between heads: hops between the links' first tokens
        if "pack_index" in obs:  # heads of several bodies to a row, as in joint mode
            (x, head), distance, body, position = _to_rows(obs["pack_index"], (x, head), distance)
            attend = (body[:, :, None] == body[:, None, :]) & head[:, None, :]
        else:
            position = slice(T)
            attend = head[:, None, :]  # only link heads are attended to
        bias = jnp.where(attend[:, None], 0.0, -1e9)
        x = self._encode(x, bias, position, distance, obs, dropout_key, final_norm=False)
        own = nn.Dense(c.d_model, name="joint_readout")(joints)  # tells a link's joints apart
        return nn.LayerNorm(name="final_norm")(jnp.take_along_axis(x, link[..., None], axis=1) + own)


class TokenDecoder(nn.Module):
    hidden: int
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.gelu(nn.Dense(self.hidden)(x))
        # a small last layer: the untrained policy starts near zero torque (a stabiliser that worked)
        init = nn.initializers.variance_scaling(self.out_scale, "fan_in", "truncated_normal")
        return nn.Dense(1, kernel_init=init)(x)[..., 0]


class Policy(nn.Module):
    config: PolicyConfig
    vocab_size: int

    @nn.compact
    def __call__(self, features: jax.Array, obs: dict[str, jax.Array], dropout_key: jax.Array | None = None):
        """``dropout_key``: drop token embeddings at ``config.dropout`` (the PPO update); None: the
        whole network (acting)."""
        c = self.config
        mask = obs["token_mask"]
        tokens = Trunk(c, self.vocab_size, name="trunk")(features, obs, dropout_key)
        if c.shared_trunk:
            value_tokens = tokens
        else:
            value_key = None if dropout_key is None else jax.random.fold_in(dropout_key, 1)
            value_tokens = Trunk(c, self.vocab_size, name="value_trunk")(features, obs, value_key)
        if "terrain" in obs:
            code = nn.gelu(nn.Dense(c.terrain_hidden, name="terrain_1")(obs["terrain"]))
            code = nn.gelu(nn.Dense(c.terrain_hidden, name="terrain_2")(code))
            code = jnp.broadcast_to(code[:, None, :], (*tokens.shape[:2], code.shape[-1]))
            tokens = jnp.concatenate([tokens, code], axis=-1)
            value_tokens = jnp.concatenate([value_tokens, code], axis=-1)
        mean = TokenDecoder(c.decoder_hidden, out_scale=0.01, name="action_decoder")(tokens)
        token_values = TokenDecoder(c.decoder_hidden, name="value_decoder")(value_tokens)
        value = jnp.sum(token_values * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1)
        if c.action_std is None:
            log_std = self.param("log_std", nn.initializers.constant(c.init_log_std), ())
        else:
            log_std = jnp.log(jnp.asarray(c.action_std, mean.dtype))
        return mean, jnp.broadcast_to(log_std, mean.shape), value


def count_params(params) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(params))
