"""Design 1: Mnih et al.'s async one-step / n-step Q-learning on one shared
Q-table, written Hogwild-style or under a lock."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    _check_final_epsilons,
    _final_epsilons,
    _make_envs,
    _Run,
    _run_workers,
    _worker_seeds,
    n_step_returns,
)
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    greedy_policy,
    linear_schedule,
)
from qlearn_lite.utils import check_int as _check_int
from qlearn_lite.utils import check_unit as _check_unit


# ==================================================== design 1: shared table
@dataclass
class _SharedTable:
    """One Q-table shared by every worker, with its target and the books.

    ``lock`` serialises every read-modify-write (``sync="lock"``) or is a
    no-op (``"hogwild"``). ``books`` is instrumentation only: it makes reading
    ``(Q[s, a], version[s, a])`` and writing them back atomic, so the count of
    lost updates is exact; the update itself stays unprotected in Hogwild.
    """

    q: np.ndarray
    q_target: np.ndarray
    lock: Any
    versions: np.ndarray
    books: threading.Lock = field(default_factory=threading.Lock)
    updates: int = 0
    lost_updates: int = 0
    target_updates: int = 0


@dataclass(frozen=True)
class _TableSettings:
    """The hyperparameters every tabular worker reads (see async_q_learning)."""

    alpha: float
    gamma: float
    n_step: int
    target_update_every: int
    eps_start: float
    eps_decay_steps: int
    exaggerate_races: bool


def _update_segment(
    table: _SharedTable,
    states: list[int],
    actions: list[int],
    rewards: list[float],
    bootstrap: float,
    terminated: bool,
    settings: _TableSettings,
) -> None:
    """Move each ``Q[s_i, a_i]`` of a segment towards its n-step return, newest
    first (the backward loop of Mnih et al.'s Algorithm S2); then empty the
    segment. Counts every write and every lost one."""
    Q, versions, books = table.q, table.versions, table.books
    returns = n_step_returns(rewards, bootstrap, terminated, settings.gamma)
    for i in range(len(states) - 1, -1, -1):
        state, action, target = states[i], actions[i], returns[i]
        with table.lock:  # sync="lock": one writer at a time; "hogwild": a no-op
            with books:  # instrumentation: read the value and its version together
                old, version = Q[state, action], versions[state, action]
            if settings.exaggerate_races:
                time.sleep(0)  # release the GIL here, as true parallelism would
            new = old + settings.alpha * (target - old)
            with books:
                Q[state, action] = new
                if versions[state, action] != version:  # someone wrote meanwhile:
                    table.lost_updates += 1  # their update is overwritten, lost
                versions[state, action] += 1
                table.updates += 1
    states.clear()
    actions.clear()
    rewards.clear()


def _tabular_worker(
    run: _Run,
    worker_id: int,
    table: _SharedTable,
    env: gym.Env,
    rng: np.random.Generator,
    env_seed: int,
    final_epsilon: float,
    settings: _TableSettings,
) -> None:
    """One worker of async n-step Q-learning on a shared table (Algorithm S2)."""
    Q, Q_target, stop = table.q, table.q_target, run.stop
    returns = run.worker_returns[worker_id]
    episode_ends = run.worker_episode_ends[worker_id]
    states: list[int] = []
    actions: list[int] = []
    rewards: list[float] = []
    epsilon_at = linear_schedule(
        settings.eps_start, final_epsilon, settings.eps_decay_steps
    )
    episode_return, my_steps = 0.0, 0
    obs, _ = env.reset(seed=env_seed)
    while run.steps < run.total_steps and not stop.is_set():
        epsilon = epsilon_at(run.steps)  # annealed over global steps T
        action = epsilon_greedy(Q[obs], epsilon, rng)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        states.append(obs)
        actions.append(action)
        rewards.append(float(reward))
        episode_return += float(reward)
        my_steps += 1
        with table.lock:  # a no-op in Hogwild: T itself is updated without a lock
            run.steps += 1  # T <- T + 1
            step = run.steps
            if step % settings.target_update_every == 0:
                np.copyto(Q_target, Q)  # theta^- <- theta
                table.target_updates += 1
        if run.snapshot_every and step % run.snapshot_every == 0:
            run.snapshots.append((step, time.perf_counter() - run.started, Q.copy()))

        if terminated or truncated or len(states) == settings.n_step:
            bootstrap = 0.0 if terminated else max(Q_target[next_obs].tolist())
            _update_segment(
                table, states, actions, rewards, bootstrap, terminated, settings
            )
        if terminated or truncated:
            returns.append(episode_return)
            episode_ends.append(step)
            episode_return = 0.0
            obs, _ = env.reset()
        else:
            obs = next_obs  # easy to overlook: the next obs becomes obs
    if states and not stop.is_set():  # others reached T_max mid-segment: learn it
        bootstrap = max(Q_target[obs].tolist())
        _update_segment(table, states, actions, rewards, bootstrap, False, settings)
    run.worker_steps[worker_id] = my_steps


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
) -> AsyncResult:
    """Asynchronous one-step / n-step Q-learning on one shared Q-table.

    Mnih et al. (2016), Algorithm 1 (one-step, with ``I_AsyncUpdate = 1``:
    tabular updates are applied at once) and Supplementary Algorithm S2
    (n-step). Each of ``n_workers`` threads runs its own env; all threads read
    and write one table ``Q`` and step one global counter ``T``. A worker
    collects up to ``n_step`` transitions (fewer at an episode's end), then
    moves each ``Q[s_i, a_i]`` a fraction ``alpha`` towards the forward-view
    return :func:`n_step_returns`, bootstrapped from the target table
    ``Q_target``, which is copied from ``Q`` whenever ``T`` reaches a multiple
    of ``target_update_every`` (1: always the current ``Q``, plain Q-learning).

    Args:
        env_id_or_fn: a Gymnasium id or a function returning a fresh env with
            ``Discrete`` observation and action spaces (else ``TypeError``).
            One env per worker.
        n_workers: worker threads, >= 1.
        total_steps: global env steps ``T_max`` over all workers.
        alpha: step size in (0, 1]. gamma: discount in [0, 1].
        n_step: longest return, >= 1 (1: one-step Q-learning).
        target_update_every: global steps between target-table copies.
        sync: ``"hogwild"`` (no lock, Mnih et al.) or ``"lock"`` (every
            read-modify-write of ``Q`` and every step of ``T`` under one lock).
        seed: split per worker with ``child_seeds``: worker ``k``'s agent
            Generator and first env reset are the same for any ``n_workers``.
        eps_start: epsilon at ``T = 0``, annealed linearly to the worker's
            final epsilon over ``eps_decay_steps`` global steps (default: half
            of ``total_steps``).
        final_epsilons: one final epsilon per worker; default: drawn as in
            Mnih et al. with :func:`sample_final_epsilon`.
        snapshot_every: copy ``Q`` every this many global steps (for learning
            curves: :func:`snapshot_scores`).
        exaggerate_races: release the GIL (``time.sleep(0)``) between reading
            ``Q[s, a]`` and writing it back, so other workers run inside every
            read-modify-write as truly parallel threads could. Under the GIL
            races are otherwise rare; this shows what they do. Slow.
        profile: run each worker under cProfile; merged into ``result.profile``.
        progress: a progress bar over global steps (off in quick mode).

    One worker and the same seed give bit-identical results. With several
    workers the interleaving, and so the result, varies from run to run.
    """
    n_workers = _check_int("n_workers", n_workers)
    total_steps = _check_int("total_steps", total_steps)
    n_step = _check_int("n_step", n_step)
    target_update_every = _check_int("target_update_every", target_update_every)
    alpha = _check_unit("alpha", alpha, low_open=True)
    gamma = _check_unit("gamma", gamma)
    eps_start = _check_unit("eps_start", eps_start)
    if sync not in ("hogwild", "lock"):
        raise ValueError(f"sync must be 'hogwild' or 'lock', got {sync!r}")
    if eps_decay_steps is None:
        eps_decay_steps = max(total_steps // 2, 1)
    eps_decay_steps = _check_int("eps_decay_steps", eps_decay_steps)
    if snapshot_every is not None:
        snapshot_every = _check_int("snapshot_every", snapshot_every)
    finals = _check_final_epsilons(final_epsilons, n_workers)
    envs = _make_envs(env_id_or_fn, n_workers)
    try:
        n_states, n_actions = discrete_sizes(envs[0])
    except TypeError:
        for env in envs:
            env.close()
        raise

    seeds = _worker_seeds(seed, n_workers)
    rngs = [np.random.default_rng(agent_seed) for agent_seed, _ in seeds]
    finals = _final_epsilons(rngs, finals)
    Q = np.zeros((n_states, n_actions))
    table = _SharedTable(
        q=Q,
        q_target=Q if target_update_every == 1 else Q.copy(),
        lock=threading.Lock() if sync == "lock" else contextlib.nullcontext(),
        versions=np.zeros((n_states, n_actions), dtype=np.int64),
    )
    if target_update_every == 1:
        target_update_every = total_steps + 1  # the target *is* Q: nothing to copy
    run = _Run(n_workers, total_steps, snapshot_every)
    settings = _TableSettings(
        alpha,
        gamma,
        n_step,
        target_update_every,
        eps_start,
        eps_decay_steps,
        bool(exaggerate_races),
    )
    args = [
        (table, envs[k], rngs[k], seeds[k][1], finals[k], settings)
        for k in range(n_workers)
    ]
    try:
        _run_workers(run, _tabular_worker, args, f"async Q ({sync})", progress, profile)
    finally:
        for env in envs:
            env.close()
    return run.result(
        Q,
        sync,
        finals,
        updates=table.updates,
        target_updates=table.target_updates,
        lost_updates=table.lost_updates,
        policy=greedy_policy(Q),
    )
