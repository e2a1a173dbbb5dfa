"""Conventions every notebook and learner shares: seeds, devices, budgets, envs.

Everything random in the course flows from one integer seed:

* :func:`seed_everything` seeds Python's ``random``, NumPy's legacy global state
  (for third-party code only) and torch, and returns the
  ``numpy.random.Generator`` that our own code draws from.
* :func:`child_seeds` / :func:`worker_rngs` split one seed into independent
  streams for parallel workers with ``numpy.random.SeedSequence.spawn``, so worker
  ``k`` gets the same stream every run and no two workers share one.

Training sizes come from :func:`budget` only, so that ``QLEARN_LITE_QUICK=1``
(set by ``make test``) shrinks every notebook at once.
"""

from __future__ import annotations

import difflib
import math
import os
import platform
import random
import resource
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from numbers import Real
from typing import TYPE_CHECKING, Any, TypeVar

import gymnasium as gym
import numpy as np

# torch is imported inside the functions that use it: Ray's tabular actors
# import this module and need not pay torch's few seconds of start-up.
if TYPE_CHECKING:
    import torch

QUICK_ENV_VAR = "QLEARN_LITE_QUICK"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

Number = TypeVar("Number", int, float)
T = TypeVar("T")


# ----------------------------------------------------------------- quick mode
def is_quick() -> bool:
    """Whether quick mode is on: ``QLEARN_LITE_QUICK`` is ``1``/``true``/``yes``."""
    value = os.environ.get(QUICK_ENV_VAR, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV_VAR} must be one of {sorted(_TRUE | _FALSE - {''})} or unset, "
        f"got {value!r}"
    )


def budget(full: Number, quick: Number) -> Number:
    """The training size to use: ``full`` for learners, ``quick`` under tests.

    This is the only place the course chooses between the two, so every
    notebook shrinks together when ``QLEARN_LITE_QUICK=1``.

    >>> budget(full=20_000, quick=500)  # doctest: +SKIP
    20000
    """
    for name, value in (("full", full), ("quick", quick)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(
                f"budget({name}=...) must be a positive number, got {value!r}"
            )
        if not 0 < value < math.inf:  # NaN fails too
            raise ValueError(f"budget({name}=...) must be > 0, got {value!r}")
    if quick > full:
        raise ValueError(
            f"budget(quick=...) must not exceed full; got full={full!r}, "
            f"quick={quick!r}"
        )
    return quick if is_quick() else full


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> Iterator[T]:
    """A ``tqdm.auto`` progress bar, switched off in quick mode and under CI.

    Pass ``disable=...`` to override.  ``total=`` and ``desc=`` work as in tqdm.
    """
    from tqdm.auto import tqdm

    # tqdm's monitor thread (started even for a disabled bar) only fixes the
    # refresh rate of very slow bars; without it, no thread outlives a learner.
    tqdm.monitor_interval = 0
    kwargs.setdefault("disable", is_quick())
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, **kwargs)


# --------------------------------------------------------------- input checks
# Every learner checks its arguments at the boundary with these, so that a bad
# value raises the same kind of error, worded the same way, in every module:
# TypeError for the wrong type, ValueError for a value out of range, and the
# message names the argument, what was expected and what was given. ``True``
# is an ``int`` to Python but never a count, a rate or a seed here.
def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int, checking that it is an int ``>= minimum``.

    Raises ``TypeError`` for a non-int (bools and floats such as ``10.0``
    included) and ``ValueError`` below ``minimum``; both messages read
    ``"{name} must be an int >= {minimum}, got {value!r}"``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, checking that it lies in the interval low..high.

    The ends are included unless ``low_open``/``high_open`` (``(0, 1]`` is
    ``low_open=True``). Raises ``TypeError`` for a non-number (bools and
    strings included) and ``ValueError`` outside the interval or for NaN; the
    messages show the interval as written with ``low`` and ``high``.
    """
    # Learners' pure functions call this every step: a float skips the ABC
    # check, and the message is only written when the check fails.
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, Real):
            interval = _interval(low, high, low_open, high_open)
            raise TypeError(f"{name} must be a number in {interval}, got {value!r}")
        value = float(value)
    above_low = low < value if low_open else low <= value
    below_high = value < high if high_open else value <= high
    if not (above_low and below_high):  # also catches NaN: its comparisons fail
        interval = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """``[0, 1]``, ``(0, 1]``, ...: an interval as the check messages write it."""
    return f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_unit(name: str, value: Any, low_open: bool = False) -> float:
    """:func:`check_number` on ``[0, 1]`` (``(0, 1]`` if ``low_open``): for
    probabilities, discounts, step sizes and epsilons."""
    return check_number(name, value, 0, 1, low_open=low_open)


def check_finite(name: str, value: Any) -> float:
    """``value`` as a float, checking that it is a finite number.

    ``TypeError`` for a non-number (bools included), ``ValueError`` for
    ``nan`` and ``+-inf``.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


SEED_LIMIT = 2**64
"""Seeds must be below this: ``torch.manual_seed`` takes 64-bit seeds only."""


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as a Python int, checking that it is an int in ``[0, 2**64)``.

    ``TypeError`` for a non-int (bools included), ``ValueError`` for a
    negative one (``"seed must be a non-negative int, got ..."``) or one of
    ``2**64`` or more, which torch can not take. ``name`` names the argument
    in the messages (``"eval_seed"``, ``"DQNConfig.seed"``).
    """
    if not _is_int(seed):
        raise TypeError(f"{name} must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed!r}")
    if seed >= SEED_LIMIT:
        raise ValueError(
            f"{name} must be a non-negative int below 2**64 (torch's limit), "
            f"got {seed!r}"
        )
    return int(seed)


# ---------------------------------------------------------------- memory
MEMORY_WARN_BYTES = 1 << 30
"""Allocations above this many bytes (1 GiB) warn with a ``ResourceWarning``
before they happen: Binder gives a whole notebook 2 GB."""


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes that can still be allocated on ``device``, or None if unknown.

    The CPU's available memory from ``psutil`` (when installed) or
    ``/proc/meminfo``'s ``MemAvailable``; a CUDA device's free memory from
    ``torch.cuda.mem_get_info``.
    """
    import torch  # noqa: PLC0415 - lazy (see the imports)

    device = get_device(device) if isinstance(device, str) else device
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a str or a torch.device, got {device!r}")
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(
    what: str,
    nbytes: int,
    device: str | torch.device = "cpu",
    warn_bytes: int | None = None,
) -> int:
    """Check, before allocating, that ``nbytes`` for ``what`` fit on ``device``.

    Raises ``ValueError`` when ``nbytes`` exceeds the memory available now
    (:func:`available_memory`) and warns with a ``ResourceWarning`` when it
    exceeds ``warn_bytes`` (None: :data:`MEMORY_WARN_BYTES`, 1 GiB); both
    messages say how many bytes ``what`` needs. Returns ``nbytes``.
    """
    nbytes = int(nbytes)
    if warn_bytes is None:
        warn_bytes = MEMORY_WARN_BYTES
    available = available_memory(device)
    if available is not None and nbytes > available:
        raise ValueError(
            f"{what} needs {_format_bytes(nbytes)} but only "
            f"{_format_bytes(available)} are available on {device}; ask for less"
        )
    if nbytes > warn_bytes:
        warnings.warn(
            f"{what} takes {_format_bytes(nbytes)}, more than "
            f"{_format_bytes(warn_bytes)} (Binder gives a notebook 2 GB)",
            ResourceWarning,
            stacklevel=3,
        )
    return nbytes


def _format_bytes(nbytes: int) -> str:
    return (
        f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"
    )


def has_time_limit(env: gym.Env) -> bool:
    """Whether a ``TimeLimit`` wrapper ends ``env``'s episodes.

    Looks at the wrappers themselves, not at ``env.spec``: an env from
    ``gym.make(...).unwrapped`` keeps its spec's ``max_episode_steps`` but has
    no time limit left, and a policy that never finishes would loop forever.
    """
    if not isinstance(env, gym.Env):
        raise TypeError(f"expected a Gymnasium env, got {type(env).__name__}")
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return True
        env = env.env
    return False


# ---------------------------------------------------------------------- seeds


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch from ``seed``; return a fresh Generator.

    The returned ``numpy.random.Generator`` is what course code draws from.
    The global NumPy state is seeded only so that third-party code that still
    uses it is reproducible too.
    """
    import torch  # noqa: PLC0415 - lazy (see the imports)

    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code only)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return np.random.default_rng(seed)


def child_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds derived from ``seed`` (one per worker).

    Built with ``SeedSequence(seed).spawn(n)``: child ``k`` is the same every
    run, and the children's streams do not overlap in practice.
    """
    seed = check_seed(seed)
    n = check_int("n (the number of child seeds)", n)
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def worker_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """One ``numpy.random.Generator`` per worker, from :func:`child_seeds`."""
    return [np.random.default_rng(s) for s in child_seeds(seed, n)]


# -------------------------------------------------------------------- devices
def get_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` to a torch device.

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise. Asking for
    CUDA where there is none is an error, never a silent CPU run.
    """
    import torch  # noqa: PLC0415 - lazy (see the imports)

    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        )
    name = device.strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} was requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
                "use device='auto' or 'cpu'"
            )
        index = int(name[5:]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
        # The index made explicit (cuda -> cuda:0), so that the device compares
        # equal to the device of the tensors created on it.
        return torch.device("cuda", index)
    raise ValueError(
        f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
    )


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued work, so that a wall-clock time is real.

    CUDA calls return before their kernels finish; on the CPU there is nothing
    to wait for. Call it around timed regions (snapshots, evaluations), not
    on every step: each call stalls the host until the GPU is idle.
    """
    if device.type == "cuda":
        import torch  # noqa: PLC0415 - lazy (see the imports)

        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------- envs
def make_env(env_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)`` with the env and its spaces seeded.

    The first ``reset`` is done here with ``seed``; later ``reset()`` calls
    without a seed continue the same random stream, as Gymnasium intends.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a registered id string, got {env_id!r}")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown environment id {env_id!r}: expected one registered with "
            f"Gymnasium (see gymnasium.registry){hint}"
        )
    if seed is not None:
        seed = check_seed(seed)  # before building the env
    if kwargs.get("render_mode") == "rgb_array":
        # Drawing into an array needs no window: keep pygame's SDL from probing
        # for a display (it prints an error on headless machines and Binder).
        # A later render_mode="human" in the same process would need this unset.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = gym.make(env_id, **kwargs)
    except TypeError as error:  # an argument the env does not take
        raise TypeError(
            f"make_env({env_id!r}, ...): an argument in {sorted(kwargs)} is not "
            f"one that {env_id} takes ({str(error).split(' was raised')[0]})"
        ) from error
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env


EnvSpec = str | Callable[[], gym.Env]
"""A registered Gymnasium id (``"CartPole-v1"``) or a function returning an env.

A function must be importable (module level, not a lambda or a notebook
cell) wherever the env is built in another process or on a Ray actor."""


def env_from_spec(env_id_or_fn: EnvSpec, seed: int | None = None) -> gym.Env:
    """A fresh env from a Gymnasium id (:func:`make_env`) or an env function.

    The one env factory of every learner. ``seed``, if given, seeds the env's
    first reset and its spaces, as :func:`make_env` does.
    """
    if isinstance(env_id_or_fn, str):
        return make_env(env_id_or_fn, seed=seed)
    if callable(env_id_or_fn):
        env = env_id_or_fn()
        if not isinstance(env, gym.Env):
            raise TypeError(
                "the env function must return a gymnasium.Env, got "
                f"{type(env).__name__}"
            )
        if seed is not None:
            seed = check_seed(seed)
            env.reset(seed=seed)
            env.action_space.seed(seed)
            env.observation_space.seed(seed)
        return env
    raise TypeError(
        "expected a Gymnasium env id (str) or a function returning an env, "
        f"got {env_id_or_fn!r}"
    )


# ---------------------------------------------------------------------- setup
def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux and macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class Session:
    """What :func:`setup` returns: the seed, its Generator, the device, the mode."""

    seed: int
    rng: np.random.Generator
    device: torch.device
    quick: bool
    started: float = field(default_factory=time.perf_counter)

    def report(self) -> str:
        """One line with the wall time since :func:`setup` and the peak memory."""
        line = (
            f"notebook finished in {time.perf_counter() - self.started:.0f} s, "
            f"peak memory {peak_memory_mb():.0f} MB"
        )
        print(line)
        return line


def versions() -> dict[str, str]:
    """Versions of Python and the libraries the course uses."""
    import matplotlib
    import torch  # noqa: PLC0415 - lazy (see the imports)

    from qlearn_lite import __version__

    return {
        "python": platform.python_version(),
        "qlearn_lite": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "matplotlib": matplotlib.__version__,
    }


def setup(seed: int = 0, device: str | torch.device = "auto") -> Session:
    """Seed everything, pick the device and print what the notebook runs on.

    Call it in the first cells of every notebook. It prints the library
    versions, the device (and why, when ``"auto"`` falls back to the CPU) and
    whether quick mode is on.
    """
    import torch  # noqa: PLC0415 - lazy (see the imports)

    rng = seed_everything(seed)
    resolved = get_device(device)
    quick = is_quick()
    print(" | ".join(f"{name} {version}" for name, version in versions().items()))
    if resolved.type == "cuda":
        print(f"device: {resolved} ({torch.cuda.get_device_name(resolved)})")
    elif device == "auto":
        print("device: cpu (no CUDA GPU visible; everything runs on the CPU)")
    else:
        print("device: cpu")
    mode = (
        f"QUICK ({QUICK_ENV_VAR}=1: small budgets, for tests)"
        if quick
        else "full (the default: the budgets the text describes)"
    )
    print(f"mode: {mode} | seed: {seed}")
    return Session(seed=seed, rng=rng, device=resolved, quick=quick)
