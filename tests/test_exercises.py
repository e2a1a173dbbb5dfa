"""Tests of qlearn_lite.exercises: right answers pass, each mistake is named."""

from __future__ import annotations

import numpy as np
import pytest

from qlearn_lite.exercises import (
    SOLUTIONS,
    check_epsilon_greedy,
    check_q_learning_update,
    check_sarsa_update,
    show_solution,
)
from qlearn_lite.tabular import epsilon_greedy


def solution(name: str):
    """The reference solution, defined from the text show_solution prints."""
    namespace = {"np": np}
    exec(SOLUTIONS[name], namespace)
    return namespace[name]


# ------------------------------------------------------------ Q-learning
def q_stub(Q, state, action, reward, next_state, terminated, alpha, gamma):
    raise NotImplementedError


def q_done_bug(Q, state, action, reward, next_state, terminated, alpha, gamma):
    Q[state, action] += alpha * (
        reward + gamma * Q[next_state].max() - Q[state, action]
    )


def q_same_action(Q, state, action, reward, next_state, terminated, alpha, gamma):
    bootstrap = 0.0 if terminated else Q[next_state, action]
    Q[state, action] += alpha * (reward + gamma * bootstrap - Q[state, action])


def q_no_alpha(Q, state, action, reward, next_state, terminated, alpha, gamma):
    Q[state, action] = reward + gamma * (0.0 if terminated else Q[next_state].max())


def q_returns(Q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward + gamma * (0.0 if terminated else Q[next_state].max())
    return Q[state, action] + alpha * (target - Q[state, action])


def q_touches_row(Q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward + gamma * (0.0 if terminated else Q[next_state].max())
    Q[state] += alpha * (target - Q[state])


def q_crashes(Q, state, action, reward, next_state, terminated, alpha, gamma):
    return Q[state, action, 0]


def test_reference_solutions_pass(capsys):
    """The printed solutions and the package's epsilon_greedy pass their checkers."""
    assert check_q_learning_update(solution("q_learning_update"))
    assert check_sarsa_update(solution("sarsa_update"))
    assert check_epsilon_greedy(solution("epsilon_greedy"))
    assert check_epsilon_greedy(epsilon_greedy)
    assert "✗" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (q_stub, "not implemented yet"),
        (q_done_bug, "although terminated=True"),
        (q_same_action, "the same action in the next state"),
        (q_no_alpha, "ignored alpha"),
        (q_returns, "did not change Q"),
        (q_touches_row, "you also changed Q[1, 1]"),
        (q_crashes, "raised IndexError"),
    ],
)
def test_q_learning_mistakes_are_named(function, message, capsys):
    """Each common mistake fails with a message that names it."""
    assert check_q_learning_update(function) is False
    assert message in capsys.readouterr().out


def test_sarsa_checker_names_the_q_learning_target(capsys):
    """Using max in SARSA is reported as Q-learning's target."""

    def sarsa_with_max(Q, s, a, r, next_s, next_a, terminated, alpha, gamma):
        bootstrap = 0.0 if terminated else Q[next_s].max()
        Q[s, a] += alpha * (r + gamma * bootstrap - Q[s, a])

    assert check_sarsa_update(sarsa_with_max) is False
    assert "Q-learning's target" in capsys.readouterr().out


# -------------------------------------------------------- epsilon-greedy
def eg_argmax(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return int(np.argmax(q_values))


def eg_inverted(q_values, epsilon, rng):
    if rng.random() > epsilon:
        return int(rng.integers(len(q_values)))
    return int(rng.choice(np.flatnonzero(q_values == q_values.max())))


def eg_global_random(q_values, epsilon, rng):
    if np.random.random() < epsilon:  # noqa: NPY002 (the mistake under test)
        return int(np.random.randint(len(q_values)))  # noqa: NPY002
    return int(rng.choice(np.flatnonzero(q_values == q_values.max())))


def eg_explores_non_greedy(q_values, epsilon, rng):
    best = np.flatnonzero(q_values == q_values.max())
    if rng.random() < epsilon:
        others = [a for a in range(len(q_values)) if a not in best]
        return int(rng.choice(others or best))
    return int(rng.choice(best))


def eg_returns_value(q_values, epsilon, rng):
    return q_values.max()


def eg_modifies(q_values, epsilon, rng):
    action = int(rng.choice(np.flatnonzero(q_values == q_values.max())))
    if rng.random() < epsilon:
        action = int(rng.integers(len(q_values)))
    q_values[action] += 1.0  # e.g. a "visit count" kept in the wrong array
    return action


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (eg_argmax, "np.argmax returns the *first* maximum"),
        (eg_inverted, "is the test inverted"),
        (eg_global_random, "not from np.random"),
        (eg_explores_non_greedy, "the greedy one included"),
        (eg_returns_value, "return its index"),
        (eg_modifies, "changed q_values"),
    ],
)
def test_epsilon_greedy_mistakes_are_named(function, message, capsys):
    """Each common epsilon-greedy mistake fails with a message naming it."""
    assert check_epsilon_greedy(function) is False
    assert message in capsys.readouterr().out


def test_checker_restores_global_random_state():
    """Checking reseeds NumPy's global state only temporarily."""
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    check_epsilon_greedy(epsilon_greedy)
    assert np.random.random() == expected  # noqa: NPY002


def test_show_solution_prints_and_rejects_unknown(capsys):
    """show_solution prints code; an unknown name is a ValueError."""
    show_solution("q_learning_update")
    assert "def q_learning_update" in capsys.readouterr().out
    with pytest.raises(ValueError, match="epsilon_greedy"):
        show_solution("nope")
