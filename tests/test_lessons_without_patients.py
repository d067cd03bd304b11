"""Lessons 01 and 07 on a PneumoniaMNIST-shaped export: no patient ids, no causes, and never a traceback."""

from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from pneumolab import config
from pneumolab.data import manifest as data

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def medmnist_like(tmp_path_factory) -> Path:
    """Folders as `pneumolab download medmnist` writes them: pmnist_* names, 28 px gray PNGs."""
    root = tmp_path_factory.mktemp("medmnist") / "pneumoniamnist_28"
    rng = np.random.default_rng(3)
    for split, n in (("train", 24), ("val", 6), ("test", 8)):
        for i in range(n):
            label = ("NORMAL", "PNEUMONIA")[i % 2]
            path = root / split / label / f"pmnist_{split}_{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
    return root


def run(notebook: str, data_dir: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    """Execute a lesson in quick mode on ``data_dir``; a cell that raises fails the test with its trace."""
    for key, value in {config.DATA_ENV: str(data_dir), config.QUICK_ENV: "1",
                       config.RUNS_ENV: str(tmp_path / "runs"), "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    book = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    NotebookClient(book, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return book


def outputs(book: nbformat.NotebookNode) -> str:
    return "\n".join(str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
                     for cell in book.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def test_the_export_has_neither(medmnist_like):
    manifest = data.build_manifest(medmnist_like)
    assert not data.has_patient_ids(manifest) and not data.has_causes(manifest)


def test_lesson_01_explains_why_patients_cannot_be_counted(medmnist_like, tmp_path, monkeypatch):
    text = outputs(run("01_exploring_the_data.ipynb", medmnist_like, tmp_path, monkeypatch))
    assert "patient" in text.lower() and "no patient ids" in text.lower()


def test_lesson_07_says_it_needs_causes_and_runs_on_the_sample(medmnist_like, tmp_path, monkeypatch):
    text = outputs(run("07_bacterial_vs_viral.ipynb", medmnist_like, tmp_path, monkeypatch))
    assert "sample" in text and "cause" in text.lower()
