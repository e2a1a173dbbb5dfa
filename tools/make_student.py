"""Write the student edition of the course: ``student/NN_*.ipynb``.

The notebooks in ``notebooks/`` are the solution edition. The student edition
is the same course without the solutions:

* an exercise's folded solution cell (the one ``tools/exercise_cells.py``
  inserted) is left out, so the stub above it is where the learner writes;
  any other code between nbgrader's ``### BEGIN SOLUTION`` and ``### END
  SOLUTION`` markers is replaced by ``raise NotImplementedError("exercise
  ...")``;
* the solutions that notebooks 02 and 03 show in a folded markdown
  ``<details>`` block are left out;
* the outputs of the exercise cells (stubs and checks) are cleared;
* the Colab and Binder badges open the student edition, built from the one
  ``REPOSITORY`` setting of ``tools/course_header.py``;
* everything else (text, other cells, their outputs) is as in the course.

The output is deterministic: run twice, the files are identical.

    python tools/make_student.py                    # notebooks/ -> student/
    python tools/make_student.py --out build/student notebooks/05_*.ipynb
    python tools/make_student.py --assert-checks    # `assert passed` for nbgrader

The badges point at ``student/`` on ``--branch`` (default: course_header's
``BRANCH``); ``student/`` is not committed on main, so publish it on that
branch (or a fork) before handing the links out.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import course_header  # noqa: E402
import exercise_cells  # noqa: E402

ROOT = TOOLS.parent
STUDENT = ROOT / "student"
BEGIN, END = exercise_cells.BEGIN, exercise_cells.END
_MARKED = re.compile(
    r"^(?P<indent>[ \t]*)"
    + re.escape(BEGIN)
    + r"[^\n]*\n.*?^[ \t]*"
    + re.escape(END)
    + r"[^\n]*$",
    re.DOTALL | re.MULTILINE,
)
_DETAILS_SOLUTION = re.compile(r"^\s*<details>\s*<summary><b>Solution</b>", re.DOTALL)
_CHECK_CALL = re.compile(r"\bcheck_\w+\(")


def student_badges(name: str, branch: str) -> str:
    """The badge block of notebook ``name``, opening ``student/name``."""
    block = course_header.badges(name)
    block = block.replace(f"/blob/{course_header.BRANCH}/", f"/blob/{branch}/")
    block = block.replace(f"/{course_header.BRANCH}?urlpath=", f"/{branch}?urlpath=")
    return block.replace(f"notebooks/{name}", f"student/{name}")


def replace_solutions(source: str, label: str) -> str:
    """Every marked solution region replaced by a NotImplementedError stub."""

    def stub(match: re.Match) -> str:
        indent = match.group("indent")
        return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({label!r})"

    return _MARKED.sub(stub, source)


def _role(cell) -> str | None:
    return cell.get("metadata", {}).get("qlearn_lite", {}).get("role")


def _clear(cell) -> None:
    cell.outputs = []
    cell.execution_count = None


def student_notebook(nb, name: str, branch: str, assert_checks: bool = False):
    """The student edition of notebook ``nb`` (named ``name``), a new object."""
    nb = nbformat.from_dict(nb)  # a deep copy
    number = exercise_cells.notebook_number(name)
    by_key = {e.key: e for e in exercise_cells.exercises_of(number)}
    cells = []
    after_stub = False
    for cell in nb.cells:
        role = _role(cell)
        if role == "solution":
            continue  # the stub cell above is the learner's
        if cell.cell_type == "markdown" and _DETAILS_SOLUTION.match(cell.source):
            continue  # notebooks 02 and 03: the solution folded in markdown
        if role == "statement":
            key = cell.metadata["qlearn_lite"]["exercise"]
            cell.source = exercise_cells.statement_text(by_key[key], student=True)
        if cell.cell_type == "code":
            is_stub = role == "stub" or (
                role is None and "raise NotImplementedError" in cell.source
            )
            is_check = role == "check" or (
                role is None and after_stub and _CHECK_CALL.search(cell.source)
            )
            if BEGIN in cell.source:
                cell.source = replace_solutions(cell.source, f"exercise {number}")
                is_stub = True
            if is_stub or is_check:
                _clear(cell)
            if is_check and assert_checks and "assert passed" not in cell.source:
                cell.source += "\nassert passed, 'see the message above'"
            after_stub = is_stub
        cells.append(cell)
    nb.cells = cells
    title = nb.cells[0]
    title.source = course_header._BADGE_BLOCK.sub(
        lambda _: student_badges(name, branch), title.source, count=1
    )
    nb.metadata.setdefault("qlearn_lite", {})["edition"] = "student"
    nbformat.validate(nb)
    return nb


def build(
    paths: list[Path], out: Path, branch: str, assert_checks: bool = False
) -> list[Path]:
    """Write the student edition of ``paths`` into ``out``; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student = student_notebook(nb, path.name, branch, assert_checks)
        target = out / path.name
        target.write_text(course_header.dump(student), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=STUDENT)
    parser.add_argument("--branch", default=course_header.BRANCH)
    parser.add_argument(
        "--assert-checks",
        action="store_true",
        help="end every check cell with `assert passed` (nbgrader autograding)",
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or course_header.notebook_paths()
    for target in build(paths, args.out, args.branch, args.assert_checks):
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
