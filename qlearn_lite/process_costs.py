"""What crossing a process boundary costs, measured (notebook 08's pitfalls).

Each function here starts spawned child processes running a module-level
function of this module (a spawned child imports its target by name, so it
can not run a function defined in a notebook cell), measures one cost, makes
sure every child has exited, and returns plain numbers:

* :func:`queue_throughput` -- transitions per second through a
  ``multiprocessing`` queue, as NumPy chunks or as small torch tensors, one
  transition or many per message, and what the child cost to start;
* :func:`tensor_after_producer_exit` -- receiving a torch tensor whose
  producer process has already exited fails inside torch's
  ``rebuild_storage_fd``;
* :func:`weight_sync_cost` -- handing a network's weights to a child through
  a shared-memory tensor and a version counter, against pickling them;
* :func:`oversubscription` -- the same gradient steps in two processes with
  one torch thread each, or with as many threads each as there are cores;
* the seconds and the memory one spawned process that imports torch costs
  (reported by :func:`queue_throughput`'s child).

Every blocking call has a timeout and every child is joined, then terminated
if it is still alive.
"""

from __future__ import annotations

import os
import pickle
import statistics
import time
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from qlearn_lite.parallel import spawn_context, spawn_process

__all__ = [
    "burn_worker",
    "oversubscription",
    "pickled_size",
    "queue_throughput",
    "tensor_after_producer_exit",
    "weight_sync_cost",
]

OBS_DIM = 4  # CartPole's observation


def _finish(processes: Sequence[Any], timeout: float = 10.0) -> None:
    """Join every process (``timeout`` s each), terminate the ones still alive."""
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(timeout)


def _message(kind: str, count: int, rng: np.random.Generator) -> dict[str, Any]:
    """``count`` CartPole-sized transitions as NumPy arrays or torch tensors."""
    arrays = {
        "obs": rng.random((count, OBS_DIM), dtype=np.float32),
        "actions": rng.integers(2, size=count),
        "rewards": np.ones(count, dtype=np.float32),
        "next_obs": rng.random((count, OBS_DIM), dtype=np.float32),
        "discounts": np.full(count, 0.98, dtype=np.float32),
    }
    if kind == "tensor":
        return {name: torch.from_numpy(value) for name, value in arrays.items()}
    return arrays


# ----------------------------------------------------------- queue throughput
def _memory_mb() -> dict[str, float]:
    """This process's resident memory (RSS) and its unique memory (USS: what
    the process adds, libraries shared with other processes aside), in MB;
    NaN where psutil is missing or may not read them."""
    memory = {"rss_mb": float("nan"), "uss_mb": float("nan")}
    try:
        import psutil

        info = psutil.Process().memory_full_info()
        memory = {"rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20}
    except Exception:  # noqa: BLE001 - psutil missing or not allowed to read it
        pass
    return memory


def _produce(experience: Any, done: Any, cases: list[tuple[str, int, int]]) -> None:
    """Child: report its memory, then put ``n_messages`` messages of every
    ``(kind, per_message, n_messages)`` case in turn, then wait until the
    parent has read them all (a tensor's memory lives only as long as its
    producer)."""
    torch.set_num_threads(1)
    experience.put(_memory_mb(), timeout=60)
    rng = np.random.default_rng(0)
    for kind, per_message, n_messages in cases:
        messages = [_message(kind, per_message, rng) for _ in range(64)]
        for index in range(n_messages):
            experience.put(messages[index % len(messages)], timeout=60)
    done.wait(120)


def queue_throughput(
    cases: Sequence[tuple[str, int]] = (("numpy", 64), ("numpy", 1), ("tensor", 1)),
    n_transitions: int = 20_000,
) -> dict[str, Any]:
    """Transitions per second from one spawned child to this process through a
    ``multiprocessing`` queue, for each ``(kind, per_message)`` case in turn.

    ``kind``: ``"numpy"`` (a dict of NumPy arrays, pickled into the pipe) or
    ``"tensor"`` (a dict of torch tensors: torch moves each one's storage into
    shared memory and sends a file descriptor through a socket).
    ``per_message``: transitions per message. Each case sends
    ``n_transitions`` transitions (at most 2,000 messages); its clock runs
    from its first message received to its last.

    Returns ``{"cases": [{"kind", "per_message", "transitions_per_second",
    "messages_per_second"}, ...], "startup_seconds": from start() to the
    child's first message, "child_memory": its RSS and USS in MB}``.
    """
    plan = []
    for kind, per_message in cases:
        if kind not in ("numpy", "tensor"):
            raise ValueError(f"kind must be 'numpy' or 'tensor', got {kind!r}")
        if isinstance(per_message, bool) or not isinstance(per_message, int):
            raise TypeError(f"per_message must be an int >= 1, got {per_message!r}")
        if per_message < 1:
            raise ValueError(f"per_message must be an int >= 1, got {per_message!r}")
        plan.append(
            (kind, per_message, max(2, min(2_000, n_transitions // per_message)))
        )
    mp = spawn_context()
    experience, done = mp.Queue(maxsize=64), mp.Event()
    child = spawn_process(_produce, (experience, done, plan))
    started = time.perf_counter()
    child.start()
    results = []
    try:
        memory = experience.get(timeout=120)
        startup = time.perf_counter() - started
        for kind, per_message, n_messages in plan:
            experience.get(timeout=60)
            first = time.perf_counter()
            for _ in range(n_messages - 1):
                message = experience.get(timeout=60)
                del message  # a tensor's shared memory is released here
            seconds = time.perf_counter() - first
            results.append(
                {
                    "kind": kind,
                    "per_message": per_message,
                    "transitions_per_second": (n_messages - 1) * per_message / seconds,
                    "messages_per_second": (n_messages - 1) / seconds,
                }
            )
    finally:
        done.set()
        _finish([child])
        experience.close()
        experience.join_thread()
    return {"cases": results, "startup_seconds": startup, "child_memory": memory}


# ---------------------------------------------- a tensor outliving its producer
def _send_tensor_and_exit(experience: Any) -> None:
    """Child: put one torch tensor on the queue and exit at once."""
    experience.put(torch.arange(8.0))


def tensor_after_producer_exit() -> dict[str, Any]:
    """Receive a tensor after the child that sent it has exited; return what
    happened: ``{"error": exception class name, "in_rebuild_storage_fd": bool,
    "child_exitcode": int}``.

    The tensor's storage lives in the producer's shared memory, and the
    message carries only a handle: the receiver asks the producer (through a
    socket) for the file descriptor. With the producer gone there is no one to
    ask: ``FileNotFoundError`` when its socket file has been removed,
    ``ConnectionRefusedError`` while the file is still there (both OSErrors,
    raised in torch's ``rebuild_storage_fd``).
    """
    mp = spawn_context()
    experience = mp.Queue()
    child = spawn_process(_send_tensor_and_exit, (experience,))
    child.start()
    try:
        child.join(60)  # the message is in the pipe; its producer is gone
        try:
            tensor = experience.get(timeout=30)
            return {
                "error": None,
                "in_rebuild_storage_fd": False,
                "child_exitcode": child.exitcode,
                "received": tensor.tolist(),
            }
        except OSError as error:
            frames = traceback.extract_tb(error.__traceback__)
            return {
                "error": type(error).__name__,
                "in_rebuild_storage_fd": any(
                    frame.name == "rebuild_storage_fd" for frame in frames
                ),
                "child_exitcode": child.exitcode,
            }
    finally:
        _finish([child])
        experience.close()
        experience.join_thread()


# --------------------------------------------------------------- weight sync
def _weight_reader(
    shared: torch.Tensor, version: Any, requests: Any, replies: Any
) -> None:
    """Child: on each request copy the new weights into a local tensor, reply.

    A request is ``("shared", version)`` (copy from shared memory),
    ``("pickle", array)`` (the weights came in the message) or ``("ping",
    None)``; ``None`` ends the child.
    """
    torch.set_num_threads(1)
    local = torch.zeros_like(shared)
    while True:
        request = requests.get(timeout=120)
        if request is None:
            return
        mode, payload = request
        if mode == "shared":
            with version.get_lock():
                local.copy_(shared)
        elif mode == "pickle":
            local.copy_(torch.from_numpy(payload))
        replies.put(float(local[-1]), timeout=60)


def weight_sync_cost(n_params: int = 1_000_000, repeats: int = 15) -> dict[str, float]:
    """Median milliseconds to hand ``n_params`` float32 weights to a child.

    ``"shared"``: write them into a ``share_memory_()`` tensor under the
    version's lock, bump the version, and the child copies them out;
    ``"pickle"``: send them as a NumPy array through a queue (pickled into the
    pipe, unpickled in the child). Both include the same two tiny messages
    (request and reply) per sync, measured alone as ``"round_trip"``. The
    three are measured in turn, ``repeats`` times, in one child.
    """
    mp = spawn_context()
    weights = torch.randn(n_params)
    shared = weights.clone().share_memory_()
    version = mp.Value("q", 0)
    requests, replies = mp.Queue(), mp.Queue()
    child = spawn_process(_weight_reader, (shared, version, requests, replies))
    child.start()
    times: dict[str, list[float]] = {"round_trip": [], "shared": [], "pickle": []}
    try:
        for repeat in range(repeats + 1):  # the first round warms up
            for mode, samples in times.items():
                weights[-1] = float(repeat)
                started = time.perf_counter()
                if mode == "shared":
                    with version.get_lock():
                        shared.copy_(weights)
                        version.value += 1
                    requests.put(("shared", None))
                elif mode == "pickle":
                    requests.put(("pickle", weights.numpy().copy()))
                else:
                    requests.put(("ping", None))
                replies.get(timeout=120)
                if repeat:
                    samples.append(time.perf_counter() - started)
        requests.put(None)
    finally:
        _finish([child])
        for channel in (requests, replies):
            channel.close()
            channel.join_thread()
    medians = {f"{mode}_ms": 1000 * statistics.median(t) for mode, t in times.items()}
    return medians | {"n_params": n_params}


# ---------------------------------------------------------- oversubscription
def _gradient_steps(phases: list[int], steps: int, barrier: Any, results: Any) -> None:
    """Child: for each thread count in ``phases``, wait for the others, then
    time ``steps`` Adam steps of a 256-256 MLP on batches of 256 (ops large
    enough for torch to split them over its threads)."""
    from qlearn_lite.dqn import QNetwork

    torch.manual_seed(0)
    net = QNetwork(OBS_DIM, 2, (256, 256))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    obs = torch.randn(steps, 256, OBS_DIM)
    for threads in phases:
        torch.set_num_threads(threads)
        barrier.wait(120)
        started = time.perf_counter()
        for step in range(steps):
            loss = net(obs[step]).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        results.put((threads, time.perf_counter() - started), timeout=60)


def oversubscription(
    n_processes: int = 2, threads: Sequence[int] | None = None, steps: int = 100
) -> dict[int, float]:
    """Wall seconds for ``n_processes`` children to each do ``steps`` gradient
    steps with each torch thread count in ``threads`` (None: 1, then
    ``os.cpu_count()``, torch's default), all children starting each phase
    together. Returns ``{threads: seconds of the slowest child}``: with
    ``n_processes * threads`` above the core count, threads wait for cores.
    """
    if threads is None:
        threads = (1, os.cpu_count() or 1)
    phases = [int(t) for t in threads]
    mp = spawn_context()
    barrier, results = mp.Barrier(n_processes + 1), mp.Queue()
    children = [
        spawn_process(_gradient_steps, (phases, steps, barrier, results))
        for _ in range(n_processes)
    ]
    for child in children:
        child.start()
    seconds: dict[int, float] = {}
    try:
        for phase in phases:
            barrier.wait(120)
            times = [results.get(timeout=300) for _ in children]
            seconds[phase] = max(t for _, t in times)
    finally:
        barrier.abort()  # a child still waiting leaves at once
        _finish(children)
        results.close()
        results.join_thread()
    return seconds


# ------------------------------------------------------------ the GIL, shown
def burn_worker(ctx: Any, config: float, shared: Any) -> float:
    """A worker for :func:`qlearn_lite.parallel.run_threads`/``run_processes``
    that burns ``config`` milliseconds of CPU in pure Python
    (:func:`qlearn_lite.envs.burn_cpu`) and returns the CPU seconds it used."""
    from qlearn_lite.envs import burn_cpu

    return burn_cpu(float(config))


# ------------------------------------------------------------------- sizes
def pickled_size(obj: Any) -> int:
    """Bytes ``pickle.dumps(obj)`` takes (what a queue would send)."""
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
