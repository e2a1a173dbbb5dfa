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
