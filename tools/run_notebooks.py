"""Execute notebooks top to bottom in a fresh kernel and store their outputs.

``make notebooks`` runs this in full mode (``QLEARN_LITE_QUICK`` unset), so the
committed notebooks show what a learner's full run shows. Each notebook's
metadata records the mode and the wall time, which the tests and the README
table read.

    python tools/run_notebooks.py notebooks/02_tabular_q_learning.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_header import dump, updated_notebook  # noqa: E402


def run(path: Path, timeout: int) -> float:
    """Execute ``path`` in place; return its wall time in seconds."""
    path.write_text(dump(updated_notebook(path)), encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        seconds = time.perf_counter() - started
        quick = os.environ.get("QLEARN_LITE_QUICK", "") not in ("", "0")
        nb.metadata["qlearn_lite"] = {
            "mode": "quick" if quick else "full",
            "runtime_seconds": round(seconds),
        }
        path.write_text(dump(nb), encoding="utf-8")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="per cell, s")
    args = parser.parse_args(argv)
    failed = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        try:
            seconds = run(path, args.timeout)
        except Exception as exc:  # report every notebook, fail at the end
            failed.append(path)
            print(f"FAILED {path}: {type(exc).__name__}: {str(exc)[:2000]}")
            continue
        print(f"  done in {seconds:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(map(str, failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
