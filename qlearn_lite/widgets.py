"""An interactive explorer for tabular Q-learning and SARSA (notebook 03).

``explorer("FrozenLake-v1")`` shows sliders for alpha, gamma, epsilon, its
schedule and the number of episodes; every change retrains and redraws the
learning curve and the learned Q-table, with the greedy policy's success rate
next to the optimum from value iteration.

The picture is an ordinary PNG output, not part of the widget: in a notebook
the explorer displays the sliders (a widget) and, below them, the picture
(``image/png``), which every retrain replaces in place. So wherever nothing
can run the sliders (nbval, a static HTML export with ``jupyter nbconvert``,
GitHub's view, an untrusted notebook) the picture of the last setting is still
stored and shown. Outside IPython the object offers a PNG and a text summary.
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

from qlearn_lite.plotting import grid_shape, plot_learning_curves, plot_q_table
from qlearn_lite.tabular import (
    TabularResult,
    evaluate_policy,
    exponential_schedule,
    greedy_policy,
    linear_schedule,
    q_learning,
    sarsa,
    success_probability,
    value_iteration,
)
from qlearn_lite.utils import check_int, check_number, check_seed, check_unit, make_env

__all__ = ["Explorer", "ExplorerSettings", "explorer", "train_and_score"]

SCHEDULES = ("constant", "linear", "exponential")
ALGORITHMS = ("Q-learning", "SARSA")


@dataclass(frozen=True)
class ExplorerSettings:
    """One point of the explorer: what to train and how."""

    algorithm: str = "Q-learning"
    """``"Q-learning"`` or ``"SARSA"``."""
    alpha: float = 0.1
    """Learning rate in (0, 1]."""
    gamma: float = 0.99
    """Discount in [0, 1]."""
    eps_start: float = 1.0
    """Epsilon at the first episode (the only one for ``"constant"``)."""
    eps_end: float = 0.05
    """Epsilon reached after half of the episodes (linear) or approached
    (exponential: 1 % of the gap remains at half of the episodes)."""
    schedule: str = "linear"
    """``"constant"``, ``"linear"`` or ``"exponential"``."""
    episodes: int = 2000
    """Training episodes."""
    seed: int = 0
    """Seed of the run."""

    def __post_init__(self) -> None:
        # Checked here, so that a bad value fails when it is set, with its
        # name; numbers are stored as Python floats and ints (numpy scalars
        # are accepted) so that the sliders can show them.
        for name, options in (("algorithm", ALGORITHMS), ("schedule", SCHEDULES)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in options:
                raise ValueError(f"{name} must be one of {options}, got {value!r}")
        checked = {
            "alpha": check_number("alpha", self.alpha, 0.0, 1.0, low_open=True),
            "gamma": check_unit("gamma", self.gamma),
            "eps_start": check_unit("eps_start", self.eps_start),
            "eps_end": check_unit("eps_end", self.eps_end),
            "episodes": check_int("episodes", self.episodes),
            "seed": check_seed(self.seed),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def epsilon(self):
        """The epsilon argument for the learner: a number or a schedule."""
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        half = max(self.episodes // 2, 1)
        if self.schedule == "constant":
            return self.eps_start
        if self.schedule == "linear":
            return linear_schedule(self.eps_start, self.eps_end, half)
        return exponential_schedule(self.eps_start, self.eps_end, 0.01 ** (1 / half))


@dataclass
class Score:
    """How good a trained table is, next to the best possible."""

    result: TabularResult
    """The training run."""
    success: float
    """Success rate of the greedy policy (exact if the env has a table and a
    time limit, else from 1000 simulated episodes)."""
    optimum: float
    """The same for the optimal policy of value iteration with the same gamma."""
    mean_return: float
    """Mean return of the greedy policy over 200 simulated episodes."""


def _success(env: gym.Env, policy: np.ndarray, seed: int) -> float:
    if env.spec is not None and env.spec.max_episode_steps is not None:
        return success_probability(env, policy)
    return evaluate_policy(env, policy, 200, seed=seed, max_steps=500)[1]


def train_and_score(env: gym.Env, settings: ExplorerSettings) -> Score:
    """Train with ``settings`` (no progress bar) and score the greedy policy."""
    if not isinstance(settings, ExplorerSettings):
        raise TypeError(
            f"settings must be an ExplorerSettings, got {type(settings).__name__}"
        )
    learner = {"Q-learning": q_learning, "SARSA": sarsa}.get(settings.algorithm)
    if learner is None:
        raise ValueError(
            f"algorithm must be 'Q-learning' or 'SARSA', got {settings.algorithm!r}"
        )
    result = learner(
        env,
        settings.episodes,
        settings.alpha,
        settings.gamma,
        settings.epsilon(),
        seed=settings.seed,
        progress=False,
    )
    policy = greedy_policy(result.q)
    _, q_star = value_iteration(env, settings.gamma)
    mean_return, _ = evaluate_policy(
        env, policy, 200, seed=settings.seed, max_steps=500
    )
    return Score(
        result=result,
        success=_success(env, policy, settings.seed),
        optimum=_success(env, greedy_policy(q_star), settings.seed),
        mean_return=mean_return,
    )


def draw(env: gym.Env, settings: ExplorerSettings, score: Score) -> plt.Figure:
    """Learning curve (left) and learned Q-table (right) of one setting."""
    fig, axes = plt.subplots(
        1, 2, figsize=(10, 3.6), dpi=80, gridspec_kw={"width_ratios": [1.3, 1]}
    )
    window = max(10, settings.episodes // 20)
    plot_learning_curves(
        {settings.algorithm: score.result.returns},
        window=window,
        ax=axes[0],
        show_raw=False,
        title=f"{settings.algorithm} on {env.spec.id if env.spec else env}",
    )
    twin = axes[0].twinx()
    twin.plot(
        np.arange(1, settings.episodes + 1),
        score.result.epsilons,
        color="grey",
        ls=":",
        label="epsilon",
    )
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("epsilon (dotted)")
    try:
        grid_shape(env)
        plot_q_table(
            score.result.q,
            env,
            ax=axes[1],
            title=f"greedy success {score.success:.3f} (optimum {score.optimum:.3f})",
        )
    except ValueError:  # not a grid world (Taxi): a text summary instead
        axes[1].axis("off")
        axes[1].text(0.05, 0.5, _summary(settings, score), fontsize=10, va="center")
    fig.tight_layout()
    return fig


def _summary(settings: ExplorerSettings, score: Score) -> str:
    return (
        f"{settings.algorithm}: alpha {settings.alpha:g}, gamma {settings.gamma:g}, "
        f"epsilon {settings.schedule} {settings.eps_start:g} -> {settings.eps_end:g}, "
        f"{settings.episodes} episodes ({score.result.steps} steps)\n"
        f"greedy policy: success {score.success:.3f} (optimum {score.optimum:.3f}), "
        f"mean return {score.mean_return:.2f}"
    )


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


class Explorer:
    """Sliders that retrain and redraw; displays as a picture where they can't run.

    ``explorer.settings`` is the current :class:`ExplorerSettings`,
    ``explorer.score`` the current :class:`Score`, ``explorer.png`` the
    current picture. ``explorer.update(alpha=0.5)`` changes settings from code
    (and moves the sliders).
    """

    def __init__(self, env: gym.Env, settings: ExplorerSettings, interactive: bool):
        self.env = env
        self.settings = settings
        self.score = train_and_score(env, settings)
        self.png = _png(draw(env, settings, self.score))
        self.controls: dict[str, Any] = {}
        self._picture: Any = None  # the display handle of the PNG, once shown
        self.box = self._build_widgets() if interactive else None

    # ----------------------------------------------------------- widgets
    def _build_widgets(self):
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            return None
        style = {"description_width": "90px"}
        layout = widgets.Layout(width="320px")

        def slider(kind, name, low, high, step, **kwargs):
            return kind(
                value=getattr(self.settings, name),
                min=low,
                max=high,
                step=step,
                description=name,
                continuous_update=False,
                style=style,
                layout=layout,
                **kwargs,
            )

        s = self.settings
        self.controls = {
            "algorithm": widgets.ToggleButtons(
                options=["Q-learning", "SARSA"], value=s.algorithm, style=style
            ),
            "alpha": slider(widgets.FloatSlider, "alpha", 0.01, 1.0, 0.01),
            "gamma": slider(widgets.FloatSlider, "gamma", 0.0, 1.0, 0.01),
            "schedule": widgets.Dropdown(
                options=SCHEDULES,
                value=s.schedule,
                description="schedule",
                style=style,
                layout=layout,
            ),
            "eps_start": slider(widgets.FloatSlider, "eps_start", 0.0, 1.0, 0.01),
            "eps_end": slider(widgets.FloatSlider, "eps_end", 0.0, 1.0, 0.01),
            "episodes": slider(widgets.IntSlider, "episodes", 100, 20_000, 100),
            "seed": slider(widgets.IntSlider, "seed", 0, 99, 1),
        }
        self._status = widgets.HTML(self._status_text())
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        left = widgets.VBox(list(self.controls.values()))
        # The picture is not a widget: it is a PNG output of its own (see
        # _ipython_display_), which static viewers keep.
        return widgets.HBox([left, self._status])

    def _status_text(self, busy: bool = False) -> str:
        if busy:
            return "<i>training ...</i>"
        return (
            "<pre style='font-size:11px'>"
            + _summary(self.settings, self.score)
            + "</pre>"
        )

    def _on_change(self, _change: dict) -> None:
        values = {name: control.value for name, control in self.controls.items()}
        self._retrain(replace(self.settings, **values))

    def _retrain(self, settings: ExplorerSettings) -> None:
        if self.box is not None:
            self._status.value = self._status_text(busy=True)
        self.settings = settings
        self.score = train_and_score(self.env, settings)
        self.png = _png(draw(self.env, settings, self.score))
        if self.box is not None:
            self._status.value = self._status_text()
        if self._picture is not None:
            from IPython.display import Image

            self._picture.update(Image(data=self.png, format="png"))

    def update(self, **changes: Any) -> Explorer:
        """Change settings from code: ``update(alpha=0.5, schedule="constant")``.

        The sliders move to the new values; a value beyond a slider's range
        (``seed=150`` on the 0-99 seed slider) widens the range to include it,
        so that the slider always shows what was trained.
        """
        settings = replace(self.settings, **_check_setting_names(changes))
        if self.controls:
            for control in self.controls.values():  # no retrain per slider
                control.unobserve(self._on_change, names="value")
            try:
                for name, value in asdict(settings).items():
                    control = self.controls[name]
                    if hasattr(control, "max"):  # a slider: widen to fit
                        control.max = max(control.max, value)
                        control.min = min(control.min, value)
                    control.value = value
            finally:
                for control in self.controls.values():
                    control.observe(self._on_change, names="value")
        self._retrain(settings)
        return self

    # ----------------------------------------------------------- display
    def _ipython_display_(self) -> None:
        """In IPython: the sliders, then the picture as a PNG output of its own.

        The sliders' output carries the text summary as its ``text/plain``,
        which is what a viewer without widgets shows in their place.
        """
        from IPython.display import Image, display

        controls = self._repr_mimebundle_()
        del controls["image/png"]
        display(controls, raw=True)
        self._picture = display(Image(data=self.png, format="png"), display_id=True)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The widget for front ends that run widgets, the PNG for all others."""
        bundle = {
            "image/png": base64.b64encode(self.png).decode("ascii"),
            "text/plain": _summary(self.settings, self.score),
        }
        if self.box is not None:
            widget_bundle = self.box._repr_mimebundle_()
            if isinstance(widget_bundle, tuple):
                widget_bundle = widget_bundle[0]
            view = "application/vnd.jupyter.widget-view+json"
            if widget_bundle and view in widget_bundle:
                bundle[view] = widget_bundle[view]
        return bundle


def explorer(
    env_id: str = "FrozenLake-v1",
    interactive: bool | None = None,
    **settings: Any,
) -> Explorer:
    """An explorer of alpha, gamma, epsilon and its schedule, and episodes.

    Args:
        env_id: a Gymnasium id with ``Discrete`` spaces and a transition table
            (FrozenLake-v1, FrozenLake8x8-v1, CliffWalking-v1, Taxi-v4).
        interactive: ``None`` shows sliders when running in an IPython kernel;
            ``False`` gives only the static picture.
        **settings: starting values, fields of :class:`ExplorerSettings`.

    Make it the last expression of a cell to display it.
    """
    env = make_env(env_id)  # a clear error for an unknown id
    if interactive is None:
        interactive = _in_kernel()
    if not isinstance(interactive, bool):
        raise TypeError(f"interactive must be True, False or None, got {interactive!r}")
    settings = ExplorerSettings(**_check_setting_names(settings))
    return Explorer(env, settings, interactive=interactive)


def _check_setting_names(settings: dict[str, Any]) -> dict[str, Any]:
    known = [item.name for item in fields(ExplorerSettings)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TypeError(
            f"{unknown[0]!r} is not a setting of the explorer; expected some of {known}"
        )
    return settings


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
