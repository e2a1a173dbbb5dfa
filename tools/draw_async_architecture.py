"""Save the architecture of asynchronous Q-learning to images/async_architecture.png.

Two panels, the designs of notebook 07 (qlearn_lite.async_threads):
left, Mnih et al.'s (2016) async Q-learning -- worker threads sharing one Q,
one target and one step counter; right, independent agents sharing only a
replay buffer.

    python tools/draw_async_architecture.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKER, SHARED, TARGET, NOTE = "#dbe9f6", "#fde2c4", "#e3f1dc", "#555555"


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str):
    """A rounded box with centred text; returns its centre."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.04",
            facecolor=colour,
            edgecolor="#333333",
            linewidth=1.2,
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)
    return x + w / 2, y + h / 2


def arrow(ax: Axes, start, end, text: str = "", style: str = "-|>", **kwargs) -> None:
    """An arrow from ``start`` to ``end`` with an optional label at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            linewidth=1.1,
            color=kwargs.pop("color", "#333333"),
            connectionstyle=kwargs.pop("connectionstyle", "arc3"),
            **kwargs,
        )
    )
    if text:
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(
            *middle,
            text,
            fontsize=7.5,
            color=NOTE,
            ha="center",
            va="center",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )


def workers(ax: Axes, lines: list[str]) -> list[float]:
    """Three worker boxes along the bottom; returns their centres' x."""
    centres = []
    for k, epsilon in enumerate(["0.1", "0.01", "0.5"]):
        x = 0.03 + k * 0.33
        text = (
            f"worker thread {k}\nown env, own seed\n$\\epsilon_{{final}} = {epsilon}$"
        )
        box(
            ax,
            x,
            0.04,
            0.28,
            0.26,
            "\n".join([text, *(line.format(k=k) for line in lines)]),
            WORKER,
        )
        centres.append(x + 0.14)
    return centres


def links(ax: Axes, centres: list[float], up: str, down: str) -> None:
    """A write arrow up and a read arrow down between each worker and the block."""
    for k, x in enumerate(centres):
        arrow(
            ax,
            (x - 0.04, 0.30),
            (x - 0.04, 0.56),
            up if k == 0 else "",
            color="#b35806",
        )
        arrow(
            ax,
            (x + 0.04, 0.56),
            (x + 0.04, 0.30),
            down if k == 2 else "",
            color="#2166ac",
            linestyle="--",
        )


def async_panel(ax: Axes) -> None:
    """Mnih et al. (2016): shared Q, shared target, shared counter T."""
    ax.set_title("async Q-learning (Mnih et al. 2016): one shared Q", fontsize=10)
    box(ax, 0.02, 0.56, 0.96, 0.36, "", SHARED)
    ax.text(0.04, 0.885, "shared by all threads", fontsize=8, color=NOTE, va="top")
    box(ax, 0.05, 0.62, 0.22, 0.17, "global step\ncounter $T$", "white")
    box(ax, 0.35, 0.62, 0.26, 0.17, "Q  ($\\theta$)\ntable or network", "white")
    box(ax, 0.74, 0.62, 0.21, 0.17, "target $Q^-$\n($\\theta^-$)", TARGET)
    arrow(ax, (0.61, 0.705), (0.74, 0.705))
    ax.text(
        0.675,
        0.83,
        "copy every\ntarget_update_every\nsteps of $T$",
        fontsize=7,
        color=NOTE,
        ha="center",
    )
    links(ax, workers(ax, []), "write Q, T += 1\n(Hogwild: no lock)", "read Q, $Q^-$")
    ax.text(
        0.5,
        0.975,
        'sync="lock": every write under one lock, no lost updates',
        ha="center",
        fontsize=7.5,
        color=NOTE,
        style="italic",
    )


def independent_panel(ax: Axes) -> None:
    """Independent agents: own Q and target each, one locked replay buffer."""
    ax.set_title("independent agents: one shared replay buffer", fontsize=10)
    box(ax, 0.02, 0.56, 0.96, 0.36, "", SHARED)
    ax.text(0.04, 0.885, "shared by all threads", fontsize=8, color=NOTE, va="top")
    box(
        ax,
        0.22,
        0.62,
        0.56,
        0.17,
        "replay buffer, one lock\n(s, a, r, s', terminated)",
        "white",
    )
    links(
        ax,
        workers(ax, ["own $Q_{k}$ and $Q^-_{k}$"]),
        "add transition",
        "sample minibatch",
    )
    ax.text(
        0.5,
        0.975,
        "combined policy: greedy on the mean of the agents' Q",
        ha="center",
        fontsize=7.5,
        color=NOTE,
        style="italic",
    )


def draw() -> Figure:
    """The two-panel architecture figure."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for ax in (left, right):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
    async_panel(left)
    independent_panel(right)
    figure.tight_layout()
    return figure


def main() -> None:
    path = ROOT / "images" / "async_architecture.png"
    draw().savefig(path, dpi=100, metadata={"Software": None})
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
