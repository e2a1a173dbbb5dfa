"""Tests of qlearn_lite.envs: CostlyEnv changes the cost of a step, nothing else."""

from __future__ import annotations

import functools
import pickle
import time

import gymnasium as gym
import numpy as np
import pytest

from qlearn_lite import envs
from qlearn_lite.envs import CostlyEnv, burn_cpu, costly_env_fn, make_costly_env


def _rollout(env: gym.Env, steps: int, seed: int) -> list[tuple]:
    """(obs, reward, terminated, truncated) of ``steps`` steps of seeded actions."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    record = [(obs.copy(), 0.0, False, False)]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
        record.append((obs.copy(), float(reward), terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
    return record


def test_behaviour_is_the_wrapped_envs():
    """Same seed, same actions: the same observations, rewards and episode ends."""
    plain = _rollout(gym.make("CartPole-v1"), 200, seed=3)
    costly = _rollout(CostlyEnv(gym.make("CartPole-v1"), cpu_ms=0.01), 200, seed=3)
    assert len(plain) == len(costly)
    for (obs_a, *rest_a), (obs_b, *rest_b) in zip(plain, costly, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert rest_a == rest_b
    assert sum(record[2] for record in plain) >= 2  # episodes did end


def test_step_calls_the_burner_with_cpu_ms(monkeypatch):
    """Each step burns exactly the configured milliseconds, once; reset burns none."""
    calls = []
    monkeypatch.setattr(envs, "burn_cpu", calls.append)
    env = CostlyEnv(gym.make("CartPole-v1"), cpu_ms=2.5)
    env.reset(seed=0)
    assert calls == []
    for _ in range(3):
        env.step(0)
    assert calls == [2.5, 2.5, 2.5]
    assert env.steps == 3


def test_step_sleeps_sleep_ms(monkeypatch):
    """sleep_ms is handed to time.sleep in seconds; no CPU is burned for it."""
    slept, burned = [], []
    monkeypatch.setattr(envs.time, "sleep", slept.append)
    monkeypatch.setattr(envs, "burn_cpu", burned.append)
    env = CostlyEnv(gym.make("CartPole-v1"), sleep_ms=4.0)
    env.reset(seed=0)
    env.step(1)
    env.step(1)
    assert slept == [0.004, 0.004]
    assert burned == []


def test_burn_cpu_uses_at_least_the_cpu_time_asked():
    """burn_cpu(ms) advances this thread's CPU clock by at least ms (lower bound)."""
    start = time.thread_time()
    used = burn_cpu(20.0)
    elapsed = time.thread_time() - start
    assert used >= 0.020
    assert elapsed >= 0.020
    assert burn_cpu(0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"cpu_ms": -1.0}, ValueError),
        ({"sleep_ms": float("nan")}, ValueError),
        ({"cpu_ms": 20_000.0}, ValueError),
        ({"cpu_ms": "1"}, TypeError),
        ({"sleep_ms": True}, TypeError),
    ],
)
def test_bad_costs_are_rejected(kwargs, error):
    """Costs must be numbers in [0, 10000] ms; the message names the argument."""
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        CostlyEnv(gym.make("CartPole-v1"), **kwargs)
    with pytest.raises(error, match=name):
        costly_env_fn("CartPole-v1", **kwargs)


def test_wraps_only_envs():
    """Wrapping something that is not an env is a TypeError saying what was given."""
    with pytest.raises(TypeError, match="gymnasium.Env, got str"):
        CostlyEnv("CartPole-v1")


def test_factory_pickles_and_builds_the_env():
    """costly_env_fn gives a picklable partial whose call builds the CostlyEnv."""
    factory = costly_env_fn("CartPole-v1", cpu_ms=1.0, sleep_ms=0.5)
    assert isinstance(factory, functools.partial)
    assert factory.func is make_costly_env
    env = pickle.loads(pickle.dumps(factory))()
    assert isinstance(env, CostlyEnv)
    assert (env.cpu_ms, env.sleep_ms) == (1.0, 0.5)
    assert env.spec.id == "CartPole-v1"
    assert isinstance(env.action_space, gym.spaces.Discrete)


def test_factory_rejects_unknown_ids():
    """An id Gymnasium does not know fails in the caller, not in a child."""
    with pytest.raises(ValueError, match="CartPol-v1"):
        costly_env_fn("CartPol-v1")
