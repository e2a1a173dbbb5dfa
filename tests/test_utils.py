"""Tests for qlearn_lite.utils: seeds, quick-mode budgets, devices, envs."""

from __future__ import annotations

import math
import random

import gymnasium as gym
import numpy as np
import pytest
import torch

from qlearn_lite import utils


# ----------------------------------------------------------------- quick mode
@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_quick_mode_on(monkeypatch, value):
    """Truthy spellings of QLEARN_LITE_QUICK turn quick mode on."""
    monkeypatch.setenv(utils.QUICK_ENV_VAR, value)
    assert utils.is_quick() is True
    assert utils.budget(full=1000, quick=10) == 10


@pytest.mark.parametrize("value", ["", "0", "false", "off"])
def test_quick_mode_off(monkeypatch, value):
    """Unset or falsy QLEARN_LITE_QUICK gives the full budget."""
    monkeypatch.setenv(utils.QUICK_ENV_VAR, value)
    assert utils.is_quick() is False
    assert utils.budget(full=1000, quick=10) == 1000


def test_quick_mode_unset_is_full(monkeypatch):
    """With the variable absent, learners get the full budget."""
    monkeypatch.delenv(utils.QUICK_ENV_VAR, raising=False)
    assert utils.budget(full=2.5, quick=0.5) == 2.5


def test_quick_mode_rejects_unknown_value(monkeypatch):
    """A value that is neither on nor off is an error naming the variable."""
    monkeypatch.setenv(utils.QUICK_ENV_VAR, "maybe")
    with pytest.raises(ValueError, match="QLEARN_LITE_QUICK.*'maybe'"):
        utils.is_quick()


@pytest.mark.parametrize(
    ("full", "quick", "message"),
    [
        (0, 1, "full=.*> 0, got 0"),
        (-5, 1, "full=.*> 0, got -5"),
        (100, 0, "quick=.*> 0, got 0"),
        (100, -1.0, "quick=.*> 0, got -1.0"),
        (10, 20, "must not exceed full"),
        (float("nan"), 1, "full=.*> 0, got nan"),
        (float("inf"), 1, "full=.*> 0, got inf"),
    ],
)
def test_budget_rejects_bad_sizes(full, quick, message):
    """Zero, negative, non-finite or inverted budgets are clear ValueErrors."""
    with pytest.raises(ValueError, match=message):
        utils.budget(full=full, quick=quick)


@pytest.mark.parametrize("full", ["100", True, None])
def test_budget_rejects_non_numbers(full):
    """A budget that is not a number is a TypeError saying what it got."""
    with pytest.raises(TypeError, match=f"positive number, got {full!r}"):
        utils.budget(full=full, quick=1)


def test_progress_starts_no_thread(monkeypatch):
    """A progress bar, on or off, leaves no monitor thread running."""
    import threading

    monkeypatch.setenv(utils.QUICK_ENV_VAR, "1")
    before = threading.active_count()
    for disable in (True, False):
        bar = utils.progress(total=3, disable=disable)
        bar.update(3)
        bar.close()
    assert threading.active_count() == before


# ---------------------------------------------------------------------- seeds
def test_seed_everything_same_seed_same_numbers():
    """One seed reproduces Python, NumPy (Generator and global) and torch draws."""

    def draw(seed):
        rng = utils.seed_everything(seed)
        return (
            random.random(),
            np.random.random(),  # noqa: NPY002 (checks the global state)
            rng.random(3).tolist(),
            torch.rand(3).tolist(),
        )

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_child_seeds_are_reproducible_and_distinct():
    """Child seeds repeat for a seed, differ between workers and between seeds."""
    first = utils.child_seeds(123, 4)
    assert first == utils.child_seeds(123, 4)
    assert len(set(first)) == 4
    assert utils.child_seeds(124, 4) != first
    # Spawning more children keeps the earlier ones: worker k's seed is stable.
    assert utils.child_seeds(123, 6)[:4] == first


def test_worker_rngs_give_different_streams():
    """Each worker's Generator draws a different stream, the same every run."""
    streams = [rng.integers(0, 2**31, size=8) for rng in utils.worker_rngs(5, 3)]
    again = [rng.integers(0, 2**31, size=8) for rng in utils.worker_rngs(5, 3)]
    for a, b in zip(streams, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(streams[0], streams[1])
    assert not np.array_equal(streams[1], streams[2])


@pytest.mark.parametrize(
    ("n", "error"),
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)],
)
def test_child_seeds_rejects_bad_counts(n, error):
    """The number of workers must be a whole number >= 1."""
    with pytest.raises(error, match="int >= 1"):
        utils.child_seeds(0, n)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", None])
def test_seed_must_be_non_negative_int(seed):
    """Seeds are non-negative integers; anything else says what it got."""
    with pytest.raises((TypeError, ValueError), match="non-negative int"):
        utils.seed_everything(seed)


# --------------------------------------------------------------- input checks
@pytest.mark.parametrize(
    ("value", "minimum", "expected"),
    [(1, 1, 1), (7, 1, 7), (0, 0, 0), (np.int64(3), 1, 3), (-2, -2, -2)],
)
def test_check_int_returns_python_int(value, minimum, expected):
    """Ints (NumPy ints too) at or above the minimum come back as Python ints."""
    result = utils.check_int("n", value, minimum)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", [True, False, 2.0, 2.5, "3", None, np.float64(2)])
def test_check_int_rejects_non_ints_with_type_error(value):
    """Bools, floats (even whole ones), strings and None are a TypeError."""
    with pytest.raises(TypeError) as error:
        utils.check_int("episodes", value)
    assert str(error.value) == f"episodes must be an int >= 1, got {value!r}"


@pytest.mark.parametrize(("value", "minimum"), [(0, 1), (-1, 0), (4, 5)])
def test_check_int_rejects_small_values_with_value_error(value, minimum):
    """One below the minimum is a ValueError quoting the minimum and the value."""
    with pytest.raises(ValueError) as error:
        utils.check_int("n_workers", value, minimum)
    assert str(error.value) == f"n_workers must be an int >= {minimum}, got {value}"


@pytest.mark.parametrize(
    ("value", "low_open", "high_open", "expected"),
    [
        (0, False, False, 0.0),
        (1, False, False, 1.0),
        (0.5, True, True, 0.5),
        (np.float32(0.25), False, False, 0.25),
    ],
)
def test_check_number_accepts_values_inside(value, low_open, high_open, expected):
    """Values inside the interval (closed ends included) come back as floats."""
    result = utils.check_number("x", value, 0, 1, low_open, high_open)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    ("value", "low_open", "high_open", "message"),
    [
        (0, True, False, "x must be in (0, 1], got 0.0"),
        (1, False, True, "x must be in [0, 1), got 1.0"),
        (-0.001, False, False, "x must be in [0, 1], got -0.001"),
        (1.5, False, False, "x must be in [0, 1], got 1.5"),
        (float("nan"), False, False, "x must be in [0, 1], got nan"),
    ],
)
def test_check_number_rejects_values_outside(value, low_open, high_open, message):
    """Open ends, values outside and NaN are a ValueError showing the interval."""
    with pytest.raises(ValueError) as error:
        utils.check_number("x", value, 0, 1, low_open, high_open)
    assert str(error.value) == message


@pytest.mark.parametrize("value", [True, "0.5", None, [0.5]])
def test_check_number_rejects_non_numbers_with_type_error(value):
    """Bools, strings, None and lists are a TypeError that also shows the interval."""
    with pytest.raises(TypeError) as error:
        utils.check_number("alpha", value, 0.0, 1.0, low_open=True)
    assert str(error.value) == f"alpha must be a number in (0.0, 1.0], got {value!r}"


def test_check_unit_is_the_zero_one_interval():
    """check_unit accepts [0, 1] (or (0, 1]) and words errors with 0 and 1."""
    assert utils.check_unit("gamma", 0) == 0.0
    assert utils.check_unit("gamma", 1) == 1.0
    assert utils.check_unit("alpha", 1e-9, low_open=True) == 1e-9
    with pytest.raises(ValueError, match=r"^alpha must be in \(0, 1\], got 0\.0$"):
        utils.check_unit("alpha", 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^gamma must be in \[0, 1\], got 1\.01$"):
        utils.check_unit("gamma", 1.01)
    with pytest.raises(TypeError, match=r"^eps must be a number in \[0, 1\], got '1'$"):
        utils.check_unit("eps", "1")
    with pytest.raises(TypeError, match="got False"):
        utils.check_unit("eps", False)


def test_check_finite():
    """Finite numbers pass as floats; bools are a TypeError, nan/inf a ValueError."""
    assert utils.check_finite("start", 2) == 2.0
    assert utils.check_finite("start", -1e300) == -1e300
    with pytest.raises(TypeError, match=r"^start must be a number, got True$"):
        utils.check_finite("start", True)
    with pytest.raises(ValueError, match=r"^end must be finite, got inf$"):
        utils.check_finite("end", float("inf"))
    with pytest.raises(ValueError, match=r"^end must be finite, got nan$"):
        utils.check_finite("end", float("nan"))


def test_check_seed():
    """Seeds are ints >= 0: 0 passes, bools and floats are a TypeError, -1 a
    ValueError, each saying what it got."""
    assert utils.check_seed(0) == 0
    assert utils.check_seed(np.uint32(2**32 - 1)) == 2**32 - 1
    with pytest.raises(TypeError, match=r"^seed must be a non-negative int, got True$"):
        utils.check_seed(True)
    with pytest.raises(TypeError, match=r"^seed must be a non-negative int, got 1\.0$"):
        utils.check_seed(1.0)
    with pytest.raises(ValueError, match=r"^seed must be a non-negative int, got -1$"):
        utils.check_seed(-1)


# -------------------------------------------------------------------- devices
def test_get_device_cpu_and_auto():
    """'cpu' is the CPU; 'auto' is CUDA exactly when torch sees a GPU."""
    assert utils.get_device("cpu") == torch.device("cpu")
    assert utils.get_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert utils.get_device("auto").type == expected
    assert utils.get_device(" AUTO ").type == expected


@pytest.mark.parametrize(
    ("name", "error"),
    [("gpu", ValueError), ("cuda:x", ValueError), ("tpu", ValueError),
     ("", ValueError), (0, TypeError)],
)  # fmt: skip
def test_get_device_unknown_names(name, error):
    """Unknown device names are an error listing the accepted ones."""
    with pytest.raises(error, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        utils.get_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_get_device_cuda_without_gpu_is_an_error(name):
    """Asking for CUDA without a GPU fails loudly instead of using the CPU."""
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        utils.get_device(name)


@pytest.mark.cuda
def test_get_device_cuda_with_gpu():
    """With a GPU, 'cuda' resolves to it."""
    assert utils.get_device("cuda").type == "cuda"


# ----------------------------------------------------------------------- envs
def test_make_env_is_seeded():
    """Two envs made with one seed give the same observations and actions."""

    def rollout(seed):
        env = utils.make_env("CartPole-v1", seed=seed)
        obs, _ = env.reset(seed=seed)
        actions = [int(env.action_space.sample()) for _ in range(5)]
        for action in actions:
            obs, *_ = env.step(action)
        env.close()
        return actions, obs

    actions_a, obs_a = rollout(3)
    actions_b, obs_b = rollout(3)
    assert actions_a == actions_b
    np.testing.assert_array_equal(obs_a, obs_b)
    assert rollout(4)[0] != actions_a or not np.array_equal(rollout(4)[1], obs_a)


def test_make_env_passes_kwargs():
    """Keyword arguments reach gymnasium.make (here FrozenLake's map)."""
    env = utils.make_env("FrozenLake-v1", seed=0, map_name="8x8", is_slippery=False)
    assert env.observation_space.n == 64
    env.close()


def test_make_env_unknown_id_suggests_close_match():
    """An unknown id is a ValueError that suggests the registered spelling."""
    with pytest.raises(ValueError, match="unknown environment id 'CartPole-v9'"):
        utils.make_env("CartPole-v9")
    with pytest.raises(ValueError, match="did you mean 'CartPole-v1'"):
        utils.make_env("CartPole-v9")


def test_make_env_rejects_non_string_id():
    """The id must be a string."""
    with pytest.raises(TypeError, match="registered id string"):
        utils.make_env(42)


# ---------------------------------------------------------------------- setup
def test_setup_prints_versions_device_and_mode(monkeypatch, capsys):
    """setup() seeds, prints versions, the device with its reason, and the mode."""
    monkeypatch.setenv(utils.QUICK_ENV_VAR, "1")
    session = utils.setup(seed=11)
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out
    assert "gymnasium" in out and "numpy" in out
    assert "device: " in out
    assert "mode: QUICK" in out and "seed: 11" in out
    assert session.quick is True and session.seed == 11
    assert session.rng.random() == np.random.default_rng(11).random()
    assert "peak memory" in session.report()


def test_peak_memory_is_plausible():
    """Peak memory of this process is positive and below the machine's size."""
    assert 10 < utils.peak_memory_mb() < 24 * 1024


# ------------------------------------------------------------- hostile input
@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: utils.budget(full="100", quick=1), TypeError, "positive number"),
        (lambda: utils.budget(full=math.inf, quick=1), ValueError, "> 0"),
        (lambda: utils.check_int("n", 1.5), TypeError, "n must be an int >= 1"),
        (lambda: utils.check_int("n", 0), ValueError, "n must be an int >= 1"),
        (lambda: utils.check_number("x", math.nan, 0, 1), ValueError, "x must be in"),
        (lambda: utils.check_number("x", "1", 0, 1), TypeError, "x must be a number"),
        (lambda: utils.check_unit("eps", 5), ValueError, r"eps must be in \[0, 1\]"),
        (lambda: utils.check_finite("lr", math.inf), ValueError, "lr must be finite"),
        (lambda: utils.check_seed(2**64), ValueError, r"below 2\*\*64"),
        (lambda: utils.check_seed(-1), ValueError, "non-negative int"),
        (lambda: utils.check_seed(np.float64(1)), TypeError, "non-negative int"),
        (lambda: utils.seed_everything(2**64), ValueError, r"below 2\*\*64"),
        (lambda: utils.child_seeds(0, 0), ValueError, "child seeds"),
        (lambda: utils.child_seeds(2**70, 2), ValueError, "seed must be"),
        (lambda: utils.worker_rngs(0, "2"), TypeError, "child seeds"),
        (lambda: utils.get_device(0), TypeError, "device must be"),
        (lambda: utils.get_device("gpu"), ValueError, "device must be"),
        (lambda: utils.make_env(42), TypeError, "registered id string"),
        (lambda: utils.make_env("Nope-v0"), ValueError, "unknown environment id"),
        (lambda: utils.make_env("CartPole-v1", seed=-1), ValueError, "seed must"),
        (
            lambda: utils.make_env("CartPole-v1", foo=1),
            TypeError,
            r"an argument in \['foo'\] is not one that CartPole-v1 takes",
        ),
        (lambda: utils.setup(seed=2**64), ValueError, r"below 2\*\*64"),
        (lambda: utils.check_memory("a table", 2**80), ValueError, "a table needs"),
        (lambda: utils.available_memory("gpu"), ValueError, "device must be"),
        (lambda: utils.available_memory(0), TypeError, "device must be"),
        (lambda: utils.has_time_limit("CartPole-v1"), TypeError, "Gymnasium env"),
    ],
)
def test_utils_rejects_hostile_input(call, error, phrase):
    """Every public helper raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_check_helpers_accept_numpy_scalars():
    """np.int64 and np.float32 are as good as Python numbers, and come back as them."""
    assert utils.check_int("n", np.int64(3)) == 3
    assert type(utils.check_seed(np.uint64(2**64 - 1))) is int
    assert utils.check_unit("eps", np.float32(0.5)) == 0.5
    assert utils.child_seeds(np.int64(1), np.int64(2)) == utils.child_seeds(1, 2)


def test_check_memory_warns_above_the_threshold_and_raises_above_available(
    monkeypatch,
):
    """Above MEMORY_WARN_BYTES a ResourceWarning; above what is free an error."""
    monkeypatch.setattr(utils, "MEMORY_WARN_BYTES", 1000)
    with pytest.warns(ResourceWarning, match="2000 bytes|takes"):
        assert utils.check_memory("a buffer", 2000) == 2000
    monkeypatch.setattr(utils, "available_memory", lambda device="cpu": 500)
    with pytest.raises(ValueError, match="a buffer needs .* only .* available"):
        utils.check_memory("a buffer", 600)


def test_has_time_limit_looks_at_the_wrappers():
    """gym.make wraps CartPole in a TimeLimit; .unwrapped has none."""
    env = gym.make("CartPole-v1")
    assert utils.has_time_limit(env) and not utils.has_time_limit(env.unwrapped)
