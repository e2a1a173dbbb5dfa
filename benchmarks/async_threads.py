"""Benchmark: asynchronous Q-learning with 1, 2 and 4 worker threads (notebook 07).

For each design of ``qlearn_lite.async_threads`` -- a shared table written
Hogwild-style or under a lock, independent tabular agents with a shared replay
buffer, a shared Q-network (async n-step Q-learning), independent DQN agents --
it measures, with 1, 2 and 4 worker threads:

* env steps per second (all workers together), and the ratio to 1 worker;
* the env steps and wall seconds until a snapshot of the learned Q first
  reaches a score threshold, and the wall-time speedup over 1 worker, the
  measure of Mnih et al. (2016, Table 2), printed beside ours.

Thread scaling can only show when cores are free, so the same run first
measures the machine's *parallel ceiling*: how much more GIL-free torch work
two threads do than one right now (2.0 on two idle cores). On a shared machine
the ceiling is lower and every ratio below is capped by it; the script says
so. Then it compares the deep learner's two update paths -- about 40 eager
torch calls, each releasing and re-taking the GIL, or one TorchScript call
that releases it once -- at two network widths (median of back-to-back
pairs), and profiles one worker of each to show where its time goes.

    python benchmarks/async_threads.py           # full: ~3-4 min on 2 idle cores
    python benchmarks/async_threads.py --quick   # smoke run: under a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable

import gymnasium as gym
import torch

from qlearn_lite import async_threads as at
from qlearn_lite.tabular import greedy_policy, success_probability, value_iteration

WORKERS = (1, 2, 4)
TABULAR_ENV = "FrozenLake-v1"
DEEP_ENV = "CartPole-v1"
DEEP_THRESHOLD = 195.0  # mean greedy return over 5 episodes (CartPole-v0's "solved")
# The module's pinned configs (every field set there, not DQNConfig's defaults).
ASYNC_DQN = at.ASYNC_DQN_CONFIG
ASYNC_N_STEP = ASYNC_DQN.n_step
INDEPENDENT_DQN = at.INDEPENDENT_DQN_CONFIG


def machine_line() -> str:
    """Cores, load, Python build (with or without the GIL), torch."""
    gil = "free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "GIL"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} cores, load average {load:.1f} (1 min), "
        f"Python {platform.python_version()} ({gil}), torch {torch.__version__}"
    )


def measure(
    name: str,
    train: Callable[[int], at.AsyncResult],
    env_id: str,
    threshold: float,
    episodes: int,
) -> list[dict]:
    """Train with 1, 2, 4 workers; steps/s and time to ``threshold`` for each."""
    rows = []
    for n_workers in WORKERS:
        result = train(n_workers)
        scores = at.snapshot_scores(result, env_id, episodes=episodes)
        reached = at.time_to_threshold(result, scores, threshold)
        rows.append(
            {
                "design": name,
                "workers": n_workers,
                "steps_per_second": result.steps_per_second,
                "cores": result.cores_used,
                "reached": reached,
                "best": float(scores.max()) if len(scores) else float("nan"),
            }
        )
        print(".", end="", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    """One line per (design, workers), ratios to the design's 1-worker row.

    ``cores`` is CPU seconds per wall second: how many cores the run kept busy.
    """
    header = (
        f"{'design':<22}{'workers':>8}{'env steps/s':>13}{'ratio':>8}{'cores':>7}"
        f"{'steps to thr':>14}{'s to thr':>10}{'speedup':>9}{'best score':>12}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        base = next(
            r for r in rows if r["design"] == row["design"] and r["workers"] == 1
        )
        ratio = row["steps_per_second"] / base["steps_per_second"]
        if row["reached"] is None:
            steps, seconds, speedup = "not reached", "-", "-"
        else:
            steps = f"{row['reached'][0]:,}"
            seconds = f"{row['reached'][1]:.1f}"
            speedup = "-"
            if base["reached"] is not None:
                speedup = f"{base['reached'][1] / row['reached'][1]:.2f}x"
        print(
            f"{row['design']:<22}{row['workers']:>8}"
            f"{row['steps_per_second']:>13,.0f}{ratio:>7.2f}x{row['cores']:>7.2f}"
            f"{steps:>14}{seconds:>10}{speedup:>9}{row['best']:>12.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, < 1 min")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()

    print(machine_line())
    ceiling = at.parallel_ceiling(2)
    print(
        f"parallel ceiling now: 2 threads do {ceiling:.2f}x the GIL-free torch work "
        "of 1 (2.00x on two idle cores)"
    )
    if ceiling < 1.6:
        print(
            "  WARNING: other programs are using the cores; every ratio below is "
            "capped near this ceiling. Re-run on an idle machine for clean numbers."
        )

    # ------------------------------------------------------------- tabular
    env = gym.make(TABULAR_ENV)
    _, q_star = value_iteration(env, 0.99)
    optimum = success_probability(env, greedy_policy(q_star))
    threshold = round(optimum - 0.05, 2)
    steps = 10_000 if quick else 80_000
    print(
        f"\ntabular: {TABULAR_ENV}, {steps:,} global env steps, snapshots every "
        f"{steps // 20:,}; score = exact greedy success probability, threshold "
        f"{threshold} (optimum {optimum:.2f})"
    )
    common = dict(alpha=0.05, seed=0, snapshot_every=steps // 20, progress=False)
    rows = []
    for sync in ("hogwild", "lock"):
        rows += measure(
            f"shared table ({sync})",
            lambda n, sync=sync: at.async_q_learning(
                TABULAR_ENV, n, steps, sync=sync, **common
            ),
            TABULAR_ENV,
            threshold,
            1,
        )
    rows += measure(
        "independent tables",
        lambda n: at.independent_agents(
            TABULAR_ENV,
            n,
            at.IndependentTableConfig(total_steps=steps, alpha=0.05, batch_size=4),
            snapshot_every=steps // 20,
            progress=False,
        ),
        TABULAR_ENV,
        threshold,
        1,
    )
    print_table(rows)

    # ---------------------------------------------------------------- deep
    deep_steps = 1_500 if quick else 40_000
    snapshot_every = deep_steps // 10
    print(
        f"\ndeep: {DEEP_ENV}, {deep_steps:,} global env steps, snapshots every "
        f"{snapshot_every:,}; score = mean greedy return of 5 episodes, threshold "
        f"{DEEP_THRESHOLD:.0f}"
    )
    deep_rows = measure(
        f"async {ASYNC_N_STEP}-step DQN",
        lambda n: at.async_dqn(
            DEEP_ENV,
            n,
            ASYNC_DQN.replace(total_steps=deep_steps, eps_decay_steps=deep_steps // 4),
            snapshot_every=snapshot_every,
            progress=False,
        ),
        DEEP_ENV,
        DEEP_THRESHOLD,
        5,
    )
    deep_rows += measure(
        "independent DQNs",
        lambda n: at.independent_agents(
            DEEP_ENV,
            n,
            config=INDEPENDENT_DQN.replace(
                total_steps=deep_steps, eps_decay_steps=deep_steps // 4
            ),
            snapshot_every=snapshot_every,
            progress=False,
        ),
        DEEP_ENV,
        DEEP_THRESHOLD,
        5,
    )
    print_table(deep_rows)

    # ------------------------------------------------- where the time goes
    scale_steps = 1_000 if quick else 6_000
    repeats = 1 if quick else 5
    print(
        f"\nasync {ASYNC_N_STEP}-step DQN, {scale_steps:,} steps, 2 workers / 1 "
        f"worker env steps/s, median of {repeats} back-to-back pairs:"
    )
    medians = {}
    for hidden in ((64, 64), (256, 256)):
        config = ASYNC_DQN.replace(total_steps=scale_steps, hidden=hidden)
        for fused in (False, True):
            ratios = at.scaling_ratios(
                lambda n, config=config, fused=fused: at.async_dqn(
                    DEEP_ENV, n, config.replace(fused=fused), progress=False
                ),
                2,
                repeats,
            )
            medians[hidden, fused] = statistics.median(ratios)
            update = "fused (TorchScript)" if fused else "eager torch calls"
            print(
                f"  hidden {str(hidden):<11} {update:<20} "
                f"{medians[hidden, fused]:.2f}x  (pairs: "
                + ", ".join(f"{r:.2f}" for r in ratios)
                + ")"
            )
    for fused in (False, True):
        profiled = at.async_dqn(
            DEEP_ENV,
            1,
            ASYNC_DQN.replace(total_steps=scale_steps, fused=fused),
            profile=True,
            progress=False,
        )
        update = "fused" if fused else "eager"
        print(f"  one worker's time, {update} update (cProfile, hidden (64, 64)):")
        shares = at.profile_breakdown(profiled.profile)
        for group, share in shares.items():
            print(f"    {share:6.1%}  {group}")
        # Upper bound: torch calls also parse arguments with the GIL held.
        gil_free = shares[at.PROFILE_GROUPS[1]] + shares[at.PROFILE_GROUPS[2]]
        bound = min(2.0, 1 / max(1 - gil_free, 1e-9))
        print(
            f"    the GIL is held for at least {1 - gil_free:.0%} of it, so 2 "
            f"workers can do at most {bound:.2f}x the env steps/s of 1 "
            "(the GIL is one resource)"
        )

    # ------------------------------------------------------------ summary
    reference = " / ".join(f"{v:.1f}x" for k, v in at.MNIH_TABLE2_SPEEDUPS.items())
    threads = " / ".join(str(k) for k in at.MNIH_TABLE2_SPEEDUPS)
    print(
        f"\nreference: Mnih et al. 2016, Table 2, async one-step Q, time to a "
        f"reference score on 16 CPU cores: {reference} for {threads} threads"
    )
    goal = medians[(64, 64), True]
    verdict = "met" if goal >= 1.3 else "NOT met"
    print(
        f"goal: async DQN (default: fused update, hidden (64, 64)), 2 workers >= "
        f"1.3x the env steps/s of 1 worker: median {goal:.2f}x, {verdict} "
        f"(parallel ceiling during this run: {ceiling:.2f}x; eager update: "
        f"{medians[(64, 64), False]:.2f}x)"
    )
    print(f"benchmark finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
