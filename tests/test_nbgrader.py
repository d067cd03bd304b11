"""nbgrader for real: release exercise set 05 from its solution notebook, autograde a student copy with
right and wrong answers, and read the scores from the gradebook.

The course lives in a temporary folder with its own nbgrader_config.py, gradebook and HOME. The
notebook is graded in quick mode, as docs/teaching.md tells teachers to do, on the embedded sample, so
the test needs no data set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pneumolab import config

nbgrader_api = pytest.importorskip("nbgrader.api", reason="no nbgrader: pip install -e .[grading]")

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "notebooks" / "exercises" / "solutions" / "05_thresholds_exercises.ipynb"
ASSIGNMENT, STUDENT, NOTEBOOK = "ex05", "ada", SOLUTION.stem

#: Exercise 2 answered with the two rates swapped: in quick mode both are often 0.85 on the student's
#: own data, so only the checker's second matrix can catch it.
SWAPPED_RATES = (
    "def rates(counts: dict) -> dict:\n"
    "    return {'recall': counts['TN'] / (counts['TN'] + counts['FP']),\n"
    "            'specificity': counts['TP'] / (counts['TP'] + counts['FN'])}"
)


def solution_code(grade_id: str) -> str:
    """The solution notebook's code for one answer cell, markers removed: a right answer."""
    cells = nbformat.read(SOLUTION, as_version=4).cells
    source = next(cell.source for cell in cells if cell.metadata["nbgrader"]["grade_id"] == grade_id)
    return "\n".join(line for line in source.split("\n") if "### " not in line)


def nbgrader(course: Path, env: dict, *args: str) -> None:
    """Run one nbgrader command in the course folder; its output is shown when it fails."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def course(tmp_path) -> tuple[Path, dict]:
    """An nbgrader course folder holding exercise set 05 as its source, and the environment to grade it."""
    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "source" / ASSIGNMENT / SOLUTION.name).write_bytes(SOLUTION.read_bytes())
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'pneumolab'\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(course / 'gradebook.db')!r}\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = os.environ | {
        "HOME": str(home),
        # nbgrader runs `alembic` from PATH to set up its gradebook: the venv's bin must come first
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PNEUMOLAB_DATA": str(config.SAMPLE_DIR),
        "PNEUMOLAB_QUICK": "1",
        "MPLBACKEND": "Agg",
    }
    return course, env


def test_generate_assignment_and_autograde_score_right_and_wrong_answers(course):
    course, env = course
    nbgrader(course, env, "generate_assignment", ASSIGNMENT, "--force")
    released = nbformat.read(course / "release" / ASSIGNMENT / SOLUTION.name, as_version=4)
    text = nbformat.writes(released)
    assert "BEGIN SOLUTION" not in text and "check.strict()" not in text
    stubs = [cell for cell in released.cells
             if cell.cell_type == "code" and "raise NotImplementedError()" in cell.source]
    assert len(stubs) == 4

    answers = {"answer_1": solution_code("answer_1"), "answer_2": SWAPPED_RATES,
               "answer_3": solution_code("answer_3"), "answer_4": solution_code("answer_4")}
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    submitted = course / "submitted" / STUDENT / ASSIGNMENT
    submitted.mkdir(parents=True)
    nbformat.write(released, submitted / SOLUTION.name)
    nbgrader(course, env, "autograde", ASSIGNMENT, "--create")

    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        graded = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT)
        scores = {grade.name: (grade.score, grade.max_score) for grade in graded.grades}
    assert scores["check_1"] == (1, 1)   # the confusion matrix: right
    assert scores["check_2"] == (0, 1)   # the swapped rates: caught
    assert scores["check_3"] == (1, 1)   # the threshold: right
    assert scores["check_4"] == (1, 1)   # the concept check: right
    assert scores["setup"] == (0, 0)
    assert scores["written_1"][1] == 2   # the written answer waits for the teacher

    autograded = nbformat.read(course / "autograded" / STUDENT / ASSIGNMENT / SOLUTION.name, as_version=4)
    check_2 = next(cell for cell in autograded.cells if cell.metadata["nbgrader"]["grade_id"] == "check_2")
    printed = "".join(output.get("text", "") for output in check_2.outputs)
    assert "swapped" in printed  # the student sees why the point was lost
