"""Tests of tools/make_student.py (the student edition) and tools/teaching_guide.py."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import course_header  # noqa: E402
import exercise_cells  # noqa: E402
import make_student  # noqa: E402
import teaching_guide  # noqa: E402

from qlearn_lite import exercises  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]


@pytest.fixture(scope="module")
def editions(tmp_path_factory) -> tuple[Path, Path]:
    """Solution edition (copies with the exercise cells) and student edition."""
    base = tmp_path_factory.mktemp("course")
    solution, student = base / "notebooks", base / "student"
    solution.mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, solution / path.name)
    paths = sorted(solution.glob("*.ipynb"))
    assert exercise_cells.main(["insert", *map(str, paths)]) == 0
    make_student.build(paths, student, branch=course_header.BRANCH)
    return solution, student


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def solution_lines() -> set[str]:
    """The distinctive lines of every solution the course holds."""
    lines = set()
    for text in exercises.SOLUTIONS.values():
        for line in text.splitlines()[1:]:  # the signature is in the stub too
            line = line.strip()
            if len(line) > 25 and not line.startswith(("#", "return", "if ")):
                lines.add(line)
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_text_in_the_student_edition(editions, name):
    """No marker, no folded solution, no line of any solution survives."""
    text = (editions[1] / name).read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "<summary><b>Solution</b>" not in text
    sources = "\n".join(cell.source for cell in cells(editions[1] / name))
    # Lines the course teaches in its own text (02 builds the update in full).
    taught = "\n".join(
        cell.source
        for cell in cells(ROOT / "notebooks" / name)
        if not make_student._DETAILS_SOLUTION.match(cell.source)
    )
    leaked = [
        line for line in solution_lines() if line in sources and line not in taught
    ]
    assert leaked == []


def test_solution_lines_are_found_in_the_solution_edition(editions):
    """The leak test can fail: the solution edition holds every solution."""
    sources = "\n".join(
        cell.source for path in editions[0].glob("*.ipynb") for cell in cells(path)
    )
    present = {path.name[:2] for path in NOTEBOOKS}
    for exercise in exercises.EXERCISES:
        if exercise.notebook in present:
            assert exercise.solution.rstrip() in sources, exercise.key


def test_student_edition_is_deterministic(editions, tmp_path):
    """Built twice, every file is identical, byte for byte."""
    paths = sorted(editions[0].glob("*.ipynb"))
    again = make_student.build(paths, tmp_path, branch=course_header.BRANCH)
    for path in again:
        assert path.read_bytes() == (editions[1] / path.name).read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_is_valid_and_otherwise_unchanged(editions, name):
    """Valid nbformat; the cells that are not exercises keep source and outputs."""
    solution_cells = cells(editions[0] / name)
    student_cells = cells(editions[1] / name)
    nbformat.validate(nbformat.read(editions[1] / name, as_version=4))
    keep = {cell.id: cell for cell in student_cells}
    for cell in solution_cells[1:]:  # the title cell's badges change
        role = cell.metadata.get("qlearn_lite", {}).get("role")
        if cell.id not in keep or role is not None or cell.cell_type != "code":
            continue
        if "NotImplementedError" in cell.source or "check_" in cell.source:
            continue  # notebooks 02 and 03's own exercise cells
        assert keep[cell.id].source == cell.source
        assert keep[cell.id].outputs == cell.outputs


@pytest.mark.parametrize("name", NAMES)
def test_badges_open_the_student_edition(editions, name):
    """Colab and Binder badges point at student/NAME of the one REPOSITORY."""
    title = cells(editions[1] / name)[0].source
    repository = course_header.REPOSITORY
    assert (
        f"colab.research.google.com/github/{repository}/blob/"
        f"{course_header.BRANCH}/student/{name}" in title
    )
    assert f"mybinder.org/v2/gh/{repository}/" in title
    assert f"urlpath=lab/tree/student/{name}" in title
    assert f"notebooks/{name}" not in title


def test_exercise_cells_have_no_outputs(editions):
    """Stub and check cells, inserted or written in 02 and 03, are cleared."""
    for path in editions[1].glob("*.ipynb"):
        for cell in cells(path):
            role = cell.metadata.get("qlearn_lite", {}).get("role")
            written = cell.cell_type == "code" and "NotImplementedError" in cell.source
            if role in ("stub", "check") or written:
                assert cell.outputs == [] and cell.execution_count is None


def stub_functions(path: Path) -> dict[str, object]:
    """The functions the student edition's stub cells define, by exercise key."""
    found = {}
    for cell in cells(path):
        meta = cell.metadata.get("qlearn_lite", {})
        if meta.get("role") == "stub":
            namespace: dict = {"np": np, "torch": torch}
            exec(cell.source, namespace)
            name = next(
                e.name for e in exercises.EXERCISES if e.key == meta["exercise"]
            )
            found[meta["exercise"]] = namespace[name]
    return found


def test_checkers_report_not_attempted_on_the_student_stubs(editions):
    """Every checker, called on its stub from the student edition, says so."""
    checked = set()
    for path in sorted(editions[1].glob("*.ipynb")):
        for key, function in stub_functions(path).items():
            exercise = next(e for e in exercises.EXERCISES if e.key == key)
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                passed = getattr(exercises, exercise.checker)(function)
            assert passed is False
            assert buffer.getvalue().startswith("✗ not attempted"), buffer.getvalue()
            checked.add(key)
    present = {
        e.key
        for e in exercises.EXERCISES
        if any(p.name[:2] == e.notebook for p in NOTEBOOKS)
    }
    assert checked == present


def test_existing_stubs_of_02_and_03_are_not_attempted(editions):
    """The stubs written in notebooks 02 and 03 are reported as not attempted."""
    checkers = {
        "q_learning_update": exercises.check_q_learning_update,
        "my_epsilon_greedy": exercises.check_epsilon_greedy,
        "sarsa_update": exercises.check_sarsa_update,
    }
    seen = set()
    for name in ("02_tabular_q_learning.ipynb", "03_exploration_and_sarsa.ipynb"):
        for cell in cells(editions[1] / name):
            if cell.cell_type == "code" and "raise NotImplementedError" in cell.source:
                namespace: dict = {"np": np}
                exec(cell.source, namespace)
                for function_name, checker in checkers.items():
                    if function_name in namespace:
                        buffer = io.StringIO()
                        with contextlib.redirect_stdout(buffer):
                            assert checker(namespace[function_name]) is False
                        assert "not attempted" in buffer.getvalue()
                        seen.add(function_name)
    assert seen == set(checkers)


def test_marked_code_is_replaced_by_a_stub():
    """Code between nbgrader's markers becomes a NotImplementedError stub."""
    source = (
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    )
    replaced = make_student.replace_solutions(source, "exercise 05")
    assert "return 2 * x" not in replaced
    assert "    raise NotImplementedError('exercise 05')" in replaced
    namespace: dict = {}
    exec(replaced, namespace)
    with pytest.raises(NotImplementedError, match="exercise 05"):
        namespace["f"](1)


def test_assert_checks_option(editions, tmp_path):
    """--assert-checks ends every check cell with `assert passed`."""
    path = editions[0] / "05_deep_q_networks.ipynb"
    (out,) = make_student.build([path], tmp_path, "main", assert_checks=True)
    checks = [
        c
        for c in json.loads(out.read_text())["cells"]
        if c["metadata"].get("qlearn_lite", {}).get("role") == "check"
    ]
    assert checks and all("assert passed" in "".join(c["source"]) for c in checks)


# ------------------------------------------------------ the teacher's guide


def test_guide_and_readme_are_up_to_date():
    """docs/teaching.md and README hold what tools/teaching_guide.py generates."""
    assert teaching_guide.main(["--check"]) == 0, (
        "run `python tools/teaching_guide.py` (runtimes or exercises changed)"
    )


def test_guide_runtimes_match_the_notebooks_records():
    """Each row of the runtime table shows the notebook's recorded times."""
    guide = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[3:5]]
        for line in guide.split("<!-- runtimes")[1]
        .split("<!-- /runtimes")[0]
        .split("\n")
        if line.startswith("| ") and line[2:4].isdigit()
    }
    for path in NOTEBOOKS:
        record = json.loads(path.read_text(encoding="utf-8"))["metadata"]["qlearn_lite"]
        full, quick = rows[path.name[:2]]
        if record.get("mode") == "full":
            assert full == course_header.runtime_text(record["runtime_seconds"])
        else:
            assert full == "not recorded"
        if "quick_runtime_seconds" in record:
            assert quick == course_header.runtime_text(record["quick_runtime_seconds"])
        else:
            assert quick == "not recorded"


def test_readme_counts_match_the_stubs_of_the_solution_edition(editions):
    """README's exercises per notebook = the stubs the solution edition holds."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in sorted(editions[0].glob("*.ipynb")):
        stubs = sum(
            cell.cell_type == "code" and "raise NotImplementedError" in cell.source
            for cell in cells(path)
        )
        word = "exercise" if stubs == 1 else "exercises"
        assert f"{path.name[:2]}: {stubs} {word}," in readme
    assert "[teacher's guide](docs/teaching.md)" in readme


def _execute(notebook: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run ``notebook`` in a fresh python3 kernel (quick mode), top to bottom."""
    import os

    from nbclient import NotebookClient

    os.environ["QLEARN_LITE_QUICK"] = "1"  # the kernel inherits it
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute()


def _stream_text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_student_exercise_blocks_run_in_a_kernel(editions):
    """Every student notebook's exercise block runs in a real kernel: the stubs
    define their functions, each check cell prints "not attempted" and nothing
    raises. (The cells before the block are the course's own, which nbval
    runs; ``test_student_notebook_is_valid_and_otherwise_unchanged`` checks
    that they are unchanged.)"""
    block = [nbformat.v4.new_code_cell("import numpy as np\nimport torch")]
    for path in sorted(editions[1].glob("*.ipynb")):
        for cell in cells(path):
            if cell.metadata.get("qlearn_lite", {}).get("role") in ("stub", "check"):
                block.append(cell)
    stubs = {k for path in editions[1].glob("*.ipynb") for k in stub_functions(path)}
    checks = {c.metadata["qlearn_lite"]["exercise"] for c in block[1:]}
    assert checks == stubs and len(stubs) >= 19
    ran = _execute(nbformat.v4.new_notebook(cells=block), editions[1])
    for cell in ran.cells:
        assert [o for o in cell.outputs if o.output_type == "error"] == []
        if cell.metadata.get("qlearn_lite", {}).get("role") == "check":
            key = cell.metadata["qlearn_lite"]["exercise"]
            assert _stream_text(cell).startswith("✗ not attempted"), key


def test_a_student_notebook_runs_top_to_bottom(editions):
    """The student edition of notebook 01 executes in full (quick mode): it
    reaches its first exercise, and its checkers report "not attempted"."""
    path = editions[1] / "01_mdp_and_value_iteration.ipynb"
    ran = _execute(nbformat.read(path, as_version=4), editions[1])
    errors = [
        o for c in ran.cells for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert errors == []
    checks = [
        _stream_text(c)
        for c in ran.cells
        if c.metadata.get("qlearn_lite", {}).get("role") == "check"
    ]
    assert len(checks) == 2
    assert all(text.startswith("✗ not attempted") for text in checks), checks
