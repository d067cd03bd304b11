"""Using a trained model: answering uploaded X-rays, scoring a split, and the light LiteRT runtime.

``predict`` reads uploads safely and turns a model's output into a
:class:`Prediction` (score, threshold, words, Grad-CAM map); ``scoring``
scores a split of the data set and builds its report; ``batches`` runs a
model over a ``tf.data`` pipeline (:func:`predict_dataset`, labels first);
``features`` gives frozen ImageNet features (:func:`pooled_features`);
``serving`` exports a model to LiteRT and runs it without TensorFlow;
``runtime`` loads a model in LiteRT or Keras behind one face. This
part of the kit uses models, data, preprocessing and metrics; it must not
import training, the figures or the widgets, and ``serving``, ``runtime`` and ``predict``
must import without TensorFlow (the panel's kernels never load it). Inside
the package import from those submodules; this face is for notebooks and
users (``from pneumolab import inference``; ``inference.predict_split(model, card, "val")``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["batches", "features", "predict", "runtime", "scoring", "serving"],
    submod_attrs={
        "predict": ["ImageError", "Prediction", "card_threshold", "chance_phrase", "confidence_phrase",
                    "load_image", "pneumonia_scores", "predict_images", "read_image"],
        "scoring": ["ScoredSplit", "comparison", "predict_split", "score_model", "score_split"],
        "batches": ["predict_dataset"],
        "features": ["encoder", "pooled_features"],
        "serving": ["LiteModel"],
        "runtime": ["KerasModel"],
    },
)
