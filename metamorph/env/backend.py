"""The simulation backend seam: what training, evaluation, rendering and the Gymnasium wrapper need
from a batch of simulations, written down once.

`VecEnv` (native MuJoCo, threads on the CPU) is the one backend today. A second one (MJX or MuJoCo
Warp on accelerators) is a new module whose class implements `SimulationBackend` and one entry in
`BACKENDS`; ``metamorph train --backend NAME`` then selects it. What a backend must keep the same as
`VecEnv` (tested for `VecEnv` in ``tests/test_env.py``):

- observations in the schema of `metamorph.observation`, in the frame its ``frame`` keyword names
  (`OBSERVATION_FRAMES`), torques in [-1, 1] per token;
- the task's reward as the sum of `metamorph.env.tasks.reward_terms`, each term also in
  ``info["reward_terms"]``; ``terminated`` for a fall, ``truncated`` at the episode length;
- on a step that ends an episode: ``info["final_obs"]``, ``info["episode_return"]``,
  ``info["episode_length"]`` and ``info["episode_distance"]`` (NaN or 0 for slots still running);
- ``get_state``/``set_state`` round-trip everything a resume needs to continue the same episodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from metamorph.env.tasks import TaskConfig
from metamorph.env.vec_env import VecEnv
from metamorph.errors import MetamorphError


@runtime_checkable
class SimulationBackend(Protocol):
    """A batch of ``num_envs`` simulations, each holding one body of ``bodies`` at a time (the
    per-slot attributes exist once `reset` has run)."""

    task: TaskConfig
    num_envs: int
    frame: str
    """Where links' poses and velocities are measured (`metamorph.observation.OBSERVATION_FRAMES`)."""
    max_tokens: int
    """Token slots per observation (the longest body)."""
    max_actuators: int
    bodies: list
    """Per body of the set: its ``morphology`` and ``tokens``."""
    models: list
    """Per slot, the MuJoCo model of its body in the task's world (rendering reads it)."""
    datas: list
    """Per slot, its MuJoCo state as an `MjData` (rendering reads it; on accelerators: a host copy)."""
    diverged_total: int
    """Simulations that blew up (and were reset) so far."""

    @property
    def control_dt(self) -> float: ...

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        """Start every slot afresh; the first observation."""
        ...

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict]:
        """One control step with torques [num_envs, max_tokens]: obs, reward, terminated, truncated, info."""
        ...

    def get_state(self) -> dict[str, Any]:
        """Everything a resume needs (each simulation's state, episode counters, sampling, RNG)."""
        ...

    def set_state(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """Restore `get_state`'s result; the observation to act on next."""
        ...

    def body_stats(self) -> dict[str, np.ndarray]:
        """Per body of the set: finished episodes, running mean episode length and return."""
        ...

    def close(self) -> None: ...


BACKENDS: dict[str, Callable[..., SimulationBackend]] = {"mujoco": VecEnv}
"""Backend name -> a class taking `VecEnv`'s arguments (bodies, task, num_envs, keywords)."""


def make_env(backend: str, bodies: Sequence, task: TaskConfig | str, num_envs: int, **options) -> SimulationBackend:
    """The named backend's batch of simulations (``options`` as `VecEnv`'s keywords)."""
    if backend not in BACKENDS:
        raise MetamorphError(f"unknown simulation backend '{backend}'; known: {', '.join(BACKENDS)}")
    return BACKENDS[backend](bodies, task, num_envs, **options)
