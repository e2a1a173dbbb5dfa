"""Experience replay: a preallocated NumPy ring buffer of transitions (notebook 04).

Consecutive transitions of one episode are strongly correlated, and a learner
that trains on them in order forgets what it saw a few hundred steps ago. Lin
(1992, "Self-improving reactive agents based on reinforcement learning,
planning and teaching", section 4.4) and Mnih et al. (2015, "Human-level
control through deep reinforcement learning", Methods: "experience replay")
store every transition in a memory and train on uniformly sampled minibatches:
the samples are nearly independent and every transition is reused many times.

:class:`ReplayBuffer` is that memory as a ring: ``capacity`` slots in
preallocated arrays, a write position that wraps around, so the oldest
transition is overwritten first and adding never allocates.

Why ``terminated`` and not ``done``
-----------------------------------
Gymnasium ends an episode for two different reasons. ``terminated`` means the
MDP reached a terminal state (the pole fell, the agent fell into a hole): the
value of what follows is 0 and the TD target is just ``r``. ``truncated``
means a time limit cut the episode (CartPole-v1 stops at 500 steps): the state
is an ordinary state and the target must still bootstrap,
``r + gamma * max_a Q(s', a)``. Storing ``done = terminated or truncated``
would teach the agent that the 500th step of a perfect balance is worth
nothing. So the buffer stores ``terminated`` only; the training loop resets
the env on either flag.

Memory per transition
---------------------
Each slot holds ``obs`` and ``next_obs`` (``2 * obs_nbytes``), the action
(``int64``, 8 bytes), the reward (``float32``, 4 bytes) and ``terminated``
(``bool``, 1 byte). For CartPole (4 ``float32`` numbers, 16 bytes) that is
``2 * 16 + 8 + 4 + 1 = 45`` bytes, so 100,000 transitions take 4.5 million
bytes (4.3 MiB); for an
Atari frame stack (4 x 84 x 84 ``uint8``) it is 56 KB per transition and 5.6 GB
per 100,000, which is why Atari buffers drop ``next_obs`` and share frames.
:attr:`ReplayBuffer.nbytes_per_transition` and :attr:`ReplayBuffer.nbytes`
give the exact numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch

from qlearn_lite.tabular import (
    TabularResult,
    _check_alpha,
    _check_epsilon,
    _check_gamma,
    _check_record_memory,
    _epsilon_at,
    _epsilon_greedy,
    _q_update,
    _td_target,
    discrete_sizes,
    initial_q,
)
from qlearn_lite.utils import (
    check_finite,
    check_int,
    check_memory,
    check_seed,
    check_unit,
    child_seeds,
    get_device,
)
from qlearn_lite.utils import progress as progress_bar


class ReplayBatch(NamedTuple):
    """A minibatch of transitions, one row per transition.

    From :meth:`ReplayBuffer.sample` the fields are torch tensors; from
    :meth:`ReplayBuffer.sample_arrays` they are NumPy arrays.
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


class NStepBatch(NamedTuple):
    """A minibatch of n-step transitions: :class:`ReplayBatch` plus discounts.

    From a buffer made with ``ReplayBuffer(..., discounts=True)``. The TD
    target of row ``i`` is ``rewards[i] + discounts[i] * (1 - terminated[i])
    * max_a Q(next_obs[i], a)``.
    """

    obs: torch.Tensor
    """``obs_dtype [batch, *obs_shape]``: the state the first action was taken in."""
    actions: torch.Tensor
    """``int64 [batch]``: the first action."""
    rewards: torch.Tensor
    """``float32 [batch]``: the discounted sum of the window's rewards."""
    next_obs: torch.Tensor
    """``obs_dtype [batch, *obs_shape]``: the state bootstrapped from."""
    terminated: torch.Tensor
    """``float32 [batch]``: 1.0 where ``next_obs`` is terminal (no bootstrap)."""
    discounts: torch.Tensor
    """``float32 [batch]``: ``gamma**k``, ``k`` the steps from ``obs`` to
    ``next_obs`` (``n``, or fewer where a time limit cut the window)."""


# ============================================================ n-step returns
class NStepReturns(NamedTuple):
    """What :func:`n_step_returns` gives for every step of a segment."""

    returns: Any
    """``[L, *batch]``: the discounted sum of the rewards of each step's window."""
    discounts: Any
    """``[L, *batch]``: ``gamma**k`` (``k`` the window's length), 0 where the
    window ends in a terminal state."""
    last: Any
    """int ``[L, *batch]``: the index of each window's last step; its next
    observation is the state to bootstrap from."""


def n_step_returns(
    rewards: Any, terminated: Any, truncated: Any, gamma: float
) -> NStepReturns:
    """The n-step returns of a segment, under the one convention of the course.

    ``rewards``, ``terminated`` and ``truncated`` are ``[L, *batch]`` (NumPy
    arrays, torch tensors, or lists) for the ``L`` steps of a segment of at
    most ``n`` steps: ``r_0, ..., r_{L-1}``, each step's flags. Step ``i``'s
    window runs from ``i`` to the first episode end at or after ``i``, or to
    the segment's last step ``L - 1``. Its target is

        G_i = r_i + gamma r_{i+1} + ... + gamma^(k-1) r_{last}
              + gamma^k (1 - terminated_last) V(s'_last),   k = last - i + 1

    returned as ``returns = G_i`` without the bootstrap term, ``discounts =
    gamma^k (1 - terminated_last)`` and ``last``; the caller adds ``discounts
    * V(next_obs[last])``. This is the convention that Pardo et al. (2018,
    "Time Limits in Reinforcement Learning", section 3) argue for:

    * a *terminal* step cuts the return (its value is 0, ``discounts = 0``);
    * a *truncated* step (a time limit) bootstraps from the value of the true
      final observation (Gymnasium's ``next_obs`` of that step, or
      ``info["final_obs"]`` after an autoreset), not from the reset one;
    * a window that reaches the end of the segment bootstraps there: Mnih et
      al.'s forward view (2016, Algorithm S2).

    Replay (:func:`qlearn_lite.dqn.n_step_transitions`), DQN, the async
    learners and the vectorised learners all use this one function.
    """
    tensors = isinstance(rewards, torch.Tensor)
    if tensors:
        ends = (torch.as_tensor(terminated) | torch.as_tensor(truncated)).to(rewards)
        cuts = torch.as_tensor(terminated).to(rewards)
    else:
        rewards = np.asarray(rewards, dtype=np.float64)
        ends = (np.asarray(terminated) | np.asarray(truncated)).astype(np.float64)
        cuts = np.asarray(terminated).astype(np.float64)
    length = len(rewards)
    if length == 0:
        raise ValueError("n_step_returns needs a segment of at least one step")
    if ends.shape != rewards.shape or cuts.shape != rewards.shape:
        raise ValueError(
            "rewards, terminated and truncated must have one shape, got "
            f"{tuple(rewards.shape)}, {tuple(np.shape(terminated))} and "
            f"{tuple(np.shape(truncated))}"
        )
    if tensors:
        return _n_step_returns_tensors(rewards, ends, cuts, gamma)
    returns, discounts, last = (np.empty_like(rewards) for _ in range(3))
    # Backward over the segment, with 0/1 masks instead of branches, so that
    # one code serves a single env and a batch of them. ``end`` is 1 where a
    # step ends its episode: the window of that step starts afresh there.
    running, discount, window_last, cut = rewards[length - 1], gamma, length - 1, 0.0
    ended = 1.0  # the segment's last step always closes its window
    for i in range(length - 1, -1, -1):
        if i < length - 1:
            ended = ends[i]
            keep = 1.0 - ended
            running = rewards[i] + gamma * keep * running
            discount = gamma * (ended + keep * discount)
            window_last = ended * i + keep * window_last
            cut = ended * cuts[i] + keep * cut
        else:
            cut = cuts[i]
        returns[i] = running
        discounts[i] = discount * (1.0 - cut)
        last[i] = window_last
    return NStepReturns(returns, discounts, last.astype(np.int64))


def _n_step_returns_tensors(
    rewards: torch.Tensor, ends: torch.Tensor, cuts: torch.Tensor, gamma: float
) -> NStepReturns:
    """:func:`n_step_returns` on tensors, the same recursion in fewer operations.

    The four running quantities (return, discount, window end, cut) travel as
    one ``[4, *batch]`` tensor, so a step of the recursion is three operations
    instead of about sixteen (the vectorised DQN calls this every vector
    step). Because ``ends`` and ``keep`` are exactly 0 or 1, every product
    and sum gives the same floating-point number as the loop above, bit for
    bit (``tests/test_replay.py`` compares the two).
    """
    length = len(rewards)
    ends = ends.clone()
    ends[length - 1] = 1.0  # the segment's last step always closes its window
    keep = 1.0 - ends
    ones = [1] * (rewards.dim() - 1)
    index = torch.arange(length, dtype=rewards.dtype, device=rewards.device)
    # Where a window ends at step i it restarts from [r_i, gamma, i, cut_i].
    fresh = torch.stack(
        (rewards, ends * gamma, ends * index.view(-1, *ones), ends * cuts), dim=1
    )
    scale = rewards.new_ones(4)  # [gamma, gamma, 1, 1], with no host-to-device copy
    scale[:2] = gamma
    scale = scale.view(4, *ones)
    state = fresh[length - 1]
    rows = [state]
    for i in range(length - 2, -1, -1):
        # [r_i + gamma keep G, gamma (end + keep d), end i + keep last, ...]
        state = (state * scale).mul_(keep[i]).add_(fresh[i])
        rows.append(state)
    rows.reverse()
    out = torch.stack(rows, dim=1)  # [4, L, *batch]
    return NStepReturns(out[0], out[1] * (1.0 - out[3]), out[2].long())


def _positive_int(name: str, value: object) -> int:
    """:func:`~qlearn_lite.utils.check_int` with ``minimum=1``."""
    return check_int(name, value, minimum=1)


def _scalar(value: Any) -> Any:
    """A 0-d NumPy array as its Python scalar; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _check_action(action: Any) -> int:
    return check_int("action", _scalar(action), minimum=0)


def _check_reward(reward: Any) -> float:
    return check_finite("reward", _scalar(reward))


def _check_discount(discount: Any) -> float:
    return check_unit("discount (gamma**k)", _scalar(discount))


def _check_terminated(terminated: Any) -> bool:
    value = _scalar(terminated)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"terminated must be a bool (True or False), got {terminated!r}")


class ReplayBuffer:
    """A fixed-size ring buffer of ``(obs, action, reward, next_obs, terminated)``.

    Args:
        capacity: the number of transitions kept; when full, each new one
            overwrites the oldest.
        obs_shape: the shape of one observation, ``(4,)`` for CartPole, ``()``
            for a Discrete state such as FrozenLake's.
        obs_dtype: the dtype observations are stored in (``np.float32`` for
            Box observations, ``np.int64`` for Discrete states, ``np.uint8``
            for images).
        seed: seeds the buffer's own ``numpy.random.Generator`` (used by
            :meth:`sample`), so sampling never touches global random state.
        discounts: keep one bootstrap discount per transition (``gamma**k``
            of an n-step transition, see :func:`n_step_returns`); ``add``
            then takes it as a sixth argument and batches are
            :class:`NStepBatch`.

    The memory is estimated before anything is allocated: a buffer larger
    than the memory available raises ``ValueError``, one above
    :data:`qlearn_lite.utils.MEMORY_WARN_BYTES` (1 GiB) warns. The arrays
    are allocated zeroed by the operating system, page by page as they are
    first written, so a large buffer that is never filled costs little.

    Not thread-safe: threads that share one buffer must hold a lock around
    ``add`` and ``sample`` (as :mod:`qlearn_lite.async_threads` does).

    >>> buffer = ReplayBuffer(capacity=1000, obs_shape=(4,), seed=0)
    >>> buffer.add(np.zeros(4), 1, 1.0, np.ones(4), False)
    >>> len(buffer), buffer.nbytes_per_transition
    (1, 45)
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...] | int,
        obs_dtype: npt.DTypeLike = np.float32,
        seed: int | None = None,
        discounts: bool = False,
    ) -> None:
        self.capacity = _positive_int("capacity", capacity)
        if isinstance(obs_shape, (int, np.integer)) and not isinstance(obs_shape, bool):
            obs_shape = (obs_shape,)
        expected = "a tuple of ints >= 1 such as (4,) or ()"
        if isinstance(obs_shape, np.ndarray) and obs_shape.ndim == 1:
            obs_shape = tuple(obs_shape.tolist())
        if not isinstance(obs_shape, (tuple, list)):
            raise TypeError(f"obs_shape must be {expected}, got {obs_shape!r}")
        for size in obs_shape:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"obs_shape must be {expected}, got {obs_shape!r}")
            if size < 1:
                raise ValueError(f"obs_shape must be {expected}, got {obs_shape!r}")
        self.obs_shape = tuple(int(size) for size in obs_shape)
        try:
            self.obs_dtype = np.dtype(obs_dtype)
        except TypeError:
            self.obs_dtype = None
        if self.obs_dtype is None or self.obs_dtype.kind not in "biuf":
            raise TypeError(
                "obs_dtype must be a NumPy number or bool dtype such as "
                f"np.float32, np.int64 or np.uint8, got {obs_dtype!r}"
            )
        self.rng = np.random.default_rng(None if seed is None else check_seed(seed))
        obs_nbytes = self.obs_dtype.itemsize * math.prod(self.obs_shape)
        # What nbytes_per_transition will say: obs and next_obs, an int64
        # action, a float32 reward, a bool flag and maybe a float32 discount.
        check_memory(
            f"a ReplayBuffer of {self.capacity} transitions",
            self.capacity * (2 * obs_nbytes + 8 + 4 + 1 + (4 if discounts else 0)),
        )
        # np.zeros, not np.zeros_like: calloc'd pages are only touched when a
        # transition is first written there.
        self.obs = np.zeros((self.capacity, *self.obs_shape), dtype=self.obs_dtype)
        self.next_obs = np.zeros((self.capacity, *self.obs_shape), self.obs_dtype)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.bool_)
        # n-step transitions: each its own bootstrap discount gamma**k.
        self.discounts = np.zeros(self.capacity, np.float32) if discounts else None
        self.position = 0  # the slot the next transition is written to
        self.size = 0  # how many slots hold a transition (<= capacity)

    # ------------------------------------------------------------------ adding
    def add(
        self,
        obs: npt.ArrayLike,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        next_obs: npt.ArrayLike,
        terminated: npt.ArrayLike,
        discount: npt.ArrayLike | None = None,
    ) -> None:
        """Store one transition, or a batch of ``n`` of them.

        One transition: ``obs`` and ``next_obs`` of shape ``obs_shape``, scalar
        ``action``, ``reward``, ``terminated``. A batch: ``obs`` and
        ``next_obs`` of shape ``[n, *obs_shape]`` and the others of shape
        ``[n]``; it is stored exactly as ``n`` single adds in order would be.

        ``action`` must be an int >= 0, ``reward`` a finite number,
        ``terminated`` a bool and ``discount`` a number in [0, 1]
        (``TypeError`` or ``ValueError`` otherwise);
        observations must have the buffer's shape and values that its dtype
        keeps (no 1.7 into an int buffer, no 300 into a uint8 one).
        """
        if (discount is None) != (self.discounts is None):
            raise ValueError(
                "this buffer was made with discounts="
                f"{self.discounts is not None}: give discount "
                f"{'(gamma**k)' if self.discounts is not None else 'None'}, "
                f"got {discount!r}"
            )
        obs = np.asarray(obs)
        if obs.shape == self.obs_shape:  # the common case: one transition
            # Cheap checks first (a learner adds every step); the full ones
            # only when they fail. `reward - reward` is NaN for inf and NaN.
            if type(action) is not int or action < 0:
                action = _check_action(action)
            if not (type(reward) is float or type(reward) is int) or (
                reward - reward != 0
            ):
                reward = _check_reward(reward)
            if type(terminated) is not bool:
                terminated = _check_terminated(terminated)
            if self.discounts is not None and not (
                type(discount) is float and 0.0 <= discount <= 1.0
            ):
                discount = _check_discount(discount)
            if obs.dtype != self.obs_dtype:
                self._check_obs_dtype("obs", obs)
            next_obs = self._check_obs("next_obs", next_obs, ())
            index = self.position
            self.obs[index] = obs
            self.next_obs[index] = next_obs
            self.actions[index] = action
            self.rewards[index] = reward
            self.terminated[index] = terminated
            if self.discounts is not None:
                self.discounts[index] = discount
            self.position = (index + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            return
        self._check_obs("obs", obs, None)
        count = obs.shape[0]
        next_obs = self._check_obs("next_obs", next_obs, (count,))
        columns = []
        for name, value in (
            ("action", action),
            ("reward", reward),
            ("terminated", terminated),
            *((("discount", discount),) if self.discounts is not None else ()),
        ):
            value = np.asarray(value)
            if value.shape != (count,):
                raise ValueError(
                    f"a batch of {count} observations needs {name} of shape "
                    f"({count},), got shape {value.shape}"
                )
            columns.append(value)
        self._check_columns(*columns)
        if count > self.capacity:  # only the last `capacity` ones survive
            obs, next_obs = obs[-self.capacity :], next_obs[-self.capacity :]
            columns = [column[-self.capacity :] for column in columns]
            self.position = (self.position + count - self.capacity) % self.capacity
            count = self.capacity
        indices = (self.position + np.arange(count)) % self.capacity
        self.obs[indices] = obs
        self.next_obs[indices] = next_obs
        self.actions[indices] = columns[0]
        self.rewards[indices] = columns[1]
        self.terminated[indices] = columns[2]
        if self.discounts is not None:
            self.discounts[indices] = columns[3]
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    @staticmethod
    def _check_columns(
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray | None = None,
    ) -> None:
        """The checks of a single add, on a batch's columns (whole arrays)."""
        if discounts is not None:
            if discounts.dtype.kind not in "iuf":
                raise TypeError(
                    f"discount must be numbers in [0, 1], got dtype {discounts.dtype}"
                )
            if not ((discounts >= 0) & (discounts <= 1)).all():  # NaN fails
                raise ValueError("discount must be numbers in [0, 1] (gamma**k)")
        if actions.dtype.kind not in "iu":
            raise TypeError(f"action must be ints >= 0, got dtype {actions.dtype}")
        if actions.size and actions.min() < 0:
            raise ValueError(f"action must be ints >= 0, got {actions.min()}")
        if rewards.dtype.kind not in "iuf":
            raise TypeError(f"reward must be numbers, got dtype {rewards.dtype}")
        if not np.isfinite(rewards).all():
            raise ValueError("reward must be finite, got nan or inf")
        if terminated.dtype.kind != "b" and not (
            terminated.dtype.kind in "iu" and np.isin(terminated, (0, 1)).all()
        ):
            raise TypeError(f"terminated must be bools, got {terminated.dtype} values")

    def _check_obs_dtype(self, name: str, value: np.ndarray) -> None:
        """Reject observations whose values this buffer's dtype would change:
        1.7 into an int buffer, -1 or 300 into uint8, strings anywhere."""
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {value.dtype}")
        if self.obs_dtype.kind == "f" or np.can_cast(value.dtype, self.obs_dtype):
            return  # into floats only rounding changes values, as intended
        with np.errstate(invalid="ignore", over="ignore"):
            same = np.array_equal(value.astype(self.obs_dtype), value)
        if not same:
            raise ValueError(
                f"{name} has values that this buffer's dtype {self.obs_dtype} "
                f"would change (non-integral, NaN or out of range for "
                f"{self.obs_dtype}); create the buffer with a matching obs_dtype"
            )

    def _check_obs(
        self, name: str, value: npt.ArrayLike, batch: tuple[int, ...] | None
    ) -> np.ndarray:
        """``value`` as an array of shape ``batch + obs_shape`` (any batch if None)."""
        value = np.asarray(value)
        if batch is None:
            ok = value.ndim == len(self.obs_shape) + 1 and (
                value.shape[1:] == self.obs_shape
            )
            expected = f"{self.obs_shape} or (n, {', '.join(map(str, self.obs_shape))})"
        else:
            ok = value.shape == batch + self.obs_shape
            expected = str(batch + self.obs_shape)
        if not ok:
            raise ValueError(
                f"{name} must have shape {expected} for this buffer "
                f"(obs_shape={self.obs_shape}), got shape {value.shape}"
            )
        if value.dtype != self.obs_dtype:
            self._check_obs_dtype(name, value)
        return value

    # ---------------------------------------------------------------- sampling
    def sample_indices(self, batch_size: int) -> np.ndarray:
        """``int64 [batch_size]`` slot indices drawn uniformly, with replacement,
        from the ``len(self)`` slots that hold a transition."""
        batch_size = self._check_batch_size(batch_size)
        return self.rng.integers(0, self.size, size=batch_size)

    def _check_batch_size(self, batch_size: int) -> int:
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size > self.size:
            raise ValueError(
                f"cannot sample {batch_size} transitions: the buffer holds only "
                f"{self.size}; add more first (or train after learning_starts)"
            )
        return batch_size

    def _gather(self, indices: np.ndarray) -> ReplayBatch | NStepBatch:
        """The transitions at ``indices`` (any shape) as NumPy arrays."""
        columns = (
            self.obs[indices],
            self.actions[indices],
            self.rewards[indices],
            self.next_obs[indices],
            self.terminated[indices].astype(np.float32),
        )
        if self.discounts is None:
            return ReplayBatch(*columns)
        return NStepBatch(*columns, self.discounts[indices])

    def _to_torch(
        self, batch: ReplayBatch | NStepBatch, device: str | torch.device
    ) -> ReplayBatch | NStepBatch:
        return type(batch)(
            *(torch.from_numpy(array).to(device, non_blocking=True) for array in batch)
        )

    def sample_arrays(self, batch_size: int) -> ReplayBatch:
        """A uniform minibatch as NumPy arrays (for tabular learners)."""
        return self._gather(self.sample_indices(batch_size))

    def sample(
        self, batch_size: int, device: str | torch.device = "cpu"
    ) -> ReplayBatch:
        """A uniform minibatch as torch tensors on ``device``.

        Shapes: ``obs``/``next_obs`` ``[batch_size, *obs_shape]`` in the
        stored dtype, ``actions`` int64 ``[batch_size]``, ``rewards`` and
        ``terminated`` float32 ``[batch_size]``. Sampling is with replacement,
        as in Mnih et al. (2015).
        """
        return self._to_torch(self.sample_arrays(batch_size), get_device(device))

    def sample_batches(
        self, batch_size: int, num_batches: int, device: str | torch.device = "cpu"
    ) -> ReplayBatch:
        """``num_batches`` independent uniform minibatches in one call.

        Fields have a leading ``[num_batches, batch_size]`` shape; row ``k``
        (``field[k]``) is one minibatch, distributed exactly as a
        :meth:`sample` call. A training burst of many gradient steps draws all
        its minibatches at once: one NumPy call instead of ``num_batches``.
        """
        batch_size = self._check_batch_size(batch_size)
        num_batches = _positive_int("num_batches", num_batches)
        device = get_device(device)
        indices = self.rng.integers(0, self.size, size=(num_batches, batch_size))
        return self._to_torch(self._gather(indices), device)

    # ------------------------------------------------------------------- sizes
    def __len__(self) -> int:
        return self.size

    @property
    def nbytes_per_transition(self) -> int:
        """Bytes one stored transition takes (obs, next_obs, action, reward, flag)."""
        return (
            2 * self.obs[0].nbytes
            + self.actions.itemsize
            + self.rewards.itemsize
            + self.terminated.itemsize
            + (0 if self.discounts is None else self.discounts.itemsize)
        )

    @property
    def nbytes(self) -> int:
        """Bytes the whole preallocated buffer takes (``capacity`` transitions)."""
        return self.capacity * self.nbytes_per_transition

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(capacity={self.capacity}, obs_shape={self.obs_shape}, "
            f"obs_dtype={self.obs_dtype.name}, size={self.size}, "
            f"{self.nbytes / 2**20:.2f} MB)"
        )


# =========================================================== tabular + replay
def replay_q_learning(
    env: gym.Env,
    episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float | Callable[[int], float],
    seed: int = 0,
    buffer_size: int = 10_000,
    updates_per_step: int = 1,
    q_init: float | np.ndarray | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
) -> TabularResult:
    """Tabular Q-learning that learns only from replayed transitions.

    Every env step stores ``(s, a, r, s', terminated)`` in a
    :class:`ReplayBuffer` of ``buffer_size`` transitions, then applies the
    Q-learning update of :func:`qlearn_lite.tabular.q_learning` to
    ``updates_per_step`` transitions sampled uniformly from the buffer (Lin
    1992; the tabular form of Mnih et al. 2015's replay). With
    ``updates_per_step=1`` it does exactly as many updates as online
    Q-learning (same compute); larger values reuse each transition more.

    Arguments and result are those of :func:`qlearn_lite.tabular.q_learning`
    (``epsilon`` a number or a schedule of the episode), plus ``buffer_size``
    and ``updates_per_step``. ``seed`` is split into the agent's, the env's and
    the buffer's streams.
    """
    n_states, n_actions = discrete_sizes(env)
    episodes = _positive_int("episodes", episodes)
    buffer_size = _positive_int("buffer_size", buffer_size)
    updates_per_step = _positive_int("updates_per_step", updates_per_step)
    alpha, gamma = _check_alpha(alpha), _check_gamma(gamma)
    if not callable(epsilon):
        epsilon = _check_epsilon(epsilon)
    if snapshot_every is not None:
        snapshot_every = _positive_int("snapshot_every", snapshot_every)
    Q = initial_q(q_init, n_states, n_actions, broadcast=True)
    _check_record_memory(episodes, Q, snapshot_every)
    agent_seed, env_seed, buffer_seed = child_seeds(seed, 3)
    rng = np.random.default_rng(agent_seed)
    buffer = ReplayBuffer(buffer_size, (), np.int64, seed=buffer_seed)

    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    epsilons = np.zeros(episodes)
    ended = np.zeros(episodes, dtype=bool)
    snapshots, snapshot_episodes = [], []
    bar = progress_bar(
        range(episodes),
        desc="replay Q-learning",
        unit="ep",
        **({} if progress else {"disable": True}),
    )
    for episode in bar:
        eps = _epsilon_at(epsilon, episode)
        obs, _ = env.reset(seed=env_seed if episode == 0 else None)
        total, length = 0.0, 0
        while True:
            # The pure functions without their checks (done once above).
            action = _epsilon_greedy(Q[obs].tolist(), eps, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated)
            # Learn from the memory, not from the transition just seen.
            batch = buffer.sample_arrays(min(updates_per_step, len(buffer)))
            for s, a, r, s_next, done in zip(
                *(column.tolist() for column in batch), strict=True
            ):
                target = _td_target(r, max(Q[s_next].tolist()), bool(done), gamma)
                Q[s, a] = _q_update(Q[s, a], target, alpha)
            total += reward
            length += 1
            if terminated or truncated:
                break
            obs = next_obs
        returns[episode], lengths[episode] = total, length
        epsilons[episode], ended[episode] = eps, terminated
        if snapshot_every and (episode + 1) % snapshot_every == 0:
            snapshots.append(Q.copy())
            snapshot_episodes.append(episode + 1)
    return TabularResult.from_run(
        Q, returns, lengths, epsilons, ended, snapshots, snapshot_episodes
    )


from qlearn_lite.prioritized import PrioritizedReplayBuffer  # noqa: E402, F401
