"""One body as a standard Gymnasium environment.

Observations are the tokens of that body (no padding): a dict of ``proprio`` [T, 15],
``static`` [T, 47], ``part_ids`` [T], ``token_mask`` and ``act_mask`` [T] (0/1), ``tree_distance``
[T, T] (and ``terrain`` on terrain tasks). Actions are one torque in [-1, 1] per motor, in the
model's actuator order, as Gymnasium users expect. Episodes end as in `VecEnv`; there is no
automatic reset.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from metamorph.env.tasks import TaskConfig
from metamorph.env.vec_env import VecEnv
from metamorph.morphology import Morphology
from metamorph.tokens import PROPRIO_FEATURES, STATIC_FEATURES


class MorphologyEnv(gymnasium.Env):
    """A single robot body walking on a metamorph task."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, body: Morphology | str | Path, task: TaskConfig | str = "flat"):
        self._vec = VecEnv([body], task, num_envs=1, nthread=1, sampling="uniform", autoreset=False)
        tokens = self._vec.bodies[0].tokens
        self._tokens = tokens.num_tokens
        T = self._tokens
        # token index of each motor, in the model's actuator order
        self._actuator_token = np.zeros(self._vec.max_actuators, np.int64)
        self._actuator_token[tokens.actuator_ids[tokens.act_mask]] = np.flatnonzero(tokens.act_mask)
        inf = np.float32(np.inf)
        fields = {
            "proprio": spaces.Box(-inf, inf, (T, PROPRIO_FEATURES.width), np.float32),
            "static": spaces.Box(-inf, inf, (T, STATIC_FEATURES.width), np.float32),
            "part_ids": spaces.Box(0, np.iinfo(np.int32).max, (T,), np.int32),
            "token_mask": spaces.MultiBinary(T),
            "act_mask": spaces.MultiBinary(T),
            "tree_distance": spaces.Box(0, T, (T, T), np.int32),
        }
        if self._vec.task.has_terrain:
            fields["terrain"] = spaces.Box(-inf, inf, (self._vec.task.patch_size,), np.float32)
        self.observation_space = spaces.Dict(fields)
        self.action_space = spaces.Box(-1.0, 1.0, (self._vec.max_actuators,), np.float32)

    def _single(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        T = self._tokens
        out = {  # copies: the batch environment shares its body arrays between steps
            "proprio": obs["proprio"][0, :T].copy(),
            "static": obs["static"][0, :T].copy(),
            "part_ids": obs["part_ids"][0, :T].copy(),
            "token_mask": obs["token_mask"][0, :T].astype(np.int8),
            "act_mask": obs["act_mask"][0, :T].astype(np.int8),
            "tree_distance": obs["tree_distance"][0, :T, :T].copy(),
        }
        if "terrain" in obs:
            out["terrain"] = obs["terrain"][0].copy()
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        return self._single(self._vec.reset(seed)), {}

    def step(self, action):
        action = np.asarray(action, np.float64).reshape(-1)
        if action.shape != self.action_space.shape:
            from metamorph.errors import MetamorphError

            raise MetamorphError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        token_actions = np.zeros((1, self._vec.max_tokens))
        token_actions[0, self._actuator_token] = action
        obs, reward, terminated, truncated, info = self._vec.step(token_actions)
        return (
            self._single(obs),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {"diverged": bool(info["diverged"][0])},
        )

    def close(self):
        self._vec.close()
