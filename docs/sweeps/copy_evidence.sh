#!/usr/bin/env bash
# Copy a finished sweep's evidence (no checkpoints, no run folders) into docs/sweeps/:
#   bash docs/sweeps/copy_evidence.sh sweeps/NAME docs/sweeps/NAME
# Copies sweep.json, sweep.log and report/ when present, and per trial attempts.jsonl,
# metrics.jsonl, objective.json and each suite's suite.json, suite.md and per-set results (the
# results.csv of set S as S-results.csv).
set -euo pipefail
src=${1:?sweep folder}
dest=${2:?destination under docs/sweeps}
mkdir -p "$dest"
for f in sweep.json sweep.log; do [[ -f "$src/$f" ]] && cp "$src/$f" "$dest/"; done
[[ -d "$src/report" ]] && cp -r "$src/report" "$dest/"
for trial in "$src"/trials/*/; do
  name=$(basename "$trial")
  [[ -f "$trial/objective.json" ]] || continue  # unfinished
  mkdir -p "$dest/trials/$name"
  cp "$trial"/{attempts.jsonl,metrics.jsonl,objective.json} "$dest/trials/$name/"
  for suite in "$trial"/eval/suite-*/; do
    [[ -d "$suite" ]] || continue
    out="$dest/trials/$name/eval/$(basename "$suite")"
    mkdir -p "$out"
    cp "$suite"/suite.{json,md} "$out/"
    for results in "$suite"/*/results.csv; do
      [[ -f "$results" ]] && cp "$results" "$out/$(basename "$(dirname "$results")")-results.csv"
    done
  done
done
echo "copied $(ls "$dest/trials" | wc -l) trials to $dest"
