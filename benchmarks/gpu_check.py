"""The GPU check in one command: CUDA tests and vectorised figures, in < 5 min.

    make gpu-check                      # or: python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --output somewhere.json

On a machine where torch sees a CUDA GPU it

1. runs the CUDA tests (``pytest -m cuda tests``: every test marked ``cuda``);
2. measures, on that GPU, in this one run:
   * ``TorchCartPole`` env steps per second for 4,096 to 1,048,576 carts
     (random actions), next to Gymnasium's NumPy ``CartPoleVectorEnv`` on
     the CPU at 4,096 and 65,536 envs;
   * ``vectorized_q_learning`` on FrozenLake 8x8 with 65,536 envs (env steps,
     that is Q-updates, per second);
   * ``vectorized_dqn`` on CartPole-v1: wall seconds to a greedy return of
     475, one thread and actor + learner (at most 60 s each);
3. writes the figures with the device's name, the date and the versions to a
   small JSON file (default ``benchmarks/results/gpu_check.json``), which is
   what notebooks 09 and 11 may quote, labelled with device and date.

Where torch sees no CUDA GPU it says so and exits with status 2 without
running anything: no figure here ever comes from a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "gpu_check.json"
NO_GPU_STATUS = 2
TEST_TIMEOUT_SECONDS = 150
CARTPOLE_SIZES = (4096, 65_536, 262_144, 1_048_576)
REFERENCE_SIZES = (4096, 65_536)


def no_gpu_message() -> str | None:
    """None where torch sees a CUDA GPU; otherwise why the check cannot run."""
    if torch.cuda.is_available():
        return None
    return (
        "gpu_check: torch sees no CUDA GPU (torch "
        f"{torch.__version__}, CUDA build: {torch.version.cuda}), so there is "
        "nothing to check and no figure was written. Run it on a machine with "
        "an NVIDIA GPU and a CUDA build of torch (on Linux x86_64, PyPI's "
        "torch wheels are CUDA builds: make install there gives one)."
    )


def run_cuda_tests() -> dict[str, Any]:
    """``pytest -m cuda tests``: its exit status, summary line and seconds."""
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "tests"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT_SECONDS,
            env=None,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": TEST_TIMEOUT_SECONDS}
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    return {
        "status": "passed" if completed.returncode == 0 else "failed",
        "exit_code": completed.returncode,
        "summary": lines[-1] if lines else "",
        "seconds": round(time.perf_counter() - start, 1),
    }


def _rate(step, actions: list, num_envs: int, seconds: float, sync) -> float:
    """Env steps per second of ``step`` (best of 3 timings of ~``seconds``)."""
    for i in range(5):  # warm-up (CUDA kernels, allocator)
        step(actions[i % len(actions)])
    sync()
    calls = 10
    while True:
        start = time.perf_counter()
        for i in range(calls):
            step(actions[i % len(actions)])
        sync()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 3 or calls > 100_000:
            break
        calls *= 4
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for i in range(calls):
            step(actions[i % len(actions)])
        sync()
        best = max(best, calls * num_envs / (time.perf_counter() - start))
    return best


def cartpole_rates(
    device: torch.device,
    seconds: float,
    sizes: tuple[int, ...] = CARTPOLE_SIZES,
    reference_sizes: tuple[int, ...] = REFERENCE_SIZES,
) -> dict[str, Any]:
    """TorchCartPole on ``device``, Gymnasium's NumPy env on the CPU."""
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    from qlearn_lite.utils import synchronize
    from qlearn_lite.vec_envs import TorchCartPole

    sync = functools.partial(synchronize, device)
    ours = {}
    for num_envs in sizes:
        env = TorchCartPole(num_envs, device=device, seed=0)
        env.reset()
        generator = torch.Generator(device=device).manual_seed(0)
        actions = [
            torch.randint(0, 2, (num_envs,), generator=generator, device=device)
            for _ in range(4)
        ]
        ours[str(num_envs)] = _rate(env.step, actions, num_envs, seconds, sync)
        del env, actions
    theirs = {}
    for num_envs in reference_sizes:
        env = CartPoleVectorEnv(num_envs=num_envs)
        env.reset(seed=0)
        actions = [
            torch.randint(0, 2, (num_envs,)).numpy() for _ in range(4)
        ]  # the same kind of actions, on the host
        theirs[str(num_envs)] = _rate(env.step, actions, num_envs, seconds, lambda: 0)
    return {
        f"torch_cartpole_{device.type}_env_steps_per_second": ours,
        "gymnasium_numpy_cpu_env_steps_per_second": theirs,
    }


def tabular_rate(
    device: torch.device, num_envs: int = 65_536, vector_steps: int = 300
) -> dict[str, Any]:
    """vectorized_q_learning on FrozenLake 8x8 with ``num_envs`` envs on ``device``."""
    import gymnasium as gym

    from qlearn_lite.vectorized import vectorized_q_learning

    env = gym.make("FrozenLake8x8-v1")
    # A short first run warms the kernels and the allocator.
    vectorized_q_learning(env, num_envs, 20, 0.1, 0.99, 0.1, device, progress=False)
    result = vectorized_q_learning(
        env, num_envs, vector_steps, 0.1, 0.99, 0.1, device, seed=0, progress=False
    )
    return {
        "num_envs": num_envs,
        "vector_steps": vector_steps,
        "env_steps_per_second": result.env_steps_per_second,
    }


def dqn_times(
    device: torch.device, max_seconds: float = 60.0, total_steps: int | None = None
) -> dict[str, Any]:
    """vectorized_dqn to 475 on ``device``: one thread, and actor + learner.

    ``total_steps`` (default: the config's) caps each run's env steps.
    """
    from qlearn_lite.dqn import evaluate
    from qlearn_lite.vectorized_dqn import VectorizedDQNConfig, vectorized_dqn

    budget = {} if total_steps is None else {"total_steps": total_steps}
    figures = {}
    for asynchronous in (False, True):
        config = VectorizedDQNConfig(
            device=str(device),
            asynchronous=asynchronous,
            max_seconds=max_seconds,
            seed=0,
            **budget,
        )
        result = vectorized_dqn(config, progress=False)
        reached = result.history.first_reach(475.0)
        # Judged on start states never used in training (eval_seed stopped it).
        check = evaluate(result.q_net.cpu(), "CartPole-v1", episodes=10, seed=20_000)
        figures["actor_learner" if asynchronous else "one_thread"] = {
            "reached_475": reached is not None,
            "env_steps_to_475": None if reached is None else reached[0],
            "seconds_to_475": None if reached is None else round(reached[1], 2),
            "env_steps": result.history.env_steps,
            "updates": result.history.updates,
            "env_steps_per_second": result.history.env_steps_per_second,
            "fresh_seed_mean_return": float(check.mean()),
        }
    return figures


def run_sections(sections: list[tuple[str, Any]]) -> tuple[dict[str, Any], bool]:
    """Run each ``(name, function)`` in turn: ``({name: figures}, any failed)``.

    A section that raises is recorded as ``{"error": ...}`` and the rest still
    run; the CUDA tests count as failed unless their status is ``"passed"``.
    """
    report: dict[str, Any] = {}
    failed = False
    for name, section in sections:
        section_start = time.perf_counter()
        try:
            report[name] = section()
        except Exception as error:  # noqa: BLE001 - recorded, the rest still runs
            report[name] = {"error": f"{type(error).__name__}: {error}"}
            failed = True
        seconds = time.perf_counter() - section_start
        print(f"  {name} ({seconds:.0f} s): {json.dumps(report[name])}", flush=True)
        if name == "cuda_tests" and report[name].get("status") != "passed":
            failed = True
    return report, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="timing per throughput figure"
    )
    parser.add_argument("--skip-tests", action="store_true", help="figures only")
    args = parser.parse_args(argv)
    message = no_gpu_message()
    if message is not None:
        print(message, file=sys.stderr)
        return NO_GPU_STATUS
    device = torch.device("cuda", torch.cuda.current_device())
    started = time.perf_counter()
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "host_cpu": platform.processor() or platform.machine(),
    }
    print(f"gpu_check on {report['device']} ({report['date']})", flush=True)
    sections = [
        ("cartpole", lambda: cartpole_rates(device, args.seconds)),
        ("tabular", lambda: tabular_rate(device)),
        ("dqn", lambda: dqn_times(device)),
    ]
    if not args.skip_tests:
        sections.insert(0, ("cuda_tests", run_cuda_tests))
    figures, failed = run_sections(sections)
    report.update(figures)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output} ({report['total_seconds']} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
