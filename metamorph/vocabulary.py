"""The body-part vocabulary: which kinds of part a policy knows, each with a stable integer id.

A part kind is the triple (geom type, joint type, actuator type) of a token:

- geom: the type of the link's largest geom — sphere, capsule, cylinder, box, ellipsoid, mesh,
  or none (a link with no geom);
- joint: for joint tokens ``hinge``, ``continuous`` (a hinge without range: wheels, rotors) or
  ``slide``; for the root token the base: ``free``, ``planar`` or ``fixed``;
- actuator: ``motor`` or ``none`` (a passive joint, and every root token).

The policy embeds the id, so the vocabulary travels with every checkpoint. Adding a kind is one
registration; it never changes an existing id, so a checkpoint trained with the old vocabulary
loads into the new one (old rows kept, new rows initialised)::

    from metamorph.vocabulary import PartKind, register_part_kind

    register_part_kind(PartKind(geom="cylinder", joint="continuous", actuator="motor", name="wheel"))

A kind may carry a feature function: up to `EXTRA_WIDTH` numbers it computes from the part
(`PartContext`), written into the token's ``kind_extra`` feature slot. Kinds without one leave
the slot at zero.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import mujoco
import numpy as np

from metamorph.errors import MetamorphError

GEOM_TYPES = ("sphere", "capsule", "cylinder", "box", "ellipsoid", "mesh", "none")
TOKEN_JOINT_TYPES = ("hinge", "continuous", "slide")
BASE_TYPES = ("free", "planar", "fixed")
ACTUATOR_TYPES = ("motor", "none")
EXTRA_WIDTH = 4
"""Width of the ``kind_extra`` token feature slot that a kind's feature function fills."""

PAD_ID = 0
"""Id of padding tokens; real kinds start at 1."""


@dataclasses.dataclass(frozen=True)
class PartContext:
    """What a kind's feature function may look at: the compiled model and the token's part."""

    model: mujoco.MjModel
    body: int
    """The link's jointed body (or the root body)."""
    joint: int
    """The token's joint id, -1 for the root token."""
    geom: int
    """The link's largest geom, -1 when it has none."""


FeatureFn = Callable[[PartContext], Sequence[float]]


@dataclasses.dataclass(frozen=True)
class PartKind:
    """One kind of body part. Two kinds are the same kind when their (geom, joint, actuator) match."""

    geom: str
    joint: str
    actuator: str
    name: str = ""
    """Human-readable name; defaults to 'geom/joint/actuator'."""
    features: FeatureFn | None = dataclasses.field(default=None, compare=False, repr=False)
    """Optional: up to EXTRA_WIDTH numbers describing the part beyond the shared features."""

    def __post_init__(self):
        if self.geom not in GEOM_TYPES:
            raise MetamorphError(f"part kind: geom '{self.geom}' is not one of {GEOM_TYPES}")
        if self.joint not in TOKEN_JOINT_TYPES + BASE_TYPES:
            raise MetamorphError(f"part kind: joint '{self.joint}' is not one of {TOKEN_JOINT_TYPES + BASE_TYPES}")
        if self.actuator not in ACTUATOR_TYPES:
            raise MetamorphError(f"part kind: actuator '{self.actuator}' is not one of {ACTUATOR_TYPES}")
        if self.joint in BASE_TYPES and self.actuator != "none":
            raise MetamorphError(f"part kind: a root ({self.joint}) part has no actuator, got '{self.actuator}'")
        if not self.name:
            object.__setattr__(self, "name", f"{self.geom}/{self.joint}/{self.actuator}")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.geom, self.joint, self.actuator)

    def extra_features(self, context: PartContext) -> np.ndarray:
        out = np.zeros(EXTRA_WIDTH, np.float32)
        if self.features is not None:
            values = np.asarray(self.features(context), np.float32).ravel()
            if values.size > EXTRA_WIDTH:
                raise MetamorphError(
                    f"part kind '{self.name}': feature function gave {values.size} numbers, at most {EXTRA_WIDTH}"
                )
            out[: values.size] = values
        return out


class Vocabulary:
    """An ordered registry of part kinds; a kind's id is its position + 1 (0 is padding)."""

    def __init__(self, kinds: Iterable[PartKind] = ()):
        self._kinds: list[PartKind] = []
        self._ids: dict[tuple[str, str, str], int] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: PartKind) -> int:
        """Add a kind and return its id. Registering a kind that is already there returns its id."""
        if kind.key in self._ids:
            existing = self._kinds[self._ids[kind.key] - 1]
            if kind.features is not None and existing.features is None:
                self._kinds[self._ids[kind.key] - 1] = kind  # same kind, now with a feature function
            return self._ids[kind.key]
        self._kinds.append(kind)
        self._ids[kind.key] = len(self._kinds)
        return self._ids[kind.key]

    def id_of(self, key: tuple[str, str, str]) -> int | None:
        return self._ids.get(key)

    def kind(self, part_id: int) -> PartKind:
        return self._kinds[part_id - 1]

    def __len__(self) -> int:
        return len(self._kinds)

    @property
    def size(self) -> int:
        """Rows an embedding table needs: the kinds plus the padding id."""
        return len(self._kinds) + 1

    def __iter__(self) -> Iterator[PartKind]:
        return iter(self._kinds)

    def __contains__(self, kind: PartKind) -> bool:
        return kind.key in self._ids

    def copy(self) -> Vocabulary:
        return Vocabulary(self._kinds)

    def extended_with(self, other: Vocabulary) -> Vocabulary:
        """This vocabulary's kinds with their ids, then the kinds only ``other`` has."""
        merged = self.copy()
        for kind in other:
            merged.register(kind)
        return merged

    def to_json(self) -> list[dict]:
        return [
            {"id": i + 1, "name": k.name, "geom": k.geom, "joint": k.joint, "actuator": k.actuator}
            for i, k in enumerate(self._kinds)
        ]

    @classmethod
    def from_json(cls, entries: list[dict], feature_source: Vocabulary | None = None) -> Vocabulary:
        """Rebuild a saved vocabulary with its ids; feature functions come from ``feature_source``."""
        vocab = cls()
        for expected_id, entry in enumerate(sorted(entries, key=lambda e: e["id"]), start=1):
            if entry["id"] != expected_id:
                raise MetamorphError(
                    f"vocabulary: ids must run 1..N without gaps, found {entry['id']} at {expected_id}"
                )
            kind = PartKind(entry["geom"], entry["joint"], entry["actuator"], name=entry.get("name", ""))
            if feature_source is not None and (known := feature_source.id_of(kind.key)) is not None:
                kind = dataclasses.replace(kind, features=feature_source.kind(known).features)
            vocab.register(kind)
        return vocab

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        try:
            entries = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MetamorphError(f"{path}: cannot read vocabulary: {exc}") from None
        return cls.from_json(entries, feature_source=DEFAULT_VOCABULARY)


def default_vocabulary() -> Vocabulary:
    """The kinds every metamorph install knows: all geoms on free/planar/fixed roots and on
    limited hinges and slides, with or without a motor. Continuous joints (wheels) are left for
    a user to register, as the README shows."""
    vocab = Vocabulary()
    for geom, base in itertools.product(GEOM_TYPES, BASE_TYPES):
        vocab.register(PartKind(geom, base, "none"))
    for geom, joint, actuator in itertools.product(GEOM_TYPES, ("hinge", "slide"), ACTUATOR_TYPES):
        vocab.register(PartKind(geom, joint, actuator))
    return vocab


DEFAULT_VOCABULARY = default_vocabulary()
"""The process-wide registry that `register_part_kind` and the command line use."""


def register_part_kind(kind: PartKind) -> int:
    """Register a kind in the default vocabulary; returns its id."""
    return DEFAULT_VOCABULARY.register(kind)


def load_part_plugins(sources: Iterable[str | Path]) -> None:
    """Import Python files or modules that register part kinds (the ``--parts`` flag)."""
    for source in sources:
        path = Path(source)
        if path.suffix == ".py":
            if not path.is_file():
                raise MetamorphError(f"{path}: no such part-kind file")
            spec = importlib.util.spec_from_file_location(f"metamorph_parts_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # a user's file: report it in one line
                raise MetamorphError(f"{path}: failed to load part kinds: {type(exc).__name__}: {exc}") from None
        else:
            try:
                importlib.import_module(str(source))
            except ImportError as exc:
                raise MetamorphError(f"--parts {source}: cannot import module: {exc}") from None
