"""The kit's models and how a trained one is kept: the from-scratch CNN, the transfer-learning
pieces and their ImageNet backbone, the typed model card, and the model folder.

``card`` is the model card's schema (:class:`ModelCard`, :class:`InputSpec`,
read and written as JSON); ``files`` saves, loads and finds model folders;
``cnn`` builds the CNN trained from scratch and the head every model ends in;
``transfer`` and ``backbones`` build the transfer-learning model; ``ensemble``
joins trained yes/no models into one (the shipped reference); ``summary``
lists a model's layers and their cost. ``card`` and ``files`` must stay free
of TensorFlow (the panel reads cards without it) and nothing here may import
training, inference or the figures. Inside the package import from those
submodules; this face is for notebooks and users (``from pneumolab import
models``; ``models.load("reference")``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["backbones", "card", "cnn", "ensemble", "files", "summary", "transfer"],
    submod_attrs={
        "card": ["CARD_VERSION", "CalibrationRecord", "CardError", "DataRecord", "InputSpec", "MemberRecord",
                 "ModelCard", "ThresholdRule", "TrainingRecord"],
        "ensemble": ["build_ensemble", "logit_map"],
        "files": ["CARD_FILE", "HISTORY_FILE", "MODEL_ENV", "MODEL_FILE", "REFERENCE_DIR", "load",
                  "load_card", "resolve", "save", "save_card", "update_card"],
        "cnn": ["conv_bn_relu", "head", "scratch_cnn", "stack"],
        "summary": ["architecture", "layer_costs"],
    },
)
