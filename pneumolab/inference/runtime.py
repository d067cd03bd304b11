"""Two ways to run a trained model, behind one face: LiteRT (the default) or Keras.

The panel and ``pneumolab predict`` only need "predict these decoded images,
maybe with their Grad-CAM maps". :func:`load` gives them an object that does
that, either the model exported to LiteRT (:class:`~.serving.LiteModel`: no
TensorFlow in the process: for the reference ensemble about 0.2 GB instead of
0.9 GB, and a panel answer with Grad-CAM in 0.1 s instead of 0.5 s) or the Keras
model itself (:class:`KerasModel`, for a model that cannot be exported, or to
compare the two).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pneumolab.config import RUNTIME_ENV, RUNTIMES
from pneumolab.inference import serving
from pneumolab.models import files as model_files
from pneumolab.models.card import ModelCard

if TYPE_CHECKING:
    import keras

    from pneumolab.inference.predict import Prediction


class KerasModel:
    """A Keras model with its card, answering like :class:`~.serving.LiteModel` (needs TensorFlow)."""

    #: Grad-CAM is computed on the graph; :func:`pneumolab.explain.gradcam.grad_cam` says if it cannot.
    explains = True
    no_cam_reason = ""

    def __init__(self, model: keras.Model, card: ModelCard):
        self.model, self.card = model, card

    def predict_images(self, images: Sequence[np.ndarray], threshold: float | None = None,
                       explain: bool = False) -> list[Prediction]:
        """See :func:`pneumolab.inference.predict.predict_images`."""
        from pneumolab.inference.predict import predict_images

        return predict_images(self.model, self.card, images, threshold=threshold, explain=explain)


def load(folder: str | Path, runtime: str | None = None) -> serving.LiteModel | KerasModel:
    """The model in ``folder`` in ``runtime`` (default: ``$PNEUMOLAB_RUNTIME``, else ``lite``).

    In LiteRT, a model without an export is exported first (once, in a child process).
    """
    runtime = runtime or os.environ.get(RUNTIME_ENV) or RUNTIMES[0]
    if runtime == "lite":
        return serving.load(folder)
    if runtime == "keras":
        return KerasModel(*model_files.load(folder))
    raise ValueError(f"The runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}.")
