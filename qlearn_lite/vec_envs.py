"""Batched environments as tensors: thousands of copies stepped as one (notebook 09).

A Gymnasium env steps one copy of the world per Python call. Here the state of
``num_envs`` copies is one tensor and a step is a few dozen tensor operations
on it, on the CPU or on a GPU, with no Python loop over the copies (the idea of
gymnax, EnvPool and Isaac Gym). Learners on the same device then read the
observations without any copy to or from the host.

* :class:`TorchCartPole` -- CartPole-v1: the dynamics, rewards, termination
  and 500-step truncation of Gymnasium's
  ``gymnasium.envs.classic_control.cartpole``, to rounding error.
* :class:`TorchTabularEnv` -- any Gymnasium env with a transition table
  ``env.unwrapped.P`` (FrozenLake, CliffWalking, Taxi), stepping by sampling
  the table.

Auto-reset: Gymnasium's ``SAME_STEP`` mode
------------------------------------------
Both envs reset a copy inside the very ``step`` that ends its episode,
exactly like Gymnasium's ``SyncVectorEnv(..., autoreset_mode=SAME_STEP)``
(https://farama.org/Vector-Autoreset-Mode):

* ``obs`` is already the first observation of the *next* episode for the
  copies that ended (``terminated | truncated``);
* ``reward``, ``terminated`` and ``truncated`` belong to the step that ended
  the episode;
* ``info["final_obs"]`` holds the observation the step really reached, for
  *every* copy: for those that ended it is the last observation of the
  episode, for the others it equals ``obs``. (Gymnasium stores it only for the
  ended copies, with the mask ``info["_final_obs"]``, which we also return.)
* ``info["episode_length"]`` is the length of the episode each copy was in,
  this step included (Gymnasium's ``RecordEpisodeStatistics`` ``"l"``).

So every step yields ``num_envs`` genuine transitions
``(obs, action, reward, info["final_obs"], terminated)``, and a replay buffer
on the device can store them all without looking at which copies ended: no
host synchronisation. (Gymnasium's default ``NEXT_STEP`` mode, used by its
``CartPoleVectorEnv``, spends one extra step per episode on the reset, with
reward 0, which a learner must mask out.)

Devices and randomness
----------------------
Every tensor is created on ``device``; randomness comes from one
``torch.Generator`` on that device, seeded with ``seed``. Nothing in
``step`` reads a value back to the host on a GPU. On the CPU, where reading
is free, we draw reset states only for the copies that reset (as Gymnasium
does); elsewhere we draw for every copy and keep the needed ones with
``torch.where``. The two give the same distribution but different streams,
and CPU and CUDA generators differ anyway: a seed reproduces a run on the
same device only. (On the CPU, :class:`TorchCartPole` also computes its
termination flags and time limit with NumPy on views of the same memory,
where a call costs less than torch's; the physics stays in torch.)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from qlearn_lite.utils import check_int, check_memory, check_seed, get_device

__all__ = [
    "AUTORESET_MODE",
    "TorchCartPole",
    "TorchTabularEnv",
]

AUTORESET_MODE = gym.vector.AutoresetMode.SAME_STEP
"""The Gymnasium vector auto-reset mode both envs follow."""

SMALL_BATCH = 65_536
"""Up to this many carts, :class:`TorchCartPole` steps on one torch thread by
default (``torch_threads="auto"``): see :class:`_TorchThreads`."""

POLYNOMIAL_TRIG_CARTS = 2048
"""From this many carts on, :class:`TorchCartPole` on the CPU computes ``sin``
and ``cos`` in float64 as polynomials (see ``_step``): four fused
multiply-adds over two rows cost less than torch's ``sin`` and ``cos`` from
about 1,500 carts on, and more below (measured on the project's 2-core CPU,
microseconds a step with the polynomials against torch's functions: 37-38
against 33 at 64 carts, even at 1,024, 54 against 55-59 at 2,048, 71-75
against 80-83 at 4,096)."""

THETA_LIMIT = 12 * 2 * math.pi / 360
"""CartPole's termination angle, 12 degrees in radians."""


@functools.cache
def _small_angle_polynomials() -> np.ndarray:
    """Coefficients that give ``cos(theta)`` and ``sin(theta) / theta`` as
    polynomials of degree 4 in ``u = theta**2``, for ``|theta| <= THETA_LIMIT``.

    Each is ``1 + u * g(u)``: the constant 1 exactly, and a cubic ``g`` that
    interpolates the rest of the function's Taylor series at the four
    Chebyshev points of ``[0, THETA_LIMIT**2]`` (the series summed term by
    term, so without the cancellation of ``(cos(theta) - 1) / u``). Evaluated
    by Horner's rule in float64, cos is then within 4 units in the last place
    of NumPy's (0.7 on average) and sin within 1 (``tests/test_vec_envs.py``).
    Returns ``[5, 2]``: row ``k`` holds the coefficients of ``u**k`` for cos
    and for sin / theta. Computed once (about 0.3 ms) and cached: do not
    modify the array.
    """

    def rest(u: np.ndarray, offset: int) -> np.ndarray:
        # sum over k >= 1 of (-u)^k / (2k + offset)!, divided by u
        terms = range(1, 13)
        return sum(
            (-1) ** k * u ** (k - 1) / math.factorial(2 * k + offset) for k in terms
        )

    columns = []
    for offset in (0, 1):  # cos, then sin / theta
        cubic = np.polynomial.Chebyshev.interpolate(
            lambda u, offset=offset: rest(u, offset), 3, domain=[0.0, THETA_LIMIT**2]
        )
        power_series = cubic.convert(kind=np.polynomial.Polynomial).coef
        columns.append(np.concatenate([[1.0], power_series]))
    return np.stack(columns, axis=1)


# ------------------------------------------------------------ input checks
def _check_max_steps(max_episode_steps: Any) -> int | None:
    if max_episode_steps is None:
        return None
    if isinstance(max_episode_steps, bool) or not isinstance(
        max_episode_steps, (int, np.integer)
    ):
        raise TypeError(
            f"max_episode_steps must be an int >= 1 or None, got {max_episode_steps!r}"
        )
    if max_episode_steps < 1:
        raise ValueError(
            f"max_episode_steps must be an int >= 1 or None, got {max_episode_steps!r}"
        )
    return int(max_episode_steps)


def _as_tensor(
    name: str, value: Any, dtype: torch.dtype, device: torch.device | None = None
) -> torch.Tensor:
    """``value`` as a tensor of ``dtype``; ``TypeError`` naming ``name`` if it
    holds something that is not a number (strings, objects, None)."""
    if isinstance(value, torch.Tensor):
        if value.dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got {value.dtype}")
        return value.to(device=device, dtype=dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got {value!r}")
    return torch.as_tensor(array, dtype=dtype, device=device)


def _check_elapsed(
    elapsed_steps: Any, num_envs: int, limit: int | None
) -> torch.Tensor:
    """``elapsed_steps`` (an int or ints ``[num_envs]``) as int64 ``[num_envs]``,
    each in ``[0, limit)``."""
    steps = np.asarray(elapsed_steps if not isinstance(elapsed_steps, torch.Tensor)
                       else elapsed_steps.cpu())  # fmt: skip
    expected = f"an int or ints [num_envs] in [0, {limit})"
    if steps.dtype.kind not in "iu":
        raise TypeError(f"elapsed_steps must be {expected}, got {elapsed_steps!r}")
    if steps.shape not in ((), (num_envs,)):
        raise ValueError(f"elapsed_steps must be {expected}, got shape {steps.shape}")
    if steps.size and (steps.min() < 0 or (limit is not None and steps.max() >= limit)):
        raise ValueError(f"elapsed_steps must be {expected}, got {elapsed_steps!r}")
    return torch.as_tensor(steps, dtype=torch.int64).expand(num_envs).clone()


def _make_generator(device: torch.device, seed: int) -> torch.Generator:
    """A ``torch.Generator`` living on ``device`` (CUDA needs its own)."""
    return torch.Generator(device=device).manual_seed(seed)


def _check_actions_flag(check_actions: Any) -> bool | None:
    if check_actions is not None and not isinstance(check_actions, bool):
        raise TypeError(
            f"check_actions must be True, False or None, got {check_actions!r}"
        )
    return check_actions


def _as_actions(
    action: Any,
    num_envs: int,
    device: torch.device,
    n_actions: int,
    check_range: bool = False,
) -> torch.Tensor:
    """Actions as an integer tensor ``[num_envs]`` on ``device``.

    Shape, dtype and device are always checked here. The values (each in
    ``[0, n_actions)``) are checked only with ``check_range=True``
    (:func:`_check_action_range`): on a GPU reading them back would stall
    the loop for a host sync. The envs' steps check them for free on the
    CPU instead, where their first gather of the actions raises on an
    index out of range (the envs turn that into a clear ValueError).
    """
    if not isinstance(action, torch.Tensor):
        array = np.asarray(action)
        if array.dtype.kind not in "iu":
            raise TypeError(f"actions must be integers, got dtype {array.dtype}")
        action = torch.as_tensor(array, device=device)
    if action.shape != (num_envs,):
        raise ValueError(
            f"expected one action per env, shape ({num_envs},), "
            f"got shape {tuple(action.shape)}"
        )
    if (
        action.dtype.is_floating_point
        or action.dtype.is_complex
        or (action.dtype == torch.bool)
    ):
        raise TypeError(f"actions must be an integer tensor, got {action.dtype}")
    if action.device != device:
        raise ValueError(
            f"actions are on {action.device} but the env is on {device}: create "
            "them on the env's device (env.device) to avoid a copy per step"
        )
    if action.dtype not in (torch.int64, torch.int32):
        action = action.long()  # index_select takes these two
    if check_range:
        _check_action_range(action, n_actions)
    return action


def _check_action_range(action: torch.Tensor, n_actions: int) -> None:
    """Raise a clear ValueError unless every action is in ``[0, n_actions)``
    (one ``aminmax``, read back to the host: a sync on a GPU)."""
    if action.numel() == 0:
        return
    low, high = torch.aminmax(action)
    if int(low) < 0 or int(high) >= n_actions:
        raise ValueError(
            f"actions must be in [0, {n_actions}), got values from {int(low)} "
            f"to {int(high)}"
        )


class _TorchThreads:
    """Run torch on ``n`` intra-op threads inside a ``with`` block, then restore.

    torch's CPU thread pool splits an operation across threads once it is
    large enough, and for ``sin`` and ``cos`` that starts at a few thousand
    elements. A step of a few thousand carts is a few dozen operations of a
    few microseconds each: splitting them gains nothing, and on a machine
    whose other cores are busy the threads wait for each other and a step
    can take 10-100x longer (``benchmarks/vec_envs.py`` shows the stall).
    ``n=None`` leaves torch's setting alone. The setting is restored on exit
    only if it was changed, so with ``torch.set_num_threads(1)`` this costs
    one ``get_num_threads`` call.
    """

    __slots__ = ("n", "previous")

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.previous: int | None = None

    def __enter__(self) -> None:
        if self.n is not None:
            current = torch.get_num_threads()
            if current != self.n:
                self.previous = current
                torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            torch.set_num_threads(self.previous)
            self.previous = None


# ================================================================ CartPole
class TorchCartPole:
    """CartPole-v1 for ``num_envs`` carts at once, as tensors on ``device``.

    The cart-pole of Barto, Sutton and Anderson (1983) as Gymnasium's
    ``CartPoleEnv`` (``gymnasium/envs/classic_control/cartpole.py``) inside its
    500-step ``TimeLimit``: the same constants, equations, Euler integration,
    termination and rewards, a float64 state like Gymnasium's NumPy state, and
    float32 observations.

    ============  =================================================================
    observation   float32 ``[num_envs, 4]``: cart position (m), cart velocity
                  (m/s), pole angle (rad), pole angular velocity (rad/s)
    action        int ``[num_envs]``: 0 pushes the cart left, 1 pushes it right
                  (a force of 10 N for 0.02 s)
    reward        float32 ``[num_envs]``: +1 for every step, the last one included
    terminated    bool ``[num_envs]``: ``|x| > 2.4`` or ``|theta| > 12°``
    truncated     bool ``[num_envs]``: the episode reached 500 steps
    start state   each of the 4 numbers uniform in ``[-0.05, 0.05)``
    auto-reset    Gymnasium's ``SAME_STEP`` mode (see the module docstring)
    ============  =================================================================

    Args:
        num_envs: the number of independent carts, >= 1.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        seed: seeds the env's ``torch.Generator`` (the start states).
        dtype: the dtype of the physics. float64 (the default) follows
            Gymnasium to rounding error; float32 is lighter on a GPU but drifts
            away from Gymnasium within a few dozen steps (see below).
        max_episode_steps: the time limit (500 for CartPole-v1).
        check_actions: check explicitly in every :meth:`step` that the
            actions are 0 or 1 (``ValueError`` otherwise), on any device. On
            the CPU an action outside {0, 1} is a ``ValueError`` anyway (torch
            checks the index it becomes; we catch its error, at no cost).
            None or False (the default): no explicit check, so on a GPU an
            out-of-range action is the caller's bug, as an out-of-range index
            is, and fails inside torch; the check would make the host wait
            for the device every step. True: the tests turn it on.
        polynomial_trig: compute ``cos`` and ``sin`` of the pole angle as
            polynomials (four fused multiply-adds over two rows) instead of
            torch's ``cos`` and ``sin``. None (the default): polynomials on
            the CPU in float64 from :data:`POLYNOMIAL_TRIG_CARTS` carts on,
            where they are faster; torch's elsewhere.

    Memory is estimated before anything is allocated: ``ValueError`` when
    ``num_envs`` carts would not fit on the device, a ``ResourceWarning``
    above :data:`qlearn_lite.utils.MEMORY_WARN_BYTES`.

    How close to Gymnasium: each step computes Gymnasium's formulas with its
    constants folded together (``force / total_mass`` instead of a division
    per step) and fused multiply-adds, so that the physics is a dozen tensor
    operations rather than about thirty: it matches Gymnasium's float64 state
    to about 1e-16 relative per step. With ``polynomial_trig``, ``cos`` and
    ``sin`` are within 4 and 1 units in the last place of NumPy's for every
    angle up to 12 degrees, which is every angle a step meets: a cart beyond
    is terminated and reset in the same step. Only a state put beyond 12
    degrees by :meth:`set_state` is not, and its next step uses torch's
    ``cos`` and ``sin``. The upright pole is unstable: a difference
    grows by about ``e^{4 t}`` (t in seconds), so rounding differences stay
    below 1e-10 for a few seconds of simulated time and can reach the 1e-5
    level after several hundred steps of balancing. Started from the same
    state with the same actions, the two agree within 1e-5 for well over a
    second (50 steps), and ``terminated``/``truncated`` agree.

    Layout: the state is ``[4, num_envs]`` (one row per quantity, like
    Gymnasium's ``CartPoleVectorEnv``), so each quantity is a contiguous row,
    and :meth:`step` updates it in place (clone ``env.state`` to keep it).
    Observations are fresh float32 copies of its transpose, ``[num_envs, 4]``
    with a column-major layout (as Gymnasium's ``state.T.astype(np.float32)``):
    index them freely, call ``.contiguous()`` before ``.view()``.

    >>> env = TorchCartPole(num_envs=3, device="cpu", seed=0)
    >>> obs, info = env.reset()
    >>> obs.shape, obs.dtype
    (torch.Size([3, 4]), torch.float32)
    >>> push_right = torch.ones(3, dtype=torch.long)
    >>> obs, reward, terminated, truncated, info = env.step(push_right)
    >>> reward
    tensor([1., 1., 1.])
    """

    # The constants of gymnasium.envs.classic_control.cartpole.CartPoleEnv.
    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5  # actually half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02  # seconds between state updates
    theta_threshold_radians = THETA_LIMIT
    x_threshold = 2.4
    reset_low, reset_high = -0.05, 0.05

    obs_dim = 4
    n_actions = 2
    metadata = {"autoreset_mode": AUTORESET_MODE}

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "auto",
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        max_episode_steps: int = 500,
        torch_threads: int | None | str = "auto",
        check_actions: bool = False,
        polynomial_trig: bool | None = None,
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs)
        self.device = get_device(device)
        if torch_threads == "auto":
            torch_threads = (
                1
                if self.device.type == "cpu" and self.num_envs <= SMALL_BATCH
                else None
            )
        elif torch_threads is not None:
            torch_threads = check_int("torch_threads", torch_threads)
        self.torch_threads = torch_threads
        """Intra-op threads torch uses inside :meth:`step` (None: the caller's)."""
        self._threads = _TorchThreads(torch_threads)
        if not isinstance(check_actions, bool):
            raise TypeError(
                f"check_actions must be True or False, got {check_actions!r}"
            )
        self.check_actions = bool(check_actions)
        """Check that actions are 0 or 1 before each step with one ``aminmax``
        (a host sync per step on a GPU: a debugging aid). Without it the CPU
        still checks, for free: the step's gather of the force per action
        fails on an action out of range, and that becomes a clear ValueError.
        On a GPU, unchecked, an action out of range trips a device-side assert
        in that gather, which leaves the CUDA context unusable."""
        if not isinstance(dtype, torch.dtype):
            raise TypeError(
                f"dtype must be torch.float64 or torch.float32, got {dtype!r}"
            )
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(
                f"dtype must be torch.float64 or torch.float32, got {dtype!r}"
            )
        self.dtype = dtype
        self.max_episode_steps = _check_max_steps(max_episode_steps)
        if self.max_episode_steps is None:
            raise ValueError("TorchCartPole needs a time limit, got None (use 500)")
        self.seed = check_seed(seed)
        check_memory(
            f"TorchCartPole with {self.num_envs} carts",
            self.nbytes_for(self.num_envs, dtype),
            self.device,
        )
        self.generator = _make_generator(self.device, self.seed)
        # Draw reset states only for the carts that reset where counting them
        # is free (CPU); on accelerators draw for all and select (no host sync).
        self._draw_for_all = self.device.type != "cpu"
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf],
            dtype=np.float32,
        )
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)

        def constant(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=self.device)

        # Gymnasium's constants, folded once so that a step does fewer operations.
        self._force_over_mass = constant(
            [-self.force_mag / self.total_mass, self.force_mag / self.total_mass]
        )
        # The denominator divided by gravity, so that the numerator needs no
        # product with it: (4/3 l - k cos^2) / g with k = l * masspole / M.
        self._four_thirds_length_over_g = constant(
            4.0 / 3.0 * self.length / self.gravity
        )
        self._thresholds = constant(
            [[self.x_threshold], [self.theta_threshold_radians]]
        )
        if polynomial_trig is None:
            polynomial_trig = (
                self.device.type == "cpu"
                and dtype == torch.float64
                and self.num_envs >= POLYNOMIAL_TRIG_CARTS
            )
        elif not isinstance(polynomial_trig, bool):
            raise TypeError(
                f"polynomial_trig must be True, False or None, got {polynomial_trig!r}"
            )
        self.polynomial_trig = polynomial_trig
        """Whether :meth:`step` computes ``cos`` and ``sin`` as polynomials."""
        # Their coefficients, one [2, 1] column (cos, sin / theta) per power of
        # theta^2 (see _step), and the constant column of the first step of
        # Horner's rule spread over [2, num_envs].
        self._trig_coefficients = (
            [constant(row.tolist()).view(2, 1) for row in _small_angle_polynomials()]
            if polynomial_trig
            else []
        )
        self._trig_start = (
            self._trig_coefficients[3].expand(2, self.num_envs).contiguous()
            if polynomial_trig
            else None
        )
        self._small_angles = True  # every |theta| <= 12 degrees (set_state checks)
        self.state = torch.zeros(4, self.num_envs, dtype=dtype, device=self.device)
        """``dtype [4, num_envs]``: rows ``x, x_dot, theta, theta_dot``, updated
        in place by every step, reset and set_state (clone it to keep it)."""
        # Preallocated scratch rows: a step writes into them (``out=``, in
        # place) instead of allocating a dozen temporaries. cos, sin, [xacc,
        # thetaacc] side by side (so that one add_ updates both velocities),
        # the denominator, and [|x|, |theta|]; theta^2 and theta_dot^2; the
        # two termination flags.
        self._scratch = torch.empty(6, self.num_envs, dtype=dtype, device=self.device)
        self._squares = torch.empty(2, self.num_envs, dtype=dtype, device=self.device)
        self._flags = torch.empty(
            2, self.num_envs, dtype=torch.bool, device=self.device
        )
        # The time limit: a step counter for the whole env (a Python int) and,
        # per cart, minus the clock at which its episode started, so that
        # elapsed steps = clock + offset. A step then finds every episode's
        # length with one add, and a reset writes only the carts that reset.
        self._clock = 0
        self._episode_offset = torch.zeros(
            self.num_envs, dtype=torch.int64, device=self.device
        )
        self._make_views()
        self._needs_reset = True

    _VIEWS = (
        "_rows", "_angles", "_state_T", "_positions", "_velocities", "_work",
        "_trig", "_accelerations", "_magnitudes", "_square_rows", "_flag_rows",
        "_positions_np", "_magnitudes_np", "_thresholds_np", "_flags_np",
        "_episode_offset_np",
    )  # fmt: skip

    def _make_views(self) -> None:
        """Views of the state and of the scratch rows that a step works on,
        made once (a view made per step would cost a microsecond each)."""
        self._rows = self.state.unbind(0)  # x, x_dot, theta, theta_dot
        self._angles = self.state[2:4]  # theta, theta_dot
        self._state_T = self.state.T  # [num_envs, 4], for the observations
        self._positions = self.state[0::2]  # x, theta
        self._velocities = self.state[1::2]  # x_dot, theta_dot
        self._work = self._scratch.unbind(0)
        self._trig = self._scratch[0:2]  # cos, sin
        self._accelerations = self._scratch[2:4]
        self._magnitudes = self._scratch[4:6]
        self._square_rows = self._squares.unbind(0)  # theta^2, theta_dot^2
        self._flag_rows = self._flags.unbind(0)
        if not self._draw_for_all:  # NumPy views of the same memory, for
            # _end_step_on_cpu (no copies)
            self._positions_np = self._positions.numpy()
            self._magnitudes_np = self._magnitudes.numpy()
            self._thresholds_np = self._thresholds.numpy()
            self._flags_np = self._flags.numpy()
            self._episode_offset_np = self._episode_offset.numpy()

    def __getstate__(self) -> dict[str, Any]:
        # A copy (pickle) would give each view memory of its own, and a copied
        # env would then step from stale numbers: copy the tensors only, and
        # make the views again from the copies.
        state = self.__dict__.copy()
        for name in self._VIEWS:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    @property
    def elapsed_steps(self) -> torch.Tensor:
        """``int64 [num_envs]``: steps taken in each cart's current episode (a
        fresh tensor)."""
        return torch.add(self._episode_offset, self._clock)

    @staticmethod
    def nbytes_for(num_envs: int, dtype: torch.dtype = torch.float64) -> int:
        """Bytes ``num_envs`` carts take while stepping, estimated: the state and
        about a dozen temporaries of one number per cart in :meth:`step` (cos,
        sin, accelerations, observations, flags, start states) and a [2, num_envs]
        constant of the polynomials."""
        return num_envs * (18 * (torch.finfo(dtype).bits // 8) + 64)

    def __repr__(self) -> str:
        return (
            f"TorchCartPole(num_envs={self.num_envs}, device={str(self.device)!r}, "
            f"seed={self.seed}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------ resetting
    def _start_states(self, n: int) -> torch.Tensor:
        """``[4, n]`` start states, uniform in ``[low, high)`` like NumPy's."""
        start = torch.empty(4, n, dtype=self.dtype, device=self.device)
        return start.uniform_(self.reset_low, self.reset_high, generator=self.generator)

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Start a new episode in every cart: ``(obs float32 [num_envs, 4], {})``.

        ``seed`` re-seeds the generator first (as Gymnasium's ``reset(seed=)``).
        """
        if seed is not None:
            self.seed = check_seed(seed)
            self.generator.manual_seed(self.seed)
        self.state.copy_(self._start_states(self.num_envs))
        self._episode_offset.fill_(-self._clock)
        self._small_angles = True
        self._needs_reset = False
        return self._observe(), {}

    def set_state(
        self, state: torch.Tensor | np.ndarray, elapsed_steps: Any = 0
    ) -> torch.Tensor:
        """Put every cart in a given state (to compare with Gymnasium from it).

        ``state``: ``[num_envs, 4]``, one row per cart (e.g. Gymnasium's
        ``env.unwrapped.state`` of each cart, stacked); ``elapsed_steps``: an
        int or ``[num_envs]``, the steps already taken in the episode (the time
        limit counts from there). Returns the float32 observations.
        """
        state = _as_tensor("state", state, self.dtype, self.device)
        if state.shape != (self.num_envs, 4):
            raise ValueError(
                f"state must have shape ({self.num_envs}, 4) [num_envs, 4], "
                f"got {tuple(state.shape)}"
            )
        if not bool(torch.isfinite(state).all()):
            raise ValueError("state must be finite, got nan or inf")
        steps = _check_elapsed(elapsed_steps, self.num_envs, self.max_episode_steps)
        steps = steps.to(self.device)
        self.state.copy_(state.T)
        self._episode_offset.copy_(steps.expand(self.num_envs) - self._clock)
        # The polynomials for sin and cos hold up to 12 degrees; a state beyond
        # gets torch's sin and cos in the next step (which then resets it).
        self._small_angles = bool((state[:, 2].abs() <= THETA_LIMIT).all())
        self._needs_reset = False
        return self._observe()

    def _observe(self) -> torch.Tensor:
        """A fresh float32 copy of the state, ``[num_envs, 4]`` column-major.

        The same layout as ``state.T.to(float32)``, made by copying the
        transposed view of the state (made once, in ``__init__``) into an
        empty tensor with the same strides: torch converts between two tensors
        of one layout in a single contiguous pass, and no view is made per step.
        """
        observation = torch.empty_strided(
            (self.num_envs, 4), (1, self.num_envs),
            dtype=torch.float32, device=self.device,
        )  # fmt: skip
        return observation.copy_(self._state_T)

    # ------------------------------------------------------------- stepping
    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Advance every cart by one step of 0.02 s.

        Args:
            action: int ``[num_envs]`` on the env's device, 0 (left) or 1 (right)
                (an error otherwise on the CPU; see ``check_actions``).

        Returns:
            ``(obs, reward, terminated, truncated, info)``: ``obs`` float32
            ``[num_envs, 4]`` (already reset where the episode ended),
            ``reward`` float32 ``[num_envs]``, ``terminated`` and ``truncated``
            bool ``[num_envs]``, and ``info`` with ``"final_obs"`` (float32
            ``[num_envs, 4]``, the observation reached before any reset),
            ``"_final_obs"`` (bool ``[num_envs]``, which carts were reset) and
            ``"episode_length"`` (int64 ``[num_envs]``).
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        action = _as_actions(
            action, self.num_envs, self.device, self.n_actions, self.check_actions
        )
        with self._threads:
            try:
                return self._step(action)
            except (IndexError, RuntimeError) as error:
                if "index" not in str(error) or self.device.type != "cpu":
                    raise
                # The first gather met an action outside [0, 2): say so.
                _check_action_range(action, self.n_actions)
                raise

    def _step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        x, x_dot, theta, theta_dot = self._rows  # views of its rows
        costheta, sintheta, xacc, thetaacc, denominator, _ = self._work  # scratch
        theta_squared, theta_dot_squared = self._square_rows
        M = self.total_mass
        torch.mul(self._angles, self._angles, out=self._squares)
        if self.polynomial_trig and self._small_angles:
            # At 4,096 carts torch's float64 sin and cos take about 10
            # microseconds each on the CPU, a quarter of the step's arithmetic.
            # For |theta| <= 12 degrees (true of every cart after a step or a
            # reset: a cart beyond is terminated and reset), cos(theta) and
            # sin(theta) / theta are polynomials of degree 4 in theta^2 to
            # float64 precision: both rows at once by Horner's rule, four
            # fused multiply-adds, then sin = theta * (sin / theta).
            c, trig = self._trig_coefficients, self._trig  # c[k]: of theta^(2k)
            # c[3] as a full [2, num_envs] tensor: with two per-row constants
            # in one operation torch's loop is not vectorised (4.5 us, not 2.2).
            torch.addcmul(self._trig_start, c[4], theta_squared, out=trig)
            for power in (2, 1, 0):
                torch.addcmul(c[power], trig, theta_squared, out=trig)
            sintheta.mul_(theta)
        else:  # fewer carts, float32, a GPU, or a state set beyond 12 degrees
            torch.cos(theta, out=costheta)
            torch.sin(theta, out=sintheta)

        # Gymnasium's equations (https://coneural.org/florian/papers/05_cart_pole.pdf)
        #   temp     = (force + polemass_length * theta_dot^2 * sin) / total_mass
        #   thetaacc = (gravity * sin - cos * temp)
        #              / (length * (4/3 - masspole * cos^2 / total_mass))
        #   xacc     = temp - polemass_length * thetaacc * cos / total_mass
        # with the constant factors folded; addcmul(a, b, c, value=v) = a + v*b*c.
        # force = force_mag if action == 1 else -force_mag, divided by total_mass;
        # temp is built in the xacc row, which it becomes at the end.
        temp = torch.index_select(self._force_over_mass, 0, action, out=xacc)
        temp.addcmul_(theta_dot_squared, sintheta, value=self.polemass_length / M)
        # thetaacc = (sin - cos * temp / gravity) / (denominator / gravity)
        torch.addcmul(sintheta, costheta, temp, value=-1 / self.gravity, out=thetaacc)
        torch.addcmul(
            self._four_thirds_length_over_g, costheta, costheta,
            value=-self.length * self.masspole / (M * self.gravity), out=denominator,
        )  # fmt: skip
        thetaacc.div_(denominator)
        temp.addcmul_(thetaacc, costheta, value=-self.polemass_length / M)  # xacc

        # Euler integration (Gymnasium's default kinematics_integrator), in place:
        # first x += tau * x_dot and theta += tau * theta_dot (rows 0 and 2, with
        # the old velocities, rows 1 and 3), then both velocities at once.
        self._positions.add_(self._velocities, alpha=self.tau)
        self._velocities.add_(self._accelerations, alpha=self.tau)

        self._small_angles = True  # from here on: the carts beyond 12 degrees reset
        self._clock += 1
        if self._draw_for_all:
            return self._end_step_on_device()
        return self._end_step_on_cpu()

    def _end_step_on_cpu(
        self,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Termination, the time limit and the auto-reset, after the physics.

        The same rules as :meth:`_end_step_on_device`, on the flags and the
        clocks through NumPy views of the tensors' memory (no copies): on a
        few thousand carts a NumPy call costs about 0.5-1 microsecond, torch's
        1.5-2.5 (its comparisons producing bools are the slowest), and the
        carts that ended are counted for free, so that only they are reset.
        """
        clock = self._clock
        # |x| > 2.4 or |theta| > 12 degrees (Gymnasium's four comparisons).
        flags = self._flags_np
        np.abs(self._positions_np, out=self._magnitudes_np)
        np.greater(self._magnitudes_np, self._thresholds_np, out=flags)
        terminated = flags[0] | flags[1]
        episode_length = self._episode_offset_np + clock  # this step included
        truncated = episode_length >= self.max_episode_steps  # the TimeLimit
        done = terminated | truncated
        reward = torch.ones(self.num_envs, dtype=torch.float32)
        final_obs = self._observe()  # a copy: the state changes below

        # Auto-reset (SAME_STEP): ended carts start their next episode now.
        ended = np.flatnonzero(done)
        n_ended = ended.shape[0]
        if n_ended:
            self.state.index_copy_(
                1, torch.from_numpy(ended), self._start_states(n_ended)
            )
            self._episode_offset_np[ended] = -clock  # their clocks restart
            obs = self._observe()
        else:
            obs = final_obs.clone()
        info = {
            "final_obs": final_obs,
            "_final_obs": torch.from_numpy(done),
            "episode_length": torch.from_numpy(episode_length),
        }
        return (
            obs, reward, torch.from_numpy(terminated), torch.from_numpy(truncated),
            info,
        )  # fmt: skip

    def _end_step_on_device(
        self,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Termination, the time limit and the auto-reset, after the physics,
        in torch operations that never make the host wait for the device: start
        states are drawn for every cart and kept where its episode ended."""
        clock, offset, state = self._clock, self._episode_offset, self.state
        # |x| > 2.4 or |theta| > 12 degrees (Gymnasium's four comparisons).
        torch.abs(self._positions, out=self._magnitudes)
        torch.gt(self._magnitudes, self._thresholds, out=self._flags)
        terminated = torch.bitwise_or(*self._flag_rows)
        episode_length = torch.add(offset, clock)  # this step included
        truncated = episode_length >= self.max_episode_steps  # the TimeLimit
        reward = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        final_obs = self._observe()  # a copy: the state changes below

        # Auto-reset (SAME_STEP): ended carts start their next episode now.
        done = terminated | truncated
        state.copy_(torch.where(done, self._start_states(self.num_envs), state))
        offset.masked_fill_(done, -clock)  # their clocks restart
        info = {
            "final_obs": final_obs,
            "_final_obs": done,
            "episode_length": episode_length,
        }
        return self._observe(), reward, terminated, truncated, info

    def close(self) -> None:
        """Nothing to release (for Gymnasium compatibility)."""


# ============================================================ tabular envs
class TorchTabularEnv:
    """A discrete MDP given by its transition table, for ``num_envs`` agents at once.

    State ``s`` and action ``a`` lead to outcome ``k`` with probability
    ``probs[s, a, k]``: next state ``next_states[s, a, k]``, reward
    ``rewards[s, a, k]``, ``terminated[s, a, k]``. A step draws one uniform
    number per env and picks the first outcome whose cumulative probability
    exceeds it, the same rule as Gymnasium's ``categorical_sample``. Episodes
    start from ``initial_probs`` and are truncated after ``max_episode_steps``
    (None: never), with auto-reset as in :class:`TorchCartPole` (``SAME_STEP``).

    Build one from a Gymnasium env with :meth:`from_gymnasium`.

    Unchecked, action ``n_actions`` in state ``s`` would silently be action 0
    of state ``s + 1``, so :meth:`step` checks that the actions are in
    ``[0, n_actions)`` (``ValueError`` otherwise) where ``check_actions`` is
    True. None (the default) checks on the CPU, where it is one reduction of
    a NumPy view, and not on a GPU, where reading the values would make the
    host wait for the device every step: there in-range actions are the
    caller's precondition (the tests pass True). The memory is estimated as
    in :class:`TorchCartPole`.

    ============  ============================================================
    observation   int64 ``[num_envs]``: the state index in ``[0, n_states)``
    action        int ``[num_envs]`` in ``[0, n_actions)``
    reward        float32 ``[num_envs]``, from the table
    terminated    bool ``[num_envs]``, from the table
    truncated     bool ``[num_envs]``: the episode reached the time limit
    ============  ============================================================
    """

    metadata = {"autoreset_mode": AUTORESET_MODE}

    def __init__(
        self,
        probs: torch.Tensor | np.ndarray,
        next_states: torch.Tensor | np.ndarray,
        rewards: torch.Tensor | np.ndarray,
        terminated: torch.Tensor | np.ndarray,
        initial_probs: torch.Tensor | np.ndarray,
        num_envs: int,
        device: str | torch.device = "auto",
        seed: int = 0,
        max_episode_steps: int | None = None,
        name: str = "TorchTabularEnv",
        check_actions: bool | None = None,
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs)
        self.device = get_device(device)
        self.seed = check_seed(seed)
        self.max_episode_steps = _check_max_steps(max_episode_steps)
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name
        check_actions = _check_actions_flag(check_actions)
        self.check_actions = (
            self.device.type == "cpu" if check_actions is None else check_actions
        )
        """Whether :meth:`step` checks that every action is in [0, n_actions)."""
        device = self.device
        probs = _as_tensor("probs", probs, torch.float64)
        if probs.ndim != 3 or 0 in probs.shape:
            raise ValueError(
                "probs must have shape [n_states, n_actions, n_outcomes], "
                f"got {tuple(probs.shape)}"
            )
        self.n_states, self.n_actions, n_outcomes = probs.shape
        for label, table in (
            ("next_states", next_states),
            ("rewards", rewards),
            ("terminated", terminated),
        ):
            if tuple(np.shape(table)) != tuple(probs.shape):
                raise ValueError(
                    f"{label} must have the shape of probs {tuple(probs.shape)}, "
                    f"got {tuple(np.shape(table))}"
                )
        if (probs < 0).any() or not torch.allclose(
            probs.sum(-1), torch.ones((), dtype=torch.float64), atol=1e-6
        ):
            raise ValueError("probs must be >= 0 and sum to 1 over the last axis")
        initial = _as_tensor("initial_probs", initial_probs, torch.float64)
        if (
            initial.shape != (self.n_states,)
            or not bool(torch.isfinite(initial).all())
            or bool((initial < 0).any())
            or not math.isclose(float(initial.sum()), 1.0, abs_tol=1e-6)
        ):
            raise ValueError(
                f"initial_probs must be a distribution over the {self.n_states} "
                f"states (shape ({self.n_states},), >= 0, summing to 1), got "
                f"{initial.tolist() if initial.numel() <= 8 else tuple(initial.shape)}"
            )
        next_float = _as_tensor("next_states", next_states, torch.float64)
        if not bool((next_float == next_float.round()).all()):
            raise ValueError("next_states must be integers (state indices)")
        next_states = next_float.to(torch.int64)
        if next_states.min() < 0 or next_states.max() >= self.n_states:
            raise ValueError(f"next_states must be in [0, {self.n_states})")
        rewards = _as_tensor("rewards", rewards, torch.float32)
        if not bool(torch.isfinite(rewards).all()):
            raise ValueError("rewards must be finite, got nan or inf")
        terminated = _as_tensor("terminated", terminated, torch.float64)
        if not bool(((terminated == 0) | (terminated == 1)).all()):
            raise ValueError("terminated must hold bools (or 0 and 1)")
        n_pairs = self.n_states * self.n_actions
        check_memory(
            f"TorchTabularEnv with {self.num_envs} envs",
            n_pairs * n_outcomes * 25 + self.num_envs * (96 + 5 * n_outcomes),
            self.device,
        )

        # Cumulative probabilities (float32, like the uniform numbers drawn),
        # set to +inf from the last real outcome of each (s, a) on: a uniform
        # number u in [0, 1) then always selects a real outcome, even when the
        # probabilities sum to 1 - 1e-8 after rounding, and padded outcomes
        # (probability 0, after the last real one) are never chosen.
        cumulative = probs.cumsum(-1).float()
        last_real = (probs > 0).to(torch.int64).cumsum(-1).argmax(-1, keepdim=True)
        cumulative[torch.arange(n_outcomes) >= last_real] = math.inf
        self.probs = probs.to(device)
        """float64 ``[n_states, n_actions, n_outcomes]``: ``p(outcome | s, a)``."""
        self.next_states = next_states.to(device)
        """int64 ``[n_states, n_actions, n_outcomes]``."""
        self.rewards = rewards.to(device)
        """float32 ``[n_states, n_actions, n_outcomes]``."""
        self.terminated = terminated.to(device=device, dtype=torch.bool)
        """bool ``[n_states, n_actions, n_outcomes]``."""
        self.initial_probs = initial.to(device)
        """float64 ``[n_states]``: the start-state distribution."""
        # Flattened tables: one gather per step instead of a 3-D index.
        self._cumulative = cumulative.reshape(-1, n_outcomes).to(device)
        self._flat_next = self.next_states.reshape(-1)
        self._flat_reward = self.rewards.reshape(-1)
        self._flat_terminated = self.terminated.reshape(-1)
        self._n_outcomes = n_outcomes
        self._deterministic = n_outcomes == 1
        self._initial_cdf = initial.cumsum(0)
        self._initial_cdf[-1] = math.inf
        self._initial_cdf = self._initial_cdf.to(device)
        single_start = torch.nonzero(initial == 1.0)
        self._single_start = int(single_start[0, 0]) if len(single_start) else None
        if self._single_start is not None:
            self._start_fill = torch.full(
                (self.num_envs,), self._single_start, device=device
            )
        self._draw_for_all = self.device.type != "cpu"
        self.generator = _make_generator(self.device, self.seed)
        self.single_observation_space = gym.spaces.Discrete(self.n_states)
        self.single_action_space = gym.spaces.Discrete(self.n_actions)
        self.state = torch.zeros(self.num_envs, dtype=torch.int64, device=device)
        """int64 ``[num_envs]``: each env's current state."""
        self.elapsed_steps = torch.zeros_like(self.state)
        """int64 ``[num_envs]``: steps taken in each env's current episode."""
        self._needs_reset = True

    def __repr__(self) -> str:
        return (
            f"TorchTabularEnv({self.name}, n_states={self.n_states}, "
            f"n_actions={self.n_actions}, num_envs={self.num_envs}, "
            f"device={str(self.device)!r}, seed={self.seed}, "
            f"max_episode_steps={self.max_episode_steps})"
        )

    # ---------------------------------------------------------- construction
    @classmethod
    def from_gymnasium(
        cls,
        env: gym.Env,
        num_envs: int,
        device: str | torch.device = "auto",
        seed: int = 0,
        max_episode_steps: int | None | str = "from_spec",
        check_actions: bool | None = None,
    ) -> TorchTabularEnv:
        """Batched copies of a Gymnasium env that has a transition table.

        Reads ``env.unwrapped.P`` (``P[s][a]`` is a list of ``(probability,
        next_state, reward, terminated)``) and the start distribution
        ``env.unwrapped.initial_state_distrib``. Works for FrozenLake (any map,
        slippery or not), CliffWalking and Taxi (also rainy).

        Args:
            env: a Gymnasium env with ``Discrete`` spaces and a table ``P``.
            num_envs: the number of independent copies, >= 1.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
            seed: seeds the env's ``torch.Generator``.
            max_episode_steps: the time limit; by default the registered one
                (``env.spec.max_episode_steps``: 200 for FrozenLake 8x8, 100
                for 4x4, None for CliffWalking), or an int, or None for none.
            check_actions: check the actions in every step (see the class).

        Raises ``TypeError`` for non-``Discrete`` spaces and ``ValueError``
        for an env without a transition table, or whose dynamics are not all
        in the table (Taxi's ``fickle_passenger``).
        """
        if not isinstance(env, gym.Env):
            raise TypeError(f"expected a Gymnasium env, got {type(env).__name__}")
        num_envs = check_int("num_envs", num_envs)
        unwrapped = env.unwrapped
        name = type(unwrapped).__name__
        for role, space in (
            ("observation", env.observation_space),
            ("action", env.action_space),
        ):
            if not isinstance(space, gym.spaces.Discrete) or int(space.start) != 0:
                raise TypeError(
                    f"TorchTabularEnv needs Discrete {role} space starting at 0, "
                    f"got {space} from {name}"
                )
        table = getattr(unwrapped, "P", None)
        if not isinstance(table, dict):
            raise ValueError(
                f"{name} has no transition table env.unwrapped.P: expected an env "
                "whose P[s][a] lists (probability, next_state, reward, "
                "terminated), such as FrozenLake, CliffWalking or Taxi"
            )
        if getattr(unwrapped, "fickle_passenger", False):
            raise ValueError(
                "Taxi with fickle_passenger=True changes the destination outside "
                "its table P, so the table does not describe it; use "
                "fickle_passenger=False"
            )
        n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
        initial = getattr(unwrapped, "initial_state_distrib", None)
        if initial is None or np.shape(initial) != (n_states,):
            raise ValueError(
                f"{name} has no start distribution env.unwrapped."
                f"initial_state_distrib of shape ({n_states},)"
            )
        try:
            n_outcomes = max(
                len(table[s][a]) for s in range(n_states) for a in range(n_actions)
            )
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"{name}.P must have an entry P[s][a] for every state and action: "
                f"{error!r}"
            ) from None
        shape = (n_states, n_actions, n_outcomes)
        probs = np.zeros(shape)
        next_states = np.zeros(shape, dtype=np.int64)
        rewards = np.zeros(shape)
        terminated = np.zeros(shape, dtype=bool)
        for s in range(n_states):
            for a in range(n_actions):
                for k, (prob, next_state, reward, ended) in enumerate(table[s][a]):
                    probs[s, a, k] = prob
                    next_states[s, a, k] = next_state
                    rewards[s, a, k] = reward
                    terminated[s, a, k] = ended
                # Padding: probability 0, stay in s (never sampled).
                next_states[s, a, len(table[s][a]) :] = s
        if isinstance(max_episode_steps, str) and max_episode_steps == "from_spec":
            max_episode_steps = env.spec.max_episode_steps if env.spec else None
        return cls(
            probs,
            next_states,
            rewards,
            terminated,
            np.asarray(initial, dtype=np.float64),
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_episode_steps=max_episode_steps,
            name=env.spec.id if env.spec else name,
            check_actions=check_actions,
        )

    # ------------------------------------------------------------ resetting
    def _start_states(self, n: int) -> torch.Tensor:
        """int64 ``[n]`` states drawn from ``initial_probs``."""
        if self._single_start is not None:  # FrozenLake, CliffWalking
            if n == self.num_envs:
                return self._start_fill
            return torch.full((n,), self._single_start, device=self.device)
        uniform = torch.rand(
            n, generator=self.generator, dtype=torch.float64, device=self.device
        )
        # The first state whose cumulative probability exceeds u.
        return torch.searchsorted(self._initial_cdf, uniform, right=True)

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Start a new episode in every env: ``(state int64 [num_envs], {})``."""
        if seed is not None:
            self.seed = check_seed(seed)
            self.generator.manual_seed(self.seed)
        self.state = self._start_states(self.num_envs)
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        self._needs_reset = False
        return self.state, {}

    def set_state(self, state: torch.Tensor | np.ndarray | int) -> torch.Tensor:
        """Put every env in a given state (an int or int ``[num_envs]``, each in
        ``[0, n_states)``); a new episode starts there (``elapsed_steps`` = 0).
        Returns the states."""
        values = np.asarray(state.cpu() if isinstance(state, torch.Tensor) else state)
        expected = f"an int or ints [num_envs] in [0, {self.n_states})"
        if values.dtype.kind not in "iu":
            raise TypeError(f"state must be {expected}, got {state!r}")
        if values.shape not in ((), (self.num_envs,)):
            raise ValueError(f"state must be {expected}, got shape {values.shape}")
        if values.min() < 0 or values.max() >= self.n_states:
            raise ValueError(f"state must be {expected}, got {state!r}")
        state = torch.as_tensor(values, dtype=torch.int64, device=self.device)
        self.state = state.expand(self.num_envs).clone()
        self.elapsed_steps = torch.zeros_like(self.state)
        self._needs_reset = False
        return self.state

    # ------------------------------------------------------------- stepping
    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Advance every env by one step; returns as :meth:`TorchCartPole.step`.

        ``obs`` and ``info["final_obs"]`` are int64 ``[num_envs]`` states.
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        # Out-of-range actions would silently index another state's row:
        # checked on the CPU (one aminmax); not on a GPU (a host sync per step).
        action = _as_actions(
            action, self.num_envs, self.device, self.n_actions, self.check_actions
        )
        state_action = self.state * self.n_actions + action
        if self._deterministic:  # one outcome per (s, a): nothing to draw
            outcome = state_action
        else:
            # float32 draws (half the cost of float64): probabilities are
            # resolved to 2^-24, far below any sampling error we could see.
            uniform = torch.rand(
                self.num_envs, 1, generator=self.generator, device=self.device
            )
            # categorical_sample: the first k with cumulative[k] > u.
            cumulative = self._cumulative.index_select(0, state_action)
            k = (cumulative <= uniform).sum(1)
            outcome = state_action * self._n_outcomes + k
        # index_select: a gather, much faster on CPUs than table[outcome].
        next_state = self._flat_next.index_select(0, outcome)
        reward = self._flat_reward.index_select(0, outcome)
        terminated = self._flat_terminated.index_select(0, outcome)
        episode_length = self.elapsed_steps + 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = episode_length >= self.max_episode_steps

        # Auto-reset (SAME_STEP): ended envs start their next episode now.
        done = terminated | truncated
        if self._single_start is not None or self._draw_for_all:
            state = torch.where(done, self._start_states(self.num_envs), next_state)
        else:
            state = next_state.clone()
            ended = done.nonzero().squeeze(1)
            if len(ended):
                state[ended] = self._start_states(len(ended))
        self.state = state
        self.elapsed_steps = torch.where(done, 0, episode_length)
        info = {
            "final_obs": next_state,
            "_final_obs": done,
            "episode_length": episode_length,
        }
        return state, reward, terminated, truncated, info

    def close(self) -> None:
        """Nothing to release (for Gymnasium compatibility)."""
