"""From an uploaded file to the model's answer: read the image safely, predict, explain.

The panel and ``pneumolab predict`` both read files with the kit's one reader,
:func:`pneumolab.data.reader.load_image` (re-exported here with
:class:`~pneumolab.data.image.ImageError` and :class:`~pneumolab.data.image.LoadedImage`),
and hand the model its input through
:func:`pneumolab.preprocess.transforms.to_model_input`, exactly as in training. Files are
read from bytes in memory: an upload is never written to disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from pneumolab.data.image import ImageError, LoadedImage
from pneumolab.data.reader import load_image, read_image
from pneumolab.limits import check_threshold
from pneumolab.models.card import ModelCard

if TYPE_CHECKING:  # TensorFlow is imported by predict_images only: the panel's LiteRT path never needs it
    import keras
    import tensorflow as tf

__all__ = ["BATCH_SIZE", "ImageError", "LoadedImage", "Prediction", "card_threshold", "chance_phrase",
           "confidence_phrase", "load_image", "predict_images", "pneumonia_scores", "read_image"]

#: Files read per model call; bounds memory when the command line gets hundreds of files.
BATCH_SIZE = 32


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image, and what the panel shows beside it."""

    #: The model's score for pneumonia, 0-1 (for a cause model: 1 - P(normal)).
    probability: float
    #: The operating threshold: at or above it, the answer is PNEUMONIA.
    threshold: float
    #: The image exactly as the model received it: float32 ``(size, size, channels)``, 0-255.
    model_input: np.ndarray
    #: Grad-CAM map ``(size, size)`` in 0-1, where the model looked; ``None`` if not asked for.
    heatmap: np.ndarray | None = None
    #: True when the model's probabilities were calibrated (its card says how): the words then
    #: describe the chance of pneumonia itself, not only the distance to the threshold.
    calibrated: bool = False

    @property
    def label(self) -> str:
        """The decision at the threshold: ``"PNEUMONIA"`` or ``"NORMAL"``."""
        return "PNEUMONIA" if self.probability >= self.threshold else "NORMAL"

    @property
    def confidence(self) -> str:
        """The score in words (see :func:`confidence_phrase` and :func:`chance_phrase`)."""
        if self.calibrated:
            return chance_phrase(self.probability)
        return confidence_phrase(self.probability, self.threshold)

    def at(self, threshold: float) -> Prediction:
        """The same prediction judged at another threshold (the model is not run again)."""
        return replace(self, threshold=check_threshold(threshold))


def confidence_phrase(probability: float, threshold: float) -> str:
    """How far the score is from the threshold, in words a class can discuss.

    The distance is measured as a share of the room on that side of the
    threshold (a score of 0.9 at threshold 0.8 is halfway to certain). The
    words describe the model's score, not a calibrated chance of disease.
    """
    if probability >= threshold:
        side, room = "pneumonia", 1.0 - threshold
    else:
        side, room = "normal", threshold
    distance = abs(probability - threshold) / room if room else 1.0
    if distance < 0.2:
        return "uncertain: close to the threshold"
    if distance < 0.5:
        return f"leans {side}"
    if distance < 0.8:
        return f"likely {side}"
    return f"very likely {side}"


#: Calibrated P(pneumonia) at or above each bound, and its words (the first that applies).
CHANCE_WORDS = ((0.95, "very likely pneumonia"), (0.75, "likely pneumonia"), (0.25, "uncertain"),
                (0.05, "likely normal"), (0.0, "very likely normal"))


def chance_phrase(probability: float) -> str:
    """A calibrated probability in words: of 100 films given 0.8, about 80 show pneumonia.

    The decision still follows the threshold (chosen for high recall, it may flag an
    image the words call uncertain: better checked than missed).
    """
    return next(words for bound, words in CHANCE_WORDS if probability >= bound)


def card_threshold(card: ModelCard) -> float:
    """The threshold the model card chose on validation (0.5 when it has none, e.g. a cause model)."""
    return 0.5 if card.threshold is None else card.threshold


def predict_images(
    model: keras.Model,
    card: ModelCard,
    images: Sequence[np.ndarray],
    threshold: float | None = None,
    explain: bool = False,
) -> list[Prediction]:
    """Predict decoded images (any size) with a model and its card; ``explain`` adds Grad-CAM maps.

    ``threshold`` defaults to the card's. Images are prepared with
    :func:`pneumolab.preprocess.transforms.to_model_input` and the card's ``input`` (its
    :class:`~pneumolab.models.card.InputSpec`).
    """
    import tensorflow as tf

    from pneumolab.preprocess import transforms as preprocess

    threshold = card_threshold(card) if threshold is None else check_threshold(threshold)
    spec = card.input
    results: list[Prediction] = []
    for start in range(0, len(images), BATCH_SIZE):
        batch = tf.stack([
            preprocess.to_model_input(image, spec.image_size, spec.channels, spec.fit)
            for image in images[start : start + BATCH_SIZE]
        ])
        scores = pneumonia_scores(model(batch, training=False).numpy(), card)
        maps = _grad_cam(model, batch) if explain else [None] * len(scores)
        calibrated = card.calibration is not None
        results += [
            Prediction(float(score), threshold, model_input, heatmap, calibrated)
            for score, model_input, heatmap in zip(scores, batch.numpy(), maps, strict=True)
        ]
    return results


def pneumonia_scores(outputs: np.ndarray, card: ModelCard) -> np.ndarray:
    """P(pneumonia) per image from a model's outputs: the sigmoid unit, or 1 - P(normal class)."""
    if outputs.shape[-1] == 1:
        return outputs[:, 0]
    if str(card.classes[0]).lower() != "normal":
        raise ValueError(f"Cannot tell pneumonia from the classes {list(card.classes)}: "
                         "none is first 'normal'.")
    return 1.0 - outputs[:, 0]


def _grad_cam(model: keras.Model, batch: tf.Tensor) -> np.ndarray:
    from pneumolab.explain import gradcam as explain

    return explain.grad_cam(model, batch)
