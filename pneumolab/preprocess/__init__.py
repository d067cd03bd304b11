"""From an image file to the tensor a model takes: the per-image steps, and the input pipelines.

``steps`` names them for lesson 02's comparisons (examples, chains, costs);
``transforms`` holds the per-image steps (decode, scale, channels, resize
with a fit, :func:`to_model_input` that chains them exactly as training did;
the contrast and cleaning steps lesson 02 compares; the augmentation
layers); ``pipeline`` builds ``tf.data`` pipelines from the manifest
(:func:`make_dataset`) and from a model card (:func:`dataset_for`, the one
way from a card to its input). This part of the kit reads data through
:mod:`pneumolab.data` and may know the model card's input spec, but must not
import training, inference, explanation or the figures. Inside the package
import from those submodules; this face is for notebooks and users
(``from pneumolab import preprocess``; ``preprocess.to_model_input(image, 224)``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["pipeline", "steps", "transforms"],
    submod_attrs={
        "transforms": ["AUGMENTATION_RANGES", "augmentation", "backbone_normalize", "clahe",
                       "close_open", "decode", "equalize_histogram", "in_graph", "resize", "scale_0_1",
                       "standardize_per_image", "to_0_255", "to_model_input", "to_working_scale",
                       "with_channels"],
        "pipeline": ["Skipped", "dataset_as", "dataset_for", "make_dataset"],
        "steps": ["NORMALIZATIONS", "apply_chain", "epoch_throughput", "image_steps", "load_examples",
                  "time_steps"],
    },
)
