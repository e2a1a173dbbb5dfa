"""Tests of qlearn_lite.process_costs: each measurement runs and cleans up."""

from __future__ import annotations

import psutil
import pytest

from qlearn_lite import process_costs as pc


def _children() -> list[psutil.Process]:
    """Live children of this process, multiprocessing's resource tracker aside."""
    children = [
        child
        for child in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    return psutil.wait_procs(children, timeout=5)[1]


def test_queue_throughput_counts_transitions():
    """Transitions per second = messages per second x transitions per message."""
    result = pc.queue_throughput("numpy", per_message=64, n_transitions=6_400)
    assert result["transitions_per_second"] == pytest.approx(
        64 * result["messages_per_second"]
    )
    assert result["transitions_per_second"] > 0 and result["startup_seconds"] > 0
    assert _children() == []


def test_queue_throughput_rejects_bad_arguments():
    """kind is numpy or tensor; per_message an int >= 1."""
    with pytest.raises(ValueError, match="'numpy' or 'tensor', got 'list'"):
        pc.queue_throughput("list")
    with pytest.raises(ValueError, match="per_message must be an int >= 1, got 0"):
        pc.queue_throughput("numpy", per_message=0)
    with pytest.raises(TypeError, match="per_message must be an int"):
        pc.queue_throughput("numpy", per_message=1.5)


def test_a_tensor_cannot_outlive_its_producer():
    """The receiver fails in torch's rebuild_storage_fd with an OSError."""
    result = pc.tensor_after_producer_exit()
    assert result["child_exitcode"] == 0
    assert result["error"] in ("FileNotFoundError", "ConnectionRefusedError")
    assert result["in_rebuild_storage_fd"]
    assert _children() == []


def test_weight_sync_cost_measures_both_ways():
    """Shared memory and pickling each report a median time, for n_params."""
    result = pc.weight_sync_cost(n_params=10_000, repeats=3)
    assert set(result) == {"round_trip_ms", "shared_ms", "pickle_ms", "n_params"}
    assert result["n_params"] == 10_000
    assert min(result["shared_ms"], result["pickle_ms"]) > 0
    assert _children() == []
