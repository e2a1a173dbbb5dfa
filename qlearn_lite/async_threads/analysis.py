"""Reading the results of the async learners: scores of snapshots, time to
a threshold, the machine's parallel ceiling and where a worker's time goes."""

from __future__ import annotations

import copy
import pstats
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from qlearn_lite.async_threads.independent import EnsembleQNetwork
from qlearn_lite.async_threads.workers import AsyncResult, EnvSpec
from qlearn_lite.tabular import (
    greedy_policy,
    success_probability,
)
from qlearn_lite.utils import check_int as _check_int
from qlearn_lite.utils import env_from_spec

MNIH_TABLE2_SPEEDUPS: dict[int, float] = {1: 1.0, 2: 3.0, 4: 6.3, 8: 13.3, 16: 24.1}
"""Async one-step Q-learning, threads -> speedup in *time to reach a reference
score* (Mnih et al. 2016, Table 2: mean over 7 Atari games, 16 CPU cores).
Super-linear because more threads also explore more diversely."""


# ================================================================ analysis
def _load_snapshot(template: nn.Module, snapshot: torch.Tensor) -> nn.Module:
    if isinstance(template, EnsembleQNetwork):
        for member, vector in zip(template.members, snapshot, strict=True):
            nn.utils.vector_to_parameters(vector, member.parameters())
    else:
        nn.utils.vector_to_parameters(snapshot, template.parameters())
    return template


def snapshot_scores(
    result: AsyncResult, env_id_or_fn: EnvSpec, episodes: int = 10, seed: int = 0
) -> np.ndarray:
    """float64 [n_snapshots]: how good the greedy policy of every snapshot is.

    Tables: the exact probability that the greedy policy succeeds within the
    env's time limit (:func:`~qlearn_lite.tabular.success_probability`; no
    sampling, so no noise). Networks: the mean return of ``episodes`` greedy
    episodes (:func:`~qlearn_lite.dqn.evaluate`, same start states for every
    snapshot). Scored after training, so the workers' timing is not disturbed.
    """
    from qlearn_lite.dqn import evaluate

    if not result.snapshots:
        return np.zeros(0)
    env = env_from_spec(env_id_or_fn)
    try:
        if isinstance(result.snapshots[0], np.ndarray):
            return np.array(
                [success_probability(env, greedy_policy(q)) for q in result.snapshots]
            )
        net = copy.deepcopy(result.net_template)
        return np.array(
            [
                evaluate(_load_snapshot(net, snapshot), env, episodes, seed).mean()
                for snapshot in result.snapshots
            ]
        )
    finally:
        env.close()


def time_to_threshold(
    result: AsyncResult, scores: Sequence[float], threshold: float
) -> tuple[int, float] | None:
    """``(global_step, wall_seconds)`` of the first snapshot scoring >= ``threshold``.

    ``scores`` from :func:`snapshot_scores`. None if no snapshot reached it.
    The wall time is that of the snapshot, so its resolution is
    ``snapshot_every`` steps.
    """
    if len(scores) != len(result.snapshot_steps):
        raise ValueError(
            f"expected one score per snapshot ({len(result.snapshot_steps)}), "
            f"got {len(scores)}"
        )
    for step, seconds, score in zip(
        result.snapshot_steps, result.snapshot_seconds, scores, strict=True
    ):
        if score >= threshold:
            return step, seconds
    return None


def parallel_ceiling(n_threads: int = 2, repeats: int = 100, size: int = 256) -> float:
    """How much more GIL-free work ``n_threads`` threads do than one, right now.

    Each thread multiplies two ``size x size`` float32 matrices ``repeats``
    times with torch, which releases the GIL, one intra-op thread each. On an
    idle machine with ``n_threads`` free cores the ratio is close to
    ``n_threads``; when other programs use the cores it is lower, and every
    thread-scaling ratio measured at the same time is capped by it. The
    ratio of the best of three tries on each side.
    """
    n_threads = _check_int("n_threads", n_threads)
    matrix = torch.randn(size, size, generator=torch.Generator().manual_seed(0))

    def work() -> None:
        torch.set_num_threads(1)
        for _ in range(repeats):
            torch.mm(matrix, matrix)

    def rate(count: int) -> float:
        threads = [threading.Thread(target=work) for _ in range(count)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return count * repeats / (time.perf_counter() - started)

    rate(1)  # warm up
    # Best rate of three tries on each side: a pause caused by another program
    # lowers one try, and the ratio of two best tries is the least disturbed.
    return max(rate(n_threads) for _ in range(3)) / max(rate(1) for _ in range(3))


def scaling_ratios(
    train: Callable[[int], AsyncResult], n_workers: int = 2, repeats: int = 3
) -> list[float]:
    """Env steps per second with ``n_workers`` over those with 1, ``repeats`` times.

    ``train(k)`` runs a learner with ``k`` workers. Each repeat runs the two
    back to back, alternating which goes first, so that a change in the
    machine's load during the measurement hits both sides alike. One pair is
    noisy on a shared machine; report the median of the list.
    """
    n_workers = _check_int("n_workers", n_workers, minimum=2)
    repeats = _check_int("repeats", repeats)
    ratios = []
    for repeat in range(repeats):
        order = (1, n_workers) if repeat % 2 == 0 else (n_workers, 1)
        rates = {k: train(k).steps_per_second for k in order}
        ratios.append(rates[n_workers] / rates[1])
    return ratios


PROFILE_GROUPS = (
    "env.step (Python, holds the GIL)",
    "torch calls: forward, optimizer, fused update (kernels release the GIL)",
    "autograd backward (C++, releases the GIL)",
    "Python: worker loop, nn.Module glue, NumPy",
)
"""The groups :func:`profile_breakdown` sorts a worker's time into."""


def profile_breakdown(stats: pstats.Stats) -> dict[str, float]:
    """Share of the workers' time in each of :data:`PROFILE_GROUPS` (sums to 1).

    From cProfile's *own* time per function (``tottime``): gymnasium's code
    counts as the env, ``run_backward`` as autograd, torch's built-in
    functions, tensor methods and the TorchScript update of
    :func:`~qlearn_lite.async_threads.scripted_segment_update` as torch calls,
    the rest as Python. The torch
    share is an upper bound on what can overlap between threads: each call
    also parses its arguments and allocates with the GIL held. cProfile adds
    overhead to every Python call, so the Python share is inflated a little.
    """
    env, torch_calls, backward, python = PROFILE_GROUPS
    totals = dict.fromkeys(PROFILE_GROUPS, 0.0)
    for (filename, _, function), row in stats.stats.items():
        own_time = row[2]
        if "run_backward" in function:
            totals[backward] += own_time
        elif "gymnasium" in filename:
            totals[env] += own_time
        elif function == "fused_segment_update" or (
            filename == "~" and ("torch" in function or "Tensor" in function)
        ):
            totals[torch_calls] += own_time
        elif filename.endswith("threading.py") and function == "wait":
            continue  # idle time, not work
        else:
            totals[python] += own_time
    total = sum(totals.values()) or 1.0
    return {group: value / total for group, value in totals.items()}
