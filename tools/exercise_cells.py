"""The exercise and self-check cells of every notebook, and a tool to insert them.

For each notebook this file holds the cells that go just before its
``## Summary``: for every checked exercise of :data:`qlearn_lite.exercises.
EXERCISES` a markdown statement, a stub that raises ``NotImplementedError``,
a hidden solution cell (nbgrader's ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` markers, ``source_hidden`` and a ``solution`` tag) and a check
cell; then two or three multiple-choice self-check questions
(:func:`qlearn_lite.quiz.quiz`). Every inserted cell carries
``{"qlearn_lite": {"exercise": "NN-k", "role": ...}}`` in its metadata and a
fixed id, so inserting again replaces the cells instead of adding copies.

    python tools/exercise_cells.py insert notebooks/05_deep_q_networks.ipynb
    python tools/exercise_cells.py check notebooks/*.ipynb   # exit 1 if missing

Inserting does not run the notebook: re-run it afterwards (``make notebooks
NB=...``) so that the new cells carry full-mode outputs.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qlearn_lite.exercises import EXERCISES, Exercise  # noqa: E402

META = "qlearn_lite"
EXISTING_EXERCISES = ("02", "03")  # notebooks with exercises written in them
SUMMARY = "## Summary"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Statement:
    title: str
    text: str


STATEMENTS: dict[str, Statement] = {
    "01-1": Statement(
        "policy evaluation",
        "Write `policy_evaluation(P, R, policy, gamma)`: the value $V^\\pi(s)$ of "
        "a deterministic policy in an MDP given as arrays, `P[s, a, s']` the "
        "transition probabilities and `R[s, a]` the expected reward. Repeat the "
        "Bellman *expectation* backup $V(s) \\leftarrow R(s, \\pi(s)) + \\gamma "
        "\\sum_{s'} P(s' \\mid s, \\pi(s)) V(s')$ until $V$ stops changing. A "
        "terminal state has no outgoing probability and no reward, so its value "
        "is 0 without a special case.",
    ),
    "01-2": Statement(
        "one Bellman backup, with arrays",
        "Write `bellman_backup_arrays(V, P, R, gamma)`, the notebook's "
        "`bellman_backup` with the MDP as arrays: it returns $Q(s, a) = R(s, a) "
        "+ \\gamma \\sum_{s'} P(s' \\mid s, a) V(s')$ for every state and action, "
        "an array of shape `[S, A]`. Value iteration is this backup followed by "
        "$V(s) = \\max_a Q(s, a)$, repeated.",
    ),
    "03-2": Statement(
        "a linear epsilon schedule",
        "Write `linear_epsilon(t, start, end, duration)`: epsilon at step (or "
        "episode) `t`, moving linearly from `start` at `t = 0` to `end` at `t = "
        "duration` and staying at `end` afterwards, as "
        "`qlearn_lite.tabular.linear_schedule` does.",
    ),
    "04-1": Statement(
        "the ring buffer's `add`",
        "Write `ring_add(slots, position, size, value)`: store `value` in "
        "`slots[position]` (in place) and return the new `(position, size)`. "
        "The buffer's capacity is `len(slots)`; once it is full, each new value "
        "overwrites the oldest one, so `position` wraps around and `size` stops "
        "growing.",
    ),
    "04-2": Statement(
        "the ring buffer's `sample`",
        "Write `ring_sample(size, capacity, batch_size, rng)`: `batch_size` slot "
        "indices drawn uniformly, **with replacement**, from the `size` filled "
        "slots (a buffer that is not yet full has empty slots beyond `size`). "
        "Draw from `rng`, a `numpy.random.Generator`; sampling an empty buffer "
        "raises `ValueError`.",
    ),
    "05-1": Statement(
        "the TD target with the terminated mask",
        "Write `td_target(rewards, next_q, terminated, gamma)` for a batch of "
        "tensors: `rewards` and `terminated` (0.0 or 1.0) of shape `[batch]`, "
        "`next_q` of shape `[batch, n_actions]`. Return $y = r + \\gamma (1 - "
        "\\text{terminated}) \\max_{a'} Q(s', a')$, shape `[batch]`, as a "
        "constant: no gradient may flow into it. A truncated transition arrives "
        "with `terminated = 0` and bootstraps.",
    ),
    "05-2": Statement(
        "an n-step return under the course's convention",
        "Write `n_step_target(rewards, terminated, truncated, next_values, "
        "gamma)`: the target of the first step of a window of $L \\le n$ steps, "
        "given each step's reward, flags and `next_values[i]`, the value "
        "$\\max_a Q(s'_i, a)$ of that step's **true** next observation. The "
        "window stops at the first step that ends the episode. A terminal step "
        "cuts the return; a truncated step bootstraps from its own next value "
        "with $\\gamma^k$, $k$ the steps taken; a window that reaches $L$ steps "
        "bootstraps at its end (`qlearn_lite.replay.n_step_returns` is the "
        "package's version).",
    ),
    "06-1": Statement(
        "the double-DQN target",
        "Write `double_dqn_target(rewards, next_q_target, next_q_online, "
        "terminated, gamma)`: the **online** network chooses $a^* = "
        "\\arg\\max_a Q_\\theta(s', a)$, the **target** network values it, $y = "
        "r + \\gamma (1 - \\text{terminated}) Q_{\\theta^-}(s', a^*)$.",
    ),
    "06-2": Statement(
        "the Polyak update",
        "Write `polyak(target_params, online_params, tau)`, which moves every "
        "target parameter in place, $\\theta^- \\leftarrow \\tau \\theta + (1 - "
        "\\tau) \\theta^-$. The parameters are `nn.Parameter`s, which require "
        "gradients.",
    ),
    "07-1": Statement(
        "the n-step segment returns",
        "Write `segment_returns(rewards, terminated, bootstrap, gamma)`: the "
        "forward-view return of **every** step of a worker's segment (Mnih et "
        "al.'s Algorithm S2), a list as long as `rewards`. `bootstrap` is "
        "$\\max_a Q^-(s_L, a)$ of the state after the segment; a segment that "
        "ended terminal bootstraps nothing.",
    ),
    "07-2": Statement(
        "a lock-free update that loses writes, counted",
        "Write `lock_free_updates(q, events, targets, alpha)`, which replays an "
        "interleaving of workers on the shared array `q`, in place. An event "
        '`(worker, "read", cell)` reads `q[cell]`; the worker\'s next event, '
        '`(worker, "write", cell)`, writes `old + alpha * (targets[worker] - '
        "old)` with the `old` value it read, as Hogwild does. Return how many "
        "writes were **lost**: a write is counted when another write to the "
        "same cell happened between its read and itself (keep a version per "
        "cell, as section 5 does).",
    ),
    "08-1": Statement(
        "an actor loop that sends chunks",
        "Write `make_chunks(steps, chunk_size)`: `steps` is a stream (an "
        "iterator, read it once) of dicts with the fields `obs`, `action`, "
        "`reward`, `next_obs`, `terminated`. Return the list of chunks an actor "
        "would put on the queue: dicts of NumPy arrays `obs` (float32), "
        "`actions` (int64), `rewards` (float32), `next_obs` (float32) and "
        "`terminated` (bool), `chunk_size` transitions each (64 or more), the "
        "partial rest sent when the stream ends, and no empty chunk.",
    ),
    "08-2": Statement(
        "the policy lag of a chunk",
        "Write `policy_lag(acted_versions, learner_version)`: a chunk arrives "
        "at the learner, whose weights are at version `learner_version`; "
        "`acted_versions[i]` is the weight version the actor had loaded when it "
        "chose transition `i`. Return the chunk's `(mean lag, max lag)`, the lag "
        "being the learner's version minus the acting version. An empty chunk "
        "raises `ValueError`.",
    ),
    "09-1": Statement(
        "the collision-safe batched update",
        "Write `batched_update(q_table, states, actions, targets, alpha)` for "
        "torch tensors: every pair $(s, a)$ the batch visits moves once, "
        "towards the **mean** of its targets, $Q(s,a) \\mathrel{+}= \\alpha "
        "(\\bar y_{s,a} - Q(s,a))$; unvisited pairs stay as they are. With "
        "thousands of environments, a pair appears more than once in a batch "
        "(a collision), so `q_table[states, actions] += ...` is not enough.",
    ),
    "09-2": Statement(
        "greedy actions for a batch, ties broken at random",
        "Write `batched_greedy(q_values, generator)`: for each row of `q_values` "
        "(`[batch, n_actions]`) a maximal action, chosen at random among the "
        "tied ones with random numbers from the `torch.Generator` `generator`, "
        "as an int64 tensor `[batch]`, without a Python loop over rows.",
    ),
    "10-1": Statement(
        "a shard's update with stale rows",
        "Write `shard_update(q_local, q_stale, rows, transitions, alpha, gamma)`. "
        "A Ray actor owns the rows `rows` (a `range`) of the Q-table; "
        "`q_local` holds them (its other rows are NaN), `q_stale` is the other "
        "shards' rows as of the last sync. Apply, in order and in place, the "
        "Q-learning update of each transition `(state, action, reward, "
        "next_state, terminated)` whose `state` this shard owns, reading "
        "$\\max_{a'} Q(s', a')$ from `q_local` if the shard owns `next_state` "
        "and from `q_stale` otherwise; skip the others. Return how many "
        "updates were applied.",
    ),
    "10-2": Statement(
        "how many transitions per Ray call",
        "A Ray call costs `call_seconds` however much it carries, plus "
        "`transition_seconds` per transition. Write `batch_for_overhead("
        "call_seconds, transition_seconds, overhead)`: the smallest whole batch "
        "for which the fixed cost is at most the fraction `overhead` of the "
        "call's total time, and at least 1.",
    ),
    "11-1": Statement(
        "predict the scaling figure, then measure it",
        "Write `predicted_throughput(n_actors, actor_seconds, learner_seconds, "
        "cores)`, the environment steps per second the course's model predicts. "
        "Each step costs `actor_seconds` of an actor and `learner_seconds` of "
        "the one learner. On one core everything takes turns. With more cores "
        "the learner keeps one and the actors share the rest, so at most "
        "`cores - 1` actors run at once, and the learner cannot consume more "
        "than `1 / learner_seconds` steps per second. Then compare your "
        "prediction with the measured figure of this notebook.",
    ),
    "11-2": Statement(
        "honest speed-up ratios",
        "Write `speedup_ratios(steps_per_second, cores)`: given the measured "
        "steps per second of each worker count (a dict such as `{1: 200.0, 2: "
        "360.0}`, all from the same run), return each count's speed-up against "
        "the 1-worker run. Raise `ValueError` when there is no 1-worker run, and "
        "when a ratio exceeds the core count: that means steps were miscounted.",
    ),
}
"""The statement of every exercise, in the words of its notebook."""

Question = tuple[str, tuple[str, ...], int, str]

QUIZZES: dict[str, tuple[Question, ...]] = {
    "00": (
        (
            "An episode of CartPole hits its 500-step limit. What does "
            "`env.step` return?",
            ("terminated=True", "truncated=True", "both True"),
            1,
            "The pole is still up: the time limit cut the episode, so it is "
            "truncated, not terminated.",
        ),
        (
            "Why does the course seed a `numpy.random.Generator` instead of "
            "calling `np.random.seed`?",
            (
                "Generators are faster",
                "One seed then feeds every random draw, and no code shares "
                "hidden global state",
                "np.random.seed no longer exists",
            ),
            1,
            "A Generator passed around explicitly makes a run reproducible "
            "from one seed, whatever other code draws.",
        ),
    ),
    "01": (
        (
            "Value iteration stops when the largest change of V is below tol. "
            "What makes it converge for gamma < 1?",
            (
                "The Bellman backup is a gamma-contraction",
                "FrozenLake is small",
                "Rewards are 0 or 1",
            ),
            0,
            "Each sweep shrinks the distance to V* by at least a factor gamma, "
            "whatever the MDP.",
        ),
        (
            "What is the value of a terminal state?",
            ("1", "0", "The reward received on entering it"),
            1,
            "Nothing follows a terminal state; the reward for entering it "
            "belongs to the transition into it.",
        ),
        (
            "Policy evaluation and value iteration differ in one place. Which?",
            (
                "Policy evaluation follows pi(s); value iteration takes the max "
                "over actions",
                "Only value iteration uses gamma",
                "Policy evaluation needs a model, value iteration does not",
            ),
            0,
            "Both back up expectations over next states; only the choice of "
            "action differs.",
        ),
    ),
    "02": (
        (
            "A transition is truncated by a time limit, not terminated. What "
            "is its Q-learning target?",
            (
                "r",
                "r + gamma max_a' Q(s', a')",
                "0",
            ),
            1,
            "The state after a time limit still has a future; only a terminal "
            "state has value 0.",
        ),
        (
            "Why break ties at random in epsilon-greedy?",
            (
                "A fresh all-zero Q-table would otherwise always pick action 0",
                "It is faster than argmax",
                "To explore more when epsilon is 0",
            ),
            0,
            "np.argmax returns the first maximum, so a new table would send "
            "every greedy step the same way.",
        ),
    ),
    "03": (
        (
            "On Cliff Walking SARSA learns the safe path and Q-learning the "
            "cliff edge. Why?",
            (
                "SARSA learns the value of the epsilon-greedy policy it follows, "
                "falls included",
                "SARSA uses a larger alpha",
                "Q-learning does not explore",
            ),
            0,
            "SARSA is on-policy: its targets include the exploratory steps "
            "that fall off the cliff.",
        ),
        (
            "Which metric favours Q-learning on Cliff Walking?",
            (
                "Reward collected while training",
                "The return of the final greedy policy",
                "Episodes to reach -30",
            ),
            1,
            "Q-learning's greedy policy is the optimal 13-step path; online, "
            "its exploring agent falls more often.",
        ),
    ),
    "04": (
        (
            "Why sample minibatches from a replay buffer instead of learning "
            "from consecutive steps?",
            (
                "Consecutive transitions are correlated; random samples are "
                "closer to independent",
                "It uses less memory",
                "It removes the need for exploration",
            ),
            0,
            "Random minibatches break the correlation of successive states "
            "and reuse each transition many times.",
        ),
        (
            "Why does the buffer store `terminated` and not `done`?",
            (
                "`done` is deprecated",
                "A truncated transition must still bootstrap",
                "Booleans are smaller",
            ),
            1,
            "done = terminated or truncated; storing it would make time-limit "
            "transitions look terminal.",
        ),
    ),
    "05": (
        (
            "CartPole episodes are cut at 500 steps. If those steps were "
            "treated as terminal, what would the network learn?",
            (
                "Nothing changes",
                "That the state at step 500 is worth nothing, although the pole is up",
                "Faster learning",
            ),
            1,
            "Truncation is not failure: treating it as terminal teaches a "
            "value the state does not have.",
        ),
        (
            "What does an n-step return buy, and what does it cost?",
            (
                "Faster propagation of rewards, at the price of bias from "
                "off-policy steps",
                "Lower variance, at no cost",
                "Exact values",
            ),
            0,
            "n rewards reach back at once, but the intermediate actions were "
            "exploratory, so the target is biased.",
        ),
    ),
    "06": (
        (
            "Why a target network?",
            (
                "It makes the network larger",
                "The target then stays still while the online network moves towards it",
                "It replaces the replay buffer",
            ),
            1,
            "Without it, every gradient step also moves the target it chases.",
        ),
        (
            "In a Polyak update with tau = 0.005, how much of the online "
            "network enters the target per step?",
            ("0.5%", "99.5%", "all of it every 200 steps"),
            0,
            "theta_target <- tau theta + (1 - tau) theta_target: a small "
            "fraction per step, an average over about 1/tau steps.",
        ),
        (
            "What does double DQN change?",
            (
                "It trains two networks on different data",
                "The online network chooses a', the target network values it",
                "It doubles the learning rate",
            ),
            1,
            "Decoupling choice and evaluation removes max's upward bias.",
        ),
    ),
    "07": (
        (
            "What does Hogwild lose?",
            (
                "Nothing",
                "Updates: two workers read the same entry and the second write "
                "overwrites the first",
                "The exploration of the workers",
            ),
            1,
            "Without a lock, a write based on a stale read replaces another "
            "worker's update; section 5 counts them.",
        ),
        (
            "Why do threads speed up a pure-Python worker so little?",
            (
                "The GIL runs one thread's Python code at a time",
                "Threads share memory",
                "The OS limits threads",
            ),
            0,
            "Only the NumPy and torch calls release the GIL; the rest runs in turn.",
        ),
    ),
    "08": (
        (
            "Why do actors send chunks of 64 transitions or more, not single steps?",
            (
                "Each message has a fixed cost; batching spreads it over many "
                "transitions",
                "Queues hold at most 64 items",
                "It changes the learning result",
            ),
            0,
            "Pickling and queueing cost per message; small torch tensors "
            "through a queue were measured 10 times slower.",
        ),
        (
            "Why the spawn start method?",
            (
                "It is faster than fork",
                "fork combined with torch's or OpenMP's threads can deadlock",
                "spawn shares memory automatically",
            ),
            1,
            "A forked child inherits locks held by threads that do not exist "
            "in it; spawn starts a fresh interpreter.",
        ),
    ),
    "09": (
        (
            "Two environments of a batch update the same (s, a). What does "
            "`q[states, actions] += ...` do?",
            (
                "Applies both updates",
                "Keeps one of the writes",
                "Raises an error",
            ),
            1,
            "Indexed assignment writes once per index; index_add_ sums, "
            "which the collision-safe update then averages.",
        ),
        (
            "Why is vectorised CartPole only equal to Gymnasium's up to "
            "rounding error after many steps?",
            (
                "A bug",
                "The dynamics are chaotic: float rounding differences grow",
                "torch uses a different gravity",
            ),
            1,
            "Tiny differences in operation order grow exponentially in a "
            "chaotic system.",
        ),
    ),
    "10": (
        (
            "A Ray call costs about 1 ms. How should transitions travel?",
            (
                "One call per transition",
                "Batches of 1,000 or more per call",
                "Through a shared file",
            ),
            1,
            "At 1 ms per call, per-transition calls cap throughput at 1,000 "
            "steps per second.",
        ),
        (
            "A shard reads other shards' rows from a copy synced every K "
            "updates. What does that cost?",
            (
                "Nothing",
                "Staleness: bootstraps use values up to K updates old",
                "Memory only",
            ),
            1,
            "The stale rows lag behind; the experiment measures how much "
            "staleness learning tolerates.",
        ),
    ),
    "11": (
        (
            "A run reports a 3x speed-up on a 2-core machine. What follows?",
            (
                "The code is very efficient",
                "Steps are miscounted: more than the core count is impossible",
                "Hyper-threading doubled the cores",
            ),
            1,
            "The speed-up against one worker measured in the same run cannot "
            "exceed the core count.",
        ),
        (
            "Adding actors stops helping. Which limit is that, in the model?",
            (
                "The learner's 1 / learner_seconds",
                "Python's recursion limit",
                "The replay buffer's capacity",
            ),
            0,
            "Once actors produce more than the learner consumes, the learner "
            "sets the pace (or the cores run out first).",
        ),
    ),
}
"""Two or three self-check questions per notebook."""


# ------------------------------------------------------------------ cells
def _meta(key: str, role: str, **extra) -> dict:
    return {META: {"exercise": key, "role": role}, **extra}


def _markdown(key: str, role: str, source: str, **extra):
    cell = nbformat.v4.new_markdown_cell(source, metadata=_meta(key, role, **extra))
    cell.id = f"qlearn-{key}-{role}"
    return cell


def _code(key: str, role: str, source: str, **extra):
    cell = nbformat.v4.new_code_cell(source, metadata=_meta(key, role, **extra))
    cell.id = f"qlearn-{key}-{role}"
    return cell


def stub_source(exercise: Exercise) -> str:
    """The learner's starting point: the signature and a NotImplementedError."""
    title = STATEMENTS[exercise.key].title.replace("`", "")
    message = _literal(f"exercise {exercise.key}: {title}")
    raise_line = f"    raise NotImplementedError({message})"
    if len(raise_line) > 88:
        raise_line = f"    raise NotImplementedError(\n        {message}\n    )"
    return f"{exercise.signature}\n    # YOUR CODE HERE\n{raise_line}"


def check_source(exercise: Exercise) -> str:
    return f"passed = {exercise.checker}({exercise.name})"


def solution_source(exercise: Exercise) -> str:
    """The solution cell: the signature, the body between nbgrader's markers,
    then the check again, which the solution passes."""
    return (
        "# NBVAL_CHECK_OUTPUT\n"  # nbval: the solution must keep passing its check
        f"# Solution of exercise {exercise.key}, folded: open it when you are done.\n"
        f"{exercise.signature}\n"
        f"    {BEGIN}\n"
        f"{exercise.solution.rstrip()}\n"
        f"    {END}\n\n\n"
        f"{check_source(exercise)}"
    )


def statement_text(exercise: Exercise, student: bool = False) -> str:
    """The markdown statement of ``exercise`` (the student edition's without
    the folded solution, which it leaves out)."""
    statement = STATEMENTS[exercise.key]
    text = (
        f"### Exercise {exercise.key}: {statement.title}\n\n"
        f"{statement.text}\n\n"
        "Write your function in the first cell below and run the check cell, "
        f"`{exercise.checker}({exercise.name})`: it runs your function on small "
        "cases, edge cases included, and says in one sentence what is wrong."
    )
    if not student:
        text += (
            " The folded cell after it is the solution, which passes the same "
            "check; open it only when you are done."
        )
    if exercise.pair_work:
        text += " *Good for pair work.*"
    return text


def exercise_cells(exercise: Exercise) -> list:
    """Statement, stub, check and folded solution of one exercise."""
    key = exercise.key
    text = statement_text(exercise)
    solution_meta = {
        "jupyter": {"source_hidden": True},
        "tags": ["solution"],
        "nbgrader": {
            "grade": False,
            "grade_id": f"exercise-{key}-solution",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        },
    }
    check_meta = {  # nbgrader: a read-only cell
        "nbgrader": {
            "grade": False,
            "grade_id": f"exercise-{key}-check",
            "locked": True,
            "schema_version": 3,
            "solution": False,
            "task": False,
        },
    }
    check = (
        f"from qlearn_lite.exercises import {exercise.checker}\n\n"
        f"{check_source(exercise)}"
    )
    return [
        _markdown(key, "statement", text),
        _code(key, "stub", stub_source(exercise)),
        _code(key, "check", check, **check_meta),
        _code(key, "solution", solution_source(exercise), **solution_meta),
    ]


def _literal(text: str) -> str:
    """``text`` as a string literal quoted the way ruff format quotes it."""
    if '"' in text and "'" not in text:
        return "'" + text.replace("\\", "\\\\") + "'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _string(text: str, indent: int, prefix: str = "") -> str:
    """``text`` as a Python string literal after ``prefix`` on a line indented by
    ``indent``, followed by a comma; split to fit 88 columns."""
    if indent + len(prefix) + len(_literal(text)) + 1 <= 88:
        return _literal(text)
    pad = " " * (indent + 4)
    if indent + 4 + len(_literal(text)) <= 88:  # ruff joins what fits in parens
        return "(\n" + pad + _literal(text) + "\n" + " " * indent + ")"
    width = 88 - indent - 4 - 3
    pieces = textwrap.wrap(text, width, drop_whitespace=False)
    inner = "\n".join(pad + _literal(piece) for piece in pieces)
    return "(\n" + inner + "\n" + " " * indent + ")"


def quiz_source(question: Question, first: bool) -> str:
    """The code cell that shows one self-check question."""
    text, options, answer, explanation = question
    lines = ["from qlearn_lite.quiz import quiz", ""] if first else []
    lines.append("quiz(")
    lines.append(f"    {_string(text, 4)},")
    lines.append("    [")
    lines += [f"        {_string(option, 8)}," for option in options]
    lines.append("    ],")
    lines.append(f"    answer={answer},")
    lines.append(f"    explanation={_string(explanation, 4, 'explanation=')},")
    lines.append(")")
    return "\n".join(lines)


def notebook_number(path: Path | str) -> str:
    """``"05"`` for ``notebooks/05_deep_q_networks.ipynb``."""
    match = re.match(r"(\d\d)_", Path(path).name)
    if match is None:
        raise ValueError(f"{path}: expected a notebook named NN_topic.ipynb")
    return match.group(1)


def exercises_of(number: str) -> list[Exercise]:
    return [exercise for exercise in EXERCISES if exercise.notebook == number]


def cells_for(number: str) -> list:
    """Every cell that notebook ``number`` gets before its Summary."""
    exercises = exercises_of(number)
    cells = []
    if exercises:
        intro = (
            "## Exercises\n\n"
            "Each exercise gives a statement, a stub to fill in, a checker from "
            "`qlearn_lite.exercises` that runs your function on small cases and "
            "names the mistake it sees, and a folded solution. In the student "
            "edition (`make student`) the solution cells are left out."
        )
        cells.append(_markdown(f"{number}-0", "intro", intro))
        for exercise in exercises:
            cells += exercise_cells(exercise)
    questions = QUIZZES.get(number, ())
    if questions:
        # Notebooks 02 and 03 have exercise sections of their own already.
        inside = exercises or number in EXISTING_EXERCISES
        heading = "### Self-check" if inside else "## Self-check"
        cells.append(
            _markdown(
                f"{number}-quiz",
                "intro",
                f"{heading}\n\nPick an answer and press *Check*; in a static "
                "view, open *Answer* under each question.",
            )
        )
        for index, question in enumerate(questions, start=1):
            cells.append(
                _code(f"{number}-q{index}", "quiz", quiz_source(question, index == 1))
            )
    return cells


def is_inserted(cell) -> bool:
    return META in cell.get("metadata", {}) and "exercise" in cell.metadata[META]


def insert(nb, number: str):
    """Put notebook ``number``'s cells before its Summary, replacing old ones."""
    kept = [cell for cell in nb.cells if not is_inserted(cell)]
    summaries = [
        index
        for index, cell in enumerate(kept)
        if cell.cell_type == "markdown" and cell.source.startswith(SUMMARY)
    ]
    if len(summaries) != 1:
        raise ValueError(
            f"notebook {number}: expected one cell starting with {SUMMARY!r}, "
            f"found {len(summaries)}"
        )
    at = summaries[0]
    nb.cells = kept[:at] + cells_for(number) + kept[at:]
    return nb


def problems(nb, number: str) -> list[str]:
    """What differs between the notebook's inserted cells and this file's."""
    found = [cell for cell in nb.cells if is_inserted(cell)]
    wanted = cells_for(number)
    if [c.id for c in found] != [c.id for c in wanted]:
        missing = sorted({c.id for c in wanted} - {c.id for c in found})
        return [f"exercise cells missing or out of order: {missing or 'order'}"]
    out = []
    for have, want in zip(found, wanted, strict=True):
        if have.source != want.source:
            out.append(f"cell {have.id} differs from tools/exercise_cells.py")
    summary = next(
        (i for i, c in enumerate(nb.cells) if c.source.startswith(SUMMARY)), None
    )
    last = max(i for i, c in enumerate(nb.cells) if is_inserted(c)) if found else -1
    if found and (summary is None or summary != last + 1):
        out.append("exercise cells are not just before the Summary")
    return out


def dump(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["insert", "check"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        number = notebook_number(path)
        nb = nbformat.read(path, as_version=4)
        if args.mode == "insert":
            insert(nb, number)
            nbformat.validate(nb)
            path.write_text(dump(nb), encoding="utf-8")
            count = len(exercises_of(number))
            print(f"{path}: {count} exercises, {len(QUIZZES.get(number, ()))} quizzes")
        else:
            found = problems(nb, number)
            failed += bool(found)
            for problem in found:
                print(f"{path}: {problem}")
            if not found:
                print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
