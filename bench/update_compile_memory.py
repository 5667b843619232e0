"""Memory it takes to compile the default run's PPO update, padded, trimmed or packed, with and
without the XLA options training compiles a trimmed update with
(`metamorph.ppo.TRIMMED_COMPILER_OPTIONS`).

    python bench/update_compile_memory.py [--settings 0:none 4:none 4:trimmed packed:none] [-- TRAIN ARGS…]

Each setting is ``LAYOUT:OPTIONS``, the layout a token bucket (0: padded) or ``packed``
(``--ppo.pack-rows auto``, the rows as the run picks them), the options ``none`` (XLA's defaults)
or ``trimmed`` (the trimmed update's), and runs in its own process: build the default run's `Trainer` (its bodies,
environments and policy), then compile its update for a rollout of the run's shape. Prints one
JSON object: per setting, resident memory before the compile, the peak while compiling (the
process's maximum resident set), what stays after it (glibc's free pages returned), and XLA's
own account of the program's temporary buffers. The peak is what pushes a training run over a
memory limit; what stays is paid for the whole run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(layout: str, options: str, train_args: list[str]) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import psutil
    import tyro

    from metamorph.observation import policy_obs
    from metamorph.ppo import TRIMMED_COMPILER_OPTIONS, Transition, ppo_update
    from metamorph.train import TrainConfig, Trainer, _return_free_heap

    config = tyro.cli(TrainConfig, args=train_args)
    if layout == "packed":
        ppo = dataclasses.replace(config.ppo, pack_rows="auto", token_bucket=0)
    else:
        ppo = dataclasses.replace(config.ppo, pack_rows=0, token_bucket=int(layout))
    trainer = Trainer(dataclasses.replace(config, run_dir=Path(tempfile.mkdtemp()) / "run", ppo=ppo), progress=False)
    config = trainer.config  # "auto" decided on the bodies
    obs = trainer.env.reset(seed=0)
    state = trainer.init_state(obs, jax.random.PRNGKey(0))
    steps, envs = config.unroll_length, config.num_envs
    observed = policy_obs(obs)
    slots = observed["token_mask"].shape[-1]
    zeros = np.zeros((steps, envs), np.float32)
    rollout = Transition(
        obs={k: np.broadcast_to(v, (steps, *v.shape)).copy() for k, v in observed.items()},
        actions=np.zeros((steps, envs, slots), np.float32),
        log_prob=zeros, value=zeros, reward=zeros, done=zeros,
    )  # fmt: skip
    compiler_options = dict(TRIMMED_COMPILER_OPTIONS) if options == "trimmed" else {}
    update = jax.jit(
        lambda s, r, b, k: ppo_update(s, r, b, k, trainer.policy.apply, trainer.optimizer, config.ppo, trainer.mesh),
        compiler_options=compiler_options,
    )
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    compiled = update.lower(state, rollout, jnp.zeros(envs), jax.random.PRNGKey(1)).compile()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    _return_free_heap()  # glibc's free pages back to the system, as training does once an update
    after = process.memory_info().rss
    return {
        "token_bucket": config.ppo.token_bucket,
        "pack_rows": config.ppo.pack_rows,
        "compiler_options": compiler_options,
        "compile_s": round(seconds, 1),
        "rss_before_mib": before >> 20,
        "peak_while_compiling_mib": peak >> 20,
        "compile_transient_mib": (peak - before) >> 20,
        "kept_after_mib": (after - before) >> 20,
        "xla_temp_buffers_mib": compiled.memory_analysis().temp_size_in_bytes >> 20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["0:none", "4:none", "4:trimmed"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: measure this setting
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    if args.one:
        layout, options = args.one.split(":")
        print(json.dumps(measure(layout, options, args.train_args)))
        return
    results = []
    for setting in args.settings:
        command = [sys.executable, __file__, "--one", setting, "--", *args.train_args]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{setting} failed:\n{done.stderr[-2000:]}")
        results.append(json.loads(done.stdout.splitlines()[-1]))
    print(
        json.dumps(
            {"command": ["python", "bench/update_compile_memory.py", *sys.argv[1:]], "results": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
