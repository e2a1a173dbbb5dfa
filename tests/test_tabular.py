"""Tests of qlearn_lite.tabular: value iteration, updates, schedules, learners."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit
from hypothesis import given, settings
from hypothesis import strategies as st

from qlearn_lite import tabular
from qlearn_lite.tabular import (
    discrete_sizes,
    epsilon_greedy,
    evaluate_policy,
    exponential_schedule,
    greedy_policy,
    linear_schedule,
    q_learning,
    q_update,
    sarsa,
    success_probability,
    td_target,
    terminal_states,
    transition_table,
    value_iteration,
)


class TableEnv(gym.Env):
    """A discrete env defined by a transition table ``P[s][a]`` (as toy_text)."""

    def __init__(self, P: dict, start_state: int = 0):
        self.P = P
        self.start_state = start_state
        self.observation_space = gym.spaces.Discrete(len(P))
        self.action_space = gym.spaces.Discrete(len(P[0]))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.start_state
        return self.state, {}

    def step(self, action):
        outcomes = self.P[self.state][int(action)]
        index = self.np_random.choice(len(outcomes), p=[o[0] for o in outcomes])
        _, next_state, reward, terminated = outcomes[index]
        self.state = next_state
        return next_state, float(reward), bool(terminated), False, {}


def two_state_mdp() -> TableEnv:
    """s0: a0 'stay' (+1, s0) or a1 'go' (0; s1 w.p. 0.8, s0 w.p. 0.2).
    s1: a0 'stay' (+2, s1) or a1 'back' (0, s0). No terminal states."""
    return TableEnv(
        {
            0: {
                0: [(1.0, 0, 1.0, False)],
                1: [(0.8, 1, 0.0, False), (0.2, 0, 0.0, False)],
            },
            1: {0: [(1.0, 1, 2.0, False)], 1: [(1.0, 0, 0.0, False)]},
        }
    )


def one_state_env(terminated: bool, max_episode_steps: int = 1) -> gym.Env:
    """One state, one action, reward 1; ends each step by termination or by
    a time-limit truncation."""
    env = TableEnv({0: {0: [(1.0, 0, 1.0, terminated)]}})
    return TimeLimit(env, max_episode_steps=max_episode_steps)


# ---------------------------------------------------------- value iteration
def test_value_iteration_matches_hand_solution():
    """Two-state MDP, gamma 0.9: V = (14.4/0.82, 20), Q from one backup."""
    V, Q = value_iteration(two_state_mdp(), gamma=0.9)
    v0, v1 = 14.4 / 0.82, 2 / (1 - 0.9)
    np.testing.assert_allclose(V, [v0, v1], atol=1e-8)
    expected_q = [[1 + 0.9 * v0, 0.9 * (0.8 * v1 + 0.2 * v0)], [2 + 0.9 * v1, 0.9 * v0]]
    np.testing.assert_allclose(Q, expected_q, atol=1e-8)
    assert V.dtype == Q.dtype == np.float64
    assert np.array_equal(V, Q.max(axis=1))


def test_value_iteration_gamma_zero_is_expected_reward():
    """With gamma 0, Q is the expected immediate reward."""
    V, Q = value_iteration(two_state_mdp(), gamma=0.0)
    assert np.array_equal(Q, [[1.0, 0.0], [2.0, 0.0]])
    assert np.array_equal(V, [1.0, 2.0])


def test_value_iteration_terminal_bootstraps_nothing():
    """A terminating transition is worth its reward only (gamma 1 chain)."""
    env = TableEnv(
        {
            0: {0: [(1.0, 1, -1.0, False)]},
            1: {0: [(1.0, 2, -1.0, False)]},
            2: {0: [(1.0, 3, 5.0, True)]},
            3: {0: [(1.0, 3, 100.0, True)]},  # never used: 3 is terminal
        }
    )
    V, Q = value_iteration(env, gamma=1.0)
    assert np.array_equal(V, [3.0, 4.0, 5.0, 0.0])
    assert terminal_states(env).tolist() == [False, False, False, True]


def test_value_iteration_frozenlake_deterministic_is_gamma_powers():
    """Non-slippery FrozenLake 4x4: V*(s) = gamma^(steps to goal - 1)."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    V, _ = value_iteration(env, gamma=0.9)
    assert V[14] == pytest.approx(1.0)
    assert V[0] == pytest.approx(0.9**5)
    assert V[15] == 0.0 and V[5] == 0.0  # goal and hole are terminal


def test_frozenlake_optimum_success_probability():
    """Slippery 4x4: the optimal policy (gamma 0.99) succeeds w.p. 0.7402."""
    env = gym.make("FrozenLake-v1")
    _, Q = value_iteration(env, gamma=0.99)
    assert success_probability(env, greedy_policy(Q)) == pytest.approx(
        0.74016, abs=1e-5
    )


@pytest.mark.parametrize(
    ("env_id", "start_value"),
    [("CliffWalking-v1", -13.0), ("Taxi-v4", None)],
)
def test_value_iteration_other_envs(env_id, start_value):
    """CliffWalking's start is worth -13 (13 steps); Taxi converges."""
    env = gym.make(env_id)
    V, Q = value_iteration(env, gamma=1.0)
    assert Q.shape == (env.observation_space.n, env.action_space.n)
    if start_value is not None:
        assert V[36] == start_value
    assert np.all(V[terminal_states(env)] == 0.0)


def test_transition_table_probabilities_sum_to_one():
    """Flattened P of slippery FrozenLake: 3 outcomes per (s, a), sums 1."""
    table = transition_table(gym.make("FrozenLake-v1"))
    sums = np.bincount(table.state * 4 + table.action, weights=table.prob)
    np.testing.assert_allclose(sums, 1.0)
    assert table.n_states == 16 and table.n_actions == 4


# ------------------------------------------------------- pure update rules
def test_td_target_terminated_and_not():
    """Terminated: r only; otherwise r + gamma * next value."""
    assert td_target(1.0, 10.0, True, 0.9) == 1.0
    assert td_target(1.0, 10.0, False, 0.9) == 1.0 + 0.9 * 10.0


def test_q_update_moves_alpha_of_the_way():
    """Q + alpha (target - Q): alpha 1 jumps to target, 0.5 goes halfway."""
    assert q_update(2.0, 4.0, 1.0) == 4.0
    assert q_update(2.0, 4.0, 0.5) == 3.0
    assert q_update(2.0, 4.0, 0.1) == 2.0 + 0.1 * (4.0 - 2.0)


# ----------------------------------------------------------- epsilon-greedy
q_rows = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, 1.0]),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(q_rows, st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_epsilon_greedy_returns_a_valid_action(row, epsilon, seed):
    """Any row, any epsilon: an int in range(n_actions)."""
    action = epsilon_greedy(np.array(row), epsilon, np.random.default_rng(seed))
    assert isinstance(action, int) and 0 <= action < len(row)


@settings(max_examples=200, deadline=None)
@given(q_rows, st.integers(0, 2**32 - 1))
def test_epsilon_zero_is_always_a_maximal_action(row, seed):
    """epsilon = 0 only ever picks an action with the maximal value."""
    rng = np.random.default_rng(seed)
    for _ in range(5):
        assert row[epsilon_greedy(np.array(row), 0.0, rng)] == max(row)


@settings(max_examples=100, deadline=None)
@given(q_rows, st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_epsilon_greedy_same_seed_same_action(row, epsilon, seed):
    """Equal seeds give equal actions; lists and arrays agree."""
    a = epsilon_greedy(np.array(row), epsilon, np.random.default_rng(seed))
    b = epsilon_greedy(row, epsilon, np.random.default_rng(seed))
    assert a == b


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5, 1.0])
def test_epsilon_greedy_action_frequencies(epsilon):
    """Frequencies match eps/n + (1-eps)/n_ties on maximal actions (5 sigma)."""
    row = np.array([1.0, 3.0, 3.0, 0.0])
    rng = np.random.default_rng(0)
    n = 40_000
    counts = np.bincount(
        [epsilon_greedy(row, epsilon, rng) for _ in range(n)], minlength=4
    )
    expected = np.full(4, epsilon / 4) + np.array([0, 0.5, 0.5, 0]) * (1 - epsilon)
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(counts / n - expected) <= 5 * sigma + 1e-12)


def test_epsilon_greedy_breaks_all_zero_ties_uniformly():
    """An all-zero row picks each action about equally often at epsilon 0."""
    rng = np.random.default_rng(1)
    counts = np.bincount([epsilon_greedy(np.zeros(4), 0.0, rng) for _ in range(8000)])
    assert counts.min() > 1800 and counts.max() < 2200


# ---------------------------------------------------------------- schedules
finite = st.floats(-10.0, 10.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.integers(1, 10_000), st.integers(0, 100_000))
def test_linear_schedule_bounds_and_endpoints(start, end, duration, t):
    """Linear: start at 0, end from duration on, in between otherwise."""
    schedule = linear_schedule(start, end, duration)
    assert schedule(0) == start
    value = schedule(t)
    assert min(start, end) - 1e-9 <= value <= max(start, end) + 1e-9
    if t >= duration:
        assert value == end


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.integers(1, 1000), st.integers(0, 5000))
def test_linear_schedule_is_monotone(start, end, duration, t):
    """Linear schedules never move away from end."""
    schedule = linear_schedule(start, end, duration)
    assert abs(schedule(t + 1) - end) <= abs(schedule(t) - end) + 1e-12


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.floats(1e-3, 1.0), st.integers(0, 100_000))
def test_exponential_schedule_bounds_and_monotone(start, end, decay, t):
    """Exponential: start at 0, between start and end, monotone towards end."""
    schedule = exponential_schedule(start, end, decay)
    assert schedule(0) == pytest.approx(start)
    value = schedule(t)
    assert min(start, end) - 1e-9 <= value <= max(start, end) + 1e-9
    assert abs(schedule(t + 1) - end) <= abs(value - end) + 1e-12


def test_schedule_values_by_hand():
    """linear(1, 0.05, 500)(250) = 0.525; exponential halves every half-life."""
    assert linear_schedule(1.0, 0.05, 500)(250) == pytest.approx(0.525)
    schedule = exponential_schedule(1.0, 0.0, 0.5)
    assert schedule(3) == 0.125 and schedule.half_life == pytest.approx(1.0)
    assert math.isinf(exponential_schedule(1.0, 0.0, 1.0).half_life)


# ------------------------------------------------------------------ learners
def test_q_learning_converges_to_q_star_on_deterministic_frozenlake():
    """Random behaviour, alpha 0.5: max |Q - Q*| < 1e-3 on non-terminal states."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    _, q_star = value_iteration(env, gamma=0.9)
    result = q_learning(env, 2000, alpha=0.5, gamma=0.9, epsilon=1.0, seed=0)
    non_terminal = ~terminal_states(env)
    assert np.abs(result.q - q_star)[non_terminal].max() < 1e-3
    assert np.all(result.q[~non_terminal] == 0.0)  # terminal rows never updated


def test_q_learning_two_state_mdp_converges():
    """Stochastic two-state MDP: small alpha lands near the hand-solved Q*."""
    env = TimeLimit(two_state_mdp(), max_episode_steps=50)
    _, q_star = value_iteration(env, gamma=0.9)
    result = q_learning(env, 400, alpha=0.05, gamma=0.9, epsilon=1.0, seed=3)
    np.testing.assert_allclose(result.q, q_star, atol=0.5)
    assert np.array_equal(greedy_policy(result.q), greedy_policy(q_star))


@pytest.mark.parametrize("learner", [q_learning, sarsa])
def test_truncated_bootstraps_terminated_does_not(learner):
    """Reward 1 per step, gamma 0.5: truncation learns 2 = 1/(1-0.5), termination 1."""
    truncated = learner(one_state_env(False), 200, 1.0, 0.5, 0.0, seed=0)
    terminated = learner(one_state_env(True), 200, 1.0, 0.5, 0.0, seed=0)
    assert truncated.q[0, 0] == pytest.approx(2.0)
    assert terminated.q[0, 0] == 1.0
    assert not truncated.terminated.any() and terminated.terminated.all()


@pytest.mark.parametrize("learner", [q_learning, sarsa])
def test_same_seed_bit_identical(learner):
    """Equal seeds: identical Q-tables, returns and lengths; other seeds differ."""
    runs = [
        learner(gym.make("FrozenLake-v1"), 300, 0.1, 0.99, 0.2, seed=seed)
        for seed in (7, 7, 8)
    ]
    assert np.array_equal(runs[0].q, runs[1].q)
    assert np.array_equal(runs[0].returns, runs[1].returns)
    assert np.array_equal(runs[0].lengths, runs[1].lengths)
    assert not np.array_equal(runs[0].q, runs[2].q)


def test_result_fields_are_consistent():
    """steps = sum(lengths); snapshots every k episodes; schedule recorded."""
    schedule = linear_schedule(1.0, 0.1, 10)
    result = q_learning(
        gym.make("FrozenLake-v1"), 30, 0.1, 0.99, schedule, seed=0, snapshot_every=10
    )
    assert result.steps == result.lengths.sum() > 0
    assert result.returns.shape == result.lengths.shape == (30,)
    assert result.snapshots.shape == (3, 16, 4)
    assert result.snapshot_episodes.tolist() == [10, 20, 30]
    assert np.array_equal(result.snapshots[-1], result.q)
    assert result.epsilons[0] == 1.0 and result.epsilons[-1] == pytest.approx(0.1)


def test_q_init_is_copied_and_optimistic_number():
    """An array q_init is not modified; a number fills the table."""
    start = np.ones((16, 4))
    result = q_learning(gym.make("FrozenLake-v1"), 5, 0.5, 0.9, 0.1, q_init=start)
    assert np.array_equal(start, np.ones((16, 4)))
    assert not np.array_equal(result.q, start)
    result = q_learning(gym.make("FrozenLake-v1"), 1, 0.5, 0.9, 0.1, q_init=2.0)
    assert result.q.max() == 2.0


def test_sarsa_cliff_walking_is_safer_than_q_learning():
    """eps 0.1, alpha 0.5, 300 episodes: SARSA's online returns beat Q-learning's."""
    q_run = q_learning(gym.make("CliffWalking-v1"), 300, 0.5, 1.0, 0.1, seed=0)
    s_run = sarsa(gym.make("CliffWalking-v1"), 300, 0.5, 1.0, 0.1, seed=0)
    assert s_run.returns[-100:].mean() > q_run.returns[-100:].mean()


def test_greedy_policy_and_evaluate_policy():
    """Optimal deterministic FrozenLake policy always succeeds with return 1."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    _, q_star = value_iteration(env, gamma=0.9)
    policy = greedy_policy(q_star)
    assert policy.dtype == np.int64 and policy.shape == (16,)
    assert evaluate_policy(env, policy, 20, seed=0) == (1.0, 1.0)
    assert evaluate_policy(env, lambda obs: 0, 5, seed=0) == (0.0, 0.0)


def test_evaluate_policy_matches_exact_success_probability():
    """Simulated success of the slippery optimum is within 4 SE of the exact."""
    env = gym.make("FrozenLake-v1")
    policy = greedy_policy(value_iteration(env, gamma=0.99)[1])
    exact = success_probability(env, policy)
    _, success = evaluate_policy(env, policy, 2000, seed=0)
    assert abs(success - exact) < 4 * math.sqrt(exact * (1 - exact) / 2000)


def test_cliff_walking_success_counts_goal():
    """On CliffWalking reaching the goal (reward -1, terminated) is a success."""
    env = gym.make("CliffWalking-v1")
    policy = greedy_policy(value_iteration(env, gamma=1.0)[1])
    assert evaluate_policy(env, policy, 3, seed=0) == (-13.0, 1.0)


# ---------------------------------------------------------------- bad input
def test_non_discrete_spaces_raise_type_error_naming_the_space():
    """CartPole's Box observation space is named in the TypeError."""
    env = gym.make("CartPole-v1")
    for call in (
        lambda: value_iteration(env, 0.9),
        lambda: q_learning(env, 1, 0.1, 0.9, 0.1),
        lambda: sarsa(env, 1, 0.1, 0.9, 0.1),
        lambda: evaluate_policy(env, lambda obs: 0, 1),
        lambda: discrete_sizes(env),
    ):
        with pytest.raises(TypeError, match="Box"):
            call()


def test_env_without_transition_table_raises():
    """value_iteration needs env.unwrapped.P."""
    env = TableEnv({0: {0: [(1.0, 0, 0.0, True)]}})
    del env.P
    with pytest.raises(TypeError, match="transition table"):
        value_iteration(env, 0.9)


@pytest.mark.parametrize("learner", [q_learning, sarsa])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"gamma": -0.01}, "gamma"),
        ({"gamma": 1.01}, "gamma"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"epsilon": 1.1}, "epsilon"),
        ({"epsilon": linear_schedule(1.0, 2.0, 5)}, "epsilon"),
        ({"episodes": -1}, "episodes"),
        ({"episodes": 0}, "episodes"),
        ({"q_init": np.zeros((3, 3))}, "q_init"),
        ({"snapshot_every": 0}, "snapshot_every"),
    ],
)
def test_bad_learner_arguments_raise_value_error(learner, kwargs, match):
    """Out-of-range alpha, gamma, epsilon, episodes, q_init: ValueError."""
    arguments = {"episodes": 20, "alpha": 0.1, "gamma": 0.9, "epsilon": 0.1}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        learner(gym.make("FrozenLake-v1"), **arguments)


def test_bad_types_raise_type_error():
    """Non-numeric alpha and non-int episodes: TypeError."""
    env = gym.make("FrozenLake-v1")
    with pytest.raises(TypeError, match="alpha"):
        q_learning(env, 10, "0.1", 0.9, 0.1)
    with pytest.raises(TypeError, match="episodes"):
        q_learning(env, 10.0, 0.1, 0.9, 0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda env: value_iteration(env, 1.5), "gamma"),
        (lambda env: value_iteration(env, 0.9, tol=0), "tol"),
        (lambda env: evaluate_policy(env, np.zeros(3, dtype=int), 1), "policy"),
        (lambda env: evaluate_policy(env, np.zeros(16, dtype=int), -2), "episodes"),
        (lambda env: greedy_policy(np.zeros(4)), "2-D"),
        (lambda env: linear_schedule(1.0, 0.0, 0), "duration"),
        (lambda env: exponential_schedule(1.0, 0.0, 0.0), "decay"),
        (lambda env: exponential_schedule(1.0, 0.0, 1.5), "decay"),
        (lambda env: linear_schedule(float("nan"), 0.0, 5), "start"),
    ],
)
def test_other_bad_input_raises_value_error(call, match):
    """Bad gamma/tol, wrong-shape policies, bad schedules: ValueError."""
    with pytest.raises(ValueError, match=match):
        call(gym.make("FrozenLake-v1"))


def test_value_iteration_reports_non_convergence():
    """gamma 1 with a reward loop that never ends: RuntimeError, not a hang."""
    env = TableEnv({0: {0: [(1.0, 0, 1.0, False)]}})
    with pytest.raises(RuntimeError, match="did not converge"):
        value_iteration(env, 1.0, max_iterations=100)


# ------------------------------------------------ the best within a time limit
def shortcut_mdp() -> TableEnv:
    """s0: a0 'risky' (goal or hole, 1/2 each) or a1 'safe' (s1 or stay, 1/2
    each); s1: the goal in one step. s2 goal (+1), s3 hole: both terminal."""
    goal, hole = (2, 1.0, True), (3, 0.0, True)
    loop = {0: [(1.0, 2, 1.0, True)], 1: [(1.0, 3, 0.0, True)]}
    return TableEnv(
        {
            0: {
                0: [(0.5, *goal), (0.5, *hole)],
                1: [(0.5, 1, 0.0, False), (0.5, 0, 0.0, False)],
            },
            1: {0: [(1.0, *goal)], 1: [(1.0, *goal)]},
            2: loop,
            3: loop,
        }
    )


def test_best_success_probability_of_a_hand_checked_shortcut():
    """Risky with 1 step left, safe before: 1/2, 3/4, 7/8; fixed policies 1/2."""
    from qlearn_lite.tabular import best_success_probability

    env = shortcut_mdp()
    # B_1(s0) = max(1/2, 0); B_k(s0) = max(1/2, 1/2 * 1 + 1/2 * B_{k-1}(s0)).
    best = [best_success_probability(env, horizon) for horizon in (1, 2, 3)]
    assert best == pytest.approx([0.5, 0.75, 0.875])
    risky, safe = np.zeros(4, dtype=np.int64), np.ones(4, dtype=np.int64)
    # No fixed policy does as well with 2 steps: it is risky or safe at both.
    assert success_probability(env, risky, horizon=2) == pytest.approx(0.5)
    assert success_probability(env, safe, horizon=2) == pytest.approx(0.5)


def test_best_success_probability_on_frozenlake():
    """4x4: above the gamma-optimal policy's 0.7402 within 100 steps, and the
    chance of ever reaching the goal (gamma = 1, V*(start)) without a limit."""
    from qlearn_lite.tabular import best_success_probability

    env = gym.make("FrozenLake-v1")
    _, Q = value_iteration(env, gamma=0.99)
    best = best_success_probability(env)  # the env's limit, 100 steps
    assert success_probability(env, greedy_policy(Q)) < best < 0.76
    assert best == best_success_probability(env, horizon=100)
    V_eventually, _ = value_iteration(env, gamma=1.0)
    assert best_success_probability(env, horizon=5_000) == pytest.approx(
        V_eventually[0], abs=1e-6
    )
    assert best_success_probability(env, horizon=5) == 0.0  # the goal is 6 away
    with pytest.raises(ValueError, match="horizon"):
        best_success_probability(env, horizon=0)


# ------------------------------------------------------------- hostile input
LAKE = gym.make("FrozenLake-v1")
RNG = np.random.default_rng(0)
TRAIN = dict(episodes=2, alpha=0.1, gamma=0.9, epsilon=0.1, progress=False)


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: tabular.discrete_sizes("lake"), TypeError, "Gymnasium env"),
        (lambda: tabular.transition_table(gym.make("CartPole-v1")), TypeError, "Box"),
        (lambda: tabular.terminal_states(None), TypeError, "Gymnasium env"),
        (lambda: tabular.value_iteration(LAKE, 1.5), ValueError, "gamma"),
        (lambda: tabular.transition_table(TableEnv({0: {0: [(1.0, 3, 0.0, True)]}})),
         ValueError, r"next state outside \[0, 1\)"),
        (lambda: tabular.transition_table(TableEnv(
            {0: {0: [(1.5, 0, 0.0, True), (-0.5, 0, 0.0, True)]}})), ValueError,
         "probability that is negative"),
        (lambda: tabular.value_iteration(
            TableEnv({0: {0: [(1.0, 0, math.nan, True)]}}), 0.9), ValueError,
         "reward that is NaN"),
        (lambda: tabular.value_iteration(LAKE, 0.9, tol=0), ValueError, "tol"),
        (lambda: tabular.value_iteration(LAKE, 0.9, tol="1"), TypeError, "tol"),
        (lambda: tabular.td_target(1.0, 0.0, False, math.nan), ValueError, "gamma"),
        (lambda: tabular.td_target(1.0, 0.0, False, "0.9"), TypeError, "gamma"),
        (lambda: tabular.q_update(0.0, 1.0, 5), ValueError, "alpha"),
        (lambda: tabular.epsilon_greedy([0, 1], 5, RNG), ValueError, "epsilon"),
        (lambda: tabular.epsilon_greedy([0, 1], math.nan, RNG), ValueError, "epsilon"),
        (lambda: tabular.epsilon_greedy([], 0.1, RNG), ValueError, "q_values"),
        (lambda: tabular.epsilon_greedy([["a"]], 0.1, RNG), ValueError, "q_values"),
        (lambda: tabular.epsilon_greedy([0, 1], 0.1, 0), TypeError, "rng"),
        (lambda: tabular.linear_schedule(1, math.nan, 10), ValueError, "end"),
        (lambda: tabular.LinearSchedule(1.0, 0.0, 0), ValueError, "duration"),
        (lambda: tabular.ExponentialSchedule(1.0, 0.0, 2.0), ValueError, "decay"),
        (lambda: tabular.exponential_schedule(1, 0, 0), ValueError, "decay"),
        (lambda: tabular.q_learning(LAKE, **TRAIN, q_init=math.nan), ValueError,
         "q_init must be finite"),
        (lambda: tabular.q_learning(LAKE, **TRAIN, q_init=math.inf), ValueError,
         "q_init must be finite"),
        (lambda: tabular.sarsa(LAKE, **TRAIN, q_init=np.full((16, 4), np.inf)),
         ValueError, "non-finite"),
        (lambda: tabular.q_learning(LAKE, **TRAIN, q_init="high"), TypeError,
         "q_init"),
        (lambda: tabular.q_learning(LAKE, **TRAIN, q_init=np.zeros(3)), ValueError,
         r"got shape \(3,\)"),
        (lambda: tabular.q_learning(LAKE, **TRAIN | {"epsilon": lambda t: 5.0}),
         ValueError, "epsilon \\(schedule at episode 0\\)"),
        (lambda: tabular.sarsa(LAKE, **TRAIN | {"epsilon": lambda t: math.nan}),
         ValueError, "epsilon \\(schedule"),
        (lambda: tabular.q_learning(LAKE, **TRAIN, seed=2**64), ValueError, "seed"),
        (lambda: tabular.q_learning(LAKE, **TRAIN | {"alpha": 0}), ValueError,
         "alpha"),
        (lambda: tabular.greedy_policy(np.full((2, 2), np.nan)), ValueError, "NaN"),
        (lambda: tabular.greedy_policy([["a", "b"]]), TypeError, "numbers"),
        (lambda: tabular.greedy_policy(np.zeros(4)), ValueError, "2-D"),
        (lambda: tabular.evaluate_policy(LAKE, np.full(16, 7), 1), ValueError,
         r"actions in \[0, 4\), got 7"),
        (lambda: tabular.evaluate_policy(LAKE, np.full(16, -1), 1), ValueError,
         r"actions in \[0, 4\), got -1"),
        (lambda: tabular.evaluate_policy(LAKE, lambda s: 7, 1), ValueError,
         r"policy must return an int action in \[0, 4\), got 7"),
        (lambda: tabular.evaluate_policy(LAKE, lambda s: 1.7, 1), ValueError,
         "got 1.7"),
        (lambda: tabular.evaluate_policy(LAKE, np.zeros(16, int), 1, seed=-1),
         ValueError, "seed"),
        (lambda: tabular.evaluate_policy(LAKE, np.zeros(16, int), 0), ValueError,
         "episodes"),
        (lambda: tabular.success_probability(LAKE, np.full(16, 7)), ValueError,
         r"actions in \[0, 4\)"),
        (lambda: tabular.q_learning(LAKE, **TRAIN | {"episodes": 10**15}),
         ValueError, "the records of 1000000000000000 episodes needs"),
        (lambda: tabular.success_probability(LAKE, np.zeros(16), 10), ValueError,
         "int array"),
    ],
)  # fmt: skip
def test_tabular_rejects_hostile_input(call, error, phrase):
    """Every public name raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_tabular_learners_accept_numpy_scalars():
    """np.int64 and np.float32 arguments train exactly like Python numbers."""
    args = (LAKE, 20, 0.5, 0.875, 0.25)
    expected = tabular.q_learning(*args, seed=3, progress=False).q
    got = tabular.q_learning(
        LAKE,
        np.int64(20),
        np.float32(0.5),
        np.float64(0.875),
        np.float32(0.25),
        seed=np.int64(3),
        q_init=np.float32(0.0),
        progress=False,
    ).q
    np.testing.assert_array_equal(got, expected)


def test_success_probability_stops_at_its_fixed_point():
    """A huge horizon does not loop: the exact chance stops changing."""
    lake = gym.make("FrozenLake-v1", is_slippery=False)
    _, q_star = tabular.value_iteration(lake, 0.9)
    policy = tabular.greedy_policy(q_star)
    assert tabular.success_probability(lake, policy, horizon=10**15) == 1.0
    assert tabular.success_probability(lake, policy, horizon=5) == 0.0


def test_evaluate_policy_caps_an_env_without_time_limit():
    """A policy that never ends an unwrapped lake stops at 10_000 steps."""
    # Action 0 (left) in the corner of the non-slippery lake: stuck forever.
    lake = gym.make("FrozenLake-v1", is_slippery=False).unwrapped
    assert tabular.evaluate_policy(lake, np.zeros(16, np.int64), 2) == (0.0, 0.0)
