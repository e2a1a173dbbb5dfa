"""Checks of the committed notebooks: outputs of a full run, conventions, README.

nbval executes every notebook in quick mode (``make test``); these tests read
the files as committed, which is what learners see on GitHub before they run
anything.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import course_header  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]
# Where a path of the machine that ran the notebook would show up in an output.
MACHINE_PATH = re.compile(
    r"(/work/|/home/\w|/root/|/tmp/|/Users/\w|/private/var/|[A-Z]:\\\\Users)"
)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_there_are_notebooks():
    """The course has at least the setup notebook."""
    assert "00_setup_and_tour.ipynb" in NAMES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_name_is_numbered(path):
    """Notebooks are named NN_topic.ipynb, in course order."""
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_with_full_mode_outputs(path):
    """Every code cell ran, in full mode, and none stored an error."""
    nb = load(path)
    assert nb["metadata"].get("qlearn_lite", {}).get("mode") == "full", (
        f"{path.name} was not executed by `make notebooks` in full mode"
    )
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not source(cell).strip():
            continue
        assert cell.get("execution_count") is not None, (
            f"{path.name}: cell {index} has not been executed"
        )
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors, f"{path.name}: cell {index} stored {errors[0]['ename']}"
    counts = [c["execution_count"] for c in code_cells(nb) if source(c).strip()]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: cells were not run top to bottom in one kernel: {counts}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_no_machine_paths_in_outputs(path):
    """Outputs show no absolute path of the machine that ran them."""
    outputs = json.dumps([cell["outputs"] for cell in code_cells(load(path))])
    match = MACHINE_PATH.search(outputs)
    assert match is None, f"{path.name}: output contains {match.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_checks_its_results(path):
    """Each notebook marks deterministic results for nbval to compare."""
    marked = [
        cell
        for cell in code_cells(load(path))
        if source(cell).lstrip().startswith("# NBVAL_CHECK_OUTPUT")
    ]
    assert marked, f"{path.name}: no cell starts with # NBVAL_CHECK_OUTPUT"
    for cell in marked:
        assert cell["outputs"], f"{path.name}: a checked cell has no output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_title_cell(path):
    """The title cell has the number, badges, what you will learn, the runtime."""
    first = source(load(path)["cells"][0])
    number = path.name[:2]
    assert first.startswith(f"# {number} · "), first.splitlines()[0]
    for needed in ("Open In Colab", "Launch on Binder", "What you will learn"):
        assert needed in first, f"{path.name}: title cell lacks {needed!r}"
    assert re.search(r"\*\*Runtime\*\*: .*full mode", first), (
        f"{path.name}: title cell lacks '**Runtime**: ... full mode'"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_setup_cell_and_ending(path):
    """Cells: install, then setup(seed=...), ..., summary, link to the next."""
    cells = load(path)["cells"]
    assert "install" in cells[1]["metadata"].get("tags", []), "no install cell"
    first_code = next(c for c in cells[2:] if c["cell_type"] == "code")
    assert "setup(seed=" in source(first_code), (
        f"{path.name}: the first code cell after the install cell must call setup"
    )
    text = "\n".join(source(cell) for cell in cells if cell["cell_type"] == "markdown")
    assert "## Summary" in text, f"{path.name}: no '## Summary' section"
    assert "Try this" in text, f"{path.name}: no 'Try this' list"
    later = [name for name in NAMES if name > path.name]
    if later:
        assert f"]({later[0]})" in source(cells[-1]), (
            f"{path.name}: the last cell must link to the next notebook {later[0]}"
        )


def test_headers_match_the_one_repository_url():
    """Badges and install cells are what tools/course_header.py generates."""
    for path in NOTEBOOKS:
        expected = course_header.dump(course_header.updated_notebook(path))
        assert expected == path.read_text(encoding="utf-8"), (
            f"{path.name}: header out of date; run `make headers`"
        )
    assert course_header.readme_text() == (ROOT / "README.md").read_text(
        encoding="utf-8"
    ), "README badges out of date; run `make headers`"
    # The URL itself is written once, in tools/course_header.py.
    url = course_header.git_url()
    holders = [
        path.relative_to(ROOT).as_posix()
        for path in [*ROOT.glob("*.*"), *(ROOT / "qlearn_lite").glob("*.py")]
        if path.is_file() and url in path.read_text(encoding="utf-8", errors="ignore")
    ]
    assert holders == [], f"repository URL written by hand in {holders}"


def test_readme_lists_every_notebook_with_its_runtime():
    """README's table has a row per notebook with its full-mode runtime."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        row = next(
            (
                line
                for line in readme.splitlines()
                if line.startswith("|") and f"(notebooks/{path.name})" in line
            ),
            None,
        )
        assert row is not None, f"README table has no row linking {path.name}"
        assert re.search(r"\|\s*(~\s*)?\d+(\.\d+)?\s*(s|min)\s*\|", row), (
            f"README row for {path.name} has no runtime: {row}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_header_and_readme_show_the_recorded_runtime(path):
    """Title cell and README row both show the runtime `make notebooks` stored."""
    nb = load(path)
    seconds = nb["metadata"]["qlearn_lite"]["runtime_seconds"]
    shown = course_header.runtime_text(seconds)
    first = source(nb["cells"][0])
    assert f"**Runtime**: about {shown} in full mode" in first, (
        f"{path.name}: recorded {seconds} s, header says "
        f"{re.search(r'[*][*]Runtime[*][*]:.*', first).group(0)!r}"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(
        line for line in readme.splitlines() if f"(notebooks/{path.name})" in line
    )
    assert row.rstrip().rstrip("|").split("|")[-1].strip() == shown, row


# Notebooks whose committed outputs predate tools/run_notebooks.py's rewrite of
# progress-bar texts. Strict: once one is re-run, its entry must go.
BARS_PENDING_RERUN: set[str] = set()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            path,
            marks=pytest.mark.xfail(
                path.name in BARS_PENDING_RERUN,
                reason="outputs stored before progress-bar texts were frozen",
                strict=True,
            ),
        )
        for path in NOTEBOOKS
    ],
    ids=NAMES,
)
def test_progress_bar_texts_show_their_final_state(path):
    """A viewer without widgets (GitHub, static HTML) sees no bar stuck at 0 %."""
    state = (
        load(path)["metadata"]
        .get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    for cell in code_cells(load(path)):
        for output in cell["outputs"]:
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" not in data:
                continue
            text = "".join(data.get("text/plain", ""))
            if re.search(r"\d+%\|", text):
                model = data["application/vnd.jupyter.widget-view+json"]["model_id"]
                assert model in state, f"{path.name}: bar without widget state"
                assert not re.search(r"(^|\D)0%\|", text), (
                    f"{path.name}: stored progress bar text stuck at 0 %: {text!r}"
                )


def test_course_map_marks_exactly_the_missing_notebooks_as_planned():
    """qlearn_lite.course: a chapter is planned if and only if its file is absent."""
    from qlearn_lite.course import CHAPTERS

    for chapter in CHAPTERS:
        exists = (ROOT / "notebooks" / chapter.notebook).exists()
        assert chapter.planned != exists, (
            f"{chapter.notebook}: planned={chapter.planned} but the file "
            f"{'exists' if exists else 'is missing'}"
        )
        assert chapter.notebook.startswith(f"{chapter.number:02d}_")
    assert {chapter.notebook for chapter in CHAPTERS} >= set(NAMES)


def test_glossary_and_bibliography_are_linked_everywhere():
    """Every title cell and the README link docs/glossary.md and bibliography.md."""
    for name in ("glossary.md", "bibliography.md"):
        assert (ROOT / "docs" / name).exists(), f"docs/{name} is missing"
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"(docs/{name})" in readme, f"README does not link docs/{name}"
        for path in NOTEBOOKS:
            assert f"/docs/{name})" in source(load(path)["cells"][0]), (
                f"{path.name}: title cell does not link docs/{name}"
            )


def test_run_notebooks_rewrites_a_bar_to_its_final_text():
    """tools/run_notebooks.py rebuilds tqdm's text from the stored widget state."""
    import nbformat
    import run_notebooks

    def model(name, **state):
        return {"model_name": name, "state": state}

    state = {
        "box": model(
            "HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_b", "IPY_MODEL_r"]
        ),
        "l": model("HTMLModel", value="q_learning:\u2007100%"),
        "b": model("FloatProgressModel", value=50.0, max=50.0),
        "r": model("HTMLModel", value="\u200750/50\u2007[00:01&lt;00:00]"),
        "half": model(
            "HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_h", "IPY_MODEL_r"]
        ),
        "h": model("FloatProgressModel", value=25.0, max=50.0),
    }
    cell = nbformat.v4.new_code_cell("")
    view = "application/vnd.jupyter.widget-view+json"
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={view: {"model_id": "box"}, "text/plain": "q_learning:   0%|"},
        )
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {run_notebooks.WIDGET_STATE: {"state": state}}
    assert run_notebooks.freeze_progress_bars(nb) == 1
    assert cell.outputs[0]["data"]["text/plain"] == (
        "q_learning: 100%|██████████| 50/50 [00:01<00:00]"
    )
    assert run_notebooks.progress_text(state, "half").count("█") == 5
    assert run_notebooks.progress_text(state, "l") is None  # not a bar
