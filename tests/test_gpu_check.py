"""Tests of benchmarks/gpu_check.py: without a GPU it says so and runs nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_exits_with_a_clear_message(monkeypatch, tmp_path, capsys):
    """No CUDA: status 2, a message naming the cause, and no JSON written."""
    gpu_check = load_gpu_check()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    output = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--output", str(output)]) == gpu_check.NO_GPU_STATUS
    message = capsys.readouterr().err
    assert "no CUDA GPU" in message and torch.__version__ in message
    assert not output.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_command_line_fails_without_a_gpu(tmp_path):
    """`python benchmarks/gpu_check.py` on a CPU-only machine: exit status 2."""
    output = tmp_path / "out.json"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert completed.returncode == 2
    assert "torch sees no CUDA GPU" in completed.stderr
    assert not output.exists()


def test_every_section_measures_on_the_cpu_at_tiny_sizes():
    """The check's sections run device-agnostic code: on the CPU, at toy sizes.

    The script itself refuses to write CPU figures (above); this runs the same
    functions so that a GPU day does not find a broken section. The values are
    CPU figures at toy sizes, checked for shape and sense, not for speed.
    """
    gpu_check = load_gpu_check()
    cpu = torch.device("cpu")

    cartpole = gpu_check.cartpole_rates(cpu, 0.03, sizes=(8, 64), reference_sizes=(8,))
    ours = cartpole["torch_cartpole_cpu_env_steps_per_second"]
    assert list(ours) == ["8", "64"]
    assert list(cartpole["gymnasium_numpy_cpu_env_steps_per_second"]) == ["8"]
    assert all(rate > 0 for rate in ours.values())

    tabular = gpu_check.tabular_rate(cpu, num_envs=256, vector_steps=20)
    assert (tabular["num_envs"], tabular["vector_steps"]) == (256, 20)
    assert tabular["env_steps_per_second"] > 0

    dqn = gpu_check.dqn_times(cpu, max_seconds=30.0, total_steps=2_560)
    assert set(dqn) == {"one_thread", "actor_learner"}
    for figures in dqn.values():
        # 2,560 steps are far too few to balance a pole: no reach, a full budget.
        assert figures["reached_475"] is False
        assert figures["seconds_to_475"] is None
        assert figures["env_steps"] == 2_560
        assert figures["updates"] > 0
        assert 8.0 <= figures["fresh_seed_mean_return"] < 475.0


def test_a_failing_section_is_recorded_and_the_rest_still_run(capsys):
    """An error becomes {"error": ...}; failed CUDA tests mark the check failed."""
    gpu_check = load_gpu_check()

    def broken():
        raise ValueError("no such kernel")

    report, failed = gpu_check.run_sections(
        [("first", broken), ("second", lambda: {"x": 1})]
    )
    assert failed
    assert report == {
        "first": {"error": "ValueError: no such kernel"},
        "second": {"x": 1},
    }
    assert "second" in capsys.readouterr().out

    report, failed = gpu_check.run_sections(
        [("cuda_tests", lambda: {"status": "failed", "exit_code": 1})]
    )
    assert failed and report["cuda_tests"]["status"] == "failed"
    assert gpu_check.run_sections([("cuda_tests", lambda: {"status": "passed"})]) == (
        {"cuda_tests": {"status": "passed"}},
        False,
    )
