"""Tests of qlearn_lite.widgets: the explorer retrains, and falls back to a PNG."""

from __future__ import annotations

import base64

import gymnasium as gym
import matplotlib
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

    def display(obj, display_id=None):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    shown_explorer = explorer("FrozenLake-v1", interactive=True, episodes=100)
    shown_explorer._ipython_display_()
    assert shown[0] is shown_explorer.box
    assert type(shown[1]).__name__ == "Image" and shown[1].data == shown_explorer.png
    shown_explorer.controls["alpha"].value = 0.5
    assert updates and updates[-1].data == shown_explorer.png != shown[1].data
