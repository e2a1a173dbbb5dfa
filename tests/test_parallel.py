"""Tests of qlearn_lite.parallel: seeds, contexts, errors and the runners."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from conftest import live_semlocks, new_shm_segments, shm_entries, threads_left

from qlearn_lite.parallel import (
    ParallelResult,
    WorkerContext,
    WorkerError,
    apex_epsilons,
    lag_summary,
    run_processes,
    run_threads,
    worker_contexts,
)
from qlearn_lite.parallel_demos import DemoConfig, count_worker, threads_worker
from qlearn_lite.process_costs import burn_worker


def _interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, signal.raise_signal, args=(signal.SIGINT,))
    timer.start()
    return timer


# ------------------------------------------------------------- the seed split
def test_same_seed_same_contexts():
    """The same seed gives the same contexts, seeds and epsilons included."""
    assert worker_contexts(7, 4) == worker_contexts(7, 4)


def test_workers_get_different_streams():
    """Different workers get different agent and env seeds, and draws."""
    contexts = worker_contexts(0, 4)
    seeds = [c.agent_seed for c in contexts] + [c.env_seed for c in contexts]
    assert len(set(seeds)) == 8
    draws = [c.rng().random() for c in contexts]
    assert len(set(draws)) == 4


def test_worker_k_does_not_depend_on_n_workers():
    """Worker k's context is the same for 2 workers and for 8."""
    two, eight = worker_contexts(3, 2), worker_contexts(3, 8)
    for k in range(2):
        assert (two[k].agent_seed, two[k].env_seed, two[k].final_epsilon) == (
            eight[k].agent_seed,
            eight[k].env_seed,
            eight[k].final_epsilon,
        )


def test_final_epsilons_choices():
    """Mnih's draws come from {0.1, 0.01, 0.5}; Ape-X's follow eps^(1+7i/(N-1))."""
    mnih = {c.final_epsilon for c in worker_contexts(0, 64)}
    assert mnih == {0.1, 0.01, 0.5}
    apex = [c.final_epsilon for c in worker_contexts(0, 3, "apex")]
    assert apex == pytest.approx([0.4, 0.4**4.5, 0.4**8])
    assert apex_epsilons(1) == [0.4]
    given = [c.final_epsilon for c in worker_contexts(0, 2, [0.2, 0.3])]
    assert given == [0.2, 0.3]


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"seed": -1, "n_workers": 2}, ValueError, "non-negative"),
        ({"seed": 0, "n_workers": 0}, ValueError, "n_workers"),
        ({"seed": 0, "n_workers": 2.0}, TypeError, "n_workers"),
        ({"seed": 0, "n_workers": 2, "final_epsilons": "greedy"}, ValueError, "mnih"),
        ({"seed": 0, "n_workers": 2, "final_epsilons": [0.1]}, ValueError, "one"),
        ({"seed": 0, "n_workers": 1, "final_epsilons": [1.5]}, ValueError, "[0, 1]"),
    ],
)
def test_worker_contexts_bad_input(kwargs, error, phrase):
    """Bad seeds, counts and epsilons get a clear error."""
    with pytest.raises(error, match=None) as info:
        worker_contexts(**kwargs)
    assert phrase in str(info.value)


def test_numpy_scalars_accepted():
    """numpy ints work as seed and worker count."""
    assert worker_contexts(np.int64(1), np.int64(2)) == worker_contexts(1, 2)


def test_lag_summary_values():
    """The lag summary reports mean, median, 95th percentile and max."""
    summary = lag_summary([0, 1, 2, 3, 4])
    assert summary == {"mean": 2.0, "p50": 2.0, "p95": pytest.approx(3.8), "max": 4}
    assert lag_summary([])["max"] == 0.0


def test_parallel_result_rates():
    """Steps/s, updates/s and the replay ratio come from the counters."""
    result = ParallelResult(
        q=None,
        design="hogwild",
        n_workers=2,
        worker_steps=[300, 100],
        worker_returns=[[], []],
        global_steps=400,
        updates=100,
        wall_seconds=2.0,
        cpu_seconds=3.0,
    )
    assert result.env_steps == 400
    assert result.steps_per_second == 200.0
    assert result.updates_per_second == 50.0
    assert result.replay_ratio == 0.25
    assert result.cores_used == 1.5


# ------------------------------------------------------------------- threads
def test_run_threads_returns_in_worker_order():
    """Each worker's return value comes back at its id, with its own seeds."""
    contexts = worker_contexts(0, 3)
    outcome = run_threads(count_worker, contexts, None, DemoConfig(steps=50))
    assert [r["worker_id"] for r in outcome.returns] == [0, 1, 2]
    assert [r["steps"] for r in outcome.returns] == [50, 50, 50]
    expected = [sum(c.rng().random(50)) for c in contexts]
    assert [r["draw_sum"] for r in outcome.returns] == pytest.approx(expected)
    assert outcome.executor == "threads"


def test_run_threads_restores_torch_threads():
    """A worker that calls torch.set_num_threads(1) leaves the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_threads(threads_worker, worker_contexts(0, 2), None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_run_threads_worker_error():
    """The first error stops every worker and arrives as WorkerError with its id."""
    config = DemoConfig(steps=10**6, fail_worker=1, fail_at=5)
    before = set(threading.enumerate())
    with pytest.raises(WorkerError) as info:
        run_threads(count_worker, worker_contexts(0, 3), None, config)
    assert info.value.worker_id == 1
    assert isinstance(info.value.__cause__, ValueError)
    assert "fails on purpose" in info.value.traceback_text
    assert threads_left(before) == []


class _WatchedEnv:
    """Records whether a step is in flight when close() runs."""

    def __init__(self) -> None:
        self.in_step = False
        self.closed_during_step = False
        self.steps = 0

    def step(self) -> None:
        self.in_step = True
        time.sleep(0.05)
        self.steps += 1
        self.in_step = False

    def close(self) -> None:
        self.closed_during_step = self.in_step


def _slow_worker(ctx: WorkerContext, config: None, shared: dict) -> None:
    env = shared["envs"][ctx.worker_id]
    while not ctx.should_stop():
        env.step()
        if ctx.worker_id == 0:
            time.sleep(0.3)  # the deliberately slow worker
    shared["ended"][ctx.worker_id] = True


def test_ctrl_c_returns_only_after_every_worker_ended():
    """KeyboardInterrupt propagates after every worker has returned."""
    shared = {"envs": [_WatchedEnv(), _WatchedEnv()], "ended": [False, False]}
    before = set(threading.enumerate())
    timer = _interrupt_after(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_threads(_slow_worker, worker_contexts(0, 2), shared, poll_seconds=0.05)
    finally:
        timer.cancel()
    assert shared["ended"] == [True, True]
    for env in shared["envs"]:
        env.close()
        assert not env.closed_during_step
        assert env.steps > 0
    assert threads_left(before) == []


def test_run_threads_bad_input():
    """Contexts must come from worker_contexts."""
    with pytest.raises(TypeError, match="WorkerContext"):
        run_threads(count_worker, [], None)
    with pytest.raises(TypeError, match="WorkerContext"):
        run_threads(count_worker, [(0, 1)], None)


# ----------------------------------------------------------------- processes
def test_run_processes_results_and_threads():
    """Children return their results, run torch on 1 thread, share a tensor."""
    counts = torch.zeros(2, dtype=torch.int64).share_memory_()
    parent_threads = torch.get_num_threads()
    shm_before, semlocks_before = shm_entries(), live_semlocks()
    outcome = run_processes(
        count_worker, worker_contexts(0, 2), counts, DemoConfig(steps=200)
    )
    assert [r["steps"] for r in outcome.returns] == [200, 200]
    assert [r["torch_threads"] for r in outcome.returns] == [1, 1]
    assert counts.tolist() == [200, 200]
    expected = [sum(c.rng().random(200)) for c in worker_contexts(0, 2)]
    assert [r["draw_sum"] for r in outcome.returns] == pytest.approx(expected)
    assert torch.get_num_threads() == parent_threads
    assert multiprocessing.active_children() == []
    assert new_shm_segments(shm_before) == set()
    assert live_semlocks() - semlocks_before == set()
    assert outcome.executor == "processes"


def test_run_processes_counts_the_work_cpu_not_the_imports():
    """cpu_seconds is the children's CPU from the gate on: two workers that
    each burn 0.3 s count about 0.6 s, not the seconds their imports took."""
    outcome = run_processes(burn_worker, worker_contexts(0, 2), None, 300.0)
    assert outcome.returns == [pytest.approx(0.3, abs=0.05)] * 2
    assert 0.55 <= outcome.cpu_seconds <= 0.9, outcome.cpu_seconds
    assert outcome.startup_seconds > 0.5  # importing torch is not in the 0.9


def test_run_processes_worker_error_has_child_traceback():
    """A raising child gives WorkerError with its id and traceback text."""
    config = DemoConfig(steps=10**7, fail_worker=1, fail_at=10)
    with pytest.raises(WorkerError) as info:
        run_processes(count_worker, worker_contexts(0, 2), None, config)
    assert info.value.worker_id == 1
    assert "fails on purpose" in info.value.traceback_text
    assert "count_worker" in info.value.traceback_text
    assert isinstance(info.value.__cause__, ValueError)
    assert multiprocessing.active_children() == []


def test_run_processes_ctrl_c_leaves_no_children():
    """Ctrl-C in the parent stops every child within 5 s."""
    config = DemoConfig(steps=10**6, sleep_seconds=0.01)
    timer = _interrupt_after(4.0)
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_processes(count_worker, worker_contexts(0, 2), None, config)
    finally:
        timer.cancel()
    # A functional bound from the contract, not a speed goal: 4 s + 5 s.
    assert time.perf_counter() - started < 9.0
    assert multiprocessing.active_children() == []


def test_run_processes_rejects_unimportable_workers():
    """A lambda or a locally defined function gets a 'move it to a module' error."""

    def local_worker(ctx, config, shared):
        return 0

    for worker in (lambda ctx, config, shared: 0, local_worker):
        with pytest.raises(TypeError, match="move it to a .py module"):
            run_processes(worker, worker_contexts(0, 1), None)


_ORPHAN_SCRIPT = """
import multiprocessing, os, signal, sys, threading, time
import torch
from qlearn_lite.parallel import run_processes, worker_contexts
from qlearn_lite.parallel_demos import DemoConfig, count_worker

COUNTS = torch.zeros(2, dtype=torch.int64).share_memory_()

def die():
    while not bool((COUNTS > 0).all()):  # both workers are in their loops
        time.sleep(0.05)
    pids = [p.pid for p in multiprocessing.active_children()
            if p.name.startswith("qlearn-lite-worker")]
    with open(sys.argv[1], "w") as out:
        out.write(" ".join(map(str, pids)))
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind runs

if __name__ == "__main__":
    threading.Thread(target=die, daemon=True).start()
    run_processes(count_worker, worker_contexts(0, 2), COUNTS,
                  DemoConfig(steps=10**6, sleep_seconds=0.01))
"""


def _is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_run_processes_children_end_when_the_parent_is_killed(tmp_path):
    """A parent killed with SIGKILL (no cleanup) leaves no worker running."""
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_SCRIPT)
    pid_file, log = tmp_path / "pids.txt", tmp_path / "stderr.txt"
    # Output to files, not pipes: children that outlive the parent would hold
    # a pipe open, and the call would wait for them instead of failing.
    with log.open("w") as stderr:
        parent = subprocess.run(
            [sys.executable, str(script), str(pid_file)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=120,
            cwd=os.getcwd(),
        )
    assert parent.returncode == -signal.SIGKILL, log.read_text()
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 2
    # The children poll every 0.5 s and exit 2 s after noticing: allow 10 s.
    deadline = time.monotonic() + 10.0
    while any(_is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _is_running(pid)] == []
