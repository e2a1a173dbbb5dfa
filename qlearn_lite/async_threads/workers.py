"""What every design of async Q-learning shares: results, seeds, envs and
the thread runner that starts, stops and joins the workers."""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from torch import nn

from qlearn_lite.utils import check_unit as _check_unit
from qlearn_lite.utils import child_seeds, is_quick, make_env
from qlearn_lite.utils import progress as progress_bar

EnvSpec = str | Callable[[], gym.Env]
"""A registered Gymnasium id (``"FrozenLake-v1"``) or a function returning an env."""


MNIH_FINAL_EPSILONS: dict[float, float] = {0.1: 0.4, 0.01: 0.3, 0.5: 0.3}
"""Final exploration rate -> probability a worker gets it (Mnih et al. 2016,
supplementary experimental setup: each value-based worker anneals epsilon from
1 to 0.1, 0.01 or 0.5, drawn with probabilities 0.4, 0.3, 0.3)."""


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

    def result(
        self,
        q: Any,
        design: str,
        final_epsilons: Sequence[float],
        updates: int,
        target_updates: int,
        lost_updates: int | None = None,
        **extra: Any,
    ) -> AsyncResult:
        """This finished run as an :class:`AsyncResult`: its counters, the
        workers' records, snapshots in step order and the merged profile, plus
        the design's own fields (``extra``)."""
        snapshots = sorted(self.snapshots, key=lambda item: item[0])
        return AsyncResult(
            q=q,
            design=design,
            n_workers=self.n_workers,
            worker_steps=list(self.worker_steps),
            worker_returns=self.worker_returns,
            worker_episode_ends=self.worker_episode_ends,
            final_epsilons=list(final_epsilons),
            global_steps=self.steps,
            updates=updates,
            lost_updates=lost_updates,
            target_updates=target_updates,
            wall_seconds=self.wall_seconds,
            cpu_seconds=self.cpu_seconds,
            snapshot_steps=[item[0] for item in snapshots],
            snapshot_seconds=[item[1] for item in snapshots],
            snapshots=[item[2] for item in snapshots],
            profile=_merged_profile(self),
            **extra,
        )


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
