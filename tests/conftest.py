"""Shared fixtures: one local Ray instance for the whole test session."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance (2 CPUs, 150 MB object store) shared by every test
    that asks for it; shut down at the end of the session.

    Skips when Ray is not installed; errors if it is installed but cannot
    start (a broken install must not look like a pass).
    """
    if importlib.util.find_spec("ray") is None:
        pytest.skip('Ray is not installed: pip install "qlearn-lite[ray]"')
    from qlearn_lite import distributed

    connection = distributed.connect(num_cpus=2)
    yield connection
    distributed.shutdown()


@pytest.fixture
def ray_connection(ray_local):
    """The session's Ray instance, restarted if a test shut it down."""
    from qlearn_lite import distributed

    return distributed.connect(num_cpus=2, verbose=False)
