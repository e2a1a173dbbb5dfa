"""Tests for qlearn_lite.prioritized: proportional prioritized replay."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qlearn_lite.prioritized import PrioritizedReplayBuffer, SumTree
from qlearn_lite.replay import PrioritizedReplayBuffer as ExportedBuffer

# Upper 0.1% points of the chi-square distribution (df -> critical value), from
# the standard tables (e.g. NIST/SEMATECH e-Handbook, section 1.3.6.7.4).
CHI2_999 = {4: 18.467, 7: 24.322, 9: 27.877}


def chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    """Pearson's statistic of observed ``counts`` against ``probabilities``."""
    expected = counts.sum() * probabilities
    return float(((counts - expected) ** 2 / expected).sum())


def filled(n: int, capacity: int | None = None, **kwargs) -> PrioritizedReplayBuffer:
    """A buffer of ``n`` transitions whose reward is their insertion index."""
    buffer = PrioritizedReplayBuffer(capacity or n, (2,), **kwargs)
    for i in range(n):
        buffer.add(np.full(2, i), i % 3, float(i), np.full(2, i + 1), False)
    return buffer


def test_exported_from_replay():
    """qlearn_lite.replay.PrioritizedReplayBuffer is the same class."""
    assert ExportedBuffer is PrioritizedReplayBuffer


def test_sum_tree_sums_and_finds():
    """The root is the sum of the leaves, and find maps points to leaves."""
    tree = SumTree(5)  # rounded up to 8 leaves
    tree.set(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 0.5]))
    assert tree.total == pytest.approx(10.5)
    assert tree.minimum == 0.5
    points = np.array([0.0, 0.99, 1.0, 2.99, 3.0, 6.0, 9.99, 10.2])
    np.testing.assert_array_equal(tree.find(points, 5), [0, 0, 1, 1, 2, 3, 3, 4])
    tree.set(np.array([1, 1]), np.array([7.0, 0.25]))  # the last value wins
    assert tree.values([1])[0] == 0.25
    assert tree.total == pytest.approx(8.75)
    assert tree.minimum == 0.25


def test_probabilities_follow_priorities_to_the_alpha():
    """P(i) = (|delta_i| + eps)^alpha / sum_k (|delta_k| + eps)^alpha."""
    buffer = filled(4, alpha=0.5, eps=0.01)
    buffer.update_priorities(np.arange(4), np.array([0.0, 1.0, 3.0, 8.0]))
    raw = (np.array([0.0, 1.0, 3.0, 8.0]) + 0.01) ** 0.5
    np.testing.assert_allclose(buffer.probabilities(), raw / raw.sum())


@pytest.mark.parametrize("batch_size", [1, 10])
def test_sampling_frequencies_match_proportional_probabilities(batch_size):
    """Chi-square of sampling counts against exact P(i) stays below the 0.1% point;
    the same counts against uniform probabilities are far above it."""
    buffer = filled(10, alpha=0.7, seed=3)
    priorities = np.array([0.1, 0.5, 1.0, 2.0, 4.0, 0.2, 3.0, 0.05, 1.5, 6.0])
    buffer.update_priorities(np.arange(10), priorities)
    exact = (priorities + buffer.eps) ** 0.7
    exact /= exact.sum()
    draws = np.concatenate(
        [buffer.sample_indices(batch_size) for _ in range(20_000 // batch_size)]
    )
    counts = np.bincount(draws, minlength=10)
    assert chi_square(counts, exact) < CHI2_999[9]
    assert chi_square(counts, np.full(10, 0.1)) > 50 * CHI2_999[9]


def test_stratified_batch_covers_every_segment():
    """With equal priorities, a batch of n from n transitions takes each once."""
    buffer = filled(8, seed=0)
    for _ in range(20):
        assert sorted(buffer.sample_indices(8).tolist()) == list(range(8))


def test_sampled_rows_match_their_indices():
    """Each sampled row is the transition stored at its index."""
    buffer = filled(20, seed=1)
    batch = buffer.sample_arrays(16)
    np.testing.assert_array_equal(batch.rewards, batch.indices.astype(np.float32))
    np.testing.assert_array_equal(batch.obs[:, 0], batch.indices)
    np.testing.assert_array_equal(batch.next_obs[:, 1], batch.indices + 1)
    np.testing.assert_array_equal(batch.actions, batch.indices % 3)


def test_new_transitions_get_the_max_priority():
    """After an update to 5.0, a new transition gets priority 5.0 + eps too."""
    buffer = filled(3, capacity=10, alpha=1.0, eps=0.0 + 1e-6)
    buffer.update_priorities(np.array([0, 1, 2]), np.array([0.5, 5.0, 1.0]))
    buffer.add(np.zeros(2), 0, 0.0, np.ones(2), True)
    values = buffer.tree.values(np.arange(4))
    np.testing.assert_allclose(values, [0.5, 5.0, 1.0, 5.0], rtol=1e-5)


def test_add_batch_with_and_without_priorities():
    """add_batch stores n rows like n adds; given priorities are used as is."""
    buffer = PrioritizedReplayBuffer(6, (2,), alpha=1.0, eps=1e-6, seed=0)
    obs = np.arange(8, dtype=np.float32).reshape(4, 2)
    buffer.add_batch(obs, np.arange(4), np.arange(4.0), obs + 1, np.zeros(4, bool))
    np.testing.assert_allclose(buffer.tree.values(np.arange(4)), 1.0, rtol=1e-5)
    buffer.add_batch(
        obs, np.arange(4), np.arange(4.0), obs + 1, np.zeros(4, bool), [1, 2, 3, 9]
    )
    assert len(buffer) == 6 and buffer.storage.position == 2
    # Slots 4, 5, 0, 1 got the new rows and their priorities; 2, 3 kept theirs.
    np.testing.assert_allclose(
        buffer.tree.values(np.arange(6)), [3, 9, 1, 1, 1, 2], rtol=1e-5
    )
    np.testing.assert_array_equal(buffer.storage.rewards, [2, 3, 2, 3, 0, 1])
    assert buffer.max_priority == pytest.approx(9.0)


def test_wrap_around_replaces_the_oldest_priority():
    """Overwriting a slot replaces its priority with the current maximum."""
    buffer = filled(4, alpha=1.0)
    buffer.update_priorities(np.arange(4), np.array([0.1, 0.2, 0.3, 2.0]))
    buffer.add(np.zeros(2), 0, 9.0, np.ones(2), False)  # overwrites slot 0
    assert buffer.storage.rewards[0] == 9.0
    assert buffer.tree.values([0])[0] == pytest.approx(2.0, rel=1e-5)
    assert buffer.tree.total == pytest.approx(0.2 + 0.3 + 2.0 + 2.0, rel=1e-5)


def test_priority_update_changes_what_is_sampled():
    """One transition with all the priority is the only one sampled."""
    buffer = filled(50, seed=4)
    buffer.update_priorities(np.arange(50), np.zeros(50))
    buffer.update_priorities(np.array([17]), np.array([1000.0]))
    draws = np.concatenate([buffer.sample_indices(5) for _ in range(100)])
    assert np.mean(draws == 17) > 0.99


def test_beta_anneals_linearly_to_one():
    """beta goes from beta_start to 1 over beta_steps samples, then stays."""
    buffer = filled(4, beta_start=0.4, beta_steps=10, seed=0)
    betas = []
    for _ in range(12):
        betas.append(buffer.beta)
        buffer.sample_arrays(2)
    np.testing.assert_allclose(betas[:11], 0.4 + 0.06 * np.arange(11))
    assert betas[11] == 1.0


def test_importance_weights():
    """w_i = (N P(i))^-beta / max_j w_j: 1 for the rarest, below 1 for others."""
    buffer = filled(4, alpha=1.0, eps=1e-9, seed=0)
    priorities = np.array([1.0, 2.0, 4.0, 8.0])
    buffer.update_priorities(np.arange(4), priorities)
    batch = buffer.sample_arrays(4, beta=0.5)
    probabilities = priorities / priorities.sum()
    raw = (4 * probabilities) ** -0.5
    expected = raw / raw.max()  # the max weight belongs to priority 1.0
    np.testing.assert_allclose(batch.weights, expected[batch.indices], rtol=1e-5)
    assert batch.weights.dtype == np.float32
    # beta = 0: no correction at all.
    np.testing.assert_array_equal(buffer.sample_arrays(4, beta=0.0).weights, 1.0)


def test_uniform_when_alpha_is_zero():
    """alpha = 0 makes every probability 1/N and every weight 1."""
    buffer = filled(5, alpha=0.0, seed=0)
    buffer.update_priorities(np.arange(5), np.array([0.1, 1, 10, 100, 1000.0]))
    np.testing.assert_allclose(buffer.probabilities(), 0.2)
    np.testing.assert_allclose(buffer.sample_arrays(5, beta=1.0).weights, 1.0)


def test_sample_returns_tensors_and_accepts_tensor_priorities():
    """sample gives torch tensors; update_priorities takes them back."""
    buffer = filled(8, seed=0)
    batch = buffer.sample(4)
    assert all(isinstance(field, torch.Tensor) for field in batch)
    assert batch.indices.dtype == torch.int64 and batch.weights.dtype == torch.float32
    buffer.update_priorities(batch.indices, torch.full((4,), 3.0))
    np.testing.assert_allclose(
        buffer.tree.values(batch.indices.numpy()), (3.0 + 1e-6) ** 0.6
    )


def test_same_seed_same_samples():
    """Two buffers with one seed and one history sample the same indices."""
    first, second = filled(30, seed=7), filled(30, seed=7)
    for buffer in (first, second):
        buffer.update_priorities(np.arange(30), np.linspace(0, 3, 30))
    np.testing.assert_array_equal(first.sample_indices(16), second.sample_indices(16))


def test_sample_many_is_the_same_as_that_many_sample_arrays_calls():
    """One walk of the tree for a burst gives the batches (and betas) that
    batch-by-batch sampling gives, bit for bit, from the same seed."""
    many, one_by_one = (
        filled(40, beta_start=0.4, beta_steps=3, seed=5) for _ in range(2)
    )
    for buffer in (many, one_by_one):
        buffer.update_priorities(np.arange(40), np.linspace(0.1, 4.0, 40))
    burst = many.sample_many(8, 5)
    batches = [one_by_one.sample_arrays(8) for _ in range(5)]
    assert burst.obs.shape == (5, 8, 2) and burst.weights.dtype == np.float32
    for field in burst._fields:
        expected = np.stack([getattr(batch, field) for batch in batches])
        np.testing.assert_array_equal(getattr(burst, field), expected, err_msg=field)
    assert many.sample_calls == one_by_one.sample_calls == 5
    assert many.beta == one_by_one.beta == 1.0  # the schedule advanced per batch
    # later batches (beta 1) weigh differently from the first (beta 0.4)
    assert not np.array_equal(burst.weights[0], burst.weights[4])
    with pytest.raises(ValueError, match="holds only 40"):
        many.sample_many(41, 2)
    with pytest.raises(ValueError, match="num_batches"):
        many.sample_many(8, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"capacity": 0}, ValueError, "capacity"),
        ({"capacity": 2.5}, TypeError, "capacity"),
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"beta_start": -0.1}, ValueError, "beta_start"),
        ({"beta_steps": 0}, ValueError, "beta_steps"),
        ({"eps": 0.0}, ValueError, "eps"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    """Bad arguments raise a clear error naming the argument."""
    arguments = {"capacity": 10, "obs_shape": (2,), **kwargs}
    with pytest.raises(error, match=match):
        PrioritizedReplayBuffer(**arguments)


def test_bad_sampling_and_updates():
    """Too large a batch, bad indices and bad priorities are refused clearly."""
    buffer = filled(4, capacity=10)
    with pytest.raises(ValueError, match="holds only 4"):
        buffer.sample_arrays(5)
    with pytest.raises(ValueError, match="batch_size"):
        buffer.sample_arrays(0)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        buffer.update_priorities(np.array([1, 4]), np.array([1.0, 1.0]))
    with pytest.raises(TypeError, match="indices"):
        buffer.update_priorities(np.array([0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        buffer.update_priorities(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        buffer.update_priorities(np.array([0, 1]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        buffer.update_priorities(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="add_batch needs obs"):
        buffer.add_batch(np.zeros(2), 0, 0.0, np.zeros(2), False)
    with pytest.raises(ValueError, match="beta"):
        buffer.sample_arrays(2, beta=2.0)
