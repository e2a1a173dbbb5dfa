"""Write every notebook's header, and README's badges and table, from one source.

The repository's address is written here and nowhere else: the Colab and
Binder badges in each notebook's title cell, the install cell that only runs on
Colab, the links to the course's glossary and bibliography, and the badges in
README.md are all generated from ``REPOSITORY``. A fork changes that line and
runs ``make headers``.

Runtimes live in one place too: ``tools/run_notebooks.py`` records each
notebook's full-mode wall time in its metadata (``qlearn_lite.runtime_seconds``),
and this script writes it into the title cell's **Runtime** line and into the
runtime column of README's table of notebooks.

    python tools/course_header.py          # check: exit 1 and list what differs
    python tools/course_header.py --write  # rewrite notebooks and README in place
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

REPOSITORY = "qlearn-lite/qlearn-lite"  # owner/name on GitHub, the one place
BRANCH = "main"

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
BADGES_START = "<!-- badges -->"
BADGES_END = "<!-- /badges -->"
INSTALL_TAG = "install"
EXTRAS = {"10_distributed_q_learning_ray.ipynb": "ray"}
"""Notebooks whose Colab install needs an extra of the package (Ray for 10)."""


def git_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def badges(notebook: str) -> str:
    """Markdown for the Colab and Binder badges that open ``notebook``."""
    colab = (
        f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/"
        f"notebooks/{notebook}"
    )
    binder = (
        f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}"
        f"?urlpath=lab/tree/notebooks/{notebook}"
    )
    return (
        f"{BADGES_START}\n"
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab}) "
        f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder})\n"
        f"{BADGES_END}"
    )


def runtime_text(seconds: float) -> str:
    """A recorded runtime as the header and README show it: "15 s", "1.5 min".

    Under 90 s: to the nearest 5 s; above: to the nearest half minute.
    """
    if seconds < 90:
        return f"{max(5, 5 * round(seconds / 5))} s"
    return f"{round(seconds / 30) / 2:g} min"


def recorded_runtime(nb: nbformat.NotebookNode) -> float | None:
    """The full-mode wall time that ``make notebooks`` stored, if any."""
    record = nb.metadata.get("qlearn_lite", {})
    if record.get("mode") != "full":
        return None
    return record.get("runtime_seconds")


def runtime_line(nb: nbformat.NotebookNode) -> str | None:
    """The title cell's **Runtime** line, from the notebook's recorded runtime."""
    seconds = recorded_runtime(nb)
    if seconds is None:
        return None
    quick = nb.metadata.get("qlearn_lite", {}).get("quick_runtime_seconds")
    quick_text = (
        f"{runtime_text(quick)} in quick mode"
        if quick is not None
        else "under a minute in quick mode"
    )
    return (
        f"**Runtime**: about {runtime_text(seconds)} in full mode, as recorded by "
        f"`make notebooks` on a 2-core CPU ({quick_text})."
    )


def docs_line() -> str:
    """Links from a notebook to the course's glossary and bibliography.

    Absolute links to the repository, so that they work on Colab and Binder
    too, where ``../docs`` is not beside the notebook.
    """
    base = f"{git_url()}/blob/{BRANCH}/docs"
    return (
        f"**Glossary and sources**: [glossary of the course]({base}/glossary.md) · "
        f"[bibliography]({base}/bibliography.md)"
    )


_RUNTIME_LINE = re.compile(r"^\*\*Runtime\*\*:.*$", re.MULTILINE)
_DOCS_LINE = re.compile(r"^\*\*Glossary and sources\*\*:.*$", re.MULTILINE)
_PREREQUISITES_LINE = re.compile(r"^\*\*Prerequisites\*\*:.*$", re.MULTILINE)


def _with_runtime_and_docs(markdown: str, nb: nbformat.NotebookNode) -> str:
    line = runtime_line(nb)
    if line is not None:
        markdown = _RUNTIME_LINE.sub(lambda _: line, markdown, count=1)
    if _DOCS_LINE.search(markdown):
        return _DOCS_LINE.sub(lambda _: docs_line(), markdown, count=1)
    anchor = _PREREQUISITES_LINE.search(markdown) or _RUNTIME_LINE.search(markdown)
    if anchor is None:
        return markdown.rstrip("\n") + "\n" + docs_line()
    end = anchor.end()
    return markdown[:end] + "\n" + docs_line() + markdown[end:]


def install_source(notebook: str = "") -> str:
    """The first code cell: a no-op locally and on Binder, an install on Colab
    (with the notebook's extra from ``EXTRAS``, if it has one)."""
    extra = f"[{EXTRAS[notebook]}]" if notebook in EXTRAS else ""
    return (
        "# Locally and on Binder qlearn_lite is already installed; on Colab this\n"
        "# cell installs it from the course repository.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        f'REQUIREMENT = "qlearn-lite{extra} @ git+{git_url()}@{BRANCH}"\n'
        'if "google.colab" in sys.modules and not importlib.util.find_spec('
        '"qlearn_lite"):\n'
        '    pip = [sys.executable, "-m", "pip", "install", "--quiet"]\n'
        "    subprocess.run([*pip, REQUIREMENT], check=True)"
    )


_BADGE_BLOCK = re.compile(
    re.escape(BADGES_START) + r"(.*?" + re.escape(BADGES_END) + r")?", re.DOTALL
)


def _with_badges(markdown: str, notebook: str) -> str:
    if BADGES_START not in markdown:
        raise ValueError(f"{notebook}: title cell has no '{BADGES_START}' line")
    return _BADGE_BLOCK.sub(lambda _: badges(notebook), markdown, count=1)


def updated_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` with its header regenerated (see update_header)."""
    return update_header(nbformat.read(path, as_version=4), path.name)


def update_header(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Regenerate, in place, the title cell's badges, Runtime and docs lines and
    the install cell of notebook ``name``; return ``nb``."""
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError(f"{name}: the first cell must be the markdown title")
    cells[0].source = _with_runtime_and_docs(_with_badges(cells[0].source, name), nb)
    if len(cells) > 1 and INSTALL_TAG in cells[1].get("metadata", {}).get("tags", []):
        cells[1].source = install_source(name)
    else:
        install = nbformat.v4.new_code_cell(install_source(name))
        install.id = "install"
        install.metadata["tags"] = [INSTALL_TAG]
        cells.insert(1, install)
    return nb


def notebook_paths() -> list[Path]:
    """The course's notebooks, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def readme_text(readme: str | None = None) -> str:
    """README.md with its badges and its table's runtime column regenerated.

    The row of a notebook is the table line that links ``notebooks/<name>``;
    its last column becomes the notebook's recorded runtime.
    """
    if readme is None:
        readme = README.read_text(encoding="utf-8")
    readme = _BADGE_BLOCK.sub(
        lambda _: badges("00_setup_and_tour.ipynb"), readme, count=1
    )
    lines = readme.split("\n")
    for path in notebook_paths():
        seconds = recorded_runtime(nbformat.read(path, as_version=4))
        if seconds is None:
            continue
        link = f"(notebooks/{path.name})"
        for index, line in enumerate(lines):
            if line.startswith("|") and link in line:
                cells = line.rstrip().rstrip("|").split("|")
                cells[-1] = f" {runtime_text(seconds)} "
                lines[index] = "|".join(cells) + "|"
    return "\n".join(lines)


def dump(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite in place")
    args = parser.parse_args(argv)
    stale = []
    for path in notebook_paths():
        new = dump(updated_notebook(path))
        if new != path.read_text(encoding="utf-8"):
            stale.append(path.relative_to(ROOT))
            if args.write:
                path.write_text(new, encoding="utf-8")
    if README.exists() and readme_text() != README.read_text(encoding="utf-8"):
        stale.append(README.relative_to(ROOT))
        if args.write:
            README.write_text(readme_text(), encoding="utf-8")
    for path in stale:
        print(f"{'rewrote' if args.write else 'stale header'}: {path}")
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
