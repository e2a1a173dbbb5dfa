"""The scaling lab: one DQN on every executor of the course, and a model of how
it would scale beyond this machine (notebook 11).

Two halves:

* **The harness**, :func:`run`: the same DQN on CartPole-v1 (the same
  network, the same learner settings and the same replay ratio wherever the
  executor allows) on one of six executors, returning the parallel core's
  :class:`~qlearn_lite.parallel.ParallelResult` with the figures a scaling
  study needs in ``result.extra`` (see :func:`run`):

  ========================  ==========================================================
  ``"serial"``              :func:`qlearn_lite.dqn.train_dqn`: one loop, no parallelism
  ``"threads"``             :func:`~qlearn_lite.actor_learner.actor_learner_dqn`, actor
                            threads
  ``"processes"``           the same with spawned actor processes
  ``"vectorized"``          :func:`~qlearn_lite.vectorized_dqn.vectorized_dqn`: many
                            carts as one tensor op (CPU, or CUDA with ``device``);
                            one thread on a CPU, an actor thread on a GPU
  ``"ray"``                 the actor-learner with ``executor="ray"`` (Ape-X-lite:
                            prioritized replay, 1,000 transitions per call; needs Ray)
  ``"ray-cluster"``         the same on a two-node ``ray.cluster_utils.Cluster``
  ========================  ==========================================================

  The env cost comes from a :class:`Task`: ``Task("CartPole-v1", cpu_ms=1.0)``
  wraps every env in :class:`~qlearn_lite.envs.CostlyEnv`.

* **A model**, :class:`ScalingModel` -- *a model, not a measurement*. An
  Amdahl / learner-saturation form: ``k`` actors produce env steps, one learner
  must train on every one of them at the replay ratio, and a machine has so
  many cores; the throughput is the smallest of the three rates. Its
  parameters are per-step costs measured on this machine, one at a time on an
  idle machine (:func:`measure_step_costs`, fitted by :func:`fit_step_costs`)
  or as one actor-learner run paid them with every core busy
  (:func:`step_costs_from_run`), the calibration that predicts another
  executor's run on a loaded machine.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from qlearn_lite.actor_learner import ActorLearnerConfig, Chunk, actor_learner_dqn
from qlearn_lite.dqn import (
    DQNConfig,
    dqn_loss,
    evaluate,
    first_reach,
    make_greedy_actor,
    new_q_network,
    train_dqn,
)
from qlearn_lite.envs import burn_cpu, costly_env_fn, make_costly_env
from qlearn_lite.parallel import ParallelResult, lag_summary, shared_seed, spawn_context
from qlearn_lite.replay import NStepBatch
from qlearn_lite.utils import (
    check_int,
    check_number,
    check_seed,
    check_unit,
    get_device,
)

__all__ = [
    "EXECUTORS",
    "ExecutorUnavailable",
    "ProcessTreeMonitor",
    "ScalingModel",
    "StepCostSamples",
    "StepCosts",
    "Task",
    "available_executors",
    "executor_status",
    "fit_step_costs",
    "measure_step_costs",
    "run",
    "step_costs_from_run",
    "synthetic_step_cost_samples",
]

EXECUTORS: tuple[str, ...] = (
    "serial",
    "threads",
    "processes",
    "vectorized",
    "ray",
    "ray-cluster",
)
"""Every executor :func:`run` knows, in the order the course teaches them."""

THRESHOLD = 475.0
"""CartPole-v1's "solved" return: the threshold of time-to-threshold."""

MB = 2**20


# ====================================================================== tasks
@dataclass(frozen=True)
class Task:
    """An env and the cost each of its steps adds (through ``CostlyEnv``).

    ``Task("CartPole-v1")`` is CartPole itself (a few microseconds a step);
    ``Task("CartPole-v1", cpu_ms=1.0)`` adds 1 ms of CPU work per step (a
    Python simulator: it holds the GIL and needs a core); ``sleep_ms`` adds
    waiting (a remote simulator: no CPU). The dynamics are unchanged.
    """

    env_id: str = "CartPole-v1"
    """A registered Gymnasium id."""
    cpu_ms: float = 0.0
    """Milliseconds of CPU work per env step, in [0, 10000]."""
    sleep_ms: float = 0.0
    """Milliseconds of sleep per env step, in [0, 10000]."""

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or self.env_id not in gym.registry:
            raise ValueError(
                "Task.env_id must be a registered Gymnasium id such as "
                f"'CartPole-v1', got {self.env_id!r}"
            )
        for name in ("cpu_ms", "sleep_ms"):
            value = check_number(f"Task.{name}", getattr(self, name), 0.0, 10_000.0)
            object.__setattr__(self, name, value)

    @property
    def costly(self) -> bool:
        """True when a step costs more than the env's own work."""
        return self.cpu_ms > 0 or self.sleep_ms > 0

    def env_spec(self) -> Any:
        """What the learners take: the id, or a picklable CostlyEnv factory."""
        if not self.costly:
            return self.env_id
        return costly_env_fn(self.env_id, cpu_ms=self.cpu_ms, sleep_ms=self.sleep_ms)

    def make(self) -> gym.Env:
        """One env of this task (wrapped in CostlyEnv when it has a cost)."""
        return make_costly_env(self.env_id, self.cpu_ms, self.sleep_ms)

    @property
    def label(self) -> str:
        """``"CartPole-v1, 1 ms CPU"`` and the like."""
        parts = [self.env_id]
        if self.cpu_ms:
            parts.append(f"{self.cpu_ms:g} ms CPU")
        if self.sleep_ms:
            parts.append(f"{self.sleep_ms:g} ms sleep")
        return ", ".join(parts) if len(parts) > 1 else f"{self.env_id}, 0 ms"


def as_task(task: Task | str) -> Task:
    """``task`` as a :class:`Task` (an env id becomes a task with no cost)."""
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return Task(task)
    raise TypeError(
        f"task must be a Gymnasium env id or a Task, got {type(task).__name__}"
    )


# ================================================================ executors
RAY_CHUNK = 1_000
"""Transitions per actor call on Ray (``qlearn_lite.distributed.apex``'s
least chunk): :func:`run` raises ``chunk_size`` to it for the Ray executors."""


class ExecutorUnavailable(RuntimeError):
    """The executor exists in the course but cannot run here (and why)."""


def _ray_dqn() -> Callable[..., ParallelResult]:
    """The Ray actor-learner DQN, or ExecutorUnavailable saying what is missing.

    Ray is an optional extra; the DQN on it is
    :func:`~qlearn_lite.actor_learner.actor_learner_dqn` with
    ``executor="ray"`` (:mod:`qlearn_lite.distributed.apex`). The function
    returned is :func:`_run_on_ray`.
    """
    if importlib.util.find_spec("qlearn_lite.distributed") is None:
        raise ExecutorUnavailable(
            "the Ray executors need qlearn_lite.distributed, which is not in this "
            "checkout"
        )
    if importlib.util.find_spec("ray") is None:
        raise ExecutorUnavailable(
            "the Ray executors need Ray: pip install 'qlearn-lite[ray]'"
        )
    return _run_on_ray


def _run_on_ray(
    env: Any, config: ActorLearnerConfig, executor: str, progress: bool
) -> ParallelResult:
    """``executor="ray"``: the local instance (started if needed);
    ``"ray-cluster"``: a two-node ``ray.cluster_utils.Cluster`` built for the
    run, joined by its address, with one CPU per node, and torn down after
    (a local instance that was connected is left first)."""
    from qlearn_lite.distributed import local_cluster

    if executor == "ray":
        result = actor_learner_dqn(env, config, executor="ray", progress=progress)
    else:
        with local_cluster(n_nodes=2, cpus_per_node=1) as cluster:
            result = actor_learner_dqn(
                env, config, "ray", progress=progress, address=cluster.address
            )
    result.executor = executor
    return result


def executor_status() -> dict[str, str | None]:
    """For every executor: None if it can run here, else the reason it cannot."""
    status: dict[str, str | None] = dict.fromkeys(EXECUTORS)
    try:
        _ray_dqn()
    except ExecutorUnavailable as error:
        status["ray"] = status["ray-cluster"] = str(error)
    return status


def available_executors() -> list[str]:
    """The executors that can run here."""
    return [name for name, why in executor_status().items() if why is None]


# ========================================================= the process tree
class ProcessTreeMonitor:
    """Peak memory and CPU time of this process and all its descendants.

    With psutil, a thread samples the process tree every ``interval``
    seconds:

    * ``peak_bytes``: the largest sum of resident set sizes seen (shared
      pages count once per process, so this is an upper bound);
    * ``cpu_seconds``: the CPU time the tree used inside the ``with`` block.
      Each process counts its own user and system time and that of the
      children it waited for. A process that ends is reaped by its parent,
      whose waited-for time then grows by the child's total; the part of it
      already counted from the child's own samples is taken off, so nothing
      counts twice. Where a process leaves the tree (its parent died and it
      was re-parented), what it used until then stays counted, and the
      count never goes down. Ray's workers are counted this way (their
      raylet reaps them) when the Ray instance was started by this process;
      ``getrusage`` alone would miss them until the raylet itself is reaped.

    Without psutil: ``getrusage`` of this process and its waited-for
    children (``method`` says which).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (pid, create time) -> (parent pid, CPU seconds at the last sample)
        self._last: dict[tuple[int, float], tuple[int, float]] = {}
        self._rusage_start = 0.0
        try:
            import psutil  # noqa: PLC0415 - optional

            self._psutil: Any = psutil
            self.method = "psutil RSS and CPU times of the process tree (sampled)"
        except ImportError:  # pragma: no cover - psutil is in the dev extras
            self._psutil = None
            self.method = "getrusage: self + waited-for children"

    def _sample(self, count_cpu: bool = True) -> int:
        """Sum the tree's RSS; add the CPU used since the last sample."""
        psutil = self._psutil
        process = psutil.Process(os.getpid())
        rss = 0
        now: dict[tuple[int, float], tuple[int, float]] = {}
        for member in [process, *process.children(recursive=True)]:
            try:
                with member.oneshot():
                    t = member.cpu_times()
                    key = (member.pid, member.create_time())
                    now[key] = (
                        member.ppid(),
                        t.user + t.system + t.children_user + t.children_system,
                    )
                    rss += member.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # it ended meanwhile: its parent's total holds it
        if count_cpu:
            # What the children that ended since the last sample had already
            # been counted for, by parent: their parent's total now holds it.
            counted_in_children: dict[int, float] = {}
            for key, (parent, seconds) in self._last.items():
                if key not in now:
                    counted_in_children[parent] = (
                        counted_in_children.get(parent, 0.0) + seconds
                    )
            for key, (_, seconds) in now.items():
                before = self._last.get(key)
                if before is None:  # started since the last sample
                    self.cpu_seconds += seconds
                else:
                    grown = seconds - before[1] - counted_in_children.get(key[0], 0.0)
                    self.cpu_seconds += max(grown, 0.0)
        self._last = now
        return rss

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessTreeMonitor:
        if self._psutil is not None:
            self.peak_bytes = self._sample(count_cpu=False)
            self._thread = threading.Thread(
                target=self._loop, name="process-tree-monitor", daemon=True
            )
            self._thread.start()
        else:
            self._rusage_start = _rusage_cpu_seconds()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5.0)
            self.peak_bytes = max(self.peak_bytes, self._sample())
        else:
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            self.peak_bytes = (own + child) * 1024  # KiB on Linux
            self.cpu_seconds = _rusage_cpu_seconds() - self._rusage_start


def _rusage_cpu_seconds() -> float:
    """CPU seconds of this process plus its waited-for children, so far."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# ========================================================= the common DQN
def _common_dqn(replay_ratio: float, learning_starts: int) -> dict[str, Any]:
    """The settings every executor shares (DQNConfig's defaults, notebook 05)."""
    base = DQNConfig()
    return {
        "gamma": base.gamma,
        "lr": base.lr,
        "batch_size": base.batch_size,
        "buffer_size": base.buffer_size,
        "learning_starts": learning_starts,
        "target_update_every": base.target_update_every,
        "n_step": base.n_step,
        "hidden": base.hidden,
        "replay_ratio": replay_ratio,
    }


@contextmanager
def _costly_torch_cartpole(task: Task) -> Iterator[None]:
    """While active, the vectorised DQN's *training* envs pay ``task``'s cost.

    A Python simulator cannot be batched into one tensor op, so a vector of
    ``num_envs`` of them pays the cost ``num_envs`` times per vector step, in
    series (as ``gymnasium.vector.SyncVectorEnv`` would). ``vectorized_dqn``
    has no hook for an env cost, so its module's ``TorchCartPole`` is swapped
    for a subclass for the duration of the call; only the first env made (the
    training batch) pays, not the evaluation batches.
    """
    from qlearn_lite import vectorized_dqn as module  # noqa: PLC0415

    original = module.TorchCartPole
    made = [0]

    class CostlyTorchCartPole(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.pays = made[0] == 0
            made[0] += 1

        def step(self, actions: Any) -> Any:
            if self.pays:
                if task.cpu_ms:
                    burn_cpu(task.cpu_ms * self.num_envs)
                if task.sleep_ms:
                    time.sleep(task.sleep_ms * self.num_envs / 1000.0)
            return super().step(actions)

    module.TorchCartPole = CostlyTorchCartPole
    try:
        yield
    finally:
        module.TorchCartPole = original


def _fresh_evaluation(
    q_net: torch.nn.Module, env_id: str, episodes: int, seed: int
) -> np.ndarray:
    """Greedy returns on seeds no training run used (the env without its cost:
    the cost changes the time of a step, not its outcome)."""
    net = copy.deepcopy(q_net).to("cpu").eval()
    return evaluate(net, env_id, episodes, seed)


# ======================================================================= run
def run(
    executor: str,
    task: Task | str = "CartPole-v1",
    budget: int = 20_000,
    seed: int = 0,
    n_workers: int = 2,
    *,
    replay_ratio: float = 0.5,
    learning_starts: int = 1_000,
    threshold: float = THRESHOLD,
    stop_at_threshold: bool = True,
    eval_every: int = 2_500,
    eval_episodes: int = 10,
    fresh_episodes: int = 10,
    sync_every: int = 64,
    chunk_size: int = 64,
    num_envs: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> ParallelResult:
    """Train the common DQN on ``task`` with ``executor``; return its ParallelResult.

    Args:
        executor: one of :data:`EXECUTORS`. ``"ray"`` and ``"ray-cluster"``
            raise :class:`ExecutorUnavailable` (a RuntimeError) where
            :func:`executor_status` says they cannot run.
        task: a Gymnasium id or a :class:`Task` (an env cost).
        budget: env steps to train for (>= 1; all workers together). The
            actor-learner executors' learner receives whole chunks, so their
            runs can end a few steps past it (``global_steps``).
        seed: seeds the networks, envs, exploration and replay.
        n_workers: actors for threads, processes and Ray (serial and
            vectorized run one actor and say so).
        replay_ratio: gradient steps per env step, the same for all (serial:
            ``round(replay_ratio * 256)`` updates every 256 steps; vectorized:
            ``round(replay_ratio * num_envs)`` per vector step).
        learning_starts: env steps before the first update.
        threshold: the return of "time to threshold".
        stop_at_threshold: stop once an evaluation on the *stopping* seeds
            reaches ``threshold``; the final network is then judged on
            *fresh* seeds.
        eval_every: env steps between greedy evaluations (0: one at the end).
        eval_episodes, fresh_episodes: greedy episodes per evaluation, on the
            stopping seeds and on the fresh seeds.
        sync_every, chunk_size: actor-learner weight checks and message size.
        num_envs: carts per vector step of the vectorised engine.
        device: the vectorised engine's device (``"cpu"``, ``"cuda"``, ``"auto"``).
        progress: show progress bars.

    Returns:
        The :class:`~qlearn_lite.parallel.ParallelResult` (``steps_per_second``,
        ``updates_per_second``, ``replay_ratio``, ``cores_used``) with, in
        ``extra``: ``task``, ``budget``; ``replay_ratio_target`` and
        ``replay_ratio_after_start`` (updates per env step after
        ``learning_starts``, of the env steps the learner *received*),
        ``replay_ratio_kept``, ``untrained_fraction`` (env steps taken that
        never reached the learner), ``received_steps_per_second``
        (``global_steps / wall_seconds``: the honest throughput);
        ``time_to_threshold_s``
        and ``steps_to_threshold`` (training time and env steps when the
        stopping evaluation first reached ``threshold``, or None; None too
        when the final network fails the fresh evaluation),
        ``fresh_return``; ``policy_lag`` and ``sample_age`` (summaries in
        gradient steps, or None where not instrumented);
        ``cpu_utilisation`` (CPU seconds of this process and all its
        descendants over the whole call, Ray's processes included when the
        instance was started here, / (wall seconds x cores)), ``peak_memory_mb`` and
        ``memory_method``; ``call_seconds`` and ``startup_seconds`` (the
        call's time outside the training clock and the evaluations);
        ``notes``: what this executor could not keep the same.
    """
    if executor not in EXECUTORS:
        raise ValueError(
            f"executor must be one of {', '.join(map(repr, EXECUTORS))}, got "
            f"{executor!r}"
        )
    task = as_task(task)
    budget = check_int("budget", budget, 1)
    seed = check_seed(seed)
    n_workers = check_int("n_workers", n_workers, 1)
    replay_ratio = check_number(
        "replay_ratio", replay_ratio, 0.0, 1_000.0, low_open=True
    )
    learning_starts = check_int("learning_starts", learning_starts, 0)
    eval_every = check_int("eval_every", eval_every, 0)
    eval_episodes = check_int("eval_episodes", eval_episodes, 1)
    fresh_episodes = check_int("fresh_episodes", fresh_episodes, 1)
    sync_every = check_int("sync_every", sync_every, 1)
    chunk_size = check_int("chunk_size", chunk_size, 64)
    num_envs = check_int("num_envs", num_envs, 1)
    if not isinstance(stop_at_threshold, bool):
        raise TypeError(
            f"stop_at_threshold must be True or False, got {stop_at_threshold!r}"
        )
    threshold = check_number("threshold", threshold, -math.inf, math.inf)
    if executor in ("ray", "ray-cluster"):
        ray_dqn = _ray_dqn()  # ExecutorUnavailable, with the reason
    stop_seed = shared_seed(seed, "scaling stopping evaluation") % 2**31
    fresh_seed = shared_seed(seed, "scaling fresh evaluation") % 2**31
    stop_at = threshold if stop_at_threshold else None
    common = _common_dqn(replay_ratio, learning_starts)
    notes: list[str] = []
    eval_seconds: list[float] = []
    eval_steps: list[int] = []
    eval_returns: list[float] = []

    called = time.perf_counter()
    with ProcessTreeMonitor() as monitor:
        if executor == "serial":
            gradient_steps = max(1, round(replay_ratio * 256))
            target = gradient_steps / 256
            config = DQNConfig(
                total_steps=budget,
                train_freq=256,
                gradient_steps=gradient_steps,
                eval_every=eval_every,
                eval_episodes=eval_episodes,
                eval_seed=stop_seed,
                stop_at_return=stop_at,
                seed=seed,
                **{k: v for k, v in common.items() if k != "replay_ratio"},
            )
            trained = train_dqn(task.env_spec(), config, progress=progress)
            history = trained.history
            if n_workers != 1:
                notes.append(f"serial runs one actor (asked for {n_workers})")
            result = ParallelResult(
                q=trained.q_net,
                design="serial",
                n_workers=1,
                worker_steps=[history.env_steps],
                worker_returns=[list(history.episode_returns)],
                global_steps=history.env_steps,
                updates=history.updates,
                wall_seconds=history.wall_seconds,
                executor="serial",
                cpu_seconds=history.cpu_seconds,
                worker_episode_ends=[list(history.episode_end_steps)],
                final_epsilons=[config.eps_end],
                target_updates=history.updates // config.target_update_every,
                staleness=lag_summary([0]),
                extra={"eval_wall_seconds": history.eval_wall_seconds},
            )
            eval_steps, eval_seconds = history.eval_steps, history.eval_seconds
            eval_returns = history.eval_returns
            policy_lag: dict[str, float] | None = lag_summary([0])
            sample_age: dict[str, float] | None = None
            notes.append(
                "serial: the acting policy is the learner's (policy lag 0); the "
                "age of replayed samples is not instrumented"
            )
        elif executor in ("threads", "processes", "ray", "ray-cluster"):
            target = replay_ratio
            config = ActorLearnerConfig(
                total_steps=budget,
                n_actors=n_workers,
                sync_every=sync_every,
                chunk_size=chunk_size,
                eval_every=eval_every,
                eval_episodes=eval_episodes,
                eval_seed=stop_seed,
                stop_at_return=stop_at,
                seed=seed,
                **common,
            )
            if executor in ("threads", "processes"):
                result = actor_learner_dqn(
                    task.env_spec(), config, executor=executor, progress=progress
                )
            else:
                if config.chunk_size < RAY_CHUNK:
                    notes.append(
                        f"Ray sends {RAY_CHUNK:,} transitions per call (asked for "
                        f"chunk_size={config.chunk_size}): a call costs about 1 ms"
                    )
                    config = config.replace(
                        chunk_size=RAY_CHUNK,
                        buffer_size=max(config.buffer_size, RAY_CHUNK),
                    )
                result = ray_dqn(task.env_spec(), config, executor, progress)
            extra = result.extra
            eval_steps = list(extra.get("eval_steps", []))
            eval_seconds = list(extra.get("eval_seconds", []))
            eval_returns = list(extra.get("eval_returns", []))
            arrival = extra.get("arrival_lags")
            policy_lag = lag_summary(arrival) if arrival is not None else None
            sample_age = result.staleness
            notes.append(
                "actor-learner: exploration is Ape-X's constant per-actor epsilon "
                "(serial and vectorized anneal 1 -> 0.04 over 8,000 steps)"
            )
        else:  # vectorized
            updates_per_step = max(1, round(replay_ratio * num_envs))
            target = updates_per_step / num_envs
            from qlearn_lite.vectorized_dqn import (  # noqa: PLC0415
                VectorizedDQNConfig,
                vectorized_dqn,
            )

            # On a CPU the actor thread and the learner take turns at the GIL
            # and the run is slower (notebook 09's profile): one thread, the
            # package's default. On a GPU a call only queues work, so the two
            # may overlap there (not yet measured: benchmarks/gpu_check.py).
            on_cpu = get_device(device).type == "cpu"
            vector_config = VectorizedDQNConfig(
                asynchronous=not on_cpu,
                num_envs=num_envs,
                total_steps=budget,
                gamma=common["gamma"],
                lr=common["lr"],
                batch_size=common["batch_size"],
                buffer_size=common["buffer_size"],
                learning_starts=learning_starts,
                updates_per_step=updates_per_step,
                target_update_every=common["target_update_every"],
                tau=1.0,  # a hard copy, as the others
                double=False,
                max_grad_norm=None,
                hidden=common["hidden"],
                n_step=common["n_step"],
                eps_start=1.0,
                eps_end=0.04,
                eps_decay_steps=8_000,
                eval_every=eval_every or budget,
                eval_episodes=eval_episodes,
                eval_seed=stop_seed,
                stop_at_return=stop_at,
                seed=seed,
                device=device,
            )
            if task.env_id != "CartPole-v1":
                raise ValueError(
                    "the vectorized executor runs CartPole-v1 only (TorchCartPole), "
                    f"got task.env_id={task.env_id!r}"
                )
            if n_workers != 1:
                notes.append(
                    f"vectorized runs one actor over {num_envs} envs "
                    f"(asked for {n_workers} workers)"
                )
            if task.costly:
                notes.append(
                    "vectorized with an env cost: each vector step pays the cost "
                    f"once per env, in series ({num_envs} x per step)"
                )
                with _costly_torch_cartpole(task):
                    vectorized = vectorized_dqn(vector_config, progress=progress)
            else:
                vectorized = vectorized_dqn(vector_config, progress=progress)
            result = vectorized.parallel
            history = vectorized.history
            result.extra["eval_wall_seconds"] = history.eval_wall_seconds
            eval_steps, eval_seconds = history.eval_steps, history.eval_seconds
            eval_returns = history.eval_returns
            # One thread acts with the learner's own network: lag 0, as serial.
            policy_lag = result.staleness if not on_cpu else lag_summary([0])
            sample_age = None
            notes.append(
                "vectorized on the CPU: one thread alternates acting and learning "
                "(an actor thread is slower there, notebook 09): policy lag 0"
                if on_cpu
                else "vectorized: policy lag is the actor copy's, in gradient steps"
            )
            notes.append("vectorized: the age of replayed samples is not instrumented")
        call_seconds = time.perf_counter() - called
    cpu = monitor.cpu_seconds

    # Judge the final network on fresh seeds, outside every clock.
    fresh = _fresh_evaluation(result.q, task.env_id, fresh_episodes, fresh_seed)
    hit = first_reach(eval_steps, eval_seconds, eval_returns, threshold)
    reached = None if hit is None else (int(hit[0]), float(hit[1]))
    passed = bool(fresh.mean() >= threshold)
    # The learner's ratio: updates per env step it received after
    # learning_starts (actor-learners' actors take a few more steps, filling
    # the bounded queue, that the learner never receives: see ``untrained``).
    after_start = max(result.global_steps - learning_starts, 1)
    achieved = result.updates / after_start
    kept = bool(result.updates == 0 or abs(achieved - target) <= 0.1 * target)
    untrained = 1.0 - result.global_steps / max(result.env_steps, 1)
    if abs(target - replay_ratio) > 1e-12:
        notes.append(f"replay ratio rounded to {target:g} (asked for {replay_ratio:g})")
    if not kept:
        notes.append(
            f"replay ratio not kept: {achieved:.3f} updates per received env step "
            f"after learning_starts, target {target:g}"
            + (
                " (updates come in bursts of "
                f"{max(1, round(replay_ratio * 256))} every 256 steps)"
                if executor == "serial"
                else ""
            )
        )
    if untrained > 0.05:
        notes.append(
            f"{untrained:.0%} of the env steps taken never reached the learner "
            "(they were in the bounded queue or an actor's unsent chunk when "
            "training stopped): env_steps counts them, global_steps does not"
        )
    eval_wall = float(result.extra.get("eval_wall_seconds", 0.0))
    if not result.startup_seconds:
        result.startup_seconds = max(call_seconds - result.wall_seconds - eval_wall, 0)
    cores = os.cpu_count() or 1
    result.extra.update(
        {
            "task": task,
            "budget": budget,
            "seed": seed,
            "replay_ratio_target": target,
            "replay_ratio_after_start": achieved,
            "replay_ratio_kept": kept,
            "learning_starts": learning_starts,
            "untrained_fraction": untrained,
            "received_steps_per_second": result.global_steps
            / max(result.wall_seconds, 1e-9),
            "threshold": threshold,
            "steps_to_threshold": reached[0] if reached and passed else None,
            "time_to_threshold_s": reached[1] if reached and passed else None,
            "stop_evaluation_reached": reached is not None,
            "fresh_return": float(fresh.mean()),
            "fresh_returns": fresh,
            "stop_seed": stop_seed,
            "fresh_seed": fresh_seed,
            "policy_lag": policy_lag,
            "sample_age": sample_age,
            "cpu_seconds_all": cpu,
            "cpu_utilisation": cpu / max(call_seconds, 1e-9) / cores,
            "cores": cores,
            "peak_memory_mb": monitor.peak_bytes / MB,
            "memory_method": monitor.method,
            "call_seconds": call_seconds,
            "notes": notes,
        }
    )
    return result


# ================================================================ the model
@dataclass(frozen=True)
class StepCosts:
    """Measured (or assumed) costs, in seconds, that :class:`ScalingModel` uses."""

    actor_step: float
    """Actor CPU per env step: the env plus choosing the action."""
    message_fixed: float
    """Per message, whatever its size (pickling overhead, a pipe write, a call)."""
    message_per_transition: float
    """Per transition in a message (copying its arrays)."""
    update: float
    """One gradient step of the learner."""
    weight_sync: float
    """One copy of the weights (published by the learner, read by an actor)."""

    def message(self, chunk_size: int) -> float:
        """Seconds of messaging per transition at ``chunk_size`` per message."""
        return self.message_fixed / chunk_size + self.message_per_transition


@dataclass(frozen=True)
class ScalingModel:
    """A MODEL of actor-learner throughput (not a measurement).

    With ``k`` actors and one learner, env steps per second are the smallest
    of three rates (an Amdahl / learner-saturation form):

    * actors: ``k / (t_actor + t_msg + t_sync / sync_every)``: each actor
      steps, sends its share of messages and reads new weights;
    * learner: ``1 / (rr * t_update + t_msg + t_sync / chunk_size)``: every
      env step must be received and trained on ``rr`` times (the bounded
      queue keeps the replay ratio), and the learner publishes after every
      chunk;
    * cores (when ``cores`` is set): the CPU all of that needs per env step,
      ``cores / (t_actor + 2 t_msg + rr t_update + t_sync / sync_every +
      t_sync / chunk_size)``.

    The learner saturates at ``k* = (actor rate of one actor)^-1 x learner
    rate``; beyond it more actors add nothing. It ignores what it cannot
    see: contention for memory bandwidth and caches, the OS scheduler and
    queue locks (unless its costs were measured inside a loaded run,
    :func:`step_costs_from_run`, which folds them into the per-step CPU),
    network bandwidth and latency spikes, and what staleness does to
    *learning* (it predicts steps per second, not time to a score).
    """

    costs: StepCosts
    replay_ratio: float = 0.5
    """Gradient steps per env step."""
    chunk_size: int = 64
    """Transitions per message."""
    sync_every: int = 64
    """Actor env steps between weight checks."""
    cores: float | None = None
    """Cores of the machine (None: every actor on its own core, a cluster)."""

    def actor_rate(self, n_actors: float) -> float:
        """Steps/s ``n_actors`` actors could produce if nothing else limited them."""
        c = self.costs
        per_step = (
            c.actor_step + c.message(self.chunk_size) + c.weight_sync / self.sync_every
        )
        return n_actors / per_step

    def learner_rate(self) -> float:
        """Steps/s one learner can take in at the replay ratio."""
        c = self.costs
        per_step = (
            self.replay_ratio * c.update
            + c.message(self.chunk_size)
            + c.weight_sync / self.chunk_size
        )
        return 1.0 / per_step

    def core_rate(self) -> float:
        """Steps/s the machine's cores allow (inf without ``cores``)."""
        if self.cores is None:
            return math.inf
        c = self.costs
        per_step = (
            c.actor_step
            + 2 * c.message(self.chunk_size)
            + self.replay_ratio * c.update
            + c.weight_sync / self.sync_every
            + c.weight_sync / self.chunk_size
        )
        return self.cores / per_step

    def steps_per_second(self, n_actors: float) -> float:
        """Predicted env steps per second with ``n_actors`` actors."""
        return min(self.actor_rate(n_actors), self.learner_rate(), self.core_rate())

    def bottleneck(self, n_actors: float) -> str:
        """``"actors"``, ``"learner"`` or ``"cores"``: which rate is smallest."""
        rates = {
            "actors": self.actor_rate(n_actors),
            "learner": self.learner_rate(),
            "cores": self.core_rate(),
        }
        return min(rates, key=rates.__getitem__)

    def saturation_actors(self) -> float:
        """Actors at which the learner (or the cores) saturate: more add nothing."""
        return min(self.learner_rate(), self.core_rate()) / self.actor_rate(1)

    def serial_steps_per_second(self) -> float:
        """The one-loop learner: act and train in turn, no messages."""
        c = self.costs
        return 1.0 / (c.actor_step + self.replay_ratio * c.update)

    def fill_seconds(self) -> float:
        """Seconds before the learner has anything to train on: one actor's
        first chunk, ``chunk_size`` steps at one actor's per-step time."""
        return self.chunk_size / self.actor_rate(1)

    def run_steps_per_second(self, n_actors: float, budget: int) -> float:
        """Predicted received steps per second of a run of ``budget`` env
        steps, counted from the actors' first step: the steady rate
        (:meth:`steps_per_second`) after :meth:`fill_seconds` in which the
        actors step and the learner waits. The learner receives whole chunks,
        so a run ends with ``received = ceil(budget / chunk_size) x
        chunk_size`` steps, and the prediction is ``received / (fill +
        received / rate)``. The fill matters where chunks are large against
        the budget (Ray's 1,000 transitions per call in a run of a few
        thousand)."""
        budget = check_int("budget", budget)
        received = math.ceil(budget / self.chunk_size) * self.chunk_size
        steady = self.steps_per_second(n_actors)
        return received / (self.fill_seconds() + received / steady)

    def table(self, actors: Sequence[int] = (8, 16, 32, 64, 128, 256, 512)) -> list:
        """``(actors, steps/s, bottleneck)`` rows of the prediction."""
        return [(k, self.steps_per_second(k), self.bottleneck(k)) for k in actors]


@dataclass
class StepCostSamples:
    """Raw timings, in seconds, that :func:`fit_step_costs` turns into StepCosts."""

    actor_step: np.ndarray
    """float64 ``[n]``: seconds per env step, one entry per timed block."""
    message_sizes: np.ndarray
    """int64 ``[m]``: transitions per message of each message timing."""
    message_seconds: np.ndarray
    """float64 ``[m]``: seconds per message (put and get)."""
    update: np.ndarray
    """float64 ``[n]``: seconds per gradient step, one entry per timed block."""
    weight_sync: np.ndarray
    """float64 ``[n]``: seconds per weight copy."""


def fit_step_costs(samples: StepCostSamples) -> StepCosts:
    """Fit :class:`StepCosts` to raw timings.

    Medians for the per-step costs (robust to a block that another program
    interrupted); for messages, a least-squares line ``seconds = fixed +
    per_transition x size`` through the median time at each size (at least
    two sizes). Negative intercepts or slopes (noise) are clipped to 0.
    """
    sizes = np.asarray(samples.message_sizes, dtype=np.float64)
    seconds = np.asarray(samples.message_seconds, dtype=np.float64)
    if sizes.shape != seconds.shape or sizes.ndim != 1:
        raise ValueError(
            "message_sizes and message_seconds must be 1-D of one length, got "
            f"{sizes.shape} and {seconds.shape}"
        )
    unique = np.unique(sizes)
    if unique.size < 2:
        raise ValueError(
            f"message timings need at least 2 message sizes, got {unique.tolist()}"
        )
    medians = np.array([np.median(seconds[sizes == s]) for s in unique])
    slope, intercept = np.polyfit(unique, medians, 1)
    return StepCosts(
        actor_step=float(np.median(samples.actor_step)),
        message_fixed=float(max(intercept, 0.0)),
        message_per_transition=float(max(slope, 0.0)),
        update=float(np.median(samples.update)),
        weight_sync=float(np.median(samples.weight_sync)),
    )


def step_costs_from_run(result: ParallelResult) -> StepCosts:
    """The per-step costs an actor-learner run actually paid, from its CPU
    counters: a model calibrated *in the run*, for predicting another.

    ``actor_step`` is the actors' CPU per env step (their env, acting, their
    side of every message and weight read) and ``update`` the learner's CPU
    per gradient step (sampling, the step, its side of the messages); the
    message and weight-sync costs are inside those two, so they are 0 here.
    Measured while every core is busy, these are larger than the costs
    :func:`measure_step_costs` times one at a time on an idle machine (in
    2-process runs on a 2-core VM here, 1.2-1.35x for the actor step and
    1.35-2.1x for the update): that is what a model of a loaded machine
    needs.

    ``result``: a run of :func:`~qlearn_lite.actor_learner.actor_learner_dqn`
    (``executor`` ``"threads"``, ``"processes"`` or ``"ray"``, or
    :func:`run` with one of them) that trained at least once.
    """
    if not isinstance(result, ParallelResult):
        raise TypeError(
            f"result must be a ParallelResult of an actor-learner run, got "
            f"{type(result).__name__}"
        )
    reports = result.extra.get("actor_reports")
    learner_cpu = result.extra.get("learner_cpu_seconds")
    if not reports or learner_cpu is None:
        raise ValueError(
            "result must come from an actor-learner run (it needs the "
            "'actor_reports' and 'learner_cpu_seconds' of its extra), got one "
            f"from executor {result.executor!r}"
        )
    steps = result.env_steps  # the actors' steps, sum(worker_steps)
    if steps <= 0 or result.updates <= 0:
        raise ValueError(
            "result must have stepped and trained, got "
            f"{steps} env steps and {result.updates} updates"
        )
    return StepCosts(
        actor_step=sum(report.cpu_seconds for report in reports) / steps,
        message_fixed=0.0,
        message_per_transition=0.0,
        update=learner_cpu / result.updates,
        weight_sync=0.0,
    )


def synthetic_step_cost_samples(
    costs: StepCosts,
    noise: float = 0.05,
    repeats: int = 9,
    sizes: Sequence[int] = (64, 256, 1024),
    seed: int = 0,
) -> StepCostSamples:
    """Timings drawn from known ``costs`` with multiplicative noise (a test of
    :func:`fit_step_costs`): each value times ``exp(noise x N(0, 1))``, and a
    few values interrupted (x3), as a busy machine does."""
    rng = np.random.default_rng(check_seed(seed))
    repeats = check_int("repeats", repeats)
    noise = check_unit("noise", noise)

    def draw(value: float, n: int) -> np.ndarray:
        values = value * np.exp(noise * rng.standard_normal(n))
        values[rng.random(n) < 0.1] *= 3.0  # an interrupted block now and then
        return values

    message_sizes = np.repeat(np.asarray(sizes, dtype=np.int64), repeats)
    message_seconds = np.concatenate(
        [
            draw(costs.message_fixed + costs.message_per_transition * s, repeats)
            for s in sizes
        ]
    )
    return StepCostSamples(
        actor_step=draw(costs.actor_step, repeats),
        message_sizes=message_sizes,
        message_seconds=message_seconds,
        update=draw(costs.update, repeats),
        weight_sync=draw(costs.weight_sync, repeats),
    )


def _fake_chunk(size: int, obs_dim: int, rng: np.random.Generator) -> Chunk:
    return Chunk(
        actor_id=0,
        obs=rng.standard_normal((size, obs_dim)).astype(np.float32),
        actions=rng.integers(0, 2, size=size),
        rewards=np.ones(size, dtype=np.float32),
        next_obs=rng.standard_normal((size, obs_dim)).astype(np.float32),
        terminated=np.zeros(size, dtype=np.bool_),
        discounts=np.full(size, 0.98**3, dtype=np.float32),
        versions=np.zeros(size, dtype=np.int64),
        env_steps=size,
    )


def measure_step_costs(
    task: Task | str = "CartPole-v1",
    repeats: int = 5,
    steps_per_block: int = 200,
    updates_per_block: int = 50,
    sizes: Sequence[int] = (64, 256, 1024),
    seed: int = 0,
) -> StepCostSamples:
    """Time the model's per-step costs on this machine, in this process.

    * actor step: ``steps_per_block`` epsilon-greedy steps of ``task``'s env
      with the common network acting (NumPy forward), per block;
    * message: a :class:`~qlearn_lite.actor_learner.Chunk` of each size put on
      a spawn-context queue and read back (pickling, the pipe, unpickling:
      both ends' work, as one process does both);
    * update: ``updates_per_block`` gradient steps (batch 64, Adam) per block;
    * weight sync: one copy of the flat parameters under the version lock.

    Torch runs on one thread meanwhile (the caller's count is restored).
    """
    task = as_task(task)
    repeats = check_int("repeats", repeats)
    steps_per_block = check_int("steps_per_block", steps_per_block)
    updates_per_block = check_int("updates_per_block", updates_per_block)
    rng = np.random.default_rng(check_seed(seed))
    common = _common_dqn(0.5, 0)
    env = task.make()
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)
    q_net = new_q_network(obs_dim, n_actions, common["hidden"], seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        act = make_greedy_actor(q_net)
        actor = []
        obs, _ = env.reset(seed=seed)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps_per_block):
                if rng.random() < 0.1:
                    action = int(rng.integers(n_actions))
                else:
                    action = act(obs)
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    obs, _ = env.reset()
            actor.append((time.perf_counter() - start) / steps_per_block)
        env.close()

        mp = spawn_context()
        channel = mp.Queue()
        message_sizes, message_seconds = [], []
        chunks = {s: _fake_chunk(s, obs_dim, rng) for s in sizes}
        for size in sizes:  # warm the queue's feeder thread and pipe first
            channel.put(chunks[size])
            channel.get(timeout=10.0)
        for _ in range(repeats):
            for size in sizes:
                start = time.perf_counter()
                channel.put(chunks[size])
                channel.get(timeout=10.0)
                message_sizes.append(size)
                message_seconds.append(time.perf_counter() - start)
        channel.close()
        channel.join_thread()

        target_net = copy.deepcopy(q_net).requires_grad_(False)
        optimizer = torch.optim.Adam(q_net.parameters(), lr=common["lr"], fused=True)
        batch_size = common["batch_size"]
        batch = NStepBatch(
            torch.randn(batch_size, obs_dim),
            torch.randint(0, n_actions, (batch_size,)),
            torch.ones(batch_size),
            torch.randn(batch_size, obs_dim),
            torch.zeros(batch_size),
            torch.full((batch_size,), 0.98**3),
        )
        update = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(updates_per_block):
                loss = dqn_loss(q_net, target_net, batch, common["gamma"])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            update.append((time.perf_counter() - start) / updates_per_block)

        flat = torch.cat([p.detach().reshape(-1) for p in q_net.parameters()])
        shared = flat.clone().share_memory_()
        version = mp.Value("q", 0)
        sync = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(100):
                with version.get_lock():
                    shared.copy_(flat)
                    version.value += 1
            sync.append((time.perf_counter() - start) / 100)
    finally:
        torch.set_num_threads(threads)
    return StepCostSamples(
        actor_step=np.asarray(actor),
        message_sizes=np.asarray(message_sizes, dtype=np.int64),
        message_seconds=np.asarray(message_seconds),
        update=np.asarray(update),
        weight_sync=np.asarray(sync),
    )
