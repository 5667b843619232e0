"""The table of docs/learning.md's "Refitting the observation statistics…": per normalisation, the
mean over seeds [95 % CI over seeds] of UNIMAL-100's mean and median return, the share of bodies
moving and the share beating zero torque, from results/*.json (stats_eval.py's output).

    python docs/sweeps/generated-to-unimal-statistics/summary.py > \
        docs/sweeps/generated-to-unimal-statistics/summary.json
"""

import json
from pathlib import Path

import numpy as np

from metamorph.sweep_report import BODY_STATS, stratified_bootstrap_ci

HERE = Path(__file__).parent
files = sorted((HERE / "results").glob("*.json"))
runs = [json.loads(path.read_text()) for path in files]
table = {}
for name in ("saved", "static", "proprio", "both"):
    table[name] = {}
    for metric in BODY_STATS:
        values = np.array([next(r for r in run["rows"] if r["statistics"] == name)[metric] for run in runs])
        low, high = stratified_bootstrap_ci(values, np.mean)
        table[name][metric] = {"mean": round(float(values.mean()), 3), "ci": [round(low, 3), round(high, 3)],
                               "per_seed": [round(float(v), 3) for v in values]}  # fmt: skip
shift = {run["rows"][0]["trial"].rsplit("/", 1)[-1]: run["shift"] for run in runs}
print(json.dumps({"files": [f.name for f in files], "zero_mean": runs[0]["rows"][0]["zero_mean"],
                  "table": table, "shift": shift}, indent=1))  # fmt: skip
