"""Env steps per second: TorchCartPole vs Gymnasium's NumPy CartPoleVectorEnv.

Both step the same random actions in the same process, alternating in short
rounds so that both see the same machine load; we print the median of each
and the median of the per-round ratios (wall clock and this thread's CPU
time). Three parts:

1. A sweep from 1 to 65,536 envs with ``torch.set_num_threads(1)`` (NumPy is
   single-threaded too): like with like.
2. 4,096 envs with torch's default thread count: TorchCartPole as shipped
   (``torch_threads="auto"``: one torch thread inside ``step`` for up to
   65,536 carts; ``sin`` and ``cos`` as polynomials from 2,048 carts), with
   ``torch_threads=None`` (torch's threads inside ``step``), and with
   ``torch_threads=None, polynomial_trig=False`` (torch's threads and torch's
   ``sin`` and ``cos``: threading and trigonometry as before both fixes).
3. The same three under a background load that this benchmark makes itself:
   one busy-looping process per core. The stall: torch splits ``sin`` and
   ``cos`` of a few thousand numbers over its threads, the threads wait for
   each other while the other cores are taken, and a step takes 2-100x
   longer. Either fix avoids it: one torch thread, or no operation in the
   step large enough to be split (with the polynomials, none is at 4,096
   carts: the process's CPU time then equals the calling thread's).

Goals at 4,096 envs: >= 2x Gymnasium's steps/s with 1 thread and with the
default thread count; >= 1x under the background load.

What each step includes: the physics of all carts, termination, the 500-step
time limit and the auto-reset of the carts that ended. Gymnasium's
``CartPoleVectorEnv`` resets in the *next* step (``NEXT_STEP`` mode, one
extra step of reward 0 per episode); ours in the same step (``SAME_STEP``).
Ours keeps float64 physics like Gymnasium.

Where the time goes (measured on the project's 2-core machine): a step was
about 30 torch operations at 4,096 carts, each a fixed cost of about 1-1.5
microseconds (a step of 64 carts took 30-35 in all) plus a pass over 32-64 KB.
TorchScript (no CPU fuser in the CPU wheel: "LLVM Backend not found") saved
nothing, on the physics or on four fused multiply-adds. ``torch.compile``
(Inductor, C++ with AVX-512 here) compiled in 25 s on the idle machine (140 s
on a busy one). It fuses the physics alone into one loop: 48 microseconds a
step at 4,096 carts against 150 eager, but the whole step (flags, time limit,
reset, observations) came to 190-250 microseconds, no faster than the eager
step. Drawing start states for every cart, so that the compiled step has no
data-dependent shapes, costs another 127. A whole step compiled into one
loop, with the start states drawn inside it from a counter-based hash
(splitmix64) so that nothing is data-dependent, compiled in 10 s and took 167
microseconds against Gymnasium's 199 in the same run (1.19x): Inductor's
float64 ``sin`` and ``cos`` cost about as much as torch's eager ones, and the
compiled call adds about 15. So neither is used. Nor is float32 physics
(``dtype=torch.float32``, which no longer follows Gymnasium's float64
trajectories to 1e-5): in one run on 2026-12-03 it made 1.70x Gymnasium's
steps/s at 4,096 carts against 1.40x for float64 then.

What is used: fewer operations writing into preallocated rows, and no
transcendental functions. torch's float64 ``sin`` and ``cos`` took about 10
microseconds each at 4,096 carts (NumPy's take about 36 each, most of
Gymnasium's 140-200). Every step starts with the pole within 12 degrees in
every cart (beyond, a cart is terminated and reset), and there both are
degree-4 polynomials in theta^2 to float64 precision: four fused multiply-adds
over two rows, 13-15 microseconds for both against 21. With the time limit
kept as one clock plus per-cart offsets (one add a step instead of an add and
a ``where``) and the ended carts found by NumPy (about 2 microseconds less than
``torch.nonzero``), a step at 4,096 carts went from 81-85 microseconds to
71-72, measured in the same runs. Then two more, from a profile of that step
(about 55 of its 70 microseconds inside torch's operations):

- the first multiply-add of Horner's rule had two per-row constants, and with
  two operands of stride 0 torch's loop is not vectorised: 4.5 microseconds
  instead of 2.2. Its constant is now a full ``[2, num_envs]`` tensor;
- after the physics, the termination flags, the time limit and the choice of
  carts to reset (an abs, two comparisons, two ORs, an add, finding the
  ended carts and restarting their clocks: eight calls) are done with NumPy
  on views of the same tensors (no copies). For a few thousand
  numbers a NumPy call costs 0.5-1 microsecond, torch's 1.5-2.5: torch's
  comparisons that produce bools are its slowest operations here. The GPU
  path keeps torch's operations (no host sync); a test checks that both give
  the same outputs.

A step at 4,096 carts then takes 63-67 microseconds.

Recorded runs at 4,096 carts (1 thread / default threads / under the load):
2026-12-04 21:13-21:18 UTC, after the last two changes, three full runs:
2.13x / 2.14x / 2.04x, 2.115x / 2.13x / 2.20x and 2.15x / 2.16x / 2.19x,
3.0-3.1x at 16,384 carts and 3.4-3.6x at 65,536; torch's threads with torch's
``sin`` and ``cos`` under the load: 0.02-0.48x. Before them, the same day
(polynomials, clock and offsets), four full runs: 2.01x / 2.00x / 2.02x,
1.98x / 1.99x / 2.66x, 1.97x / 1.99x / 2.53x and 1.975x / 1.985x / 2.06x (at
the goal line, mostly just below it). Before the polynomials, the same day:
1.71x / 1.72x / 2.09x (1.99x at 16,384, 2.17x at 65,536); 2026-12-03: 1.46x /
1.43x / 1.82x. ``benchmarks/results/vec_envs.txt`` holds the latest full run.

    python benchmarks/vec_envs.py           # 1 .. 65,536 envs, about 1 min
    python benchmarks/vec_envs.py --quick   # 64 and 4,096 envs, about 20 s

Steps/s depend on the machine and on what else runs on it: read the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from qlearn_lite.vec_envs import TorchCartPole

GOAL_ENVS, GOAL, LOADED_GOAL = 4096, 2.0, 1.0


def time_steps(step: Callable, actions: list, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds for ``steps`` calls of ``step``.

    CPU seconds (this thread's) count only the time we actually ran, so they
    are far less disturbed by other programs on a busy machine than wall time.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    for i in range(steps):
        step(actions[i % len(actions)])
    return time.perf_counter() - wall, time.thread_time() - cpu


def compare(num_envs: int, seconds: float, variants: dict[str, dict]) -> dict:
    """Alternate Gymnasium's env and each variant of ours (TorchCartPole
    keyword arguments) for about ``seconds``: steps/s and ratios to Gymnasium."""
    generator = torch.Generator().manual_seed(0)
    torch_actions = [
        torch.randint(0, 2, (num_envs,), generator=generator) for _ in range(8)
    ]
    numpy_actions = [a.numpy() for a in torch_actions]
    envs = {
        name: TorchCartPole(num_envs, device="cpu", seed=0, **kwargs)
        for name, kwargs in variants.items()
    }
    theirs = CartPoleVectorEnv(num_envs=num_envs)
    theirs.reset(seed=0)
    for env in envs.values():
        env.reset()
        time_steps(env.step, torch_actions, 3)  # warm-up
    # Calibrate: enough steps per round for ~50 ms of Gymnasium work.
    probe = max(1e-6, time_steps(theirs.step, numpy_actions, 5)[1] / 5)
    per_round = max(3, int(0.05 / probe))
    rounds = max(7, int(seconds / (probe * per_round * (1 + len(envs)))))
    times = {name: [] for name in (*envs, "gymnasium")}
    deadline = time.perf_counter() + 6 * seconds  # a stalled variant: stop early
    order = list(envs.items())
    for turn in range(rounds):
        times["gymnasium"].append(time_steps(theirs.step, numpy_actions, per_round))
        # The variant right after Gymnasium finds the caches full of its
        # arrays: rotate the order, so that each variant takes that place.
        shift = turn % len(order)
        for name, env in order[shift:] + order[:shift]:
            times[name].append(time_steps(env.step, torch_actions, per_round))
        if time.perf_counter() > deadline and len(times["gymnasium"]) >= 3:
            break
    steps = per_round * num_envs
    result = {}
    for clock, which in (("wall", 0), ("cpu", 1)):
        for name, pairs in times.items():
            result[name, clock] = steps / statistics.median(p[which] for p in pairs)
        for name in envs:
            ratios = [
                g[which] / o[which]
                for g, o in zip(times["gymnasium"], times[name], strict=True)
            ]
            result[f"{name} ratio", clock] = statistics.median(ratios)
    return result


def _burn(stop: multiprocessing.synchronize.Event) -> None:
    """A background load: pure-Python busy work until told to stop."""
    while not stop.is_set():
        sum(range(10_000))


@contextmanager
def background_load(processes: int) -> Iterator[None]:
    """``processes`` busy-looping processes (spawned) while the block runs."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    workers = [
        context.Process(target=_burn, args=(stop,), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # let them start
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5.0)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=2.0)


def row(label: str, result: dict, names: list[str]) -> list[str]:
    lines = []
    for clock in ("wall", "cpu"):
        line = f"{label:>24} {clock:>4} {result['gymnasium', clock] / 1e6:>8.3f} M/s"
        for name in names:
            line += f" | {name} {result[name, clock] / 1e6:7.3f} M/s"
            line += f" {result[f'{name} ratio', clock]:5.2f}x"
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    cores = os.cpu_count() or 1
    sizes = (64, 4096) if args.quick else (1, 16, 256, 1024, 4096, 16384, 65536)
    seconds = 1.5 if args.quick else 6.0
    print(
        f"torch {torch.__version__} vs NumPy {np.__version__}, CPU, {cores} cores "
        f"(torch's default: {default_threads} threads); median env steps/s over "
        "alternating rounds, ratio = Gymnasium's time / ours"
    )
    goals: dict[str, float] = {}

    print("\n1. torch.set_num_threads(1)")
    print(f"{'envs':>24} {'clock':>4} {'Gymnasium':>12} | TorchCartPole")
    torch.set_num_threads(1)
    for num_envs in sizes:
        result = compare(num_envs, seconds, {"ours": {}})
        print("\n".join(row(f"{num_envs:,}", result, ["ours"])), flush=True)
        if num_envs == GOAL_ENVS:
            goals["1 thread"] = result["ours ratio", "wall"]

    variants = {
        "auto": {},
        "None": {"torch_threads": None},
        "None+sin": {"torch_threads": None, "polynomial_trig": False},
    }
    names = list(variants)
    print(
        f"\n2. {GOAL_ENVS:,} envs, torch's default {default_threads} threads: "
        "TorchCartPole() [the default: one torch thread inside step, sin and cos "
        "as polynomials], torch_threads=None [torch's threads inside step], and "
        "None+sin [torch's threads and torch's sin and cos, as before both fixes]"
    )
    torch.set_num_threads(default_threads)
    result = compare(GOAL_ENVS, seconds, variants)
    print("\n".join(row("default threads", result, names)), flush=True)
    goals["default threads"] = result["auto ratio", "wall"]
    others = {name: result[f"{name} ratio", "wall"] for name in names[1:]}

    print(f"\n3. the same under a background load of {cores} busy processes")
    with background_load(cores):
        result = compare(GOAL_ENVS, seconds, variants)
    print("\n".join(row("default threads, load", result, names)), flush=True)
    goals["background load"] = result["auto ratio", "wall"]
    loaded = {name: result[f"{name} ratio", "wall"] for name in names[1:]}
    torch.set_num_threads(default_threads)

    print(f"\nat {GOAL_ENVS:,} envs, wall-clock steps/s against Gymnasium's:")
    for label, ratio in goals.items():
        goal = LOADED_GOAL if label == "background load" else GOAL
        verdict = "meets" if ratio >= goal else "BELOW"
        print(f"  {label}: {ratio:.3f}x ({verdict} the {goal:.1f}x goal)")
    for where, ratios, default in (
        ("default threads", others, goals["default threads"]),
        ("background load", loaded, goals["background load"]),
    ):
        for name, ratio in ratios.items():
            # A stall: torch's threads waiting for each other, the step several
            # times slower than the default's.
            stalled = ratio < 0.5 * default
            print(
                f"  {where}, {name}: {ratio:.2f}x, {ratio / default:.2f} of the "
                f"default's ({'a stall' if stalled else 'no stall in this run'})"
            )
    print(
        "(CPU time is this thread's, robust to other programs on a shared "
        "machine; under a load, wall time is what a user waits)"
    )


if __name__ == "__main__":
    main()
