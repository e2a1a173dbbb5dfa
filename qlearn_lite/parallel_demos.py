"""Small workers that show how the runners of :mod:`qlearn_lite.parallel` behave.

Notebook 08 and the tests run them on threads and in processes. They live in
a module because a spawned process imports its worker by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qlearn_lite.parallel import WorkerContext


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo workers."""

    steps: int = 1000
    """Loop iterations per worker."""
    fail_worker: int | None = None
    """The worker that raises (None: nobody)."""
    fail_at: int = 0
    """The iteration at which it raises."""
    sleep_seconds: float = 0.0
    """Sleep per iteration (a slow worker)."""


def count_worker(ctx: WorkerContext, config: DemoConfig, shared: Any) -> dict:
    """Draw ``config.steps`` numbers from the worker's own stream; maybe raise.

    Adds one to ``shared[worker_id]`` per step when ``shared`` is a tensor
    (in shared memory for processes). Returns the worker's id, the steps it
    took, the sum of its draws and torch's thread count inside the worker.
    """
    rng = ctx.rng()
    total, steps = 0.0, 0
    for i in range(config.steps):
        if ctx.should_stop():
            break
        if config.fail_worker == ctx.worker_id and i == config.fail_at:
            raise ValueError(f"worker {ctx.worker_id} fails on purpose at step {i}")
        total += float(rng.random())
        steps += 1
        if isinstance(shared, torch.Tensor):
            shared[ctx.worker_id] += 1
        if config.sleep_seconds:
            time.sleep(config.sleep_seconds)
    return {
        "worker_id": ctx.worker_id,
        "steps": steps,
        "draw_sum": total,
        "torch_threads": torch.get_num_threads(),
        "seeds": (ctx.agent_seed, ctx.env_seed),
    }


def threads_worker(ctx: WorkerContext, config: DemoConfig, shared: Any) -> int:
    """Set torch's (process-wide) thread count to 1, as a careless worker would."""
    torch.set_num_threads(1)
    return int(np.int64(ctx.worker_id))
