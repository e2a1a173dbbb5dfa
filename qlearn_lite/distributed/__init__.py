"""Distributed Q-learning on Ray (notebook 10).

* :mod:`~qlearn_lite.distributed.cluster` -- :func:`connect` and
  :func:`shutdown`: the one place Ray is started or joined;
* :mod:`~qlearn_lite.distributed.sharded` -- :func:`sharded_q_learning`: a
  parameter server whose Q-table is split by state across shard actors.

Ray is an optional extra (``pip install "qlearn-lite[ray]"``) and is imported
only when one of these functions runs, so this package imports without it.
"""

from qlearn_lite.distributed.cluster import (
    DEFAULT_OBJECT_STORE_MB,
    RayConnection,
    can_start,
    connect,
    current,
    ray_memory_mb,
    ray_processes,
    require_ray,
    shutdown,
)
from qlearn_lite.distributed.sharded import (
    serial_sharded_q_learning,
    shard_bounds,
    sharded_q_learning,
)

__all__ = [
    "DEFAULT_OBJECT_STORE_MB",
    "RayConnection",
    "can_start",
    "connect",
    "current",
    "ray_memory_mb",
    "ray_processes",
    "require_ray",
    "serial_sharded_q_learning",
    "shard_bounds",
    "sharded_q_learning",
    "shutdown",
]
