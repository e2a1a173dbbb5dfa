"""Shared fixtures: one local Ray instance for the whole test session."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance (2 CPUs, 150 MB object store) shared by every test
    that asks for it; shut down at the end of the session.

    Skips when Ray is not installed, and when its local instance misses its
    start-up deadline (``connect`` raises RuntimeError after two attempts: a
    machine too busy to start Ray's agents in time; the reason is shown by
    ``pytest -ra``). Any other failure to start is an error.
    """
    if importlib.util.find_spec("ray") is None:
        pytest.skip('Ray is not installed: pip install "qlearn-lite[ray]"')
    from qlearn_lite import distributed

    try:
        connection = distributed.connect(num_cpus=2)
    except RuntimeError as error:
        if "could not start a local instance" not in str(error):
            raise
        pytest.skip(str(error))
    yield connection
    distributed.shutdown()


@pytest.fixture
def ray_connection(ray_local):
    """The session's Ray instance, restarted if a test shut it down."""
    from qlearn_lite import distributed

    return distributed.connect(num_cpus=2, verbose=False)
