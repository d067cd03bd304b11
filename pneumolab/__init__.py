"""PneumoLab: a teaching kit for pneumonia detection on chest X-rays.

The package's folders are its architecture (``docs/architecture.md`` draws
the arrows between them):

- ``data``       the data set: manifest, patient-grouped splits, the one image reader, download;
- ``preprocess`` from an image file to the tensor a model takes (per-image steps, ``tf.data`` pipelines);
- ``models``     the CNN, the transfer-learning pieces, backbones, the typed model card, model folders;
- ``training``   settings, the loop, one strategy per architecture, the run that writes a model folder;
- ``metrics``    judging scores: metrics at a threshold, thresholds, intervals, calibration (no TensorFlow);
- ``explain``    where a model looks: Grad-CAM, occlusion, the randomization check;
- ``inference``  using a trained model: uploads, scoring a split, the LiteRT runtime;
- ``viz``        every picture (Figure in, nothing computed over a split);
- ``widgets``    the explorer, threshold sliders and the upload-and-predict panel;
- ``exercises``  the checkers of the student notebooks; ``cli`` the ``pneumolab`` command;
- ``config``, ``limits``, ``progress``: settings, argument ranges and progress bars everyone uses;
- ``sample/``     the 180 embedded films (the only data set images in the repository);
- ``reference/``  the shipped model.

``import pneumolab as pl`` gives the parts above and the dozen names a
lesson needs, loaded on first use (so ``pneumolab --help`` and the data
layer start fast; TensorFlow loads only with the first model). Importing
``pneumolab`` first also keeps TensorFlow's C++ start-up lines off the
screen whoever imports it later (Keras, a notebook): see :mod:`pneumolab._quiet`.
"""

import lazy_loader as lazy

from pneumolab._quiet import hide_tensorflow_startup_lines

__version__ = "0.1.0"

hide_tensorflow_startup_lines()

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["config", "data", "exercises", "explain", "inference", "metrics", "models", "preprocess",
                "training", "viz", "widgets"],
    submod_attrs={
        "data.manifest": ["build_manifest", "carve_validation", "describe_source"],
        "preprocess.pipeline": ["make_dataset"],
        "training.config": ["TrainConfig"],
        "training.run": ["train"],
        "models.card": ["ModelCard"],
        "inference.scoring": ["predict_split"],
        "metrics.thresholds": ["choose_threshold"],
        "metrics.report": ["report"],
        "explain.gradcam": ["grad_cam"],
        "viz.figures": ["save_figure"],
        "widgets.panel": ["build_panel"],
    },
)
__all__ += ["__version__"]
