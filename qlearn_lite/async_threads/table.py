"""Design 1: Mnih et al.'s async one-step / n-step Q-learning on one shared
Q-table, written Hogwild-style or under a lock, on threads or in processes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    WorkerRecord,
    as_array,
    check_executor,
    contexts_for,
    new_lock,
    now,
    probe_env,
    profiled,
    result_from,
    run,
    share,
)
from qlearn_lite.parallel import WorkerContext
from qlearn_lite.replay import n_step_returns
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    greedy_policy,
    linear_schedule,
)
from qlearn_lite.utils import check_int, check_unit, env_from_spec

STEPS, UPDATES, LOST, TARGET_UPDATES = range(4)
"""Positions in the shared counters: ``T``, writes, lost writes, target copies."""


@dataclass(frozen=True)
class AsyncQConfig:
    """Every setting a worker of :func:`async_q_learning` reads.

    Built by :func:`async_q_learning` from its arguments (see there); frozen
    and picklable, so the same config reaches threads and spawned processes.
    """

    env: EnvSpec
    """A Gymnasium id or an importable function returning the env."""
    total_steps: int
    """Global env steps ``T_max``, all workers together."""
    alpha: float
    """Step size in (0, 1]."""
    gamma: float
    """Discount in [0, 1]."""
    n_step: int
    """Longest return (1: one-step Q-learning)."""
    target_update_every: int | None
    """Table writes (updates, all workers' together) between target-table
    copies; None: the target is ``Q`` itself. One-step workers write once per
    env step, so this is also about the global env steps between copies."""
    eps_start: float
    """Epsilon at ``T = 0``."""
    eps_decay_steps: int
    """Global env steps over which epsilon anneals to the worker's final one."""
    snapshot_every: int | None
    """Global env steps between copies of ``Q``; None: no snapshots."""
    exaggerate_races: bool
    """Release the GIL inside every read-modify-write (threads only matter)."""
    profile: bool
    """Run every worker under cProfile."""


@dataclass
class SharedTable:
    """What every worker shares: ``Q``, its target, the books and the counters.

    On threads these are NumPy arrays; in processes torch tensors in shared
    memory (workers take NumPy views of them). ``lock`` serialises every
    read-modify-write (``sync="lock"``) or is None (Hogwild). ``books`` is
    instrumentation only: it makes reading ``(Q[s, a], version[s, a])`` and
    writing them back atomic, so that the count of lost updates is exact; the
    update itself stays unprotected in Hogwild.
    """

    q: Any
    q_target: Any
    versions: Any
    counters: Any
    """int64 ``[4]``: ``T``, writes, lost writes, target copies."""
    books: Any
    lock: Any = None


def _update_segment(
    table: SharedTable,
    q: np.ndarray,
    q_target: np.ndarray,
    versions: np.ndarray,
    counters: np.ndarray,
    segment: tuple[list[int], list[int], list[float]],
    bootstrap: float,
    terminated: bool,
    truncated: bool,
    config: AsyncQConfig,
) -> None:
    """Move each ``Q[s_i, a_i]`` of a segment towards its n-step return, newest
    first (the backward loop of Mnih et al.'s Algorithm S2); then empty the
    segment. Counts every write and every lost one."""
    states, actions, rewards = segment
    length = len(states)
    every = config.target_update_every
    flags = [False] * (length - 1)
    targets = n_step_returns(
        rewards, [*flags, terminated], [*flags, truncated], config.gamma
    )
    values = targets.returns + targets.discounts * bootstrap
    lock = table.lock if table.lock is not None else contextlib.nullcontext()
    books = table.books
    for i in range(length - 1, -1, -1):
        state, action, target = states[i], actions[i], float(values[i])
        with lock:  # sync="lock": one writer at a time; Hogwild: a no-op
            with books:  # instrumentation: read the value and its version together
                old, version = q[state, action], versions[state, action]
            if config.exaggerate_races:
                time.sleep(0)  # release the GIL here, as true parallelism would
            new = old + config.alpha * (target - old)
            with books:
                q[state, action] = new
                if versions[state, action] != version:  # someone wrote meanwhile:
                    counters[LOST] += 1  # their update is overwritten, lost
                versions[state, action] += 1
                counters[UPDATES] += 1
                copy_target = every is not None and counters[UPDATES] % every == 0
            if copy_target:
                np.copyto(q_target, q)  # theta^- <- theta
                counters[TARGET_UPDATES] += 1
    states.clear()
    actions.clear()
    rewards.clear()


def table_worker(
    ctx: WorkerContext, config: AsyncQConfig, shared: SharedTable
) -> WorkerRecord:
    """One worker of async n-step Q-learning on a shared table (Algorithm S2).

    Runs unchanged on a thread or in a spawned process (``shared`` then
    holds shared-memory tensors).
    """
    record = WorkerRecord()
    with profiled(record, config.profile):
        _table_loop(ctx, config, shared, record)
    return record


def _table_loop(
    ctx: WorkerContext, config: AsyncQConfig, shared: SharedTable, record: WorkerRecord
) -> None:
    q, versions = as_array(shared.q), as_array(shared.versions)
    q_target = q if config.target_update_every is None else as_array(shared.q_target)
    counters = as_array(shared.counters)
    lock = shared.lock if shared.lock is not None else contextlib.nullcontext()
    rng = ctx.rng()
    env = env_from_spec(config.env)
    segment: tuple[list[int], list[int], list[float]] = ([], [], [])
    states, actions, rewards = segment
    epsilon_at = linear_schedule(
        config.eps_start, ctx.final_epsilon, config.eps_decay_steps
    )
    episode_return = 0.0
    try:
        obs, _ = env.reset(seed=ctx.env_seed)
        while counters[STEPS] < config.total_steps and not ctx.should_stop():
            epsilon = epsilon_at(int(counters[STEPS]))  # annealed over global T
            action = epsilon_greedy(q[obs], epsilon, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            states.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            episode_return += float(reward)
            record.steps += 1
            with lock:  # a no-op in Hogwild: T itself is updated without a lock
                counters[STEPS] += 1  # T <- T + 1
                step = int(counters[STEPS])
            if config.snapshot_every and step % config.snapshot_every == 0:
                record.snapshots.append((step, now(), q.copy()))

            if terminated or truncated or len(states) == config.n_step:
                # A truncated step bootstraps from its true next state.
                bootstrap = 0.0 if terminated else max(q_target[next_obs].tolist())
                _update_segment(
                    shared,
                    q,
                    q_target,
                    versions,
                    counters,
                    segment,
                    bootstrap,
                    bool(terminated),
                    bool(truncated),
                    config,
                )
            if terminated or truncated:
                record.end_episode(episode_return, step)
                episode_return = 0.0
                obs, _ = env.reset()
            else:
                obs = next_obs  # easy to overlook: the next obs becomes obs
        if states and not ctx.should_stop():  # T_max reached mid-segment: learn it
            bootstrap = max(q_target[obs].tolist())
            _update_segment(
                shared,
                q,
                q_target,
                versions,
                counters,
                segment,
                bootstrap,
                False,
                False,
                config,
            )
    finally:
        env.close()


def async_q_learning(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    total_steps: int,
    alpha: float = 0.1,
    gamma: float = 0.99,
    n_step: int = 1,
    target_update_every: int = 1,
    sync: Literal["hogwild", "lock"] = "hogwild",
    seed: int = 0,
    eps_start: float = 1.0,
    eps_decay_steps: int | None = None,
    final_epsilons: Sequence[float] | None = None,
    snapshot_every: int | None = None,
    exaggerate_races: bool = False,
    profile: bool = False,
    progress: bool = True,
    executor: Literal["threads", "processes"] = "threads",
) -> AsyncResult:
    """Asynchronous one-step / n-step Q-learning on one shared Q-table.

    Mnih et al. (2016), Algorithm 1 (one-step, with ``I_AsyncUpdate = 1``:
    tabular updates are applied at once) and Supplementary Algorithm S2
    (n-step). Each of ``n_workers`` workers runs its own env; all of them
    read and write one table ``Q`` and step one global counter ``T``. A
    worker collects up to ``n_step`` transitions (fewer at an episode's end),
    then moves each ``Q[s_i, a_i]`` a fraction ``alpha`` towards its n-step
    return (:func:`~qlearn_lite.replay.n_step_returns`: a terminal step cuts
    the return, a truncated one bootstraps from its true next state),
    bootstrapped from the target table ``Q_target``, which is copied from
    ``Q`` whenever ``T`` reaches a multiple of ``target_update_every``
    (1: always the current ``Q``, plain Q-learning).

    Args:
        env_id_or_fn: a Gymnasium id or a function returning a fresh env with
            ``Discrete`` observation and action spaces (else ``TypeError``).
            One env per worker, built inside the worker; for processes a
            function must be importable (module level).
        n_workers: workers, >= 1.
        total_steps: global env steps ``T_max`` over all workers.
        alpha: step size in (0, 1]. gamma: discount in [0, 1].
        n_step: longest return, >= 1 (1: one-step Q-learning).
        target_update_every: table writes (all workers' updates together)
            between target-table copies; about the global env steps between
            them for one-step workers.
        sync: ``"hogwild"`` (no lock, Mnih et al.) or ``"lock"`` (every
            read-modify-write of ``Q`` and every step of ``T`` under one lock).
        seed: split per worker by :func:`~qlearn_lite.parallel.worker_contexts`:
            worker ``k``'s agent Generator, first env reset and final epsilon
            are the same for any ``n_workers``.
        eps_start: epsilon at ``T = 0``, annealed linearly to the worker's
            final epsilon over ``eps_decay_steps`` global steps (default: half
            of ``total_steps``).
        final_epsilons: one final epsilon per worker; default: drawn as in
            Mnih et al. (:func:`~qlearn_lite.parallel.sample_final_epsilon`).
        snapshot_every: copy ``Q`` every this many global steps (for learning
            curves: :func:`snapshot_scores`).
        exaggerate_races: release the GIL (``time.sleep(0)``) between reading
            ``Q[s, a]`` and writing it back, so other threads run inside every
            read-modify-write as truly parallel ones could. Under the GIL
            races are otherwise rare; this shows what they do. Slow.
        profile: run each worker under cProfile; merged into ``result.profile``.
        progress: a progress bar over global steps (off in quick mode).
        executor: ``"threads"`` (one process, the GIL) or ``"processes"``
            (spawned processes, the table in shared memory: true parallelism).

    One worker and the same seed give bit-identical results. With several
    workers the interleaving, and so the result, varies from run to run: only
    statistical reproducibility holds.
    """
    executor = check_executor(executor)
    n_workers = check_int("n_workers", n_workers)
    total_steps = check_int("total_steps", total_steps)
    n_step = check_int("n_step", n_step)
    target_update_every = check_int("target_update_every", target_update_every)
    alpha = check_unit("alpha", alpha, low_open=True)
    gamma = check_unit("gamma", gamma)
    eps_start = check_unit("eps_start", eps_start)
    if sync not in ("hogwild", "lock"):
        raise ValueError(f"sync must be 'hogwild' or 'lock', got {sync!r}")
    if eps_decay_steps is None:
        eps_decay_steps = max(total_steps // 2, 1)
    eps_decay_steps = check_int("eps_decay_steps", eps_decay_steps)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every)
    if profile and executor == "processes":
        raise ValueError("profile=True is for executor='threads' only")
    contexts = contexts_for(seed, n_workers, final_epsilons)
    n_states, n_actions = probe_env(env_id_or_fn, discrete_sizes)

    config = AsyncQConfig(
        env=env_id_or_fn,
        total_steps=total_steps,
        alpha=alpha,
        gamma=gamma,
        n_step=n_step,
        # 1: the target *is* Q, nothing to copy
        target_update_every=None if target_update_every == 1 else target_update_every,
        eps_start=eps_start,
        eps_decay_steps=eps_decay_steps,
        snapshot_every=snapshot_every,
        exaggerate_races=bool(exaggerate_races),
        profile=bool(profile),
    )
    q = share(np.zeros((n_states, n_actions)), executor)
    shared = SharedTable(
        q=q,
        q_target=q
        if target_update_every == 1
        else share(np.zeros_like(as_array(q)), executor),
        versions=share(np.zeros((n_states, n_actions), dtype=np.int64), executor),
        counters=share(np.zeros(4, dtype=np.int64), executor),
        books=new_lock(executor),
        lock=new_lock(executor) if sync == "lock" else None,
    )
    outcome = run(
        executor,
        table_worker,
        contexts,
        shared,
        config,
        shared.counters,
        total_steps,
        f"async Q ({sync}, {executor})",
        progress,
    )
    counters = as_array(shared.counters).tolist()
    table = as_array(shared.q).copy()
    return result_from(
        outcome,
        table,
        sync,
        contexts,
        global_steps=counters[STEPS],
        updates=counters[UPDATES],
        target_updates=counters[TARGET_UPDATES],
        lost_updates=counters[LOST],
        policy=greedy_policy(table),
    )
