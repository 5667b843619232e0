"""One body as a standard Gymnasium environment.

Observations are the tokens of that body (no padding): a dict of ``proprio`` [T, 15],
``static`` [T, 47], ``part_ids`` [T], ``token_mask`` and ``act_mask`` [T] (0/1), ``tree_distance``
[T, T], ``link_token``, ``last_ctrl`` and ``recent_velocity`` [T], ``clock`` [T, 6],
``previous_proprio`` [T, 15] (and ``terrain`` on terrain tasks). Actions are one torque in [-1, 1]
per motor, in the model's actuator order, as Gymnasium users expect. Episodes end as in `VecEnv`;
there is no automatic reset.
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
from metamorph.observation import ObservationFrame, observation_fields


class MorphologyEnv(gymnasium.Env):
    """A single robot body walking on a metamorph task."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(
        self,
        body: Morphology | str | Path,
        task: TaskConfig | str = "flat",
        frame: ObservationFrame = "torso",
        link_geometry: str = "largest",
    ):
        self._vec = VecEnv([body], task, num_envs=1, nthread=1, sampling="uniform", autoreset=False, frame=frame,
                           link_geometry=link_geometry)  # fmt: skip
        tokens = self._vec.bodies[0].tokens
        self._tokens = tokens.num_tokens
        T = self._tokens
        # token index of each motor, in the model's actuator order
        self._actuator_token = np.zeros(self._vec.max_actuators, np.int64)
        self._actuator_token[tokens.actuator_ids[tokens.act_mask]] = np.flatnonzero(tokens.act_mask)
        self._fields = observation_fields(self._vec.task.has_terrain)
        patch = self._vec.task.patch_size
        self.observation_space = spaces.Dict({f.name: _space(f.dtype, f.shape(T, patch)) for f in self._fields})
        self.action_space = spaces.Box(-1.0, 1.0, (self._vec.max_actuators,), np.float32)

    def _single(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The one environment's observation (one body: no padding), as copies since the batch
        environment shares its body arrays between steps; masks as 0/1 for MultiBinary."""
        return {
            f.name: obs[f.name][0].astype(np.int8) if f.dtype is np.bool_ else obs[f.name][0].copy()
            for f in self._fields
        }

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


def _space(dtype: type, shape: tuple[int, ...]) -> spaces.Space:
    if dtype is np.bool_:
        return spaces.MultiBinary(shape)
    if np.issubdtype(dtype, np.integer):
        return spaces.Box(0, np.iinfo(dtype).max, shape, dtype)
    return spaces.Box(-np.inf, np.inf, shape, dtype)
