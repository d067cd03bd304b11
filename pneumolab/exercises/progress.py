"""Where a student stands: a table of the checks run in this notebook, and results a teacher can collect.

Every checker records its verdict (:func:`pneumolab.exercises._core.history`). :func:`summary` shows them as
a table, one row per exercise with its latest verdict (✅ or 💡) and the number of attempts: the kernel
belongs to one notebook, so this is that notebook's progress. :func:`save_results` writes the same table
to a CSV file named after the student and the exercise set, for a teacher who grades without nbgrader;
:func:`collect_results` reads a folder of such files back into one table, a row per student and set.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pneumolab.exercises._core import history

RIGHT, NOT_YET = "✅ right", "💡 not yet"
COLUMNS = ("exercise", "result", "attempts", "last message")


def summary() -> pd.DataFrame:
    """One row per exercise checked in this notebook, in the order first tried: latest verdict, attempts.

    An exercise that was right once and wrong later shows its latest verdict: what the notebook holds now.
    """
    rows: dict[str, dict] = {}
    for feedback in history():
        row = rows.setdefault(feedback.exercise, {"exercise": feedback.exercise, "attempts": 0})
        row |= {"result": RIGHT if feedback.ok else NOT_YET, "attempts": row["attempts"] + 1,
                "last message": feedback.message}
    return pd.DataFrame(list(rows.values()), columns=list(COLUMNS))


def _file_part(text: str, what: str) -> str:
    """``text`` made safe for a file name (letters, digits, '-', '_'), or a clear error if nothing is left."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text).strip()).strip("_")
    if not cleaned:
        raise ValueError(f"Give the {what} as a short text, e.g. 'ada_lovelace'; got {text!r}.")
    return cleaned


def save_results(student: str, exercise_set: str, folder: str | Path = "results") -> Path:
    """Write this notebook's :func:`summary` to ``folder/<exercise_set>_<student>.csv`` and return the path.

    E.g. ``check.save_results("ada_lovelace", "05")`` at the end of exercise set 05. Each row also
    carries the student, the set and the time saved, so files from a whole class can be concatenated
    (:func:`collect_results`). Saving again replaces the file: the latest state counts.
    """
    name, part = _file_part(student, "student's name"), _file_part(exercise_set, "exercise set")
    table = summary()
    if table.empty:
        raise ValueError("No exercise has been checked in this notebook yet: run the check cells first.")
    table.insert(0, "student", name)
    table.insert(1, "set", part)
    table["saved"] = datetime.now(UTC).isoformat(timespec="seconds")
    path = Path(folder) / f"{part}_{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    print(f"Saved {int((table['result'] == RIGHT).sum())} of {len(table)} exercises right to {path}.")
    return path


def collect_results(folder: str | Path = "results") -> pd.DataFrame:
    """Every CSV that :func:`save_results` wrote to ``folder``, as one table: a row per student and set,
    with the number of exercises right and tried, and a column per exercise (✅ / 💡)."""
    paths = sorted(Path(folder).glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"No results in {Path(folder).resolve()}: students write them with "
                                "check.save_results(name, set).")
    rows = pd.concat([pd.read_csv(path, dtype={"set": str, "student": str}) for path in paths],
                     ignore_index=True)
    missing = [column for column in ("student", "set", *COLUMNS) if column not in rows]
    if missing:
        raise ValueError(f"These files were not written by save_results (no {missing} column).")
    wide = rows.pivot_table(index=["student", "set"], columns="exercise", values="result", aggfunc="last")
    totals = rows.groupby(["student", "set"])["result"].agg(right=lambda r: int((r == RIGHT).sum()),
                                                          tried="size")
    return totals.join(wide).reset_index()
