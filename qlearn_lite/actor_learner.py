"""Actor-learner DQN: actor processes send experience, one learner trains (nb 08;
on Ray, with prioritized replay, nb 10).

The design of Ape-X (Horgan et al. 2018, "Distributed Prioritized Experience
Replay", section 3 and Algorithm 1, without the priorities) and of the
"actor and learner roles" of the course's source material:

* **Actors** (:func:`actor_worker`, one per process or thread) each step a
  Gymnasium vector env of ``envs_per_actor`` copies (environment
  parallelism) with their own exploration rate, Ape-X's
  ``eps_i = eps ** (1 + alpha * i / (N - 1))`` with ``eps = 0.4``,
  ``alpha = 7`` (section 4.1). They compute n-step transitions under the
  course's one convention (:func:`qlearn_lite.dqn.n_step_transitions`: a
  terminal step cuts the return, a time limit bootstraps from the true last
  observation with ``gamma**k``) and send them to the learner as NumPy
  arrays, ``chunk_size`` transitions per message, through a *bounded* queue:
  when the learner falls behind the queue fills up and the actors wait, so
  the queue's bound is the rate limit that keeps the replay ratio.
* **The learner** (:class:`Learner`, in the calling process) keeps the replay
  memory and the target network, does ``replay_ratio`` gradient steps per env
  step received, and publishes its weights.
* **Weights** travel through one flat float32 tensor in shared memory
  (``share_memory_()``) plus a version counter (a ``multiprocessing.Value``:
  the learner's gradient-step count when it published). An actor copies them
  when the version changed, every ``sync_every`` of its env steps, and tags
  each transition with the version that chose its action.
* **Policy lag** is the learner's version minus that tag, recorded for every
  transition the learner samples: how many gradient steps old the policy was
  that produced the data.

How it runs
-----------
The actors run under the course's parallel core,
:func:`qlearn_lite.parallel.run_processes` (or :func:`run_threads` with
``executor="threads"``), which blocks until every actor has stopped, starts
them behind one gate, turns an actor's error into a ``WorkerError`` with the
child's traceback and stops every child on Ctrl-C. The learner therefore runs
in a second *thread* of the calling process, started just before the runner:
it owns the stop event, so it decides when training ends (``total_steps``
env steps received, or ``stop_at_return`` reached), and the actors leave their
loops at their next step. Every blocking ``get``/``put`` waits at most a
fraction of a second and re-checks the stop event; a learner that receives
nothing for ``timeout`` seconds raises ``TimeoutError``.

``synchronous=True`` (one actor) lock-steps the actor with the learner: after
each chunk the actor waits until the learner has trained on it and published.
Nothing then depends on timing, and the same seed gives the same network bit
for bit: the reference against which the asynchronous runs are judged.

On Ray
------
``executor="ray"`` runs the same algorithm as Ape-X proper, priorities
included (:mod:`qlearn_lite.distributed.apex`): the actors are Ray actors
around the same :class:`ExperienceCollector` as :func:`actor_worker`, so they
step, explore and build n-step transitions exactly as here; a Ray actor holds
a prioritized replay memory; the learner writes priorities back. What differs
is said there: chunks of at least 1,000 transitions, weights fetched at each
call, actors restarted by Ray when they die, reproducible only statistically.
"""

from __future__ import annotations

import copy
import math
import pickle
import pickletools
import queue as queue_module
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from qlearn_lite.dqn import (
    QNetwork,
    _make_env,
    dqn_loss,
    evaluate,
    first_reach,
    hard_update,
    n_step_transitions,
    new_q_network,
    prioritized_dqn_loss,
)
from qlearn_lite.parallel import (
    ParallelResult,
    WorkerContext,
    apex_epsilons,
    lag_summary,
    run_processes,
    run_threads,
    shared_seed,
    spawn_context,
    worker_contexts,
)
from qlearn_lite.replay import NStepBatch
from qlearn_lite.utils import check_finite, check_int, check_number, check_unit

__all__ = [
    "ActorLearnerConfig",
    "ActorReport",
    "Chunk",
    "ExperienceCollector",
    "Learner",
    "actor_learner_dqn",
    "actor_worker",
    "steps_to_return",
]

EnvSpec = str | Callable[[], gym.Env]
"""A registered Gymnasium id, or a picklable function of no arguments returning
an env (for processes: a module-level function or a ``functools.partial`` of
one, such as :func:`qlearn_lite.envs.costly_env_fn`)."""

EXECUTORS = ("processes", "threads", "ray")
"""What :func:`actor_learner_dqn` runs its actors on."""

POLL_SECONDS = 0.05
"""How long one blocking queue call waits before it re-checks the stop event."""


# ===================================================================== config
@dataclass(frozen=True)
class ActorLearnerConfig:
    """Every hyperparameter of :func:`actor_learner_dqn`; the defaults train
    CartPole-v1 (the learner's settings are :class:`~qlearn_lite.dqn.DQNConfig`'s
    defaults, so the two learners can be compared at the same replay ratio)."""

    total_steps: int = 50_000
    """Env steps (over all actors, as received by the learner) to train for,
    at most (see ``stop_at_return``)."""
    gamma: float = 0.98
    """Discount factor in [0, 1]."""
    lr: float = 2.3e-3
    """Adam learning rate of the learner."""
    batch_size: int = 64
    """Transitions per gradient step, sampled uniformly from the replay memory."""
    buffer_size: int = 50_000
    """Replay memory capacity in transitions (the oldest is overwritten)."""
    learning_starts: int = 1_000
    """Env steps received before the first gradient step."""
    replay_ratio: float = 0.5
    """Gradient steps per env step received (``DQNConfig``'s 128 per 256 steps
    is 0.5). The learner keeps to it exactly: it trains after every chunk until
    ``updates == floor(replay_ratio * (env_steps - learning_starts))``."""
    target_update_every: int = 128
    """Gradient steps between hard copies of the online net into the target net."""
    n_step: int = 3
    """Rewards summed before bootstrapping (n-step returns, Sutton & Barto 2018,
    section 7.1), as :func:`qlearn_lite.dqn.n_step_transitions` computes them:
    a window cut by a time limit bootstraps from the true last observation
    with ``gamma**k`` for its ``k < n`` rewards; a terminal step ends every
    waiting window with no bootstrap."""
    hidden: tuple[int, ...] = (64, 64)
    """Widths of the Q-network's hidden ReLU layers."""
    double: bool = False
    """Double DQN targets (van Hasselt et al. 2016)."""
    max_grad_norm: float | None = None
    """Clip the gradient's global L2 norm to this; None switches clipping off."""
    n_actors: int = 2
    """Actor processes (or threads), each with its own epsilon."""
    envs_per_actor: int = 1
    """Env copies each actor steps as one ``gymnasium.vector.SyncVectorEnv``."""
    eps: float = 0.4
    """Ape-X's base exploration rate: actor ``i`` of ``N`` uses
    ``eps ** (1 + eps_alpha * i / (N - 1))`` (``eps`` itself for one actor)."""
    eps_alpha: float = 7.0
    """Ape-X's spread of the actors' epsilons (0: all use ``eps``)."""
    eps_decay_steps: int = 0
    """Actor env steps over which each actor's epsilon falls linearly from 1 to
    its own value (0: constant from the start, as in Ape-X)."""
    queue_size: int = 8
    """Bound of the experience queue, in chunks: actors wait when it is full."""
    chunk_size: int = 64
    """Transitions per message (at least 64: the cost of a message is mostly
    fixed, so small messages are many times slower per transition)."""
    sync_every: int = 64
    """Actor env steps between two checks for new weights."""
    eval_every: int = 2_500
    """Env steps received between greedy evaluations by the learner (0: none)."""
    eval_episodes: int = 10
    """Greedy episodes per evaluation."""
    eval_seed: int | None = None
    """Seed of the evaluation episodes' start states (None: derived from seed,
    distinct from every actor's env seeds)."""
    stop_at_return: float | None = None
    """Stop as soon as a greedy evaluation reaches this mean return (None: never)."""
    restore_best: bool = False
    """At the end, return the network of the best greedy evaluation (not the
    last one); needs eval_every > 0."""
    synchronous: bool = False
    """Lock-step one actor with the learner (needs ``n_actors == 1``): slower,
    but bit-reproducible for a seed."""
    seed: int = 0
    """Seeds the network, the replay memory, every actor and the evaluations."""
    priority_alpha: float = 0.6
    """Ray only: how strongly priorities count in prioritized replay (Schaul
    et al. 2016; Ape-X's 0.6), in [0, 1]; 0 replays uniformly. The processes
    and threads learners always replay uniformly."""
    priority_beta: float = 0.4
    """Ray only: the importance-sampling exponent of the first update (Ape-X's
    0.4), annealed linearly to 1 by the last expected update."""
    learner_threads: int = 1
    """Torch intra-op threads of the learner (the caller's setting is restored
    afterwards). The actors run one torch thread each."""
    timeout: float = 60.0
    """Seconds the learner waits for experience before giving up with
    ``TimeoutError`` (spawned actors take a few seconds to start)."""

    def __post_init__(self) -> None:
        prefix = "ActorLearnerConfig."
        for name in (
            "total_steps",
            "batch_size",
            "buffer_size",
            "target_update_every",
            "n_step",
            "n_actors",
            "envs_per_actor",
            "queue_size",
            "sync_every",
            "eval_episodes",
            "learner_threads",
        ):
            check_int(prefix + name, getattr(self, name), 1)
        for name in ("learning_starts", "eps_decay_steps", "eval_every", "seed"):
            check_int(prefix + name, getattr(self, name), 0)
        check_int(prefix + "chunk_size", self.chunk_size, 64)
        for name in ("gamma", "eps", "priority_alpha", "priority_beta"):
            check_unit(prefix + name, getattr(self, name))
        check_number(prefix + "lr", self.lr, 0.0, math.inf, low_open=True)
        check_number(
            prefix + "replay_ratio", self.replay_ratio, 0.0, 1_000.0, low_open=True
        )
        check_number(prefix + "eps_alpha", self.eps_alpha, 0.0, 100.0)
        check_number(prefix + "timeout", self.timeout, 0.0, math.inf, low_open=True)
        if self.max_grad_norm is not None:
            check_number(
                prefix + "max_grad_norm", self.max_grad_norm, 0, math.inf, True
            )
        if self.eval_seed is not None:
            check_int(prefix + "eval_seed", self.eval_seed, 0)
        if self.stop_at_return is not None:
            check_finite(prefix + "stop_at_return", self.stop_at_return)
        for name in ("synchronous", "double", "restore_best"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"{prefix}{name} must be a bool, got {getattr(self, name)!r}"
                )
        if self.synchronous and self.n_actors != 1:
            raise ValueError(
                "ActorLearnerConfig.synchronous=True lock-steps one actor with the "
                f"learner: it needs n_actors=1, got n_actors={self.n_actors}"
            )
        if self.restore_best and self.eval_every == 0:
            raise ValueError(
                "ActorLearnerConfig.restore_best=True needs eval_every > 0"
            )
        hidden = tuple(self.hidden)
        if not all(isinstance(w, int) and not isinstance(w, bool) for w in hidden):
            raise TypeError(f"{prefix}hidden must be a tuple of ints, got {hidden!r}")
        object.__setattr__(self, "hidden", hidden)

    def replace(self, **changes: Any) -> ActorLearnerConfig:
        """A copy with some fields changed: ``config.replace(n_actors=4)``."""
        return replace(self, **changes)


# ================================================================== messages
@dataclass
class Chunk:
    """One message from an actor: ``n`` transitions as NumPy arrays, and what
    the actor did since its last message (named fields: they pickle safely)."""

    actor_id: int
    """Which actor sent it."""
    obs: np.ndarray
    """float32 ``[n, obs_dim]``: the states the actions were taken in."""
    actions: np.ndarray
    """int64 ``[n]``: the actions taken."""
    rewards: np.ndarray
    """float32 ``[n]``: the n-step discounted sums of rewards."""
    next_obs: np.ndarray
    """float32 ``[n, obs_dim]``: the states to bootstrap from."""
    terminated: np.ndarray
    """bool ``[n]``: True where ``next_obs`` is terminal (nothing to bootstrap)."""
    discounts: np.ndarray
    """float32 ``[n]``: ``gamma**k``, ``k`` the window's steps, to bootstrap with."""
    versions: np.ndarray
    """int64 ``[n]``: the weight version that chose each action."""
    env_steps: int
    """Env steps the actor took since its previous chunk."""
    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted returns of the episodes that ended since the previous chunk."""


@dataclass
class ActorReport:
    """What an actor returns when it stops (picklable)."""

    env_steps: int
    """Env steps it took (its vector env's copies together)."""
    episode_returns: list[float]
    """Returns of the training episodes it finished."""
    epsilon: float
    """Its final exploration rate."""
    chunks: int
    """Messages it sent."""
    wait_seconds: float
    """Wall seconds it waited for room in the queue (or for the learner, when
    synchronous): the time the rate limit took."""
    weight_syncs: int
    """How many times it copied new weights."""
    cpu_seconds: float = 0.0
    """CPU seconds of its thread from its first env step to its last (the
    process's start-up imports excluded)."""


@dataclass
class ActorLearnerShared:
    """What the actors share with the learner (picklable for spawned processes:
    the queues, events and values come from the spawn context)."""

    env: EnvSpec
    """The env to build in every actor."""
    obs_dim: int
    n_actions: int
    experience: Any
    """Bounded queue of :class:`Chunk` (``queue_size`` chunks)."""
    stop: Any
    """Event the learner sets when training is over."""
    weights: torch.Tensor
    """float32 ``[n_params]``, the learner's parameters (shared memory)."""
    version: Any
    """``Value('q')``: the learner's update count when ``weights`` were written;
    its lock guards ``weights`` too."""
    first_step: Any
    """``Value('d')``: ``time.time()`` of the first env step of any actor."""
    acks: Any = None
    """Synchronous mode: a queue the learner puts one item on per chunk it has
    trained on."""


# ===================================================================== actors
def _flatten(net: nn.Module) -> torch.Tensor:
    """Make ``net``'s parameters views into one flat float32 tensor; return it."""
    params = list(net.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for param in params:
        param.data = flat[offset : offset + param.numel()].view_as(param)
        offset += param.numel()
    return flat


def _numpy_layers(net: QNetwork) -> list[tuple[np.ndarray, np.ndarray]]:
    """NumPy views (no copy) of each Linear layer's weight and bias."""
    return [
        (m.weight.detach().numpy(), m.bias.detach().numpy())
        for m in net.layers
        if isinstance(m, nn.Linear)
    ]


def _greedy_actions(layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray):
    """``argmax_a Q(obs, a)`` for ``obs float32 [n, obs_dim]``, in NumPy."""
    hidden = obs.astype(np.float32, copy=False)
    for weight, bias in layers[:-1]:
        hidden = np.maximum(hidden @ weight.T + bias, 0.0)
    weight, bias = layers[-1]
    return np.argmax(hidden @ weight.T + bias, axis=1)


def _read_weights(shared: ActorLearnerShared, flat: torch.Tensor) -> int:
    """Copy the published weights into ``flat``; return their version."""
    with shared.version.get_lock():  # the learner writes under the same lock
        flat.copy_(shared.weights)
        return int(shared.version.value)


def _put(queue: Any, item: Any, stopped: Callable[[], bool]) -> bool:
    """``queue.put(item)``, re-checking ``stopped`` every ``POLL_SECONDS``;
    False if it stopped before there was room."""
    while not stopped():
        try:
            queue.put(item, timeout=POLL_SECONDS)
            return True
        except queue_module.Full:
            continue
    return False


class ExperienceCollector:
    """What every actor does between two messages, whatever carries them.

    One actor's vector env of ``config.envs_per_actor`` copies, its
    epsilon-greedy policy (NumPy on views of its own copy of the weights),
    its n-step windows and the transitions waiting to be sent. The processes
    and threads actor (:func:`actor_worker`) and the Ray actor
    (:class:`qlearn_lite.distributed.apex.ApexActor`) are thin shells around
    it: they differ only in how chunks and weights travel.
    """

    def __init__(
        self,
        ctx: WorkerContext,
        config: ActorLearnerConfig,
        env: EnvSpec,
        obs_dim: int,
        n_actions: int,
    ) -> None:
        self.config, self.n_actions = config, n_actions
        self.rng = ctx.rng()
        self.final_epsilon = ctx.final_epsilon
        n_envs = config.envs_per_actor
        self.envs = gym.vector.SyncVectorEnv(
            [_env_builder(env)] * n_envs,
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        self.q_net = QNetwork(obs_dim, n_actions, config.hidden)
        self.flat = _flatten(self.q_net)
        self.layers = _numpy_layers(self.q_net)  # views of flat: see load_weights
        self.version = 0
        """The weight version the policy acts with (tags every transition)."""
        self.windows = [deque() for _ in range(n_envs)]  # (obs, action, reward)
        self.window_versions = [deque() for _ in range(n_envs)]  # who acted
        self.episode_returns = np.zeros(n_envs)
        self.pending: list[tuple] = []
        """Complete n-step transitions not yet sent, oldest first."""
        self.pending_returns: list[float] = []
        self.finished: list[float] = []
        """Returns of the episodes whose transitions were sent."""
        self.steps = self.steps_at_last_chunk = 0
        self.obs, _ = self.envs.reset(seed=ctx.env_seed)

    def epsilon(self) -> float:
        """This actor's exploration rate now (linear from 1 over
        ``eps_decay_steps`` of its env steps, then constant)."""
        decay = self.config.eps_decay_steps
        if decay and self.steps < decay:
            return 1.0 + self.steps / decay * (self.final_epsilon - 1.0)
        return self.final_epsilon

    def load_weights(self, weights: torch.Tensor | np.ndarray, version: int) -> None:
        """Act from now on with ``weights`` (flat float32), tagged ``version``."""
        if isinstance(weights, np.ndarray):
            weights = torch.tensor(weights)  # a copy: Ray's arrays are read-only
        self.flat.copy_(weights)  # in place: the NumPy layers see it
        self.version = int(version)

    def step(self) -> int:
        """One vector step; its complete n-step transitions join ``pending``.
        Returns the env steps taken (``envs_per_actor``)."""
        config, n_envs = self.config, self.config.envs_per_actor
        # 1. Act: epsilon-greedy, one epsilon for this actor's envs.
        epsilon = self.epsilon()
        actions = _greedy_actions(self.layers, self.obs)
        explore = self.rng.random(n_envs) < epsilon
        random_actions = self.rng.integers(self.n_actions, size=n_envs)
        actions = np.where(explore, random_actions, actions)
        next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
        self.steps += n_envs

        # 2. n-step transitions, per env. In SAME_STEP autoreset an ended
        # env's next_obs is already the next episode's first observation:
        # the true last one is info["final_obs"] (easy to overlook).
        ended = terminated | truncated
        for i in range(n_envs):
            last_obs = info["final_obs"][i] if ended[i] else next_obs[i]
            self.windows[i].append((self.obs[i], int(actions[i]), float(rewards[i])))
            self.window_versions[i].append(self.version)
            ready = n_step_transitions(
                self.windows[i],
                np.asarray(last_obs, dtype=np.float32),
                bool(terminated[i]),
                bool(truncated[i]),
                config.n_step,
                config.gamma,
            )
            for transition in ready:  # oldest first, like the window
                self.pending.append((*transition, self.window_versions[i].popleft()))
            self.episode_returns[i] += float(rewards[i])
            if ended[i]:
                self.pending_returns.append(float(self.episode_returns[i]))
                self.episode_returns[i] = 0.0
        self.obs = next_obs  # easy to overlook: the next obs becomes the obs
        return n_envs

    def chunk_ready(self) -> bool:
        """Whether ``chunk_size`` transitions are waiting."""
        return len(self.pending) >= self.config.chunk_size

    def take_chunk(self, actor_id: int) -> Chunk:
        """Everything waiting as one :class:`Chunk` of NumPy arrays (never
        small tensors); ``pending`` starts afresh."""
        chunk = _make_chunk(
            actor_id,
            self.pending,
            self.steps - self.steps_at_last_chunk,
            self.pending_returns,
        )
        self.finished += self.pending_returns
        self.pending, self.pending_returns = [], []
        self.steps_at_last_chunk = self.steps
        return chunk

    def all_returns(self) -> list[float]:
        """Returns of every episode it finished, sent or not."""
        return self.finished + self.pending_returns

    def close(self) -> None:
        self.envs.close()


def actor_worker(
    ctx: WorkerContext, config: ActorLearnerConfig, shared: ActorLearnerShared
) -> ActorReport:
    """One actor: step ``envs_per_actor`` envs with this actor's epsilon and
    send n-step transitions to the learner in chunks, until told to stop.

    Runs in a spawned process (or a thread): everything it needs comes in
    ``ctx`` (seeds, this actor's epsilon), ``config`` and ``shared``. The
    stepping is :class:`ExperienceCollector`'s; this function moves its
    chunks through the queue and its weights from shared memory. Returns an
    :class:`ActorReport`.
    """

    def stopped() -> bool:
        return shared.stop.is_set() or ctx.should_stop()

    collector = ExperienceCollector(
        ctx, config, shared.env, shared.obs_dim, shared.n_actions
    )
    collector.version = _read_weights(shared, collector.flat)
    syncs = 1
    steps_since_sync = 0
    chunks, wait_seconds = 0, 0.0
    cpu_start = time.thread_time()
    if shared.first_step.value == 0.0:
        shared.first_step.value = time.time()
    try:
        while not stopped():
            steps_since_sync += collector.step()

            # 3. Send a chunk through the bounded queue.
            if collector.chunk_ready():
                chunk = collector.take_chunk(ctx.worker_id)
                started = time.perf_counter()
                if not _put(shared.experience, chunk, stopped):
                    break
                if config.synchronous:  # wait until the learner trained on it
                    while not stopped():
                        try:
                            shared.acks.get(timeout=POLL_SECONDS)
                            break
                        except queue_module.Empty:
                            continue
                wait_seconds += time.perf_counter() - started
                chunks += 1

            # 4. Refresh the weights if the learner published new ones.
            if steps_since_sync >= config.sync_every:
                steps_since_sync = 0
                if shared.version.value != collector.version:
                    collector.version = _read_weights(shared, collector.flat)
                    syncs += 1
    finally:
        collector.close()
    return ActorReport(
        env_steps=collector.steps,
        episode_returns=collector.all_returns(),
        epsilon=collector.final_epsilon,
        chunks=chunks,
        wait_seconds=wait_seconds,
        weight_syncs=syncs,
        cpu_seconds=time.thread_time() - cpu_start,
    )


def _env_builder(env: EnvSpec) -> Callable[[], gym.Env]:
    """A function of no arguments that builds ``env`` (an id or a function)."""
    if isinstance(env, str):
        return _EnvFromId(env)
    return env


@dataclass(frozen=True)
class _EnvFromId:
    """``gymnasium.make(env_id)`` as a picklable callable."""

    env_id: str

    def __call__(self) -> gym.Env:
        return gym.make(self.env_id)


def _make_chunk(
    actor_id: int, transitions: list[tuple], env_steps: int, returns: list[float]
) -> Chunk:
    """Stack ``(obs, action, n_step_return, next_obs, terminated, discount,
    version)`` tuples into one :class:`Chunk` of NumPy arrays."""
    obs, actions, rewards, next_obs, terminated, discounts, versions = zip(
        *transitions, strict=True
    )
    return Chunk(
        actor_id=actor_id,
        obs=np.stack(obs).astype(np.float32, copy=False),
        actions=np.asarray(actions, dtype=np.int64),
        rewards=np.asarray(rewards, dtype=np.float32),
        next_obs=np.stack(next_obs).astype(np.float32, copy=False),
        terminated=np.asarray(terminated, dtype=np.bool_),
        discounts=np.asarray(discounts, dtype=np.float32),
        versions=np.asarray(versions, dtype=np.int64),
        env_steps=int(env_steps),
        episode_returns=list(returns),
    )


# ==================================================================== learner
_COLUMNS = (
    "obs",
    "actions",
    "rewards",
    "next_obs",
    "terminated",
    "discounts",
    "versions",
)


class _Replay:
    """A ring buffer of the transitions actors send, with discounts and versions."""

    def __init__(self, capacity: int, obs_dim: int, seed: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.bool_)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.versions = np.zeros(capacity, dtype=np.int64)
        self.position = self.size = 0
        self.rng = np.random.default_rng(seed)

    def add(self, chunk: Chunk) -> None:
        count = min(len(chunk.actions), self.capacity)
        indices = (self.position + np.arange(count)) % self.capacity
        for name in _COLUMNS:
            getattr(self, name)[indices] = getattr(chunk, name)[-count:]
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int, num_batches: int) -> dict[str, np.ndarray]:
        """``num_batches`` uniform minibatches, arrays ``[num_batches, batch, ...]``."""
        indices = self.rng.integers(0, self.size, size=(num_batches, batch_size))
        return {name: getattr(self, name)[indices] for name in _COLUMNS}


class Learner:
    """The learner of :func:`actor_learner_dqn`: replay memory, online and target
    networks, Adam, and the loop that receives chunks, trains and publishes.

    Runs :meth:`run` in a thread of the calling process; everything it
    records is read by :func:`actor_learner_dqn` once it has stopped.
    """

    def __init__(
        self,
        config: ActorLearnerConfig,
        shared: ActorLearnerShared,
        q_net: QNetwork,
        flat: torch.Tensor,
        seeds: Sequence[int],
        eval_env: EnvSpec,
    ) -> None:
        self.config, self.shared = config, shared
        self.q_net, self.flat = q_net, flat
        self.target_net = copy.deepcopy(q_net).requires_grad_(False)
        self.optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr, fused=True)
        self.replay = _Replay(config.buffer_size, shared.obs_dim, seeds[0])
        self.eval_seed = seeds[1] if config.eval_seed is None else config.eval_seed
        self.eval_env = eval_env
        self.env_steps = self.updates = self.target_updates = self.chunks = 0
        self.lags: list[np.ndarray] = []  # per sampled transition
        self.arrival_lags: list[np.ndarray] = []  # per received transition
        self.losses: list[float] = []
        self.eval_steps: list[int] = []
        self.eval_returns: list[float] = []
        self.eval_seconds: list[float] = []  # since the first env step, evals excluded
        self.eval_time = 0.0
        self.best_return, self.best_state = -math.inf, None
        self.cpu_seconds = 0.0
        self.stopped_at = 0.0  # time.time() when training ended
        self.error: BaseException | None = None

    # ---------------------------------------------------------------- helpers
    def publish(self) -> None:
        """Write the online weights to shared memory, tagged with ``updates``."""
        with self.shared.version.get_lock():
            self.shared.weights.copy_(self.flat)
            self.shared.version.value = self.updates

    def train(self, num_updates: int) -> None:
        """``num_updates`` gradient steps on uniform minibatches (one sample call),
        with the loss of :func:`qlearn_lite.dqn.dqn_loss` on n-step batches."""
        burst = self.replay.sample(self.config.batch_size, num_updates)
        versions = burst.pop("versions")
        burst["terminated"] = burst["terminated"].astype(np.float32)
        columns = NStepBatch(*(torch.from_numpy(burst[f]) for f in NStepBatch._fields))
        self.gradient_steps(columns, versions)

    def gradient_steps(
        self,
        columns: NStepBatch,
        versions: np.ndarray,
        weights: torch.Tensor | None = None,
    ) -> np.ndarray | None:
        """One gradient step per row of ``columns`` (each field ``[updates,
        batch, ...]``, ``versions`` ``[updates, batch]``), the target network
        copied every ``target_update_every`` updates.

        Without ``weights``: :func:`qlearn_lite.dqn.dqn_loss`, returns None.
        With importance-sampling ``weights`` ``[updates, batch]`` (prioritized
        replay): :func:`qlearn_lite.dqn.prioritized_dqn_loss`, and returns
        the new priorities, ``|TD error|`` of every sample ``[updates, batch]``.
        """
        config = self.config
        num_updates = len(versions)
        priorities = None if weights is None else np.empty(versions.shape)
        total_loss = torch.zeros(())
        for k in range(num_updates):
            # Policy lag of every sampled transition: how many updates ago
            # the policy that acted was published.
            self.lags.append((self.updates - versions[k]).astype(np.int32))
            batch = NStepBatch(*(column[k] for column in columns))
            if weights is None:
                loss = dqn_loss(
                    self.q_net, self.target_net, batch, config.gamma, config.double
                )
            else:
                loss, errors = prioritized_dqn_loss(
                    self.q_net,
                    self.target_net,
                    batch,
                    weights[k],
                    config.gamma,
                    config.double,
                )
                priorities[k] = errors.abs().numpy()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.q_net.parameters(), config.max_grad_norm)
            self.optimizer.step()
            self.updates += 1
            total_loss += loss.detach()
            if self.updates % config.target_update_every == 0:
                hard_update(self.target_net, self.q_net)
                self.target_updates += 1
        self.losses.append(float(total_loss) / num_updates)
        return priorities

    def evaluate_now(self) -> float:
        """A greedy evaluation of the online net; its time is kept apart."""
        started = time.perf_counter()
        returns = evaluate(
            self.q_net, self.eval_env, self.config.eval_episodes, self.eval_seed
        )
        mean = float(returns.mean())
        if self.config.restore_best and mean > self.best_return:
            self.best_return = mean
            self.best_state = copy.deepcopy(self.q_net.state_dict())
        self.eval_steps.append(self.env_steps)
        self.eval_returns.append(mean)
        first_step = self.shared.first_step.value
        since_start = time.time() - first_step if first_step else 0.0
        self.eval_seconds.append(since_start - self.eval_time)
        self.eval_time += time.perf_counter() - started
        return mean

    def after_chunk(self, stored: int, next_eval: int) -> tuple[bool, int]:
        """What the learner does once a chunk is counted in ``env_steps``:
        train until ``updates == floor(replay_ratio * (env_steps -
        learning_starts))`` (once ``stored`` transitions fill a batch) and
        publish; evaluate when ``next_eval`` is reached or training is over.
        Returns ``(done, next_eval)``; ``done`` also sets ``stopped_at``."""
        config = self.config
        due = (
            math.floor(
                config.replay_ratio * max(0, self.env_steps - config.learning_starts)
            )
            - self.updates
        )
        if due > 0 and stored >= config.batch_size:
            self.train(due)
            self.publish()
        done = self.env_steps >= config.total_steps
        if config.eval_every and (self.env_steps >= next_eval or done):
            next_eval = (self.env_steps // config.eval_every + 1) * config.eval_every
            mean = self.evaluate_now()
            if config.stop_at_return is not None and mean >= config.stop_at_return:
                done = True
        if done:
            self.stopped_at = time.time()
        return done, next_eval

    # ------------------------------------------------------------------- loop
    def run(self, runner_done: threading.Event) -> None:
        """Receive, store, train, publish until done; then drain the queue until
        the actors have stopped (so no actor blocks in ``put`` at exit)."""
        cpu_start = time.thread_time()
        try:
            self._loop()
        except BaseException as error:  # handed to the caller's thread
            self.error = error
        finally:
            self.stopped_at = self.stopped_at or time.time()
            self.shared.stop.set()
            self.cpu_seconds = time.thread_time() - cpu_start
            while not runner_done.is_set():
                try:
                    self.shared.experience.get(timeout=POLL_SECONDS)
                except queue_module.Empty:
                    continue
                except (EOFError, OSError):  # the queue was closed under us
                    break

    def _loop(self) -> None:
        config, shared = self.config, self.shared
        next_eval = config.eval_every
        waited = 0.0
        self.publish()
        while not shared.stop.is_set():
            try:
                chunk = shared.experience.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                waited += POLL_SECONDS
                if waited > config.timeout:
                    raise TimeoutError(
                        f"the learner received no experience for {config.timeout} s "
                        "(ActorLearnerConfig.timeout): are the actors alive?"
                    ) from None
                continue
            waited = 0.0
            # Lag on arrival: updates made since the policy that acted was
            # published (the pipeline's lag, before any time in the replay).
            self.arrival_lags.append((self.updates - chunk.versions).astype(np.int32))
            self.replay.add(chunk)
            self.env_steps += chunk.env_steps
            self.chunks += 1
            done, next_eval = self.after_chunk(self.replay.size, next_eval)
            if done:
                shared.stop.set()
            if config.synchronous:  # after the stop: the actor sees both at once
                shared.acks.put(True)

    # ----------------------------------------------------------------- result
    def result(
        self,
        executor: str,
        reports: Sequence[ActorReport],
        called: float,
        extra: dict[str, Any],
    ) -> ParallelResult:
        """The finished run as a :class:`~qlearn_lite.parallel.ParallelResult`:
        the learner's records, the actors' ``reports`` and the caller's
        ``extra`` fields; ``called`` is ``time.time()`` when the run was asked
        for (start-up is measured from it). Loads the best evaluated network
        first when ``restore_best`` kept one."""
        if self.best_state is not None:
            self.q_net.load_state_dict(self.best_state)
        first_step = self.shared.first_step.value or called
        wall = max(self.stopped_at - first_step, 1e-9)
        lags = np.concatenate(self.lags) if self.lags else np.zeros(0, np.int32)
        lags = lags.astype(np.int64)  # ParallelResult.lags: int64
        arrival = (
            np.concatenate(self.arrival_lags)
            if self.arrival_lags
            else np.zeros(0, np.int32)
        )
        return ParallelResult(
            q=self.q_net,
            executor=executor,
            design="actor-learner",
            n_workers=len(reports),
            worker_steps=[report.env_steps for report in reports],
            worker_returns=[report.episode_returns for report in reports],
            global_steps=self.env_steps,
            updates=self.updates,
            wall_seconds=wall,
            startup_seconds=first_step - called,
            cpu_seconds=sum(r.cpu_seconds for r in reports) + self.cpu_seconds,
            final_epsilons=[report.epsilon for report in reports],
            target_updates=self.target_updates,
            staleness=lag_summary(lags),
            lags=lags,
            extra={
                "eval_steps": self.eval_steps,
                "eval_returns": self.eval_returns,
                "eval_seconds": self.eval_seconds,
                "eval_wall_seconds": self.eval_time,
                "arrival_lags": arrival,
                "losses": self.losses,
                "chunks": self.chunks,
                "actor_reports": list(reports),
                "actor_wait_seconds": [report.wait_seconds for report in reports],
                "learner_cpu_seconds": self.cpu_seconds,
                **extra,
            },
        )


# ================================================================= the learner
def _check_env_spec(env: Any, executor: str) -> None:
    """For processes the env function must be importable by a spawned child."""
    if isinstance(env, str) or executor == "threads":
        return
    function = getattr(env, "func", env)  # a functools.partial's function
    name = getattr(function, "__qualname__", repr(function))
    advice = (
        "a spawned process can only build an env from a function it can import: "
        "move it to a module (a .py file) and import it, or pass a registered "
        "Gymnasium id or qlearn_lite.envs.costly_env_fn(...)"
    )
    if getattr(function, "__module__", None) == "__main__" or "<lambda>" in name:
        raise TypeError(
            f"the env function {name!r} is defined in __main__ (a notebook or a "
            f"script) or is a lambda; {advice}"
        )
    try:
        data = pickle.dumps(env)
    except Exception as error:
        raise TypeError(
            f"the env function {name!r} cannot be pickled ({error}); {advice}"
        ) from error
    for opcode, argument, _ in pickletools.genops(data):
        if isinstance(argument, str) and argument.split(" ")[0] == "__main__":
            raise TypeError(
                f"the env function {name!r} refers to something defined in "
                f"__main__ ({opcode.name} {argument!r}); {advice}"
            )


def run_seeds(config: ActorLearnerConfig) -> tuple[int, int, int, list[WorkerContext]]:
    """The seeds of one run, whatever the executor: the network's, the replay
    memory's, the evaluations', and one context per actor (its seeds and its
    Ape-X epsilon)."""
    net_seed = shared_seed(config.seed, "actor-learner network")
    buffer_seed = shared_seed(config.seed, "actor-learner replay")
    eval_seed = shared_seed(config.seed, "actor-learner evaluation")
    epsilons = apex_epsilons(config.n_actors, config.eps, config.eps_alpha)
    contexts = worker_contexts(config.seed, config.n_actors, final_epsilons=epsilons)
    return net_seed, buffer_seed, eval_seed, contexts


def actor_learner_dqn(
    env_id_or_fn: EnvSpec,
    config: ActorLearnerConfig | None = None,
    executor: Literal["processes", "threads", "ray"] = "processes",
    progress: bool = True,
    *,
    address: str | None = None,
    fault_at_step: int | None = None,
    fault_actor: int = 0,
    max_restarts: int = 3,
) -> ParallelResult:
    """Train DQN with ``config.n_actors`` actors and one learner (Ape-X without
    priorities, Horgan et al. 2018); return a ``ParallelResult``.

    Args:
        env_id_or_fn: a Gymnasium id, or a function of no arguments returning
            an env with a Discrete action space and a flat Box observation
            space. For processes it must be picklable by reference: a
            module-level function or a ``functools.partial`` of one (such as
            :func:`qlearn_lite.envs.costly_env_fn`), never a lambda or a
            function defined in a notebook (``TypeError`` says so).
        config: an :class:`ActorLearnerConfig` (None: the defaults).
        executor: ``"processes"`` (spawned processes, one torch thread each),
            ``"threads"`` (the same actors in threads of this process) or
            ``"ray"`` (Ray actors, a prioritized replay actor and the learner
            here: Ape-X with its priorities, see
            :mod:`qlearn_lite.distributed.apex`; needs Ray and
            ``chunk_size >= 1000``).
        progress: show a progress bar of the env steps received.
        address: Ray only: None to start (or reuse) a local instance with
            :func:`qlearn_lite.distributed.connect`, or the address of a
            cluster to join.
        fault_at_step, fault_actor, max_restarts: Ray only: kill actor
            ``fault_actor`` once the learner has received ``fault_at_step``
            env steps, and let Ray restart each actor up to ``max_restarts``
            times (``extra["restarts"]`` counts the restarts).

    The result: ``q`` the learner's online network (with ``restore_best``,
    the one of its best greedy evaluation); ``worker_steps`` and
    ``worker_returns`` per actor; ``global_steps`` the env steps the learner
    received; ``updates`` its gradient steps; ``wall_seconds`` from the first
    env step of any actor to the end of training, evaluations included (the
    actors keep stepping while the learner evaluates; the start-up cost, from the
    call to that first step, is ``startup_seconds``); ``cpu_seconds``
    the actors' and the learner's CPU time over the same span (each thread's
    own clock; start-up imports excluded); ``staleness`` and ``lags`` the
    policy lag (in gradient steps) of every sampled transition, which with a
    replay memory is mostly the transition's age in it
    (``extra["arrival_lags"]``: the lag of each transition when it arrived,
    the pipeline's own share); ``extra`` the
    evaluations (``eval_steps``, ``eval_returns``, ``eval_seconds``: training
    seconds since the first env step, evaluation time excluded), the losses,
    each actor's :class:`ActorReport` and the time actors waited on the queue.
    """
    called = time.time()
    config = ActorLearnerConfig() if config is None else config
    if not isinstance(config, ActorLearnerConfig):
        raise TypeError(
            f"config must be an ActorLearnerConfig, got {type(config).__name__}"
        )
    if executor not in EXECUTORS:
        raise ValueError(
            f"executor must be one of {', '.join(map(repr, EXECUTORS))}, got "
            f"{executor!r}"
        )
    ray_only = {"address": address, "fault_at_step": fault_at_step}
    if executor != "ray" and any(v is not None for v in ray_only.values()):
        given = ", ".join(f"{k}={v!r}" for k, v in ray_only.items() if v is not None)
        raise ValueError(f"{given} apply to executor='ray' only, got {executor!r}")
    _check_env_spec(env_id_or_fn, executor)
    probe = _make_env(env_id_or_fn)  # checks: Discrete actions, flat Box obs
    obs_dim, n_actions = probe.observation_space.shape[0], int(probe.action_space.n)
    probe.close()
    if executor == "ray":  # Ape-X on Ray: the same algorithm, priorities added
        from qlearn_lite.distributed.apex import apex_dqn

        return apex_dqn(
            env_id_or_fn,
            config,
            obs_dim,
            n_actions,
            address,
            progress=progress,
            fault_at_step=fault_at_step,
            fault_actor=fault_actor,
            max_restarts=max_restarts,
        )

    net_seed, buffer_seed, eval_seed, contexts = run_seeds(config)

    q_net = new_q_network(obs_dim, n_actions, config.hidden, net_seed)
    flat = _flatten(q_net)
    if executor == "processes":
        mp = spawn_context()
        experience, stop = mp.Queue(maxsize=config.queue_size), mp.Event()
        acks = mp.Queue() if config.synchronous else None
        weights = flat.detach().clone().share_memory_()
    else:
        mp = spawn_context()  # for the Values only: they work in threads too
        experience = queue_module.Queue(maxsize=config.queue_size)
        stop = threading.Event()
        acks = queue_module.Queue() if config.synchronous else None
        weights = flat.detach().clone()
    shared = ActorLearnerShared(
        env=env_id_or_fn,
        obs_dim=obs_dim,
        n_actions=n_actions,
        experience=experience,
        stop=stop,
        weights=weights,
        version=mp.Value("q", 0),
        first_step=mp.Value("d", 0.0),
        acks=acks,
    )
    learner = Learner(
        config, shared, q_net, flat, (buffer_seed, eval_seed), env_id_or_fn
    )
    runner_done = threading.Event()
    learner_thread = threading.Thread(
        target=learner.run, args=(runner_done,), name="learner", daemon=True
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(config.learner_threads)
    run = run_processes if executor == "processes" else run_threads
    try:
        learner_thread.start()
        outcome = run(
            actor_worker,
            contexts,
            shared,
            config,
            progress=(lambda: learner.env_steps) if progress else None,
            total=config.total_steps,
            desc=f"actor-learner ({executor})",
        )
    finally:
        stop.set()
        runner_done.set()
        learner_thread.join(timeout=config.timeout)
        torch.set_num_threads(threads)
        if executor == "processes":
            for channel in (experience, acks):
                if channel is not None:
                    channel.close()
                    channel.join_thread()
    if learner.error is not None:
        raise learner.error
    if learner_thread.is_alive():
        raise TimeoutError(
            f"the learner did not stop within {config.timeout} s after the actors"
        )

    return learner.result(
        executor, list(outcome.returns), called, extra={"config": config}
    )


def steps_to_return(result: ParallelResult, threshold: float = 475.0) -> int | None:
    """Env steps at the first greedy evaluation of an :func:`actor_learner_dqn`
    run whose mean return reached ``threshold``; None if none did.

    The evaluations are the learner's, every ``eval_every`` received env steps
    (:func:`qlearn_lite.dqn.first_reach` over ``result.extra``).
    """
    if not isinstance(result, ParallelResult) or "eval_steps" not in result.extra:
        raise TypeError(
            "result must be the ParallelResult of actor_learner_dqn, with its "
            f"greedy evaluations in result.extra, got {type(result).__name__}"
        )
    extra = result.extra
    reached = first_reach(
        extra["eval_steps"], extra["eval_seconds"], extra["eval_returns"], threshold
    )
    return None if reached is None else int(reached[0])
