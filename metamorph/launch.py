"""``metamorph train --processes N``: one run split among N processes on this machine.

On a CPU, XLA runs the small matrices of this policy's update at a fraction of the machine's rate
when one process spreads them over every core; N single-threaded processes, each with its share of
the environments and joined by JAX's own multi-process runtime (`jax.distributed`, the same path as
training on many hosts), keep every core busier. The launcher only starts the processes and watches
them: each is an ordinary ``metamorph train`` with ``--num-processes N --process-id k``, process 0
writes the run folder, and a run started this way resumes the same way (``--resume --processes N``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metamorph.errors import MetamorphError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def thread_environment(threads: int) -> dict[str, str]:
    """This process's environment for a child that may use ``threads`` threads (XLA and the numeric
    libraries); used for launched processes and for sweep trials."""
    env = dict(os.environ)
    xla = env.get("XLA_FLAGS", "")
    if threads == 1:  # XLA's CPU thread pool otherwise spans every core of the machine
        xla += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env.update({"XLA_FLAGS": xla.strip(), "OMP_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})  # fmt: skip
    return env


def child_environment() -> dict[str, str]:
    """One thread; METAMORPH_LAUNCHER names the launcher's pid (`die_with_launcher`)."""
    return thread_environment(1) | {"METAMORPH_LAUNCHER": str(os.getpid())}


def die_with_parent(parent: int) -> None:
    """In a child process: end when ``parent`` (the pid that started it) ends, even by SIGKILL, so
    that no orphan trains on beside a resumed run (Linux's parent-death signal; elsewhere a no-op).
    A parent already gone before the signal was armed sends none: the child ends at once."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def die_with_launcher() -> None:
    """In a launched process: `die_with_parent` of the launcher METAMORPH_LAUNCHER names."""
    launcher = os.environ.get("METAMORPH_LAUNCHER")
    if launcher:
        die_with_parent(int(launcher))


def processes_to_launch(processes: int, coordinator: str | None, resume: bool, run_dir: Path | None) -> int:
    """How many local processes a ``metamorph train`` command starts (1: it trains itself).

    A process started by the launcher (it has a coordinator) trains; a resume takes the number the
    run was started with, from its config.json."""
    if coordinator is not None:
        return 1
    if resume and run_dir is not None and (run_dir / "config.json").is_file():
        # a broken config.json is left to train(), which names the file and the problem
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            processes = int(json.loads((run_dir / "config.json").read_text())["config"].get("processes", 1))
    if processes < 1:
        raise MetamorphError(f"--processes must be ≥ 1, got {processes}")
    return processes


def launch_processes(train_args: list[str], processes: int, num_envs: int, run_dir: Path, resume: bool = False) -> int:
    """Run ``metamorph train train_args`` as ``processes`` local processes; the exit status of the run.

    ``num_envs`` is the run's total: each process steps its share on one thread and, where the
    machine has a core for each, on its own core. Every process gets the same run folder. If one
    process fails, the others are stopped (they would otherwise wait for it in the next collective)
    and its status is returned."""
    if num_envs % processes and not resume:
        raise MetamorphError(f"--num-envs {num_envs} must divide among --processes {processes}")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    address = f"127.0.0.1:{_free_port()}"
    # later flags win: these replace any the user gave for how one process runs (a resume keeps the
    # run's own share of environments)
    common = [*train_args, *([] if resume else ["--num-envs", str(num_envs // processes)]), "--nthread", "1",
              "--run-dir", str(run_dir), "--coordinator", address, "--num-processes", str(processes)]  # fmt: skip
    with contextlib.ExitStack() as stack:
        return _watch(common, processes, cores, stack)


def _watch(common: list[str], processes: int, cores: list[int], stack: contextlib.ExitStack) -> int:
    children, logs = [], []
    for k in range(processes):
        # process 0 shows progress and errors; the others' output is kept, in case one fails alone
        log = None if k == 0 else stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (the stack closes it)
        command = [sys.executable, "-m", "metamorph", "train", *common, "--process-id", str(k)]
        child = subprocess.Popen(command, stdout=log or None, stderr=log or None, env=child_environment(), text=True)
        children.append(child)
        logs.append(log)
        if len(cores) >= processes:  # before the child starts its threads, which inherit the core
            with contextlib.suppress(OSError):
                os.sched_setaffinity(child.pid, {cores[k]})
    try:
        while True:
            codes = [child.poll() for child in children]
            failed = [k for k, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _stop(children)
                if codes[0] in (None, 0):  # process 0 said nothing of it: show the failed one's words
                    logs[failed[0]].seek(0)
                    print(logs[failed[0]].read()[-2000:], file=sys.stderr, end="")
                return codes[failed[0]]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        _stop(children)
        raise


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # a trainer interrupted this way keeps its last checkpoint
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
