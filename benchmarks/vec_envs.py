"""Env steps per second: TorchCartPole vs Gymnasium's NumPy CartPoleVectorEnv.

Both step the same random actions in the same process, one torch thread
(NumPy is single-threaded too), alternating in short rounds so that both see
the same machine load; we print the median of each and the median of the
per-round ratios, for 1 to 65,536 envs. The goal: TorchCartPole at 4,096 envs
on the CPU at least 1.0x Gymnasium's steps per second.

What each step includes: the physics of all carts, termination, the 500-step
time limit and the auto-reset of the carts that ended. Gymnasium's
``CartPoleVectorEnv`` resets in the *next* step (``NEXT_STEP`` mode, one
extra step of reward 0 per episode); ours in the same step (``SAME_STEP``).
Ours keeps float64 physics like Gymnasium; ``--float32`` adds a float32 row.

    python benchmarks/vec_envs.py           # 1 .. 65,536 envs, 1-2 min
    python benchmarks/vec_envs.py --quick   # 1, 64, 4,096 envs, < 1 min

Steps/s depend on the machine and on what else runs on it: read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from qlearn_lite.vec_envs import TorchCartPole

GOAL_ENVS, GOAL = 4096, 1.0


def time_steps(step, actions: list, rounds_steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds for ``rounds_steps`` calls of ``step``.

    CPU seconds (this thread's) count only the time we actually ran, so they
    are far less disturbed by other programs on a busy machine than wall time.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    for i in range(rounds_steps):
        step(actions[i % len(actions)])
    return time.perf_counter() - wall, time.thread_time() - cpu


def compare(num_envs: int, seconds: float, dtype: torch.dtype | None) -> dict:
    """Alternate ours and Gymnasium's for about ``seconds``; steps/s and ratios."""
    generator = torch.Generator().manual_seed(0)
    torch_actions = [
        torch.randint(0, 2, (num_envs,), generator=generator) for _ in range(8)
    ]
    numpy_actions = [a.numpy() for a in torch_actions]
    envs = {"ours": TorchCartPole(num_envs, device="cpu", seed=0)}
    if dtype is not None:
        envs["ours float32"] = TorchCartPole(num_envs, "cpu", seed=0, dtype=dtype)
    theirs = CartPoleVectorEnv(num_envs=num_envs)
    theirs.reset(seed=0)
    for env in envs.values():
        env.reset()
    # Calibrate: enough steps per round for ~50 ms of Gymnasium work.
    probe = max(1e-6, time_steps(theirs.step, numpy_actions, 5)[1] / 5)
    per_round = max(3, int(0.05 / probe))
    rounds = max(7, int(seconds / (probe * per_round * (1 + len(envs)))))
    times = {name: [] for name in (*envs, "gymnasium")}
    for _ in range(rounds):
        times["gymnasium"].append(time_steps(theirs.step, numpy_actions, per_round))
        for name, env in envs.items():
            times[name].append(time_steps(env.step, torch_actions, per_round))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--float32", action="store_true", help="also dtype=float32")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = (1, 64, 4096) if args.quick else (1, 16, 256, 1024, 4096, 16384, 65536)
    seconds = 2.0 if args.quick else 10.0
    print(
        f"torch {torch.__version__} (1 thread) vs NumPy {np.__version__}, CPU; "
        "median env steps/s over alternating rounds"
    )
    names = ["ours"] + (["ours float32"] if args.float32 else [])
    header = f"{'envs':>6} {'clock':>5} {'TorchCartPole':>15} {'CartPoleVectorEnv':>18}"
    header += f" {'ratio':>6}" + (
        f" {'float32':>13} {'ratio':>6}" if args.float32 else ""
    )
    print(header)
    goal = {}
    for num_envs in sizes:
        r = compare(num_envs, seconds, torch.float32 if args.float32 else None)
        for clock in ("wall", "cpu"):
            line = f"{num_envs:>6} {clock:>5} {r['ours', clock] / 1e6:>11.3f} M/s"
            line += f" {r['gymnasium', clock] / 1e6:>14.3f} M/s"
            for name in names:
                if name != "ours":
                    line += f" {r[name, clock] / 1e6:>9.3f} M/s"
                line += f" {r[f'{name} ratio', clock]:>5.2f}x"
            print(line, flush=True)
            if num_envs == GOAL_ENVS:
                goal[clock] = r["ours ratio", clock]
    for clock, label in (("wall", "wall-clock"), ("cpu", "CPU-time")):
        verdict = "meets" if goal[clock] >= GOAL else "BELOW"
        print(
            f"at {GOAL_ENVS} envs, {label} steps/s: {goal[clock]:.2f}x Gymnasium's "
            f"({verdict} the {GOAL:.1f}x goal)"
        )
    print(
        "(ratio = median over rounds of Gymnasium's time / ours; CPU time is this "
        "thread's, robust to other programs on a shared machine)"
    )


if __name__ == "__main__":
    main()
