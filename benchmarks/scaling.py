"""Benchmark: the scaling lab's performance rows (notebook 11), one harness.

Every figure comes from :func:`qlearn_lite.scaling.run` (the same DQN, the
same network, replay ratio 0.5 unless said otherwise) and is a ratio against a
reference measured in the same run: the median over >= 3 back-to-back pairs,
with the machine's core count and load printed first. Throughput is the env
steps the *learner received* per second of training (start-up excluded):
steps an actor took but never sent are not counted.

1. At 1 ms CPU env cost: best of processes / Ray (2 actors) over serial,
   steps per second. Goal >= 1.5x, and never above 2.0x on 2 cores (more
   would mean steps are miscounted -- or, on a shared machine, that three
   processes took a larger share of the CPU from other users than one did;
   the CPU-seconds figure beside it tells which).
2. At 0 ms env cost: vectorized over the best multi-process executor, steps
   per second, at the same replay ratio for both: (a) 0.5 and (b) 1/32 with
   32 envs (one update per vector step), where both have one learner and
   neither can pass one learner's bound (printed); (c) 1,024 envs and one
   update per vector step (replay ratio 1/1,024 for both), the vectorised
   engine's own regime: many cheap envs per tensor operation, acting
   throughput rather than a training recipe. Goal >= 5x.
3. The scaling model's prediction for 2 processes at 1 ms (fitted to step
   costs measured first, one at a time, printed before the measurement) over
   the median of row 1's processes runs. Goal within +-25 %. Then the two-node Ray
   cluster (only where the Ray executors exist): the model calibrated on the
   CPU per step that row 1's median processes run paid with both cores busy
   (``step_costs_from_run``), at Ray's 1,000 transitions per call with the
   first chunk's fill, predicts it; then the cluster runs ``pairs`` times.

    python benchmarks/scaling.py            # ~9 min on a busy 2-core machine
    python benchmarks/scaling.py --quick    # a smoke run of the code paths

Recorded runs, with the machine's state: ``benchmarks/results/scaling.txt``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from qlearn_lite.scaling import (
    RAY_CHUNK,
    ScalingModel,
    Task,
    executor_status,
    fit_step_costs,
    measure_step_costs,
    run,
    step_costs_from_run,
)


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} cores, load average {load:.1f} (1 min) at the "
        f"start, Python {platform.python_version()}, torch {torch.__version__}"
    )


def rate(result) -> float:
    """Env steps the learner received per training second."""
    return result.extra["received_steps_per_second"]


def parallel_runs(status: dict, task: Task, budget: int, seed: int, **kwargs):
    """Processes and (where available) Ray, 2 actors each: {executor: result}."""
    return {
        name: run(name, task, budget, seed, n_workers=2, **kwargs)
        for name in ("processes", "ray")
        if status[name] is None
    }


def best_parallel(status: dict, task: Task, budget: int, seed: int, **kwargs):
    """The faster of processes and (where available) Ray."""
    return max(parallel_runs(status, task, budget, seed, **kwargs).values(), key=rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    budget = 400 if args.quick else 3_000
    pairs = 1 if args.quick else max(3, args.pairs)
    common = {
        "learning_starts": 200 if args.quick else 500,
        "eval_every": 0,
        "stop_at_threshold": False,
        "eval_episodes": 1,
        "fresh_episodes": 1,
    }
    cores = os.cpu_count() or 1
    print(machine_line())
    print("shared machine: other users' programs run meanwhile; ratios are medians")
    status = executor_status()
    for name, why in status.items():
        if why is not None:
            print(f"  executor {name!r} unavailable: {why}")
    started = time.perf_counter()
    # Warm-up: the first DQN in a process pays one-off start-up costs.
    run("serial", budget=300, learning_starts=100, eval_every=0)
    run("vectorized", budget=320, learning_starts=160, eval_every=0)

    # Row 3's prediction first: measured step costs, the fitted model.
    costly = Task("CartPole-v1", cpu_ms=1.0)
    costs = fit_step_costs(measure_step_costs(costly, repeats=5))
    model = ScalingModel(costs, replay_ratio=0.5, cores=cores)
    predicted = model.steps_per_second(2)
    print(
        "\nMODEL (not a measurement), fitted to step costs measured now: actor "
        f"step {costs.actor_step * 1e3:.3f} ms, message {costs.message(64) * 1e6:.1f}"
        f" us/transition, update {costs.update * 1e3:.3f} ms, weight sync "
        f"{costs.weight_sync * 1e6:.1f} us"
    )
    print(
        f"  prediction, 2 processes at 1 ms CPU on {cores} cores: {predicted:,.0f} "
        f"steps/s ({model.bottleneck(2)}-bound); serial: "
        f"{model.serial_steps_per_second():,.0f} steps/s"
    )

    # Row 1: 1 ms CPU env cost, best of processes/Ray over serial.
    print(f"\n1. 1 ms CPU per step, {budget:,} steps, replay ratio 0.5, {pairs} pairs")
    ratios, cpu_ratios, process_runs = [], [], []
    for pair in range(pairs):
        serial = run("serial", costly, budget, pair, **common)
        runs = parallel_runs(status, costly, budget, pair, **common)
        parallel = max(runs.values(), key=rate)
        process_runs.append(runs["processes"])
        ratio = rate(parallel) / rate(serial)
        cpu_ratio = parallel.extra["cpu_utilisation"] / max(
            serial.extra["cpu_utilisation"], 1e-9
        )
        ratios.append(ratio)
        cpu_ratios.append(cpu_ratio)
        print(
            f"  pair {pair}: serial {rate(serial):,.0f} steps/s, "
            f"{parallel.executor} x2 {rate(parallel):,.0f} steps/s "
            f"(start-up {parallel.startup_seconds:.1f} s, replay ratio "
            f"{parallel.extra['replay_ratio_after_start']:.3f}): {ratio:.2f}x; "
            f"CPU share {cpu_ratio:.2f}x the serial run's"
        )
    row1 = statistics.median(ratios)
    in_band = 1.5 <= row1 <= 2.0
    print(
        f"  median {row1:.2f}x on {cores} cores (goal 1.5x-2.0x: "
        f"{'met' if in_band else 'NOT met'}); median CPU share "
        f"{statistics.median(cpu_ratios):.2f}x"
    )

    # Row 2: 0 ms env cost, vectorized over the best multi-process executor.
    # (a) and (b): 32 envs at the common replay ratio and at one update per
    # vector step. Both executors have one learner, so neither can pass
    # 1 / (replay ratio x update cost) steps/s: printed beside them.
    # (c): the vectorised engine's own regime, many envs and one update per
    # vector step (the same replay ratio for the processes): acting throughput.
    large = 64 if args.quick else 1024
    large_budget = 20 * large if args.quick else 200_000
    # (b) runs ten times (a)'s budget: at 3,000 steps the vectorised run is
    # under 0.3 s, 94 vector steps, and its rate mostly noise.
    rows = (
        ("a", "0.5", 0.5, 32, budget, common["learning_starts"]),
        ("b", "1/32", 1 / 32, 32, 10 * budget, common["learning_starts"]),
        ("c", f"1/{large:,}", 1 / large, large, large_budget, 2 * large),
    )
    for letter, label, replay_ratio, num_envs, row_budget, starts in rows:
        bound = 1 / (replay_ratio * costs.update)
        print(
            f"\n2{letter}. 0 ms env cost, {row_budget:,} steps, replay ratio {label}, "
            f"{num_envs:,} envs, {pairs} pairs; one learner's bound at this ratio: "
            f"{bound:,.0f} steps/s (model, from the update cost above)"
        )
        ratios = []
        for pair in range(pairs):
            kwargs = {**common, "replay_ratio": replay_ratio, "learning_starts": starts}
            vector = run(
                "vectorized", "CartPole-v1", row_budget, pair, num_envs=num_envs,
                **kwargs,
            )  # fmt: skip
            parallel = best_parallel(status, Task(), row_budget, pair, **kwargs)
            ratio = rate(vector) / rate(parallel)
            ratios.append(ratio)
            print(
                f"  pair {pair}: vectorized ({num_envs:,} envs, "
                f"{vector.extra['device']}) {rate(vector):,.0f} steps/s, "
                f"{parallel.executor} x2 {rate(parallel):,.0f} steps/s "
                f"(replay ratios {vector.extra['replay_ratio_after_start']:.4f} and "
                f"{parallel.extra['replay_ratio_after_start']:.4f}): {ratio:.2f}x"
            )
        row2 = statistics.median(ratios)
        print(f"  median {row2:.2f}x (goal >= 5x: {'met' if row2 >= 5 else 'NOT met'})")

    # Row 3: the model's prediction against row 1's measurement.
    # The model is of processes: against the processes runs (not Ray's).
    measured = statistics.median(rate(result) for result in process_runs)
    error = predicted / measured - 1
    print(
        f"\n3. model / measured, 2 processes at 1 ms: {predicted:,.0f} / "
        f"{measured:,.0f} steps/s = {predicted / measured:.2f} ({error:+.0%}; goal "
        f"within +-25 %: {'met' if abs(error) <= 0.25 else 'NOT met'})"
    )
    if status["ray-cluster"] is not None:
        print(f"   two-node Ray cluster row skipped: {status['ray-cluster']}")
    else:
        # The cluster's prediction: the model calibrated on what row 1's
        # median processes run paid per step with both cores busy, at Ray's
        # 1,000 transitions per call (and the first chunk's fill).
        calibration = sorted(process_runs, key=rate)[len(process_runs) // 2]
        loaded = step_costs_from_run(calibration)
        ray_model = ScalingModel(
            loaded, replay_ratio=0.5, chunk_size=RAY_CHUNK, cores=cores
        )
        predicted_cluster = ray_model.run_steps_per_second(2, budget)
        print(
            f"   two-node Ray cluster, MODEL calibrated on row 1's median processes "
            f"run (actor step {loaded.actor_step * 1e3:.2f} ms, update "
            f"{loaded.update * 1e3:.2f} ms of CPU with both cores busy, against "
            f"{costs.actor_step * 1e3:.2f} and {costs.update * 1e3:.2f} ms measured "
            f"alone), {RAY_CHUNK:,} per call, first chunk's fill "
            f"{ray_model.fill_seconds():.1f} s: {predicted_cluster:,.0f} steps/s, "
            "before measuring"
        )
        measured_cluster = [
            rate(run("ray-cluster", costly, budget, pair, n_workers=2, **common))
            for pair in range(pairs)
        ]
        cluster = statistics.median(measured_cluster)
        cluster_error = predicted_cluster / cluster - 1
        print(
            f"   measured {', '.join(f'{r:,.0f}' for r in measured_cluster)}: median "
            f"{cluster:,.0f} steps/s; model / measured "
            f"{predicted_cluster / cluster:.2f} ({cluster_error:+.0%}; goal within "
            "+-25 %: "
            f"{'met' if abs(cluster_error) <= 0.25 else 'NOT met'})"
        )
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
