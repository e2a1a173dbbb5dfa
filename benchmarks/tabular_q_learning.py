"""Steps per second: ``qlearn_lite.tabular.q_learning`` vs the plainest loop.

The reference is the Q-learning loop found in most tutorials, written directly
against Gymnasium with NumPy: ``argmax`` for the greedy action, ``np.max`` for
the target, ``env.action_space.sample()`` for exploration. Ours does more per
step (random tie-breaking, terminated-vs-truncated handling, per-episode
bookkeeping, schedules, snapshots); the goal is at least 0.8x the reference.

Both run on FrozenLake 8x8 (slippery) with the same hyper-parameters, in the
same process, alternating in pairs after a warm-up run of each; we report the
median of each and the median of the pairs' ratios (both sides of a pair saw
the same machine load). Steps/s depend on the machine and on what else runs
on it: read the ratio. Recorded runs: ``benchmarks/results/tabular_q_learning.txt``.

    python benchmarks/tabular_q_learning.py            # about 30-60 s
    python benchmarks/tabular_q_learning.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium as gym
import numpy as np

from qlearn_lite.tabular import q_learning

ENV_ID = "FrozenLake8x8-v1"
ALPHA, GAMMA, EPSILON = 0.1, 0.99, 0.1
GOAL = 0.8


def plain_q_learning(env: gym.Env, episodes: int, seed: int) -> tuple[np.ndarray, int]:
    """The plainest hand-written tabular Q-learning loop. Returns (Q, steps)."""
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    q_table = np.zeros((env.observation_space.n, env.action_space.n))
    steps = 0
    for episode in range(episodes):
        state, _ = env.reset(seed=seed if episode == 0 else None)
        done = False
        while not done:
            if rng.random() < EPSILON:
                action = env.action_space.sample()
            else:
                action = int(np.argmax(q_table[state]))
            next_state, reward, terminated, truncated, _ = env.step(action)
            target = reward + GAMMA * np.max(q_table[next_state]) * (not terminated)
            q_table[state, action] += ALPHA * (target - q_table[state, action])
            state = next_state
            done = terminated or truncated
            steps += 1
    return q_table, steps


def steps_per_second(run, episodes: int, seed: int) -> float:
    """Env steps per wall-clock second of one training run on a fresh env."""
    env = gym.make(ENV_ID)
    start = time.perf_counter()
    steps = run(env, episodes, seed)
    return steps / (time.perf_counter() - start)


def ours(env: gym.Env, episodes: int, seed: int) -> int:
    return q_learning(env, episodes, ALPHA, GAMMA, EPSILON, seed, progress=False).steps


def plain(env: gym.Env, episodes: int, seed: int) -> int:
    return plain_q_learning(env, episodes, seed)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    episodes, repeats = (200, 2) if args.quick else (2000, 5)

    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
        "(1 min) at the start"
    )
    for run in (plain, ours):  # warm-up: imports, first allocations
        steps_per_second(run, max(10, episodes // 20), 0)
    steps_per_s = {"qlearn_lite.q_learning": [], "plain Gymnasium loop": []}
    for repeat in range(repeats):  # alternate, so both see the same machine load
        steps_per_s["plain Gymnasium loop"].append(
            steps_per_second(plain, episodes, repeat)
        )
        steps_per_s["qlearn_lite.q_learning"].append(
            steps_per_second(ours, episodes, repeat)
        )

    print(
        f"{ENV_ID}, {episodes} episodes x {repeats} pairs, alpha {ALPHA}, "
        f"gamma {GAMMA}, epsilon {EPSILON} (median of runs)"
    )
    medians = {name: statistics.median(values) for name, values in steps_per_s.items()}
    for name, values in steps_per_s.items():
        spread = ", ".join(f"{v / 1e3:.0f}k" for v in values)
        print(f"  {name:<24} {medians[name] / 1e3:7.1f}k steps/s  (runs: {spread})")
    ratios = [
        a / b
        for a, b in zip(
            steps_per_s["qlearn_lite.q_learning"],
            steps_per_s["plain Gymnasium loop"],
            strict=True,
        )
    ]
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio >= GOAL else "BELOW"
    print(
        f"  ratio ours / plain, median of {repeats} pairs: {ratio:.2f}x "
        f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)}; {verdict} the {GOAL}x goal)"
    )


if __name__ == "__main__":
    main()
