"""Generate valid, varied bodies from a design space, in parallel and reproducibly.

A body for slot ``i`` of a run with seed ``s`` is the first candidate drawn with
``numpy.random.default_rng([s, i, attempt])`` (attempt = 0, 1, …) that passes `check_body`, so the
result does not depend on how many worker processes drew it. Candidates whose canonical tree hash
an earlier slot already holds are drawn again, so a set never holds the same body twice.

`check_body` is the validity test for any body (generated, a variant, a file): it compiles, has no
self-contact at rest, and settles under zero action on a floor — no NaN or instability, torso above
the floor, at rest at the end. Rejected candidates are counted by reason. Bodies of a quadruped
space (`metamorph.quadrupeds`) collapse under zero torque as robot dogs do: for them the zero-torque
test keeps only its stability checks, and they must hold their home pose with their own motors.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mujoco
import numpy as np

from metamorph.design import BodyPlan, DesignSpace, draw_limb_count, plan_to_mjcf, sample_plan
from metamorph.errors import MetamorphError, MorphologyError
from metamorph.files import atomic_folder, write_json_atomic
from metamorph.morphology import (
    START_CLEARANCE,
    Morphology,
    canonical_hash,
    floor_clearance_height,
    morphology_from_xml,
)
from metamorph.quadrupeds import QuadrupedPlan, QuadrupedSpace, holds_home_pose, quadruped_to_mjcf, sample_quadruped
from metamorph.tokens import JointTokens, tokenize


@dataclasses.dataclass(frozen=True)
class Validity:
    """What a body must pass to be kept."""

    settle_seconds: float = 4.0
    """Longest time simulated under zero action on a flat floor (it stops once the body is at rest)."""
    min_settle_seconds: float = 0.5
    """Shortest time simulated. A body can sag slowly (weak passive joints) while moving slower than
    `rest_speed`: with `min_stand_fraction`, 2 s lets the check see where it ends up."""
    rest_speed: float = 0.25
    """At the end, every joint and the torso move slower than this (rad/s or m/s)."""
    min_torso_height: float = 0.5
    """At the end, the torso centre is at least this fraction of its half-height above the floor."""
    min_stand_fraction: float = 0.0
    """At the end, the torso is at least this fraction of its starting height (0: no check). The
    tasks end an episode when the torso drops below 0.5 × its starting height (MetaMorph's fall
    rule), so a body that sags below that under its own weight is ended unless its motors hold it
    up; 0.6 leaves room for reset noise. Off by default: 22 of the 100 UNIMAL-100 bodies sag below
    0.6 (measured), and it rejects ~60 % more candidates."""
    min_floor_contacts: int = 0
    """At the end, at least this many of the body's links touch the floor (0: no check). A body that
    rests on one or two links tips over from the tasks' reset noise: under zero torque, 85-100 % of
    such standing-checked bodies fell within 1000 steps, 0-39 % of those resting on 3 or more
    (UNIMAL-100's bodies rest on 2-8 links, median 4, and 19 % fall; `bench/zero_torque_falls.py`,
    2026-12-02)."""
    min_hold_fraction: float = 0.0
    """At the end, with the body's motors holding its standing pose (`holds_home_pose`), its torso
    stays at least this fraction of its starting height (0: no check). The quadruped spaces set it:
    their bodies fold under zero torque, as robot dogs do, and must stand on their motors instead."""
    max_tokens: int | None = None
    """Reject bodies with more tokens than this (None: no limit)."""
    max_attempts: int = 200
    """Candidates drawn for one slot before giving up with an error."""

    def __post_init__(self):
        if self.min_floor_contacts < 0:
            raise MetamorphError(f"--min-floor-contacts must be 0 or more, got {self.min_floor_contacts}")


class Rejected(Exception):
    """A candidate body failed a validity check; ``reason`` is the counter key."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclasses.dataclass(frozen=True)
class BodyStats:
    """What the validity check measured."""

    initial_height: float
    standing_height: float
    total_mass: float
    num_tokens: int


def links_on_floor(floor_model: mujoco.MjModel, data: mujoco.MjData) -> set[int]:
    """Ids of the bodies (links) in contact with the floor of `_with_floor`'s model."""
    floor = floor_model.geom("validity_floor").id
    return {
        int(floor_model.geom_bodyid[c.geom1 if c.geom2 == floor else c.geom2])
        for c in data.contact[: data.ncon]
        if floor in (c.geom1, c.geom2)
    }


def _with_floor(morphology: Morphology) -> mujoco.MjModel:
    """The body on a floor, placed as the environments place it, so 'starting height' means the same."""
    spec = morphology.spec.copy()
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], name="validity_floor")
    root = spec.bodies[morphology.root_body]
    lift = floor_clearance_height(morphology.model, morphology.root_body, morphology.standing_qpos)
    root.pos = [root.pos[0], root.pos[1], lift + START_CLEARANCE]
    return spec.compile()


def start_qpos(floor_model: mujoco.MjModel, morphology: Morphology, tokens: JointTokens | None = None) -> np.ndarray:
    """``_with_floor``'s model's qpos with the body's joints in its standing pose (its keyframe),
    as the environments start it (``tokens``: the body's, when the caller has them)."""
    qpos = floor_model.qpos0.copy()
    if morphology.standing_qpos is not None:
        tokens = tokens or tokenize(morphology)
        joints = tokens.qpos_adr[1:]  # token 0 is the root, placed by _with_floor
        qpos[joints] = morphology.standing_qpos[joints]
    return qpos


def check_body(morphology: Morphology, validity: Validity = Validity()) -> BodyStats:
    """Raise `Rejected` unless the body passes the validity test; return what it measured."""
    model = morphology.model
    root = morphology.root_body
    tokens = tokenize(morphology)
    if validity.max_tokens is not None and tokens.num_tokens > validity.max_tokens:
        raise Rejected("too_many_tokens", f"{tokens.num_tokens} > {validity.max_tokens}")
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    for contact in data.contact[: data.ncon]:
        a, b = (int(model.geom_bodyid[g]) for g in (contact.geom1, contact.geom2))
        if model.body_parentid[a] == b or model.body_parentid[b] == a:
            continue  # a limb meets its parent at the joint by design (UNIMAL files even collide these)
        raise Rejected("self_contact", f"'{model.body(a).name}' touches '{model.body(b).name}' at rest")

    floor_model = _with_floor(morphology)
    data = mujoco.MjData(floor_model)
    start = start_qpos(floor_model, morphology, tokens)
    data.qpos[:] = start
    mujoco.mj_forward(floor_model, data)
    initial = float(data.xpos[root, 2])
    chunk = max(1, round(0.25 / floor_model.opt.timestep))  # look every 0.25 s; most bodies settle early
    for _ in range(max(1, round(validity.settle_seconds / floor_model.opt.timestep / chunk))):
        mujoco.mj_step(floor_model, data, nstep=chunk)
        if not (np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all()):
            raise Rejected("nan", "state is not finite while settling")
        if (
            data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number
            or data.warning[mujoco.mjtWarning.mjWARN_BADQPOS].number
        ):
            raise Rejected("unstable", "MuJoCo reported an unstable simulation")
        if np.max(np.abs(data.qvel)) < validity.rest_speed and data.time >= validity.min_settle_seconds:
            break
        if data.xpos[root, 2] < validity.min_stand_fraction * initial:
            break  # sagged too far: weak passive joints do not lift it back
    half_height = float(np.max(model.geom_aabb[model.body_geomadr[root], 3:])) if model.body_geomnum[root] else 0.0
    if data.xpos[root, 2] < validity.min_torso_height * half_height:
        raise Rejected("torso_on_floor", f"torso settled at {data.xpos[root, 2]:.3f} m")
    if data.xpos[root, 2] < validity.min_stand_fraction * initial:
        raise Rejected("sags", f"torso settled at {data.xpos[root, 2] / initial:.0%} of its starting height")
    if np.max(np.abs(data.qvel)) > validity.rest_speed:
        raise Rejected("not_at_rest", f"max speed {np.max(np.abs(data.qvel)):.2f} after {validity.settle_seconds} s")
    if validity.min_floor_contacts:
        touching = links_on_floor(floor_model, data)
        if len(touching) < validity.min_floor_contacts:
            raise Rejected("few_contacts", f"rests on {len(touching)} link(s) < {validity.min_floor_contacts}")
    if validity.min_hold_fraction:
        held = holds_home_pose(floor_model, root, start)
        if held < validity.min_hold_fraction:
            raise Rejected("cannot_stand", f"its motors hold the torso at {held:.0%} of its start height")
    return BodyStats(
        initial_height=initial,
        standing_height=float(data.xpos[root, 2]),
        total_mass=float(sum(model.body_mass[b] for b in morphology.tree)),
        num_tokens=tokens.num_tokens,
    )


@dataclasses.dataclass(frozen=True)
class GeneratedBody:
    """One accepted body: its MJCF text and what the manifest records about it."""

    name: str
    xml: str
    plan: BodyPlan | QuadrupedPlan
    stats: BodyStats
    tree_hash: str
    index: int
    attempt: int

    @property
    def metadata(self) -> dict:
        """UNIMAL-layout metadata (num_limbs, dof, symmetric_limbs)."""
        return {
            "num_limbs": len(self.plan.limbs),  # a quadruped's links below the torso
            "dof": self.plan.dof,
            "symmetric_limbs": [list(pair) for pair in self.plan.symmetric_pairs],
        }

    def manifest_entry(self) -> dict:
        return {
            "name": self.name,
            **self.metadata,
            "total_mass": round(self.stats.total_mass, 6),
            "standing_height": round(self.stats.standing_height, 6),
            "initial_height": round(self.stats.initial_height, 6),
            "num_tokens": self.stats.num_tokens,
            "symmetric": self.plan.symmetric,
            "tree_hash": self.tree_hash,
            "seed_index": self.index,
            "attempt": self.attempt,
            "params": self.plan.to_json(),
        }


def body_name(space: DesignSpace | QuadrupedSpace, seed: int, index: int) -> str:
    return f"{space.name}-s{seed}-{index:05d}"


ZERO_TORQUE_STANCE_FLAGS = (
    ("--min-stand-fraction", "min_stand_fraction"),
    ("--min-floor-contacts", "min_floor_contacts"),
)


def check_space_validity(space: DesignSpace | QuadrupedSpace, validity: Validity) -> None:
    """A one-line error for stance checks that a space's bodies cannot pass by design."""
    if isinstance(space, QuadrupedSpace):
        used = [flag for flag, field in ZERO_TORQUE_STANCE_FLAGS if getattr(validity, field)]
        if used:
            raise MetamorphError(
                f"{', '.join(used)}: design space '{space.name}' builds robots that collapse under zero "
                "torque; they are checked by holding their home pose with their motors instead"
            )


def make_body(
    space: DesignSpace | QuadrupedSpace,
    seed: int,
    index: int,
    first_attempt: int = 0,
    validity: Validity = Validity(),
) -> tuple[GeneratedBody, Counter]:
    """The first valid candidate for slot ``index``, and the rejections met on the way."""
    rejections: Counter = Counter()
    name = body_name(space, seed, index)
    if isinstance(space, QuadrupedSpace):
        draw = _quadruped_candidates(space, name, validity)
    else:
        draw = _tree_candidates(space, seed, index, name, validity)
    for attempt in range(first_attempt, first_attempt + validity.max_attempts):
        try:
            plan, xml, morphology, stats = draw(np.random.default_rng([seed, index, attempt]))
        except Rejected as rejection:
            rejections[rejection.reason] += 1
            continue
        except MorphologyError:
            rejections["compile_error"] += 1
            continue
        return GeneratedBody(name, xml, plan, stats, canonical_hash(morphology), index, attempt), rejections
    raise MetamorphError(
        f"design space '{space.name}': no valid body for slot {index} in {validity.max_attempts} attempts "
        f"(rejections: {dict(rejections)}); the space may be impossible"
    )


Candidate = tuple[BodyPlan | QuadrupedPlan, str, Morphology, BodyStats]


def _tree_candidates(
    space: DesignSpace, seed: int, index: int, name: str, validity: Validity
) -> Callable[[np.random.Generator], Candidate]:
    """Draws a limb-tree candidate from a generator, or raises `Rejected`."""
    # The limb count is drawn once per slot: retrying rejected candidates with a fresh count would
    # favour small bodies (they self-collide less) and skew the set away from the design space.
    num_limbs = draw_limb_count(space, np.random.default_rng([seed, index]))

    def draw(rng: np.random.Generator) -> Candidate:
        plan = sample_plan(space, rng, num_limbs)
        if len(plan.limbs) != num_limbs:
            raise Rejected("limb_count_not_reached")
        draft = morphology_from_xml(plan_to_mjcf(plan, name, 0.0, space), name=name)
        height = floor_clearance_height(draft.model, draft.root_body) + 0.002
        xml = plan_to_mjcf(plan, name, height, space)
        morphology = morphology_from_xml(xml, name=name)
        return plan, xml, morphology, check_body(morphology, validity)

    return draw


def _quadruped_candidates(
    space: QuadrupedSpace, name: str, validity: Validity
) -> Callable[[np.random.Generator], Candidate]:
    """Draws a quadruped candidate, or raises `Rejected`: zero torque tests stability only (the
    body may fold to the floor), and the body's motors must hold its home pose."""
    on_motors = dataclasses.replace(
        validity, min_torso_height=0.0, min_stand_fraction=0.0, min_floor_contacts=0,
        min_hold_fraction=space.min_hold_fraction,
    )  # fmt: skip

    def draw(rng: np.random.Generator) -> Candidate:
        plan = sample_quadruped(space, rng)
        xml = quadruped_to_mjcf(plan, name)
        morphology = morphology_from_xml(xml, name=name)
        return plan, xml, morphology, check_body(morphology, on_motors)

    return draw


def _make_body_job(job: tuple) -> tuple[GeneratedBody, Counter]:
    return make_body(*job)


@dataclasses.dataclass
class GenerationResult:
    bodies: list[GeneratedBody]
    rejections: Counter
    candidates: int
    duplicates: int
    seconds: float


def generate_bodies(
    space: DesignSpace | QuadrupedSpace,
    count: int,
    seed: int = 0,
    workers: int | None = None,
    validity: Validity = Validity(),
    progress: Callable[[int, int, int], None] | None = None,
) -> GenerationResult:
    """Generate ``count`` distinct valid bodies. ``progress(done, candidates, rejected)`` is called
    as slots complete. The result is the same for any number of ``workers``."""
    if count < 1:
        raise MetamorphError(f"--count must be at least 1, got {count}")
    check_space_validity(space, validity)
    workers = max(1, workers or os.cpu_count() or 1)
    start = time.perf_counter()
    accepted: dict[int, GeneratedBody] = {}
    seen: dict[str, int] = {}
    rejections: Counter = Counter()
    first_attempt = dict.fromkeys(range(count), 0)
    pending = list(range(count))
    candidates = duplicates = 0
    pool = (
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        if workers > 1 and count > 1
        else None
    )
    try:
        while pending:
            jobs = [(space, seed, i, first_attempt[i], validity) for i in pending]
            results: Iterable = (
                pool.map(_make_body_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers))))
                if pool
                else map(_make_body_job, jobs)
            )
            retry = []
            for i, (body, rejected) in zip(pending, results, strict=True):
                rejections.update(rejected)
                candidates += sum(rejected.values()) + 1
                if body.tree_hash in seen:  # slots are settled in index order: the earlier one keeps it
                    duplicates += 1
                    rejections["duplicate"] += 1
                    first_attempt[i] = body.attempt + 1
                    retry.append(i)
                else:
                    seen[body.tree_hash] = i
                    accepted[i] = body
                if progress:
                    progress(len(accepted), candidates, sum(rejections.values()))
            pending = retry
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return GenerationResult(
        bodies=[accepted[i] for i in range(count)],
        rejections=rejections,
        candidates=candidates,
        duplicates=duplicates,
        seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------------------------
# Writing body sets


def _write_split(folder: Path, entries: list[tuple[str, str, dict, dict]], header: dict) -> None:
    """Write a UNIMAL-layout folder: xml/NAME.xml, metadata/NAME.json, manifest.json."""
    (folder / "xml").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for name, xml, metadata, _ in entries:
        (folder / "xml" / f"{name}.xml").write_text(xml)
        (folder / "metadata" / f"{name}.json").write_text(json.dumps(metadata) + "\n")
    write_json_atomic(folder / "manifest.json", {**header, "bodies": [entry for *_, entry in entries]})


def split_indices(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/held-out split of ``range(count)``."""
    if not 0 < fraction < 1:
        raise MetamorphError(f"--split must be between 0 and 1 (exclusive), got {fraction}")
    order = np.random.default_rng([seed, 7919]).permutation(count)
    cut = round(fraction * count)
    if cut in (0, count):
        raise MetamorphError(f"--split {fraction} of {count} bodies leaves one side empty")
    return sorted(order[:cut].tolist()), sorted(order[cut:].tolist())


def write_body_set(
    result: GenerationResult, out: Path, space: DesignSpace | QuadrupedSpace, seed: int, split: float | None = None
) -> dict[str, Path]:
    """Write generated bodies (optionally split into train/ and heldout/) atomically; returns the folders."""
    out = Path(out)
    header = {
        "generator": "metamorph generate",
        "space": dataclasses.asdict(space),
        "seed": seed,
        "count": len(result.bodies),
        "candidates": result.candidates,
        "rejections": dict(sorted(result.rejections.items())),
    }
    entries = [(b.name, b.xml, b.metadata, b.manifest_entry()) for b in result.bodies]
    if split is not None:
        train, heldout = split_indices(len(entries), split, seed)  # a bad fraction fails before any writing
    with atomic_folder(out) as tmp:
        if split is None:
            _write_split(tmp, entries, header)
            return {"all": out}
        for part, indices in (("train", train), ("heldout", heldout)):
            _write_split(tmp / part, [entries[i] for i in indices], {**header, "split": part, "fraction": split})
    return {"train": out / "train", "heldout": out / "heldout"}


def _holds_bodies(folder: Path) -> bool:
    return (folder / "xml").is_dir() or any(folder.glob("*.xml")) or any(folder.glob("*.urdf"))


def body_files(folder: Path) -> list[Path]:
    """The robot files of a body set: ``xml/*.xml`` of a UNIMAL-layout folder, else ``*.xml``/``*.urdf``;
    a folder with neither whose subfolders are body sets gives their union, in name order (a run's
    ``bodies/`` when it generated several sets, ``--bodies generate:A:N+generate:B:M``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MetamorphError(f"{folder}: not a folder of bodies")
    inner = folder / "xml"
    files = sorted(inner.glob("*.xml")) if inner.is_dir() else sorted([*folder.glob("*.xml"), *folder.glob("*.urdf")])
    if not files and not inner.is_dir():
        sets = [sub for sub in sorted(folder.iterdir()) if sub.is_dir() and _holds_bodies(sub)]
        files = [path for sub in sets for path in body_files(sub)]
    if not files:
        raise MetamorphError(f"{folder}: no .xml or .urdf bodies (looked in {inner if inner.is_dir() else folder})")
    return files
