"""The exercise notebooks: the student copies are generated from the solutions, are up to date, and run
up to their first exercise; there they stop with NotImplementedError and nothing else.

(The solutions themselves run under nbval with the other notebooks, strict: a solution that its own
checker rejects fails there. The student copies are kept from nbval by notebooks/exercises/conftest.py.)
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "notebooks" / "exercises"
STUDENT_NOTEBOOKS = sorted(EXERCISES.glob("[0-9][0-9]_*.ipynb"))
SOLUTION_NOTEBOOKS = sorted((EXERCISES / "solutions").glob("[0-9][0-9]_*.ipynb"))
LESSONS = sorted(path.name[:2] for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUB = "raise NotImplementedError()"


def answer_cells(cells: list) -> list[int]:
    """Indices of the code cells a student completes."""
    return [i for i, cell in enumerate(cells) if cell.cell_type == "code" and STUB in cell.source]


@pytest.fixture(scope="module")
def maker():
    """tools/make_exercises.py, imported from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "tools" / "make_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_solution_regions_become_stubs_at_their_indentation(maker):
    source = "x = 1\ndef f(a):\n    ### BEGIN SOLUTION\n    return a\n    ### END SOLUTION\ny = 2"
    assert maker.student_source(source, "code") == (
        "x = 1\ndef f(a):\n    # YOUR CODE HERE\n    raise NotImplementedError()\ny = 2")
    assert maker.student_source("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "markdown") == (
        "Why?\nYOUR ANSWER HERE")
    hidden = "import a\n### BEGIN HIDDEN TESTS\na.strict()\n### END HIDDEN TESTS\nb = 1"
    assert maker.student_source(hidden, "code") == "import a\nb = 1"
    assert maker.student_source("no markers", "code") == "no markers"


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_unbalanced_markers_are_refused(maker, source):
    with pytest.raises(ValueError, match="SOLUTION"):
        maker.student_source(source, "code")


def test_the_student_notebooks_are_up_to_date_with_the_solutions(maker):
    copies = maker.student_copies()
    students = sorted(path for path in copies if path.parent == EXERCISES)
    assert students == STUDENT_NOTEBOOKS, "a solution or a student copy is missing"
    assert sorted(set(copies) - set(students)) == SOLUTION_NOTEBOOKS
    stale = [path.name for path, text in copies.items() if path.read_text() != text]
    assert not stale, f"regenerate with `python tools/make_exercises.py`: {stale}"
    assert maker.main(["--check"]) == 0


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_is_followed_by_its_check(path):
    """A few exercises per notebook, each answer cell followed by a cell that calls a checker."""
    cells = nbformat.read(path, as_version=4).cells
    answers = answer_cells(cells)
    assert 2 <= len(answers) <= 5
    for i in answers:
        assert re.match(r"check\.\w+\(", cells[i + 1].source), f"cell {i + 1} of {path.name} is not a check"
    text = path.read_text()
    for leftover in ("BEGIN SOLUTION", "HIDDEN TESTS", "strict("):
        assert leftover not in text
    assert all(not cell.get("outputs") for cell in cells)


def test_every_lesson_has_an_exercise_set_with_its_concept_check_and_a_progress_view():
    sets = {path.name[:2]: nbformat.read(path, as_version=4).cells for path in STUDENT_NOTEBOOKS}
    assert sorted(sets) == LESSONS
    for lesson, cells in sets.items():
        sources = [cell.source for cell in cells]
        assert f'check.concept_questions("{lesson}")' in sources
        assert f'check.concepts(concept_answers, "{lesson}")' in sources
        assert sources[-1] == "check.summary()"


def test_nbgrader_roles_follow_the_markers(maker):
    cells = [nbformat.v4.new_code_cell(source) for source in (
        "import x\n### BEGIN HIDDEN TESTS\nx.strict()\n### END HIDDEN TESTS",
        "### BEGIN SOLUTION\na = 1\n### END SOLUTION",
        "check.a(a)",
        "plot(a)",
    )] + [nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION")]
    roles = maker.nbgrader_roles(cells)
    assert [role["grade_id"] for role in roles] == ["setup", "answer_1", "check_1", "cell_03", "written_1"]
    setup, answer, test, other, written = roles
    assert setup["grade"] and setup["locked"] and setup["points"] == 0
    assert answer["solution"] and not answer["grade"] and not answer["locked"]
    assert test["grade"] and test["locked"] and test["points"] == maker.CHECK_POINTS
    assert other["locked"] and not other["grade"] and not other["solution"]
    assert written["solution"] and written["grade"] and written["points"] == maker.WRITTEN_POINTS
    assert all(role["schema_version"] == 3 for role in roles)


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_notebooks_carry_nbgrader_metadata(path):
    cells = nbformat.read(path, as_version=4).cells
    roles = [cell.metadata.get("nbgrader") for cell in cells]
    assert all(roles), "run `python tools/make_exercises.py`"
    ids = [role["grade_id"] for role in roles]
    assert len(set(ids)) == len(ids)
    checks = [role for role in roles if role["grade_id"].startswith("check_")]
    assert len(checks) == len([role for role in roles if role["grade_id"].startswith("answer_")])
    assert all(role["points"] > 0 for role in checks)


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_up_to_its_first_exercise(path, films, monkeypatch):
    monkeypatch.setenv("PNEUMOLAB_DATA", str(films))
    monkeypatch.setenv("PNEUMOLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    failed = [(i, output) for i, cell in enumerate(notebook.cells) for output in cell.get("outputs", [])
              if output.output_type == "error"]
    assert len(failed) == 1
    index, error = failed[0]
    first = answer_cells(notebook.cells)[0]
    # the stub's own cell, or (when the stub sits in a function) the check that calls it
    assert index in (first, first + 1), f"stopped at cell {index}, the first exercise is cell {first}"
    assert error.ename == "NotImplementedError", "\n".join(error.traceback)
