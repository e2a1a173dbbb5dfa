"""Tests of qlearn_lite.plotting: grids, paths, curves and animations."""

from __future__ import annotations

import gymnasium as gym
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from qlearn_lite.plotting import (  # noqa: E402
    animate_episode,
    animate_frames,
    cell_types,
    greedy_path,
    grid_shape,
    moving_average,
    plot_greedy_paths,
    plot_learning_curves,
    plot_policy_comparison,
    plot_q_table,
    plot_values,
)
from qlearn_lite.tabular import greedy_policy, value_iteration  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Every test starts and ends without open figures."""
    yield
    plt.close("all")


def test_grid_shapes_and_cell_types():
    """FrozenLake 4x4 / 8x8 and CliffWalking 4x12 grids; Taxi is not a grid."""
    assert grid_shape(gym.make("FrozenLake-v1")) == (4, 4)
    assert grid_shape(gym.make("FrozenLake8x8-v1")) == (8, 8)
    assert grid_shape(gym.make("CliffWalking-v1")) == (4, 12)
    types = cell_types(gym.make("CliffWalking-v1"))
    assert types[3, 0] == "S" and types[3, 11] == "G" and set(types[3, 1:11]) == {"C"}
    assert "".join(cell_types(gym.make("FrozenLake-v1"))[1]) == "FHFH"
    with pytest.raises(ValueError, match="TaxiEnv"):
        grid_shape(gym.make("Taxi-v4"))


def test_moving_average_values():
    """Window 2 of [0, 2, 4, 6] is [1, 3, 5]; a too-large window is clipped."""
    assert moving_average([0, 2, 4, 6], 2).tolist() == [1.0, 3.0, 5.0]
    assert moving_average([1, 2, 3], 10).tolist() == [2.0]
    assert moving_average(np.ones((3, 5)), 2).shape == (3, 4)
    with pytest.raises(ValueError, match="window"):
        moving_average([1, 2], 0)


def test_cliff_walking_optimal_path_runs_along_the_cliff():
    """The optimal greedy path: up, 11 steps right along the cliff, down (13)."""
    env = gym.make("CliffWalking-v1")
    path = greedy_path(env, greedy_policy(value_iteration(env, 1.0)[1]))
    assert path[0] == 36 and path[-1] == 47 and len(path) == 14
    assert path[1:13] == list(range(24, 36))


def test_greedy_path_stops_on_a_loop():
    """A policy that bounces between two cells stops after revisiting one."""
    env = gym.make("CliffWalking-v1")
    policy = np.zeros(48, dtype=np.int64)  # always up: stuck in the top row
    path = greedy_path(env, policy)
    assert path == [36, 24, 12, 0, 0]


def test_value_and_q_table_plots_draw_arrows_for_non_terminal_cells():
    """4x4 map: 11 non-terminal cells get one arrow each; colourbar present."""
    env = gym.make("FrozenLake-v1")
    V, Q = value_iteration(env, 0.99)
    ax = plot_values(V, env, greedy_policy(Q))
    arrows = [
        child for child in ax.texts if getattr(child, "arrow_patch", None) is not None
    ]
    assert len(arrows) == 16 - 5  # 4 holes and the goal get none
    ax = plot_q_table(Q, env)
    assert len(ax.collections[0].get_array()) == 16 * 4
    assert ax.get_xlabel() == "column" and ax.get_title()
    with pytest.raises(ValueError, match="shape"):
        plot_values(V[:5], env)


def test_paths_comparison_and_learning_curves_are_labelled():
    """Legends name every path and curve; comparison counts differing cells."""
    env = gym.make("CliffWalking-v1")
    optimal = greedy_policy(value_iteration(env, 1.0)[1])
    safe = optimal.copy()
    safe[36] = 1  # right, into the cliff
    ax = plot_greedy_paths(env, {"optimal": optimal, "other": safe})
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0] == "optimal (13 steps)"
    fig = plot_policy_comparison(env, {"optimal": optimal, "other": safe})
    assert "(1 cell differs)" in fig.axes[1].get_title()
    ax = plot_learning_curves({"a": np.arange(50.0), "b": np.ones((3, 50))}, window=10)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a, moving avg of 10", "b (mean of 3 runs), moving avg of 10"]
    assert ax.get_xlabel() == "episode"


def test_animate_episode_returns_small_html():
    """An inline JS animation of an optimal non-slippery episode (7 frames)."""
    env = gym.make("FrozenLake-v1", is_slippery=False, render_mode="rgb_array")
    policy = greedy_policy(value_iteration(env, 0.9)[1])
    html = animate_episode(env, policy, seed=0).data
    assert "<script" in html and html.count("frames[6]") == 1
    assert "frames[7]" not in html and len(html) < 1_000_000
    with pytest.raises(ValueError, match="rgb_array"):
        animate_episode(gym.make("FrozenLake-v1"), policy)


def test_animation_displays_a_still_png_before_the_html(monkeypatch):
    """Displayed, an animation stores a PNG of its last frame, then the HTML."""
    import IPython.display

    env = gym.make("FrozenLake-v1", is_slippery=False, render_mode="rgb_array")
    policy = greedy_policy(value_iteration(env, 0.9)[1])
    movie = animate_episode(env, policy, seed=0)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    movie._ipython_display_()
    assert [type(obj).__name__ for obj in shown] == ["Image", "HTML"]
    assert shown[0].data == movie.png and movie.png.startswith(b"\x89PNG")
    assert shown[1].data == movie.html
    # The still is the last frame (the goal, after 6 steps) with its caption.
    last = animate_frames([env.render()], ["step 6, return 1 terminated"]).png
    env.reset(seed=0)
    start = animate_frames([env.render()], ["start"]).png
    assert movie.png == last and movie.png != start


def test_animate_frames_checks_captions():
    """Frames and captions must pair up; no frames is an error."""
    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    assert animate_frames([frame, frame]).png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="captions"):
        animate_frames([frame, frame], ["only one"])
    with pytest.raises(ValueError, match="at least one"):
        animate_frames([])
