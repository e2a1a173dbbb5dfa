"""Tests of qlearn_lite.widgets: the explorer retrains, and falls back to a PNG."""

from __future__ import annotations

import base64

import gymnasium as gym
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from qlearn_lite.widgets import (  # noqa: E402
    ExplorerSettings,
    explorer,
    train_and_score,
)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_static_explorer_shows_a_png_and_a_summary():
    """Headless (not interactive): a PNG and a text summary, no widget."""
    shown = explorer("FrozenLake-v1", interactive=False, episodes=300)
    bundle = shown._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert "300 episodes" in bundle["text/plain"]
    assert shown.score.optimum == pytest.approx(0.74016, abs=1e-5)


def test_interactive_explorer_offers_widget_and_png_and_retrains():
    """Moving a slider retrains; update() moves sliders; PNG fallback stays."""
    shown = explorer("FrozenLake-v1", interactive=True, episodes=200)
    bundle = shown._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "image/png" in bundle
    first_png = shown.png
    shown.controls["alpha"].value = 0.5
    assert shown.settings.alpha == 0.5 and shown.png != first_png
    shown.update(algorithm="SARSA", episodes=100)
    assert shown.controls["algorithm"].value == "SARSA"
    assert shown.score.result.returns.shape == (100,)


def test_explorer_settings_make_the_schedules():
    """constant, linear and exponential epsilon reach eps_end by half the run."""
    settings = ExplorerSettings(eps_start=1.0, eps_end=0.1, episodes=100)
    assert settings.epsilon()(50) == pytest.approx(0.1)
    exponential = ExplorerSettings(schedule="exponential", eps_end=0.0, episodes=100)
    assert exponential.epsilon()(50) == pytest.approx(0.01)
    assert ExplorerSettings(schedule="constant", eps_start=0.2).epsilon() == 0.2
    with pytest.raises(ValueError, match="schedule"):
        ExplorerSettings(schedule="cosine").epsilon()


def test_cliff_walking_and_taxi_scores():
    """CliffWalking (no time limit) is scored by simulation; Taxi draws a text."""
    settings = ExplorerSettings(
        alpha=0.5, gamma=1.0, schedule="constant", eps_start=0.1, episodes=200
    )
    score = train_and_score(gym.make("CliffWalking-v1"), settings)
    assert score.optimum == 1.0 and 0.0 <= score.success <= 1.0
    taxi = explorer("Taxi-v4", interactive=False, episodes=100)
    assert taxi.png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="algorithm"):
        train_and_score(gym.make("FrozenLake-v1"), ExplorerSettings(algorithm="TD"))


def test_displayed_explorer_stores_its_picture_as_a_png_output(monkeypatch):
    """In a notebook: sliders, then a PNG output that each retrain replaces."""
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def display(obj, display_id=None, raw=False):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    shown_explorer = explorer("FrozenLake-v1", interactive=True, episodes=100)
    shown_explorer._ipython_display_()
    assert WIDGET_VIEW in shown[0] and "image/png" not in shown[0]
    assert shown[0]["text/plain"].startswith("Q-learning: alpha 0.1")
    assert type(shown[1]).__name__ == "Image" and shown[1].data == shown_explorer.png
    shown_explorer.controls["alpha"].value = 0.5
    assert updates and updates[-1].data == shown_explorer.png != shown[1].data


# ------------------------------------------------------------- hostile input
@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda: ExplorerSettings(alpha=0), ValueError, r"alpha must be in \(0"),
        (lambda: ExplorerSettings(alpha="0.1"), TypeError, "alpha must be a number"),
        (lambda: ExplorerSettings(gamma=float("nan")), ValueError, "gamma"),
        (lambda: ExplorerSettings(eps_end=5), ValueError, "eps_end"),
        (lambda: ExplorerSettings(episodes=0), ValueError, "episodes"),
        (lambda: ExplorerSettings(episodes=1e3), TypeError, "episodes"),
        (lambda: ExplorerSettings(seed=-1), ValueError, "seed"),
        (lambda: ExplorerSettings(schedule="cosine"), ValueError, "schedule"),
        (lambda: ExplorerSettings(algorithm="TD"), ValueError, "algorithm"),
        (lambda: explorer("Nope-v0", interactive=False), ValueError,
         "unknown environment id"),
        (lambda: explorer(interactive="yes"), TypeError, "interactive"),
        (lambda: explorer(interactive=False, speed=1), TypeError,
         "'speed' is not a setting"),
        (lambda: explorer("CartPole-v1", interactive=False), TypeError,
         "Discrete observation space"),
        (lambda: train_and_score(gym.make("FrozenLake-v1"), {"alpha": 0.1}),
         TypeError, "ExplorerSettings"),
    ],
)  # fmt: skip
def test_widgets_reject_hostile_input(call, error, phrase):
    """Every public name raises its own error naming the bad argument."""
    with pytest.raises(error, match=phrase):
        call()


def test_update_beyond_a_slider_moves_the_slider_or_rejects():
    """update(seed=150) widens the 0-99 seed slider; a bad value trains nothing."""
    shown = explorer("FrozenLake-v1", interactive=True, episodes=100)
    shown.update(seed=150)
    assert shown.settings.seed == 150 and shown.controls["seed"].value == 150
    before = shown.settings
    with pytest.raises(ValueError, match="alpha"):
        shown.update(alpha=1.5)
    with pytest.raises(TypeError, match="'sed' is not a setting"):
        shown.update(sed=1)
    assert shown.settings == before


def test_explorer_settings_accept_numpy_scalars():
    """numpy scalars become the Python numbers the sliders show."""
    settings = ExplorerSettings(alpha=np.float32(0.5), episodes=np.int64(200))
    assert type(settings.alpha) is float and settings.alpha == 0.5
    assert type(settings.episodes) is int and settings.episodes == 200
