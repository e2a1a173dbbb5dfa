"""Write every notebook's launch badges and install cell from one repository URL.

The repository's address is written here and nowhere else: the Colab and
Binder badges in each notebook's title cell, the install cell that only runs on
Colab, and the badges in README.md are all generated from ``REPOSITORY``. A fork
changes that line and runs ``make headers``.

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
    """The notebook at ``path`` with its badges and install cell regenerated."""
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError(f"{path.name}: the first cell must be the markdown title")
    cells[0].source = _with_badges(cells[0].source, path.name)
    if len(cells) > 1 and INSTALL_TAG in cells[1].get("metadata", {}).get("tags", []):
        cells[1].source = install_source(path.name)
    else:
        install = nbformat.v4.new_code_cell(install_source(path.name))
        install.id = "install"
        install.metadata["tags"] = [INSTALL_TAG]
        cells.insert(1, install)
    return nb


def readme_text() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return _BADGE_BLOCK.sub(
        lambda _: badges("00_setup_and_tour.ipynb"), readme, count=1
    )


def dump(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite in place")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        new = dump(updated_notebook(path))
        if new != path.read_text(encoding="utf-8"):
            stale.append(path.relative_to(ROOT))
            if args.write:
                path.write_text(new, encoding="utf-8")
    readme = ROOT / "README.md"
    if readme.exists() and readme_text() != readme.read_text(encoding="utf-8"):
        stale.append(readme.relative_to(ROOT))
        if args.write:
            readme.write_text(readme_text(), encoding="utf-8")
    for path in stale:
        print(f"{'rewrote' if args.write else 'stale header'}: {path}")
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
