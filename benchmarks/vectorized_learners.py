"""Vectorised learners vs their one-environment references, measured in one run.

1. Tabular, FrozenLake 8x8 (slippery): ``vectorized_q_learning`` against the
   single-env Gymnasium loop of notebook 02 (``qlearn_lite.tabular.q_learning``).
   Env steps per second (wall and CPU) and the greedy policy's exact success
   probability (``success_probability``, no sampling noise). Goal: >= 100x the
   steps/s, reaching the same greedy success.
2. Deep, CartPole-v1: ``vectorized_dqn`` (its default configuration: one
   thread) against Stable-Baselines3's DQN with
   rl-baselines3-zoo's tuned hyperparameters, run by ``run_sb3`` of
   ``benchmarks/dqn_cartpole.py`` (imported, not copied: same evaluation
   protocol, 10 greedy episodes every 2,500 env steps, evaluation time
   excluded). Wall seconds until the greedy mean return first reaches 475.
   Goal: at most 0.15x SB3's time on at least 4 of 5 seeds. Our own
   stopping test plays the same 10 greedy episodes from the same start states
   as SB3's, batched on TorchCartPole (``greedy_returns``); the network it
   stops with is then re-checked with ``qlearn_lite.dqn.evaluate`` on
   Gymnasium's CartPole-v1, and a seed counts as reached only if that passes
   too. We also print its mean return on 10 start states that no stopping
   test used (seed 20,000): the stopping test picks the first network that
   scores 475 on its own start states, which flatters it there.

3. Overlap: the actor thread of ``vectorized_dqn`` against its one-thread
   loop, the same fixed number of env steps and updates, median of pairs of
   runs (updates per second), next to a profile of the one-thread loop
   (``overlap_profile``: seconds of acting and of learning per vector step,
   and the bound ``(act + learn) / max(act, learn)`` that perfect overlap on
   two free cores would give) and the cores each run kept busy (CPU seconds
   / wall seconds). Two threads of small torch operations run one at a time
   most of the time: each operation holds the GIL while it is dispatched,
   which at these sizes (32 carts, 64-unit layers, batches of 256) is most
   of its time; a second thread mostly waits for the GIL.

Everything runs in this process with ``torch.set_num_threads(1)``; ours and
the reference alternate, so that both see the same machine load. On a busy
machine read the ratios and the CPU seconds rather than the absolute figures.

Recorded runs: ``benchmarks/results/vectorized_learners.txt``.

    python benchmarks/vectorized_learners.py                # both parts, 5 seeds
    python benchmarks/vectorized_learners.py --quick        # a smoke run, < 1 min
    python benchmarks/vectorized_learners.py --only tabular # or dqn, overlap
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import torch

from qlearn_lite.dqn import evaluate
from qlearn_lite.tabular import (
    greedy_policy,
    q_learning,
    success_probability,
    value_iteration,
)
from qlearn_lite.vectorized import vectorized_q_learning
from qlearn_lite.vectorized_dqn import (
    VectorizedDQNConfig,
    overlap_profile,
    vectorized_dqn,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dqn_cartpole  # noqa: E402  (the SB3 runner and its evaluation protocol)

LAKE = "FrozenLake8x8-v1"
GAMMA = 0.99
ALPHA, EPSILON = 0.1, 0.1  # notebook 02's single-env learner; the same for ours
TABULAR_GOAL = 100.0
DQN_GOAL = 0.15  # our wall time / SB3's, per seed
FRESH_SEED = 20_000  # start states no stopping test of either learner used


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# ----------------------------------------------------------------- tabular
def timed(run) -> tuple[int, float, float]:
    """(env steps, wall seconds, CPU seconds) of ``run()``, which returns steps."""
    wall, cpu = clocks()
    steps = run()
    return steps, time.perf_counter() - wall, time.process_time() - cpu


def tabular(quick: bool) -> None:
    env = gym.make(LAKE)
    _, q_star = value_iteration(env, GAMMA)
    optimum = success_probability(env, greedy_policy(q_star))
    print(f"== tabular Q-learning on {LAKE}, gamma {GAMMA}, alpha {ALPHA}")
    print(f"optimal greedy success (value iteration): {optimum:.3f}")

    # 1. Throughput: short runs, alternating, median of the per-round ratios.
    sizes = (4096,) if quick else (1024, 4096, 16384, 65536)
    rounds = 2 if quick else 5
    single_episodes, vector_steps = (100, 20) if quick else (500, 40)

    def single_run() -> int:
        return q_learning(
            env, single_episodes, ALPHA, GAMMA, EPSILON, seed=0, progress=False
        ).steps

    def vector_run(num_envs: int):
        def run() -> int:
            return vectorized_q_learning(
                env, num_envs, vector_steps, ALPHA, GAMMA, EPSILON, device="cpu",
                seed=0, progress=False,
            ).env_steps  # fmt: skip

        return run

    ratios = {(n, clock): [] for n in sizes for clock in ("wall", "cpu")}
    rates = {(n, clock): [] for n in ("single", *sizes) for clock in ("wall", "cpu")}
    for _ in range(rounds):
        steps, wall, cpu = timed(single_run)
        rates["single", "wall"].append(steps / wall)
        rates["single", "cpu"].append(steps / cpu)
        for n in sizes:
            steps, wall, cpu = timed(vector_run(n))
            rates[n, "wall"].append(steps / wall)
            rates[n, "cpu"].append(steps / cpu)
            ratios[n, "wall"].append(rates[n, "wall"][-1] / rates["single", "wall"][-1])
            ratios[n, "cpu"].append(rates[n, "cpu"][-1] / rates["single", "cpu"][-1])
    median = statistics.median
    print(
        f"throughput, median of {rounds} alternating rounds (env steps/s; ratio to "
        "the single-env loop in the same round):"
    )
    print(
        f"  single env, tabular.q_learning (epsilon {EPSILON}): "
        f"{median(rates['single', 'wall']) / 1e3:8.1f}k wall, "
        f"{median(rates['single', 'cpu']) / 1e3:8.1f}k CPU"
    )
    for n in sizes:
        wall_rate, cpu_rate = median(rates[n, "wall"]), median(rates[n, "cpu"])
        print(
            f"  vectorized_q_learning, {n:>6} envs: {wall_rate / 1e6:6.2f}M wall "
            f"({median(ratios[n, 'wall']):4.0f}x), {cpu_rate / 1e6:6.2f}M CPU "
            f"({median(ratios[n, 'cpu']):4.0f}x)"
        )
    best = max(sizes, key=lambda n: median(ratios[n, "wall"]))

    # 2. Greedy success after training each to convergence (or its budget).
    episodes = 300 if quick else 5_000
    wall = time.perf_counter()
    single = q_learning(env, episodes, ALPHA, GAMMA, EPSILON, seed=0, progress=False)
    steps, wall = single.steps, time.perf_counter() - wall
    single_success = success_probability(env, greedy_policy(single.q))
    train_steps = 30 if quick else 1_000
    vectorized = vectorized_q_learning(
        env, best, train_steps, ALPHA, GAMMA, EPSILON, device="cpu", seed=0,
        progress=False,
    )  # fmt: skip
    success = success_probability(env, greedy_policy(vectorized.q))
    print(
        f"greedy success: single env after {episodes:,} episodes ({steps:,} steps, "
        f"{wall:.0f} s) {single_success:.3f}; vectorized, {best} envs x "
        f"{train_steps} steps ({vectorized.env_steps:,} env steps, "
        f"{vectorized.wall_seconds:.0f} s) {success:.3f}; optimum {optimum:.3f}"
    )
    ratio, cpu_ratio = median(ratios[best, "wall"]), median(ratios[best, "cpu"])
    # The single-env learner approaches the optimum slowly: "the same greedy
    # success" here means at least the single env's, and the optimum's.
    same = success >= max(single_success, optimum) - 0.01
    verdict = "meets" if min(ratio, cpu_ratio) >= TABULAR_GOAL and same else "BELOW"
    print(
        f"at {best} envs: {ratio:.0f}x the single-env steps/s (wall), "
        f"{cpu_ratio:.0f}x (CPU); greedy success {success:.3f} vs the single "
        f"env's {single_success:.3f} and the optimum {optimum:.3f} "
        f"({verdict} the {TABULAR_GOAL:.0f}x / same-success goal)"
    )


# -------------------------------------------------------------------- DQN
def run_ours(seed: int, max_seconds: float) -> dict:
    """Our vectorised DQN until greedy 475 (or max_seconds of training)."""
    config = VectorizedDQNConfig(
        seed=seed, device="cpu", max_seconds=max_seconds, stop_at_return=475.0
    )
    wall = time.perf_counter()
    result = vectorized_dqn(config, progress=False)
    history = result.history
    total_wall = time.perf_counter() - wall
    check = evaluate(
        result.q_net, dqn_cartpole.ENV_ID, dqn_cartpole.EVAL_EPISODES,
        dqn_cartpole.EVAL_SEED,
    ).mean()  # fmt: skip
    fresh = evaluate(
        result.q_net, dqn_cartpole.ENV_ID, dqn_cartpole.EVAL_EPISODES, FRESH_SEED
    ).mean()
    reached = history.first_reach(475.0) is not None and check >= 475.0
    return {
        "reached": reached,
        # set-up and training, the evaluations' time taken out (as for SB3)
        "wall": total_wall - history.eval_wall_seconds if reached else None,
        "steps": history.env_steps,
        "updates": history.updates,
        "gymnasium_check": float(check),
        "fresh_seeds": float(fresh),
        "evals": history.eval_returns,
    }


def dqn(quick: bool, seeds: int) -> None:
    torch.set_num_threads(1)
    try:
        import stable_baselines3
    except ImportError:
        stable_baselines3 = None
    print("== DQN on CartPole-v1: wall time to a greedy mean return of 475")
    print(f"ours: {VectorizedDQNConfig()}")
    seeds = 1 if quick else seeds
    max_seconds = 20.0 if quick else 300.0
    rows = []
    for seed in range(seeds):
        ours = run_ours(seed, max_seconds)
        line = (
            f"  seed {seed}: ours {fmt(ours['wall'])} s "
            f"({ours['steps']:,} env steps, {ours['updates']:,} updates, "
            f"Gymnasium check {ours['gymnasium_check']:.0f}, on fresh seeds "
            f"{ours['fresh_seeds']:.0f})"
        )
        sb3 = None
        if stable_baselines3 is not None and not quick:
            sb3 = dqn_cartpole.run_sb3(seed, dqn_cartpole.TOTAL_STEPS)
            line += f" | SB3 {fmt(sb3.wall)} s ({fmt(sb3.steps, 'd')} steps)"
        print(line, flush=True)
        rows.append((ours, sb3))
    if stable_baselines3 is None or quick:
        print("(SB3 not run: --quick, or stable-baselines3 not installed)")
        return
    wins = 0
    ratios = []
    for ours, sb3 in rows:
        if ours["wall"] is None:
            continue
        sb3_wall = float("inf") if sb3.wall is None else sb3.wall
        ratios.append(ours["wall"] / sb3_wall)
        wins += ours["wall"] <= DQN_GOAL * sb3_wall
    median = statistics.median(ratios + [float("inf")] * (len(rows) - len(ratios)))
    verdict = "meets" if wins >= 4 * len(rows) / 5 else "BELOW"
    print(
        f"ours <= {DQN_GOAL:g} x SB3's wall time on {wins}/{len(rows)} seeds; "
        f"median ratio {median:.2f} ({verdict} the 4-of-5-seeds goal)"
    )


# ----------------------------------------------------------------- overlap
def overlap(quick: bool) -> None:
    torch.set_num_threads(1)
    print("== the actor thread of vectorized_dqn: does overlapping pay?")
    steps = 4_000 if quick else 16_000
    pairs = 1 if quick else 3
    base = VectorizedDQNConfig(
        device="cpu", total_steps=steps, eval_every=steps, stop_at_return=None
    )
    profile = overlap_profile(base, 50 if quick else 200)
    print(
        f"one-thread loop, per vector step ({base.num_envs} carts, "
        f"{base.updates_per_step} update of {base.batch_size}): acting "
        f"{profile.actor_seconds * 1e3:.2f} ms wall / "
        f"{profile.actor_cpu_seconds * 1e3:.2f} ms CPU, learning "
        f"{profile.learner_seconds * 1e3:.2f} ms wall / "
        f"{profile.learner_cpu_seconds * 1e3:.2f} ms CPU; perfect overlap on "
        f"two free cores would give at most {profile.overlap_bound:.2f}x"
    )
    ratios = []
    for pair in range(pairs):
        rates, cores = {}, {}
        for asynchronous in (False, True):
            result = vectorized_dqn(
                base.replace(asynchronous=asynchronous, seed=pair), progress=False
            )
            rates[asynchronous] = result.parallel.updates_per_second
            cores[asynchronous] = result.parallel.cores_used
        ratios.append(rates[True] / rates[False])
        print(
            f"  pair {pair}: one thread {rates[False]:.0f} updates/s "
            f"({cores[False]:.2f} cores busy), actor + learner {rates[True]:.0f} "
            f"updates/s ({cores[True]:.2f} cores busy): {ratios[-1]:.2f}x"
        )
    print(
        f"overlap speed-up, median of {pairs} pairs: {statistics.median(ratios):.2f}x "
        f"(bound {profile.overlap_bound:.2f}x; {os.cpu_count()} cores, shared with "
        "whatever else runs)"
    )


def fmt(value: float | int | None, spec: str = ".1f") -> str:
    return "never" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", choices=("tabular", "dqn", "overlap"), default=None)
    parser.add_argument("--seeds", type=int, default=5, help="DQN seeds 0..N-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, 1 thread, CPU; machine: {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} (1 min) at the start"
    )
    if args.only in (None, "tabular"):
        tabular(args.quick)
    if args.only in (None, "dqn"):
        dqn(args.quick, args.seeds)
    if args.only in (None, "overlap"):
        overlap(args.quick)


if __name__ == "__main__":
    main()
