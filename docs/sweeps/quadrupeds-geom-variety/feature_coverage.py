"""How far the Go1's static token features (`shape` link geometry) sit from a training family's:
per feature group, the largest and mean |z| over the Go1's tokens, z = (Go1 - family mean) / family
std with the std floored at FLOOR (default 1e-4, i.e. about none; the Go1 recipe trains with 0.01).

    MENAGERIE_ROOT=/path python docs/sweeps/quadrupeds-geom-variety/feature_coverage.py FOLDER [FOLDER ...]

Each FOLDER is a body set as `--bodies` takes it (a folder from `metamorph generate --out`); prints
one JSON object a set.
"""

import json
import os
import sys

import numpy as np

from metamorph.bodies import resolve
from metamorph.morphology import load_morphology
from metamorph.tokens import static_layout, tokenize

GROUPS = ("shape_center", "shape_axes", "shape_scale", "extent", "com_pos", "inertia")


def static_features(path: str) -> np.ndarray:
    return np.asarray(tokenize(load_morphology(path), link_geometry="shape").static_features)


def main() -> None:
    floor = float(os.environ.get("FLOOR", "1e-4"))
    layout = static_layout("shape")
    go1 = static_features(os.path.join(os.environ["MENAGERIE_ROOT"], "unitree_go1", "go1.xml"))
    for folder in sys.argv[1:]:
        family = np.concatenate([static_features(path) for path in resolve(folder)[0]])
        z = np.abs((go1 - family.mean(0)) / np.maximum(family.std(0), floor))
        row = {"family": folder, "floor": floor}
        for name in GROUPS:
            cols = z[:, layout[name]]
            row[name] = {"max_abs_z": round(float(cols.max()), 2), "mean_abs_z": round(float(cols.mean()), 2)}
        row["all"] = {"max_abs_z": round(float(z.max()), 2), "share_beyond_3": round(float((z > 3).mean()), 3)}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
