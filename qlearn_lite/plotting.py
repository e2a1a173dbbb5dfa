"""Figures for the tabular notebooks: learning curves, Q-tables, policies, episodes.

Grid pictures work for the grid worlds of the course, FrozenLake (any map) and
CliffWalking; Taxi's 500 states are not cells of one grid. Every function draws
into ``ax`` when given one (so figures can be composed) and returns the axes;
call ``plt.show()`` after it, as usual.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from qlearn_lite.tabular import discrete_sizes, greedy_policy, transition_table

__all__ = [
    "Animation",
    "animate_episode",
    "animate_frames",
    "cell_types",
    "greedy_path",
    "grid_shape",
    "moving_average",
    "plot_greedy_paths",
    "plot_learning_curves",
    "plot_policy_comparison",
    "plot_q_table",
    "plot_values",
]

# (row change, column change) of each action, per environment family.
_FROZENLAKE_MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))  # left, down, right, up
_CLIFF_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
_CELL_COLOURS = {
    "F": "#dbe9f6",  # frozen
    "S": "#dbe9f6",  # start
    "H": "#1f2d3d",  # hole
    "C": "#5a3e36",  # cliff
    "G": "#f4c542",  # goal
    ".": "#f2f2f2",
}
_PATH_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")


# ------------------------------------------------------------------- grids
def grid_shape(env: gym.Env) -> tuple[int, int]:
    """``(rows, cols)`` of a FrozenLake or CliffWalking grid; ValueError else."""
    unwrapped = env.unwrapped
    if _is_frozenlake(env):  # desc is the map as bytes
        rows, cols = np.asarray(unwrapped.desc).shape
        return int(rows), int(cols)
    if type(unwrapped).__name__ == "CliffWalkingEnv":
        return tuple(int(n) for n in unwrapped.shape)
    raise ValueError(
        f"grid pictures need FrozenLake or CliffWalking, got "
        f"{type(unwrapped).__name__} (its states are not cells of one grid)"
    )


def cell_types(env: gym.Env) -> np.ndarray:
    """str [rows, cols]: 'S' start, 'F' frozen/free, 'H' hole, 'C' cliff, 'G' goal."""
    if _is_frozenlake(env):
        return np.asarray(env.unwrapped.desc).astype(str)
    rows, cols = grid_shape(env)
    types = np.full((rows, cols), ".", dtype="<U1")
    types[rows - 1, 1 : cols - 1] = "C"
    types[rows - 1, 0], types[rows - 1, cols - 1] = "S", "G"
    return types


def _is_frozenlake(env: gym.Env) -> bool:
    return type(env.unwrapped).__name__ == "FrozenLakeEnv"


def _moves(env: gym.Env) -> tuple[tuple[int, int], ...]:
    return _FROZENLAKE_MOVES if _is_frozenlake(env) else _CLIFF_MOVES


def _draw_grid(env: gym.Env, ax: Axes, shade: bool = True) -> np.ndarray:
    """Cell backgrounds with their letters; returns the cell types."""
    types = cell_types(env)
    rows, cols = types.shape
    if shade:
        for (row, col), kind in np.ndenumerate(types):
            ax.add_patch(
                Rectangle((col - 0.5, row - 0.5), 1, 1, color=_CELL_COLOURS[kind])
            )
    for (row, col), kind in np.ndenumerate(types):
        if kind in "SGHC":
            ax.text(
                col - 0.38,
                row - 0.28,
                kind,
                fontsize=8,
                color="white" if kind in "HC" or not shade else "black",
                fontweight="bold",
            )
    _grid_axes(ax, rows, cols)
    return types


def _grid_axes(ax: Axes, rows: int, cols: int) -> None:
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks(np.arange(cols))
    ax.set_yticks(np.arange(rows))
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="both", length=0, labelsize=7)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_aspect("equal")


def _draw_arrows(env, ax, policy, skip, colour="black") -> None:
    rows, cols = grid_shape(env)
    moves = np.array(_moves(env), dtype=float)
    policy = np.asarray(policy)
    for state in range(rows * cols):
        row, col = divmod(state, cols)
        if skip[row, col]:
            continue
        drow, dcol = moves[policy[state]] * 0.3
        ax.annotate(
            "",
            xy=(col + dcol, row + drow),
            xytext=(col - dcol, row - drow),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.4},
        )


def _terminal_cells(env: gym.Env) -> np.ndarray:
    return np.isin(cell_types(env), ["H", "G"])


# -------------------------------------------------------------- the tables
def plot_values(
    V: np.ndarray,
    env: gym.Env,
    policy: np.ndarray | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    annotate: bool = True,
) -> Axes:
    """State values ``V`` [n_states] as a heatmap on the grid, policy as arrows.

    Holes and the goal get no arrow (nothing to do there); 'S', 'H', 'G' and
    'C' mark the start, holes, goal and cliff.
    """
    rows, cols = grid_shape(env)
    V = np.asarray(V, dtype=float)
    if V.shape != (rows * cols,):
        raise ValueError(f"V must have shape ({rows * cols},), got {V.shape}")
    if ax is None:
        size = min(2.5 + 0.5 * cols, 7.0)
        ax = plt.subplots(figsize=(size + 0.6, size), dpi=90)[1]
    image = ax.imshow(V.reshape(rows, cols), cmap="viridis")
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="value V(s)")
    _draw_grid(env, ax, shade=False)
    if annotate and rows * cols <= 64:
        spread = V.max() - V.min() or 1.0
        for state, value in enumerate(V):
            row, col = divmod(state, cols)
            light = (value - V.min()) / spread > 0.6
            ax.text(
                col + 0.45,
                row + 0.42,
                f"{value:.2f}",
                ha="right",
                va="bottom",
                fontsize=7 if cols <= 4 else 5,
                color="black" if light else "white",
            )
    if policy is not None:
        _draw_arrows(env, ax, policy, skip=_terminal_cells(env), colour="white")
    ax.set_title(title or "state values and greedy policy")
    return ax


def plot_q_table(
    Q: np.ndarray, env: gym.Env, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """All of ``Q`` [n_states, 4] on the grid: one triangle per action, coloured
    by its value, pointing in the action's direction; arrows mark the greedy
    action of every cell that is not a hole or the goal.
    """
    rows, cols = grid_shape(env)
    n_states, n_actions = discrete_sizes(env)
    Q = np.asarray(Q, dtype=float)
    if Q.shape != (n_states, n_actions):
        raise ValueError(f"Q must have shape ({n_states}, {n_actions}), got {Q.shape}")
    if ax is None:
        size = min(2.5 + 0.5 * cols, 7.0)
        ax = plt.subplots(figsize=(size + 0.6, size), dpi=90)[1]
    moves = _moves(env)
    triangles, values = [], []
    for state in range(n_states):
        row, col = divmod(state, cols)
        for action, (drow, dcol) in enumerate(moves):
            # The triangle from the cell centre to the side the action points to.
            if drow == 0:
                side = [(col + dcol / 2, row - 0.5), (col + dcol / 2, row + 0.5)]
            else:
                side = [(col - 0.5, row + drow / 2), (col + 0.5, row + drow / 2)]
            triangles.append([(col, row), *side])
            values.append(Q[state, action])
    collection = PolyCollection(
        triangles, array=np.array(values), cmap="viridis", edgecolors="white", lw=0.3
    )
    ax.add_collection(collection)
    plt.colorbar(collection, ax=ax, fraction=0.046, pad=0.04, label="Q(s, a)")
    _draw_grid(env, ax, shade=False)
    terminal = _terminal_cells(env)
    _draw_arrows(env, ax, greedy_policy(Q), skip=terminal, colour="white")
    ax.set_title(title or "Q-table: one triangle per action, arrow = greedy")
    return ax


# ---------------------------------------------------------------- policies
def greedy_path(env: gym.Env, policy: np.ndarray, max_steps: int = 200) -> list[int]:
    """States visited by ``policy`` from the start when each step goes to its
    most likely next state (the actual path in a deterministic env).

    Stops at a terminal transition, after ``max_steps``, or on a loop.
    """
    table = transition_table(env)
    start = int(np.argmax(_start_states(env)))
    path, seen = [start], {start}
    state = start
    for _ in range(max_steps):
        mask = (table.state == state) & (table.action == int(policy[state]))
        best = np.flatnonzero(mask)[np.argmax(table.prob[mask])]
        state = int(table.next_state[best])
        path.append(state)
        if table.terminated[best] or state in seen:
            break
        seen.add(state)
    return path


def _start_states(env: gym.Env) -> np.ndarray:
    unwrapped = env.unwrapped
    initial = getattr(unwrapped, "initial_state_distrib", None)
    if initial is not None:
        return np.asarray(initial)
    distribution = np.zeros(env.observation_space.n)
    distribution[int(unwrapped.start_state)] = 1.0
    return distribution


def plot_greedy_paths(
    env: gym.Env,
    policies: Mapping[str, np.ndarray],
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The path each policy takes from the start, drawn on one grid.

    ``policies`` maps a label to an int array [n_states] (e.g.
    ``greedy_policy(result.q)``). Paths are offset a little so they do not
    hide each other. In a slippery env each step follows the most likely
    outcome, which is only the *intended* path.
    """
    rows, cols = grid_shape(env)
    ax = (
        ax
        if ax is not None
        else plt.subplots(figsize=(cols * 0.6 + 1, rows * 0.6 + 0.8), dpi=90)[1]
    )
    _draw_grid(env, ax)
    offsets = np.linspace(-0.12, 0.12, max(len(policies), 1))
    for index, (label, policy) in enumerate(policies.items()):
        path = greedy_path(env, np.asarray(policy))
        cells = np.array([divmod(state, cols) for state in path], dtype=float)
        colour = _PATH_COLOURS[index % len(_PATH_COLOURS)]
        ax.plot(
            cells[:, 1] + offsets[index],
            cells[:, 0] + offsets[index],
            "-o",
            color=colour,
            lw=2.2,
            ms=3,
            label=f"{label} ({len(path) - 1} steps)",
        )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    ax.set_title(title or "greedy paths from the start")
    return ax


def plot_policy_comparison(
    env: gym.Env,
    policies: Mapping[str, np.ndarray],
    values: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Policies side by side on the grid; cells where a policy differs from
    the first one are outlined in red. ``values`` (same keys, V [n_states]),
    if given, shade the cells. Returns the figure.
    """
    rows, cols = grid_shape(env)
    names = list(policies)
    reference = np.asarray(policies[names[0]])
    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(3.4 * len(names) * max(1, cols / rows / 1.5), 3.6),
        dpi=90,
        squeeze=False,
    )
    terminal = _terminal_cells(env)
    for ax, name in zip(axes[0], names, strict=True):
        policy = np.asarray(policies[name])
        if values is not None and name in values:
            ax.imshow(np.asarray(values[name]).reshape(rows, cols), cmap="viridis")
            _draw_grid(env, ax, shade=False)
            colour = "white"
        else:
            _draw_grid(env, ax)
            colour = "black"
        _draw_arrows(env, ax, policy, skip=terminal, colour=colour)
        differs = (policy != reference).reshape(rows, cols) & ~terminal
        for row, col in zip(*np.nonzero(differs), strict=True):
            ax.add_patch(
                Rectangle(
                    (col - 0.47, row - 0.47),
                    0.94,
                    0.94,
                    fill=False,
                    edgecolor="red",
                    lw=2,
                )
            )
        count = int(differs.sum())
        note = f" ({count} {'cell differs' if count == 1 else 'cells differ'})"
        note = "" if name == names[0] else note
        ax.set_title(f"{name}{note}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------- learning curves
def moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values: length n - window + 1.

    Entry ``i`` averages ``values[i : i + window]``; plot it at x = i + window.
    """
    values = np.asarray(values, dtype=float)
    if (
        isinstance(window, bool)
        or not isinstance(window, (int, np.integer))
        or window < 1
    ):
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    window = min(int(window), values.shape[-1])
    kernel = np.ones(window) / window
    if values.ndim == 1:
        return np.convolve(values, kernel, mode="valid")
    return np.array([np.convolve(row, kernel, mode="valid") for row in values])


def plot_learning_curves(
    curves: Mapping[str, np.ndarray] | np.ndarray,
    window: int = 100,
    ax: Axes | None = None,
    ylabel: str = "return per episode",
    title: str | None = None,
    show_raw: bool = True,
) -> Axes:
    """Per-episode returns with a moving average of ``window`` episodes.

    ``curves`` is one array or a dict ``label -> array``. An array of shape
    [episodes] is one run (drawn faintly, with its moving average on top); an
    array [runs, episodes] is averaged over runs, with a band of +- one
    standard error across runs (of the smoothed curves).
    """
    if not isinstance(curves, Mapping):
        curves = {"": curves}
    ax = ax if ax is not None else plt.subplots(figsize=(7, 3.6), dpi=90)[1]
    for index, (label, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        colour = f"C{index}"
        runs = values.reshape(-1, values.shape[-1])
        n_episodes = runs.shape[1]
        if runs.shape[0] == 1 and show_raw:
            ax.plot(
                np.arange(1, n_episodes + 1), runs[0], color=colour, alpha=0.2, lw=0.6
            )
        # Smooth each run, then average: the band is the standard error of the
        # smoothed curve across runs.
        smooth_runs = moving_average(runs, window)
        smooth = smooth_runs.mean(axis=0)
        x = np.arange(n_episodes - smooth.size + 1, n_episodes + 1)
        name = label or "return"
        if runs.shape[0] > 1:
            name = f"{name} (mean of {runs.shape[0]} runs)"
            band = smooth_runs.std(axis=0, ddof=1) / np.sqrt(runs.shape[0])
            ax.fill_between(x, smooth - band, smooth + band, color=colour, alpha=0.25)
        ax.plot(x, smooth, color=colour, lw=2, label=f"{name}, moving avg of {window}")
    ax.set_xlabel("episode")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------- episodes
class Animation:
    """An inline HTML animation that also shows a still picture.

    Displayed in a notebook it stores two outputs: a PNG of the last frame,
    which every viewer shows (GitHub, nbviewer, a static HTML export, an
    untrusted notebook in JupyterLab), and the JavaScript animation, which
    plays where the notebook is trusted or exported with its scripts.

    ``html``: the animation (``matplotlib``'s ``to_jshtml``); ``png``: the
    still frame's bytes. ``data`` is ``html``, as for ``IPython.display.HTML``.
    """

    def __init__(self, html: str, png: bytes):
        self.html = html
        self.png = png

    @property
    def data(self) -> str:
        return self.html

    def _repr_html_(self) -> str:
        return self.html

    def _repr_png_(self) -> bytes:
        return self.png

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, Image, display

        display(Image(data=self.png, format="png"))
        display(HTML(self.html))


def animate_frames(
    frames: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    title: str = "",
    interval_ms: int = 300,
    loop: bool = False,
) -> Animation:
    """Frames (uint8 [height, width, 3] each) as an :class:`Animation`.

    ``captions[i]`` is shown above frame ``i`` after ``title``. The still
    picture is the last frame with its caption. No ffmpeg needed.
    """
    from matplotlib import animation

    if len(frames) == 0:
        raise ValueError("frames must hold at least one image, got none")
    captions = list(captions) if captions is not None else [""] * len(frames)
    if len(captions) != len(frames):
        raise ValueError(
            f"captions must match frames: {len(frames)} frames, "
            f"{len(captions)} captions"
        )
    height, width = frames[0].shape[:2]
    scale = 2.6 / max(height, width)
    fig, ax = plt.subplots(figsize=(width * scale, height * scale + 0.3), dpi=72)
    image = ax.imshow(frames[0])
    ax.axis("off")
    text = ax.set_title(f"{title} {captions[0]}".strip(), fontsize=8)

    def draw(index: int):
        image.set_data(frames[index])
        text.set_text(f"{title} {captions[index]}".strip())
        return image, text

    movie = animation.FuncAnimation(
        fig, draw, frames=len(frames), interval=interval_ms, blit=False
    )
    html = movie.to_jshtml(default_mode="loop" if loop else "once")
    draw(len(frames) - 1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Animation(html, buffer.getvalue())


def animate_episode(
    env: gym.Env,
    policy: np.ndarray,
    seed: int = 0,
    max_frames: int = 40,
    interval_ms: int = 300,
    title: str = "",
) -> Animation:
    """One episode of ``policy`` as an inline HTML animation (no ffmpeg).

    ``env`` must be made with ``render_mode="rgb_array"``. At most
    ``max_frames`` frames are kept (the file stays small). Returns an
    :class:`Animation`; make it the last line of a cell to show it, with a
    still picture of its last frame for viewers that cannot play it.
    """
    if env.render_mode != "rgb_array":
        raise ValueError(
            "animate_episode needs an env made with render_mode='rgb_array', got "
            f"render_mode={env.render_mode!r}"
        )
    policy = np.asarray(policy)
    obs, _ = env.reset(seed=seed)
    frames, captions = [env.render()], ["start"]
    total = 0.0
    for step in range(1, max_frames):
        obs, reward, terminated, truncated, _ = env.step(int(policy[obs]))
        total += reward
        frames.append(env.render())
        end = " terminated" if terminated else " truncated" if truncated else ""
        captions.append(f"step {step}, return {total:g}{end}")
        if terminated or truncated:
            break
    return animate_frames(frames, captions, title=title, interval_ms=interval_ms)
