"""DQN on CartPole-v1: wall time to a greedy return of 475, ours vs Stable-Baselines3.

Both learners run in this process, one after the other per seed, with
``torch.set_num_threads(1)``. Every 2,500 env steps both are paused and
evaluated with the same code (:func:`qlearn_lite.dqn.evaluate`: 10 greedy
episodes from the same start states); the evaluation time is excluded from
the clock. A run stops at the first evaluation with a mean return >= 475 and
reports that evaluation's env steps and training wall seconds (and CPU
seconds, which a busy shared machine disturbs less).

Stable-Baselines3 uses the rl-baselines3-zoo tuned hyperparameters for
CartPole-v1 (hyperparams/dqn.yml). Ours uses the default ``DQNConfig``.

    python benchmarks/dqn_cartpole.py              # 5 seeds, both learners
    python benchmarks/dqn_cartpole.py --quick      # 1 seed, 10k steps: smoke run
    python benchmarks/dqn_cartpole.py --only ours  # skip SB3 (or --only sb3)

A full run with both learners also writes ``benchmarks/results/dqn_cartpole.json``
(the figures, the date and the machine), which notebook 05 prints.

SB3 is optional (``pip install -e ".[bench]"``); without it only ours runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from qlearn_lite.dqn import DQNConfig, evaluate, train_dqn

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
EVAL_EVERY = 2_500
EVAL_EPISODES = 10
EVAL_SEED = 10_000  # the same evaluation start states for both learners

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1.
SB3_ZOO = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1_000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)
TOTAL_STEPS = 50_000  # the zoo's n_timesteps; both learners get this budget


@dataclass
class Run:
    """One learner on one seed."""

    steps: int | None  # env steps at the first evaluation >= THRESHOLD
    wall: float | None  # training wall seconds then (evaluation excluded)
    cpu: float | None  # process CPU seconds then (evaluation excluded)
    evals: list[float]  # every evaluation's mean return


def run_ours(seed: int, total_steps: int) -> Run:
    """Train our default DQN with the benchmark's evaluation protocol."""
    config = DQNConfig(
        seed=seed,
        total_steps=total_steps,
        eval_every=EVAL_EVERY,
        eval_episodes=EVAL_EPISODES,
        eval_seed=EVAL_SEED,
        stop_at_return=THRESHOLD,
    )
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    # train_dqn evaluates with the same evaluate() and stops the clock itself;
    # we time the whole call too, so set-up counts as it does for SB3.
    history = train_dqn(ENV_ID, config, progress=False).history
    wall_total = time.perf_counter() - wall_start
    cpu_total = time.process_time() - cpu_start
    reached = history.first_reach(THRESHOLD)
    if reached is None:
        return Run(None, None, None, history.eval_returns)
    # Everything after the reaching evaluation is evaluation (we stop there).
    setup = wall_total - history.wall_seconds - history.eval_wall_seconds
    wall = reached[1] + setup
    cpu = cpu_total - history.eval_cpu_seconds
    return Run(reached[0], wall, cpu, history.eval_returns)


def run_sb3(seed: int, total_steps: int) -> Run:
    """Train SB3's DQN (zoo hyperparameters) with the same evaluation protocol."""
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    class EvalAndStop(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.wall_eval = self.cpu_eval = 0.0
            self.result = Run(None, None, None, [])

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY:
                return True
            wall_now, cpu_now = time.perf_counter(), time.process_time()
            # Training time so far: since the start, minus earlier evaluations.
            train_wall = wall_now - wall_start - self.wall_eval
            train_cpu = cpu_now - cpu_start - self.cpu_eval
            returns = evaluate(self.model.q_net, ENV_ID, EVAL_EPISODES, EVAL_SEED)
            self.result.evals.append(float(returns.mean()))
            self.wall_eval += time.perf_counter() - wall_now
            self.cpu_eval += time.process_time() - cpu_now
            if returns.mean() >= THRESHOLD:
                self.result.steps = self.num_timesteps
                self.result.wall, self.result.cpu = train_wall, train_cpu
                return False  # stop training
            return True

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    model = DQN("MlpPolicy", ENV_ID, seed=seed, device="cpu", verbose=0, **SB3_ZOO)
    callback = EvalAndStop()
    model.learn(total_timesteps=total_steps, callback=callback)
    return callback.result


def warm_up() -> None:
    """Pay one-time costs before any clock starts, for both learners alike.

    The first ``torch.optim.Adam`` of a process imports a large part of torch
    (about a second), and the first env and optimizer step allocate.
    """
    net = torch.nn.Linear(4, 2)
    for fused in (False, True):
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)
        net(torch.zeros(1, 4)).sum().backward()
        optimizer.step()
    train_dqn(
        ENV_ID,
        DQNConfig(total_steps=300, learning_starts=100, train_freq=100, eval_every=0),
        progress=False,
    )


def fmt(value: float | None, spec: str) -> str:
    return "   never" if value is None else format(value, spec)


def median_or_none(values: list[float | None]) -> float | None:
    """The median over seeds, counting a seed that never reached as infinite."""
    finite = [v if v is not None else float("inf") for v in values]
    result = statistics.median(finite)
    return None if result == float("inf") else result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--quick", action="store_true", help="1 seed, 10k steps")
    parser.add_argument("--only", choices=("ours", "sb3"), default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warm_up()
    seeds = range(1 if args.quick else args.seeds)
    total_steps = 10_000 if args.quick else TOTAL_STEPS
    try:
        import stable_baselines3
    except ImportError:
        stable_baselines3 = None
        print(
            'stable-baselines3 is not installed (pip install -e ".[bench]"): ours only'
        )
    learners = ["ours", "sb3"] if stable_baselines3 is not None else ["ours"]
    if args.only:
        learners = [args.only]
    if stable_baselines3 is not None and "sb3" in learners:
        print(
            f"stable-baselines3 {stable_baselines3.__version__}, torch "
            f"{torch.__version__}, threads {torch.get_num_threads()}"
        )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
        "(1 min) at the start"
    )
    print(
        f"greedy {EVAL_EPISODES}-episode evaluation every {EVAL_EVERY} steps, "
        f"time to the first mean return >= {THRESHOLD:g} (evaluation excluded)"
    )
    print(
        f"{'seed':>4} {'learner':>7} {'steps':>7} {'wall s':>8} {'cpu s':>8}  "
        "evaluations"
    )
    results: dict[str, list[Run]] = {name: [] for name in learners}
    for seed in seeds:
        for name in learners:
            run = (
                run_ours(seed, total_steps)
                if name == "ours"
                else run_sb3(seed, total_steps)
            )
            results[name].append(run)
            print(
                f"{seed:>4} {name:>7} {fmt(run.steps, '7d')} {fmt(run.wall, '8.1f')} "
                f"{fmt(run.cpu, '8.1f')}  {[round(x) for x in run.evals]}",
                flush=True,
            )
    print()
    medians = {}
    for name, runs in results.items():
        reached = sum(run.steps is not None for run in runs)
        medians[name] = {
            key: median_or_none([getattr(run, key) for run in runs])
            for key in ("steps", "wall", "cpu")
        }
        m = medians[name]
        print(
            f"{name:>5}: reached {THRESHOLD:g} on {reached}/{len(runs)} seeds; "
            f"median {fmt(m['steps'], '.0f')} steps, {fmt(m['wall'], '.1f')} s wall, "
            f"{fmt(m['cpu'], '.1f')} s CPU"
        )
    if len(medians) == 2:
        for key in ("wall", "cpu"):
            ours, sb3 = medians["ours"][key], medians["sb3"][key]
            if ours is not None and sb3 is not None:
                print(f"ratio ours/SB3, median {key} seconds: {ours / sb3:.2f}")
        print("goal: reach 475 on >= 4/5 seeds at a median wall-time ratio <= 0.50")
        if not args.quick and not args.only:
            record = {
                "date": datetime.date.today().isoformat(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}",
                "load_average_1min": os.getloadavg()[0],
                "torch": torch.__version__,
                "stable_baselines3": stable_baselines3.__version__,
                "threshold": THRESHOLD,
                "seeds": list(seeds),
                "runs": {
                    name: [asdict(run) for run in runs]
                    for name, runs in results.items()
                },
                "medians": medians,
                "ratio_wall": medians["ours"]["wall"] / medians["sb3"]["wall"],
                "ratio_cpu": medians["ours"]["cpu"] / medians["sb3"]["cpu"],
            }
            out = Path(__file__).resolve().parent / "results" / "dqn_cartpole.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            print(f"wrote {out.relative_to(out.parents[2])}")


if __name__ == "__main__":
    main()
