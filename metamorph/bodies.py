"""Body specs: what `--bodies` accepts, resolved to files.

- a folder of bodies (UNIMAL layout with ``xml/``, or plain ``.xml``/``.urdf`` files);
- files joined by commas;
- ``generate:SPACE:COUNT[:SEED]``: bodies generated into a folder you give;
- ``real:all`` or ``real:ant,hopper``: the curated real robots of ``metamorph/data/real_robots.json``
  that ship inside installed packages (gymnasium, dm_control);
- ``menagerie:NAME[,NAME]``: MuJoCo Menagerie robots from a local copy named by ``MENAGERIE_ROOT``
  (the PyPI package downloads robots at run time, which fails offline).

Any of them may end in a Python slice over its files in their listed (sorted) order, to split one
set into training and held-out bodies: ``unimal100/train[:80]`` and ``unimal100/train[80:]``, or,
with a step, every fifth body held out (``[::5]``) and the rest trained on
(``[1::5]+[2::5]+[3::5]+[4::5]``).

Specs joined by ``+`` train or evaluate on the union of their bodies, in order:
``unimal100/train[:80]+generate:unimal-like:1000`` adds generated bodies to 80 benchmark bodies. A
generated part is written into its own subfolder of the folder a single spec would use.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from metamorph.errors import MetamorphError

REAL_ROBOTS = Path(__file__).resolve().parent / "data" / "real_robots.json"
"""The curated list ships inside the package (package data), so installed copies find it too."""


def real_robots() -> list[dict]:
    if not REAL_ROBOTS.is_file():
        raise MetamorphError(f"{REAL_ROBOTS}: the curated robot list is missing")
    return json.loads(REAL_ROBOTS.read_text())["robots"]


def real_robot_path(entry: dict) -> Path:
    spec = importlib.util.find_spec(entry["package"])
    if spec is None or not spec.submodule_search_locations:
        package = entry["package"]
        raise MetamorphError(
            f"real:{entry['name']}: needs the package '{package}' (pip install {package.replace('_', '-')})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / entry["path"]
    if not path.is_file():
        raise MetamorphError(f"real:{entry['name']}: {path} is not in the installed {entry['package']}")
    return path


JOIN = "+"


def split_join(spec: str) -> list[str]:
    """``A+B+C`` -> [A, B, C]; an empty part is refused."""
    parts = spec.split(JOIN)
    if len(parts) > 1 and not all(parts):
        raise MetamorphError(f"--bodies {spec}: an empty part around '{JOIN}'")
    return parts


def part_folder(part: str) -> str:
    """The subfolder a joined spec's generated part is written into: the part with every character
    that is not safe in a file name replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", part).strip("-")


_SELECTION = re.compile(r"^(?P<spec>.+)\[(?P<start>-?\d*):(?P<stop>-?\d*)(?::(?P<step>-?\d*))?\]$")


def split_selection(spec: str) -> tuple[str, slice | None]:
    """``SPEC[START:STOP]`` or ``SPEC[START:STOP:STEP]`` -> (SPEC, slice); a spec without a
    selection -> (spec, None)."""
    match = _SELECTION.match(spec)
    if match is None:
        return spec, None
    start, stop, step = (int(match[k]) if match[k] else None for k in ("start", "stop", "step"))
    if step == 0:
        raise MetamorphError(f"{spec}: a selection's step cannot be zero")
    return match["spec"], slice(start, stop, step)


def check_spec(spec: str) -> None:
    """Refuse a body spec that cannot resolve, without generating or loading anything: unknown robots,
    design spaces or forms, missing files and folders, MENAGERIE_ROOT unset."""
    from metamorph.design import design_space

    parts = split_join(spec)
    if len(parts) > 1:
        for part in parts:
            check_spec(part)
        return
    spec, _ = split_selection(spec)
    if spec.startswith("generate:"):
        design_space(_generate_parts(spec)[1])
    else:
        resolve(spec)  # names and paths only: nothing is generated or loaded


def _generate_parts(spec: str) -> tuple[str, str, int, int]:
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not parts[2].isdigit() or (len(parts) == 4 and not parts[3].isdigit()):
        raise MetamorphError(f"--bodies {spec}: expected generate:SPACE:COUNT[:SEED]")
    return parts[0], parts[1], int(parts[2]), int(parts[3]) if len(parts) == 4 else 0


def resolve(spec: str, generate_into: Path | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """(files to load, [(name, reason)] of bodies excluded up front)."""
    files, excluded = [], []
    for part_files, part_excluded in resolve_parts(spec, generate_into):
        files += part_files
        excluded += part_excluded
    return files, excluded


def resolve_parts(spec: str, generate_into: Path | None = None) -> list[tuple[list[Path], list[tuple[str, str]]]]:
    """`resolve` for each ``+``-joined part of ``spec``, in order (one entry for an unjoined spec)."""
    parts = split_join(spec)
    if len(parts) > 1:
        return [
            resolve_parts(part, None if generate_into is None else generate_into / part_folder(part))[0]
            for part in parts
        ]
    base, selection = split_selection(spec)
    files, excluded = _resolve(base, generate_into)
    return [(select(files, selection, f"--bodies {spec}", base), excluded)]


def check_part_shares(shares: Sequence[float], spec: str) -> None:
    """Refuse ``--part-shares`` that do not give one positive share to each ``+``-joined part."""
    if not shares:
        return
    parts = split_join(spec)
    if len(shares) != len(parts):
        raise MetamorphError(
            f"--part-shares: {len(shares)} share(s) for the {len(parts)} '{JOIN}'-joined part(s) of --bodies {spec}"
        )
    if not all(math.isfinite(share) and share > 0 for share in shares):
        raise MetamorphError(f"--part-shares: every share must be a positive number, got {list(shares)}")


def part_weights(shares: Sequence[float], part_sizes: Sequence[int]) -> list[float] | None:
    """One sampling weight per body (parts in order) that gives each part its share of the draws
    whatever its number of bodies: share ÷ the part's bodies (None when no shares are asked)."""
    if not shares:
        return None
    total = sum(shares)
    return [share / total / size for share, size in zip(shares, part_sizes, strict=True) for _ in range(size)]


def select(files: list[Path], selection: slice | None, spec: str, base: str) -> list[Path]:
    """The files a ``[START:STOP]`` selection keeps (all without one); keeping none is a one-line
    error naming ``spec``."""
    if selection is None:
        return files
    chosen = files[selection]
    if not chosen:
        raise MetamorphError(f"{spec}: selects none of the {len(files)} bodies of {base}")
    return chosen


def _resolve(spec: str, generate_into: Path | None) -> tuple[list[Path], list[tuple[str, str]]]:
    from metamorph.generate import body_files

    if spec.startswith("real:"):
        wanted = spec[len("real:") :].split(",")
        robots = real_robots()
        known = {r["name"]: r for r in robots}
        unknown = [w for w in wanted if w != "all" and w not in known]
        if unknown:
            raise MetamorphError(f"--bodies {spec}: unknown robot(s) {', '.join(unknown)}; known: {', '.join(known)}")
        chosen = robots if "all" in wanted else [known[w] for w in wanted]
        files, excluded = [], []
        for robot in chosen:
            if robot["status"] != "ok":
                excluded.append((robot["name"], robot["reason"]))
                continue
            try:
                files.append(real_robot_path(robot))
            except MetamorphError as exc:
                excluded.append((robot["name"], str(exc)))
        return files, excluded
    if spec.startswith("menagerie:"):
        root = os.environ.get("MENAGERIE_ROOT")
        if not root:
            raise MetamorphError(
                "--bodies menagerie:…: set MENAGERIE_ROOT to a local copy of mujoco_menagerie "
                "(the PyPI package downloads robots at run time, which fails offline)"
            )
        files = []
        for name in spec[len("menagerie:") :].split(","):
            folder = Path(root) / name
            candidates = sorted(p for p in folder.glob("*.xml") if not p.name.startswith("scene"))
            if not candidates:
                raise MetamorphError(f"menagerie:{name}: no robot .xml in {folder}")
            files.append(candidates[0])
        return files, []
    if spec.startswith("generate:"):
        from metamorph.design import design_space
        from metamorph.generate import generate_bodies, write_body_set

        _, space_name, count, seed = _generate_parts(spec)
        if generate_into is None:
            raise MetamorphError(f"--bodies {spec}: nowhere to write the generated bodies")
        if not (generate_into / "manifest.json").is_file():
            space = design_space(space_name)
            write_body_set(generate_bodies(space, count, seed), generate_into, space, seed)
        return body_files(generate_into), []
    if "," in spec or spec.endswith((".xml", ".urdf")):
        files = [Path(p) for p in spec.split(",") if p]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise MetamorphError(f"--bodies: no such file: {', '.join(missing)}")
        return files, []
    return body_files(Path(spec)), []
