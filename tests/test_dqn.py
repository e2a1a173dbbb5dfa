"""Tests for qlearn_lite.dqn: TD targets, losses, target updates, training, saving."""

from __future__ import annotations

import dataclasses
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
import torch

from qlearn_lite import dqn
from qlearn_lite.dqn import (
    DQNConfig,
    QNetwork,
    dqn_loss,
    evaluate,
    hard_update,
    n_step_transitions,
    polyak_update,
    td_targets,
    train_dqn,
)
from qlearn_lite.replay import ReplayBatch

# ------------------------------------------------------------------ td_targets


def test_td_targets_terminal_and_truncated_by_hand():
    """Terminal rows keep only r; truncated (terminated=0) rows bootstrap the max."""
    rewards = torch.tensor([1.0, 1.0, 0.5])
    next_q = torch.tensor([[2.0, 3.0], [2.0, 3.0], [-1.0, -4.0]])
    terminated = torch.tensor([0.0, 1.0, 0.0])  # row 0 could be a truncation
    targets = td_targets(rewards, next_q, terminated, gamma=0.9)
    torch.testing.assert_close(targets, torch.tensor([1 + 0.9 * 3, 1.0, 0.5 - 0.9]))


def test_td_targets_gamma_zero_and_one():
    """gamma 0 gives r; gamma 1 gives r + max Q(s') for non-terminal rows."""
    rewards, next_q = torch.tensor([2.0]), torch.tensor([[5.0, 7.0]])
    zero = torch.tensor([0.0])
    assert td_targets(rewards, next_q, zero, gamma=0.0).item() == 2.0
    assert td_targets(rewards, next_q, zero, gamma=1.0).item() == 9.0


def test_double_dqn_target_by_hand():
    """Double DQN picks a' with the online net and values it with the target net."""
    rewards = torch.tensor([0.0, 1.0])
    next_q_target = torch.tensor([[10.0, 1.0], [0.0, 4.0]])
    next_q_online = torch.tensor([[0.0, 5.0], [3.0, 2.0]])  # argmax: 1, 0
    terminated = torch.zeros(2)
    double = td_targets(rewards, next_q_target, terminated, 0.5, next_q_online)
    plain = td_targets(rewards, next_q_target, terminated, 0.5)
    torch.testing.assert_close(double, torch.tensor([0.5 * 1.0, 1.0 + 0.5 * 0.0]))
    torch.testing.assert_close(plain, torch.tensor([0.5 * 10.0, 1.0 + 0.5 * 4.0]))


# ------------------------------------------------------------ n-step returns


def steps(*rewards: float) -> deque:
    """A window of (obs, action, reward) with obs = [i] and action = i % 2."""
    return deque((np.array([float(i)]), i % 2, r) for i, r in enumerate(rewards))


def test_n_step_full_window_by_hand():
    """A full window yields its oldest step with r0 + g r1 + g^2 r2, bootstrapping."""
    window = steps(1.0, 2.0, 4.0)
    ready = n_step_transitions(window, np.array([9.0]), False, False, 3, 0.5)
    assert len(ready) == 1 and len(window) == 2
    obs, action, n_step_return, next_obs, terminated, discount = ready[0]
    assert (obs[0], action, n_step_return, next_obs[0], terminated, discount) == (
        0.0,
        0,
        1 + 0.5 * 2 + 0.25 * 4,
        9.0,
        False,
        0.125,
    )


def test_n_step_waits_until_full():
    """With fewer than n steps and no episode end, nothing is ready yet."""
    window = steps(1.0, 1.0)
    assert n_step_transitions(window, np.array([0.0]), False, False, 3, 0.9) == []
    assert len(window) == 2


def test_n_step_terminal_flushes_with_partial_sums():
    """At a terminal state every waiting step is stored with terminated=True."""
    window = steps(1.0, 2.0, 4.0)
    ready = n_step_transitions(window, np.array([7.0]), True, False, 3, 0.5)
    assert [r[2] for r in ready] == [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0]
    assert [r[5] for r in ready] == [0.0, 0.0, 0.0]  # nothing to bootstrap
    assert all(r[4] for r in ready) and len(window) == 0


def test_n_step_truncation_bootstraps_every_waiting_step():
    """A time limit stores every waiting step, each bootstrapping with gamma^k."""
    window = steps(1.0, 2.0)
    ready = n_step_transitions(window, np.array([5.0]), False, True, 3, 0.5)
    assert [r[2] for r in ready] == [1 + 0.5 * 2, 2.0]
    assert [r[5] for r in ready] == [0.25, 0.5]
    assert [r[4] for r in ready] == [False, False]
    assert all(r[3][0] == 5.0 for r in ready) and len(window) == 0


def test_n_step_discounts_over_episodes_cut_mid_window_by_hand():
    """Discounts along a stream: gamma^3 while full, gamma^k at a time limit
    that cuts the window short, 0 at a terminal state (gamma = 0.5, n = 3)."""
    stream = [  # (reward, terminated, truncated) of three episodes
        *[(1.0, False, False)] * 3, (1.0, False, True),  # time limit at step 4
        (1.0, False, False), (1.0, False, True),  # time limit after 2 steps
        (1.0, False, False), (1.0, True, False),  # terminal after 2 steps
    ]  # fmt: skip
    window, stored = deque(), []
    for step, (reward, terminated, truncated) in enumerate(stream):
        window.append((np.array([float(step)]), 0, reward))
        for obs, _, n_step_return, next_obs, term, discount in n_step_transitions(
            window, np.array([step + 1.0]), terminated, truncated, 3, 0.5
        ):
            stored.append((obs[0], next_obs[0], n_step_return, term, discount))
    assert stored == [
        (0.0, 3.0, 1.75, False, 0.125),  # full window: gamma^3
        (1.0, 4.0, 1.75, False, 0.125),  # the time limit fills this window
        (2.0, 4.0, 1.5, False, 0.25),  # cut after 2 steps: gamma^2
        (3.0, 4.0, 1.0, False, 0.5),  # cut after 1 step: gamma
        (4.0, 6.0, 1.5, False, 0.25),  # an episode shorter than n
        (5.0, 6.0, 1.0, False, 0.5),
        (6.0, 8.0, 1.5, True, 0.0),  # terminal: no bootstrap, discount 0
        (7.0, 8.0, 1.0, True, 0.0),
    ]


def test_one_step_is_the_plain_transition():
    """n_step=1 stores (s, a, r, s', terminated) unchanged."""
    window = steps(3.0)
    ready = n_step_transitions(window, np.array([1.0]), True, False, 1, 0.99)
    assert ready[0][2] == 3.0 and ready[0][4] is True and ready[0][3][0] == 1.0
    assert ready[0][5] == 0.0  # terminated
    ready = n_step_transitions(steps(3.0), np.array([1.0]), False, False, 1, 0.99)
    assert ready[0][5] == 0.99


# -------------------------------------------------------------------- dqn_loss


def linear_net(weights: list[list[float]]) -> QNetwork:
    """A linear Q-network (no hidden layer, zero bias) with the given weights."""
    net = QNetwork(len(weights[0]), len(weights), hidden=())
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor(weights))
        net.layers[0].bias.zero_()
    return net


def hand_batch() -> ReplayBatch:
    return ReplayBatch(
        obs=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        actions=torch.tensor([0, 1]),
        rewards=torch.tensor([1.0, 0.0]),
        next_obs=torch.tensor([[0.0, 1.0], [1.0, 1.0]]),
        terminated=torch.tensor([0.0, 1.0]),
    )


def test_dqn_loss_mse_and_huber_by_hand():
    """Loss values match a hand computation with and without a target net."""
    online = linear_net([[1.0, 2.0], [3.0, 4.0]])  # Q(s) = W s
    target = linear_net([[0.0, 1.0], [1.0, 0.0]])
    batch = hand_batch()
    # Q(s0, a0) = 1, Q(s1, a1) = 4. Targets: 1 + 0.5 * max(1, 0) = 1.5 and 0.
    errors = torch.tensor([1.0 - 1.5, 4.0 - 0.0])
    mse = dqn_loss(online, target, batch, gamma=0.5, loss="mse")
    huber = dqn_loss(online, target, batch, gamma=0.5, loss="huber")
    torch.testing.assert_close(mse, (errors**2).mean())
    torch.testing.assert_close(huber, torch.tensor((0.5 * 0.25 + (4.0 - 0.5)) / 2))
    # No target net: bootstrap from the online net, max(Q(s0')) = max(2, 4) = 4.
    no_target = dqn_loss(online, None, batch, gamma=0.5, loss="mse")
    torch.testing.assert_close(no_target, torch.tensor(((1 - 3.0) ** 2 + 16) / 2))


def test_dqn_loss_double_by_hand():
    """double=True values the online argmax with the target net."""
    online = linear_net([[1.0, 2.0], [3.0, 4.0]])  # online argmax at s0' is 1
    target = linear_net([[0.0, 5.0], [1.0, 0.0]])  # target Q(s0') = (5, 0)
    batch = hand_batch()
    double = dqn_loss(online, target, batch, gamma=0.5, double=True, loss="mse")
    plain = dqn_loss(online, target, batch, gamma=0.5, double=False, loss="mse")
    torch.testing.assert_close(double, torch.tensor(((1 - 1.0) ** 2 + 16) / 2))
    torch.testing.assert_close(plain, torch.tensor(((1 - 3.5) ** 2 + 16) / 2))


def test_dqn_loss_gradient_flows_only_into_online_net():
    """backward() fills the online net's grads and leaves the target's empty."""
    online, target = QNetwork(2, 2, (8,)), QNetwork(2, 2, (8,))
    dqn_loss(online, target, hand_batch(), gamma=0.9).backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in online.parameters()
    )
    assert all(p.grad is None for p in target.parameters())


def test_prioritized_loss_weights_each_transition_and_returns_td_errors():
    """Weights of ones give dqn_loss; other weights scale each row's loss."""
    online = linear_net([[1.0, 2.0], [3.0, 4.0]])
    target = linear_net([[0.0, 1.0], [1.0, 0.0]])
    batch = hand_batch()
    errors = torch.tensor([1.5 - 1.0, 0.0 - 4.0])  # y - Q(s, a), as by hand above
    ones, td = dqn.prioritized_dqn_loss(
        online, target, batch, torch.ones(2), gamma=0.5, loss="mse"
    )
    torch.testing.assert_close(ones, dqn_loss(online, target, batch, 0.5, loss="mse"))
    torch.testing.assert_close(td, errors)
    assert not td.requires_grad
    weighted, _ = dqn.prioritized_dqn_loss(
        online, target, batch, torch.tensor([1.0, 0.25]), gamma=0.5, loss="mse"
    )
    torch.testing.assert_close(weighted, (errors[0] ** 2 + 0.25 * errors[1] ** 2) / 2)
    torch.testing.assert_close(dqn.td_errors(online, target, batch, 0.5), errors)
    with pytest.raises(ValueError, match=r"weights must be a float tensor \[batch\]"):
        dqn.prioritized_dqn_loss(online, target, batch, torch.ones(3), 0.5)


def test_dqn_loss_rejects_unknown_loss():
    """An unknown loss name is a ValueError listing the valid ones."""
    net = QNetwork(2, 2)
    with pytest.raises(ValueError, match="huber"):
        dqn_loss(net, net, hand_batch(), 0.9, loss="l1")


# ------------------------------------------------------------- target updates


def test_polyak_update_tau_zero_and_one():
    """tau 0 keeps the target bit for bit; tau 1 copies the online net exactly."""
    torch.manual_seed(0)
    online, target = QNetwork(4, 2), QNetwork(4, 2)
    before = [p.clone() for p in target.parameters()]
    polyak_update(target, online, tau=0.0)
    assert all(
        torch.equal(a, b) for a, b in zip(target.parameters(), before, strict=True)
    )
    polyak_update(target, online, tau=1.0)
    assert all(
        torch.equal(a, b)
        for a, b in zip(target.parameters(), online.parameters(), strict=True)
    )


def test_polyak_update_mixes():
    """tau 0.25 gives 0.25 * online + 0.75 * target."""
    online, target = linear_net([[4.0, 0.0]]), linear_net([[0.0, 8.0]])
    polyak_update(target, online, tau=0.25)
    torch.testing.assert_close(target.layers[0].weight, torch.tensor([[1.0, 6.0]]))


@pytest.mark.parametrize(
    ("tau", "error"),
    [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
     ("0.5", TypeError)],
)  # fmt: skip
def test_polyak_update_rejects_bad_tau(tau, error):
    """tau outside [0, 1] is a ValueError naming tau, a string a TypeError."""
    with pytest.raises(error, match="tau must be"):
        polyak_update(QNetwork(2, 2), QNetwork(2, 2), tau)


def test_polyak_update_on_tensor_lists_and_numpy_tau():
    """Lists of tensors work like networks, and a numpy float is a legal tau."""
    target, online = [torch.zeros(3), torch.zeros(2)], [torch.ones(3), torch.ones(2)]
    polyak_update(target, online, np.float32(0.25))
    torch.testing.assert_close(torch.cat(target), torch.full((5,), 0.25))


def test_new_q_network_is_seeded_and_leaves_global_rng():
    """The same seed gives the same weights, and torch's global stream is untouched."""
    from qlearn_lite.dqn import new_q_network

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = new_q_network(4, 2, (8,), seed=5)
    assert torch.rand(1).item() == expected_next.item()
    second = new_q_network(4, 2, (8,), seed=5)
    torch.manual_seed(5)
    reference = QNetwork(4, 2, (8,))
    for a, b, c in zip(
        first.parameters(), second.parameters(), reference.parameters(), strict=True
    ):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_hard_update_copies_and_detaches():
    """hard_update copies values; later online changes do not leak into it."""
    torch.manual_seed(1)
    online, target = QNetwork(3, 2), QNetwork(3, 2)
    hard_update(target, online)
    assert all(
        torch.equal(a, b)
        for a, b in zip(target.parameters(), online.parameters(), strict=True)
    )
    with torch.no_grad():
        next(online.parameters()).add_(1.0)
    assert not torch.equal(next(online.parameters()), next(target.parameters()))


def test_update_target_follows_the_config():
    """Soft: a tau step after every update; hard: a copy at multiples of
    target_update_every only, reported by the return value; none: untouched."""
    online = linear_net([[4.0, 0.0]])
    soft = DQNConfig(target_mode="soft", tau=0.25)
    target = linear_net([[0.0, 8.0]])
    assert dqn.update_target(soft, target, online, updates=7) is False
    torch.testing.assert_close(target.layers[0].weight, torch.tensor([[1.0, 6.0]]))

    hard = DQNConfig(target_mode="hard", target_update_every=3)
    target = linear_net([[0.0, 8.0]])
    copied = [dqn.update_target(hard, target, online, updates=n) for n in (1, 2)]
    assert copied == [False, False]
    torch.testing.assert_close(target.layers[0].weight, torch.tensor([[0.0, 8.0]]))
    assert dqn.update_target(hard, target, online, updates=3) is True
    torch.testing.assert_close(target.layers[0].weight, torch.tensor([[4.0, 0.0]]))

    none = DQNConfig(target_mode="none")
    target = linear_net([[0.0, 8.0]])
    assert dqn.update_target(none, target, online, updates=3) is False
    torch.testing.assert_close(target.layers[0].weight, torch.tensor([[0.0, 8.0]]))


# ---------------------------------------------------------- network and config


def test_qnetwork_shapes():
    """QNetwork maps [batch, obs_dim] to [batch, n_actions] with the given widths."""
    net = QNetwork(4, 3, hidden=(16, 8))
    assert net(torch.zeros(5, 4)).shape == (5, 3)
    widths = [m.out_features for m in net.layers if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 8, 3]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"obs_dim": 0}, ValueError),
        ({"n_actions": -1}, ValueError),
        ({"hidden": (64, 0)}, ValueError),
        ({"hidden": (1.5,)}, TypeError),
        ({"obs_dim": 4.0}, TypeError),
    ],
)
def test_qnetwork_bad_sizes(kwargs, error):
    """Non-positive sizes are a ValueError, non-int ones a TypeError."""
    args = {"obs_dim": 4, "n_actions": 2, "hidden": (8,)} | kwargs
    with pytest.raises(error):
        QNetwork(**args)


def test_config_is_frozen_and_documented_presets():
    """DQNConfig is frozen, replace() works and every preset is a DQNConfig."""
    config = DQNConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0
    assert config.replace(seed=3).seed == 3 and config.seed == 0
    for name in dqn.PRESETS:
        assert isinstance(DQNConfig.preset(name), DQNConfig)
    assert DQNConfig.preset("cartpole-zoo", seed=2).hidden == (256, 256)
    with pytest.raises(ValueError, match="unknown DQN preset"):
        DQNConfig.preset("atari")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, "batch_size must be an int >= 1"),
        ("buffer_size", -5, "buffer_size must be an int >= 1"),
        ("tau", 1.5, "tau must be in"),
        ("tau", -0.1, "tau must be in"),
        ("gamma", 1.1, "gamma must be in"),
        ("lr", 0.0, "lr must be > 0"),
        ("target_mode", "slow", "target_mode must be one of"),
        ("loss", "l1", "loss must be one of"),
        ("torch_threads", 0, "torch_threads must be an int >= 1"),
        ("n_step", 0, "n_step must be an int >= 1"),
    ],
)
def test_config_bad_values(field, value, message):
    """Bad hyperparameters are a ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        DQNConfig(**{field: value})


# ------------------------------------------------------------------- training


def test_non_discrete_action_space_is_rejected():
    """A continuous action space (Pendulum) is a TypeError naming Discrete."""
    with pytest.raises(TypeError, match="Discrete action space"):
        train_dqn("Pendulum-v1", DQNConfig(total_steps=10), progress=False)


def test_non_box_observation_is_rejected():
    """FrozenLake's Discrete states are a TypeError suggesting one-hot encoding."""
    with pytest.raises(TypeError, match="flat Box observation"):
        train_dqn("FrozenLake-v1", DQNConfig(total_steps=10), progress=False)


def test_unknown_env_id_is_rejected():
    """An unknown env id is the utils ValueError with a suggestion."""
    with pytest.raises(ValueError, match="CartPole-v1"):
        train_dqn("CartPole-v9", DQNConfig(total_steps=10), progress=False)


# A cheap schedule (few updates) so the module's tests stay fast; the defaults
# are exercised by the benchmark and notebook 05.
SHORT = DQNConfig(
    total_steps=6_000,
    learning_starts=500,
    train_freq=16,
    gradient_steps=4,
    batch_size=128,
    target_update_every=100,
    gamma=0.99,
    lr=2e-3,
    n_step=1,
    eps_decay_steps=3_000,
    eval_every=2_000,
    eval_episodes=5,
    eval_seed=123,
    restore_best=True,
)


@pytest.fixture(scope="module")
def short_run() -> dqn.DQNResult:
    torch.set_num_threads(1)
    return train_dqn("CartPole-v1", SHORT, progress=False)


def test_short_training_improves_returns(short_run):
    """6k steps on CartPole raise the greedy return well above a random policy's."""
    history = short_run.history
    random_policy_return = 22.0  # CartPole's random policy averages about 22
    assert history.env_steps == 6_000
    assert max(history.eval_returns) > 5 * random_policy_return
    first, last = (
        np.mean(history.episode_returns[:10]),
        np.mean(history.episode_returns[-5:]),
    )
    assert last > 2 * first
    bursts = 6_000 // SHORT.train_freq - 500 // SHORT.train_freq
    assert history.updates == bursts * SHORT.gradient_steps
    assert len(history.losses) == len(history.mean_q) == len(history.update_steps)
    assert history.eval_steps == [2_000, 4_000, 6_000]


def test_restore_best_returns_the_best_evaluated_network(short_run):
    """restore_best hands back the network whose evaluation scored highest."""
    returns = evaluate(short_run.q_net, "CartPole-v1", SHORT.eval_episodes, 123)
    assert returns.mean() == max(short_run.history.eval_returns)


def test_training_is_reproducible():
    """The same config and seed give bit-identical weights and returns."""
    config = SHORT.replace(
        total_steps=1_200, eval_every=0, restore_best=False, n_step=3
    )
    first = train_dqn("CartPole-v1", config, progress=False)
    second = train_dqn("CartPole-v1", config, progress=False)
    assert first.history.episode_returns == second.history.episode_returns
    for a, b in zip(first.q_net.parameters(), second.q_net.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("mode", ["none", "soft"])
def test_target_modes_run(mode):
    """The 'none' and 'soft' target modes train (with double DQN) to finite losses."""
    config = SHORT.replace(
        total_steps=800, eval_every=0, restore_best=False, target_mode=mode, double=True
    )
    result = train_dqn("CartPole-v1", config, progress=False)
    bursts = 800 // config.train_freq - 500 // config.train_freq
    assert result.history.updates == bursts * config.gradient_steps
    assert np.isfinite(result.history.losses).all()


def test_train_dqn_restores_torch_threads():
    """Training runs on config.torch_threads and restores the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = SHORT.replace(total_steps=600, eval_every=0, restore_best=False)
        train_dqn("CartPole-v1", config, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_stop_at_return_stops_early():
    """stop_at_return ends training at the first evaluation that reaches it."""
    config = SHORT.replace(total_steps=3_000, eval_every=1_000, stop_at_return=0.0)
    history = train_dqn("CartPole-v1", config, progress=False).history
    assert history.env_steps == 1_000 and history.eval_steps == [1_000]
    assert history.first_reach(0.0) == (1_000, history.eval_seconds[0])
    assert history.first_reach(1e9) is None


def test_evaluate_is_deterministic_for_a_seed(short_run):
    """evaluate() returns one return per episode, the same for the same seed."""
    first = evaluate(short_run.q_net, "CartPole-v1", episodes=3, seed=7)
    second = evaluate(short_run.q_net, lambda: gym.make("CartPole-v1"), 3, seed=7)
    assert first.shape == (3,) and np.array_equal(first, second)
    assert ((first >= 1) & (first <= 500)).all()


# ------------------------------------------------------------------ save/load


def test_save_load_round_trip_gives_identical_actions(short_run, tmp_path):
    """A loaded agent has the same config and picks the same greedy actions."""
    path = tmp_path / "agent.pt"
    dqn.save(path, short_run.q_net, short_run.config)
    raw = torch.load(path, weights_only=True)  # safe loading works on the file
    assert raw["format"] == dqn.CHECKPOINT_FORMAT
    q_net, config = dqn.load(path)
    assert config == short_run.config
    states = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(q_net(states).argmax(1), short_run.q_net(states).argmax(1))
    np.testing.assert_array_equal(
        evaluate(q_net, "CartPole-v1", 2, seed=1),
        evaluate(short_run.q_net, "CartPole-v1", 2, seed=1),
    )


class Payload:
    """Unpickling this would run code: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("arbitrary code ran",))


@pytest.mark.parametrize("kind", ["text", "pickle", "other_dict"])
def test_load_rejects_non_checkpoints(tmp_path, kind, capsys):
    """Text, a malicious pickle and a foreign torch file are a clear ValueError."""
    path = tmp_path / "file.pt"
    if kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "pickle":
        torch.save({"format": Payload()}, path)
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a qlearn_lite DQN checkpoint"):
        dqn.load(path)
    assert "arbitrary code ran" not in capsys.readouterr().out


# ------------------------------------------------------------- hostile input
class _ShiftedActions(gym.Wrapper):
    """CartPole whose actions are Discrete(2, start=1)."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.action_space = gym.spaces.Discrete(2, start=1)


def _checkpoint_without_config(path):
    net = QNetwork(4, 2)
    torch.save({"format": dqn.CHECKPOINT_FORMAT, "obs_dim": 4, "n_actions": 2,
                "hidden": [64, 64], "state_dict": net.state_dict()}, path)  # fmt: skip
    return dqn.load(path)


def _checkpoint_with_wrong_weights(path):
    dqn.save(path, QNetwork(4, 2), DQNConfig())
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["obs_dim"] = 3
    torch.save(checkpoint, path)
    return dqn.load(path)


TINY = QNetwork(4, 2, hidden=(8,))
ZERO_BATCH = ReplayBatch(
    torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), torch.zeros(2),
    torch.zeros(2, 4), torch.zeros(2),
)  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: DQNConfig(lr=float("inf")), ValueError, "lr must be > 0 and finite"),
        (lambda: DQNConfig(lr=float("nan")), ValueError, "lr must be > 0"),
        (lambda: DQNConfig(lr="1e-3"), TypeError, "lr must be a number"),
        (lambda: DQNConfig(max_grad_norm="10"), TypeError,
         "DQNConfig.max_grad_norm must be a number > 0"),
        (lambda: DQNConfig(max_grad_norm=float("inf")), ValueError, "max_grad_norm"),
        (lambda: DQNConfig(seed=2**64), ValueError, r"DQNConfig.seed .*2\*\*64"),
        (lambda: DQNConfig(seed=1.0), TypeError, "DQNConfig.seed"),
        (lambda: DQNConfig(eval_seed=-1), ValueError, "DQNConfig.eval_seed"),
        (lambda: DQNConfig(learning_starts=10), ValueError,
         r"learning_starts must be >= batch_size \+ n_step - 1 = 66"),
        (lambda: DQNConfig(learning_starts=64, batch_size=64, n_step=1), None, None),
        (lambda: DQNConfig(hidden="64"), TypeError, "DQNConfig.hidden"),
        (lambda: DQNConfig(hidden=(64, 0)), ValueError, "DQNConfig.hidden"),
        (lambda: DQNConfig(device="gpu"), ValueError, "DQNConfig.device"),
        (lambda: DQNConfig(device=0), TypeError, "DQNConfig.device"),
        (lambda: DQNConfig(double="yes"), TypeError, "DQNConfig.double"),
        (lambda: DQNConfig(stop_at_return=float("nan")), ValueError,
         "stop_at_return must be finite"),
        (lambda: DQNConfig(gamma="0.9"), TypeError, "DQNConfig.gamma"),
        (lambda: DQNConfig(eps_end=float("nan")), ValueError, "DQNConfig.eps_end"),
        (lambda: DQNConfig(target_mode=["hard"]), ValueError, "target_mode"),
        (lambda: DQNConfig(total_steps=1e5), TypeError, "total_steps"),
        (lambda: DQNConfig().replace(lrr=1e-3), TypeError, "did you mean 'lr'"),
        (lambda: DQNConfig.preset("classic", sed=1), TypeError, "no field 'sed'"),
        (lambda: QNetwork(4.0, 2), TypeError, "obs_dim must be an int"),
        (lambda: QNetwork(4, 2, hidden=64), TypeError, "hidden must be"),
        (lambda: TINY(torch.zeros(5, 3)), ValueError,
         r"obs must have shape \[batch, 4\] .* got \(5, 3\)"),
        (lambda: TINY(np.zeros((5, 4))), TypeError, "obs must be a float tensor"),
        (lambda: td_targets(torch.zeros(2), torch.zeros(2, 2), torch.zeros(2), 2.0),
         ValueError, "gamma"),
        (lambda: dqn_loss(TINY, None, tuple(ZERO_BATCH), 0.9), TypeError,
         "batch must be a ReplayBatch"),
        (lambda: dqn_loss(TINY, None, ZERO_BATCH, float("nan")), ValueError,
         "gamma"),
        (lambda: dqn_loss("net", None, ZERO_BATCH, 0.9), TypeError, "q_net"),
        (lambda: polyak_update(QNetwork(2, 2), QNetwork(3, 2), 0.5), ValueError,
         "same shape"),
        (lambda: hard_update(QNetwork(2, 2), QNetwork(1, 2)), ValueError,
         "same shape"),
        (lambda: hard_update(QNetwork(2, 2), "net"), TypeError, "online"),
        (lambda: dqn.first_reach([1], [1.0, 2.0], [1.0], 0.0), ValueError,
         "one entry per evaluation"),
        (lambda: dqn.first_reach([1], [1.0], [1.0], "high"), TypeError,
         "threshold"),
        (lambda: evaluate(QNetwork(3, 2), "CartPole-v1"), ValueError,
         "q_net has obs_dim=3, n_actions=2 but the env has obs_dim=4"),
        (lambda: evaluate(QNetwork(4, 3), gym.make("CartPole-v1")), ValueError,
         "n_actions=3"),
        (lambda: evaluate(TINY, "CartPole-v1", episodes=0), ValueError, "episodes"),
        (lambda: evaluate(TINY, "CartPole-v1", seed=-1), ValueError, "seed"),
        (lambda: evaluate(TINY, "CartPole-v1", max_steps=0), ValueError,
         "max_steps"),
        (lambda: evaluate("net", "CartPole-v1"), TypeError, "q_net"),
        (lambda: evaluate(TINY, gym.make("FrozenLake-v1")), TypeError,
         "flat Box observation"),
        (lambda: dqn.make_greedy_actor(None), TypeError, "q_net"),
        (lambda: evaluate(torch.nn.Linear(3, 2), "CartPole-v1"), ValueError,
         r"q_net can not act on this env's observations \(shape \(4,\)\)"),
        (lambda: dqn.save(42, TINY, DQNConfig()), TypeError, "path must be"),
        (lambda: dqn.load(None), TypeError, "path must be"),
        (lambda: train_dqn(_ShiftedActions, DQNConfig(total_steps=10)), TypeError,
         "Discrete action space starting at 0"),
        (lambda: train_dqn("CartPole-v1", {"lr": 1e-3}), TypeError,
         "config must be a DQNConfig"),
        (lambda: train_dqn("CartPole-v1", DQNConfig(total_steps=10), progress="no"),
         TypeError, "progress"),
        (lambda: dqn.save("x.pt", "net", DQNConfig()), TypeError, "QNetwork"),
    ],
)  # fmt: skip
def test_dqn_rejects_hostile_input(call, error, phrase):
    """Every public name raises its own error naming the bad argument."""
    if error is None:  # the boundary case that must be accepted
        call()
        return
    with pytest.raises(error, match=phrase):
        call()


@pytest.mark.parametrize(
    "damage", [_checkpoint_without_config, _checkpoint_with_wrong_weights]
)
def test_load_names_a_damaged_checkpoint(tmp_path, damage):
    """A checkpoint with the right tag but missing or wrong parts: ValueError."""
    with pytest.raises(ValueError, match="damaged qlearn_lite DQN checkpoint"):
        damage(tmp_path / "agent.pt")


def test_config_accepts_numpy_scalars_and_stores_python_values(tmp_path):
    """np.int64 / np.float32 fields work, and the config saves and loads."""
    config = DQNConfig(
        seed=np.int64(1), gamma=np.float32(0.5), batch_size=np.int64(32),
        hidden=[np.int64(8)], lr=np.float64(1e-3), double=np.bool_(True),
    )  # fmt: skip
    assert type(config.seed) is int and type(config.gamma) is float
    assert config.gamma == 0.5 and config.hidden == (8,) and config.double is True
    assert DQNConfig(device=torch.device("cpu")).device == "cpu"
    dqn.save(tmp_path / "agent.pt", QNetwork(4, 2, hidden=(8,)), config)
    assert dqn.load(tmp_path / "agent.pt")[1] == config
    online, target = QNetwork(1, 1, hidden=()), QNetwork(1, 1, hidden=())
    polyak_update(target, online, tau=np.float32(0.5))  # accepted


def test_evaluate_caps_an_env_without_time_limit():
    """Greedy episodes on an unwrapped MountainCar stop at max_steps (default 10k)."""
    net = QNetwork(2, 3, hidden=())
    with torch.no_grad():  # Q = 0 everywhere: always action 0, push left
        for parameter in net.parameters():
            parameter.zero_()
    env = gym.make("MountainCar-v0").unwrapped  # no TimeLimit left
    assert evaluate(net, env, episodes=1, max_steps=50).tolist() == [-50.0]
    assert evaluate(net, env, episodes=1).tolist() == [-10_000.0]
