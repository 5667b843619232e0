"""Tasks: the world a body walks in, and the rules of an episode.

A registry maps a task name to its `default_config()`, a frozen `TaskConfig`:

- ``flat``: MetaMorph's flat terrain (FT): a plane.
- ``variable_terrain``: MetaMorph's VT: after a flat start, a track of slopes, steps and rugged
  squares, as a MuJoCo heightfield.
- ``obstacles``: boxes of random sizes on a flat floor.

All follow MetaMorph (DESIGN §1): 0.005 s timestep, 4 substeps a control step, 1000-step
episodes, reward = forward (x) velocity of the torso, termination when the torso falls below a
fraction of its initial height above the ground.

Terrain tasks keep their ground as a height grid (`Terrain`): the same numbers build the MuJoCo
heightfield and boxes, and serve the terrain patch the policy sees (heights on a grid around the
robot, turned to its heading, relative to the torso).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import mujoco
import numpy as np

from metamorph.errors import MetamorphError


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Every knob of a task (metres, seconds, degrees)."""

    name: str = "flat"
    terrain: str = "flat"
    """Ground: flat (a plane), variable (slopes, steps, rugged squares) or obstacles (boxes)."""
    timestep: float = 0.005
    substeps: int = 4
    """Physics steps per control step."""
    episode_length: int = 1000
    """Control steps before an episode is truncated."""
    fall_fraction: float = 0.5
    """Terminate when the torso's height above the ground drops below this × its initial height."""
    alive_bonus: float = 0.0
    """Reward added on every step that does not end in a fall. MetaMorph has none; without it a
    policy that has not yet learnt to walk gains nothing by staying up, and lunging forward (the
    fall itself moves the torso forward) is the quickest return."""
    speed_cap: float = 0.0
    """Forward velocity above this (m/s) earns nothing (0: no cap), so running faster stops paying
    and staying up to keep earning at the cap does. Logged as its own term (``speed_cap``, ≤ 0).
    Measured on generated quadrupeds at 0.5 m/s: slower gaits that fall as often (the
    quadrupeds-speed-cap sweep, docs/learning.md)."""
    tilt_penalty: float = 0.0
    """Each step costs this × (1 − cos θ), θ the angle between the torso's z axis and the world's up
    (0: no cost; 1 − cos θ is 0.13 at 30°, 1 lying on its side, 2 upside down). Leaning and pitching
    cost in proportion, long before the fall rule ends the episode. Assumes the torso's z axis is up
    when the body stands, as in every UNIMAL, generated and Menagerie body. Logged as its own term
    (``tilt``, ≤ 0)."""
    control_cost: float = 0.0
    """Each step costs this × the mean over the body's motors of its squared control (each in
    [-1, 1], after clipping), so a torque is paid for whatever it achieves and zero torque costs
    nothing (0: no cost; MetaMorph has none on flat terrain). A mean, not a sum, so a body with many
    motors pays no more for the same effort per motor. Exploration noise is paid for too. Logged as
    its own term (``control``, ≤ 0)."""
    reset_noise: float = 0.1
    """Joint positions start uniformly within ± this (rad or m) of rest; velocities ~ N(0, this)."""
    start_yaw: float = 0.0
    """Each episode turns a free-floating body about the vertical through its root by an angle drawn
    uniformly within ± this (degrees; 180: any heading) before it starts. The reward still pays motion
    along the world's +x, so a policy must read its heading from what it sees (the `world` frame shows
    it) instead of learning one direction a body. Bodies on a planar or fixed base keep their file's
    heading. 0: every episode starts in the file's heading."""
    friction: float = 1.0
    """Sliding friction of the ground."""
    # terrain tasks
    track_length: float = 40.0
    """Length of the terrain along +x (the robot starts at x = 0)."""
    track_width: float = 10.0
    """Width of the terrain along y (centred on y = 0)."""
    resolution: float = 0.25
    """Height grid spacing."""
    flat_start: float = 2.0
    """Flat ground from x = -2 to this, so every robot starts on level ground."""
    segment_length: tuple[float, float] = (2.0, 4.0)
    """Variable terrain: length range of each segment."""
    slope_deg: float = 15.0
    """Variable terrain: steepest slope."""
    step_height: float = 0.15
    """Variable terrain: largest step up or down."""
    rugged_height: float = 0.08
    """Variable terrain: height range of rugged squares (0.5 m squares)."""
    obstacle_spacing: float = 2.0
    """Obstacles: mean distance between boxes (one per spacing² of floor)."""
    obstacle_half_size: tuple[float, float] = (0.1, 0.4)
    """Obstacles: range of a box's half length and half width."""
    obstacle_height: tuple[float, float] = (0.05, 0.25)
    """Obstacles: range of a box's height."""
    num_terrains: int = 8
    """Distinct terrains an environment draws from (one per episode)."""
    patch_forward: tuple[float, float] = (-0.5, 1.5)
    """Terrain patch: extent along the robot's heading."""
    patch_lateral: tuple[float, float] = (-0.5, 0.5)
    """Terrain patch: extent to the robot's sides."""
    patch_shape: tuple[int, int] = (9, 5)
    """Terrain patch: points along the heading × to the side."""

    def __post_init__(self):
        if self.terrain not in ("flat", "variable", "obstacles"):
            raise MetamorphError(
                f"task '{self.name}': terrain must be flat, variable or obstacles, got '{self.terrain}'"
            )
        if self.timestep <= 0 or self.substeps < 1 or self.episode_length < 1:
            raise MetamorphError(f"task '{self.name}': timestep, substeps and episode_length must be positive")
        if not 0 <= self.fall_fraction < 1:
            raise MetamorphError(f"task '{self.name}': fall_fraction must be in [0, 1)")
        if self.speed_cap < 0:
            raise MetamorphError(f"task '{self.name}': speed_cap must be ≥ 0 (0: no cap), got {self.speed_cap}")
        if self.tilt_penalty < 0:
            raise MetamorphError(f"task '{self.name}': tilt_penalty must be ≥ 0 (0: none), got {self.tilt_penalty}")
        if self.control_cost < 0:
            raise MetamorphError(f"task '{self.name}': control_cost must be ≥ 0 (0: none), got {self.control_cost}")
        if self.reset_noise < 0:
            raise MetamorphError(f"task '{self.name}': reset_noise must be ≥ 0, got {self.reset_noise}")
        if not 0 <= self.start_yaw <= 180:
            raise MetamorphError(f"task '{self.name}': start_yaw must be in [0, 180] degrees, got {self.start_yaw}")

    @property
    def control_dt(self) -> float:
        return self.timestep * self.substeps

    @property
    def has_terrain(self) -> bool:
        return self.terrain != "flat"

    @property
    def patch_size(self) -> int:
        return self.patch_shape[0] * self.patch_shape[1] if self.has_terrain else 0


def add_scenery(spec: mujoco.MjSpec) -> str:
    """A sky and a checkered ground material (returned by name), so that a video shows the body move.

    Only for rendering: textures add ~90 kB to every compiled model, which training keeps for
    every distinct body. Physics is the same with or without them."""
    texture, builtin = mujoco.mjtTexture, mujoco.mjtBuiltin
    spec.add_texture(name="scenery_sky", type=texture.mjTEXTURE_SKYBOX, builtin=builtin.mjBUILTIN_GRADIENT,
                     width=64, height=64, rgb1=[0.45, 0.65, 0.9], rgb2=[0.05, 0.1, 0.2])  # fmt: skip
    spec.add_texture(name="scenery_checker", type=texture.mjTEXTURE_2D, builtin=builtin.mjBUILTIN_CHECKER,
                     width=64, height=64, rgb1=[0.25, 0.42, 0.65], rgb2=[0.12, 0.24, 0.45])  # fmt: skip
    material = spec.add_material(name="scenery_ground", texuniform=True, texrepeat=[2.0, 2.0])
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "scenery_checker"
    return material.name


def flat_config() -> TaskConfig:
    return TaskConfig()


def variable_terrain_config() -> TaskConfig:
    return TaskConfig(name="variable_terrain", terrain="variable")


def obstacles_config() -> TaskConfig:
    return TaskConfig(name="obstacles", terrain="obstacles")


TASKS: dict[str, Callable[[], TaskConfig]] = {
    "flat": flat_config,
    "variable_terrain": variable_terrain_config,
    "obstacles": obstacles_config,
}
"""Registry of tasks: name -> default_config()."""


def reward_terms(task: TaskConfig, forward_velocity, fell, torso_quat, mean_squared_ctrl) -> dict:
    """The task's reward as named terms, each already scaled; the reward is their sum and each term
    is logged on its own (``reward_<name>`` in ``metrics.jsonl``). ``torso_quat`` [..., 4] is the
    torso's orientation in the world (w, x, y, z); ``mean_squared_ctrl`` the mean over each body's
    motors of its squared control in [-1, 1] on this step. Plain arithmetic on arrays, so every simulation
    backend (NumPy on CPU, JAX on accelerators) computes the same reward."""
    # 1 − cos θ of the torso's z axis against the world's up: its z component is 1 − 2(x² + y²)
    one_minus_cos_tilt = 2.0 * (torso_quat[..., 1] ** 2 + torso_quat[..., 2] ** 2)
    return {
        "forward_velocity": forward_velocity,  # torso x velocity over the control step (m/s)
        "alive": task.alive_bonus * (1.0 - fell),  # for every step that does not end in a fall
        # takes back what is earned above the cap, so the two terms sum to min(velocity, cap)
        "speed_cap": -_positive_part(forward_velocity - task.speed_cap) if task.speed_cap > 0 else 0.0 * fell,
        "tilt": -task.tilt_penalty * one_minus_cos_tilt,
        "control": -task.control_cost * mean_squared_ctrl,
    }


def _positive_part(value):
    """max(value, 0) by arithmetic alone, the same on NumPy and JAX arrays."""
    return 0.5 * (value + abs(value))


def task_with_overrides(
    name: str,
    episode_length: int | None = None,
    alive_bonus: float | None = None,
    reset_noise: float | None = None,
    fall_fraction: float | None = None,
    speed_cap: float | None = None,
    tilt_penalty: float | None = None,
    start_yaw: float | None = None,
    control_cost: float | None = None,
) -> TaskConfig:
    """A registered task with a run's overrides (``--episode-length``, ``--alive-bonus``,
    ``--reset-noise``, ``--fall-fraction``, ``--speed-cap``, ``--tilt-penalty``, ``--start-yaw``,
    ``--control-cost``) applied."""
    task = task_config(name)
    if episode_length:
        task = dataclasses.replace(task, episode_length=episode_length)
    if alive_bonus is not None:
        task = dataclasses.replace(task, alive_bonus=alive_bonus)
    if reset_noise is not None:
        task = dataclasses.replace(task, reset_noise=reset_noise)
    if fall_fraction is not None:
        task = dataclasses.replace(task, fall_fraction=fall_fraction)  # checked in [0, 1) by TaskConfig
    if speed_cap is not None:
        task = dataclasses.replace(task, speed_cap=speed_cap)
    if tilt_penalty is not None:
        task = dataclasses.replace(task, tilt_penalty=tilt_penalty)
    if start_yaw is not None:
        task = dataclasses.replace(task, start_yaw=start_yaw)
    if control_cost is not None:
        task = dataclasses.replace(task, control_cost=control_cost)
    return task


def task_to_json(task: TaskConfig) -> dict:
    return dataclasses.asdict(task)


def task_from_json(data: dict) -> TaskConfig:
    """A task saved by `task_to_json` (JSON turns tuples into lists)."""
    tuples = {f.name for f in dataclasses.fields(TaskConfig) if isinstance(f.default, tuple)}
    return TaskConfig(**{k: tuple(v) if k in tuples else v for k, v in data.items()})


def task_config(name: str) -> TaskConfig:
    if name not in TASKS:
        raise MetamorphError(f"unknown task '{name}'; known: {', '.join(TASKS)}")
    return TASKS[name]()


# ----------------------------------------------------------------------------------------------
# Ground


CONTACT_ATTRIBUTES = ("contype", "conaffinity", "condim", "margin", "gap", "priority", "solmix", "solref", "solimp")


@functools.cache
def _mujoco_default_contact() -> dict:
    blank = mujoco.MjSpec().worldbody.add_geom()
    return {attribute: getattr(blank, attribute) for attribute in CONTACT_ATTRIBUTES}


def _collide_as_mujoco_default(geom) -> None:
    """Give a ground geom MuJoCo's own contact settings. A geom added to a robot's spec takes that
    file's geom defaults: gymnasium's ant and dm_control's walker set ``conaffinity="0"`` for their
    own geoms (so that limbs do not collide with each other), and a ground that inherited it let
    those robots fall through the floor."""
    for attribute, value in _mujoco_default_contact().items():
        setattr(geom, attribute, value)


@dataclasses.dataclass(frozen=True)
class Terrain:
    """Ground heights on a regular grid: ``heights[i, j]`` at x = x0 + i·res, y = y0 + j·res.

    Boxes (obstacles) are listed separately, as (centre x, centre y, half x, half y, height), and
    are included in `height_at` so the terrain patch shows them.
    """

    heights: np.ndarray
    x0: float
    y0: float
    resolution: float
    boxes: tuple[tuple[float, float, float, float, float], ...] = ()

    def height_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Ground height at points (x, y), vectorised; boxes raise the ground where they stand.

        Within a grid cell the height is interpolated on the same two triangles MuJoCo's
        heightfield uses, so this is where the simulated ground is."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        nx, ny = self.heights.shape
        u = np.clip((x - self.x0) / self.resolution, 0, nx - 1 - 1e-9)
        v = np.clip((y - self.y0) / self.resolution, 0, ny - 1 - 1e-9)
        i, j = np.floor(u).astype(int), np.floor(v).astype(int)
        fu, fv = u - i, v - j
        h00, h10 = self.heights[i, j], self.heights[i + 1, j]
        h01, h11 = self.heights[i, j + 1], self.heights[i + 1, j + 1]
        # MuJoCo splits each cell along the diagonal from (i, j) to (i+1, j+1)
        lower = fu >= fv
        ground = np.where(
            lower,
            h00 + fu * (h10 - h00) + fv * (h11 - h10),
            h00 + fv * (h01 - h00) + fu * (h11 - h01),
        )
        for cx, cy, hx, hy, top in self.boxes:
            inside = (np.abs(x - cx) <= hx) & (np.abs(y - cy) <= hy)
            ground = np.where(inside, np.maximum(ground, top), ground)
        return ground

    def add_to(self, spec: mujoco.MjSpec, friction: float, name: str = "terrain", material: str = "") -> None:
        """Add this ground to a spec: a heightfield (or a plane when flat) and its boxes; ``material``
        (from `add_scenery`) dresses the ground for videos."""
        nx, ny = self.heights.shape
        low, high = float(self.heights.min()), float(self.heights.max())
        rgba = [0.35, 0.45, 0.55, 1.0]
        centre = [self.x0 + (nx - 1) * self.resolution / 2, self.y0 + (ny - 1) * self.resolution / 2, low]
        if high - low < 1e-9:
            size = [nx * self.resolution, ny * self.resolution, 0.05]
            ground = spec.worldbody.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_PLANE, size=size, pos=centre,
                                             friction=[friction, 0.1, 0.1], rgba=rgba, material=material)  # fmt: skip
        else:
            elevation = high - low
            # MuJoCo heightfield rows run along y and columns along x; data is scaled to [0, 1]
            data = ((self.heights - low) / elevation).T.astype(np.float32)
            spec.add_hfield(
                name=name,
                size=[(nx - 1) * self.resolution / 2, (ny - 1) * self.resolution / 2, elevation, 0.5],
                nrow=ny,
                ncol=nx,
                userdata=data.ravel().tolist(),
            )
            ground = spec.worldbody.add_geom(
                name=name,
                type=mujoco.mjtGeom.mjGEOM_HFIELD,
                hfieldname=name,
                pos=centre,
                friction=[friction, 0.1, 0.1],
                rgba=rgba,
                material=material,
            )
        _collide_as_mujoco_default(ground)
        for k, (cx, cy, hx, hy, top) in enumerate(self.boxes):
            base = float(self.height_at_grid(cx, cy))
            half_z = (top - base) / 2 + 0.05  # sink 0.05 m into the ground so no gap shows
            box = spec.worldbody.add_geom(name=f"{name}_box{k}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, half_z],
                                          pos=[cx, cy, top - half_z], friction=[friction, 0.1, 0.1],
                                          rgba=[0.55, 0.4, 0.3, 1.0])  # fmt: skip
            _collide_as_mujoco_default(box)

    def height_at_grid(self, x: float, y: float) -> float:
        """Ground height without boxes."""
        return float(dataclasses.replace(self, boxes=()).height_at(np.array([x]), np.array([y]))[0])


def make_terrain(config: TaskConfig, rng: np.random.Generator) -> Terrain:
    """Draw the ground of one episode world for a task."""
    res = config.resolution
    x0, y0 = -2.0, -config.track_width / 2
    nx = round((config.track_length - x0) / res) + 1
    ny = round(config.track_width / res) + 1
    xs = x0 + res * np.arange(nx)
    heights = np.zeros((nx, ny))
    boxes: list[tuple[float, float, float, float, float]] = []
    if config.terrain == "variable":
        level, x = 0.0, config.flat_start
        profile = np.zeros(nx)
        rugged = np.zeros((nx, ny), bool)
        while x < config.track_length:
            length = rng.uniform(*config.segment_length)
            kind = rng.choice(["slope", "step", "rugged", "flat"])
            seg = (xs >= x) & (xs < x + length)
            if kind == "slope":
                grade = math.tan(math.radians(rng.uniform(-config.slope_deg, config.slope_deg)))
                profile[seg] = level + grade * (xs[seg] - x)
                level = level + grade * length
            elif kind == "step":
                level += rng.uniform(-config.step_height, config.step_height)
                profile[seg] = level
            else:
                profile[seg] = level
                rugged[seg] = kind == "rugged"
            x += length
        profile[xs >= x] = level
        heights[:] = profile[:, None]
        # rugged squares: 0.5 m squares of random height
        cells = max(1, round(0.5 / res))
        square = rng.uniform(0, config.rugged_height, size=(nx // cells + 1, ny // cells + 1))
        bumps = np.kron(square, np.ones((cells, cells)))[:nx, :ny]
        heights += np.where(rugged, bumps, 0.0)
    elif config.terrain == "obstacles":
        area = (config.track_length - config.flat_start) * config.track_width
        for _ in range(int(area / config.obstacle_spacing**2)):
            cx = rng.uniform(config.flat_start + 0.5, config.track_length - 0.5)
            cy = rng.uniform(y0 + 0.5, -y0 - 0.5)
            hx, hy = rng.uniform(*config.obstacle_half_size, size=2)
            boxes.append((float(cx), float(cy), float(hx), float(hy), float(rng.uniform(*config.obstacle_height))))
    return Terrain(heights=heights, x0=x0, y0=y0, resolution=res, boxes=tuple(boxes))


FLAT = Terrain(heights=np.zeros((2, 2)), x0=-50.0, y0=-50.0, resolution=100.0)
"""The flat task's ground: a plane at z = 0."""


def patch_offsets(config: TaskConfig) -> np.ndarray:
    """[P, 2] points of the terrain patch in the robot's heading frame (forward, left)."""
    forward = np.linspace(*config.patch_forward, config.patch_shape[0])
    lateral = np.linspace(*config.patch_lateral, config.patch_shape[1])
    grid = np.stack(np.meshgrid(forward, lateral, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2)
