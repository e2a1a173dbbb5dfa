"""Tests of qlearn_lite.vectorized_dqn: device replay, n-step window, rate
limiter, greedy evaluation and the vectorised DQN (one thread and two)."""

from __future__ import annotations

import _thread
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from qlearn_lite import vectorized_dqn as vectorized_dqn_module
from qlearn_lite.dqn import evaluate
from qlearn_lite.parallel import ParallelResult, WorkerError
from qlearn_lite.vectorized_dqn import (
    DeviceReplayBuffer,
    NStepWindow,
    RateLimiter,
    VectorizedDQNConfig,
    greedy_returns,
    gymnasium_start_states,
    vectorized_dqn,
)

# Marked ``cuda`` (``pytest -m cuda``); conftest.py skips it where there is no GPU.
needs_cuda = pytest.mark.cuda


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run single-threaded: on a busy machine OpenMP threads wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def worker_threads() -> list[threading.Thread]:
    """Threads of the parallel core still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("qlearn-lite-")]


# ============================================================ replay buffer
def test_device_replay_buffer_rounds_capacity_wraps_and_keeps_rows_together():
    """Capacity rounds up to num_envs; old rows are overwritten; rows stay paired."""
    with pytest.warns(UserWarning, match="10 transitions for 4 envs keeps 12"):
        buffer = DeviceReplayBuffer(10, num_envs=4, obs_dim=2, device="cpu")
    assert buffer.capacity == 12
    for step in range(4):  # 16 transitions into 12 slots
        ids = torch.arange(4) + 4 * step
        obs = torch.stack([ids, ids], dim=1).float()
        buffer.add(obs, ids, ids.float(), obs + 0.5, (ids % 2).float(), 0.9)
    assert len(buffer) == 12 and buffer.position == 4
    assert sorted(buffer.actions.tolist()) == list(range(4, 16))
    batch = buffer.sample(500, torch.Generator().manual_seed(0))
    assert torch.equal(batch.obs[:, 0], batch.actions.float())
    assert torch.equal(batch.next_obs, batch.obs + 0.5)
    assert torch.equal(batch.rewards, batch.actions.float())
    assert torch.equal(batch.terminated, (batch.actions % 2).float())
    assert torch.all(batch.discounts == 0.9)
    assert set(batch.actions.tolist()) == set(range(4, 16))


# ================================================================= n-step
def test_n_step_window_cuts_returns_at_episode_ends():
    """Hand-made: 3-step returns, one env terminating, one truncated, one running."""
    window = NStepWindow(3, gamma=0.5)
    obs = [torch.full((3, 1), float(t)) for t in range(4)]  # obs at time t
    false, true = torch.tensor(False), torch.tensor(True)
    # env 0 runs on; env 1 terminates at step 1; env 2 is truncated at step 0.
    steps = [
        (torch.tensor([1.0, 1.0, 1.0]), [false, false, false], [false, false, true]),
        (torch.tensor([2.0, 2.0, 2.0]), [false, true, false], [false, true, false]),
        (torch.tensor([4.0, 4.0, 4.0]), [false, false, false], [false, false, false]),
    ]
    out = None
    for t, (reward, terminated, done) in enumerate(steps):
        final = obs[t + 1] + 0.5  # "the state reached", marked by + 0.5
        out = window.add(
            obs[t], torch.full((3,), t), reward, final,
            torch.stack(terminated), torch.stack(done),
        )  # fmt: skip
        assert (out is None) == (t < 2)
    first_obs, action, ret, next_obs, terminated, discount = out
    assert first_obs[:, 0].tolist() == [0.0, 0.0, 0.0] and action.tolist() == [0] * 3
    # env 0: 1 + 0.5 * 2 + 0.25 * 4 = 3, bootstrap from the state after step 2
    # env 1: 1 + 0.5 * 2 = 2, ends (terminal) after step 1
    # env 2: 1, truncated after step 0: bootstrap from there with gamma^1
    assert ret.tolist() == [3.0, 2.0, 1.0]
    assert next_obs[:, 0].tolist() == [3.5, 2.5, 1.5]
    assert terminated.tolist() == [0.0, 1.0, 0.0]
    assert discount.tolist() == [0.125, 0.0, 0.5]  # the terminal env: cut


def old_window_rule(steps, n, gamma):
    """The n-step rule NStepWindow had before it used replay.n_step_returns,
    written forwards (the reference the new one must agree with)."""
    obs, action, reward, final, terminated, done = steps[0]
    next_obs = steps[-1][3]
    ret = torch.zeros_like(reward)
    ended_as_terminal = torch.zeros_like(terminated)
    discount = torch.full_like(reward, gamma**n)
    alive = torch.ones_like(done)
    for k, (_, _, r, reached, term, end) in enumerate(steps):
        ret += gamma**k * r * alive
        ends_here = alive & end
        next_obs = torch.where(ends_here.unsqueeze(1), reached, next_obs)
        ended_as_terminal |= ends_here & term
        discount = torch.where(ends_here, gamma ** (k + 1), discount)
        alive &= ~end
    return obs, action, ret, next_obs, ended_as_terminal.float(), discount


@pytest.mark.parametrize("n", [2, 3, 5])
def test_n_step_window_agrees_with_the_old_forward_rule_on_random_streams(n):
    """Random rewards, terminals and truncations: the same transitions (to
    float32 rounding), with the discount 0 wherever the old rule said terminal."""
    generator = torch.Generator().manual_seed(n)
    gamma, num_envs = 0.9, 64
    window, history = NStepWindow(n, gamma), []
    compared = 0
    for t in range(60):
        obs = torch.randn(num_envs, 3, generator=generator)
        action = torch.randint(0, 2, (num_envs,), generator=generator)
        reward = torch.randn(num_envs, generator=generator)
        final = torch.randn(num_envs, 3, generator=generator)
        draw = torch.rand(num_envs, generator=generator)
        terminated, truncated = draw < 0.15, (draw >= 0.15) & (draw < 0.25)
        step = (obs, action, reward, final, terminated, terminated | truncated)
        history.append(step)
        out = window.add(*step)
        if t < n - 1:
            assert out is None
            continue
        expected = old_window_rule(history[-n:], n, gamma)
        first_obs, first_action, ret, next_obs, term, discount = out
        assert torch.equal(first_obs, expected[0])
        assert torch.equal(first_action, expected[1])
        assert torch.allclose(ret, expected[2], rtol=1e-6, atol=1e-6)
        assert torch.equal(next_obs, expected[3])
        assert torch.equal(term, expected[4])
        # The old rule kept gamma^k next to terminated = 1; now the discount
        # carries the cut (0), and the loss's targets are the same.
        old_discount = torch.where(expected[4] > 0, 0.0, expected[5])
        assert torch.allclose(discount, old_discount, rtol=1e-6, atol=0)
        compared += 1
    assert compared == 60 - n + 1


def test_one_step_window_passes_transitions_through():
    """n = 1: the transition comes out at once with discount gamma."""
    window = NStepWindow(1, gamma=0.9)
    out = window.add(
        torch.zeros(2, 4), torch.tensor([0, 1]), torch.ones(2), torch.ones(2, 4),
        torch.tensor([True, False]), torch.tensor([True, False]),
    )  # fmt: skip
    assert out[4].tolist() == [1.0, 0.0] and out[5] == 0.9


# ============================================================= rate limiter
def test_rate_limiter_bounds_the_lead_and_the_ceiling():
    """The actor may lead by max_lead steps, never past the ceiling."""
    limiter = RateLimiter(max_lead=2, consumed=0, ceiling=3)
    assert limiter.acquire(0.01)
    limiter.produced_one()
    assert limiter.acquire(0.01)
    limiter.produced_one()
    assert not limiter.acquire(0.01)  # 2 ahead of the learner
    limiter.consumed_up_to(2)
    assert limiter.acquire(0.01)
    limiter.produced_one()
    assert not limiter.acquire(0.01)  # at the ceiling, though only 1 ahead
    limiter.set_ceiling(10)
    assert limiter.acquire(0.01)
    assert limiter.actor_wait_seconds >= 0.02


def test_rate_limiter_waits_time_out_and_close_releases_them():
    """Every wait returns after its timeout; close() wakes a waiting thread."""
    limiter = RateLimiter(max_lead=1, ceiling=0)
    start = time.perf_counter()
    assert not limiter.wait_for_data(1, timeout=0.05)
    assert not limiter.acquire(timeout=0.05)
    assert time.perf_counter() - start >= 0.1
    results = []
    waiter = threading.Thread(target=lambda: results.append(limiter.acquire(30.0)))
    waiter.start()
    time.sleep(0.05)
    limiter.close()
    waiter.join(timeout=5.0)
    assert not waiter.is_alive() and results == [False]
    assert not limiter.wait_for_data(1, timeout=30.0)  # closed: at once


def test_rate_limiter_wakes_the_learner_when_data_arrives():
    """produced_one() wakes a learner waiting for that step."""
    limiter = RateLimiter(max_lead=4, ceiling=10)
    results = []
    waiter = threading.Thread(
        target=lambda: results.append(limiter.wait_for_data(1, 30.0))
    )
    waiter.start()
    time.sleep(0.05)
    limiter.produced_one()
    waiter.join(timeout=5.0)
    assert results == [True] and limiter.learner_wait_seconds < 5.0


# ============================================================== evaluation
class PushRight(torch.nn.Module):
    """A 'network' that always prefers action 1."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([0.0, 1.0]))

    def forward(self, obs):
        return self.bias.expand(len(obs), 2)


def test_greedy_returns_equal_dqn_evaluate_on_gymnasium():
    """Batched greedy returns = qlearn_lite.dqn.evaluate's Gymnasium episodes."""
    for net in (PushRight(), balancing_net()):
        ours = greedy_returns(net, episodes=12, seed=3)
        theirs = evaluate(net, "CartPole-v1", episodes=12, seed=3)
        assert ours.tolist() == theirs.tolist()
        assert ours.dtype == torch.float32 and ours.shape == (12,)
    assert greedy_returns(balancing_net(), 4, seed=0).tolist() == [500.0] * 4


def test_gymnasium_start_states_are_those_of_reset():
    """The states gym.make('CartPole-v1') resets to after reset(seed)."""
    states = gymnasium_start_states(3, seed=5)
    env = gym.make("CartPole-v1")
    first, _ = env.reset(seed=5)
    second, _ = env.reset()
    assert np.allclose(states[0], first) and np.allclose(states[1], second)
    assert states.shape == (3, 4) and states.dtype == np.float64


def balancing_net() -> torch.nn.Module:
    """A linear 'Q-network' whose greedy action balances the pole for 500 steps."""
    net = torch.nn.Linear(4, 2)
    with torch.no_grad():
        gains = torch.tensor([0.05, 0.1, 1.0, 0.5])  # x, x_dot, theta, theta_dot
        net.weight.copy_(torch.stack([-gains, gains]))
        net.bias.zero_()
    return net


# ============================================================ vectorised DQN
SMALL = VectorizedDQNConfig(
    num_envs=8,
    total_steps=1_600,
    learning_starts=400,
    batch_size=32,
    buffer_size=1_000,
    eval_every=800,
    eval_episodes=4,
    hidden=(16,),
    stop_at_return=None,
    device="cpu",
)


def test_vectorized_dqn_one_thread_is_reproducible():
    """asynchronous=False: same seed, same history and weights; global RNG untouched."""
    config = SMALL.replace(asynchronous=False, seed=3)
    global_state = torch.get_rng_state()
    first = vectorized_dqn(config, progress=False)
    assert torch.equal(torch.get_rng_state(), global_state)  # its own generators
    second = vectorized_dqn(config, progress=False)
    assert first.history.eval_returns == second.history.eval_returns
    assert first.history.mean_losses == second.history.mean_losses
    for a, b in zip(first.q_net.parameters(), second.q_net.parameters(), strict=True):
        assert torch.equal(a, b)
    other = vectorized_dqn(config.replace(seed=4), progress=False)
    assert other.history.mean_losses != first.history.mean_losses


def test_vectorized_dqn_counts_steps_updates_and_evaluations():
    """Env steps, updates (one per vector step after learning_starts), evals;
    the default runs in one thread."""
    result = vectorized_dqn(SMALL, progress=False)
    history = result.history
    assert history.env_steps == 1_600
    assert history.updates == (1_600 - 400) // 8  # updates_per_step = 1
    assert history.eval_steps == [800, 1_600]
    assert history.eval_updates == [50, 150]
    assert len(history.eval_returns) == 2 and all(r >= 8 for r in history.eval_returns)
    assert all(np.isfinite(loss) for loss in history.mean_losses)
    assert history.wall_seconds > 0 and history.eval_wall_seconds > 0
    assert isinstance(result.q_net, torch.nn.Module)
    run = result.parallel  # the parallel core's result, for notebook 11's plots
    assert isinstance(run, ParallelResult) and run.executor == "vectorized"
    assert run.env_steps == 1_600 and run.updates == 150 and run.n_workers == 1
    assert run.design == "serial" and run.staleness is None
    assert run.snapshot_steps == [800, 1_600]
    assert run.wall_seconds == history.wall_seconds


def test_vectorized_dqn_threads_keep_the_data_to_update_ratio_and_stop():
    """The asynchronous run does its updates and leaves no actor thread behind."""
    config = SMALL.replace(asynchronous=True, updates_per_step=2, max_actor_lead=1)
    history = vectorized_dqn(config, progress=False).history
    vector_steps = history.env_steps // 8
    assert history.env_steps >= 1_600
    # The learner did all the updates the data allowed (it never runs ahead).
    assert history.updates == 2 * (vector_steps - 50)
    assert history.eval_steps == [800, 1_600]
    assert history.eval_updates == [2 * (100 - 50), 2 * (200 - 50)]
    run = vectorized_dqn_module.vectorized_dqn(config, progress=False).parallel
    assert run.design == "actor-learner"
    # The actor acts with a copy refreshed every actor_sync_every (4) updates
    # and leads by at most one vector step (2 updates): lag <= 4 + 2 - 1.
    assert run.lags is not None and len(run.lags) == 200
    assert 0 <= run.staleness["max"] <= 5
    assert not worker_threads()


def test_an_actor_error_is_reraised_and_both_threads_stop(monkeypatch):
    """An exception in the actor surfaces as WorkerError (worker 0, its cause)."""
    calls = []
    original = vectorized_dqn_module._actor_step

    def failing_actor_step(training):
        calls.append(1)
        if len(calls) == 70:
            raise ValueError("boom in the actor")
        original(training)

    monkeypatch.setattr(vectorized_dqn_module, "_actor_step", failing_actor_step)
    threads = torch.get_num_threads()
    with pytest.raises(WorkerError, match="boom in the actor") as error:
        vectorized_dqn(
            SMALL.replace(total_steps=100_000, asynchronous=True), progress=False
        )
    assert error.value.worker_id == 0
    assert isinstance(error.value.__cause__, ValueError)
    assert not worker_threads()
    assert torch.get_num_threads() == threads


def test_a_learner_error_stops_the_actor(monkeypatch):
    """An exception in the learner (worker 1) stops the actor too."""
    calls = []
    original = vectorized_dqn_module._learner_update

    def failing_update(training):
        calls.append(1)
        if len(calls) == 10:
            raise ArithmeticError("boom in the learner")
        original(training)

    monkeypatch.setattr(vectorized_dqn_module, "_learner_update", failing_update)
    with pytest.raises(WorkerError, match="boom in the learner") as error:
        vectorized_dqn(
            SMALL.replace(total_steps=100_000, asynchronous=True), progress=False
        )
    assert error.value.worker_id == 1
    assert not worker_threads()


def test_ctrl_c_stops_both_threads_before_it_reaches_the_caller(monkeypatch):
    """KeyboardInterrupt in the calling thread (as Ctrl-C) stops actor and learner."""
    calls = []
    original = vectorized_dqn_module._learner_update

    def update_then_interrupt(training):
        calls.append(1)
        if len(calls) == 10:
            _thread.interrupt_main()  # what Ctrl-C does to the main thread
        original(training)

    monkeypatch.setattr(vectorized_dqn_module, "_learner_update", update_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        vectorized_dqn(
            SMALL.replace(total_steps=1_000_000, asynchronous=True), progress=False
        )
    assert not worker_threads()
    assert len(calls) >= 10


def test_vectorized_dqn_config_rejects_bad_values():
    """Bad hyperparameters and a wrong config type raise clearly."""
    with pytest.raises(ValueError, match="num_envs"):
        VectorizedDQNConfig(num_envs=0)
    with pytest.raises(ValueError, match="gamma"):
        VectorizedDQNConfig(gamma=1.5)
    with pytest.raises(ValueError, match="lr"):
        VectorizedDQNConfig(lr=0)
    with pytest.raises(ValueError, match="loss"):
        VectorizedDQNConfig(loss="l1")
    with pytest.raises(TypeError, match="VectorizedDQNConfig.batch_size"):
        VectorizedDQNConfig(batch_size=32.0)
    with pytest.raises(TypeError, match="VectorizedDQNConfig.asynchronous"):
        VectorizedDQNConfig(asynchronous="yes")
    assert VectorizedDQNConfig(gamma=np.float32(0.5), n_step=np.int64(2)).n_step == 2
    assert VectorizedDQNConfig(eps_decay_steps=0).epsilon_schedule()(0) == 0.05
    with pytest.raises(TypeError, match="VectorizedDQNConfig"):
        vectorized_dqn({"num_envs": 4})
    with pytest.raises(ValueError, match="device must be"):
        vectorized_dqn(SMALL.replace(device="quantum"), progress=False)


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("changes", "error", "phrase"),
    [
        ({"lr": INF}, ValueError, r"VectorizedDQNConfig.lr must be in \(0, inf\)"),
        ({"lr": NAN}, ValueError, "VectorizedDQNConfig.lr must be in"),
        ({"lr": "1e-3"}, TypeError, "VectorizedDQNConfig.lr must be a number"),
        ({"seed": 2**64}, ValueError, "VectorizedDQNConfig.seed must be .* below 2"),
        ({"seed": -1}, ValueError, "VectorizedDQNConfig.seed must be a non-negative"),
        ({"seed": 1.0}, TypeError, "VectorizedDQNConfig.seed must be a non-negative"),
        ({"eval_seed": 2**64}, ValueError, "eval_seed must be .* below 2\\*\\*64"),
        ({"eval_seed": -3}, ValueError, "VectorizedDQNConfig.eval_seed must be a non"),
        (
            {"n_step": 5, "num_envs": 8, "learning_starts": 24},
            ValueError,
            "learning_starts must be >= 25 with n_step=5 and num_envs=8",
        ),
        (
            {"n_step": 2, "num_envs": 8, "learning_starts": 0},
            ValueError,
            "learning_starts must be >= 1 with n_step=2",
        ),
        ({"eps_start": 5.0}, ValueError, r"eps_start must be in \[0, 1\], got 5.0"),
        ({"eps_end": NAN}, ValueError, r"eps_end must be in \[0, 1\], got nan"),
        ({"eps_end": -0.1}, ValueError, r"eps_end must be in \[0, 1\]"),
        ({"gamma": NAN}, ValueError, r"gamma must be in \[0, 1\]"),
        ({"tau": 2}, ValueError, r"tau must be in \[0, 1\]"),
        ({"max_grad_norm": INF}, ValueError, "max_grad_norm must be in"),
        ({"max_grad_norm": "10"}, TypeError, "max_grad_norm must be a number"),
        ({"max_seconds": NAN}, ValueError, "max_seconds must be in"),
        ({"stop_at_return": INF}, ValueError, "stop_at_return must be finite"),
        ({"hidden": (64, 0)}, ValueError, "hidden must be a tuple of ints >= 1"),
        ({"hidden": "64"}, TypeError, "hidden must be a tuple of ints >= 1"),
        ({"device": "tpu"}, ValueError, "device must be 'auto', 'cpu', 'cuda'"),
        ({"device": 0}, TypeError, "device must be 'auto', 'cpu', 'cuda'"),
        ({"double": "yes"}, TypeError, "double must be True or False"),
        ({"loss": None}, ValueError, "loss must be one of"),
        ({"num_envs": True}, TypeError, "num_envs must be an int >= 1"),
        ({"eps_decay_steps": -1}, ValueError, "eps_decay_steps must be an int >= 0"),
    ],
)
def test_vectorized_dqn_config_names_each_bad_value(changes, error, phrase):
    """Each bad field fails at construction, naming it, the expected and the given."""
    with pytest.raises(error, match=phrase):
        VectorizedDQNConfig(**changes)


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: vectorized_dqn(SMALL, progress="no"), TypeError, "progress must"),
        (
            lambda: vectorized_dqn_module.overlap_profile({"num_envs": 4}),
            TypeError,
            "config must be a VectorizedDQNConfig, got dict",
        ),
        (
            lambda: vectorized_dqn_module.memory_estimate(None),
            TypeError,
            "config must be a VectorizedDQNConfig, got NoneType",
        ),
        (lambda: DeviceReplayBuffer(0, 4, 2), ValueError, "capacity must be an int"),
        (lambda: DeviceReplayBuffer(8, 4, 2.0), TypeError, "obs_dim must be an int"),
        (
            lambda: DeviceReplayBuffer(8, 4, 2).sample(4, torch.Generator()),
            ValueError,
            "cannot sample from an empty replay buffer",
        ),
    ],
)
def test_vectorized_dqn_functions_name_each_bad_argument(call, error, phrase):
    """The entry points and the device buffer raise clearly on bad arguments."""
    with pytest.raises(error, match=phrase):
        call()


def test_vectorized_dqn_config_accepts_numpy_scalars_and_stores_python_values():
    """np.int64 seeds, np.float32 rates and np.bool_ flags are legal values."""
    config = VectorizedDQNConfig(
        num_envs=np.int32(4),
        seed=np.int64(1),
        eval_seed=np.uint64(2**64 - 1),
        gamma=np.float32(0.5),
        lr=np.float64(1e-3),
        learning_starts=np.int64(9),
        n_step=np.int64(4),
        double=np.bool_(False),
        hidden=[np.int64(8)],
    )
    values = (config.num_envs, config.seed, config.eval_seed, config.gamma)
    assert values == (4, 1, 2**64 - 1, 0.5)
    assert (config.lr, config.learning_starts, config.double) == (1e-3, 9, False)
    assert config.hidden == (8,)
    assert [type(v) for v in (*values, config.lr, config.double)] == [
        int, int, int, float, float, bool,
    ]  # fmt: skip


def test_the_smallest_learning_starts_accepted_trains():
    """learning_starts = (n_step - 2) * num_envs + 1 finds data at its first update."""
    config = SMALL.replace(
        n_step=5, learning_starts=25, total_steps=240, eval_every=240, eval_episodes=1
    )
    history = vectorized_dqn(config.replace(asynchronous=False), progress=False).history
    assert history.updates == 30 - 4  # one per vector step after the 4th
    with pytest.raises(ValueError, match=">= 25"):
        config.replace(learning_starts=24)


def test_memory_estimate_of_a_huge_run_by_hand():
    """2**22 envs: the buffer rounds up to 4,194,304 rows of 52 bytes each."""
    envs = 2**22
    parts = vectorized_dqn_module.memory_estimate(
        VectorizedDQNConfig(
            num_envs=envs, buffer_size=100_000, learning_starts=envs * 4
        )
    )
    assert parts["replay buffer"] == envs * (2 * 16 + 8 + 12)
    assert parts["carts"] == envs * (18 * 8 + 64)  # float64 physics
    assert parts["n-step window"] == 2 * 5 * envs * (2 * 16 + 8 + 4 + 2)
    assert sum(parts.values()) > 4 * 2**30  # gigabytes: the envs dominate


def test_a_run_beyond_available_memory_fails_before_allocating(monkeypatch):
    """Above the memory available, ValueError names the parts; nothing is built."""
    monkeypatch.setattr("qlearn_lite.utils.available_memory", lambda device: 2**31)

    def nothing_built(*args, **kwargs):
        raise AssertionError("allocated before the memory check")

    monkeypatch.setattr(vectorized_dqn_module.TorchCartPole, "__init__", nothing_built)
    monkeypatch.setattr(
        vectorized_dqn_module.DeviceReplayBuffer, "__init__", nothing_built
    )
    config = VectorizedDQNConfig(
        num_envs=2**22, learning_starts=2**24, device="cpu", stop_at_return=None
    )
    with pytest.raises(ValueError) as error:
        vectorized_dqn(config, progress=False)
    message = str(error.value)
    assert message.startswith("vectorized_dqn with 4,194,304 envs (carts 832 MiB,")
    assert "but only 2.00 GiB are available on cpu" in message


def test_a_large_run_warns_once_and_a_small_rounding_does_not(monkeypatch, recwarn):
    """Above the warning threshold: one ResourceWarning for the whole run."""
    monkeypatch.setattr("qlearn_lite.utils.MEMORY_WARN_BYTES", 10_000)
    vectorized_dqn_module._Training(SMALL, torch.device("cpu"))
    messages = [str(w.message) for w in recwarn if w.category is ResourceWarning]
    assert len(messages) == 1 and messages[0].startswith("vectorized_dqn with 8 envs")
    recwarn.clear()
    DeviceReplayBuffer(1_000, num_envs=24, obs_dim=4)  # 1,008 rows: under 10 % more
    assert not [w for w in recwarn if w.category is UserWarning]


# ===================================================================== CUDA
@needs_cuda
def test_vectorized_dqn_runs_on_cuda():
    """vectorized_dqn runs with device='cuda', one thread and two."""
    for asynchronous in (False, True):
        config = SMALL.replace(device="cuda", asynchronous=asynchronous)
        dqn = vectorized_dqn(config, progress=False)
        assert next(dqn.q_net.parameters()).device.type == "cuda"
        assert dqn.history.updates == 150


def test_overlap_profile_times_both_phases_and_bounds_the_speed_up():
    """Acting and learning are timed apart; the bound is (a + l) / max(a, l)."""
    profile = vectorized_dqn_module.overlap_profile(SMALL, vector_steps=5)
    assert profile.actor_seconds > 0 and profile.learner_seconds > 0
    assert profile.actor_cpu_seconds > 0 and profile.learner_cpu_seconds > 0
    longer = max(profile.actor_seconds, profile.learner_seconds)
    total = profile.actor_seconds + profile.learner_seconds
    assert profile.overlap_bound == pytest.approx(total / longer)
    assert 1.0 < profile.overlap_bound <= 2.0
