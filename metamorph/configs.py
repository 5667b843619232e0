"""Training configurations as files and as overrides, addressed by their command-line flag names.

A training config file (``train/NAME.toml``) sets `TrainConfig` fields by the names of their flags
(``total-steps``, ``ppo.learning-rate``) or their Python names (``total_steps``, or a ``[ppo]`` table);
``metamorph train --config FILE`` starts from it and any flag overrides it. Sweeps use the same
`Overrides` to name the fields they vary. Every name and value is checked against the dataclass, so
a typo or a wrong type is a one-line error naming the file and the field, before anything runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from metamorph.errors import MetamorphError

Overrides = dict[str, Any]
"""Field values by flag name without the dashes in front (``ppo.learning-rate``), in file order."""

# Fields that say where and how one process runs, not what is trained: a sweep sets them itself.
LAUNCH_FIELDS = ("run_dir", "resume", "coordinator", "num_processes", "process_id")


def flag_name(path: str) -> str:
    """``ppo.learning_rate`` -> ``ppo.learning-rate`` (tyro's spelling of the flag)."""
    return path.replace("_", "-")


def _field_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every leaf field of a (nested) config dataclass: flag name -> its type."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            out.update(_field_types(kind, f"{prefix}{field.name}."))
        else:
            out[flag_name(prefix + field.name)] = kind
    return out


def train_fields() -> dict[str, Any]:
    from metamorph.train import TrainConfig

    return _field_types(TrainConfig)


def _flatten(table: dict, prefix: str = "") -> Overrides:
    out: Overrides = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def check_value(name: str, kind: Any, value: Any, where: str) -> Any:
    """``value`` converted to the field's type, or a one-line error naming ``where`` and the field."""
    # ``int | None`` is a types.UnionType; ``int | Literal["auto"]`` is a typing.Union
    union = isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union
    options = typing.get_args(kind) if union else (kind,)
    if value is None and type(None) in options:
        return None
    # TOML has no null: "none" unsets an optional number (a grid can then compare a value with the default)
    if value == "none" and type(None) in options and not {str, Path} & set(options):
        return None
    for option in options:
        if typing.get_origin(option) is typing.Literal and value in typing.get_args(option):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (str, Path) and isinstance(value, str):
            return option(value)
        words = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        if typing.get_args(option) == (str, ...) and words:
            return tuple(value)
        numbers = isinstance(value, list | tuple) and all(
            isinstance(item, int | float) and not isinstance(item, bool) for item in value
        )
        if typing.get_args(option) == (float, ...) and numbers:
            return tuple(float(item) for item in value)
    expected = " or ".join(_type_name(o) for o in options)
    raise MetamorphError(f"{where}: {name} must be {expected}, got {value!r} ({type(value).__name__})")


def _type_name(kind: Any) -> str:
    if kind is type(None):
        return "null"
    if typing.get_args(kind) == (str, ...):
        return "a list of words"
    if typing.get_args(kind) == (float, ...):
        return "a list of numbers"
    if typing.get_origin(kind) is typing.Literal:
        return " or ".join(repr(word) for word in typing.get_args(kind))
    return kind.__name__


def unknown_field(where: str, key: str, known: list[str], spelled: str | None = None) -> MetamorphError:
    """The error for a field name that is not one of ``known``, suggesting the nearest."""
    near = difflib.get_close_matches(spelled or key, known, n=1, cutoff=0.5)
    return MetamorphError(f"{where}: unknown field '{key}'" + (f"; did you mean '{near[0]}'?" if near else ""))


def check_overrides(raw: dict, where: str, allow_launch: bool = True) -> Overrides:
    """Flatten a table of field values, normalise names to flag spelling and check names and types."""
    fields = train_fields()
    checked: Overrides = {}
    for key, value in _flatten(raw).items():
        name = flag_name(key)
        if name not in fields:
            raise unknown_field(where, key, list(fields), name)
        if not allow_launch and name.replace("-", "_") in LAUNCH_FIELDS:
            raise MetamorphError(f"{where}: '{key}' says how one process runs; a sweep sets it for every trial")
        checked[name] = check_value(name, fields[name], value, where)
    return checked


def read_toml(path: Path) -> dict:
    """A TOML file's table, or a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MetamorphError(f"{path}: no such file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise MetamorphError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise MetamorphError(f"{path}: not a text file") from None


def apply_overrides(config, overrides: Overrides):
    """A copy of a `TrainConfig` with the fields named by flag name replaced."""
    nested: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for name, value in overrides.items():
        path = name.replace("-", "_").split(".")
        if len(path) == 1:
            top[path[0]] = value
        else:
            nested.setdefault(path[0], {})[path[1]] = value
    for group, values in nested.items():
        top[group] = dataclasses.replace(getattr(config, group), **values)
    return dataclasses.replace(config, **top)


def load_train_config(path: Path):
    """A `TrainConfig` from a ``train/NAME.toml`` file: defaults, then the file's fields."""
    from metamorph.train import TrainConfig

    return apply_overrides(TrainConfig(), check_overrides(read_toml(path), str(path)))


def as_flags(overrides: Overrides) -> list[str]:
    """Command-line flags that set these fields (``--ppo.learning-rate 0.0003``)."""
    flags: list[str] = []
    for name, value in overrides.items():
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--{_negated(name)}")
        elif isinstance(value, tuple | list):  # a list of words or numbers (read back from JSON as a list)
            flags += [f"--{name}", *map(str, value)]
        else:
            flags += [f"--{name}", "None" if value is None else str(value)]
    return flags


def _negated(name: str) -> str:
    """tyro's spelling of a false boolean flag: ``ppo.normalize-advantages`` -> ``ppo.no-normalize-advantages``."""
    head, _, last = name.rpartition(".")
    return f"{head}.no-{last}" if head else f"no-{last}"
