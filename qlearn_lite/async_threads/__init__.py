"""Asynchronous Q-learning with threads: three designs, measured (notebook 07).

Several workers, each with its own copy of the environment, learn one task at
the same time. Mnih et al. (2016, "Asynchronous Methods for Deep Reinforcement
Learning", section 4 and Algorithm 1; n-step: Supplementary Algorithm S2)
share *one* set of Q parameters between worker threads and let every thread
update it without locks ("Hogwild!", Recht et al. 2011). This module holds
three designs that learners meet in the wild, all on Python threads:

* :func:`async_q_learning` -- Mnih et al.'s async one-step / n-step
  Q-learning for tabular envs: one shared Q-table, a shared target table
  refreshed every ``target_update_every`` *global* steps ``T``, a global step
  counter, and per-worker exploration rates (final epsilon 0.1 / 0.01 / 0.5
  with probability 0.4 / 0.3 / 0.3, annealed from 1). ``sync="hogwild"``
  writes without a lock; ``sync="lock"`` puts every write under one lock.
  Both count the updates that were *lost*: written over by a worker that had
  read the entry before another worker's write landed.
* :func:`async_dqn` -- the same algorithm for a torch Q-network shared by all
  workers: lock-free updates of one parameter vector (each worker keeps its
  own Adam moments), a shared target network, gradients accumulated over a
  segment of ``config.train_freq`` steps or to the episode's end
  (:class:`AsyncDQNConfig`).
* :func:`independent_agents` -- every worker keeps its *own* Q (table or
  network) and target and learns from one shared, thread-safe replay buffer.

What threads buy in CPython
---------------------------
CPython (with the GIL, i.e. every default build up to 3.13) runs Python
bytecode in one thread at a time. A pure-Python table update therefore never
runs in parallel: threads interleave, they do not add cores. Only code that
*releases the GIL* runs in parallel: NumPy on large arrays, and torch kernels
(every torch op releases the GIL while its kernel runs; ``backward`` runs in
C++ without it). But each op also hands the GIL over and must take it back,
which costs more than a small kernel: ~40 eager ops per update make two
threads slower than one. :func:`async_dqn` therefore runs its whole update
(:func:`segment_update`: targets, loss, gradient, Adam step on one flat
parameter vector) as *one* TorchScript call that releases the GIL once, and
acts in NumPy; notebook 07 measures what each choice buys. Free-threaded
CPython (3.13t+) removes the GIL; processes (notebook 08) and vectorised envs
(notebook 09) are the portable ways to use more cores.

Control
-------
Every worker is a module-level ``worker(ctx, config, shared)`` run by the
parallel core (:mod:`qlearn_lite.parallel`): :func:`async_q_learning` and
:func:`async_dqn` take ``executor="threads"`` or ``"processes"`` (notebook 08).
Every function returns only after all workers have stopped. A worker that
raises stops the others at their next step and the caller gets
:class:`WorkerError` (with ``worker_id``, the worker's traceback and the
original exception as ``__cause__``); ``KeyboardInterrupt`` (interrupting a
notebook kernel) stops every worker before it propagates.
"""

from qlearn_lite.async_threads.analysis import (
    MNIH_TABLE2_SPEEDUPS,
    PROFILE_GROUPS,
    parallel_ceiling,
    profile_breakdown,
    scaling_ratios,
    snapshot_scores,
    time_to_threshold,
)
from qlearn_lite.async_threads.independent import (
    INDEPENDENT_DQN_CONFIG,
    EnsembleQNetwork,
    IndependentTableConfig,
    SharedReplayBuffer,
    independent_agents,
    network_agent_worker,
    table_agent_worker,
)
from qlearn_lite.async_threads.network import (
    ASYNC_DQN_CONFIG,
    AsyncDQNConfig,
    async_dqn,
    bind_parameters,
    dqn_worker,
    flatten_parameters,
    mlp_forward,
    scripted_segment_update,
    segment_update,
    shared_adam_step,
)
from qlearn_lite.async_threads.table import AsyncQConfig, async_q_learning, table_worker
from qlearn_lite.async_threads.workers import (
    MNIH_FINAL_EPSILONS,
    AsyncResult,
    WorkerError,
    WorkerRecord,
    n_step_returns,
    sample_final_epsilon,
)

__all__ = [
    "ASYNC_DQN_CONFIG",
    "INDEPENDENT_DQN_CONFIG",
    "MNIH_FINAL_EPSILONS",
    "MNIH_TABLE2_SPEEDUPS",
    "PROFILE_GROUPS",
    "AsyncDQNConfig",
    "AsyncQConfig",
    "AsyncResult",
    "EnsembleQNetwork",
    "IndependentTableConfig",
    "SharedReplayBuffer",
    "WorkerError",
    "WorkerRecord",
    "async_dqn",
    "async_q_learning",
    "bind_parameters",
    "dqn_worker",
    "flatten_parameters",
    "independent_agents",
    "mlp_forward",
    "n_step_returns",
    "network_agent_worker",
    "parallel_ceiling",
    "profile_breakdown",
    "sample_final_epsilon",
    "scaling_ratios",
    "scripted_segment_update",
    "segment_update",
    "shared_adam_step",
    "snapshot_scores",
    "table_agent_worker",
    "table_worker",
    "time_to_threshold",
]
