"""The lesson notebooks as stored read well without a kernel, and stay that way.

A stored notebook is what a student opens first and what GitHub shows. For
every lesson this test fails on: TensorFlow's C++ start-up lines in a stderr
stream, a progress bar stored before it finished, a ``save_figure`` call whose
cell shows no picture, a widget panel with no still picture beside it, a file
over the size budget, and to-do text. It reads the stored outputs only: it
does not run anything (nbval does that).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pneumolab._quiet import STARTUP_LINE  # the lines the import hook hides

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("0[1-9]_*.ipynb"))

#: Largest stored lesson notebook, in bytes.
SIZE_BUDGET = 1_500_000

#: A tqdm bar with a total (``desc:  40%|####      | 2/5 [...]``)
#: or without one (``desc: 0batch [00:00, ?batch/s]``).
TQDM_PERCENT = re.compile(r"(\d+)%\|[^|]*\|\s*([\d.]+[kMG]?)/([\d.]+[kMG]?)")
TQDM_NO_TOTAL = re.compile(r"(?:^|: )0(?:\.0+)?[a-zA-Z]* \[\d\d:\d\d")
#: A Keras progress bar line (``12/131 ━━━━━━━━━━━━━━━━━━━━ 5s 40ms/step``).
KERAS_BAR = re.compile(r"^\s*(\d+)/(\d+) [━─=>.\[\]]+")
TODO = re.compile(r"\b(?:TODO|FIXME|XXX)\b")
IMAGES = ("image/png", "image/jpeg")
WIDGET = "application/vnd.jupyter.widget-view+json"


def visible_lines(text: str) -> list[str]:
    """The lines a reader sees: a carriage return rewrites its line, as in a terminal."""
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


def unfinished_bar(line: str) -> bool:
    """True for a progress bar that stopped short of its end (or never moved)."""
    found = TQDM_PERCENT.search(line)
    if found:
        return int(found.group(1)) < 100 or found.group(2) != found.group(3)
    keras = KERAS_BAR.match(line)
    if keras:
        return keras.group(1) != keras.group(2)
    return bool(TQDM_NO_TOTAL.search(line))


def looks_like_bar(text: str) -> bool:
    """True for a progress bar's text (finished or not), False for other widgets' text."""
    return not text.strip() or any(
        TQDM_PERCENT.search(line) or TQDM_NO_TOTAL.search(line) or KERAS_BAR.match(line)
        or re.search(r"\d+\w* \[\d\d:\d\d", line) for line in visible_lines(text))


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def problems(path: Path) -> list[str]:
    """Everything that makes the stored ``path`` read badly without a kernel, one line each."""
    found = []
    if path.stat().st_size > SIZE_BUDGET:
        found.append(f"{path.stat().st_size / 1e6:.2f} MB, over the {SIZE_BUDGET / 1e6:.1f} MB budget")
    for number, cell in enumerate(json.loads(path.read_text())["cells"]):
        where = f"cell {number}"
        source = _text(cell["source"])
        if TODO.search(source):
            found.append(f"{where}: to-do text in the {cell['cell_type']}")
        if cell["cell_type"] != "code":
            continue
        outputs = cell.get("outputs", [])
        images = sum(any(kind in output.get("data", {}) for kind in IMAGES) for output in outputs)
        code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
        if "save_figure(" in code and not images:
            found.append(f"{where}: save_figure(...) but no picture shown")
        panels = 0
        for output in outputs:
            if output["output_type"] == "stream":
                text = _text(output["text"])
                if output["name"] == "stderr" and any(map(STARTUP_LINE.fullmatch, text.splitlines())):
                    found.append(f"{where}: TensorFlow start-up lines on stderr")
                texts = [text]
            else:
                data = output.get("data", {})
                texts = [_text(data.get("text/plain", ""))]
                if WIDGET in data and not looks_like_bar(texts[0]):
                    panels += 1
            if any(unfinished_bar(line) for text in texts for line in visible_lines(text)):
                found.append(f"{where}: a progress bar stored before it finished")
        if panels > images:
            found.append(f"{where}: a widget panel without a still picture beside it")
    return found


@pytest.mark.parametrize("notebook", LESSONS, ids=[path.stem for path in LESSONS])
def test_stored_lesson_reads_well_without_a_kernel(notebook):
    assert not problems(notebook), "\n".join(problems(notebook))


def test_there_are_eight_lessons():
    assert len(LESSONS) == 8


def write(tmp_path: Path, cells: list[dict], padding: int = 0) -> Path:
    path = tmp_path / "lesson.ipynb"
    book = {"cells": cells, "metadata": {"padding": "x" * padding}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(book))
    return path


def code(source: str, *outputs: dict) -> dict:
    return {"cell_type": "code", "source": source, "outputs": list(outputs), "metadata": {}}


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def shown(data: dict) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}}


PICTURE = shown({"image/jpeg": "/9j/", "text/plain": "<IPython.core.display.Image object>"})
STARTUP = ("I0000 00:00:1795490302.439038   21978 port.cc:153] oneDNN custom operations are on.\n"
           "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")


def test_a_clean_notebook_has_no_problems(tmp_path):
    finished = "Checking images: 100%|##########| 5840/5840 [00:03<00:00, 1800.00img/s]"
    cells = [
        {"cell_type": "markdown", "source": "# A lesson\nNothing left to do.", "metadata": {}},
        code("figure = draw()\nsave_figure(figure, 'x');", PICTURE),
        code("train()", shown({WIDGET: {"model_id": "a"}, "text/plain": finished}),
             shown({"text/plain": ""}), stream("131/131 ━━━━━━━━━━━━━━━━━━━━ 5s 40ms/step\n")),
        code("panel()", shown({WIDGET: {"model_id": "b"}, "text/plain": "LivePanel(children=(...))"}),
             PICTURE),
        code("import keras", stream("a harmless warning\n", "stderr")),
    ]
    assert problems(write(tmp_path, cells)) == []


@pytest.mark.parametrize(("cell", "problem"), [
    (code("import keras", stream(STARTUP, "stderr")), "TensorFlow start-up lines"),
    (code("check()", shown({WIDGET: {}, "text/plain": "Checking:   0%|     | 0/5840 [00:00<?, ?img/s]"})),
     "progress bar"),
    (code("score()", shown({WIDGET: {}, "text/plain": "scoring test: 0batch [00:00, ?batch/s]"})),
     "progress bar"),
    (code("fit()", stream("  3/131 ━━━━━━━━━━ 5s 40ms/step\r131/131 ━━━━━━━━━━ 9s\n 12/131 ━━━━━\n")),
     "progress bar"),
    (code("figure = draw()\nsave_figure(figure, 'x');"), "no picture"),
    (code("panel()", shown({WIDGET: {}, "text/plain": "VBox(children=(FloatSlider(value=0.5),))"})),
     "without a still picture"),
    ({"cell_type": "markdown", "source": "Mind the gap. TODO: check the numbers.", "metadata": {}}, "to-do"),
    (code("x = 1  # FIXME"), "to-do"),
])
def test_each_kind_of_problem_is_caught(tmp_path, cell, problem):
    found = problems(write(tmp_path, [cell]))
    assert len(found) == 1 and problem in found[0], found


def test_a_carriage_return_finishes_a_bar(tmp_path):
    text = "features: 0%|          | 0/4 [00:00<?, ?batch/s]\rfeatures: 100%|##########| 4/4 [00:01<00:00]\n"
    assert problems(write(tmp_path, [code("run()", stream(text, "stderr"))])) == []


def test_a_notebook_over_budget_is_caught(tmp_path):
    (found,) = problems(write(tmp_path, [], padding=SIZE_BUDGET))
    assert "over the 1.5 MB budget" in found
