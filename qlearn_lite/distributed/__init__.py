"""Distributed Q-learning on Ray (notebook 10).

* :mod:`~qlearn_lite.distributed.cluster` -- :func:`connect` and
  :func:`shutdown`: the one place Ray is started or joined;
* :mod:`~qlearn_lite.distributed.sharded` -- :func:`sharded_q_learning`: a
  parameter server whose Q-table is split by state across shard actors;
* :mod:`~qlearn_lite.distributed.blocks` -- what runs inside those actors
  (NumPy only, so that an actor process stays small);
* :mod:`~qlearn_lite.distributed.apex` -- Ape-X-lite, the Ray executor of
  :func:`qlearn_lite.actor_learner.actor_learner_dqn` (``executor="ray"``):
  actor actors with their own epsilons, one prioritized replay actor, the
  learner in the driver, and actors that Ray restarts when they die.

Ray is an optional extra (``pip install "qlearn-lite[ray]"``) and is imported
only when one of these functions runs, so this package imports without it.
The names below are loaded on first use: an actor that imports ``blocks``
does not import the driver's modules (and torch with them).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_OBJECT_STORE_MB": "cluster",
    "RayConnection": "cluster",
    "can_start": "cluster",
    "connect": "cluster",
    "current": "cluster",
    "local_cluster": "cluster",
    "ray_memory_mb": "cluster",
    "ray_processes": "cluster",
    "require_ray": "cluster",
    "shutdown": "cluster",
    "slow_start_hint": "cluster",
    "apex_dqn": "apex",
    "serial_sharded_q_learning": "sharded",
    "shard_bounds": "sharded",
    "sharded_q_learning": "sharded",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
