"""A parameter server for tabular Q-learning: the Q-table split by state.

The asynchronous distributed Q-learning of Bertsekas & Tsitsiklis (1989,
*Parallel and Distributed Computation*, section 6.3) and Tsitsiklis (1994,
"Asynchronous stochastic approximation and Q-learning"): the states are split
into ``n_shards`` contiguous blocks, and

* a **shard** (a Ray actor) stores the rows ``Q[s, :]`` of one block: it is
  the parameter server for those states;
* a **worker** (a Ray actor) owns one or more shards. It alone updates their
  rows, and for its targets ``r + gamma * max_a' Q(s', a')`` it reads the
  other blocks from a local copy that it refreshes from their shards every
  ``refresh_every`` rounds. That copy is out of date in between: the
  *staleness* the theory allows, and that this module measures.

A round is one sweep of a worker's block: every state-action pair ``(s, a)``
of its states gets one Q-learning update, with ``(s', r)`` drawn from the
env's transition table ``env.unwrapped.P`` (a generative model, as in
Kearns & Singh 1999's phased Q-learning; no episodes, no exploration). The
step size of sweep ``t`` is ``alpha / t ** alpha_decay``, a polynomial rate
(Even-Dar & Mansour 2003, "Learning rates for Q-learning"): with
``0.5 < alpha_decay <= 1`` every ``Q(s, a)`` converges to ``Q*``.

Two modes drive the workers:

* ``"sync"``: every ``refresh_every`` rounds, two barriers: all workers pull
  the other blocks, and only then do all of them sweep and push, so no
  worker reads rows pushed in the same round. With the same seed it gives
  exactly the table of :func:`serial_sharded_q_learning`, which runs the same
  arithmetic in this process.
* ``"async"``: each worker runs at its own pace. The driver keeps one call in
  flight per worker and waits with ``ray.wait`` for whichever finishes
  first, as in Ray's parameter-server example; reads see whatever the other
  workers have pushed so far.

A Ray call costs about 1 ms, so a worker does ``refresh_every`` whole sweeps
per call (with one pull of the other blocks before and one push of its own
rows after), never one call per update. The serial baseline is the same
sampled sweeps on one block: :func:`serial_sharded_q_learning` with
``n_shards=1``.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from qlearn_lite.distributed.blocks import (
    BlockLearner,
    Plan,
    QShard,
    ShardWorker,
    TransitionSampler,
    pull_other_blocks,
)
from qlearn_lite.distributed.cluster import worker_error
from qlearn_lite.parallel import (
    ParallelResult,
    lag_summary,
    worker_contexts,
)
from qlearn_lite.tabular import (
    discrete_sizes,
    greedy_policy,
    transition_table,
    value_iteration,
)
from qlearn_lite.utils import check_int, check_number, check_seed, check_unit

__all__ = [
    "BlockLearner",
    "TransitionSampler",
    "serial_sharded_q_learning",
    "shard_bounds",
    "sharded_q_learning",
    "worker_shards",
]

EnvSpec = str | Callable[[], gym.Env]


# ============================================================ pure pieces
def shard_bounds(n_states: int, n_shards: int) -> np.ndarray:
    """int64 [n_shards + 1]: shard ``k`` holds states ``bounds[k]:bounds[k+1]``.

    Contiguous blocks whose sizes differ by at most one (the first
    ``n_states % n_shards`` blocks get the extra state).
    """
    n_states = check_int("n_states", n_states)
    n_shards = check_int("n_shards", n_shards)
    if n_shards > n_states:
        raise ValueError(
            f"n_shards must be <= the number of states ({n_states}): every shard "
            f"owns at least one state, got n_shards={n_shards}"
        )
    sizes = np.full(n_shards, n_states // n_shards, dtype=np.int64)
    sizes[: n_states % n_shards] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def worker_shards(n_shards: int, n_workers: int) -> list[list[int]]:
    """The shards each worker owns: shard ``k`` belongs to worker ``k % n_workers``."""
    return [list(range(w, n_shards, n_workers)) for w in range(n_workers)]


# =========================================================== checks, setup
def _check_importable(env_fn: Callable[[], gym.Env]) -> None:
    """A TypeError unless ``env_fn`` can be imported by name on another node."""
    module = getattr(env_fn, "__module__", None)
    qualname = getattr(env_fn, "__qualname__", "")
    problem = None
    if module in (None, "__main__"):
        problem = "it is defined in __main__ or a notebook cell"
    elif "<lambda>" in qualname or "<locals>" in qualname:
        problem = "it is a lambda or is defined inside another function"
    else:
        try:
            found: Any = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
        if found is not env_fn:
            problem = f"{module}.{qualname} does not import back to it"
    if problem is not None:
        raise TypeError(
            "env_id_or_fn must be a registered env id or a module-level function "
            f"of an importable module that returns an env, got {env_fn!r}: "
            f"{problem}. Ray workers on other nodes import it by name: move it "
            "to a .py module and import it from there."
        )


def _make_env(env_id_or_fn: EnvSpec, env_kwargs: dict[str, Any] | None) -> gym.Env:
    if isinstance(env_id_or_fn, str):
        return gym.make(env_id_or_fn, **(env_kwargs or {}))
    if not callable(env_id_or_fn):
        raise TypeError(
            "env_id_or_fn must be a registered env id (str) or a function "
            f"returning an env, got {env_id_or_fn!r}"
        )
    _check_importable(env_id_or_fn)
    if env_kwargs:
        raise TypeError("env_kwargs apply to an env id; pass them inside the factory")
    return env_id_or_fn()


def _plan(
    env_id_or_fn: EnvSpec,
    n_shards: int,
    n_workers: int,
    refresh_every: int,
    total_updates: int,
    alpha: float,
    gamma: float,
    seed: int,
    alpha_decay: float,
    env_kwargs: dict[str, Any] | None,
    n_records: int,
) -> Plan:
    n_shards = check_int("n_shards", n_shards)
    n_workers = check_int("n_workers", n_workers)
    refresh_every = check_int("refresh_every", refresh_every)
    total_updates = check_int("total_updates", total_updates)
    alpha = check_unit("alpha (the initial step size)", alpha, low_open=True)
    alpha_decay = check_unit("alpha_decay", alpha_decay)
    gamma = check_number("gamma (the discount)", gamma, 0.0, 1.0, high_open=True)
    seed = check_seed(seed)
    n_records = check_int("n_records", n_records)
    if n_workers > n_shards:
        raise ValueError(
            f"n_workers must be <= n_shards ({n_shards}): each shard's rows are "
            f"updated by one worker, its owner; got n_workers={n_workers}"
        )
    env = _make_env(env_id_or_fn, env_kwargs)
    try:
        n_states, n_actions = discrete_sizes(env)
        bounds = shard_bounds(n_states, n_shards)
        table = transition_table(env)
        _, q_star = value_iteration(env, gamma)
    finally:
        env.close()
    sweeps = math.ceil(total_updates / (n_states * n_actions))
    contexts = worker_contexts(seed, n_workers, final_epsilons=None)
    return Plan(
        sampler=TransitionSampler.from_table(table),
        q_star=q_star,
        bounds=bounds,
        owned=worker_shards(n_shards, n_workers),
        seeds=[ctx.agent_seed for ctx in contexts],
        sweeps=sweeps,
        refresh_every=refresh_every,
        alpha=alpha,
        alpha_decay=alpha_decay,
        gamma=gamma,
        record_every=max(1, math.ceil(sweeps / n_records)),
    )


class _Recorder:
    """``max |Q - Q*|`` against updates and seconds, and Q snapshots."""

    def __init__(self, q_star: np.ndarray, start: float) -> None:
        self.q_star, self.start = q_star, start
        self.updates: list[int] = []
        self.seconds: list[float] = []
        self.errors: list[float] = []
        self.snapshots: list[np.ndarray] = []

    def record(self, q: np.ndarray, updates: int) -> None:
        self.updates.append(int(updates))
        self.seconds.append(time.perf_counter() - self.start)
        self.errors.append(float(np.max(np.abs(q - self.q_star))))
        self.snapshots.append(q.copy())


def _result(
    plan: Plan,
    q: np.ndarray,
    recorder: _Recorder,
    worker_updates: list[int],
    lags: list[int],
    wall: float,
    executor: str,
    mode: str,
    extra: dict[str, Any],
) -> ParallelResult:
    return ParallelResult(
        q=q,
        design="sharded",
        n_workers=len(plan.owned),
        worker_steps=list(worker_updates),  # one sampled transition per update
        worker_returns=[[] for _ in plan.owned],
        global_steps=int(sum(worker_updates)),
        updates=int(sum(worker_updates)),
        wall_seconds=wall,
        executor=executor,
        staleness=lag_summary(lags),
        lags=np.asarray(lags, dtype=np.int64),
        snapshot_steps=recorder.updates,
        snapshot_seconds=recorder.seconds,
        snapshots=recorder.snapshots,
        policy=greedy_policy(q),
        extra={
            "mode": mode,
            "n_shards": len(plan.bounds) - 1,
            "refresh_every": plan.refresh_every,
            "sweeps": plan.sweeps,
            "bounds": plan.bounds.tolist(),
            "q_star": plan.q_star,
            "error_updates": recorder.updates,
            "error_seconds": recorder.seconds,
            "max_abs_error": recorder.errors,
            "final_max_abs_error": float(np.max(np.abs(q - plan.q_star))),
            **extra,
        },
    )


# ====================================================== serial (reference)
def serial_sharded_q_learning(
    env_id_or_fn: EnvSpec = "FrozenLake-v1",
    n_shards: int = 1,
    n_workers: int | None = None,
    refresh_every: int = 1,
    total_updates: int = 50_000,
    alpha: float = 1.0,
    gamma: float = 0.95,
    seed: int = 0,
    *,
    alpha_decay: float = 0.6,
    env_kwargs: dict[str, Any] | None = None,
    n_records: int = 50,
) -> ParallelResult:
    """The synchronous sharded algorithm run in this process, without Ray.

    Arguments as :func:`sharded_q_learning`. Every ``refresh_every`` rounds
    each worker's copy of the other blocks is refreshed from the shards; in
    between, each worker sweeps its own block ``refresh_every`` times. With
    ``n_shards=1`` it is plain sampled Q-learning on the whole table: the
    serial baseline. With the same arguments, ``sharded_q_learning(...,
    mode="sync")`` returns exactly this table.
    """
    n_workers = n_shards if n_workers is None else n_workers
    plan = _plan(
        env_id_or_fn,
        n_shards,
        n_workers,
        refresh_every,
        total_updates,
        alpha,
        gamma,
        seed,
        alpha_decay,
        env_kwargs,
        n_records,
    )
    learners = [plan.learner(w) for w in range(n_workers)]
    bounds, n_actions = plan.bounds, plan.q_star.shape[1]
    n_shards = len(bounds) - 1
    shards = [np.zeros((bounds[k + 1] - bounds[k], n_actions)) for k in range(n_shards)]
    versions = [0] * n_shards
    start = time.perf_counter()
    recorder = _Recorder(plan.q_star, start)
    lags: list[int] = []
    done = 0
    for rounds in plan.calls():
        for w, learner in enumerate(learners):
            pull_other_blocks(
                learner,
                w,
                plan,
                lambda ks: [(shards[k], versions[k]) for k in ks],
                lags,
            )
        for w, learner in enumerate(learners):
            for _ in range(rounds):
                learner.sweep()
            for k in plan.owned[w]:
                shards[k] = learner.rows(bounds[k], bounds[k + 1])
                versions[k] = learner.sweeps
        before, done = done, done + rounds
        if done // plan.record_every > before // plan.record_every or (
            done == plan.sweeps
        ):
            recorder.record(np.concatenate(shards), done * plan.q_star.size)
    per_worker = [learner.sweeps * learner.updates_per_sweep for learner in learners]
    return _result(
        plan,
        np.concatenate(shards),
        recorder,
        per_worker,
        lags,
        time.perf_counter() - start,
        "serial",
        "sync",
        {},
    )


# ==================================================================== driver
def sharded_q_learning(
    env_id_or_fn: EnvSpec = "FrozenLake-v1",
    n_shards: int = 2,
    n_workers: int | None = None,
    refresh_every: int = 1,
    total_updates: int = 50_000,
    alpha: float = 1.0,
    gamma: float = 0.95,
    seed: int = 0,
    address: str | None = None,
    mode: str = "async",
    *,
    alpha_decay: float = 0.6,
    env_kwargs: dict[str, Any] | None = None,
    n_records: int = 50,
    startup_timeout: float = 300.0,
) -> ParallelResult:
    """Tabular Q-learning on a Ray parameter server, the table sharded by state.

    Args:
        env_id_or_fn: a registered env id (``"FrozenLake-v1"``) or a
            module-level function of an importable module returning an env;
            both spaces ``Discrete``, with a transition table
            ``env.unwrapped.P``.
        n_shards: shard actors; shard ``k`` stores the states
            ``shard_bounds(n_states, n_shards)[k:k+2]`` (1 to ``n_states``).
        n_workers: worker actors, 1 to ``n_shards`` (default ``n_shards``);
            worker ``w`` owns shards ``w, w + n_workers, ...``.
        refresh_every: rounds (sweeps of its block) a worker does between two
            refreshes of its copy of the other blocks: the staleness knob.
        total_updates: Q-learning updates in all, rounded up to whole sweeps
            of the table (``n_states * n_actions`` updates each).
        alpha: initial step size in (0, 1]; sweep ``t`` uses
            ``alpha / t ** alpha_decay``.
        gamma: discount in [0, 1).
        seed: one seed: worker ``w`` draws from
            ``worker_contexts(seed, n_workers)[w].agent_seed``.
        address: None to use the current Ray connection, or start a local
            instance with :func:`qlearn_lite.distributed.connect`; an address
            joins that cluster.
        mode: ``"async"`` (``ray.wait``, workers at their own pace) or
            ``"sync"`` (all pull, then all work, each a barrier; the same
            table as :func:`serial_sharded_q_learning`).
        alpha_decay: exponent of the step size's decay, in [0, 1].
        env_kwargs: keyword arguments of ``gym.make`` (with an env id).
        n_records: about how many times ``max |Q - Q*|`` is recorded.
        startup_timeout: seconds to wait for the actors to be placed and
            started (each is a new Python process that imports qlearn_lite).

    Returns a :class:`~qlearn_lite.parallel.ParallelResult` with
    ``executor="ray"``, ``design="sharded"``, ``q`` the table,
    ``staleness``/``lags`` the lags of every refresh (owner sweeps a copy was
    behind), ``snapshots`` copies of Q, and in ``extra``: ``q_star``,
    ``max_abs_error`` against ``error_updates`` and ``error_seconds``,
    ``placement`` (actor -> node id) and ``nodes_used``.

    Ray stays connected afterwards (for the next call); end it with
    :func:`qlearn_lite.distributed.shutdown`.
    """
    from qlearn_lite.distributed.cluster import connect, require_ray

    if mode not in ("async", "sync"):
        raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}")
    n_workers = n_shards if n_workers is None else n_workers
    startup_timeout = check_number("startup_timeout", startup_timeout, 0, 3600, True)
    plan = _plan(
        env_id_or_fn,
        n_shards,
        n_workers,
        refresh_every,
        total_updates,
        alpha,
        gamma,
        seed,
        alpha_decay,
        env_kwargs,
        n_records,
    )
    ray = require_ray("sharded_q_learning")
    connection = connect(address, verbose=not ray.is_initialized())

    started = time.perf_counter()
    bounds, n_actions = plan.bounds, plan.q_star.shape[1]
    # Shards only store rows: no CPU reserved. Workers share the cluster's
    # CPUs; SPREAD puts actors on as many nodes as it can.
    cpus = min(1.0, math.floor(100 * connection.cpus / n_workers) / 100) or 0.01
    shard_actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(QShard)
    worker_actor = ray.remote(num_cpus=cpus, scheduling_strategy="SPREAD")(ShardWorker)
    shards = [
        shard_actor.remote(np.zeros((bounds[k + 1] - bounds[k], n_actions)))
        for k in range(n_shards)
    ]
    plan_ref = ray.put(plan)  # the table goes to the object store once
    workers = [worker_actor.remote(w, plan_ref, shards) for w in range(n_workers)]
    actors = shards + workers
    try:
        try:
            nodes = ray.get(
                [actor.node_id.remote() for actor in actors], timeout=startup_timeout
            )
        except ray.exceptions.GetTimeoutError:
            raise RuntimeError(
                f"Ray could not place {n_shards} shard and {n_workers} worker "
                f"actors within {startup_timeout:g} s on a cluster with "
                f"{connection.cpus:g} CPUs on {connection.nodes} node(s): too "
                "few CPUs for the workers, or a machine too busy to start their "
                "processes; use fewer workers, a larger cluster, or a larger "
                "startup_timeout"
            ) from None
        startup = time.perf_counter() - started
        run = _run_sync if mode == "sync" else _run_async
        start = time.perf_counter()
        recorder = _Recorder(plan.q_star, start)
        sweeps, lags, calls = run(ray, plan, workers, shards, recorder)
        wall = time.perf_counter() - start
        q = _read_table(ray, shards)
    finally:
        for actor in actors:
            ray.kill(actor)
    per_worker = [
        s * len(plan.worker_states(w)) * n_actions for w, s in enumerate(sweeps)
    ]
    placement = {f"shard {k}": nodes[k] for k in range(n_shards)}
    placement.update({f"worker {w}": nodes[n_shards + w] for w in range(n_workers)})
    result = _result(
        plan,
        q,
        recorder,
        per_worker,
        lags,
        wall,
        "ray",
        mode,
        {
            "placement": placement,
            "nodes_used": len(set(nodes)),
            "calls": calls,
            "worker_cpus": cpus,
            "address": connection.address,
        },
    )
    result.startup_seconds = startup
    return result


def _read_table(ray: Any, shards: list[Any]) -> np.ndarray:
    return np.concatenate(
        [rows for rows, _ in ray.get([s.read.remote() for s in shards])]
    )


def _get_all(ray: Any, refs: list[Any]) -> list[Any]:
    """``ray.get`` of one call per worker; a worker's exception as WorkerError."""
    replies = []
    for w, ref in enumerate(refs):
        try:
            replies.append(ray.get(ref))
        except ray.exceptions.RayError as error:
            raise worker_error(error, w, len(refs)) from error
    return replies


def _run_sync(
    ray: Any, plan: Plan, workers: list[Any], shards: list[Any], recorder: _Recorder
) -> tuple[list[int], list[int], int]:
    """Two barriers per round: every worker pulls, then every worker works.

    Pulling first, all together, is what makes the round synchronous: no
    worker can read rows another has already pushed in this round.
    """
    lags: list[int] = []
    done = calls = 0
    sweeps = [0] * len(workers)
    for rounds in plan.calls():
        for worker_lags in _get_all(ray, [worker.pull.remote() for worker in workers]):
            lags.extend(worker_lags)
        sweeps = _get_all(ray, [worker.work.remote(rounds) for worker in workers])
        calls += 2 * len(workers)
        before, done = done, done + rounds
        if done // plan.record_every > before // plan.record_every or (
            done == plan.sweeps
        ):
            recorder.record(_read_table(ray, shards), done * plan.q_star.size)
    return sweeps, lags, calls


def _run_async(
    ray: Any, plan: Plan, workers: list[Any], shards: list[Any], recorder: _Recorder
) -> tuple[list[int], list[int], int]:
    """One call in flight per worker; whichever finishes gets the next one.

    The table is recorded whenever the sweeps done by all workers together
    pass a multiple of ``record_every`` table sweeps.
    """
    lags: list[int] = []
    schedule = plan.calls()
    next_call = [0] * len(workers)
    sweeps = [0] * len(workers)
    in_flight: dict[Any, int] = {}
    for w, worker in enumerate(workers):
        in_flight[worker.run.remote(schedule[0])] = w
        next_call[w] = 1
    per_table = [len(plan.worker_states(w)) for w in range(len(workers))]
    n_states = plan.q_star.shape[0]
    recorded = calls = 0
    while in_flight:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        w = in_flight.pop(ref)
        try:
            reply = ray.get(ref)
        except ray.exceptions.RayError as error:
            # The caller kills every actor, which ends the calls still in flight.
            raise worker_error(error, w, len(workers)) from error
        calls += 1
        lags.extend(reply["lags"])
        sweeps[w] = reply["sweeps"]
        if next_call[w] < len(schedule):
            in_flight[workers[w].run.remote(schedule[next_call[w]])] = w
            next_call[w] += 1
        # Table sweeps so far: every worker's sweeps weighted by its block.
        table_sweeps = sum(s * m for s, m in zip(sweeps, per_table, strict=True))
        table_sweeps /= n_states
        if int(table_sweeps // plan.record_every) > recorded or not in_flight:
            recorded = int(table_sweeps // plan.record_every)
            updates = sum(
                s * m * plan.q_star.shape[1]
                for s, m in zip(sweeps, per_table, strict=True)
            )
            recorder.record(_read_table(ray, shards), updates)
    return sweeps, lags, calls
