"""Asynchronous Q-learning with threads: three designs, measured (notebook 07).

Several workers, each with its own copy of the environment, learn one task at
the same time. Mnih et al. (2016, "Asynchronous Methods for Deep Reinforcement
Learning", section 4 and Algorithm 1; n-step: Supplementary Algorithm S2)
share *one* set of Q parameters between worker threads and let every thread
update it without locks ("Hogwild!", Recht et al. 2011). This module holds
three designs that learners meet in the wild, all on Python threads:

* :func:`async_q_learning` -- Mnih et al.'s async one-step / n-step
  Q-learning for tabular envs: one shared Q-table, a shared target table
  refreshed every ``target_update_every`` *global* steps ``T``, a global step
  counter, and per-worker exploration rates (final epsilon 0.1 / 0.01 / 0.5
  with probability 0.4 / 0.3 / 0.3, annealed from 1). ``sync="hogwild"``
  writes without a lock; ``sync="lock"`` puts every write under one lock.
  Both count the updates that were *lost*: written over by a worker that had
  read the entry before another worker's write landed.
* :func:`async_dqn` -- the same algorithm for a torch Q-network shared by all
  threads: lock-free updates of one parameter vector with one shared Adam
  state, a shared target network, gradients accumulated over a segment of
  ``n_step`` steps (or ``config.train_freq`` steps for one-step targets) or to
  the episode's end.
* :func:`independent_agents` -- every worker keeps its *own* Q (table or
  network) and target and learns from one shared, thread-safe replay buffer.

What threads buy in CPython
---------------------------
CPython (with the GIL, i.e. every default build up to 3.13) runs Python
bytecode in one thread at a time. A pure-Python table update therefore never
runs in parallel: threads interleave, they do not add cores. Only code that
*releases the GIL* runs in parallel: NumPy on large arrays, and torch kernels
(every torch op releases the GIL while its kernel runs; ``backward`` runs in
C++ without it). :func:`async_dqn` is written so that as much work as
possible happens inside few, large torch calls -- one flat parameter vector,
one flat gradient, an Adam step of a few whole-vector ops, acting in NumPy --
and notebook 07 measures how much that buys. Free-threaded CPython (3.13t+)
removes the GIL; processes (notebook 08) and vectorised envs (notebook 09) are
the portable ways to use more cores.

Control
-------
Every function runs its workers in threads and returns only after all of them
have stopped. A worker that raises stops the others at their next step and the
caller gets :class:`WorkerError` (with ``worker_id`` and the original
exception as ``__cause__``); ``KeyboardInterrupt`` (interrupting a notebook
kernel) stops every worker before it propagates.
"""

from __future__ import annotations

import contextlib
import copy
import cProfile
import math
import pstats
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.dqn import DQNConfig, QNetwork, make_greedy_actor, td_targets
from qlearn_lite.replay import ReplayBatch, ReplayBuffer
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    greedy_policy,
    linear_schedule,
    success_probability,
)
from qlearn_lite.utils import child_seeds, get_device, is_quick, make_env
from qlearn_lite.utils import progress as progress_bar

__all__ = [
    "ASYNC_DQN_CONFIG",
    "INDEPENDENT_DQN_CONFIG",
    "MNIH_FINAL_EPSILONS",
    "MNIH_TABLE2_SPEEDUPS",
    "PROFILE_GROUPS",
    "AsyncResult",
    "EnsembleQNetwork",
    "SharedReplayBuffer",
    "WorkerError",
    "async_dqn",
    "async_q_learning",
    "flatten_parameters",
    "independent_agents",
    "n_step_returns",
    "parallel_ceiling",
    "profile_breakdown",
    "sample_final_epsilon",
    "shared_adam_step",
    "snapshot_scores",
    "time_to_threshold",
]

EnvSpec = str | Callable[[], gym.Env]
"""A registered Gymnasium id (``"FrozenLake-v1"``) or a function returning an env."""

MNIH_FINAL_EPSILONS: dict[float, float] = {0.1: 0.4, 0.01: 0.3, 0.5: 0.3}
"""Final exploration rate -> probability a worker gets it (Mnih et al. 2016,
supplementary experimental setup: each value-based worker anneals epsilon from
1 to 0.1, 0.01 or 0.5, drawn with probabilities 0.4, 0.3, 0.3)."""

MNIH_TABLE2_SPEEDUPS: dict[int, float] = {1: 1.0, 2: 3.0, 4: 6.3, 8: 13.3, 16: 24.1}
"""Async one-step Q-learning, threads -> speedup in *time to reach a reference
score* (Mnih et al. 2016, Table 2: mean over 7 Atari games, 16 CPU cores).
Super-linear because more threads also explore more diversely."""


ASYNC_DQN_CONFIG = DQNConfig(
    total_steps=40_000,
    gamma=0.99,
    lr=3e-3,
    n_step=5,  # Mnih et al.'s t_max = 5
    train_freq=5,  # with n_step=1: gradients accumulated over 5 steps (I_AsyncUpdate)
    target_mode="hard",
    target_update_every=200,  # global env steps
    loss="huber",
    double=False,
    max_grad_norm=10.0,
    hidden=(64, 64),
    eps_start=1.0,
    eps_decay_steps=10_000,
    seed=0,
    device="cpu",
)
"""What :func:`async_dqn` uses when no config is given: every field it reads,
set here (not inherited from ``DQNConfig``'s defaults, which are tuned for
replay-based DQN). Reaches a greedy return of 500 on CartPole-v1 with four
workers within 40k global steps in our runs (notebook 07); change fields with
``ASYNC_DQN_CONFIG.replace(...)``."""

INDEPENDENT_DQN_CONFIG = DQNConfig(
    total_steps=40_000,
    gamma=0.99,
    lr=1e-3,
    n_step=1,
    batch_size=64,
    buffer_size=50_000,
    learning_starts=1_000,
    train_freq=8,
    gradient_steps=1,
    target_mode="hard",
    target_update_every=250,  # the agent's own updates
    loss="huber",
    double=False,
    max_grad_norm=10.0,
    hidden=(64, 64),
    eps_start=1.0,
    eps_decay_steps=10_000,
    seed=0,
    device="cpu",
)
"""What :func:`independent_agents` uses for network agents when no config is
given: a light DQN per agent (one gradient step per 8 of its env steps)."""


# ============================================================ pure functions
def sample_final_epsilon(rng: np.random.Generator) -> float:
    """One worker's final epsilon: 0.1, 0.01 or 0.5 with probability 0.4, 0.3, 0.3.

    Mnih et al. (2016), supplementary experimental setup. Draws one
    ``rng.random()``.
    """
    u = rng.random()
    cumulative = 0.0
    for epsilon, probability in MNIH_FINAL_EPSILONS.items():
        cumulative += probability
        if u < cumulative:
            return epsilon
    return epsilon  # u within rounding of 1.0


def n_step_returns(
    rewards: Sequence[float], bootstrap: float, terminated: bool, gamma: float
) -> np.ndarray:
    """Forward-view returns of a segment, each over at most ``len(rewards)`` steps.

    For a segment ``s_0, a_0, r_0, ..., s_{L-1}, a_{L-1}, r_{L-1}, s_L``
    (Mnih et al. 2016, Algorithm S2, the backward loop ``R <- r_i + gamma R``):

        G_i = r_i + gamma r_{i+1} + ... + gamma^{L-1-i} r_{L-1} + gamma^{L-i} B

    with ``B = bootstrap`` (e.g. ``max_a Q_target(s_L, a)``), or ``B = 0`` when
    ``s_L`` is terminal. A *truncated* segment (a time limit, or simply the
    end of the ``n``-step window) bootstraps. ``G_0`` uses ``L`` rewards,
    ``G_{L-1}`` one reward: the last state of a segment gets a one-step target.

    Returns:
        float64 ``[L]``: ``G_0, ..., G_{L-1}``.
    """
    returns = np.zeros(len(rewards))
    value = 0.0 if terminated else float(bootstrap)
    for i in range(len(rewards) - 1, -1, -1):
        value = float(rewards[i]) + gamma * value
        returns[i] = value
    return returns


# ================================================================== results
class WorkerError(RuntimeError):
    """A worker thread raised; every worker was stopped before this was raised.

    ``worker_id`` is the failing worker's index, ``global_steps`` the global
    step count when the workers stopped; the original exception is the
    ``__cause__`` (its traceback is shown under this one).
    """

    def __init__(
        self, worker_id: int, n_workers: int, error: BaseException, steps: int
    ):
        super().__init__(
            f"worker {worker_id} of {n_workers} raised "
            f"{type(error).__name__}: {error} (all workers were stopped at global "
            f"step {steps})"
        )
        self.worker_id = worker_id
        self.global_steps = steps


@dataclass
class AsyncResult:
    """What :func:`async_q_learning`, :func:`async_dqn` and
    :func:`independent_agents` return."""

    q: Any
    """The learned Q: float64 [n_states, n_actions] table, or a network
    ``obs float32 [batch, obs_dim] -> Q [batch, n_actions]``. For independent
    agents, the combined Q (the mean of the agents')."""
    design: str
    """``"hogwild"``, ``"lock"`` (one shared Q) or ``"independent"``."""
    n_workers: int
    """Number of worker threads."""
    worker_steps: list[int]
    """Env steps each worker took; their sum is the true number of env steps.
    The shares can be very uneven over short runs: the GIL (and, with
    ``sync="lock"``, an unfair lock) decides which thread runs next."""
    worker_returns: list[list[float]]
    """Undiscounted return of every finished training episode, per worker."""
    worker_episode_ends: list[list[int]]
    """Global step count when each of those episodes ended, per worker."""
    final_epsilons: list[float]
    """Each worker's final exploration rate."""
    global_steps: int
    """The shared step counter ``T`` at the end. Equals ``sum(worker_steps)``
    except when unlocked increments were lost (``sync="hogwild"``)."""
    updates: int
    """Updates applied: table entries written, or parameter-vector updates."""
    lost_updates: int | None
    """Table writes that overwrote a concurrent write they had not seen (that
    write's update is lost); None where not instrumented (networks)."""
    target_updates: int
    """Times a target (table or network) was refreshed."""
    wall_seconds: float
    """Wall time from starting the first worker to the last one stopping."""
    cpu_seconds: float = 0.0
    """CPU time the process used meanwhile, all threads together; see
    :attr:`cores_used`."""
    snapshot_steps: list[int] = field(default_factory=list)
    """Global step of every snapshot of the learned Q."""
    snapshot_seconds: list[float] = field(default_factory=list)
    """Wall seconds (since the start) of every snapshot."""
    snapshots: list[Any] = field(default_factory=list)
    """Copies of Q: float64 [n_states, n_actions] tables, or flat float32
    parameter vectors ([n_params], or [n_agents, n_params] for independent
    network agents), to score later with :func:`snapshot_scores`."""
    agents: list[Any] | None = None
    """Independent agents only: every agent's own Q (table or network)."""
    policy: np.ndarray | None = None
    """Tabular only: int64 [n_states], the greedy policy of ``q``."""
    profile: pstats.Stats | None = None
    """With ``profile=True``: the workers' cProfile statistics, merged."""
    net_template: nn.Module | None = field(default=None, repr=False)
    """Networks only: a module that snapshots are loaded into for scoring."""

    @property
    def env_steps(self) -> int:
        """Env steps taken by all workers together (``sum(worker_steps)``)."""
        return int(sum(self.worker_steps))

    @property
    def steps_per_second(self) -> float:
        """Env steps per wall second, all workers together."""
        return self.env_steps / max(self.wall_seconds, 1e-9)

    @property
    def cores_used(self) -> float:
        """``cpu_seconds / wall_seconds``: how many cores the run kept busy on
        average. At most about 1 for pure-Python workers under the GIL; below
        1 when other programs took the CPU away."""
        return self.cpu_seconds / max(self.wall_seconds, 1e-9)

    def __repr__(self) -> str:
        lost = (
            "" if self.lost_updates is None else f", lost_updates={self.lost_updates}"
        )
        return (
            f"AsyncResult(design={self.design!r}, n_workers={self.n_workers}, "
            f"env_steps={self.env_steps}, updates={self.updates}{lost}, "
            f"wall_seconds={self.wall_seconds:.2f}, "
            f"steps_per_second={self.steps_per_second:.0f})"
        )


# ============================================================ input checks
def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_unit(name: str, value: Any, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if math.isnan(value) or not (0 < value <= 1 if low_open else 0 <= value <= 1):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _check_final_epsilons(final_epsilons: Any, n_workers: int) -> list[float] | None:
    if final_epsilons is None:
        return None
    values = list(final_epsilons)
    if len(values) != n_workers:
        raise ValueError(
            f"final_epsilons needs one value per worker ({n_workers}), got "
            f"{len(values)}: {values!r}"
        )
    return [_check_unit(f"final_epsilons[{k}]", v) for k, v in enumerate(values)]


def _make_worker_env(env_id_or_fn: EnvSpec, worker_id: int) -> gym.Env:
    """A fresh env for one worker (seeded later by the worker's first reset)."""
    if isinstance(env_id_or_fn, str):
        return make_env(env_id_or_fn)
    if callable(env_id_or_fn):
        env = env_id_or_fn()
        if not isinstance(env, gym.Env):
            raise TypeError(
                "the env function must return a gymnasium.Env, got "
                f"{type(env).__name__} (for worker {worker_id})"
            )
        return env
    raise TypeError(
        "expected a Gymnasium env id (str) or a function returning an env, "
        f"got {env_id_or_fn!r}"
    )


def _make_envs(env_id_or_fn: EnvSpec, n_workers: int) -> list[gym.Env]:
    envs: list[gym.Env] = []
    try:
        for k in range(n_workers):
            envs.append(_make_worker_env(env_id_or_fn, k))
    except BaseException:
        for env in envs:
            env.close()
        raise
    return envs


def _check_box_env(env: gym.Env) -> tuple[int, int]:
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


# ==================================================== running worker threads
@dataclass
class _Run:
    """What every worker of one call shares besides the Q: control and records."""

    n_workers: int
    total_steps: int
    snapshot_every: int | None
    stop: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    """Set once every worker thread exists, so that all of them start together."""
    steps: int = 0
    """The global step counter ``T``."""
    errors: list[tuple[int, BaseException]] = field(default_factory=list)
    started: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker_steps: list[int] = field(default_factory=list)
    worker_returns: list[list[float]] = field(default_factory=list)
    worker_episode_ends: list[list[int]] = field(default_factory=list)
    snapshots: list[tuple[int, float, Any]] = field(default_factory=list)
    profiles: list[cProfile.Profile] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.worker_steps = [0] * self.n_workers
        self.worker_returns = [[] for _ in range(self.n_workers)]
        self.worker_episode_ends = [[] for _ in range(self.n_workers)]


def _run_workers(
    run: _Run,
    target: Callable[..., None],
    worker_args: Sequence[tuple],
    desc: str,
    progress: bool,
    profile: bool,
) -> None:
    """Run ``target(run, worker_id, *args)`` in one thread per worker; wait for all.

    Returns when every worker has stopped. A worker that raises sets
    ``run.stop`` (the others leave their loops at their next step) and the
    first error is re-raised here as :class:`WorkerError`. A
    ``KeyboardInterrupt`` in the calling thread stops every worker too.
    """

    def guarded(worker_id: int, *args: Any) -> None:
        profiler = cProfile.Profile() if profile else None
        run.go.wait()
        try:
            if profiler is not None:
                profiler.enable()
            target(run, worker_id, *args)
        except BaseException as error:  # noqa: BLE001 - reported to the caller
            run.errors.append((worker_id, error))
            run.stop.set()
        finally:
            if profiler is not None:
                profiler.disable()
                run.profiles.append(profiler)

    threads = [
        threading.Thread(
            target=guarded,
            args=(k, *args),
            name=f"qlearn-lite-worker-{k}",
            daemon=True,  # never keeps the interpreter alive; we join anyway
        )
        for k, args in enumerate(worker_args)
    ]
    # No bar object at all when off: even a disabled tqdm starts a monitor thread.
    bar = None
    if progress and not is_quick():
        bar = progress_bar(total=run.total_steps, desc=desc)
    try:
        for thread in threads:
            thread.start()
        # Start the clock and every worker at once: without the gate the first
        # thread could take a short budget before the last one is created.
        run.started, cpu_started = time.perf_counter(), time.process_time()
        run.go.set()
        for thread in threads:
            # A timeout keeps the main thread responsive to Ctrl-C / kernel interrupt.
            while thread.is_alive():
                thread.join(timeout=0.2)
                if bar is not None:
                    bar.update(min(run.steps, run.total_steps) - bar.n)
        run.wall_seconds = time.perf_counter() - run.started
        run.cpu_seconds = time.process_time() - cpu_started
    except BaseException:  # KeyboardInterrupt: stop and wait for every worker
        run.stop.set()
        run.go.set()  # a worker still at the gate sees ``stop`` and returns
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        raise
    finally:
        if bar is not None:
            bar.close()
    if run.errors:
        worker_id, error = run.errors[0]
        raise WorkerError(worker_id, run.n_workers, error, run.steps) from error


def _merged_profile(run: _Run) -> pstats.Stats | None:
    if not run.profiles:
        return None
    stats = pstats.Stats(run.profiles[0])
    for profiler in run.profiles[1:]:
        stats.add(profiler)
    return stats


def _worker_seeds(seed: int, n_workers: int) -> list[tuple[int, int]]:
    """``(agent_seed, env_seed)`` per worker. Worker ``k``'s pair does not
    depend on ``n_workers`` (``SeedSequence.spawn`` children are stable)."""
    return [
        tuple(child_seeds(worker_seed, 2))
        for worker_seed in child_seeds(seed, n_workers)
    ]


def _shared_seed(seed: int, purpose: str) -> int:
    """A seed for something all workers share (the network, the buffer), from
    a branch of ``seed`` that no worker's ``child_seeds`` stream uses."""
    entropy = [seed, *purpose.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _final_epsilons(
    rngs: list[np.random.Generator], final_epsilons: list[float] | None
) -> list[float]:
    if final_epsilons is not None:
        return final_epsilons
    return [sample_final_epsilon(rng) for rng in rngs]


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
    wall = run.wall_seconds
    return _tabular_result(run, Q, sync, finals, wall, table)


def _tabular_result(
    run: _Run, Q: np.ndarray, design: str, finals: list[float], wall: float, table: Any
) -> AsyncResult:
    snapshots = sorted(run.snapshots, key=lambda item: item[0])
    return AsyncResult(
        q=Q,
        design=design,
        n_workers=run.n_workers,
        worker_steps=list(run.worker_steps),
        worker_returns=run.worker_returns,
        worker_episode_ends=run.worker_episode_ends,
        final_epsilons=list(finals),
        global_steps=run.steps,
        updates=table.updates,
        lost_updates=table.lost_updates,
        target_updates=table.target_updates,
        wall_seconds=wall,
        cpu_seconds=run.cpu_seconds,
        snapshot_steps=[item[0] for item in snapshots],
        snapshot_seconds=[item[1] for item in snapshots],
        snapshots=[item[2] for item in snapshots],
        policy=greedy_policy(Q),
        profile=_merged_profile(run),
    )


# ================================================== design 1b: shared network
def flatten_parameters(net: nn.Module) -> torch.Tensor:
    """Make every parameter of ``net`` a view into one new flat tensor; return it.

    float32 ``[n_params]``, in ``net.parameters()`` order. Afterwards an
    in-place op on the flat tensor (copy, Adam step) updates the whole network
    in *one* torch call instead of one per parameter: fewer calls means less
    time holding Python's GIL, and larger kernels that run without it.
    """
    params = list(net.parameters())
    flat = torch.cat([param.detach().reshape(-1) for param in params])
    offset = 0
    for param in params:
        size = param.numel()
        param.data = flat[offset : offset + size].view_as(param)
        offset += size
    return flat


@torch.no_grad()
def shared_adam_step(
    params: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """One Adam step on flat tensors, in place, without a lock (Hogwild).

    Kingma & Ba (2015), Algorithm 1, written as ``torch.optim.Adam`` computes
    it (same numbers for one thread). All four tensors are float32
    ``[n_params]``; ``exp_avg`` and ``exp_avg_sq`` are the moment estimates
    *shared by every worker*, like the shared RMSProp statistics of Mnih et al.
    (2016, section 4, "Optimization"), who found sharing them more robust.
    ``step`` (>= 1) is the number of updates so far, for bias correction.
    """
    beta1, beta2 = betas
    # Without a lock other threads update the moments while we read them. Two
    # orders keep every step bounded: writers update the second moment before
    # the first, and readers read the first before the second. Then any
    # gradient our step sees in exp_avg is already in exp_avg_sq, and no fresh
    # gradient is divided by a near-zero denominator. (Either order reversed
    # made Q explode to 1e6 within 500 steps with four workers.)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    exp_avg.lerp_(grad, 1 - beta1)
    first_moment = exp_avg / (1 - beta1**step)  # read m, then v
    denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(eps)
    params.addcdiv_(first_moment, denom, value=-lr)


@dataclass
class _SharedNet:
    """The parameters every async worker shares: theta, theta^- and Adam's moments."""

    q_net: QNetwork
    flat: torch.Tensor
    target_net: QNetwork
    target_flat: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    updates: int = 0
    target_updates: int = 0


def _new_q_network(
    obs_dim: int, n_actions: int, hidden: Sequence[int], seed: int
) -> QNetwork:
    """A QNetwork initialised from ``seed`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return QNetwork(obs_dim, n_actions, hidden)


def _td_loss(q_taken: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """Sum over a segment: accumulating per-step gradients, as Algorithm S2 does."""
    if loss == "huber":
        return F.smooth_l1_loss(q_taken, targets, reduction="sum")
    return F.mse_loss(q_taken, targets, reduction="sum")


def _clip_(grad: torch.Tensor, max_norm: float | None) -> None:
    """Scale ``grad`` in place to L2 norm <= ``max_norm`` (no host sync)."""
    if max_norm is not None:
        norm = torch.linalg.vector_norm(grad)
        grad.mul_((max_norm / (norm + 1e-6)).clamp_(max=1.0))


def _dqn_worker(
    run: _Run,
    worker_id: int,
    shared: _SharedNet,
    env: gym.Env,
    rng: np.random.Generator,
    env_seed: int,
    final_epsilon: float,
    config: DQNConfig,
    n_step: int,
    device: torch.device,
) -> None:
    """One worker of async one-step / n-step Q-learning on a shared network."""
    torch.set_num_threads(1)  # per thread: tiny ops gain nothing from more
    n_actions = int(env.action_space.n)
    segment_length = n_step if n_step > 1 else config.train_freq
    # theta': this thread's copy of the parameters, refreshed every segment.
    local_net = copy.deepcopy(shared.q_net)
    local_flat = flatten_parameters(local_net)
    local_params = list(local_net.parameters())
    # Acting reads theta' through NumPy views: a forward for one observation in
    # NumPy holds the GIL for less time than torch's per-op dispatch does.
    act = make_greedy_actor(local_net)
    epsilon_at = linear_schedule(
        config.eps_start, final_epsilon, config.eps_decay_steps
    )
    bootstrap_net = shared.q_net if config.target_mode == "none" else shared.target_net
    returns, episode_ends = (
        run.worker_returns[worker_id],
        run.worker_episode_ends[worker_id],
    )
    episode_return, my_steps = 0.0, 0
    obs, _ = env.reset(seed=env_seed)
    while run.steps < run.total_steps and not run.stop.is_set():
        with torch.no_grad():
            local_flat.copy_(shared.flat)  # synchronise theta' <- theta
        seg_obs, seg_actions, seg_rewards = [], [], []
        seg_next_obs, seg_terminated = [], []
        while True:
            if rng.random() < epsilon_at(run.steps):  # explore first: no forward
                action = int(rng.integers(n_actions))
            else:
                action = act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            seg_obs.append(obs)
            seg_actions.append(action)
            seg_rewards.append(float(reward))
            seg_next_obs.append(next_obs)
            seg_terminated.append(float(terminated))
            episode_return += float(reward)
            my_steps += 1
            run.steps += 1  # T <- T + 1, unlocked (Hogwild)
            step = run.steps
            if config.target_mode == "hard" and step % config.target_update_every == 0:
                with torch.no_grad():
                    shared.target_flat.copy_(shared.flat)  # theta^- <- theta
                shared.target_updates += 1
            if run.snapshot_every and step % run.snapshot_every == 0:
                snapshot = shared.flat.detach().cpu().clone()
                run.snapshots.append(
                    (step, time.perf_counter() - run.started, snapshot)
                )
            done = terminated or truncated
            if (
                done
                or len(seg_obs) == segment_length
                or step >= run.total_steps
                or run.stop.is_set()
            ):
                break
            obs = next_obs

        # Learn from the segment: one forward and one backward for all its steps.
        obs_batch = torch.as_tensor(
            np.asarray(seg_obs), dtype=torch.float32, device=device
        )
        actions = torch.as_tensor(seg_actions, device=device)
        with torch.no_grad():
            if n_step == 1:  # one-step targets r + gamma max_a Q^-(s', a)
                next_batch = torch.as_tensor(
                    np.asarray(seg_next_obs), dtype=torch.float32, device=device
                )
                targets = td_targets(
                    torch.as_tensor(seg_rewards, dtype=torch.float32, device=device),
                    bootstrap_net(next_batch),
                    torch.as_tensor(seg_terminated, device=device),
                    config.gamma,
                    local_net(next_batch) if config.double else None,
                )
            else:  # forward-view n-step returns from one bootstrap value
                bootstrap = 0.0
                if not terminated:
                    last = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
                    next_q = bootstrap_net(last)
                    best = (
                        local_net(last).argmax() if config.double else next_q.argmax()
                    )
                    bootstrap = float(next_q[best])
                targets = torch.as_tensor(
                    n_step_returns(seg_rewards, bootstrap, terminated, config.gamma),
                    dtype=torch.float32,
                    device=device,
                )
        q_taken = local_net(obs_batch).gather(1, actions.unsqueeze(1)).squeeze(1)
        grads = torch.autograd.grad(
            _td_loss(q_taken, targets, config.loss), local_params
        )
        grad = torch.cat([g.reshape(-1) for g in grads])
        _clip_(grad, config.max_grad_norm)
        shared.updates += 1
        shared_adam_step(
            shared.flat,
            grad,
            shared.exp_avg,
            shared.exp_avg_sq,
            shared.updates,
            config.lr,
        )
        if config.target_mode == "soft":
            with torch.no_grad():
                shared.target_flat.lerp_(shared.flat, config.tau)

        if done:
            returns.append(episode_return)
            episode_ends.append(step)
            episode_return = 0.0
            obs, _ = env.reset()
        else:
            obs = next_obs
    run.worker_steps[worker_id] = my_steps


def async_dqn(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    config: DQNConfig | None = None,
    n_step: int | None = None,
    final_epsilons: Sequence[float] | None = None,
    snapshot_every: int | None = None,
    profile: bool = False,
    progress: bool = True,
) -> AsyncResult:
    """Asynchronous one-step / n-step Q-learning with one shared Q-network.

    Mnih et al. (2016), Algorithm 1 and Supplementary Algorithm S2, on
    threads. Every worker runs its own env and, per *segment*:

    1. copies the shared parameters ``theta`` into its own ``theta'``;
    2. acts epsilon-greedily with ``theta'`` for up to ``n_step`` steps
       (default ``config.n_step``; with one-step targets ``config.train_freq``
       steps, the paper's ``I_AsyncUpdate``), or to the episode's end,
       stepping the global
       counter ``T`` and copying ``theta^- <- theta`` when ``T`` reaches a
       multiple of ``config.target_update_every``;
    3. computes targets with the target network: one-step ``r + gamma max_a
       Q^-(s', a)`` for ``n_step = 1``, else the forward-view
       :func:`n_step_returns`; and the gradient of the summed TD loss over the
       segment (one batched forward and backward);
    4. applies it to ``theta`` with :func:`shared_adam_step`, without a lock.

    ``config`` (a :class:`~qlearn_lite.dqn.DQNConfig`, default
    :data:`ASYNC_DQN_CONFIG`) gives ``total_steps``
    (global env steps ``T_max``), ``gamma``, ``lr``, ``hidden``, ``loss``,
    ``double``, ``max_grad_norm``, ``target_mode`` / ``tau``, ``eps_start``
    and ``eps_decay_steps`` (global steps), ``seed`` and ``device``. Here
    ``target_update_every`` counts *global env steps* (Mnih et al.'s
    ``I_target``), not updates. ``eps_end`` is replaced by each worker's
    final epsilon (``final_epsilons``, default drawn with
    :func:`sample_final_epsilon`). Replay settings are not used: this
    learner has no replay buffer.

    ``snapshot_every``: copy the shared parameters every this many global
    steps (score them later with :func:`snapshot_scores`); ``profile``: run
    the workers under cProfile (``result.profile``).
    """
    config = ASYNC_DQN_CONFIG if config is None else config
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}")
    n_workers = _check_int("n_workers", n_workers)
    n_step = _check_int("n_step", config.n_step if n_step is None else n_step)
    if snapshot_every is not None:
        snapshot_every = _check_int("snapshot_every", snapshot_every)
    finals = _check_final_epsilons(final_epsilons, n_workers)
    device = get_device(config.device)
    envs = _make_envs(env_id_or_fn, n_workers)
    try:
        obs_dim, n_actions = _check_box_env(envs[0])
        net_seed = _shared_seed(config.seed, "network")
        q_net = _new_q_network(obs_dim, n_actions, config.hidden, net_seed).to(device)
        flat = flatten_parameters(q_net)
        target_net = copy.deepcopy(q_net).requires_grad_(False)
        shared = _SharedNet(
            q_net=q_net,
            flat=flat,
            target_net=target_net,
            target_flat=flatten_parameters(target_net),
            exp_avg=torch.zeros_like(flat),
            exp_avg_sq=torch.zeros_like(flat),
        )
        seeds = _worker_seeds(config.seed, n_workers)
        rngs = [np.random.default_rng(agent_seed) for agent_seed, _ in seeds]
        finals = _final_epsilons(rngs, finals)
        run = _Run(n_workers, config.total_steps, snapshot_every)
        args = [
            (shared, envs[k], rngs[k], seeds[k][1], finals[k], config, n_step, device)
            for k in range(n_workers)
        ]
        _run_workers(run, _dqn_worker, args, "async DQN", progress, profile)
    finally:
        for env in envs:
            env.close()
    wall = run.wall_seconds
    snapshots = sorted(run.snapshots, key=lambda item: item[0])
    return AsyncResult(
        q=q_net,
        design="hogwild",
        n_workers=n_workers,
        worker_steps=list(run.worker_steps),
        worker_returns=run.worker_returns,
        worker_episode_ends=run.worker_episode_ends,
        final_epsilons=list(finals),
        global_steps=run.steps,
        updates=shared.updates,
        lost_updates=None,
        target_updates=shared.target_updates,
        wall_seconds=wall,
        cpu_seconds=run.cpu_seconds,
        snapshot_steps=[item[0] for item in snapshots],
        snapshot_seconds=[item[1] for item in snapshots],
        snapshots=[item[2] for item in snapshots],
        profile=_merged_profile(run),
        net_template=copy.deepcopy(q_net),
    )


# ============================================ design 2: independent agents
class SharedReplayBuffer:
    """A :class:`~qlearn_lite.replay.ReplayBuffer` that many threads can use.

    Every ``add`` and ``sample`` holds one lock, so a sample never sees a
    half-written transition and the write position never races.
    """

    def __init__(self, buffer: ReplayBuffer) -> None:
        self.buffer = buffer
        self.lock = threading.Lock()

    def add(
        self, obs: Any, action: int, reward: float, next_obs: Any, terminated: bool
    ) -> None:
        """Store one transition (see :meth:`ReplayBuffer.add`)."""
        with self.lock:
            self.buffer.add(obs, action, reward, next_obs, terminated)

    def sample(
        self, batch_size: int, device: str | torch.device = "cpu"
    ) -> ReplayBatch:
        """A uniform minibatch of torch tensors (see :meth:`ReplayBuffer.sample`)."""
        with self.lock:
            return self.buffer.sample(batch_size, device)

    def sample_arrays(self, batch_size: int) -> ReplayBatch:
        """A uniform minibatch of NumPy arrays (for tabular agents)."""
        with self.lock:
            return self.buffer.sample_arrays(batch_size)

    def __len__(self) -> int:
        return len(self.buffer)


class EnsembleQNetwork(nn.Module):
    """The mean of several Q-networks: ``obs [batch, obs_dim] -> Q [batch, n_actions]``.

    Acting greedily on it is the combined policy of independent agents.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Average of the members' Q-values, same shape as one member's."""
        return torch.stack([member(obs) for member in self.members]).mean(dim=0)


@dataclass
class _Agents:
    """What independent workers share: the buffer, and the books for results."""

    buffer: SharedReplayBuffer
    agents: list[Any]
    updates: list[int]
    target_updates: list[int]

    def snapshot(self) -> Any:
        if isinstance(self.agents[0], np.ndarray):  # tables: the combined table
            return np.mean(self.agents, axis=0)
        return torch.stack(
            [
                nn.utils.parameters_to_vector(agent.parameters()).detach().cpu()
                for agent in self.agents
            ]
        )


def _record_step(run: _Run, shared: _Agents) -> int:
    run.steps += 1  # unlocked: the counter only decides when to stop
    step = run.steps
    if run.snapshot_every and step % run.snapshot_every == 0:
        snapshot = shared.snapshot()
        run.snapshots.append((step, time.perf_counter() - run.started, snapshot))
    return step


def _table_agent_worker(
    run: _Run,
    worker_id: int,
    shared: _Agents,
    env: gym.Env,
    rng: np.random.Generator,
    env_seed: int,
    final_epsilon: float,
    alpha: float,
    gamma: float,
    batch_size: int,
    learning_starts: int,
    target_update_every: int,
    eps_start: float,
    eps_decay_steps: int,
) -> None:
    """One independent tabular agent: its own Q and target, the shared buffer."""
    Q = shared.agents[worker_id]
    Q_target = Q if target_update_every == 1 else Q.copy()
    buffer = shared.buffer
    returns, episode_ends = (
        run.worker_returns[worker_id],
        run.worker_episode_ends[worker_id],
    )
    epsilon_at = linear_schedule(eps_start, final_epsilon, eps_decay_steps)
    episode_return, my_steps = 0.0, 0
    obs, _ = env.reset(seed=env_seed)
    while run.steps < run.total_steps and not run.stop.is_set():
        action = epsilon_greedy(Q[obs], epsilon_at(run.steps), rng)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)
        episode_return += float(reward)
        my_steps += 1
        step = _record_step(run, shared)
        if len(buffer) >= learning_starts:
            # One minibatch of Q-learning updates per env step, from everyone's data.
            batch = buffer.sample_arrays(batch_size)
            states, acts = batch.obs, batch.actions
            next_values = Q_target[batch.next_obs].max(axis=1)
            targets = batch.rewards + gamma * (1.0 - batch.terminated) * next_values
            np.add.at(Q, (states, acts), alpha * (targets - Q[states, acts]))
            shared.updates[worker_id] += batch_size
            if Q_target is not Q and my_steps % target_update_every == 0:
                np.copyto(Q_target, Q)
                shared.target_updates[worker_id] += 1
        if terminated or truncated:
            returns.append(episode_return)
            episode_ends.append(step)
            episode_return = 0.0
            obs, _ = env.reset()
        else:
            obs = next_obs
    run.worker_steps[worker_id] = my_steps


def _network_agent_worker(
    run: _Run,
    worker_id: int,
    shared: _Agents,
    env: gym.Env,
    rng: np.random.Generator,
    env_seed: int,
    final_epsilon: float,
    config: DQNConfig,
    device: torch.device,
) -> None:
    """One independent DQN agent (Mnih et al. 2015): own network, target and
    Adam; transitions go to, and minibatches come from, the shared buffer."""
    from qlearn_lite.dqn import dqn_loss, hard_update, polyak_update

    torch.set_num_threads(1)
    q_net = shared.agents[worker_id]
    target_net = None
    if config.target_mode != "none":
        target_net = copy.deepcopy(q_net).requires_grad_(False)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr)
    act = make_greedy_actor(q_net)  # NumPy views: sees every optimizer step
    epsilon_at = linear_schedule(
        config.eps_start, final_epsilon, config.eps_decay_steps
    )
    n_actions = int(env.action_space.n)
    buffer = shared.buffer
    returns, episode_ends = (
        run.worker_returns[worker_id],
        run.worker_episode_ends[worker_id],
    )
    episode_return, my_steps = 0.0, 0
    obs, _ = env.reset(seed=env_seed)
    while run.steps < run.total_steps and not run.stop.is_set():
        if rng.random() < epsilon_at(run.steps):
            action = int(rng.integers(n_actions))
        else:
            action = act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated)
        episode_return += float(reward)
        my_steps += 1
        step = _record_step(run, shared)
        if len(buffer) >= max(config.learning_starts, config.batch_size) and (
            my_steps % config.train_freq == 0
        ):
            for _ in range(config.gradient_steps):
                batch = buffer.sample(config.batch_size, device)
                loss = dqn_loss(
                    q_net, target_net, batch, config.gamma, config.double, config.loss
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(q_net.parameters(), config.max_grad_norm)
                optimizer.step()
                shared.updates[worker_id] += 1
                if config.target_mode == "soft":
                    polyak_update(target_net, q_net, config.tau)
                elif (
                    config.target_mode == "hard"
                    and shared.updates[worker_id] % config.target_update_every == 0
                ):
                    hard_update(target_net, q_net)
                    shared.target_updates[worker_id] += 1
        if terminated or truncated:
            returns.append(episode_return)
            episode_ends.append(step)
            episode_return = 0.0
            obs, _ = env.reset()
        else:
            obs = next_obs
    run.worker_steps[worker_id] = my_steps


def independent_agents(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    total_steps: int | None = None,
    *,
    config: DQNConfig | None = None,
    alpha: float = 0.1,
    gamma: float = 0.99,
    batch_size: int = 4,
    buffer_size: int = 100_000,
    learning_starts: int = 100,
    target_update_every: int = 1,
    eps_start: float = 1.0,
    eps_decay_steps: int | None = None,
    seed: int = 0,
    final_epsilons: Sequence[float] | None = None,
    snapshot_every: int | None = None,
    profile: bool = False,
    progress: bool = True,
) -> AsyncResult:
    """Independent agents, each with its own Q and target, sharing one replay buffer.

    Every worker thread runs its own env and its own learner; the only thing
    they share is a :class:`SharedReplayBuffer` (one lock around ``add`` and
    ``sample``): each agent learns from every agent's experience but keeps
    its own estimates. The result's ``agents`` holds every agent's Q and
    ``q`` the combined one (their mean), whose greedy policy is the ensemble's.

    * ``Discrete`` observations: a Q-table per agent. Per env step an agent
      stores its transition and applies one minibatch of ``batch_size``
      tabular Q-learning updates (``alpha``, ``gamma``) sampled from the
      buffer, bootstrapping from its own target table, copied every
      ``target_update_every`` of its own steps (1: the table itself).
    * ``Box`` observations: a DQN per agent (Mnih et al. 2015) with the
      hyperparameters of ``config`` (a :class:`~qlearn_lite.dqn.DQNConfig`,
      default :data:`INDEPENDENT_DQN_CONFIG`:
      ``batch_size``, ``buffer_size``, ``learning_starts``, ``train_freq``,
      ``gradient_steps``, ``target_update_every`` in the agent's updates, ...).
      ``total_steps`` defaults to ``config.total_steps``.

    Exploration is as in :func:`async_q_learning`: per-worker final epsilons
    (Mnih et al. 2016), annealed over ``eps_decay_steps`` global steps
    (``config.eps_decay_steps`` for networks).
    """
    n_workers = _check_int("n_workers", n_workers)
    envs = _make_envs(env_id_or_fn, n_workers)
    try:
        tabular = isinstance(envs[0].observation_space, gym.spaces.Discrete)
        if tabular:
            if config is not None:
                raise TypeError(
                    "config (a DQNConfig) is for network agents, but this env has "
                    f"Discrete observations {envs[0].observation_space}: pass alpha, "
                    "gamma, batch_size, ... instead"
                )
            n_states, n_actions = discrete_sizes(envs[0])
            if total_steps is None:
                raise ValueError("total_steps is needed for tabular agents")
            total_steps = _check_int("total_steps", total_steps)
            alpha = _check_unit("alpha", alpha, low_open=True)
            gamma = _check_unit("gamma", gamma)
            eps_start = _check_unit("eps_start", eps_start)
            batch_size = _check_int("batch_size", batch_size)
            buffer_size = _check_int("buffer_size", buffer_size)
            learning_starts = max(
                _check_int("learning_starts", learning_starts, 0), batch_size
            )
            target_update_every = _check_int("target_update_every", target_update_every)
            if eps_decay_steps is None:
                eps_decay_steps = max(total_steps // 2, 1)
            eps_decay_steps = _check_int("eps_decay_steps", eps_decay_steps)
            seed_value = seed
        else:
            config = INDEPENDENT_DQN_CONFIG if config is None else config
            if not isinstance(config, DQNConfig):
                raise TypeError(
                    f"config must be a DQNConfig, got {type(config).__name__}"
                )
            if config.n_step != 1:
                raise ValueError(
                    "independent network agents learn from one-step transitions "
                    f"in the shared buffer: expected config.n_step=1, got "
                    f"{config.n_step}"
                )
            obs_dim, n_actions = _check_box_env(envs[0])
            total_steps = _check_int(
                "total_steps",
                config.total_steps if total_steps is None else total_steps,
            )
            seed_value = config.seed
            device = get_device(config.device)
        if snapshot_every is not None:
            snapshot_every = _check_int("snapshot_every", snapshot_every)
        finals = _check_final_epsilons(final_epsilons, n_workers)
        seeds = _worker_seeds(seed_value, n_workers)
        rngs = [np.random.default_rng(agent_seed) for agent_seed, _ in seeds]
        finals = _final_epsilons(rngs, finals)
        buffer_seed = _shared_seed(seed_value, "buffer")
        if tabular:
            agents: list[Any] = [
                np.zeros((n_states, n_actions)) for _ in range(n_workers)
            ]
            buffer = ReplayBuffer(buffer_size, (), np.int64, seed=buffer_seed)
        else:
            agents = [
                _new_q_network(
                    obs_dim,
                    n_actions,
                    config.hidden,
                    _shared_seed(agent_seed, "network"),
                ).to(device)
                for agent_seed, _ in seeds
            ]
            buffer = ReplayBuffer(
                config.buffer_size, (obs_dim,), np.float32, buffer_seed
            )
        shared = _Agents(
            SharedReplayBuffer(buffer), agents, [0] * n_workers, [0] * n_workers
        )
        run = _Run(n_workers, total_steps, snapshot_every)
        if tabular:
            worker = _table_agent_worker
            args = [
                (
                    shared,
                    envs[k],
                    rngs[k],
                    seeds[k][1],
                    finals[k],
                    alpha,
                    gamma,
                    batch_size,
                    learning_starts,
                    target_update_every,
                    eps_start,
                    eps_decay_steps,
                )
                for k in range(n_workers)
            ]
        else:
            worker = _network_agent_worker
            args = [
                (shared, envs[k], rngs[k], seeds[k][1], finals[k], config, device)
                for k in range(n_workers)
            ]
        _run_workers(run, worker, args, "independent agents", progress, profile)
    finally:
        for env in envs:
            env.close()
    wall = run.wall_seconds
    snapshots = sorted(run.snapshots, key=lambda item: item[0])
    if tabular:
        combined: Any = np.mean(agents, axis=0)
        template = None
    else:
        combined = EnsembleQNetwork(agents)
        template = EnsembleQNetwork([copy.deepcopy(agent) for agent in agents])
    return AsyncResult(
        q=combined,
        design="independent",
        n_workers=n_workers,
        worker_steps=list(run.worker_steps),
        worker_returns=run.worker_returns,
        worker_episode_ends=run.worker_episode_ends,
        final_epsilons=list(finals),
        global_steps=run.steps,
        updates=int(sum(shared.updates)),
        lost_updates=None,
        target_updates=int(sum(shared.target_updates)),
        wall_seconds=wall,
        cpu_seconds=run.cpu_seconds,
        snapshot_steps=[item[0] for item in snapshots],
        snapshot_seconds=[item[1] for item in snapshots],
        snapshots=[item[2] for item in snapshots],
        agents=agents,
        policy=greedy_policy(combined) if tabular else None,
        profile=_merged_profile(run),
        net_template=template,
    )


# ================================================================ analysis
def _load_snapshot(template: nn.Module, snapshot: torch.Tensor) -> nn.Module:
    if isinstance(template, EnsembleQNetwork):
        for member, vector in zip(template.members, snapshot, strict=True):
            nn.utils.vector_to_parameters(vector, member.parameters())
    else:
        nn.utils.vector_to_parameters(snapshot, template.parameters())
    return template


def snapshot_scores(
    result: AsyncResult, env_id_or_fn: EnvSpec, episodes: int = 10, seed: int = 0
) -> np.ndarray:
    """float64 [n_snapshots]: how good the greedy policy of every snapshot is.

    Tables: the exact probability that the greedy policy succeeds within the
    env's time limit (:func:`~qlearn_lite.tabular.success_probability`; no
    sampling, so no noise). Networks: the mean return of ``episodes`` greedy
    episodes (:func:`~qlearn_lite.dqn.evaluate`, same start states for every
    snapshot). Scored after training, so the workers' timing is not disturbed.
    """
    from qlearn_lite.dqn import evaluate

    if not result.snapshots:
        return np.zeros(0)
    env = _make_worker_env(env_id_or_fn, 0)
    try:
        if isinstance(result.snapshots[0], np.ndarray):
            return np.array(
                [success_probability(env, greedy_policy(q)) for q in result.snapshots]
            )
        net = copy.deepcopy(result.net_template)
        return np.array(
            [
                evaluate(_load_snapshot(net, snapshot), env, episodes, seed).mean()
                for snapshot in result.snapshots
            ]
        )
    finally:
        env.close()


def time_to_threshold(
    result: AsyncResult, scores: Sequence[float], threshold: float
) -> tuple[int, float] | None:
    """``(global_step, wall_seconds)`` of the first snapshot scoring >= ``threshold``.

    ``scores`` from :func:`snapshot_scores`. None if no snapshot reached it.
    The wall time is that of the snapshot, so its resolution is
    ``snapshot_every`` steps.
    """
    if len(scores) != len(result.snapshot_steps):
        raise ValueError(
            f"expected one score per snapshot ({len(result.snapshot_steps)}), "
            f"got {len(scores)}"
        )
    for step, seconds, score in zip(
        result.snapshot_steps, result.snapshot_seconds, scores, strict=True
    ):
        if score >= threshold:
            return step, seconds
    return None


def parallel_ceiling(n_threads: int = 2, repeats: int = 100, size: int = 256) -> float:
    """How much more GIL-free work ``n_threads`` threads do than one, right now.

    Each thread multiplies two ``size x size`` float32 matrices ``repeats``
    times with torch, which releases the GIL, one intra-op thread each. On an
    idle machine with ``n_threads`` free cores the ratio is close to
    ``n_threads``; when other programs use the cores it is lower, and every
    thread-scaling ratio measured at the same time is capped by it. Best of
    three tries.
    """
    n_threads = _check_int("n_threads", n_threads)
    matrix = torch.randn(size, size, generator=torch.Generator().manual_seed(0))

    def work() -> None:
        torch.set_num_threads(1)
        for _ in range(repeats):
            torch.mm(matrix, matrix)

    def rate(count: int) -> float:
        threads = [threading.Thread(target=work) for _ in range(count)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return count * repeats / (time.perf_counter() - started)

    rate(1)  # warm up
    return max(rate(n_threads) / rate(1) for _ in range(3))


PROFILE_GROUPS = (
    "env.step (Python, holds the GIL)",
    "torch calls: forward, optimizer (kernels release the GIL)",
    "autograd backward (C++, releases the GIL)",
    "Python: worker loop, nn.Module glue, NumPy",
)
"""The groups :func:`profile_breakdown` sorts a worker's time into."""


def profile_breakdown(stats: pstats.Stats) -> dict[str, float]:
    """Share of the workers' time in each of :data:`PROFILE_GROUPS` (sums to 1).

    From cProfile's *own* time per function (``tottime``): gymnasium's code
    counts as the env, ``run_backward`` as autograd, torch's built-in
    functions and tensor methods as torch calls, the rest as Python. The torch
    share is an upper bound on what can overlap between threads: each call
    also parses its arguments and allocates with the GIL held. cProfile adds
    overhead to every Python call, so the Python share is inflated a little.
    """
    env, torch_calls, backward, python = PROFILE_GROUPS
    totals = dict.fromkeys(PROFILE_GROUPS, 0.0)
    for (filename, _, function), row in stats.stats.items():
        own_time = row[2]
        if "run_backward" in function:
            totals[backward] += own_time
        elif "gymnasium" in filename:
            totals[env] += own_time
        elif filename == "~" and ("torch" in function or "Tensor" in function):
            totals[torch_calls] += own_time
        elif filename.endswith("threading.py") and function == "wait":
            continue  # idle time, not work
        else:
            totals[python] += own_time
    total = sum(totals.values()) or 1.0
    return {group: value / total for group, value in totals.items()}
