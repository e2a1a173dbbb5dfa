"""What every design of async Q-learning shares: the executor switch, the
per-worker record, env checks and the assembly of the result.

The runners, seeds and result type are the parallel core's
(:mod:`qlearn_lite.parallel`); this file only adds what the three async
designs have in common on top of it.
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch

from qlearn_lite.parallel import (
    MNIH_FINAL_EPSILONS,
    ParallelResult,
    RunOutcome,
    WorkerContext,
    WorkerError,
    run_processes,
    run_threads,
    sample_final_epsilon,
    spawn_context,
    worker_contexts,
)
from qlearn_lite.replay import n_step_returns
from qlearn_lite.utils import EnvSpec, env_from_spec

AsyncResult = ParallelResult
"""The async learners return the core's :class:`~qlearn_lite.parallel.ParallelResult`
(this name is kept for notebook 07)."""

Executor = Literal["threads", "processes"]
EXECUTORS = ("threads", "processes")

__all__ = [
    "EXECUTORS",
    "MNIH_FINAL_EPSILONS",
    "AsyncResult",
    "EnvSpec",
    "WorkerError",
    "WorkerRecord",
    "n_step_returns",
    "sample_final_epsilon",
]


# ================================================================== records
@dataclass
class WorkerRecord:
    """What one worker sends back when it stops (picklable, for processes)."""

    steps: int = 0
    """Env steps this worker took."""
    returns: list[float] = field(default_factory=list)
    """Undiscounted return of each training episode it finished."""
    episode_ends: list[int] = field(default_factory=list)
    """Global step count when each of those episodes ended."""
    snapshots: list[tuple[int, float, Any]] = field(default_factory=list)
    """``(global_step, perf_counter, copy of Q)`` taken by this worker."""
    profile: Any = None
    """With profiling on: the worker's cProfile statistics (a dict)."""

    def end_episode(self, episode_return: float, global_step: int) -> None:
        self.returns.append(episode_return)
        self.episode_ends.append(global_step)


@contextlib.contextmanager
def profiled(record: WorkerRecord, enabled: bool) -> Iterator[None]:
    """Run the block under cProfile when ``enabled``; keep the stats in ``record``."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.create_stats()
        record.profile = profiler.stats


# ============================================================ input checks
def check_executor(executor: Any) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    return executor


def check_box_env(env: gym.Env) -> tuple[int, int]:
    """``(obs_dim, n_actions)`` of an env a Q-network can learn (flat Box, Discrete)."""
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise TypeError(
            f"Q-learning needs a Discrete action space, got {env.action_space}"
        )
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise TypeError(
            f"a Q-network needs a flat Box observation space (obs_dim,), got {space}; "
            "for Discrete observations use a table (async_q_learning)"
        )
    return int(space.shape[0]), int(env.action_space.n)


def probe_env(env_id_or_fn: EnvSpec, check: Callable[[gym.Env], Any]) -> Any:
    """Build one env, run ``check`` on it (sizes, spaces), close it."""
    env = env_from_spec(env_id_or_fn)
    try:
        return check(env)
    finally:
        env.close()


def contexts_for(
    seed: int, n_workers: int, final_epsilons: Sequence[float] | None
) -> list[WorkerContext]:
    """The workers' contexts: Mnih et al.'s final epsilons unless given."""
    return worker_contexts(
        seed, n_workers, "mnih" if final_epsilons is None else final_epsilons
    )


# ================================================================= running
def new_lock(executor: str) -> Any:
    """A lock for ``executor``: a thread lock, or one that works across processes."""
    if executor == "processes":
        return spawn_context().Lock()
    import threading

    return threading.Lock()


def share(array: np.ndarray, executor: str) -> Any:
    """``array`` as threads or processes can share it: itself, or a torch tensor
    in shared memory (a spawned child sees the same memory)."""
    if executor == "threads":
        return array
    return torch.from_numpy(array).share_memory_()


def as_array(value: Any) -> np.ndarray:
    """A NumPy view of a shared table or counter (no copy)."""
    return value.numpy() if isinstance(value, torch.Tensor) else value


def run(
    executor: str,
    worker: Callable[..., WorkerRecord],
    contexts: Sequence[WorkerContext],
    shared: Any,
    config: Any,
    counters: Any,
    total: int,
    desc: str,
    progress: bool,
) -> RunOutcome:
    """Run the workers on ``executor``, with a bar over the global step ``T``
    (``counters[0]``)."""
    steps = as_array(counters)
    runner = run_threads if executor == "threads" else run_processes
    return runner(
        worker,
        contexts,
        shared,
        config,
        progress=(lambda: int(steps[0])) if progress else None,
        total=total,
        desc=desc,
    )


def result_from(
    outcome: RunOutcome,
    q: Any,
    design: str,
    contexts: Sequence[WorkerContext],
    global_steps: int,
    updates: int,
    target_updates: int,
    lost_updates: int | None = None,
    **extra: Any,
) -> ParallelResult:
    """A finished run as a :class:`ParallelResult`: the workers' records,
    snapshots in step order, the merged profile, plus the design's own fields."""
    records: list[WorkerRecord] = outcome.returns
    snapshots = sorted(
        (item for record in records for item in record.snapshots),
        key=lambda item: item[0],
    )
    profiles = [record.profile for record in records if record.profile is not None]
    return ParallelResult(
        q=q,
        design=design,
        n_workers=len(records),
        worker_steps=[record.steps for record in records],
        worker_returns=[record.returns for record in records],
        worker_episode_ends=[record.episode_ends for record in records],
        final_epsilons=[ctx.final_epsilon for ctx in contexts],
        global_steps=int(global_steps),
        updates=int(updates),
        lost_updates=lost_updates,
        target_updates=int(target_updates),
        wall_seconds=outcome.wall_seconds,
        cpu_seconds=outcome.cpu_seconds,
        startup_seconds=outcome.startup_seconds,
        executor=outcome.executor,
        snapshot_steps=[item[0] for item in snapshots],
        snapshot_seconds=[max(item[1] - outcome.started, 0.0) for item in snapshots],
        snapshots=[item[2] for item in snapshots],
        profile=_merged_profile(profiles),
        **extra,
    )


def _merged_profile(profiles: list[dict]) -> pstats.Stats | None:
    if not profiles:
        return None
    stats = _stats_from(profiles[0])
    for profile in profiles[1:]:
        stats.add(_stats_from(profile))
    return stats


class _RawStats:
    """What ``pstats.Stats`` reads from a profiler: ``create_stats`` and ``stats``."""

    def __init__(self, stats: dict) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


def _stats_from(profile: dict) -> pstats.Stats:
    return pstats.Stats(_RawStats(profile))


def now() -> float:
    """The clock snapshots are stamped with (system-wide monotonic on Linux)."""
    return time.perf_counter()
