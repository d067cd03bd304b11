"""Make the student exercise notebooks from the solution notebooks, the one source of truth.

    notebooks/exercises/solutions/NN_*.ipynb  ->  notebooks/exercises/NN_*.ipynb (and nbgrader metadata
                                                  in the solutions themselves)

It uses nbgrader's markers, so nbgrader can read the solutions too:

- a ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` at the marker's indentation (in a text cell: ``YOUR ANSWER HERE``);
- a ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is dropped;
- outputs and execution counts are cleared.

It also writes nbgrader's cell metadata into the solutions, worked out from the same markers, so a
teacher with nbgrader needs no *Create Assignment* toolbar (:func:`nbgrader_roles`):

- a code cell with a solution region is an *autograded answer*; the cell after it (its check) is an
  *autograder test* worth :data:`CHECK_POINTS` point, locked;
- a text cell with a solution region is a *manually graded answer* worth :data:`WRITTEN_POINTS` points;
- the setup cell with the hidden region is an autograder test worth 0 points (nbgrader keeps hidden
  regions in test cells only): it switches strict mode on while grading;
- every other cell is read-only (locked), so the grader runs the notebook as written.

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
CHECK_POINTS = 1
WRITTEN_POINTS = 2


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


def _has(source: str, markers: tuple[str, str]) -> bool:
    return any(line.strip() == markers[0] for line in source.split("\n"))


def nbgrader_roles(cells: list) -> list[dict]:
    """nbgrader's metadata for each cell, from the markers (see the module docstring)."""
    roles, answers, written, checks = [], 0, 0, 0
    for index, cell in enumerate(cells):
        after_answer = bool(roles) and roles[-1]["grade_id"].startswith("answer_")
        if _has(cell.source, SOLUTION) and cell.cell_type == "code":
            answers += 1
            role = dict(grade_id=f"answer_{answers}", solution=True, grade=False, locked=False)
        elif _has(cell.source, SOLUTION):
            written += 1
            role = dict(grade_id=f"written_{written}", solution=True, grade=True, locked=False,
                        points=WRITTEN_POINTS)
        elif after_answer and cell.cell_type == "code":
            checks += 1
            role = dict(grade_id=f"check_{checks}", solution=False, grade=True, locked=True,
                        points=CHECK_POINTS)
        elif _has(cell.source, HIDDEN):
            role = dict(grade_id="setup", solution=False, grade=True, locked=True, points=0)
        else:
            role = dict(grade_id=f"cell_{index:02d}", solution=False, grade=False, locked=True)
        roles.append(role | dict(schema_version=3, task=False))
    return roles


def graded_solution(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a solution notebook with nbgrader's metadata in every cell (other metadata kept)."""
    notebook = nbformat.from_dict(solution)
    for cell, role in zip(notebook.cells, nbgrader_roles(notebook.cells), strict=True):
        cell.metadata["nbgrader"] = role
    return notebook


def student_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the solution is left as it was)."""
    notebook = nbformat.from_dict(solution)
    for cell in notebook.cells:
        cell.source = student_source(cell.source, cell.cell_type)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def student_copies() -> dict[Path, str]:
    """Every notebook this tool writes and its text, from the solutions now on disk: each solution with
    its nbgrader metadata, and its student copy."""
    copies = {}
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        solution = graded_solution(nbformat.read(path, as_version=4))
        copies[path] = _text(solution)
        copies[EXERCISES / path.name] = _text(student_notebook(solution))
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
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(EXERCISES.parent.parent)}")
        if not args.check:
            path.write_text(copies[path])
    if args.check and stale:
        print("Run `python tools/make_exercises.py` to update them.", file=sys.stderr)
    return 1 if orphans or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
