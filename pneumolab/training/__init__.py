"""Training a model: the run's settings, the loop, one strategy per architecture, and the run itself.

``config`` holds :class:`TrainConfig` and the one table of its defaults (TensorFlow-free,
so the command line checks its arguments before Keras loads); ``loop`` the class
weights, compile and fit with early stopping that every strategy uses; ``strategies``
the registry from an architecture (``scratch``, ``transfer``, ``probe``) to how it is trained;
``run`` the whole job: data, strategy, threshold on validation, model card; ``ensemble``
joins trained models into one, calibrated on validation (``pneumolab ensemble``). Training
builds on data, preprocess, models, inference and metrics, and must import none of
viz, widgets or explain. Inside the package import from those submodules; this face
is for notebooks and users (``from pneumolab import training``;
``training.train(training.TrainConfig(arch="scratch"))``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["config", "ensemble", "history", "loop", "run", "strategies"],
    submod_attrs={
        "config": ["ARCHS", "DEFAULTS", "TrainConfig"],
        "loop": ["class_weights", "fit"],
        "history": ["best_epoch", "monitored"],
        "strategies": ["STRATEGIES", "train_probe", "train_scratch", "train_transfer"],
        "ensemble": ["assemble"],
        "run": ["TrainResult", "datasets", "train", "training_frames"],
    },
)
