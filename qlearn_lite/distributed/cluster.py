"""Starting, joining and leaving Ray: the one place the course calls ``ray.init``.

:func:`connect` starts a local Ray instance sized for a 2 GB notebook server
(Binder), or joins an existing cluster when given an address; :func:`shutdown`
leaves it and checks that no Ray process of ours is left. Ray is imported only
inside these functions, so ``import qlearn_lite`` works without it.

What Ray costs on a small machine (measured on 2 cores, Ray 2.60.0): a local
``ray.init`` takes 4 s on an idle machine (tens of seconds on a busy one) and
about 0.4 GB across 9 processes (a GCS server, a raylet, two agents, idle
workers), and one actor call costs about 1 ms. Hence the explicit limits below.

Every Ray process imports ``jsonschema``. From jsonschema 4.25, the extra that
Jupyter installs brings ``rfc3987-syntax``, which builds Lark grammars when it
is imported: 1.3 s of CPU in each Ray process. With it, ``ray.init`` took 8.9 s
here and 4 actors 3.5 s to start; without it, 2.7 s and 1.2 s.
``constraints.txt`` pins jsonschema 4.24.1, and :func:`connect` prints a hint
where the package is installed (:func:`slow_start_hint`).

Token authentication in Ray 2.60.0 (read from ``ray/_private/worker.py`` and
``authentication/authentication_token_setup.py`` of the installed package):

* ``ray.init()`` that *starts* a local instance turns token authentication on
  unless ``RAY_AUTH_MODE`` is set: it sets ``RAY_AUTH_MODE=token`` in this
  process, writes a random token to ``~/.ray/auth_token`` if there is none, and
  logs "Token authentication is enabled for this Ray cluster".
  ``RAY_AUTH_MODE=disabled`` opts out.
* ``ray start --head`` turns it on only if a token already exists
  (``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH``, or
  ``~/.ray/auth_token``); otherwise it starts without authentication and warns.
  ``ray get-auth-token --generate`` makes one.
* Joining an explicit address never turns it on by itself: for a cluster that
  requires a token, set ``RAY_AUTH_MODE=token`` and give the same token
  (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``) on the machine that connects.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qlearn_lite.utils import check_int, check_number

__all__ = [
    "DEFAULT_OBJECT_STORE_MB",
    "RayConnection",
    "can_start",
    "connect",
    "current",
    "local_cluster",
    "ray_memory_mb",
    "ray_processes",
    "require_ray",
    "shutdown",
    "slow_start_hint",
    "worker_error",
]

DEFAULT_OBJECT_STORE_MB = 150
"""Object store of a local instance, in MiB: room for a few hundred thousand
transitions in flight, small enough for Binder's 2 GB (Ray's own minimum is
75 MiB)."""

DEFAULT_NUM_CPUS = 2
"""CPUs a local instance offers when ``num_cpus`` is not given (at most the
cores this process may use): Ray starts one idle worker per CPU, and each
costs about 100 MB."""

INSTALL_HINT = 'pip install "qlearn-lite[ray]"'

_RAY_PROCESS_NAMES = ("raylet", "gcs_server", "plasma_store")


@dataclass
class RayConnection:
    """What :func:`connect` connected to; also a context manager that shuts down.

    >>> with connect() as ray_info:  # doctest: +SKIP
    ...     print(ray_info.cpus)
    """

    address: str
    """The GCS address ``host:port`` of the cluster."""
    started_here: bool
    """True if :func:`connect` started a local instance (and owns it)."""
    nodes: int
    """Alive nodes in the cluster."""
    cpus: float
    """CPUs the cluster offers, all nodes together."""
    memory_bytes: float
    """Heap memory Ray may schedule, all nodes together."""
    object_store_bytes: float
    """Object store memory, all nodes together."""
    init_seconds: float
    """Wall time of ``ray.init`` (start-up or joining)."""
    ray_version: str
    """``ray.__version__``."""
    auth_mode: str
    """``RAY_AUTH_MODE`` after ``ray.init``: ``"token"`` or ``"disabled"``."""
    node_ids: list[str] = field(default_factory=list)
    """The alive nodes' ids (hex), to check where actors landed."""

    def __str__(self) -> str:
        what = "started a local instance" if self.started_here else "joined"
        return (
            f"Ray {self.ray_version}: {what} at {self.address}: {self.nodes} "
            f"node{'s' * (self.nodes != 1)}, {self.cpus:g} CPUs, "
            f"{self.memory_bytes / 2**30:.1f} GB memory, "
            f"{self.object_store_bytes / 2**20:.0f} MB object store "
            f"(ray.init {self.init_seconds:.1f} s, token auth: {self.auth_mode})"
        )

    def __enter__(self) -> RayConnection:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        shutdown()


# Module state: the connection we made, and the Ray processes it started.
_connection: RayConnection | None = None
_started_processes: list[Any] = []


# ================================================================== imports
def require_ray(what: str = "this") -> Any:
    """The ``ray`` module, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            f"{what} needs Ray, which is not installed here: {INSTALL_HINT} "
            "(or `make lab`, which installs every extra the notebooks use)"
        ) from error
    return ray


def _psutil() -> Any:
    require_ray("measuring Ray's processes")
    import psutil  # Ray ships a copy in ray/thirdparty_files when none is installed

    return psutil


# ================================================================ addresses
def _resolve_address(address: str | None) -> str | None:
    """The address to join, or None to start a local instance."""
    if address is None:
        address = os.environ.get("RAY_ADDRESS") or None
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip():
        raise TypeError(
            "address must be None (start a local instance), 'auto', 'local', "
            f"or 'host:port' of a running cluster, got {address!r}"
        )
    address = address.strip()
    return None if address == "local" else address


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; None for 'auto'."""
    if address == "auto":
        return None
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"address must look like 'host:port' (for example '127.0.0.1:6379' "
            f"from `ray start --head`), 'ray://host:10001' or 'auto', got "
            f"{address!r}"
        )
    return host.strip("[]"), int(port)


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(
    [0, 0, 0, 4, 0, 0, 0, 0, 0]  # an empty SETTINGS frame
)


def _probe(address: str, timeout: float) -> None:
    """Raise ``ConnectionError`` unless a gRPC server answers at ``address``.

    ``ray.init`` retries an address for 40 s or more before it gives up, and
    longer still when something that is not Ray listens there. Ray's GCS (and
    Ray Client's server) speak gRPC, that is HTTP/2: sent the HTTP/2 preface,
    such a server answers with a SETTINGS frame (type 4). A socket with a
    timeout finds out in ``timeout`` seconds at most.
    """
    host_port = _host_port(address)
    if host_port is None:
        return
    hint = (
        "Start one with `ray start --head --port=6379` and pass its address, or "
        "pass address=None (and unset RAY_ADDRESS) for a local instance."
    )
    try:
        with socket.create_connection(host_port, timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(_HTTP2_PREFACE)
            reply = connection.recv(9)
    except TimeoutError:
        reply = b""
    except OSError as error:
        raise ConnectionError(
            f"no Ray cluster answers at {address!r} ({type(error).__name__}: "
            f"{error}; gave up after {timeout:g} s). {hint}"
        ) from None
    if len(reply) < 4 or reply[3] != 4:
        raise ConnectionError(
            f"something listens at {address!r} but it is not a Ray cluster (no "
            f"gRPC answer within {timeout:g} s). {hint}"
        )


# ================================================================== connect
def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_mb: float = DEFAULT_OBJECT_STORE_MB,
    timeout: float = 10.0,
    include_dashboard: bool = False,
    log_to_driver: bool = False,
    verbose: bool = True,
    start_attempts: int = 2,
    **ray_kwargs: Any,
) -> RayConnection:
    """Start a local Ray instance, or join a cluster at ``address``.

    Args:
        address: None (and no ``RAY_ADDRESS``) or ``"local"``: start a local
            instance with the limits below. ``"host:port"`` (what
            ``ray start --head`` prints), ``"ray://host:10001"`` (Ray Client)
            or ``"auto"`` (a cluster started on this machine): join it, with
            the cluster's own resources (the limits are not used).
        num_cpus: CPUs of a local instance; default
            ``min(2, cores this process may use)``.
        object_store_mb: object store of a local instance, MiB (>= 75).
        timeout: seconds to wait for an address to answer before raising
            ``ConnectionError``.
        include_dashboard: start Ray's dashboard (local only; off: it costs
            about 100 MB).
        log_to_driver: print the actors' stdout and stderr here (off: quiet
            notebooks; errors still reach the caller as exceptions).
        verbose: print one line saying what was connected to.
        start_attempts: tries to start a local instance before giving up
            with ``RuntimeError`` (its start-up can time out on a busy machine).
        ray_kwargs: passed to ``ray.init`` (``runtime_env``, ``namespace``).

    Returns a :class:`RayConnection`; ``with connect() as info:`` shuts down
    at the end of the block. Calling it again while connected returns the
    current connection (joining a different address needs :func:`shutdown`
    first).

    Raises ``ImportError`` without Ray, ``ConnectionError`` for an address
    nobody answers, ``ValueError``/``TypeError`` for bad limits.
    """
    global _connection
    target = _resolve_address(address)
    timeout = check_number("timeout", timeout, 0.0, 600.0, low_open=True)
    start_attempts = check_int("start_attempts", start_attempts)
    if target is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
        num_cpus = (
            min(DEFAULT_NUM_CPUS, cores)
            if num_cpus is None
            else check_int("num_cpus", num_cpus, minimum=1)
        )
        object_store_mb = check_number(
            "object_store_mb", object_store_mb, 75, 1_000_000
        )
    else:
        _host_port(target)  # a clear ValueError for a malformed address
    ray = require_ray("qlearn_lite.distributed.connect")

    if ray.is_initialized():
        current = _connection or _describe(ray, False, 0.0)
        if target is None or target in (current.address, "auto"):
            if verbose:
                print(f"already connected: {current}")
            return current
        raise RuntimeError(
            f"Ray is already connected to {current.address}; call "
            f"qlearn_lite.distributed.shutdown() before joining {target!r}"
        )

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report
    # Ray's own INFO and WARNING lines (start-up, the token notice) are
    # replaced by the one line printed below.
    quiet = {"log_to_driver": log_to_driver, "logging_level": logging.ERROR}
    start = time.perf_counter()
    if target is None:
        _start_local(
            ray,
            start_attempts,
            num_cpus=num_cpus,
            object_store_memory=int(object_store_mb * 2**20),
            include_dashboard=include_dashboard,
            **quiet,
            **ray_kwargs,
        )
    else:
        _probe(target, timeout)
        ray.init(address=target, **quiet, **ray_kwargs)
    _connection = _describe(ray, target is None, time.perf_counter() - start)
    if verbose:
        print(_connection)
        hint = slow_start_hint()
        if hint:
            print(hint)
    return _connection


def slow_start_hint() -> str | None:
    """A one-line hint if ``rfc3987-syntax`` is installed here, else None.

    jsonschema imports it when present, and every Ray process imports
    jsonschema, so each one spends about 1.3 s of CPU building its grammars.
    """
    import importlib.util

    if importlib.util.find_spec("rfc3987_syntax") is None:
        return None
    return (
        "hint: rfc3987-syntax is installed, and every Ray process spends about "
        "1.3 s importing it; pip install 'jsonschema<4.25' (or pip uninstall "
        "rfc3987-syntax) makes Ray start about 3x faster"
    )


def _start_local(ray: Any, attempts: int, **init_kwargs: Any) -> None:
    """``ray.init(**init_kwargs)`` for a new local instance, tried ``attempts``
    times; records the processes it started for :func:`shutdown`."""
    psutil = _psutil()
    for attempt in range(1, attempts + 1):
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        try:
            ray.init(**init_kwargs)
        except Exception as error:  # noqa: BLE001 - reported below
            # Ray raises a bare Exception when its raylet misses a start-up
            # deadline (a busy machine); clean up what it started.
            _started_processes[:] = [
                p
                for p in psutil.Process().children(recursive=True)
                if p.pid not in before
            ]
            shutdown()
            if attempt == attempts:
                load = _load()
                raise RuntimeError(
                    f"Ray could not start a local instance ({attempts} attempt(s)): "
                    f"{type(error).__name__}: {str(error).rstrip('.')}. Load average "
                    f"{load:.1f} on "
                    f"{os.cpu_count()} cores: on a busy machine Ray's agents can "
                    "miss their start-up deadline; try again when it is quieter, "
                    "or join a running cluster with connect(address)."
                ) from error
            continue
        _started_processes[:] = [
            p for p in psutil.Process().children(recursive=True) if p.pid not in before
        ]
        return


def _load() -> float:
    """The 1-minute load average (NaN where the OS does not say)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _describe(ray: Any, started_here: bool, seconds: float) -> RayConnection:
    """A :class:`RayConnection` for the cluster Ray is connected to now."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    total = ray.cluster_resources()
    return RayConnection(
        address=ray.get_runtime_context().gcs_address,
        started_here=started_here,
        nodes=len(nodes),
        cpus=float(total.get("CPU", 0.0)),
        memory_bytes=float(total.get("memory", 0.0)),
        object_store_bytes=float(total.get("object_store_memory", 0.0)),
        init_seconds=seconds,
        ray_version=ray.__version__,
        auth_mode=os.environ.get("RAY_AUTH_MODE", "disabled"),
        node_ids=[node["NodeID"] for node in nodes],
    )


# ================================================================= shutdown
def shutdown(timeout: float = 15.0) -> int:
    """Leave Ray; for a local instance, wait until all its processes are gone.

    ``ray.shutdown()`` stops the processes a local instance started; this
    waits up to ``timeout`` seconds for each of them to exit and kills any
    that remain (only processes :func:`connect` started). Returns how many had
    to be killed (0 normally). Safe to call when not connected.
    """
    global _connection
    timeout = check_number("timeout", timeout, 0.0, 600.0)
    try:
        import ray
    except ImportError:
        return 0
    if ray.is_initialized():
        ray.shutdown()
    _connection = None
    processes, _started_processes[:] = list(_started_processes), []
    if not processes:
        return 0
    psutil = _psutil()
    known = {process.pid for process in processes}
    # Agents whose raylet died are re-parented away from us; find them too.
    processes += [p for p in ray_processes() if p.pid not in known]
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(alive)


def current() -> RayConnection | None:
    """The connection :func:`connect` made, or None when not connected."""
    try:
        import ray
    except ImportError:
        return None
    return _connection if ray.is_initialized() else None


@contextmanager
def local_cluster(
    n_nodes: int = 2,
    cpus_per_node: int = 1,
    object_store_mb: float = 80,
    verbose: bool = False,
) -> Iterator[RayConnection]:
    """A Ray cluster of ``n_nodes`` nodes simulated on this machine, joined.

    ``ray.cluster_utils.Cluster``: each node has its own raylet and object
    store, so to Ray (and to the code that runs on it) they are separate
    machines; joining it goes through :func:`connect` with its address, as
    joining a real cluster would. A connection already open is left first
    (:func:`shutdown`; the next ``connect()`` starts a local instance again).
    At the end of the ``with`` block the driver leaves and the cluster stops.

    >>> with local_cluster() as info:  # doctest: +SKIP
    ...     result = actor_learner_dqn(env, config, "ray", address=info.address)
    """
    n_nodes = check_int("n_nodes", n_nodes, 1)
    cpus_per_node = check_int("cpus_per_node", cpus_per_node, 1)
    object_store_mb = check_number("object_store_mb", object_store_mb, 75, 1e6)
    require_ray("local_cluster")
    from ray.cluster_utils import Cluster

    shutdown()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    node = {
        "num_cpus": cpus_per_node,
        "object_store_memory": int(object_store_mb * 2**20),
    }
    cluster = None
    try:
        try:
            cluster = Cluster(initialize_head=True, head_node_args=node)
            for _ in range(n_nodes - 1):
                cluster.add_node(**node)
        except Exception as error:  # Ray raises a bare Exception on a timeout
            if "timed out during startup" not in str(error):
                raise
            raise RuntimeError(
                f"Ray could not start a {n_nodes}-node local cluster: {error} "
                f"(load average {_load():.1f} on {os.cpu_count()} cores; try "
                "again when the machine is quieter)"
            ) from error
        yield connect(cluster.address, verbose=verbose)
    finally:
        shutdown()
        if cluster is not None:
            cluster.shutdown()


# ================================================================ processes
def ray_processes() -> list[Any]:
    """The running Ray processes of this driver (``psutil.Process`` objects).

    A local instance's GCS server, raylet, agents and workers descend from
    the process that called ``ray.init``. An agent whose raylet died is
    re-parented elsewhere, but it still writes its logs into this driver's
    session directory (``/tmp/ray/session_<date>_<pid>``): it is found by
    its open files. Zombies (exited, not yet reaped) do not count.
    """
    psutil = _psutil()
    session = re.compile(rf"/session_[0-9_-]+_{os.getpid()}/")
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            name = process.name()
            cmdline = " ".join(process.cmdline())
            looks_like_ray = (
                name in _RAY_PROCESS_NAMES
                or name.startswith("ray::")
                or "/ray/" in cmdline
                or "ray::" in cmdline
            )
            if not looks_like_ray:
                continue
            if process.pid in children or any(
                session.search(f.path) for f in process.open_files()
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def ray_memory_mb() -> float:
    """Memory of this process's Ray processes together, MB.

    Proportional set size where the OS reports it (Linux: pages shared by
    several processes are split among them, so the sum is the real total),
    resident set size otherwise.
    """
    psutil = _psutil()
    total = 0
    for process in ray_processes():
        try:
            info = process.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


def can_start(min_available_mb: float = 700.0) -> tuple[bool, str]:
    """Whether a local Ray instance can start here, and why not.

    Checks that Ray is importable and that at least ``min_available_mb`` of
    memory is available (a local instance with two actors takes about
    0.5 GB). Notebooks print the reason in one line and skip their Ray cells.
    """
    try:
        require_ray("notebook 10")
    except ImportError as error:
        return False, str(error)
    psutil = _psutil()
    available = psutil.virtual_memory().available / 2**20
    limit = _cgroup_memory_left_mb()
    if limit is not None:
        available = min(available, limit)
    if available < min_available_mb:
        return False, (
            f"only {available:.0f} MB of memory is available and a local Ray "
            f"instance needs about {min_available_mb:.0f} MB"
        )
    return True, f"Ray can start ({available:.0f} MB of memory available)"


def _cgroup_memory_left_mb() -> float | None:
    """Memory left under this container's cgroup v2 limit (Binder), MB."""
    try:
        with open("/sys/fs/cgroup/memory.max") as limit_file:
            limit = limit_file.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as used_file:
            used = int(used_file.read().strip())
        return (int(limit) - used) / 2**20
    except (OSError, ValueError):
        return None


# =================================================================== errors
def worker_error(error: Exception, worker: int, n_workers: int) -> Exception:
    """A Ray error from actor ``worker``'s call as the course's ``WorkerError``:
    the actor's exception name and message, and Ray's text of it (which holds
    the actor's traceback) as ``traceback_text``."""
    from qlearn_lite.parallel import WorkerError  # torch: not for connect alone

    cause = getattr(error, "cause", None) or error
    return WorkerError(
        worker,
        n_workers,
        type(cause).__name__,
        str(cause).splitlines()[0] if str(cause) else "",
        str(error),
        executor="ray",
    )
