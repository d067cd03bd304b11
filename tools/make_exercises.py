"""Make the student exercise notebooks from the solution notebooks, the one source of truth.

    notebooks/exercises/solutions/NN_*.ipynb  ->  notebooks/exercises/NN_*.ipynb

It uses nbgrader's markers, so nbgrader can read the solutions too:

- a ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` at the marker's indentation (in a text cell: ``YOUR ANSWER HERE``);
- a ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is dropped;
- outputs and execution counts are cleared.

Usage::

    python tools/make_exercises.py          # write the student notebooks
    python tools/make_exercises.py --check  # only report stale ones (exit status 1): for CI
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
SOLUTIONS = EXERCISES / "solutions"

CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = ("YOUR ANSWER HERE",)
SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def _replace_regions(lines: list[str], markers: tuple[str, str], stub: tuple[str, ...]) -> list[str]:
    """``lines`` with each region between ``markers`` replaced by ``stub``, indented like its marker."""
    begin, end = markers
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == begin:
            if inside:
                raise ValueError(f"{begin!r} inside another region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.extend(indent + stub_line for stub_line in stub)
        elif line.strip() == end:
            if not inside:
                raise ValueError(f"{end!r} without {begin!r}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{begin!r} without {end!r}")
    return kept


def student_source(source: str, cell_type: str) -> str:
    """A cell's source as the student sees it: solutions stubbed, hidden tests gone."""
    lines = _replace_regions(source.split("\n"), HIDDEN, ())
    return "\n".join(_replace_regions(lines, SOLUTION, CODE_STUB if cell_type == "code" else TEXT_STUB))


def student_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the solution is left as it was)."""
    notebook = nbformat.from_dict(solution)
    for cell in notebook.cells:
        cell.source = student_source(cell.source, cell.cell_type)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def student_copies() -> dict[Path, str]:
    """Every student notebook's path and text, made from the solutions now on disk."""
    copies = {}
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        text = nbformat.writes(student_notebook(nbformat.read(path, as_version=4)))
        copies[EXERCISES / path.name] = text if text.endswith("\n") else text + "\n"
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the student exercise notebooks from the solutions.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any copy is stale")
    args = parser.parse_args(argv)
    copies = student_copies()
    stale = [path for path, text in copies.items() if not path.is_file() or path.read_text() != text]
    orphans = sorted(set(EXERCISES.glob("[0-9][0-9]_*.ipynb")) - set(copies))
    for path in orphans:
        print(f"{path.name} has no solution: remove it or add solutions/{path.name}", file=sys.stderr)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: notebooks/exercises/{path.name}")
        if not args.check:
            path.write_text(copies[path])
    if args.check and stale:
        print("Run `python tools/make_exercises.py` to update them.", file=sys.stderr)
    return 1 if orphans or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
