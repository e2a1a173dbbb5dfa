"""Save the map of the course to images/course_map.png (shown in the README)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from qlearn_lite.course import course_map  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    available = {
        int(match.group(1))
        for path in (ROOT / "notebooks").glob("*.ipynb")
        if (match := re.match(r"(\d\d)_", path.name))
    }
    course_map(available).savefig(ROOT / "images" / "course_map.png")
    print("wrote images/course_map.png")


if __name__ == "__main__":
    main()
