"""Environments: many bodies in one batch on native MuJoCo (`VecEnv`), tasks, a Gymnasium wrapper."""

from metamorph.env.tasks import TASKS, TaskConfig, Terrain, task_config
from metamorph.env.vec_env import VecEnv, add_proprio_sensors

__all__ = ["TASKS", "TaskConfig", "Terrain", "VecEnv", "add_proprio_sensors", "task_config"]
