"""Design 2: independent agents, each with its own Q and target, learning
from one shared, thread-safe replay buffer."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from qlearn_lite.async_threads.network import (
    _new_q_network,
)
from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    _check_box_env,
    _check_final_epsilons,
    _final_epsilons,
    _make_envs,
    _Run,
    _run_workers,
    _shared_seed,
    _worker_seeds,
)
from qlearn_lite.dqn import DQNConfig, make_greedy_actor
from qlearn_lite.replay import ReplayBatch, ReplayBuffer
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    greedy_policy,
    linear_schedule,
)
from qlearn_lite.utils import check_int as _check_int
from qlearn_lite.utils import check_unit as _check_unit
from qlearn_lite.utils import get_device

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
    if tabular:
        combined: Any = np.mean(agents, axis=0)
        template = None
    else:
        combined = EnsembleQNetwork(agents)
        template = EnsembleQNetwork([copy.deepcopy(agent) for agent in agents])
    return run.result(
        combined,
        "independent",
        finals,
        updates=int(sum(shared.updates)),
        target_updates=int(sum(shared.target_updates)),
        agents=agents,
        policy=greedy_policy(combined) if tabular else None,
        net_template=template,
    )
