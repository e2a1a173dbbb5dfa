"""Tests of qlearn_lite.exercises: right answers pass, each mistake is named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qlearn_lite import exercises
from qlearn_lite.exercises import (
    EXERCISES,
    SOLUTIONS,
    check_epsilon_greedy,
    check_q_learning_update,
    check_sarsa_update,
    show_solution,
)
from qlearn_lite.tabular import epsilon_greedy


def solution(name: str):
    """The reference solution, defined from the text show_solution prints."""
    namespace = {"np": np, "torch": torch}
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
        (q_stub, "not attempted"),
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


def test_sarsa_checker_names_a_bootstrap_through_a_terminal(capsys):
    """A SARSA update that ignores terminated is named as such."""

    def sarsa_ignores_terminated(Q, s, a, r, next_s, next_a, terminated, alpha, gamma):
        Q[s, a] += alpha * (r + gamma * Q[next_s, next_a] - Q[s, a])

    assert check_sarsa_update(sarsa_ignores_terminated) is False
    assert "although terminated=True" in capsys.readouterr().out


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


def eg_minus_one(q_values, epsilon, rng):
    return -1


def eg_huge(q_values, epsilon, rng):
    return 10**9


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (eg_minus_one, "you returned action -1, but there are 3 actions"),
        (eg_huge, "you returned action 1000000000, but there are 3 actions"),
    ],
)
def test_epsilon_greedy_out_of_range_actions_get_a_sentence(function, message, capsys):
    """An action of -1 or 10**9 is named, not an IndexError or a huge bincount."""
    assert check_epsilon_greedy(function) is False
    out = capsys.readouterr().out
    assert message in out
    assert out.count("\n") == 1


def test_epsilon_greedy_stub_is_not_attempted(capsys):
    """A stub of epsilon-greedy is reported as not attempted."""

    def my_epsilon_greedy(q_values, epsilon, rng):
        raise NotImplementedError("exercise 02-2: epsilon-greedy")

    assert check_epsilon_greedy(my_epsilon_greedy) is False
    assert "not attempted" in capsys.readouterr().out


# ================================================== the later notebooks
CHECKERS = {
    exercise.key: getattr(exercises, exercise.checker) for exercise in EXERCISES
}


def run_check(key: str, function) -> tuple[bool, str]:
    """Run the checker of exercise ``key``; return its verdict and its output."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        passed = CHECKERS[key](function)
    return passed, buffer.getvalue()


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_reference_solution_passes(exercise):
    """Each exercise's reference solution passes its checker, in one line."""
    passed, out = run_check(exercise.key, solution(exercise.name))
    assert passed is True, out
    assert out.startswith("✓") and out.count("\n") == 1


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_stub_is_not_attempted(exercise):
    """A stub raising NotImplementedError gets "not attempted", not a crash."""

    def stub(*args):
        raise NotImplementedError(f"exercise {exercise.key}: {exercise.name}")

    stub.__name__ = exercise.name
    passed, out = run_check(exercise.key, stub)
    assert passed is False
    assert out == (
        f"✗ not attempted: replace `raise NotImplementedError` in {exercise.name} "
        "with your code.\n"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
@pytest.mark.parametrize(
    "answer",
    [lambda *args: None, lambda *args: "nonsense", lambda *args: 1 / 0],
    ids=["None", "a string", "ZeroDivisionError"],
)
def test_bad_answers_get_one_sentence(exercise, answer):
    """Nonsense answers fail with one line of output, never an exception."""
    passed, out = run_check(exercise.key, answer)
    assert passed is False
    assert out.startswith("✗") and out.count("\n") == 1, out


def test_a_non_function_is_named():
    """Passing something that is not a function is reported."""
    passed, out = run_check("05-1", 3)
    assert passed is False and "pass your function itself" in out


def wrong(key: str, body: str, **extra):
    """A wrong answer to exercise ``key``: its signature with ``body``."""
    exercise = next(e for e in EXERCISES if e.key == key)
    namespace = {"np": np, "torch": torch, **extra}
    exec(f"{exercise.signature}\n{body}", namespace)
    return namespace[exercise.name]


WRONG_ANSWERS = [
    # 01-1 policy evaluation
    (
        "01-1",
        """\
    V = np.zeros(len(policy))
    for _ in range(2000):
        V = (R + gamma * P @ V).max(axis=1)
    return V
""",
        "value iteration's V*",
    ),
    (
        "01-1",
        """\
    states = np.arange(len(policy))
    return R[states, policy]
""",
        "you stopped after one sweep",
    ),
    (
        "01-1",
        """\
    states = np.arange(len(policy))
    return np.linalg.solve(np.eye(len(policy)) - P[states, policy], R[states, policy])
""",
        "you left out gamma",
    ),
    # 01-2 one Bellman backup
    ("01-2", "    return (R + gamma * P @ V).max(axis=1)\n", "shape (4, 2)"),
    ("01-2", "    return R + P @ V\n", "you left out gamma"),
    (
        "01-2",
        "    return R + gamma * np.where(P.sum(axis=2) > 0, V.max(), 0.0)\n",
        "instead of the expectation",
    ),
    # 03-2 a linear epsilon schedule
    (
        "03-2",
        "    return start + (t / duration) * (end - start)\n",
        "clamp at end from t = duration on",
    ),
    (
        "03-2",
        "    return max(start * (1 - t / duration), 0.0)\n",
        "you decreased from start to 0",
    ),
    (
        "03-2",
        "    return start + min(t / (duration - 1), 1.0) * (end - start)\n",
        "you divided by duration - 1",
    ),
    # 04-1 the ring buffer's add
    (
        "04-1",
        """\
    slots[position] = value
    return position + 1, min(size + 1, len(slots))
""",
        "expected 0: wrap it around with % capacity",
    ),
    (
        "04-1",
        """\
    slots[position] = value
    return (position + 1) % len(slots), size + 1
""",
        "size stops growing at capacity",
    ),
    (
        "04-1",
        """\
    slots[position] = value
    return (position + 1) % len(slots), min(size, len(slots))
""",
        "you returned size 0, expected 1",
    ),
    # 04-2 the ring buffer's sample
    (
        "04-2",
        """\
    if size == 0:
        raise ValueError("empty")
    return rng.integers(capacity, size=batch_size)
""",
        "sample from range(size), not range(capacity)",
    ),
    (
        "04-2",
        """\
    if size == 0:
        raise ValueError("empty")
    return rng.integers(max(size - 1, 1), size=batch_size)
""",
        "the newest, was never sampled",
    ),
    (
        "04-2",
        "    return rng.choice(size, size=batch_size, replace=False)\n",
        "your function raised ValueError with size 3",
    ),
    (
        "04-2",
        "    return np.random.randint(size, size=batch_size)\n",  # noqa: NPY002
        "not from np.random",
    ),
    (
        "04-2",
        "    return rng.integers(max(size, 1), size=batch_size)\n",
        "sampling an empty buffer (size 0) returned",
    ),
    # 05-1 the TD target
    (
        "05-1",
        "    return (rewards + gamma * next_q.max(dim=1).values).detach()\n",
        "you forgot (1 - terminated)",
    ),
    (
        "05-1",
        "    best = next_q.max(dim=1).values.detach()\n"
        "    return rewards + gamma * terminated * best\n",
        "instead of (1 - terminated)",
    ),
    (
        "05-1",
        "    return rewards + gamma * (1 - terminated) * next_q.max(dim=1).values\n",
        "carries a gradient",
    ),
    (
        "05-1",
        """\
    best = next_q.max(dim=1, keepdim=True).values.detach()
    return rewards[:, None] + gamma * (1 - terminated[:, None]) * best
""",
        "no keepdim",
    ),
    # 05-2 the n-step target
    (
        "05-2",
        """\
    target, discount = 0.0, 1.0
    for reward, term, trunc, next_value in zip(
        rewards, terminated, truncated, next_values, strict=True
    ):
        target += discount * reward
        discount *= gamma
        if term or trunc:  # "done": bootstraps at a terminal step too
            return target + discount * next_value
    return target + discount * next_value
""",
        "you bootstrapped through the terminal step",
    ),
    (
        "05-2",
        """\
    target, discount = 0.0, 1.0
    for reward, term, trunc in zip(rewards, terminated, truncated, strict=True):
        target += discount * reward
        discount *= gamma
        if term or trunc:
            return target
    return target + discount * next_values[-1]
""",
        "you treated the truncated step as terminal",
    ),
    (
        "05-2",
        """\
    target = sum(gamma**i * r for i, r in enumerate(rewards))
    if terminated[-1]:
        return target
    return target + gamma ** len(rewards) * next_values[-1]
""",
        "you summed rewards past the episode's end",
    ),
    # 06-1 double DQN
    (
        "06-1",
        "    best = next_q_target.max(dim=1).values\n"
        "    return rewards + gamma * (1 - terminated) * best\n",
        "which is plain DQN",
    ),
    (
        "06-1",
        """\
    best = next_q_target.argmax(dim=1, keepdim=True)
    value = next_q_online.gather(1, best).squeeze(1)
    return rewards + gamma * (1 - terminated) * value
""",
        "it is the other way round",
    ),
    (
        "06-1",
        """\
    best = next_q_online.argmax(dim=1, keepdim=True)
    return rewards + gamma * next_q_target.gather(1, best).squeeze(1)
""",
        "you forgot (1 - terminated)",
    ),
    # 06-2 the Polyak update
    (
        "06-2",
        """\
    with torch.no_grad():
        for target, online in zip(target_params, online_params, strict=True):
            target.mul_(tau).add_((1 - tau) * online)
""",
        "you swapped the weights",
    ),
    (
        "06-2",
        """\
    for target, online in zip(target_params, online_params, strict=True):
        target = tau * online + (1 - tau) * target
""",
        "did not change: update them in place",
    ),
    (
        "06-2",
        """\
    for target, online in zip(target_params, online_params, strict=True):
        target.mul_(1 - tau).add_(tau * online)
""",
        "your function raised RuntimeError with tau 0.25",
    ),
    (
        "06-2",
        """\
    with torch.no_grad():
        for target, online in zip(target_params, online_params, strict=True):
            target.copy_(tau * online + (1 - tau) * target)
            online.zero_()
""",
        "changed the online network",
    ),
    # 07-1 segment returns
    (
        "07-1",
        """\
    value, returns = bootstrap, []
    for reward in reversed(rewards):
        value = reward + gamma * value
        returns.append(value)
    return returns[::-1]
""",
        "bootstrapped from a terminal segment's last state",
    ),
    (
        "07-1",
        """\
    value, returns = (0.0 if terminated else bootstrap), []
    for reward in reversed(rewards):
        value = reward + gamma * value
        returns.append(value)
    return returns
""",
        "newest first",
    ),
    (
        "07-1",
        """\
    value = 0.0 if terminated else bootstrap
    for reward in reversed(rewards):
        value = reward + gamma * value
    return value
""",
        "you returned one number",
    ),
    # 07-2 lock-free updates, counted
    (
        "07-2",
        """\
    reads, lost = {}, 0
    for worker, kind, cell in events:
        if kind == "read":
            reads[worker] = q[cell]
        else:
            reads.pop(worker)
            old = q[cell]
            q[cell] = old + alpha * (targets[worker] - old)
    return lost
""",
        "which is what a lock gives",
    ),
    (
        "07-2",
        """\
    reads, lost = {}, 0
    for worker, kind, cell in events:
        if kind == "read":
            reads[worker] = q[cell]
        else:
            old = reads.pop(worker)
            lost += q[cell] != old  # the value changed since the read
            q[cell] = old + alpha * (targets[worker] - old)
    return int(lost)
""",
        "1 update(s) were lost, you counted 0",
    ),
    # 08-1 chunks
    (
        "08-1",
        """\
    chunks, pending = [], []
    for step in steps:
        pending.append(step)
        if len(pending) == chunk_size:
            chunks.append({
                "obs": np.asarray([s["obs"] for s in pending], np.float32),
                "actions": np.asarray([s["action"] for s in pending], np.int64),
                "rewards": np.asarray([s["reward"] for s in pending], np.float32),
                "next_obs": np.asarray([s["next_obs"] for s in pending], np.float32),
                "terminated": np.asarray([s["terminated"] for s in pending], bool),
            })
            pending = []
    return chunks
""",
        "were never sent; send the partial chunk",
    ),
    (
        "08-1",
        """\
    rows = list(steps)
    chunks = []
    for start in range(0, len(rows), chunk_size):
        part = rows[start:start + chunk_size]
        chunks.append({
            "obs": [s["obs"] for s in part],
            "actions": [s["action"] for s in part],
            "rewards": [s["reward"] for s in part],
            "next_obs": [s["next_obs"] for s in part],
            "terminated": [s["terminated"] for s in part],
        })
    return chunks
""",
        "experience travels as NumPy arrays",
    ),
    (
        "08-1",
        """\
    obs = np.zeros((chunk_size, 2), np.float32)
    chunks, count, pending = [], 0, []
    for step in steps:
        obs[count] = step["obs"]
        pending.append(step)
        count += 1
        if count == chunk_size:
            chunks.append({
                "obs": obs,
                "actions": np.asarray([s["action"] for s in pending], np.int64),
                "rewards": np.asarray([s["reward"] for s in pending], np.float32),
                "next_obs": np.asarray([s["next_obs"] for s in pending], np.float32),
                "terminated": np.asarray([s["terminated"] for s in pending], bool),
            })
            count, pending = 0, []
    if pending:
        chunks.append({
            "obs": obs[:count].copy(),
            "actions": np.asarray([s["action"] for s in pending], np.int64),
            "rewards": np.asarray([s["reward"] for s in pending], np.float32),
            "next_obs": np.asarray([s["next_obs"] for s in pending], np.float32),
            "terminated": np.asarray([s["terminated"] for s in pending], bool),
        })
    return chunks
""",
        "copy it before sending",
    ),
    # 08-2 the policy lag
    (
        "08-2",
        """\
    lags = np.asarray(acted_versions) - learner_version
    return float(lags.mean()), float(lags.max())
""",
        "you subtracted the wrong way round",
    ),
    (
        "08-2",
        """\
    lags = learner_version - np.asarray(acted_versions)
    return float(lags.mean()), float(lags.min())
""",
        "comes from the oldest version in the chunk",
    ),
    (
        "08-2",
        """\
    lags = learner_version - np.asarray(acted_versions, dtype=float)
    return float(np.mean(lags)) if len(lags) else 0.0, float(np.max(lags, initial=0))
""",
        "an empty chunk returned",
    ),
    # 09-1 the collision-safe batched update
    (
        "09-1",
        """\
    q_table[states, actions] += alpha * (targets - q_table[states, actions])
""",
        "took only one of its 3 targets",
    ),
    (
        "09-1",
        """\
    flat = q_table.view(-1)
    index = states * q_table.shape[1] + actions
    flat.index_add_(0, index, alpha * (targets - flat[index]))
""",
        "moved by the sum of its 3 errors",
    ),
    (
        "09-1",
        """\
    flat = q_table.view(-1)
    index = states * q_table.shape[1] + actions
    total = torch.zeros_like(flat).index_add_(0, index, targets)
    count = torch.zeros_like(flat).index_add_(0, index, torch.ones_like(targets))
    flat.add_((total / count.clamp(min=1) - flat), alpha=alpha)
""",
        "which no transition visited",
    ),
    # 09-2 batched greedy with random ties
    ("09-2", "    return q_values.argmax(dim=1)\n", "argmax breaks ties by the lowest"),
    (
        "09-2",
        "    return torch.randint(q_values.shape[1], (q_values.shape[0],))\n",
        "greedy actions are",
    ),
    ("09-2", "    return q_values.max(dim=1).values\n", "not values"),
    (
        "09-2",
        """\
    maximal = q_values == q_values.max(dim=1, keepdim=True).values
    return torch.where(maximal, torch.rand(q_values.shape), -1.0).argmax(dim=1)
""",
        "draw the noise from the `generator` argument",
    ),
    (
        "09-2",
        "    return torch.full((q_values.shape[0],), 10**9)\n",
        "action 1000000000",
    ),
    # 10-1 a shard's update with stale rows
    (
        "10-1",
        """\
    for state, action, reward, next_state, terminated in transitions:
        source = q_local if next_state in rows else q_stale
        bootstrap = 0.0 if terminated else np.max(source[next_state])
        q_local[state, action] += alpha * (reward + gamma * bootstrap
                                           - q_local[state, action])
    return len(transitions)
""",
        "skip the transitions whose state is outside `rows`",
    ),
    (
        "10-1",
        """\
    applied = 0
    for state, action, reward, next_state, terminated in transitions:
        if state not in rows:
            continue
        bootstrap = 0.0 if terminated else np.max(q_local[next_state])
        q_local[state, action] += alpha * (reward + gamma * bootstrap
                                           - q_local[state, action])
        applied += 1
    return applied
""",
        "read other shards' rows from the stale copy",
    ),
    (
        "10-1",
        """\
    applied = 0
    for state, action, reward, next_state, terminated in transitions:
        if state not in rows:
            continue
        bootstrap = 0.0 if terminated else np.max(q_stale[next_state])
        q_local[state, action] += alpha * (reward + gamma * bootstrap
                                           - q_local[state, action])
        applied += 1
    return applied
""",
        "you read your own rows from the stale copy too",
    ),
    # 10-2 transitions per Ray call
    (
        "10-2",
        """\
    needed = call_seconds * (1 - overhead) / (overhead * transition_seconds)
    return max(int(np.floor(needed)), 1)
""",
        "you rounded down",
    ),
    (
        "10-2",
        """\
    return max(int(np.ceil(call_seconds / (overhead * transition_seconds))), 1)
""",
        "the transitions' cost alone",
    ),
    (
        "10-2",
        """\
    needed = call_seconds * (1 - overhead) / (overhead * transition_seconds)
    return float(np.ceil(needed))
""",
        "return a whole number of transitions",
    ),
    # 11-1 predict the scaling figure
    (
        "11-1",
        "    return min(n_actors, max(cores - 1, 1)) / actor_seconds\n",
        "without the learner's limit",
    ),
    (
        "11-1",
        "    return min(n_actors / actor_seconds, 1 / learner_seconds)\n",
        "you gave every actor a core of its own",
    ),
    (
        "11-1",
        """\
    produced = min(n_actors, max(cores - 1, 1)) / actor_seconds
    return min(produced, 1 / learner_seconds)
""",
        "on one core actors and learner take turns",
    ),
    # 11-2 honest speed-up ratios
    (
        "11-2",
        "    rates = steps_per_second\n"
        "    return {n: rates[1] / r for n, r in rates.items()}\n",
        "you divided 1 worker by n workers",
    ),
    (
        "11-2",
        """\
    best = max(steps_per_second.values())
    return {n: rate / best for n, rate in steps_per_second.items()}
""",
        "you divided by the fastest run",
    ),
    (
        "11-2",
        "    rates = steps_per_second\n"
        "    return {n: r / rates[1] for n, r in rates.items()}\n",
        "a ratio of 3.1 on 2 cores means miscounted steps",
    ),
    (
        "11-2",
        """\
    base = steps_per_second.get(1, min(steps_per_second.values()))
    ratios = {n: r / base for n, r in steps_per_second.items()}
    if max(ratios.values()) > cores:
        raise ValueError("miscounted")
    return ratios
""",
        "without a 1-worker run there is no reference",
    ),
]


@pytest.mark.parametrize(
    ("key", "body", "message"),
    WRONG_ANSWERS,
    ids=[f"{key}-{i}" for i, (key, _, _) in enumerate(WRONG_ANSWERS)],
)
def test_typical_wrong_answer_is_named(key, body, message):
    """Each typical wrong answer fails, in one line that names the mistake."""
    # Some wrong answers draw from torch's global stream (random actions): a
    # fixed seed keeps them from landing on the right answer by chance.
    torch.manual_seed(0)
    passed, out = run_check(key, wrong(key, body))
    assert passed is False
    assert message in out, out
    assert out.startswith("✗") and out.count("\n") == 1, out


def test_every_exercise_has_two_wrong_answers_tested():
    """The tests above feed every checker at least two typical wrong answers."""
    counts = {exercise.key: 0 for exercise in EXERCISES}
    for key, _, _ in WRONG_ANSWERS:
        counts[key] += 1
    assert min(counts.values()) >= 2, counts


def test_checker_validates_before_allocating():
    """A sample of 10**9 indices is checked against size before any bincount."""
    passed, out = run_check(
        "04-2",
        wrong(
            "04-2",
            """\
    if size == 0:
        raise ValueError("empty")
    return np.full(batch_size, 10**9)
""",
        ),
    )
    assert passed is False and "you returned slot 1000000000" in out


def test_predicted_steps_per_second_values():
    """The scaling model: learner-bound, core-bound and one-core cases."""
    from qlearn_lite.exercises import predicted_steps_per_second

    assert predicted_steps_per_second(1, 0.004, 0.001, 8) == pytest.approx(250.0)
    assert predicted_steps_per_second(6, 0.004, 0.001, 8) == pytest.approx(1000.0)
    assert predicted_steps_per_second(6, 0.004, 0.0005, 4) == pytest.approx(750.0)
    assert predicted_steps_per_second(2, 0.004, 0.001, 1) == pytest.approx(200.0)


def test_show_solution_knows_every_exercise(capsys):
    """show_solution prints the solution of every registered exercise."""
    for exercise in EXERCISES:
        show_solution(exercise.name)
        assert f"def {exercise.name}(" in capsys.readouterr().out
