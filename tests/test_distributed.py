"""Tests for qlearn_lite.distributed: connecting to Ray and the sharded Q-table.

The Ray tests share one local instance (the ``ray_local`` fixture in
conftest.py); one test starts a two-node ``ray.cluster_utils.Cluster`` of its
own. Pure parts (shard bounds, the sampler, the serial reference) run without
Ray.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types

import gymnasium as gym
import numpy as np
import pytest

from qlearn_lite.distributed import (
    connect,
    serial_sharded_q_learning,
    shard_bounds,
    sharded_q_learning,
)
from qlearn_lite.distributed.sharded import TransitionSampler, worker_shards
from qlearn_lite.tabular import transition_table

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed")

# 4x4 slippery FrozenLake, gamma 0.95: 64 state-action pairs per sweep.
SMALL = {"total_updates": 64 * 300, "gamma": 0.95, "seed": 0}


def make_frozen_lake() -> gym.Env:
    """A module-level env factory (importable by Ray workers)."""
    return gym.make("FrozenLake-v1", map_name="4x4")


def make_cartpole() -> gym.Env:
    """A factory of an env with a Box observation space."""
    return gym.make("CartPole-v1")


def run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh Python (e.g. another Ray driver); return its stdout."""
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# ============================================================ without Ray
def test_import_without_ray_is_lazy():
    """Importing qlearn_lite.distributed does not import Ray."""
    code = (
        "import sys, qlearn_lite, qlearn_lite.distributed, qlearn_lite.replay; "
        "print('ray' in sys.modules)"
    )
    assert run_python(code).strip() == "False"


def test_sharded_workers_do_not_import_torch():
    """The tabular side (shards, workers, the parallel core) imports without
    torch, so each of its Ray actors starts in a fraction of a second."""
    code = (
        "import sys, qlearn_lite.distributed.sharded, qlearn_lite.parallel; "
        "print('torch' in sys.modules)"
    )
    assert run_python(code).strip() == "False"


def test_slow_start_hint_names_rfc3987_syntax(monkeypatch):
    """The hint appears exactly when rfc3987-syntax can be imported."""
    from qlearn_lite.distributed import slow_start_hint

    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "rfc3987_syntax":
            return present
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    present = None
    assert slow_start_hint() is None
    present = importlib.util.spec_from_loader("rfc3987_syntax", loader=None)
    hint = slow_start_hint()
    assert hint is not None
    assert "rfc3987-syntax" in hint and "jsonschema<4.25" in hint


@needs_ray
def test_the_pinned_jsonschema_keeps_ray_processes_light():
    """With constraints.txt's jsonschema, Ray's import skips rfc3987-syntax."""
    code = "import sys, ray; print('rfc3987_syntax' in sys.modules)"
    assert run_python(code).strip() == "False"


def test_missing_ray_gives_install_hint():
    """Without Ray, connect() raises ImportError naming the pip extra."""
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from qlearn_lite.distributed import connect\n"
        "try:\n    connect()\nexcept ImportError as e:\n    print(e)"
    )
    assert 'pip install "qlearn-lite[ray]"' in run_python(code)


def test_shard_bounds_split_states_contiguously():
    """Blocks are contiguous, cover every state once, sizes differ by <= 1."""
    np.testing.assert_array_equal(shard_bounds(16, 3), [0, 6, 11, 16])
    np.testing.assert_array_equal(shard_bounds(16, 16), np.arange(17))
    assert worker_shards(5, 2) == [[0, 2, 4], [1, 3]]


def test_sampler_matches_transition_probabilities():
    """Sampled outcomes of one (s, a) follow P(s' | s, a) (chi-square < 0.1%)."""
    env = gym.make("FrozenLake-v1")
    table = transition_table(env)
    sampler = TransitionSampler.from_table(table)
    state_action = 6 * 4 + 1  # state 6, action 1: three outcomes of 1/3
    entries = sampler.sample(np.full(30_000, state_action), np.random.default_rng(0))
    first, count = sampler.first[state_action], sampler.count[state_action]
    assert count == 3 and entries.min() == first and entries.max() == first + 2
    counts = np.bincount(entries - first, minlength=3)
    expected = 30_000 * table.prob[first : first + 3]
    assert ((counts - expected) ** 2 / expected).sum() < 13.816  # df 2, 0.1%


def test_serial_reference_converges_to_q_star():
    """The serial sampled sweeps get within 0.1 of Q* on 4x4 FrozenLake."""
    result = serial_sharded_q_learning(n_shards=1, **SMALL)
    errors = result.extra["max_abs_error"]
    assert errors[0] > 2 * errors[-1]  # it learned
    assert errors[-1] < 0.1
    assert result.updates == 64 * 300
    assert result.executor == "serial" and result.design == "sharded"


def test_serial_staleness_is_refresh_every():
    """With refresh_every = 4, each refreshed copy was 4 owner sweeps behind."""
    result = serial_sharded_q_learning(n_shards=4, refresh_every=4, **SMALL)
    lags = result.lags[result.lags > 0]
    assert set(lags.tolist()) == {4}
    assert result.extra["final_max_abs_error"] < 0.15


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_shards": 17}, ValueError, "n_shards must be <= the number of states"),
        ({"n_shards": 0}, ValueError, "n_shards"),
        ({"n_shards": 2, "n_workers": 3}, ValueError, "n_workers must be <="),
        ({"refresh_every": 0}, ValueError, "refresh_every"),
        ({"refresh_every": 1.5}, TypeError, "refresh_every"),
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"gamma": 1.0}, ValueError, "gamma"),
        ({"total_updates": 0}, ValueError, "total_updates"),
        ({"env_id_or_fn": "CartPole-v1"}, TypeError, "Discrete"),
        ({"env_id_or_fn": make_cartpole}, TypeError, "Discrete"),
        ({"env_id_or_fn": lambda: None}, TypeError, "importable"),
        ({"env_id_or_fn": 3}, TypeError, "env_id_or_fn"),
    ],
)
def test_bad_input_is_refused_before_ray_starts(kwargs, error, match):
    """Bad arguments raise a clear error naming the argument (no Ray needed)."""
    arguments = {"n_shards": 2, **SMALL, **kwargs}
    with pytest.raises(error, match=match):
        serial_sharded_q_learning(**arguments)
    if HAS_RAY:  # the Ray learner checks before it connects
        with pytest.raises(error, match=match):
            sharded_q_learning(**arguments, address="127.0.0.1:1")


def test_bad_mode_and_address():
    """An unknown mode and a malformed address are refused."""
    with pytest.raises(ValueError, match="mode"):
        sharded_q_learning(mode="fast")
    with pytest.raises(ValueError, match="host:port"):
        connect("no-port-here")


@needs_ray
def test_unreachable_address_fails_fast():
    """An address nobody listens at raises ConnectionError within the timeout."""
    from qlearn_lite.distributed import current

    if current() is not None:
        pytest.skip("already connected to a cluster in this session")
    # Only the socket probe says "no Ray cluster answers"; ray.init itself
    # would retry for a minute or more.
    with pytest.raises(ConnectionError, match="no Ray cluster answers"):
        connect("127.0.0.1:1", timeout=2)
    with pytest.raises(ConnectionError, match="no Ray cluster answers"):
        sharded_q_learning(n_shards=2, **SMALL, address="127.0.0.1:1")


def test_non_ray_server_is_recognised():
    """Something listening that does not speak gRPC is not taken for Ray."""
    import socket

    from qlearn_lite.distributed.cluster import _probe

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with pytest.raises(ConnectionError, match="not a Ray cluster"):
            _probe(f"127.0.0.1:{port}", timeout=0.5)


# ==================================================== a stand-in for Ray
class _FakeRayError(RuntimeError):
    """What a failed call raises from the fake's get (Ray: RayTaskError)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class _Ref:
    """An ObjectRef whose call already ran (the fake runs every call at once)."""

    def __init__(self, function, args) -> None:
        try:
            self.value, self.error = function(*args), None
        except Exception as error:  # noqa: BLE001 - handed back by get
            self.value, self.error = None, error


class _Handle:
    """An actor handle: ``handle.method.remote(*args)`` runs the method now."""

    def __init__(self, instance) -> None:
        self._instance = instance

    def __getattr__(self, name):
        method = getattr(self._instance, name)
        return types.SimpleNamespace(remote=lambda *args: _Ref(method, args))


class FakeRay(types.ModuleType):
    """Just enough of Ray's API, run in this process, one call at a time.

    Calls execute when submitted, so the synchronous mode's two barriers are
    what keep its semantics; the asynchronous mode runs in submission order.
    """

    def __init__(self) -> None:
        super().__init__("ray")
        self.exceptions = types.SimpleNamespace(
            RayError=_FakeRayError, GetTimeoutError=TimeoutError
        )
        self.killed = 0

    def remote(self, **options):
        def wrap(cls):
            def create(*args):
                return _Handle(
                    cls(*[self.get(a) if isinstance(a, _Ref) else a for a in args])
                )

            return types.SimpleNamespace(remote=create)

        return wrap

    def put(self, value):
        return _Ref(lambda: value, ())

    def get(self, refs, timeout=None):
        if isinstance(refs, list):
            return [self.get(ref) for ref in refs]
        if refs.error is not None:
            raise _FakeRayError(refs.error)
        return refs.value

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def kill(self, actor):
        self.killed += 1

    def is_initialized(self):
        return True

    def get_runtime_context(self):
        return types.SimpleNamespace(get_node_id=lambda: "fake-node")


@pytest.fixture
def fake_ray(monkeypatch):
    """Ray replaced by :class:`FakeRay` for the learner's code paths."""
    from qlearn_lite.distributed import cluster

    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(cluster, "require_ray", lambda what="": fake)
    connection = cluster.RayConnection(
        "fake:1", True, 1, 2.0, 1e9, 1.5e8, 0.0, "x", "token"
    )
    monkeypatch.setattr(cluster, "connect", lambda *args, **kwargs: connection)
    return fake


@pytest.mark.parametrize(
    ("n_shards", "n_workers", "refresh_every"), [(4, 2, 4), (3, 3, 1), (5, 2, 7)]
)
def test_sync_driver_equals_the_serial_reference(
    fake_ray, n_shards, n_workers, refresh_every
):
    """The synchronous driver and actors compute exactly the serial table."""
    arguments = {
        "n_shards": n_shards,
        "n_workers": n_workers,
        "refresh_every": refresh_every,
        **SMALL,
    }
    remote = sharded_q_learning(**arguments, mode="sync")
    local = serial_sharded_q_learning(**arguments)
    np.testing.assert_array_equal(remote.q, local.q)
    np.testing.assert_array_equal(remote.lags, local.lags)
    assert remote.updates == local.updates == 64 * 300
    assert remote.extra["max_abs_error"] == local.extra["max_abs_error"]
    assert fake_ray.killed == n_shards + n_workers  # every actor is ended


def test_async_driver_converges_and_counts(fake_ray):
    """The ray.wait loop runs every call and the table gets close to Q*."""
    result = sharded_q_learning(n_shards=4, n_workers=2, refresh_every=4, **SMALL)
    assert result.updates == 64 * 300
    assert result.worker_steps == [32 * 300, 32 * 300]
    assert result.extra["calls"] == 2 * 300 // 4
    assert result.extra["final_max_abs_error"] < 0.15
    assert set(result.extra["placement"]) == {
        "shard 0",
        "shard 1",
        "shard 2",
        "shard 3",
        "worker 0",
        "worker 1",
    }


def test_a_failing_worker_raises_worker_error(fake_ray, monkeypatch):
    """An exception inside a worker's call comes back as WorkerError; actors end."""
    from qlearn_lite.distributed import sharded
    from qlearn_lite.parallel import WorkerError

    def broken_sweep(self):
        raise FloatingPointError("the table overflowed")

    monkeypatch.setattr(sharded.BlockLearner, "sweep", broken_sweep)
    for mode in ("sync", "async"):
        with pytest.raises(
            WorkerError, match="FloatingPointError: the table overflowed"
        ):
            sharded_q_learning(n_shards=2, **SMALL, mode=mode)
    assert fake_ray.killed == 2 * 4


# =============================================================== with Ray
def test_connect_local(ray_connection):
    """The local instance has the limits asked for and Ray processes to show."""
    from qlearn_lite.distributed import ray_memory_mb, ray_processes

    assert ray_connection.started_here
    assert ray_connection.nodes == 1 and ray_connection.cpus == 2
    assert ray_connection.object_store_bytes == pytest.approx(150 * 2**20, rel=0.01)
    names = {process.name() for process in ray_processes()}
    assert {"raylet", "gcs_server"} <= names
    assert 100 < ray_memory_mb() < 4000
    again = connect(verbose=False)  # connected already: the same connection
    assert again.address == ray_connection.address


def test_connect_by_address_and_ray_address(ray_connection):
    """A second driver joins the running instance by RAY_ADDRESS and by address."""
    code = (
        "from qlearn_lite.distributed import connect, shutdown\n"
        "first = connect(verbose=False)\n"
        "print(first.started_here, first.nodes, first.cpus, first.address)\n"
        "shutdown()\n"
        f"second = connect({ray_connection.address!r}, verbose=False)\n"
        "print(second.started_here, second.address)\n"
        "shutdown()\n"
    )
    lines = run_python(code, RAY_ADDRESS=ray_connection.address).splitlines()
    assert lines[-2] == f"False 1 2.0 {ray_connection.address}"
    assert lines[-1] == f"False {ray_connection.address}"
    # The joined drivers left; the instance still serves this one.
    import ray

    assert ray.get(ray.put(41)) + 1 == 42


def test_sync_mode_equals_the_serial_reference(ray_connection):
    """Ray's synchronous parameter server computes exactly the serial table."""
    arguments = {"n_shards": 4, "n_workers": 2, "refresh_every": 4, **SMALL}
    remote = sharded_q_learning(**arguments, mode="sync")
    local = serial_sharded_q_learning(**arguments)
    np.testing.assert_array_equal(remote.q, local.q)
    assert remote.updates == local.updates == 64 * 300
    np.testing.assert_array_equal(remote.lags, local.lags)
    assert remote.executor == "ray" and remote.design == "sharded"
    assert remote.extra["nodes_used"] == 1


def test_async_mode_gets_close_to_q_star(ray_connection):
    """Asynchronous workers with stale copies still get within 0.15 of Q*."""
    result = sharded_q_learning(
        make_frozen_lake, n_shards=4, n_workers=2, refresh_every=4, **SMALL
    )
    errors = result.extra["max_abs_error"]
    assert errors[0] > 2 * errors[-1]
    assert result.extra["final_max_abs_error"] < 0.15
    assert np.all(np.diff(result.extra["error_updates"]) > 0)
    assert np.all(np.diff(result.extra["error_seconds"]) >= 0)
    assert result.updates == 64 * 300
    assert result.worker_steps == [32 * 300, 32 * 300]
    assert result.staleness["max"] >= 4  # a copy is at least one call behind
    assert result.q.shape == (16, 4)


TWO_NODES = """
import json
from ray.cluster_utils import Cluster
from qlearn_lite.distributed import connect, sharded_q_learning, shutdown

try:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20},
    )
    cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
except Exception as error:  # Ray's start-up deadline on a busy machine
    if "timed out during startup" not in str(error):
        raise
    print(json.dumps({"skip": str(error)}))
    raise SystemExit(0)
try:
    info = connect(cluster.address, verbose=False)
    result = sharded_q_learning(
        n_shards=2, n_workers=2, refresh_every=4, total_updates=64 * 200,
        seed=0, address=cluster.address,
    )
    print(json.dumps({
        "nodes": info.nodes, "cpus": info.cpus, "started_here": info.started_here,
        "placement": result.extra["placement"],
        "node_ids": info.node_ids,
        "error": result.extra["final_max_abs_error"],
    }))
finally:
    shutdown()
    cluster.shutdown()
"""


@needs_ray
def test_two_node_cluster_places_workers_on_both_nodes():
    """On a two-node Cluster the two workers land on different nodes and the
    result comes back (a separate driver process: its own cluster)."""
    import json

    report = json.loads(run_python(TWO_NODES).splitlines()[-1])
    if "skip" in report:
        pytest.skip(f"the two-node cluster did not start: {report['skip']}")
    assert report["nodes"] == 2 and report["cpus"] == 2
    assert not report["started_here"]
    placement = report["placement"]
    workers = {placement["worker 0"], placement["worker 1"]}
    assert workers == set(report["node_ids"])  # one CPU each: one per node
    assert report["error"] < 0.3


def test_shutdown_leaves_no_ray_process(ray_connection):
    """shutdown() stops every process of the local instance (runs last)."""
    from qlearn_lite.distributed import current, ray_processes, shutdown

    assert ray_processes()
    assert shutdown() == 0  # nothing had to be killed
    assert ray_processes() == []
    assert current() is None
    assert shutdown() == 0  # a second call is harmless
