"""What the input checks cost: each hot path with its checks and without them.

The public functions of ``qlearn_lite`` check their arguments at the boundary
(issue 15). This benchmark measures, in one run, that the checks do not slow
the inner loops down beyond noise. Each workload runs twice per pair, back to
back (alternating which goes first): once as the course calls it, and once as
the *same code* with its checks bypassed. The reference for each:

1. ``tabular.q_learning`` (FrozenLake 8x8, slippery): the same call with the
   check helpers it uses (``_check_alpha``, ``_check_gamma``,
   ``_check_epsilon``, ``check_int``, the records' memory check) replaced by
   pass-throughs. Its step loop already calls the unchecked update rules, so
   this measures what the boundary checks add to a whole run.
2. A hand-written Q-learning loop as the notebooks write it, with the public
   pure functions ``epsilon_greedy``, ``td_target`` and ``q_update``, which
   check their arguments on every call, against the same loop with their
   unchecked bodies (``_epsilon_greedy``, ``_td_target``, ``_q_update``, the
   functions the learners use). This is where a check runs every step.
3. ``TorchCartPole.step`` (32 carts on the CPU, the vectorised DQN's default)
   against ``TorchCartPole._step``, the physics kernel that ``step`` wraps
   after its checks (reset done, actions' shape, dtype and device, and the
   ``try`` that names an action out of range), inside the same torch-threads
   context ``step`` uses.
4. ``train_dqn`` (CartPole-v1, 1,500 steps, 256 updates) against the same
   call with its per-step checks bypassed: ``ReplayBuffer.add`` replaced by a
   bare store into the same slots, ``QNetwork.forward`` by the layers alone,
   and the shape check of the target copies and the batch-size check of the
   sampling by no-ops. The config is built once, outside the timing.

Each figure is the median, over the pairs, of the ratio checked / reference
(above 1: the checks cost), with the middle half of the pairs' ratios;
"within noise" means the median is within 5 % of 1, or, on a machine noisier
than that, that 1 lies inside the middle half of the pairs' ratios (as many
pairs found the checked code faster as slower). Both the CPU time of this process
and the wall time are printed; the verdict is on CPU time, which other
programs on a shared machine disturb far less than the wall clock (everything
here runs in this process's main thread, torch on one thread). The core count
and the load are printed, and both halves of a pair saw the same load.

    python benchmarks/input_checks.py            # under 2 minutes
    python benchmarks/input_checks.py --pairs 5  # shorter
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from unittest import mock

import gymnasium as gym
import numpy as np
import torch

from qlearn_lite import dqn, tabular
from qlearn_lite.dqn import DQNConfig, QNetwork, train_dqn
from qlearn_lite.replay import ReplayBuffer
from qlearn_lite.tabular import epsilon_greedy, q_learning, q_update, td_target
from qlearn_lite.vec_envs import TorchCartPole

NOISE = 0.05
ENV_ID = "FrozenLake8x8-v1"
ALPHA, GAMMA, EPSILON = 0.1, 0.99, 0.1


def _first(value, *args, **kwargs):
    """A check of ``value`` (``_check_alpha(alpha)``) that passes it through."""
    return value


def _second(name, value, *args, **kwargs):
    """A check of ``(name, value)`` (``check_int``) that passes it through."""
    return value


def _nothing(*args, **kwargs) -> None:
    return None


# ------------------------------------------------------------- 1. q_learning
@contextlib.contextmanager
def tabular_checks_bypassed() -> Iterator[None]:
    """``q_learning``'s boundary checks replaced by pass-throughs."""
    with contextlib.ExitStack() as stack:
        for name in ("_check_alpha", "_check_gamma", "_check_epsilon"):
            stack.enter_context(mock.patch.object(tabular, name, _first))
        stack.enter_context(mock.patch.object(tabular, "check_int", _second))
        stack.enter_context(
            mock.patch.object(tabular, "_check_record_memory", _nothing)
        )
        yield


def run_q_learning(episodes: int) -> None:
    q_learning(gym.make(ENV_ID), episodes, ALPHA, GAMMA, EPSILON, 0, progress=False)


# ---------------------------------------------------------- 2. a hand loop
def hand_loop(episodes: int, checked: bool) -> None:
    """Q-learning written with the pure functions, checked or not."""
    pick = epsilon_greedy if checked else tabular._epsilon_greedy
    target_of = td_target if checked else tabular._td_target
    update = q_update if checked else tabular._q_update
    env = gym.make(ENV_ID)
    q_table = np.zeros((env.observation_space.n, env.action_space.n))
    rng = np.random.default_rng(0)
    for episode in range(episodes):
        obs, _ = env.reset(seed=0 if episode == 0 else None)
        while True:
            # Both hand the row over as a list: epsilon_greedy converts an
            # array row with the same tolist() inside.
            row = q_table[obs] if checked else q_table[obs].tolist()
            action = pick(row, EPSILON, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            target = target_of(
                reward, max(q_table[next_obs].tolist()), terminated, GAMMA
            )
            q_table[obs, action] = update(q_table[obs, action], target, ALPHA)
            if terminated or truncated:
                break
            obs = next_obs


# ------------------------------------------------------- 3. TorchCartPole
def cartpole_steps(steps: int, checked: bool) -> None:
    env = TorchCartPole(32, device="cpu", seed=0)
    env.reset()
    actions = [torch.randint(0, 2, (32,), generator=torch.Generator().manual_seed(k))
               for k in range(16)]  # fmt: skip
    if checked:
        for k in range(steps):
            env.step(actions[k % 16])
    else:
        for k in range(steps):
            with env._threads:
                env._step(actions[k % 16])


# ------------------------------------------------------------- 4. train_dqn
def _bare_add(self, obs, action, reward, next_obs, terminated, discount=None) -> None:
    """ReplayBuffer.add for one transition, without any check (reference only)."""
    index = self.position
    self.obs[index] = obs
    self.next_obs[index] = next_obs
    self.actions[index] = action
    self.rewards[index] = reward
    self.terminated[index] = terminated
    if self.discounts is not None:
        self.discounts[index] = discount
    self.position = (index + 1) % self.capacity
    self.size = min(self.size + 1, self.capacity)


def _bare_forward(self, obs: torch.Tensor) -> torch.Tensor:
    return self.layers(obs)


@contextlib.contextmanager
def dqn_checks_bypassed() -> Iterator[None]:
    """``train_dqn``'s per-step and per-update checks replaced by bare code."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(ReplayBuffer, "add", _bare_add))
        stack.enter_context(mock.patch.object(QNetwork, "forward", _bare_forward))
        stack.enter_context(mock.patch.object(dqn, "_check_same_shapes", _nothing))
        stack.enter_context(
            mock.patch.object(ReplayBuffer, "_check_batch_size", lambda self, b: b)
        )
        yield


DQN_CONFIG = DQNConfig(
    total_steps=1_500,
    learning_starts=500,
    train_freq=256,
    gradient_steps=64,
    target_update_every=64,
    eval_every=0,
)


def run_train_dqn() -> None:
    train_dqn("CartPole-v1", DQN_CONFIG, progress=False)


# ------------------------------------------------------------------ timing
Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def seconds(work: Callable[[], None]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def pairs(
    checked: Callable[[], None], reference: Callable[[], None], count: int
) -> list[tuple[Timing, Timing]]:
    """``count`` back-to-back pairs (checked, reference), alternating which
    goes first, after one warm-up run of each (imports, caches, allocator)."""
    checked(), reference()
    times = []
    for k in range(count):
        if k % 2 == 0:
            first = seconds(checked)
            times.append((first, seconds(reference)))
        else:
            second = seconds(reference)
            times.append((seconds(checked), second))
    return times


def bypassed(context: Callable[[], contextlib.AbstractContextManager], work):
    def run() -> None:
        with context():
            work()

    return run


def _ratios(times: list[tuple[Timing, Timing]], which: int) -> list[float]:
    return sorted(checked[which] / reference[which] for checked, reference in times)


def verdict(ratios: list[float]) -> tuple[bool, str]:
    """Within noise: the median ratio within 5 % of 1, or 1 inside the middle
    half of the pairs' ratios (the pairs disagree on which side was faster)."""
    median = statistics.median(ratios)
    low, _, high = statistics.quantiles(ratios, n=4)
    if abs(median - 1.0) <= NOISE:
        return True, f"within noise (+-{NOISE:.0%})"
    change = f"{'slower' if median > 1 else 'faster'} by {abs(median - 1):.1%}"
    if low <= 1.0 <= high:
        return True, f"within noise ({change}, but 1 is inside the middle half)"
    return False, f"{change.upper()}, beyond noise"


def report(name: str, times: list[tuple[Timing, Timing]]) -> bool:
    """Print one workload's figures; True if its CPU-time ratio is within noise."""
    print(name)
    within = False
    for which, label in ((1, "CPU time"), (0, "wall time")):
        ratios = _ratios(times, which)
        checked_s = statistics.median(c[which] for c, _ in times)
        reference_s = statistics.median(r[which] for _, r in times)
        low, median, high = statistics.quantiles(ratios, n=4)
        ok, text = verdict(ratios)
        within = ok if which == 1 else within
        print(
            f"   {label:>9}: checked {checked_s * 1e3:,.0f} ms, bypassed "
            f"{reference_s * 1e3:,.0f} ms; ratio median "
            f"{statistics.median(ratios):.3f} (middle half of pairs "
            f"{low:.2f}-{high:.2f}): {text}"
        )
    return within


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs", type=int, default=15, help="pairs per workload (>= 5)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()
    now = datetime.datetime.now(datetime.timezone.utc)
    print(
        f"# benchmarks/input_checks.py, {now:%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the start"
    )
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, gymnasium {gym.__version__}; torch on 1 thread"
    )
    start = time.perf_counter()
    workloads = [
        (
            "1. tabular.q_learning, FrozenLake 8x8, 500 episodes",
            lambda: run_q_learning(500),
            bypassed(tabular_checks_bypassed, lambda: run_q_learning(500)),
        ),
        (
            "2. hand loop with epsilon_greedy / td_target / q_update, 200 episodes",
            lambda: hand_loop(200, checked=True),
            lambda: hand_loop(200, checked=False),
        ),
        (
            "3. TorchCartPole.step, 32 carts (CPU), 1,500 steps",
            lambda: cartpole_steps(1_500, checked=True),
            lambda: cartpole_steps(1_500, checked=False),
        ),
        (
            "4. train_dqn, CartPole-v1, 1,500 steps, 256 updates",
            run_train_dqn,
            bypassed(dqn_checks_bypassed, run_train_dqn),
        ),
    ]
    verdicts = [report(name, pairs(a, b, args.pairs)) for name, a, b in workloads]
    load = os.getloadavg()
    print(
        f"load average at the end {load[0]:.1f} (1 min); "
        f"{sum(verdicts)}/{len(verdicts)} within noise on CPU time; "
        f"{time.perf_counter() - start:.0f} s in all"
    )


if __name__ == "__main__":
    main()
