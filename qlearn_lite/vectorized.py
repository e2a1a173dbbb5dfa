"""Vectorised Q-learning: many environments and many updates per tensor operation (09).

Notebook 02's learner updates one ``Q(s, a)`` per Python step. Here a step
runs ``num_envs`` environments at once (:mod:`qlearn_lite.vec_envs`) and
updates every state-action pair they visited in one tensor operation, on the
CPU or a GPU, "using the GPU to update a large number of state-action pairs
at once". The same idea drives gymnax/PureJaxRL, EnvPool and PQN (Gallici et
al. 2024, "Simplifying Deep Temporal Difference Learning").

* :func:`batched_epsilon_greedy` -- epsilon-greedy actions for a batch of
  states, with random tie-breaking (as :func:`qlearn_lite.tabular.epsilon_greedy`).
* :func:`batched_q_update` -- the Q-learning update for a batch of
  transitions. When several envs visit the same ``(s, a)`` in one step, the
  pair moves once, towards the *mean* of their targets (below).
* :func:`vectorized_q_learning` -- tabular Q-learning on a
  :class:`~qlearn_lite.vec_envs.TorchTabularEnv`.
* :func:`vectorized_dqn` -- DQN (Mnih et al. 2015) on
  :class:`~qlearn_lite.vec_envs.TorchCartPole` with the envs, the replay buffer,
  the network and its target on one device, and an actor thread that collects
  experience while the learner trains (asynchrony; torch releases the GIL
  inside its operations).

Collisions: the mean-target rule
--------------------------------
With ``k`` envs taking action ``a`` in state ``s`` in the same step, a plain
``Q[s, a] += alpha * (target - Q[s, a])`` written as one scatter keeps only
one of the ``k`` writes (which one is unspecified on a GPU): the other
``k - 1`` samples are silently lost. We sum the targets and count the visits
per pair with ``index_add_`` and move every visited pair once,

    Q(s, a) <- Q(s, a) + alpha * (mean of the k targets - Q(s, a)),

a stochastic-approximation step towards a lower-variance sample of the same
expectation ``E[r + gamma max_a' Q(s', a')]``. It uses every sample, keeps the
step size ``alpha`` whatever ``k`` is (adding the ``k`` increments instead
would step ``k * alpha``, past the target when ``k * alpha > 1``), does not
depend on the order of the envs, and so gives the same table on any device
up to float rounding. It is a synchronous, sampled version of value
iteration's backup (Sutton & Barto, 2018, section 4.4 and 6.5).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.dqn import QNetwork, first_reach, td_targets
from qlearn_lite.tabular import initial_q
from qlearn_lite.utils import check_int, check_unit, child_seeds, get_device
from qlearn_lite.utils import progress as progress_bar
from qlearn_lite.vec_envs import TorchCartPole, TorchTabularEnv

__all__ = [
    "DeviceBatch",
    "DeviceReplayBuffer",
    "NStepWindow",
    "VectorizedDQNConfig",
    "VectorizedDQNHistory",
    "VectorizedDQNResult",
    "VectorizedQLearningResult",
    "batched_epsilon_greedy",
    "table_epsilon_greedy",
    "batched_q_update",
    "greedy_returns",
    "gymnasium_start_states",
    "n_step_dqn_loss",
    "vectorized_dqn",
    "vectorized_q_learning",
]

Epsilon = float | Callable[[int], float]


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (so wall-clock times are real)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ===================================================== pure update functions
def _ties(q_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Of each row of ``q_values`` float ``[rows, n_actions]``: ``is_max`` (1.0
    at the maximal actions), ``n_ties`` ``[rows]`` (how many) and ``rank``
    (1 at the first maximal action, 2 at the next...). float32 throughout:
    cheaper than int64 on CPUs and GPUs."""
    is_max = (q_values == q_values.amax(dim=1, keepdim=True)).float()
    return is_max, is_max.sum(dim=1), is_max.cumsum(dim=1)


def _split_uniform(
    uniform: torch.Tensor, epsilon: float, n_actions: int, n_ties: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What one uniform ``u`` per env decides: the random action used when
    ``u < epsilon``, ``floor(u / epsilon * n_actions)``, and otherwise ``k``,
    which of the env's ``n_ties`` maximal actions to take, uniform in
    ``[0, n_ties)`` (both float ``[batch]``)."""
    random_action = (uniform * (n_actions / max(epsilon, 1e-12))).floor_()
    random_action.clamp_(max=n_actions - 1)
    k = ((uniform - epsilon) * (1.0 / max(1.0 - epsilon, 1e-12)) * n_ties).floor_()
    k = torch.minimum(k.clamp_(min=0), n_ties - 1)  # float rounding near u = 1
    return random_action, k


def _check_q(name: str, q: Any) -> tuple[int, int]:
    """``(rows, n_actions)`` of a float tensor ``[rows, n_actions]``."""
    if not isinstance(q, torch.Tensor) or not q.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a float tensor [rows, n_actions], got "
            f"{q.dtype if isinstance(q, torch.Tensor) else type(q).__name__}"
        )
    if q.ndim != 2 or 0 in q.shape:
        raise ValueError(
            f"{name} must be a float tensor [rows, n_actions], got shape "
            f"{tuple(q.shape)}"
        )
    return q.shape[0], q.shape[1]


def _check_index(
    name: str, index: Any, size: int, device: torch.device, length: int | None
) -> None:
    """``index`` must be an int64 tensor ``[length]`` on ``device`` with values
    in ``[0, size)``; the values are read only on the CPU (free there; on a
    GPU it would wait for the device)."""
    if not isinstance(index, torch.Tensor) or index.dtype != torch.int64:
        raise TypeError(
            f"{name} must be an int64 tensor, got "
            f"{getattr(index, 'dtype', type(index).__name__)}"
        )
    if index.ndim != 1 or (length is not None and len(index) != length):
        expected = "[batch]" if length is None else f"[{length}]"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(index.shape)}")
    if index.device != device:
        raise ValueError(f"{name} is on {index.device}, the table on {device}")
    if device.type == "cpu" and len(index):
        # Viewed as unsigned, a negative index is huge: one max suffices.
        if int(index.numpy().view(np.uint64).max()) >= size:
            wrong = index[(index < 0) | (index >= size)][0]
            raise ValueError(f"{name} must be in [0, {size}), got {int(wrong)}")


def _check_generator(generator: Any, device: torch.device) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device} but the values on {device}: "
            "create it with torch.Generator(device=...)"
        )


def batched_epsilon_greedy(
    q_values: torch.Tensor, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """Epsilon-greedy actions for a batch of states, ties broken at random.

    Args:
        q_values: float ``[batch, n_actions]``, ``Q(s, .)`` of each state.
        epsilon: exploration probability in [0, 1].
        generator: a ``torch.Generator`` on the device of ``q_values``.

    Returns:
        int64 ``[batch]``. Each action has probability ``epsilon / n_actions``,
        plus ``(1 - epsilon) / n_ties`` if it is one of the ``n_ties`` maximal
        actions (the distribution of :func:`qlearn_lite.tabular.epsilon_greedy`).

    One uniform number ``u`` per state decides everything, with no Python
    branch per state and no host sync: ``u < epsilon`` explores, and then
    ``u / epsilon`` is uniform in [0, 1) and picks a random action; otherwise
    ``(u - epsilon) / (1 - epsilon)`` is uniform in [0, 1) and picks one of
    the tied maximal actions. (Random numbers are the slow part on a CPU, and
    ``argmax`` over a short last axis is slow too, so neither is used.)
    """
    batch, n_actions = _check_q("q_values", q_values)
    epsilon = check_unit("epsilon", epsilon)
    if generator is not None:  # None: torch's default generator
        _check_generator(generator, q_values.device)
    uniform = torch.rand(batch, generator=generator, device=q_values.device)
    is_max, n_ties, rank = _ties(q_values)
    random_action, k = _split_uniform(uniform, epsilon, n_actions, n_ties)
    chosen = (rank == (k + 1).unsqueeze(1)) * is_max  # one-hot: the k-th maximal
    greedy_action = chosen @ torch.arange(
        n_actions, dtype=chosen.dtype, device=chosen.device
    )
    return torch.where(uniform < epsilon, random_action, greedy_action).long()


def table_epsilon_greedy(
    q_table: torch.Tensor,
    states: torch.Tensor,
    epsilon: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """:func:`batched_epsilon_greedy` of ``q_table[states]``, done per *state*.

    The same actions from the same random numbers (bit for bit), but the ties
    and their order are worked out once for each of the ``n_states`` rows of
    the table, not once for each of the ``batch`` envs: with 65,536 envs on a
    64-state lake, four small gathers per env replace a dozen operations on
    ``[batch, n_actions]`` arrays.

    Args:
        q_table: float ``[n_states, n_actions]``.
        states: int64 ``[batch]``, the state of each env.
        epsilon: exploration probability in [0, 1].
        generator: a ``torch.Generator`` on the device of ``q_table``.

    Returns:
        int64 ``[batch]`` actions.

    ``states`` are checked to be in ``[0, n_states)`` on the CPU only (on a
    GPU that would make the host wait; there they are a precondition).
    """
    n_states, n_actions = _check_q("q_table", q_table)
    _check_index("states", states, n_states, q_table.device, None)
    epsilon = check_unit("epsilon", epsilon)
    if generator is not None:
        _check_generator(generator, q_table.device)
    return _table_epsilon_greedy(q_table, states, epsilon, generator)


def _table_epsilon_greedy(
    q_table: torch.Tensor,
    states: torch.Tensor,
    epsilon: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    # table_epsilon_greedy without the checks, for the learner's inner loop.
    n_states, n_actions = q_table.shape
    # Per state: which actions are maximal, how many, and the j-th of them.
    is_max, n_ties, rank = _ties(q_table)
    # k-th maximal action of state s at [s * n_actions + k]; other slots unused.
    size = n_states * n_actions
    kth_max = torch.zeros(size + 1, device=q_table.device)  # last: a spare bin
    slot = (torch.arange(n_states, device=q_table.device) * n_actions).unsqueeze(1)
    index = torch.where(is_max > 0, slot + rank.long() - 1, size)  # else: the bin
    action_ids = torch.arange(n_actions, dtype=kth_max.dtype, device=q_table.device)
    kth_max.scatter_(0, index.view(-1), action_ids.expand(n_states, -1).reshape(-1))
    # Per env: exactly batched_epsilon_greedy's arithmetic on the same uniform.
    uniform = torch.rand(len(states), generator=generator, device=q_table.device)
    ties = n_ties.index_select(0, states)
    random_action, k = _split_uniform(uniform, epsilon, n_actions, ties)
    greedy_action = kth_max.index_select(0, states * n_actions + k.long())
    return torch.where(uniform < epsilon, random_action, greedy_action).long()


def batched_q_update(
    q_table: torch.Tensor,
    states: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """Q-learning update of every visited pair at once, in place; returns counts.

    ``Q[s, a] += alpha * (mean of the targets of (s, a) in the batch - Q[s, a])``
    for every pair visited at least once; unvisited pairs are unchanged. With
    no repeated pair this is exactly ``Q[s, a] += alpha * (target - Q[s, a])``
    per transition (Sutton & Barto eq. 6.8); repeated pairs ("collisions") move
    once, towards the mean of their targets (see the module docstring).

    Args:
        q_table: float ``[n_states, n_actions]``, updated in place.
        states, actions: int64 ``[batch]``.
        targets: float ``[batch]``, e.g. ``r + gamma * max_a' Q(s', a')``.
        alpha: step size in (0, 1].

    Returns:
        float ``[n_states * n_actions]``: how many transitions hit each pair.

    ``states`` and ``actions`` are checked to be in range on the CPU only (on
    a GPU that would make the host wait; there they are a precondition).
    """
    n_states, n_actions = _check_q("q_table", q_table)
    _check_index("states", states, n_states, q_table.device, None)
    _check_index("actions", actions, n_actions, q_table.device, len(states))
    if not isinstance(targets, torch.Tensor) or not targets.dtype.is_floating_point:
        raise TypeError(f"targets must be a float tensor [batch], got {targets!r}")
    if targets.shape != states.shape or targets.device != q_table.device:
        raise ValueError(
            f"targets must have shape {tuple(states.shape)} on {q_table.device}, "
            f"got {tuple(targets.shape)} on {targets.device}"
        )
    alpha = check_unit("alpha (the step size)", alpha, low_open=True)
    return _batched_q_update(q_table, states, actions, targets, alpha)


def _batched_q_update(
    q_table: torch.Tensor,
    states: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    # batched_q_update without the checks, for the learner's inner loop.
    flat = q_table.view(-1)
    index = states * q_table.shape[1] + actions
    target_sum = torch.zeros_like(flat).index_add_(0, index, targets.to(flat.dtype))
    count = torch.zeros_like(flat).index_add_(
        0, index, torch.ones_like(targets, dtype=flat.dtype)
    )
    mean_target = target_sum / count.clamp(min=1)
    # Unvisited pairs: count 0, mean_target 0; the mask leaves them alone.
    flat.add_(torch.where(count > 0, mean_target - flat, 0.0), alpha=alpha)
    return count


# ===================================================== vectorised Q-learning
@dataclass
class VectorizedQLearningResult:
    """What :func:`vectorized_q_learning` returns (NumPy, on the host)."""

    q: np.ndarray
    """float64 [n_states, n_actions]: the learned Q-table."""
    snapshots: np.ndarray
    """float64 [n_snapshots, n_states, n_actions]: the table after the steps in
    ``snapshot_steps`` (for plots of ``max |Q - Q*|``)."""
    snapshot_steps: np.ndarray
    """int64 [n_snapshots]: vector steps done at each snapshot."""
    snapshot_env_steps: np.ndarray
    """int64 [n_snapshots]: env steps (``steps * num_envs``) at each snapshot."""
    snapshot_seconds: np.ndarray
    """float64 [n_snapshots]: wall seconds of training at each snapshot."""
    num_envs: int
    """Environments stepped together."""
    steps: int
    """Vector steps taken; each is ``num_envs`` env steps and updates."""
    env_steps: int
    """Total env steps, ``steps * num_envs``."""
    episodes: int
    """Training episodes finished (terminated or truncated)."""
    wall_seconds: float
    """Wall seconds of training (snapshots' device-to-host copies excluded)."""
    device: str
    """The device it ran on."""

    @property
    def env_steps_per_second(self) -> float:
        """Training throughput: env steps (= Q-updates) per wall second."""
        return self.env_steps / self.wall_seconds if self.wall_seconds else math.inf


def vectorized_q_learning(
    env: gym.Env | TorchTabularEnv,
    num_envs: int,
    steps: int,
    alpha: float,
    gamma: float,
    epsilon: Epsilon,
    device: str | torch.device = "auto",
    seed: int = 0,
    q_init: float | np.ndarray | None = None,
    snapshot_every: int | None = None,
    progress: bool = True,
) -> VectorizedQLearningResult:
    """Tabular Q-learning on ``num_envs`` copies of an env, one tensor step at a time.

    Each of ``steps`` vector steps: pick epsilon-greedy actions for all envs
    from ``Q[state]``, step all envs, and update every visited ``(s, a)`` with
    :func:`batched_q_update` towards ``r + gamma * max_a' Q(s', a')`` (just
    ``r`` when terminated; a time-limit truncation still bootstraps, as in
    :func:`qlearn_lite.tabular.q_learning`). Envs auto-reset (``SAME_STEP``),
    so the target always uses the state really reached, ``info["final_obs"]``.

    Args:
        env: a Gymnasium env with a transition table (FrozenLake, CliffWalking,
            Taxi), turned into a :class:`TorchTabularEnv` with ``num_envs``
            copies, ``device`` and ``seed``; or a ready TorchTabularEnv with
            ``num_envs`` copies (its device and generator are used).
        num_envs: environments stepped together, >= 1.
        steps: vector steps; the run takes ``steps * num_envs`` env steps.
        alpha: step size in (0, 1]; gamma: discount in [0, 1].
        epsilon: exploration probability in [0, 1], or a schedule
            ``epsilon(step)`` of the vector step (evaluated on the host).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; the table lives there.
        seed: seeds the env's generator and the agent's (its child seeds).
        q_init: initial table: None (zeros), a number, or [n_states, n_actions].
        snapshot_every: copy the table every this many vector steps (and at the
            end) into ``result.snapshots``; None: only at the end.
        progress: show a progress bar (off in quick mode anyway).

    Nothing inside the loop reads a value back to the host: on a GPU the
    Python loop only queues work. Snapshots synchronise the device so that
    their wall times are real.
    """
    num_envs = check_int("num_envs", num_envs)
    steps = check_int("steps", steps)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    alpha = check_unit("alpha (the step size)", alpha, low_open=True)
    gamma = check_unit("gamma (the discount)", gamma)
    if not callable(epsilon):
        epsilon = check_unit("epsilon", epsilon)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every)
    env_seed, agent_seed = child_seeds(seed, 2)
    if isinstance(env, TorchTabularEnv):
        if env.num_envs != num_envs:
            raise ValueError(
                f"the TorchTabularEnv has {env.num_envs} envs but num_envs is "
                f"{num_envs}"
            )
        if not (isinstance(device, str) and device == "auto") and (
            get_device(device) != env.device
        ):
            raise ValueError(
                f"device is {device!r} but the TorchTabularEnv is on {env.device}: "
                "the learner runs on the env's device; pass device='auto' or "
                "build the env on the device you want"
            )
        device = env.device
    else:
        device = get_device(device)
        env = TorchTabularEnv.from_gymnasium(env, num_envs, device, env_seed)
    n_states, n_actions = env.n_states, env.n_actions
    if isinstance(q_init, torch.Tensor):
        q_init = q_init.detach().cpu().numpy()
    # A finite number or array [n_states, n_actions] (as the tabular learners).
    q_table = torch.tensor(
        initial_q(q_init, n_states, n_actions), dtype=torch.float32, device=device
    )
    generator = torch.Generator(device=device).manual_seed(agent_seed)
    episodes = torch.zeros((), dtype=torch.int64, device=device)

    snapshots, snapshot_steps, snapshot_seconds = [], [], []
    copy_seconds = 0.0
    state, _ = env.reset()
    _synchronize(device)
    start = time.perf_counter()
    for step in progress_bar(
        range(1, steps + 1),
        desc="vectorized Q-learning",
        unit="step",
        **({} if progress else {"disable": True}),
    ):
        eps = epsilon(step - 1) if callable(epsilon) else epsilon
        if type(eps) is not float or not 0.0 <= eps <= 1.0:  # a schedule's value
            eps = check_unit(f"epsilon (schedule at step {step - 1})", eps)
        # batched_epsilon_greedy(q_table[state]), worked out per state: faster.
        # The pure functions without their checks (done once above).
        action = _table_epsilon_greedy(q_table, state, eps, generator)
        next_state, reward, terminated, truncated, info = env.step(action)
        # The state really reached: before the auto-reset of finished envs.
        reached = info["final_obs"]
        # max_a' Q(s', a'): the max of each of the table's rows, then one gather.
        next_value = q_table.amax(dim=1).index_select(0, reached)
        # r + gamma * max_a' Q(s', a'), or just r where s' is terminal.
        target = torch.where(terminated, reward, reward + gamma * next_value)
        _batched_q_update(q_table, state, action, target, alpha)
        episodes += info["_final_obs"].sum()
        state = next_state  # easy to overlook: the (reset) next state becomes state
        if step == steps or (snapshot_every and step % snapshot_every == 0):
            _synchronize(device)
            copy_start = time.perf_counter()
            snapshots.append(q_table.to("cpu", torch.float64, copy=True))
            snapshot_steps.append(step)
            snapshot_seconds.append(copy_start - start - copy_seconds)
            copy_seconds += time.perf_counter() - copy_start
    wall_seconds = snapshot_seconds[-1]
    stacked = torch.stack(snapshots).numpy()
    return VectorizedQLearningResult(
        q=stacked[-1].copy(),
        snapshots=stacked,
        snapshot_steps=np.array(snapshot_steps, dtype=np.int64),
        snapshot_env_steps=np.array(snapshot_steps, dtype=np.int64) * num_envs,
        snapshot_seconds=np.array(snapshot_seconds),
        num_envs=num_envs,
        steps=steps,
        env_steps=steps * num_envs,
        episodes=int(episodes),
        wall_seconds=wall_seconds,
        device=str(device),
    )


# ========================================================= vectorised DQN
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
    """Replay capacity in transitions (rounded up to a multiple of num_envs)."""
    learning_starts: int = 2_000
    """Env steps collected (mostly at random) before the first update."""
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
    + gamma^(n-1) r_{t+n-1} + gamma^n max_a Q(s_{t+n}, a)``, cut short where an
    episode ends (Sutton & Barto section 7.1; Hessel et al. 2018, Rainbow)."""
    eps_start: float = 1.0
    """Exploration epsilon at env step 0."""
    eps_end: float = 0.05
    """Exploration epsilon after ``eps_decay_steps`` env steps."""
    eps_decay_steps: int = 10_000
    """Env steps over which epsilon decays linearly from eps_start to eps_end."""
    eval_every: int = 1_600
    """Env steps between greedy evaluations (their time is not counted)."""
    eval_episodes: int = 10
    """Greedy episodes per evaluation, run as one batch of TorchCartPoles."""
    eval_seed: int = 10_000
    """The evaluation episodes start where ``gym.make("CartPole-v1")`` starts
    after ``reset(seed=eval_seed)``: the test of :func:`qlearn_lite.dqn.evaluate`
    and ``benchmarks/dqn_cartpole.py`` (see :func:`gymnasium_start_states`)."""
    stop_at_return: float | None = 475.0
    """Stop at the first evaluation with this mean greedy return; None: never."""
    asynchronous: bool = True
    """Collect with an actor thread while the learner trains; False: one thread,
    alternating (slower, but bit-for-bit reproducible)."""
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
        for name in (
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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"VectorizedDQNConfig.{name} must be an int >= 1, got {value!r}"
                )
        for name in ("learning_starts", "eps_decay_steps", "seed", "eval_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"VectorizedDQNConfig.{name} must be an int >= 0, got {value!r}"
                )
        for name in ("gamma", "tau", "eps_start", "eps_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(
                    f"VectorizedDQNConfig.{name} must be in [0, 1], got {value!r}"
                )
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"VectorizedDQNConfig.{name} must be in [0, 1], got {value!r}"
                )
        if not isinstance(self.lr, Real) or not self.lr > 0:
            raise ValueError(f"VectorizedDQNConfig.lr must be > 0, got {self.lr!r}")
        if self.loss not in ("huber", "mse"):
            raise ValueError(
                f"VectorizedDQNConfig.loss must be 'huber' or 'mse', got {self.loss!r}"
            )
        for name in ("max_grad_norm", "max_seconds"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, Real) and value > 0):
                raise ValueError(
                    f"VectorizedDQNConfig.{name} must be > 0 or None, got {value!r}"
                )
        object.__setattr__(self, "hidden", tuple(self.hidden))

    def replace(self, **changes: Any) -> VectorizedDQNConfig:
        """A copy with some fields changed: ``config.replace(seed=1)``."""
        return dataclasses.replace(self, **changes)


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
    """float32 ``[batch]``: ``gamma^k``, k the steps from ``obs`` to ``next_obs``."""


class DeviceReplayBuffer:
    """A ring buffer of transitions kept as preallocated tensors on one device.

    :class:`qlearn_lite.replay.ReplayBuffer` is NumPy on the host; this one
    stores and samples on the learner's device, so that a step of
    ``num_envs`` transitions is a few slice copies and a minibatch a few
    gathers, without a host round trip. Its write position and size are
    Python ints (the number of rows written per add is known on the host),
    so nothing is read back from the device.

    ``add`` takes ``num_envs`` rows at once; the capacity is rounded up to a
    multiple of ``num_envs`` so that a batch never wraps around the end.
    """

    def __init__(
        self, capacity: int, num_envs: int, obs_dim: int, device: torch.device
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs)
        capacity = check_int("capacity", capacity)
        self.capacity = math.ceil(capacity / num_envs) * num_envs
        self.device = device
        self.obs = torch.zeros(self.capacity, obs_dim, device=device)
        self.actions = torch.zeros(self.capacity, dtype=torch.int64, device=device)
        self.rewards = torch.zeros(self.capacity, device=device)
        self.next_obs = torch.zeros(self.capacity, obs_dim, device=device)
        self.terminated = torch.zeros(self.capacity, device=device)
        self.discounts = torch.zeros(self.capacity, device=device)
        self.position = 0
        self.size = 0

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


class NStepWindow:
    """Turns a stream of vector steps into n-step transitions, on the device.

    It keeps the last ``n`` steps of every env. Once ``n`` steps are in,
    each :meth:`add` returns the transition that started ``n - 1`` steps ago:
    ``(obs, action, return, next_obs, terminated, discount)`` with

        return   = r_0 + gamma r_1 + ... + gamma^(k-1) r_(k-1)
        next_obs = the state reached after step k - 1, discount = gamma^k

    where ``k = n``, or fewer if the episode ended (terminated or truncated)
    within the window: then the return stops there, ``next_obs`` is that
    episode's last observation, and ``terminated`` says whether to bootstrap
    from it (not after a time limit). With auto-reset (``SAME_STEP``) the
    steps after the end belong to the next episode and are masked out. No
    host sync: the bookkeeping is Python ints, the masks are tensors.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n = check_int("n", n)
        self.gamma = gamma
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
        """Add one vector step; return an n-step transition when there is one."""
        if self.n == 1:  # the one-step transition, as it is
            return obs, action, reward, final_obs, terminated.float(), self.gamma
        self.steps.append((obs, action, reward, final_obs, terminated, done))
        if len(self.steps) < self.n:
            return None
        first_obs, first_action = self.steps[0][0], self.steps[0][1]
        # Defaults for envs whose episode runs through all n steps.
        next_obs = self.steps[-1][3]
        ret = torch.zeros_like(reward)
        ended_as_terminal = torch.zeros_like(terminated)
        discount = torch.full_like(reward, self.gamma**self.n)
        alive = torch.ones_like(done)
        for k, (_, _, r, reached, term, end) in enumerate(self.steps):
            ret += self.gamma**k * r * alive
            ends_here = alive & end  # the episode's last step is step k
            next_obs = torch.where(ends_here.unsqueeze(1), reached, next_obs)
            ended_as_terminal |= ends_here & term
            discount = torch.where(ends_here, self.gamma ** (k + 1), discount)
            alive &= ~end
        self.steps.pop(0)
        return (
            first_obs,
            first_action,
            ret,
            next_obs,
            ended_as_terminal.float(),
            discount,
        )


def gymnasium_start_states(episodes: int, seed: int) -> np.ndarray:
    """float64 ``[episodes, 4]``: the start states of ``episodes`` consecutive
    episodes of ``gym.make("CartPole-v1")`` after ``reset(seed=seed)``.

    CartPole draws its start states only in ``reset``, whatever the policy
    does in between, so these are exactly the states
    :func:`qlearn_lite.dqn.evaluate` (and ``benchmarks/dqn_cartpole.py``)
    starts its greedy test episodes from with the same ``seed``.
    """
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
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
    """What :func:`vectorized_dqn` returns: the network, the history, the config."""

    q_net: QNetwork
    history: VectorizedDQNHistory
    config: VectorizedDQNConfig


class _Training:
    """The state the actor and the learner share, and their rate limit.

    The learner may do ``updates_per_step`` gradient steps per vector step
    the actor has stored (after ``learning_starts``); the actor may run at
    most ``max_actor_lead`` vector steps ahead of that. So the two overlap
    (the actor collects step ``t + 1`` while the learner trains on step
    ``t``) but keep the same data-to-update ratio as the synchronous loop,
    whatever the speed of the machine. Counters are Python ints, guarded by
    ``condition``; nothing here touches the device.
    """

    def __init__(self, config: VectorizedDQNConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        seeds = child_seeds(config.seed, 4)
        self.env = TorchCartPole(config.num_envs, device=device, seed=seeds[1])
        self.actor_generator = torch.Generator(device=device).manual_seed(seeds[2])
        self.learner_generator = torch.Generator(device=device).manual_seed(seeds[3])
        obs_dim, n_actions = TorchCartPole.obs_dim, TorchCartPole.n_actions
        # The initial weights from their own seed, leaving the global stream alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds[0])
            q_net = QNetwork(obs_dim, n_actions, config.hidden)
        self.q_net = q_net.to(device)
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
        self.buffer = DeviceReplayBuffer(
            config.buffer_size, config.num_envs, obs_dim, device
        )
        self.window = NStepWindow(config.n_step, config.gamma)
        self.obs, _ = self.env.reset()
        self.start_steps = math.ceil(config.learning_starts / config.num_envs)
        # Shared between the threads (guarded by `condition`).
        self.condition = threading.Condition()
        self.buffer_lock = threading.Lock()
        self.net_lock = threading.Lock()
        self.vector_steps = 0
        self.updates = 0
        self.actor_limit = 0  # the actor waits at this vector step
        self.actor_waiting = False
        self.learner_waiting = False
        self.stop = False
        self.actor_wait_seconds = 0.0
        self.actor_error: BaseException | None = None
        # Device-side accumulators, read only at evaluations.
        self.episode_length_sum = torch.zeros((), device=device)
        self.episode_count = torch.zeros((), device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.loss_count = 0

    @property
    def env_steps(self) -> int:
        return self.vector_steps * self.config.num_envs

    def allowed_updates(self, vector_steps: int) -> int:
        """Gradient steps the data of ``vector_steps`` vector steps allows."""
        return max(0, vector_steps - self.start_steps) * self.config.updates_per_step


def _linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Epsilon at env step ``step``: linear from ``start`` to ``end`` over
    ``decay_steps`` steps, then ``end`` (Mnih et al. 2015, Methods)."""
    if step >= decay_steps:
        return end
    return start + (step / decay_steps) * (end - start)


def _fused_if_supported(device: torch.device) -> dict[str, bool]:
    """``fused=True`` (one kernel for Adam's whole update) where torch has it."""
    if device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {}


def _actor_step(training: _Training) -> None:
    """One vector step: act epsilon-greedily in all envs and store the transitions."""
    config = training.config
    epsilon = _linear_epsilon(
        training.env_steps, config.eps_start, config.eps_end, config.eps_decay_steps
    )
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
    updates = training.updates + 1
    if updates % config.target_update_every == 0:
        # qlearn_lite.dqn.polyak_update's rule, target <- target + tau (online -
        # target), as one call for all the tensors instead of one per tensor.
        torch._foreach_lerp_(training.target_params, training.q_params, config.tau)
    if training.actor_net is not training.q_net and (
        updates % config.actor_sync_every == 0
    ):
        with training.net_lock, torch.no_grad():  # one call for all the tensors
            torch._foreach_copy_(training.actor_params, training.q_params)


def _actor_loop(training: _Training) -> None:
    """The actor thread: vector steps as fast as the learner lets it.

    It waits while it is ``max_actor_lead`` vector steps ahead of the
    learner, and at ``training.actor_limit`` (the next evaluation or the end)
    until the learner has caught up and moved the limit on.
    """
    config = training.config
    condition = training.condition
    waited = 0.0
    try:
        while True:
            with condition:
                while not training.stop and (
                    training.vector_steps >= training.actor_limit
                    or training.allowed_updates(training.vector_steps)
                    - training.updates
                    >= config.max_actor_lead * config.updates_per_step
                ):
                    training.actor_waiting = True
                    wait_start = time.perf_counter()
                    condition.wait(timeout=0.1)
                    waited += time.perf_counter() - wait_start
                training.actor_waiting = False
                if training.stop:
                    return
            _actor_step(training)
            with condition:
                training.vector_steps += 1
                if training.learner_waiting:  # wake it only when it waits
                    condition.notify_all()
    except BaseException as error:  # re-raised by the learner
        with condition:
            training.actor_error = error
            training.stop = True
            condition.notify_all()
    finally:
        training.actor_wait_seconds = waited


def vectorized_dqn(
    config: VectorizedDQNConfig | None = None, progress: bool = True
) -> VectorizedDQNResult:
    """DQN on TorchCartPole (CartPole-v1): everything on one device, and an
    actor thread collecting while the learner trains.

    The algorithm is DQN (Mnih et al. 2015, Algorithm 1) with double-DQN
    targets (van Hasselt et al. 2016), n-step returns (:class:`NStepWindow`)
    and a soft target network, built from notebook 05's pieces
    (:class:`~qlearn_lite.dqn.QNetwork`, :func:`~qlearn_lite.dqn.td_targets`,
    the rule of :func:`~qlearn_lite.dqn.polyak_update`). What is new is where
    it runs:

    * ``num_envs`` carts step as one tensor operation (:class:`TorchCartPole`)
      and the Q-network acts for all of them in one forward pass;
    * the replay buffer (:class:`DeviceReplayBuffer`), the network and its
      target live on the envs' device: no host round trip, and nothing is
      read back to the host except at evaluations;
    * with ``config.asynchronous`` an actor thread collects experience with a
      copy of the network while this thread trains (torch releases the GIL
      inside its operations, so the two overlap). A rate limit keeps the
      data-to-update ratio of the one-thread loop: ``updates_per_step``
      gradient steps per vector step, the actor at most ``max_actor_lead``
      vector steps ahead. On a GPU both threads queue work on the same CUDA
      stream, which runs it in the order it was queued.

    Every ``eval_every`` env steps the actor pauses, the learner catches up
    and the greedy policy is evaluated on ``eval_episodes`` carts
    (:func:`greedy_returns`); that time is not counted. Training stops after
    ``total_steps`` env steps, after ``max_seconds``, or at the first
    evaluation reaching ``stop_at_return``.

    The actor thread is always stopped and joined before this returns, also
    when the learner raises or is interrupted (Ctrl-C); an error in the actor
    is re-raised here as a ``RuntimeError``.
    """
    config = VectorizedDQNConfig() if config is None else config
    if not isinstance(config, VectorizedDQNConfig):
        raise TypeError(
            f"config must be a VectorizedDQNConfig, got {type(config).__name__}"
        )
    device = get_device(config.device)
    training = _Training(config, device)
    history = VectorizedDQNHistory()
    num_envs = config.num_envs
    total_vector_steps = math.ceil(config.total_steps / num_envs)
    next_eval = config.eval_every  # in env steps

    def limit() -> int:
        """The vector step the actor must stop at: the next evaluation or the end."""
        return min(math.ceil(next_eval / num_envs), total_vector_steps)

    bar = progress_bar(
        total=total_vector_steps * num_envs,
        desc="vectorized DQN",
        unit="step",
        **({} if progress else {"disable": True}),
    )
    actor = None
    if config.asynchronous:
        actor = threading.Thread(
            target=_actor_loop, args=(training,), name="qlearn-lite-actor", daemon=True
        )
    _synchronize(device)
    start = time.perf_counter()
    eval_time = learner_waited = 0.0
    try:
        training.actor_limit = limit()
        if actor is not None:
            actor.start()
        while True:
            # 1. Data: one vector step of our own, or wait for the actor's.
            if actor is None:
                if training.vector_steps < limit():
                    _actor_step(training)
                    training.vector_steps += 1
            else:
                with training.condition:
                    if training.actor_limit != limit():
                        training.actor_limit = limit()
                        training.condition.notify_all()
                    while not (
                        training.updates
                        < training.allowed_updates(training.vector_steps)
                        or training.vector_steps >= training.actor_limit
                        or training.stop
                    ):
                        training.learner_waiting = True
                        wait_start = time.perf_counter()
                        training.condition.wait(timeout=0.1)
                        learner_waited += time.perf_counter() - wait_start
                    training.learner_waiting = False
                if training.actor_error is not None:
                    break  # re-raised below, after the clean-up
            # 2. Learn: the updates the data allows (one at a time when the
            #    actor runs, so that we hear of its new data at once).
            while training.updates < training.allowed_updates(training.vector_steps):
                _learner_update(training)
                with training.condition:
                    training.updates += 1
                    if training.actor_waiting:  # wake it only when it waits
                        training.condition.notify_all()
                if actor is not None:
                    break
            bar.update(training.env_steps - bar.n)
            # 3. At an evaluation or the end, once the learner has caught up.
            caught_up = training.updates >= training.allowed_updates(
                training.vector_steps
            )
            if caught_up and training.vector_steps >= limit():
                if training.env_steps >= next_eval:
                    _synchronize(device)
                    eval_start = time.perf_counter()
                    returns = greedy_returns(
                        training.q_net, config.eval_episodes, config.eval_seed
                    )
                    _record(history, training, returns, eval_start - start - eval_time)
                    next_eval += config.eval_every
                    eval_time += time.perf_counter() - eval_start
                    if (
                        config.stop_at_return is not None
                        and history.eval_returns[-1] >= config.stop_at_return
                    ):
                        break
                if training.vector_steps >= total_vector_steps:
                    break
            if config.max_seconds is not None and (
                time.perf_counter() - start - eval_time >= config.max_seconds
            ):
                break
    finally:
        with training.condition:
            training.stop = True
            training.condition.notify_all()
        if actor is not None and actor.is_alive():
            actor.join()
        bar.close()
    if training.actor_error is not None:
        raise RuntimeError(
            "the actor thread of vectorized_dqn failed"
        ) from training.actor_error
    _synchronize(device)
    history.wall_seconds = time.perf_counter() - start - eval_time
    history.eval_wall_seconds = eval_time
    history.env_steps = training.env_steps
    history.updates = training.updates
    history.actor_wait_seconds = training.actor_wait_seconds
    history.learner_wait_seconds = learner_waited
    return VectorizedDQNResult(q_net=training.q_net, history=history, config=config)


def _record(
    history: VectorizedDQNHistory,
    training: _Training,
    returns: torch.Tensor,
    train_seconds: float,
) -> None:
    """Append one evaluation to the history (reads the device accumulators)."""
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
