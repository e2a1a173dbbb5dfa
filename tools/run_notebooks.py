"""Execute notebooks top to bottom in a fresh kernel and store their outputs.

``make notebooks`` runs this in full mode (``QLEARN_LITE_QUICK`` unset), so the
committed notebooks show what a learner's full run shows. Each notebook's
metadata records the mode and the wall time (``qlearn_lite.runtime_seconds``);
the title cell's **Runtime** line and README's table are then rewritten from
that record (``tools/course_header.py``), so the three never disagree.

Progress bars are widgets. Their stored ``text/plain`` is tqdm's first text,
``0%|          | 0/N``, which is what a viewer without the widget state (GitHub,
a static HTML export) shows. After a run, each bar's text is rewritten to its
final state, read from the widget state that the run stored.

    python tools/run_notebooks.py notebooks/02_tabular_q_learning.ipynb
    python tools/run_notebooks.py --quick notebooks/02_*.ipynb   # time quick mode
    python tools/run_notebooks.py --bars-only notebooks/*.ipynb  # no execution

``--quick`` executes a copy in quick mode and records only its wall time
(``qlearn_lite.quick_runtime_seconds``); the stored outputs stay full-mode.
``--bars-only`` rewrites the progress-bar texts of stored outputs and runs
nothing.
"""

from __future__ import annotations

import argparse
import copy
import html
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_header import README, dump, readme_text, update_header  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
QUICK_ENV_VAR = "QLEARN_LITE_QUICK"
BAR_WIDTH = 10  # tqdm's notebook bars print 10 blocks in their text form


def _model_id(reference: str) -> str:
    return reference.removeprefix("IPY_MODEL_")


def progress_text(state: dict, model_id: str) -> str | None:
    """The final text of the tqdm bar whose HBox is ``model_id``, or None.

    tqdm's notebook bar is an HBox of three widgets: an HTML on the left
    ("desc: 100%"), a FloatProgress, an HTML on the right (" 10/10 [00:01<...]").
    The text is rebuilt as tqdm prints it: ``left|██████████|right``.
    """
    box = state.get(model_id, {})
    if box.get("model_name") != "HBoxModel":
        return None
    children = [
        state.get(_model_id(child), {}) for child in box["state"].get("children", [])
    ]
    names = [child.get("model_name") for child in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (child["state"] for child in children)
    value, maximum = bar.get("value", 0.0), bar.get("max", 0.0)
    filled = round(BAR_WIDTH * value / maximum) if maximum else 0
    blocks = "█" * filled + " " * (BAR_WIDTH - filled)

    def text(part: dict) -> str:
        return html.unescape(part.get("value", "")).replace("\u2007", " ")

    return f"{text(left)}|{blocks}|{text(right)}"


def freeze_progress_bars(nb: nbformat.NotebookNode) -> int:
    """Rewrite each stored progress bar's text to its final state; count them."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    rewritten = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            final = progress_text(state, view.get("model_id", ""))
            if final is not None:
                output["data"]["text/plain"] = final
                rewritten += 1
    return rewritten


def _execute(nb: nbformat.NotebookNode, path: Path, timeout: int) -> None:
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    ).execute()


def _quick_mode() -> bool:
    return os.environ.get(QUICK_ENV_VAR, "") not in ("", "0")


def run(path: Path, timeout: int) -> float:
    """Execute ``path`` in place; return its wall time in seconds."""
    nb = update_header(nbformat.read(path, as_version=4), path.name)
    record = dict(nb.metadata.get("qlearn_lite", {}))
    started = time.perf_counter()
    try:
        _execute(nb, path, timeout)
        seconds = time.perf_counter() - started
        record.update(
            mode="quick" if _quick_mode() else "full", runtime_seconds=round(seconds)
        )
    finally:
        # A failed run is stored too, so that its error can be read in place,
        # but its runtime is not recorded: the record keeps the last full run.
        nb.metadata["qlearn_lite"] = record
        freeze_progress_bars(nb)
        update_header(nb, path.name)  # the Runtime line follows the new record
        path.write_text(dump(nb), encoding="utf-8")
        if README.exists():
            README.write_text(readme_text(), encoding="utf-8")
    return seconds


def time_quick(path: Path, timeout: int) -> float:
    """Execute a copy of ``path`` in quick mode; record only its wall time."""
    nb = nbformat.read(path, as_version=4)
    before = os.environ.get(QUICK_ENV_VAR)
    os.environ[QUICK_ENV_VAR] = "1"  # the kernel inherits this environment
    started = time.perf_counter()
    try:
        _execute(copy.deepcopy(nb), path, timeout)
        seconds = time.perf_counter() - started
    finally:
        if before is None:
            del os.environ[QUICK_ENV_VAR]
        else:
            os.environ[QUICK_ENV_VAR] = before
    nb.metadata.setdefault("qlearn_lite", {})["quick_runtime_seconds"] = round(seconds)
    update_header(nb, path.name)
    path.write_text(dump(nb), encoding="utf-8")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="per cell, s")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="time a quick-mode run; keep outputs"
    )
    mode.add_argument(
        "--bars-only", action="store_true", help="fix stored progress-bar texts"
    )
    args = parser.parse_args(argv)
    failed = []
    for path in args.notebooks:
        if args.bars_only:
            nb = nbformat.read(path, as_version=4)
            count = freeze_progress_bars(nb)
            path.write_text(dump(nb), encoding="utf-8")
            print(f"{path}: {count} progress bars")
            continue
        print(f"running {path} ...", flush=True)
        try:
            seconds = (time_quick if args.quick else run)(path, args.timeout)
        except Exception as exc:  # report every notebook, fail at the end
            failed.append(path)
            text = str(exc)  # the cell's source, its output, then the error
            if len(text) > 3000:
                text = text[:800] + "\n[...]\n" + text[-2200:]
            print(f"FAILED {path}: {type(exc).__name__}: {text}")
            continue
        print(f"  done in {seconds:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(map(str, failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
