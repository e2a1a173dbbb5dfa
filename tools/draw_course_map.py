"""Save the map of the course to images/course_map.png (shown in the README).

Which chapters are drawn as planned comes from ``qlearn_lite.course.CHAPTERS``,
the same data notebook 00 draws its map from.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from qlearn_lite.course import course_map  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    course_map().savefig(ROOT / "images" / "course_map.png")
    print("wrote images/course_map.png")


if __name__ == "__main__":
    main()
