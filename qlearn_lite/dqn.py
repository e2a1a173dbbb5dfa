"""Deep Q-networks: the TD loss, target networks and a fast DQN (notebooks 05-06).

DQN (Mnih et al. 2015, "Human-level control through deep reinforcement
learning", Methods and Algorithm 1) replaces the Q-table of notebook 02 with a
network ``Q(s, .; theta)`` and trains it by regression on TD targets:

    y = r + gamma * (1 - terminated) * max_a' Q(s', a'; theta_target)
    L(theta) = mean over a replay minibatch of huber(Q(s, a; theta) - y)

Three ideas make that stable: experience replay (:mod:`qlearn_lite.replay`),
a target network ``theta_target`` that changes slowly (a hard copy every ``C``
updates, or the soft "Polyak" update ``theta_target <- tau theta +
(1 - tau) theta_target`` of Lillicrap et al. 2016, section 3), and the Huber
loss (Mnih et al. 2015, Methods: "error clipping"). Double DQN (van Hasselt,
Guez and Silver 2016, "Deep Reinforcement Learning with Double Q-learning",
eq. 4) picks ``a'`` with the online net and values it with the target net,
which removes most of the over-estimation of the ``max``.

The update rules are pure functions (:func:`td_targets`, :func:`dqn_loss`,
its importance-weighted form :func:`prioritized_dqn_loss`, :func:`td_errors`,
:func:`hard_update`, :func:`polyak_update`, :func:`n_step_transitions`);
:func:`train_dqn` is one loop that reads top to bottom: act, store, sample,
update, copy the target, evaluate.

Why the default :class:`DQNConfig` is fast on a CPU (notebook 05, section 6;
``benchmarks/dqn_cartpole.py``): a small MLP trains in milliseconds per step
and acts in microseconds, so the cost is per-call overhead, and the defaults
make few calls. Acting uses NumPy on views of the weights
(:func:`make_greedy_actor`), each training burst draws all its minibatches in
one call, Adam is fused, and three-step returns with gamma 0.98 need fewer
target periods (and so fewer updates) to propagate CartPole's values.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from numbers import Real
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.replay import NStepBatch, ReplayBatch, ReplayBuffer, n_step_returns
from qlearn_lite.tabular import linear_schedule
from qlearn_lite.utils import (
    EnvSpec,
    check_finite,
    check_int,
    check_seed,
    check_unit,
    child_seeds,
    env_from_spec,
    get_device,
    has_time_limit,
    seed_everything,
)
from qlearn_lite.utils import (
    progress as progress_bar,
)

TARGET_MODES = ("none", "hard", "soft")
LOSSES = ("huber", "mse")


# ==================================================================== network
class QNetwork(nn.Module):
    """A multilayer perceptron ``obs float32 [batch, obs_dim] -> Q [batch, n_actions]``.

    ``hidden`` lists the widths of the ReLU hidden layers: ``(64, 64)`` is two
    layers of 64 units, ``()`` a linear Q-function.
    """

    def __init__(
        self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64)
    ) -> None:
        super().__init__()
        self.obs_dim = check_int("obs_dim", obs_dim)
        self.n_actions = check_int("n_actions", n_actions)
        self.hidden = _check_hidden(hidden)
        layers: list[nn.Module] = []
        sizes = (self.obs_dim, *self.hidden)
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], self.n_actions))
        self.layers = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [batch, obs_dim]`` (or ``[obs_dim]``) -> ``Q [batch, n_actions]``.

        ``TypeError`` for a non-tensor, ``ValueError`` for a last axis that is
        not ``obs_dim`` (one shape comparison: cheap next to the layers).
        """
        if not isinstance(obs, torch.Tensor):
            raise TypeError(
                f"obs must be a float tensor [batch, {self.obs_dim}], got "
                f"{type(obs).__name__}"
            )
        if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"obs must have shape [batch, {self.obs_dim}] or [{self.obs_dim}] "
                f"for this QNetwork(obs_dim={self.obs_dim}), got {tuple(obs.shape)}"
            )
        return self.layers(obs)


# ============================================================ pure update rules
def td_targets(
    rewards: torch.Tensor,
    next_q: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float | torch.Tensor,
    next_q_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """TD targets ``y = r + gamma * (1 - terminated) * Q(s', a')``.

    Args:
        rewards: float32 ``[batch]``.
        next_q: float32 ``[batch, n_actions]``, the bootstrap network's values
            of ``s'`` (the target network's, or the online one's without one).
        terminated: float32 ``[batch]``, 1.0 where ``s'`` is terminal: its
            value is 0 and nothing is bootstrapped. A *truncated* transition
            (a time limit) has ``terminated = 0`` and bootstraps as usual.
        gamma: the discount factor in ``[0, 1]``, or float32 ``[batch]``:
            each n-step transition's own ``gamma**k`` (an
            :class:`~qlearn_lite.replay.NStepBatch`'s ``discounts``).
        next_q_online: float32 ``[batch, n_actions]`` or None. Given, this is
            double DQN (van Hasselt et al. 2016, eq. 4): ``a' = argmax`` of the
            online values, valued by ``next_q``. None: ``a' = argmax next_q``,
            the ``max`` of DQN (Mnih et al. 2015).

    Returns:
        float32 ``[batch]``, to be treated as constants (no gradient flows).
    """
    if not isinstance(gamma, torch.Tensor):  # per-row discounts: from our buffer
        check_unit("gamma", gamma)
    if next_q_online is None:
        next_values = next_q.max(dim=1).values
    else:
        best_actions = next_q_online.argmax(dim=1, keepdim=True)
        next_values = next_q.gather(1, best_actions).squeeze(1)
    return rewards + gamma * (1.0 - terminated) * next_values


def _q_and_targets(
    q_net: nn.Module,
    target_net: nn.Module | None,
    batch: ReplayBatch,
    gamma: float,
    double: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Q(s, a)`` of the batch (with its gradient) and the TD targets (without)."""
    q_taken = q_net(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        bootstrap_net = q_net if target_net is None else target_net
        next_q = bootstrap_net(batch.next_obs)
        # Double DQN without a target net would use the same net twice: plain max.
        use_double = double and target_net is not None
        next_q_online = q_net(batch.next_obs) if use_double else None
        # n-step transitions carry their own gamma**k (shorter at a time limit).
        discount = batch.discounts if isinstance(batch, NStepBatch) else gamma
        targets = td_targets(
            batch.rewards, next_q, batch.terminated, discount, next_q_online
        )
    return q_taken, targets


def _loss_and_mean_q(
    q_net: nn.Module,
    target_net: nn.Module | None,
    batch: ReplayBatch,
    gamma: float,
    double: bool,
    loss: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`dqn_loss` and the mean predicted ``Q(s, a)`` of the batch."""
    q_taken, targets = _q_and_targets(q_net, target_net, batch, gamma, double)
    return _td_loss(q_taken, targets, loss), q_taken.detach().mean()


def _td_loss(
    q_taken: torch.Tensor, targets: torch.Tensor, loss: str, reduction: str = "mean"
) -> torch.Tensor:
    """``loss`` ("huber" with delta 1: quadratic near 0, linear beyond; or
    "mse") between ``Q(s, a)`` and the targets, reduced as torch's losses are."""
    if loss == "huber":
        return F.smooth_l1_loss(q_taken, targets, reduction=reduction)
    return F.mse_loss(q_taken, targets, reduction=reduction)


def td_errors(
    q_net: nn.Module,
    target_net: nn.Module | None,
    batch: ReplayBatch,
    gamma: float,
    double: bool = False,
) -> torch.Tensor:
    """float32 ``[batch]``: the TD errors ``y_i - Q(s_i, a_i)``, no gradient.

    The targets ``y`` are :func:`dqn_loss`'s. An Ape-X actor calls it with
    ``target_net=None`` on its own copy of the weights to give new
    transitions their first priorities ``|delta_i|`` (Horgan et al. 2018,
    section 3, Algorithm 1 line 11).
    """
    check_unit("gamma", gamma)
    _check_module("q_net", q_net)
    with torch.no_grad():
        q_taken, targets = _q_and_targets(q_net, target_net, batch, gamma, double)
    return targets - q_taken


def prioritized_dqn_loss(
    q_net: nn.Module,
    target_net: nn.Module | None,
    batch: ReplayBatch,
    weights: torch.Tensor,
    gamma: float,
    double: bool = False,
    loss: Literal["huber", "mse"] = "huber",
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`dqn_loss` with importance-sampling weights, and the TD errors.

    ``mean_i weights_i * loss(Q(s_i, a_i) - y_i)``: the weighted update of
    prioritized replay (Schaul et al. 2016, Algorithm 1 line 12), where
    ``weights`` (float32 ``[batch]``) are the sample's importance-sampling
    weights; all ones gives :func:`dqn_loss`'s value. Returns the scalar loss
    (to call ``.backward()`` on) and the TD errors ``y_i - Q(s_i, a_i)``
    (float32 ``[batch]``, detached) whose absolute values are the sampled
    transitions' new priorities, from the same forward pass.
    """
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    check_unit("gamma", gamma)
    _check_module("q_net", q_net)
    if not isinstance(weights, torch.Tensor) or weights.shape != batch.actions.shape:
        shape = getattr(weights, "shape", type(weights).__name__)
        raise ValueError(
            "weights must be a float tensor [batch] (one importance-sampling "
            f"weight per transition, shape {tuple(batch.actions.shape)}), got {shape}"
        )
    q_taken, targets = _q_and_targets(q_net, target_net, batch, gamma, double)
    per_transition = _td_loss(q_taken, targets, loss, reduction="none")
    return (weights * per_transition).mean(), (targets - q_taken).detach()


def dqn_loss(
    q_net: nn.Module,
    target_net: nn.Module | None,
    batch: ReplayBatch,
    gamma: float,
    double: bool = False,
    loss: Literal["huber", "mse"] = "huber",
) -> torch.Tensor:
    """The DQN loss on one minibatch, a scalar tensor to call ``.backward()`` on.

    ``mean_i loss(Q(s_i, a_i; theta) - y_i)`` with ``y`` from :func:`td_targets`
    computed under ``torch.no_grad()`` (the semi-gradient of Mnih et al. 2015,
    eq. 3). ``target_net=None`` bootstraps from ``q_net`` itself (no target
    network); ``double=True`` is double DQN; ``loss`` is ``"huber"`` (delta 1,
    Mnih et al.'s error clipping) or ``"mse"``.

    ``batch``: a :class:`~qlearn_lite.replay.ReplayBatch` of tensors
    (``obs float32 [batch, obs_dim]``, ``actions int64 [batch]``, ...), or an
    :class:`~qlearn_lite.replay.NStepBatch`, whose own ``discounts`` then
    replace ``gamma``.
    """
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    check_unit("gamma", gamma)
    _check_module("q_net", q_net)
    if target_net is not None:
        _check_module("target_net", target_net)
    if not isinstance(batch, (ReplayBatch, NStepBatch)):
        raise TypeError(
            "batch must be a ReplayBatch or NStepBatch of tensors, got "
            f"{type(batch).__name__}"
        )
    return _loss_and_mean_q(q_net, target_net, batch, gamma, double, loss)[0]


def _check_module(name: str, module: Any) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{name} must be a torch.nn.Module, got {type(module).__name__}"
        )


def _parameters(name: str, module_or_tensors: Any) -> list[torch.Tensor]:
    """The parameters of a network, or a list of tensors as it is."""
    if isinstance(module_or_tensors, nn.Module):
        return list(module_or_tensors.parameters())
    if isinstance(module_or_tensors, (list, tuple)) and all(
        isinstance(t, torch.Tensor) for t in module_or_tensors
    ):
        return list(module_or_tensors)
    raise TypeError(
        f"{name} must be a torch.nn.Module or a list of parameter tensors, got "
        f"{type(module_or_tensors).__name__}"
    )


def _check_same_shapes(target: list[torch.Tensor], online: list[torch.Tensor]) -> None:
    target_shapes = [tuple(p.shape) for p in target]
    online_shapes = [tuple(p.shape) for p in online]
    if target_shapes != online_shapes:
        raise ValueError(
            "target and online must be networks of the same shape, got "
            f"parameters {target_shapes} and {online_shapes}"
        )


@torch.no_grad()
def hard_update(
    target: nn.Module | Sequence[torch.Tensor],
    online: nn.Module | Sequence[torch.Tensor],
) -> None:
    """Copy the online parameters into the target network (Mnih et al. 2015).

    ``target`` and ``online`` are networks of one shape, or lists of their
    parameter tensors (``list(net.parameters())``, or one flat vector each).
    ``ValueError`` if the two differ in number or shape of parameters.
    """
    target_params = _parameters("target", target)
    online_params = _parameters("online", online)
    _check_same_shapes(target_params, online_params)  # copy_ would broadcast
    torch._foreach_copy_(target_params, online_params)


@torch.no_grad()
def polyak_update(
    target: nn.Module | Sequence[torch.Tensor],
    online: nn.Module | Sequence[torch.Tensor],
    tau: float,
) -> None:
    """Soft update ``theta_target <- tau * theta + (1 - tau) * theta_target``.

    Lillicrap et al. 2016 (DDPG), section 3. ``tau = 1`` is a hard copy,
    ``tau = 0`` leaves the target unchanged; typical values are 0.005-0.05.
    ``target`` and ``online`` are networks, or lists of parameter tensors. The
    one soft update of the course: DQN, the async learners and the vectorised
    DQN all call it. It runs as one multi-tensor ``lerp`` (a single kernel
    launch for all parameters where the device supports it). ``ValueError``
    if the two differ in number or shape of parameters.
    """
    tau = check_unit("tau", tau)
    target_params = _parameters("target", target)
    online_params = _parameters("online", online)
    _check_same_shapes(target_params, online_params)  # lerp_ would broadcast
    # lerp is exact at both ends: weight 0 keeps target, weight 1 copies.
    torch._foreach_lerp_(target_params, online_params, tau)


class TargetSettings(Protocol):
    """The three settings of a target network that :func:`update_target` reads
    (:class:`DQNConfig` and the async DQN's config both have them)."""

    target_mode: str
    tau: float
    target_update_every: int


def update_target(
    config: TargetSettings,
    target: nn.Module | Sequence[torch.Tensor],
    online: nn.Module | Sequence[torch.Tensor],
    updates: int,
) -> bool:
    """Keep the target network in step after gradient update number ``updates``.

    ``config.target_mode`` decides: ``"soft"`` moves the target a step
    ``config.tau`` towards the online parameters after every update
    (:func:`polyak_update`); ``"hard"`` copies them once ``updates`` reaches a
    multiple of ``config.target_update_every`` (:func:`hard_update`); ``"none"``
    does nothing. Returns True when a hard copy was made, so that callers can
    count them. The one place the course's DQN learners apply that rule:
    :func:`train_dqn`, the independent agents and the async DQN of notebook 07.
    """
    if config.target_mode == "soft":
        polyak_update(target, online, config.tau)
    elif config.target_mode == "hard" and updates % config.target_update_every == 0:
        hard_update(target, online)
        return True
    return False


def new_q_network(
    obs_dim: int, n_actions: int, hidden: Sequence[int], seed: int
) -> QNetwork:
    """A :class:`QNetwork` whose initial weights come from ``seed`` alone.

    The one way the course seeds a network's initial weights: torch's global
    generator is seeded with ``seed`` inside ``torch.random.fork_rng``, so the
    caller's random state is left as it was. ``new_q_network(..., seed=s)``
    gives the same weights as ``torch.manual_seed(s); QNetwork(...)``.
    """
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return QNetwork(obs_dim, n_actions, hidden)


# ===================================================================== config
def _check_positive(name: str, value: Any) -> float:
    """``value`` as a float, checking that it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number > 0, got {value!r}")
    if not 0 < value < math.inf:  # NaN fails too
        raise ValueError(f"{name} must be > 0 and finite, got {value!r}")
    return float(value)


def _check_hidden(hidden: Any, name: str = "hidden") -> tuple[int, ...]:
    """``hidden`` as a tuple of ints >= 1 (a list or tuple such as (64, 64))."""
    expected = "a tuple of ints >= 1 such as (64, 64) or ()"
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"{name} must be {expected}, got {hidden!r}")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
            raise TypeError(f"{name} must be {expected}, got {hidden!r}")
        if width < 1:
            raise ValueError(f"{name} must be {expected}, got {hidden!r}")
    return tuple(int(width) for width in hidden)


def _check_device_name(device: Any, name: str = "device") -> None:
    """A device name get_device understands (resolved only when training)."""
    expected = "'auto', 'cpu', 'cuda' or 'cuda:N'"
    if isinstance(device, torch.device):
        return
    if not isinstance(device, str):
        raise TypeError(f"{name} must be {expected}, got {device!r}")
    text = device.strip().lower()
    if text not in ("auto", "cpu", "cuda") and not (
        text.startswith("cuda:") and text[5:].isdigit()
    ):
        raise ValueError(f"{name} must be {expected}, got {device!r}")


@dataclass(frozen=True)
class DQNConfig:
    """Every hyperparameter of :func:`train_dqn`; the defaults solve CartPole-v1.

    The defaults were tuned to reach a greedy return of 475 on CartPole-v1
    quickly in wall-clock time on a laptop CPU (see notebook 05 and
    ``benchmarks/dqn_cartpole.py``). :meth:`preset` gives named alternatives.
    """

    total_steps: int = 50_000
    """Environment steps to train for (at most; see ``stop_at_return``)."""
    gamma: float = 0.98
    """Discount factor in [0, 1]; 0.98 looks about 1 / (1 - 0.98) = 50 steps ahead."""
    lr: float = 2.3e-3
    """Adam learning rate."""
    batch_size: int = 64
    """Transitions per gradient step, sampled uniformly from the buffer."""
    buffer_size: int = 50_000
    """Replay buffer capacity in transitions (the oldest is overwritten)."""
    learning_starts: int = 1_000
    """Env steps of (mostly random) experience collected before any update; at
    least ``batch_size + n_step - 1``, so that the first update finds
    ``batch_size`` transitions stored."""
    train_freq: int = 256
    """Env steps between two training bursts."""
    gradient_steps: int = 128
    """Gradient steps per training burst (updates per env step =
    ``gradient_steps / train_freq``)."""
    target_mode: Literal["none", "hard", "soft"] = "hard"
    """``"hard"``: copy the online net every ``target_update_every`` updates;
    ``"soft"``: Polyak-average with ``tau`` after every update; ``"none"``:
    bootstrap from the online network itself."""
    target_update_every: int = 128
    """Gradient steps (parameter updates) between hard target copies, as in
    Mnih et al. (2015, Extended Data Table 1). Used when target_mode="hard"."""
    tau: float = 0.01
    """Soft-update rate in [0, 1], used when target_mode="soft"."""
    double: bool = False
    """Double DQN targets (van Hasselt et al. 2016)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (delta 1) or mean squared error."""
    max_grad_norm: float | None = None
    """Clip the gradient's global L2 norm to this; None switches clipping off."""
    hidden: tuple[int, ...] = (64, 64)
    """Widths of the Q-network's hidden ReLU layers."""
    eps_start: float = 1.0
    """Exploration epsilon at step 0."""
    eps_end: float = 0.04
    """Exploration epsilon after ``eps_decay_steps`` steps."""
    eps_decay_steps: int = 8_000
    """Env steps over which epsilon decays linearly from eps_start to eps_end."""
    n_step: int = 3
    """Rewards summed before bootstrapping: the target is ``r_t + gamma r_{t+1}
    + ... + gamma**(n-1) r_{t+n-1} + gamma**n max_a Q(s_{t+n}, a)`` (Sutton &
    Barto 2018, section 7.1; Hessel et al. 2018, "Rainbow"). 1 is plain DQN.
    Values propagate n times faster per target update, at the price of some
    bias from exploratory actions inside the window (the returns are not
    corrected for the off-policy actions). Where a time limit cuts a window
    short of n steps, it bootstraps from the true final observation with
    ``gamma**k`` (:func:`~qlearn_lite.replay.n_step_returns`)."""
    eval_every: int = 2_500
    """Env steps between greedy evaluations (0: none); their time is excluded
    from ``history.wall_seconds``."""
    eval_episodes: int = 10
    """Greedy episodes per evaluation."""
    eval_seed: int | None = None
    """Seed of the evaluation episodes' start states (None: derived from seed)."""
    stop_at_return: float | None = None
    """Stop as soon as a greedy evaluation reaches this mean return (None: never)."""
    restore_best: bool = False
    """At the end, return the network of the best greedy evaluation (not the
    last one); needs eval_every > 0."""
    seed: int = 0
    """Seeds the network, the env, the buffer and exploration."""
    device: str = "cpu"
    """"cpu", "cuda" or "auto". Small MLPs are fastest on the CPU."""
    torch_threads: int | None = 1
    """Intra-op CPU threads torch uses while training (restored afterwards);
    None leaves torch's setting. Tiny networks are fastest on one thread, and
    on a busy machine two threads can make every small op wait for the other."""

    def __post_init__(self) -> None:
        # Every field is checked and stored as a plain Python value (numpy
        # scalars such as np.int64(1) are accepted and converted), so that
        # save() writes only types that torch.load(weights_only=True) reads.
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        def field_name(name: str) -> str:
            return f"DQNConfig.{name}"

        for name in (
            "total_steps",
            "batch_size",
            "buffer_size",
            "train_freq",
            "gradient_steps",
            "target_update_every",
            "eval_episodes",
            "eps_decay_steps",
            "n_step",
        ):
            put(name, check_int(field_name(name), getattr(self, name), minimum=1))
        for name in ("learning_starts", "eval_every"):
            put(name, check_int(field_name(name), getattr(self, name), minimum=0))
        put("seed", check_seed(self.seed, field_name("seed")))
        if self.eval_seed is not None:
            put("eval_seed", check_seed(self.eval_seed, field_name("eval_seed")))
        for name in ("gamma", "tau", "eps_start", "eps_end"):
            put(name, check_unit(field_name(name), getattr(self, name)))
        put("lr", _check_positive(field_name("lr"), self.lr))
        if self.max_grad_norm is not None:
            norm = _check_positive(field_name("max_grad_norm"), self.max_grad_norm)
            put("max_grad_norm", norm)
        if self.stop_at_return is not None:
            put(
                "stop_at_return",
                check_finite(field_name("stop_at_return"), self.stop_at_return),
            )
        for name in ("double", "restore_best"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(
                    f"DQNConfig.{name} must be True or False, got {value!r}"
                )
            put(name, bool(value))
        for name, options in (("target_mode", TARGET_MODES), ("loss", LOSSES)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in options:
                raise ValueError(
                    f"DQNConfig.{name} must be one of {options}, got {value!r}"
                )
        if self.torch_threads is not None:
            put(
                "torch_threads",
                check_int(field_name("torch_threads"), self.torch_threads),
            )
        put("hidden", _check_hidden(self.hidden, field_name("hidden")))
        _check_device_name(self.device, field_name("device"))
        put("device", str(self.device))  # a torch.device saves as its name
        if self.restore_best and self.eval_every == 0:
            raise ValueError("DQNConfig.restore_best=True needs eval_every > 0")
        # Sampling batch_size transitions needs them stored: with n-step
        # returns the first is stored n_step - 1 steps after it happened.
        needed = self.batch_size + self.n_step - 1
        if self.learning_starts < needed:
            raise ValueError(
                f"DQNConfig.learning_starts must be >= batch_size + n_step - 1 "
                f"= {needed} (the first update samples batch_size stored "
                f"transitions), got {self.learning_starts}"
            )

    def replace(self, **changes: Any) -> DQNConfig:
        """A copy with some fields changed: ``config.replace(seed=1)``."""
        _check_field_names(changes)
        return replace(self, **changes)

    @classmethod
    def preset(cls, name: str, **changes: Any) -> DQNConfig:
        """A named configuration (see :data:`PRESETS`), optionally changed."""
        if name not in PRESETS:
            raise ValueError(
                f"unknown DQN preset {name!r}; expected one of {list(PRESETS)}"
            )
        _check_field_names(changes)
        return replace(PRESETS[name], **changes)


def _check_field_names(changes: dict[str, Any]) -> None:
    known = [item.name for item in fields(DQNConfig)]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"DQNConfig has no field {unknown[0]!r}{hint}")


PRESETS: dict[str, DQNConfig] = {
    # Our tuned default: fast in wall-clock time on a CPU.
    "cartpole": DQNConfig(),
    # rl-baselines3-zoo's tuned CartPole-v1 DQN, in our terms. SB3 counts its
    # target interval (10) in env steps and updates the target only between
    # bursts of 128 gradient steps, so here: one copy per burst.
    "cartpole-zoo": DQNConfig(
        total_steps=50_000,
        gamma=0.99,
        lr=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1_000,
        train_freq=256,
        gradient_steps=128,
        target_update_every=128,
        max_grad_norm=10.0,
        eps_start=1.0,
        eps_end=0.04,
        eps_decay_steps=8_000,
        n_step=1,
        hidden=(256, 256),
    ),
    # The textbook setting: one update per env step, slow hard target copies.
    "classic": DQNConfig(
        total_steps=100_000,
        gamma=0.99,
        lr=5e-4,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1_000,
        train_freq=1,
        gradient_steps=1,
        target_update_every=1_000,
        eps_decay_steps=20_000,
        eps_end=0.02,
        n_step=1,
        max_grad_norm=10.0,
    ),
}
"""Named configurations for :meth:`DQNConfig.preset`."""


# ==================================================================== history
def first_reach(
    steps: Sequence[int],
    seconds: Sequence[float],
    returns: Sequence[float],
    threshold: float,
) -> tuple[int, float] | None:
    """``(steps[i], seconds[i])`` of the first evaluation ``i`` with
    ``returns[i] >= threshold``, or None if none reached it.

    The three sequences are parallel, one entry per evaluation (a history's
    ``eval_steps``, ``eval_seconds`` and ``eval_returns``); ``ValueError`` if
    their lengths differ.
    """
    threshold = check_finite("threshold", threshold)
    lengths = [len(steps), len(seconds), len(returns)]
    if len(set(lengths)) != 1:
        raise ValueError(
            "steps, seconds and returns must have one entry per evaluation "
            f"each, got lengths {lengths}"
        )
    for step, second, value in zip(steps, seconds, returns, strict=True):
        if value >= threshold:
            return step, second
    return None


@dataclass
class DQNHistory:
    """What :func:`train_dqn` recorded. Steps are env steps; seconds are wall
    seconds of training with the greedy evaluations' time taken out."""

    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted return of every finished training episode (exploring)."""
    episode_lengths: list[int] = field(default_factory=list)
    """Length in steps of every finished training episode."""
    episode_end_steps: list[int] = field(default_factory=list)
    """Env step count when each training episode ended."""
    update_steps: list[int] = field(default_factory=list)
    """Env step count of every training burst."""
    losses: list[float] = field(default_factory=list)
    """Mean TD loss over each training burst's gradient steps."""
    mean_q: list[float] = field(default_factory=list)
    """Mean predicted ``Q(s, a)`` over each training burst's minibatches."""
    eval_steps: list[int] = field(default_factory=list)
    """Env step count at every greedy evaluation."""
    eval_returns: list[float] = field(default_factory=list)
    """Mean greedy return of every evaluation."""
    eval_seconds: list[float] = field(default_factory=list)
    """Training wall seconds (evaluation excluded) at every evaluation."""
    env_steps: int = 0
    """Env steps taken in training."""
    updates: int = 0
    """Gradient steps taken."""
    wall_seconds: float = 0.0
    """Training wall seconds, evaluation excluded."""
    eval_wall_seconds: float = 0.0
    """Wall seconds spent in greedy evaluations."""
    cpu_seconds: float = 0.0
    """CPU seconds of this process in training, evaluation excluded (less
    disturbed than wall time when other programs share the machine)."""
    eval_cpu_seconds: float = 0.0
    """CPU seconds spent in greedy evaluations."""

    def first_reach(self, threshold: float) -> tuple[int, float] | None:
        """``(env_steps, wall_seconds)`` of the first evaluation with a mean
        return >= ``threshold``, or None if none reached it."""
        return first_reach(
            self.eval_steps, self.eval_seconds, self.eval_returns, threshold
        )


@dataclass
class DQNResult:
    """What :func:`train_dqn` returns: the trained network, the history, the config."""

    q_net: QNetwork
    history: DQNHistory
    config: DQNConfig


# ======================================================================== envs
def _check_spaces(env: gym.Env) -> str | None:
    """Why a Q-network can not act in ``env``, or None if it can."""
    if not isinstance(env.action_space, gym.spaces.Discrete):
        return (
            f"DQN needs a Discrete action space, got {env.action_space} "
            "(continuous actions need an actor-critic method such as DDPG or SAC)"
        )
    if int(env.action_space.start) != 0:
        return (
            f"DQN needs a Discrete action space starting at 0, got "
            f"{env.action_space!r}: the network's outputs are actions 0..n-1"
        )
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        return (
            f"this DQN's MLP needs a flat Box observation space (obs_dim,), got "
            f"{space}; wrap Discrete states with a one-hot observation wrapper"
        )
    return None


def _make_env(env_id_or_fn: EnvSpec, seed: int | None = None) -> gym.Env:
    """A Gymnasium env with a Discrete action space and a flat Box observation."""
    env = env_from_spec(env_id_or_fn)
    problem = _check_spaces(env)
    if problem is not None:
        env.close()
        raise TypeError(problem)
    if seed is not None:
        env.action_space.seed(seed)
    return env


# ===================================================================== acting
def make_greedy_actor(q_net: nn.Module) -> Callable[[np.ndarray], int]:
    """A function ``obs float32 [obs_dim] -> argmax_a Q(obs, a)`` for one observation.

    For a :class:`QNetwork` on the CPU it computes the forward pass in NumPy on
    *views* of the network's weights (no copy: the optimizer updates them in
    place, so the actor always sees the current weights). For one observation
    and a small MLP that is about 4 times faster than a torch forward, whose
    cost is mostly per-op dispatch overhead, not arithmetic. Other networks
    and devices use a plain torch forward under ``no_grad``.
    """
    _check_module("q_net", q_net)
    on_cpu = all(p.device.type == "cpu" for p in q_net.parameters())
    if isinstance(q_net, QNetwork) and on_cpu:
        linears = [m for m in q_net.layers if isinstance(m, nn.Linear)]
        weights = [
            (m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears
        ]

        def act(obs: np.ndarray) -> int:
            hidden = np.asarray(obs, dtype=np.float32)
            for weight, bias in weights[:-1]:
                hidden = np.maximum(weight @ hidden + bias, 0.0)  # Linear + ReLU
            weight, bias = weights[-1]
            return int(np.argmax(weight @ hidden + bias))

        return act
    device = next(q_net.parameters()).device

    @torch.no_grad()
    def act_torch(obs: np.ndarray) -> int:
        obs_tensor = torch.as_tensor(obs, dtype=torch.float32, device=device)
        return int(q_net(obs_tensor.unsqueeze(0)).argmax())

    return act_torch


# ================================================================= evaluation
def evaluate(
    q_net: nn.Module,
    env_id_or_fn: EnvSpec | gym.Env,
    episodes: int = 10,
    seed: int = 0,
    max_steps: int | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes (``argmax_a Q(s, a)``), float64.

    The first episode starts from ``env.reset(seed=seed)`` and the next ones
    continue that stream, so the same ``seed`` gives the same start states.
    ``q_net`` is any module mapping ``obs float32 [batch, obs_dim]`` to
    ``Q [batch, n_actions]`` (a Stable-Baselines3 ``model.q_net`` works too);
    a :class:`QNetwork` must match the env's ``obs_dim`` and ``n_actions``.

    ``max_steps`` cuts an episode after this many steps (its return so far
    counts). Default: no cut if a ``TimeLimit`` wrapper ends the env's
    episodes (CartPole-v1's 500 steps), else 10_000, so that a greedy policy
    on an env without one (``gym.make("MountainCar-v0").unwrapped``) can not
    loop forever.
    """
    _check_module("q_net", q_net)
    episodes = check_int("episodes", episodes)
    seed = check_seed(seed)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps)
    if isinstance(env_id_or_fn, gym.Env):
        env = env_id_or_fn
        problem = _check_spaces(env)
        if problem is not None:
            raise TypeError(problem)
    else:
        env = _make_env(env_id_or_fn)
    try:
        if isinstance(q_net, QNetwork):
            sizes = (env.observation_space.shape[0], int(env.action_space.n))
            if (q_net.obs_dim, q_net.n_actions) != sizes:
                raise ValueError(
                    f"q_net has obs_dim={q_net.obs_dim}, n_actions="
                    f"{q_net.n_actions} but the env has obs_dim={sizes[0]}, "
                    f"n_actions={sizes[1]}: evaluate it on the env it learned"
                )
        if max_steps is None:
            max_steps = 2**62 if has_time_limit(env) else 10_000
        act = make_greedy_actor(q_net)
        returns = np.zeros(episodes)
        obs, _ = env.reset(seed=seed)
        if not isinstance(q_net, QNetwork):  # another module: try it once
            try:
                act(obs)
            except (RuntimeError, ValueError, IndexError) as error:
                raise ValueError(
                    f"q_net can not act on this env's observations (shape "
                    f"{np.shape(obs)}): expected a module mapping obs float32 "
                    f"[batch, obs_dim] to Q [batch, n_actions]; torch said: "
                    f"{str(error).splitlines()[0]}"
                ) from error
        for episode in range(episodes):
            if episode > 0:
                obs, _ = env.reset()
            for _ in range(max_steps):
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                returns[episode] += float(reward)
                if terminated or truncated:
                    break
    finally:
        if env is not env_id_or_fn:
            env.close()
    return returns


# ================================================================== training
def n_step_transitions(
    window: deque[tuple[np.ndarray, int, float]],
    next_obs: np.ndarray,
    terminated: bool,
    truncated: bool,
    n_step: int,
    gamma: float,
) -> list[tuple[np.ndarray, int, float, np.ndarray, bool, float]]:
    """The n-step transitions that are complete after one env step.

    ``window`` holds the episode's last steps ``(obs, action, reward)``, the
    newest last; the step just taken led to ``next_obs`` (the true final
    observation if the episode ended). Returns the ``(obs, action,
    n_step_return, next_obs, terminated, discount)`` tuples to store and
    removes them from ``window``. Under the one convention of
    :func:`~qlearn_lite.replay.n_step_returns` (Pardo et al. 2018):

    * ``n_step`` steps waiting: the oldest is complete, with ``r_0 + gamma r_1
      + ... + gamma**(n-1) r_{n-1}``, bootstrapping from ``next_obs`` with
      ``discount = gamma**n``;
    * terminated: every waiting step is complete, ``terminated=True`` and
      ``discount = 0`` (nothing to bootstrap);
    * truncated (a time limit): every waiting step is complete and
      bootstraps from ``next_obs`` with ``gamma**k``, ``k <= n`` its steps.

    Returns and discounts both come from ``n_step_returns``: the rule lives
    there only. With ``n_step=1`` this is the plain transition (``discount =
    gamma``, or 0 if terminated). Sutton & Barto (2018), section 7.1.
    """
    if not (terminated or truncated or len(window) == n_step):
        return []
    length = len(window)
    rewards = [reward for _, _, reward in window]
    # Only the newest step can end the episode: the flags of the others are 0.
    ends_terminal = [False] * (length - 1) + [bool(terminated)]
    ends_truncated = [False] * (length - 1) + [bool(truncated)]
    targets = n_step_returns(rewards, ends_terminal, ends_truncated, gamma)
    count = length if (terminated or truncated) else 1
    ready = []
    for i in range(count):
        first_obs, first_action, _ = window.popleft()
        ready.append(
            (
                first_obs,
                first_action,
                float(targets.returns[i]),
                next_obs,
                bool(terminated),
                float(targets.discounts[i]),
            )
        )
    return ready


def train_dqn(
    env_id_or_fn: EnvSpec,
    config: DQNConfig | None = None,
    progress: bool = True,
) -> DQNResult:
    """Train DQN (Mnih et al. 2015, Algorithm 1) and return the network and history.

    One loop over env steps: pick an epsilon-greedy action, store the
    transition, every ``train_freq`` steps do ``gradient_steps`` Adam updates
    on replay minibatches, keep the target network in step, and every
    ``eval_every`` steps run a greedy evaluation (timed separately).

    ``env_id_or_fn``: a Gymnasium id or a function returning a fresh env, with
    a Discrete action space and a flat Box observation space (else TypeError).
    ``progress``: show a progress bar (off in quick mode anyway).

    Returns a :class:`DQNResult`: ``q_net`` (the last network, or the best
    evaluated one with ``restore_best``), ``history`` (returns, losses, mean
    predicted Q, greedy evaluations, env steps, wall and CPU seconds) and the
    ``config``. Seeds everything from ``config.seed`` (the same seed gives
    bit-identical runs on one machine) and runs torch on
    ``config.torch_threads`` threads, restoring the caller's setting after.
    """
    config = DQNConfig() if config is None else config
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    threads = torch.get_num_threads()
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    try:
        return _train_dqn(env_id_or_fn, config, progress)
    finally:
        torch.set_num_threads(threads)


def _train_dqn(env_id_or_fn: EnvSpec, config: DQNConfig, progress: bool) -> DQNResult:
    """The loop of :func:`train_dqn` (which sets torch's threads around it)."""
    device = get_device(config.device)
    rng = seed_everything(config.seed)  # seeds torch: the networks' initial weights
    env_seed, buffer_seed, eval_seed = child_seeds(config.seed, 3)
    if config.eval_seed is not None:
        eval_seed = config.eval_seed
    env = _make_env(env_id_or_fn, seed=env_seed)
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)

    q_net = new_q_network(obs_dim, n_actions, config.hidden, config.seed).to(device)
    target_net = copy.deepcopy(q_net) if config.target_mode != "none" else None
    if target_net is not None:
        target_net.requires_grad_(False)
    # fused=True runs Adam's whole update as one kernel: far fewer tiny ops.
    optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr, fused=True)
    n_step = config.n_step
    buffer = ReplayBuffer(
        config.buffer_size, (obs_dim,), np.float32, buffer_seed, discounts=n_step > 1
    )
    act = make_greedy_actor(q_net)  # NumPy views of q_net's weights on the CPU
    epsilon_at = linear_schedule(
        config.eps_start, config.eps_end, config.eps_decay_steps
    )
    window: deque[tuple[np.ndarray, int, float]] = deque()  # for n-step returns
    history = DQNHistory()
    best_return, best_state = -math.inf, None

    start, cpu_start = time.perf_counter(), time.process_time()
    eval_time = eval_cpu = 0.0
    obs, _ = env.reset(seed=env_seed)
    episode_return, episode_length = 0.0, 0
    bar = progress_bar(
        total=config.total_steps, desc="DQN", **({} if progress else {"disable": True})
    )
    for step in range(1, config.total_steps + 1):
        # 1. Act: epsilon-greedy. Explore first, so a random step costs no forward.
        epsilon = epsilon_at(step - 1)
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            action = act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)

        # 2. Store: `terminated`, not `terminated or truncated` (see replay.py).
        # With n_step > 1 a transition waits until n rewards are known.
        window.append((obs, action, float(reward)))
        for transition in n_step_transitions(
            window, next_obs, terminated, truncated, n_step, config.gamma
        ):
            if n_step == 1:  # one-step transitions all share gamma: not stored
                transition = transition[:5]
            buffer.add(*transition)
        obs = next_obs  # easy to overlook: the next obs becomes the obs
        episode_return += float(reward)
        episode_length += 1
        if terminated or truncated:
            history.episode_returns.append(episode_return)
            history.episode_lengths.append(episode_length)
            history.episode_end_steps.append(step)
            obs, _ = env.reset()
            episode_return, episode_length = 0.0, 0

        # 3. Learn: a burst of gradient steps every train_freq env steps.
        if step > config.learning_starts and step % config.train_freq == 0:
            total_loss = torch.zeros((), device=device)
            total_q = torch.zeros((), device=device)
            # One sample call for the whole burst (the buffer does not change
            # during it), then one minibatch of batch_size rows per update.
            burst = buffer.sample_batches(
                config.batch_size, config.gradient_steps, device
            )
            for k in range(config.gradient_steps):
                batch = type(burst)(*(column[k] for column in burst))
                loss, mean_q = _loss_and_mean_q(
                    q_net,
                    target_net,
                    batch,
                    config.gamma,
                    config.double,
                    config.loss,
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(q_net.parameters(), config.max_grad_norm)
                optimizer.step()
                history.updates += 1
                total_loss += loss.detach()
                total_q += mean_q
                # 4. Keep the target network in step.
                update_target(config, target_net, q_net, history.updates)
            history.update_steps.append(step)
            history.losses.append(total_loss.item() / config.gradient_steps)
            history.mean_q.append(total_q.item() / config.gradient_steps)

        # 5. Evaluate greedily now and then, with the clock stopped.
        if config.eval_every and step % config.eval_every == 0:
            eval_start, eval_cpu_start = time.perf_counter(), time.process_time()
            returns = evaluate(q_net, env_id_or_fn, config.eval_episodes, eval_seed)
            history.eval_steps.append(step)
            history.eval_returns.append(float(returns.mean()))
            history.eval_seconds.append(eval_start - start - eval_time)
            if config.restore_best and returns.mean() > best_return:
                best_return = float(returns.mean())
                best_state = copy.deepcopy(q_net.state_dict())
            eval_time += time.perf_counter() - eval_start
            eval_cpu += time.process_time() - eval_cpu_start
            if config.stop_at_return is not None and (
                returns.mean() >= config.stop_at_return
            ):
                break
        if step % 1000 == 0:
            bar.update(1000)
    bar.update(step - bar.n)
    bar.close()
    history.env_steps = step
    env.close()
    history.eval_wall_seconds, history.eval_cpu_seconds = eval_time, eval_cpu
    history.wall_seconds = time.perf_counter() - start - eval_time
    history.cpu_seconds = time.process_time() - cpu_start - eval_cpu
    if best_state is not None:
        q_net.load_state_dict(best_state)
    return DQNResult(q_net=q_net, history=history, config=config)


# ============================================================== save and load
CHECKPOINT_FORMAT = "qlearn_lite.dqn/1"


def _check_path(path: Any) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {path!r}")


def save(path: str | os.PathLike, q_net: QNetwork, config: DQNConfig) -> None:
    """Save a trained agent: the network's weights, its shape and the config.

    The file holds only tensors, strings, numbers and lists, so :func:`load`
    reads it with ``torch.load(..., weights_only=True)``, which can not run
    code hidden in a malicious file.
    """
    _check_path(path)
    if not isinstance(q_net, QNetwork):
        raise TypeError(f"q_net must be a QNetwork, got {type(q_net).__name__}")
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}")
    config_dict = asdict(config)
    config_dict["hidden"] = list(config.hidden)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "obs_dim": q_net.obs_dim,
        "n_actions": q_net.n_actions,
        "hidden": list(q_net.hidden),
        "state_dict": {
            name: t.detach().cpu() for name, t in q_net.state_dict().items()
        },
        "config": config_dict,
    }
    torch.save(checkpoint, path)


def load(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[QNetwork, DQNConfig]:
    """Load what :func:`save` wrote: ``(q_net, config)``, the net on ``device``.

    Uses ``torch.load(weights_only=True)`` only; any file that is not a
    qlearn_lite DQN checkpoint raises ``ValueError`` saying so.
    """
    _check_path(path)
    device = get_device(device)
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # pickle errors, zip errors, unsafe globals...
        raise ValueError(
            f"{os.fspath(path)!r} is not a qlearn_lite DQN checkpoint (expected a "
            f"file written by qlearn_lite.dqn.save; torch.load(weights_only=True) "
            f"said: {type(error).__name__})"
        ) from error
    if (
        not isinstance(checkpoint, dict)
        or checkpoint.get("format") != CHECKPOINT_FORMAT
    ):
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
        raise ValueError(
            f"{os.fspath(path)!r} is not a qlearn_lite DQN checkpoint: expected "
            f"format {CHECKPOINT_FORMAT!r}, found "
            f"{found!r} in a {type(checkpoint).__name__}"
        )
    required = {
        "config": dict,
        "obs_dim": int,
        "n_actions": int,
        "hidden": list,
        "state_dict": dict,
    }
    for key, kind in required.items():
        if not isinstance(checkpoint.get(key), kind):
            raise ValueError(
                f"{os.fspath(path)!r} is a damaged qlearn_lite DQN checkpoint: "
                f"expected {key!r} to be a {kind.__name__}, found "
                f"{type(checkpoint.get(key)).__name__}"
            )
    known = {item.name for item in fields(DQNConfig)}
    config_dict = dict(checkpoint["config"])
    unknown = set(config_dict) - known
    if unknown:
        raise ValueError(
            "the checkpoint's config has fields this version does not know: "
            f"{sorted(unknown)}"
        )
    if isinstance(config_dict.get("hidden"), list):
        config_dict["hidden"] = tuple(config_dict["hidden"])
    config = DQNConfig(**config_dict)
    q_net = QNetwork(
        checkpoint["obs_dim"], checkpoint["n_actions"], checkpoint["hidden"]
    )
    try:
        q_net.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:  # missing, unexpected or misshapen weights
        raise ValueError(
            f"{os.fspath(path)!r} is a damaged qlearn_lite DQN checkpoint: its "
            f"weights do not fit a QNetwork({checkpoint['obs_dim']}, "
            f"{checkpoint['n_actions']}, hidden={checkpoint['hidden']})"
        ) from error
    return q_net.to(device), config
