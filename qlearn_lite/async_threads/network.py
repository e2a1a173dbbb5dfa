"""Design 1b: async one-step / n-step Q-learning with one Q-network shared
by every worker (Hogwild updates of one flat parameter vector), on threads or
in processes."""

from __future__ import annotations

import copy
import functools
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    WorkerRecord,
    as_array,
    check_box_env,
    check_executor,
    contexts_for,
    new_lock,
    now,
    probe_env,
    profiled,
    result_from,
    run,
)
from qlearn_lite.dqn import (
    TARGET_MODES,
    QNetwork,
    make_greedy_actor,
    new_q_network,
    update_target,
)
from qlearn_lite.parallel import WorkerContext, shared_seed
from qlearn_lite.replay import n_step_returns
from qlearn_lite.tabular import linear_schedule
from qlearn_lite.utils import (
    check_finite,
    check_int,
    check_number,
    check_seed,
    check_unit,
    env_from_spec,
    get_device,
)

STEPS, UPDATES, TARGET_UPDATES, ADAM_STEPS = range(4)
"""Positions in the shared counters: ``T``, parameter updates, target copies,
and steps of the shared optimizer statistics (``statistics="shared"``)."""


# ==================================================================== config
@dataclass(frozen=True)
class AsyncDQNConfig:
    """Every hyperparameter of :func:`async_dqn`, the defaults solving CartPole-v1.

    Mnih et al. (2016)'s async Q-learning has no replay buffer: each worker
    learns from its own last few steps. Units are stated per field: *global*
    env steps count every worker's steps (the shared counter ``T``), *this
    worker's* env steps count one worker's.
    """

    total_steps: int = 60_000
    """Global env steps ``T_max``, all workers together."""
    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    lr: float = 3e-3
    """Adam learning rate."""
    n_step: int = 5
    """Longest return, Mnih et al.'s ``t_max``: each segment's targets are its
    forward-view n-step returns (Algorithm S2). 1: one-step targets
    (Algorithm 1). Uncorrected n-step returns from epsilon-greedy actions are
    biased towards the behaviour policy's values."""
    train_freq: int = 5
    """This worker's env steps per update (the segment length; Mnih et al.'s
    ``I_AsyncUpdate``): gradients are summed over the segment, or to the
    episode's end. Must equal ``n_step`` when ``n_step > 1`` (t_max is both)."""
    target_mode: Literal["none", "hard", "soft"] = "hard"
    """``"hard"``: copy theta into theta^- every ``target_update_every``
    updates; ``"soft"``: Polyak-average with ``tau`` after every update;
    ``"none"``: bootstrap from the shared network itself."""
    target_update_every: int = 40
    """Updates of the shared parameters (all workers' together) between hard
    target copies: the unit of ``target_update_every`` in every learner of the
    course. Mnih et al. count their ``I_target`` in global env steps; with
    segments of 5 steps, 40 updates are about 200 of them. Used when
    target_mode="hard"."""
    tau: float = 0.01
    """Soft-update rate in [0, 1], used when target_mode="soft"."""
    double: bool = False
    """Double DQN targets (van Hasselt et al. 2016)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss summed over the segment: Huber (delta 1) or squared error."""
    max_grad_norm: float | None = 10.0
    """Clip each segment's gradient to this global L2 norm; None: no clipping."""
    hidden: tuple[int, ...] = (64, 64)
    """Widths of the Q-network's hidden ReLU layers."""
    eps_start: float = 1.0
    """Exploration epsilon at ``T = 0``, annealed to each worker's final one."""
    eps_decay_steps: int = 15_000
    """Global env steps over which epsilon anneals linearly."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's moment decay rates."""
    statistics: Literal["per-worker", "shared"] = "per-worker"
    """Whose Adam moments: ``"per-worker"`` (each worker its own; only theta
    is shared and raced on) or ``"shared"`` (one set for all workers, as
    Mnih et al.'s shared RMSProp statistics, updated under a short lock so
    that no moment is torn). Mnih et al. (2016, section 4) compare the two."""
    seed: int = 0
    """Seeds the network's initial weights and, split per worker, exploration
    and the envs."""
    device: str = "cpu"
    """``"cpu"``, ``"cuda"`` or ``"auto"`` (threads only; small MLPs are
    fastest on the CPU)."""
    fused: bool = True
    """Run each update as one TorchScript call (:func:`scripted_segment_update`)
    that releases the GIL once; False: the same function eagerly."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "n_step", "train_freq", "target_update_every"):
            object.__setattr__(
                self, name, check_int(f"AsyncDQNConfig.{name}", getattr(self, name))
            )
        object.__setattr__(
            self,
            "eps_decay_steps",
            check_int("AsyncDQNConfig.eps_decay_steps", self.eps_decay_steps),
        )
        for name in ("gamma", "tau", "eps_start"):
            object.__setattr__(
                self, name, check_unit(f"AsyncDQNConfig.{name}", getattr(self, name))
            )
        object.__setattr__(
            self,
            "lr",
            check_number("AsyncDQNConfig.lr", self.lr, 0.0, math.inf, low_open=True),
        )
        if not math.isfinite(self.lr):
            raise ValueError(f"AsyncDQNConfig.lr must be finite, got {self.lr!r}")
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.n_step > 1 and self.train_freq != self.n_step:
            raise ValueError(
                "AsyncDQNConfig: n-step async Q-learning updates once per segment of "
                f"t_max = n_step steps, so train_freq must equal n_step; got n_step="
                f"{self.n_step}, train_freq={self.train_freq}"
            )
        if self.target_mode not in TARGET_MODES:
            raise ValueError(
                f"AsyncDQNConfig.target_mode must be one of {TARGET_MODES}, "
                f"got {self.target_mode!r}"
            )
        if self.loss not in ("huber", "mse"):
            raise ValueError(
                f"AsyncDQNConfig.loss must be 'huber' or 'mse', got {self.loss!r}"
            )
        if self.max_grad_norm is not None:
            check_finite("AsyncDQNConfig.max_grad_norm", self.max_grad_norm)
            if not self.max_grad_norm > 0:
                raise ValueError(
                    "AsyncDQNConfig.max_grad_norm must be > 0 or None, "
                    f"got {self.max_grad_norm!r}"
                )
        betas = tuple(self.betas)
        if len(betas) != 2:
            raise ValueError(
                f"AsyncDQNConfig.betas must be two numbers, got {self.betas!r}"
            )
        object.__setattr__(
            self,
            "betas",
            tuple(
                check_number(f"AsyncDQNConfig.betas[{i}]", b, 0.0, 1.0, high_open=True)
                for i, b in enumerate(betas)
            ),
        )
        object.__setattr__(
            self, "hidden", tuple(check_int("hidden width", h) for h in self.hidden)
        )
        if self.statistics not in ("per-worker", "shared"):
            raise ValueError(
                "AsyncDQNConfig.statistics must be 'per-worker' or 'shared', got "
                f"{self.statistics!r}"
            )
        get_device(self.device)  # a bad device name fails here, not in a worker

    def replace(self, **changes: Any) -> AsyncDQNConfig:
        """A copy with some fields changed: ``config.replace(seed=1)``."""
        return replace(self, **changes)


ASYNC_DQN_CONFIG = AsyncDQNConfig()
"""The defaults of :class:`AsyncDQNConfig`. With four worker threads the best
snapshot (every 6,000 steps, 5 greedy episodes) reached a return of 499-500 on
CartPole-v1 within 60k global steps for 5 of 5 seeds when measured (per-worker
Adam moments; with 40k steps, 1 of 5 reached 475). Change fields with
``ASYNC_DQN_CONFIG.replace(...)``."""


# ================================================== design 1b: shared network
def flatten_parameters(net: nn.Module) -> torch.Tensor:
    """Make every parameter of ``net`` a view into one new flat tensor; return it.

    float32 ``[n_params]``, in ``net.parameters()`` order. Afterwards an
    in-place op on the flat tensor (copy, Adam step) updates the whole network
    in *one* torch call instead of one per parameter: fewer calls means less
    time holding Python's GIL, and larger kernels that run without it.
    """
    params = list(net.parameters())
    flat = torch.cat([param.detach().reshape(-1) for param in params])
    offset = 0
    for param in params:
        size = param.numel()
        param.data = flat[offset : offset + size].view_as(param)
        offset += size
    return flat


def shared_adam_step(
    params: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """One Adam step on flat tensors, in place: the worker's moments, the
    shared parameters.

    Kingma & Ba (2015), Algorithm 1, written as ``torch.optim.Adam`` computes
    it (the same numbers, step for step, for one worker). All four tensors are
    float32 ``[n_params]``; ``step`` (>= 1) is *this worker's* update count,
    for bias correction.

    ``exp_avg`` and ``exp_avg_sq`` belong to one worker; only ``params`` is
    shared and written without a lock (Hogwild, Recht et al. 2011). Sharing
    the moments too would race: with truly parallel workers (the fused update
    releases the GIL for all of it) one worker's write to ``m`` can overwrite
    another's while ``v`` keeps it, so a gradient in ``m`` can meet a
    denominator that never saw its square, and the step explodes (Q reached
    1e6 within 500 steps with four workers). Per-worker statistics are the
    option that Mnih et al. (2016, section 4 and supplementary section 7)
    compare with shared ones, and the one optimizer per worker of
    pytorch/examples' ``mnist_hogwild``: no moment can be torn.
    """
    beta1, beta2 = betas
    with torch.no_grad():
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        params.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)


@dataclass
class SharedNet:
    """What every async worker shares: theta, theta^- and the counters.

    Flat float32 ``[n_params]`` tensors (in shared memory for processes); each
    worker binds a network's parameters to views of them
    (:func:`bind_parameters`).
    """

    flat: torch.Tensor
    """theta, the parameters every worker reads and updates."""
    target_flat: torch.Tensor
    """theta^-, the target network's parameters."""
    counters: torch.Tensor
    """int64 ``[4]``: ``T``, parameter updates, target copies, shared Adam steps."""
    exp_avg: torch.Tensor | None = None
    """Shared first moments (``statistics="shared"`` only)."""
    exp_avg_sq: torch.Tensor | None = None
    """Shared second moments (``statistics="shared"`` only)."""
    lock: Any = None
    """Serialises the shared moments' update (``statistics="shared"`` only)."""


@dataclass(frozen=True)
class AsyncDQNJob:
    """What a worker of :func:`async_dqn` needs besides its context: picklable."""

    config: AsyncDQNConfig
    env: EnvSpec
    obs_dim: int
    n_actions: int
    snapshot_every: int | None
    profile: bool


def bind_parameters(net: nn.Module, flat: torch.Tensor) -> list[torch.Tensor]:
    """Make ``net``'s parameters views into ``flat`` (in parameter order).

    ``flat`` must hold exactly ``sum(p.numel())`` values; afterwards the
    network computes with whatever ``flat`` holds, with no copy.
    """
    params = list(net.parameters())
    total = sum(p.numel() for p in params)
    if flat.numel() != total:
        raise ValueError(
            f"flat must hold the network's {total} parameters, got {flat.numel()}"
        )
    offset = 0
    for param in params:
        size = param.numel()
        param.data = flat[offset : offset + size].view_as(param)
        offset += size
    return params


def mlp_forward(obs: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """A :class:`~qlearn_lite.dqn.QNetwork` forward from its parameter list.

    ``params`` is ``list(q_net.parameters())``: weight, bias of each Linear
    layer in order, ReLU between layers. Written as a function of tensors so
    that :func:`segment_update` can be compiled with TorchScript.
    """
    layers = len(params) // 2
    for i in range(layers):
        obs = F.linear(obs, params[2 * i], params[2 * i + 1])
        if i < layers - 1:
            obs = torch.relu(obs)
    return obs


def segment_gradient(
    length: int,
    obs: torch.Tensor,
    actions: torch.Tensor,
    returns: torch.Tensor,
    discounts: torch.Tensor,
    next_obs: torch.Tensor,
    n_step_targets: bool,
    double: bool,
    huber: bool,
    local: list[torch.Tensor],
    bootstrap: list[torch.Tensor],
    max_grad_norm: float,
) -> torch.Tensor:
    """The clipped gradient of one segment's summed TD loss, float32 ``[n_params]``.

    The first half of :func:`segment_update` (see there), for learners that
    apply the step themselves (shared optimizer statistics under a lock).
    """
    obs, actions, next_obs = obs[:length], actions[:length], next_obs[:length]
    returns, discounts = returns[:length], discounts[:length]
    with torch.no_grad():
        if n_step_targets:  # only the last next state is bootstrapped from
            next_obs = next_obs[-1:]
        next_q = mlp_forward(next_obs, bootstrap)
        chooser = mlp_forward(next_obs, local) if double else next_q
        best = chooser.argmax(1, keepdim=True)
        values = next_q.gather(1, best).squeeze(1)
        targets = returns + discounts * values
    q_taken = mlp_forward(obs, local).gather(1, actions.unsqueeze(1)).squeeze(1)
    if huber:
        loss = F.smooth_l1_loss(q_taken, targets, reduction="sum")
    else:
        loss = F.mse_loss(q_taken, targets, reduction="sum")
    pieces: list[torch.Tensor] = []
    for grad in torch.autograd.grad([loss], local):
        assert grad is not None  # every parameter is used by the forward
        pieces.append(grad.reshape(-1))
    grad = torch.cat(pieces)
    if max_grad_norm > 0:  # scale to norm <= max_grad_norm, without a host sync
        norm = torch.linalg.vector_norm(grad)
        grad = grad * (max_grad_norm / (norm + 1e-6)).clamp(max=1.0)
    return grad


def segment_update(
    length: int,
    obs: torch.Tensor,
    actions: torch.Tensor,
    returns: torch.Tensor,
    discounts: torch.Tensor,
    next_obs: torch.Tensor,
    n_step_targets: bool,
    double: bool,
    huber: bool,
    local: list[torch.Tensor],
    bootstrap: list[torch.Tensor],
    flat: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float,
    max_grad_norm: float,
    beta1: float,
    beta2: float,
) -> None:
    """One worker's whole update for one segment of ``length`` transitions.

    The first ``length`` rows of ``obs``/``next_obs`` (float32 ``[S,
    obs_dim]``), ``actions`` (int64 ``[S]``), ``returns`` and ``discounts``
    (float32 ``[S]``) are the segment; the target of row ``i`` is
    ``returns[i] + discounts[i] * Q^-(s', a')``, the decomposition of
    :func:`~qlearn_lite.replay.n_step_returns`:

    * ``n_step_targets``: every row bootstraps from the segment's last next
      state (the forward view of Mnih et al.'s Algorithm S2), so its value is
      computed once; ``returns``/``discounts`` come from ``n_step_returns``;
    * else one-step targets: ``returns`` are the rewards, ``discounts`` are
      ``gamma (1 - terminated)`` and each row bootstraps from its own next
      state, as :func:`~qlearn_lite.dqn.td_targets`.

    ``Q^-`` uses the ``bootstrap`` parameters (``theta^-``), and ``a'`` is
    chosen by ``local`` (``theta'``) if ``double``, else by ``Q^-``. The
    gradient of the TD loss summed over the segment (Huber or squared), taken
    at ``theta'``, clipped to ``max_grad_norm`` (``<= 0``: no clipping), is
    applied to the shared ``flat`` with :func:`shared_adam_step` and this
    worker's moments.

    Eager, this is about 40 small torch calls, and each one releases and
    re-takes the GIL. :func:`async_dqn` (``fused=True``) runs the same
    function compiled by ``torch.jit.script``: *one* call that holds no GIL
    from the first op to the last.
    """
    grad = segment_gradient(
        length,
        obs,
        actions,
        returns,
        discounts,
        next_obs,
        n_step_targets,
        double,
        huber,
        local,
        bootstrap,
        max_grad_norm,
    )
    shared_adam_step(flat, grad, exp_avg, exp_avg_sq, step, lr, (beta1, beta2))


_COMPILING = threading.Lock()
"""Held while TorchScript compiles. Workers reach the compile at the same
moment, and ``functools.cache`` does not stop two threads from compiling
at once; TorchScript parses the source with ``ast``, which on CPython 3.11
can fail with ``SystemError: AST constructor recursion depth mismatch`` when
two threads parse together."""


def scripted_segment_update() -> Callable[..., None]:
    """:func:`segment_update` compiled by TorchScript, once per process
    (thread-safe)."""
    with _COMPILING:
        return _scripted_segment_update()


def scripted_gradient_and_adam() -> tuple[Callable[..., Any], Callable[..., None]]:
    """:func:`segment_gradient` and :func:`shared_adam_step`, each compiled by
    TorchScript (once per process; thread-safe): the two halves of an update,
    for shared optimizer statistics whose step must run under a lock."""
    with _COMPILING:
        return _scripted_gradient_and_adam()


@functools.cache
def _scripted_segment_update() -> Callable[..., None]:
    """:func:`segment_update` compiled by TorchScript.

    ``torch.jit.script`` is deprecated in recent PyTorch in favour of
    ``torch.compile``, but it is still the one way in stock PyTorch to run a
    whole forward, backward and optimizer step as a single call that releases
    the GIL once; ``torch.compile`` output still goes back to Python between
    kernels. Its deprecation warning is silenced here and nowhere else.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compiled = torch.jit.script(segment_update)

    def fused_segment_update(*args: Any) -> None:
        # A Python frame around the compiled call, so that cProfile can see it.
        compiled(*args)

    return fused_segment_update


@functools.cache
def _scripted_gradient_and_adam() -> tuple[Callable[..., Any], Callable[..., None]]:
    """:func:`segment_gradient` and :func:`shared_adam_step`, each compiled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gradient = torch.jit.script(segment_gradient)
        adam = torch.jit.script(shared_adam_step)

    def fused_segment_gradient(*args: Any) -> torch.Tensor:
        return gradient(*args)

    def fused_adam_step(*args: Any) -> None:
        adam(*args)

    return fused_segment_gradient, fused_adam_step


class _Segment:
    """Up to ``capacity`` transitions of one worker, kept in CPU tensors.

    Each step writes through NumPy views of the tensors, so collecting a
    segment costs no torch call at all; :meth:`targets` fills in the returns
    and discounts (:func:`~qlearn_lite.replay.n_step_returns`) and
    :meth:`tensors` hands the whole staging area to :func:`segment_update`
    (copied to ``device`` if that is not the CPU).
    """

    def __init__(self, capacity: int, obs_dim: int, device: torch.device) -> None:
        self.obs = torch.zeros(capacity, obs_dim)
        self.actions = torch.zeros(capacity, dtype=torch.int64)
        self.rewards = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self.returns = torch.zeros(capacity)
        self.discounts = torch.zeros(capacity)
        self.next_obs = torch.zeros(capacity, obs_dim)
        # NumPy views of the tensors: writing a row costs no torch call.
        self._obs, self._actions, self._rewards = (
            self.obs.numpy(),
            self.actions.numpy(),
            self.rewards.numpy(),
        )
        self._next_obs, self._terminated = (
            self.next_obs.numpy(),
            self.terminated.numpy(),
        )
        self._returns, self._discounts = self.returns.numpy(), self.discounts.numpy()
        self.device = device
        self.size = 0
        self.truncated = False

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
    ) -> None:
        i = self.size
        self._obs[i] = obs
        self._actions[i] = action
        self._rewards[i] = reward
        self._next_obs[i] = next_obs
        self._terminated[i] = terminated
        self.size = i + 1

    def targets(self, gamma: float, n_step_targets: bool) -> None:
        """Fill ``returns`` and ``discounts`` for the rows collected so far."""
        length = self.size
        rewards, terminated = self._rewards[:length], self._terminated[:length]
        if n_step_targets:
            truncated = np.zeros(length, dtype=bool)
            truncated[-1] = self.truncated
            out = n_step_returns(rewards, terminated > 0, truncated, gamma)
            self._returns[:length] = out.returns
            self._discounts[:length] = out.discounts
        else:
            self._returns[:length] = rewards
            self._discounts[:length] = gamma * (1.0 - terminated)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, returns, discounts, next_obs)`` on ``device``."""
        tensors = (self.obs, self.actions, self.returns, self.discounts, self.next_obs)
        if self.device.type == "cpu":
            return tensors
        return tuple(tensor.to(self.device) for tensor in tensors)


def dqn_worker(ctx: WorkerContext, job: AsyncDQNJob, shared: SharedNet) -> WorkerRecord:
    """One worker of async one-step / n-step Q-learning on a shared network.

    Runs unchanged on a thread or in a spawned process (``shared`` then holds
    shared-memory tensors).
    """
    record = WorkerRecord()
    with profiled(record, job.profile):
        _dqn_loop(ctx, job, shared, record)
    return record


def _dqn_loop(
    ctx: WorkerContext, job: AsyncDQNJob, shared: SharedNet, record: WorkerRecord
) -> None:
    config = job.config
    torch.set_num_threads(1)  # tiny ops gain nothing from more (restored by the runner)
    device = shared.flat.device
    update = scripted_segment_update() if config.fused else segment_update
    counters = as_array(shared.counters)
    # theta': this worker's copy of the parameters, refreshed every segment.
    local_net = QNetwork(job.obs_dim, job.n_actions, config.hidden).to(device)
    local_flat = flatten_parameters(local_net)
    local_params = list(local_net.parameters())
    bootstrap_flat = shared.flat if config.target_mode == "none" else shared.target_flat
    bootstrap_net = QNetwork(job.obs_dim, job.n_actions, config.hidden).to(device)
    bootstrap_params = [
        p.detach() for p in bind_parameters(bootstrap_net, bootstrap_flat)
    ]
    shared_statistics = config.statistics == "shared"
    if shared_statistics:
        exp_avg, exp_avg_sq = shared.exp_avg, shared.exp_avg_sq
        if config.fused:
            gradient, adam = scripted_gradient_and_adam()
        else:
            gradient, adam = segment_gradient, shared_adam_step
    else:  # this worker's own Adam moments (see shared_adam_step)
        exp_avg, exp_avg_sq = torch.zeros_like(local_flat), torch.zeros_like(local_flat)
    # Acting reads theta' through NumPy views: a forward for one observation in
    # NumPy holds the GIL for less time than torch's per-op dispatch does.
    act = make_greedy_actor(local_net)
    epsilon_at = linear_schedule(
        config.eps_start, ctx.final_epsilon, config.eps_decay_steps
    )
    segment = _Segment(config.train_freq, job.obs_dim, device)
    max_grad_norm = config.max_grad_norm or 0.0
    rng = ctx.rng()
    env = env_from_spec(job.env)
    my_updates = 0
    episode_return = 0.0
    try:
        obs, _ = env.reset(seed=ctx.env_seed)
        while counters[STEPS] < config.total_steps and not ctx.should_stop():
            with torch.no_grad():
                local_flat.copy_(shared.flat)  # synchronise theta' <- theta
            segment.size = 0
            while True:
                if rng.random() < epsilon_at(int(counters[STEPS])):  # explore first
                    action = int(rng.integers(job.n_actions))
                else:
                    action = act(obs)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                # next_obs is the true next state, also after a time limit.
                segment.add(obs, action, float(reward), next_obs, terminated)
                segment.truncated = bool(truncated)
                episode_return += float(reward)
                record.steps += 1
                counters[STEPS] += 1  # T <- T + 1, unlocked (Hogwild)
                step = int(counters[STEPS])

                if job.snapshot_every and step % job.snapshot_every == 0:
                    record.snapshots.append(
                        (step, now(), shared.flat.detach().cpu().clone())
                    )
                done = terminated or truncated
                if (
                    done
                    or segment.size == config.train_freq
                    or step >= config.total_steps
                    or ctx.should_stop()
                ):
                    break
                obs = next_obs

            # Learn from the segment: one forward and one backward for all its steps.
            my_updates += 1
            counters[UPDATES] += 1
            segment.targets(config.gamma, config.n_step > 1)
            if shared_statistics:
                grad = gradient(
                    segment.size,
                    *segment.tensors(),
                    config.n_step > 1,
                    config.double,
                    config.loss == "huber",
                    local_params,
                    bootstrap_params,
                    max_grad_norm,
                )
                with shared.lock:  # moments and their step count change together
                    counters[ADAM_STEPS] += 1
                    adam(
                        shared.flat,
                        grad,
                        exp_avg,
                        exp_avg_sq,
                        int(counters[ADAM_STEPS]),
                        config.lr,
                        config.betas,
                    )
            else:
                update(
                    segment.size,
                    *segment.tensors(),
                    config.n_step > 1,
                    config.double,
                    config.loss == "huber",
                    local_params,
                    bootstrap_params,
                    shared.flat,
                    exp_avg,
                    exp_avg_sq,
                    my_updates,
                    config.lr,
                    max_grad_norm,
                    config.betas[0],
                    config.betas[1],
                )
            # theta^- <- theta (hard) or a step towards it (soft)
            targets, online = [shared.target_flat], [shared.flat]
            if update_target(config, targets, online, int(counters[UPDATES])):
                counters[TARGET_UPDATES] += 1

            if done:
                record.end_episode(episode_return, step)
                episode_return = 0.0
                obs, _ = env.reset()
            else:
                obs = next_obs
    finally:
        env.close()


def async_dqn(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    config: AsyncDQNConfig | None = None,
    final_epsilons: Sequence[float] | None = None,
    snapshot_every: int | None = None,
    profile: bool = False,
    progress: bool = True,
    executor: Literal["threads", "processes"] = "threads",
) -> AsyncResult:
    """Asynchronous one-step / n-step Q-learning with one shared Q-network.

    Mnih et al. (2016), Algorithm 1 and Supplementary Algorithm S2. Every
    worker runs its own env and, per *segment*:

    1. copies the shared parameters ``theta`` into its own ``theta'``;
    2. acts epsilon-greedily with ``theta'`` for ``config.train_freq`` of its
       env steps, or to the episode's end, stepping the global counter ``T``;
    3. computes targets with the target network: one-step ``r + gamma max_a
       Q^-(s', a)`` for ``n_step = 1``, else the forward-view n-step returns
       of :func:`~qlearn_lite.replay.n_step_returns` (a terminal step cuts,
       a time limit bootstraps from the true next state); and the gradient of
       the summed TD loss over the segment (one batched forward and backward);
    4. applies it to ``theta`` with :func:`shared_adam_step`, without a lock,
       using its own Adam moments, and copies ``theta^- <- theta`` when the
       shared update count reaches a multiple of ``config.target_update_every``.

    Steps 3 and 4 are :func:`segment_update`; ``config.fused`` runs it
    compiled by TorchScript (one call per update that releases the GIL
    once). ``config``: an :class:`AsyncDQNConfig` (default
    :data:`ASYNC_DQN_CONFIG`). ``final_epsilons``: one per worker (default:
    drawn as in Mnih et al.). ``snapshot_every``: copy the shared parameters
    every this many global steps (score them with :func:`snapshot_scores`).
    ``profile``: run the workers under cProfile (threads only).
    ``executor``: ``"threads"`` or ``"processes"`` (the parameters in shared
    memory, the recipe of pytorch/examples' ``mnist_hogwild``; CPU only).
    """
    executor = check_executor(executor)
    config = ASYNC_DQN_CONFIG if config is None else config
    if not isinstance(config, AsyncDQNConfig):
        raise TypeError(
            f"config must be an AsyncDQNConfig, got {type(config).__name__}"
        )
    n_workers = check_int("n_workers", n_workers)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every)
    device = get_device(config.device)
    if executor == "processes" and device.type != "cpu":
        raise ValueError(
            f"executor='processes' shares the parameters in CPU memory; got device "
            f"{config.device!r}: use device='cpu'"
        )
    if profile and executor == "processes":
        raise ValueError("profile=True is for executor='threads' only")
    contexts = contexts_for(config.seed, n_workers, final_epsilons)
    obs_dim, n_actions = probe_env(env_id_or_fn, check_box_env)
    net_seed = shared_seed(config.seed, "network")
    q_net = new_q_network(obs_dim, n_actions, config.hidden, net_seed).to(device)
    flat = flatten_parameters(q_net)
    shared = SharedNet(
        flat=flat,
        target_flat=flat.detach().clone(),
        counters=torch.zeros(4, dtype=torch.int64),
    )
    if config.statistics == "shared":
        shared.exp_avg, shared.exp_avg_sq = (
            torch.zeros_like(flat),
            torch.zeros_like(flat),
        )
        shared.lock = new_lock(executor)
    if executor == "processes":
        for tensor in (shared.flat, shared.target_flat, shared.counters):
            tensor.share_memory_()
        if shared.exp_avg is not None:
            shared.exp_avg.share_memory_()
            shared.exp_avg_sq.share_memory_()
    job = AsyncDQNJob(
        config, env_id_or_fn, obs_dim, n_actions, snapshot_every, bool(profile)
    )
    outcome = run(
        executor,
        dqn_worker,
        contexts,
        shared,
        job,
        shared.counters,
        config.total_steps,
        f"async DQN ({executor})",
        progress,
    )
    counters = shared.counters.tolist()
    return result_from(
        outcome,
        q_net,
        "hogwild",
        contexts,
        global_steps=counters[STEPS],
        updates=counters[UPDATES],
        target_updates=counters[TARGET_UPDATES],
        net_template=copy.deepcopy(q_net),
    )
