"""What runs inside the Ray actors of :mod:`qlearn_lite.distributed.sharded`.

Only NumPy is imported here, so that an actor process, which imports this
module to unpickle its arguments, stays small (about 40 MB instead of the
280 MB that importing torch through the rest of the package costs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qlearn_lite.tabular import TransitionTable

__all__ = [
    "BlockLearner",
    "Plan",
    "QShard",
    "ShardWorker",
    "TransitionSampler",
    "pull_other_blocks",
]


@dataclass(frozen=True)
class TransitionSampler:
    """Draws ``(s', r, terminated)`` for given ``(s, a)`` from a transition table.

    Entries are those of :class:`qlearn_lite.tabular.TransitionTable`, grouped
    by ``(s, a)``; ``first`` and ``count`` say where each group lies. Plain
    arrays: one ``ray.put`` sends it to every worker.
    """

    n_states: int
    n_actions: int
    first: np.ndarray
    """int64 [n_states * n_actions]: index of the first entry of ``(s, a)``."""
    count: np.ndarray
    """int64 [n_states * n_actions]: number of outcomes of ``(s, a)``."""
    cumulative: np.ndarray
    """float64 [n_entries]: cumulative probability within each group."""
    next_state: np.ndarray
    """int64 [n_entries]."""
    reward: np.ndarray
    """float64 [n_entries]."""
    terminated: np.ndarray
    """bool [n_entries]."""

    @classmethod
    def from_table(cls, table: TransitionTable) -> TransitionSampler:
        """The sampler of a :class:`~qlearn_lite.tabular.TransitionTable`."""
        pairs = table.n_states * table.n_actions
        state_action = table.state * table.n_actions + table.action
        count = np.bincount(state_action, minlength=pairs).astype(np.int64)
        first = np.cumsum(count) - count
        cumulative = table.prob.copy()
        for k in range(1, int(count.max())):  # running sum within each group
            has_k = np.flatnonzero(count > k)
            cumulative[first[has_k] + k] += cumulative[first[has_k] + k - 1]
        return cls(
            table.n_states,
            table.n_actions,
            first,
            count,
            cumulative,
            table.next_state,
            table.reward,
            table.terminated,
        )

    def sample(self, state_actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """int64 [n]: one entry per ``s * n_actions + a``, drawn with its
        probability (one ``rng.random(n)`` call)."""
        draws = rng.random(len(state_actions))
        first, count = self.first[state_actions], self.count[state_actions]
        offset = np.zeros(len(state_actions), dtype=np.int64)
        for k in range(int(self.count.max()) - 1):
            # Past entry k when the draw exceeds its cumulative probability;
            # never past the last entry (rounding can leave its sum below 1).
            offset += (k < count - 1) & (
                self.cumulative[first + np.minimum(k, count - 1)] < draws
            )
        return first + offset


class BlockLearner:
    """One worker's Q-learning on its block of states, reading a local copy.

    The same class runs inside a Ray worker actor and in
    :func:`serial_sharded_q_learning`; the actor is a thin shell around it.

    Args:
        states: int64 [m]: the states this worker owns (its shards' states).
        sampler: the env's :class:`TransitionSampler`.
        q_init: float64 [n_states, n_actions]: the starting table (copied).
        alpha, alpha_decay, gamma: step size ``alpha / t ** alpha_decay`` at
            sweep ``t`` (1, 2, ...) and discount.
        seed: this worker's seed (its ``WorkerContext.agent_seed``).
    """

    def __init__(
        self,
        states: np.ndarray,
        sampler: TransitionSampler,
        q_init: np.ndarray,
        alpha: float,
        alpha_decay: float,
        gamma: float,
        seed: int,
    ) -> None:
        self.states = np.asarray(states, dtype=np.int64)
        self.sampler = sampler
        self.q = np.array(q_init, dtype=np.float64)  # the local copy of all rows
        self.alpha, self.alpha_decay, self.gamma = alpha, alpha_decay, gamma
        self.rng = np.random.default_rng(seed)
        n_actions = sampler.n_actions
        self.state_actions = (
            self.states[:, None] * n_actions + np.arange(n_actions)
        ).ravel()
        self.sweeps = 0
        self.known_versions: dict[int, int] = {}  # shard -> version of our copy

    @property
    def updates_per_sweep(self) -> int:
        """State-action pairs of the block: updates in one sweep."""
        return len(self.state_actions)

    def sweep(self) -> None:
        """One sampled Q-learning update of every ``(s, a)`` of the block.

        Targets read the local copy: this block's rows as of the previous
        sweep, the other blocks' rows as of the last refresh.
        """
        self.sweeps += 1
        step = self.alpha / self.sweeps**self.alpha_decay
        sampler, q = self.sampler, self.q
        entries = sampler.sample(self.state_actions, self.rng)
        next_value = q[sampler.next_state[entries]].max(axis=1)
        targets = sampler.reward[entries] + self.gamma * np.where(
            sampler.terminated[entries], 0.0, next_value
        )
        flat = q.reshape(-1)  # a view: writes go to self.q
        current = flat[self.state_actions]
        flat[self.state_actions] = current + step * (targets - current)

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """A copy of the local rows ``lo:hi`` (a shard's block)."""
        return self.q[lo:hi].copy()

    def refresh(
        self, shard: int, lo: int, hi: int, rows: np.ndarray, version: int
    ) -> int:
        """Replace the local copy of shard ``shard``'s rows ``lo:hi``.

        ``version`` is the number of sweeps the owner had done when it pushed
        ``rows``. Returns the lag: how many sweeps the replaced copy was
        behind (0 when the shard had not changed).
        """
        lag = version - self.known_versions.get(shard, 0)
        self.known_versions[shard] = version
        self.q[lo:hi] = rows
        return lag


@dataclass(frozen=True)
class Plan:
    """Everything both executors need, checked once."""

    sampler: TransitionSampler
    q_star: np.ndarray
    bounds: np.ndarray
    owned: list[list[int]]
    seeds: list[int]
    sweeps: int
    refresh_every: int
    alpha: float
    alpha_decay: float
    gamma: float
    record_every: int

    def worker_states(self, worker: int) -> np.ndarray:
        return np.concatenate(
            [np.arange(self.bounds[k], self.bounds[k + 1]) for k in self.owned[worker]]
        )

    def learner(self, worker: int) -> BlockLearner:
        q_init = np.zeros_like(self.q_star)
        return BlockLearner(
            self.worker_states(worker),
            self.sampler,
            q_init,
            self.alpha,
            self.alpha_decay,
            self.gamma,
            self.seeds[worker],
        )

    def calls(self) -> list[int]:
        """Rounds per call: ``refresh_every`` each, the last one what is left."""
        full, rest = divmod(self.sweeps, self.refresh_every)
        return [self.refresh_every] * full + ([rest] if rest else [])


def pull_other_blocks(
    learner: BlockLearner,
    worker: int,
    plan: Plan,
    read: Callable[[list[int]], list[tuple[np.ndarray, int]]],
    lags: list[int],
) -> None:
    """Refresh ``learner``'s copy of every block it does not own; record lags."""
    others = [k for k in range(len(plan.bounds) - 1) if k not in plan.owned[worker]]
    for k, (rows, version) in zip(others, read(others), strict=True):
        lag = learner.refresh(k, plan.bounds[k], plan.bounds[k + 1], rows, version)
        lags.append(lag)


# ============================================================ Ray actors
class QShard:
    """A shard (Ray actor): the rows of one block of states and their version.

    Only the block's owner writes, so a write is a plain assignment; the
    version is the owner's sweep count at that write.
    """

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = np.array(rows, dtype=np.float64)
        self.version = 0

    def read(self) -> tuple[np.ndarray, int]:
        """The current rows and their version."""
        return self.rows, self.version

    def write(self, rows: np.ndarray, version: int) -> None:
        """Store the owner's rows as of its sweep ``version``."""
        self.rows, self.version = rows, version

    def node_id(self) -> str:
        """The id of the node this actor runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()


class ShardWorker:
    """A worker (Ray actor): a :class:`BlockLearner` plus the shards' handles."""

    def __init__(
        self,
        worker: int,
        plan: Plan,
        shards: list[Any],
    ) -> None:
        self.worker, self.plan, self.shards = worker, plan, shards
        self.learner = plan.learner(worker)

    def pull(self) -> list[int]:
        """Refresh the copy of every other block from its shard (one
        ``ray.get`` over them all); returns the lags of this refresh."""
        import ray

        lags: list[int] = []
        pull_other_blocks(
            self.learner,
            self.worker,
            self.plan,
            lambda ks: ray.get([self.shards[k].read.remote() for k in ks]),
            lags,
        )
        return lags

    def work(self, rounds: int) -> int:
        """Sweep the own block ``rounds`` times, then push its rows to its
        shards; returns the sweeps done so far."""
        import ray

        plan, learner = self.plan, self.learner
        for _ in range(rounds):
            learner.sweep()
        bounds = plan.bounds
        ray.get(
            [
                self.shards[k].write.remote(
                    learner.rows(bounds[k], bounds[k + 1]), learner.sweeps
                )
                for k in plan.owned[self.worker]
            ]
        )
        return learner.sweeps

    def run(self, rounds: int) -> dict[str, Any]:
        """One asynchronous call: :meth:`pull`, then :meth:`work`."""
        lags = self.pull()
        return {"sweeps": self.work(rounds), "lags": lags}

    def node_id(self) -> str:
        """The id of the node this actor runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()
