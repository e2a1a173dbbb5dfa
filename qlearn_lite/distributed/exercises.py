"""Checkers for the exercises of notebook 10 (Spinning Up's style: a stub, a
checker that says what is wrong, a hidden answer in :func:`show_solution`).

=========================  ==================================================
exercise                   the learner writes
=========================  ==================================================
``shard_of``               ``f(states, bounds) -> int64 [n]``: the shard that
                           owns each state, for ``shard_bounds`` blocks
``stale_block_update``     ``f(q_local, states, actions, next_states, rewards,
                           terminated, step, gamma) -> new Q[states, actions]``:
                           one worker's updates, reading its stale local copy
=========================  ==================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qlearn_lite.distributed.sharded import shard_bounds

__all__ = ["check_shard_of", "check_stale_block_update", "show_solution"]

PASS, FAIL = "✓", "✗"

SOLUTIONS = {
    "shard_of": """\
def shard_of(states, bounds):
    # Shard k owns bounds[k] <= s < bounds[k + 1]: the number of right edges
    # bounds[1:] that are <= s is the index of the shard.
    return np.searchsorted(bounds[1:], states, side="right")
""",
    "stale_block_update": """\
def stale_block_update(q_local, states, actions, next_states, rewards, terminated,
                       step, gamma):
    # Targets read the worker's local copy, other blocks' rows as old as the
    # last refresh; a terminal next state is worth 0.
    next_value = np.where(terminated, 0.0, q_local[next_states].max(axis=1))
    targets = rewards + gamma * next_value
    current = q_local[states, actions]
    return current + step * (targets - current)
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


def check_shard_of(function: Callable) -> bool:
    """Check ``function(states, bounds)`` on several splits; print the verdict."""
    for n_states, n_shards in ((16, 4), (16, 3), (64, 5), (7, 7), (10, 1)):
        bounds = shard_bounds(n_states, n_shards)
        states = np.arange(n_states)
        expected = np.repeat(np.arange(n_shards), np.diff(bounds))
        ok, got = _call(function, states, bounds)
        if not ok:
            return False
        got = np.asarray(got)
        if got.shape != expected.shape or not np.array_equal(got, expected):
            print(
                f"{FAIL} {n_states} states in {n_shards} shards (bounds "
                f"{bounds.tolist()}): expected {expected.tolist()}, got "
                f"{got.tolist()}"
            )
            if got.shape == expected.shape and np.array_equal(
                got[bounds[1:-1]], expected[bounds[1:-1]] - 1
            ):
                print(
                    "  a state on a boundary goes to the shard that starts there "
                    "(bounds[k] belongs to shard k, not k - 1)"
                )
            return False
    print(f"{PASS} shard_of: every state goes to the shard that owns it")
    return True


def check_stale_block_update(function: Callable) -> bool:
    """Check one worker's batch of updates against the reference; print why not."""
    rng = np.random.default_rng(0)
    q_local = rng.random((6, 3))
    q_fresh = q_local.copy()
    q_fresh[4:] += 1.0  # what the other block's shard holds now: not seen yet
    states = np.array([0, 0, 1, 2])
    actions = np.array([0, 2, 1, 1])
    next_states = np.array([4, 1, 5, 2])
    rewards = np.array([0.0, 1.0, 0.5, 0.0])
    terminated = np.array([False, False, True, False])
    step, gamma = 0.5, 0.9
    arguments = (q_local.copy(), states, actions, next_states, rewards, terminated)
    ok, got = _call(function, *arguments, step, gamma)
    if not ok:
        return False
    got = np.asarray(got, dtype=np.float64)

    def reference(q: np.ndarray, ignore_terminal: bool = False) -> np.ndarray:
        done = np.zeros_like(terminated) if ignore_terminal else terminated
        targets = rewards + gamma * np.where(done, 0.0, q[next_states].max(axis=1))
        current = q_local[states, actions]
        return current + step * (targets - current)

    expected = reference(q_local)
    if got.shape != expected.shape:
        print(
            f"{FAIL} expected one new value per update, shape {expected.shape}, "
            f"got shape {got.shape}"
        )
        return False
    if np.allclose(got, expected):
        print(f"{PASS} stale_block_update: targets from the local copy, as Ray's")
        return True
    print(f"{FAIL} expected {np.round(expected, 4)}, got {np.round(got, 4)}")
    if np.allclose(got, reference(q_fresh)):
        print("  the targets read the fresh table; a worker only has its copy")
    elif np.allclose(got, reference(q_local, ignore_terminal=True)):
        print("  a terminated transition must not bootstrap: its target is r")
    else:
        print("  target = r + gamma * max_a' q_local[s', a'] (r if terminated)")
    return False
