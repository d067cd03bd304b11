"""Where a trained model lives: the folder layout, saving and loading a model with its card,
and which folder a name means.

A trained model is a folder: ``model.keras``, ``model_card.json`` (a
:class:`pneumolab.models.card.ModelCard`) and ``history.csv``. Importing this
module does not import TensorFlow, so ``pneumolab panel`` and the panel's
kernels can find a model and read its card without it; only :func:`save` and
:func:`load`, which handle the Keras model itself, import Keras.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pneumolab.models.card import ModelCard

if TYPE_CHECKING:
    import keras

#: The model shipped inside the package, used by the panel and ``pneumolab predict`` by default.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
#: Names another model folder for the panel and the CLI (a teacher's own model).
MODEL_ENV = "PNEUMOLAB_MODEL"

MODEL_FILE = "model.keras"
CARD_FILE = "model_card.json"
HISTORY_FILE = "history.csv"


def load_card(folder: str | Path) -> ModelCard:
    """The model card of a trained model folder (any card version this kit reads)."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a trained model folder: it has no {CARD_FILE}.")
    return ModelCard.from_json(path.read_text(), source=path)


def save_card(folder: str | Path, card: ModelCard) -> Path:
    """Write ``card`` as the folder's ``model_card.json`` (in the current schema) and return its path."""
    path = Path(folder) / CARD_FILE
    path.write_text(card.to_json())
    return path


def update_card(folder: str | Path, **changes) -> ModelCard:
    """Replace fields of a folder's model card (e.g. ``command=...``, ``reports=...``), save and return it."""
    card = replace(load_card(folder), **changes)
    save_card(folder, card)
    return card


def save(model: keras.Model, folder: str | Path, card: ModelCard) -> Path:
    """Write ``model.keras`` and ``model_card.json`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    save_card(folder, card)
    return folder


def load(folder: str | Path) -> tuple[keras.Model, ModelCard]:
    """A trained model and its card, from a folder written by :func:`save`."""
    import keras

    card = load_card(folder)
    return keras.models.load_model(Path(folder) / MODEL_FILE, compile=False), card


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
