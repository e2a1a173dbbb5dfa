"""Checkers for the exercises of notebook 08 (learners in processes).

As in :mod:`qlearn_lite.exercises`: each ``check_*`` runs the learner's
function on small cases with known answers, prints for the first failure what
was expected, what came back and which common mistake it looks like, and
returns ``True`` when everything passes. :func:`show_solution` prints the
reference solution when asked.

=====================  =====================================================
exercise               the learner writes
=====================  =====================================================
``send_in_chunks``     ``f(transitions, queue, chunk_size)``: put the
                       transitions on ``queue`` as dicts of NumPy arrays,
                       ``chunk_size`` per message (the last one shorter)
``apex_epsilon``       ``f(i, n_actors, eps=0.4, alpha=7.0) -> float``: actor
                       ``i``'s exploration rate in Ape-X
=====================  =====================================================
"""

from __future__ import annotations

import math
import queue as queue_module
from collections.abc import Callable

import numpy as np

from qlearn_lite.exercises import FAIL, PASS, _call
from qlearn_lite.parallel import apex_epsilons

__all__ = ["check_apex_epsilon", "check_send_in_chunks", "show_solution"]

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")
"""The keys of one chunk, in the order of a transition tuple."""

SOLUTIONS = {
    "send_in_chunks": """\
def send_in_chunks(transitions, queue, chunk_size):
    for start in range(0, len(transitions), chunk_size):
        chunk = transitions[start : start + chunk_size]  # the last may be shorter
        obs, actions, rewards, next_obs, terminated = zip(*chunk)
        queue.put(
            {
                "obs": np.stack(obs).astype(np.float32),
                "actions": np.asarray(actions, dtype=np.int64),
                "rewards": np.asarray(rewards, dtype=np.float32),
                "next_obs": np.stack(next_obs).astype(np.float32),
                "terminated": np.asarray(terminated, dtype=bool),
            }
        )
""",
    "apex_epsilon": """\
def apex_epsilon(i, n_actors, eps=0.4, alpha=7.0):
    if n_actors == 1:  # i / (N - 1) is 0 / 0: one actor explores with eps
        return eps
    return eps ** (1 + alpha * i / (n_actors - 1))
""",
}


def show_solution(exercise: str) -> None:
    """Print the reference solution of ``exercise`` (try it yourself first)."""
    if exercise not in SOLUTIONS:
        raise ValueError(
            f"exercise must be one of {sorted(SOLUTIONS)}, got {exercise!r}"
        )
    print(SOLUTIONS[exercise])


# ------------------------------------------------------------ send_in_chunks
def _transitions(count: int) -> list[tuple]:
    """``count`` distinguishable CartPole-sized transitions."""
    return [
        (
            np.full(4, index, dtype=np.float32),
            index % 2,
            float(index),
            np.full(4, index + 1, dtype=np.float32),
            index % 5 == 4,
        )
        for index in range(count)
    ]


def _drain(channel: queue_module.Queue) -> list:
    messages = []
    while True:
        try:
            messages.append(channel.get_nowait())
        except queue_module.Empty:
            return messages


def _check_message(message, expected: list[tuple]) -> str | None:
    """What is wrong with one message that should hold ``expected``, or None."""
    if isinstance(message, tuple) and len(message) == 5:
        return (
            "a message is one transition tuple: that is one message per "
            "transition, the slow way (put a dict of arrays per chunk)"
        )
    if not isinstance(message, dict):
        return (
            f"a message should be a dict of NumPy arrays, got {type(message).__name__}"
        )
    if set(message) != set(FIELDS):
        return f"a chunk needs the keys {list(FIELDS)}, got {sorted(message)}"
    for name in FIELDS:
        value = message[name]
        if type(value).__module__.startswith("torch"):
            return (
                f"{name!r} is a torch tensor: small tensors through a queue are "
                "slow and die with their producer; send NumPy arrays"
            )
        if not isinstance(value, np.ndarray):
            return f"{name!r} should be a NumPy array, got {type(value).__name__}"
    count = len(expected)
    shapes = {
        "obs": (count, 4),
        "next_obs": (count, 4),
        "actions": (count,),
        "rewards": (count,),
        "terminated": (count,),
    }
    for name, shape in shapes.items():
        if message[name].shape != shape:
            return (
                f"{name!r} has shape {message[name].shape}, expected {shape} "
                f"for a chunk of {count} transitions"
            )
    columns = list(zip(*expected, strict=True))
    for index, name in enumerate(FIELDS):
        want = np.asarray(
            np.stack(columns[index]) if index in (0, 3) else columns[index]
        )
        if not np.array_equal(
            message[name].astype(np.float64), want.astype(np.float64)
        ):
            return (
                f"{name!r} holds {message[name].tolist()}, expected {want.tolist()} "
                "(transitions out of order, or fields mixed up?)"
            )
    if message["obs"].dtype != np.float32 or message["next_obs"].dtype != np.float32:
        return "observations should be float32 (what the network reads)"
    return None


def check_send_in_chunks(function: Callable) -> bool:
    """Check ``function(transitions, queue, chunk_size)`` on a ``queue.Queue``."""
    for count, chunk_size in ((10, 4), (8, 4), (3, 64), (0, 4), (130, 64)):
        channel: queue_module.Queue = queue_module.Queue()
        transitions = _transitions(count)
        ok, _ = _call(function, transitions, channel, chunk_size)
        if not ok:
            return False
        messages = _drain(channel)
        sizes = [
            min(chunk_size, count - start) for start in range(0, count, chunk_size)
        ]
        case = f"{count} transitions, chunk_size={chunk_size}"
        if len(messages) != len(sizes):
            hint = ""
            if len(messages) == count and count > len(sizes):
                hint = ": one message per transition"
            elif len(messages) == len(sizes) - 1:
                hint = ": the last, shorter chunk was not sent"
            print(
                f"{FAIL} {case}: expected {len(sizes)} messages of sizes {sizes}, "
                f"got {len(messages)}{hint}"
            )
            return False
        start = 0
        for message, size in zip(messages, sizes, strict=True):
            problem = _check_message(message, transitions[start : start + size])
            if problem is not None:
                print(f"{FAIL} {case}: {problem}")
                return False
            start += size
    print(f"{PASS} chunks of NumPy arrays, in order, the last one shorter: passed")
    return True


# -------------------------------------------------------------- apex_epsilon
def check_apex_epsilon(function: Callable) -> bool:
    """Check ``function(i, n_actors, eps, alpha)`` against Ape-X's formula."""
    for n_actors, eps, alpha in (
        (1, 0.4, 7.0),
        (2, 0.4, 7.0),
        (8, 0.4, 7.0),
        (3, 0.5, 2.0),
    ):
        expected = apex_epsilons(n_actors, eps, alpha)
        for i, want in enumerate(expected):
            if n_actors == 1:
                try:
                    function(i, n_actors, eps, alpha)
                except ZeroDivisionError:
                    print(
                        f"{FAIL} one actor: ZeroDivisionError. With N = 1, "
                        "i / (N - 1) is 0 / 0; Ape-X's single actor explores "
                        "with eps itself"
                    )
                    return False
                except Exception:  # noqa: BLE001 - reported by _call below
                    pass
            ok, got = _call(function, i, n_actors, eps, alpha)
            if not ok:
                return False
            case = f"actor {i} of {n_actors} (eps={eps}, alpha={alpha})"
            if not isinstance(got, (float, int)) or not math.isclose(
                float(got), want, rel_tol=1e-9
            ):
                hint = ""
                if n_actors > 1 and isinstance(got, (float, int)):
                    if math.isclose(float(got), eps ** (1 + alpha * i / n_actors)):
                        hint = ": that is i / N; the last actor needs i / (N - 1)"
                    elif math.isclose(float(got), eps ** (alpha * i / (n_actors - 1))):
                        hint = ": the exponent is 1 + alpha i / (N - 1) (the 1 + ...)"
                print(f"{FAIL} {case}: expected {want:.6g}, got {got!r}{hint}")
                return False
    print(f"{PASS} Ape-X epsilons for 1, 2, 3 and 8 actors: passed")
    return True
