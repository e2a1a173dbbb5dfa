"""Benchmark: learners in processes, the performance table of notebook 08.

Every figure is a ratio against a reference measured in the same run, the
median over at least 3 back-to-back pairs, with the machine's core count and
load printed first (a shared machine lowers every parallel ratio):

1. Hogwild tabular async Q-learning, 2 processes / 1 process, env steps per
   second (needs ``async_q_learning(..., executor="processes")``; skipped with
   a note where it does not exist yet). Goal >= 1.6x.
2. Chunks of 64 transitions per message / one transition per message through
   a ``multiprocessing`` queue, transitions per second. Goal >= 10x.
3. Shared-memory weight sync / pickling the weights of a 1M-parameter
   network, milliseconds per sync. Goal: shared >= 3x faster.
4. Actor-learner DQN env steps per second with ``CostlyEnv(cpu_ms=1)``,
   2 actors / 1 actor (the learner's replay ratio 0.5, and a light one of
   0.05). Goal >= 1.6x. The cores' bound is printed beside it: two actors
   and a learner need more cores than one actor and a learner did.
5. Actor-learner DQN (1 actor + learner) wall time to a greedy return of 475
   on CartPole-v1 / single-process ``train_dqn`` running the same DQN (the
   same replay ratio and exploration schedule), both timed from the first env
   step, on 5 seeds; the start-up cost is
   printed beside it. Goal <= 0.8x on at least 4 of 5 seeds. Row 5a is its
   profile: at equal env steps, the learner's busy time over train_dqn's time
   is the floor that no number of actors or cores can take the ratio below.

    python benchmarks/async_processes.py           # full: ~8-10 min on 2 idle cores
    python benchmarks/async_processes.py --quick   # smoke run: ~2 min
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import statistics
import time

import torch

from qlearn_lite import process_costs
from qlearn_lite.actor_learner import ActorLearnerConfig, actor_learner_dqn
from qlearn_lite.async_threads import async_q_learning
from qlearn_lite.dqn import DQNConfig, first_reach, train_dqn
from qlearn_lite.envs import costly_env_fn

THRESHOLD = 475.0


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} cores, load average {load:.1f} (1 min) at the "
        f"start, Python {platform.python_version()}, torch {torch.__version__}"
    )


def verdict(value: float, goal: float, higher_is_better: bool = True) -> str:
    met = value >= goal if higher_is_better else value <= goal
    sign = ">=" if higher_is_better else "<="
    return f"goal {sign} {goal}x: {'met' if met else 'NOT met'}"


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(a / b for a, b in pairs)


# ------------------------------------------------------------------- rows
def hogwild_row(pairs: int, steps: int) -> None:
    print("\n1. Hogwild tabular async Q-learning (FrozenLake 8x8), env steps/s")
    if "executor" not in inspect.signature(async_q_learning).parameters:
        print(
            "   skipped: async_q_learning has no executor= argument in this "
            "version of qlearn_lite"
        )
        return
    results = []
    for _ in range(pairs):
        rates = []
        for n_workers in (2, 1):
            result = async_q_learning(
                "FrozenLake8x8-v1",
                n_workers,
                steps,
                alpha=0.05,
                sync="hogwild",
                executor="processes",
                progress=False,
            )
            rates.append(result.steps_per_second)
        results.append((rates[0], rates[1]))
        print(f"   2 processes {rates[0]:,.0f} /s, 1 process {rates[1]:,.0f} /s")
    ratio = median_ratio(results)
    print(f"   median ratio 2/1: {ratio:.2f}x ({verdict(ratio, 1.6)})")


def queue_row(pairs: int, n_transitions: int) -> None:
    print("\n2. transitions through a multiprocessing queue, per second")
    results = []
    for _ in range(pairs):  # one child sends both kinds back to back
        cases = process_costs.queue_throughput(
            (("numpy", 64), ("numpy", 1)), n_transitions
        )["cases"]
        results.append(tuple(case["transitions_per_second"] for case in cases))
        print(
            f"   NumPy chunks of 64: {results[-1][0]:,.0f} /s, one transition "
            f"per message: {results[-1][1]:,.0f} /s"
        )
    tensors = process_costs.queue_throughput((("tensor", 1),), 1_000)["cases"][0]
    print(
        f"   (small torch tensors, one transition per message: "
        f"{tensors['transitions_per_second']:,.0f} /s, measured once)"
    )
    ratio = median_ratio(results)
    print(f"   median ratio chunks/single: {ratio:.1f}x ({verdict(ratio, 10)})")


def weights_row(pairs: int) -> None:
    print("\n3. weight sync of a 1M-parameter network, ms per sync (median of 41)")
    results = []
    for _ in range(pairs):
        cost = process_costs.weight_sync_cost(1_000_000, repeats=41)
        results.append((cost["pickle_ms"], cost["shared_ms"]))
        print(
            f"   shared memory {cost['shared_ms']:.2f} ms, pickled "
            f"{cost['pickle_ms']:.2f} ms (a bare request/reply: "
            f"{cost['round_trip_ms']:.2f} ms)"
        )
    ratio = median_ratio(results)
    print(f"   median ratio pickle/shared: {ratio:.1f}x ({verdict(ratio, 3)})")


def actors_row(pairs: int, steps: int, replay_ratio: float) -> None:
    print(
        f"\n4. actor-learner env steps/s, CostlyEnv(cpu_ms=1), {steps:,} steps, "
        f"replay ratio {replay_ratio}"
    )
    env = costly_env_fn("CartPole-v1", cpu_ms=1.0)
    config = ActorLearnerConfig(
        total_steps=steps,
        learning_starts=500,
        eval_every=0,
        replay_ratio=replay_ratio,
    )
    results, one_actor_cores = [], []
    for _ in range(pairs):
        rates = []
        for n_actors in (2, 1):
            result = actor_learner_dqn(
                env, config.replace(n_actors=n_actors), progress=False
            )
            rates.append(result.steps_per_second)
            if n_actors == 1:
                one_actor_cores.append(result.cores_used)
            waits = result.extra["actor_wait_seconds"]
            print(
                f"   {n_actors} actor(s): {result.steps_per_second:,.0f} steps/s, "
                f"{result.updates_per_second:,.0f} updates/s, cores used "
                f"{result.cores_used:.2f}, actors waited "
                f"{sum(waits) / n_actors / result.wall_seconds:.0%} of the time, "
                f"start-up {result.startup_seconds:.1f} s"
            )
        results.append((rates[0], rates[1]))
    ratio = median_ratio(results)
    print(f"   median ratio 2/1 actors: {ratio:.2f}x ({verdict(ratio, 1.6)})")
    cores = os.cpu_count() or 1
    used = statistics.median(one_actor_cores)
    print(
        f"   the cores' bound: 1 actor and the learner kept {used:.2f} cores busy, "
        f"so on {cores} cores 2 actors can do at most {min(2.0, cores / used):.2f}x "
        "the env steps/s of 1"
    )


def same_dqn(dqn: DQNConfig) -> ActorLearnerConfig:
    """One actor and a learner running ``dqn``'s algorithm: its replay ratio
    and its exploration schedule (epsilon from 1 to ``eps_end`` over
    ``eps_decay_steps``); the other settings are the same defaults."""
    return ActorLearnerConfig(
        total_steps=dqn.total_steps,
        n_actors=1,
        replay_ratio=dqn.gradient_steps / dqn.train_freq,
        eps=dqn.eps_end,
        eps_decay_steps=dqn.eps_decay_steps,
    )


def learner_bound_row(pairs: int, total_steps: int) -> None:
    print(
        f"\n5a. the profile behind row 5: {total_steps:,} env steps on CartPole-v1, "
        "no evaluations, 1 actor + learner against train_dqn, same replay ratio"
    )
    dqn = DQNConfig(total_steps=total_steps, eval_every=0)
    config = same_dqn(dqn).replace(eval_every=0)
    ratios, bounds = [], []
    for seed in range(pairs):
        serial = train_dqn("CartPole-v1", dqn.replace(seed=seed), progress=False)
        result = actor_learner_dqn(
            "CartPole-v1", config.replace(seed=seed), progress=False
        )
        learner_cpu = result.extra["learner_cpu_seconds"]
        report = result.extra["actor_reports"][0]
        ratios.append(result.wall_seconds / serial.history.wall_seconds)
        # The learner's own work (receive, store, train at the same replay
        # ratio) cannot overlap with itself: the wall time cannot fall below it.
        bounds.append(learner_cpu / serial.history.wall_seconds)
        print(
            f"   seed {seed}: train_dqn {serial.history.wall_seconds:.1f} s "
            f"({serial.history.updates:,} updates); actor-learner "
            f"{result.wall_seconds:.1f} s ({result.updates:,} updates), learner "
            f"busy {learner_cpu:.1f} s, actor busy {report.cpu_seconds:.1f} s and "
            f"waited {report.wait_seconds:.1f} s; ratio {ratios[-1]:.2f}x, "
            f"floor {bounds[-1]:.2f}x"
        )
    print(
        f"   median ratio {statistics.median(ratios):.2f}x; median floor (learner "
        f"busy time / train_dqn time) {statistics.median(bounds):.2f}x: at equal "
        "env steps no number of actors or cores takes the ratio below this "
        "floor: one learner does the gradient steps one after another, and "
        "they are most of train_dqn's time"
    )


def time_to_475_row(seeds: int, total_steps: int) -> None:
    print(
        f"\n5. wall seconds to a greedy return of {THRESHOLD:.0f} (10 episodes), "
        "from the first env step, evaluations excluded"
    )
    dqn = DQNConfig(total_steps=total_steps, stop_at_return=THRESHOLD)
    config = same_dqn(dqn).replace(
        stop_at_return=THRESHOLD,
        eval_every=dqn.eval_every,
        eval_episodes=dqn.eval_episodes,
    )
    ratios = []
    for seed in range(seeds):
        serial = train_dqn("CartPole-v1", dqn.replace(seed=seed), progress=False)
        reached_serial = serial.history.first_reach(THRESHOLD)
        result = actor_learner_dqn(
            "CartPole-v1", config.replace(seed=seed), progress=False
        )
        extra = result.extra
        reached = first_reach(
            extra["eval_steps"], extra["eval_seconds"], extra["eval_returns"], THRESHOLD
        )
        report = extra["actor_reports"][0]
        line = (
            f"   seed {seed}: train_dqn "
            f"{_reach(reached_serial)}, actor-learner {_reach(reached)} "
            f"(+ start-up {result.startup_seconds:.1f} s; learner CPU "
            f"{extra['learner_cpu_seconds']:.1f} s of {result.wall_seconds:.1f} s "
            "wall, "
            f"the actor waited {report.wait_seconds:.1f} s)"
        )
        if reached and reached_serial:
            ratios.append(reached[1] / reached_serial[1])
            line += f" ratio {ratios[-1]:.2f}x"
        print(line)
    met = sum(ratio <= 0.8 for ratio in ratios)
    median = statistics.median(ratios) if ratios else float("nan")
    print(
        f"   median ratio {median:.2f}x over {len(ratios)} seeds where both reached "
        f"it; <= 0.8x on {met} of {seeds} seeds (goal: at least 4 of 5: "
        f"{'met' if met >= 4 else 'NOT met'})"
    )
    print(
        "   profile (row 5a): the learner does the same gradient steps as "
        "train_dqn, and they are most of train_dqn's time; the actor takes only "
        "the env steps and the acting off the learner's core. A ratio below row "
        "5a's floor needs fewer env steps to 475 (a luckier run), not more cores. "
        "The actor's waiting time above is the rate limit at work."
    )


def _reach(reached: tuple[int, float] | None) -> str:
    if reached is None:
        return "not reached"
    return f"{reached[1]:.1f} s ({reached[0]:,} steps)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()
    print(machine_line())
    print(
        "note: the machine may be shared with other programs; ratios are medians "
        "of pairs measured back to back, so both sides of a pair saw the same load."
    )
    pairs = 3
    # The Hogwild runs take a few seconds each: more pairs, longer runs.
    hogwild_row(pairs if quick else 5, 10_000 if quick else 120_000)
    queue_row(pairs, 6_400 if quick else 64_000)
    weights_row(pairs)
    actors_row(pairs, 1_500 if quick else 3_000, 0.5)
    actors_row(pairs, 1_500 if quick else 3_000, 0.05)
    learner_bound_row(1 if quick else 3, 3_000 if quick else 20_000)
    time_to_475_row(2 if quick else 5, 30_000)
    print(f"\nbenchmark finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
