"""What a body set covers: histograms and a summary next to a reference set (UNIMAL-100 by default).

`set_statistics` reads a body set's manifest when it has one (generated sets do), and otherwise
loads every body and settles it (`check_body`) to measure mass and standing height. The UNIMAL-100
reference shipped in ``metamorph/data/unimal100_reference.json`` was measured that way from the
benchmark's 100 training bodies (metadata from MetaMorph's public release), so the product needs no
copy of them; ``--compare-with DIR`` measures any other set instead.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from metamorph.files import atomic_folder
from metamorph.generate import Rejected, body_files, check_body
from metamorph.morphology import load_morphology

FIELDS = ("num_limbs", "dof", "total_mass", "standing_height")
LABELS = {
    "num_limbs": "limbs",
    "dof": "degrees of freedom",
    "total_mass": "total mass (kg)",
    "standing_height": "torso height at rest (m)",
}


def set_statistics(folder: Path) -> dict[str, list[float]]:
    """Per-body values of `FIELDS` for a body set folder."""
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        bodies = json.loads(manifest.read_text())["bodies"]
        return {field: [b[field] for b in bodies if field in b] for field in FIELDS}
    stats: dict[str, list[float]] = {field: [] for field in FIELDS}
    for path in body_files(folder):
        morphology = load_morphology(path)
        meta_path = path.parent.parent / "metadata" / f"{path.stem}.json"
        metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        stats["num_limbs"].append(metadata.get("num_limbs", morphology.tree.number_of_nodes() - 1))
        stats["dof"].append(metadata.get("dof", len(morphology.joint_ids())))
        try:
            measured = check_body(morphology)
        except Rejected:
            continue
        stats["total_mass"].append(round(measured.total_mass, 6))
        stats["standing_height"].append(round(measured.standing_height, 6))
    return stats


def unimal100_reference() -> dict[str, list[float]]:
    text = resources.files("metamorph").joinpath("data/unimal100_reference.json").read_text()
    return json.loads(text)["bodies"]


def _describe(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, float)
    return {
        "n": int(array.size),
        "mean": round(float(array.mean()), 4),
        "min": round(float(array.min()), 4),
        "p25": round(float(np.percentile(array, 25)), 4),
        "median": round(float(np.median(array)), 4),
        "p75": round(float(np.percentile(array, 75)), 4),
        "max": round(float(array.max()), 4),
    }


def write_report(
    stats: dict[str, list[float]], out: Path, reference: dict[str, list[float]] | None, title: str, reference_name: str
) -> Path:
    """Write ``histograms.png``, ``summary.json`` and ``summary.md`` into the folder ``out`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    with atomic_folder(out) as tmp:
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        for ax, field in zip(axes.ravel(), FIELDS, strict=True):
            ours = np.asarray(stats.get(field, []), float)
            theirs = np.asarray(reference.get(field, []), float) if reference else np.array([])
            joined = np.concatenate([ours, theirs]) if theirs.size else ours
            if field in ("num_limbs", "dof"):
                bins = np.arange(joined.min() - 0.5, joined.max() + 1.5) if joined.size else 10
            else:
                bins = np.linspace(joined.min(), joined.max(), 25) if joined.size else 10
            # weights 1/n: bar heights are fractions of each set, comparable across set sizes
            ax.hist(
                ours,
                bins=bins,
                weights=np.full(ours.size, 1 / max(ours.size, 1)),
                alpha=0.6,
                label=f"{title} (n={ours.size})",
            )
            if theirs.size:
                weights = np.full(theirs.size, 1 / theirs.size)
                ax.hist(theirs, bins=bins, weights=weights, alpha=0.6, label=f"{reference_name} (n={theirs.size})")
            ax.set_xlabel(LABELS[field])
            ax.set_ylabel("fraction of bodies")
            ax.legend(fontsize=8)
        fig.suptitle(f"{title}: what the body set covers")
        fig.tight_layout()
        fig.savefig(tmp / "histograms.png", dpi=110)
        plt.close(fig)

        summary = {
            "set": title,
            "reference": reference_name if reference else None,
            "fields": {
                field: {
                    "set": _describe(stats.get(field, [])),
                    "reference": _describe(reference.get(field, [])) if reference else {},
                }
                for field in FIELDS
            },
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        lines = [f"# {title}", "", f"Compared with {reference_name}." if reference else "", ""]
        lines += [
            "| quantity | set: median [p25, p75] (min–max) | reference: median [p25, p75] (min–max) |",
            "| --- | --- | --- |",
        ]
        for field in FIELDS:
            cells = []
            for d in (summary["fields"][field]["set"], summary["fields"][field]["reference"]):
                cells.append(f"{d['median']:g} [{d['p25']:g}, {d['p75']:g}] ({d['min']:g}–{d['max']:g})" if d else "–")
            lines.append(f"| {LABELS[field]} | {cells[0]} | {cells[1]} |")
        lines += ["", "![histograms](histograms.png)", ""]
        (tmp / "summary.md").write_text("\n".join(lines))
    return out
