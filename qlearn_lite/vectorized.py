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

The vectorised DQN (envs, replay buffer and networks on one device, an actor
and a learner thread) is :mod:`qlearn_lite.vectorized_dqn`.

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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from qlearn_lite.tabular import initial_q
from qlearn_lite.utils import (
    check_int,
    check_unit,
    child_seeds,
    get_device,
    synchronize,
)
from qlearn_lite.utils import progress as progress_bar
from qlearn_lite.vec_envs import TorchTabularEnv

__all__ = [
    "VectorizedQLearningResult",
    "batched_epsilon_greedy",
    "batched_q_update",
    "table_epsilon_greedy",
    "vectorized_q_learning",
]

Epsilon = float | Callable[[int], float]


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
    synchronize(device)
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
            synchronize(device)
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
