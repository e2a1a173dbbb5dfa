"""The one parallel core: seeds, contexts, results and runners for every executor.

Every parallel learner of the course (notebooks 07, 08, 10 and 11) is a
module-level function ``worker(ctx, config, shared)`` plus a runner that calls
it once per worker:

* :func:`run_threads` -- one thread per worker, in this process;
* :func:`run_processes` -- one spawned process per worker (notebook 08);
* Ray actors (:mod:`qlearn_lite.distributed`, notebook 10).

The worker body is the same on every executor. What it needs arrives in three
named, picklable pieces, never as positional tuples:

* ``ctx`` -- a :class:`WorkerContext`: the worker's id, its seeds, its final
  exploration rate, and the runner's stop flag;
* ``config`` -- the learner's frozen config (hyperparameters, the env spec);
* ``shared`` -- what all workers share: a Q-table or parameters in shared
  memory, queues, counters.

Seeds are split in one place, :func:`worker_contexts`, and results come back
as one type, :class:`ParallelResult`, so that threads, processes and Ray land
on one plot.

Control, the same on every runner:

* a start gate: every worker starts once all of them exist;
* the first error in any worker stops the others, and the caller gets a
  :class:`WorkerError` carrying the worker's id and its traceback;
* ``KeyboardInterrupt`` (Ctrl-C, or a Jupyter "interrupt kernel") stops every
  worker before it propagates;
* the call returns only after every worker has stopped, and it restores every
  process-wide setting a worker may change (torch's thread count).
"""

from __future__ import annotations

import os
import pickle
import queue as queue_module
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# torch is imported where it is used, so that the tabular workers that import
# this module on Ray (qlearn_lite.distributed.sharded) do not pay its start-up.
from qlearn_lite.utils import check_int, check_seed, check_unit, child_seeds, is_quick
from qlearn_lite.utils import progress as progress_bar

Worker = Callable[["WorkerContext", Any, Any], Any]
"""``worker(ctx, config, shared) -> picklable result``, defined at module level."""

MNIH_FINAL_EPSILONS: dict[float, float] = {0.1: 0.4, 0.01: 0.3, 0.5: 0.3}
"""Final exploration rate -> probability a worker gets it (Mnih et al. 2016,
supplementary experimental setup: each value-based worker anneals epsilon from
1 to 0.1, 0.01 or 0.5, drawn with probabilities 0.4, 0.3, 0.3)."""

APEX_EPSILON, APEX_ALPHA = 0.4, 7.0
"""Ape-X's per-actor exploration ``eps_i = eps ** (1 + alpha i / (N - 1))``
(Horgan et al. 2018, section 4.1)."""


# ============================================================ seeds, contexts
def sample_final_epsilon(rng: np.random.Generator) -> float:
    """One worker's final epsilon: 0.1, 0.01 or 0.5 with probability 0.4, 0.3, 0.3.

    Mnih et al. (2016), supplementary experimental setup. Draws one
    ``rng.random()``.
    """
    u = rng.random()
    cumulative = 0.0
    for epsilon, probability in MNIH_FINAL_EPSILONS.items():
        cumulative += probability
        if u < cumulative:
            return epsilon
    return epsilon  # u within rounding of 1.0


def apex_epsilons(
    n_workers: int, epsilon: float = APEX_EPSILON, alpha: float = APEX_ALPHA
) -> list[float]:
    """Ape-X's exploration rates ``eps ** (1 + alpha i / (N - 1))``, ``i < N``.

    Horgan et al. (2018), section 4.1: actor 0 explores most (``eps``), the
    last one least (``eps ** (1 + alpha)``). One worker gets ``eps``.
    """
    n_workers = check_int("n_workers", n_workers)
    epsilon = check_unit("epsilon", epsilon)
    if n_workers == 1:
        return [epsilon]
    return [epsilon ** (1 + alpha * i / (n_workers - 1)) for i in range(n_workers)]


@dataclass(frozen=True)
class WorkerContext:
    """Who a worker is: its id, its seeds and its exploration rate.

    Frozen and made of plain values, so it pickles into a spawned process or a
    Ray actor. The runner adds ``stop`` (an Event-like flag) before the worker
    starts; a worker leaves its loop once :meth:`should_stop` is true.
    """

    worker_id: int
    """0, 1, ..., ``n_workers - 1``."""
    n_workers: int
    """How many workers run together."""
    agent_seed: int
    """Seed of this worker's ``numpy.random.Generator`` (:meth:`rng`):
    exploration and any other draw the agent makes."""
    env_seed: int
    """Seed of this worker's first ``env.reset``."""
    final_epsilon: float
    """The exploration rate this worker anneals to."""
    stop: Any = field(default=None, compare=False, repr=False)
    """Set by the runner: ``threading.Event`` or ``multiprocessing.Event``."""

    def rng(self) -> np.random.Generator:
        """A fresh Generator for this worker (the same stream every run)."""
        return np.random.default_rng(self.agent_seed)

    def should_stop(self) -> bool:
        """True once the runner asks every worker to stop (an error, Ctrl-C)."""
        return self.stop is not None and self.stop.is_set()


def worker_contexts(
    seed: int,
    n_workers: int,
    final_epsilons: Sequence[float] | str | None = "mnih",
) -> list[WorkerContext]:
    """One :class:`WorkerContext` per worker, every seed split from ``seed``.

    The only place the course splits seeds for workers. ``SeedSequence(seed)``
    spawns one child per worker, and each child three grandchildren: the
    agent's seed, the env's seed, and the stream that draws the final epsilon.
    A ``SeedSequence`` child depends only on its index, so worker ``k`` gets
    the same seeds whatever ``n_workers`` is.

    Args:
        seed: non-negative int.
        n_workers: >= 1.
        final_epsilons: ``"mnih"`` (drawn as Mnih et al. 2016:
            :func:`sample_final_epsilon`), ``"apex"`` (:func:`apex_epsilons`),
            one value in [0, 1] per worker, or None (0.0 for everyone).
    """
    seed = check_seed(seed)
    n_workers = check_int("n_workers", n_workers)
    if isinstance(final_epsilons, str):
        if final_epsilons not in ("mnih", "apex"):
            raise ValueError(
                "final_epsilons must be 'mnih', 'apex', a sequence of one value per "
                f"worker or None, got {final_epsilons!r}"
            )
        finals: list[float] | None = (
            apex_epsilons(n_workers) if final_epsilons == "apex" else None
        )
    elif final_epsilons is None:
        finals = [0.0] * n_workers
    else:
        values = list(final_epsilons)
        if len(values) != n_workers:
            raise ValueError(
                f"final_epsilons needs one value per worker ({n_workers}), got "
                f"{len(values)}: {values!r}"
            )
        finals = [check_unit(f"final_epsilons[{k}]", v) for k, v in enumerate(values)]
    contexts = []
    for k, worker_seed in enumerate(child_seeds(seed, n_workers)):
        agent_seed, env_seed, epsilon_seed = child_seeds(worker_seed, 3)
        if finals is None:
            final = sample_final_epsilon(np.random.default_rng(epsilon_seed))
        else:
            final = finals[k]
        contexts.append(WorkerContext(k, n_workers, agent_seed, env_seed, final))
    return contexts


def shared_seed(seed: int, purpose: str) -> int:
    """A seed for something every worker shares (a network's initial weights,
    a replay buffer), from a branch of ``seed`` that no worker's stream uses."""
    entropy = [check_seed(seed), *purpose.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


# ==================================================================== errors
class WorkerError(RuntimeError):
    """A worker raised; every worker was stopped before this was raised.

    ``worker_id`` is the failing worker, ``traceback_text`` the worker's own
    traceback (from the child, for processes). The original exception is the
    ``__cause__`` where it could be carried back (always for threads; for
    processes when it pickles).
    """

    def __init__(
        self,
        worker_id: int,
        n_workers: int,
        error_name: str,
        message: str,
        traceback_text: str,
        executor: str = "threads",
    ) -> None:
        super().__init__(
            f"worker {worker_id} of {n_workers} ({executor}) raised "
            f"{error_name}: {message} (every worker was stopped)\n"
            f"--- the worker's traceback ---\n{traceback_text}"
        )
        self.worker_id = worker_id
        self.n_workers = n_workers
        self.error_name = error_name
        self.traceback_text = traceback_text
        self.executor = executor


class RemoteError(Exception):
    """Stands in for a child process's exception that could not be pickled."""


# =================================================================== results
@dataclass
class RunOutcome:
    """What a runner returns: each worker's return value and the clocks."""

    returns: list[Any]
    """Each worker's return value, in ``worker_id`` order."""
    wall_seconds: float
    """From opening the start gate to the last worker stopping."""
    cpu_seconds: float
    """CPU time of the workers while the wall clock ran: this process's
    (threads), or the sum of the children's (processes)."""
    executor: str
    """``"threads"`` or ``"processes"``."""
    started: float = 0.0
    """``time.perf_counter()`` when the gate opened (system-wide on Linux)."""
    startup_seconds: float = 0.0
    """Time to start the workers before the gate opened (spawning processes,
    importing their modules); not part of ``wall_seconds``."""


@dataclass
class ParallelResult:
    """One result for every parallel learner on every executor.

    Threads, processes and Ray return this same type, so notebook 11 can put
    them on one plot. Fields a learner does not produce keep their defaults.
    """

    q: Any
    """The learned Q: float64 ``[n_states, n_actions]`` table, or a network
    ``obs float32 [batch, obs_dim] -> Q [batch, n_actions]``."""
    design: str
    """``"hogwild"``, ``"lock"``, ``"independent"``, ``"actor-learner"``,
    ``"sharded"``, ``"apex"``, ..."""
    n_workers: int
    """Number of workers (actors)."""
    worker_steps: list[int]
    """Env steps each worker took; their sum is the true number of env steps."""
    worker_returns: list[list[float]]
    """Undiscounted return of every finished training episode, per worker."""
    global_steps: int
    """The step count the learner saw (a shared counter ``T`` that loses
    increments under Hogwild, or the learner's count of received steps)."""
    updates: int
    """Updates applied: table entries written, or gradient steps."""
    wall_seconds: float
    """Wall time of the run (start-up excluded; see ``startup_seconds``)."""
    executor: str = "threads"
    """``"threads"``, ``"processes"``, ``"ray"``, ``"ray-cluster"``,
    ``"vectorized"`` or ``"serial"``."""
    cpu_seconds: float = 0.0
    """CPU time used meanwhile, every worker together."""
    startup_seconds: float = 0.0
    """Time to start the workers (spawning processes, Ray actors)."""
    worker_episode_ends: list[list[int]] = field(default_factory=list)
    """Global step count when each training episode ended, per worker."""
    final_epsilons: list[float] = field(default_factory=list)
    """Each worker's final exploration rate."""
    lost_updates: int | None = None
    """Table writes that overwrote a concurrent write they had not seen;
    None where not instrumented."""
    target_updates: int = 0
    """Times a target (table or network) was refreshed."""
    staleness: dict[str, float] | None = None
    """Summary of policy lag or read staleness: ``mean``, ``p50``, ``p95``,
    ``max`` (in weight versions or rounds; see the learner)."""
    lags: np.ndarray | None = None
    """int64 ``[n_samples]``: the raw lags behind ``staleness``."""
    snapshot_steps: list[int] = field(default_factory=list)
    """Global step of every snapshot of the learned Q."""
    snapshot_seconds: list[float] = field(default_factory=list)
    """Wall seconds (since the start) of every snapshot."""
    snapshots: list[Any] = field(default_factory=list)
    """Copies of Q (tables or flat parameter vectors) for learning curves."""
    agents: list[Any] | None = None
    """Independent agents only: every agent's own Q."""
    policy: np.ndarray | None = None
    """Tabular only: int64 ``[n_states]``, the greedy policy of ``q``."""
    profile: Any = None
    """With ``profile=True``: the workers' merged ``pstats.Stats``."""
    net_template: Any = field(default=None, repr=False)
    """Networks only: a module that snapshots are loaded into for scoring."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Learner-specific figures (replay ratio targets, restarts, curves)."""

    @property
    def env_steps(self) -> int:
        """Env steps taken by all workers together (``sum(worker_steps)``)."""
        return int(sum(self.worker_steps))

    @property
    def steps_per_second(self) -> float:
        """Env steps per wall second, all workers together."""
        return self.env_steps / max(self.wall_seconds, 1e-9)

    @property
    def updates_per_second(self) -> float:
        """Updates per wall second."""
        return self.updates / max(self.wall_seconds, 1e-9)

    @property
    def replay_ratio(self) -> float:
        """Updates per env step actually achieved."""
        return self.updates / max(self.env_steps, 1)

    @property
    def cores_used(self) -> float:
        """``cpu_seconds / wall_seconds``: how many cores the run kept busy."""
        return self.cpu_seconds / max(self.wall_seconds, 1e-9)

    def __repr__(self) -> str:
        lost = (
            "" if self.lost_updates is None else f", lost_updates={self.lost_updates}"
        )
        return (
            f"ParallelResult(executor={self.executor!r}, design={self.design!r}, "
            f"n_workers={self.n_workers}, env_steps={self.env_steps}, "
            f"updates={self.updates}{lost}, wall_seconds={self.wall_seconds:.2f}, "
            f"steps_per_second={self.steps_per_second:.0f})"
        )


def lag_summary(lags: Sequence[int] | np.ndarray) -> dict[str, float]:
    """``mean``, ``p50``, ``p95`` and ``max`` of a sequence of lags (empty: zeros)."""
    values = np.asarray(lags, dtype=np.float64)
    if values.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }


# =============================================================== the runners
def _check_contexts(contexts: Sequence[WorkerContext]) -> list[WorkerContext]:
    contexts = list(contexts)
    if not contexts or not all(isinstance(c, WorkerContext) for c in contexts):
        raise TypeError(
            "contexts must be a non-empty sequence of WorkerContext (from "
            f"worker_contexts), got {contexts!r:.200}"
        )
    return contexts


def _new_bar(total: int | None, desc: str, progress: Callable[[], int] | None):
    # No bar object at all when off: even a disabled tqdm starts a monitor thread.
    if progress is None or total is None or is_quick():
        return None
    return progress_bar(total=total, desc=desc)


def _advance(bar: Any, total: int, progress: Callable[[], int]) -> None:
    if bar is not None:
        bar.update(max(0, min(int(progress()), total) - bar.n))


def run_threads(
    worker: Worker,
    contexts: Sequence[WorkerContext],
    shared: Any,
    config: Any = None,
    *,
    progress: Callable[[], int] | None = None,
    total: int | None = None,
    desc: str = "workers",
    poll_seconds: float = 0.2,
) -> RunOutcome:
    """Run ``worker(ctx, config, shared)`` in one thread per context; wait for all.

    Every thread starts at a gate once all exist. A worker that raises sets
    the stop flag (the others leave their loops at their next check) and the
    first error is raised here as :class:`WorkerError`, with the original
    exception as ``__cause__``. ``KeyboardInterrupt`` in the calling thread
    stops every worker too, and is re-raised once all have finished.

    The main thread waits on one "finished" event per worker, not on
    ``Thread.join(timeout)``: on CPython 3.10-3.12 an interrupt that lands
    inside ``join`` can mark a running thread as stopped, and a runner that
    joined again would return while the worker still steps its env. Here the
    call returns only after every worker function has returned.

    ``torch.set_num_threads`` is process-wide: a worker thread that calls it
    changes it for everyone. The caller's setting is restored on return.

    Args:
        progress: a callable returning the steps done so far, for a progress
            bar up to ``total`` (no bar in quick mode, or when either is None).
        poll_seconds: how often the main thread wakes up (bar, Ctrl-C).

    Returns:
        :class:`RunOutcome` with every worker's return value.
    """
    contexts = _check_contexts(contexts)
    if not callable(worker):
        raise TypeError(f"worker must be a function, got {worker!r}")
    n_workers = len(contexts)
    stop, go = threading.Event(), threading.Event()
    finished = [threading.Event() for _ in contexts]
    returns: list[Any] = [None] * n_workers
    errors: list[tuple[int, BaseException, str]] = []
    import torch  # noqa: PLC0415 - lazy (see the imports)

    torch_threads = torch.get_num_threads()

    def guarded(ctx: WorkerContext) -> None:
        try:
            while not go.wait(poll_seconds):
                pass
            if not stop.is_set():
                returns[ctx.worker_id] = worker(ctx, config, shared)
        except BaseException as error:  # noqa: BLE001 - reported to the caller
            errors.append((ctx.worker_id, error, traceback.format_exc()))
            stop.set()
        finally:
            finished[ctx.worker_id].set()

    threads = [
        threading.Thread(
            target=guarded,
            args=(replace(ctx, stop=stop),),
            name=f"qlearn-lite-worker-{ctx.worker_id}",
            daemon=True,  # never keeps the interpreter alive; we wait anyway
        )
        for ctx in contexts
    ]
    bar = _new_bar(total, desc, progress)
    started = cpu_started = 0.0
    try:
        for thread in threads:
            thread.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        go.set()
        for done in finished:
            while not done.wait(poll_seconds):
                if progress is not None and total is not None:
                    _advance(bar, total, progress)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    except BaseException:  # KeyboardInterrupt: stop every worker, wait for all
        stop.set()
        go.set()  # a worker still at the gate sees ``stop`` and returns
        _wait_all(finished, poll_seconds)
        raise
    finally:
        if bar is not None:
            if progress is not None and total is not None:
                _advance(bar, total, progress)
            bar.close()
        for thread in threads:
            if thread.ident is not None:
                thread.join(timeout=5.0)  # the function has returned: quick
        torch.set_num_threads(torch_threads)
    if errors:
        worker_id, error, text = errors[0]
        raise WorkerError(
            worker_id, n_workers, type(error).__name__, str(error), text, "threads"
        ) from error
    return RunOutcome(returns, wall, cpu, "threads", started)


def _wait_all(events: Sequence[threading.Event], poll_seconds: float) -> None:
    """Wait until every event is set, even through further Ctrl-C presses."""
    for event in events:
        while True:
            try:
                if event.wait(poll_seconds):
                    break
            except KeyboardInterrupt:
                continue


# ----------------------------------------------------------------- processes
def spawn_context() -> Any:
    """The multiprocessing context every process in the course uses: spawn.

    ``fork`` copies a process whose torch or OpenMP thread pools may hold a
    lock, and the child can deadlock on it; Python 3.14 no longer defaults to
    fork on Linux either. ``spawn`` starts a fresh interpreter that imports
    the worker's module, which is why workers must live in a module. This is
    torch's context, whose pickler shares tensors' memory instead of copying.
    """
    import torch.multiprocessing as torch_mp  # noqa: PLC0415 - lazy (see the imports)

    return torch_mp.get_context("spawn")


def check_picklable_worker(worker: Any) -> None:
    """Raise a clear TypeError unless a spawned child can import ``worker``."""
    if not callable(worker):
        raise TypeError(f"worker must be a function, got {worker!r}")
    module = getattr(worker, "__module__", None)
    qualname = getattr(worker, "__qualname__", "")
    problem = None
    if module in (None, "__main__") or "<lambda>" in qualname:
        problem = (
            "it is defined in __main__ or a notebook cell"
            if "<lambda>" not in qualname
            else "it is a lambda"
        )
    elif "<locals>" in qualname:
        problem = "it is defined inside another function"
    else:
        try:
            pickle.dumps(worker)
        except Exception as error:  # noqa: BLE001 - reworded below
            problem = f"it does not pickle ({type(error).__name__}: {error})"
    if problem is not None:
        raise TypeError(
            f"a worker for processes must be a module-level function of an "
            f"importable module, got {worker!r}: {problem}. A spawned process "
            "starts a fresh Python that imports the function by name; move it to "
            "a .py module (for example qlearn_lite or a file next to the notebook) "
            "and import it from there."
        )


PARENT_POLL_SECONDS = 0.5
"""How often a worker process checks that its parent is still alive."""
ORPHAN_GRACE_SECONDS = 2.0
"""How long an orphaned worker gets to leave its loop before it exits."""


def _watch_parent(parent_pid: int, stop: Any) -> threading.Thread:
    """Stop this worker process if its parent dies without stopping it.

    ``daemon=True`` children are stopped by a parent that exits normally, but
    not by one that is killed (``kill -9``, the kernel's out-of-memory killer,
    a Jupyter kernel that dies). Then the child is re-parented and
    ``os.getppid()`` changes: this thread sees it within
    :data:`PARENT_POLL_SECONDS`, sets the stop flag so that the worker leaves
    its loop, and ends the process after :data:`ORPHAN_GRACE_SECONDS`
    whatever the worker is doing: no worker outlives its parent by more than
    about 2.5 s. The parent's pid comes from the parent: a child still
    importing when the parent dies sees a different ``getppid()`` at once.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        # The exit is armed first: it happens even if setting the flag blocks.
        exit_timer = threading.Timer(ORPHAN_GRACE_SECONDS, os._exit, args=(1,))
        exit_timer.daemon = True
        exit_timer.start()
        if stop is not None:
            stop.set()

    thread = threading.Thread(
        target=watch, name="qlearn-lite-parent-watch", daemon=True
    )
    thread.start()
    return thread


def _watched(parent_pid: int, target: Callable[..., Any], args: tuple) -> None:
    """The body of a :func:`spawn_process` child: the watchdog, then ``target``."""
    _watch_parent(parent_pid, None)
    target(*args)


def spawn_process(target: Callable[..., Any], args: Sequence[Any] = ()) -> Any:
    """A spawned process running ``target(*args)`` that ends itself within
    about 2.5 s if this process is killed outright (:func:`_watch_parent`).

    For the one-off children of the course's measurements; workers run under
    :func:`run_processes`, whose children watch their parent the same way.
    ``target`` must be importable, as for any spawned process.
    """
    return spawn_context().Process(
        target=_watched, args=(os.getpid(), target, tuple(args))
    )


def _process_main(
    worker: Worker,
    ctx: WorkerContext,
    config: Any,
    shared: Any,
    go: Any,
    results: Any,
    torch_threads: int | None,
    parent_pid: int,
) -> None:
    """The body of every spawned worker process (module level: spawn imports it)."""
    # Ctrl-C reaches the whole process group: the parent alone decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(parent_pid, ctx.stop)
    if torch_threads is not None:
        import torch  # noqa: PLC0415 - lazy (see the imports)

        torch.set_num_threads(torch_threads)
    try:
        results.put(("ready", ctx.worker_id, None))  # imported and set up
        while not go.wait(0.2):
            if ctx.should_stop():
                break
        cpu_start = time.process_time()  # the work's CPU, not the imports'
        value = None if ctx.should_stop() else worker(ctx, config, shared)
        results.put(("ok", ctx.worker_id, (value, time.process_time() - cpu_start)))
    except BaseException as error:  # noqa: BLE001 - sent to the parent
        text = traceback.format_exc()
        try:
            pickle.dumps(error)
            carried: BaseException = error
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            carried = RemoteError(f"{type(error).__name__}: {error}")
        results.put(
            ("error", ctx.worker_id, (type(error).__name__, str(error), text, carried))
        )
    finally:
        results.close()
        results.join_thread()  # flush the message before the process exits


def run_processes(
    worker: Worker,
    contexts: Sequence[WorkerContext],
    shared: Any,
    config: Any = None,
    *,
    progress: Callable[[], int] | None = None,
    total: int | None = None,
    desc: str = "workers",
    torch_threads: int | None = 1,
    join_timeout: float = 30.0,
    poll_seconds: float = 0.2,
) -> RunOutcome:
    """Run ``worker(ctx, config, shared)`` in one spawned process per context.

    The same contract as :func:`run_threads`, across processes (the recipe of
    pytorch/examples' ``mnist_hogwild``):

    * :func:`spawn_context` always; ``worker`` must be a module-level function
      of an importable module (checked first, with a clear TypeError);
    * ``config`` and ``shared`` are pickled into each child: put arrays in
      shared memory first (``tensor.share_memory_()``) and make queues,
      events and values from :func:`spawn_context`;
    * each child runs torch on ``torch_threads`` threads (None: torch's
      default); the parent's setting is untouched;
    * a start gate, then the first error in any child sets the stop flag and
      is raised as :class:`WorkerError` with the child's traceback text;
    * Ctrl-C in the parent (children ignore SIGINT) sets the stop flag, waits
      up to 3 s, then terminates what is left: no child outlives it by 5 s;
    * every blocking wait has a timeout: a child that dies without a word is
      reported, never waited for; ``join_timeout`` bounds the wait for
      children to finish after a stop. No child is left when this returns;
    * a parent that is killed outright (``kill -9``, a dead Jupyter kernel)
      runs none of this, so each child watches its parent's pid and stops
      itself within about 2.5 s of the parent's death.

    Returns:
        :class:`RunOutcome`; ``cpu_seconds`` is the children's CPU time from
        the gate to their return (their imports and exit are not counted).
    """
    contexts = _check_contexts(contexts)
    check_picklable_worker(worker)
    mp = spawn_context()
    n_workers = len(contexts)
    stop, go, results = mp.Event(), mp.Event(), mp.Queue()
    processes = [
        mp.Process(
            target=_process_main,
            args=(
                worker,
                replace(ctx, stop=stop),
                config,
                shared,
                go,
                results,
                torch_threads,
                os.getpid(),
            ),
            name=f"qlearn-lite-worker-{ctx.worker_id}",
            daemon=True,  # a parent that dies takes its children with it
        )
        for ctx in contexts
    ]
    returns: list[Any] = [None] * n_workers
    cpu_seconds = [0.0] * n_workers  # each child's, from the gate to its return
    reported = [False] * n_workers
    error: tuple[int, tuple[str, str, str, BaseException]] | None = None
    bar = _new_bar(total, desc, progress)
    started = time.perf_counter()
    grace = join_timeout
    startup = 0.0
    try:
        for process in processes:
            process.start()
        # The gate opens once every child has imported its modules: the clock
        # measures the work, and start-up is reported on its own.
        ready = [False] * n_workers
        while not all(ready) and error is None:
            try:
                kind, worker_id, payload = results.get(timeout=poll_seconds)
            except queue_module.Empty:
                for k, process in enumerate(processes):
                    if not ready[k] and process.exitcode is not None:
                        text = f"the process exited with code {process.exitcode}"
                        error = (k, ("ProcessDied", text, text, RemoteError(text)))
                        reported[k] = True
                continue
            if kind == "ready":
                ready[worker_id] = True
            else:  # an error while starting up
                reported[worker_id] = True
                error = (worker_id, payload)
        if error is not None:
            stop.set()
        startup = time.perf_counter() - started
        started = time.perf_counter()
        go.set()
        while not all(reported):
            try:
                kind, worker_id, payload = results.get(timeout=poll_seconds)
            except queue_module.Empty:
                if progress is not None and total is not None:
                    _advance(bar, total, progress)
                for k, process in enumerate(processes):
                    if not reported[k] and process.exitcode is not None:
                        # Died without a message (killed, out of memory, a crash).
                        _drain(results, returns, cpu_seconds, reported)
                        if reported[k]:
                            continue
                        reported[k] = True
                        text = f"the process exited with code {process.exitcode}"
                        if error is None:
                            error = (
                                k,
                                ("ProcessDied", text, text, RemoteError(text)),
                            )
                        stop.set()
                continue
            reported[worker_id] = True
            if kind == "ok":
                returns[worker_id], cpu_seconds[worker_id] = payload
            else:
                if error is None:
                    error = (worker_id, payload)
                stop.set()
        wall = time.perf_counter() - started
    except BaseException:  # KeyboardInterrupt: stop every child within 5 s
        stop.set()
        go.set()
        grace = 3.0  # then terminate: every child is gone within 5 s
        raise
    finally:
        if bar is not None:
            if progress is not None and total is not None:
                _advance(bar, total, progress)
            bar.close()
        _stop_processes(processes, results, grace=grace)
        results.close()
        results.join_thread()
    if error is not None:
        worker_id, (name, message, text, carried) = error
        raise WorkerError(
            worker_id, n_workers, name, message, text, "processes"
        ) from carried
    return RunOutcome(returns, wall, sum(cpu_seconds), "processes", started, startup)


def _drain(
    results: Any, returns: list[Any], cpu_seconds: list[float], reported: list[bool]
) -> None:
    """Read whatever messages are already waiting (non-blocking)."""
    while True:
        try:
            kind, worker_id, payload = results.get_nowait()
        except queue_module.Empty:
            return
        reported[worker_id] = True
        if kind == "ok":
            returns[worker_id], cpu_seconds[worker_id] = payload


def _stop_processes(processes: Sequence[Any], results: Any, grace: float) -> None:
    """Join every started process within ``grace`` seconds, then terminate, then
    kill. Messages still queued are read meanwhile: a child blocks at exit
    until its queue's pipe is emptied."""
    deadline = time.monotonic() + grace
    for process in processes:
        if process.pid is None:
            continue
        while process.is_alive() and time.monotonic() < deadline:
            _discard(results)
            process.join(timeout=0.05)
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()
            process.join(timeout=2.0)
        if process.pid is not None and process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            process.join(timeout=2.0)
    for process in processes:
        if process.pid is not None:
            process.close()


def _discard(results: Any) -> None:
    while True:
        try:
            results.get_nowait()
        except (queue_module.Empty, OSError, ValueError):
            return
