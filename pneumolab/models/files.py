"""Where a trained model lives: the folder layout, its model card, and which folder a name means.

Kept free of TensorFlow so that ``pneumolab panel`` and the panel's kernels can
find a model and read its card without importing it (:mod:`pneumolab.models.cnn`
re-exports these names).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: The model shipped inside the package, used by the panel and ``pneumolab predict`` by default.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
#: Names another model folder for the panel and the CLI (a teacher's own model).
MODEL_ENV = "PNEUMOLAB_MODEL"

MODEL_FILE = "model.keras"
CARD_FILE = "model_card.json"
HISTORY_FILE = "history.csv"


def load_card(folder: str | Path) -> dict:
    """The model card of a trained model folder."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a trained model folder: it has no {CARD_FILE}.")
    return json.loads(path.read_text())


def resolve(spec: str | Path | None = None) -> Path:
    """The model folder meant by ``spec``: a path or ``"reference"``.

    With no ``spec``, ``$PNEUMOLAB_MODEL`` if set, else the reference model.
    """
    if spec is None:
        spec = os.environ.get(MODEL_ENV) or "reference"
    folder = REFERENCE_DIR if str(spec) == "reference" else Path(spec).expanduser()
    if not (folder / CARD_FILE).is_file():
        hint = " (the reference model ships with the package)" if folder == REFERENCE_DIR else ""
        raise FileNotFoundError(
            f"No trained model in {folder}{hint}. Train one with `pneumolab train --out DIR`."
        )
    return folder
