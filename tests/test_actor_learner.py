"""Tests of qlearn_lite.actor_learner: n-step transitions, the run, control, inputs."""

from __future__ import annotations

import faulthandler
import importlib.util
import math
import multiprocessing
import signal
import sys
import threading
import time

import gymnasium as gym
import numpy as np
import psutil
import pytest
import torch
from conftest import live_semlocks, new_shm_segments, shm_entries

from qlearn_lite.actor_learner import (
    ActorLearnerConfig,
    Chunk,
    actor_learner_dqn,
    steps_to_return,
)
from qlearn_lite.distributed.apex import ApexReplay, PrioritizedChunk, chunk_priorities
from qlearn_lite.envs import costly_env_fn
from qlearn_lite.parallel import ParallelResult, WorkerError

# Small runs: a few hundred env steps, a few dozen updates.
SMALL = ActorLearnerConfig(
    total_steps=600,
    learning_starts=200,
    buffer_size=2_000,
    eval_every=0,
    n_actors=2,
    timeout=60.0,
)


@pytest.fixture
def hang_guard():
    """Kill the test run (with every thread's stack) if a call hangs 3 minutes."""
    faulthandler.dump_traceback_later(180, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _no_children_left() -> list[str]:
    """Command lines of this process's children still alive after 5 s, except
    multiprocessing's resource tracker (one per parent, for its whole life)."""
    children = [
        child
        for child in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    _, alive = psutil.wait_procs(children, timeout=5)
    return [" ".join(child.cmdline()) for child in alive]


# ------------------------------------------------------------ env factories
class _FailingEnv(gym.Wrapper):
    """CartPole that raises on its 50th step."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.count = 0

    def step(self, action):
        self.count += 1
        if self.count == 50:
            raise RuntimeError("boom in the actor's env")
        return self.env.step(action)


def failing_cartpole() -> gym.Env:
    """A module-level (so picklable) factory of :class:`_FailingEnv`."""
    return _FailingEnv()


# ------------------------------------------------------------------ the run
def test_two_actor_processes_train_and_leave_nothing_behind(hang_guard):
    """2 actor processes x a few hundred steps: counts add up, no child, no segment."""
    shm_before, semlocks_before = shm_entries(), live_semlocks()
    result = actor_learner_dqn("CartPole-v1", SMALL, progress=False)
    assert result.executor == "processes" and result.design == "actor-learner"
    assert len(result.worker_steps) == 2 and min(result.worker_steps) > 0
    # The learner stops once it has received total_steps env steps, and keeps
    # the replay ratio exactly for what it received.
    assert result.global_steps >= SMALL.total_steps
    assert result.global_steps <= sum(result.worker_steps)
    expected = math.floor(
        SMALL.replay_ratio * (result.global_steps - SMALL.learning_starts)
    )
    assert result.updates == expected
    assert result.final_epsilons == pytest.approx([0.4, 0.4**8])
    assert result.lags.shape == (result.updates * SMALL.batch_size,)
    assert result.lags.min() >= 0 and result.lags.max() <= result.updates
    assert result.staleness["max"] == result.lags.max()
    assert result.extra["arrival_lags"].min() >= 0
    assert isinstance(result.q, torch.nn.Module)
    assert _no_children_left() == []
    assert multiprocessing.active_children() == []
    assert new_shm_segments(shm_before) == set()
    assert live_semlocks() - semlocks_before == set()


def test_threads_run_the_same_algorithm(hang_guard):
    """executor="threads": the same counts and ratio, in this process."""
    config = SMALL.replace(envs_per_actor=2)
    result = actor_learner_dqn("CartPole-v1", config, "threads", progress=False)
    assert result.executor == "threads"
    assert result.updates == math.floor(
        config.replay_ratio * (result.global_steps - config.learning_starts)
    )
    # Two envs per actor: every actor's count is a multiple of 2.
    assert all(steps % 2 == 0 and steps > 0 for steps in result.worker_steps)


def test_steps_to_return_reads_the_first_evaluation_at_the_threshold():
    """The env steps of the first greedy evaluation >= threshold, or None."""
    result = ParallelResult(
        q=None, design="actor-learner", n_workers=1, worker_steps=[6_000],
        worker_returns=[[]], global_steps=6_000, updates=0, wall_seconds=1.0,
        extra={
            "eval_steps": [2_000, 4_000, 6_000],
            "eval_seconds": [0.5, 1.0, 1.5],
            "eval_returns": [120.0, 475.0, 500.0],
        },
    )  # fmt: skip
    assert steps_to_return(result) == 4_000
    assert steps_to_return(result, threshold=490.0) == 6_000
    assert steps_to_return(result, threshold=501.0) is None
    with pytest.raises(TypeError, match="ParallelResult of actor_learner_dqn"):
        steps_to_return({"eval_steps": []})


def test_costly_env_factory_runs_in_processes(hang_guard):
    """costly_env_fn's partial is built inside spawned actors."""
    config = SMALL.replace(n_actors=1, total_steps=300, learning_starts=100)
    env = costly_env_fn("CartPole-v1", cpu_ms=0.2)
    result = actor_learner_dqn(env, config, progress=False)
    assert result.global_steps >= 300


def test_a_raising_actor_gives_worker_error_with_its_traceback(hang_guard):
    """An exception in an actor process reaches the caller as WorkerError."""
    config = SMALL.replace(total_steps=5_000)
    with pytest.raises(WorkerError) as caught:
        actor_learner_dqn(failing_cartpole, config, progress=False)
    assert "boom in the actor's env" in caught.value.traceback_text
    assert "step" in caught.value.traceback_text  # the child's frames
    assert caught.value.worker_id in (0, 1)
    assert _no_children_left() == []


def test_synchronous_mode_is_bit_reproducible(hang_guard):
    """One lock-stepped actor: the same seed gives the same weights, bit for bit,
    in a process and in a thread; another seed does not."""
    config = SMALL.replace(n_actors=1, synchronous=True, eval_every=300)
    in_process = actor_learner_dqn("CartPole-v1", config, progress=False)
    in_thread = actor_learner_dqn("CartPole-v1", config, "threads", progress=False)
    other_seed = actor_learner_dqn(
        "CartPole-v1", config.replace(seed=1), "threads", progress=False
    )
    weights = [
        torch.cat([p.detach().reshape(-1) for p in result.q.parameters()])
        for result in (in_process, in_thread, other_seed)
    ]
    assert in_process.updates == in_thread.updates > 0
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])
    np.testing.assert_array_equal(in_process.lags, in_thread.lags)
    assert in_process.extra["eval_returns"] == in_thread.extra["eval_returns"]
    assert in_process.worker_returns == in_thread.worker_returns
    assert in_process.worker_steps == in_thread.worker_steps


def test_ctrl_c_leaves_no_children(hang_guard):
    """SIGINT from a timer mid-run: KeyboardInterrupt, and no child after 5 s."""
    shm_before, semlocks_before = shm_entries(), live_semlocks()
    config = SMALL.replace(total_steps=10_000_000)
    timer = threading.Timer(4.0, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            actor_learner_dqn("CartPole-v1", config, progress=False)
    finally:
        timer.cancel()
    assert _no_children_left() == []
    assert new_shm_segments(shm_before) == set()
    assert live_semlocks() - semlocks_before == set()
    assert [t.name for t in threading.enumerate() if t.name == "learner"] == []


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"n_actors": 0}, ValueError, "n_actors must be an int >= 1, got 0"),
        ({"queue_size": 0}, ValueError, "queue_size must be an int >= 1, got 0"),
        ({"replay_ratio": 0.0}, ValueError, r"replay_ratio must be in \(0"),
        ({"replay_ratio": -1}, ValueError, r"replay_ratio must be in \(0"),
        ({"chunk_size": 8}, ValueError, "chunk_size must be an int >= 64, got 8"),
        ({"n_actors": 2.0}, TypeError, "n_actors must be an int"),
        ({"gamma": 1.5}, ValueError, "gamma must be in"),
        ({"synchronous": True}, ValueError, "needs n_actors=1, got n_actors=2"),
    ],
)
def test_bad_config_values_are_rejected(changes, error, words):
    """The config names the field, what was expected and what was given."""
    with pytest.raises(error, match=words):
        ActorLearnerConfig(**changes)


def test_an_env_without_discrete_actions_is_rejected():
    """Pendulum's Box actions: a TypeError saying a Discrete space is needed."""
    with pytest.raises(TypeError, match="Discrete action space"):
        actor_learner_dqn("Pendulum-v1", SMALL, progress=False)


def test_unpicklable_env_functions_are_rejected_for_processes():
    """A lambda or a notebook (__main__) function: TypeError, move it to a module."""
    with pytest.raises(TypeError, match="move it to a module"):
        actor_learner_dqn(lambda: gym.make("CartPole-v1"), SMALL, progress=False)

    def notebook_function():
        return gym.make("CartPole-v1")

    notebook_function.__module__ = "__main__"
    with pytest.raises(TypeError, match="move it to a module"):
        actor_learner_dqn(notebook_function, SMALL, progress=False)


def test_bad_executor_and_config_types():
    """The executor is one of three names; the config is an ActorLearnerConfig."""
    with pytest.raises(ValueError, match="'processes', 'threads', 'ray', got 'dask'"):
        actor_learner_dqn("CartPole-v1", SMALL, executor="dask")
    with pytest.raises(TypeError, match="ActorLearnerConfig, got dict"):
        actor_learner_dqn("CartPole-v1", {"n_actors": 2})


# -------------------------------------------------------------- Ape-X on Ray
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed")
# Ray sends 1,000 transitions per call: three chunks, 1,000 updates.
RAY_SMALL = SMALL.replace(
    total_steps=3_000, learning_starts=1_000, buffer_size=10_000, chunk_size=1_000
)


def _chunk(n: int, seed: int = 0) -> Chunk:
    rng = np.random.default_rng(seed)
    return Chunk(
        actor_id=0,
        obs=rng.normal(size=(n, 4)).astype(np.float32),
        actions=rng.integers(2, size=n),
        rewards=np.ones(n, dtype=np.float32),
        next_obs=rng.normal(size=(n, 4)).astype(np.float32),
        terminated=np.zeros(n, dtype=bool),
        discounts=np.full(n, 0.9**3, dtype=np.float32),
        versions=np.arange(n, dtype=np.int64),
        env_steps=n,
    )


def test_replay_actor_samples_by_priority_and_takes_new_ones():
    """ApexReplay (as a plain object): initial priorities decide the sampling,
    the n-step columns follow their slots, priority updates are recorded."""
    replay = ApexReplay(100, 4, alpha=1.0, beta_start=0.4, beta_steps=10, seed=0)
    chunk = _chunk(10)
    priorities = np.zeros(10)
    priorities[3] = 5.0  # all the others get only the buffer's eps
    assert replay.add(PrioritizedChunk(chunk, priorities, "a", 0.0, True)) == 10
    burst = replay.sample(batch_size=4, num_batches=3)
    assert burst["obs"].shape == (3, 4, 4) and burst["weights"].shape == (3, 4)
    assert set(burst["indices"].ravel()) == {3}
    np.testing.assert_array_equal(burst["versions"], burst["indices"])
    assert replay.stats()["changed_fraction"] == 0.0
    replay.update_priorities(np.array([3, 4]), np.array([0.0, 5.0]))
    stats = replay.stats()
    assert stats["priority_updates"] == 2 and stats["changed_fraction"] == 0.2
    assert set(replay.sample(4, 1)["indices"].ravel()) == {4}


def test_chunk_priorities_are_absolute_td_errors():
    """A network that predicts 0 everywhere: |delta| is the n-step reward."""
    net = torch.nn.Linear(4, 2)
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.zeros_(net.bias)
    np.testing.assert_allclose(chunk_priorities(net, _chunk(5), 0.9), np.ones(5))


@pytest.mark.parametrize(
    ("config", "kwargs", "error", "words"),
    [
        (SMALL, {}, ValueError, "chunk_size must be >= 1000 for executor='ray'"),
        (
            RAY_SMALL.replace(buffer_size=500),
            {},
            ValueError,
            "buffer_size must hold at least one chunk",
        ),
        (
            RAY_SMALL.replace(n_actors=1, synchronous=True),
            {},
            ValueError,
            "reproducible only statistically",
        ),
        (RAY_SMALL, {"fault_actor": 2}, ValueError, "fault_actor must be an actor"),
        (RAY_SMALL, {"fault_at_step": -1}, ValueError, "fault_at_step must be"),
        (RAY_SMALL, {"max_restarts": -1}, ValueError, "max_restarts must be"),
    ],
)
def test_bad_ray_input_is_refused_before_ray_starts(config, kwargs, error, words):
    """Ray's own limits name the argument, what is expected and what was given."""
    with pytest.raises(error, match=words):
        actor_learner_dqn("CartPole-v1", config, "ray", progress=False, **kwargs)


def test_ray_only_arguments_and_lambdas_are_refused():
    """address/fault_at_step need executor='ray'; Ray imports env functions too."""
    with pytest.raises(ValueError, match="apply to executor='ray' only"):
        actor_learner_dqn("CartPole-v1", SMALL, address="auto", progress=False)
    with pytest.raises(TypeError, match="move it to a module"):
        actor_learner_dqn(
            lambda: gym.make("CartPole-v1"), RAY_SMALL, "ray", progress=False
        )


def _live_ray_actors(seconds: float = 15.0) -> list[str]:
    """Class names of this session's Ray actors not yet dead, after waiting up
    to ``seconds`` (``ray.kill`` is asynchronous). Read from Ray's GCS table:
    the state API needs the dashboard, which the course does not start."""
    import ray

    deadline = time.monotonic() + seconds
    while True:
        alive = [
            actor["ActorClassName"]
            for actor in ray._private.state.actors().values()
            if actor["State"] != "DEAD"
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@needs_ray
def test_ray_run_trains_writes_priorities_back_and_ends_its_actors(ray_connection):
    """Two Ray actors, one replay actor: counts, ratio, lags, priorities, cleanup."""
    result = actor_learner_dqn("CartPole-v1", RAY_SMALL, "ray", progress=False)
    assert result.executor == "ray" and result.design == "actor-learner"
    assert result.global_steps >= RAY_SMALL.total_steps
    assert sum(result.worker_steps) == result.global_steps
    assert result.updates == math.floor(
        RAY_SMALL.replay_ratio * (result.global_steps - RAY_SMALL.learning_starts)
    )
    assert result.final_epsilons == pytest.approx([0.4, 0.4**8])
    assert result.lags.shape == (result.updates * RAY_SMALL.batch_size,)
    assert result.lags.min() >= 0 and result.lags.max() <= result.updates
    assert result.staleness["max"] == result.lags.max() > 0
    assert result.extra["arrival_lags"].size == 1_000 * result.extra["chunks"]
    replay = result.extra["replay"]
    assert replay["size"] == 1_000 * result.extra["chunks"]
    assert replay["priority_updates"] == result.updates * RAY_SMALL.batch_size
    assert replay["changed_fraction"] > 0.5  # the learner's |delta| arrived
    assert replay["beta"] == pytest.approx(1.0)  # annealed over the run
    assert result.extra["restarts"] == 0
    assert result.extra["nodes_used"] == 1
    assert _live_ray_actors() == []


@needs_ray
def test_a_killed_ray_actor_is_restarted_and_training_completes(ray_connection):
    """ray.kill(no_restart=False) after the first chunk: one restart, a full run."""
    config = RAY_SMALL.replace(total_steps=4_000)
    result = actor_learner_dqn(
        "CartPole-v1", config, "ray", progress=False, fault_at_step=1_000
    )
    assert result.extra["faults"] == 1 and result.extra["restarts"] == 1
    assert result.global_steps >= config.total_steps
    assert result.updates == math.floor(
        config.replay_ratio * (result.global_steps - config.learning_starts)
    )
    assert _live_ray_actors() == []


@needs_ray
def test_a_raising_ray_actor_gives_worker_error(ray_connection):
    """An exception in an actor's env: WorkerError with its traceback, no retry."""
    import ray

    # Ray's workers cannot import this test module by name: send its code.
    module = sys.modules[failing_cartpole.__module__]
    ray.cloudpickle.register_pickle_by_value(module)
    try:
        with pytest.raises(WorkerError) as caught:
            actor_learner_dqn(failing_cartpole, RAY_SMALL, "ray", progress=False)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(module)
    assert "boom in the actor's env" in caught.value.traceback_text
    assert caught.value.worker_id in (0, 1) and caught.value.executor == "ray"
    assert _live_ray_actors() == []
