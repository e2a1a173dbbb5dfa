"""Proportional prioritized experience replay on a sum tree (notebooks 10, 11).

Uniform replay (:class:`qlearn_lite.replay.ReplayBuffer`) revisits every
transition equally often, although most of them teach the learner little by
now. Schaul et al. (2016, "Prioritized Experience Replay", section 3.3) replay
transition ``i`` with probability

    P(i) = p_i ** alpha / sum_k p_k ** alpha,      p_i = |delta_i| + eps,

where ``delta_i`` is its last TD error: surprising transitions come back more
often; ``alpha = 0`` is uniform replay. A transition that has never been
replayed gets the largest priority seen so far, so that it is replayed at
least once.

Sampling non-uniformly biases the expected update. Importance-sampling weights
``w_i = (N * P(i)) ** -beta`` undo the bias when ``beta = 1``; ``beta`` is
annealed from ``beta_start`` to 1 over training (section 3.4), and the weights
are divided by the largest weight any stored transition could get, so that
they only ever scale an update down.

The sum tree
------------
A complete binary tree over ``capacity`` leaves (rounded up to a power of two)
whose leaves hold ``p_i ** alpha`` and whose inner nodes hold the sum of their
two children, so the root is the total. Drawing ``u`` uniform in
``[0, total)`` and walking down (left if ``u`` is below the left child's sum,
otherwise subtract it and go right) lands on leaf ``i`` with probability
``P(i)`` in ``log2(capacity)`` steps; changing a priority updates the
``log2(capacity)`` sums above it. Here both are vectorised over a whole batch:
one NumPy operation per tree level. A min tree beside it gives the smallest
priority, for the weights' normalisation.

Stratified sampling (section 3.3, appendix B.2.1): a batch of ``k`` splits
``[0, total)`` into ``k`` equal segments and draws one ``u`` in each, so a
batch covers the whole distribution; every transition keeps its probability
``P(i)`` of being drawn in each slot on average.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from qlearn_lite.utils import check_int, check_number, check_seed

__all__ = ["PrioritizedBatch", "PrioritizedReplayBuffer", "SumTree"]


class PrioritizedBatch(NamedTuple):
    """A prioritized minibatch: the transitions, where they are, their weights.

    Torch tensors from :meth:`PrioritizedReplayBuffer.sample`, NumPy arrays
    from :meth:`PrioritizedReplayBuffer.sample_arrays`.
    """

    obs: torch.Tensor
    """``obs_dtype [batch, *obs_shape]``: the state the action was taken in."""
    actions: torch.Tensor
    """``int64 [batch]``: the action taken."""
    rewards: torch.Tensor
    """``float32 [batch]``: the reward received."""
    next_obs: torch.Tensor
    """``obs_dtype [batch, *obs_shape]``: the state reached."""
    terminated: torch.Tensor
    """``float32 [batch]``: 1.0 where ``next_obs`` is terminal (no bootstrap)."""
    indices: torch.Tensor
    """``int64 [batch]``: the slots sampled; pass them to ``update_priorities``."""
    weights: torch.Tensor
    """``float32 [batch]``: importance-sampling weights in (0, 1]; multiply
    each transition's loss by its weight."""


class SumTree:
    """Sums (and minima) over ``capacity`` non-negative leaf values.

    ``total`` is the sum of all leaves, :meth:`find` maps points of
    ``[0, total)`` to leaves, :meth:`set` changes leaves; all vectorised.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = check_int("capacity", capacity)
        self.leaf_offset = 1 << max(0, (self.capacity - 1).bit_length())
        self.depth = self.leaf_offset.bit_length() - 1  # levels below the root
        self.sums = np.zeros(2 * self.leaf_offset)  # node 1 is the root
        self.minima = np.full(2 * self.leaf_offset, np.inf)

    @property
    def total(self) -> float:
        """Sum of every leaf."""
        return float(self.sums[1])

    @property
    def minimum(self) -> float:
        """Smallest leaf set so far (``inf`` before the first :meth:`set`)."""
        return float(self.minima[1])

    def values(self, leaves: npt.ArrayLike) -> np.ndarray:
        """float64: the values stored at ``leaves``."""
        return self.sums[self.leaf_offset + np.asarray(leaves, dtype=np.int64)]

    def set(self, leaves: np.ndarray, values: np.ndarray) -> None:
        """Store ``values[j]`` at leaf ``leaves[j]`` (the last one wins on repeats)
        and recompute every sum and minimum above them."""
        # Keep the last value of a repeated leaf (NumPy does not promise which
        # one a repeated fancy-index assignment keeps).
        leaves, last = np.unique(np.asarray(leaves)[::-1], return_index=True)
        values = np.asarray(values, dtype=np.float64)[::-1][last]
        nodes = self.leaf_offset + leaves
        self.sums[nodes] = values
        self.minima[nodes] = values
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            left, right = 2 * nodes, 2 * nodes + 1
            self.sums[nodes] = self.sums[left] + self.sums[right]
            self.minima[nodes] = np.minimum(self.minima[left], self.minima[right])

    def find(self, points: np.ndarray, n_filled: int) -> np.ndarray:
        """int64: for each ``point`` in ``[0, total)``, the leaf whose share of
        the total contains it (leaf ``i`` covers a width of its value)."""
        nodes = np.ones(len(points), dtype=np.int64)
        points = np.array(points, dtype=np.float64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.sums[left]
            go_right = points >= left_sum
            points = np.where(go_right, points - left_sum, points)
            nodes = np.where(go_right, left + 1, left)
        # Rounding can carry a point just past the last filled leaf into the
        # empty ones (value 0); it belongs to the last filled leaf.
        return np.minimum(nodes - self.leaf_offset, n_filled - 1)


class PrioritizedReplayBuffer:
    """A ring buffer of transitions replayed in proportion to their priority.

    Proportional prioritization (Schaul et al. 2016, section 3.3 and
    Algorithm 1) on a :class:`SumTree`; storage is a
    :class:`qlearn_lite.replay.ReplayBuffer` with the same :meth:`add`.

    Args:
        capacity: transitions kept; when full, a new one overwrites the oldest.
        obs_shape: shape of one observation (``(4,)`` for CartPole, ``()``
            for a Discrete state).
        alpha: how strongly priorities count, in [0, 1] (0: uniform).
        beta_start: importance-sampling exponent at the first sample, in
            [0, 1]; it grows linearly to 1 over ``beta_steps`` calls of
            :meth:`sample` (Schaul et al.: 0.4 to 1 for the proportional form).
        beta_steps: number of :meth:`sample` calls over which beta reaches 1.
        eps: added to every ``|TD error|`` so that no priority is 0.
        seed: seeds the buffer's own ``numpy.random.Generator``.
        obs_dtype: dtype of stored observations.

    >>> buffer = PrioritizedReplayBuffer(1000, (4,), seed=0)
    >>> buffer.add(np.zeros(4), 1, 1.0, np.ones(4), False)
    >>> batch = buffer.sample_arrays(1)
    >>> batch.indices.tolist(), batch.weights.tolist()
    ([0], [1.0])
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...] | int,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_steps: int = 100_000,
        eps: float = 1e-6,
        seed: int | None = None,
        obs_dtype: npt.DTypeLike = np.float32,
    ) -> None:
        # Imported here: qlearn_lite.replay re-exports this class at its end.
        from qlearn_lite.replay import ReplayBuffer

        capacity = check_int("capacity", capacity)
        self.alpha = check_number("alpha", alpha, 0.0, 1.0)
        self.beta_start = check_number("beta_start", beta_start, 0.0, 1.0)
        self.beta_steps = check_int("beta_steps", beta_steps)
        self.eps = check_number("eps", eps, 0.0, float("inf"), low_open=True)
        if seed is not None:
            seed = check_seed(seed)
        self.storage = ReplayBuffer(capacity, obs_shape, obs_dtype=obs_dtype)
        self.capacity = capacity
        self.obs_shape = self.storage.obs_shape
        self.tree = SumTree(capacity)
        self.rng = np.random.default_rng(seed)
        self.max_priority = 1.0  # the largest |delta| + eps seen so far
        self.sample_calls = 0

    # ------------------------------------------------------------------ adding
    def add(
        self,
        obs: npt.ArrayLike,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        next_obs: npt.ArrayLike,
        terminated: npt.ArrayLike,
    ) -> None:
        """Store one transition (or a batch), as :meth:`ReplayBuffer.add`;
        each new one gets the largest priority seen so far."""
        before = self.storage.position
        self.storage.add(obs, action, reward, next_obs, terminated)
        added = 1 if np.shape(obs) == self.obs_shape else np.shape(obs)[0]
        self._set_new(before, added, None)

    def add_batch(
        self,
        obs: npt.ArrayLike,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        next_obs: npt.ArrayLike,
        terminated: npt.ArrayLike,
        priorities: npt.ArrayLike | None = None,
    ) -> None:
        """Store ``n`` transitions: ``obs``/``next_obs`` ``[n, *obs_shape]``, the
        rest ``[n]``, as ``n`` single adds in order would.

        ``priorities`` (``[n]``, e.g. ``|TD error|`` an Ape-X actor computed)
        sets their initial priorities; None gives them the largest seen so far.
        """
        obs = np.asarray(obs)
        if obs.ndim != len(self.obs_shape) + 1 or obs.shape[1:] != self.obs_shape:
            raise ValueError(
                f"add_batch needs obs of shape (n, *{self.obs_shape}), got shape "
                f"{obs.shape}; use add for a single transition"
            )
        count = obs.shape[0]
        if priorities is not None:
            priorities = self._check_priorities(priorities, count)
        before = self.storage.position
        self.storage.add(obs, actions, rewards, next_obs, terminated)
        self._set_new(before, count, priorities)

    def _set_new(self, before: int, count: int, priorities: np.ndarray | None) -> None:
        """Give the slots just written (after ``before``) their priorities."""
        if count == 0:
            return
        kept = min(count, self.capacity)
        slots = (self.storage.position - np.arange(kept, 0, -1)) % self.capacity
        if priorities is None:
            raw = np.full(kept, self.max_priority)
        else:
            raw = priorities[-kept:] + self.eps
            self.max_priority = max(self.max_priority, float(raw.max()))
        self.tree.set(slots, raw**self.alpha)

    # ---------------------------------------------------------------- sampling
    @property
    def beta(self) -> float:
        """The importance-sampling exponent the next :meth:`sample` uses."""
        fraction = min(1.0, self.sample_calls / self.beta_steps)
        return self.beta_start + fraction * (1.0 - self.beta_start)

    def probabilities(self) -> np.ndarray:
        """float64 [len(self)]: ``P(i)`` of every stored transition (sums to 1)."""
        values = self.tree.values(np.arange(len(self)))
        return values / values.sum()

    def sample_indices(self, batch_size: int) -> np.ndarray:
        """int64 [batch_size]: slots drawn by stratified proportional sampling."""
        return self._draw_indices(batch_size)

    def _draw_indices(
        self, batch_size: int, num_batches: int | None = None
    ) -> np.ndarray:
        """Stratified proportional draws, ``[batch_size]`` (or ``[num_batches,
        batch_size]``: row by row the draws of that many one-batch calls, as
        NumPy fills the random numbers in order), in one walk of the tree."""
        batch_size = check_int("batch_size", batch_size)
        if batch_size > len(self):
            raise ValueError(
                f"cannot sample {batch_size} transitions: the buffer holds only "
                f"{len(self)}; add more first (or train after learning_starts)"
            )
        shape = (batch_size,) if num_batches is None else (num_batches, batch_size)
        width = self.tree.total / batch_size
        points = np.arange(batch_size) * width + self.rng.random(shape) * width
        return self.tree.find(points.reshape(-1), len(self)).reshape(shape)

    def _weights(self, indices: np.ndarray, beta: float) -> np.ndarray:
        """float32: ``(N P(i)) ** -beta`` divided by its largest possible value."""
        total, size = self.tree.total, len(self)
        probabilities = self.tree.values(indices) / total
        min_probability = self.tree.minimum / total
        weights = (size * probabilities) ** -beta / (size * min_probability) ** -beta
        return weights.astype(np.float32)

    def sample_arrays(
        self, batch_size: int, beta: float | None = None
    ) -> PrioritizedBatch:
        """A prioritized minibatch as NumPy arrays; advances the beta schedule.

        ``beta`` overrides the schedule for this call (the schedule still
        advances).
        """
        beta = self.beta if beta is None else check_number("beta", beta, 0.0, 1.0)
        indices = self.sample_indices(batch_size)
        self.sample_calls += 1
        return self._gather(indices, self._weights(indices, beta))

    def _gather(self, indices: np.ndarray, weights: np.ndarray) -> PrioritizedBatch:
        """The stored transitions at ``indices`` (any shape), with their weights."""
        storage = self.storage
        return PrioritizedBatch(
            storage.obs[indices],
            storage.actions[indices],
            storage.rewards[indices],
            storage.next_obs[indices],
            storage.terminated[indices].astype(np.float32),
            indices,
            weights,
        )

    def sample_many(self, batch_size: int, num_batches: int) -> PrioritizedBatch:
        """``num_batches`` prioritized minibatches at once, as NumPy arrays with a
        leading ``[num_batches]`` axis (``obs`` is ``[num_batches, batch_size,
        *obs_shape]``); advances the beta schedule by ``num_batches``.

        Bit for bit the batches that ``num_batches`` calls of
        :meth:`sample_arrays` would give: the priorities do not change between
        them, the random numbers are drawn in the same order, and each batch
        gets the beta of its own call. But the tree is walked once for all of
        them, instead of once per batch (a learner's burst of updates, as Ape-X's
        replay serves it).
        """
        num_batches = check_int("num_batches", num_batches)
        indices = self._draw_indices(batch_size, num_batches)
        weights = np.empty(indices.shape, dtype=np.float32)
        for j in range(num_batches):  # one scalar beta per batch, as one call has
            weights[j] = self._weights(indices[j], self.beta)
            self.sample_calls += 1
        return self._gather(indices, weights)

    def sample(
        self,
        batch_size: int,
        device: str | torch.device = "cpu",
        beta: float | None = None,
    ) -> PrioritizedBatch:
        """A prioritized minibatch as torch tensors on ``device`` (fields and
        shapes of :class:`PrioritizedBatch`); advances the beta schedule."""
        arrays = self.sample_arrays(batch_size, beta)
        return PrioritizedBatch(
            *(torch.from_numpy(array).to(device, non_blocking=True) for array in arrays)
        )

    # -------------------------------------------------------------- priorities
    def update_priorities(
        self, indices: npt.ArrayLike, priorities: npt.ArrayLike
    ) -> None:
        """Set the priorities of the slots ``indices`` to ``priorities + eps``.

        ``priorities`` are the new ``|TD error|`` of those transitions
        (non-negative, finite), ``[n]`` like ``indices``; a tensor is fine.
        Where a slot appears twice, the last value wins.
        """
        indices = np.asarray(
            indices.cpu() if isinstance(indices, torch.Tensor) else indices
        )
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(
                f"indices must be a 1-D array of ints (from a sample's indices), "
                f"got {indices.dtype} of shape {indices.shape}"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(
                f"indices must lie in [0, {len(self)}) (the filled slots), got "
                f"values from {indices.min()} to {indices.max()}"
            )
        raw = self._check_priorities(priorities, indices.size) + self.eps
        if raw.size:
            self.max_priority = max(self.max_priority, float(raw.max()))
            self.tree.set(indices.astype(np.int64), raw**self.alpha)

    @staticmethod
    def _check_priorities(priorities: npt.ArrayLike, count: int) -> np.ndarray:
        if isinstance(priorities, torch.Tensor):
            priorities = priorities.detach().cpu().numpy()
        values = np.asarray(priorities, dtype=np.float64)
        if values.shape != (count,):
            raise ValueError(
                f"priorities must have shape ({count},), one per index, got shape "
                f"{values.shape}"
            )
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            bad = values[~(np.isfinite(values) & (values >= 0))][0]
            raise ValueError(
                f"priorities must be finite and >= 0 (|TD errors|), got {bad!r}"
            )
        return values

    # ------------------------------------------------------------------- sizes
    def __len__(self) -> int:
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored transitions plus the two trees."""
        return self.storage.nbytes + self.tree.sums.nbytes + self.tree.minima.nbytes

    def __repr__(self) -> str:
        return (
            f"PrioritizedReplayBuffer(capacity={self.capacity}, "
            f"obs_shape={self.obs_shape}, alpha={self.alpha}, beta={self.beta:.3f}, "
            f"size={len(self)}, {self.nbytes / 2**20:.2f} MB)"
        )
