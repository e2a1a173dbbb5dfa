"""Tests of qlearn_lite.scaling: every executor on a tiny budget, the model, inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlearn_lite import scaling
from qlearn_lite import vectorized_dqn as vectorized_module
from qlearn_lite.scaling import (
    EXECUTORS,
    ExecutorUnavailable,
    ScalingModel,
    StepCosts,
    Task,
    executor_status,
    fit_step_costs,
    run,
    step_costs_from_run,
    synthetic_step_cost_samples,
)

# A few hundred env steps, a few hundred updates: seconds per executor.
TINY = {
    "budget": 400,
    "learning_starts": 200,
    "eval_every": 0,
    "eval_episodes": 2,
    "fresh_episodes": 2,
    "n_workers": 2,
    "num_envs": 16,
}
STATUS = executor_status()


RAY_STARTUP_MISSED = "timed out during startup"  # Ray's words on a busy machine


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    """One tiny run per available executor (shared by the tests below).

    A Ray executor whose local instance or two-node cluster missed Ray's own
    start-up deadline (a busy machine) is kept as the error, and its tests
    skip with it; any other error fails them.
    """
    runs: dict[str, object] = {}
    for name, why in STATUS.items():
        if why is not None:
            continue
        try:
            runs[name] = run(name, "CartPole-v1", seed=3, **TINY)
        except RuntimeError as error:
            if not (name.startswith("ray") and RAY_STARTUP_MISSED in str(error)):
                raise
            runs[name] = error
    return runs


def _result(results: dict, executor: str):
    if STATUS[executor] is not None:
        pytest.skip(f"{executor} is not available here: {STATUS[executor]}")
    if isinstance(results[executor], RuntimeError):
        pytest.skip(f"Ray did not start in time: {results[executor]}")
    return results[executor]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_every_executor_fills_consistent_fields(results, executor):
    """Steps, updates, ratios, clocks, memory and notes agree with each other."""
    result = _result(results, executor)
    extra = result.extra
    assert result.executor == executor
    assert len(result.worker_steps) == result.n_workers
    assert result.env_steps == sum(result.worker_steps)
    assert TINY["budget"] <= result.global_steps <= result.env_steps
    assert result.updates > 0
    assert result.replay_ratio == pytest.approx(result.updates / result.env_steps)
    assert result.steps_per_second == pytest.approx(
        result.env_steps / result.wall_seconds
    )
    assert result.updates_per_second == pytest.approx(
        result.updates / result.wall_seconds
    )
    after_start = result.global_steps - TINY["learning_starts"]
    assert extra["replay_ratio_after_start"] == pytest.approx(
        result.updates / after_start
    )
    assert extra["received_steps_per_second"] == pytest.approx(
        result.global_steps / result.wall_seconds
    )
    assert extra["replay_ratio_target"] == 0.5
    assert 0.0 < extra["cpu_utilisation"] <= 1.05
    assert extra["peak_memory_mb"] > 50  # a Python with torch is ~300 MB
    assert result.startup_seconds >= 0.0
    assert extra["call_seconds"] >= result.wall_seconds
    assert extra["fresh_seed"] != extra["stop_seed"]
    assert len(extra["fresh_returns"]) == TINY["fresh_episodes"]
    assert extra["fresh_return"] == pytest.approx(np.mean(extra["fresh_returns"]))
    assert extra["fresh_return"] >= 8  # CartPole's shortest episode
    # Nothing reached 475 in 400 steps, so there is no time to threshold.
    assert extra["time_to_threshold_s"] is None
    assert isinstance(extra["notes"], list)


def test_serial_keeps_its_bursts_and_zero_lag(results):
    """Serial: 128 updates at steps 256 (and no more by 400), lag 0, one worker."""
    result = _result(results, "serial")
    assert result.env_steps == result.global_steps == TINY["budget"]
    assert result.updates == 128  # one burst, at step 256
    assert result.n_workers == 1
    assert result.extra["policy_lag"]["max"] == 0.0
    assert result.extra["sample_age"] is None
    assert any("serial runs one actor" in note for note in result.extra["notes"])


@pytest.mark.parametrize("executor", ["threads", "processes", "ray", "ray-cluster"])
def test_actor_learner_keeps_the_ratio_on_what_it_received(results, executor):
    """updates == floor(0.5 x (received - learning_starts)); lags are recorded."""
    result = _result(results, executor)
    expected = math.floor(0.5 * (result.global_steps - TINY["learning_starts"]))
    assert result.updates == expected
    assert result.extra["replay_ratio_kept"] is True
    assert result.n_workers == TINY["n_workers"]
    lag, age = result.extra["policy_lag"], result.extra["sample_age"]
    assert 0.0 <= lag["mean"] <= lag["max"]
    assert 0.0 <= age["mean"] <= age["max"] <= result.updates
    fraction = 1 - result.global_steps / result.env_steps
    assert result.extra["untrained_fraction"] == pytest.approx(fraction)


def test_vectorized_keeps_the_ratio_per_vector_step(results):
    """updates == (vector steps after learning_starts) x 0.5 x num_envs."""
    result = _result(results, "vectorized")
    num_envs = TINY["num_envs"]
    vector_steps = result.global_steps // num_envs
    start = math.ceil(TINY["learning_starts"] / num_envs)
    assert result.updates == (vector_steps - start) * num_envs // 2
    assert result.extra["replay_ratio_kept"] is True


def test_vectorized_runs_in_one_thread_on_the_cpu(results):
    """On a CPU the harness runs the one-thread loop (an actor thread is slower
    there), and its notes say so."""
    result = _result(results, "vectorized")
    assert result.design == "serial"
    assert result.staleness is None
    assert result.extra["policy_lag"]["max"] == 0  # it acts with its learner's net
    assert any("one thread" in note for note in result.extra["notes"])


@pytest.mark.parametrize(("executor", "nodes"), [("ray", 1), ("ray-cluster", 2)])
def test_ray_executors_send_1000_per_call_on_their_nodes(results, executor, nodes):
    """Ray raises the chunk to 1,000 transitions (and says so); the cluster run
    puts its two actors on its two nodes."""
    result = _result(results, executor)
    assert result.extra["config"].chunk_size == 1_000
    assert any("1,000 transitions per call" in n for n in result.extra["notes"])
    assert result.extra["nodes_used"] == nodes
    assert result.extra["replay"]["priority_updates"] == 64 * result.updates


@pytest.mark.parametrize("executor", ["ray", "ray-cluster"])
def test_ray_executors_run_or_say_why_not(results, executor):
    """Where Ray is missing, run raises ExecutorUnavailable with the reason."""
    if STATUS[executor] is None:
        assert _result(results, executor).executor == executor
        return
    assert STATUS[executor]  # a reason, in words
    with pytest.raises(ExecutorUnavailable, match="Ray|distributed"):
        run(executor, budget=10)


def test_env_cost_reaches_the_serial_env():
    """A 1 ms CPU cost per step costs at least 1 ms of CPU per step."""
    task = Task("CartPole-v1", cpu_ms=1.0)
    result = run("serial", task, budget=120, learning_starts=120, eval_every=0)
    assert result.cpu_seconds >= 120 * 1e-3
    assert result.extra["task"] is task


def test_env_cost_reaches_the_vectorized_envs_and_is_undone():
    """Each vector step pays the cost once per env; the module is restored."""
    original = vectorized_module.TorchCartPole
    task = Task("CartPole-v1", cpu_ms=0.5)
    result = run(
        "vectorized", task, budget=160, learning_starts=160, num_envs=8, eval_every=0
    )
    assert vectorized_module.TorchCartPole is original
    assert result.cpu_seconds >= 160 * 0.5e-3
    assert any("once per env" in note for note in result.extra["notes"])


# ===================================================================== model
COSTS = StepCosts(
    actor_step=1e-3,
    message_fixed=2e-4,
    message_per_transition=1e-6,
    update=4e-4,
    weight_sync=5e-5,
)


def test_fit_recovers_known_costs_from_synthetic_timings():
    """Medians and the message line recover every cost within 5 %."""
    samples = synthetic_step_cost_samples(COSTS, noise=0.03, repeats=15, seed=1)
    fitted = fit_step_costs(samples)
    for name in (
        "actor_step",
        "message_fixed",
        "message_per_transition",
        "update",
        "weight_sync",
    ):
        assert getattr(fitted, name) == pytest.approx(getattr(COSTS, name), rel=0.05)


def test_model_saturates_at_the_learner():
    """Actors scale linearly until k*, then the learner's rate caps them."""
    model = ScalingModel(COSTS, replay_ratio=0.5, chunk_size=64, sync_every=64)
    per_actor = 1e-3 + 2e-4 / 64 + 1e-6 + 5e-5 / 64
    learner = 1 / (0.5 * 4e-4 + 2e-4 / 64 + 1e-6 + 5e-5 / 64)
    assert model.actor_rate(1) == pytest.approx(1 / per_actor)
    assert model.learner_rate() == pytest.approx(learner)
    saturation = model.saturation_actors()
    assert saturation == pytest.approx(learner * per_actor)
    assert model.steps_per_second(2) == pytest.approx(2 / per_actor)
    assert model.bottleneck(2) == "actors"
    assert model.bottleneck(math.ceil(saturation)) == "learner"
    assert model.steps_per_second(512) == pytest.approx(learner)
    rows = model.table((8, 512))
    assert [row[0] for row in rows] == [8, 512]


def test_model_cores_bound_a_small_machine():
    """On 2 cores the CPU per step caps throughput below the actors' rate."""
    model = ScalingModel(COSTS, cores=2)
    per_step_cpu = 1e-3 + 2 * (2e-4 / 64 + 1e-6) + 0.5 * 4e-4 + 2 * 5e-5 / 64
    assert model.core_rate() == pytest.approx(2 / per_step_cpu)
    assert model.steps_per_second(8) == pytest.approx(2 / per_step_cpu)
    assert model.bottleneck(8) == "cores"
    assert model.serial_steps_per_second() == pytest.approx(1 / (1e-3 + 0.5 * 4e-4))


def test_model_over_a_budget_pays_the_first_chunks_fill():
    """A run of B steps (in whole chunks) takes the fill (one chunk at one
    actor's step time) plus B at the steady rate; a long budget tends to the
    steady rate."""
    model = ScalingModel(COSTS, replay_ratio=0.5, chunk_size=1_000, cores=2)
    fill = 1_000 / model.actor_rate(1)
    assert model.fill_seconds() == pytest.approx(fill)
    steady = model.steps_per_second(2)
    assert model.run_steps_per_second(2, 3_000) == pytest.approx(
        3_000 / (fill + 3_000 / steady)
    )
    assert model.run_steps_per_second(2, 3_000) < 0.8 * steady
    # A budget below one chunk still receives the whole first chunk.
    assert model.run_steps_per_second(2, 400) == pytest.approx(
        1_000 / (fill + 1_000 / steady)
    )
    assert model.run_steps_per_second(2, 2_500) == pytest.approx(
        model.run_steps_per_second(2, 3_000)
    )
    assert model.run_steps_per_second(2, 10**9) == pytest.approx(steady, rel=1e-5)
    with pytest.raises(ValueError, match="budget"):
        model.run_steps_per_second(2, 0)


@pytest.mark.parametrize("executor", ["threads", "processes", "ray"])
def test_step_costs_from_a_run_are_its_cpu_per_step(results, executor):
    """In-run costs: the actors' CPU per env step, the learner's per update,
    messages and syncs inside them (0)."""
    result = _result(results, executor)
    costs = step_costs_from_run(result)
    reports = result.extra["actor_reports"]
    steps = sum(report.env_steps for report in reports)
    assert costs.actor_step == pytest.approx(
        sum(report.cpu_seconds for report in reports) / steps
    )
    assert costs.update == pytest.approx(
        result.extra["learner_cpu_seconds"] / result.updates
    )
    assert costs.actor_step > 0 and costs.update > 0
    assert costs.message(64) == 0 and costs.weight_sync == 0
    model = ScalingModel(costs, replay_ratio=0.5, cores=2)
    assert model.core_rate() == pytest.approx(
        2 / (costs.actor_step + 0.5 * costs.update)
    )


@pytest.mark.parametrize("executor", ["threads", "processes", "ray", "ray-cluster"])
def test_cpu_of_the_call_includes_every_actor(results, executor):
    """The call's CPU count holds what the actors and the learner reported,
    wherever they ran: threads here, spawned processes, Ray's workers."""
    result = _result(results, executor)
    extra = result.extra
    actors = sum(report.cpu_seconds for report in extra["actor_reports"])
    assert actors > 0
    assert extra["cpu_seconds_all"] >= 0.95 * (actors + extra["learner_cpu_seconds"])


def test_tree_cpu_counts_a_grandchild_its_parent_reaped():
    """A grandchild that burned CPU and was reaped by a child still running
    is counted; getrusage of this process alone would not see it."""
    import subprocess
    import sys

    burn = (
        "import time\nt = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass"
    )
    parent_code = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
        "print('done', flush=True)\n"
        "time.sleep(30)\n"
    )
    with scaling.ProcessTreeMonitor() as monitor:
        child = subprocess.Popen(
            [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout.readline().strip() == "done"
        finally:
            child.kill()
            child.wait()
    # The grandchild's 0.3 s and two interpreters' start, counted once.
    assert 0.3 <= monitor.cpu_seconds < 0.3 + 2.0
    assert monitor.peak_bytes > 10 * 2**20


def test_step_costs_from_run_needs_an_actor_learner_run(results):
    with pytest.raises(TypeError, match="ParallelResult"):
        step_costs_from_run({"extra": {}})
    serial = _result(results, "serial")
    with pytest.raises(ValueError, match="actor-learner run.*'serial'"):
        step_costs_from_run(serial)


def test_measured_costs_are_positive_and_fit():
    """A small measurement on this machine gives positive, fittable costs."""
    samples = scaling.measure_step_costs(
        repeats=2, steps_per_block=20, updates_per_block=5, sizes=(64, 512)
    )
    costs = fit_step_costs(samples)
    assert costs.actor_step > 0 and costs.update > 0 and costs.weight_sync > 0
    assert costs.message(64) > 0


# ================================================================ bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"executor": "gpu-cluster"}, ValueError, "executor must be one of"),
        ({"executor": "serial", "budget": 0}, ValueError, "budget"),
        ({"executor": "serial", "budget": 2.5}, TypeError, "budget"),
        ({"executor": "serial", "task": 3}, TypeError, "task must be"),
        ({"executor": "serial", "task": "NoSuchEnv-v0"}, ValueError, "env_id"),
        ({"executor": "serial", "replay_ratio": 0}, ValueError, "replay_ratio"),
        ({"executor": "serial", "seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error, match):
    """Unknown executor, budget < 1 and other bad values name the argument."""
    with pytest.raises(error, match=match):
        run(**kwargs)


@pytest.mark.parametrize("name", ["cpu_ms", "sleep_ms"])
def test_negative_env_cost_is_rejected(name):
    """A negative cost per step is a ValueError naming the field."""
    with pytest.raises(ValueError, match=f"Task.{name}"):
        Task("CartPole-v1", **{name: -1.0})


def test_fit_needs_two_message_sizes():
    """One message size cannot separate the fixed and per-transition costs."""
    samples = synthetic_step_cost_samples(COSTS, sizes=(64,))
    with pytest.raises(ValueError, match="at least 2 message sizes"):
        fit_step_costs(samples)
