"""Environments with a known cost per step: the knob that shows when parallel
actors pay (notebooks 08 and 11).

A CartPole step costs a few microseconds, far less than sending its transition
to another process or updating a network, so on CartPole parallel actors can
only lose. Real simulators (physics engines, games, robots) cost milliseconds
per step. :class:`CostlyEnv` wraps any Gymnasium env and makes every ``step``
cost a fixed amount of

* **CPU work** (``cpu_ms``): the step spins in a Python loop until *this
  thread* has used ``cpu_ms`` milliseconds of CPU time
  (:func:`burn_cpu`, timed with ``time.thread_time``). It stands for a
  simulator written in Python: it holds the GIL, so threads cannot overlap it,
  and it needs a free core, so processes overlap it only as far as there are
  cores.
* **waiting** (``sleep_ms``): the step sleeps, which stands for a remote
  simulator, a robot or a disk. It uses no CPU, so threads overlap it as well
  as processes do.

Why spin on ``thread_time`` and not on the wall clock
-----------------------------------------------------
A loop that spins until ``time.perf_counter()`` passes a deadline costs
``cpu_ms`` of *wall* time; when two such loops share one core each gets half
of it and the "work" done shrinks without anyone noticing, so a speed-up
measured with it would be too kind. A loop calibrated once (``k`` iterations
per millisecond) costs the right CPU time only on the machine and in the load
it was calibrated in. ``time.thread_time()`` counts the CPU seconds the
calling thread really ran: spinning until it has advanced by ``cpu_ms`` is a
fixed amount of CPU work however busy the machine is, a thread waiting for the
GIL does not advance it, and a process waiting for a core does not either.
That is the honest cost for a parallel benchmark to divide up.

The env's behaviour is unchanged: the same observations, rewards, episode ends
and random streams as the wrapped env, step for step.

For processes and Ray an env has to be built *in* the worker from a function
that can be pickled. :func:`costly_env_fn` returns one: a
``functools.partial`` of the module-level :func:`make_costly_env`, which a
spawned child can import (a lambda or a function defined in a notebook can not
be pickled by reference).
"""

from __future__ import annotations

import functools
import time
from typing import Any, SupportsFloat

import gymnasium as gym

from qlearn_lite.utils import check_number, make_env

__all__ = ["CostlyEnv", "burn_cpu", "costly_env_fn", "make_costly_env"]

MAX_COST_MS = 10_000.0
"""The largest cost per step accepted (10 s): anything more is surely a unit slip."""


def burn_cpu(milliseconds: float) -> float:
    """Spin until this thread has used ``milliseconds`` ms of CPU time.

    Timed with ``time.thread_time()`` (CPU time of the calling thread, not
    wall time): the loop ends once that clock has advanced by
    ``milliseconds / 1000`` seconds, so it is the same amount of work whether
    the core is free or shared. Returns the CPU seconds actually used (a
    little more than asked for: the clock is read once per loop). ``0``
    returns at once.
    """
    if milliseconds <= 0:
        return 0.0
    start = time.thread_time()
    deadline = start + milliseconds / 1000.0
    now = start
    while now < deadline:
        now = time.thread_time()
    return now - start


def _check_cost(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, MAX_COST_MS)


class CostlyEnv(gym.Wrapper):
    """A Gymnasium env whose every ``step`` costs ``cpu_ms`` of CPU and ``sleep_ms``
    of waiting on top of the wrapped env's own cost.

    Args:
        env: the env to wrap; its spaces, observations, rewards and episode
            ends are passed through unchanged.
        cpu_ms: milliseconds of CPU time each step burns in this thread
            (:func:`burn_cpu`): a Python simulator that holds the GIL. In
            ``[0, 10000]``.
        sleep_ms: milliseconds each step sleeps (``time.sleep``): a simulator
            elsewhere that the step waits for, using no CPU. In ``[0, 10000]``.

    ``reset`` costs nothing extra. The wrapper counts its steps in
    :attr:`steps` (handy to check a worker's step count).

    >>> env = CostlyEnv(gym.make("CartPole-v1"), cpu_ms=1.0)  # doctest: +SKIP
    """

    def __init__(self, env: gym.Env, cpu_ms: float = 0.0, sleep_ms: float = 0.0):
        if not isinstance(env, gym.Env):
            raise TypeError(f"env must be a gymnasium.Env, got {type(env).__name__}")
        super().__init__(env)
        self.cpu_ms = _check_cost("cpu_ms", cpu_ms)
        self.sleep_ms = _check_cost("sleep_ms", sleep_ms)
        self.steps = 0

    def step(
        self, action: Any
    ) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """The wrapped env's step, after ``cpu_ms`` of CPU work and ``sleep_ms``
        of sleep."""
        if self.cpu_ms:
            burn_cpu(self.cpu_ms)
        if self.sleep_ms:
            time.sleep(self.sleep_ms / 1000.0)
        self.steps += 1
        return self.env.step(action)


def make_costly_env(
    env_id: str, cpu_ms: float = 0.0, sleep_ms: float = 0.0, **make_kwargs: Any
) -> CostlyEnv:
    """``CostlyEnv(gymnasium.make(env_id, **make_kwargs), cpu_ms, sleep_ms)``."""
    return CostlyEnv(make_env(env_id, **make_kwargs), cpu_ms=cpu_ms, sleep_ms=sleep_ms)


def costly_env_fn(
    env_id: str, cpu_ms: float = 0.0, sleep_ms: float = 0.0, **make_kwargs: Any
) -> functools.partial[CostlyEnv]:
    """A picklable function of no arguments that builds a :class:`CostlyEnv`.

    ``costly_env_fn("CartPole-v1", cpu_ms=1)`` can be handed to spawned
    processes and Ray actors as the env to build: it is a ``functools.partial``
    of the module-level :func:`make_costly_env`. The arguments are checked
    here, so a bad one fails in the caller, not in a child.
    """
    if not isinstance(env_id, str) or env_id not in gym.registry:
        raise ValueError(
            f"env_id must be a registered Gymnasium id such as 'CartPole-v1', "
            f"got {env_id!r}"
        )
    _check_cost("cpu_ms", cpu_ms)
    _check_cost("sleep_ms", sleep_ms)
    return functools.partial(
        make_costly_env, env_id, cpu_ms=cpu_ms, sleep_ms=sleep_ms, **make_kwargs
    )
