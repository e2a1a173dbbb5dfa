"""Design 1b: async one-step / n-step Q-learning with one Q-network shared
by every thread (Hogwild updates of one flat parameter vector)."""

from __future__ import annotations

import copy
import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qlearn_lite.async_threads.workers import (
    AsyncResult,
    EnvSpec,
    _check_box_env,
    _check_final_epsilons,
    _final_epsilons,
    _make_envs,
    _Run,
    _run_workers,
    _shared_seed,
    _worker_seeds,
)
from qlearn_lite.dqn import DQNConfig, QNetwork, make_greedy_actor
from qlearn_lite.tabular import (
    linear_schedule,
)
from qlearn_lite.utils import check_int as _check_int
from qlearn_lite.utils import get_device

ASYNC_DQN_CONFIG = DQNConfig(
    total_steps=40_000,
    gamma=0.99,
    lr=3e-3,
    n_step=5,  # Mnih et al.'s t_max = 5
    train_freq=5,  # with n_step=1: gradients accumulated over 5 steps (I_AsyncUpdate)
    target_mode="hard",
    target_update_every=200,  # global env steps
    loss="huber",
    double=False,
    max_grad_norm=10.0,
    hidden=(64, 64),
    eps_start=1.0,
    eps_decay_steps=10_000,
    seed=0,
    device="cpu",
)
"""What :func:`async_dqn` uses when no config is given: every field it reads,
set here (not inherited from ``DQNConfig``'s defaults, which are tuned for
replay-based DQN). Reaches a greedy return of 500 on CartPole-v1 with four
workers within 40k global steps in our runs (notebook 07); change fields with
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
    """One Adam step on flat tensors, in place, without a lock (Hogwild).

    Kingma & Ba (2015), Algorithm 1, written as ``torch.optim.Adam`` computes
    it (same numbers for one thread). All four tensors are float32
    ``[n_params]``; ``exp_avg`` and ``exp_avg_sq`` are the moment estimates
    *shared by every worker*, like the shared RMSProp statistics of Mnih et al.
    (2016, section 4, "Optimization"), who found sharing them more robust.
    ``step`` (>= 1) is the number of updates so far, for bias correction.
    """
    beta1, beta2 = betas
    with torch.no_grad():
        # Without a lock other threads update the moments while we read them.
        # Two orders keep every step bounded: writers update the second moment
        # before the first, and readers read the first before the second. Then
        # any gradient our step sees in exp_avg is already in exp_avg_sq, and
        # no fresh gradient is divided by a near-zero denominator. (Either
        # order reversed made Q explode to 1e6 within 500 steps with four
        # workers.)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        exp_avg.lerp_(grad, 1 - beta1)
        first_moment = exp_avg / (1 - beta1**step)  # read m, then v
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(eps)
        # Consistent moments never move a parameter by more than `bound`
        # (Kingma & Ba, section 2.1), so this clamp changes nothing then. When
        # threads run truly in parallel (the fused update releases the GIL for
        # all of it), one thread's write to the moments can overwrite
        # another's, and a gradient in m can miss its square in v; the clamp
        # keeps such a torn step as small as a normal one.
        bound = 1.01 * lr * max(1.0, (1 - beta1) / math.sqrt(1 - beta2))
        params.sub_(first_moment.div_(denom).mul_(lr).clamp_(-bound, bound))


@dataclass
class _SharedNet:
    """The parameters every async worker shares: theta, theta^- and Adam's moments."""

    q_net: QNetwork
    flat: torch.Tensor
    target_net: QNetwork
    target_flat: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    updates: int = 0
    target_updates: int = 0


def _new_q_network(
    obs_dim: int, n_actions: int, hidden: Sequence[int], seed: int
) -> QNetwork:
    """A QNetwork initialised from ``seed`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return QNetwork(obs_dim, n_actions, hidden)


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


def segment_update(
    length: int,
    obs: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    next_obs: torch.Tensor,
    terminated: torch.Tensor,
    n_step_targets: bool,
    gamma: float,
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
) -> None:
    """One worker's whole update for one segment of ``length`` transitions.

    The first ``length`` rows of ``obs``/``next_obs`` (float32 ``[S,
    obs_dim]``), ``actions`` (int64 ``[S]``), ``rewards`` and ``terminated``
    (float32 ``[S]``) are the segment. Targets come from the ``bootstrap``
    parameters (``theta^-``), choosing the action with ``local`` (``theta'``)
    if ``double``:

    * ``n_step_targets``: the forward-view n-step returns of every step, from
      one bootstrap value after the last step (zero if it terminated), as
      :func:`~qlearn_lite.async_threads.n_step_returns`;
    * else one-step targets ``r + gamma (1 - terminated) max_a Q^-(s', a)``,
      as :func:`~qlearn_lite.dqn.td_targets`.

    The gradient of the TD loss summed over the segment (Huber or squared),
    taken at ``theta'``, clipped to ``max_grad_norm`` (``<= 0``: no clipping),
    is applied to the shared ``flat`` with :func:`shared_adam_step`.

    Eager, this is about 40 small torch calls, and each one releases and
    re-takes the GIL. :func:`async_dqn` (``fused=True``) runs the same
    function compiled by ``torch.jit.script``: *one* call that holds no GIL
    from the first op to the last.
    """
    obs, actions, rewards = obs[:length], actions[:length], rewards[:length]
    next_obs, terminated = next_obs[:length], terminated[:length]
    with torch.no_grad():
        if n_step_targets:  # only the last next state is bootstrapped from
            next_obs, not_done = next_obs[-1:], 1.0 - terminated[-1:]
        else:
            not_done = 1.0 - terminated
        next_q = mlp_forward(next_obs, bootstrap)
        chooser = mlp_forward(next_obs, local) if double else next_q
        best = chooser.argmax(1, keepdim=True)
        values = next_q.gather(1, best).squeeze(1) * not_done
        if n_step_targets:
            targets = torch.empty_like(rewards)
            running = values[0]
            for i in range(length - 1, -1, -1):  # G_i = r_i + gamma G_{i+1}
                running = rewards[i] + gamma * running
                targets[i] = running
        else:
            targets = rewards + gamma * values
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
    shared_adam_step(flat, grad, exp_avg, exp_avg_sq, step, lr)


@functools.cache
def scripted_segment_update() -> Callable[..., None]:
    """:func:`segment_update` compiled by TorchScript (once per process).

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


class _Segment:
    """Up to ``capacity`` transitions of one worker, kept in CPU tensors.

    Each step writes through NumPy views of the tensors, so collecting a
    segment costs no torch call at all; :meth:`tensors` hands the whole
    staging area to :func:`segment_update` (copied to ``device`` if that is
    not the CPU).
    """

    def __init__(self, capacity: int, obs_dim: int, device: torch.device) -> None:
        self.obs = torch.zeros(capacity, obs_dim)
        self.actions = torch.zeros(capacity, dtype=torch.int64)
        self.rewards = torch.zeros(capacity)
        self.next_obs = torch.zeros(capacity, obs_dim)
        self.terminated = torch.zeros(capacity)
        self._views = tuple(
            tensor.numpy()
            for tensor in (
                self.obs,
                self.actions,
                self.rewards,
                self.next_obs,
                self.terminated,
            )
        )
        self.device = device
        self.size = 0

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
    ) -> None:
        obs_view, action_view, reward_view, next_view, terminated_view = self._views
        i = self.size
        obs_view[i] = obs
        action_view[i] = action
        reward_view[i] = reward
        next_view[i] = next_obs
        terminated_view[i] = terminated
        self.size = i + 1

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, rewards, next_obs, terminated)`` on ``device``."""
        tensors = (self.obs, self.actions, self.rewards, self.next_obs, self.terminated)
        if self.device.type == "cpu":
            return tensors
        return tuple(tensor.to(self.device) for tensor in tensors)


def _dqn_worker(
    run: _Run,
    worker_id: int,
    shared: _SharedNet,
    env: gym.Env,
    rng: np.random.Generator,
    env_seed: int,
    final_epsilon: float,
    config: DQNConfig,
    n_step: int,
    device: torch.device,
    update: Callable[..., None],
) -> None:
    """One worker of async one-step / n-step Q-learning on a shared network."""
    torch.set_num_threads(1)  # per thread: tiny ops gain nothing from more
    n_actions = int(env.action_space.n)
    # theta': this thread's copy of the parameters, refreshed every segment.
    local_net = copy.deepcopy(shared.q_net)
    local_flat = flatten_parameters(local_net)
    local_params = list(local_net.parameters())
    bootstrap_net = shared.q_net if config.target_mode == "none" else shared.target_net
    bootstrap_params = [param.detach() for param in bootstrap_net.parameters()]
    # Acting reads theta' through NumPy views: a forward for one observation in
    # NumPy holds the GIL for less time than torch's per-op dispatch does.
    act = make_greedy_actor(local_net)
    epsilon_at = linear_schedule(
        config.eps_start, final_epsilon, config.eps_decay_steps
    )
    segment_length = n_step if n_step > 1 else config.train_freq
    segment = _Segment(segment_length, local_params[0].shape[1], device)
    max_grad_norm = config.max_grad_norm or 0.0
    returns, episode_ends = (
        run.worker_returns[worker_id],
        run.worker_episode_ends[worker_id],
    )
    episode_return, my_steps = 0.0, 0
    obs, _ = env.reset(seed=env_seed)
    while run.steps < run.total_steps and not run.stop.is_set():
        with torch.no_grad():
            local_flat.copy_(shared.flat)  # synchronise theta' <- theta
        segment.size = 0
        while True:
            if rng.random() < epsilon_at(run.steps):  # explore first: no forward
                action = int(rng.integers(n_actions))
            else:
                action = act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            segment.add(obs, action, float(reward), next_obs, terminated)
            episode_return += float(reward)
            my_steps += 1
            run.steps += 1  # T <- T + 1, unlocked (Hogwild)
            step = run.steps
            if config.target_mode == "hard" and step % config.target_update_every == 0:
                with torch.no_grad():
                    shared.target_flat.copy_(shared.flat)  # theta^- <- theta
                shared.target_updates += 1
            if run.snapshot_every and step % run.snapshot_every == 0:
                snapshot = shared.flat.detach().cpu().clone()
                run.snapshots.append(
                    (step, time.perf_counter() - run.started, snapshot)
                )
            done = terminated or truncated
            if (
                done
                or segment.size == segment_length
                or step >= run.total_steps
                or run.stop.is_set()
            ):
                break
            obs = next_obs

        # Learn from the segment: one forward and one backward for all its steps.
        shared.updates += 1
        update(
            segment.size,
            *segment.tensors(),
            n_step > 1,
            config.gamma,
            config.double,
            config.loss == "huber",
            local_params,
            bootstrap_params,
            shared.flat,
            shared.exp_avg,
            shared.exp_avg_sq,
            shared.updates,
            config.lr,
            max_grad_norm,
        )
        if config.target_mode == "soft":
            with torch.no_grad():
                shared.target_flat.lerp_(shared.flat, config.tau)

        if done:
            returns.append(episode_return)
            episode_ends.append(step)
            episode_return = 0.0
            obs, _ = env.reset()
        else:
            obs = next_obs
    run.worker_steps[worker_id] = my_steps


def async_dqn(
    env_id_or_fn: EnvSpec,
    n_workers: int,
    config: DQNConfig | None = None,
    n_step: int | None = None,
    final_epsilons: Sequence[float] | None = None,
    snapshot_every: int | None = None,
    profile: bool = False,
    progress: bool = True,
    fused: bool = True,
) -> AsyncResult:
    """Asynchronous one-step / n-step Q-learning with one shared Q-network.

    Mnih et al. (2016), Algorithm 1 and Supplementary Algorithm S2, on
    threads. Every worker runs its own env and, per *segment*:

    1. copies the shared parameters ``theta`` into its own ``theta'``;
    2. acts epsilon-greedily with ``theta'`` for up to ``n_step`` steps
       (default ``config.n_step``; with one-step targets ``config.train_freq``
       steps, the paper's ``I_AsyncUpdate``), or to the episode's end,
       stepping the global
       counter ``T`` and copying ``theta^- <- theta`` when ``T`` reaches a
       multiple of ``config.target_update_every``;
    3. computes targets with the target network: one-step ``r + gamma max_a
       Q^-(s', a)`` for ``n_step = 1``, else the forward-view
       :func:`n_step_returns`; and the gradient of the summed TD loss over the
       segment (one batched forward and backward);
    4. applies it to ``theta`` with :func:`shared_adam_step`, without a lock.

    Steps 3 and 4 are :func:`segment_update`. ``fused=True`` runs it compiled
    by TorchScript (:func:`scripted_segment_update`): one call per update that
    releases the GIL once, so that other workers can step their envs while it
    runs. ``fused=False`` runs the same function eagerly: about 40 small torch
    calls, each releasing and re-taking the GIL (notebook 07 compares them).

    ``config`` (a :class:`~qlearn_lite.dqn.DQNConfig`, default
    :data:`ASYNC_DQN_CONFIG`) gives ``total_steps``
    (global env steps ``T_max``), ``gamma``, ``lr``, ``hidden``, ``loss``,
    ``double``, ``max_grad_norm``, ``target_mode`` / ``tau``, ``eps_start``
    and ``eps_decay_steps`` (global steps), ``seed`` and ``device``. Here
    ``target_update_every`` counts *global env steps* (Mnih et al.'s
    ``I_target``), not updates. ``eps_end`` is replaced by each worker's
    final epsilon (``final_epsilons``, default drawn with
    :func:`sample_final_epsilon`). Replay settings are not used: this
    learner has no replay buffer.

    ``snapshot_every``: copy the shared parameters every this many global
    steps (score them later with :func:`snapshot_scores`); ``profile``: run
    the workers under cProfile (``result.profile``).
    """
    update = scripted_segment_update() if fused else segment_update
    config = ASYNC_DQN_CONFIG if config is None else config
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}")
    n_workers = _check_int("n_workers", n_workers)
    n_step = _check_int("n_step", config.n_step if n_step is None else n_step)
    if snapshot_every is not None:
        snapshot_every = _check_int("snapshot_every", snapshot_every)
    finals = _check_final_epsilons(final_epsilons, n_workers)
    device = get_device(config.device)
    envs = _make_envs(env_id_or_fn, n_workers)
    try:
        obs_dim, n_actions = _check_box_env(envs[0])
        net_seed = _shared_seed(config.seed, "network")
        q_net = _new_q_network(obs_dim, n_actions, config.hidden, net_seed).to(device)
        flat = flatten_parameters(q_net)
        target_net = copy.deepcopy(q_net).requires_grad_(False)
        shared = _SharedNet(
            q_net=q_net,
            flat=flat,
            target_net=target_net,
            target_flat=flatten_parameters(target_net),
            exp_avg=torch.zeros_like(flat),
            exp_avg_sq=torch.zeros_like(flat),
        )
        seeds = _worker_seeds(config.seed, n_workers)
        rngs = [np.random.default_rng(agent_seed) for agent_seed, _ in seeds]
        finals = _final_epsilons(rngs, finals)
        run = _Run(n_workers, config.total_steps, snapshot_every)
        args = [
            (
                shared,
                envs[k],
                rngs[k],
                seeds[k][1],
                finals[k],
                config,
                n_step,
                device,
                update,
            )
            for k in range(n_workers)
        ]
        _run_workers(run, _dqn_worker, args, "async DQN", progress, profile)
    finally:
        for env in envs:
            env.close()
    return run.result(
        q_net,
        "hogwild",
        finals,
        updates=shared.updates,
        target_updates=shared.target_updates,
        net_template=copy.deepcopy(q_net),
    )
