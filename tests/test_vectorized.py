"""Tests of qlearn_lite.vectorized: batched epsilon-greedy, updates, Q-learning."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from qlearn_lite.tabular import (
    greedy_policy,
    q_update,
    success_probability,
    value_iteration,
)
from qlearn_lite.vec_envs import TorchTabularEnv
from qlearn_lite.vectorized import (
    batched_epsilon_greedy,
    batched_q_update,
    table_epsilon_greedy,
    vectorized_q_learning,
)


def needs_cuda(test):
    """Marked ``cuda`` (``pytest -m cuda``) and skipped where there is no GPU."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
    return pytest.mark.cuda(skip(test))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run single-threaded: on a busy machine OpenMP threads wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ================================================== batched epsilon-greedy
@pytest.mark.parametrize("epsilon", [0.0, 0.2, 1.0])
def test_batched_epsilon_greedy_has_the_tabular_distribution(epsilon):
    """Action frequencies are eps/A + (1-eps)/n_ties on the maximal actions."""
    q_values = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    n = 100_000
    batch = q_values.repeat(n, 1)  # rows alternate between the two states
    generator = torch.Generator().manual_seed(0)
    actions = batched_epsilon_greedy(batch, epsilon, generator)
    for row, ties in ((0, [1, 2]), (1, [0])):
        counts = torch.bincount(actions[row::2], minlength=4).double() / n
        expected = torch.full((4,), epsilon / 4, dtype=torch.float64)
        expected[ties] += (1 - epsilon) / len(ties)
        assert torch.allclose(counts, expected, atol=0.006), (row, counts, expected)


def test_batched_epsilon_greedy_picks_a_maximal_action_even_at_u_near_one(
    monkeypatch,
):
    """A uniform number just below 1 still picks one of the tied best actions."""
    just_below_one = torch.tensor([1.0 - 2.0**-24])
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: just_below_one)
    action = batched_epsilon_greedy(torch.tensor([[0.0, 5.0, 5.0]]), 0.3, None)
    assert action.item() in (1, 2)


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_table_epsilon_greedy_equals_batched_on_gathered_rows(epsilon):
    """Per-state ties give batched_epsilon_greedy's actions, bit for bit."""
    q_table = torch.tensor(
        [
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 2.0, 2.0, 0.0],
            [3.0, 1.0, 3.0, 3.0],
            [0.0, 5.0, 1.0, 2.0],
        ]
    )
    states = torch.randint(0, 4, (5_000,), generator=torch.Generator().manual_seed(3))
    per_env = batched_epsilon_greedy(
        q_table.index_select(0, states), epsilon, torch.Generator().manual_seed(7)
    )
    per_state = table_epsilon_greedy(
        q_table, states, epsilon, torch.Generator().manual_seed(7)
    )
    assert per_state.dtype == torch.int64
    assert torch.equal(per_state, per_env)
    if epsilon == 0.0:  # greedy: every tied maximal action, and only those, is used
        chosen = {s: set(per_state[states == s].tolist()) for s in range(4)}
        assert chosen == {0: {0, 1, 2, 3}, 1: {1, 2}, 2: {0, 2, 3}, 3: {1}}


def test_batched_epsilon_greedy_shapes_and_determinism():
    """int64 [batch] actions; the same generator seed gives the same actions."""
    q_values = torch.randn(64, 6)
    first = batched_epsilon_greedy(q_values, 0.3, torch.Generator().manual_seed(1))
    again = batched_epsilon_greedy(q_values, 0.3, torch.Generator().manual_seed(1))
    assert first.dtype == torch.int64 and first.shape == (64,)
    assert torch.equal(first, again)
    assert first.min() >= 0 and first.max() < 6


# =========================================================== batched update
def test_batched_q_update_without_collisions_is_plain_q_learning():
    """Distinct (s, a) pairs: each moves exactly as tabular.q_update says."""
    q_table = torch.tensor([[0.5, -1.0], [2.0, 0.25], [0.0, 1.0]], dtype=torch.float64)
    expected = q_table.clone()
    states, actions = torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1])
    targets = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for s, a, target in zip(
        states.tolist(), actions.tolist(), targets.tolist(), strict=True
    ):
        expected[s, a] = q_update(float(expected[s, a]), target, 0.3)
    batched_q_update(q_table, states, actions, targets, 0.3)
    assert torch.allclose(q_table, expected, atol=1e-12)


def test_batched_q_update_averages_the_targets_of_a_collision():
    """Hand-made batch: three envs hit (0, 1) with targets 1, 2, 6 -> mean 3."""
    q_table = torch.zeros(3, 2)
    states = torch.tensor([0, 0, 0, 1])
    actions = torch.tensor([1, 1, 1, 0])
    targets = torch.tensor([1.0, 2.0, 6.0, 4.0])
    counts = batched_q_update(q_table, states, actions, targets, alpha=0.5)
    # (0, 1): 0 + 0.5 * (mean(1, 2, 6) - 0) = 1.5 ; (1, 0): 0 + 0.5 * 4 = 2
    assert q_table.tolist() == [[0.0, 1.5], [2.0, 0.0], [0.0, 0.0]]
    assert counts.tolist() == [0, 3, 1, 0, 0, 0]
    # A naive scatter keeps a single write: two of the three samples are lost.
    naive = torch.zeros(3, 2)
    naive.index_put_((states, actions), 0.5 * targets)
    assert naive[0, 1].item() in (0.5, 1.0, 3.0) and naive[0, 1].item() != 1.5


def test_batched_q_update_does_not_depend_on_the_order_of_the_envs():
    """Shuffling the batch (with many collisions) gives the same table."""
    generator = torch.Generator().manual_seed(0)
    states = torch.randint(0, 5, (1000,), generator=generator)
    actions = torch.randint(0, 3, (1000,), generator=generator)
    targets = torch.randn(1000, generator=generator, dtype=torch.float64)
    first = torch.zeros(5, 3, dtype=torch.float64)
    batched_q_update(first, states, actions, targets, 0.1)
    order = torch.randperm(1000, generator=generator)
    second = torch.zeros(5, 3, dtype=torch.float64)
    batched_q_update(second, states[order], actions[order], targets[order], 0.1)
    assert torch.allclose(first, second, atol=1e-12)


def test_batched_q_update_keeps_alpha_however_many_envs_collide():
    """A thousand identical targets move Q by alpha, not 1000 * alpha (no overshoot)."""
    q_table = torch.zeros(1, 1)
    same_pair = torch.zeros(1000, dtype=torch.long)
    batched_q_update(q_table, same_pair, same_pair, torch.ones(1000), alpha=0.1)
    assert q_table.item() == pytest.approx(0.1)


# ===================================================== vectorised Q-learning
def chain_env(max_episode_steps: int, start: int) -> TorchTabularEnv:
    """Two states: 0 -> 1 with reward 1 (not terminal), 1 -> 0 terminating."""
    probs = np.ones((2, 1, 1))
    next_states = np.array([[[1]], [[0]]])
    rewards = np.array([[[1.0]], [[0.0]]])
    terminated = np.array([[[False]], [[True]]])
    initial = np.eye(2)[start]
    return TorchTabularEnv(
        probs, next_states, rewards, terminated, initial, num_envs=1,
        device="cpu", seed=0, max_episode_steps=max_episode_steps,
    )  # fmt: skip


def test_truncation_bootstraps_and_termination_does_not():
    """A time-limit step still adds gamma * max Q(s'); a terminal step does not."""
    # From state 0, truncated after 1 step: target = 1 + 0.5 * Q(1) = 1 + 5 = 6.
    result = vectorized_q_learning(
        chain_env(1, start=0), 1, 1, alpha=1.0, gamma=0.5, epsilon=0.0,
        q_init=10.0, progress=False,
    )  # fmt: skip
    assert result.q[0, 0] == 6.0 and result.q[1, 0] == 10.0
    # From state 1, terminated: target = 0 (nothing is bootstrapped).
    result = vectorized_q_learning(
        chain_env(5, start=1), 1, 1, alpha=1.0, gamma=0.5, epsilon=0.0,
        q_init=10.0, progress=False,
    )  # fmt: skip
    assert result.q[1, 0] == 0.0 and result.q[0, 0] == 10.0


def test_vectorized_q_learning_finds_the_optimal_frozenlake_policy():
    """FrozenLake 4x4: Q is near Q* and the greedy policy succeeds as often."""
    env = gym.make("FrozenLake-v1")
    _, q_star = value_iteration(env, gamma=0.95)
    result = vectorized_q_learning(
        env, num_envs=4096, steps=300, alpha=0.1, gamma=0.95, epsilon=0.5,
        device="cpu", seed=0, snapshot_every=100, progress=False,
    )  # fmt: skip
    optimum = success_probability(env, greedy_policy(q_star))
    ours = success_probability(env, greedy_policy(result.q))
    assert ours >= optimum - 0.01
    assert np.abs(result.q - q_star).max() < 0.06
    errors = [np.abs(q - q_star).max() for q in result.snapshots]
    assert errors[-1] < errors[0]  # it converges
    assert result.snapshots.shape == (3, 16, 4)
    assert result.snapshot_env_steps.tolist() == [409_600, 819_200, 1_228_800]
    assert result.env_steps == 1_228_800 and result.episodes > 10_000
    assert result.device == "cpu" and result.env_steps_per_second > 0


def test_vectorized_q_learning_is_seeded():
    """Same seed, same table; another seed, another table."""
    env = gym.make("FrozenLake-v1")

    def run(seed):
        return vectorized_q_learning(
            env, 256, 100, 0.1, 0.99, 0.2, device="cpu", seed=seed, progress=False
        ).q

    assert np.array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))
    assert run(0).max() > 0  # it did learn something to compare


def test_vectorized_q_learning_accepts_a_schedule_and_a_torch_env():
    """epsilon can be a function of the step; a ready TorchTabularEnv is used as is."""
    env = TorchTabularEnv.from_gymnasium(gym.make("CliffWalking-v1"), 64, "cpu", 0)
    seen = []

    def epsilon(step):
        seen.append(step)
        return max(0.05, 1.0 - step / 20)

    result = vectorized_q_learning(env, 64, 30, 0.5, 0.99, epsilon, progress=False)
    assert seen == list(range(30))
    assert result.q.shape == (48, 4) and result.q.min() < 0  # cliff penalties


def test_vectorized_q_learning_bad_input():
    """Clear errors for bad sizes, rates, envs and devices."""
    env = gym.make("FrozenLake-v1")
    with pytest.raises(ValueError, match="num_envs"):
        vectorized_q_learning(env, 0, 10, 0.1, 0.9, 0.1, device="cpu")
    with pytest.raises(ValueError, match="alpha"):
        vectorized_q_learning(env, 4, 10, 0.0, 0.9, 0.1, device="cpu")
    with pytest.raises(ValueError, match="epsilon"):
        vectorized_q_learning(env, 4, 10, 0.1, 0.9, 1.5, device="cpu")
    with pytest.raises(TypeError, match="steps"):
        vectorized_q_learning(env, 4, 2.5, 0.1, 0.9, 0.1, device="cpu")
    with pytest.raises(TypeError, match="Discrete"):
        vectorized_q_learning(gym.make("CartPole-v1"), 4, 10, 0.1, 0.9, 0.1, "cpu")
    with pytest.raises(ValueError, match="device must be"):
        vectorized_q_learning(env, 4, 10, 0.1, 0.9, 0.1, device="npu")
    torch_env = TorchTabularEnv.from_gymnasium(env, 8, "cpu")
    with pytest.raises(ValueError, match="8 envs"):
        vectorized_q_learning(torch_env, 4, 10, 0.1, 0.9, 0.1)
    with pytest.raises(ValueError, match="q_init"):
        vectorized_q_learning(env, 4, 10, 0.1, 0.9, 0.1, "cpu", q_init=np.zeros(3))


# ===================================================================== CUDA
@needs_cuda
def test_vectorized_q_learning_inner_loop_has_no_host_sync_on_cuda():
    """The batched update functions and the env step make no host sync on a GPU."""
    env = TorchTabularEnv.from_gymnasium(gym.make("FrozenLake8x8-v1"), 4096, "cuda")
    q_table = torch.zeros(64, 4, device=env.device)
    generator = torch.Generator(device=env.device).manual_seed(0)
    state, _ = env.reset()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(10):
            action = batched_epsilon_greedy(
                q_table.index_select(0, state), 0.1, generator
            )
            next_state, reward, terminated, _, info = env.step(action)
            next_value = q_table.index_select(0, info["final_obs"]).amax(1)
            target = torch.where(terminated, reward, reward + 0.99 * next_value)
            batched_q_update(q_table, state, action, target, 0.1)
            state = next_state
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert q_table.abs().sum() > 0


@needs_cuda
def test_vectorized_q_learning_runs_on_cuda():
    """vectorized_q_learning runs with device='cuda' and reports it."""
    result = vectorized_q_learning(
        gym.make("FrozenLake-v1"), 512, 50, 0.2, 0.95, 0.3, device="cuda",
        progress=False,
    )  # fmt: skip
    assert result.device.startswith("cuda")


# ------------------------------------------------------------- hostile input
Q4 = torch.zeros(4, 2)
STATES = torch.tensor([0, 3])
GEN = torch.Generator().manual_seed(0)
VQ = dict(num_envs=4, steps=3, alpha=0.1, gamma=0.9, epsilon=0.1, progress=False)
LAKE = gym.make("FrozenLake-v1")


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: batched_epsilon_greedy(Q4, 5, GEN), ValueError, "epsilon"),
        (lambda: batched_epsilon_greedy(Q4, float("nan"), GEN), ValueError,
         "epsilon"),
        (lambda: batched_epsilon_greedy(torch.zeros(4), 0.1, GEN), ValueError,
         r"q_values must be a float tensor \[rows, n_actions\]"),
        (lambda: batched_epsilon_greedy(torch.zeros(4, 2, dtype=torch.long), 0.1,
                                        GEN), TypeError, "q_values must be a float"),
        (lambda: batched_epsilon_greedy([[0.0, 1.0]], 0.1, GEN), TypeError,
         "q_values must be a float tensor"),
        (lambda: batched_epsilon_greedy(Q4, 0.1, 0), TypeError, "generator"),
        (lambda: table_epsilon_greedy(Q4, torch.tensor([0, 4]), 0.1, GEN),
         ValueError, r"states must be in \[0, 4\), got 4"),
        (lambda: table_epsilon_greedy(Q4, torch.tensor([-1, 0]), 0.1, GEN),
         ValueError, r"states must be in \[0, 4\), got -1"),
        (lambda: table_epsilon_greedy(Q4, torch.tensor([0.0]), 0.1, GEN),
         TypeError, "states must be an int64 tensor"),
        (lambda: table_epsilon_greedy(Q4, STATES, 1.5, GEN), ValueError, "epsilon"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0, 1]),
                                  torch.ones(2), 5), ValueError, "alpha"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0, 1]),
                                  torch.ones(2), float("nan")), ValueError, "alpha"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0, 2]),
                                  torch.ones(2), 0.5), ValueError,
         r"actions must be in \[0, 2\), got 2"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0]), torch.ones(2),
                                  0.5), ValueError, r"actions must have shape \[2\]"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0, 1]), torch.ones(3),
                                  0.5), ValueError, "targets must have shape"),
        (lambda: batched_q_update(Q4, STATES, torch.tensor([0, 1]),
                                  torch.tensor([1, 1]), 0.5), TypeError,
         "targets must be a float tensor"),
        (lambda: vectorized_q_learning(LAKE, **VQ | {"epsilon": lambda t: 5.0}),
         ValueError, r"epsilon \(schedule at step 0\)"),
        (lambda: vectorized_q_learning(
            LAKE, **VQ | {"epsilon": lambda t: float("nan")}), ValueError,
         "epsilon"),
        (lambda: vectorized_q_learning(LAKE, **VQ, q_init=float("nan")),
         ValueError, "q_init must be finite"),
        (lambda: vectorized_q_learning(LAKE, **VQ, q_init=np.full((16, 4), np.inf)),
         ValueError, "non-finite"),
        (lambda: vectorized_q_learning(LAKE, **VQ, q_init="x"), TypeError,
         "q_init"),
        (lambda: vectorized_q_learning(LAKE, **VQ, seed=2**64), ValueError, "seed"),
        (lambda: vectorized_q_learning(LAKE, **VQ | {"progress": "yes"}),
         TypeError, "progress"),
        (lambda: vectorized_q_learning(LAKE, **VQ | {"gamma": 1.5}), ValueError,
         "gamma"),
    ],
)  # fmt: skip
def test_vectorized_tabular_rejects_hostile_input(call, error, phrase):
    """Every public tabular name raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_vectorized_q_learning_accepts_numpy_scalars():
    """np.int64 and np.float32 arguments train exactly like Python numbers."""
    args = dict(device="cpu", progress=False, seed=2)
    expected = vectorized_q_learning(LAKE, 4, 5, 0.5, 0.875, 0.25, **args).q
    got = vectorized_q_learning(
        LAKE, np.int64(4), np.int64(5), np.float32(0.5), np.float64(0.875),
        np.float32(0.25), q_init=np.float32(0.0), **args,
    ).q  # fmt: skip
    np.testing.assert_array_equal(got, expected)
