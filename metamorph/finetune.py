"""Fine-tuning a trained policy on new bodies, compared with training from scratch.

`finetune` trains from a checkpoint (``TrainConfig.init_from``, optionally freezing parts) and, for
comparison, the same architecture from scratch with the same bodies, budget and seed. The report
(``comparison.md``, ``comparison.json``, ``comparison.png`` in the fine-tuning run) states the
final returns and the sample efficiency: how many environment steps each run needed to reach the
return that the run from scratch ends with.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from metamorph.train import TrainConfig, train


def _curve(run: Path, window: int) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = np.array([r["env_steps"] for r in rows], float)
    values = np.array([np.nan if r["episode_return"] is None else r["episode_return"] for r in rows])
    smooth = np.full(len(values), np.nan)
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        if np.isfinite(chunk).any():
            smooth[i] = np.nanmean(chunk)
    return steps, smooth


def _steps_to_reach(steps: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    hit = np.flatnonzero(np.nan_to_num(curve, nan=-np.inf) >= target)
    return float(steps[hit[0]]) if hit.size else None


def compare_runs(finetuned: Path, scratch: Path, out: Path, window: int = 5) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ft_steps, ft = _curve(finetuned, window)
    sc_steps, sc = _curve(scratch, window)
    tail = max(1, len(sc) // 5)
    target = float(np.nanmean(sc[-tail:]))
    ft_hit, sc_hit = _steps_to_reach(ft_steps, ft, target), _steps_to_reach(sc_steps, sc, target)
    summary = {
        "finetuned_run": str(finetuned),
        "scratch_run": str(scratch),
        "target_return": target,
        "finetuned_final_return": float(np.nanmean(ft[-tail:])),
        "scratch_final_return": target,
        "finetuned_first_return": float(ft[np.isfinite(ft)][0]) if np.isfinite(ft).any() else None,
        "scratch_first_return": float(sc[np.isfinite(sc)][0]) if np.isfinite(sc).any() else None,
        "finetuned_steps_to_target": ft_hit,
        "scratch_steps_to_target": sc_hit,
        "sample_efficiency": (sc_hit / ft_hit) if ft_hit and sc_hit else None,
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(ft_steps / 1e3, ft, label="fine-tuned")
    ax.plot(sc_steps / 1e3, sc, label="from scratch")
    ax.axhline(target, color="grey", ls=":", label="scratch's final return")
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("episode return (smoothed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=110)
    plt.close(fig)
    efficiency = summary["sample_efficiency"]
    lines = [
        "# Fine-tuning against training from scratch",
        "",
        f"- fine-tuned: {finetuned}",
        f"- from scratch: {scratch}",
        "",
        "| | first return | final return | steps to reach the scratch run's final return |",
        "| --- | --- | --- | --- |",
        f"| fine-tuned | {summary['finetuned_first_return']} | {summary['finetuned_final_return']:.2f} | {ft_hit} |",
        f"| from scratch | {summary['scratch_first_return']} | {target:.2f} | {sc_hit} |",
        "",
        "Sample efficiency (scratch steps ÷ fine-tuned steps to that return): "
        + (f"{efficiency:.2f}" if efficiency else "not reached"),
        "",
        "![comparison](comparison.png)",
        "",
    ]
    (out / "comparison.md").write_text("\n".join(lines))
    return summary


def finetune(config: TrainConfig, compare: bool = True, progress: bool = True) -> dict:
    """Train from ``config.init_from`` and, with ``compare``, the same from scratch; returns the comparison."""
    train(config, progress=progress)
    if not compare:
        return {}
    from metamorph.checkpoint import find_checkpoint

    source = json.loads((find_checkpoint(Path(config.init_from)) / "meta.json").read_text())["config"]
    scratch_dir = config.run_dir.parent / f"{config.run_dir.name}-scratch"
    # the same architecture as the pre-trained policy, the same bodies, budget and seed
    scratch = dataclasses.replace(config, init_from=None, freeze="none", run_dir=scratch_dir,
                                  model=source["model"], position=source["position"],
                                  frame=source.get("frame", "torso"),
                                  link_geometry=source.get("link_geometry", "largest"),
                                  tokens=source.get("tokens", "joint"),
                                  action_std=source.get("action_std"))  # fmt: skip
    train(scratch, progress=progress)
    return compare_runs(config.run_dir, scratch_dir, config.run_dir)
