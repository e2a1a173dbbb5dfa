"""Tests of qlearn_lite.process_costs: each measurement runs and cleans up."""

from __future__ import annotations

import numpy as np
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
    """Each case: transitions/s = messages/s x transitions per message; the
    child reports its start-up and memory."""
    result = pc.queue_throughput((("numpy", 64), ("numpy", 1)), n_transitions=1_280)
    assert [(c["kind"], c["per_message"]) for c in result["cases"]] == [
        ("numpy", 64),
        ("numpy", 1),
    ]
    for case in result["cases"]:
        assert case["transitions_per_second"] == pytest.approx(
            case["per_message"] * case["messages_per_second"]
        )
    assert result["startup_seconds"] > 0
    memory = result["child_memory"]
    assert memory["rss_mb"] > 50 or np.isnan(memory["rss_mb"])  # it imported torch
    assert _children() == []


def test_queue_throughput_rejects_bad_arguments():
    """kind is numpy or tensor; per_message an int >= 1."""
    with pytest.raises(ValueError, match="'numpy' or 'tensor', got 'list'"):
        pc.queue_throughput([("list", 1)])
    with pytest.raises(ValueError, match="per_message must be an int >= 1, got 0"):
        pc.queue_throughput([("numpy", 0)])
    with pytest.raises(TypeError, match="per_message must be an int"):
        pc.queue_throughput([("numpy", 1.5)])


def test_oversubscription_times_each_phase():
    """One timing per thread count, from children that started it together."""
    result = pc.oversubscription(2, threads=(1, 2), steps=3)
    assert sorted(result) == [1, 2] and min(result.values()) > 0
    assert _children() == []


def test_burn_worker_burns_cpu_in_threads():
    """burn_worker returns the CPU seconds its thread used (at least asked)."""
    from qlearn_lite.parallel import run_threads, worker_contexts

    outcome = run_threads(pc.burn_worker, worker_contexts(0, 2), None, 20.0)
    assert all(seconds >= 0.020 for seconds in outcome.returns)


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
