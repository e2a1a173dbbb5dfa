"""Ape-X-lite on Ray: many actors, one prioritized replay, one learner (nb 10).

Ape-X (Horgan et al. 2018, "Distributed Prioritized Experience Replay",
section 3 and Algorithm 1), the algorithm of
:func:`qlearn_lite.actor_learner.actor_learner_dqn` with Ray as the executor
and the priorities put back in. Reached through that one entry point:
``actor_learner_dqn(env, config, executor="ray", address=None)``.

* **Actors** (:class:`ApexActor`, one Ray actor each) are thin shells around
  :class:`~qlearn_lite.actor_learner.ExperienceCollector`, the same stepping,
  Ape-X epsilons and n-step transitions as the processes executor. Each call
  of :meth:`ApexActor.collect` steps until ``config.chunk_size`` transitions
  (at least 1,000: a Ray call costs about 1 ms) are waiting, gives each its
  first priority ``|delta|`` under the actor's own copy of the weights
  (:func:`chunk_priorities`, Algorithm 1 line 11), and returns them as one
  :class:`PrioritizedChunk`.
* **The replay** (:class:`ApexReplay`, one Ray actor) holds a
  :class:`~qlearn_lite.prioritized.PrioritizedReplayBuffer`. A chunk goes
  from the actor's reply straight into it (the driver passes the reply's
  object reference on; Ray resolves it in the replay's process).
* **The learner** runs in the driver (the calling process), so that its
  network is at hand for evaluation and the result, as with processes. For
  each chunk it receives it does ``replay_ratio`` gradient steps per env
  step on prioritized minibatches with their importance-sampling weights
  (:func:`qlearn_lite.dqn.prioritized_dqn_loss` on n-step batches), then
  writes the new ``|delta|`` back (``update_priorities``, line 16 of
  Algorithm 2) and publishes its weights.
* **Weights** go out with one ``ray.put`` per publication; every call to an
  actor carries the newest reference and its version (the learner's update
  count), and the actor fetches the weights only when its own version is
  older. An actor therefore acts with weights at most one chunk old, where
  the processes executor checks every ``sync_every`` steps (``sync_every``
  is not used on Ray).
* **Rate limit**: the driver keeps one ``collect`` call in flight per actor
  and waits with ``ray.wait`` for whichever ends first, so no actor is ever
  more than one chunk ahead of the learner (``queue_size`` is not used on
  Ray).
* **Policy lag**, the learner's version minus the version that acted, is
  recorded for every sampled transition (``result.lags``, ``staleness``)
  and on arrival (``extra["arrival_lags"]``), as with processes.

Faults
------
The actors are created with ``max_restarts`` and ``max_task_retries``: an
actor whose process dies (``ray.kill(actor, no_restart=False)``, a crashed
node) is started again by Ray from its constructor's arguments, and its call
in flight is run again there. The replay and the learner are elsewhere, so
nothing learned is lost; the restarted actor starts new episodes, with new
seeds. Each actor process draws an id when it starts and sends it with every
chunk: a new id is a restart, counted in ``extra["restarts"]``.
``fault_at_step=`` kills one actor (``fault_actor``) that way once the
learner has received that many env steps: the live demo of notebook 10.
An exception raised inside an actor's code is not retried: it ends the run
as :class:`~qlearn_lite.parallel.WorkerError` with the actor's id and its
traceback, after every actor has been killed.

Reproducibility
---------------
Which actor's chunk arrives first depends on timing, so a Ray run is
reproducible only statistically: the same seed gives the same actors'
seeds and epsilons, the same initial network and the same replay seed, but
not the same network bit for bit. (``synchronous=True``, the bit-exact mode,
is for processes and threads only.)
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from qlearn_lite.actor_learner import (
    ActorLearnerConfig,
    ActorLearnerShared,
    ActorReport,
    Chunk,
    EnvSpec,
    ExperienceCollector,
    Learner,
    _flatten,
    run_seeds,
)
from qlearn_lite.distributed.cluster import (
    connect,
    ray_memory_mb,
    require_ray,
    worker_error,
)
from qlearn_lite.dqn import (
    new_q_network,
    td_errors,
)
from qlearn_lite.parallel import (
    ParallelResult,
    WorkerContext,
    _advance,
    _new_bar,
    spawn_context,
)
from qlearn_lite.prioritized import PrioritizedReplayBuffer
from qlearn_lite.replay import NStepBatch
from qlearn_lite.utils import check_int, check_number

__all__ = [
    "MIN_RAY_CHUNK",
    "ApexActor",
    "ApexReplay",
    "PrioritizedChunk",
    "apex_dqn",
    "chunk_priorities",
]

MIN_RAY_CHUNK = 1_000
"""Fewest transitions per actor call on Ray: a call costs about 1 ms, so a
chunk of 1,000 keeps the cost of the traffic near 1 microsecond per step."""

_BATCH_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "discounts")


# ============================================================== pure pieces
def chunk_priorities(q_net: torch.nn.Module, chunk: Chunk, gamma: float) -> np.ndarray:
    """float64 ``[n]``: ``|delta_i|`` of a chunk's transitions under ``q_net``.

    Ape-X's actors compute the first priority of their own experience
    (Horgan et al. 2018, Algorithm 1 line 11) with their local copy of the
    network, bootstrapping from it too (an actor has no target network).
    """
    batch = NStepBatch(
        torch.from_numpy(chunk.obs),
        torch.from_numpy(chunk.actions),
        torch.from_numpy(chunk.rewards),
        torch.from_numpy(chunk.next_obs),
        torch.from_numpy(chunk.terminated.astype(np.float32)),
        torch.from_numpy(chunk.discounts),
    )
    return td_errors(q_net, None, batch, gamma).abs().double().numpy()


# ================================================================= messages
@dataclass
class PrioritizedChunk:
    """One actor's reply: a chunk, its first priorities, who sent it."""

    chunk: Chunk
    """The transitions (see :class:`~qlearn_lite.actor_learner.Chunk`)."""
    priorities: np.ndarray
    """float64 ``[n]``: ``|delta|`` of each transition under the actor's weights."""
    incarnation: str
    """A random id the actor's process drew when it started: a new one means
    Ray restarted the actor."""
    cpu_seconds: float
    """CPU seconds the call took in the actor (its thread's clock)."""
    synced: bool
    """Whether the actor fetched new weights at the start of the call."""
    node_id: str = ""
    """The Ray node the actor runs on."""


# =================================================================== actors
class ApexActor:
    """A Ray actor that collects experience: a shell around
    :class:`~qlearn_lite.actor_learner.ExperienceCollector`.

    Made a Ray actor by :func:`apex_dqn` (``ray.remote(...)(ApexActor)``),
    so the class itself stays importable and testable without Ray.
    """

    def __init__(
        self,
        ctx: WorkerContext,
        config: ActorLearnerConfig,
        env: EnvSpec,
        obs_dim: int,
        n_actions: int,
    ) -> None:
        import ray

        torch.set_num_threads(1)  # one core per actor, as for processes
        self.incarnation = uuid.uuid4().hex
        context = ray.get_runtime_context()
        if context.was_current_actor_reconstructed:
            # A restart: new episodes, not a replay of the first ones.
            fresh = np.random.SeedSequence().generate_state(2)
            ctx = replace(ctx, agent_seed=int(fresh[0]), env_seed=int(fresh[1]))
        self.node_id = context.get_node_id()
        self.actor_id, self.config = ctx.worker_id, config
        self.collector = ExperienceCollector(ctx, config, env, obs_dim, n_actions)
        self.has_weights = False
        self.stopping = False  # set by stop(), from the actor's second thread

    def ready(self) -> tuple[str, str]:
        """The node this actor landed on and its process's id (a call that
        returns once the actor is up; it runs beside a ``collect`` call)."""
        return self.node_id, self.incarnation

    def stop(self) -> None:
        """Make a running (or the next) ``collect`` return None at once: the
        run is over, so that no call is cut off by ``ray.kill``."""
        self.stopping = True

    def collect(self, weights: list[Any], version: int) -> PrioritizedChunk | None:
        """Step until ``chunk_size`` transitions wait; return them prioritized
        (None once :meth:`stop` was called).

        ``weights`` is ``[ref]``, a one-element list holding the object
        reference of the learner's flat float32 weights (in a list, so that
        Ray does not fetch them unless this actor needs them), ``version``
        their version; they are fetched only if this actor's are older.
        """
        import ray

        cpu_start = time.thread_time()
        collector = self.collector
        synced = not self.has_weights or version != collector.version
        if synced:
            collector.load_weights(ray.get(weights[0]), version)
            self.has_weights = True
        while not collector.chunk_ready():
            if self.stopping:
                return None
            collector.step()
        chunk = collector.take_chunk(self.actor_id)
        priorities = chunk_priorities(collector.q_net, chunk, self.config.gamma)
        return PrioritizedChunk(
            chunk=chunk,
            priorities=priorities,
            incarnation=self.incarnation,
            cpu_seconds=time.thread_time() - cpu_start,
            synced=synced,
            node_id=self.node_id,
        )


class ApexReplay:
    """A Ray actor holding the one prioritized replay memory of a run.

    A :class:`~qlearn_lite.prioritized.PrioritizedReplayBuffer` for the
    transitions, with two columns beside it, slot for slot: each n-step
    transition's ``gamma**k`` and the weight version that acted. It also
    keeps each slot's priority as it was added, so that one can check that
    the learner's priorities arrived (:meth:`stats`).
    """

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        alpha: float,
        beta_start: float,
        beta_steps: int,
        seed: int,
    ) -> None:
        self.buffer = PrioritizedReplayBuffer(
            capacity, (obs_dim,), alpha, beta_start, beta_steps, seed=seed
        )
        self.capacity = capacity
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.versions = np.zeros(capacity, dtype=np.int64)
        self.added_values = np.zeros(capacity)  # tree leaf when the slot was filled
        self.priority_updates = 0

    def add(self, message: PrioritizedChunk) -> int:
        """Store a chunk with its actor's priorities; return the buffer's size."""
        chunk = message.chunk
        slots = (self.buffer.storage.position + np.arange(len(chunk.actions))) % (
            self.capacity
        )
        self.buffer.add_batch(
            chunk.obs,
            chunk.actions,
            chunk.rewards,
            chunk.next_obs,
            chunk.terminated,
            message.priorities,
        )
        self.discounts[slots] = chunk.discounts
        self.versions[slots] = chunk.versions
        self.added_values[slots] = self.buffer.tree.values(slots)
        return len(self.buffer)

    def sample(self, batch_size: int, num_batches: int) -> dict[str, np.ndarray]:
        """``num_batches`` prioritized minibatches: arrays ``[num_batches,
        batch_size, ...]`` of the n-step fields, ``versions``, ``indices``
        and ``weights`` (importance sampling); beta advances once per batch."""
        batches = self.buffer.sample_many(batch_size, num_batches)
        columns = batches._asdict()  # obs .. weights, [num_batches, batch_size, ...]
        columns["discounts"] = self.discounts[batches.indices]
        columns["versions"] = self.versions[batches.indices]
        return columns

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """The learner's new ``|delta|`` for the slots it trained on."""
        self.buffer.update_priorities(indices, priorities)
        self.priority_updates += len(indices)

    def stats(self) -> dict[str, Any]:
        """Size, priority updates received, the share of stored transitions
        whose priority is no longer the one they arrived with, and beta."""
        size = len(self.buffer)
        now = self.buffer.tree.values(np.arange(size))
        changed = float(np.mean(now != self.added_values[:size])) if size else 0.0
        return {
            "size": size,
            "priority_updates": self.priority_updates,
            "changed_fraction": changed,
            "beta": self.buffer.beta,
            "max_priority": self.buffer.max_priority,
        }


# ================================================================== learner
class ApexLearner(Learner):
    """:class:`~qlearn_lite.actor_learner.Learner` with its replay on a Ray
    actor: prioritized minibatches, weighted loss, priorities written back,
    weights published with ``ray.put``."""

    def __init__(
        self,
        config: ActorLearnerConfig,
        shared: ActorLearnerShared,
        q_net: torch.nn.Module,
        flat: torch.Tensor,
        seeds: tuple[int, int],
        eval_env: EnvSpec,
        ray: Any,
        replay: Any,
    ) -> None:
        super().__init__(config, shared, q_net, flat, seeds, eval_env)
        self.ray, self.replay = ray, replay  # the replay is the Ray actor
        self.weights_ref: Any = None
        self.published = 0

    def publish(self) -> None:
        """One ``ray.put`` of the online weights, tagged with ``updates``."""
        self.weights_ref = self.ray.put(self.flat.detach().numpy().copy())
        self.published += 1

    def train(self, num_updates: int) -> None:
        """``num_updates`` gradient steps on prioritized minibatches (one sample
        call), then one call writing their new priorities back."""
        config = self.config
        burst = self.ray.get(self.replay.sample.remote(config.batch_size, num_updates))
        versions, indices = burst.pop("versions"), burst.pop("indices")
        weights = _tensor(burst.pop("weights"))  # terminated: float32 already
        columns = NStepBatch(*(_tensor(burst[name]) for name in _BATCH_FIELDS))
        new_priorities = self.gradient_steps(columns, versions, weights)
        assert new_priorities is not None  # weights given: priorities come back
        # Later batches of the burst hold the newer values of a repeated slot.
        self.replay.update_priorities.remote(
            indices.reshape(-1), new_priorities.reshape(-1)
        )


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor of an array from ``ray.get`` (read-only: copied if so)."""
    return torch.from_numpy(np.require(array, requirements="W"))


# =================================================================== driver
def apex_dqn(
    env_id_or_fn: EnvSpec,
    config: ActorLearnerConfig,
    obs_dim: int,
    n_actions: int,
    address: str | None = None,
    *,
    progress: bool = True,
    fault_at_step: int | None = None,
    fault_actor: int = 0,
    max_restarts: int = 3,
    startup_timeout: float = 300.0,
) -> ParallelResult:
    """The Ray executor of :func:`~qlearn_lite.actor_learner.actor_learner_dqn`.

    Called by it with ``executor="ray"`` once the config and the env are
    checked (``obs_dim`` and ``n_actions`` are the env's). Arguments beyond
    the processes executor's:

    Args:
        address: None to use the current Ray connection or start a local
            instance (:func:`qlearn_lite.distributed.connect`); an address
            joins that cluster.
        fault_at_step: kill actor ``fault_actor`` with ``ray.kill(actor,
            no_restart=False)`` once the learner has received this many env
            steps (None: no fault). Ray restarts it; ``extra["restarts"]``
            counts the restarts seen.
        fault_actor: which actor ``fault_at_step`` kills (0 to n_actors - 1).
        max_restarts: how many times Ray may restart each actor (and retry
            the call that was running when it died).
        startup_timeout: seconds to wait for the actors to start (each is a
            new Python process that imports torch).

    Returns the :class:`~qlearn_lite.parallel.ParallelResult` of the
    processes executor, with ``executor="ray"``; ``worker_steps`` and
    ``worker_returns`` count what the learner received from each actor (a
    chunk in flight at the end is dropped); ``startup_seconds`` runs from the
    actors' creation to the first call. ``extra`` adds ``restarts`` (actor
    processes Ray started again), ``faults`` (kills by ``fault_at_step``),
    ``replay`` (the replay actor's :meth:`ApexReplay.stats`),
    ``weight_puts``, ``placement`` (actor -> node id), ``nodes_used``,
    ``actor_cpus`` (CPUs reserved per actor), ``ray_memory_mb`` and
    ``address``.

    Ray stays connected afterwards; every actor of the run is killed before
    this returns or raises.
    """

    n_actors = config.n_actors
    if config.chunk_size < MIN_RAY_CHUNK:
        raise ValueError(
            f"ActorLearnerConfig.chunk_size must be >= {MIN_RAY_CHUNK} for "
            "executor='ray' (a Ray call costs about 1 ms: send experience in "
            f"batches of 1,000 transitions or more), got {config.chunk_size}; "
            f"use config.replace(chunk_size={MIN_RAY_CHUNK})"
        )
    if config.buffer_size < config.chunk_size:
        raise ValueError(
            "ActorLearnerConfig.buffer_size must hold at least one chunk "
            f"(chunk_size={config.chunk_size}) for executor='ray', got "
            f"{config.buffer_size}"
        )
    if config.synchronous:
        raise ValueError(
            "ActorLearnerConfig.synchronous=True is for executor='processes' or "
            "'threads': a Ray run is reproducible only statistically"
        )
    if fault_at_step is not None:
        fault_at_step = check_int("fault_at_step", fault_at_step, 0)
    fault_actor = check_int("fault_actor", fault_actor, 0)
    if fault_actor >= n_actors:
        raise ValueError(
            f"fault_actor must be an actor's index, 0 to {n_actors - 1}, got "
            f"{fault_actor}"
        )
    max_restarts = check_int("max_restarts", max_restarts, 0)
    startup_timeout = check_number("startup_timeout", startup_timeout, 0, 3600, True)
    ray = require_ray("actor_learner_dqn(executor='ray')")
    connection = connect(address, verbose=not ray.is_initialized())
    called = time.time()

    net_seed, buffer_seed, eval_seed, contexts = run_seeds(config)
    q_net = new_q_network(obs_dim, n_actions, config.hidden, net_seed)
    flat = _flatten(q_net)
    shared = ActorLearnerShared(
        env=env_id_or_fn,
        obs_dim=obs_dim,
        n_actions=n_actions,
        experience=None,  # chunks travel as Ray replies
        stop=threading.Event(),
        weights=flat,
        version=None,  # the version travels with every call
        first_step=spawn_context().Value("d", 0.0),
    )
    expected_updates = math.floor(
        config.replay_ratio * max(1, config.total_steps - config.learning_starts)
    )
    cpus = min(1.0, math.floor(100 * connection.cpus / n_actors) / 100) or 0.01
    actor_class = ray.remote(
        num_cpus=cpus,
        max_restarts=max_restarts,
        max_task_retries=max_restarts,
        max_concurrency=2,  # ready() answers while collect() runs
        scheduling_strategy="SPREAD",
    )(ApexActor)
    replay_class = ray.remote(num_cpus=0)(ApexReplay)
    replay = replay_class.remote(
        config.buffer_size,
        obs_dim,
        config.priority_alpha,
        config.priority_beta,
        max(1, expected_updates),
        buffer_seed,
    )
    actors = [
        actor_class.remote(ctx, config, env_id_or_fn, obs_dim, n_actions)
        for ctx in contexts
    ]
    learner = ApexLearner(
        config, shared, q_net, flat, (buffer_seed, eval_seed), env_id_or_fn, ray, replay
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(config.learner_threads)
    bar = None
    try:
        try:
            started = _ready(ray, actors, startup_timeout)
        except ray.exceptions.GetTimeoutError:
            raise RuntimeError(
                f"Ray could not start {n_actors} actors within {startup_timeout:g} "
                f"s on a cluster with {connection.cpus:g} CPUs on "
                f"{connection.nodes} node(s): a machine too busy to start their "
                "processes; use fewer actors or a larger startup_timeout"
            ) from None
        bar = _new_bar(
            config.total_steps,
            "actor-learner (ray)",
            (lambda: learner.env_steps) if progress else None,
        )
        nodes = [node for node, _ in started]
        loop = _Loop(ray, config, learner, actors)
        loop.incarnations = [{incarnation} for _, incarnation in started]
        shared.first_step.value = time.time()
        loop.run(bar, fault_at_step, fault_actor)
        replay_stats = ray.get(replay.stats.remote(), timeout=config.timeout)
        # Let the calls in flight return (None) before the actors are killed.
        for actor in actors:
            actor.stop.remote()
        ray.wait(list(loop.in_flight), num_returns=len(loop.in_flight), timeout=10)
        # A restart not yet seen in a chunk (the actor restarted, its retried
        # call still runs): its new process answers ready().
        final = _ready(ray, actors, startup_timeout)
        for seen, (_, incarnation) in zip(loop.incarnations, final, strict=True):
            seen.add(incarnation)
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(threads)
        for actor in [*actors, replay]:
            ray.kill(actor)  # no_restart=True: the run is over

    reports = [
        ActorReport(
            env_steps=loop.steps[i],
            episode_returns=loop.returns[i],
            epsilon=ctx.final_epsilon,
            chunks=loop.chunks[i],
            wait_seconds=0.0,
            weight_syncs=loop.syncs[i],
            cpu_seconds=loop.cpu[i],
        )
        for i, ctx in enumerate(contexts)
    ]
    return learner.result(
        "ray",
        reports,
        called,
        extra={
            "config": config,
            "restarts": sum(len(seen) - 1 for seen in loop.incarnations),
            "faults": loop.faults,
            "ray_memory_mb": loop.memory_mb,
            "replay": replay_stats,
            "weight_puts": learner.published,
            "placement": {f"actor {i}": node for i, node in enumerate(nodes)},
            "nodes_used": len(set(nodes)),
            "actor_cpus": cpus,
            "address": connection.address,
        },
    )


def _ready(ray: Any, actors: list[Any], timeout: float) -> list[tuple[str, str]]:
    """Each actor's ``ready()`` (node, process id), within ``timeout`` seconds
    in all; an actor that failed to start is a WorkerError with its index."""
    refs = [actor.ready.remote() for actor in actors]
    ray.wait(refs, num_returns=len(refs), timeout=timeout)
    replies = []
    for i, ref in enumerate(refs):
        try:
            replies.append(ray.get(ref, timeout=0.1))
        except ray.exceptions.GetTimeoutError:
            raise
        except ray.exceptions.RayError as error:
            raise worker_error(error, i, len(actors)) from error
    return replies


@dataclass
class _Loop:
    """The driver's loop: one call in flight per actor, the learner trains on
    whichever chunk comes back first; per-actor tallies for the result."""

    ray: Any
    config: ActorLearnerConfig
    learner: ApexLearner
    actors: list[Any]
    steps: list[int] = field(default_factory=list)
    returns: list[list[float]] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    syncs: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    incarnations: list[set[str]] = field(default_factory=list)
    """Per actor, the process ids it has sent: more than one is a restart."""
    faults: int = 0
    in_flight: dict[Any, int] = field(default_factory=dict)
    """The calls still running: object reference -> actor index."""
    memory_mb: float | None = None
    """Memory of this machine's Ray processes together (MB, PSS), sampled
    once, when every actor has sent a chunk (or at the end of a shorter run),
    while all of them run."""

    def run(self, bar: Any, fault_at_step: int | None, fault_actor: int) -> None:
        ray, config, learner = self.ray, self.config, self.learner
        n = len(self.actors)
        self.steps, self.chunks, self.syncs = [0] * n, [0] * n, [0] * n
        self.returns, self.cpu = [[] for _ in range(n)], [0.0] * n
        cpu_start = time.thread_time()
        stored, next_eval = 0, config.eval_every
        learner.publish()  # version 0: the initial weights
        in_flight = self.in_flight
        in_flight.update({self._call(i): i for i in range(n)})
        try:
            while True:
                ready, _ = ray.wait(
                    list(in_flight), num_returns=1, timeout=config.timeout
                )
                if not ready:
                    raise TimeoutError(
                        f"the learner received no experience for {config.timeout} "
                        "s (ActorLearnerConfig.timeout): are the actors alive?"
                    )
                ref = ready[0]
                i = in_flight.pop(ref)
                try:
                    message = ray.get(ref)
                except ray.exceptions.RayError as error:
                    raise worker_error(error, i, n) from error
                self.incarnations[i].add(message.incarnation)
                learner.replay.add.remote(ref)  # the chunk goes on by reference
                chunk = message.chunk
                stored = min(stored + len(chunk.actions), config.buffer_size)
                # Lag on arrival, as with processes.
                learner.arrival_lags.append(
                    (learner.updates - chunk.versions).astype(np.int32)
                )
                learner.env_steps += chunk.env_steps
                learner.chunks += 1
                self.steps[i] += chunk.env_steps
                self.returns[i] += chunk.episode_returns
                self.chunks[i] += 1
                self.syncs[i] += int(message.synced)
                self.cpu[i] += message.cpu_seconds
                if self.memory_mb is None and learner.chunks >= n:
                    self.memory_mb = ray_memory_mb()
                done, next_eval = learner.after_chunk(stored, next_eval)
                _advance(bar, config.total_steps, lambda: learner.env_steps)
                if done:
                    if self.memory_mb is None:  # a run shorter than a round
                        self.memory_mb = ray_memory_mb()
                    return
                if (
                    fault_at_step is not None
                    and not self.faults
                    and learner.env_steps >= fault_at_step
                ):
                    # The demo's fault: the process dies, Ray starts it again.
                    ray.kill(self.actors[fault_actor], no_restart=False)
                    self.faults += 1
                in_flight[self._call(i)] = i
        finally:
            learner.cpu_seconds = time.thread_time() - cpu_start
            learner.stopped_at = learner.stopped_at or time.time()

    def _call(self, i: int) -> Any:
        learner = self.learner
        return self.actors[i].collect.remote([learner.weights_ref], learner.updates)
