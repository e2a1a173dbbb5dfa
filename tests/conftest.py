"""Shared fixtures: Ctrl-C raises KeyboardInterrupt in every test, one
local Ray instance for the whole test session, and tests marked ``cuda``
skipped where there is no GPU; and the checks that a run left nothing behind
(threads, shared-memory segments, semaphores)."""

from __future__ import annotations

import gc
import importlib.util
import os
import signal
import threading
import time
from multiprocessing import synchronize
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip, with the reason shown by ``-ra``, where torch
    sees no CUDA GPU; ``pytest -m cuda`` selects them on a machine with one."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler for the whole run.

    A process started in the background by a non-interactive shell (as CI
    may start the tests) inherits SIGINT as *ignored*, and Python then keeps
    it ignored: the tests that interrupt a run (a timer's SIGINT,
    ``_thread.interrupt_main``) would wait for a KeyboardInterrupt that never
    comes. Installing the default handler makes them mean the same thing
    everywhere.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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


def threads_left(before: set, grace: float = 2.0) -> list[str]:
    """Names of the threads started since ``before`` (a set of
    ``threading.enumerate()``) that are still alive ``grace`` seconds later.

    A thread that has set its "finished" event may need a moment to exit,
    and a library that runs its own threads (Ray's driver, once a test of
    the session has started Ray) may start and end them at any time: those
    are not ours, so only the course's threads (named ``qlearn-lite-*``)
    count as left running.
    """
    deadline = time.monotonic() + grace
    while True:
        left = [
            t.name
            for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name.startswith("qlearn-lite")
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


SHM = Path("/dev/shm")


def shm_entries() -> set[str]:
    """The names in /dev/shm now (empty where there is no /dev/shm)."""
    return set(os.listdir(SHM)) if SHM.is_dir() else set()


def new_shm_segments(before: set[str]) -> set[str]:
    """torch's tensor segments in /dev/shm that were not there before and are
    still there 2 s later. (/dev/shm is machine-wide, so other programs'
    semaphores come and go there; ours are checked by live_semlocks.)"""
    new = {name for name in shm_entries() - before if name.startswith("torch_")}
    if new:
        time.sleep(2.0)
        new &= shm_entries()
    return new


def live_semlocks() -> set[int]:
    """ids of this process's live multiprocessing semaphores (locks, events,
    queues, values). A spawn-context semaphore is a named segment in /dev/shm
    until its object is collected: none may outlive a call."""
    gc.collect()
    # type(), not isinstance: isinstance reads __class__, which some lazy
    # module objects (torch.distributed) answer with a deprecation warning.
    objects = gc.get_objects()
    return {id(o) for o in objects if issubclass(type(o), synchronize.SemLock)}
