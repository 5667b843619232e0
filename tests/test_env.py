"""The batched environment: observation parity with the tokenizer, rewards, episode ends, terrain,
determinism, divergence, bad actions, sampling, and the Gymnasium wrapper."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from conftest import EXAMPLES
from metamorph.env import VecEnv, task_config
from metamorph.env.gym import MorphologyEnv
from metamorph.env.tasks import make_terrain
from metamorph.errors import MetamorphError
from metamorph.morphology import morphology_from_xml
from metamorph.observation import CLOCK_PERIODS, RECENT_VELOCITY_SECONDS
from metamorph.tokens import PROPRIO_FEATURES, proprioception, static_columns


@pytest.fixture(scope="module")
def bodies(unimal_files):
    return unimal_files[:6]


def _random_actions(env: VecEnv, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1, 1, size=(env.num_envs, env.max_tokens))


@pytest.mark.parametrize("frame", ["torso", "world"])
def test_observations_equal_the_tokenizer(bodies, frame):
    env = VecEnv(bodies, "flat", num_envs=8, nthread=2, sampling="uniform", frame=frame)
    obs = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(15):
        obs, *_ = env.step(_random_actions(env, rng))
    for i in range(env.num_envs):
        entry = env.bodies[env.body_ids[i]]
        n = entry.tokens.num_tokens
        np.testing.assert_array_equal(obs["static"][i, :n], entry.tokens.static_features)
        np.testing.assert_array_equal(obs["part_ids"][i, :n], entry.tokens.part_ids)
        assert obs["token_mask"][i].sum() == n and not obs["token_mask"][i, n:].any()
        np.testing.assert_array_equal(obs["act_mask"][i, :n], entry.tokens.act_mask)
        expected = proprioception(entry.tokens, env.models[i], env.datas[i], frame)
        np.testing.assert_allclose(obs["proprio"][i, :n], expected, atol=2e-5, rtol=1e-5)
        if frame == "world":  # a free root's velocity coordinates are the torso's world velocity
            linvel = PROPRIO_FEATURES["body_linvel"]
            np.testing.assert_allclose(obs["proprio"][i, 0, linvel], env.datas[i].qvel[:3], atol=2e-5, rtol=1e-5)
        assert (obs["proprio"][i, n:] == 0).all() and (obs["static"][i, n:] == 0).all()


@pytest.mark.parametrize("task", ["flat", "variable_terrain"])
def test_observations_follow_the_one_schema(bodies, task):
    """Every field of `metamorph.observation` in its shape and dtype, at reset and after steps, and
    the Gymnasium wrapper's spaces hold its observations."""
    from metamorph.env.gym import MorphologyEnv
    from metamorph.observation import check_observation

    env = VecEnv(bodies[:2], task, num_envs=2, nthread=1, sampling="uniform")
    obs = env.reset(seed=0)
    check_observation(obs, env.max_tokens, env.task.patch_size)
    obs, *_ = env.step(_random_actions(env, np.random.default_rng(0)))
    check_observation(obs, env.max_tokens, env.task.patch_size)
    env.close()
    single = MorphologyEnv(bodies[0], task)
    observation, _ = single.reset(seed=0)
    assert single.observation_space.contains(observation)
    single.close()


def test_reward_is_torso_displacement_over_time(bodies):
    env = VecEnv(bodies, "flat", num_envs=4, nthread=1)
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(10):
        before = np.array(
            [d.xpos[env.bodies[b].tokens.root_body, 0] for d, b in zip(env.datas, env.body_ids, strict=True)]
        )
        _, reward, terminated, truncated, _ = env.step(_random_actions(env, rng))
        after = np.array(
            [d.xpos[env.bodies[b].tokens.root_body, 0] for d, b in zip(env.datas, env.body_ids, strict=True)]
        )
        live = ~(terminated | truncated)
        np.testing.assert_allclose(reward[live], ((after - before) / env.control_dt)[live], rtol=1e-5, atol=1e-5)
    assert env.control_dt == pytest.approx(0.02)


def _random_steps(bodies, task, seed: int, steps: int):
    """(env, reward, reward terms) after each of ``steps`` random-torque steps of 4 slots."""
    env = VecEnv(bodies, task, num_envs=4, nthread=1)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        _, reward, _, _, info = env.step(_random_actions(env, rng))
        yield env, reward, info["reward_terms"]


def test_speed_cap_pays_forward_velocity_up_to_the_cap(bodies):
    """With a cap, each step's reward is min(torso velocity, cap) plus the alive bonus, and the
    `speed_cap` term holds what the cap took back; without one that term is zero."""
    task = dataclasses.replace(task_config("flat"), speed_cap=0.05, alive_bonus=0.1, fall_fraction=0.0)
    capped = 0
    for _, reward, terms in _random_steps(bodies, task, seed=1, steps=10):
        velocity = terms["forward_velocity"]
        np.testing.assert_allclose(reward, np.minimum(velocity, 0.05) + 0.1, atol=1e-12)
        np.testing.assert_allclose(terms["speed_cap"], -np.maximum(velocity - 0.05, 0.0), atol=1e-12)
        capped += int((velocity > 0.05).sum())
    assert capped > 0  # random torques do push some torsos past the cap
    assert not VecEnv(bodies, "flat", num_envs=2, nthread=1).task.speed_cap
    with pytest.raises(MetamorphError, match="speed_cap must be ≥ 0"):
        dataclasses.replace(task_config("flat"), speed_cap=-1.0)


def test_tilt_penalty_costs_one_minus_cos_of_the_torso_tilt(bodies):
    """The `tilt` term is −penalty × (1 − cos θ), θ between the torso's z axis (MuJoCo's own
    rotation matrix) and the world's up; it is zero without a penalty."""
    task = dataclasses.replace(task_config("flat"), tilt_penalty=2.0, fall_fraction=0.0)
    tilted = 0
    for env, reward, terms in _random_steps(bodies, task, seed=2, steps=15):
        torso_up = np.array(
            [d.xmat[env.bodies[b].tokens.root_body, 8] for d, b in zip(env.datas, env.body_ids, strict=True)]
        )
        np.testing.assert_allclose(terms["tilt"], -2.0 * (1.0 - torso_up), atol=1e-9)
        np.testing.assert_allclose(reward, terms["forward_velocity"] + terms["tilt"], atol=1e-12)
        tilted += int((1.0 - torso_up > 1e-3).sum())
    assert tilted > 0  # random torques do tip some torsos
    for _, _, terms in _random_steps(bodies, task_config("flat"), seed=0, steps=1):
        assert not terms["tilt"].any()
    with pytest.raises(MetamorphError, match="tilt_penalty must be ≥ 0"):
        dataclasses.replace(task_config("flat"), tilt_penalty=-1.0)


def test_control_cost_charges_the_mean_squared_control_of_each_bodys_motors(bodies):
    """The `control` term is −cost × the mean over a body's motors of its squared control, read
    back from MuJoCo's own `ctrl` (clipped to [-1, 1]); zero without a cost, and with it the reward
    is still the sum of the terms."""
    task = dataclasses.replace(task_config("flat"), control_cost=0.5, fall_fraction=0.0)
    for env, reward, terms in _random_steps(bodies, task, seed=3, steps=5):
        applied = np.array([np.mean(np.square(d.ctrl)) for d in env.datas])
        assert applied.min() > 0.01  # random torques in [-1, 1]: something is paid
        np.testing.assert_allclose(terms["control"], -0.5 * applied, rtol=1e-6)
        np.testing.assert_allclose(reward, terms["forward_velocity"] + terms["control"], atol=1e-6)
    for _, _, terms in _random_steps(bodies, task_config("flat"), seed=0, steps=1):
        assert not terms["control"].any()
    with pytest.raises(MetamorphError, match="control_cost must be ≥ 0"):
        dataclasses.replace(task_config("flat"), control_cost=-1.0)


PLANAR_BODY = """
<mujoco>
  <worldbody>
    <body name="torso" pos="0 0 0.3">
      <joint name="rootx" type="slide" axis="1 0 0"/>
      <joint name="rootz" type="slide" axis="0 0 1"/>
      <joint name="rooty" type="hinge" axis="0 1 0"/>
      <geom type="capsule" fromto="-0.1 0 0 0.1 0 0" size="0.05"/>
      <body name="leg" pos="0.1 0 0">
        <joint name="hip" type="hinge" axis="0 1 0" range="-60 60"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.2" size="0.04"/>
      </body>
    </body>
  </worldbody>
  <actuator><motor joint="hip" gear="10" ctrlrange="-1 1"/></actuator>
</mujoco>
"""


def _yaw(quat: np.ndarray) -> float:
    w, x, y, z = quat
    return float(np.degrees(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))))


def test_start_yaw_turns_free_bodies_within_its_range_and_leaves_planar_ones(bodies):
    """With ``start_yaw``, each reset turns a free-floating root about the vertical by an angle
    within ± the limit (the same angles for the same seed); the tilt and the joints stay as without
    it, a body on a planar base keeps its heading, and an out-of-range limit is refused."""
    planar = morphology_from_xml(PLANAR_BODY, name="planar")
    task = dataclasses.replace(task_config("flat"), start_yaw=90.0, reset_noise=0.0)

    def start(task, seed):
        env = VecEnv([*bodies[:2], planar], task, num_envs=24, nthread=1, assignment=np.arange(24) % 3)
        env.reset(seed=seed)
        return env, [d.qpos.copy() for d in env.datas]

    env, turned = start(task, seed=3)
    _, again = start(task, seed=3)
    _, plain = start(dataclasses.replace(task, start_yaw=0.0), seed=3)
    yaws = []
    for i, entry in enumerate(env.bodies[b] for b in env.body_ids):
        if entry.free_quat_adr is None:  # the planar body: its file's pose, exactly
            assert entry.morphology.name == "planar"
            np.testing.assert_array_equal(turned[i], plain[i])
            continue
        q = slice(entry.free_quat_adr, entry.free_quat_adr + 4)
        yaw = _yaw(turned[i][q]) - _yaw(plain[i][q])
        yaws.append((yaw + 180) % 360 - 180)
        # a turn about the vertical: the torso's tilt and every joint are as they were
        tilt = lambda quat: quat[1] ** 2 + quat[2] ** 2  # noqa: E731
        assert tilt(turned[i][q]) == pytest.approx(tilt(plain[i][q]), abs=1e-9)
        np.testing.assert_array_equal(turned[i][entry.noise_qpos], plain[i][entry.noise_qpos])
    assert len(yaws) > 10 and all(abs(y) <= 90 + 1e-6 for y in yaws)
    assert max(yaws) - min(yaws) > 90  # the draws spread over the range
    for a, b in zip(turned, again, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(MetamorphError, match="start_yaw must be in \\[0, 180\\]"):
        dataclasses.replace(task_config("flat"), start_yaw=270.0)


def test_truncation_after_episode_length(bodies):
    task = dataclasses.replace(task_config("flat"), episode_length=5, fall_fraction=0.0)
    env = VecEnv(bodies, task, num_envs=4, nthread=1)
    env.reset(seed=2)
    zeros = np.zeros((4, env.max_tokens))
    for step in range(1, 6):
        _, _, terminated, truncated, info = env.step(zeros)
        assert not terminated.any()
        assert truncated.all() == (step == 5)
    assert (info["episode_length"] == 5).all()
    assert "final_obs" in info and (env._steps == 0).all()  # every slot started a new episode


def test_termination_when_the_torso_falls(bodies):
    """With the fall line at 99 % of the start height, sagging under zero torque ends episodes."""
    task = dataclasses.replace(task_config("flat"), fall_fraction=0.99)
    env = VecEnv(bodies, task, num_envs=6, nthread=1, autoreset=False)
    env.reset(seed=3)
    start = env._init_height.copy()
    ended = np.zeros(6, bool)
    for _ in range(50):
        obs, _, terminated, truncated, _ = env.step(np.zeros((6, env.max_tokens)))
        ended |= terminated
        assert not truncated.any()
        torso = obs["proprio"][:, 0, 4]
        assert (torso[terminated] < 0.99 * start[terminated]).all()
    assert ended.sum() >= 3


def test_a_robot_starts_in_its_standing_pose_just_above_the_floor():
    from test_morphology import KNEELING_LEG

    keyframe = '<keyframe><key name="home" qpos="0 0 0.4 1 0 0 0 0.3 -1.5"/></keyframe>'
    morph = morphology_from_xml(KNEELING_LEG.format(keyframe=keyframe), name="leg")
    task = dataclasses.replace(task_config("flat"), reset_noise=0.0)
    env = VecEnv([morph], task, num_envs=2, nthread=1)
    env.reset(seed=0)
    model, data = env.models[0], env.datas[0]
    for name, value in (("hip", 0.3), ("knee", -1.5)):
        assert data.qpos[model.jnt_qposadr[model.joint(name).id]] == pytest.approx(value)
    robot = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]
    lowest = min(data.geom_xpos[g][2] - np.abs(data.geom_xmat[g].reshape(3, 3)[2]) @ model.geom_aabb[g, 3:]
                 for g in robot)  # fmt: skip
    assert lowest == pytest.approx(0.002, abs=1e-6)  # START_CLEARANCE, in the standing pose


@pytest.mark.parametrize("task", ["variable_terrain", "obstacles"])
def test_terrain_patch_shows_the_ground_around_the_robot(task, bodies):
    env = VecEnv(bodies[:2], task, num_envs=3, nthread=1)
    obs = env.reset(seed=4)
    rng = np.random.default_rng(4)
    for _ in range(5):
        obs, *_ = env.step(_random_actions(env, rng))
    cfg = env.task
    assert obs["terrain"].shape == (3, cfg.patch_size)
    forward = np.linspace(*cfg.patch_forward, cfg.patch_shape[0])
    lateral = np.linspace(*cfg.patch_lateral, cfg.patch_shape[1])
    for i in range(3):
        data, root = env.datas[i], env.bodies[env.body_ids[i]].tokens.root_body
        heading = data.xmat[root].reshape(3, 3)[:, 0]
        yaw = np.arctan2(heading[1], heading[0])
        terrain = env._terrains[env.terrain_ids[i]]
        ground = mujoco.MjSpec()  # the ground alone, so rays cannot hit the robot
        terrain.add_to(ground, 1.0)
        ground_model = ground.compile()
        ground_data = mujoco.MjData(ground_model)
        mujoco.mj_forward(ground_model, ground_data)
        expected = []
        for f in forward:
            for s in lateral:
                x = data.xpos[root, 0] + np.cos(yaw) * f - np.sin(yaw) * s
                y = data.xpos[root, 1] + np.sin(yaw) * f + np.cos(yaw) * s
                # the ground MuJoCo collides with, found by a ray from above
                geom = np.zeros(1, np.int32)
                start = np.array([x, y, 5.0])
                dist = mujoco.mj_ray(ground_model, ground_data, start, np.array([0, 0, -1.0]), None, 1, -1, geom)
                assert dist > 0
                expected.append(5.0 - dist - data.xpos[root, 2])
                assert terrain.height_at(np.array([x]), np.array([y]))[0] == pytest.approx(5.0 - dist, abs=1e-6)
        np.testing.assert_allclose(obs["terrain"][i], expected, atol=1e-4)


def test_variable_terrain_is_not_flat():
    heights = make_terrain(task_config("variable_terrain"), np.random.default_rng(0)).heights
    assert heights.max() - heights.min() > 0.2
    assert (heights[:16] == 0).all()  # flat start from x = -2 to 2


def test_same_seed_same_trajectories(bodies):
    def run(seed: int):
        env = VecEnv(bodies, "variable_terrain", num_envs=5, nthread=2)
        obs = [env.reset(seed=seed)["proprio"]]
        rng = np.random.default_rng(7)
        for _ in range(20):
            obs.append(env.step(_random_actions(env, rng))[0]["proprio"])
        return np.stack(obs), env.body_ids.copy()

    a, bodies_a = run(5)
    b, bodies_b = run(5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bodies_a, bodies_b)
    c, _ = run(6)
    assert not np.array_equal(a, c)


def test_static_noise_is_drawn_per_episode_on_real_tokens_and_resumes_exactly(bodies, tmp_path):
    """``static_noise``: each episode's tokens describe the body up to N(0, σ) in every static
    feature, fixed through the episode, redrawn at the next; padding stays zero; `get_state` /
    `set_state` continue the same draws; a negative σ is refused before a run folder is written."""
    from metamorph.train import TrainConfig, Trainer

    task = dataclasses.replace(task_config("flat"), episode_length=6, fall_fraction=0.0)
    sigma = 0.05
    env = VecEnv(bodies, task, num_envs=4, nthread=1, static_noise=sigma)
    obs = env.reset(seed=1)
    zeros = np.zeros((4, env.max_tokens))
    first = obs["static"].copy()
    for _ in range(5):  # the same draws all episode
        obs, *_ = env.step(zeros)
        np.testing.assert_array_equal(obs["static"], first)
    deviations = []
    for i in range(env.num_envs):
        entry = env.bodies[env.body_ids[i]]
        n = entry.tokens.num_tokens
        deviations.append((first[i, :n] - entry.tokens.static_features).ravel())
        assert (first[i, n:] == 0).all()
    deviations = np.concatenate(deviations)
    assert deviations.std() == pytest.approx(sigma, rel=0.2) and abs(deviations.mean()) < 0.02
    saved = env.get_state()
    obs, *_ = env.step(zeros)  # the time limit: every slot starts a new episode with new draws
    assert not np.allclose(obs["static"][obs["token_mask"]], first[obs["token_mask"]])
    after = [env.step(zeros)[0]["static"] for _ in range(7)]
    restored = VecEnv(bodies, task, num_envs=4, nthread=1, static_noise=sigma)
    restored.reset(seed=1)
    restored.set_state(saved)
    for expected in [obs["static"], *after]:
        np.testing.assert_array_equal(restored.step(zeros)[0]["static"], expected)
    # noise on chosen feature groups only (`TrainConfig.static_noise_features`)
    centres = static_columns(("com_pos", "link_pos"))
    assert centres.sum() == 6
    some = VecEnv(bodies, task, num_envs=4, nthread=1, static_noise=sigma * centres)
    obs = some.reset(seed=1)
    clean = np.stack([some.bodies[b].rows["static"] for b in some.body_ids])
    changed = (obs["static"] != clean).any(axis=(0, 1))
    assert changed.sum() >= 5 and not changed[centres == 0].any()
    with pytest.raises(MetamorphError, match="static_noise must be ≥ 0"):
        VecEnv(bodies, task, num_envs=4, static_noise=-1.0)
    with pytest.raises(MetamorphError, match=r"unknown static feature.*shape_center with largest"):
        static_columns(("shape_center",))
    with pytest.raises(MetamorphError, match="--static-noise must be ≥ 0"):  # before anything is written
        Trainer(TrainConfig(static_noise=-0.01, run_dir=tmp_path / "run"), progress=False)
    with pytest.raises(MetamorphError, match=r"unknown static feature.*shape_center"):
        Trainer(TrainConfig(static_noise=0.01, static_noise_features=("shape_center",), run_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_last_ctrl_is_what_each_motor_received_and_resumes_exactly(bodies):
    """``last_ctrl``: the clipped control each token's motor got at the last step, read back from
    MuJoCo's own ``ctrl``; 0 on unactuated and padding tokens and after a reset (in ``final_obs``
    the ending step's controls); `set_state` restores it from the saved controls."""
    task = dataclasses.replace(task_config("flat"), episode_length=4, fall_fraction=0.0)
    env = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    obs = env.reset(seed=3)
    assert (obs["last_ctrl"] == 0).all()
    rng = np.random.default_rng(1)
    for _ in range(3):
        actions = 1.5 * _random_actions(env, rng)  # some beyond the motors' range
        obs, *_ = env.step(actions)
        assert obs["last_ctrl"].dtype == np.float32
        np.testing.assert_array_equal(obs["last_ctrl"][~obs["act_mask"]], 0.0)
        expected = np.clip(actions, -1, 1)[obs["act_mask"]]
        np.testing.assert_allclose(obs["last_ctrl"][obs["act_mask"]], expected, rtol=1e-6)
        for i in range(env.num_envs):  # the same numbers MuJoCo stepped with
            model = env.models[i]
            tokens = env.bodies[env.body_ids[i]].tokens
            motors = tokens.actuator_ids[tokens.act_mask]
            np.testing.assert_allclose(
                obs["last_ctrl"][i, np.flatnonzero(tokens.act_mask)], env.datas[i].ctrl[motors], rtol=1e-6
            )
            assert model.nu == len(motors)
    saved = env.get_state()
    obs, _, _, truncated, info = env.step(rng.uniform(-1, 1, size=(5, env.max_tokens)))
    assert truncated.all() and (obs["last_ctrl"] == 0).all()  # every slot starts afresh
    assert (info["final_obs"]["last_ctrl"] != 0).any()
    restored = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    restored.reset(seed=3)
    again = restored.set_state(saved)
    before = env.set_state(saved)
    np.testing.assert_array_equal(again["last_ctrl"], before["last_ctrl"])
    assert (again["last_ctrl"] != 0).any()


def test_recent_velocity_averages_what_the_reward_pays_and_resumes_exactly(bodies):
    """``recent_velocity``: the exponential average (time constant `RECENT_VELOCITY_SECONDS`) of the
    forward velocity the reward's term reports, the same on every real token, 0 on padding and after
    a reset (``final_obs`` keeps the ending step's), restored exactly by `set_state`."""
    task = dataclasses.replace(task_config("flat"), episode_length=6, fall_fraction=0.0)
    env = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    obs = env.reset(seed=4)
    assert obs["recent_velocity"].dtype == np.float32 and (obs["recent_velocity"] == 0).all()
    rate = task.control_dt / RECENT_VELOCITY_SECONDS
    expected = np.zeros(env.num_envs)
    rng = np.random.default_rng(2)
    for _ in range(5):
        obs, _, _, _, info = env.step(_random_actions(env, rng))
        expected += rate * (info["reward_terms"]["forward_velocity"] - expected)
        mask = obs["token_mask"]
        np.testing.assert_allclose(obs["recent_velocity"], np.where(mask, expected[:, None], 0.0), rtol=1e-5, atol=1e-7)
    assert np.abs(expected).min() > 0  # every body moved a little
    saved = env.get_state()
    obs, _, _, truncated, info = env.step(_random_actions(env, rng))
    assert truncated.all() and (obs["recent_velocity"] == 0).all()  # every slot starts afresh
    last = expected + rate * (info["reward_terms"]["forward_velocity"] - expected)
    final = info["final_obs"]
    np.testing.assert_allclose(final["recent_velocity"][:, 0], last, rtol=1e-5, atol=1e-7)
    restored = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    restored.reset(seed=4)
    again = restored.set_state(saved)
    np.testing.assert_array_equal(again["recent_velocity"], env.set_state(saved)["recent_velocity"])
    np.testing.assert_allclose(again["recent_velocity"][:, 0], expected, rtol=1e-5, atol=1e-7)
    older = {k: v for k, v in saved.items() if k != "recent_velocity"}  # saved before the field existed
    assert (restored.set_state(older)["recent_velocity"] == 0).all()


def test_previous_proprio_is_the_last_steps_and_resumes_exactly(bodies):
    """``previous_proprio``: the ``proprio`` the policy saw when it chose this step's actions; the
    current one after a reset (``final_obs`` keeps the ending step's history); zero on padding;
    restored exactly by `set_state`, and from a state saved before the field existed, the current
    proprioception (the history restarts)."""
    task = dataclasses.replace(task_config("flat"), episode_length=4, fall_fraction=0.0)
    env = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    obs = env.reset(seed=6)
    assert obs["previous_proprio"].dtype == np.float32
    np.testing.assert_array_equal(obs["previous_proprio"], obs["proprio"])
    rng = np.random.default_rng(3)
    for _ in range(3):
        last = obs["proprio"]
        obs, *_ = env.step(_random_actions(env, rng))
        np.testing.assert_array_equal(obs["previous_proprio"], last)
        assert np.abs(obs["proprio"] - last).max() > 1e-3  # the bodies moved: history is not the present
    np.testing.assert_array_equal(obs["previous_proprio"][~obs["token_mask"]], 0.0)
    saved, last = env.get_state(), obs["proprio"]
    obs, _, _, truncated, info = env.step(_random_actions(env, rng))
    assert truncated.all()
    np.testing.assert_array_equal(obs["previous_proprio"], obs["proprio"])  # every slot starts afresh
    np.testing.assert_array_equal(info["final_obs"]["previous_proprio"], last)
    restored = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    restored.reset(seed=6)
    again = restored.set_state(saved)
    np.testing.assert_array_equal(again["previous_proprio"], env.set_state(saved)["previous_proprio"])
    np.testing.assert_array_equal(again["proprio"], last)
    *_, info = restored.step(np.zeros((5, env.max_tokens)))  # the episodes' last step
    np.testing.assert_array_equal(info["final_obs"]["previous_proprio"], last)
    older = {k: v for k, v in saved.items() if k != "previous_proprio"}  # saved before the field existed
    restarted = restored.set_state(older)
    np.testing.assert_array_equal(restarted["previous_proprio"], restarted["proprio"])
    *_, info = restored.step(np.zeros((5, env.max_tokens)))
    np.testing.assert_array_equal(info["final_obs"]["previous_proprio"], restarted["proprio"])


def test_clock_is_the_episodes_time_on_every_token_and_restarts_with_it(bodies):
    """``clock``: sine and cosine of 2π × the episode's time over each of `CLOCK_PERIODS`, the same
    on every real token and 0 on padding; (0, 1) after a reset, and read again from a restored state."""
    task = dataclasses.replace(task_config("flat"), episode_length=6, fall_fraction=0.0)
    env = VecEnv(bodies, task, num_envs=5, nthread=2, sampling="uniform")
    obs = env.reset(seed=4)
    periods = np.asarray(CLOCK_PERIODS)
    assert obs["clock"].shape == (*obs["token_mask"].shape, 2 * len(periods)) and obs["clock"].dtype == np.float32

    def expected(steps: int, token_mask: np.ndarray) -> np.ndarray:
        phase = 2 * np.pi * steps * task.control_dt / periods
        row = np.concatenate([np.sin(phase), np.cos(phase)])
        return np.where(token_mask[..., None], row, 0.0)

    np.testing.assert_allclose(obs["clock"], expected(0, obs["token_mask"]), atol=1e-7)
    rng = np.random.default_rng(2)
    for step in range(1, 6):
        obs, *_ = env.step(_random_actions(env, rng))
        np.testing.assert_allclose(obs["clock"], expected(step, obs["token_mask"]), atol=1e-6)
    assert np.abs(obs["clock"][obs["token_mask"]][:, 0]).min() > 0.1  # it has moved from sin 0
    saved, mask = env.get_state(), obs["token_mask"]
    obs, _, _, truncated, info = env.step(_random_actions(env, rng))
    assert truncated.all()
    np.testing.assert_allclose(obs["clock"], expected(0, obs["token_mask"]), atol=1e-7)  # every slot starts afresh
    np.testing.assert_allclose(info["final_obs"]["clock"], expected(6, mask), atol=1e-6)
    np.testing.assert_allclose(env.set_state(saved)["clock"], expected(5, mask), atol=1e-6)


EXPLOSIVE = """<mujoco model="explosive"><worldbody><body name="torso" pos="0 0 0.3"><freejoint/>
  <geom type="sphere" size="0.1" density="1000"/>
  <body name="flap" pos="0.1 0 0"><joint name="hinge" axis="0 1 0" range="-3 3" armature="0" damping="0"/>
    <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.01" mass="1e-6"/></body>
</body></worldbody><actuator><motor joint="hinge" gear="1e12"/></actuator></mujoco>"""


def test_a_diverging_body_is_reset_and_counted(bodies):
    explosive = morphology_from_xml(EXPLOSIVE, name="explosive")
    env = VecEnv([explosive, bodies[0]], "flat", num_envs=6, nthread=2, sampling="uniform")
    env.reset(seed=8)
    rng = np.random.default_rng(8)
    seen = False
    for _ in range(40):
        obs, reward, terminated, _, info = env.step(_random_actions(env, rng))
        assert np.isfinite(obs["proprio"]).all() and np.isfinite(reward).all()
        if info["diverged"].any():
            seen = True
            assert terminated[info["diverged"]].all()
            assert (info["body_id"][info["diverged"]] == 0).all()  # only the explosive body
    assert seen and info["diverged_total"] > 0


def test_bad_actions_get_clear_errors(bodies):
    env = VecEnv(bodies, "flat", num_envs=2, nthread=1)
    env.reset(seed=0)
    with pytest.raises(MetamorphError, match=r"actions must have shape \(num_envs, max_tokens\)"):
        env.step(np.zeros((2, 3)))
    actions = np.zeros((2, env.max_tokens))
    actions[1, 1] = np.nan
    with pytest.raises(MetamorphError, match=r"NaN or infinite in 1 of \d+ slots \[1\]"):
        env.step(actions)
    actions[1, 1] = 0.0
    actions[1, -1] = np.nan  # a padding token: ignored
    env.step(actions)


def test_balanced_sampling_favours_bodies_that_fall_early(bodies):
    env = VecEnv(bodies[:3], "flat", num_envs=1, nthread=1)
    env.reset(seed=0)
    env._episodes[:] = 5
    env._mean_length[:] = [100.0, 200.0, 400.0]
    env._cdf = None
    draws = np.bincount([env._draw_body() for _ in range(7000)], minlength=3) / 7000
    np.testing.assert_allclose(draws, np.array([4, 2, 1]) / 7, atol=0.02)
    uniform = VecEnv(bodies[:3], "flat", num_envs=1, nthread=1, sampling="uniform")
    uniform.reset(seed=0)
    uniform._episodes[:] = 5
    uniform._mean_length[:] = [100.0, 200.0, 400.0]
    uniform._cdf = None
    draws = np.bincount([uniform._draw_body() for _ in range(6000)], minlength=3) / 6000
    np.testing.assert_allclose(draws, [1 / 3] * 3, atol=0.02)


def test_body_weights_scale_each_bodys_sampling_chance(bodies):
    """A prior weight per body multiplies its chance, under uniform and balanced sampling alike, and
    balanced sampling then gives each body samples in proportion to its weight."""
    weights = [0.6, 0.3, 0.1]
    uniform = VecEnv(bodies[:3], "flat", num_envs=1, nthread=1, sampling="uniform", body_weights=weights)
    uniform.reset(seed=0)
    draws = np.bincount([uniform._draw_body() for _ in range(8000)], minlength=3) / 8000
    np.testing.assert_allclose(draws, weights, atol=0.02)
    balanced = VecEnv(bodies[:3], "flat", num_envs=1, nthread=1, body_weights=weights)
    balanced.reset(seed=0)
    balanced._episodes[:] = 5
    balanced._mean_length[:] = [100.0, 200.0, 400.0]
    balanced._cdf = None
    draws = np.bincount([balanced._draw_body() for _ in range(8000)], minlength=3) / 8000
    chance = np.array(weights) / [100.0, 200.0, 400.0]
    np.testing.assert_allclose(draws, chance / chance.sum(), atol=0.02)
    samples = draws * [100.0, 200.0, 400.0]  # expected steps per body: in proportion to its weight
    np.testing.assert_allclose(samples / samples.sum(), weights, atol=0.03)
    for bad in ([1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, np.nan, 1.0]):
        with pytest.raises(MetamorphError, match="body_weights must be one weight ≥ 0 per body"):
            VecEnv(bodies[:3], "flat", num_envs=1, nthread=1, body_weights=bad)


def test_one_layout_for_all_bodies(bodies):
    env = VecEnv([*bodies, EXAMPLES / "biped.urdf"], "flat", num_envs=4, nthread=1)
    obs = env.reset(seed=0)
    assert env.max_tokens == max(e.tokens.num_tokens for e in env.bodies)
    assert obs["proprio"].shape == (4, env.max_tokens, 15)
    with pytest.raises(MetamorphError, match="tokens exceed max_tokens=3"):
        VecEnv(bodies, "flat", num_envs=1, max_tokens=3)


@pytest.mark.parametrize("task", ["flat", "variable_terrain"])
def test_gymnasium_wrapper_passes_env_checker(task, unimal_files):
    env = MorphologyEnv(unimal_files[0], task)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["proprio"].shape == (12, 15)
    _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)


def test_vecenv_is_the_mujoco_backend_and_unknown_backends_are_refused(bodies, tmp_path):
    """`VecEnv` implements the backend protocol that training, evaluation and rendering rely on, and
    `metamorph train --backend` refuses a name it does not know before writing anything."""
    from metamorph.env.backend import BACKENDS, SimulationBackend, make_env
    from metamorph.errors import MetamorphError
    from metamorph.train import TrainConfig, Trainer

    env = make_env("mujoco", bodies[:1], "flat", 2, nthread=1)
    env.reset(seed=0)
    assert isinstance(env, SimulationBackend) and BACKENDS["mujoco"] is VecEnv
    env.close()
    with pytest.raises(MetamorphError, match="unknown simulation backend 'mjx'; known: mujoco"):
        make_env("mjx", bodies[:1], "flat", 2)
    with pytest.raises(MetamorphError, match="unknown --backend 'warp'"):
        Trainer(TrainConfig(backend="warp", run_dir=tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()
