"""Multiple-choice self-check questions for the notebooks.

``quiz(question, options, answer, explanation)`` shows radio buttons and a
*Check* button when it runs in a Jupyter kernel (ipywidgets), and a static
rendering everywhere else: the question, the lettered options and the answer
with its explanation folded in an HTML ``<details>`` element, which GitHub, a
static HTML export and nbviewer all show closed until clicked. Both come in
one display bundle, so a notebook executed by ``make notebooks`` reads right
with and without a live kernel.

>>> shown = quiz("2 + 2?", ["3", "4"], answer=1, explanation="Count.")
>>> shown.feedback(1)
'✓ Right: Count.'
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Quiz", "quiz"]

LETTERS = "ABCDEFGH"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, keeping `code` spans as <code>."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


class Quiz:
    """One multiple-choice question; see :func:`quiz`."""

    def __init__(
        self,
        question: str,
        options: Sequence[str],
        answer: int,
        explanation: str,
        interactive: bool,
    ) -> None:
        self.question = question
        self.options = list(options)
        self.answer = answer
        self.explanation = explanation
        self.box: Any = None
        self.choice: Any = None
        self.button: Any = None
        self.result: Any = None
        if interactive:
            self._build_widgets()

    # ----------------------------------------------------------- checking
    def label(self, index: int) -> str:
        """``"B. the option's text"``."""
        return f"{LETTERS[index]}. {self.options[index]}"

    def feedback(self, choice: int | None) -> str:
        """The sentence shown after *Check* with option ``choice`` selected."""
        if choice is None:
            return "Pick an answer first."
        if choice == self.answer:
            return f"✓ Right: {self.explanation}"
        return f"✗ Not {LETTERS[choice]}: think again, then try another answer."

    # ------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        import ipywidgets as widgets

        self.choice = widgets.RadioButtons(
            options=[(self.label(i), i) for i in range(len(self.options))],
            value=None,
            layout=widgets.Layout(width="max-content"),
        )
        self.button = widgets.Button(description="Check", button_style="info")
        self.result = widgets.HTML(value="")
        self.button.on_click(self._on_check)
        question = widgets.HTML(value=f"<b>Self-check.</b> {_inline(self.question)}")
        self.box = widgets.VBox([question, self.choice, self.button, self.result])

    def _on_check(self, _button: Any = None) -> None:
        message = self.feedback(self.choice.value)
        self.result.value = _inline(message)

    # ------------------------------------------------------------- static
    def html(self) -> str:
        """The static rendering: question, options, the answer folded away."""
        items = "".join(f"<li>{_inline(option)}</li>" for option in self.options)
        return (
            '<div class="qlearn-lite-quiz">'
            f"<p><b>Self-check.</b> {_inline(self.question)}</p>"
            f'<ol type="A">{items}</ol>'
            "<details><summary>Answer</summary>"
            f"<p><b>{_inline(self.label(self.answer))}</b></p>"
            f"<p>{_inline(self.explanation)}</p>"
            "</details></div>"
        )

    def text(self) -> str:
        """Plain text for a terminal: the question and the options."""
        lines = [f"Self-check. {self.question}"]
        lines += [f"  {self.label(i)}" for i in range(len(self.options))]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        """The widget for front ends that run widgets; HTML and text for others."""
        bundle = {"text/html": self.html(), "text/plain": self.text()}
        if self.box is not None:
            widget_bundle = self.box._repr_mimebundle_()
            if isinstance(widget_bundle, tuple):
                widget_bundle = widget_bundle[0]
            if widget_bundle and WIDGET_VIEW in widget_bundle:
                bundle[WIDGET_VIEW] = widget_bundle[WIDGET_VIEW]
        return bundle


def quiz(
    question: str,
    options: Sequence[str],
    answer: int,
    explanation: str,
    interactive: bool | None = None,
) -> Quiz:
    """A multiple-choice question with a *Check* button and a static fallback.

    Args:
        question: the question, plain text (`code` in backticks is kept).
        options: two to eight answers, shown lettered A, B, ...
        answer: the index of the right option (0 for A).
        explanation: why it is right, shown after a right answer and in the
            static rendering's folded answer.
        interactive: ``None`` shows the widget when running in an IPython
            kernel; ``False`` gives only the static rendering.
    """
    if not isinstance(question, str) or not question.strip():
        raise TypeError(f"question must be a non-empty str, got {question!r}")
    if isinstance(options, str) or not all(isinstance(o, str) for o in options):
        raise TypeError(f"options must be a list of str, got {options!r}")
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(
            f"options must hold 2 to {len(LETTERS)} answers, got {len(options)}"
        )
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise TypeError(f"answer must be an int index, got {answer!r}")
    if not 0 <= answer < len(options):
        raise ValueError(
            f"answer must be an index from 0 to {len(options) - 1}, got {answer}"
        )
    if not isinstance(explanation, str):
        raise TypeError(f"explanation must be a str, got {explanation!r}")
    if interactive is None:
        interactive = _in_kernel()
    return Quiz(question, options, answer, explanation, interactive)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
