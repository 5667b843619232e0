"""A batch of simulations on native MuJoCo where every slot holds its own body.

Why threads over ``mj_step``: we measured the candidates on UNIMAL-100 bodies (2 cores, 4
substeps, 256 slots). Two Python threads each looping ``mj_step`` over half the slots ran 14.6k
env steps/s; ``mujoco.batch.Batch`` with 2 C threads ran 14.9k on 256 copies of *one* body, and
cannot hold bodies of different layouts at all (it needs one MjData layout per batch; thousands
of distinct bodies means a batch per body). ``mj_step`` releases the GIL, so the loop costs little
over C, and it takes any mix of bodies. ``bench/env_throughput.py`` measures it again.

Observations are computed in C by MuJoCo sensors added to each body (`add_proprio_sensors`), in
the tokenizer's layout (`metamorph.tokens.PROPRIO_FEATURES`): a control step is ``mj_step2`` (the
second half of a step, from the stages already computed), ``substeps - 1`` full steps, then
``mj_step1``, so sensors describe the new state at no extra cost. The numpy work after stepping is
vectorised over the batch: joint positions scaled over their ranges, quaternion signs, masks.

Contract (DESIGN §3): ``reset(seed) -> obs``; ``step(actions[B, T]) -> obs, reward[B],
terminated[B], truncated[B], info``. A slot whose episode ends is reset at once (with a body
drawn anew); ``info["final_obs"]`` holds the observation it ended on, for bootstrapping.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from metamorph.env.tasks import (
    FLAT,
    TaskConfig,
    Terrain,
    add_scenery,
    make_terrain,
    patch_offsets,
    reward_terms,
    task_config,
)
from metamorph.errors import MetamorphError
from metamorph.morphology import START_CLEARANCE, Morphology, floor_clearance_height, load_morphology
from metamorph.observation import (
    CLOCK_PERIODS,
    RECENT_VELOCITY_LIMIT,
    RECENT_VELOCITY_SECONDS,
    ObservationFrame,
    check_frame,
)
from metamorph.tokens import PROPRIO_FEATURES, JointTokens, pad_tokens, static_layout, tokenize
from metamorph.vocabulary import Vocabulary

ROOT_SENSORS = 13  # torso: position (3), orientation (4), linear and angular velocity (3 + 3)
TOKEN_SENSORS = PROPRIO_FEATURES.width  # a joint token: jointpos, jointvel, framepos/quat/linvel/angvel
# Each simulation's arena (MuJoCo's stack and contact buffers). Most used after 300 steps of random
# torques, measured: UNIMAL-100 67 kB on flat ground, 105 kB on variable terrain; real robots up to
# 124 kB (dm_control's humanoid_CMU). 1 MiB leaves 8× room; 8 MiB had cost ~7 MB of resident memory
# per MjData once freed heap pages were reused for arenas (4.4 GB in a default run with its spares).
ARENA_BYTES = 2**20


def add_proprio_sensors(
    spec: mujoco.MjSpec, morphology: Morphology, tokens: JointTokens, frame: ObservationFrame = "torso"
) -> None:
    """Replace the spec's sensors with the ones that compute `PROPRIO_FEATURES`, token by token.

    Layout of ``sensordata``: the root's 13 numbers, then 15 per joint token in token order, which
    is the proprioception row of that token (``frame="world"``: before positions are made relative
    to the torso's x and y in `VecEnv._observe`).

    ``frame`` (`metamorph.observation.OBSERVATION_FRAMES`): ``torso`` measures links relative to the
    torso in its frame and the root with a velocimeter and gyro; ``world`` measures all in the world."""
    check_frame(frame)
    for sensor in list(spec.sensors):
        spec.delete(sensor)
    # sensors name what they measure: give unnamed joints and bodies a name (ids follow spec order)
    for j, joint in enumerate(spec.joints):
        joint.name = joint.name or f"metamorph_joint_{j}"
    for b, body in enumerate(spec.bodies):
        body.name = body.name or f"metamorph_body_{b}"
    torso = spec.bodies[tokens.root_body].name
    site = spec.body(torso).add_site(name="metamorph_torso_imu", size=[0.01, 0.01, 0.01], group=5)
    xbody, s = mujoco.mjtObj.mjOBJ_XBODY, mujoco.mjtSensor

    def add(kind, objtype=None, objname="", reftype=None, refname=""):
        sensor = spec.add_sensor(type=kind, objname=objname, refname=refname)
        if objtype is not None:
            sensor.objtype = objtype
        if reftype is not None:
            sensor.reftype = reftype

    add(s.mjSENS_FRAMEPOS, xbody, torso)
    add(s.mjSENS_FRAMEQUAT, xbody, torso)
    if frame == "torso":
        add(s.mjSENS_VELOCIMETER, mujoco.mjtObj.mjOBJ_SITE, site.name)
        add(s.mjSENS_GYRO, mujoco.mjtObj.mjOBJ_SITE, site.name)
    else:
        add(s.mjSENS_FRAMELINVEL, xbody, torso)
        add(s.mjSENS_FRAMEANGVEL, xbody, torso)
    reference = (xbody, torso) if frame == "torso" else (None, "")
    for i in range(1, tokens.num_tokens):
        joint = spec.joints[int(tokens.joint_ids[i])].name
        body = spec.bodies[int(tokens.body_ids[i])].name
        add(s.mjSENS_JOINTPOS, mujoco.mjtObj.mjOBJ_JOINT, joint)
        add(s.mjSENS_JOINTVEL, mujoco.mjtObj.mjOBJ_JOINT, joint)
        for kind in (s.mjSENS_FRAMEPOS, s.mjSENS_FRAMEQUAT, s.mjSENS_FRAMELINVEL, s.mjSENS_FRAMEANGVEL):
            add(kind, xbody, body, *reference)


@dataclasses.dataclass
class BodyEntry:
    """Everything the environment precomputes for one body of its set, so a reset only copies rows."""

    morphology: Morphology
    tokens: JointTokens
    start_height: float  # torso height that puts the lowest point 2 mm above flat ground
    tree_distance: np.ndarray  # [T, T] hops between tokens in the token tree
    rows: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # padded per-slot rows
    noise_qpos: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    start_qpos: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))  # at noise_qpos
    noise_dof: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    noise_lo: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    noise_hi: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    free_quat_adr: int | None = None  # where a free-floating root's orientation sits in qpos (None: no free root)

    def pad(self, max_tokens: int, max_actuators: int) -> None:
        tokens, n = self.tokens, self.tokens.num_tokens
        model = self.morphology.model

        def padded(values, fill, shape_tail=(), dtype=None):
            out = np.full((max_tokens, *shape_tail), fill, dtype=dtype or np.asarray(values).dtype)
            out[:n] = values
            return out

        tree = np.zeros((max_tokens, max_tokens), np.int32)
        tree[:n, :n] = self.tree_distance
        lo, hi = tokens.pos_lo.copy(), tokens.pos_hi.copy()
        lo[0], hi[0] = 0.0, 1.0  # the root has no joint: its joint_pos column stays 0
        act_token = np.zeros(max_actuators, np.int32)
        act_token[tokens.actuator_ids[tokens.act_mask]] = np.flatnonzero(tokens.act_mask)
        body = pad_tokens(tokens, max_tokens)  # the one padding of token features and masks
        self.rows = {
            "static": body.static_features.astype(np.float32),
            "part_ids": body.part_ids.astype(np.int32),
            "token_mask": body.token_mask,
            "act_mask": body.act_mask,
            "tree_distance": tree,
            "link_token": np.concatenate([tokens.link_token, np.arange(n, max_tokens, dtype=np.int32)]),
            "lo": padded(lo, 0.0),
            "hi": padded(hi, 1.0),
            "wrap": padded(tokens.wrap, False),
            "act_token": act_token,
        }
        joints = tokens.joint_ids[1:]
        self.noise_qpos, self.noise_dof = tokens.qpos_adr[1:], tokens.dof_adr[1:]
        limited = model.jnt_limited[joints].astype(bool)
        standing = self.morphology.standing_qpos
        standing = model.qpos0 if standing is None else standing
        self.start_qpos = standing[self.noise_qpos]  # the robot's joints in its standing pose
        self.noise_lo = np.where(limited, model.jnt_range[joints, 0], -np.inf)
        self.noise_hi = np.where(limited, model.jnt_range[joints, 1], np.inf)
        free = [j for j in self.morphology.base_joints if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
        self.free_quat_adr = int(model.jnt_qposadr[free[0]]) + 3 if free else None


def tree_distances(parent: np.ndarray) -> np.ndarray:
    """Hops between every pair of tokens of a tree given by parent indices (-1 for the root)."""
    n = len(parent)
    ancestors = []
    for i in range(n):
        chain, node = [], i
        while node >= 0:
            chain.append(node)
            node = parent[node]
        ancestors.append(chain)
    depth = np.array([len(c) - 1 for c in ancestors])
    out = np.zeros((n, n), np.int32)
    for i in range(n):
        on_path = set(ancestors[i])
        for j in range(n):
            common = next(a for a in ancestors[j] if a in on_path)
            out[i, j] = depth[i] + depth[j] - 2 * depth[common]
    return out


class VecEnv:
    """``num_envs`` MuJoCo simulations stepped in parallel threads, each holding one body of ``bodies``."""

    def __init__(
        self,
        bodies: Sequence[Morphology | str | Path],
        task: TaskConfig | str = "flat",
        num_envs: int = 64,
        *,
        nthread: int | None = None,
        sampling: Literal["uniform", "balanced"] = "balanced",
        max_tokens: int | None = None,
        vocabulary: Vocabulary | None = None,
        autoreset: bool = True,
        model_cache_size: int | None = None,
        spare_data: int | None = None,
        assignment: Sequence[int] | None = None,
        scenery: bool = False,
        frame: ObservationFrame = "torso",
        link_geometry: str = "largest",
        static_noise: float | Sequence[float] = 0.0,
        body_weights: Sequence[float] | None = None,
    ):
        if not bodies:
            raise MetamorphError("VecEnv needs at least one body")
        if num_envs < 1:
            raise MetamorphError(f"num_envs must be at least 1, got {num_envs}")
        if sampling not in ("uniform", "balanced"):
            raise MetamorphError(f"sampling must be uniform or balanced, got '{sampling}'")
        self.task = task_config(task) if isinstance(task, str) else task
        # evaluation pins slot i to body assignment[i] instead of drawing bodies
        self.assignment = None if assignment is None else np.asarray(assignment, np.int64)
        if self.assignment is not None and (len(self.assignment) != num_envs or self.assignment.max() >= len(bodies)):
            raise MetamorphError("assignment must give one body index (of the bodies given) per slot")
        self.num_envs = num_envs
        self.sampling = sampling
        # a prior weight per body, multiplied into its sampling chance (`TrainConfig.part_shares`)
        self.body_weights = None if body_weights is None else np.asarray(body_weights, np.float64)
        if self.body_weights is not None and (
            self.body_weights.shape != (len(bodies),)
            or not np.all(np.isfinite(self.body_weights))
            or np.any(self.body_weights < 0)
            or self.body_weights.sum() <= 0
        ):
            raise MetamorphError(f"body_weights must be one weight ≥ 0 per body ({len(bodies)}), not all 0")
        self.autoreset = autoreset
        self.scenery = scenery  # a sky and a checkered ground, for videos (`add_scenery`)
        check_frame(frame)
        self.frame = frame  # where links' poses and velocities are measured (`add_proprio_sensors`)
        width = static_layout(link_geometry).width  # refuses an unknown link geometry before any body is loaded
        self.link_geometry = link_geometry  # how tokens read link geometry (`metamorph.tokens.tokenize`)
        # training-time randomisation of what a body's tokens say about it (`TrainConfig.static_noise`):
        # the standard deviation of the noise on each static column
        noise = np.asarray(static_noise, np.float64)
        if noise.shape not in ((), (width,)) or not np.all(noise >= 0):
            raise MetamorphError(
                f"static_noise must be ≥ 0, one number or one per static column ({width}), got {static_noise}"
            )
        self.static_noise = np.broadcast_to(noise, (width,))
        self.nthread = max(1, nthread or 2)
        self.bodies = [self._prepare(b, vocabulary) for b in bodies]
        self.max_tokens = max(e.tokens.num_tokens for e in self.bodies)
        if max_tokens is not None:
            if self.max_tokens > max_tokens:
                big = max(self.bodies, key=lambda e: e.tokens.num_tokens)
                raise MetamorphError(
                    f"{big.morphology.label}: {big.tokens.num_tokens} tokens exceed max_tokens={max_tokens}"
                )
            self.max_tokens = max_tokens
        self.max_actuators = max(e.morphology.num_actuators for e in self.bodies)
        for entry in self.bodies:
            entry.pad(self.max_tokens, self.max_actuators)
        self._sensor_width = ROOT_SENSORS + TOKEN_SENSORS * (self.max_tokens - 1)
        self._patch = patch_offsets(self.task) if self.task.has_terrain else None
        self._pool: ThreadPoolExecutor | None = None  # started by the first step, stopped by close()
        self._cache: OrderedDict[tuple[int, int], mujoco.MjModel] = OrderedDict()
        self._spares: OrderedDict[int, tuple[mujoco.MjModel, list[mujoco.MjData]]] = OrderedDict()
        self._num_spares = 0
        # spares trade memory (~0.5 MB per MjData in the binding, measured) for resets: enough for one
        # per body of the set, at most 5 per slot
        self._max_spares = spare_data if spare_data is not None else num_envs + min(len(self.bodies), 4 * num_envs)
        self._static_obs: dict[str, np.ndarray] | None = None
        self._cdf: np.ndarray | None = None  # cumulative body-sampling weights, rebuilt when they change
        self._cache_size = model_cache_size or max(2 * num_envs, len(self.bodies) if not self.task.has_terrain else 0)
        self._terrains: list[Terrain] = []
        self._episodes = np.zeros(len(self.bodies), np.int64)
        self._mean_length = np.zeros(len(self.bodies))
        self._mean_return = np.zeros(len(self.bodies))
        self.diverged_total = 0
        self._rng: np.random.Generator | None = None

    # ------------------------------------------------------------------------------------------
    # Set-up

    def _prepare(self, body: Morphology | str | Path, vocabulary: Vocabulary | None) -> BodyEntry:
        morphology = body if isinstance(body, Morphology) else load_morphology(body)
        tokens = tokenize(morphology, vocabulary, link_geometry=self.link_geometry)
        lift = floor_clearance_height(morphology.model, morphology.root_body, morphology.standing_qpos)
        return BodyEntry(
            morphology, tokens, start_height=lift + START_CLEARANCE, tree_distance=tree_distances(tokens.parent)
        )

    def _model(self, body: int, terrain: int) -> mujoco.MjModel:
        key = (body, terrain)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        entry = self.bodies[body]
        spec = entry.morphology.spec.copy()
        add_proprio_sensors(spec, entry.morphology, entry.tokens, self.frame)
        spec.option.timestep = self.task.timestep
        # UNIMAL files ask for njmax=2000 (a 203 MB arena per simulation); see ARENA_BYTES.
        spec.memory = ARENA_BYTES
        ground = self._terrains[terrain] if self.task.has_terrain else FLAT
        ground.add_to(spec, self.task.friction, material=add_scenery(spec) if self.scenery else "")
        root = spec.bodies[entry.morphology.root_body]
        root.pos = [root.pos[0], root.pos[1], entry.start_height + ground.height_at_grid(0.0, 0.0)]
        model = spec.compile()
        self._cache[key] = model
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return model

    # ------------------------------------------------------------------------------------------
    # Episodes

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start every slot afresh; the same seed gives the same bodies, terrains and noise."""
        self._rng = np.random.default_rng(seed)
        if self.task.has_terrain and not self._terrains:
            terrain_rng = np.random.default_rng([0 if seed is None else seed, 104729])
            self._terrains = [make_terrain(self.task, terrain_rng) for _ in range(self.task.num_terrains)]
            self._cache.clear()
        if not self.task.has_terrain and len(self._cache) < len(self.bodies):
            for body in range(len(self.bodies)):  # compile every body once, so stepping never waits on it
                self._model(body, 0)
        B = self.num_envs
        self.models: list[mujoco.MjModel | None] = [None] * B
        self.datas: list[mujoco.MjData | None] = [None] * B
        self.body_ids = np.zeros(B, np.int32)
        self.terrain_ids = np.zeros(B, np.int32)
        self._rows = {key: np.zeros((B, *value.shape), value.dtype) for key, value in self.bodies[0].rows.items()}
        self._static, self._part_ids = self._rows["static"], self._rows["part_ids"]
        self._token_mask, self._act_mask = self._rows["token_mask"], self._rows["act_mask"]
        self._tree, self._act_token = self._rows["tree_distance"], self._rows["act_token"]
        self._lo, self._hi, self._wrap = self._rows["lo"], self._rows["hi"], self._rows["wrap"]
        self._sensors = np.zeros((B, self._sensor_width))
        self._init_height = np.zeros(B)
        self._fall_height = np.zeros(B)  # the torso's height above ground below which a slot has fallen
        self._prev_x = np.zeros(B)
        self._steps = np.zeros(B, np.int32)
        self._returns = np.zeros(B)
        self._start_x = np.zeros(B)
        self._time = np.zeros(B)  # simulation time after the last step: MuJoCo's own reset sets it to 0
        self._last_ctrl = np.zeros((B, self.max_tokens), np.float32)  # the controls of the last step, per token
        self._recent_velocity = np.zeros(B)  # the torso's forward velocity, exponentially averaged
        # ``proprio`` of the last observation, and of the one before the current step's actions
        self._proprio = np.zeros((B, self.max_tokens, TOKEN_SENSORS), np.float32)
        self._previous_proprio = np.zeros_like(self._proprio)
        for i in range(B):
            self._reset_slot(i)
        return self._observe()

    def _draw_body(self) -> int:
        if self._cdf is None:
            n = len(self.bodies)
            if self.sampling == "uniform" or not self._episodes.any():
                weights = np.ones(n)
            else:
                # balanced (MetaMorph): chance ∝ 1 / running mean episode length; unseen bodies get the mean
                known = self._episodes > 0
                lengths = np.where(known, self._mean_length, self._mean_length[known].mean())
                weights = 1.0 / np.maximum(lengths, 1.0)
            if self.body_weights is not None:
                weights = weights * self.body_weights
            self._cdf = np.cumsum(weights / weights.sum())
        return int(min(np.searchsorted(self._cdf, self._rng.random(), side="right"), len(self.bodies) - 1))

    def _fall_threshold(self, body: int, start_height: float) -> float:
        """The torso height above the ground below which a slot holding ``body`` has fallen: the
        body's own rule (real robots) or the task's fraction of its start height."""
        own = self.bodies[body].morphology.fall_height
        return self.task.fall_fraction * start_height if own is None else own

    def _reset_slot(self, i: int) -> None:
        body = self._draw_body() if self.assignment is None else int(self.assignment[i])
        terrain = int(self._rng.integers(len(self._terrains))) if self.task.has_terrain else 0
        model = self._model(body, terrain)
        if self.models[i] is not model:
            self._release(self.models[i], self.datas[i])
            self.models[i], self.datas[i] = model, self._acquire(model)
        data = self.datas[i]
        mujoco.mj_resetData(model, data)
        entry = self.bodies[body]
        data.qpos[entry.noise_qpos] = entry.start_qpos
        noise = self.task.reset_noise
        if noise and entry.noise_qpos.size:
            qpos = data.qpos[entry.noise_qpos] + self._rng.uniform(-noise, noise, size=entry.noise_qpos.size)
            data.qpos[entry.noise_qpos] = np.clip(qpos, entry.noise_lo, entry.noise_hi)
            data.qvel[entry.noise_dof] += self._rng.normal(0.0, noise, size=entry.noise_dof.size)
        if self.task.start_yaw and entry.free_quat_adr is not None:  # drawn only when asked (random streams)
            half = 0.5 * np.radians(self._rng.uniform(-self.task.start_yaw, self.task.start_yaw))
            quat = data.qpos[entry.free_quat_adr : entry.free_quat_adr + 4]
            turned = np.empty(4)
            mujoco.mju_mulQuat(turned, np.array([np.cos(half), 0.0, 0.0, np.sin(half)]), quat)
            data.qpos[entry.free_quat_adr : entry.free_quat_adr + 4] = turned
        mujoco.mj_forward(model, data)

        self._static_obs = None
        self.body_ids[i], self.terrain_ids[i] = body, terrain
        for key, row in entry.rows.items():
            self._rows[key][i] = row
        if self.static_noise.any():  # drawn only when asked, so runs without it keep their random streams
            real = self._token_mask[i][:, None]
            self._static[i] += real * self._rng.normal(0.0, self.static_noise, self._static[i].shape)
        self._sensors[i, : model.nsensordata] = data.sensordata
        self._sensors[i, model.nsensordata :] = 0.0
        x, y, z = data.sensordata[:3]
        ground = self._terrains[terrain].height_at_grid(x, y) if self.task.has_terrain else 0.0
        self._init_height[i] = z - ground
        self._fall_height[i] = self._fall_threshold(body, self._init_height[i])
        self._prev_x[i] = self._start_x[i] = x
        self._steps[i] = 0
        self._returns[i] = 0.0
        self._time[i] = data.time
        self._last_ctrl[i] = 0.0  # mj_resetData zeroed the controls
        self._recent_velocity[i] = 0.0

    # Creating an MjData costs ~0.65 ms in the Python binding whatever the model (measured), as
    # much as ten control steps of a body; slots that change body reuse spares instead.

    def _acquire(self, model: mujoco.MjModel) -> mujoco.MjData:
        spares = self._spares.get(id(model))
        if spares is None:
            return mujoco.MjData(model)
        data = spares[1].pop()
        self._num_spares -= 1
        if not spares[1]:
            del self._spares[id(model)]  # no empty lists: eviction below always finds a spare
        return data

    def _release(self, model: mujoco.MjModel | None, data: mujoco.MjData | None) -> None:
        if model is None or data is None:
            return
        self._spares.setdefault(id(model), (model, []))[1].append(data)
        self._spares.move_to_end(id(model))
        self._num_spares += 1
        while self._num_spares > self._max_spares:
            key, (_, datas) = next(iter(self._spares.items()))
            datas.pop()
            self._num_spares -= 1
            if not datas:
                del self._spares[key]

    def _ground(self, slots: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if not self.task.has_terrain:
            return np.zeros_like(x)
        out = np.empty_like(x)
        for t in np.unique(self.terrain_ids[slots]):
            sel = self.terrain_ids[slots] == t
            out[sel] = self._terrains[t].height_at(x[sel], y[sel])
        return out

    # ------------------------------------------------------------------------------------------
    # Stepping

    def _step_slots(self, slots: range, ctrl: np.ndarray, substeps: int) -> None:
        for i in slots:
            model, data = self.models[i], self.datas[i]
            data.ctrl[:] = ctrl[i, : model.nu]
            mujoco.mj_step2(model, data)
            if substeps > 1:
                mujoco.mj_step(model, data, nstep=substeps - 1)
            mujoco.mj_step1(model, data)  # sensors now describe the new state
            self._sensors[i, : model.nsensordata] = data.sensordata
            self._time[i] = data.time

    def step(self, actions: np.ndarray):
        """Apply one torque in [-1, 1] per token (entries of unactuated and padding tokens are ignored)."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, self.max_tokens):
            raise MetamorphError(
                f"actions must have shape (num_envs, max_tokens) = {(self.num_envs, self.max_tokens)}, "
                f"got {actions.shape}"
            )
        bad = ~np.isfinite(actions) & self._act_mask
        if bad.any():
            slots = sorted(set(np.nonzero(bad)[0].tolist()))
            shown = ", ".join(map(str, slots[:8])) + (", …" if len(slots) > 8 else "")
            raise MetamorphError(f"actions are NaN or infinite in {len(slots)} of {self.num_envs} slots [{shown}]")
        clipped = np.clip(np.nan_to_num(actions), -1.0, 1.0)
        ctrl = np.take_along_axis(clipped, self._act_token, axis=1)
        # what each token's motor receives (a token has at most one motor), for the next observation
        self._last_ctrl = np.where(self._act_mask, clipped, 0.0).astype(np.float32)
        self._previous_proprio = self._proprio  # what the policy saw when it chose these actions
        substeps = self.task.substeps
        expected_time = self._time + substeps * self.task.timestep
        if self.nthread > 1 and self._pool is None:  # (again, after close(): a closed env still steps)
            self._pool = ThreadPoolExecutor(self.nthread, thread_name_prefix="metamorph-env")
        if self._pool is None:
            self._step_slots(range(self.num_envs), ctrl, substeps)
        else:
            jobs = [self._pool.submit(self._step_slots, range(k, self.num_envs, self.nthread), ctrl, substeps)
                    for k in range(self.nthread)]  # fmt: skip
            for job in jobs:
                job.result()

        x, y, z = self._sensors[:, 0], self._sensors[:, 1], self._sensors[:, 2]
        forward_velocity = (x - self._prev_x) / self.task.control_dt
        self._prev_x = x.copy()
        # MuJoCo resets a simulation whose accelerations blow up (and warns); its clock restarts at 0
        diverged = (self._time < expected_time - 0.5 * self.task.timestep) | ~np.isfinite(self._sensors).all(axis=1)
        rate = self.task.control_dt / RECENT_VELOCITY_SECONDS
        recent = self._recent_velocity + rate * (np.nan_to_num(forward_velocity) - self._recent_velocity)
        self._recent_velocity = np.where(diverged, 0.0, np.clip(recent, -RECENT_VELOCITY_LIMIT, RECENT_VELOCITY_LIMIT))
        self._steps += 1
        slots = np.arange(self.num_envs)
        height = z - self._ground(slots, x, y)
        terminated = diverged | (height < self._fall_height)
        torso_quat = self._sensors[:, 3:7]  # the root's FRAMEQUAT sensor, after its FRAMEPOS
        # every actuated token has one motor, so this is the mean over the body's motors
        mean_squared_ctrl = (self._last_ctrl**2).sum(axis=1) / np.maximum(self._act_mask.sum(axis=1), 1)
        terms = reward_terms(self.task, forward_velocity, terminated, torso_quat, mean_squared_ctrl)
        terms = {name: np.where(diverged, 0.0, value) for name, value in terms.items()}  # a diverged step earns nothing
        reward = sum(terms.values())
        truncated = (self._steps >= self.task.episode_length) & ~terminated
        self._returns += reward
        obs = self._observe()
        done = terminated | truncated
        info: dict = {"diverged": diverged, "body_id": self.body_ids.copy(), "reward_terms": terms}
        if done.any():
            info["final_obs"] = {k: v.copy() for k, v in obs.items()}
            info["episode_return"] = np.where(done, self._returns, np.nan)
            info["episode_length"] = np.where(done, self._steps, 0)
            info["episode_distance"] = np.where(done, x - self._start_x, np.nan)  # metres along +x
            for i in np.flatnonzero(done):
                self._record_episode(int(self.body_ids[i]), float(self._returns[i]), int(self._steps[i]))
            self.diverged_total += int(diverged.sum())
            if self.autoreset:
                for i in np.flatnonzero(done):
                    if diverged[i]:
                        self.models[i] = self.datas[i] = None  # a fresh MjData: nothing of it survives
                    self._reset_slot(int(i))
                obs = self._observe()
        info["diverged_total"] = self.diverged_total
        return obs, reward.astype(np.float32), terminated, truncated, info

    def _record_episode(self, body: int, ret: float, length: int) -> None:
        self._cdf = None  # sampling weights follow the new means
        self._episodes[body] += 1
        rate = max(1.0 / self._episodes[body], 0.1)  # running mean, then an exponential one
        self._mean_length[body] += rate * (length - self._mean_length[body])
        self._mean_return[body] += rate * (ret - self._mean_return[body])

    def body_stats(self) -> dict[str, np.ndarray]:
        """Per body of the set: finished episodes, running mean episode length and return."""
        return {"episodes": self._episodes.copy(), "mean_length": self._mean_length.copy(),
                "mean_return": self._mean_return.copy()}  # fmt: skip

    def _observe(self) -> dict[str, np.ndarray]:
        B, T = self.num_envs, self.max_tokens
        proprio = np.zeros((B, T, TOKEN_SENSORS))
        proprio[:, 1:] = self._sensors[:, ROOT_SENSORS:].reshape(B, T - 1, TOKEN_SENSORS)
        root = self._sensors[:, :ROOT_SENSORS]
        if self.frame == "world":  # link positions: x and y from the torso's, height from z = 0
            x_and_y = slice(PROPRIO_FEATURES["body_pos"].start, PROPRIO_FEATURES["body_pos"].start + 2)
            proprio[:, :, x_and_y] -= root[:, None, :2] * self._token_mask[..., None]  # padding stays 0
        proprio[:, 0, PROPRIO_FEATURES["body_pos"]] = np.stack([np.zeros(B), np.zeros(B), root[:, 2]], axis=1)
        proprio[:, 0, PROPRIO_FEATURES["body_quat"]] = root[:, 3:7]
        proprio[:, 0, PROPRIO_FEATURES["body_linvel"]] = root[:, 7:10]
        proprio[:, 0, PROPRIO_FEATURES["body_angvel"]] = root[:, 10:13]
        q = proprio[:, :, 0]
        q = np.where(self._wrap, (q + np.pi) % (2 * np.pi) - np.pi, q)
        proprio[:, :, 0] = np.where(self._token_mask, (q - self._lo) / (self._hi - self._lo), 0.0)
        proprio[:, 0, :2] = 0.0
        quat = proprio[:, :, 5:9]
        quat *= np.where(quat[..., :1] < 0, -1.0, 1.0)
        if self._static_obs is None:  # body-dependent arrays change only at resets: share them read-only
            self._static_obs = {
                key: _frozen(value)
                for key, value in (
                    ("static", self._static),
                    ("part_ids", self._part_ids),
                    ("token_mask", self._token_mask),
                    ("act_mask", self._act_mask),
                    ("tree_distance", self._tree),
                    ("link_token", self._rows["link_token"]),
                    ("body_id", self.body_ids),
                )
            }
        recent_velocity = np.where(self._token_mask, self._recent_velocity[:, None], 0.0).astype(np.float32)
        # the episode's own time, so restored states and resets need nothing more than the step count
        phase = 2 * np.pi * (self._steps[:, None] * self.task.control_dt) / np.asarray(CLOCK_PERIODS)
        clock = np.concatenate([np.sin(phase), np.cos(phase)], axis=1)  # [B, 2 × periods]
        clock = np.where(self._token_mask[..., None], clock[:, None, :], 0.0).astype(np.float32)
        self._proprio = proprio.astype(np.float32)
        # a slot that has not stepped since its reset has no history: its last step is this one
        fresh = (self._steps == 0)[:, None, None]
        obs = {
            "proprio": self._proprio.copy(),
            "previous_proprio": np.where(fresh, self._proprio, self._previous_proprio),
            "last_ctrl": self._last_ctrl.copy(),
            "recent_velocity": recent_velocity,
            "clock": clock,
            **self._static_obs,
        }
        if self._patch is not None:
            obs["terrain"] = self._terrain_patch(root).astype(np.float32)
        return obs

    def _terrain_patch(self, root: np.ndarray) -> np.ndarray:
        """Ground heights around each robot on a grid turned to its heading, relative to the torso."""
        w, qx, qy, qz = root[:, 3], root[:, 4], root[:, 5], root[:, 6]
        yaw = np.arctan2(2 * (w * qz + qx * qy), 1 - 2 * (qy**2 + qz**2))
        cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        fwd, left = self._patch[:, 0][None], self._patch[:, 1][None]
        px = root[:, :1] + cos * fwd - sin * left
        py = root[:, 1:2] + sin * fwd + cos * left
        slots = np.repeat(np.arange(self.num_envs), px.shape[1])
        ground = self._ground(slots, px.ravel(), py.ravel()).reshape(px.shape)
        return ground - root[:, 2:3]

    # ------------------------------------------------------------------------------------------
    # Saving and restoring (checkpoints resume the very same episodes)

    _STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION  # time, qpos, qvel, act, warm start, …

    def get_state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue these simulations exactly, as numpy arrays."""
        physics = []
        for model, data in zip(self.models, self.datas, strict=True):
            state = np.zeros(mujoco.mj_stateSize(model, self._STATE_SPEC))
            mujoco.mj_getState(model, data, state, self._STATE_SPEC)
            physics.append(state)
        return {
            "body_ids": self.body_ids.copy(),
            "terrain_ids": self.terrain_ids.copy(),
            "steps": self._steps.copy(),
            "returns": self._returns.copy(),
            "start_x": self._start_x.copy(),
            "prev_x": self._prev_x.copy(),
            "recent_velocity": self._recent_velocity.copy(),
            "previous_proprio": self._previous_proprio.copy(),
            "init_height": self._init_height.copy(),
            "time": self._time.copy(),
            "episodes": self._episodes.copy(),
            "mean_length": self._mean_length.copy(),
            "mean_return": self._mean_return.copy(),
            "diverged_total": np.array(self.diverged_total),
            "physics": np.concatenate(physics),
            "physics_sizes": np.array([len(p) for p in physics]),
            "rng": np.frombuffer(repr(self._rng.bit_generator.state).encode(), np.uint8),
            **({"static": self._static.copy()} if self.static_noise.any() else {}),  # this episode's draws
        }

    def set_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Continue from `get_state` of an environment built and reset with the same arguments and
        seed; returns the current observation."""
        if len(state["body_ids"]) != self.num_envs:
            raise MetamorphError(f"saved environment has {len(state['body_ids'])} slots, this one {self.num_envs}")
        if int(state["body_ids"].max()) >= len(self.bodies):
            raise MetamorphError("saved environment refers to bodies this one does not have")
        offsets = np.concatenate([[0], np.cumsum(state["physics_sizes"])])
        for i in range(self.num_envs):
            body, terrain = int(state["body_ids"][i]), int(state["terrain_ids"][i])
            model = self._model(body, terrain)
            if self.models[i] is not model:
                self._release(self.models[i], self.datas[i])
                self.models[i], self.datas[i] = model, self._acquire(model)
            data = self.datas[i]
            mujoco.mj_setState(model, data, state["physics"][offsets[i] : offsets[i + 1]], self._STATE_SPEC)
            mujoco.mj_step1(model, data)  # the stages a step leaves behind, sensors included
            for key, row in self.bodies[body].rows.items():
                self._rows[key][i] = row
            self._sensors[i] = 0.0
            self._sensors[i, : model.nsensordata] = data.sensordata
            self._last_ctrl[i] = 0.0  # the controls are part of the saved state
            self._last_ctrl[i, self._act_token[i, : model.nu]] = data.ctrl
        self.body_ids[:], self.terrain_ids[:] = state["body_ids"], state["terrain_ids"]
        self._steps[:], self._returns[:], self._start_x[:] = state["steps"], state["returns"], state["start_x"]
        self._prev_x[:], self._init_height[:], self._time[:] = state["prev_x"], state["init_height"], state["time"]
        # states saved before the average existed continue from 0: their policies do not read it
        self._recent_velocity[:] = state.get("recent_velocity", 0.0)
        # likewise the last step's proprioception: without it a slot's history restarts (its own)
        saved_previous = state.get("previous_proprio")
        for i, body in enumerate(self.body_ids):
            self._fall_height[i] = self._fall_threshold(int(body), self._init_height[i])
        self._episodes[:], self._mean_length[:] = state["episodes"], state["mean_length"]
        self._mean_return[:] = state["mean_return"]
        self.diverged_total = int(state["diverged_total"])
        self._rng.bit_generator.state = _literal(bytes(state["rng"]).decode())
        if self.static_noise.any():
            if "static" not in state:
                raise MetamorphError("saved environment has no static-feature noise; this one draws it")
            self._static[:] = state["static"]
        self._cdf = self._static_obs = None
        if saved_previous is not None:
            self._previous_proprio = np.array(saved_previous, np.float32)
            return self._observe()
        obs = self._observe()
        self._previous_proprio = self._proprio
        return {**obs, "previous_proprio": self._proprio.copy()}

    def close(self) -> None:
        if getattr(self, "_pool", None) is not None:  # also when __init__ failed before creating it
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        if not sys.is_finalizing():  # at interpreter exit the pool's threads are already gone
            self.close()

    @property
    def control_dt(self) -> float:
        return self.task.control_dt


def _frozen(array: np.ndarray) -> np.ndarray:
    copy = array.copy()
    copy.flags.writeable = False
    return copy


def _literal(text: str):
    import ast

    return ast.literal_eval(text)
