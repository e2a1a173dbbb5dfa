"""The map of the course: which notebook adds which idea, and a figure of it.

``CHAPTERS`` is the one list of the course's notebooks, written ones and planned
ones alike. Whether a chapter is planned is part of this data (``planned``), not
guessed from the files next to a running kernel, so the map reads the same
locally, on Binder and on Colab. A test checks that the flags agree with the
notebooks in the repository: whoever adds a notebook flips its flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Chapter:
    """One notebook of the course."""

    number: int
    title: str
    adds: str
    """The one idea this notebook adds to the ones before it."""
    module: str
    """Where its code lives in the package."""
    part: str
    """Tabular, deep or parallel: the three parts of the course."""
    notebook: str
    """Its file in ``notebooks/``, e.g. ``"02_tabular_q_learning.ipynb"``."""
    planned: bool = False
    """True while the notebook is not written yet (the map draws it dashed)."""


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        0,
        "Setup and tour",
        "Gymnasium's API; terminated vs truncated",
        "utils",
        "basics",
        "00_setup_and_tour.ipynb",
    ),
    Chapter(
        1,
        "MDPs and value iteration",
        "Bellman optimality; exact Q*",
        "tabular",
        "tabular",
        "01_mdp_and_value_iteration.ipynb",
    ),
    Chapter(
        2,
        "Tabular Q-learning",
        "learn Q* from samples",
        "tabular",
        "tabular",
        "02_tabular_q_learning.ipynb",
    ),
    Chapter(
        3,
        "Exploration and SARSA",
        "epsilon schedules; on- vs off-policy",
        "tabular",
        "tabular",
        "03_exploration_and_sarsa.ipynb",
    ),
    Chapter(
        4,
        "Experience replay",
        "reuse past transitions",
        "replay",
        "deep",
        "04_experience_replay.ipynb",
    ),
    Chapter(
        5,
        "Deep Q-networks",
        "a network in place of the table",
        "dqn",
        "deep",
        "05_deep_q_networks.ipynb",
    ),
    Chapter(
        6,
        "Target networks",
        "stable targets; double DQN",
        "dqn",
        "deep",
        "06_target_networks.ipynb",
    ),
    Chapter(
        7,
        "Async Q-learning with threads",
        "many actors, one shared Q",
        "async_threads",
        "parallel",
        "07_async_q_learning_threads.ipynb",
    ),
    Chapter(
        8,
        "Async Q-learning with processes",
        "escape the GIL",
        "parallel",
        "parallel",
        "08_async_q_learning_processes.ipynb",
    ),
    Chapter(
        9,
        "GPU-vectorised Q-learning",
        "thousands of envs as one tensor",
        "vectorized",
        "parallel",
        "09_gpu_vectorized_q_learning.ipynb",
    ),
    Chapter(
        10,
        "Distributed learners on Ray",
        "actors across machines",
        "distributed",
        "parallel",
        "10_distributed_q_learning_ray.ipynb",
    ),
    Chapter(
        11,
        "Scaling lab",
        "which executor for which task, measured",
        "scaling",
        "parallel",
        "11_scaling_lab.ipynb",
    ),
)

_PART_COLOURS = {
    "basics": "#d9d9d9",
    "tabular": "#a6cee3",
    "deep": "#b2df8a",
    "parallel": "#fdbf6f",
}


def planned_numbers() -> set[int]:
    """The numbers of the chapters not written yet, from :data:`CHAPTERS`."""
    return {chapter.number for chapter in CHAPTERS if chapter.planned}


def course_map(available: set[int] | None = None) -> Figure:
    """Draw the course as a path of boxes, one per notebook, coloured by part.

    ``available``: the notebook numbers to draw as written; the others are
    drawn dashed and marked "planned". ``None`` (the default) takes it from
    :data:`CHAPTERS`: every chapter whose ``planned`` flag is false.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Patch

    if available is None:
        available = {chapter.number for chapter in CHAPTERS if not chapter.planned}
    per_row = 4
    rows = (len(CHAPTERS) + per_row - 1) // per_row
    fig, ax = plt.subplots(figsize=(12, 2.3 * rows + 0.6), dpi=90)
    ax.set_xlim(0, per_row * 3)
    ax.set_ylim(-rows * 2.3, 0.6)
    ax.axis("off")
    centres = []
    for index, chapter in enumerate(CHAPTERS):
        row, col = divmod(index, per_row)
        if row % 2:  # snake, so that the path reads on without jumping back
            col = per_row - 1 - col
        x, y = col * 3 + 0.15, -row * 2.3 - 1.6
        planned = chapter.number not in available
        ax.add_patch(
            FancyBboxPatch(
                (x, y),
                2.7,
                1.6,
                boxstyle="round,pad=0.05",
                facecolor="white" if planned else _PART_COLOURS[chapter.part],
                edgecolor="grey" if planned else "black",
                linestyle="--" if planned else "-",
            )
        )
        status = " (planned)" if planned else ""
        ax.text(
            x + 1.35,
            y + 1.2,
            f"{chapter.number:02d} · {chapter.title}",
            ha="center",
            va="center",
            fontsize=9,
            weight="bold",
            wrap=True,
        )
        ax.text(x + 1.35, y + 0.7, chapter.adds, ha="center", va="center", fontsize=8)
        ax.text(
            x + 1.35,
            y + 0.3,
            f"qlearn_lite.{chapter.module}{status}",
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            color="dimgrey",
        )
        centres.append((x, y))
    for (x0, y0), (x1, y1) in pairwise(centres):
        if y0 == y1:  # same row: arrow from one side to the other
            start = (x0 + 2.75, y0 + 0.8) if x1 > x0 else (x0 - 0.05, y0 + 0.8)
            end = (x1 - 0.05, y1 + 0.8) if x1 > x0 else (x1 + 2.75, y1 + 0.8)
        else:  # next row: straight down
            start, end = (x0 + 1.35, y0 - 0.05), (x1 + 1.35, y1 + 1.65)
        ax.annotate(
            "", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "lw": 1.5}
        )
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="black", label=p)
            for p, c in _PART_COLOURS.items()
        ],
        loc="upper center",
        ncol=4,
        frameon=False,
        bbox_to_anchor=(0.5, 1.02),
    )
    fig.tight_layout()
    return fig
