"""Vectorised DQN: envs, replay buffer and networks on one device (notebook 09).

DQN (Mnih et al. 2015, Algorithm 1) with double-DQN targets (van Hasselt et
al. 2016), n-step returns and a soft target network, built from notebook 05's
pieces, where everything lives on one device:

* :class:`~qlearn_lite.vec_envs.TorchCartPole` steps ``num_envs`` carts as one
  tensor operation, and the Q-network acts for all of them in one forward pass;
* :class:`DeviceReplayBuffer` stores and samples on that device;
* :class:`NStepWindow` turns the stream of vector steps into n-step
  transitions with :func:`qlearn_lite.replay.n_step_returns` (the course's one
  n-step convention), with masks instead of ``if``s: no host sync;
* :func:`n_step_dqn_loss` is :func:`qlearn_lite.dqn.dqn_loss` with a discount
  per transition;
* :func:`vectorized_dqn` runs it, either in one thread (the default: acting
  and learning alternate; bit-for-bit reproducible) or as an actor and a
  learner, two module-level workers ``worker(ctx, config, shared)`` run by
  :func:`qlearn_lite.parallel.run_threads`, kept in step by a
  :class:`RateLimiter`.

CartPole only. Training touches the env only through ``reset``/``step``, but
the stopping test does not: :func:`greedy_returns` replays the start states of
Gymnasium's ``CartPole-v1`` (:func:`gymnasium_start_states`, set with
``TorchCartPole.set_state``) so that "reached 475" means the same test as
:func:`qlearn_lite.dqn.evaluate` and ``benchmarks/dqn_cartpole.py``. Another
env would need its own batched evaluation with that guarantee.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.dqn import (
    LOSSES,
    QNetwork,
    _check_device_name,
    _check_hidden,
    first_reach,
    hard_update,
    new_q_network,
    polyak_update,
    td_targets,
)
from qlearn_lite.parallel import (
    ParallelResult,
    WorkerContext,
    lag_summary,
    run_threads,
    worker_contexts,
)
from qlearn_lite.replay import n_step_returns
from qlearn_lite.tabular import LinearSchedule, linear_schedule
from qlearn_lite.utils import (
    check_finite,
    check_int,
    check_memory,
    check_number,
    check_seed,
    check_unit,
    child_seeds,
    get_device,
    synchronize,
)
from qlearn_lite.vec_envs import TorchCartPole
from qlearn_lite.vectorized import batched_epsilon_greedy

__all__ = [
    "DeviceBatch",
    "DeviceReplayBuffer",
    "NStepWindow",
    "RateLimiter",
    "VectorizedDQNConfig",
    "VectorizedDQNHistory",
    "VectorizedDQNResult",
    "greedy_returns",
    "gymnasium_start_states",
    "memory_estimate",
    "OverlapProfile",
    "n_step_dqn_loss",
    "overlap_profile",
    "vectorized_dqn",
]


# ===================================================================== config
def _min_learning_starts(n_step: int, num_envs: int) -> int:
    """The smallest ``learning_starts`` whose first update finds the buffer filled.

    :class:`NStepWindow` stores its first transitions at vector step
    ``n_step`` (``n_step - 1`` steps after they happened); the first update
    samples at vector step ``ceil(learning_starts / num_envs) + 1``. So
    ``ceil(learning_starts / num_envs) >= n_step - 1``, i.e. ``learning_starts
    >= (n_step - 2) * num_envs + 1`` for ``n_step >= 2``, and 0 for ``n_step = 1``.
    """
    return 0 if n_step == 1 else (n_step - 2) * num_envs + 1


@dataclass(frozen=True)
class VectorizedDQNConfig:
    """Every hyperparameter of :func:`vectorized_dqn` (DQN on TorchCartPole).

    The defaults reach a greedy return of 475 on CartPole-v1 in about 1,000 to
    1,600 gradient steps (30,000 to 55,000 env steps) for seeds 0-4, measured
    while tuning them (see notebook 09 and ``benchmarks/vectorized_learners.py``):
    many envs, 5-step returns and a fairly fast soft target (tau 0.05) matter
    most; with 1-step returns and tau 0.01 it took 3,000-9,000 or more.
    """

    num_envs: int = 32
    """Carts stepped together by the actor; one vector step is this many env steps."""
    total_steps: int = 500_000
    """Env steps to train for, at most (see ``stop_at_return`` and ``max_seconds``)."""
    max_seconds: float | None = None
    """Stop after this many seconds of training (evaluations excluded); None:
    no limit."""
    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    lr: float = 2.5e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Transitions per gradient step, sampled uniformly from the buffer."""
    buffer_size: int = 100_000
    """Replay capacity in transitions, rounded up to a multiple of num_envs
    (a warning when that adds more than 10 %: ``buffer_size=100_000`` with
    ``num_envs=2**22`` would keep 4,194,304 rows)."""
    learning_starts: int = 2_000
    """Env steps collected (mostly at random) before the first update; at least
    ``(n_step - 2) * num_envs + 1`` (for ``n_step >= 2``), so that the first
    update finds n-step transitions stored."""
    updates_per_step: int = 1
    """Gradient steps per vector step (``updates_per_step / num_envs`` per env
    step)."""
    target_update_every: int = 1
    """Gradient steps between target-network updates."""
    tau: float = 0.05
    """Target update ``target <- tau * online + (1 - tau) * target``; 1.0 is a
    hard copy."""
    double: bool = True
    """Double DQN targets (van Hasselt et al. 2016)."""
    loss: str = "huber"
    """TD loss: ``"huber"`` (delta 1) or ``"mse"``."""
    max_grad_norm: float | None = 10.0
    """Clip the gradient's global L2 norm to this; None: no clipping."""
    hidden: tuple[int, ...] = (64, 64)
    """Widths of the Q-network's hidden ReLU layers."""
    n_step: int = 5
    """Bootstrap after this many steps: the target is ``r_t + gamma r_{t+1} + ...
    + gamma^(n-1) r_{t+n-1} + gamma^n max_a Q(s_{t+n}, a)``, cut at a terminal
    step, bootstrapped from the true final observation at a truncation
    (:func:`qlearn_lite.replay.n_step_returns`; Sutton & Barto section 7.1;
    Hessel et al. 2018, Rainbow)."""
    eps_start: float = 1.0
    """Exploration epsilon at env step 0."""
    eps_end: float = 0.05
    """Exploration epsilon after ``eps_decay_steps`` env steps."""
    eps_decay_steps: int = 10_000
    """Env steps over which epsilon decays linearly from eps_start to eps_end
    (:func:`qlearn_lite.tabular.linear_schedule`); 0: ``eps_end`` from the start."""
    eval_every: int = 1_600
    """Env steps between greedy evaluations (their time is not counted)."""
    eval_episodes: int = 10
    """Greedy episodes per evaluation, run as one batch of TorchCartPoles."""
    eval_seed: int = 10_000
    """The evaluation episodes start where ``gym.make("CartPole-v1")`` starts
    after ``reset(seed=eval_seed)``: the test of :func:`qlearn_lite.dqn.evaluate`
    and ``benchmarks/dqn_cartpole.py`` (see :func:`gymnasium_start_states`).
    Training stops on it: judge the final network on other seeds."""
    stop_at_return: float | None = 475.0
    """Stop at the first evaluation with this mean greedy return; None: never."""
    asynchronous: bool = False
    """True: collect with an actor thread while the learner trains (reproducible
    only statistically). The default, one thread alternating acting and
    learning, is bit-for-bit reproducible and, on the CPUs measured, faster:
    with the actor thread the same run went 0.65-0.85x as fast on 2 cores
    (notebook 09's runs, and medians of pairs in
    ``benchmarks/vectorized_learners.py``; :func:`overlap_profile` shows why).
    Whether it pays on a GPU has not been measured yet
    (``benchmarks/gpu_check.py`` times both)."""
    max_actor_lead: int = 4
    """Asynchronous: vector steps the actor may run ahead of the learner."""
    actor_sync_every: int = 4
    """Asynchronous: gradient steps between copies of the learner's network into
    the actor's (the actor acts with a slightly older network)."""
    seed: int = 0
    """Seeds the networks, the envs, exploration and replay sampling."""
    device: str = "auto"
    """``"auto"``, ``"cpu"`` or ``"cuda"``: envs, buffer and networks all live there."""

    def __post_init__(self) -> None:
        # Every field is checked here, once, and stored as a plain Python value
        # (numpy scalars such as np.int64(1) or np.float32(0.9) are accepted),
        # so that a bad value fails at construction, not deep inside torch at
        # the first update or evaluation.
        def name(field_name: str) -> str:
            return f"VectorizedDQNConfig.{field_name}"

        def put(field_name: str, value: Any) -> None:
            object.__setattr__(self, field_name, value)

        for key in (
            "num_envs",
            "total_steps",
            "batch_size",
            "buffer_size",
            "updates_per_step",
            "target_update_every",
            "eval_every",
            "eval_episodes",
            "max_actor_lead",
            "actor_sync_every",
            "n_step",
        ):
            put(key, check_int(name(key), getattr(self, key)))
        for key in ("learning_starts", "eps_decay_steps"):
            put(key, check_int(name(key), getattr(self, key), minimum=0))
        for key in ("seed", "eval_seed"):  # below 2**64: torch's limit
            put(key, check_seed(getattr(self, key), name(key)))
        # NaN and values outside [0, 1] fail; epsilon moves between eps_start
        # and eps_end only, so the schedule stays in [0, 1] too.
        for key in ("gamma", "tau", "eps_start", "eps_end"):
            put(key, check_unit(name(key), getattr(self, key)))
        put("lr", check_number(name("lr"), self.lr, 0, math.inf, True, True))
        for key in ("max_grad_norm", "max_seconds"):
            value = getattr(self, key)
            if value is not None:
                put(key, check_number(name(key), value, 0, math.inf, True, True))
        if self.stop_at_return is not None:
            put(
                "stop_at_return",
                check_finite(name("stop_at_return"), self.stop_at_return),
            )
        if not isinstance(self.loss, str) or self.loss not in LOSSES:
            raise ValueError(
                f"{name('loss')} must be one of {LOSSES}, got {self.loss!r}"
            )
        for key in ("double", "asynchronous"):
            value = getattr(self, key)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name(key)} must be True or False, got {value!r}")
            put(key, bool(value))
        put("hidden", _check_hidden(self.hidden, name("hidden")))
        _check_device_name(self.device, name("device"))
        put("device", str(self.device))
        minimum = _min_learning_starts(self.n_step, self.num_envs)
        if self.learning_starts < minimum:
            raise ValueError(
                f"{name('learning_starts')} must be >= {minimum} with "
                f"n_step={self.n_step} and num_envs={self.num_envs} (the first "
                "n-step transitions are stored at vector step n_step, the first "
                "update samples at vector step ceil(learning_starts / num_envs) "
                f"+ 1), got {self.learning_starts}"
            )

    def replace(self, **changes: Any) -> VectorizedDQNConfig:
        """A copy with some fields changed: ``config.replace(seed=1)``."""
        return dataclasses.replace(self, **changes)

    def epsilon_schedule(self) -> LinearSchedule:
        """Epsilon as a function of the env step (Mnih et al. 2015, Methods)."""
        if self.eps_decay_steps == 0:
            return linear_schedule(self.eps_end, self.eps_end, 1)
        return linear_schedule(self.eps_start, self.eps_end, self.eps_decay_steps)


# ============================================================ replay buffer
class DeviceBatch(NamedTuple):
    """A minibatch from :class:`DeviceReplayBuffer`: the fields of
    :class:`~qlearn_lite.replay.ReplayBatch` plus each bootstrap's discount."""

    obs: torch.Tensor
    """float32 ``[batch, obs_dim]``: the state the action was taken in."""
    actions: torch.Tensor
    """int64 ``[batch]``: the action taken."""
    rewards: torch.Tensor
    """float32 ``[batch]``: the (n-step, discounted) reward."""
    next_obs: torch.Tensor
    """float32 ``[batch, obs_dim]``: the state bootstrapped from."""
    terminated: torch.Tensor
    """float32 ``[batch]``: 1.0 where ``next_obs`` is terminal (no bootstrap)."""
    discounts: torch.Tensor
    """float32 ``[batch]``: ``gamma^k``, k the steps from ``obs`` to ``next_obs``
    (0 where terminated)."""


class DeviceReplayBuffer:
    """A ring buffer of transitions kept as preallocated tensors on one device.

    :class:`qlearn_lite.replay.ReplayBuffer` is NumPy on the host; this one
    stores and samples on the learner's device, so that a step of
    ``num_envs`` transitions is a few slice copies and a minibatch a few
    gathers, without a host round trip. Its write position and size are
    Python ints (the number of rows written per add is known on the host),
    so nothing is read back from the device.

    ``add`` takes ``num_envs`` rows at once; the capacity is rounded up to a
    multiple of ``num_envs`` so that a batch never wraps around the end (a
    ``UserWarning`` when that adds more than :data:`ROUNDING_WARN_FRACTION`
    of the rows asked for).

    Memory is estimated before anything is allocated
    (:meth:`nbytes_for`): ``ValueError`` when the buffer would not fit on
    the device, a ``ResourceWarning`` above
    :data:`qlearn_lite.utils.MEMORY_WARN_BYTES` (1 GiB). The tensors are
    allocated uninitialised (``torch.empty``): only rows already written are
    ever sampled, and on the CPU the pages of rows never written are never
    touched.
    """

    ROUNDING_WARN_FRACTION = 0.1
    """Warn when rounding the capacity up adds more than this share of rows."""

    def __init__(
        self,
        capacity: int,
        num_envs: int,
        obs_dim: int,
        device: str | torch.device = "cpu",
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs)
        requested = check_int("capacity", capacity)
        obs_dim = check_int("obs_dim", obs_dim)
        self.device = get_device(device)
        self.capacity = self.rows_for(requested, self.num_envs)
        if self.capacity - requested > self.ROUNDING_WARN_FRACTION * requested:
            warnings.warn(
                f"a replay buffer of {requested:,} transitions for {self.num_envs:,} "
                f"envs keeps {self.capacity:,} (a whole number of vector steps, "
                f"{self.capacity / requested:.3g} times the transitions asked "
                "for); ask for a multiple of num_envs, or fewer envs",
                UserWarning,
                stacklevel=2,
            )
        check_memory(
            f"a replay buffer of {self.capacity:,} transitions",
            self.nbytes_for(requested, self.num_envs, obs_dim),
            self.device,
        )
        rows, device = self.capacity, self.device
        self.obs = torch.empty(rows, obs_dim, device=device)
        self.actions = torch.empty(rows, dtype=torch.int64, device=device)
        self.rewards = torch.empty(rows, device=device)
        self.next_obs = torch.empty(rows, obs_dim, device=device)
        self.terminated = torch.empty(rows, device=device)
        self.discounts = torch.empty(rows, device=device)
        self.position = 0
        self.size = 0

    @staticmethod
    def rows_for(capacity: int, num_envs: int) -> int:
        """The rows kept for ``capacity``: rounded up to a multiple of num_envs."""
        return math.ceil(capacity / num_envs) * num_envs

    @classmethod
    def nbytes_for(cls, capacity: int, num_envs: int, obs_dim: int) -> int:
        """Bytes the buffer will take: per row two float32 observations, an
        int64 action and three float32 numbers (reward, terminated, discount)."""
        return cls.rows_for(capacity, num_envs) * (2 * 4 * obs_dim + 8 + 3 * 4)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        discounts: torch.Tensor | float,
    ) -> None:
        """Store ``num_envs`` transitions: ``obs``/``next_obs`` ``[num_envs, obs_dim]``,
        the others ``[num_envs]`` (``discounts`` may be one number). ``next_obs``
        is the state reached (the env's ``info["final_obs"]``), ``terminated``
        not ``terminated | truncated`` (see :mod:`qlearn_lite.replay`)."""
        rows = slice(self.position, self.position + self.num_envs)
        self.obs[rows] = obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.next_obs[rows] = next_obs
        self.terminated[rows] = terminated
        self.discounts[rows] = discounts
        self.position = (self.position + self.num_envs) % self.capacity
        self.size = min(self.size + self.num_envs, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> DeviceBatch:
        """``batch_size`` transitions drawn uniformly (with replacement)."""
        if self.size == 0:  # a Python int: no host sync
            raise ValueError("cannot sample from an empty replay buffer: add first")
        index = torch.randint(
            0, self.size, (batch_size,), generator=generator, device=self.device
        )
        return DeviceBatch(
            obs=self.obs.index_select(0, index),
            actions=self.actions.index_select(0, index),
            rewards=self.rewards.index_select(0, index),
            next_obs=self.next_obs.index_select(0, index),
            terminated=self.terminated.index_select(0, index),
            discounts=self.discounts.index_select(0, index),
        )


# ==================================================================== n-step
class NStepWindow:
    """Turns a stream of vector steps into n-step transitions, on the device.

    It keeps the last ``n`` steps of every env. Once ``n`` steps are in, each
    :meth:`add` returns the transition that started ``n - 1`` steps ago,
    ``(obs, action, return, next_obs, terminated, discount)``, computed by
    :func:`qlearn_lite.replay.n_step_returns` on the window (the course's one
    convention, Pardo et al. 2018):

        return   = r_0 + gamma r_1 + ... + gamma^(k-1) r_(k-1)
        next_obs = the state reached after step k - 1, discount = gamma^k

    where ``k = n``, or fewer if the episode ended within the window: a
    terminal step cuts the return (``terminated`` = 1, discount 0); a
    truncated one (time limit) bootstraps from the true final observation
    (``info["final_obs"]``, not the reset one) with ``gamma^k``. With
    auto-reset (``SAME_STEP``) the steps after the end belong to the next
    episode and do not count. No host sync: the bookkeeping is Python ints,
    the masks are tensors.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n = check_int("n", n)
        self.gamma = check_unit("gamma", gamma)
        self.steps: list[tuple[torch.Tensor, ...]] = []

    def add(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        final_obs: torch.Tensor,
        terminated: torch.Tensor,
        done: torch.Tensor,
    ) -> tuple[torch.Tensor, ...] | None:
        """Add one vector step; return an n-step transition when there is one.

        ``obs``/``final_obs`` ``[num_envs, obs_dim]``; ``action``, ``reward``,
        ``terminated`` and ``done`` (= terminated | truncated) ``[num_envs]``.
        """
        if self.n == 1:  # the one-step transition, as it is
            return obs, action, reward, final_obs, terminated.float(), self.gamma
        self.steps.append((obs, action, reward, final_obs, terminated, done))
        if len(self.steps) < self.n:
            return None
        first_obs, first_action = self.steps[0][0], self.steps[0][1]
        rewards = torch.stack([step[2] for step in self.steps])  # [n, num_envs]
        terminals = torch.stack([step[4] for step in self.steps])
        truncations = torch.stack([step[5] for step in self.steps]) & ~terminals
        returns, discounts, last = n_step_returns(
            rewards, terminals, truncations, self.gamma
        )
        # The window of the oldest step: its end (step last[0]) and what it reached.
        end = last[0]
        reached = torch.stack([step[3] for step in self.steps])  # [n, envs, obs]
        next_obs = reached.gather(
            0, end.view(1, -1, 1).expand(1, -1, reached.shape[2])
        ).squeeze(0)
        ended_as_terminal = terminals.gather(0, end.unsqueeze(0)).squeeze(0)
        self.steps.pop(0)
        return (
            first_obs,
            first_action,
            returns[0],
            next_obs,
            ended_as_terminal.float(),
            discounts[0],
        )


# ================================================================ evaluation
def gymnasium_start_states(episodes: int, seed: int) -> np.ndarray:
    """float64 ``[episodes, 4]``: the start states of ``episodes`` consecutive
    episodes of ``gym.make("CartPole-v1")`` after ``reset(seed=seed)``.

    CartPole draws its start states only in ``reset``, whatever the policy
    does in between, so these are exactly the states
    :func:`qlearn_lite.dqn.evaluate` (and ``benchmarks/dqn_cartpole.py``)
    starts its greedy test episodes from with the same ``seed``.
    """
    episodes = check_int("episodes", episodes)
    env = gym.make("CartPole-v1")
    env.reset(seed=check_seed(seed))
    states = [np.array(env.unwrapped.state)]
    for _ in range(episodes - 1):
        env.reset()
        states.append(np.array(env.unwrapped.state))
    env.close()
    return np.stack(states)


@torch.no_grad()
def greedy_returns(
    q_net: nn.Module,
    episodes: int = 10,
    seed: int = 10_000,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Returns of ``episodes`` greedy CartPole-v1 episodes, run as one batch.

    The test of :func:`qlearn_lite.dqn.evaluate` (the same start states,
    :func:`gymnasium_start_states` with ``seed``; the same dynamics; actions
    ``argmax_a Q(s, a)``) with all episodes as one batch of TorchCartPoles,
    each stopping at the end of its first episode (at most 500 steps).
    Returns float32 ``[episodes]`` on the device (``q_net``'s unless given).
    """
    episodes = check_int("episodes", episodes)
    if device is None:
        device = next(q_net.parameters()).device
    env = TorchCartPole(episodes, device=device, seed=seed)
    obs = env.set_state(gymnasium_start_states(episodes, seed))
    returns = torch.zeros(episodes, device=env.device)
    running = torch.ones(episodes, dtype=torch.bool, device=env.device)
    for step in range(env.max_episode_steps):
        obs, reward, terminated, truncated, _ = env.step(q_net(obs).argmax(dim=1))
        returns += reward * running
        running &= ~(terminated | truncated)
        if step % 50 == 49 and not running.any():  # a sync, but not in training
            break
    return returns


# ================================================================== results
@dataclass
class VectorizedDQNHistory:
    """What :func:`vectorized_dqn` recorded. Seconds are wall seconds of
    training, with the greedy evaluations' time taken out."""

    eval_steps: list[int] = field(default_factory=list)
    """Env steps taken at every evaluation."""
    eval_updates: list[int] = field(default_factory=list)
    """Gradient steps taken at every evaluation."""
    eval_returns: list[float] = field(default_factory=list)
    """Mean greedy return of every evaluation."""
    eval_seconds: list[float] = field(default_factory=list)
    """Training wall seconds at every evaluation."""
    mean_episode_lengths: list[float] = field(default_factory=list)
    """Mean length of the training (exploring) episodes finished since the
    previous evaluation (nan if none finished)."""
    mean_losses: list[float] = field(default_factory=list)
    """Mean TD loss of the gradient steps since the previous evaluation."""
    env_steps: int = 0
    """Env steps taken in training."""
    updates: int = 0
    """Gradient steps taken."""
    wall_seconds: float = 0.0
    """Training wall seconds, evaluations excluded."""
    eval_wall_seconds: float = 0.0
    """Wall seconds spent in greedy evaluations."""
    actor_wait_seconds: float = 0.0
    """Asynchronous: seconds the actor waited for the learner (rate limit)."""
    learner_wait_seconds: float = 0.0
    """Asynchronous: seconds the learner waited for the actor's data."""

    def first_reach(self, threshold: float) -> tuple[int, float] | None:
        """``(env_steps, wall_seconds)`` of the first evaluation with a mean
        return >= ``threshold``, or None if none reached it."""
        return first_reach(
            self.eval_steps, self.eval_seconds, self.eval_returns, threshold
        )

    @property
    def env_steps_per_second(self) -> float:
        """Training throughput in env steps per wall second."""
        return self.env_steps / self.wall_seconds if self.wall_seconds else math.inf


@dataclass
class VectorizedDQNResult:
    """What :func:`vectorized_dqn` returns: the network, the history, the
    config, and the run as the parallel core's :class:`ParallelResult`
    (``executor="vectorized"``), so it lands on the same plots as threads,
    processes and Ray."""

    q_net: QNetwork
    history: VectorizedDQNHistory
    config: VectorizedDQNConfig
    parallel: ParallelResult | None = None
    """The fields of the core's result that apply: one actor (``n_workers``),
    its env steps, the updates, wall and CPU seconds, the policy lag of the
    actor's network copy (``staleness``, in gradient steps), the evaluations
    as snapshots."""


# ============================================================= rate limiter
class RateLimiter:
    """How far an actor may run ahead of its learner, in vector steps.

    A bounded, semaphore-like counter shared by two threads. The actor calls
    :meth:`acquire` before each vector step and :meth:`produced_one` after
    it; the learner reports with :meth:`consumed_up_to` the vector steps it
    has finished training on. The actor may hold at most ``max_lead`` vector
    steps beyond the learner's, and never passes ``ceiling`` (the next
    evaluation or the end of training; the learner moves it with
    :meth:`set_ceiling`). Every wait has a timeout and returns False when it
    expires or after :meth:`close`, so that the caller can check its stop
    flag: no thread ever blocks for good. Each side is woken only when it is
    actually waiting (each wake-up is a thread switch).
    """

    def __init__(self, max_lead: int, consumed: int = 0, ceiling: int = 0) -> None:
        self.max_lead = check_int("max_lead", max_lead)
        self.produced = 0
        """Vector steps the actor has stored."""
        self.consumed = check_int("consumed", consumed, minimum=0)
        """Vector steps whose updates the learner has done."""
        self.ceiling = check_int("ceiling", ceiling, minimum=0)
        """The actor stops at this many vector steps until it is moved on."""
        self.closed = False
        self.actor_wait_seconds = 0.0
        self.learner_wait_seconds = 0.0
        self._condition = threading.Condition()
        self._actor_waiting = self._learner_waiting = False

    def _may_produce(self) -> bool:
        return self.produced < min(self.ceiling, self.consumed + self.max_lead)

    def acquire(self, timeout: float = 0.1) -> bool:
        """Actor: wait (at most ``timeout`` s) until it may take a vector step."""
        with self._condition:
            if self.closed:
                return False
            if self._may_produce():
                return True
            self._actor_waiting = True
            start = time.perf_counter()
            allowed = self._condition.wait_for(
                lambda: self.closed or self._may_produce(), timeout
            )
            self.actor_wait_seconds += time.perf_counter() - start
            self._actor_waiting = False
            return allowed and not self.closed

    def produced_one(self) -> None:
        """Actor: one more vector step is stored."""
        with self._condition:
            self.produced += 1
            if self._learner_waiting:
                self._condition.notify_all()

    def wait_for_data(self, produced: int, timeout: float = 0.1) -> bool:
        """Learner: wait (at most ``timeout`` s) for ``produced`` vector steps."""
        with self._condition:
            if self.produced >= produced or self.closed:
                return not self.closed
            self._learner_waiting = True
            start = time.perf_counter()
            arrived = self._condition.wait_for(
                lambda: self.closed or self.produced >= produced, timeout
            )
            self.learner_wait_seconds += time.perf_counter() - start
            self._learner_waiting = False
            return arrived and not self.closed

    def consumed_up_to(self, consumed: int) -> None:
        """Learner: the updates of the first ``consumed`` vector steps are done."""
        with self._condition:
            self.consumed = consumed
            if self._actor_waiting and self._may_produce():
                self._condition.notify_all()

    def set_ceiling(self, ceiling: int) -> None:
        """Learner: let the actor run up to ``ceiling`` vector steps."""
        with self._condition:
            self.ceiling = ceiling
            self._condition.notify_all()

    def close(self) -> None:
        """Both: no more steps; every wait returns False from now on."""
        with self._condition:
            self.closed = True
            self._condition.notify_all()


# ============================================================== the update
def n_step_dqn_loss(
    q_net: nn.Module,
    target_net: nn.Module,
    batch: DeviceBatch,
    double: bool = True,
    loss: str = "huber",
) -> torch.Tensor:
    """:func:`qlearn_lite.dqn.dqn_loss` with a discount per transition.

    Targets ``y = R + gamma^k (1 - terminated) Q_target(s', a')`` where
    ``R`` is the (n-step) return in ``batch.rewards`` and ``gamma^k`` is
    ``batch.discounts``. Scaling the bootstrap values by ``gamma^k > 0``
    does not change their argmax, so :func:`~qlearn_lite.dqn.td_targets`
    with ``gamma = 1`` computes exactly that, double DQN included.
    """
    next_q_online = None
    if double:  # one forward pass of the online net for s and s' together
        both = q_net(torch.cat((batch.obs, batch.next_obs)))
        q_values, next_q_online = both.split(len(batch.obs))
        next_q_online = next_q_online.detach()  # it only picks a', no gradient
    else:
        q_values = q_net(batch.obs)
    q_taken = q_values.gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        next_q = target_net(batch.next_obs) * batch.discounts.unsqueeze(1)
        targets = td_targets(
            batch.rewards, next_q, batch.terminated, 1.0, next_q_online
        )
    if loss == "huber":
        return F.smooth_l1_loss(q_taken, targets)
    return F.mse_loss(q_taken, targets)


def _fused_if_supported(device: torch.device) -> dict[str, bool]:
    """``fused=True`` (one kernel for Adam's whole update) where torch has it."""
    if device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {}


def memory_estimate(config: VectorizedDQNConfig) -> dict[str, int]:
    """Bytes the largest pieces of a :func:`vectorized_dqn` run take on its
    device, estimated from the config before anything is allocated.

    ``"carts"``: :meth:`TorchCartPole.nbytes_for`; ``"replay buffer"``:
    :meth:`DeviceReplayBuffer.nbytes_for` (after rounding up to a multiple of
    ``num_envs``); ``"n-step window"``: the ``n_step`` vector steps
    :class:`NStepWindow` keeps (two float32 observations, an int64 action, a
    float32 reward and two flags per env) and the stacked copies its ``add``
    makes of them, about as much again; ``"acting"``: one vector step's
    observations, actions and flags and the Q-network's activations for
    ``num_envs`` rows (the widest two layers, float32); ``"learning"``: a
    minibatch and the activations and gradients of a double-DQN update on it
    (``2 * batch_size`` rows forward and backward, plus the target's pass);
    ``"networks"``: the online, target and actor copies, the gradients and
    Adam's two moments. With ``num_envs=2**22`` the carts, the window and the
    acting pass dominate (gigabytes), whatever ``buffer_size``.
    """
    if not isinstance(config, VectorizedDQNConfig):
        raise TypeError(
            f"config must be a VectorizedDQNConfig, got {type(config).__name__}"
        )
    envs, obs_dim = config.num_envs, TorchCartPole.obs_dim
    n_actions = TorchCartPole.n_actions
    widths = (obs_dim, *config.hidden, n_actions)
    obs_bytes = 4 * obs_dim
    step_bytes = 2 * obs_bytes + 8 + 4 + 2  # obs, final_obs, action, reward, flags
    window = 0 if config.n_step == 1 else 2 * config.n_step * envs * step_bytes
    widest_two = sum(sorted(widths)[-2:])
    rows = 2 * config.batch_size if config.double else config.batch_size
    parameters = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return {
        "carts": TorchCartPole.nbytes_for(envs),
        "replay buffer": DeviceReplayBuffer.nbytes_for(
            config.buffer_size, envs, obs_dim
        ),
        "n-step window": window,
        "acting": envs * (3 * obs_bytes + 24 + 4 * widest_two),
        "learning": config.batch_size * (2 * obs_bytes + 20)
        + rows * 4 * 3 * sum(widths)
        + config.batch_size * 4 * sum(widths),
        "networks": 4 * parameters * 6,
    }


class _Training:
    """What the actor and the learner share (the ``shared`` of the workers).

    The learner may do ``updates_per_step`` gradient steps per vector step
    the actor has stored (after ``learning_starts``); the actor may run at
    most ``max_actor_lead`` vector steps ahead of that (:class:`RateLimiter`).
    So the two overlap (the actor collects step ``t + 1`` while the learner
    trains on step ``t``) but keep the same data-to-update ratio as the
    one-thread loop, whatever the speed of the machine. Counters are Python
    ints; nothing here reads the device.
    """

    def __init__(self, config: VectorizedDQNConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        # The whole run's memory, checked (and warned about) once, before any
        # of it is allocated; the parts' own checks below would only repeat
        # the warning, so they are silenced.
        parts = memory_estimate(config)
        check_memory(
            f"vectorized_dqn with {config.num_envs:,} envs ("
            + ", ".join(
                f"{name} {nbytes / 2**20:,.0f} MiB" for name, nbytes in parts.items()
            )
            + ")",
            sum(parts.values()),
            device,
        )
        seeds = child_seeds(config.seed, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            self.env = TorchCartPole(config.num_envs, device=device, seed=seeds[1])
            self.buffer = DeviceReplayBuffer(
                config.buffer_size, config.num_envs, TorchCartPole.obs_dim, device
            )
        self.actor_generator = torch.Generator(device=device).manual_seed(seeds[2])
        self.learner_generator = torch.Generator(device=device).manual_seed(seeds[3])
        obs_dim, n_actions = TorchCartPole.obs_dim, TorchCartPole.n_actions
        self.q_net = new_q_network(obs_dim, n_actions, config.hidden, seeds[0])
        self.q_net = self.q_net.to(device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.actor_net = (
            copy.deepcopy(self.q_net).requires_grad_(False)
            if config.asynchronous
            else self.q_net
        )
        self.q_params = list(self.q_net.parameters())
        self.target_params = list(self.target_net.parameters())
        self.actor_params = list(self.actor_net.parameters())
        self.optimizer = torch.optim.Adam(
            self.q_net.parameters(), lr=config.lr, **_fused_if_supported(device)
        )
        self.window = NStepWindow(config.n_step, config.gamma)
        self.epsilon = config.epsilon_schedule()
        self.obs, _ = self.env.reset()
        self.start_steps = math.ceil(config.learning_starts / config.num_envs)
        self.total_vector_steps = math.ceil(config.total_steps / config.num_envs)
        self.limiter = RateLimiter(
            config.max_actor_lead, self.start_steps, self._limit(config.eval_every)
        )
        self.buffer_lock = threading.Lock()
        self.net_lock = threading.Lock()
        self.vector_steps = 0
        self.updates = 0
        self.actor_version = 0  # the learner's update count at the last copy
        self.lags: list[int] = []  # updates - actor_version at every actor step
        self.history = VectorizedDQNHistory()
        self.next_eval = config.eval_every  # in env steps
        self.start = 0.0
        self.eval_time = 0.0
        # Device-side accumulators, read only at evaluations.
        self.episode_length_sum = torch.zeros((), device=device)
        self.episode_count = torch.zeros((), device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.loss_count = 0

    def _limit(self, next_eval: int) -> int:
        """The vector step to stop at: the next evaluation or the end."""
        return min(math.ceil(next_eval / self.config.num_envs), self.total_vector_steps)

    @property
    def env_steps(self) -> int:
        return self.vector_steps * self.config.num_envs

    def allowed_updates(self, vector_steps: int) -> int:
        """Gradient steps the data of ``vector_steps`` vector steps allows."""
        return max(0, vector_steps - self.start_steps) * self.config.updates_per_step

    def out_of_time(self) -> bool:
        limit = self.config.max_seconds
        return limit is not None and (
            time.perf_counter() - self.start - self.eval_time >= limit
        )


def _actor_step(training: _Training) -> None:
    """One vector step: act epsilon-greedily in all envs and store the transitions."""
    epsilon = training.epsilon(training.env_steps)
    with torch.no_grad(), training.net_lock:
        q_values = training.actor_net(training.obs)
    actions = batched_epsilon_greedy(q_values, epsilon, training.actor_generator)
    next_obs, reward, terminated, truncated, info = training.env.step(actions)
    done = info["_final_obs"]
    # Bootstrap from the state reached (final_obs), not the reset one, and
    # only where `terminated`, not `terminated | truncated` (see replay.py).
    transition = training.window.add(
        training.obs, actions, reward, info["final_obs"], terminated, done
    )
    if transition is not None:
        with training.buffer_lock:
            training.buffer.add(*transition)
    training.episode_length_sum += (info["episode_length"] * done).sum()
    training.episode_count += done.sum()
    training.obs = next_obs  # easy to overlook: the (reset) next obs becomes obs


def _learner_update(training: _Training) -> None:
    """One gradient step on a replay minibatch, then the target network."""
    config = training.config
    with training.buffer_lock:
        batch = training.buffer.sample(config.batch_size, training.learner_generator)
    loss = n_step_dqn_loss(
        training.q_net, training.target_net, batch, config.double, config.loss
    )
    training.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.max_grad_norm is not None:
        nn.utils.clip_grad_norm_(training.q_net.parameters(), config.max_grad_norm)
    training.optimizer.step()
    training.loss_sum += loss.detach()
    training.loss_count += 1
    training.updates += 1
    if training.updates % config.target_update_every == 0:
        polyak_update(training.target_params, training.q_params, config.tau)
    if training.actor_net is not training.q_net and (
        training.updates % config.actor_sync_every == 0
    ):
        with training.net_lock:
            hard_update(training.actor_params, training.q_params)
        training.actor_version = training.updates


def _evaluate_if_due(training: _Training) -> bool:
    """At an evaluation point or the end (learner caught up): evaluate, record,
    and say whether training is over."""
    config = training.config
    if training.env_steps >= training.next_eval:
        synchronize(training.device)
        eval_start = time.perf_counter()
        returns = greedy_returns(training.q_net, config.eval_episodes, config.eval_seed)
        _record(training, returns, eval_start - training.start - training.eval_time)
        training.next_eval += config.eval_every
        training.eval_time += time.perf_counter() - eval_start
        if (
            config.stop_at_return is not None
            and training.history.eval_returns[-1] >= config.stop_at_return
        ):
            return True
    return training.vector_steps >= training.total_vector_steps


def _serial_worker(ctx: WorkerContext, config: VectorizedDQNConfig, training: Any):
    """One thread: a vector step, the updates it allows, an evaluation when due.

    The same order of random draws every run: bit-for-bit reproducible.
    """
    while not ctx.should_stop():
        limit = training._limit(training.next_eval)
        if training.vector_steps < limit:
            _actor_step(training)
            training.vector_steps += 1
        while training.updates < training.allowed_updates(training.vector_steps):
            _learner_update(training)
        if training.vector_steps >= limit and _evaluate_if_due(training):
            return
        if training.out_of_time():
            return


def _actor_worker(ctx: WorkerContext, config: VectorizedDQNConfig, training: Any):
    """The actor: vector steps as fast as the rate limiter lets it."""
    limiter = training.limiter
    while not ctx.should_stop():
        if not limiter.acquire(timeout=0.1):
            if limiter.closed:
                return
            continue
        training.lags.append(training.updates - training.actor_version)
        _actor_step(training)
        training.vector_steps += 1
        limiter.produced_one()


def _learner_worker(ctx: WorkerContext, config: VectorizedDQNConfig, training: Any):
    """The learner: the updates the actor's data allows, one at a time (so it
    hears of new data at once), and the evaluations, once it has caught up at
    the ceiling the actor waits at."""
    limiter = training.limiter
    try:
        while not ctx.should_stop():
            produced = limiter.produced
            if training.updates < training.allowed_updates(produced):
                _learner_update(training)
                done_steps = training.start_steps + (
                    training.updates // config.updates_per_step
                )
                limiter.consumed_up_to(done_steps)
            elif produced >= limiter.ceiling:  # caught up at an evaluation or end
                if _evaluate_if_due(training):
                    return
                limiter.set_ceiling(training._limit(training.next_eval))
            else:
                limiter.wait_for_data(produced + 1, timeout=0.1)
            if training.out_of_time():
                return
    finally:
        limiter.close()  # the actor leaves at its next wait


def _actor_learner_worker(
    ctx: WorkerContext, config: VectorizedDQNConfig, training: Any
) -> None:
    """The asynchronous run's ``worker(ctx, config, shared)``: worker 0 is the
    actor, worker 1 the learner."""
    worker = _actor_worker if ctx.worker_id == 0 else _learner_worker
    worker(ctx, config, training)


def vectorized_dqn(
    config: VectorizedDQNConfig | None = None, progress: bool = True
) -> VectorizedDQNResult:
    """DQN on TorchCartPole (CartPole-v1): everything on one device, and an
    actor thread collecting while the learner trains.

    The algorithm is DQN (Mnih et al. 2015, Algorithm 1) with double-DQN
    targets (van Hasselt et al. 2016), n-step returns (:class:`NStepWindow`)
    and a soft target network (:func:`~qlearn_lite.dqn.polyak_update`), built
    from notebook 05's pieces. What is new is where it runs:

    * ``num_envs`` carts step as one tensor operation (:class:`TorchCartPole`)
      and the Q-network acts for all of them in one forward pass;
    * the replay buffer (:class:`DeviceReplayBuffer`), the network and its
      target live on the envs' device: no host round trip, and nothing is
      read back to the host except at evaluations;
    * with ``config.asynchronous`` an actor and a learner run as two workers
      of :func:`qlearn_lite.parallel.run_threads` (``_actor_worker`` and
      ``_learner_worker``, module-level ``worker(ctx, config, shared)``). The
      actor collects with a copy of the network (refreshed every
      ``actor_sync_every`` updates) while the learner trains;
      torch releases the GIL inside its operations, so the two can overlap.
      A :class:`RateLimiter` keeps the data-to-update ratio of the one-thread
      loop: ``updates_per_step`` gradient steps per vector step, the actor at
      most ``max_actor_lead`` vector steps ahead. On a GPU both threads queue
      work on the same CUDA stream, which runs it in the order it was queued.
      Without it, one worker alternates acting and learning (bit-for-bit
      reproducible for a seed, on one device).

    Every ``eval_every`` env steps the actor pauses, the learner catches up
    and the greedy policy is evaluated on ``eval_episodes`` carts
    (:func:`greedy_returns`); that time is not counted. Training stops after
    ``total_steps`` env steps, after ``max_seconds``, or at the first
    evaluation reaching ``stop_at_return``.

    CartPole only: the evaluation replays Gymnasium's CartPole-v1 start
    states (see the module docstring).

    Memory is checked before anything is allocated (:func:`memory_estimate`):
    ``ValueError`` when the run would not fit in the device's available
    memory, a ``ResourceWarning`` above
    :data:`qlearn_lite.utils.MEMORY_WARN_BYTES` (1 GiB; Binder gives a
    notebook 2 GB), and a ``UserWarning`` when rounding ``buffer_size`` up to
    a multiple of ``num_envs`` adds more than 10 % to it.

    Errors and Ctrl-C follow :func:`~qlearn_lite.parallel.run_threads`: an
    error in either worker stops both and is raised as
    :class:`~qlearn_lite.parallel.WorkerError` (its ``__cause__`` is the
    original exception); after Ctrl-C both threads have stopped before the
    ``KeyboardInterrupt`` reaches the caller.
    """
    config = VectorizedDQNConfig() if config is None else config
    if not isinstance(config, VectorizedDQNConfig):
        raise TypeError(
            f"config must be a VectorizedDQNConfig, got {type(config).__name__}"
        )
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    device = get_device(config.device)
    training = _Training(config, device)
    workers = 2 if config.asynchronous else 1
    contexts = worker_contexts(config.seed, workers, final_epsilons=None)
    total = training.total_vector_steps * config.num_envs

    def run(worker: Any, ctx: list[WorkerContext]) -> Any:
        return run_threads(
            worker,
            ctx,
            training,
            config,
            progress=(lambda: training.env_steps) if progress else None,
            total=total,
            desc="vectorized DQN",
        )

    synchronize(device)
    training.start = time.perf_counter()
    if config.asynchronous:
        outcome = run(_actor_learner_worker, contexts)
    else:
        outcome = run(_serial_worker, contexts)
    synchronize(device)
    history = training.history
    history.wall_seconds = time.perf_counter() - training.start - training.eval_time
    history.eval_wall_seconds = training.eval_time
    history.env_steps = training.env_steps
    history.updates = training.updates
    history.actor_wait_seconds = training.limiter.actor_wait_seconds
    history.learner_wait_seconds = training.limiter.learner_wait_seconds
    lags = np.asarray(training.lags, dtype=np.int64)
    parallel = ParallelResult(
        q=training.q_net,
        design="actor-learner" if config.asynchronous else "serial",
        n_workers=1,
        worker_steps=[history.env_steps],
        worker_returns=[[]],
        global_steps=history.env_steps,
        updates=history.updates,
        wall_seconds=history.wall_seconds,
        executor="vectorized",
        cpu_seconds=outcome.cpu_seconds,
        final_epsilons=[training.epsilon(history.env_steps)],
        target_updates=history.updates // config.target_update_every,
        staleness=lag_summary(lags) if config.asynchronous else None,
        lags=lags if config.asynchronous else None,
        snapshot_steps=list(history.eval_steps),
        snapshot_seconds=list(history.eval_seconds),
        extra={
            "device": str(device),
            "num_envs": config.num_envs,
            "eval_returns": list(history.eval_returns),
            "actor_wait_seconds": history.actor_wait_seconds,
            "learner_wait_seconds": history.learner_wait_seconds,
        },
    )
    return VectorizedDQNResult(
        q_net=training.q_net, history=history, config=config, parallel=parallel
    )


def _record(training: _Training, returns: torch.Tensor, train_seconds: float) -> None:
    """Append one evaluation to the history (reads the device accumulators)."""
    history = training.history
    history.eval_steps.append(training.env_steps)
    history.eval_updates.append(training.updates)
    history.eval_returns.append(float(returns.mean()))
    history.eval_seconds.append(train_seconds)
    count = float(training.episode_count)
    history.mean_episode_lengths.append(
        float(training.episode_length_sum) / count if count else math.nan
    )
    history.mean_losses.append(
        float(training.loss_sum) / training.loss_count
        if training.loss_count
        else math.nan
    )
    training.episode_length_sum.zero_()
    training.episode_count.zero_()
    training.loss_sum.zero_()
    training.loss_count = 0


# ==================================================== why overlap pays or not
@dataclass
class OverlapProfile:
    """Where a vector step's time goes in the one-thread loop, and the most
    an actor thread could save (:func:`overlap_profile`)."""

    actor_seconds: float
    """Wall seconds of one vector step of acting and storing (per step)."""
    learner_seconds: float
    """Wall seconds of the ``updates_per_step`` gradient steps per vector step."""
    actor_cpu_seconds: float
    """CPU seconds of the same (this thread's): below the wall time when the
    machine's other programs took the core meanwhile."""
    learner_cpu_seconds: float
    """CPU seconds of the learner's part."""

    @property
    def overlap_bound(self) -> float:
        """``(actor + learner) / max(actor, learner)``: the speed-up of perfect
        overlap on two free cores, with no cost of switching, locks or the GIL."""
        return (self.actor_seconds + self.learner_seconds) / max(
            self.actor_seconds, self.learner_seconds, 1e-12
        )


def overlap_profile(
    config: VectorizedDQNConfig, vector_steps: int = 200
) -> OverlapProfile:
    """Time acting and learning separately in the one-thread loop.

    Runs ``learning_starts`` worth of acting (untimed), then ``vector_steps``
    vector steps, each with its updates, timing ``_actor_step`` and the
    updates separately (wall and this thread's CPU time). The one-thread
    loop does the two in turn; an actor thread can at best hide the shorter
    behind the longer: :attr:`OverlapProfile.overlap_bound`.
    """
    if not isinstance(config, VectorizedDQNConfig):
        raise TypeError(
            f"config must be a VectorizedDQNConfig, got {type(config).__name__}"
        )
    vector_steps = check_int("vector_steps", vector_steps)
    config = config.replace(asynchronous=False)
    training = _Training(config, get_device(config.device))
    sync = training.device
    for _ in range(training.start_steps + config.n_step):
        _actor_step(training)
        training.vector_steps += 1
    training.updates = training.allowed_updates(training.vector_steps)
    actor = learner = actor_cpu = learner_cpu = 0.0
    for _ in range(vector_steps):
        synchronize(sync)
        wall, cpu = time.perf_counter(), time.thread_time()
        _actor_step(training)
        training.vector_steps += 1
        synchronize(sync)
        middle, middle_cpu = time.perf_counter(), time.thread_time()
        while training.updates < training.allowed_updates(training.vector_steps):
            _learner_update(training)
        synchronize(sync)
        actor += middle - wall
        actor_cpu += middle_cpu - cpu
        learner += time.perf_counter() - middle
        learner_cpu += time.thread_time() - middle_cpu
    return OverlapProfile(
        actor / vector_steps,
        learner / vector_steps,
        actor_cpu / vector_steps,
        learner_cpu / vector_steps,
    )
