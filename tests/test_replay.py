"""Tests for qlearn_lite.replay: the ring buffer of notebook 04."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from qlearn_lite import utils
from qlearn_lite.replay import ReplayBatch, ReplayBuffer, replay_q_learning
from qlearn_lite.tabular import greedy_policy, success_probability


def fill(buffer: ReplayBuffer, count: int, start: int = 0) -> None:
    """Add transitions whose every field encodes their index ``i``."""
    for i in range(start, start + count):
        obs = np.full(buffer.obs_shape, i, dtype=buffer.obs_dtype)
        buffer.add(obs, i % 3, float(i), obs + 1, i % 2 == 0)


def test_wrap_around_overwrites_oldest_first():
    """After 7 adds into 5 slots, slots hold transitions 5, 6, 2, 3, 4."""
    buffer = ReplayBuffer(5, (2,), seed=0)
    fill(buffer, 7)
    assert len(buffer) == 5
    assert buffer.position == 2
    np.testing.assert_array_equal(buffer.rewards, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.obs[:, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.next_obs[:, 1], [6, 7, 3, 4, 5])


def test_len_grows_until_capacity():
    """len() counts stored transitions and stops at the capacity."""
    buffer = ReplayBuffer(3, (1,))
    sizes = []
    for i in range(5):
        fill(buffer, 1, start=i)
        sizes.append(len(buffer))
    assert sizes == [1, 2, 3, 3, 3]


def test_sample_only_valid_indices():
    """With 4 of 100 slots filled, samples come only from those 4 transitions."""
    buffer = ReplayBuffer(100, (3,), seed=1)
    fill(buffer, 4)
    rewards = np.concatenate([buffer.sample_arrays(4).rewards for _ in range(200)])
    assert set(rewards.tolist()) == {0.0, 1.0, 2.0, 3.0}
    indices = np.concatenate([buffer.sample_indices(4) for _ in range(200)])
    assert indices.min() >= 0 and indices.max() < 4


def test_sample_rows_are_consistent_transitions():
    """Each sampled row keeps its own obs, action, reward, next_obs and flag."""
    buffer = ReplayBuffer(50, (2,), seed=2)
    fill(buffer, 80)
    batch = buffer.sample_arrays(50)
    i = batch.rewards
    np.testing.assert_array_equal(batch.obs[:, 0], i)
    np.testing.assert_array_equal(batch.next_obs[:, 0], i + 1)
    np.testing.assert_array_equal(batch.actions, i.astype(np.int64) % 3)
    np.testing.assert_array_equal(batch.terminated, (i % 2 == 0).astype(np.float32))
    assert i.min() >= 30  # the first 30 were overwritten


def test_batched_and_single_adds_agree():
    """A batch add stores exactly what the same single adds in order store."""
    rng = np.random.default_rng(0)
    count = 13
    obs = rng.normal(size=(count, 4)).astype(np.float32)
    next_obs = rng.normal(size=(count, 4)).astype(np.float32)
    actions = rng.integers(0, 2, count)
    rewards = rng.normal(size=count)
    terminated = rng.random(count) < 0.3
    single, batched = ReplayBuffer(8, (4,), seed=3), ReplayBuffer(8, (4,), seed=3)
    fill(single, 3)
    fill(batched, 3)
    for i in range(count):
        single.add(obs[i], actions[i], rewards[i], next_obs[i], terminated[i])
    batched.add(obs, actions, rewards, next_obs, terminated)
    for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
        np.testing.assert_array_equal(getattr(single, name), getattr(batched, name))
    assert (single.position, len(single)) == (batched.position, len(batched))
    for a, b in zip(single.sample(5), batched.sample(5), strict=True):
        assert torch.equal(a, b)


def test_sample_dtypes_shapes_and_device():
    """sample() returns a ReplayBatch of tensors with the documented dtypes."""
    buffer = ReplayBuffer(10, (4,), seed=0)
    fill(buffer, 10)
    batch = buffer.sample(6, device="cpu")
    assert isinstance(batch, ReplayBatch)
    assert batch.obs.shape == batch.next_obs.shape == (6, 4)
    assert batch.obs.dtype == batch.next_obs.dtype == torch.float32
    assert batch.actions.shape == (6,) and batch.actions.dtype == torch.int64
    assert batch.rewards.dtype == batch.terminated.dtype == torch.float32
    assert {tensor.device.type for tensor in batch} == {"cpu"}


@pytest.mark.cuda
def test_sample_on_cuda():
    """sample(device='cuda') puts every field on the GPU."""
    buffer = ReplayBuffer(10, (4,), seed=0)
    fill(buffer, 10)
    assert {t.device.type for t in buffer.sample(4, device="cuda")} == {"cuda"}


def test_discrete_states_and_uint8_images():
    """Scalar int64 states and uint8 image observations keep their dtype."""
    states = ReplayBuffer(10, (), obs_dtype=np.int64, seed=0)
    states.add(3, 1, 0.0, 7, False)
    states.add(np.array([1, 2]), np.array([0, 1]), [0.0, 1.0], [2, 3], [False, True])
    batch = states.sample(3)
    assert batch.obs.dtype == torch.int64 and batch.obs.shape == (3,)
    assert set(batch.obs.tolist()) <= {3, 1, 2}
    images = ReplayBuffer(4, (2, 3, 3), obs_dtype=np.uint8)
    assert images.nbytes_per_transition == 2 * 18 + 8 + 4 + 1
    images.add(np.zeros((2, 3, 3)), 0, 0.0, np.full((2, 3, 3), 255), False)
    image_batch = images.sample(1)
    assert image_batch.next_obs.dtype == torch.uint8
    assert image_batch.next_obs.shape == (1, 2, 3, 3)
    assert int(image_batch.next_obs.min()) == 255


def test_memory_per_transition_for_cartpole():
    """A CartPole transition takes 2*16 + 8 + 4 + 1 = 45 bytes."""
    buffer = ReplayBuffer(100_000, (4,))
    assert buffer.nbytes_per_transition == 45
    assert buffer.nbytes == 4_500_000
    actual = sum(
        getattr(buffer, name).nbytes
        for name in ("obs", "next_obs", "actions", "rewards", "terminated")
    )
    assert actual == buffer.nbytes


def test_same_seed_same_samples():
    """Two buffers with the same seed and contents sample identically."""
    first, second = ReplayBuffer(20, (2,), seed=5), ReplayBuffer(20, (2,), seed=5)
    fill(first, 20)
    fill(second, 20)
    np.testing.assert_array_equal(first.sample_indices(20), second.sample_indices(20))


def test_batch_larger_than_capacity_keeps_the_last():
    """Adding more than capacity in one batch keeps the last `capacity` ones."""
    buffer = ReplayBuffer(4, (1,))
    fill(buffer, 1)
    obs = np.arange(10, dtype=np.float32)[:, None]
    buffer.add(obs, np.zeros(10, int), np.arange(10.0), obs, np.zeros(10, bool))
    assert sorted(buffer.rewards.tolist()) == [6.0, 7.0, 8.0, 9.0]
    reference = ReplayBuffer(4, (1,))
    fill(reference, 1)
    for i in range(10):
        reference.add(obs[i], 0, float(i), obs[i], False)
    np.testing.assert_array_equal(buffer.rewards, reference.rewards)
    assert buffer.position == reference.position


@pytest.mark.parametrize(
    ("capacity", "error"),
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError),
     ("10", TypeError)],
)  # fmt: skip
def test_bad_capacity(capacity, error):
    """A capacity that is not an int >= 1 is an error naming it."""
    with pytest.raises(error, match="capacity must be an int >= 1"):
        ReplayBuffer(capacity, (4,))


@pytest.mark.parametrize("batch_size", [0, -1])
def test_bad_batch_size(batch_size):
    """A batch size <= 0 is a ValueError naming it."""
    buffer = ReplayBuffer(10, (4,))
    fill(buffer, 5)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        buffer.sample(batch_size)


def test_sampling_more_than_stored():
    """Sampling more transitions than are stored says how many there are."""
    buffer = ReplayBuffer(10, (4,))
    fill(buffer, 3)
    with pytest.raises(ValueError, match="holds only 3"):
        buffer.sample(4)
    with pytest.raises(ValueError, match="holds only 0"):
        ReplayBuffer(10, (4,)).sample(1)


def test_observation_shape_mismatch():
    """Observations of the wrong shape raise a ValueError with both shapes."""
    buffer = ReplayBuffer(10, (4,))
    with pytest.raises(ValueError, match=r"obs must have shape .*got shape \(3,\)"):
        buffer.add(np.zeros(3), 0, 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match=r"next_obs must have shape \(4,\)"):
        buffer.add(np.zeros(4), 0, 0.0, np.zeros(5), False)
    with pytest.raises(ValueError, match=r"action of shape \(2,\)"):
        buffer.add(np.zeros((2, 4)), 0, [0, 0], np.zeros((2, 4)), [False, False])
    assert len(buffer) == 0


def test_sample_batches_shape_and_stream():
    """sample_batches gives [num_batches, batch_size] rows; one batch == sample()."""
    first, second = ReplayBuffer(30, (2,), seed=4), ReplayBuffer(30, (2,), seed=4)
    fill(first, 30)
    fill(second, 30)
    many = first.sample_batches(8, num_batches=5)
    assert many.obs.shape == (5, 8, 2) and many.actions.shape == (5, 8)
    torch.testing.assert_close(many.next_obs[..., 0], many.obs[..., 0] + 1)
    one = ReplayBuffer(30, (2,), seed=9)
    other = ReplayBuffer(30, (2,), seed=9)
    fill(one, 30)
    fill(other, 30)
    for a, b in zip(one.sample_batches(8, 1), other.sample(8), strict=True):
        assert torch.equal(a[0], b)
    with pytest.raises(ValueError, match="holds only 30"):
        first.sample_batches(31, 2)
    with pytest.raises(ValueError, match="num_batches must be an int >= 1"):
        first.sample_batches(4, 0)


# ----------------------------------------------------- replay Q-learning


def test_replay_q_learning_solves_deterministic_frozenlake():
    """On non-slippery FrozenLake 4x4 the greedy policy reaches the goal surely."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    result = replay_q_learning(
        env,
        300,
        alpha=0.5,
        gamma=0.95,
        epsilon=0.2,
        seed=0,
        updates_per_step=4,
        progress=False,
    )
    assert success_probability(env, greedy_policy(result.q)) == 1.0
    assert result.steps == result.lengths.sum() and len(result.returns) == 300


def test_replay_q_learning_same_seed_same_table():
    """Equal seeds give bit-identical Q-tables; another seed does not."""
    env = gym.make("FrozenLake-v1")
    args = dict(alpha=0.1, gamma=0.99, epsilon=0.1, progress=False)
    first = replay_q_learning(env, 100, seed=1, **args).q
    second = replay_q_learning(env, 100, seed=1, **args).q
    third = replay_q_learning(env, 100, seed=2, **args).q
    assert np.array_equal(first, second) and not np.array_equal(first, third)


def test_replay_q_learning_bad_input():
    """A Box env is a TypeError; bad sizes and rates are ValueErrors."""
    lake = gym.make("FrozenLake-v1")
    with pytest.raises(TypeError, match="Discrete"):
        replay_q_learning(gym.make("CartPole-v1"), 1, 0.1, 0.9, 0.1, progress=False)
    with pytest.raises(ValueError, match="buffer_size"):
        replay_q_learning(lake, 1, 0.1, 0.9, 0.1, buffer_size=0, progress=False)
    with pytest.raises(ValueError, match="alpha"):
        replay_q_learning(lake, 1, 0.0, 0.9, 0.1, progress=False)
    with pytest.raises(ValueError, match="epsilon"):
        replay_q_learning(lake, 1, 0.1, 0.9, 1.5, progress=False)


# ------------------------------------------------------------ n-step returns
def test_n_step_returns_plain_segment():
    """Without an episode end every window runs to the segment's end."""
    from qlearn_lite.replay import n_step_returns

    out = n_step_returns([1.0, 2.0, 4.0], [False] * 3, [False] * 3, 0.5)
    np.testing.assert_allclose(out.returns, [1 + 1 + 1, 2 + 2, 4])
    np.testing.assert_allclose(out.discounts, [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(out.last, [2, 2, 2])


def test_n_step_returns_terminal_cuts():
    """A terminal step cuts the return: discount 0, no bootstrap."""
    from qlearn_lite.replay import n_step_returns

    out = n_step_returns([1.0, 2.0, 4.0], [False, False, True], [False] * 3, 0.5)
    np.testing.assert_allclose(out.returns, [3.0, 4.0, 4.0])
    np.testing.assert_allclose(out.discounts, [0.0, 0.0, 0.0])


def test_n_step_returns_truncation_bootstraps():
    """A truncated step bootstraps from its own next observation with gamma^k."""
    from qlearn_lite.replay import n_step_returns

    out = n_step_returns([1.0, 2.0, 4.0], [False] * 3, [False, False, True], 0.5)
    np.testing.assert_allclose(out.discounts, [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(out.last, [2, 2, 2])


def test_n_step_returns_both_ends_inside_a_window():
    """A terminal and a truncation in the middle start new windows after them."""
    from qlearn_lite.replay import n_step_returns

    rewards = [1.0, 2.0, 4.0, 8.0, 16.0]
    terminated = [False, True, False, False, False]
    truncated = [False, False, False, True, False]
    out = n_step_returns(rewards, terminated, truncated, 0.5)
    np.testing.assert_allclose(out.returns, [1 + 1, 2, 4 + 4, 8, 16])
    np.testing.assert_allclose(out.discounts, [0.0, 0.0, 0.25, 0.5, 0.5])
    np.testing.assert_array_equal(out.last, [1, 1, 3, 3, 4])


def test_n_step_returns_torch_batch_matches_numpy():
    """Batched torch input gives the same numbers as NumPy, column by column."""
    from qlearn_lite.replay import n_step_returns

    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3))
    terminated = rng.random((6, 3)) < 0.2
    truncated = (rng.random((6, 3)) < 0.2) & ~terminated
    batched = n_step_returns(
        torch.tensor(rewards), torch.tensor(terminated), torch.tensor(truncated), 0.9
    )
    for column in range(3):
        single = n_step_returns(
            rewards[:, column], terminated[:, column], truncated[:, column], 0.9
        )
        np.testing.assert_allclose(batched.returns[:, column].numpy(), single.returns)
        np.testing.assert_allclose(
            batched.discounts[:, column].numpy(), single.discounts
        )
        np.testing.assert_array_equal(batched.last[:, column].numpy(), single.last)


def test_n_step_returns_tensors_are_bit_for_bit_the_numpy_loop():
    """The tensor path (one [4, batch] recursion) gives exactly the NumPy
    loop's float64 numbers, on segments of 1-8 steps with terminal and
    truncated steps anywhere, gamma 0 and 1 included; dtype and shape kept."""
    from qlearn_lite.replay import n_step_returns

    rng = np.random.default_rng(1)
    for trial in range(300):
        length = int(rng.integers(1, 9))
        rewards = rng.normal(size=(length, 5)) * (trial % 3 != 0)  # zeros too
        terminated = rng.random((length, 5)) < 0.25
        truncated = (rng.random((length, 5)) < 0.25) & ~terminated
        gamma = (0.0, 1.0, float(rng.random()))[trial % 3]
        ours = n_step_returns(
            torch.tensor(rewards), torch.tensor(terminated), torch.tensor(truncated),
            gamma,
        )  # fmt: skip
        assert ours.returns.dtype == torch.float64 and ours.last.dtype == torch.int64
        assert ours.returns.shape == ours.discounts.shape == (length, 5)
        for column in range(5):
            loop = n_step_returns(
                rewards[:, column], terminated[:, column], truncated[:, column], gamma
            )
            assert ours.returns[:, column].numpy().tobytes() == loop.returns.tobytes()
            assert ours.discounts[:, column].numpy().tobytes() == (
                loop.discounts.tobytes()
            )
            assert ours.last[:, column].tolist() == loop.last.tolist()
    single = n_step_returns(
        torch.tensor([1.0, 2.0], dtype=torch.float32),
        torch.tensor([False, True]),
        torch.tensor([False, False]),
        0.5,
    )
    assert single.returns.dtype == torch.float32
    assert single.returns.tolist() == [2.0, 2.0] and single.last.tolist() == [1, 1]
    assert single.discounts.tolist() == [0.0, 0.0]


def test_buffer_with_discounts_returns_n_step_batches():
    """A buffer made with discounts=True stores and samples each discount."""
    from qlearn_lite.replay import NStepBatch

    buffer = ReplayBuffer(4, (1,), seed=0, discounts=True)
    buffer.add(np.zeros(1), 0, 1.0, np.ones(1), False, 0.25)
    buffer.add(np.zeros(1), 1, 2.0, np.ones(1), True, 0.25)
    batch = buffer.sample(2)
    assert isinstance(batch, NStepBatch)
    assert batch.discounts.tolist() == [0.25, 0.25]
    with pytest.raises(ValueError, match="discounts=True"):
        buffer.add(np.zeros(1), 0, 1.0, np.ones(1), False)
    assert buffer.nbytes_per_transition == 2 * 4 + 8 + 4 + 1 + 4


# ------------------------------------------------------------- hostile input
def _filled(obs_dtype=np.float32) -> ReplayBuffer:
    buffer = ReplayBuffer(10, (4,), obs_dtype=obs_dtype, seed=0)
    fill(buffer, 3) if obs_dtype == np.float32 else None
    return buffer


ZEROS, ONES = np.zeros(4), np.ones(4)
LAKE = gym.make("FrozenLake-v1")
BATCH = np.zeros((2, 4))
REPLAY = dict(alpha=0.1, gamma=0.9, epsilon=0.1, progress=False)


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: ReplayBuffer(10, (4.7,)), TypeError, "obs_shape must be"),
        (lambda: ReplayBuffer(10, "84"), TypeError, "obs_shape must be"),
        (lambda: ReplayBuffer(10, (0,)), ValueError, "obs_shape must be"),
        (lambda: ReplayBuffer(10, 4, obs_dtype="foo"), TypeError, "obs_dtype"),
        (lambda: ReplayBuffer(10, 4, obs_dtype=object), TypeError, "obs_dtype"),
        (lambda: ReplayBuffer(10, 4, seed=-1), ValueError, "seed"),
        (lambda: ReplayBuffer(10**15, (84, 84)), ValueError,
         "ReplayBuffer of 1000000000000000 transitions needs"),
        (lambda: _filled().add(ZEROS, 1.7, 0.0, ONES, False), TypeError,
         "action must be an int >= 0, got 1.7"),
        (lambda: _filled().add(ZEROS, -1, 0.0, ONES, False), ValueError,
         "action must be an int >= 0"),
        (lambda: _filled().add(ZEROS, 1, math.nan, ONES, False), ValueError,
         "reward must be finite"),
        (lambda: _filled().add(ZEROS, 1, "1", ONES, False), TypeError,
         "reward must be a number"),
        (lambda: _filled().add(ZEROS, 1, 0.0, ONES, 2), TypeError,
         "terminated must be a bool"),
        (lambda: ReplayBuffer(5, (), np.int64).add(0, 1, 0.0, 1.5, False), ValueError,
         "next_obs has values that this buffer's dtype int64 would change"),
        (lambda: _filled(np.uint8).add(ZEROS - 1, 1, 0.0, ONES, False), ValueError,
         "obs has values"),
        (lambda: _filled().add(BATCH, np.array([0.5, 1.0]), [0, 0], BATCH,
                               [False, False]), TypeError, "action must be ints"),
        (lambda: _filled().add(BATCH, [0, -2], [0, 0], BATCH, [False, False]),
         ValueError, "action must be ints >= 0"),
        (lambda: _filled().add(BATCH, [0, 1], [0, np.inf], BATCH, [False, False]),
         ValueError, "reward must be finite"),
        (lambda: _filled().add(BATCH, [0, 1], [0, 0], BATCH, [0, 2]), TypeError,
         "terminated must be bools"),
        (lambda: ReplayBuffer(4, (1,), discounts=True).add([0], 0, 0.0, [1], False,
                                                            1.5), ValueError,
         r"discount \(gamma\*\*k\) must be in \[0, 1\], got 1.5"),
        (lambda: ReplayBuffer(4, (1,), discounts=True).add([0], 0, 0.0, [1], False,
                                                            math.nan), ValueError,
         r"discount \(gamma\*\*k\) must be in \[0, 1\], got nan"),
        (lambda: ReplayBuffer(4, (1,), discounts=True).add([0], 0, 0.0, [1], False,
                                                            "0.9"), TypeError,
         "discount .* must be a number"),
        (lambda: ReplayBuffer(4, (1,), discounts=True).add(
            BATCH[:, :1], [0, 1], [0, 0], BATCH[:, :1], [False, False], [0.5, 2.0]),
         ValueError, r"discount must be numbers in \[0, 1\]"),
        (lambda: _filled().sample(0), ValueError, "batch_size must be an int >= 1"),
        (lambda: _filled().sample(2.0), TypeError, "batch_size"),
        (lambda: _filled().sample(2, device="gpu"), ValueError, "device must be"),
        (lambda: _filled().sample_batches(2, 0), ValueError, "num_batches"),
        (lambda: _filled().sample_arrays(4), ValueError, "holds only 3"),
        (lambda: replay_q_learning(LAKE, 2, **REPLAY, q_init=math.nan), ValueError,
         "q_init"),
        (lambda: replay_q_learning(LAKE, 2, **REPLAY | {"epsilon": lambda t: 5.0}),
         ValueError, "epsilon \\(schedule at episode 0\\)"),
        (lambda: replay_q_learning(LAKE, 2, **REPLAY | {"alpha": "0.1"}),
         TypeError, "alpha"),
        (lambda: replay_q_learning(LAKE, 2, **REPLAY, snapshot_every=0),
         ValueError, "snapshot_every"),
        (lambda: replay_q_learning(LAKE, 2, **REPLAY, seed=2**64), ValueError,
         "seed"),
        (lambda: replay_q_learning(LAKE, 2.0, **REPLAY), TypeError, "episodes"),
    ],
)  # fmt: skip
def test_replay_rejects_hostile_input(call, error, phrase):
    """Every public name raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_replay_accepts_legal_variants():
    """numpy scalars, 0-d arrays, np.bool_ and integral floats into uint8 work."""
    buffer = ReplayBuffer(np.int64(4), np.int64(2), seed=np.int64(0))
    buffer.add(np.zeros(2), np.int64(1), np.float32(0.5), np.ones(2), np.bool_(True))
    buffer.add(np.zeros(2), np.array(0), np.array(1.0), np.ones(2), 0)
    assert buffer.actions[:2].tolist() == [1, 0]
    assert buffer.rewards[:2].tolist() == [0.5, 1.0]
    assert buffer.terminated[:2].tolist() == [True, False]
    images = ReplayBuffer(2, (3,), obs_dtype=np.uint8)
    images.add(np.full(3, 255.0), 0, 0.0, np.zeros(3), False)
    assert images.obs[0].tolist() == [255, 255, 255]
    result = replay_q_learning(
        LAKE, np.int64(3), np.float32(0.5), np.float64(0.5), np.float32(0.5),
        progress=False,
    )  # fmt: skip
    assert result.returns.shape == (3,)


def test_replay_buffer_memory_is_checked_before_allocating(monkeypatch):
    """Above the warning threshold a ResourceWarning; above free memory an error."""
    monkeypatch.setattr(utils, "MEMORY_WARN_BYTES", 1000)
    with pytest.warns(ResourceWarning, match="ReplayBuffer of 100 transitions"):
        ReplayBuffer(100, (4,))
    monkeypatch.setattr(utils, "available_memory", lambda device="cpu": 10_000)
    with pytest.raises(ValueError, match="needs .* available"):
        ReplayBuffer(1_000, (4,))
    # The estimate is the buffer's own size, discounts included: 49 bytes a row.
    monkeypatch.setattr(utils, "MEMORY_WARN_BYTES", 2**30)
    assert ReplayBuffer(204, (4,), discounts=True).nbytes == 204 * 49 <= 10_000
    with pytest.raises(ValueError, match="needs 0.0 MiB but only"):
        ReplayBuffer(205, (4,), discounts=True)  # 10,045 bytes
