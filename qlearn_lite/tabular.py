"""Tabular reinforcement learning: value iteration, Q-learning and SARSA.

The code of notebooks 01-03. Everything works on Gymnasium environments whose
observation and action spaces are both ``Discrete`` (FrozenLake, CliffWalking,
Taxi); value iteration also needs the transition table ``env.unwrapped.P``,
where ``P[s][a]`` is a list of ``(probability, next_state, reward, terminated)``.

The maths lives in small pure functions that the notebooks call by name:

* :func:`td_target` -- the one-step target ``r + gamma * value(s')``, which is
  just ``r`` when the transition *terminated* (a terminal state is worth
  nothing) and still bootstraps when the episode was only *truncated* by a
  time limit (the state after a timeout is an ordinary state).
* :func:`q_update` -- ``Q(s,a) + alpha * (target - Q(s,a))``.
* :func:`epsilon_greedy` -- explore with probability ``epsilon``, otherwise act
  greedily with random tie-breaking among the maximal actions.
* :func:`linear_schedule`, :func:`exponential_schedule` -- "epsilon at episode t".

Q-learning and SARSA differ in one line: the value of the next state is
``max_a' Q(s', a')`` for Q-learning (off-policy) and ``Q(s', a')`` for the action
``a'`` the agent will actually take next for SARSA (on-policy).

Sources: Sutton & Barto, *Reinforcement Learning: An Introduction* (2nd ed.,
2018): value iteration section 4.4, SARSA section 6.4, Q-learning section 6.5
(Watkins 1989), Cliff Walking Example 6.6.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import gymnasium as gym
import numpy as np

from qlearn_lite.utils import (
    check_finite,
    check_int,
    check_memory,
    check_number,
    check_seed,
    child_seeds,
    has_time_limit,
)
from qlearn_lite.utils import progress as progress_bar

__all__ = [
    "ExponentialSchedule",
    "LinearSchedule",
    "TabularResult",
    "TransitionTable",
    "best_success_probability",
    "discrete_sizes",
    "epsilon_greedy",
    "evaluate_policy",
    "exponential_schedule",
    "greedy_policy",
    "linear_schedule",
    "q_learning",
    "q_update",
    "sarsa",
    "success_probability",
    "td_target",
    "terminal_states",
    "transition_table",
    "value_iteration",
]

Policy = np.ndarray | Callable[[int], int]
Epsilon = float | Callable[[int], float]


# ------------------------------------------------------------- input checks
def _describe_space(space: Any) -> str:
    text = repr(space)
    if len(text) <= 40:
        return text
    return f"{type(space).__name__} of shape {space.shape} ({space.dtype})"


def discrete_sizes(env: gym.Env) -> tuple[int, int]:
    """``(n_states, n_actions)`` of an env whose two spaces are ``Discrete``.

    Raises ``TypeError`` naming the space otherwise (CartPole's ``Box``
    observations cannot index a table).
    """
    if not isinstance(env, gym.Env):
        raise TypeError(f"expected a Gymnasium env, got {type(env).__name__}")
    for role, space in (
        ("observation", env.observation_space),
        ("action", env.action_space),
    ):
        if not isinstance(space, gym.spaces.Discrete):
            raise TypeError(
                f"tabular methods need a Discrete {role} space, got "
                f"{_describe_space(space)}; use a function approximator "
                "(qlearn_lite.dqn) for continuous spaces"
            )
        if int(space.start) != 0:
            raise TypeError(
                f"tabular methods need a Discrete {role} space starting at 0, "
                f"got {space!r}"
            )
    return int(env.observation_space.n), int(env.action_space.n)


def _check_alpha(alpha: Any) -> float:
    return check_number("alpha (the learning rate)", alpha, 0.0, 1.0, low_open=True)


def _check_gamma(gamma: Any) -> float:
    return check_number("gamma (the discount)", gamma, 0.0, 1.0, low_open=False)


def _check_epsilon(epsilon: Any, where: str = "") -> float:
    return check_number(f"epsilon{where}", epsilon, 0.0, 1.0, low_open=False)


# ---------------------------------------------------------- transition table
@dataclass(frozen=True)
class TransitionTable:
    """``env.unwrapped.P`` flattened into arrays, one entry per transition.

    Entry ``i`` says: taking action ``action[i]`` in state ``state[i]`` leads to
    ``next_state[i]`` with probability ``prob[i]``, reward ``reward[i]`` and
    ``terminated[i]``. Entries keep the order of ``P`` (state, action, outcome).
    """

    n_states: int
    """Number of states ``S``."""
    n_actions: int
    """Number of actions ``A``."""
    state: np.ndarray
    """int64 [n_transitions]: the state ``s``."""
    action: np.ndarray
    """int64 [n_transitions]: the action ``a``."""
    prob: np.ndarray
    """float64 [n_transitions]: ``p(s', r | s, a)``; sums to 1 per ``(s, a)``."""
    next_state: np.ndarray
    """int64 [n_transitions]: the next state ``s'``."""
    reward: np.ndarray
    """float64 [n_transitions]: the reward ``r``."""
    terminated: np.ndarray
    """bool [n_transitions]: whether ``s'`` ends the episode (a terminal state)."""


def transition_table(env: gym.Env) -> TransitionTable:
    """Read ``env.unwrapped.P`` into a :class:`TransitionTable`.

    Works for FrozenLake (any map, slippery or not), CliffWalking and Taxi.
    Raises ``TypeError`` for non-``Discrete`` spaces or an env without ``P``.
    """
    n_states, n_actions = discrete_sizes(env)
    table = getattr(env.unwrapped, "P", None)
    if table is None:
        raise TypeError(
            f"{env.unwrapped.__class__.__name__} has no transition table "
            "env.unwrapped.P; value iteration needs one (FrozenLake, "
            "CliffWalking and Taxi have it)"
        )
    rows = []
    for s in range(n_states):
        for a in range(n_actions):
            outcomes = table[s][a]
            if not outcomes:
                raise ValueError(f"P[{s}][{a}] is empty: expected (p, s', r, done)")
            for prob, next_state, reward, terminated in outcomes:
                rows.append((s, a, prob, next_state, reward, terminated))
    state, action, prob, next_state, reward, terminated = zip(*rows, strict=True)
    result = TransitionTable(
        n_states=n_states,
        n_actions=n_actions,
        state=np.asarray(state, dtype=np.int64),
        action=np.asarray(action, dtype=np.int64),
        prob=np.asarray(prob, dtype=np.float64),
        next_state=np.asarray(next_state, dtype=np.int64),
        reward=np.asarray(reward, dtype=np.float64),
        terminated=np.asarray(terminated, dtype=bool),
    )
    if ((result.next_state < 0) | (result.next_state >= n_states)).any():
        raise ValueError(f"P holds a next state outside [0, {n_states})")
    if not (np.isfinite(result.prob).all() and (result.prob >= 0).all()):
        raise ValueError("P holds a probability that is negative, NaN or inf")
    if not np.isfinite(result.reward).all():
        raise ValueError("P holds a reward that is NaN or inf")
    totals = np.bincount(
        result.state * n_actions + result.action,
        weights=result.prob,
        minlength=n_states * n_actions,
    )
    if not np.allclose(totals, 1.0, atol=1e-9):
        worst = int(np.argmax(np.abs(totals - 1.0)))
        raise ValueError(
            f"transition probabilities of (s, a) = {divmod(worst, n_actions)} sum "
            f"to {totals[worst]!r}, expected 1"
        )
    return result


def terminal_states(env: gym.Env) -> np.ndarray:
    """bool [n_states]: the states that terminating transitions lead to.

    FrozenLake's holes and goal, CliffWalking's goal, Taxi's states after a
    drop-off. A learner never updates these rows (nothing follows them), so
    :func:`value_iteration` gives them ``V = Q = 0`` as well.
    """
    table = transition_table(env)
    return _terminal_mask(table)


def _terminal_mask(table: TransitionTable) -> np.ndarray:
    # In Gymnasium's toy-text envs "terminated" is a property of the next state.
    mask = np.zeros(table.n_states, dtype=bool)
    mask[table.next_state[table.terminated]] = True
    return mask


# ---------------------------------------------------------- value iteration
def value_iteration(
    env: gym.Env,
    gamma: float,
    tol: float = 1e-10,
    max_iterations: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values ``(V, Q)`` by value iteration on ``env.unwrapped.P``.

    Repeats the Bellman optimality backup (Sutton & Barto, section 4.4)

        Q(s, a) = sum_{s', r} p(s', r | s, a) [r + gamma * V(s') * (not terminated)]
        V(s)    = max_a Q(s, a)

    for all states at once (a synchronous sweep) until ``max |V_new - V| < tol``.

    Returns:
        V: float64 [n_states], Q: float64 [n_states, n_actions], with
        ``V == Q.max(axis=1)`` exactly, and ``V = Q = 0`` on terminal states.

    Raises ``TypeError`` for non-``Discrete`` spaces or an env without ``P``,
    ``ValueError`` for gamma outside [0, 1] or ``tol <= 0``, and
    ``RuntimeError`` if ``max_iterations`` sweeps do not converge (possible
    with ``gamma = 1`` when no policy reaches a terminal state).
    """
    gamma = _check_gamma(gamma)
    tol = check_number("tol", tol, 0.0, math.inf, low_open=True, high_open=True)
    max_iterations = check_int("max_iterations", max_iterations)
    table = transition_table(env)
    n_states, n_actions = table.n_states, table.n_actions
    state_action = table.state * n_actions + table.action
    terminal = _terminal_mask(table)

    V = np.zeros(n_states)
    for _ in range(max_iterations):
        next_value = np.where(table.terminated, 0.0, V[table.next_state])
        backup = table.prob * (table.reward + gamma * next_value)
        # bincount adds the outcomes of each (s, a) in order, like a Python loop.
        Q = np.bincount(state_action, weights=backup, minlength=n_states * n_actions)
        Q = Q.reshape(n_states, n_actions)
        Q[terminal] = 0.0
        V_new = Q.max(axis=1)
        delta = float(np.max(np.abs(V_new - V)))
        V = V_new
        if delta < tol:
            return V, Q
    raise RuntimeError(
        f"value iteration did not converge in {max_iterations} sweeps "
        f"(last change {delta:.3g} >= tol {tol:g}); with gamma = 1 this happens "
        "when some state can never reach a terminal state"
    )


# ---------------------------------------------------- pure update functions
def td_target(
    reward: float, next_value: float, terminated: bool, gamma: float
) -> float:
    """The one-step TD target ``r + gamma * next_value``, or ``r`` if terminated.

    ``next_value`` is ``max_a' Q(s', a')`` for Q-learning and ``Q(s', a')`` for
    SARSA. Terminated means ``s'`` is a terminal state, worth 0 by definition,
    so nothing is bootstrapped. A *truncated* transition (time limit) is not
    terminated: ``s'`` still has a future, so pass ``terminated=False`` and the
    target bootstraps as usual.

    ``gamma`` must be in [0, 1] (``ValueError`` otherwise).
    """
    return _td_target(reward, next_value, terminated, _check_gamma(gamma))


def _td_target(
    reward: float, next_value: float, terminated: bool, gamma: float
) -> float:
    # td_target without the check of gamma: the learners check it once.
    if terminated:
        return reward
    return reward + gamma * next_value


def q_update(q_value: float, target: float, alpha: float) -> float:
    """The new estimate ``Q(s,a) + alpha * (target - Q(s,a))`` (pure).

    Moves ``Q(s, a)`` a fraction ``alpha`` of the way towards the target
    (Sutton & Barto eq. 6.8). Use as
    ``Q[s, a] = q_update(Q[s, a], td_target(r, max(Q[s2]), terminated, gamma), alpha)``.
    ``alpha`` must be in (0, 1] (``ValueError`` otherwise).
    """
    return _q_update(q_value, target, _check_alpha(alpha))


def _q_update(q_value: float, target: float, alpha: float) -> float:
    # q_update without the check of alpha: the learners check it once.
    return q_value + alpha * (target - q_value)


def epsilon_greedy(
    q_values: np.ndarray | Sequence[float],
    epsilon: float,
    rng: np.random.Generator,
) -> int:
    """Pick an action: uniformly random with probability ``epsilon``, else greedy.

    Args:
        q_values: float [n_actions], the action values ``Q(s, .)`` of one state.
        epsilon: exploration probability in [0, 1].
        rng: the ``numpy.random.Generator`` to draw from.

    Greedy ties are broken uniformly at random among the maximal actions, so an
    all-zero table does not always pick action 0. Random numbers drawn, in
    order: one ``rng.random()``; then ``rng.integers(n_actions)`` when
    exploring, or ``rng.integers(n_ties)`` only when several actions tie.
    Each action has probability ``epsilon / n_actions`` plus
    ``(1 - epsilon) / n_ties`` if it is maximal.
    """
    # Cheap checks (workers call this every step): one comparison for epsilon,
    # the full message only when it fails (NaN, 5 and "0.1" all fail it).
    try:
        epsilon_ok = 0.0 <= epsilon <= 1.0
    except TypeError:
        epsilon_ok = False
    if not epsilon_ok:
        _check_epsilon(epsilon)
    # Python lists are faster than NumPy for the 4-6 values of a table row.
    if isinstance(q_values, np.ndarray) and q_values.ndim == 1:
        row = q_values.tolist()
    else:
        row = np.asarray(q_values).tolist() if np.ndim(q_values) == 1 else []
    if not row or (type(row[0]) is not float and not isinstance(row[0], Real)):
        raise ValueError(
            "q_values must be a non-empty 1-D row of numbers Q(s, .) "
            f"[n_actions], got {q_values!r}"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {rng!r}")
    return _epsilon_greedy(row, epsilon, rng)


def _epsilon_greedy(row: list[float], epsilon: float, rng: np.random.Generator) -> int:
    # epsilon_greedy of a row given as a list, without the checks: the
    # learners check epsilon once per episode and pass rows of their table.
    if rng.random() < epsilon:
        return int(rng.integers(len(row)))
    best = max(row)
    if row.count(best) == 1:
        return row.index(best)
    ties = [action for action, value in enumerate(row) if value == best]
    return ties[int(rng.integers(len(ties)))]


# ---------------------------------------------------------------- schedules
@dataclass(frozen=True)
class LinearSchedule:
    """``start`` moving linearly to ``end`` over ``duration`` steps, then ``end``."""

    start: float
    """Value at ``t = 0``."""
    end: float
    """Value from ``t = duration`` on."""
    duration: int
    """Number of steps (or episodes) the change takes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_finite("start", self.start))
        object.__setattr__(self, "end", check_finite("end", self.end))
        object.__setattr__(self, "duration", check_int("duration", self.duration))

    def __call__(self, t: int) -> float:
        """The value at step/episode ``t >= 0``."""
        if t >= self.duration:
            return self.end  # exactly, not start + 1.0 * (end - start)
        return self.start + (t / self.duration) * (self.end - self.start)


@dataclass(frozen=True)
class ExponentialSchedule:
    """``end + (start - end) * decay**t``: halves the gap to ``end`` every ..."""

    start: float
    """Value at ``t = 0``."""
    end: float
    """The limit as ``t`` grows."""
    decay: float
    """Factor in (0, 1] the gap ``value - end`` is multiplied by per step."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_finite("start", self.start))
        object.__setattr__(self, "end", check_finite("end", self.end))
        decay = check_number("decay", self.decay, 0.0, 1.0, low_open=True)
        object.__setattr__(self, "decay", decay)

    def __call__(self, t: int) -> float:
        """The value at step/episode ``t >= 0``."""
        return self.end + (self.start - self.end) * self.decay**t

    @property
    def half_life(self) -> float:
        """Steps for the gap to ``end`` to halve (``inf`` for ``decay = 1``)."""
        return math.inf if self.decay == 1 else math.log(0.5) / math.log(self.decay)


def linear_schedule(start: float, end: float, duration: int) -> LinearSchedule:
    """Epsilon (or any value) at step/episode ``t``: linear from start to end.

    ``linear_schedule(1.0, 0.05, 500)(t)`` is 1.0 at ``t = 0``, 0.525 at 250 and
    0.05 from 500 on (CleanRL's and Dopamine's ``linearly_decaying_epsilon``).
    """
    return LinearSchedule(
        check_finite("start", start),
        check_finite("end", end),
        check_int("duration", duration),
    )


def exponential_schedule(start: float, end: float, decay: float) -> ExponentialSchedule:
    """Epsilon (or any value) at step/episode ``t``: ``end + (start-end)*decay**t``.

    ``decay`` in (0, 1]; ``decay = 0.99`` halves the distance to ``end`` about
    every 69 steps.
    """
    decay = check_number("decay", decay, 0.0, 1.0, low_open=True)
    return ExponentialSchedule(
        check_finite("start", start), check_finite("end", end), decay
    )


# ------------------------------------------------------------ learning loops
@dataclass
class TabularResult:
    """What :func:`q_learning` and :func:`sarsa` return."""

    q: np.ndarray
    """float64 [n_states, n_actions]: the learned Q-table."""
    returns: np.ndarray
    """float64 [episodes]: undiscounted sum of rewards of each training episode."""
    lengths: np.ndarray
    """int64 [episodes]: number of steps of each training episode."""
    steps: int
    """Total environment steps taken (``lengths.sum()``)."""
    epsilons: np.ndarray
    """float64 [episodes]: the epsilon each episode was run with."""
    terminated: np.ndarray
    """bool [episodes]: True if the episode ended in a terminal state, False if
    it was truncated by a time limit."""
    snapshots: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    """float64 [n_snapshots, n_states, n_actions]: copies of the Q-table taken
    after the episodes in ``snapshot_episodes`` (empty unless asked for)."""
    snapshot_episodes: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )
    """int64 [n_snapshots]: number of episodes finished at each snapshot."""

    @classmethod
    def from_run(
        cls,
        q: np.ndarray,
        returns: np.ndarray,
        lengths: np.ndarray,
        epsilons: np.ndarray,
        terminated: np.ndarray,
        snapshots: Sequence[np.ndarray],
        snapshot_episodes: Sequence[int],
    ) -> TabularResult:
        """The result of a training run from what its loop recorded.

        ``steps`` is ``lengths.sum()``; ``snapshots`` (Q-table copies) and
        ``snapshot_episodes`` are lists that become arrays, an empty
        ``[0, n_states, n_actions]`` one when no snapshot was taken.
        """
        return cls(
            q=q,
            returns=returns,
            lengths=lengths,
            steps=int(lengths.sum()),
            epsilons=epsilons,
            terminated=terminated,
            snapshots=np.array(snapshots) if snapshots else np.zeros((0, *q.shape)),
            snapshot_episodes=np.array(snapshot_episodes, dtype=np.int64),
        )


def initial_q(
    q_init: Any, n_states: int, n_actions: int, broadcast: bool = False
) -> np.ndarray:
    """The starting Q-table from ``q_init``: float64 ``[n_states, n_actions]``.

    The one ``q_init`` handling of the course: ``None`` gives zeros, a finite
    number fills the table (optimistic initial values), a finite array of
    that shape is copied, so training never changes the caller's array (any
    shape that broadcasts to it if ``broadcast``). ``TypeError`` or
    ``ValueError`` otherwise.
    """
    if q_init is None:
        return np.zeros((n_states, n_actions))
    if isinstance(q_init, Real) and not isinstance(q_init, bool):
        return np.full((n_states, n_actions), check_finite("q_init", q_init))
    expected = (
        f"a finite number or an array of shape ({n_states}, {n_actions}) "
        "[n_states, n_actions]"
    )
    q = np.asarray(q_init)
    if q.dtype == np.bool_ or not np.issubdtype(q.dtype, np.number):
        raise TypeError(f"q_init must be {expected}, got {q_init!r}")
    if broadcast and q.shape != (n_states, n_actions):
        try:
            q = np.broadcast_to(q, (n_states, n_actions))
        except ValueError:
            pass
    if q.shape != (n_states, n_actions):
        raise ValueError(f"q_init must be {expected}, got shape {q.shape}")
    q = np.array(q, dtype=np.float64)  # a copy: never train the caller's
    if not np.isfinite(q).all():
        raise ValueError(f"q_init must be {expected}, got non-finite values")
    return q


def _check_record_memory(episodes: int, Q: np.ndarray, every: int | None) -> None:
    """The per-episode records (and snapshots) fit in memory: checked first."""
    snapshots = episodes // every if every else 0
    check_memory(
        f"the records of {episodes} episodes",
        episodes * (8 + 8 + 8 + 1) + snapshots * Q.nbytes,
    )


def _epsilon_at(epsilon: Epsilon, episode: int) -> float:
    if callable(epsilon):
        return _check_epsilon(epsilon(episode), f" (schedule at episode {episode})")
    return epsilon


def _train(
    algorithm: str,
    env: gym.Env,
    episodes: int,
    alpha: float,
    gamma: float,
    epsilon: Epsilon,
    seed: int,
    q_init: Any,
    progress: bool,
    snapshot_every: int | None,
) -> TabularResult:
    n_states, n_actions = discrete_sizes(env)
    episodes = check_int("episodes", episodes)
    alpha, gamma = _check_alpha(alpha), _check_gamma(gamma)
    if not callable(epsilon):
        epsilon = _check_epsilon(epsilon)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every)
    Q = initial_q(q_init, n_states, n_actions)
    _check_record_memory(episodes, Q, snapshot_every)
    agent_seed, env_seed = child_seeds(seed, 2)
    rng = np.random.default_rng(agent_seed)

    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    epsilons = np.zeros(episodes)
    ended = np.zeros(episodes, dtype=bool)
    snapshots, snapshot_episodes = [], []
    episode_numbers = range(episodes)
    if progress:  # a tqdm bar, off in quick mode
        episode_numbers = progress_bar(episode_numbers, desc=algorithm, unit="ep")
    for episode in episode_numbers:
        eps = _epsilon_at(epsilon, episode)
        obs, _ = env.reset(seed=env_seed if episode == 0 else None)
        total, length = 0.0, 0
        if algorithm == "q_learning":
            while True:
                # The pure functions without their checks (done once above).
                action = _epsilon_greedy(Q[obs].tolist(), eps, rng)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                # Off-policy: bootstrap from the best next action.
                next_value = max(Q[next_obs].tolist())
                target = _td_target(reward, next_value, terminated, gamma)
                Q[obs, action] = _q_update(Q[obs, action], target, alpha)
                total += reward
                length += 1
                if terminated or truncated:
                    break
                obs = next_obs  # easy to overlook: the next obs becomes obs
        else:  # SARSA: on-policy, bootstrap from the action we will take next
            action = _epsilon_greedy(Q[obs].tolist(), eps, rng)
            while True:
                next_obs, reward, terminated, truncated, _ = env.step(action)
                if terminated:
                    target = reward  # nothing follows a terminal state
                else:  # truncated still bootstraps: s' has a future
                    next_action = _epsilon_greedy(Q[next_obs].tolist(), eps, rng)
                    target = _td_target(reward, Q[next_obs, next_action], False, gamma)
                Q[obs, action] = _q_update(Q[obs, action], target, alpha)
                total += reward
                length += 1
                if terminated or truncated:
                    break
                obs, action = next_obs, next_action
        returns[episode], lengths[episode] = total, length
        epsilons[episode], ended[episode] = eps, terminated
        if snapshot_every and (episode + 1) % snapshot_every == 0:
            snapshots.append(Q.copy())
            snapshot_episodes.append(episode + 1)
    return TabularResult.from_run(
        Q, returns, lengths, epsilons, ended, snapshots, snapshot_episodes
    )


def q_learning(
    env: gym.Env,
    episodes: int,
    alpha: float,
    gamma: float,
    epsilon: Epsilon,
    seed: int = 0,
    q_init: float | np.ndarray | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
) -> TabularResult:
    """Tabular Q-learning (Watkins 1989; Sutton & Barto section 6.5).

    For each step of each episode: pick ``a`` epsilon-greedily from ``Q[s]``,
    step, and move ``Q[s, a]`` towards ``r + gamma * max_a' Q[s', a']`` (just
    ``r`` if ``s'`` is terminal; a time-limit truncation still bootstraps).

    Args:
        env: a Gymnasium env with ``Discrete`` observation and action spaces.
        episodes: number of training episodes, >= 1.
        alpha: learning rate in (0, 1].
        gamma: discount in [0, 1].
        epsilon: exploration rate in [0, 1], or a schedule ``epsilon(episode)``
            (e.g. :func:`linear_schedule`) called at the start of each episode.
        seed: one integer; split with ``child_seeds(seed, 2)`` into the agent's
            ``numpy.random.Generator`` and the env's first ``reset(seed=...)``.
        q_init: initial table: ``None`` (zeros), a number (e.g. optimistic
            1.0) or an array [n_states, n_actions] (copied).
        progress: show a progress bar over episodes (off in quick mode).
        snapshot_every: copy the Q-table every this many episodes into
            ``result.snapshots`` (for plots of ``max |Q - Q*|``).

    Same seed, same env, same arguments: bit-identical results.
    """
    return _train(
        "q_learning",
        env,
        episodes,
        alpha,
        gamma,
        epsilon,
        seed,
        q_init,
        progress,
        snapshot_every,
    )


def sarsa(
    env: gym.Env,
    episodes: int,
    alpha: float,
    gamma: float,
    epsilon: Epsilon,
    seed: int = 0,
    q_init: float | np.ndarray | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
) -> TabularResult:
    """Tabular SARSA (Rummery & Niranjan 1994; Sutton & Barto section 6.4).

    Like :func:`q_learning`, but the target bootstraps from the action ``a'``
    the epsilon-greedy policy actually picks in ``s'``:
    ``r + gamma * Q[s', a']``. It learns the value of the exploring policy
    itself, which is why it keeps away from the cliff in Cliff Walking.
    Same arguments and result as :func:`q_learning`.
    """
    return _train(
        "sarsa",
        env,
        episodes,
        alpha,
        gamma,
        epsilon,
        seed,
        q_init,
        progress,
        snapshot_every,
    )


# ---------------------------------------------------------------- policies
def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """int64 [n_states]: ``argmax_a Q[s, a]`` for every state.

    Ties go to the lowest action index (deterministic, as ``np.argmax``).
    """
    Q = np.asarray(Q)
    if Q.dtype == np.bool_ or not np.issubdtype(Q.dtype, np.number):
        raise TypeError(f"Q must be a table of numbers, got dtype {Q.dtype}")
    if Q.ndim != 2 or 0 in Q.shape:
        raise ValueError(f"Q must be a 2-D table [n_states, n_actions], got {Q.shape}")
    if np.isnan(Q).any():
        raise ValueError("Q must not contain NaN: its greedy action is undefined")
    return np.argmax(Q, axis=1).astype(np.int64)


def _check_policy_table(policy: Any, n_states: int, n_actions: int) -> np.ndarray:
    """``policy`` as an int64 array [n_states] of actions in [0, n_actions)."""
    table = np.asarray(policy)
    if table.shape != (n_states,) or not np.issubdtype(table.dtype, np.integer):
        raise ValueError(
            f"policy must be an int array [n_states] = ({n_states},), "
            f"got {table.dtype} {table.shape}"
        )
    bad = (table < 0) | (table >= n_actions)
    if bad.any():
        state = int(np.argmax(bad))
        raise ValueError(
            f"policy must hold actions in [0, {n_actions}), got {table[state]} "
            f"in state {state}"
        )
    return table.astype(np.int64)


def _as_policy_fn(policy: Policy, n_states: int, n_actions: int) -> Callable:
    if not callable(policy):
        return _check_policy_table(policy, n_states, n_actions).tolist().__getitem__

    def act(obs: int) -> int:  # a callable's actions are checked as it acts
        action = policy(obs)
        if (
            isinstance(action, bool)
            or not isinstance(action, (int, np.integer))
            or not 0 <= action < n_actions
        ):
            raise ValueError(
                f"the policy must return an int action in [0, {n_actions}), "
                f"got {action!r} in state {obs}"
            )
        return int(action)

    return act


def _success_reward(env: gym.Env) -> float | None:
    """The reward of a 'good' terminal transition, read from ``P`` if present."""
    if getattr(env.unwrapped, "P", None) is None:
        return None
    table = transition_table(env)
    rewards = table.reward[table.terminated]
    return float(rewards.max()) if rewards.size else None


def evaluate_policy(
    env: gym.Env,
    policy: Policy,
    episodes: int,
    seed: int = 0,
    max_steps: int | None = None,
) -> tuple[float, float]:
    """Run ``policy`` for ``episodes`` episodes: ``(mean_return, success_rate)``.

    Args:
        policy: int array [n_states] (e.g. :func:`greedy_policy`) or a callable
            ``obs -> action``.
        seed: the env's first ``reset(seed=seed)``; later resets continue it.
        max_steps: cut episodes after this many steps (a failure). Default:
            none if a ``TimeLimit`` wrapper ends the env's episodes, else
            10_000, so that a policy walking in circles (CliffWalking has no
            time limit, nor has ``gym.make(...).unwrapped``) cannot hang.

    An episode is a success when it *terminates* (not truncated) on a
    transition with the best terminal reward in ``P``: FrozenLake's goal
    (reward 1, not a hole), CliffWalking's goal, Taxi's drop-off. Without
    ``P``: terminated with reward > 0. The standard error of the success rate
    is ``sqrt(p (1 - p) / episodes)``.
    """
    n_states, n_actions = discrete_sizes(env)
    episodes = check_int("episodes", episodes)
    seed = check_seed(seed)
    act = _as_policy_fn(policy, n_states, n_actions)
    if max_steps is None:
        max_steps = 2**62 if has_time_limit(env) else 10_000
    max_steps = check_int("max_steps", max_steps)
    success_reward = _success_reward(env)
    total_return, successes = 0.0, 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        for _ in range(max_steps):
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total_return += reward
            if terminated or truncated:
                break
        if terminated and (
            reward > 0 if success_reward is None else reward >= success_reward
        ):
            successes += 1
    return total_return / episodes, successes / episodes


def success_probability(
    env: gym.Env, policy: np.ndarray, horizon: int | None = None
) -> float:
    """Exact probability that ``policy`` succeeds within ``horizon`` steps.

    Dynamic programming on ``P`` (no sampling): the chance of reaching a
    successful terminal transition (as in :func:`evaluate_policy`) from the
    start state before the time limit. ``horizon`` defaults to the env's
    ``max_episode_steps`` (100 for FrozenLake 4x4). This is the number that
    :func:`evaluate_policy`'s ``success_rate`` estimates.
    """
    table = transition_table(env)
    n_states = table.n_states
    actions = _check_policy_table(policy, n_states, table.n_actions)
    if horizon is None:
        horizon = env.spec.max_episode_steps if env.spec is not None else None
        if horizon is None:
            raise ValueError(f"{env} has no time limit: pass horizon=...")
    horizon = check_int("horizon", horizon)
    chosen = table.action == actions[table.state]
    state, prob = table.state[chosen], table.prob[chosen]
    next_state, terminated = table.next_state[chosen], table.terminated[chosen]
    rewards = table.reward[table.terminated]
    if not rewards.size:
        raise ValueError(
            f"{env.unwrapped} has no terminal transitions in P: no success to count"
        )
    good = terminated & (table.reward[chosen] >= rewards.max())
    # success[s] = P(success within k steps from s); k goes 1, 2, ..., horizon.
    success = np.zeros(n_states)
    for _ in range(horizon):
        value = np.where(good, 1.0, np.where(terminated, 0.0, success[next_state]))
        previous = success
        success = np.bincount(state, weights=prob * value, minlength=n_states)
        if np.array_equal(success, previous):
            break  # a fixed point: every later step gives the same numbers
    start_states = _start_distribution(env)
    return float(start_states @ success)


def _start_distribution(env: gym.Env) -> np.ndarray:
    unwrapped = env.unwrapped
    n_states, _ = discrete_sizes(env)
    initial = getattr(unwrapped, "initial_state_distrib", None)
    if initial is not None and np.shape(initial) == (n_states,):
        return np.asarray(initial, dtype=np.float64)
    start = getattr(unwrapped, "start_state", None)
    if start is None:
        raise TypeError(f"cannot find the start state of {unwrapped}")
    distribution = np.zeros(n_states)
    distribution[int(start)] = 1.0
    return distribution


# ------------------------------------------------ the best within a time limit
def best_success_probability(env: gym.Env, horizon: int | None = None) -> float:
    """The highest probability that *any* policy succeeds within ``horizon`` steps.

    With a time limit the best action can depend on how many steps are left
    (near the end a risky shortcut beats a slow safe route), so the best policy
    is non-stationary, and no fixed ``state -> action`` table, not even the
    greedy policy of ``Q*`` for some ``gamma``, needs to reach this number.
    Backward induction over the horizon (Puterman 1994, chapter 4, finite-horizon
    MDPs; Pardo et al. 2018 on time limits in RL) computes it exactly. With
    ``B_k(s)`` the best chance of success from ``s`` with ``k`` steps left:

        B_0(s) = 0
        B_k(s) = max_a sum_{s'} p(s' | s, a) * (1 if the transition succeeds,
                 0 if it terminates otherwise, else B_{k-1}(s'))

    It returns ``B_horizon`` averaged over the start states; the policy that
    achieves it takes, with ``k`` steps left, an argmax of the ``k``-th backup.
    "Success" is as in :func:`success_probability`, and for every fixed
    ``policy``, ``success_probability(env, policy, horizon)`` is at most this
    number. ``horizon`` defaults to the env's ``max_episode_steps`` (100 for
    FrozenLake 4x4, 200 for 8x8).
    """
    table = transition_table(env)
    if horizon is None:
        horizon = env.spec.max_episode_steps if env.spec is not None else None
        if horizon is None:
            raise ValueError(f"{env} has no time limit: pass horizon=...")
    horizon = check_int("horizon", horizon)
    best_reward = table.reward[table.terminated].max()
    good = table.terminated & (table.reward >= best_reward)
    pair = table.state * table.n_actions + table.action
    best = np.zeros(table.n_states)  # B_k for k = 0, 1, ..., horizon
    for _ in range(horizon):
        value = np.where(
            good, 1.0, np.where(table.terminated, 0.0, best[table.next_state])
        )
        size = table.n_states * table.n_actions
        q = np.bincount(pair, weights=table.prob * value, minlength=size)
        best = q.reshape(table.n_states, table.n_actions).max(axis=1)
    return float(_start_distribution(env) @ best)
