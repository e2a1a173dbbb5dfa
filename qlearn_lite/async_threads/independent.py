"""Design 2: independent agents, each with its own Q and target, learning
from one shared, thread-safe replay buffer."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    WorkerRecord,
    check_box_env,
    contexts_for,
    now,
    probe_env,
    profiled,
    result_from,
    run,
)
from qlearn_lite.dqn import (
    DQNConfig,
    dqn_loss,
    make_greedy_actor,
    new_q_network,
    update_target,
)
from qlearn_lite.parallel import WorkerContext, shared_seed
from qlearn_lite.replay import ReplayBatch, ReplayBuffer
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    greedy_policy,
    linear_schedule,
)
from qlearn_lite.utils import (
    check_int,
    check_seed,
    check_unit,
    env_from_spec,
    get_device,
)

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


@dataclass(frozen=True)
class IndependentTableConfig:
    """Every setting of independent *tabular* agents (:func:`independent_agents`
    on an env with Discrete observations).

    Network agents take a :class:`~qlearn_lite.dqn.DQNConfig` instead
    (default :data:`INDEPENDENT_DQN_CONFIG`).
    """

    total_steps: int = 20_000
    """Env steps of all agents together."""
    alpha: float = 0.1
    """Step size in (0, 1]."""
    gamma: float = 0.99
    """Discount in [0, 1]."""
    batch_size: int = 4
    """Transitions per minibatch: each agent applies one minibatch of tabular
    Q-learning updates per env step it takes."""
    buffer_size: int = 100_000
    """Capacity of the shared replay buffer, in transitions."""
    learning_starts: int = 100
    """Transitions in the buffer before the first update (at least batch_size)."""
    target_update_every: int = 1
    """This agent's minibatch updates between copies of its target table
    (1: the target is the table itself)."""
    eps_start: float = 1.0
    """Epsilon at step 0, annealed to each agent's final epsilon."""
    eps_decay_steps: int | None = None
    """Env steps of all agents together over which epsilon anneals (None: half
    of total_steps)."""
    seed: int = 0
    """Split per agent (exploration, env) and for the shared buffer."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "buffer_size", "target_update_every"):
            object.__setattr__(
                self,
                name,
                check_int(f"IndependentTableConfig.{name}", getattr(self, name)),
            )
        object.__setattr__(
            self,
            "learning_starts",
            check_int(
                "IndependentTableConfig.learning_starts", self.learning_starts, 0
            ),
        )
        object.__setattr__(
            self,
            "alpha",
            check_unit("IndependentTableConfig.alpha", self.alpha, low_open=True),
        )
        for name in ("gamma", "eps_start"):
            object.__setattr__(
                self,
                name,
                check_unit(f"IndependentTableConfig.{name}", getattr(self, name)),
            )
        if self.eps_decay_steps is not None:
            object.__setattr__(
                self,
                "eps_decay_steps",
                check_int(
                    "IndependentTableConfig.eps_decay_steps", self.eps_decay_steps
                ),
            )
        object.__setattr__(self, "seed", check_seed(self.seed))

    def replace(self, **changes: Any) -> IndependentTableConfig:
        """A copy with some fields changed: ``config.replace(seed=1)``."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class IndependentJob:
    """What an independent agent needs besides its context (named fields)."""

    env: EnvSpec
    config: Any
    """An IndependentTableConfig (tables) or a DQNConfig (networks)."""
    total_steps: int
    eps_decay_steps: int
    snapshot_every: int | None
    profile: bool


@dataclass
class Agents:
    """What independent workers share: the buffer, every agent's Q and the books."""

    buffer: SharedReplayBuffer
    agents: list[Any]
    updates: list[int]
    target_updates: list[int]
    counters: np.ndarray
    """int64 ``[1]``: the global step count, which decides when to stop."""

    def snapshot(self) -> Any:
        if isinstance(self.agents[0], np.ndarray):  # tables: the combined table
            return np.mean(self.agents, axis=0)
        return torch.stack(
            [
                nn.utils.parameters_to_vector(agent.parameters()).detach().cpu()
                for agent in self.agents
            ]
        )


def _record_step(job: IndependentJob, shared: Agents, record: WorkerRecord) -> int:
    record.steps += 1
    shared.counters[0] += 1  # unlocked: the counter only decides when to stop
    step = int(shared.counters[0])
    if job.snapshot_every and step % job.snapshot_every == 0:
        record.snapshots.append((step, now(), shared.snapshot()))
    return step


def table_agent_worker(
    ctx: WorkerContext, job: IndependentJob, shared: Agents
) -> WorkerRecord:
    """One independent tabular agent: its own Q and target, the shared buffer."""
    record = WorkerRecord()
    with profiled(record, job.profile):
        _table_agent_loop(ctx, job, shared, record)
    return record


def _table_agent_loop(
    ctx: WorkerContext, job: IndependentJob, shared: Agents, record: WorkerRecord
) -> None:
    config: IndependentTableConfig = job.config
    k = ctx.worker_id
    Q = shared.agents[k]
    Q_target = Q if config.target_update_every == 1 else Q.copy()
    buffer = shared.buffer
    learning_starts = max(config.learning_starts, config.batch_size)
    epsilon_at = linear_schedule(
        config.eps_start, ctx.final_epsilon, job.eps_decay_steps
    )
    rng = ctx.rng()
    env = env_from_spec(job.env)
    episode_return, my_updates = 0.0, 0
    try:
        obs, _ = env.reset(seed=ctx.env_seed)
        while shared.counters[0] < job.total_steps and not ctx.should_stop():
            action = epsilon_greedy(Q[obs], epsilon_at(int(shared.counters[0])), rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated)
            episode_return += float(reward)
            step = _record_step(job, shared, record)
            if len(buffer) >= learning_starts:
                # One minibatch of updates per env step, from everyone's data.
                batch = buffer.sample_arrays(config.batch_size)
                states, acts = batch.obs, batch.actions
                next_values = Q_target[batch.next_obs].max(axis=1)
                targets = (
                    batch.rewards
                    + config.gamma * (1.0 - batch.terminated) * next_values
                )
                np.add.at(Q, (states, acts), config.alpha * (targets - Q[states, acts]))
                shared.updates[k] += config.batch_size
                my_updates += 1
                if Q_target is not Q and my_updates % config.target_update_every == 0:
                    np.copyto(Q_target, Q)
                    shared.target_updates[k] += 1
            if terminated or truncated:
                record.end_episode(episode_return, step)
                episode_return = 0.0
                obs, _ = env.reset()
            else:
                obs = next_obs
    finally:
        env.close()


def network_agent_worker(
    ctx: WorkerContext, job: IndependentJob, shared: Agents
) -> WorkerRecord:
    """One independent DQN agent (Mnih et al. 2015): own network, target and
    Adam; transitions go to, and minibatches come from, the shared buffer."""
    record = WorkerRecord()
    with profiled(record, job.profile):
        _network_agent_loop(ctx, job, shared, record)
    return record


def _network_agent_loop(
    ctx: WorkerContext, job: IndependentJob, shared: Agents, record: WorkerRecord
) -> None:
    config: DQNConfig = job.config
    torch.set_num_threads(1)  # process-wide; the runner restores it
    k = ctx.worker_id
    q_net = shared.agents[k]
    device = next(q_net.parameters()).device
    target_net = None
    if config.target_mode != "none":
        target_net = copy.deepcopy(q_net).requires_grad_(False)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr)
    act = make_greedy_actor(q_net)  # NumPy views: sees every optimizer step
    epsilon_at = linear_schedule(
        config.eps_start, ctx.final_epsilon, job.eps_decay_steps
    )
    rng = ctx.rng()
    env = env_from_spec(job.env)
    n_actions = int(env.action_space.n)
    buffer = shared.buffer
    episode_return = 0.0
    try:
        obs, _ = env.reset(seed=ctx.env_seed)
        while shared.counters[0] < job.total_steps and not ctx.should_stop():
            if rng.random() < epsilon_at(int(shared.counters[0])):
                action = int(rng.integers(n_actions))
            else:
                action = act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated)
            episode_return += float(reward)
            step = _record_step(job, shared, record)
            if len(buffer) >= max(config.learning_starts, config.batch_size) and (
                record.steps % config.train_freq == 0
            ):
                for _ in range(config.gradient_steps):
                    batch = buffer.sample(config.batch_size, device)
                    loss = dqn_loss(
                        q_net,
                        target_net,
                        batch,
                        config.gamma,
                        config.double,
                        config.loss,
                    )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.max_grad_norm is not None:
                        nn.utils.clip_grad_norm_(
                            q_net.parameters(), config.max_grad_norm
                        )
                    optimizer.step()
                    shared.updates[k] += 1
                    if update_target(config, target_net, q_net, shared.updates[k]):
                        shared.target_updates[k] += 1
            if terminated or truncated:
                record.end_episode(episode_return, step)
                episode_return = 0.0
                obs, _ = env.reset()
            else:
                obs = next_obs
    finally:
        env.close()


def independent_agents(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    config: IndependentTableConfig | DQNConfig | None = None,
    *,
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

    One interface for both kinds of agent; ``config`` says everything:

    * ``Discrete`` observations: a Q-table per agent, with an
      :class:`IndependentTableConfig` (the default). Per env step an agent
      stores its transition and applies one minibatch of ``batch_size``
      tabular Q-learning updates sampled from the buffer, bootstrapping from
      its own target table.
    * ``Box`` observations: a DQN per agent (Mnih et al. 2015) with a
      :class:`~qlearn_lite.dqn.DQNConfig` (default
      :data:`INDEPENDENT_DQN_CONFIG`). Its ``total_steps`` and
      ``eps_decay_steps`` count the env steps of all agents together;
      ``train_freq`` counts the agent's own env steps, ``target_update_every``
      its own gradient steps; the network of agent ``k`` is seeded from
      ``config.seed`` and ``k``. One-step transitions only (``n_step=1``).

    Exploration is as in :func:`async_q_learning`: per-worker final epsilons
    (Mnih et al. 2016, or ``final_epsilons``), annealed from ``eps_start``.
    """
    n_workers = check_int("n_workers", n_workers)
    tabular = probe_env(
        env_id_or_fn, lambda env: isinstance(env.observation_space, gym.spaces.Discrete)
    )
    if tabular:
        config = IndependentTableConfig() if config is None else config
        if not isinstance(config, IndependentTableConfig):
            raise TypeError(
                "this env has Discrete observations, so the agents are tables: "
                "config must be an IndependentTableConfig, got "
                f"{type(config).__name__}"
            )
        n_states, n_actions = probe_env(env_id_or_fn, discrete_sizes)
        eps_decay_steps = config.eps_decay_steps or max(config.total_steps // 2, 1)
    else:
        config = INDEPENDENT_DQN_CONFIG if config is None else config
        if not isinstance(config, DQNConfig):
            raise TypeError(
                "this env has Box observations, so the agents are networks: "
                f"config must be a DQNConfig, got {type(config).__name__}"
            )
        if config.n_step != 1:
            raise ValueError(
                "independent network agents learn from one-step transitions in the "
                f"shared buffer: expected config.n_step=1, got {config.n_step}"
            )
        obs_dim, n_actions = probe_env(env_id_or_fn, check_box_env)
        device = get_device(config.device)
        eps_decay_steps = config.eps_decay_steps
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every)
    contexts = contexts_for(config.seed, n_workers, final_epsilons)
    buffer_seed = shared_seed(config.seed, "buffer")
    if tabular:
        agents: list[Any] = [np.zeros((n_states, n_actions)) for _ in range(n_workers)]
        buffer = ReplayBuffer(config.buffer_size, (), np.int64, seed=buffer_seed)
        worker = table_agent_worker
    else:
        agents = [
            new_q_network(
                obs_dim,
                n_actions,
                config.hidden,
                shared_seed(ctx.agent_seed, "network"),
            ).to(device)
            for ctx in contexts
        ]
        buffer = ReplayBuffer(config.buffer_size, (obs_dim,), np.float32, buffer_seed)
        worker = network_agent_worker
    shared = Agents(
        SharedReplayBuffer(buffer),
        agents,
        [0] * n_workers,
        [0] * n_workers,
        np.zeros(1, dtype=np.int64),
    )
    job = IndependentJob(
        env_id_or_fn,
        config,
        config.total_steps,
        eps_decay_steps,
        snapshot_every,
        bool(profile),
    )
    outcome = run(
        "threads",
        worker,
        contexts,
        shared,
        job,
        shared.counters,
        config.total_steps,
        "independent agents",
        progress,
    )
    if tabular:
        combined: Any = np.mean(agents, axis=0)
        template = None
    else:
        combined = EnsembleQNetwork(agents)
        template = EnsembleQNetwork([copy.deepcopy(agent) for agent in agents])
    return result_from(
        outcome,
        combined,
        "independent",
        contexts,
        global_steps=int(shared.counters[0]),
        updates=int(sum(shared.updates)),
        target_updates=int(sum(shared.target_updates)),
        agents=agents,
        policy=greedy_policy(combined) if tabular else None,
        net_template=template,
    )
