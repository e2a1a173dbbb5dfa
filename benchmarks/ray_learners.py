"""Benchmark: the sharded parameter server on Ray against serial Q-learning (10).

What it measures, all in one run on this machine:

* what Ray itself costs: the time of a local ``ray.init``, the memory of all
  Ray processes together (proportional set size), and the median cost of one
  trivial actor call;
* for the sharded Q-table (``qlearn_lite.distributed.sharded_q_learning``,
  4 shards, 2 workers, FrozenLake 4x4 slippery, gamma 0.95): the updates until
  ``max |Q - Q*|`` first drops to 0.05, for ``refresh_every`` 1 and 4 in the
  asynchronous and the synchronous mode, divided by the updates the serial
  learner needs (the same sampled sweeps on one block in this process,
  ``serial_sharded_q_learning(n_shards=1)``), per seed with the same seed;
  the median of those ratios over seeds is held against the goal of 1.25.

Updates are the unit because staleness is what the ratio is about; wall time
is printed beside it (Ray's calls make it far slower than the serial loop on
a table this small).

    python benchmarks/ray_learners.py           # full: a few minutes on 2 cores
    python benchmarks/ray_learners.py --quick   # smoke run
    python benchmarks/ray_learners.py --no-ray  # the in-process rows only

The in-process rows run the synchronous rounds in this process: the same
arithmetic as Ray's sync mode (the tests check that the tables are identical),
so they measure the cost of staleness in updates even where Ray cannot start.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from qlearn_lite import distributed
from qlearn_lite.dqn import first_reach

THRESHOLD = 0.05
GOAL = 1.25
SWEEP = 64  # state-action pairs of FrozenLake 4x4
COMMON = {"gamma": 0.95, "alpha": 1.0, "alpha_decay": 0.6}
CONFIGS = [
    ("async", 1),
    ("async", 4),
    ("sync", 1),
    ("sync", 4),
]


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} cores, load average {load:.1f} (1 min), "
        f"Python {platform.python_version()}"
    )


def updates_to_threshold(result) -> int | None:
    """Updates at the first record with ``max |Q - Q*| <= THRESHOLD``."""
    reached = first_reach(
        result.extra["error_updates"],
        result.extra["error_seconds"],
        [-error for error in result.extra["max_abs_error"]],
        -THRESHOLD,
    )
    return None if reached is None else int(reached[0])


def ray_costs() -> None:
    """ray.init time, Ray's memory and the cost of one actor call."""
    import ray

    distributed.shutdown()
    connection = distributed.connect(num_cpus=2)
    time.sleep(1.0)  # let the idle workers finish starting
    memory = distributed.ray_memory_mb()
    processes = len(distributed.ray_processes())

    @ray.remote(num_cpus=0)
    class Echo:
        def call(self, value: int) -> int:
            return value

    echo = Echo.remote()
    ray.get(echo.call.remote(0))
    costs = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(200):
            ray.get(echo.call.remote(i))
        costs.append((time.perf_counter() - start) / 200 * 1e3)
    ray.kill(echo)
    print(
        f"ray.init: {connection.init_seconds:.1f} s; Ray processes: {processes}, "
        f"{memory:.0f} MB together (PSS); one actor call (ray.get each): "
        f"median {statistics.median(costs):.2f} ms over 5 x 200 calls"
    )


def sharded_rows(seeds: list[int], sweeps: int, n_records: int, ray_ok: bool) -> None:
    """Updates to max |Q - Q*| <= 0.05: sharded on Ray / serial, per seed."""
    print(
        f"\nsharded Q-learning, FrozenLake 4x4 slippery, 4 shards, 2 workers, "
        f"{sweeps} sweeps ({sweeps * SWEEP} updates), seeds {seeds}"
    )
    print(f"{'learner':<24}{'updates to 0.05 (per seed)':<36}{'ratio':>8}{'wall s':>9}")
    serial = []
    walls = []
    for seed in seeds:
        result = distributed.serial_sharded_q_learning(
            n_shards=1,
            total_updates=sweeps * SWEEP,
            seed=seed,
            n_records=n_records,
            **COMMON,
        )
        serial.append(updates_to_threshold(result))
        walls.append(result.wall_seconds)
    wall = np.median(walls)
    print(f"{'serial (1 block)':<24}{str(serial):<36}{'1.00':>8}{wall:>9.2f}")
    # The synchronous rounds in this process: the same arithmetic as Ray's
    # sync mode (tests/test_distributed.py checks the tables are identical).
    for refresh_every in (1, 4, 16):
        reached, walls = [], []
        for seed in seeds:
            result = distributed.serial_sharded_q_learning(
                n_shards=4,
                n_workers=2,
                refresh_every=refresh_every,
                total_updates=sweeps * SWEEP,
                seed=seed,
                n_records=n_records,
                **COMMON,
            )
            reached.append(updates_to_threshold(result))
            walls.append(result.wall_seconds)
        label = f"in-process, refresh {refresh_every}"
        print_row(label, reached, serial, walls, refresh_every)
    footnote = (
        f"ratio: median over seeds of (updates / serial updates, same seed); "
        f"goal <= {GOAL} for refresh_every <= 4. None: not reached."
    )
    if not ray_ok:
        print("the Ray rows are skipped (--no-ray, or Ray did not start: see above)")
        print(footnote)
        return
    for mode, refresh_every in CONFIGS:
        reached, walls = [], []
        for seed in seeds:
            result = distributed.sharded_q_learning(
                n_shards=4,
                n_workers=2,
                refresh_every=refresh_every,
                total_updates=sweeps * SWEEP,
                seed=seed,
                mode=mode,
                n_records=n_records,
                **COMMON,
            )
            reached.append(updates_to_threshold(result))
            walls.append(result.wall_seconds)
        label = f"ray {mode}, refresh {refresh_every}"
        print_row(label, reached, serial, walls, refresh_every)
    print(footnote)


def print_row(
    label: str,
    reached: list[int | None],
    serial: list[int | None],
    walls: list[float],
    refresh_every: int,
) -> None:
    """One row: updates to the threshold per seed, the median ratio to serial."""
    ratios = [r / s for r, s in zip(reached, serial, strict=True) if r and s]
    ratio = statistics.median(ratios) if len(ratios) == len(reached) else float("nan")
    verdict = ("  meets" if ratio <= GOAL else "  MISSES") if refresh_every <= 4 else ""
    print(
        f"{label:<24}{str(reached):<36}{ratio:>8.2f}{np.median(walls):>9.2f}{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--no-ray", action="store_true", help="in-process rows only")
    args = parser.parse_args()
    print(machine_line())
    ray_ok = not args.no_ray
    try:
        if ray_ok:
            ray_costs()
    except (RuntimeError, ConnectionError) as error:
        print(f"Ray could not start here: {error}")
        ray_ok = False
    if args.quick:
        sharded_rows([0], sweeps=400, n_records=80, ray_ok=ray_ok)
    else:
        sharded_rows([0, 1, 2, 3, 4], sweeps=1200, n_records=240, ray_ok=ray_ok)
    print(
        "\nnot measured here: the Ape-X rows (actor_learner_dqn on Ray needs "
        "qlearn_lite.actor_learner, not written yet) and RLlib's DQN."
    )
    distributed.shutdown()


if __name__ == "__main__":
    main()
