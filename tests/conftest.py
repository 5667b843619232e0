"""Shared fixtures: paths to the example bodies in the repo and to UNIMAL-100 in ../shared."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# One JAX compilation cache for the whole session, this process and the `metamorph` subprocesses the
# tests start (they inherit the variable): many tests compile the same tiny policy and update, and
# compiling is most of their time. A fresh folder each session, so nothing carries over between runs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE = tempfile.mkdtemp(prefix="metamorph-tests-jax-")
else:
    _SESSION_CACHE = None


def pytest_sessionfinish(session, exitstatus) -> None:
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "morphologies" / "examples"
UNIMAL100 = REPO.parent / "shared" / "morphologies" / "unimal100" / "train"


@pytest.fixture(scope="session")
def unimal_dir() -> Path:
    if not (UNIMAL100 / "xml").is_dir():
        pytest.skip(f"UNIMAL-100 bodies not found at {UNIMAL100} (CI has ../shared)")
    return UNIMAL100


@pytest.fixture(scope="session")
def unimal_files(unimal_dir: Path) -> list[Path]:
    return sorted((unimal_dir / "xml").glob("*.xml"))


@pytest.fixture(scope="session")
def trained_rover(tmp_path_factory):
    """A short seeded PPO run on the wheeled rover and the biped: (run folder, mean forward speed of
    the deterministic policy before training, after training)."""
    import jax

    from metamorph.ppo import PPOConfig
    from metamorph.train import TrainConfig, Trainer, evaluate_policy
    from metamorph.vocabulary import load_part_plugins

    load_part_plugins([EXAMPLES.parent / "parts" / "wheel.py"])
    run = tmp_path_factory.mktemp("rover") / "run"
    config = TrainConfig(
        bodies=f"{EXAMPLES / 'wheelbot.xml'},{EXAMPLES / 'biped.xml'}",
        total_steps=40 * 16 * 32,
        num_envs=16,
        unroll_length=32,
        run_dir=run,
        checkpoint_every=1000,
        nthread=1,
        episode_length=100,
        sampling="uniform",
        ppo=PPOConfig(learning_rate=1e-3, epochs=4, num_minibatches=2),
    )
    trainer = Trainer(config, progress=False)
    obs = trainer.env.reset(seed=0)
    untrained = trainer.init_state(obs, jax.random.split(jax.random.PRNGKey(config.seed))[1])
    before = float(evaluate_policy(trainer, untrained, steps=100).mean())
    trainer = Trainer(config, progress=False)
    trainer.run()
    after = float(evaluate_policy(trainer, trainer.state, steps=100).mean())
    return run, before, after
