"""Checkers for the exercises of notebooks 02 and 03.

Each ``check_*`` function runs the learner's function on small cases with
known answers and prints, for the first case that fails, what was expected,
what came back and which common mistake that looks like. It returns ``True``
when everything passes. Solutions are printed by :func:`show_solution` only
when asked (Spinning Up's exercise style: a stub, a checker, a hidden answer).

=========================  ==================================================
exercise                   the learner writes
=========================  ==================================================
``q_learning_update``      ``f(Q, state, action, reward, next_state,
                           terminated, alpha, gamma)``, updating ``Q`` in place
``epsilon_greedy``         ``f(q_values, epsilon, rng) -> int`` with random
                           tie-breaking among maximal actions
``sarsa_update``           ``f(Q, state, action, reward, next_state,
                           next_action, terminated, alpha, gamma)``, in place
=========================  ==================================================
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "check_epsilon_greedy",
    "check_q_learning_update",
    "check_sarsa_update",
    "show_solution",
]

PASS, FAIL = "✓", "✗"

SOLUTIONS = {
    "q_learning_update": """\
def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
    # Nothing follows a terminal state: bootstrap only if not terminated.
    # (A truncated transition is *not* terminated, so it bootstraps.)
    next_value = 0.0 if terminated else np.max(Q[next_state])
    target = reward + gamma * next_value
    Q[state, action] += alpha * (target - Q[state, action])
""",
    "epsilon_greedy": """\
def epsilon_greedy(q_values, epsilon, rng):
    if rng.random() < epsilon:  # explore: any action, the greedy one included
        return int(rng.integers(len(q_values)))
    best = np.flatnonzero(q_values == np.max(q_values))  # every maximal action
    return int(rng.choice(best))  # break ties at random
""",
    "sarsa_update": """\
def sarsa_update(Q, state, action, reward, next_state, next_action, terminated,
                 alpha, gamma):
    # On-policy: bootstrap from the action the agent will actually take next.
    next_value = 0.0 if terminated else Q[next_state, next_action]
    target = reward + gamma * next_value
    Q[state, action] += alpha * (target - Q[state, action])
""",
}


def show_solution(exercise: str) -> None:
    """Print the reference solution of ``exercise`` (try it yourself first)."""
    if exercise not in SOLUTIONS:
        raise ValueError(
            f"exercise must be one of {sorted(SOLUTIONS)}, got {exercise!r}"
        )
    print(SOLUTIONS[exercise])


def _call(function: Callable, *args):
    """Run the learner's function; report a missing or crashing one."""
    try:
        return True, function(*args)
    except NotImplementedError:
        print(
            f"{FAIL} not implemented yet: replace `raise NotImplementedError` in "
            f"{getattr(function, '__name__', 'your function')} with your code."
        )
    except Exception as error:  # the learner's bug, shown, not raised
        print(f"{FAIL} your function raised {type(error).__name__}: {error}")
    return False, None


# ------------------------------------------------------------ TD updates
@dataclass(frozen=True)
class _Case:
    name: str
    row_s: tuple[float, ...]  # Q[state] before
    row_next: tuple[float, ...]  # Q[next_state] before (ignored if same state)
    action: int
    reward: float
    next_action: int
    terminated: bool
    alpha: float
    gamma: float
    same_state: bool = False


_CASES = (
    _Case(
        "an ordinary step", (0.5, 0.2, 0.0), (0.0, 2.0, 1.0), 0, 1.0, 2, False, 0.5, 0.9
    ),
    _Case(
        "a terminal step", (0.5, 0.2, 0.0), (0.0, 2.0, 1.0), 0, 1.0, 2, True, 0.5, 0.9
    ),
    _Case("alpha = 1", (0.5, 0.2, 0.0), (0.0, 2.0, 1.0), 1, -1.0, 0, False, 1.0, 0.5),
    _Case("gamma = 0", (0.5, 0.2, 0.0), (3.0, 2.0, 1.0), 2, 0.25, 1, False, 0.1, 0.0),
    _Case(
        "a step back to the same state",
        (1.0, 5.0, 0.0),
        (),
        1,
        0.0,
        0,
        False,
        0.5,
        0.9,
        True,
    ),
)


def _build(case: _Case) -> tuple[np.ndarray, int, int]:
    Q = np.zeros((4, 3))
    state, next_state = 1, 1 if case.same_state else 3
    Q[state] = case.row_s
    if not case.same_state:
        Q[next_state] = case.row_next
    Q[0] = (7.0, -7.0, 0.5)  # untouched rows must stay untouched
    return Q, state, next_state


def _variants(case: _Case, Q: np.ndarray, state: int, next_state: int, sarsa: bool):
    """Expected new value and the values common mistakes would give."""
    old = Q[state, case.action]
    best = float(np.max(Q[next_state]))
    taken = float(Q[next_state, case.next_action])
    right = taken if sarsa else best
    bootstrap = 0.0 if case.terminated else right
    target = case.reward + case.gamma * bootstrap

    def blend(tgt: float) -> float:
        return old + case.alpha * (tgt - old)

    expected = blend(target)
    mistakes = {
        "you bootstrapped from Q(s') although terminated=True: nothing follows a "
        "terminal state, so the target is just the reward": blend(
            case.reward + case.gamma * right
        ),
        "you replaced Q(s, a) by the target and ignored alpha; move only a "
        "fraction alpha of the way: Q + alpha * (target - Q)": target,
        "you computed alpha * target and forgot the old value: "
        "Q(s, a) + alpha * (target - Q(s, a))": case.alpha * target,
        "you added alpha * target to Q without subtracting Q(s, a) inside the "
        "brackets: alpha * (target - Q(s, a))": old + case.alpha * target,
        "you left out gamma: the future is discounted, target = r + gamma * ...": blend(
            case.reward + bootstrap
        ),
    }
    if sarsa:
        mistakes[
            "you used max_a' Q(s', a'), which is Q-learning's target; SARSA "
            "bootstraps from Q(s', a') for the next action actually taken"
        ] = blend(case.reward + case.gamma * (0.0 if case.terminated else best))
    else:
        mistakes[
            "you used Q(s', a) (the same action in the next state) instead of the "
            "best next action max_a' Q(s', a')"
        ] = blend(
            case.reward
            + case.gamma * (0.0 if case.terminated else Q[next_state, case.action])
        )
        mistakes[
            "you used the smallest next value; Q-learning bootstraps from "
            "max_a' Q(s', a')"
        ] = blend(
            case.reward
            + case.gamma * (0.0 if case.terminated else float(np.min(Q[next_state])))
        )
    return expected, mistakes


def _check_update(function: Callable, sarsa: bool) -> bool:
    for case in _CASES:
        Q, state, next_state = _build(case)
        before = Q.copy()
        expected, mistakes = _variants(case, before, state, next_state, sarsa)
        args = [Q, state, case.action, case.reward, next_state]
        if sarsa:
            args.append(case.next_action)
        args += [case.terminated, case.alpha, case.gamma]
        ok, returned = _call(function, *args)
        if not ok:
            return False
        new = float(Q[state, case.action])
        where = f"Q[{state}, {case.action}]"
        setting = (
            f"Q[{state}] = {before[state].tolist()}, "
            + (
                ""
                if case.same_state
                else f"Q[{next_state}] = {before[next_state].tolist()}, "
            )
            + f"action {case.action}, reward {case.reward}, "
            + (f"next_action {case.next_action}, " if sarsa else "")
            + f"terminated={case.terminated}, alpha {case.alpha}, gamma {case.gamma}"
        )
        if np.array_equal(Q, before):
            hint = (
                " Your function returned a value but did not change Q: update it "
                "in place, Q[state, action] = ... (or +=)."
                if returned is not None
                else " Did you assign to a local copy instead of Q[state, action]?"
            )
            print(f"{FAIL} {case.name}: Q did not change.{hint}\n   ({setting})")
            return False
        if not math.isclose(new, expected, rel_tol=1e-9, abs_tol=1e-12):
            print(
                f"{FAIL} {case.name}: expected {where} = {expected:.6g}, got {new:.6g}"
            )
            print(f"   ({setting})")
            for message, value in mistakes.items():
                if math.isclose(new, value, rel_tol=1e-9, abs_tol=1e-12):
                    print(f"   It looks like {message}.")
                    break
            else:
                print(
                    "   target = r + gamma * (0 if terminated else "
                    + ("Q[s', a']" if sarsa else "max_a' Q[s', a']")
                    + "), then Q[s, a] += alpha * (target - Q[s, a])."
                )
            return False
        changed = np.argwhere(Q != before).tolist()
        if changed != [[state, case.action]]:
            cells = ", ".join(
                f"Q[{r}, {c}]" for r, c in changed if (r, c) != (state, case.action)
            )
            print(
                f"{FAIL} {case.name}: {where} is right, but you also changed {cells}; "
                "one transition updates one entry only."
            )
            return False
        print(f"{PASS} {case.name}")
    name = "SARSA" if sarsa else "Q-learning"
    print(f"{PASS} all {len(_CASES)} cases pass: this is the {name} update.")
    return True


def check_q_learning_update(function: Callable) -> bool:
    """Check ``function(Q, state, action, reward, next_state, terminated, alpha,
    gamma)``, which must update ``Q[state, action]`` in place with the
    Q-learning target ``r + gamma * max_a' Q[next_state, a']`` (just ``r`` if
    terminated). Prints what is wrong; returns True if all cases pass.
    """
    return _check_update(function, sarsa=False)


def check_sarsa_update(function: Callable) -> bool:
    """Check ``function(Q, state, action, reward, next_state, next_action,
    terminated, alpha, gamma)``: the SARSA update, in place, with target
    ``r + gamma * Q[next_state, next_action]`` (just ``r`` if terminated).
    """
    return _check_update(function, sarsa=True)


# -------------------------------------------------------- epsilon-greedy
def _draw(function: Callable, q_values, epsilon: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    actions = []
    for _ in range(n):
        ok, action = _call(function, np.array(q_values, dtype=float), epsilon, rng)
        if not ok:
            return None
        actions.append(action)
    return actions


def _frequencies(actions, n_actions: int) -> np.ndarray:
    return np.bincount(np.asarray(actions, dtype=int), minlength=n_actions) / len(
        actions
    )


def check_epsilon_greedy(function: Callable) -> bool:
    """Check ``function(q_values, epsilon, rng) -> action``: explore uniformly
    with probability epsilon, else pick a maximal action, breaking ties at
    random, drawing only from ``rng``. Prints what is wrong; returns True if
    all checks pass.
    """
    # 1. Greedy, one clear maximum: the index of the maximum, as an int.
    actions = _draw(function, [1.0, 3.0, 2.0], 0.0, 20, seed=0)
    if actions is None:
        return False
    first = actions[0]
    if isinstance(first, (float, np.floating)) and first == 3.0:
        print(
            f"{FAIL} with q_values [1, 3, 2] and epsilon 0 you returned {first}: "
            "that is the value of the best action; return its index (1)."
        )
        return False
    if not isinstance(first, (int, np.integer)) or isinstance(first, bool):
        print(
            f"{FAIL} return an int action index, got {first!r} "
            f"({type(first).__name__})."
        )
        return False
    if set(actions) != {1}:
        if len(set(actions)) > 1:
            hint = (
                "with epsilon 0 there is no exploration at all; is the test "
                "inverted? Explore when rng.random() < epsilon"
            )
        else:
            hint = "the index of the maximum is 1" + (
                " (argmin instead of argmax?)" if actions[0] == 0 else ""
            )
        print(
            f"{FAIL} with q_values [1, 3, 2] and epsilon 0 you returned "
            f"{sorted(set(actions))}; expected always 1: {hint}."
        )
        return False
    print(f"{PASS} epsilon 0 picks the greedy action")

    # 2. Ties: all maximal actions, chosen at random.
    actions = _draw(function, [0.0, 0.0, 0.0, 0.0], 0.0, 400, seed=1)
    if actions is None:
        return False
    frequencies = _frequencies(actions, 4)
    if frequencies.max() == 1.0:
        print(
            f"{FAIL} with an all-zero row and epsilon 0 you always picked action "
            f"{int(np.argmax(frequencies))}. np.argmax returns the *first* "
            "maximum, so a fresh Q-table would always go the same way; choose "
            "at random among all maximal actions "
            "(np.flatnonzero(q_values == q_values.max()))."
        )
        return False
    if frequencies.min() < 0.15:
        print(
            f"{FAIL} ties are not broken uniformly: action frequencies "
            f"{np.round(frequencies, 2).tolist()} for four equal values."
        )
        return False
    actions = _draw(function, [1.0, 3.0, 3.0, 0.0], 0.0, 400, seed=2)
    if actions is None:
        return False
    if set(actions) != {1, 2}:
        print(
            f"{FAIL} with q_values [1, 3, 3, 0] and epsilon 0 you picked "
            f"{sorted(set(actions))}: only the maximal actions 1 and 2 are greedy, "
            "and both should appear."
        )
        return False
    print(f"{PASS} ties are broken at random among the maximal actions only")

    # 3. Exploration: uniform over *all* actions, with probability epsilon.
    n = 4000
    actions = _draw(function, [1.0, 2.0, 5.0, 0.0], 1.0, n, seed=3)
    if actions is None:
        return False
    frequencies = _frequencies(actions, 4)
    if frequencies[2] < 0.15:
        print(
            f"{FAIL} with epsilon 1 the greedy action 2 appeared in only "
            f"{frequencies[2]:.0%} of draws: exploring picks uniformly among "
            "*all* actions, the greedy one included."
        )
        return False
    if np.abs(frequencies - 0.25).max() > 0.05:
        print(
            f"{FAIL} with epsilon 1 every action should appear about 25% of the "
            f"time; got {np.round(frequencies, 3).tolist()}."
        )
        return False
    epsilon = 0.3
    actions = _draw(function, [1.0, 2.0, 5.0, 0.0], epsilon, n, seed=4)
    if actions is None:
        return False
    greedy_share = _frequencies(actions, 4)[2]
    expected = 1 - epsilon + epsilon / 4
    tolerance = 5 * math.sqrt(expected * (1 - expected) / n)
    if abs(greedy_share - expected) > tolerance:
        inverted = epsilon + (1 - epsilon) / 4
        hint = (
            " It looks inverted: explore when rng.random() < epsilon."
            if abs(greedy_share - inverted) < tolerance
            else ""
        )
        print(
            f"{FAIL} with epsilon {epsilon} the greedy action should be picked "
            f"with probability 1 - eps + eps/4 = {expected:.3f}; got "
            f"{greedy_share:.3f}.{hint}"
        )
        return False
    print(f"{PASS} explores with probability epsilon, uniformly over all actions")

    # 4. Reproducible: only `rng` is used, q_values is not modified. We reseed
    # the global generators between two runs with the same rng seed: if the
    # actions differ, the function drew from them. Their state is restored.
    saved = np.random.get_state(), random.getstate()  # noqa: NPY002
    runs = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # noqa: NPY002 (deliberately, see above)
        random.seed(global_seed)
        runs.append(_draw(function, [0.0, 1.0, 1.0, 0.5], 0.5, 200, seed=5))
    np.random.set_state(saved[0])  # noqa: NPY002
    random.setstate(saved[1])
    first_run, second_run = runs
    if first_run != second_run:
        print(
            f"{FAIL} the same rng seed gave different actions: draw every random "
            "number from the `rng` argument (rng.random(), rng.integers(...), "
            "rng.choice(...)), not from np.random or random."
        )
        return False
    q_values = np.array([0.0, 1.0, 1.0, 0.5])
    ok, _ = _call(function, q_values, 0.5, np.random.default_rng(0))
    if not ok:
        return False
    if not np.array_equal(q_values, [0.0, 1.0, 1.0, 0.5]):
        print(f"{FAIL} your function changed q_values; it must only read them.")
        return False
    print(f"{PASS} reproducible: all randomness comes from rng")
    print(f"{PASS} all checks pass: this is epsilon-greedy with random tie-breaking.")
    return True
