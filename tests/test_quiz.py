"""Tests of qlearn_lite.quiz: the Check button's feedback and the static HTML."""

from __future__ import annotations

import re

import pytest

from qlearn_lite.quiz import WIDGET_VIEW, quiz

QUESTION = "Why does a truncated step bootstrap?"
OPTIONS = ["The episode is over", "The state still has a future", "`gamma` is 1"]


def make(interactive: bool):
    return quiz(
        QUESTION,
        OPTIONS,
        answer=1,
        explanation="A time limit is not a terminal state.",
        interactive=interactive,
    )


def test_check_button_gives_feedback_for_each_choice():
    """Clicking Check with no choice, a wrong one and the right one."""
    shown = make(interactive=True)
    shown.button.click()
    assert shown.result.value == "Pick an answer first."
    shown.choice.value = 0
    shown.button.click()
    assert shown.result.value.startswith("✗ Not A")
    assert "time limit" not in shown.result.value  # a wrong try reveals nothing
    shown.choice.value = 1
    shown.button.click()
    assert shown.result.value == "✓ Right: A time limit is not a terminal state."


def test_interactive_bundle_has_widget_and_fallback():
    """In a kernel the bundle carries the widget view and the static HTML."""
    bundle = make(interactive=True)._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    assert "<details>" in bundle["text/html"]


def test_static_fallback_folds_the_answer():
    """The static HTML lists the options and hides the answer in <details>."""
    bundle = make(interactive=False)._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    page = bundle["text/html"]
    before, folded = page.split("<details>")
    assert [f"<li>{o}</li>" in before for o in OPTIONS[:2]] == [True, True]
    assert "<li><code>gamma</code> is 1</li>" in before
    assert "time limit" not in before and "time limit" in folded
    assert re.search(r"<summary>Answer</summary><p><b>B\. The state", folded)
    assert page.count("<li>") == 3
    assert "A. The episode is over" in bundle["text/plain"]


def test_static_fallback_escapes_html():
    """Text with < and & is escaped, not interpreted."""
    shown = quiz("Is 1 < 2 & 3?", ["yes", "no"], 0, "<script>", interactive=False)
    page = shown.html()
    assert "1 &lt; 2 &amp; 3" in page and "<script>" not in page


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"options": ["only one"]}, ValueError, "2 to 8 answers"),
        ({"options": "ab"}, TypeError, "list of str"),
        ({"answer": 3}, ValueError, "from 0 to 2"),
        ({"answer": True}, TypeError, "int index"),
        ({"question": ""}, TypeError, "non-empty str"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    """Bad arguments raise, naming the argument."""
    arguments = {
        "question": QUESTION,
        "options": OPTIONS,
        "answer": 1,
        "explanation": "x",
        "interactive": False,
    }
    with pytest.raises(error, match=match):
        quiz(**{**arguments, **kwargs})
