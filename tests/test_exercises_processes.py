"""Tests of qlearn_lite.exercises_processes: solutions pass, mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qlearn_lite.exercises_processes import (
    SOLUTIONS,
    check_apex_epsilon,
    check_send_in_chunks,
    show_solution,
)


def solution(name: str):
    """The reference solution, defined from the text show_solution prints."""
    namespace = {"np": np}
    exec(SOLUTIONS[name], namespace)
    return namespace[name]


def test_reference_solutions_pass(capsys):
    """Both printed solutions pass their checkers."""
    assert check_send_in_chunks(solution("send_in_chunks"))
    assert check_apex_epsilon(solution("apex_epsilon"))
    assert capsys.readouterr().out.count("passed") == 2


def stub(*args):
    raise NotImplementedError


def one_per_message(transitions, queue, chunk_size):
    for transition in transitions:
        queue.put(transition)


def drops_the_tail(transitions, queue, chunk_size):
    full = len(transitions) // chunk_size * chunk_size
    solution("send_in_chunks")(transitions[:full], queue, chunk_size)


def sends_tensors(transitions, queue, chunk_size):
    for start in range(0, len(transitions), chunk_size):
        chunk = transitions[start : start + chunk_size]
        obs, actions, rewards, next_obs, terminated = zip(*chunk, strict=True)
        queue.put(
            {
                "obs": torch.as_tensor(np.stack(obs)),
                "actions": torch.as_tensor(actions),
                "rewards": torch.as_tensor(rewards),
                "next_obs": torch.as_tensor(np.stack(next_obs)),
                "terminated": torch.as_tensor(terminated),
            }
        )


@pytest.mark.parametrize(
    ("function", "words"),
    [
        (stub, "not implemented yet"),
        (one_per_message, "one message per transition"),
        (drops_the_tail, "the last, shorter chunk was not sent"),
        (sends_tensors, "torch tensor"),
    ],
)
def test_chunk_mistakes_are_named(function, words, capsys):
    """Each common mistake fails with a message that names it."""
    assert not check_send_in_chunks(function)
    assert words in capsys.readouterr().out


def eps_over_n(i, n_actors, eps=0.4, alpha=7.0):
    return eps ** (1 + alpha * i / n_actors)


def eps_without_one(i, n_actors, eps=0.4, alpha=7.0):
    return eps if n_actors == 1 else eps ** (alpha * i / (n_actors - 1))


def eps_divides_by_zero(i, n_actors, eps=0.4, alpha=7.0):
    return eps ** (1 + alpha * i / (n_actors - 1))


@pytest.mark.parametrize(
    ("function", "words"),
    [
        (eps_over_n, "that is i / N"),
        (eps_without_one, "the exponent is 1 + alpha i / (N - 1)"),
        (eps_divides_by_zero, "ZeroDivisionError"),
    ],
)
def test_epsilon_mistakes_are_named(function, words, capsys):
    """Each common mistake of the Ape-X formula is named."""
    assert not check_apex_epsilon(function)
    assert words in capsys.readouterr().out


def test_show_solution(capsys):
    """show_solution prints the solution; an unknown name is a ValueError."""
    show_solution("apex_epsilon")
    assert "def apex_epsilon" in capsys.readouterr().out
    with pytest.raises(ValueError, match="exercise must be one of"):
        show_solution("nope")
