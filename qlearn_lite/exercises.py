"""Checkers for the exercises of the course, notebooks 01 to 11.

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

These three are the exercises of notebooks 02 and 03. The exercises of the
other notebooks are listed in :data:`EXERCISES` (the function to write, its
checker, the solution and the mistakes the checker names); each checker's
docstring says what the function takes and returns.

A checker never raises because of the learner's answer: a stub that raises
``NotImplementedError`` is reported as "not attempted", any other exception
is named, and a returned value is checked (type, shape, range) before it is
used, so an action of ``-1`` or ``10**9`` gets a sentence, not a traceback or
a huge allocation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

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


def _function_name(function: object) -> str:
    return getattr(function, "__name__", "your function")


def _not_attempted(function: object) -> str:
    return (
        "not attempted: replace `raise NotImplementedError` in "
        f"{_function_name(function)} with your code."
    )


def _call(function: Callable, *args):
    """Run the learner's function; report a missing or crashing one."""
    if not callable(function):
        print(f"{FAIL} pass your function itself, got {type(function).__name__}.")
        return False, None
    try:
        return True, function(*args)
    except NotImplementedError:
        print(f"{FAIL} {_not_attempted(function)}")
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
    """``n`` actions from the learner's function, each checked to be a valid
    index before it is counted (None, with a sentence printed, otherwise)."""
    rng = np.random.default_rng(seed)
    n_actions = len(q_values)
    actions = []
    for _ in range(n):
        ok, action = _call(function, np.array(q_values, dtype=float), epsilon, rng)
        if not ok:
            return None
        problem = _action_problem(action, q_values)
        if problem is not None:
            print(
                f"{FAIL} with q_values {list(q_values)} and epsilon {epsilon} {problem}"
            )
            return None
        actions.append(int(action))
    assert all(0 <= a < n_actions for a in actions)
    return actions


def _action_problem(action: object, q_values) -> str | None:
    """Why ``action`` is not an action index for ``q_values``, or None."""
    n_actions = len(q_values)
    if isinstance(action, (float, np.floating)) and float(action) == max(q_values):
        return (
            f"you returned {action}: that is the value of the best action; "
            "return its index."
        )
    if isinstance(action, bool) or not isinstance(action, (int, np.integer)):
        return (
            f"you returned {action!r} ({type(action).__name__}); return an int "
            "action index."
        )
    if not 0 <= int(action) < n_actions:
        return (
            f"you returned action {int(action)}, but there are {n_actions} actions: "
            f"return an index from 0 to {n_actions - 1}."
        )
    return None


def _frequencies(actions, n_actions: int) -> np.ndarray:
    # Every action was checked in _draw to lie in [0, n_actions).
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


# ======================================================== the later notebooks
# Every checker below runs the learner's function on small cases through
# ``_run``: the first wrong case stops the check with one sentence (a
# ``_Wrong``), a stub gets "not attempted", any other exception of the
# learner's code is reported, not raised. Returned values are validated (type,
# shape, range, finite) before the checker uses them, and no checker allocates
# anything sized by a returned value.
class _Wrong(Exception):
    """The one-sentence verdict on a wrong answer."""


class _NotAttempted(Exception):
    pass


def _attempt(function: Callable, *args, when: str = ""):
    """Call the learner's function; turn its exceptions into verdicts."""
    try:
        return function(*args)
    except NotImplementedError:
        raise _NotAttempted from None
    except Exception as error:
        where = f" {when}" if when else ""
        raise _Wrong(
            f"your function raised {type(error).__name__}{where}: {error}"
        ) from None


def _run(function: Callable, cases: Callable[[Callable], None], success: str) -> bool:
    """Run ``cases(function)``; print one verdict; True if every case passed."""
    if not callable(function):
        print(f"{FAIL} pass your function itself, got {type(function).__name__}.")
        return False
    try:
        cases(function)
    except _NotAttempted:
        print(f"{FAIL} {_not_attempted(function)}")
        return False
    except _Wrong as wrong:
        print(f"{FAIL} {wrong}")
        return False
    print(f"{PASS} {success}")
    return True


def _numbers(value: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape``, or a _Wrong naming the problem."""
    if value is None:
        raise _Wrong(f"your function returned None; return {what}.")
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise _Wrong(
                f"{what} carries a gradient; compute it under torch.no_grad() "
                "(targets are constants)."
            )
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Wrong(
            f"your function returned {type(value).__name__}, not numbers; return "
            f"{what}."
        ) from None
    if array.shape != shape:
        raise _Wrong(
            f"your function returned shape {tuple(array.shape)}; {what} has shape "
            f"{shape}."
        )
    if not np.all(np.isfinite(array)):
        raise _Wrong(f"your function returned non-finite values {array.tolist()}.")
    return array


def _close(a: object, b: object) -> bool:
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def _diagnose(got: np.ndarray, mistakes: dict[str, object]) -> str:
    """The sentence of the first mistake that gives exactly ``got``, or ''."""
    for message, value in mistakes.items():
        if _close(got, value):
            return f": it looks like {message}"
    return ""


def _fmt(array: object) -> str:
    return str(np.round(np.asarray(array, dtype=np.float64), 4).tolist())


# ------------------------------------------------ 01: policy evaluation
def _small_mdp() -> tuple[np.ndarray, np.ndarray]:
    """A 4-state MDP, ``P[s, a, s']`` and ``R[s, a]``; state 3 is terminal
    (no outgoing probability, no reward), so every policy ends."""
    P = np.zeros((4, 2, 4))
    P[0, 0] = (0.5, 0.5, 0.0, 0.0)
    P[0, 1] = (0.0, 0.0, 1.0, 0.0)
    P[1, 0] = (0.0, 0.0, 0.2, 0.8)
    P[1, 1] = (1.0, 0.0, 0.0, 0.0)
    P[2, 0] = (0.0, 0.0, 0.0, 1.0)
    P[2, 1] = (0.0, 0.6, 0.0, 0.4)
    R = np.array([[0.0, -1.0], [2.0, 0.5], [1.0, 3.0], [0.0, 0.0]])
    return P, R


def _exact_values(P, R, policy, gamma) -> np.ndarray:
    states = np.arange(len(policy))
    P_pi, R_pi = P[states, policy], R[states, policy]
    return np.linalg.solve(np.eye(len(policy)) - gamma * P_pi, R_pi)


def _optimal_values(P, R, gamma) -> np.ndarray:
    V = np.zeros(P.shape[0])
    for _ in range(2000):
        V = (R + gamma * P @ V).max(axis=1)
    return V


def _policy_evaluation_cases(function: Callable) -> None:
    P, R = _small_mdp()
    for name, policy, gamma in (
        ("policy [0, 0, 1, 0] with gamma 0.9", [0, 0, 1, 0], 0.9),
        ("policy [1, 1, 0, 0] with gamma 0.9", [1, 1, 0, 0], 0.9),
        ("gamma 0", [0, 1, 1, 0], 0.0),
    ):
        policy = np.array(policy)
        got = _numbers(
            _attempt(function, P.copy(), R.copy(), policy.copy(), gamma),
            (4,),
            "V, one value per state",
        )
        expected = _exact_values(P, R, policy, gamma)
        if _close(got, expected):
            continue
        states = np.arange(4)
        mistakes = {
            "you took the best action in every state, which is value "
            "iteration's V*; policy evaluation follows policy[s]": _optimal_values(
                P, R, gamma
            ),
            "you stopped after one sweep; repeat the backup until V stops changing": R[
                states, policy
            ],
            "you left out gamma": _exact_values(P, R, policy, 1.0)
            if gamma > 0
            else None,
        }
        mistakes = {m: v for m, v in mistakes.items() if v is not None}
        raise _Wrong(
            f"for {name} V should be {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )


def check_policy_evaluation(function: Callable) -> bool:
    """Check ``function(P, R, policy, gamma) -> V``: the value ``V[s]`` of a
    deterministic ``policy`` (int ``[S]``) in the MDP ``P[s, a, s']``,
    ``R[s, a]``, to within 1e-6. Prints one verdict; True if all cases pass.
    """
    return _run(
        function,
        _policy_evaluation_cases,
        "policy evaluation: V matches the exact solution in all 3 cases.",
    )


def _bellman_backup_cases(function: Callable) -> None:
    P, R = _small_mdp()
    for name, V, gamma in (
        ("V = [1, 2, 4, 0] and gamma 0.5", np.array([1.0, 2.0, 4.0, 0.0]), 0.5),
        ("V = [0, -1, 3, 0] and gamma 0.9", np.array([0.0, -1.0, 3.0, 0.0]), 0.9),
    ):
        returned = _attempt(function, V.copy(), P.copy(), R.copy(), gamma)
        if returned is not None and np.shape(returned) == (4,):
            raise _Wrong(
                "you returned one value per state; one backup gives Q[s, a] for "
                "every state and action, shape (4, 2) (take the max only in "
                "value iteration's next step)."
            )
        got = _numbers(returned, (4, 2), "Q, one value per state and action")
        expected = R + gamma * P @ V
        if _close(got, expected):
            continue
        mistakes = {
            "you left out gamma": R + P @ V,
            "you bootstrapped from the best next state, max V(s'), instead of "
            "the expectation sum_s' P[s, a, s'] V(s')": R
            + gamma * np.where(P.sum(axis=2) > 0, V.max(), 0.0),
        }
        raise _Wrong(
            f"for {name} Q should be {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )


def check_bellman_backup(function: Callable) -> bool:
    """Check ``function(V, P, R, gamma) -> Q``: one Bellman backup,
    ``Q[s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] V[s']``, shape ``[S, A]``.
    """
    return _run(
        function,
        _bellman_backup_cases,
        "one Bellman backup: Q = R + gamma * P @ V in both cases.",
    )


# --------------------------------------------- 03: a linear epsilon schedule
def _schedule_cases(function: Callable) -> None:
    start, end, duration = 1.0, 0.05, 100
    steps = [0, 1, 50, 99, 100, 101, 10_000]
    got = []
    for t in steps:
        returned = _attempt(function, t, start, end, duration, when=f"at t = {t}")
        got.append(float(_numbers(returned, (), "epsilon, one number")))
    expected = [
        start + (t / duration) * (end - start) if t < duration else end for t in steps
    ]
    if _close(got, expected):
        return
    setting = f"start {start}, end {end}, duration {duration}"
    wrong_at = next(
        t for t, g, e in zip(steps, got, expected, strict=True) if not _close(g, e)
    )
    mistakes = {
        "you kept decreasing after duration; clamp at end from t = duration on": [
            start + (t / duration) * (end - start) for t in steps
        ],
        "you decreased from start to 0, not to end": [
            max(start * (1 - t / duration), 0.0) for t in steps
        ],
        "you divided by duration - 1; epsilon reaches end exactly at t = duration": [
            start + min(t / (duration - 1), 1.0) * (end - start) for t in steps
        ],
        "you moved from end to start; epsilon starts high and decreases": [
            end + min(t / duration, 1.0) * (start - end) for t in steps
        ],
    }
    raise _Wrong(
        f"with {setting} epsilon at t = {wrong_at} is "
        f"{expected[steps.index(wrong_at)]:.6g}, you returned "
        f"{got[steps.index(wrong_at)]:.6g}"
        f"{_diagnose(np.array(got), mistakes)}."
    )


def check_linear_epsilon(function: Callable) -> bool:
    """Check ``function(t, start, end, duration) -> epsilon``: linear from
    ``start`` at ``t = 0`` to ``end`` at ``t = duration``, then ``end``
    (:func:`qlearn_lite.tabular.linear_schedule`).
    """
    return _run(
        function,
        _schedule_cases,
        "the linear schedule: start to end over duration steps, then end.",
    )


# ------------------------------------------------- 04: the ring buffer
def _ring_state(returned: object, capacity: int, when: str) -> tuple[int, int]:
    """The learner's ``(position, size)``, validated."""
    if (
        not isinstance(returned, tuple)
        or len(returned) != 2
        or not all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool)
            for x in returned
        )
    ):
        raise _Wrong(
            f"{when} your function returned {returned!r}; return the new "
            "(position, size) as a tuple of two ints."
        )
    return int(returned[0]), int(returned[1])


def _ring_add_cases(function: Callable) -> None:
    for capacity, n_adds in ((4, 3), (4, 10), (1, 3)):
        slots = np.full(capacity, -1.0)
        position, size = 0, 0
        for value in range(n_adds):
            when = (
                f"after {value} adds to an empty buffer of capacity {capacity} "
                f"(position {position}, size {size}),"
            )
            if not 0 <= position < capacity:
                raise _Wrong(
                    f"{when} position is {position}, outside the buffer: wrap it "
                    "around with % capacity."
                )
            returned = _attempt(
                function, slots, position, size, float(value), when=when[:-1]
            )
            new_position, new_size = _ring_state(returned, capacity, when)
            expected_slots = np.full(capacity, -1.0)
            for old in range(value + 1):  # value v lives in slot v % capacity
                expected_slots[old % capacity] = old
            if slots[position] != value and slots[(position - 1) % capacity] == value:
                raise _Wrong(
                    f"{when} adding {value} wrote it to slot "
                    f"{(position - 1) % capacity}, the newest one; write to "
                    f"slot `position` ({position}), the oldest."
                )
            if not np.array_equal(slots, expected_slots):
                raise _Wrong(
                    f"{when} adding {value} should leave the slots "
                    f"{expected_slots.tolist()}, they are {slots.tolist()}: write "
                    "the value to slot `position` and nowhere else."
                )
            if new_size != min(value + 1, capacity):
                hint = (
                    "size stops growing at capacity: min(size + 1, capacity)"
                    if new_size > capacity
                    else "size counts the filled slots"
                )
                raise _Wrong(
                    f"{when} you returned size {new_size}, expected "
                    f"{min(value + 1, capacity)}: {hint}."
                )
            if new_position != (position + 1) % capacity:
                hint = (
                    "wrap it around with % capacity"
                    if new_position == position + 1
                    else "the next slot is (position + 1) % capacity"
                )
                raise _Wrong(
                    f"{when} you returned position {new_position}, expected "
                    f"{(position + 1) % capacity}: {hint}."
                )
            position, size = new_position, new_size


def check_ring_add(function: Callable) -> bool:
    """Check ``function(slots, position, size, value) -> (position, size)``:
    write ``value`` to ``slots[position]`` (in place) and return the next
    position (wrapping at the capacity ``len(slots)``) and the new size.
    """
    return _run(
        function,
        _ring_add_cases,
        "the ring buffer's add: it fills, wraps around and overwrites the oldest.",
    )


def _indices(returned: object, batch_size: int, size: int, when: str) -> np.ndarray:
    if isinstance(returned, torch.Tensor):
        returned = returned.detach().cpu().numpy()
    array = np.asarray(returned) if isinstance(returned, (list, np.ndarray)) else None
    if array is None or array.shape != (batch_size,) or array.dtype.kind not in "iu":
        shape = getattr(array, "shape", None)
        raise _Wrong(
            f"{when} your function returned {type(returned).__name__}"
            + (
                f" of shape {shape} and dtype {array.dtype}"
                if array is not None
                else ""
            )
            + f"; return an int array of {batch_size} slot indices."
        )
    if array.min() < 0 or array.max() >= size:
        bad = int(array.max() if array.max() >= size else array.min())
        raise _Wrong(
            f"{when} you returned slot {bad}, but only slots 0 to {size - 1} are "
            "filled: sample from range(size), not range(capacity)."
        )
    return array.astype(np.int64)


def _ring_sample_cases(function: Callable) -> None:
    # An empty buffer has nothing to sample: a ValueError, not garbage.
    try:
        returned = function(0, 8, 4, np.random.default_rng(0))
    except NotImplementedError:
        raise _NotAttempted from None
    except ValueError:
        pass
    except Exception as error:
        raise _Wrong(
            f"sampling an empty buffer should raise ValueError, yours raised "
            f"{type(error).__name__}: {error}"
        ) from None
    else:
        raise _Wrong(
            f"sampling an empty buffer (size 0) returned {returned!r}; it should "
            "raise ValueError, since there is nothing to sample."
        )
    # A batch larger than the filled part: sampling is with replacement.
    when = "with size 3, capacity 8 and batch_size 16,"
    _indices(
        _attempt(function, 3, 8, 16, np.random.default_rng(1), when=when[:-1]),
        16,
        3,
        when,
    )
    # Uniform over the filled slots, the newest included.
    when = "with size 5, capacity 8 and batch_size 4000,"
    draws = _indices(
        _attempt(function, 5, 8, 4000, np.random.default_rng(2), when=when[:-1]),
        4000,
        5,
        when,
    )
    frequencies = np.bincount(draws, minlength=5) / len(draws)
    if frequencies[4] == 0:
        raise _Wrong(
            f"{when} slot 4, the newest, was never sampled: rng.integers(size) "
            "already excludes size, so do not subtract 1."
        )
    if np.abs(frequencies - 0.2).max() > 0.04:
        raise _Wrong(
            f"{when} the slots were sampled with frequencies "
            f"{np.round(frequencies, 3).tolist()}; each should be about 0.2."
        )
    # Only `rng` is used.
    runs = []
    saved = np.random.get_state()  # noqa: NPY002
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # noqa: NPY002 (deliberately)
        runs.append(
            _indices(
                _attempt(function, 6, 8, 32, np.random.default_rng(3)),
                32,
                6,
                "with size 6,",
            ).tolist()
        )
    np.random.set_state(saved)  # noqa: NPY002
    if runs[0] != runs[1]:
        raise _Wrong(
            "the same rng seed gave different batches: draw the indices from the "
            "`rng` argument, not from np.random."
        )


def check_ring_sample(function: Callable) -> bool:
    """Check ``function(size, capacity, batch_size, rng) -> indices``: an int
    array of ``batch_size`` slots drawn uniformly, with replacement, from the
    ``size`` filled ones; ``ValueError`` for an empty buffer.
    """
    return _run(
        function,
        _ring_sample_cases,
        "the ring buffer's sample: uniform over the filled slots, from rng only.",
    )


# ------------------------------------------ 05: the TD target, n-step returns
def _td_target_cases(function: Callable) -> None:
    rewards = torch.tensor([1.0, 0.5, -1.0, 2.0])
    next_q = torch.tensor([[1.0, 3.0], [2.0, -1.0], [0.5, 0.25], [4.0, 5.0]])
    terminated = torch.tensor([0.0, 1.0, 0.0, 1.0])
    for name, gamma, grad in (
        ("a batch with terminated = [0, 1, 0, 1] and gamma 0.9", 0.9, False),
        ("the same batch with gamma 0.5, next_q from a network", 0.5, True),
    ):
        q = next_q.clone().requires_grad_(grad)
        returned = _attempt(
            function, rewards.clone(), q, terminated.clone(), gamma, when=f"on {name}"
        )
        if returned is not None and np.shape(returned) == (4, 1):
            raise _Wrong(
                f"on {name} you returned shape (4, 1); the targets are one number "
                "per transition, shape (4,): take .max(dim=1).values, no keepdim."
            )
        got = _numbers(returned, (4,), "the targets, one per transition")
        best = next_q.max(dim=1).values
        expected = (rewards + gamma * (1 - terminated) * best).numpy()
        if _close(got, expected):
            continue
        mistakes = {
            "you forgot (1 - terminated): a terminal transition's target is "
            "just its reward": (rewards + gamma * best).numpy(),
            "you multiplied by terminated instead of (1 - terminated)": (
                rewards + gamma * terminated * best
            ).numpy(),
            "you bootstrapped from the mean over actions; DQN takes the max": (
                rewards + gamma * (1 - terminated) * next_q.mean(dim=1)
            ).numpy(),
            "you left out gamma": (rewards + (1 - terminated) * best).numpy(),
        }
        raise _Wrong(
            f"on {name} the targets should be {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )


def check_td_target(function: Callable) -> bool:
    """Check ``function(rewards, next_q, terminated, gamma) -> targets``:
    ``r + gamma * (1 - terminated) * max_a' next_q[:, a']``, float ``[batch]``,
    without a gradient.
    """
    return _run(
        function,
        _td_target_cases,
        "the TD target: terminal transitions bootstrap nothing, the rest from max.",
    )


def _window_target(rewards, terminated, truncated, next_values, gamma) -> float:
    """The course's n-step target of step 0 (see replay.n_step_returns)."""
    length = len(rewards)
    ends = [i for i in range(length) if terminated[i] or truncated[i]]
    last = ends[0] if ends else length - 1
    total = sum(gamma**i * rewards[i] for i in range(last + 1))
    cut = 0.0 if terminated[last] else 1.0
    return total + gamma ** (last + 1) * cut * next_values[last]


_N_STEP_CASES = (
    # name, rewards, terminated, truncated, next_values, gamma
    ("a full window of 3 steps", [1.0, 2.0, 3.0], [0, 0, 0], [0, 0, 0],
     [10.0, 20.0, 30.0], 0.5),
    ("a window whose step 1 is terminal", [1.0, 2.0, 3.0], [0, 1, 0], [0, 0, 0],
     [10.0, 20.0, 30.0], 0.5),
    ("a window whose step 1 is truncated", [1.0, 2.0, 3.0], [0, 0, 0], [0, 1, 0],
     [10.0, 20.0, 30.0], 0.5),
    ("a one-step window that terminates", [4.0], [1], [0], [7.0], 0.9),
    ("a window whose step 0 is truncated", [4.0, 1.0], [0, 0], [1, 0],
     [7.0, 9.0], 0.9),
)  # fmt: skip


def _n_step_target_cases(function: Callable) -> None:
    for name, rewards, terminated, truncated, next_values, gamma in _N_STEP_CASES:
        flags = [bool(x) for x in terminated], [bool(x) for x in truncated]
        setting = (
            f"{name} (rewards {rewards}, terminated {terminated}, truncated "
            f"{truncated}, next_values {next_values}, gamma {gamma})"
        )
        returned = _attempt(
            function,
            list(rewards),
            list(flags[0]),
            list(flags[1]),
            list(next_values),
            gamma,
            when=f"on {name}",
        )
        got = float(_numbers(returned, (), "the target, one number"))
        expected = _window_target(rewards, *flags, next_values, gamma)
        if _close(got, expected):
            continue
        no_ends = [False] * len(rewards)
        length = len(rewards)
        mistakes = {
            "you bootstrapped through the terminal step: a terminal step cuts "
            "the return, nothing of V(s') is added": _window_target(
                rewards,
                no_ends,
                [a or b for a, b in zip(*flags, strict=True)],
                next_values,
                gamma,
            ),
            "you treated the truncated step as terminal: a time limit is not a "
            "terminal state, bootstrap from the true final observation with "
            "gamma^k": _window_target(
                rewards,
                [a or b for a, b in zip(*flags, strict=True)],
                no_ends,
                next_values,
                gamma,
            ),
            "you summed rewards past the episode's end; the window stops at the "
            "first terminated or truncated step": _window_target(
                rewards, no_ends[:-1] + [flags[0][-1]], no_ends, next_values, gamma
            ),
            "you bootstrapped from the window's last step, not from the step "
            "where the episode ended": sum(gamma**i * rewards[i] for i in range(length))
            + gamma**length * next_values[-1],
        }
        raise _Wrong(
            f"for {setting} the target is {expected:.6g}, you returned "
            f"{got:.6g}{_diagnose(np.float64(got), mistakes)}."
        )


def check_n_step_target(function: Callable) -> bool:
    """Check ``function(rewards, terminated, truncated, next_values, gamma)``:
    the n-step target of a window's first step under the course's convention
    (:func:`qlearn_lite.replay.n_step_returns`): a terminal step cuts, a
    truncated one bootstraps from its own next value with ``gamma**k``.
    """
    return _run(
        function,
        _n_step_target_cases,
        "the n-step target: terminal steps cut, truncated ones bootstrap, "
        "in all 5 windows.",
    )


# ----------------------------------------- 06: double DQN, the Polyak update
def _double_dqn_cases(function: Callable) -> None:
    rewards = torch.tensor([1.0, 0.0, -1.0, 0.5])
    next_q_target = torch.tensor([[1.0, 4.0, 2.0], [3.0, 0.0, 1.0], [2.0, 2.5, 5.0],
                                  [0.0, 1.0, 6.0]])  # fmt: skip
    next_q_online = torch.tensor([[5.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 3.0, 0.0],
                                  [2.0, 0.0, 1.0]])  # fmt: skip
    terminated = torch.tensor([0.0, 0.0, 1.0, 0.0])
    gamma = 0.9
    returned = _attempt(
        function,
        rewards.clone(),
        next_q_target.clone(),
        next_q_online.clone(),
        terminated.clone(),
        gamma,
    )
    got = _numbers(returned, (4,), "the targets, one per transition")
    live = gamma * (1 - terminated)
    online_best = next_q_online.argmax(dim=1, keepdim=True)
    target_best = next_q_target.argmax(dim=1, keepdim=True)
    expected = (
        rewards + live * next_q_target.gather(1, online_best).squeeze(1)
    ).numpy()
    if _close(got, expected):
        return
    mistakes = {
        "you took the target network's max, which is plain DQN; double DQN "
        "picks a' with the online network and values it with the target "
        "network": (rewards + live * next_q_target.max(dim=1).values).numpy(),
        "you picked a' with the target network and valued it with the online "
        "one; it is the other way round": (
            rewards + live * next_q_online.gather(1, target_best).squeeze(1)
        ).numpy(),
        "you used the online network's max for both choosing and valuing a'": (
            rewards + live * next_q_online.max(dim=1).values
        ).numpy(),
        "you forgot (1 - terminated)": (
            rewards + gamma * next_q_target.gather(1, online_best).squeeze(1)
        ).numpy(),
    }
    raise _Wrong(
        f"the double-DQN targets should be {_fmt(expected)}, you returned "
        f"{_fmt(got)}{_diagnose(got, mistakes)}."
    )


def check_double_dqn_target(function: Callable) -> bool:
    """Check ``function(rewards, next_q_target, next_q_online, terminated,
    gamma) -> targets``: ``r + gamma (1 - terminated) Q_target(s', a*)`` with
    ``a* = argmax_a Q_online(s', a)`` (van Hasselt et al. 2016, eq. 4).
    """
    return _run(
        function,
        _double_dqn_cases,
        "double DQN: the online network chooses a', the target network values it.",
    )


def _polyak_cases(function: Callable) -> None:
    online_values = [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[4.0], [8.0]])]
    target_values = [torch.tensor([0.0, 0.0, 6.0]), torch.tensor([[0.0], [4.0]])]
    for tau in (0.25, 1.0, 0.0):
        target = [torch.nn.Parameter(t.clone()) for t in target_values]
        online = [torch.nn.Parameter(t.clone()) for t in online_values]
        _attempt(function, target, online, tau, when=f"with tau {tau}")
        for name, params, before in (("online", online, online_values),):
            if not all(
                torch.equal(p.data, b) for p, b in zip(params, before, strict=True)
            ):
                raise _Wrong(
                    f"with tau {tau} your function changed the {name} network; "
                    "only the target moves."
                )
        got = [p.detach() for p in target]
        expected = [
            tau * o + (1 - tau) * t
            for o, t in zip(online_values, target_values, strict=True)
        ]
        if all(torch.allclose(g, e) for g, e in zip(got, expected, strict=True)):
            continue
        if all(torch.equal(g, t) for g, t in zip(got, target_values, strict=True)):
            raise _Wrong(
                f"with tau {tau} the target parameters did not change: update "
                "them in place (p.mul_(1 - tau).add_(tau * q), or p.lerp_(q, tau) "
                "or p.copy_(...)), not by rebinding a name."
            )
        swapped = [
            (1 - tau) * o + tau * t
            for o, t in zip(online_values, target_values, strict=True)
        ]
        hint = (
            ": it looks like you swapped the weights; tau is the weight of the "
            "online network, theta_target <- tau theta + (1 - tau) theta_target"
            if all(torch.allclose(g, s) for g, s in zip(got, swapped, strict=True))
            else ""
        )
        raise _Wrong(
            f"with tau {tau} the first target tensor should be "
            f"{_fmt(expected[0])}, you left {_fmt(got[0])}{hint}."
        )


def check_polyak_update(function: Callable) -> bool:
    """Check ``function(target_params, online_params, tau)``: in place,
    ``theta_target <- tau * theta + (1 - tau) * theta_target`` for lists of
    parameters (``nn.Parameter``, so an update outside ``torch.no_grad()``
    raises and is reported).
    """
    return _run(
        function,
        _polyak_cases,
        "the Polyak update: tau 1 copies, tau 0 keeps, in between it blends.",
    )


# ------------------------------------ 07: segment returns, lost writes counted
def _segment_cases(function: Callable) -> None:
    for name, rewards, terminated, bootstrap, gamma in (
        ("a segment of 3 that reaches n", [1.0, 0.0, 2.0], False, 10.0, 0.5),
        ("a segment of 3 that ends terminal", [1.0, 0.0, 2.0], True, 10.0, 0.5),
        ("a segment of 1", [3.0], False, 4.0, 0.9),
    ):
        length = len(rewards)
        setting = (
            f"{name} (rewards {rewards}, terminated {terminated}, bootstrap "
            f"{bootstrap}, gamma {gamma})"
        )
        returned = _attempt(
            function, list(rewards), terminated, bootstrap, gamma, when=f"on {name}"
        )
        if isinstance(returned, (int, float, np.floating)) and length > 1:
            raise _Wrong(
                f"on {setting} you returned one number; return the return of "
                f"every step of the segment, {length} numbers."
            )
        got = _numbers(returned, (length,), "one return per step of the segment")

        def backward(rewards, value, gamma):
            out = []
            for reward in reversed(rewards):
                value = reward + gamma * value
                out.append(value)
            return out[::-1]

        live = 0.0 if terminated else bootstrap
        expected = backward(rewards, live, gamma)
        if _close(got, expected):
            continue
        mistakes = {
            "you bootstrapped from a terminal segment's last state; its value "
            "is 0": backward(rewards, bootstrap, gamma),
            "you accumulated forwards, from the first step; the return of step i "
            "sums the rewards from i on, so run backwards": backward(
                rewards[::-1], live, gamma
            )[::-1],
            "you left out gamma": backward(rewards, live, 1.0),
            "you returned the returns newest first; step i's return belongs at "
            "index i": expected[::-1],
        }
        raise _Wrong(
            f"for {setting} the returns are {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )


def check_segment_returns(function: Callable) -> bool:
    """Check ``function(rewards, terminated, bootstrap, gamma) -> returns``:
    the forward-view return of every step of an async worker's segment
    (Mnih et al. 2016, Algorithm S2), ``bootstrap`` the value of the state
    after the segment, unused when the segment ends terminal.
    """
    return _run(
        function,
        _segment_cases,
        "segment returns: computed backwards, cut at a terminal step.",
    )


def _interleave(q, events, targets, alpha, fresh_read=False):
    """The reference Hogwild replay of ``events``: (values, lost)."""
    q = np.array(q, dtype=np.float64)
    versions = np.zeros(len(q), dtype=np.int64)
    reads: dict[int, tuple[float, int]] = {}
    lost = 0
    for worker, kind, cell in events:
        if kind == "read":
            reads[worker] = (q[cell], versions[cell])
        else:
            old, version = reads.pop(worker)
            if fresh_read:
                old = q[cell]
            if versions[cell] != version:
                lost += 1
            q[cell] = old + alpha * (targets[worker] - old)
            versions[cell] += 1
    return q, lost


_HOGWILD_CASES = (
    ("two workers, one after the other", [4.0, 8.0, -2.0],
     [(0, "read", 0), (0, "write", 0), (1, "read", 0), (1, "write", 0)]),
    ("two workers that both read cell 0 before either writes", [4.0, 8.0, -2.0],
     [(0, "read", 0), (1, "read", 0), (0, "write", 0), (1, "write", 0)]),
    ("three workers, two of them on cell 1 at once", [4.0, 8.0, -2.0],
     [(0, "read", 1), (1, "read", 0), (2, "read", 1), (1, "write", 0),
      (2, "write", 1), (0, "write", 1)]),
    ("a write in between that leaves the value unchanged", [4.0, 1.0, -2.0],
     [(0, "read", 0), (1, "read", 0), (1, "write", 0), (0, "write", 0)]),
)  # fmt: skip


def _lock_free_cases(function: Callable) -> None:
    alpha = 0.5
    for name, targets, events in _HOGWILD_CASES:
        q = np.array([1.0, 2.0])
        returned = _attempt(function, q, list(events), list(targets), alpha)
        if isinstance(returned, bool) or not isinstance(returned, (int, np.integer)):
            raise _Wrong(
                f"with {name} your function returned {returned!r}; return the "
                "number of lost updates, an int."
            )
        expected_q, expected_lost = _interleave([1.0, 2.0], events, targets, alpha)
        locked_q, _ = _interleave([1.0, 2.0], events, targets, alpha, True)
        if not _close(q, expected_q):
            hint = (
                ": you read Q again when writing, which is what a lock gives; "
                "lock-free, a worker writes old + alpha * (target - old) with "
                "the old value it read"
                if _close(q, locked_q) and not _close(locked_q, expected_q)
                else ""
            )
            raise _Wrong(
                f"with {name} Q should end as {_fmt(expected_q)}, it is "
                f"{_fmt(q)}{hint}."
            )
        if int(returned) != expected_lost:
            raise _Wrong(
                f"with {name} {expected_lost} update(s) were lost, you counted "
                f"{int(returned)}: a write loses the update of every other write "
                "to the same cell between its read and its write (compare the "
                "cell's version at the read with its version at the write, not "
                "its value)."
            )


def check_lock_free_updates(function: Callable) -> bool:
    """Check ``function(q, events, targets, alpha) -> lost``: replay
    ``events`` (``(worker, "read" | "write", cell)``) on ``q`` in place the
    way Hogwild interleaves them, and count the writes that overwrote another
    worker's write since their read.
    """
    return _run(
        function,
        _lock_free_cases,
        "lock-free updates: Q ends as Hogwild leaves it and the lost writes are "
        "counted.",
    )


# ------------------------------------------- 08: an actor loop sends chunks
CHUNK_FIELDS = {
    "obs": np.float32,
    "actions": np.int64,
    "rewards": np.float32,
    "next_obs": np.float32,
    "terminated": np.bool_,
}
"""The fields of a chunk of transitions, and their dtypes."""


def _steps(n: int) -> list[dict]:
    """``n`` steps as an actor sees them, one dict per ``env.step``."""
    return [
        {
            "obs": np.full(2, i, dtype=np.float32),
            "action": i % 3,
            "reward": float(i) / 2,
            "next_obs": np.full(2, i + 1, dtype=np.float32),
            "terminated": i % 7 == 6,
        }
        for i in range(n)
    ]


def _chunk_cases(function: Callable) -> None:
    for n_steps, chunk_size in ((0, 64), (64, 64), (150, 64), (200, 100)):
        name = f"a stream of {n_steps} steps and chunk_size {chunk_size}"
        steps = _steps(n_steps)
        returned = _attempt(
            function, iter(steps), chunk_size, when=f"on {name} (given as an iterator)"
        )
        try:
            chunks = list(returned)  # a list, or a generator of chunks
        except Exception as error:
            raise _Wrong(
                f"on {name} your function returned {type(returned).__name__}; "
                f"return a list of chunks ({type(error).__name__}: {error})."
            ) from None
        sizes = []
        for chunk in chunks:
            if not isinstance(chunk, dict) or set(chunk) != set(CHUNK_FIELDS):
                fields = sorted(chunk) if isinstance(chunk, dict) else None
                raise _Wrong(
                    f"on {name} a chunk was {type(chunk).__name__}"
                    + (f" with fields {fields}" if fields is not None else "")
                    + f"; each chunk is a dict with the fields {list(CHUNK_FIELDS)}."
                )
            for field, dtype in CHUNK_FIELDS.items():
                value = chunk[field]
                if not isinstance(value, np.ndarray):
                    raise _Wrong(
                        f"on {name} chunk[{field!r}] is {type(value).__name__}; "
                        "experience travels as NumPy arrays (np.asarray of the "
                        "list, or rows of a preallocated array)."
                    )
                if value.dtype != dtype:
                    raise _Wrong(
                        f"on {name} chunk[{field!r}] has dtype {value.dtype}, "
                        f"expected {np.dtype(dtype)}."
                    )
            sizes.append(len(chunk["actions"]))
        full, rest = divmod(n_steps, chunk_size)
        expected_sizes = [chunk_size] * full + ([rest] if rest else [])
        if sizes != expected_sizes:
            if sum(sizes) < n_steps and sizes == [chunk_size] * full:
                hint = (
                    f": the last {rest} steps were never sent; send the partial "
                    "chunk when the stream ends"
                )
            elif 0 in sizes:
                hint = ": an empty chunk costs a message and carries nothing"
            else:
                hint = ""
            raise _Wrong(
                f"on {name} the chunk sizes should be {expected_sizes}, yours were "
                f"{sizes}{hint}."
            )
        if chunks:
            obs = np.concatenate([chunk["obs"] for chunk in chunks])
            actions = np.concatenate([chunk["actions"] for chunk in chunks])
            if not (
                np.array_equal(obs, np.stack([s["obs"] for s in steps]))
                and np.array_equal(actions, [s["action"] for s in steps])
            ):
                raise _Wrong(
                    f"on {name} the chunks do not hold the steps in order: if you "
                    "refill one array, copy it before sending (a later chunk "
                    "overwrote an earlier one)."
                )


def check_make_chunks(function: Callable) -> bool:
    """Check ``function(steps, chunk_size) -> chunks``: turn an iterator of
    step dicts into a list of dicts of NumPy arrays (fields and dtypes of
    :data:`CHUNK_FIELDS`), ``chunk_size`` transitions each, the partial rest
    sent last, no empty chunk.
    """
    return _run(
        function,
        _chunk_cases,
        "chunks: NumPy arrays of chunk_size transitions, the rest sent at the end.",
    )


# ----------------------------- 09: the collision-safe batched update, ties
def _batched_update_cases(function: Callable) -> None:
    alpha = 0.5
    for name, states, actions, targets in (
        ("a batch without repeated pairs", [0, 1, 2], [1, 0, 1], [2.0, 4.0, -2.0]),
        (
            "a batch where (1, 0) appears three times",
            [1, 1, 0, 1],
            [0, 0, 1, 0],
            [2.0, 4.0, 6.0, 9.0],
        ),
        ("an empty batch", [], [], []),
    ):
        q = torch.arange(6, dtype=torch.float32).reshape(3, 2) / 4
        before = q.clone()
        states_t = torch.tensor(states, dtype=torch.int64)
        actions_t = torch.tensor(actions, dtype=torch.int64)
        targets_t = torch.tensor(targets, dtype=torch.float32)
        _attempt(function, q, states_t, actions_t, targets_t, alpha, when=f"on {name}")
        got = _numbers(q, (3, 2), "the table")
        expected = before.clone()
        pairs: dict[tuple[int, int], list[float]] = {}
        for s, a, t in zip(states, actions, targets, strict=True):
            pairs.setdefault((s, a), []).append(t)
        for (s, a), values in pairs.items():
            expected[s, a] += alpha * (float(np.mean(values)) - expected[s, a])
        if _close(got, expected.numpy()):
            continue
        if _close(got, before.numpy()):
            raise _Wrong(
                f"on {name} Q did not change: update q_table in place "
                "(q_table.view(-1).add_(...) or index_add_), do not rebind it."
            )
        unvisited = [
            (s, a)
            for s in range(3)
            for a in range(2)
            if (s, a) not in pairs and not _close(got[s, a], before[s, a])
        ]
        if unvisited:
            raise _Wrong(
                f"on {name} you changed Q{list(unvisited[0])}, which no transition "
                "visited; mask the pairs whose count is 0."
            )
        repeated = [pair for pair, values in pairs.items() if len(values) > 1]
        if repeated:
            s, a = repeated[0]
            old = float(before[s, a])
            singles = [old + alpha * (t - old) for t in pairs[(s, a)]]
            summed = old + alpha * sum(t - old for t in pairs[(s, a)])
            if any(_close(got[s, a], v) for v in singles):
                raise _Wrong(
                    f"on {name} Q[{s}, {a}] took only one of its "
                    f"{len(pairs[(s, a)])} targets: an indexed assignment keeps "
                    "one write per index; sum the targets with index_add_ and "
                    "divide by the counts."
                )
            if _close(got[s, a], summed):
                raise _Wrong(
                    f"on {name} Q[{s}, {a}] moved by the sum of its "
                    f"{len(pairs[(s, a)])} errors; move it once, towards the mean "
                    "of its targets."
                )
        raise _Wrong(
            f"on {name} Q should be {_fmt(expected)}, it is {_fmt(got)}; "
            "Q[s, a] += alpha * (mean target of (s, a) - Q[s, a]) for visited pairs."
        )


def check_batched_update(function: Callable) -> bool:
    """Check ``function(q_table, states, actions, targets, alpha)``: in place,
    every visited pair moves once towards the mean of its targets in the batch;
    unvisited pairs are untouched (see
    :func:`qlearn_lite.vectorized.batched_q_update`).
    """
    return _run(
        function,
        _batched_update_cases,
        "the batched update: collisions average, unvisited pairs stay.",
    )


def _batched_greedy_cases(function: Callable) -> None:
    def actions_for(q_values: torch.Tensor, seed: int, name: str) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        returned = _attempt(function, q_values.clone(), generator, when=f"on {name}")
        if not isinstance(returned, torch.Tensor) or returned.shape != (
            q_values.shape[0],
        ):
            shape = (
                tuple(returned.shape) if isinstance(returned, torch.Tensor) else None
            )
            raise _Wrong(
                f"on {name} your function returned {type(returned).__name__}"
                + (f" of shape {shape}" if shape is not None else "")
                + f"; return an int64 tensor of {q_values.shape[0]} actions."
            )
        if returned.dtype not in (torch.int64, torch.int32):
            raise _Wrong(
                f"on {name} your actions have dtype {returned.dtype}; return "
                "indices (int64), not values."
            )
        actions = returned.cpu().numpy().astype(np.int64)
        n_actions = q_values.shape[1]
        if actions.min() < 0 or actions.max() >= n_actions:
            bad = int(actions.min() if actions.min() < 0 else actions.max())
            raise _Wrong(
                f"on {name} you returned action {bad}, but there are {n_actions} "
                f"actions: return indices from 0 to {n_actions - 1}."
            )
        return actions

    q_values = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0], [2.0, 2.0, 0.0]])
    actions = actions_for(q_values, 0, "rows without ties")
    if actions[:2].tolist() != [1, 2]:
        raise _Wrong(
            f"on rows [1, 3, 2] and [0, -1, 5] you chose {actions[:2].tolist()}; "
            "the greedy actions are [1, 2]."
        )
    if actions[2] == 2:
        raise _Wrong(
            "on the row [2, 2, 0] you chose action 2, which is not maximal; only "
            "actions 0 and 1 are greedy there."
        )
    rows = 3000
    tied = torch.zeros(rows, 4)
    frequencies = np.bincount(actions_for(tied, 1, "all-zero rows"), minlength=4)
    frequencies = frequencies / rows
    if frequencies.max() == 1.0:
        raise _Wrong(
            f"on {rows} all-zero rows you always chose action "
            f"{int(np.argmax(frequencies))}: argmax breaks ties by the lowest "
            "index; add a random tie-breaker, e.g. argmax of "
            "(q == q.max(1, keepdim=True)) * (1 + uniform noise)."
        )
    if np.abs(frequencies - 0.25).max() > 0.04:
        raise _Wrong(
            f"on {rows} all-zero rows the actions came with frequencies "
            f"{np.round(frequencies, 3).tolist()}; each should be about 0.25."
        )
    first = actions_for(tied[:64], 7, "the same generator seed")
    second = actions_for(tied[:64], 7, "the same generator seed")
    if not np.array_equal(first, second):
        raise _Wrong(
            "the same generator seed gave different actions: draw the noise from "
            "the `generator` argument (torch.rand(..., generator=generator))."
        )


def check_batched_greedy(function: Callable) -> bool:
    """Check ``function(q_values, generator) -> actions``: for every row of
    ``q_values`` (``[batch, n_actions]``) a maximal action, ties broken at
    random with ``generator``, as an int64 tensor ``[batch]``.
    """
    return _run(
        function,
        _batched_greedy_cases,
        "batched greedy actions: maximal in every row, ties broken at random.",
    )


# ------------------------------------- 10: a shard's update with stale rows
def _shard_reference(q_local, q_stale, rows, transitions, alpha, gamma, mode="right"):
    q = q_local.copy()
    applied = 0
    for state, action, reward, next_state, terminated in transitions:
        if state not in rows:
            if mode == "all":
                pass
            else:
                continue
        if mode == "stale":
            source = q_stale
        elif mode == "local":
            source = q
        else:
            source = q if next_state in rows else q_stale
        bootstrap = 0.0 if terminated else float(np.max(source[next_state]))
        target = reward + gamma * bootstrap
        q[state, action] += alpha * (target - q[state, action])
        applied += 1
    return q, applied


def _shard_cases(function: Callable) -> None:
    rows = range(2, 4)  # this shard owns states 2 and 3 of 5
    q_stale = np.array(
        [[0.0, 1.0], [2.0, 0.5], [9.0, 9.0], [9.0, 9.0], [4.0, 3.0]]
    )  # the other shards' rows, as of the last sync; 2 and 3 are out of date
    q_local = np.full((5, 2), np.nan)  # a shard holds only the rows it owns
    q_local[2:4] = [[1.0, 0.0], [0.5, 2.0]]
    transitions = [
        (2, 0, 1.0, 3, False),  # bootstraps from an owned row: the local one
        (3, 1, 0.0, 4, False),  # bootstraps from another shard's row: stale
        (0, 1, 5.0, 2, False),  # not this shard's state: skipped
        (3, 0, 2.0, 1, True),  # terminal: no bootstrap
        (2, 1, -1.0, 3, False),  # after (3, 1) changed: reads the new local row
    ]
    alpha, gamma = 0.5, 0.9
    local = q_local.copy()
    returned = _attempt(
        function, local, q_stale.copy(), rows, list(transitions), alpha, gamma
    )
    if isinstance(returned, bool) or not isinstance(returned, (int, np.integer)):
        raise _Wrong(
            f"your function returned {returned!r}; return the number of updates "
            "this shard applied, an int."
        )
    expected, applied = _shard_reference(
        q_local, q_stale, rows, transitions, alpha, gamma
    )
    outside = [s for s in range(5) if s not in rows]
    if not np.all(np.isnan(local[outside])):
        state = next(s for s in outside if not np.all(np.isnan(local[s])))
        raise _Wrong(
            f"you wrote to row {state}, which another shard owns; skip the "
            "transitions whose state is outside `rows`."
        )
    mine = local[2:4]
    if np.any(np.isnan(mine)):
        raise _Wrong(
            "your owned rows became NaN: you read a row this shard does not own "
            "from its own table (NaN there); read other shards' rows from the "
            "stale copy."
        )
    if not _close(mine, expected[2:4]):
        stale, _ = _shard_reference(
            q_local, q_stale, rows, transitions, alpha, gamma, "stale"
        )
        no_cut, _ = _shard_reference(
            q_local,
            q_stale,
            rows,
            [(s, a, r, n, False) for s, a, r, n, _ in transitions],
            alpha,
            gamma,
        )
        mistakes = {
            "you read your own rows from the stale copy too; the shard's own rows "
            "are fresh in its table, read them there": stale[2:4],
            "you bootstrapped through the terminal transition (3, 0)": no_cut[2:4],
        }
        raise _Wrong(
            f"rows 2 and 3 should end as {_fmt(expected[2:4])}, they are "
            f"{_fmt(mine)}{_diagnose(mine, mistakes)}."
        )
    if int(returned) != applied:
        hint = (
            ": skip the transitions whose state is outside `rows`, another "
            "shard owns them"
            if int(returned) > applied
            else ""
        )
        raise _Wrong(
            f"you returned {int(returned)} updates, but only {applied} "
            f"transitions have their state in rows {list(rows)}{hint}."
        )


def check_shard_update(function: Callable) -> bool:
    """Check ``function(q_local, q_stale, rows, transitions, alpha, gamma) ->
    applied``: the Q-learning update, in order and in place, of the
    transitions ``(state, action, reward, next_state, terminated)`` whose
    state lies in ``rows``; ``max Q(s')`` comes from ``q_local`` for owned rows
    and from the stale copy ``q_stale`` for the others.
    """
    return _run(
        function,
        _shard_cases,
        "the shard's update: own rows fresh, other rows stale, others' states skipped.",
    )


# ------------------------------------- 11: predict the scaling figure
def predicted_steps_per_second(
    n_actors: int, actor_seconds: float, learner_seconds: float, cores: int
) -> float:
    """The course's model of actor-learner throughput (environment steps/s).

    Each environment step costs ``actor_seconds`` of an actor and
    ``learner_seconds`` of the one learner. On one core everything runs in
    turn, ``1 / (actor_seconds + learner_seconds)``. With more cores the
    learner keeps one and the actors share the rest: ``min(n_actors,
    cores - 1) / actor_seconds`` steps/s are produced, and the learner cannot
    consume more than ``1 / learner_seconds``: the minimum of the two.
    """
    if cores == 1:
        return 1.0 / (actor_seconds + learner_seconds)
    produced = min(n_actors, cores - 1) / actor_seconds
    return min(produced, 1.0 / learner_seconds)


def _scaling_cases(function: Callable) -> None:
    for n_actors, actor_seconds, learner_seconds, cores in (
        (1, 0.004, 0.001, 8),
        (3, 0.004, 0.001, 8),  # learner-bound: 3 / 4 ms > 1 / 1 ms? no: 750 < 1000
        (6, 0.004, 0.001, 8),  # learner saturates at 1000 steps/s
        (6, 0.004, 0.0005, 4),  # only 3 cores for actors
        (2, 0.004, 0.001, 1),  # one core: everything in turn
    ):
        setting = (
            f"{n_actors} actors at {actor_seconds * 1e3:g} ms per step, a learner "
            f"at {learner_seconds * 1e3:g} ms per step, {cores} core(s)"
        )
        returned = _attempt(
            function, n_actors, actor_seconds, learner_seconds, cores, when=setting
        )
        got = float(_numbers(returned, (), "steps per second, one number"))
        expected = predicted_steps_per_second(
            n_actors, actor_seconds, learner_seconds, cores
        )
        if _close(got, expected):
            continue
        mistakes = {
            "you forgot that on one core actors and learner take turns": min(
                min(n_actors, max(cores - 1, 1)) / actor_seconds,
                1 / learner_seconds,
            ),
            "you let the actors scale without the learner's limit of 1 / "
            "learner_seconds steps/s": min(n_actors, max(cores - 1, 1)) / actor_seconds,
            "you gave every actor a core of its own; beyond cores - 1 actors they "
            "share the cores": min(n_actors / actor_seconds, 1 / learner_seconds),
            "you added the learner's cost to every actor's step, as if they ran "
            "in turn": min(n_actors, max(cores - 1, 1))
            / (actor_seconds + learner_seconds),
        }
        raise _Wrong(
            f"with {setting} the model predicts {expected:.6g} steps/s, you "
            f"returned {got:.6g}{_diagnose(np.float64(got), mistakes)}."
        )


def check_predicted_throughput(function: Callable) -> bool:
    """Check ``function(n_actors, actor_seconds, learner_seconds, cores) ->
    steps_per_second`` against :func:`predicted_steps_per_second`.
    """
    return _run(
        function,
        _scaling_cases,
        "the scaling model: actors limited by cores, the learner caps the total.",
    )


# ------------------------------------------ 08: policy lag, measured
def _policy_lag_cases(function: Callable) -> None:
    for name, acted, learner in (
        ("a chunk acted with versions [3, 3, 4, 5] reaching a learner at 6",
         [3, 3, 4, 5], 6),
        ("a chunk acted with the learner's own version 2", [2, 2], 2),
        ("a one-step chunk acted with version 0 reaching a learner at 9", [0], 9),
    ):  # fmt: skip
        returned = _attempt(
            function, np.array(acted, dtype=np.int64), learner, when=f"on {name}"
        )
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise _Wrong(
                f"on {name} your function returned {returned!r}; return a tuple "
                "(mean lag, max lag)."
            )
        got = _numbers(returned, (2,), "(mean lag, max lag)")
        lags = learner - np.array(acted, dtype=np.float64)
        expected = np.array([lags.mean(), lags.max()])
        if _close(got, expected):
            continue
        mistakes = {
            "you subtracted the wrong way round; the lag is the learner's version "
            "minus the version that acted, never negative": np.array(
                [-lags.mean(), -lags.min()]
            ),
            "you reported the smallest lag as the max; the largest lag comes from "
            "the oldest version in the chunk": np.array([lags.mean(), lags.min()]),
            "you measured only the chunk's last transition": np.array(
                [lags[-1], lags[-1]]
            ),
        }
        raise _Wrong(
            f"on {name} (mean, max) lag is {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )
    try:
        returned = function(np.array([], dtype=np.int64), 3)
    except NotImplementedError:
        raise _NotAttempted from None
    except ValueError:
        return
    except Exception as error:
        raise _Wrong(
            f"an empty chunk should raise ValueError, yours raised "
            f"{type(error).__name__}: {error}"
        ) from None
    raise _Wrong(
        f"an empty chunk returned {returned!r}; it has no lag to measure, raise "
        "ValueError."
    )


def check_policy_lag(function: Callable) -> bool:
    """Check ``function(acted_versions, learner_version) -> (mean, max)``: the
    policy lag of a chunk, the learner's weight version minus the version each
    transition was acted with; ``ValueError`` for an empty chunk.
    """
    return _run(
        function,
        _policy_lag_cases,
        "policy lag: learner's version minus the acting version, mean and max.",
    )


# ------------------------------------------ 10: how much to batch per call
def smallest_batch(call_seconds: float, transition_seconds: float, overhead: float):
    """The smallest batch whose per-call cost is at most ``overhead`` of a call.

    A Ray call moving ``b`` transitions costs ``call_seconds + b *
    transition_seconds``; the fixed part's share is ``call_seconds / (that)``.
    """
    batch = math.ceil(
        call_seconds * (1 - overhead) / (overhead * transition_seconds) - 1e-9
    )
    return max(batch, 1)


def _batch_cases(function: Callable) -> None:
    for call, per, overhead in (
        (1e-3, 1.1e-6, 0.1),  # 1 ms per call, 1.1 us per transition: 8182
        (1e-3, 3e-6, 0.05),  # 6333.33 -> 6334
        (1e-3, 1e-3, 0.5),  # an exact boundary: 1
        (1e-4, 1e-3, 0.5),  # any batch will do: at least 1
    ):
        setting = (
            f"a call cost of {call * 1e3:g} ms, {per * 1e6:g} us per transition and "
            f"at most {overhead:.0%} overhead"
        )
        returned = _attempt(function, call, per, overhead, when=f"for {setting}")
        if isinstance(returned, bool) or not isinstance(returned, (int, np.integer)):
            raise _Wrong(
                f"for {setting} you returned {returned!r}; return a whole number of "
                "transitions, an int."
            )
        expected = smallest_batch(call, per, overhead)
        got = int(returned)
        if got == expected:
            continue
        raw = call * (1 - overhead) / (overhead * per)
        if got == math.floor(raw - 1e-9) and got < expected:
            hint = (
                ": you rounded down, which leaves the overhead just above the "
                "limit; round up"
            )
        elif got == math.ceil(call / (overhead * per) - 1e-9):
            hint = (
                ": you compared the call's cost with the transitions' cost alone; "
                "the overhead is its share of the whole call, call / (call + b t)"
            )
        elif got < 1:
            hint = ": a call carries at least one transition"
        else:
            hint = ""
        raise _Wrong(
            f"for {setting} the smallest batch is {expected}, you returned {got}{hint}."
        )


def check_smallest_batch(function: Callable) -> bool:
    """Check ``function(call_seconds, transition_seconds, overhead) -> batch``
    against :func:`smallest_batch`.
    """
    return _run(
        function,
        _batch_cases,
        "batch size: the smallest batch that keeps a call's overhead in bounds.",
    )


# ------------------------------------------ 11: honest speed-up ratios
def _speedup_cases(function: Callable) -> None:
    for name, measured, cores in (
        ("steps/s {1: 200, 2: 360, 4: 380} on 2 cores", {1: 200.0, 2: 360.0,
         4: 380.0}, 2),
        ("steps/s {1: 50, 3: 140} on 4 cores", {1: 50.0, 3: 140.0}, 4),
    ):  # fmt: skip
        returned = _attempt(function, dict(measured), cores, when=f"on {name}")
        if not isinstance(returned, dict) or set(returned) != set(measured):
            raise _Wrong(
                f"on {name} your function returned {returned!r}; return a dict "
                f"with one ratio per worker count {sorted(measured)}."
            )
        keys = sorted(measured)
        got = _numbers([returned[k] for k in keys], (len(keys),), "the ratios")
        expected = np.array([measured[k] / measured[1] for k in keys])
        if _close(got, expected):
            continue
        best = max(measured.values())
        mistakes = {
            "you divided 1 worker by n workers; the speed-up is n workers' "
            "steps/s over 1 worker's": 1 / expected,
            "you divided by the fastest run; the reference is 1 worker, measured "
            "in the same run": np.array([measured[k] / best for k in keys]),
            "you divided by the worker count too; that is the efficiency, not "
            "the speed-up": expected / np.array(keys, dtype=np.float64),
        }
        raise _Wrong(
            f"on {name} the ratios are {_fmt(expected)}, you returned "
            f"{_fmt(got)}{_diagnose(got, mistakes)}."
        )
    for name, measured, cores, why in (
        ("steps/s {1: 100, 2: 310} on 2 cores", {1: 100.0, 2: 310.0}, 2,
         "a ratio of 3.1 on 2 cores means miscounted steps"),
        ("steps/s {2: 300, 4: 500} on 4 cores", {2: 300.0, 4: 500.0}, 4,
         "without a 1-worker run there is no reference"),
    ):  # fmt: skip
        try:
            returned = function(dict(measured), cores)
        except NotImplementedError:
            raise _NotAttempted from None
        except ValueError:
            continue
        except Exception as error:
            raise _Wrong(
                f"on {name} your function should raise ValueError ({why}), it "
                f"raised {type(error).__name__}: {error}"
            ) from None
        raise _Wrong(
            f"on {name} your function returned {returned!r}; raise ValueError: {why}."
        )


def check_speedup_ratios(function: Callable) -> bool:
    """Check ``function(steps_per_second, cores) -> ratios``: each worker
    count's steps/s over the 1-worker run of the same measurement; ValueError
    when the 1-worker run is missing or a ratio exceeds the core count.
    """
    return _run(
        function,
        _speedup_cases,
        "speed-up ratios: against 1 worker, and never above the core count.",
    )


# ================================================================ registry
@dataclass(frozen=True)
class Exercise:
    """One checked exercise: what ``tools/exercise_cells.py`` turns into cells."""

    key: str
    """``"NN-k"``: notebook ``NN``, exercise ``k``."""
    name: str
    """The function the learner writes."""
    checker: str
    """The name of its checker in this module."""
    signature: str
    """The ``def`` line(s), as the stub and the solution share them."""
    solution: str
    """The solution's body, indented by four spaces."""
    mistakes: tuple[str, ...]
    """The common mistakes the checker names (for the teacher's guide)."""
    pair_work: bool = False
    """Whether the exercise fits pair work (two decisions to argue about)."""

    @property
    def notebook(self) -> str:
        return self.key.split("-")[0]

    def source(self) -> str:
        """The solution as one function definition."""
        return f"{self.signature}\n{self.solution}"


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "01-1",
        "policy_evaluation",
        "check_policy_evaluation",
        "def policy_evaluation(P, R, policy, gamma):",
        """\
    states = np.arange(len(policy))
    P_pi = P[states, policy]  # [S, S']: where the policy's action leads
    R_pi = R[states, policy]  # [S]: the reward it expects
    V = np.zeros(len(policy))
    while True:  # iterate the Bellman expectation backup until it stops moving
        V_new = R_pi + gamma * P_pi @ V
        if np.max(np.abs(V_new - V)) < 1e-12:
            return V_new
        V = V_new
""",
        (
            "taking the best action (value iteration's V*) instead of policy[s]",
            "stopping after one sweep",
            "leaving out gamma",
        ),
    ),
    Exercise(
        "01-2",
        "bellman_backup_arrays",
        "check_bellman_backup",
        "def bellman_backup_arrays(V, P, R, gamma):",
        """\
    # Q[s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] V[s']: an expectation.
    return R + gamma * P @ V
""",
        (
            "returning V (a max over actions) instead of Q[s, a]",
            "bootstrapping from the best next state instead of the expectation",
            "leaving out gamma",
        ),
    ),
    Exercise(
        "03-2",
        "linear_epsilon",
        "check_linear_epsilon",
        "def linear_epsilon(t, start, end, duration):",
        """\
    if t >= duration:  # after the decay: stay at end
        return end
    return start + (t / duration) * (end - start)
""",
        (
            "not clamping at end after duration",
            "decreasing to 0 instead of end",
            "an off-by-one (duration - 1)",
        ),
    ),
    Exercise(
        "04-1",
        "ring_add",
        "check_ring_add",
        "def ring_add(slots, position, size, value):",
        """\
    capacity = len(slots)
    slots[position] = value  # overwrite the oldest slot once full
    return (position + 1) % capacity, min(size + 1, capacity)
""",
        (
            "not wrapping the position around (IndexError at capacity)",
            "letting size grow beyond capacity",
            "writing to the newest slot instead of the oldest",
        ),
    ),
    Exercise(
        "04-2",
        "ring_sample",
        "check_ring_sample",
        "def ring_sample(size, capacity, batch_size, rng):",
        """\
    if size == 0:
        raise ValueError("cannot sample from an empty buffer")
    # Only the filled slots, with replacement, from the buffer's own rng.
    return rng.integers(size, size=batch_size)
""",
        (
            "sampling range(capacity), empty slots included",
            "an off-by-one that never samples the newest slot",
            "sampling without replacement (fails for a batch larger than size)",
            "drawing from np.random instead of rng",
            "returning garbage instead of raising on an empty buffer",
        ),
    ),
    Exercise(
        "05-1",
        "td_target",
        "check_td_target",
        "def td_target(rewards, next_q, terminated, gamma):",
        """\
    with torch.no_grad():  # targets are constants: no gradient flows into them
        return rewards + gamma * (1 - terminated) * next_q.max(dim=1).values
""",
        (
            "forgetting (1 - terminated)",
            "multiplying by terminated instead of (1 - terminated)",
            "a target that carries a gradient",
            "shape [batch, 1] from keepdim",
        ),
    ),
    Exercise(
        "05-2",
        "n_step_target",
        "check_n_step_target",
        "def n_step_target(rewards, terminated, truncated, next_values, gamma):",
        """\
    target, discount = 0.0, 1.0
    for reward, term, trunc, next_value in zip(
        rewards, terminated, truncated, next_values, strict=True
    ):
        target += discount * reward
        discount *= gamma  # gamma**k after k steps
        if term:  # a terminal step cuts: nothing follows it
            return target
        if trunc:  # a time limit: bootstrap from the true final observation
            return target + discount * next_value
    return target + discount * next_value  # the window's end: bootstrap
""",
        (
            "bootstrapping through a terminal step",
            "not bootstrapping a truncated step (treating it as terminal)",
            "summing rewards past the episode's end",
        ),
        pair_work=True,
    ),
    Exercise(
        "06-1",
        "double_dqn_target",
        "check_double_dqn_target",
        "def double_dqn_target(rewards, next_q_target, next_q_online, terminated, "
        "gamma):",
        """\
    best = next_q_online.argmax(dim=1, keepdim=True)  # the online net chooses
    value = next_q_target.gather(1, best).squeeze(1)  # the target net values
    return rewards + gamma * (1 - terminated) * value
""",
        (
            "plain DQN's max of the target network",
            "the two networks' roles swapped",
            "forgetting (1 - terminated)",
        ),
        pair_work=True,
    ),
    Exercise(
        "06-2",
        "polyak",
        "check_polyak_update",
        "def polyak(target_params, online_params, tau):",
        """\
    with torch.no_grad():  # parameters are leaves that require grad
        for target, online in zip(target_params, online_params, strict=True):
            target.mul_(1 - tau).add_(tau * online)
""",
        (
            "the weights swapped (tau on the target)",
            "rebinding a name instead of updating in place",
            "an in-place update outside torch.no_grad()",
        ),
    ),
    Exercise(
        "07-1",
        "segment_returns",
        "check_segment_returns",
        "def segment_returns(rewards, terminated, bootstrap, gamma):",
        """\
    value = 0.0 if terminated else bootstrap  # nothing follows a terminal state
    returns = [0.0] * len(rewards)
    for i in range(len(rewards) - 1, -1, -1):  # backwards: R <- r_i + gamma R
        value = rewards[i] + gamma * value
        returns[i] = value
    return returns
""",
        (
            "bootstrapping a terminal segment",
            "accumulating forwards instead of backwards",
            "the returns in reverse order",
        ),
    ),
    Exercise(
        "07-2",
        "lock_free_updates",
        "check_lock_free_updates",
        "def lock_free_updates(q, events, targets, alpha):",
        """\
    versions = [0] * len(q)  # how many writes each cell has seen
    reads = {}  # worker -> (the value it read, the cell's version then)
    lost = 0
    for worker, kind, cell in events:
        if kind == "read":
            reads[worker] = (q[cell], versions[cell])
        else:
            old, version = reads.pop(worker)
            if versions[cell] != version:  # someone wrote since our read:
                lost += 1  # their update is overwritten
            q[cell] = old + alpha * (targets[worker] - old)
            versions[cell] += 1
    return lost
""",
        (
            "reading Q again at the write (that is the locked update)",
            "counting overlapping reads instead of overwritten writes",
        ),
        pair_work=True,
    ),
    Exercise(
        "08-1",
        "make_chunks",
        "check_make_chunks",
        "def make_chunks(steps, chunk_size):",
        """\
    chunks, pending = [], []

    def send(rows):
        return {
            "obs": np.asarray([s["obs"] for s in rows], dtype=np.float32),
            "actions": np.asarray([s["action"] for s in rows], dtype=np.int64),
            "rewards": np.asarray([s["reward"] for s in rows], dtype=np.float32),
            "next_obs": np.asarray([s["next_obs"] for s in rows], dtype=np.float32),
            "terminated": np.asarray([s["terminated"] for s in rows], dtype=bool),
        }

    for step in steps:
        pending.append(step)
        if len(pending) == chunk_size:
            chunks.append(send(pending))
            pending = []
    if pending:  # the actor stops: send what is left
        chunks.append(send(pending))
    return chunks
""",
        (
            "dropping the partial chunk at the end",
            "lists or tensors instead of NumPy arrays",
            "refilling one array without copying it",
            "an empty chunk",
        ),
    ),
    Exercise(
        "08-2",
        "policy_lag",
        "check_policy_lag",
        "def policy_lag(acted_versions, learner_version):",
        """\
    if len(acted_versions) == 0:
        raise ValueError("an empty chunk has no policy lag")
    lags = learner_version - np.asarray(acted_versions)  # never negative
    return float(lags.mean()), float(lags.max())
""",
        (
            "the subtraction the wrong way round (negative lags)",
            "the smallest lag reported as the max",
            "only the chunk's last transition measured",
        ),
    ),
    Exercise(
        "09-1",
        "batched_update",
        "check_batched_update",
        "def batched_update(q_table, states, actions, targets, alpha):",
        """\
    flat = q_table.view(-1)
    index = states * q_table.shape[1] + actions
    total = torch.zeros_like(flat).index_add_(0, index, targets)
    count = torch.zeros_like(flat).index_add_(0, index, torch.ones_like(targets))
    mean = total / count.clamp(min=1)
    flat.add_(torch.where(count > 0, mean - flat, 0.0), alpha=alpha)
""",
        (
            "an indexed += that keeps one write per repeated pair",
            "moving by the sum of the errors instead of towards the mean",
            "changing unvisited pairs (0/0)",
        ),
        pair_work=True,
    ),
    Exercise(
        "09-2",
        "batched_greedy",
        "check_batched_greedy",
        "def batched_greedy(q_values, generator):",
        """\
    maximal = q_values == q_values.max(dim=1, keepdim=True).values
    noise = torch.rand(q_values.shape, generator=generator)
    return torch.where(maximal, noise, -1.0).argmax(dim=1)  # a random maximum
""",
        (
            "argmax's ties broken by the lowest index",
            "a non-maximal action",
            "noise not drawn from the generator",
        ),
    ),
    Exercise(
        "10-1",
        "shard_update",
        "check_shard_update",
        "def shard_update(q_local, q_stale, rows, transitions, alpha, gamma):",
        """\
    applied = 0
    for state, action, reward, next_state, terminated in transitions:
        if state not in rows:  # another shard's state: not ours to update
            continue
        source = q_local if next_state in rows else q_stale  # fresh or stale
        bootstrap = 0.0 if terminated else np.max(source[next_state])
        target = reward + gamma * bootstrap
        q_local[state, action] += alpha * (target - q_local[state, action])
        applied += 1
    return applied
""",
        (
            "writing to another shard's rows",
            "reading another shard's row from the local table (NaN)",
            "reading the shard's own rows from the stale copy",
        ),
        pair_work=True,
    ),
    Exercise(
        "10-2",
        "batch_for_overhead",
        "check_smallest_batch",
        "def batch_for_overhead(call_seconds, transition_seconds, overhead):",
        """\
    # call / (call + b t) <= overhead  <=>  b >= call (1 - overhead) / (overhead t)
    needed = call_seconds * (1 - overhead) / (overhead * transition_seconds)
    return max(int(np.ceil(needed)), 1)  # round up: at least one transition
""",
        (
            "rounding down",
            "the overhead measured against the transitions' cost alone",
            "a batch of 0",
        ),
    ),
    Exercise(
        "11-1",
        "predicted_throughput",
        "check_predicted_throughput",
        "def predicted_throughput(n_actors, actor_seconds, learner_seconds, cores):",
        """\
    if cores == 1:  # actors and learner take turns on the one core
        return 1.0 / (actor_seconds + learner_seconds)
    produced = min(n_actors, cores - 1) / actor_seconds  # one core for the learner
    return min(produced, 1.0 / learner_seconds)  # the learner caps the total
""",
        (
            "no learner cap (linear speed-up)",
            "more actors than cores still speeding up",
            "forgetting that one core runs everything in turn",
        ),
    ),
    Exercise(
        "11-2",
        "speedup_ratios",
        "check_speedup_ratios",
        "def speedup_ratios(steps_per_second, cores):",
        """\
    if 1 not in steps_per_second:
        raise ValueError("a speed-up needs the 1-worker run of the same measurement")
    ratios = {n: rate / steps_per_second[1] for n, rate in steps_per_second.items()}
    if max(ratios.values()) > cores:
        raise ValueError(f"a speed-up above {cores} cores: steps are miscounted")
    return ratios
""",
        (
            "the ratio inverted",
            "dividing by the fastest run instead of 1 worker",
            "the efficiency (divided by n) instead of the speed-up",
            "not refusing a speed-up above the core count",
        ),
        pair_work=True,
    ),
)
"""The exercises of the later notebooks, in course order."""

SOLUTIONS.update({exercise.name: exercise.source() for exercise in EXERCISES})

__all__ += ["EXERCISES", "Exercise", "predicted_steps_per_second"] + sorted(
    {exercise.checker for exercise in EXERCISES}
)
