"""Tests of qlearn_lite.vec_envs: batched tensor envs checked against Gymnasium."""

from __future__ import annotations

import copy
import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from qlearn_lite import vec_envs
from qlearn_lite.tabular import greedy_policy, success_probability, value_iteration
from qlearn_lite.vec_envs import AUTORESET_MODE, TorchCartPole, TorchTabularEnv

# Marked ``cuda`` (``pytest -m cuda``); conftest.py skips it where there is no GPU.
needs_cuda = pytest.mark.cuda


THETA_LIMIT = 12 * 2 * math.pi / 360


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run single-threaded: on a busy machine OpenMP threads wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ helpers
def gym_cartpoles(n: int, seed: int) -> SyncVectorEnv:
    """n Gymnasium CartPole-v1 envs with the SAME_STEP auto-reset we follow."""
    envs = SyncVectorEnv(
        [lambda: gym.make("CartPole-v1") for _ in range(n)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=seed)
    return envs


def put_gym_in_state(envs: SyncVectorEnv, index: int, state, elapsed: int) -> None:
    """Set one Gymnasium cart's physical state and its TimeLimit step count."""
    envs.envs[index].unwrapped.state = np.array(state, dtype=np.float64)
    envs.envs[index]._elapsed_steps = elapsed


def gym_state(envs: SyncVectorEnv) -> np.ndarray:
    """float64 [n, 4]: the physical state of every Gymnasium cart."""
    return np.stack([env.unwrapped.state for env in envs.envs])


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random pushes."""
    return rng.integers(0, 2, size=len(obs))


def balancing_policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bang-bang controller that keeps the pole up for the whole 500 steps."""
    x, x_dot, theta, theta_dot = obs.T
    return (theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0).astype(np.int64)


def compare_rollout(
    start: np.ndarray,
    steps: int,
    policy,
    elapsed: int = 0,
    resync_every: int | None = None,
    seed: int = 0,
    polynomial_trig: bool | None = None,
) -> dict[str, float | int]:
    """Step TorchCartPole and Gymnasium side by side with the same actions.

    Both start in ``start`` [n, 4]; whenever our env auto-resets a cart, the
    Gymnasium cart is put in our new start state (the two draw different random
    numbers). Asserts identical rewards, flags, reset masks and episode lengths
    at every step; returns the largest observation difference and counts.
    ``resync_every``: copy Gymnasium's state into ours every so many steps.
    ``polynomial_trig``: force sin and cos as polynomials or as torch's (None:
    the env's choice for this many carts).
    """
    num_envs = len(start)
    ours = TorchCartPole(
        num_envs, device="cpu", seed=seed, polynomial_trig=polynomial_trig
    )
    ours.set_state(start, elapsed_steps=elapsed)
    theirs = gym_cartpoles(num_envs, seed)
    for i in range(num_envs):
        put_gym_in_state(theirs, i, start[i], elapsed)
    obs = start.astype(np.float32)
    length = np.full(num_envs, elapsed)
    worst, episodes, truncations = 0.0, 0, 0
    rng = np.random.default_rng(seed)
    for t in range(steps):
        if resync_every and t % resync_every == 0:
            ours.set_state(gym_state(theirs), torch.as_tensor(length))
        actions = policy(obs, rng)
        our_obs, our_reward, our_term, our_trunc, our_info = ours.step(
            torch.as_tensor(actions)
        )
        obs, reward, terminated, truncated, info = theirs.step(actions)
        length += 1
        np.testing.assert_array_equal(our_term.numpy(), terminated, f"step {t}")
        np.testing.assert_array_equal(our_trunc.numpy(), truncated, f"step {t}")
        np.testing.assert_array_equal(our_reward.numpy(), reward)
        done = terminated | truncated
        np.testing.assert_array_equal(our_info["_final_obs"].numpy(), done)
        np.testing.assert_array_equal(our_info["episode_length"].numpy(), length)
        reached = obs.copy()  # Gymnasium keeps the last obs in info["final_obs"]
        for i in np.flatnonzero(done):
            reached[i] = info["final_obs"][i]
        worst = max(worst, np.abs(our_info["final_obs"].numpy() - reached).max())
        live = ~done  # not reset: the returned obs are the reached ones
        np.testing.assert_array_equal(
            our_obs.numpy()[live], our_info["final_obs"].numpy()[live]
        )
        for i in np.flatnonzero(done):  # our new start state, given to Gymnasium
            assert np.all(np.abs(our_obs[i].numpy()) <= 0.05)
            put_gym_in_state(theirs, i, ours.state[:, i].numpy(), 0)
            obs[i] = our_obs[i].numpy()
        length[done] = 0
        episodes += int(done.sum())
        truncations += int(truncated.sum())
    theirs.close()
    return {"max_error": float(worst), "episodes": episodes, "truncations": truncations}


def near_threshold_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """States one step away from crossing |x| = 2.4 or |theta| = 12 degrees.

    Position (or angle) is put so that the Euler step lands within +-1e-9 of
    the threshold, on either side, moving outwards or inwards.
    """
    states = rng.uniform([-1, -1, -0.1, -1], [1, 1, 0.1, 1], size=(n, 4))
    side = rng.choice([-1.0, 1.0], size=n)
    offset = rng.uniform(-1e-9, 1e-9, size=n)
    for i in range(n):
        if i % 2 == 0:  # the cart position
            states[i, 0] = side[i] * 2.4 - 0.02 * states[i, 1] + offset[i]
        else:  # the pole angle
            states[i, 2] = side[i] * THETA_LIMIT - 0.02 * states[i, 3] + offset[i]
    return states


# ============================================================== CartPole
def test_autoreset_mode_is_same_step():
    """Both envs declare Gymnasium's SAME_STEP auto-reset mode."""
    assert AUTORESET_MODE == AutoresetMode.SAME_STEP
    assert TorchCartPole.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert TorchTabularEnv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def test_cartpole_one_step_equals_gymnasium_over_the_state_space():
    """From 4000 states, near thresholds too, both actions: same obs and flags."""
    rng = np.random.default_rng(0)
    n = 2000
    states = rng.uniform(
        [-2.4, -3, -THETA_LIMIT, -3.5], [2.4, 3, THETA_LIMIT, 3.5], (n, 4)
    )
    states = np.concatenate([states, near_threshold_states(rng, n)])
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    ours = TorchCartPole(len(states), device="cpu", seed=0)
    for action in (0, 1):
        expected, expected_terminated = [], []
        for state in states:
            env.state, env.steps_beyond_terminated = state.copy(), None
            _, _, terminated, _, _ = env.step(action)
            expected.append(env.state)
            expected_terminated.append(terminated)
        ours.set_state(states)
        actions = torch.full((len(states),), action)
        _, _, terminated, _, info = ours.step(actions)
        np.testing.assert_allclose(
            info["final_obs"].numpy(), np.float32(expected), rtol=1e-6, atol=1e-6
        )
        np.testing.assert_array_equal(terminated.numpy(), expected_terminated)
    assert 0 < np.mean(expected_terminated) < 1  # both outcomes were tested


@pytest.mark.parametrize("polynomial_trig", [False, True])
def test_cartpole_physics_float64_within_1e12(polynomial_trig):
    """The float64 state after one step is Gymnasium's within 1e-12 (no resets),
    with torch's sin and cos and with the polynomials."""
    rng = np.random.default_rng(1)
    states = rng.uniform([-2, -2, -0.15, -2], [2, 2, 0.15, 2], (1000, 4))
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    ours = TorchCartPole(
        len(states), device="cpu", seed=0, polynomial_trig=polynomial_trig
    )
    for action in (0, 1):
        expected = []
        for state in states:
            env.state, env.steps_beyond_terminated = state.copy(), None
            env.step(action)
            expected.append(env.state)
        ours.set_state(states)
        ours.step(torch.full((len(states),), action))
        np.testing.assert_allclose(
            ours.state.T.numpy(), np.array(expected), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("polynomial_trig", [False, True])
def test_cartpole_whole_episodes_match_gymnasium_random_actions(polynomial_trig):
    """Random pushes from 200 start states, 150 steps: obs within 1e-5, same flags."""
    rng = np.random.default_rng(2)
    start = np.concatenate(
        [rng.uniform(-0.05, 0.05, (100, 4)), near_threshold_states(rng, 100)]
    )
    result = compare_rollout(
        start, steps=150, policy=random_policy, seed=3, polynomial_trig=polynomial_trig
    )
    assert result["max_error"] < 1e-5
    assert result["episodes"] > 1000  # many whole episodes, with auto-resets


@pytest.mark.parametrize("polynomial_trig", [False, True])
def test_cartpole_balanced_episodes_truncate_at_500_like_gymnasium(polynomial_trig):
    """Balancing for 520 steps: truncation at 500, same flags, obs within 1e-5.

    The upright pole amplifies a rounding difference by about e^(4 t): over
    10 s a 1e-16 difference can grow past 1e-5. So the float64 states are
    re-synchronised every 50 steps (1 s), within which we must match.
    """
    rng = np.random.default_rng(4)
    start = rng.uniform(-0.05, 0.05, (32, 4))
    result = compare_rollout(
        start,
        steps=520,
        policy=balancing_policy,
        resync_every=50,
        seed=5,
        polynomial_trig=polynomial_trig,
    )
    assert result["max_error"] < 1e-5
    assert result["truncations"] == 32  # every cart reached the time limit


def test_small_angle_polynomials_are_float64_exact_up_to_12_degrees():
    """cos and sin as the polynomials, up to 12 degrees: within a few ulp of
    NumPy's (4 for cos, 1 for sin, with one to spare for another C library),
    under one on average; far off beyond, which is why a state set at a larger
    angle gets torch's sin and cos."""
    coefficients = vec_envs._small_angle_polynomials()  # [5, 2]
    assert coefficients.shape == (5, 2) and np.all(coefficients[0] == 1.0)
    theta = np.linspace(-THETA_LIMIT, THETA_LIMIT, 200_001)
    u = theta**2
    cos = np.polynomial.polynomial.polyval(u, coefficients[:, 0])
    sin = theta * np.polynomial.polynomial.polyval(u, coefficients[:, 1])
    cos_ulps = np.abs(cos - np.cos(theta)) / np.spacing(np.cos(theta))
    sin_ulps = np.abs(sin - np.sin(theta)) / np.spacing(np.abs(np.sin(theta)))
    sin_ulps = sin_ulps[theta != 0]
    assert cos_ulps.max() <= 5 and cos_ulps.mean() < 1
    assert sin_ulps.max() <= 2 and sin_ulps.mean() < 1
    assert sin[theta == 0] == 0
    wide = np.polynomial.polynomial.polyval(2.0**2, coefficients[:, 0])
    assert abs(wide - np.cos(2.0)) > 1e-4


def test_cartpole_polynomial_and_torch_trig_agree_step_by_step():
    """From 2,048 carts on, sin and cos are polynomials: at 4,096 carts the two
    ways of stepping stay within 1e-9 over 300 random steps, with identical
    flags and resets."""
    n = vec_envs.POLYNOMIAL_TRIG_CARTS * 2
    poly = TorchCartPole(n, seed=7)
    exact = TorchCartPole(n, seed=7, polynomial_trig=False)
    assert poly.polynomial_trig and not TorchCartPole(64).polynomial_trig
    assert not TorchCartPole(n, dtype=torch.float32).polynomial_trig
    poly.reset(), exact.reset()
    generator = torch.Generator().manual_seed(0)
    worst, resets = 0.0, 0
    for _ in range(300):
        actions = torch.randint(0, 2, (n,), generator=generator)
        a, b = poly.step(actions), exact.step(actions)
        for flags_a, flags_b in zip(a[2:4], b[2:4], strict=True):
            assert torch.equal(flags_a, flags_b)
        assert torch.equal(a[4]["episode_length"], b[4]["episode_length"])
        worst = max(worst, (poly.state - exact.state).abs().max().item())
        resets += int(a[4]["_final_obs"].sum())
    assert 0 < worst < 1e-9
    assert resets > 10 * n  # many episodes: the auto-reset keeps both in step


def test_cartpole_set_state_beyond_12_degrees_steps_with_torch_trig():
    """A state set beyond 12 degrees (even past 90) steps with torch's sin and
    cos, bitwise as the torch path does; after that step the polynomials."""
    n = vec_envs.POLYNOMIAL_TRIG_CARTS
    states = np.zeros((n, 4))
    states[:, 2] = np.linspace(-3.0, 3.0, n)  # up to about 172 degrees
    poly = TorchCartPole(n, seed=1)
    exact = TorchCartPole(n, seed=1, polynomial_trig=False)
    for env in (poly, exact):
        env.set_state(states)
    assert not poly._small_angles
    actions = torch.ones(n, dtype=torch.long)
    a, b = poly.step(actions), exact.step(actions)
    assert torch.equal(a[4]["final_obs"], b[4]["final_obs"])
    assert torch.equal(poly.state, exact.state)
    assert poly._small_angles  # every cart beyond 12 degrees was reset
    assert torch.all(poly.state[2].abs() <= THETA_LIMIT)
    poly.set_state(np.zeros((n, 4)))
    assert poly._small_angles


def test_cartpole_truncation_and_termination_on_the_same_step():
    """At the time limit a falling cart is both terminated and truncated."""
    env = TorchCartPole(2, device="cpu", seed=0)
    falling = [0.0, 0.0, THETA_LIMIT - 1e-4, 1.0]  # falls over in this step
    env.set_state(np.array([falling, [0.0, 0.0, 0.0, 0.0]]), elapsed_steps=499)
    obs, reward, terminated, truncated, info = env.step(torch.tensor([1, 1]))
    assert terminated.tolist() == [True, False]
    assert truncated.tolist() == [True, True]
    assert reward.tolist() == [1.0, 1.0]
    assert info["episode_length"].tolist() == [500, 500]
    assert env.elapsed_steps.tolist() == [0, 0]
    assert torch.all(obs.abs() <= 0.05)  # both restarted


def test_cartpole_reset_is_seeded_and_uniform():
    """reset(seed) reproduces start states, uniform in [-0.05, 0.05)."""
    env = TorchCartPole(10_000, device="cpu", seed=7)
    first, info = env.reset()
    assert info == {}
    again, _ = TorchCartPole(10_000, device="cpu", seed=7).reset()
    assert torch.equal(first, again)
    other, _ = env.reset(seed=8)
    assert not torch.equal(first, other)
    assert first.min() >= -0.05 and first.max() < 0.05
    assert abs(float(first.mean())) < 0.002  # mean of U(-0.05, 0.05)
    assert abs(float(first.std()) - 0.1 / math.sqrt(12)) < 0.002


@pytest.mark.parametrize("num_envs", [512, 4096])  # torch's sin and cos; polynomials
def test_cartpole_accelerator_step_end_matches_the_cpu_one(num_envs):
    """The sync-free end of a step (torch, used on GPUs) and the CPU's (NumPy
    views) give the same flags, clocks, rewards and observations, truncation
    included, and valid resets."""
    cpu_path = TorchCartPole(num_envs, device="cpu", seed=0)
    gpu_path = TorchCartPole(num_envs, device="cpu", seed=0)
    gpu_path._draw_for_all = True  # what a CUDA device does
    cpu_path.reset()
    # A quarter of the carts 490 steps into their episode: some truncate.
    elapsed = torch.where(torch.arange(num_envs) % 4 == 0, 490, 0)
    cpu_path.set_state(cpu_path.state.T, elapsed)
    gpu_path.set_state(cpu_path.state.T, elapsed)
    generator = torch.Generator().manual_seed(0)
    truncations = 0
    for _ in range(100):
        actions = torch.randint(0, 2, (num_envs,), generator=generator)
        a = cpu_path.step(actions)
        b = gpu_path.step(actions)
        for ours, theirs in zip(a[1:4], b[1:4], strict=True):  # reward, flags
            assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)
        for key in ("final_obs", "_final_obs", "episode_length"):
            assert a[4][key].dtype == b[4][key].dtype
            assert torch.equal(a[4][key], b[4][key]), key
        ended = a[4]["_final_obs"]
        assert torch.equal(ended, a[2] | a[3])
        assert torch.equal(a[0][~ended], b[0][~ended])
        assert torch.all(a[0][ended].abs() <= 0.05)
        assert torch.all(b[0][ended].abs() <= 0.05)
        assert not cpu_path.elapsed_steps[ended].any()  # their clocks restarted
        truncations += int(a[3].sum())
        # Continue both from the same state so the comparison stays exact.
        gpu_path.set_state(cpu_path.state.T, cpu_path.elapsed_steps)
    assert truncations > 0


@pytest.mark.parametrize("draw_for_all", [False, True])  # the CPU and GPU paths
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copied_cartpole_steps_like_the_original(how, draw_for_all):
    """A pickled or deep-copied env steps exactly like the original from the
    copy on (its views are made again on the copied memory), and neither
    changes the other."""
    original = TorchCartPole(4096, device="cpu", seed=5)
    original._draw_for_all = draw_for_all
    original.reset()
    generator = torch.Generator().manual_seed(2)
    actions = [torch.randint(0, 2, (4096,), generator=generator) for _ in range(60)]
    for action in actions[:10]:
        original.step(action)
    copied = (
        pickle.loads(pickle.dumps(original))
        if how == "pickle"
        else copy.deepcopy(original)
    )
    assert copied.state.data_ptr() != original.state.data_ptr()
    resets = 0
    for action in actions[10:]:
        a, b = original.step(action), copied.step(action)
        for ours, theirs in zip(a[:4], b[:4], strict=True):
            assert torch.equal(ours, theirs)
        for key in ("final_obs", "_final_obs", "episode_length"):
            assert torch.equal(a[4][key], b[4][key]), key
        resets += int(a[4]["_final_obs"].sum())
    assert resets > 0
    assert torch.equal(original.state, copied.state)
    copied.reset(seed=9)  # the copy's memory is its own
    assert not torch.equal(original.state, copied.state)


def test_cartpole_float32_dtype_stays_close_for_a_few_steps():
    """dtype=float32 runs and follows float64 to 1e-4 over 10 steps."""
    start = np.random.default_rng(6).uniform(-0.05, 0.05, (64, 4))
    exact = TorchCartPole(64, device="cpu", seed=0)
    light = TorchCartPole(64, device="cpu", seed=0, dtype=torch.float32)
    exact.set_state(start)
    light.set_state(start)
    for step in range(10):
        actions = torch.full((64,), step % 2)
        a, b = exact.step(actions), light.step(actions)
        assert b[0].dtype == torch.float32 and b[1].dtype == torch.float32
        assert not a[4]["_final_obs"].any()
        assert torch.allclose(a[4]["final_obs"], b[4]["final_obs"], atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cartpole_copies_what_it_takes_and_gives(dtype):
    """set_state copies its input; returned obs stay valid after later steps."""
    env = TorchCartPole(3, device="cpu", seed=0, dtype=dtype)
    start = torch.zeros(4, 3, dtype=dtype).T  # a transposed view, like env.state.T
    env.set_state(start)
    push = torch.ones(3, dtype=torch.long)
    obs, _, _, _, info = env.step(push)
    kept, kept_final = obs.clone(), info["final_obs"].clone()
    env.step(push)
    assert torch.equal(obs, kept) and torch.equal(info["final_obs"], kept_final)
    assert not start.any()  # the caller's tensor was not stepped


def test_cartpole_spaces_and_shapes():
    """Spaces, shapes and dtypes are Gymnasium's CartPole ones, batched."""
    env = TorchCartPole(5, device="cpu", seed=0)
    reference = gym.make("CartPole-v1")
    assert env.single_observation_space == reference.observation_space
    assert env.single_action_space == reference.action_space
    obs, _ = env.reset()
    obs, reward, terminated, truncated, info = env.step(
        torch.zeros(5, dtype=torch.long)
    )
    assert obs.shape == (5, 4) and obs.dtype == torch.float32
    assert reward.shape == (5,) and reward.dtype == torch.float32
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    assert info["final_obs"].shape == (5, 4)
    assert "TorchCartPole(num_envs=5" in repr(env)


@pytest.mark.parametrize("num_envs", [0, -3])
def test_cartpole_rejects_num_envs_below_one(num_envs):
    """num_envs < 1 is a ValueError naming the value."""
    with pytest.raises(ValueError, match="num_envs must be an int >= 1"):
        TorchCartPole(num_envs, device="cpu")


def test_bad_input_gives_clear_errors():
    """Non-int num_envs, unknown devices, bad actions and a missing reset raise."""
    with pytest.raises(TypeError, match="num_envs"):
        TorchCartPole(2.5, device="cpu")
    with pytest.raises(ValueError, match="device must be"):
        TorchCartPole(2, device="tpu")
    with pytest.raises(TypeError, match="seed"):
        TorchCartPole(2, device="cpu", seed="zero")
    with pytest.raises(ValueError, match="dtype"):
        TorchCartPole(2, device="cpu", dtype=torch.int64)
    env = TorchCartPole(3, device="cpu")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(3, dtype=torch.long))
    env.reset()
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        env.step(torch.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        env.set_state(np.zeros((3, 3)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_an_error():
    """device='cuda' without a GPU raises instead of silently using the CPU."""
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        TorchCartPole(2, device="cuda")


def test_numpy_actions_are_accepted_on_the_cpu():
    """A NumPy action array works (converted at the boundary)."""
    env = TorchCartPole(3, device="cpu", seed=0)
    env.reset()
    obs, *_ = env.step(np.array([0, 1, 0]))
    assert obs.shape == (3, 4)


@pytest.mark.parametrize("check_actions", [False, True])
@pytest.mark.parametrize("bad", [2, -1])
def test_cartpole_rejects_actions_out_of_range_on_the_cpu(check_actions, bad):
    """An action other than 0 or 1 raises a clear ValueError, checked or not."""
    env = TorchCartPole(4, device="cpu", seed=0, check_actions=check_actions)
    env.reset()
    before = env.state.clone()
    with pytest.raises(ValueError, match=r"actions must be in \[0, 2\)"):
        env.step(torch.tensor([0, 1, bad, 0]))
    assert torch.equal(env.state, before)  # nothing was stepped
    with pytest.raises(TypeError, match="integer"):
        env.step(torch.ones(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="check_actions"):
        TorchCartPole(2, device="cpu", check_actions="yes")


def test_tabular_rejects_actions_out_of_range_on_the_cpu():
    """TorchTabularEnv checks the range too (else it would index another row)."""
    env = TorchTabularEnv.from_gymnasium(gym.make("FrozenLake-v1"), 3, "cpu")
    env.reset()
    with pytest.raises(ValueError, match=r"actions must be in \[0, 4\)"):
        env.step(torch.tensor([0, 4, 1]))


def test_cartpole_steps_on_one_torch_thread_and_restores_the_callers():
    """Small batches step on 1 torch thread (same numbers); the setting is restored."""
    threads = torch.get_num_threads()
    seen = []
    single = TorchCartPole(256, device="cpu", seed=0)
    unchanged = TorchCartPole(256, device="cpu", seed=0, torch_threads=None)
    assert single.torch_threads == 1 and unchanged.torch_threads is None
    big = TorchCartPole(vec_envs.SMALL_BATCH + 1, device="cpu")
    assert big.torch_threads is None
    original = single._step

    def spy(action):
        seen.append(torch.get_num_threads())
        return original(action)

    single._step = spy
    try:
        torch.set_num_threads(2)
        single.reset()
        unchanged.reset()
        generator = torch.Generator().manual_seed(0)
        for _ in range(50):
            actions = torch.randint(0, 2, (256,), generator=generator)
            a, b = single.step(actions), unchanged.step(actions)
            assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen == [1] * 50
    with pytest.raises(TypeError, match="torch_threads"):
        TorchCartPole(2, device="cpu", torch_threads=1.5)


# ========================================================= tabular envs
def chi_square(counts: np.ndarray, expected_probs: np.ndarray) -> tuple[float, int]:
    """Pearson's chi-square statistic and degrees of freedom."""
    keep = expected_probs > 0
    assert counts[~keep].sum() == 0, "an outcome of probability 0 happened"
    expected = counts.sum() * expected_probs[keep]
    return float(((counts[keep] - expected) ** 2 / expected).sum()), int(keep.sum()) - 1


def chi_square_critical(df: int, z: float = 3.72) -> float:
    """Upper 0.0001 quantile of chi-square(df) (Wilson-Hilferty approximation)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def table_next_state_probs(env: gym.Env, state: int, action: int) -> np.ndarray:
    """float64 [n_states]: p(s' | s, a) summed over the outcomes in P."""
    probs = np.zeros(env.observation_space.n)
    for prob, next_state, _, _ in env.unwrapped.P[state][action]:
        probs[next_state] += prob
    return probs


@pytest.mark.parametrize(
    ("env_id", "kwargs", "pairs"),
    [
        ("FrozenLake8x8-v1", {}, [(0, 0), (9, 1), (27, 2), (50, 3)]),
        ("FrozenLake-v1", {"map_name": "4x4"}, [(0, 1), (6, 2), (14, 2)]),
        ("CliffWalking-v1", {"is_slippery": True}, [(36, 0), (25, 1), (13, 2)]),
        ("Taxi-v4", {"is_rainy": True}, [(0, 0), (123, 1), (321, 2), (77, 3)]),
    ],
)
def test_tabular_next_state_frequencies_match_the_table(env_id, kwargs, pairs):
    """40,000 samples of s' from (s, a) pass a chi-square test against P."""
    gym_env = gym.make(env_id, **kwargs)
    env = TorchTabularEnv.from_gymnasium(gym_env, 40_000, device="cpu", seed=11)
    for state, action in pairs:
        env.set_state(state)
        _, _, _, _, info = env.step(torch.full((40_000,), action))
        counts = np.bincount(info["final_obs"].numpy(), minlength=env.n_states)
        statistic, df = chi_square(
            counts, table_next_state_probs(gym_env, state, action)
        )
        if df > 0:
            assert statistic < chi_square_critical(df), (state, action, statistic, df)
        else:  # a deterministic transition: always the same next state
            assert (counts > 0).sum() == 1


def test_tabular_start_distribution_matches_taxi():
    """Taxi's 300 start states are drawn with the table's start distribution."""
    gym_env = gym.make("Taxi-v4")
    for draw_for_all in (False, True):  # the CPU path and the GPU path
        env = TorchTabularEnv.from_gymnasium(gym_env, 60_000, device="cpu", seed=1)
        env._draw_for_all = draw_for_all
        state, _ = env.reset()
        counts = np.bincount(state.numpy(), minlength=500)
        statistic, df = chi_square(counts, gym_env.unwrapped.initial_state_distrib)
        assert df == 299
        assert statistic < chi_square_critical(df)


def test_tabular_rewards_and_termination_come_from_the_table():
    """Non-slippery FrozenLake 4x4: right from 14 reaches the goal, reward 1."""
    gym_env = gym.make("FrozenLake-v1", is_slippery=False)
    env = TorchTabularEnv.from_gymnasium(gym_env, 3, device="cpu", seed=0)
    env.set_state(torch.tensor([14, 14, 0]))
    RIGHT, DOWN = 2, 1
    state, reward, terminated, truncated, info = env.step(
        torch.tensor([RIGHT, DOWN, RIGHT])
    )
    assert info["final_obs"].tolist() == [15, 14, 1]
    assert reward.tolist() == [1.0, 0.0, 0.0]
    assert terminated.tolist() == [True, False, False]
    assert truncated.tolist() == [False, False, False]
    assert state.tolist() == [0, 14, 1]  # the finished env restarted at S


def test_tabular_truncation_autoreset_and_episode_length():
    """With max_episode_steps=3 the third step truncates and restarts."""
    gym_env = gym.make("FrozenLake-v1", is_slippery=False)
    env = TorchTabularEnv.from_gymnasium(
        gym_env, 2, device="cpu", seed=0, max_episode_steps=3
    )
    env.reset()
    LEFT = 0
    for step in range(1, 4):
        state, _, terminated, truncated, info = env.step(torch.tensor([LEFT, LEFT]))
        assert truncated.tolist() == [step == 3] * 2
        assert info["episode_length"].tolist() == [step, step]
    assert not terminated.any()
    assert state.tolist() == [0, 0] and info["_final_obs"].all()


def test_tabular_time_limit_defaults_to_the_registered_one():
    """FrozenLake 8x8 truncates at 200, 4x4 at 100, CliffWalking never."""

    def limit(env_id):
        return TorchTabularEnv.from_gymnasium(
            gym.make(env_id), 1, "cpu"
        ).max_episode_steps

    assert limit("FrozenLake8x8-v1") == 200
    assert limit("FrozenLake-v1") == 100
    assert limit("CliffWalking-v1") is None


def test_tabular_success_rate_matches_the_exact_probability():
    """20,000 greedy FrozenLake 8x8 episodes succeed as often as DP on P says."""
    gym_env = gym.make("FrozenLake8x8-v1")
    _, q_star = value_iteration(gym_env, gamma=0.99)
    policy = greedy_policy(q_star)
    exact = success_probability(gym_env, policy)  # within the 200-step limit
    env = TorchTabularEnv.from_gymnasium(gym_env, 20_000, device="cpu", seed=3)
    state, _ = env.reset()
    actions = torch.as_tensor(policy)
    finished = torch.zeros(20_000, dtype=torch.bool)
    success = torch.zeros(20_000, dtype=torch.bool)
    for _ in range(200):  # every first episode ends by the time limit
        state, reward, terminated, truncated, _ = env.step(actions[state])
        first_end = (terminated | truncated) & ~finished
        success |= first_end & terminated & (reward > 0)
        finished |= first_end
    assert finished.all()
    rate = success.double().mean().item()
    standard_error = math.sqrt(exact * (1 - exact) / 20_000)
    assert abs(rate - exact) < 4 * standard_error
    assert exact > 0.5  # a policy that does succeed, so the test means something


def test_tabular_rejects_envs_without_a_table():
    """CartPole (Box observations) and a Discrete env without P raise clearly."""
    with pytest.raises(TypeError, match="Discrete observation space"):
        TorchTabularEnv.from_gymnasium(gym.make("CartPole-v1"), 2, "cpu")

    class NoTable(gym.Env):
        observation_space = gym.spaces.Discrete(3)
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(ValueError, match="no transition table"):
        TorchTabularEnv.from_gymnasium(NoTable(), 2, "cpu")
    with pytest.raises(TypeError, match="Gymnasium env"):
        TorchTabularEnv.from_gymnasium("FrozenLake-v1", 2, "cpu")
    fickle = gym.make("Taxi-v4", fickle_passenger=True)
    with pytest.raises(ValueError, match="fickle_passenger"):
        TorchTabularEnv.from_gymnasium(fickle, 2, "cpu")
    with pytest.raises(ValueError, match="num_envs"):
        TorchTabularEnv.from_gymnasium(gym.make("FrozenLake-v1"), 0, "cpu")
    with pytest.raises(ValueError, match="device must be"):
        TorchTabularEnv.from_gymnasium(gym.make("FrozenLake-v1"), 2, "gpu0")


def test_tabular_is_seeded():
    """Same seed, same trajectory; another seed, another one."""
    gym_env = gym.make("FrozenLake8x8-v1")

    def run(seed):
        env = TorchTabularEnv.from_gymnasium(gym_env, 256, device="cpu", seed=seed)
        env.reset()
        states = []
        for _ in range(30):
            state, *_ = env.step(torch.ones(256, dtype=torch.long))
            states.append(state)
        return torch.stack(states)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


# ================================================================== CUDA
@needs_cuda
def test_cartpole_on_cuda_matches_cpu_without_host_syncs():
    """On a GPU the step makes no host sync and follows the CPU env to 1e-10."""
    start = np.random.default_rng(0).uniform(-0.05, 0.05, (256, 4))
    cpu = TorchCartPole(256, device="cpu", seed=0)
    gpu = TorchCartPole(256, device="cuda", seed=0)
    cpu.set_state(start)
    gpu.set_state(start)
    actions = torch.ones(256, dtype=torch.long)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            gpu_out = gpu.step(actions.cuda())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for _ in range(5):
        cpu_out = cpu.step(actions)
    assert torch.allclose(
        gpu_out[4]["final_obs"].cpu(), cpu_out[4]["final_obs"], atol=1e-6
    )
    assert gpu_out[0].device.type == "cuda"


@needs_cuda
def test_tabular_on_cuda_without_host_syncs():
    """TorchTabularEnv steps on a GPU with no host synchronisation."""
    env = TorchTabularEnv.from_gymnasium(
        gym.make("Taxi-v4", is_rainy=True), 1024, "cuda"
    )
    state, _ = env.reset()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(10):
            state, reward, *_ = env.step(
                torch.zeros(1024, dtype=torch.long, device="cuda")
            )
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert state.device.type == "cuda" and reward.device.type == "cuda"


# ------------------------------------------------------------- hostile input
def _cartpole(**kwargs) -> TorchCartPole:
    env = TorchCartPole(3, "cpu", seed=0, **kwargs)
    env.reset()
    return env


def _lake(**kwargs) -> TorchTabularEnv:
    env = TorchTabularEnv.from_gymnasium(
        gym.make("FrozenLake-v1"), 2, "cpu", seed=0, **kwargs
    )
    env.reset()
    return env


def _table(**changes) -> TorchTabularEnv:
    tables = dict(
        probs=np.ones((2, 1, 1)),
        next_states=np.zeros((2, 1, 1), dtype=np.int64),
        rewards=np.zeros((2, 1, 1)),
        terminated=np.zeros((2, 1, 1), dtype=bool),
        initial_probs=[0.5, 0.5],
    )
    return TorchTabularEnv(**(tables | changes), num_envs=1, device="cpu")


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: TorchCartPole(0, "cpu"), ValueError, "num_envs must be an int"),
        (lambda: TorchCartPole(2, "cpu", dtype="float64"), TypeError, "dtype"),
        (lambda: TorchCartPole(2, "cpu", dtype=torch.int64), ValueError, "dtype"),
        (lambda: TorchCartPole(2, "cpu", seed=2**64), ValueError, r"2\*\*64"),
        (lambda: TorchCartPole(2, "cpu", max_episode_steps=0), ValueError,
         "max_episode_steps"),
        (lambda: TorchCartPole(2, "cpu", check_actions="yes"), TypeError,
         "check_actions"),
        (lambda: TorchCartPole(2, "cpu", polynomial_trig=1), TypeError,
         "polynomial_trig must be True, False or None, got 1"),
        (lambda: TorchCartPole(10**15, "cpu"), ValueError,
         "TorchCartPole with 1000000000000000 carts needs"),
        (lambda: _cartpole().step(torch.tensor([0, 1, 2])), ValueError,
         r"actions must be in \[0, 2\)"),
        (lambda: _cartpole().step(torch.tensor([-1, 1, 0])), ValueError,
         r"actions must be in \[0, 2\)"),
        (lambda: _cartpole(check_actions=True).step(torch.tensor([0, 5, 0])),
         ValueError, r"actions must be in \[0, 2\)"),
        (lambda: _cartpole().step(np.array([0.0, 1.0, 0.0])), TypeError,
         "integers"),
        (lambda: _cartpole().step(torch.tensor([True, False, True])), TypeError,
         "integer tensor"),
        (lambda: _cartpole().step(torch.tensor([0, 1])), ValueError, r"shape \(3,\)"),
        (lambda: _cartpole().set_state(np.full((3, 4), np.nan)), ValueError,
         "state must be finite"),
        (lambda: _cartpole().set_state(np.zeros((3, 4)), elapsed_steps=-1),
         ValueError, "elapsed_steps"),
        (lambda: _cartpole().set_state(np.zeros((3, 4)), elapsed_steps=500),
         ValueError, r"elapsed_steps must be .* in \[0, 500\)"),
        (lambda: _cartpole().set_state(np.zeros((3, 4)), elapsed_steps=1.5),
         TypeError, "elapsed_steps"),
        (lambda: _cartpole().set_state([["a"] * 4] * 3), TypeError, "state must"),
        (lambda: _lake().step(torch.tensor([4, 0])), ValueError,
         r"actions must be in \[0, 4\)"),
        (lambda: _lake().step(torch.tensor([0, -1])), ValueError,
         r"actions must be in \[0, 4\)"),
        (lambda: _lake().set_state(99), ValueError, r"state must be .*\[0, 16\)"),
        (lambda: _lake().set_state(-1), ValueError, "state must be"),
        (lambda: _lake().set_state(1.5), TypeError, "state must be"),
        (lambda: _lake().set_state([1, 2, 3]), ValueError, "got shape"),
        (lambda: _lake(check_actions=1), TypeError, "check_actions"),
        (lambda: TorchTabularEnv.from_gymnasium(gym.make("FrozenLake-v1"), 0),
         ValueError, "num_envs"),
        (lambda: TorchTabularEnv.from_gymnasium(
            gym.make("FrozenLake-v1"), 1, max_episode_steps="long"), TypeError,
         "max_episode_steps"),
        (lambda: _table(initial_probs=[1.5, -0.5]), ValueError,
         r"initial_probs must be a distribution .* got \[1.5, -0.5\]"),
        (lambda: _table(initial_probs=[np.nan, 1.0]), ValueError, "initial_probs"),
        (lambda: _table(next_states=np.full((2, 1, 1), 0.5)), ValueError,
         "next_states must be integers"),
        (lambda: _table(rewards=np.full((2, 1, 1), np.inf)), ValueError,
         "rewards must be finite"),
        (lambda: _table(terminated=np.full((2, 1, 1), 2)), ValueError,
         "terminated must hold bools"),
        (lambda: _table(probs=np.full((2, 1, 1), "a")), TypeError,
         "probs must hold numbers"),
        (lambda: _table(probs=np.full((2, 1, 1), np.nan)), ValueError, "probs"),
        (lambda: _table(name=3), TypeError, "name"),
    ],
)  # fmt: skip
def test_vec_envs_reject_hostile_input(call, error, phrase):
    """Every public name raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_batched_envs_accept_legal_action_dtypes():
    """uint8 and int32 actions and NumPy lists step like int64 ones."""
    reference = _lake()
    expected = reference.step(torch.tensor([1, 2]))[0]
    for actions in (torch.tensor([1, 2], dtype=torch.uint8), np.array([1, 2])):
        env = _lake()
        assert torch.equal(env.step(actions)[0], expected)
    carts = _cartpole()
    obs = carts.step(torch.tensor([1, 0, 1], dtype=torch.int32))[0]
    assert obs.shape == (3, 4) and torch.isfinite(obs).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_check_actions_on_cuda_rejects_out_of_range_actions():
    """With check_actions=True a GPU env checks its actions too (one sync)."""
    carts = TorchCartPole(3, "cuda", seed=0, check_actions=True)
    carts.reset()
    with pytest.raises(ValueError, match=r"actions must be in \[0, 2\)"):
        carts.step(torch.tensor([0, 1, 2], device=carts.device))
    lake = TorchTabularEnv.from_gymnasium(
        gym.make("FrozenLake-v1"), 2, "cuda", seed=0, check_actions=True
    )
    lake.reset()
    assert not TorchTabularEnv.from_gymnasium(
        gym.make("FrozenLake-v1"), 2, "cuda"
    ).check_actions  # the default on a GPU: no per-step sync
    with pytest.raises(ValueError, match=r"actions must be in \[0, 4\)"):
        lake.step(torch.tensor([4, 0], device=lake.device))
