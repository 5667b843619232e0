"""The observation schema: what every environment hands the policy, defined once.

A batch observation is a dict of arrays over B environments and T token slots (the longest body
of the batch; shorter bodies are padded). Environments produce exactly these fields (`VecEnv`
checks it in its tests), the policy and PPO read them (`POLICY_FIELDS`), checkpoints build a
blank one to restore a network (`blank_observation`), and the Gymnasium wrapper derives its
spaces from them. Adding a field is adding an `ObservationField` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Literal

import numpy as np

from metamorph.errors import MetamorphError
from metamorph.tokens import PROPRIO_FEATURES, STATIC_FEATURES

ObservationFrame = Literal["torso", "world"]
OBSERVATION_FRAMES: tuple[str, ...] = ("torso", "world")
"""Where links' poses and velocities in ``proprio`` are measured: ``torso``, relative to the torso
and in its frame (the root token: its own velocity in its own frame); ``world``, in the world frame
with positions' x and y taken from the torso's (MetaMorph's choice), so every token sees which way is
up and which way is forward. A policy reads the frame it was trained on (`PolicyConfig.frame`)."""


def check_frame(frame: str) -> None:
    if frame not in OBSERVATION_FRAMES:
        raise MetamorphError(f"observation frame must be one of {', '.join(OBSERVATION_FRAMES)}, got '{frame}'")


RECENT_VELOCITY_SECONDS = 0.5
"""Time constant of ``recent_velocity``'s exponential average: a few gait cycles of a generated
body, and shorter than its typical training episode (35-70 control steps of 0.02 s)."""

RECENT_VELOCITY_LIMIT = 5.0
"""``recent_velocity`` is clipped to ± this (m/s): a body flung by a physics upset must not feed the
policy an unbounded input (it is not normalised)."""


CLOCK_PERIODS = (0.25, 0.5, 1.0)
"""Periods (s) of the ``clock`` field's sine and cosine pairs: gait cycles of the bodies trained
on span these (a generated body's lunges last 0.5-1 s; UNIMAL-100's policies stride a few times a
second). Any phase of each period is a linear mix of its pair, so a policy may set each joint's."""


@dataclasses.dataclass(frozen=True)
class ObservationField:
    name: str
    dtype: type
    shape: Callable[[int, int], tuple[int, ...]]
    """Shape of one environment's value, given (tokens T, terrain patch points P)."""
    doc: str
    terrain_only: bool = False
    """Present only on tasks with terrain."""


OBSERVATION_FIELDS: tuple[ObservationField, ...] = (
    ObservationField("proprio", np.float32, lambda T, P: (T, PROPRIO_FEATURES.width),
                     "per-token proprioception (`PROPRIO_FEATURES`); zero on padding"),
    ObservationField("static", np.float32, lambda T, P: (T, STATIC_FEATURES.width),
                     "per-token static morphology features (`STATIC_FEATURES`); zero on padding"),
    ObservationField("part_ids", np.int32, lambda T, P: (T,), "vocabulary id of each token's part kind; 0 on padding"),
    ObservationField("token_mask", np.bool_, lambda T, P: (T,), "true for the body's tokens, false for padding"),
    ObservationField("act_mask", np.bool_, lambda T, P: (T,), "true where the token's joint has a motor"),
    ObservationField("tree_distance", np.int32, lambda T, P: (T, T), "hops between two tokens in the body's tree"),
    ObservationField("link_token", np.int32, lambda T, P: (T,),
                     "index of the first token of the token's link (`JointTokens.link_token`); own index on padding"),
    ObservationField("last_ctrl", np.float32, lambda T, P: (T,),
                     "the control each token's motor received at the last step, in [-1, 1]; 0 after a reset, "
                     "on unactuated tokens and on padding"),
    ObservationField("recent_velocity", np.float32, lambda T, P: (T,),
                     "the torso's velocity along +x (what the reward pays), averaged over about the last "
                     "`RECENT_VELOCITY_SECONDS`, the same on every token; 0 after a reset and on padding"),
    ObservationField("clock", np.float32, lambda T, P: (T, 2 * len(CLOCK_PERIODS)),
                     "sin and cos of 2π × the episode's time over each of `CLOCK_PERIODS` (sin 0, cos 1 "
                     "after a reset), the same on every token; 0 on padding"),
    ObservationField("previous_proprio", np.float32, lambda T, P: (T, PROPRIO_FEATURES.width),
                     "``proprio`` of the last control step, in this step's layout; equal to ``proprio`` "
                     "after a reset (no history yet); zero on padding"),
    ObservationField("terrain", np.float32, lambda T, P: (P,), "ground heights around the torso", terrain_only=True),
)  # fmt: skip

POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in OBSERVATION_FIELDS)
"""What the policy reads. Environments may add host-side fields (``body_id``) that stay off it."""


def observation_fields(has_terrain: bool) -> tuple[ObservationField, ...]:
    return tuple(f for f in OBSERVATION_FIELDS if has_terrain or not f.terrain_only)


def policy_obs(obs: dict, fields: Collection[str] = POLICY_FIELDS) -> dict:
    """The fields of an environment's observation that a policy reads: ``fields`` (a policy's own,
    `metamorph.policy.fields_read`, leave out the inputs it was not set to read, so acting and the
    rollout carry no field the network ignores)."""
    return {k: obs[k] for k in fields if k in obs}


def blank_observation(batch: int, tokens: int, patch: int) -> dict[str, np.ndarray]:
    """Zeros in the schema's shapes with every token real and actuated: enough to build a network
    (its parameter shapes) without a body."""
    obs = {
        f.name: np.zeros((batch, *f.shape(tokens, patch)), f.dtype) for f in observation_fields(has_terrain=patch > 0)
    }
    obs["token_mask"][:] = True
    obs["act_mask"][:] = True
    return obs


def check_observation(obs: dict, tokens: int, patch: int) -> None:
    """Raise AssertionError unless ``obs`` holds every field of the schema in its shape and dtype."""
    for f in observation_fields(has_terrain=patch > 0):
        assert f.name in obs, f"observation lacks '{f.name}'"
        value = obs[f.name]
        assert value.shape[1:] == f.shape(tokens, patch), f"'{f.name}' has shape {value.shape}"
        assert value.dtype == f.dtype, f"'{f.name}' has dtype {value.dtype}, not {np.dtype(f.dtype)}"
